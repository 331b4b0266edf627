#!/usr/bin/env bash
# Golden diagnostics: `xdplc check NAME.xdpl` must exit 1 and print exactly
# the "file:line:col: error|warning: message" lines of NAME.expected.
# Run from the file's directory so paths in messages are stable.
set -u
xdplc=$(realpath "$1") src=$(realpath "$2")
dir=$(dirname "$src") base=$(basename "$src" .xdpl)
cd "$dir" || exit 1
out=$("$xdplc" check "$base.xdpl" 2>&1)
status=$?
got=$(printf '%s\n' "$out" | grep -E '^[^ ]+:[0-9]+:[0-9]+: (error|warning): ')
want=$(cat "$base.expected")
if [[ $status -ne 1 ]]; then
    echo "FAIL $base: exit status $status, expected 1"; echo "$out"; exit 1
fi
if [[ "$got" != "$want" ]]; then
    echo "FAIL $base: diagnostics differ"
    diff <(echo "$want") <(echo "$got")
    echo "--- full output:"; echo "$out"
    exit 1
fi
echo "ok $base"
