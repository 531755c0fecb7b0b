#!/usr/bin/env bash
# NVR form: record the camera's own H.264 without re-encoding; analysis runs on a decoded
# tee branch behind a leaky queue and drives the recorder out-of-band (source=cls), matched
# by running time. The recorder never blocks the tee.
#   pipelines/record-rtsp.sh rtsp://camera/stream [out-dir]
# A lost camera restarts the pipeline after a backoff (RECONNECT=0: exit 3 instead); a stop
# (Ctrl-C, SIGTERM) ends it cleanly with exit 0 (run_live in env.sh).
set -euo pipefail
. "$(dirname "$0")/env.sh"
url=${1:?usage: $0 rtsp://... [out-dir]}
out=${2:-record-out}
mkdir -p "$out"
run_live gst-launch-1.0 -e \
  rtspsrc location="$url" latency=200 ! rtph264depay ! h264parse ! tee name=t \
  t. ! queue ! violencerecord source=cls location="$out/cam1-%Y%m%d-%H%M%S-%03d.mp4" \
        max-files=1000 event-log="$out/events.jsonl" \
  t. ! queue leaky=downstream max-size-buffers=30 ! avdec_h264 ! videoconvert \
     ! clipbuffer ! violenceclassify name=cls model-location="$MODEL" ! fakesink sync=false
