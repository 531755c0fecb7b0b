#!/usr/bin/env bash
# make bench-cpu: CPU per real-time stream on normal footage, per model, against decode only in
# the same run. N synced streams of target/bench/normal-720p30.mp4 (every nofight clip, val split
# first: hockey, then scf) for SECONDS each, as gst-launch-1.0 processes timed by GNU time;
# share of one core = (user + sys) / SECONDS / N. A quick stand-in for bench-scale (f), whose
# Python peer takes over 20 minutes with the cascade.
set -euo pipefail
n=${CPU_STREAMS:-1}
seconds=${CPU_SECONDS:-190}
models=${MODELS:-models/default.pt models/zoo/motionnet.pt}
bash scripts/bench_footage.sh normal
video=target/bench/normal-720p30.mp4
export GST_PLUGIN_PATH=$PWD/target/release
share() {
  local tail=$1 branches="" times
  for _ in $(seq "$n"); do
    branches="$branches filesrc location=$video ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! $tail"
  done
  # gst-launch-1.0 stops at SIGINT; `timeout` returns 124, which is the expected end here.
  times=$( { /usr/bin/time -f "%U %S" timeout -s INT "$seconds" gst-launch-1.0 -q $branches >/dev/null || true; } 2>&1 | tail -1)
  awk -v s="$seconds" -v n="$n" '{ printf "%.1f", ($1 + $2) / s / n * 100 }' <<<"$times"
}
echo "==> $n real-time stream(s) of $video for $seconds s each (share of one core per stream)"
decode_before=$(share "fakesink sync=true")
echo "decode only: $decode_before %"
people=$(share "persondetect model-location=models/people.pt ! fakesink sync=true")
echo "persondetect alone (interval 1 s, motion zoom): $people % in all, $(awk -v t="$people" -v d="$decode_before" 'BEGIN { printf "%.1f", t - d }') % beside decoding"
for m in $models; do
  # A model trained on people crops is served behind persondetect (its cost is counted).
  front=""
  if grep -qa '"people_crop": true' "$m"; then front="persondetect model-location=models/people.pt ! "; fi
  total=$(share "${front}clipbuffer ! violenceclassify mode=async model-location=$m ! fakesink sync=true")
  echo "$m: $total % in all, analysis $(awk -v t="$total" -v d="$decode_before" 'BEGIN { printf "%.1f", t - d }') % (goal <= 10 %)," \
    "$(awk -v t="$total" -v d="$decode_before" 'BEGIN { printf "%.2f", (t - d) / d }')x the decoding's CPU (goal <= 0.5x)"
done
echo "decode only, again: $(share "fakesink sync=true") %"
