#!/usr/bin/env bash
# `make leaks` (issue 10): leak check of our elements, not part of `make test`.
#  1. self-check: an element leaked on purpose must be reported by the leaks tracer;
#  2. LEAK_CYCLES (1000) cycles PLAYING -> NULL -> PLAYING of the classify pipeline
#     (opticalflow, clipbuffer, violenceclassify, bboxoverlay, hardattentioncrop) and of the
#     record pipeline (violencerecord, events on every cycle), and LEAK_CYCLES creations and
#     destructions of every element, under GST_TRACERS=leaks: objects alive at gst_deinit
#     must be 0;
#  3. the same without the tracer (its own bookkeeping grows): RSS after cycle 100 vs after
#     the last cycle must be within RSS_TOLERANCE percent;
#  4. valgrind --leak-check=full on VALGRIND_CYCLES (20) cycles of the pipeline without
#     violenceclassify (libtorch's forward under valgrind is very slow) and of creation:
#     "definitely lost" records whose stack goes through our code must be 0.
# Prints a table; exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${LEAK_CYCLES:-1000}
VG_CYCLES=${VALGRIND_CYCLES:-20}
TOL=${RSS_TOLERANCE:-2}
PY=${VIOLENCE_PYTHON:-python3}
BIN=target/release/examples/leak-cycles
OUT=target/leaks
mkdir -p "$OUT"
if [ ! -f "$OUT/models/motion.pt" ]; then
    rm -rf "$OUT/models"
    nice -n 10 "$PY" tests/models/make_test_models.py "$OUT/models" >/dev/null
fi
MODEL=$OUT/models/motion.pt
# Lines of the leaks tracer for live objects (not the record's format description).
alive() { grep 'object-alive, type-name=(string)' "$1" | grep -v '(string)%s' | sed 's/.*object-alive/object-alive/' || true; }
OURS='GstOpticalFlow|GstClipBuffer|GstViolenceClassify|GstBboxOverlay|GstHardAttentionCrop|GstViolenceRecord|Flow|Clip|Violence'
fail=0

echo "==> self-check: one violencerecord leaked on purpose"
GST_TRACERS=leaks GST_DEBUG=GST_TRACER:7 nice -n 10 $BIN --model "$MODEL" --cycles 2 --rss-at 1 \
    --phases create --inject-leak violencerecord >/dev/null 2>"$OUT/selfcheck.log"
n=$(alive "$OUT/selfcheck.log" | grep -c GstViolenceRecord || true)
if [ "$n" -lt 1 ]; then echo "the leaks tracer did not report the injected leak"; exit 1; fi
echo "    reported ($n GstViolenceRecord alive at exit)"

echo "==> $CYCLES cycles under GST_TRACERS=leaks"
GST_TRACERS=leaks GST_DEBUG=GST_TRACER:7 nice -n 10 $BIN --model "$MODEL" --cycles "$CYCLES" \
    --rss-at 100 --phases classify,record,create >"$OUT/traced.txt" 2>"$OUT/traced.log" || fail=1
alive "$OUT/traced.log" >"$OUT/alive.txt"
total=$(wc -l <"$OUT/alive.txt")
ours=$(grep -cE "type-name=\(string\)($OURS)" "$OUT/alive.txt" || true)
[ "$total" -eq 0 ] || { echo "objects alive at exit:"; head -50 "$OUT/alive.txt"; fail=1; }

echo "==> $CYCLES cycles without the tracer (RSS trend)"
nice -n 10 $BIN --model "$MODEL" --cycles "$CYCLES" --rss-at 100 \
    --phases classify,record,create >"$OUT/rss.txt" 2>"$OUT/rss.log" || fail=1
cat "$OUT/rss.txt"

echo "==> valgrind --leak-check=full, $VG_CYCLES cycles (flow pipeline without violenceclassify, creation)"
nice -n 10 valgrind --leak-check=full --num-callers=60 --log-file="$OUT/valgrind.log" \
    $BIN --model "$MODEL" --cycles "$VG_CYCLES" --rss-at 1 --phases flow,create >/dev/null 2>&1 || fail=1
# A "definitely lost" record is ours when a frame of its stack is in our crate.
read -r vg_total vg_ours vg_records < <("$PY" - "$OUT/valgrind.log" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
records = re.split(r"==\d+== \n", text)
total = ours = n = 0
for r in records:
    m = re.search(r"([\d,]+) (?:\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are definitely lost", r)
    if not m:
        continue
    size = int(m.group(1).replace(",", ""))
    total += size
    n += 1
    if re.search(r"gstviolence|leak_cycles", r):
        ours += size
        sys.stderr.write(r + "\n")
print(total, ours, n)
EOF
)

echo
printf '%-9s %7s %15s %14s %12s %9s %s\n' phase cycles objects-alive rss@100-MiB rss@end-MiB growth-% ok
while read -r phase cyc mark end growth _secs _trend; do
    [ "$phase" = phase ] && continue
    ok=$("$PY" -c "print('yes' if abs($growth) <= $TOL else 'NO')")
    [ "$ok" = yes ] || fail=1
    printf '%-9s %7s %15s %14s %12s %9s %s\n' "$phase" "$cyc" "$total total, $ours ours" \
        "$((mark / 1024))" "$((end / 1024))" "$growth" "$ok"
done <"$OUT/rss.txt"
echo "valgrind: definitely lost $vg_total bytes in $vg_records records, $vg_ours bytes with our code on the stack"
echo "(objects alive: one count for the whole traced run; RSS tolerance ${TOL}%; logs in $OUT/)"
[ "$vg_ours" -eq 0 ] || fail=1
if [ "$fail" -ne 0 ]; then echo "LEAKS CHECK FAILED"; exit 1; fi
echo "leaks check passed"
