#!/usr/bin/env bash
# Preview with the overlay on screen while the violent minutes are recorded from a tee
# branch; the synced preview and the recorder do not hold each other up.
#   pipelines/preview-overlay.sh input.mp4 [out-dir]
set -euo pipefail
. "$(dirname "$0")/env.sh"
in=${1:?usage: $0 input-video [out-dir]}
out=${2:-record-out}
mkdir -p "$out"
exec gst-launch-1.0 -e \
  uridecodebin uri="$(realpath "$in" | sed 's|^|file://|')" ! videoconvert ! opticalflow \
  ! clipbuffer ! violenceclassify model-location="$MODEL" ! bboxoverlay ! tee name=t \
  t. ! queue ! videoconvert ! autovideosink sync=true \
  t. ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=veryfast ! h264parse \
     ! violencerecord location="$out/event-%05d.mp4" event-log="$out/events.jsonl"
