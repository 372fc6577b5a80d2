#!/bin/sh
# run-wire.sh AVA_GEN SOURCE_ROOT - the wire layout of spec/opencl.spec
# must equal opencl-wire.golden: the protocol is frozen. After an intended
# change, run regen.sh and review the diff: a changed line is a protocol
# change (new ids are fine, changed ones are not).
gen=$1
root=$2
out=$(mktemp -d) || exit 99
trap 'rm -rf "$out"' EXIT INT TERM
"$gen" --wire-layout --spec "$root/spec/opencl.spec" \
	--ids "$root/spec/opencl.ids" -I "$root/runtime" -o "$out/wire" || exit 1
diff -u opencl-wire.golden "$out/wire" || exit 1
exit 0
