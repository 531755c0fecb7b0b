#!/usr/bin/env bash
# make bench-flow: our flow presets against OpenCV on Middlebury, in one run.
set -euo pipefail
data=../shared/data/middlebury
[ -d "$data" ] || { echo "error: $data is missing (the Middlebury pairs from ../shared)" >&2; exit 1; }
py=$(bash scripts/bench_venv.sh)
mkdir -p target/bench
echo "==> OpenCV DIS fast, DIS medium, Farneback"
"$py" benches/opencv_flow.py "$data" "${REPS:-5}" > target/bench/opencv_flow.json
echo "==> ours, and the table"
cargo bench --bench flow -- "$data" target/bench/opencv_flow.json "${REPS:-5}"
