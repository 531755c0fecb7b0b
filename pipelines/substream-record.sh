#!/usr/bin/env bash
# NVR form with a sub-stream: the camera's low-resolution sub-stream (e.g. 640x360) is
# decoded and analysed; its full-resolution main stream (e.g. 1280x720 H.264) is recorded
# as it comes, without decoding, by violencerecord source=cls. Both rtspsrc run on the
# pipeline clock, so the running time of a frame is when it arrived, on either stream: the
# recorder matches the sub-stream's events to main-stream frames by running time.
#   pipelines/substream-record.sh rtsp://camera/main rtsp://camera/sub [out-dir]
# A lost camera restarts the pipeline after a backoff (RECONNECT=0: exit 3 instead); a stop
# (Ctrl-C, SIGTERM) ends it cleanly with exit 0 (run_live in env.sh).
# PRE_ROLL / POST_ROLL (nanoseconds, default 5 s) and MODEL override the defaults.
set -euo pipefail
. "$(dirname "$0")/env.sh"
main=${1:?usage: $0 MAIN-URL SUB-URL [out-dir]}
sub=${2:?usage: $0 MAIN-URL SUB-URL [out-dir]}
out=${3:-record-out}
pre=${PRE_ROLL:-5000000000}
post=${POST_ROLL:-5000000000}
mkdir -p "$out"
run_live gst-launch-1.0 -e \
  rtspsrc location="$main" protocols=tcp latency=200 ! rtph264depay ! h264parse ! queue \
  ! violencerecord source=cls location="$out/main-%05d.mp4" pre-roll="$pre" post-roll="$post" \
      event-log="$out/events.jsonl" \
  rtspsrc location="$sub" protocols=tcp latency=200 ! rtph264depay ! h264parse \
  ! queue leaky=downstream max-size-buffers=30 ! avdec_h264 ! videoconvert \
  ! clipbuffer ! violenceclassify name=cls model-location="$MODEL" ! fakesink sync=false
