#!/usr/bin/env bash
# make bench-scale: many streams, the Python peer, latency, memory; one table.
set -euo pipefail
dir=target/bench
mkdir -p "$dir"
[ -s "$dir/720p30.mp4" ] || target/release/examples/sample-video "$dir/720p30.mp4" 20 1280 720
model=${MODEL:-models/default.pt}
py=$(WITH_TORCH=1 bash scripts/bench_venv.sh)
echo "==> Python/OpenCV peer (../shared/bench/python_peer.py, unchanged): T=16 size=112 stride=8 step=1"
peer=$("$py" ../shared/bench/python_peer.py "$dir/720p30.mp4" "$model" 16 112 8 1 | tee /dev/stderr)
peer_fps=$(echo "$peer" | sed -E 's/.*: ([0-9.]+) frames\/s.*/\1/')
echo "==> our pipeline (motion in the sample starts at 6.667 s)"
cargo bench --bench scale -- "$dir/720p30.mp4" "$model" "$peer_fps" 6.667 "${SOAK_SECONDS:-600}"
