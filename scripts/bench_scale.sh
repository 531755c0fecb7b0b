#!/usr/bin/env bash
# make bench-scale: many streams, the Python peer, latency, memory; one table.
set -euo pipefail
dir=target/bench
mkdir -p "$dir"
[ -s "$dir/720p30-420.mp4" ] || target/release/examples/sample-video "$dir/720p30-420.mp4" 20 1280 720
model=${MODEL:-models/default.pt}
py=$(WITH_TORCH=1 bash scripts/bench_venv.sh)
# The peer gets the model's own clip length, size and frame step, and clipbuffer's stride.
read -r T size step < <("$VIOLENCE_PYTHON" -c "
import json, sys, torch
m = json.loads(torch.jit.load(sys.argv[1]).metadata())
s = m['size']; s = s if isinstance(s, int) else s[0]
print(m['clip_length'], s, m.get('frame_step', 1))" "$model")
echo "==> Python/OpenCV peer (../shared/bench/python_peer.py, unchanged): T=$T size=$size stride=8 step=$step"
peer=$("$py" ../shared/bench/python_peer.py "$dir/720p30-420.mp4" "$model" "$T" "$size" 8 "$step" | tee /dev/stderr)
peer_fps=$(echo "$peer" | sed -E 's/.*: ([0-9.]+) frames\/s.*/\1/')
echo "==> our pipeline (motion in the sample starts at 6.667 s)"
# Detection latency is measured with the motion-energy model, which fires on the sample's
# synthetic motion (the trained default model, rightly, does not).
[ -s "$dir/motion-energy.pt" ] || "$VIOLENCE_PYTHON" models/interim_default.py "$dir/motion-energy.pt"
cargo bench --bench scale -- "$dir/720p30-420.mp4" "$model" "$peer_fps" 6.667 "$dir/motion-energy.pt" "${SOAK_SECONDS:-600}"
