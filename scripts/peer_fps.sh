#!/usr/bin/env bash
# The Python/OpenCV peer (../shared/bench/python_peer.py, unchanged) on MODEL over VIDEO, with
# the model's own clip length, size and frame step and clipbuffer's stride of 8. Its line goes
# to stderr, its frames/s to stdout. Used by bench-core and bench-scale.
set -euo pipefail
model=${1:?usage: peer_fps.sh MODEL VIDEO}
video=${2:?usage: peer_fps.sh MODEL VIDEO}
py=$(WITH_TORCH=1 bash scripts/bench_venv.sh)
read -r T size step < <("$VIOLENCE_PYTHON" -c "
import json, sys, torch
m = json.loads(torch.jit.load(sys.argv[1]).metadata())
s = m['size']; s = s if isinstance(s, int) else s[0]
print(m['clip_length'], s, m.get('frame_step', 1))" "$model")
echo "==> Python/OpenCV peer (../shared/bench/python_peer.py, unchanged), $model: T=$T size=$size stride=8 step=$step" >&2
# Not `tee /dev/stderr`: reopening stderr truncates it when it is a log file.
peer=$("$py" ../shared/bench/python_peer.py "$video" "$model" "$T" "$size" 8 "$step")
echo "$peer" >&2
echo "$peer" | sed -E 's/.*: ([0-9.]+) frames\/s.*/\1/'
