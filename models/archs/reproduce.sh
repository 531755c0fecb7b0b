#!/usr/bin/env bash
# Extraction, training and evaluation of the published architectures exactly as the
# models/zoo/README.md table reports them (run from the repository root after `make build`).
# Every training: nice -n 15, one libtorch thread, a wall-clock budget, one at a time.
set -euo pipefail
DATA=${DATA:-../shared/data/violence}
X=target/release/examples/extract-clips
PY=${VIOLENCE_PYTHON:-python3}
mkdir -p clips-cache models/zoo

# clip length, frame step, size per architecture (models/zoo/README.md says why).
[ -f clips-cache/ssha64/index.tsv ]  || nice -n 15 $X "$DATA" clips-cache/ssha64  --split all --clip-length 16 --frame-step 2 --size 64
[ -f clips-cache/ssha128/index.tsv ] || nice -n 15 $X "$DATA" clips-cache/ssha128 --split all --clip-length 16 --frame-step 2 --size 128
[ -f clips-cache/r2p1d/index.tsv ]   || nice -n 15 $X "$DATA" clips-cache/r2p1d   --split all --clip-length 8  --frame-step 1 --size 64
[ -f clips-cache/mnlstm/index.tsv ]  || nice -n 15 $X "$DATA" clips-cache/mnlstm  --split all --clip-length 10 --frame-step 3 --size 64
[ -f clips-cache/bilstm/index.tsv ]  || nice -n 15 $X "$DATA" clips-cache/bilstm  --split all --clip-length 10 --frame-step 2 --size 64
[ -f clips-cache/tcnn/index.tsv ]    || nice -n 15 $X "$DATA" clips-cache/tcnn    --split all --clip-length 16 --frame-step 1 --size 48

nice -n 15 $PY -m models.archs.ssha clips-cache/ssha64 --zoom-clips clips-cache/ssha128 --out models/zoo/ssha.pt \
    --width-mult 0.125 --updates-per-round 6 --time-budget 300 --episodes 100000 --threads 1
nice -n 15 $PY -m models.archs.r2plus1d clips-cache/r2p1d --out models/zoo/r2plus1d.pt \
    --width-mult 0.125 --epochs 6 --time-budget 400 --threads 1
nice -n 15 $PY -m models.archs.mobilenet_lstm clips-cache/mnlstm --out models/zoo/mobilenet_lstm.pt \
    --width-mult 0.5 --epochs 4 --time-budget 400 --threads 1
nice -n 15 $PY -m models.archs.cnn_bilstm clips-cache/bilstm --out models/zoo/cnn_bilstm.pt \
    --width-mult 0.125 --epochs 12 --lr 3e-4 --time-budget 400 --threads 1
nice -n 15 $PY -m models.archs.tcnn_attention clips-cache/tcnn --out models/zoo/tcnn_attention.pt \
    --width-mult 0.125 --epochs 2 --time-budget 400 --threads 1

for m in ssha r2plus1d mobilenet_lstm cnn_bilstm tcnn_attention; do
    make eval DATA="$DATA" MODEL=models/zoo/$m.pt OUT=eval-out/$m
done
