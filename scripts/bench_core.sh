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
py=$(WITH_TORCH=1 bash scripts/bench_venv.sh)
served=()
for m in "${models[@]}"; do
  read -r T size step < <("$VIOLENCE_PYTHON" -c "
import json, sys, torch
m = json.loads(torch.jit.load(sys.argv[1]).metadata())
s = m['size']; s = s if isinstance(s, int) else s[0]
print(m['clip_length'], s, m.get('frame_step', 1))" "$m")
  echo "==> Python/OpenCV peer (../shared/bench/python_peer.py, unchanged), $m: T=$T size=$size stride=8 step=$step"
  peer=$("$py" ../shared/bench/python_peer.py "$dir/scf-720p30.mp4" "$m" "$T" "$size" 8 "$step")
  echo "$peer"
  served+=("$m=$(echo "$peer" | sed -E 's/.*: ([0-9.]+) frames\/s.*/\1/')")
done
cargo bench --bench core -- "$dir/scf-720p30.mp4" "$dir/bench-r3d.pt" "${RUNS:-3}" "${served[@]}"
