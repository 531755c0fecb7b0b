#!/usr/bin/env bash
# Preview with the overlay, plus a zoomed view of the region on its own tee branch
# (region-source=attention for hard-attention models, motion otherwise).
set -euo pipefail
in=$(realpath "$1"); model=${2:-models/default.pt}; source=${3:-motion}
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$PWD/target/release}
gst-launch-1.0 uridecodebin uri="file://$in" ! videoconvert ! opticalflow ! clipbuffer \
  ! violenceclassify model-location="$model" ! tee name=t \
  t. ! queue ! bboxoverlay draw-graph=true ! videoconvert ! autovideosink \
  t. ! queue ! hardattentioncrop region-source="$source" width=480 height=480 ! videoconvert ! autovideosink
