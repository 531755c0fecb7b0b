#!/usr/bin/env bash
# The 640x360 sub-stream of a 720p30 benchmark file, as an NVR camera sends it beside its
# main stream (same timestamps), cached next to it: sub_stream.sh IN.mp4 OUT.mp4
set -euo pipefail
in=$1
out=$2
if [ ! -s "$out" ] || [ "$out" -ot "$in" ]; then
  echo "==> $out: the 640x360 sub-stream of $in"
  gst-launch-1.0 -q filesrc location="$in" ! qtdemux ! h264parse ! avdec_h264 \
    ! videoscale ! video/x-raw,width=640,height=360 ! x264enc speed-preset=veryfast key-int-max=60 \
    ! h264parse ! mp4mux ! filesink location="$out.tmp"
  mv "$out.tmp" "$out"
fi
