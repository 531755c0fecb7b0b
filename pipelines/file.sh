#!/usr/bin/env bash
# Violence messages of a file on the bus. Works from any folder.
#   pipelines/file.sh IN.mp4 [MODEL]
set -euo pipefail
. "$(dirname "$0")/env.sh"
in=$(realpath "${1:?usage: $0 IN.mp4 [MODEL]}"); model=${2:-$MODEL}
gst-launch-1.0 -m uridecodebin uri="file://$in" ! videoconvert ! clipbuffer \
  ! violenceclassify model-location="$model" ! fakesink | grep -E 'violence-(start|end)'
