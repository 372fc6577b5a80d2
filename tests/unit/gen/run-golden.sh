#!/bin/sh
# run-golden.sh AVA_GEN - the outputs of test.spec (all six files, the
# wire layout and the coverage report) and the draft of bad-api.h must
# equal expected/ byte for byte, and a second run must leave them alone.
# Runs in tests/unit/gen. Exit: 0 pass, 1 fail, 99 hard error.
gen=$1
out=$(mktemp -d) || exit 99
trap 'rm -rf "$out"' EXIT INT TERM
run() {
	"$gen" "$@" -I . || { echo "ava-gen $* failed"; exit 1; }
}
run --spec test.spec --ids test.ids --outdir "$out"
run --wire-layout --spec test.spec --ids test.ids -o "$out/test-wire.txt"
run --coverage --spec test.spec --ids test.ids -o "$out/test-coverage.txt"
run --draft bad-api.h -o "$out/bad-draft.spec"
status=0
for f in expected/*; do
	n=$(basename "$f")
	if ! cmp -s "$f" "$out/$n"; then
		diff -u "$f" "$out/$n"
		status=1
	fi
done
for f in "$out"/*; do
	[ -f "expected/$(basename "$f")" ] || { echo "unexpected output $f"; status=1; }
done
# Unchanged content must not be rewritten (ninja would rebuild).
before=$(ls -l --time-style=full-iso "$out")
run --spec test.spec --ids test.ids --outdir "$out"
after=$(ls -l --time-style=full-iso "$out")
if [ "$before" != "$after" ]; then
	echo "a second run rewrote unchanged outputs"
	status=1
fi
exit $status
