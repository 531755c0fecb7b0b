#!/usr/bin/env bash
# Two models on one camera, either one alerting: the default on the whole frame, and the people
# cascade on crops around the moving people (persondetect), each its own violenceclassify
# (`whole`, `people`). violencerecord source=whole,people keeps one file per event while either
# is in one, re-encoded as it comes; the event log has one start and one end per event
# (`violencemqtt source=whole,people` on any branch publishes the same, for one camera). They
# miss different fights (models/README.md), at 3.3-4x the default's analysis CPU: for boxes
# with CPU or a GPU to spare, and cameras that see people small.
#   pipelines/record-two-models.sh input.mp4 [out-dir]
set -euo pipefail
. "$(dirname "$0")/env.sh"
in=${1:?usage: $0 input-video [out-dir]}
out=${2:-record-out}
people=${PEOPLE_MODEL:-$root/models/zoo/people-cascade.pt}
mkdir -p "$out"
exec gst-launch-1.0 -e \
  uridecodebin uri="$(realpath "$in" | sed 's|^|file://|')" ! videoconvert ! tee name=t \
  t. ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast ! h264parse \
     ! violencerecord source=whole,people location="$out/event-%05d.mp4" event-log="$out/events.jsonl" \
  t. ! queue ! clipbuffer ! violenceclassify name=whole model-location="$MODEL" mode=sync ! fakesink sync=false \
  t. ! queue ! persondetect model-location="$root/models/people.pt" ! clipbuffer \
     ! violenceclassify name=people model-location="$people" mode=sync ! fakesink sync=false
