#!/usr/bin/env bash
# make bench-encoder: the frame-encoder contract against the plain forward, same weights, in
# one run. Each zoo model with a per-frame CNN is re-exported with encode()/head()
# (models/archs/frame_encoder_export.py), then both files score the real-footage 720p30 file
# (target/bench/scf-720p30.mp4) as fast as possible: CPU seconds (user + sys) and wall
# seconds of each pipeline, the analysis share beyond decode-only (same run), and the
# largest score difference between the two forms.
set -euo pipefail
dir=target/bench
mkdir -p "$dir"
bash scripts/bench_footage.sh scf
video=$dir/scf-720p30.mp4
export GST_PLUGIN_PATH=$PWD/target/release
run() {
  local model=$1 log=$2
  /usr/bin/time -f "%e %U %S" -o "$log.time" gst-launch-1.0 -m filesrc location="$video" ! qtdemux ! h264parse ! avdec_h264 ! \
    videoconvert ! clipbuffer ! violenceclassify mode=sync model-location="$model" emit-scores=true ! fakesink sync=false \
    | sed -nE 's/.*violence-score, pts=\(guint64\)([0-9]+),.* score=\(double\)([0-9.e-]+),.*/\1 \2/p' >"$log"
  read -r wall user sys <"$log.time"
  echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
}
/usr/bin/time -f "%U %S" -o "$dir/decode.time" gst-launch-1.0 -q filesrc location="$video" ! qtdemux ! h264parse ! \
  avdec_h264 ! videoconvert ! fakesink sync=false
decode=$(awk '{ print $1 + $2 }' "$dir/decode.time")
echo "decode only: $decode s CPU"
analysis() { awk -v t="$1" -v d="$decode" 'BEGIN { printf "%.2f", t - d }'; }
for zoo in ${ENCODER_MODELS:-models/zoo/mobilenet_lstm.pt models/zoo/cnn_bilstm.pt}; do
  name=$(basename "$zoo" .pt)
  frames=$dir/$name-frames.pt
  python3 -m models.archs.frame_encoder_export "$zoo" "$frames" >/dev/null
  read -r wall_plain cpu_plain < <(run "$zoo" "$dir/$name.scores")
  read -r wall_frames cpu_frames < <(run "$frames" "$dir/$name-frames.scores")
  diff=$(paste "$dir/$name.scores" "$dir/$name-frames.scores" | awk '$1 != $3 { bad = 1 } { d = $2 - $4; if (d < 0) d = -d; if (d > m) m = d } END { if (bad || NR == 0) print "mismatch"; else printf "%.1e", m }')
  echo "$name: plain forward $cpu_plain s CPU ($wall_plain s wall); frame encoder $cpu_frames s CPU ($wall_frames s wall);" \
    "analysis (CPU beyond decode) $(analysis "$cpu_plain") -> $(analysis "$cpu_frames") s, ratio $(awk -v a="$(analysis "$cpu_frames")" -v b="$(analysis "$cpu_plain")" 'BEGIN { printf "%.2f", a / b }'); max |score difference| over $(wc -l <"$dir/$name.scores") clips: $diff"
done
