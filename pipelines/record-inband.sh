#!/usr/bin/env bash
# In-band recording from a live camera (V4L2 by default): analysis, overlay, encoding and
# recording in one chain; events travel through x264enc as serialized events. The recorder
# asks x264enc for keyframes (keyframe-interval) so the pre-roll starts close to its mark.
#   pipelines/record-inband.sh [/dev/video0] [out-dir]
set -euo pipefail
. "$(dirname "$0")/env.sh"
dev=${1:-/dev/video0}
out=${2:-record-out}
mkdir -p "$out"
exec gst-launch-1.0 -e \
  v4l2src device="$dev" ! videoconvert ! opticalflow ! clipbuffer \
  ! violenceclassify model-location="$MODEL" ! bboxoverlay ! videoconvert \
  ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=veryfast ! h264parse \
  ! violencerecord location="$out/cam-%Y%m%d-%H%M%S-%03d.mp4" pre-roll=5000000000 \
      post-roll=5000000000 event-log="$out/events.jsonl"
