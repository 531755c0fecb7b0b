#!/usr/bin/env bash
# make soak-nvr: the NVR form for SOAK_MINUTES (30) with CAMERAS (4) local RTSP cameras
# (examples/rtsp-test-server, the live ball), each recorded by violencerecord and published by
# violencemqtt to a local mosquitto, while cameras and the broker are cut at random:
#   - a camera frozen (SIGSTOP) for 3-15 s: the pipeline stays up (stall, then resume);
#   - a camera killed for 2-10 s (only cameras 3 and up, so that 1 and 2 keep one process
#     for the whole run and their RSS can be compared): the pipeline restarts (run_live);
#   - the broker stopped for 5-20 s: events wait in violencemqtt and go once it is back.
# At the end it reports the faults injected, per camera the events in the event log, those
# delivered over MQTT, the files kept and playable, and the RSS of the long-lived pipelines
# after the warm-up and at the end. Nothing lost: every start has its end, every event its
# file, every event line its MQTT message; RSS flat: within 5 %.
#
# The test model calls every clip of the ball violent: an event runs until the next fault
# ends it (stall, or the camera lost), so events follow the faults. Plumbing, not detection.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. pipelines/env.sh
MINUTES=${SOAK_MINUTES:-30}
CAMERAS=${CAMERAS:-4}
SEED=${SEED:-1}
OUT=${SOAK_OUT:-$root/target/soak-nvr}
PYTHON=${VIOLENCE_PYTHON:-$HOME/.cache/gst-violence/venv/bin/python3}
. scripts/nvr_lib.sh
CAMERA_BIN=$root/target/release/examples/rtsp-test-server
[ -x "$CAMERA_BIN" ] || { echo "soak-nvr: $CAMERA_BIN missing (make build)" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
"$PYTHON" tests/models/make_test_models.py "$OUT/models" >/dev/null || exit 1
export GST_REGISTRY=$OUT/registry.bin
RANDOM=$SEED
log() { echo "$(date -u +%T) $*" | tee -a "$OUT/faults.log" >&2; }

broker_port=$(free_port)
broker_pid=
# Persistent, so that the subscriber's session (and what is queued for it) outlives a
# broker stop; as the user running the soak (root would otherwise become "mosquitto").
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\nuser %s\n' \
  "$broker_port" "$OUT" "$(id -un)" >"$OUT/mosquitto.conf"
start_broker() { /usr/sbin/mosquitto -c "$OUT/mosquitto.conf" >>"$OUT/broker.log" 2>&1 & broker_pid=$!; sleep 0.5; }

declare -a cam_port cam_pid pipe_pid
start_camera() { # index
  "$CAMERA_BIN" "${cam_port[$1]}" >>"$OUT/camera-$1.log" 2>&1 &
  cam_pid[$1]=$!
}

# One camera's pipeline under run_live: the camera's own H.264 recorded around events, the
# decoded stream analysed and published.
start_pipeline() { # index
  local i=$1 dir=$OUT/cam$1
  mkdir -p "$dir"
  env --default-signal=INT RECONNECT_MAX=2 bash -c '
    . pipelines/env.sh
    run_live gst-launch-1.0 -e rtspsrc location="$0" protocols=tcp latency=200 \
      ! rtph264depay ! h264parse ! tee name=t \
      t. ! queue ! violencerecord source=cls location="$1/ev-%05d.mp4" event-log="$1/events.jsonl" \
          pre-roll=2000000000 post-roll=2000000000 \
      t. ! queue leaky=downstream max-size-buffers=30 ! avdec_h264 ! videoconvert ! clipbuffer \
      ! violenceclassify name=cls model-location="$2" \
      ! violencemqtt host=127.0.0.1 port="$3" camera="$4" ! fakesink sync=false' \
    "rtsp://127.0.0.1:${cam_port[$i]}/test" "$dir" "$OUT/models/motion.pt" "$broker_port" "cam$i" \
    >"$dir/log" 2>&1 &
  pipe_pid[$i]=$!
}

# The gst-launch-1.0 now running for camera i (a child of its run_live).
gst_pid() { pgrep -P "${pipe_pid[$1]}" -f gst-launch-1.0 | head -1; }
rss_kb() { ps -o rss= -p "$1" 2>/dev/null | tr -d ' '; }

start_broker
mosquitto_sub -h 127.0.0.1 -p "$broker_port" -q 1 -c -i soak-nvr-sub -v -t 'gst-violence/+/events' \
  >"$OUT/mqtt-events.txt" 2>"$OUT/mqtt-sub.log" &
sub_pid=$!
for i in $(seq "$CAMERAS"); do
  cam_port[$i]=$(free_port)
  start_camera "$i"
done
sleep 1
for i in $(seq "$CAMERAS"); do start_pipeline "$i"; done

cleanup() {
  for i in $(seq "$CAMERAS"); do
    kill -CONT "${cam_pid[$i]}" 2>/dev/null
    kill -INT "${pipe_pid[$i]}" 2>/dev/null
  done
  for i in $(seq "$CAMERAS"); do wait "${pipe_pid[$i]}" 2>/dev/null; done
  for i in $(seq "$CAMERAS"); do kill -9 "${cam_pid[$i]}" 2>/dev/null; done
  sleep 3
  kill "$sub_pid" "$broker_pid" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT

end=$((SECONDS + MINUTES * 60))
warmup=$((SECONDS + 120))
declare -a rss_first rss_last first_pid
frozen=0 killed=0 broker_cuts=0
next_rss=$SECONDS
while [ "$SECONDS" -lt "$end" ]; do
  # Every 20-60 s, one fault.
  pause=$((20 + RANDOM % 41))
  for _ in $(seq "$pause"); do
    [ "$SECONDS" -ge "$end" ] && break
    if [ "$SECONDS" -ge "$next_rss" ]; then
      for i in 1 2; do
        pid=$(gst_pid "$i")
        [ -n "$pid" ] || continue
        rss=$(rss_kb "$pid")
        echo "$SECONDS cam$i $pid $rss" >>"$OUT/rss.txt"
        if [ "$SECONDS" -ge "$warmup" ] && [ -z "${rss_first[$i]:-}" ]; then
          rss_first[$i]=$rss
          first_pid[$i]=$pid
        fi
        [ "$pid" = "${first_pid[$i]:-}" ] && rss_last[$i]=$rss
      done
      next_rss=$((SECONDS + 30))
    fi
    sleep 1
  done
  [ "$SECONDS" -ge "$end" ] && break
  roll=$((RANDOM % 100))
  i=$((1 + RANDOM % CAMERAS))
  if [ "$roll" -lt 60 ] || { [ "$roll" -lt 85 ] && [ "$i" -le 2 ]; }; then
    d=$((3 + RANDOM % 13))
    log "camera $i frozen for $d s"
    kill -STOP "${cam_pid[$i]}"
    sleep "$d"
    kill -CONT "${cam_pid[$i]}"
    frozen=$((frozen + 1))
  elif [ "$roll" -lt 85 ]; then
    d=$((2 + RANDOM % 9))
    log "camera $i killed for $d s"
    kill -9 "${cam_pid[$i]}"
    wait "${cam_pid[$i]}" 2>/dev/null
    sleep "$d"
    start_camera "$i"
    killed=$((killed + 1))
  else
    d=$((5 + RANDOM % 16))
    log "broker stopped for $d s"
    kill "$broker_pid"
    wait "$broker_pid" 2>/dev/null
    sleep "$d"
    start_broker
    broker_cuts=$((broker_cuts + 1))
  fi
done
# The last fault has just ended: let reconnections settle (a stop during a broker outage
# gives up its queued messages after flush-timeout, by design).
sleep 20
log "soak over: stopping the pipelines (Ctrl-C), then counting"
trap - EXIT
cleanup

lost=0
report() {
  echo "NVR soak, $(date -u +%F): $CAMERAS cameras for $MINUTES min (seed $SEED); faults injected: $frozen freezes, $killed camera kills, $broker_cuts broker stops"
  echo
  echo "| camera | events started / ended (event log) | MQTT start / end messages | files listed / on disk / playable | RSS after warm-up -> end |"
  echo "|---|---|---|---|---|"
  for i in $(seq "$CAMERAS"); do
    dir=$OUT/cam$i
    starts=$(count "$dir" start)
    ends=$(count "$dir" end)
    mqtt_starts=$(grep "^gst-violence/cam$i/events " "$OUT/mqtt-events.txt" | grep -c '"kind":"violence-start"' || true)
    mqtt_ends=$(grep "^gst-violence/cam$i/events " "$OUT/mqtt-events.txt" | grep -c '"kind":"violence-end"' || true)
    listed=$(count "$dir" file)
    on_disk=0 playable=0
    for f in "$dir"/*.mp4; do
      [ -e "$f" ] || continue
      on_disk=$((on_disk + 1))
      plays "$f" && playable=$((playable + 1))
    done
    rss="-"
    if [ -n "${rss_first[$i]:-}" ]; then
      rss="$((rss_first[$i] / 1024)) -> $((rss_last[$i] / 1024)) MiB ($(awk -v a="${rss_first[$i]}" -v b="${rss_last[$i]}" 'BEGIN{printf "%+.1f %%", 100*(b-a)/a}'))"
      awk -v a="${rss_first[$i]}" -v b="${rss_last[$i]}" 'BEGIN{exit !(b > a * 1.05)}' && lost=1
    fi
    echo "| cam$i | $starts / $ends | $mqtt_starts / $mqtt_ends | $listed / $on_disk / $playable | $rss |"
    [ "$starts" = "$ends" ] && [ "$mqtt_starts" = "$starts" ] && [ "$mqtt_ends" = "$ends" ] \
      && [ "$listed" = "$on_disk" ] && [ "$on_disk" = "$playable" ] && [ "$starts" -gt 0 ] || lost=1
  done
  echo
  if [ "$lost" = 0 ]; then echo "soak-nvr: nothing lost, every event closed, RSS flat"; else echo "soak-nvr: FAILED (logs in $OUT)"; fi
}
report >"$OUT/report.md"
cat "$OUT/report.md"
exit "$lost"
