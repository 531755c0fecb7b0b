#!/usr/bin/env bash
# Violence events of a file or camera to an MQTT broker: one JSON message per start and end
# on <prefix>/<camera>/events (QoS 1) and the camera's state, ON or OFF, retained on
# <prefix>/<camera>/state. Events wait in the element while the broker is unreachable and go
# in order once it is back. Watch them with: mosquitto_sub -v -t 'gst-violence/#'
#   pipelines/mqtt.sh IN.mp4|URI [HOST] [PORT] [CAMERA]
set -euo pipefail
. "$(dirname "$0")/env.sh"
in=${1:?usage: $0 IN.mp4|URI [HOST] [PORT] [CAMERA]}
host=${2:-localhost}
port=${3:-1883}
camera=${4:-cam1}
case $in in
  *://*) uri=$in ;;
  *) uri=file://$(realpath "$in") ;;
esac
exec gst-launch-1.0 -e uridecodebin uri="$uri" ! videoconvert ! clipbuffer \
  ! violenceclassify model-location="$MODEL" \
  ! violencemqtt host="$host" port="$port" camera="$camera" ! fakesink
