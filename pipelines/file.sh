#!/usr/bin/env bash
# Violence messages of a file on the bus.
set -euo pipefail
in=$(realpath "$1"); model=${2:-models/default.pt}
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$PWD/target/release}
gst-launch-1.0 -m uridecodebin uri="file://$in" ! videoconvert ! clipbuffer \
  ! violenceclassify model-location="$model" ! fakesink | grep -E 'violence-(start|end)'
