#!/usr/bin/env bash
# make bench-scale: many streams, the Python peer, latency, memory, CPU per stream, and the
# NVR form (cameras per box: sub-stream analysed, main stream recorded); for each model of
# MODELS (space-separated, the first is the main one), one run, two tables.
set -euo pipefail
dir=target/bench
mkdir -p "$dir"
# Real footage: scf's 1280x720 clips (a, b, e) and the no-fight clips of both datasets
# (d, f). The synthetic sample only for (c), which needs an event at a known time.
bash scripts/bench_footage.sh scf normal
[ -s "$dir/720p30-420.mp4" ] || target/release/examples/sample-video "$dir/720p30-420.mp4" 20 1280 720
read -r -a models <<<"${MODELS:-models/default.pt models/zoo/motionnet.pt}"
model=${models[0]}
peer_fps=$(bash scripts/peer_fps.sh "$model" "$dir/scf-720p30.mp4")
echo "==> our pipeline, models: ${models[*]} (motion in the sample starts at 6.667 s)"
# Detection latency is measured with the motion-energy model, which fires on the sample's
# scuffle (the trained models, rightly, do not fire on drawn figures). Its centre sits between
# the sample's energy while the figures walk (0.0023) and while they scuffle (0.011): a clip
# scores over 0.5 once the scuffle fills most of it. Made anew each run (4 KB).
"$VIOLENCE_PYTHON" -m models.zoo.motion_energy "$dir/motion-energy.pt" 0.006
# (g) the NVR form: the same footage as a camera's 640x360 sub-stream (same timestamps).
sub="$dir/scf-360p30.mp4"
bash scripts/sub_stream.sh "$dir/scf-720p30.mp4" "$sub"
models_csv=$(IFS=,; echo "${models[*]}")
cargo bench --bench scale -- "$dir/scf-720p30.mp4" "$dir/normal-720p30.mp4" "$dir/720p30-420.mp4" \
  "$models_csv" "$peer_fps" 6.667 "$dir/motion-energy.pt" "${SOAK_SECONDS:-600}" \
  "${CPU_STREAMS:-4}" "${CPU_SECONDS:-20}" "$sub"
# Cameras per box by the alert budget, the main model.
MODEL=$model bash scripts/bench_budget.sh
