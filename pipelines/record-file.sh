#!/usr/bin/env bash
# Record the violent minutes of a video file, re-encoded with the overlay burnt in (in-band
# events through x264enc), plus a JSON Lines event log.
#   pipelines/record-file.sh input.mp4 [out-dir]
set -euo pipefail
. "$(dirname "$0")/env.sh"
in=${1:?usage: $0 input-video [out-dir]}
out=${2:-record-out}
mkdir -p "$out"
exec gst-launch-1.0 -e \
  uridecodebin uri="$(realpath "$in" | sed 's|^|file://|')" ! videoconvert \
  ! clipbuffer ! violenceclassify model-location="$MODEL" mode=sync ! bboxoverlay \
  ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast ! h264parse \
  ! violencerecord location="$out/event-%05d.mp4" event-log="$out/events.jsonl"
