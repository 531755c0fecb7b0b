#!/usr/bin/env bash
# make bench-core: plugin overhead against bare forwards on a 720p30 H.264 file.
set -euo pipefail
dir=target/bench
mkdir -p "$dir"
[ -s "$dir/720p30-420.mp4" ] || target/release/examples/sample-video "$dir/720p30-420.mp4" 20 1280 720
[ -s "$dir/bench-r3d.pt" ] || python3 benches/make_bench_model.py "$dir/bench-r3d.pt"
cargo bench --bench core -- "$dir/720p30-420.mp4" "$dir/bench-r3d.pt" "${RUNS:-3}"
