#!/bin/sh
# run-bad.sh AVA_GEN NAME - bad/NAME.spec (with bad/NAME.ids, or
# bad/bad.ids) must fail with exactly the text of bad/NAME.err on stderr
# and write nothing. Without a .err file the spec must be accepted.
# Runs in tests/unit/gen. Exit: 0 pass, 1 fail, 99 hard error.
gen=$1
name=$2
ids=bad/$name.ids
[ -f "$ids" ] || ids=bad/bad.ids
out=$(mktemp -d) || exit 99
trap 'rm -rf "$out"' EXIT INT TERM
mkdir "$out/gen" || exit 99
"$gen" --spec "bad/$name.spec" --ids "$ids" --outdir "$out/gen" -I . \
	>"$out/stdout" 2>"$out/stderr"
rc=$?
if [ ! -f "bad/$name.err" ]; then
	[ $rc -eq 0 ] && exit 0
	echo "bad/$name.spec was rejected:"
	cat "$out/stderr"
	exit 1
fi
if [ $rc -ne 1 ]; then
	echo "expected exit status 1, got $rc"
	cat "$out/stderr"
	exit 1
fi
diff -u "bad/$name.err" "$out/stderr" || exit 1
if [ -n "$(ls "$out/gen")" ]; then
	echo "outputs were written despite errors"
	exit 1
fi
exit 0
