#!/bin/bash
# docs/reference.md is complete and true:
#  1. its standard-library section is what scripts/gen_reference.py makes
#     from stdlib/*.xdpl today (the doc cannot drift from the library);
#  2. every header and field the compiler itself reports (xdplc build
#     --emit ir, an oracle independent of the generator) is in it, with the
#     compiler's width and header size; every named bit, variable part and
#     generic name of stdlib/ too;
#  3. it names every keyword, operator and unit of the lexer, every type,
#     set/map kind and verdict of the parser, the builtins of header
#     defaults, pkt.*, and every xdplc command and option from --help;
#  4. every ```xdpl block in it is a whole program that `xdplc check`
#     accepts without a warning, and whose tests pass in the kernel;
#  5. nothing in the repository points outside it (the docs' links resolve,
#     no path to a spec or file beside the clone).
# Usage: reference.sh XDPLC REPO
set -u
XDPLC=$1
REPO=$2
DOC=$REPO/docs/reference.md
FAILS=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

# ---- 1. the generated section is up to date
if ! python3 "$REPO/scripts/gen_reference.py" --check >"$TMP/gen.diff"; then
	cat "$TMP/gen.diff"
	fail "the stdlib section of docs/reference.md differs from stdlib/ (run scripts/gen_reference.py)"
fi

# ---- 2. headers and fields, as the compiler sees them
cat >"$TMP/all.xdpl" <<'EOF'
program all_headers;
rule r { match vxlan.vni == 1 and ip6_inner and eth_inner and ip4_inner; verdict drop; }
EOF
if ! "$XDPLC" build --emit ir -o "$TMP/all.ir" "$TMP/all.xdpl"; then
	fail "xdplc build --emit ir failed"
fi
python3 - "$TMP/all.ir" "$DOC" "$REPO/stdlib" >"$TMP/fields.out" <<'EOF'
import os, re, sys
ir, doc, stdlib = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
bad, n = [], 0
sections = {}   # header name -> its part of the doc
for m in re.finditer(r"^#### `(\w+)` \(stdlib/\w+\.xdpl\)\n(.*?)(?=^#|\Z)", doc, re.M | re.S):
    sections[m.group(1)] = m.group(2)
for m in re.finditer(r"^(header|meta) \d+ (\w+): (\d+) bytes.*?\{ (.*) \}$", ir, re.M):
    kind, h, size, fields = m.groups()
    if kind == "header":
        if h not in sections:
            bad.append("header %s has no section" % h)
            continue
        sec = sections[h]
        if "Size: %s bytes" % size not in sec and "A second instance of" not in sec:
            bad.append("header %s: size %s bytes not stated" % (h, size))
    for f in fields.split(", "):
        name, ty = f.split("@")[0].split(":")
        full = "%s.%s" % (h, name)
        n += 1
        if "`%s`" % full not in doc:
            bad.append("field %s missing" % full)
        elif kind == "header" and "A second instance of" not in sections[h]:
            row = [l for l in sections[h].splitlines() if l.startswith("| `%s` |" % full)]
            if not row or not re.match(r"\| `[\w.]+` \| %s\b" % re.escape(ty), row[0]):
                bad.append("field %s: type %s not in its row" % (full, ty))
# what the IR does not list: named bits, variable parts, aliases (from stdlib/)
for fn in sorted(os.listdir(stdlib)):
    text = re.sub(r"#[^\n]*", "", open(os.path.join(stdlib, fn)).read())
    for hm in re.finditer(r"header (\w+) \{(.*?)\n\}", text, re.S):
        for fm in re.finditer(r"(\w+):\s*\w+\s*bits\s*\{([^}]*)\}", hm.group(2)):
            for bit in re.findall(r"(\w+)\s*=", fm.group(2)):
                n += 1
                full = "%s.%s.%s" % (hm.group(1), fm.group(1), bit)
                if "`%s`" % full not in doc:
                    bad.append("named bit %s missing" % full)
        for vm in re.finditer(r"(\w+):\s*bytes\(", hm.group(2)):
            n += 1
            if "`%s.%s`" % (hm.group(1), vm.group(1)) not in doc:
                bad.append("variable part %s.%s missing" % (hm.group(1), vm.group(1)))
    for am in re.finditer(r"alias ([\w.]+)", text):
        n += 1
        if "`%s`" % am.group(1) not in doc:
            bad.append("generic name %s missing" % am.group(1))
if n < 100:
    bad.append("only %d fields found: the extraction is broken" % n)
print("%d fields checked" % n)
for b in bad:
    print("FAIL: " + b)
EOF
cat "$TMP/fields.out"
FAILS=$((FAILS + $(grep -c '^FAIL' "$TMP/fields.out")))

# ---- 3. words of the grammar, and the command line
words() { # FILE REGEX: the first group of every match, one per line
	python3 -c 'import re,sys; [print(m) for m in re.findall(sys.argv[2], open(sys.argv[1]).read())]' "$1" "$2"
}
{
	words "$REPO/compiler/front/lexer.l" '\{ "(\w+)", TOK_\w+ \}'           # keywords
	words "$REPO/compiler/front/lexer.l" '\{ "(\w+)", [01], \d+, \w+ \}'   # units
	words "$REPO/compiler/front/parse_build.c" '\{ "(\w+)", SK_\w+'        # set/map kinds
	words "$REPO/compiler/front/parse_build.c" 'names\[\] = \{ ("u8"[^}]*)\}' | tr -d '",' | tr ' ' '\n'
	words "$REPO/runtime/xdpl_meta.h" '\[XDPL_VERDICT_\w+\] = \{ "(\w+)"'   # verdicts
	words "$REPO/compiler/sema/sema_decl.c" 'fns\[\] = \{ ([^}]*)\}' | tr -d '",' | tr ' ' '\n'
	echo lpm; echo pseudo; echo optional
	words "$REPO/compiler/sema/sema_names.c" 'names\[\] = \{ ("len"[^}]*)\}' | tr -d '",' |
		tr ' ' '\n' | sed -n 's/^./pkt.&/p'
} | sed '/^[[:space:]]*$/d' | sort -u >"$TMP/words"
[ "$(wc -l <"$TMP/words")" -ge 90 ] || fail "only $(wc -l <"$TMP/words") grammar words found: the extraction is broken"
while read -r w; do
	grep -qF "\`$w\`" "$DOC" || fail "word '$w' is not in docs/reference.md (as \`$w\`)"
done <"$TMP/words"
# the list of reserved words is exactly the lexer's
words "$REPO/compiler/front/lexer.l" '\{ "(\w+)", TOK_\w+ \}' | sort >"$TMP/kw.lexer"
# (the paragraph of backquoted words after the line starting **Keywords.**)
awk '/^\*\*Keywords\.\*\*/ { k = 1; next } k && /^`/ { on = 1; print; next } on { exit }' "$DOC" |
	grep -o '`[a-z_]*`' | tr -d '`' | sort >"$TMP/kw.doc"
diff "$TMP/kw.lexer" "$TMP/kw.doc" >/dev/null ||
	fail "the keyword list of docs/reference.md differs from lexer.l: $(diff "$TMP/kw.lexer" "$TMP/kw.doc" | grep '^[<>]' | tr '\n' ' ')"
# operators: every quoted token of the lexer's rules and its one-char class
{
	sed -n 's/^"\([^"]*\)"[[:space:]].*/\1/p' "$REPO/compiler/front/lexer.l" | grep -v '^\(#\|//\|/\*\|_\)$'
	sed -n 's/^\[\([^]]*\)\\\[.*/\1/p' "$REPO/compiler/front/lexer.l" | grep -o '[-+*%&|^<>=]'
} | sort -u >"$TMP/ops"
[ "$(wc -l <"$TMP/ops")" -ge 20 ] || fail "only $(wc -l <"$TMP/ops") operators found: the extraction is broken"
while read -r op; do
	grep -qF "\`$op\`" "$DOC" || fail "operator '$op' is not in docs/reference.md"
done <"$TMP/ops"
for u in s m h; do
	grep -q "[0-9]/$u\b" "$DOC" || fail "rate unit /$u is not in docs/reference.md"
done
cmds=$("$XDPLC" --help | sed -n '/^commands:/,/^$/p' | awk 'NF && !/commands:/ {print $1}')
[ -n "$cmds" ] || fail "no commands in xdplc --help"
for c in $cmds; do
	[ "$c" = help ] && continue
	grep -qF "xdplc $c" "$DOC" || fail "command 'xdplc $c' is not in docs/reference.md"
	for o in $("$XDPLC" "$c" --help | grep -oE '(^|[ ,\[])--?[a-z][a-z-]*' | tr -d ' ,[' | sort -u); do
		[ "$o" = --help ] || [ "$o" = -h ] && continue
		grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" "$DOC" || fail "option '$o' of xdplc $c is not in docs/reference.md"
	done
done

# ---- 4. the examples are programs that compile and pass their tests
awk -v dir="$TMP" '/^```xdpl$/ { n++; f = sprintf("%s/example%02d.xdpl", dir, n); on = 1; next }
	/^```$/ { on = 0 } on { print > f }' "$DOC"
examples=$(ls "$TMP"/example*.xdpl 2>/dev/null)
[ "$(echo "$examples" | wc -w)" -ge 5 ] || fail "fewer than 5 xdpl examples found"
skip=0
for f in $examples; do
	if ! "$XDPLC" check "$f" >"$TMP/check.out" 2>&1 || [ -s "$TMP/check.out" ]; then
		sed "s|$TMP/||" "$TMP/check.out"
		fail "example $(basename "$f") does not check cleanly"
		continue
	fi
	grep -q '^test ' "$f" || continue
	if [ "$(id -u)" != 0 ]; then
		skip=1
		continue
	fi
	"$XDPLC" test "$f" >"$TMP/test.out" 2>&1 || {
		sed "s|$TMP/||" "$TMP/test.out"
		fail "the tests of example $(basename "$f") fail"
	}
done

# ---- 5. the repository is self-contained
# The bench scripts may read data (ClassBench) from beside the clone,
# nothing else.
cd "$REPO" || exit 2
outside='shared/spec|spec/xdpl|\.\./shared'
out=$(grep -rnIE --exclude-dir='build*' --exclude-dir=.git "$outside" . |
	grep -vE '^\./(bench|tests/docs)/')
[ -z "$out" ] || { echo "$out"; fail "files point outside the repository"; }
out=$(grep -rnIE 'shared/spec|spec/xdpl' bench)
[ -z "$out" ] || { echo "$out"; fail "bench/ points to a spec outside the repository"; }
# the search itself works: it finds this file's own pattern
grep -rqIE "$outside" tests/docs || fail "the search for outside pointers finds nothing at all"
for md in README.md docs/*.md; do
	for link in $(grep -oE '\]\([^)#]+' "$md" | sed 's/^](//' | grep -v '^https\?:'); do
		[ -e "$(dirname "$md")/$link" ] || fail "$md links to $link, which does not exist"
	done
done
grep -q 'docs/reference.md' README.md || fail "README.md does not point to docs/reference.md"

if [ "$FAILS" -gt 0 ]; then
	echo "$FAILS failures"
	exit 1
fi
if [ "$skip" = 1 ]; then
	echo "not root: the examples' tests were not run (the rest passed)"
	exit 77
fi
echo "docs/reference.md: $(wc -l <"$TMP/words") words, $(wc -l <"$TMP/ops") operators, $(echo "$examples" | wc -w) examples: all present and working"
