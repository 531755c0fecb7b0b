#!/usr/bin/env bash
# Preview with the overlay, plus a zoomed view of the region on its own tee branch
# (region-source=attention for hard-attention models, motion otherwise).
#   pipelines/zoom.sh IN.mp4 [MODEL] [attention|motion]
set -euo pipefail
. "$(dirname "$0")/env.sh"
in=$(realpath "${1:?usage: $0 IN.mp4 [MODEL] [attention|motion]}"); model=${2:-$MODEL}; source=${3:-motion}
gst-launch-1.0 uridecodebin uri="file://$in" ! videoconvert ! opticalflow ! clipbuffer \
  ! violenceclassify model-location="$model" ! tee name=t \
  t. ! queue ! bboxoverlay draw-graph=true ! videoconvert ! autovideosink \
  t. ! queue ! hardattentioncrop region-source="$source" width=480 height=480 ! videoconvert ! autovideosink
