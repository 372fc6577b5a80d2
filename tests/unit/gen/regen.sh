#!/bin/sh
# regen.sh BUILDDIR - rewrite the golden files of ava-gen's tests from the
# ava-gen in BUILDDIR: expected/, bad/*.err and opencl-wire.golden.
# Review `git diff` before committing: every change is a change of
# generated code, of a diagnostic, or of the wire protocol.
set -e
build=$(cd "$1" && pwd)
gen=$build/gen/ava-gen
cd "$(dirname "$0")"
root=$(cd ../../.. && pwd)
"$gen" --spec test.spec --ids test.ids --outdir expected -I .
"$gen" --wire-layout --spec test.spec --ids test.ids -I . -o expected/test-wire.txt
"$gen" --coverage --spec test.spec --ids test.ids -I . -o expected/test-coverage.txt
"$gen" --draft bad-api.h -I . -o expected/bad-draft.spec
"$gen" --wire-layout --spec "$root/spec/opencl.spec" --ids "$root/spec/opencl.ids" \
	-I "$root/runtime" -o opencl-wire.golden
for f in bad/*.err; do
	name=$(basename "$f" .err)
	ids=bad/$name.ids
	[ -f "$ids" ] || ids=bad/bad.ids
	"$gen" --spec "bad/$name.spec" --ids "$ids" --outdir /nonexistent -I . \
		2>"$f" >/dev/null || true
done
