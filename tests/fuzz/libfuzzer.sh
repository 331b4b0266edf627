#!/usr/bin/env bash
# Bounded coverage-guided run of one libFuzzer target, seeded from the
# repository's policies. Fails on any crash, sanitizer report, leak or
# timeout, and prints the input that caused it (hex) so it can become a
# regression test. Usage: libfuzzer.sh TARGET_BINARY ROOT SECONDS
set -u
bin=$1 root=$2 secs=$3
kind=$(basename "$bin")
[[ -x $bin ]] || { echo "FAIL: $bin not built (CMake option XDPL_LIBFUZZER)"; exit 1; }
tmp=$(mktemp -d /tmp/xdpl-libfuzz.XXXXXX)
trap 'rm -rf "$tmp" /tmp/xdpl-fuzz-*.xdpl' EXIT
mkdir -p "$tmp/corpus" "$tmp/seeds" "$tmp/artifacts"
case $kind in
libfuzz_frontend)
    cp "$root"/tests/lang/*.xdpl "$root"/tests/errors/*.xdpl "$root"/examples/*.xdpl "$tmp/seeds/" ;;
libfuzz_pktbuild)
    # Every layer stack written after `packet` or `output` in tests/lang.
    i=0
    while IFS= read -r layers; do
        printf '%s' "$layers" >"$tmp/seeds/$((i++))"
    done < <(cat "$root"/tests/lang/*.xdpl | tr '\n' ' ' |
             grep -oE '(packet|output) [^;]+;' | sed -E 's/^(packet|output) //; s/;$//' | sort -u)
    ((i > 0)) || { echo "FAIL: no packet layers found under $root/tests/lang"; exit 1; } ;;
*)  echo "FAIL: unknown target $kind"; exit 1 ;;
esac
# New inputs go to the scratch corpus, never into the repository.
"$bin" -max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$tmp/artifacts/" "$tmp/corpus" "$tmp/seeds" >"$tmp/log" 2>&1
rc=$?
grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss_mb' "$tmp/log"
if ((rc != 0)) || compgen -G "$tmp/artifacts/*" >/dev/null; then
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$tmp/log" | head -20
    for a in "$tmp"/artifacts/*; do
        [[ -e $a ]] || continue
        echo "input $(basename "$a") (hex): $(od -An -tx1 -v "$a" | tr -d " \n" | head -c 4000)"
    done
    echo "FAIL: $kind found a failure (exit $rc)"
    exit 1
fi
echo "ok: $kind ran ${secs}s with no crash"
