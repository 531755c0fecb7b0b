#!/usr/bin/env bash
# NVR form through a stock splitmuxsink: the main stream is written in segments of
# SEGMENT_DURATION (keyframe-aligned) by the splitmuxsink inside violencerecord
# mode=segments; only the segments that overlap an event (with pre-roll and post-roll) stay
# on disk, the others are deleted as soon as no event can reach them. The sub-stream is
# analysed, as in substream-record.sh (give the main URL twice for a camera with one stream).
# Any splitmuxsink property goes on the launch line as splitmuxsink::<property>=<value>
# (e.g. splitmuxsink::async-finalize=true splitmuxsink::muxer-factory=matroskamux).
# events.jsonl lists each kept segment with its event.
#   pipelines/record-segments.sh rtsp://camera/main rtsp://camera/sub [out-dir]
# A lost camera restarts the pipeline after a backoff (RECONNECT=0: exit 3 instead), the lost
# run's segments decided as at a stop (kept if an event reaches them, else deleted); a stop
# (Ctrl-C, SIGTERM) ends it cleanly with exit 0 (run_live in env.sh).
# SEGMENT_DURATION, PRE_ROLL, POST_ROLL (nanoseconds; 10 s, 5 s, 5 s), MAX_FILES (kept
# segments on disk, 0 = all) and MODEL override the defaults.
set -euo pipefail
. "$(dirname "$0")/env.sh"
main=${1:?usage: $0 MAIN-URL SUB-URL [out-dir]}
sub=${2:?usage: $0 MAIN-URL SUB-URL [out-dir]}
out=${3:-record-out}
mkdir -p "$out"
run_live gst-launch-1.0 -e \
  rtspsrc location="$main" protocols=tcp latency=200 ! rtph264depay ! h264parse ! queue \
  ! violencerecord mode=segments source=cls location="$out/cam1-%05d.mp4" \
      segment-duration="${SEGMENT_DURATION:-10000000000}" pre-roll="${PRE_ROLL:-5000000000}" \
      post-roll="${POST_ROLL:-5000000000}" event-log="$out/events.jsonl" \
      splitmuxsink::max-files="${MAX_FILES:-0}" \
  rtspsrc location="$sub" protocols=tcp latency=200 ! rtph264depay ! h264parse \
  ! queue leaky=downstream max-size-buffers=30 ! avdec_h264 ! videoconvert \
  ! clipbuffer ! violenceclassify name=cls model-location="$MODEL" ! fakesink sync=false
