#!/usr/bin/env bash
# Classifiers (compiler/lower/classify.c) against the plain rule chain:
# for each shape of classify_gen.py (overlapping prefixes, crossing
# ranges, duplicates, wildcards, ip6, a mix with rules that split runs),
# a random policy is built three times -- as the compiler chooses (it must
# use a classifier), the same with XDPL_CODEGEN_RULES=record (the
# classifier inside a chunk function), and with XDPL_NO_CLASSIFY=1 (rule
# by rule) -- and random packets run through each in the kernel (xdplc
# run, BPF_PROG_TEST_RUN); every packet must get the same verdict from the
# same rule. XDPL_CLASSIFY_PACKETS (default 1000), XDPL_CLASSIFY_SEEDS
# (default 1) and XDPL_CLASSIFY_RULES (default 300) size the run;
# docs/performance.md records a run of 100,000 packets per shape
# (XDPL_CLASSIFY_RECORD=0 leaves out the record-mode build there).
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root
PY=/usr/bin/python3
npk=${XDPL_CLASSIFY_PACKETS:-1000}
seeds=${XDPL_CLASSIFY_SEEDS:-1}
nrules=${XDPL_CLASSIFY_RULES:-300}
# agree WHAT OBJ: OBJ decides every packet of $p.pcap as the rule chain did
agree() {
    "$xdplc" run "$2" --pcap "$p.pcap" | grep '^#' >"$p.got" || fail "$shape: $1: run"
    if ! cmp -s "$p.got" "$p.want"; then
        diff "$p.want" "$p.got" | head -5 >&2
        fail "$shape (seed $seed): $1 and the rule chain disagree"
    fi
}
for shape in overlap ranges dups wild ip6 mixed; do
    for seed in $(seq 1 "$seeds"); do
        p="$XDPL_TMP/$shape$seed"
        "$PY" "$root/tests/kernel/classify_gen.py" "$shape" "$nrules" "$npk" "$seed" "$p.xdpl" "$p.pcap" ||
            fail "$shape: generator"
        "$xdplc" build "$p.xdpl" -o "$p.o" --explain >"$p.explain" 2>"$p.log" || fail "$shape: build: $(cat "$p.log")"
        grep -q 'classifier' "$p.explain" || fail "$shape: no classifier was made: $(cat "$p.explain")"
        XDPL_NO_CLASSIFY=1 "$xdplc" build "$p.xdpl" -o "$p.plain.o" 2>"$p.log" ||
            fail "$shape: plain build: $(cat "$p.log")"
        "$xdplc" run "$p.plain.o" --pcap "$p.pcap" | grep '^#' >"$p.want" || fail "$shape: plain run"
        n=$(wc -l <"$p.want")
        [[ $n -eq $npk ]] || fail "$shape: $n of $npk packets ran"
        agree "the classifier" "$p.o"
        if [[ ${XDPL_CLASSIFY_RECORD:-1} != 0 ]]; then
            XDPL_CODEGEN_RULES=record "$xdplc" build "$p.xdpl" -o "$p.rec.o" 2>"$p.log" ||
                fail "$shape: record build: $(cat "$p.log")"
            agree "the classifier in record mode" "$p.rec.o"
        fi
        hit=$(awk '$4 != "default"' "$p.want" | wc -l)
        echo "ok $shape seed $seed: $npk packets agree ($hit matched a rule; $(grep -c '^  tree' "$p.explain") trees)"
    done
done
