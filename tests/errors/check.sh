#!/usr/bin/env bash
# Golden diagnostics: `xdplc check NAME.xdpl` must print exactly the
# "file:line:col: error|warning: message" lines of NAME.expected, and exit 1
# when they include an error, 0 when they are only warnings. A file with
# warnings is also checked with --Werror: the same lines as errors, exit 1.
# Run from the file's directory so paths in messages are stable.
set -u
xdplc=$(realpath "$1") src=$(realpath "$2")
dir=$(dirname "$src") base=$(basename "$src" .xdpl)
cd "$dir" || exit 1
want=$(cat "$base.expected")

# run_check WANT_STATUS WANT_LINES [OPTIONS...]
run_check() {
    local want_status=$1 want_lines=$2
    shift 2
    local out status got
    out=$("$xdplc" check "$@" "$base.xdpl" 2>&1)
    status=$?
    got=$(printf '%s\n' "$out" | grep -E '^[^ ]+:[0-9]+:[0-9]+: (error|warning): ')
    if [[ $status -ne $want_status ]]; then
        echo "FAIL $base${*:+ ($*)}: exit status $status, expected $want_status"; echo "$out"; exit 1
    fi
    if [[ "$got" != "$want_lines" ]]; then
        echo "FAIL $base${*:+ ($*)}: diagnostics differ"
        diff <(echo "$want_lines") <(echo "$got")
        echo "--- full output:"; echo "$out"
        exit 1
    fi
}

if grep -qE '^[^ ]+:[0-9]+:[0-9]+: error: ' "$base.expected"; then
    run_check 1 "$want"
else
    run_check 0 "$want"
fi
if grep -qE '^[^ ]+:[0-9]+:[0-9]+: warning: ' "$base.expected"; then
    run_check 1 "$(printf '%s\n' "$want" | sed -E 's/^([^ ]+:[0-9]+:[0-9]+: )warning: /\1error: /')" --Werror
fi
echo "ok $base"
