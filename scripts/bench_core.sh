#!/usr/bin/env bash
# make bench-core: plugin overhead against bare forwards on a 720p30 H.264 file of real
# footage (scf's 1280x720 clips, scripts/bench_footage.sh).
set -euo pipefail
dir=target/bench
mkdir -p "$dir"
bash scripts/bench_footage.sh scf
[ -s "$dir/bench-r3d.pt" ] || python3 benches/make_bench_model.py "$dir/bench-r3d.pt"
# The models a user runs, each against the Python/OpenCV peer on the same model (its clip
# length, size and frame step, clipbuffer's stride of 8).
read -r -a models <<<"${MODELS:-models/default.pt models/zoo/motionnet.pt}"
served=()
for m in "${models[@]}"; do
  served+=("$m=$(bash scripts/peer_fps.sh "$m" "$dir/scf-720p30.mp4")")
done
cargo bench --bench core -- "$dir/scf-720p30.mp4" "$dir/bench-r3d.pt" "${RUNS:-3}" "${served[@]}"
