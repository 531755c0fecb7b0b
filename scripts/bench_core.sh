#!/usr/bin/env bash
# make bench-core: plugin overhead against bare forwards on a 720p30 H.264 file of real
# footage (scf's 1280x720 clips, scripts/bench_footage.sh).
set -euo pipefail
dir=target/bench
mkdir -p "$dir"
bash scripts/bench_footage.sh scf
[ -s "$dir/bench-r3d.pt" ] || python3 benches/make_bench_model.py "$dir/bench-r3d.pt"
cargo bench --bench core -- "$dir/scf-720p30.mp4" "$dir/bench-r3d.pt" "${RUNS:-3}"
