# Sourced by the pipelines/*.sh scripts: load the plugin from this checkout's release build
# and libtorch from the setup venv (run `make build` first).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GST_PLUGIN_PATH="$root/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
MODEL=${MODEL:-$root/models/default.pt}
if [ ! -f "$root/target/release/libgstviolence.so" ]; then
  echo "build the plugin first: make build" >&2
  exit 1
fi

# Runs a live pipeline (`run_live gst-launch-1.0 -e ...`) so that a supervisor can tell a
# lost camera from a stop:
# - a stop asked for (SIGINT or SIGTERM to the script, or Ctrl-C) reaches gst-launch-1.0 -e
#   once, which ends with EOS (every file finalized, every event closed) and exit 0;
# - a pipeline that ends by itself (the camera closed the stream, or went away with an
#   error) is a lost camera: with RECONNECT=1 (the default) it starts again after a backoff
#   (1 s, doubling up to RECONNECT_MAX, 30 s; back to 1 s after a run of a minute), and the
#   recording goes on in the same folder without writing over its files; with RECONNECT=0
#   the script exits 3;
# - a pipeline that cannot start at all (gst-launch exit 255: a missing model, an
#   unwritable folder) is not retried: the script exits 255.
run_live() {
  local backoff=1 max=${RECONNECT_MAX:-30} started status name
  name=$(basename "$0")
  stop_requested=0
  live_pid=
  trap 'stop_requested=1; [ -n "$live_pid" ] && kill -INT "$live_pid" 2>/dev/null' INT TERM
  while true; do
    started=$SECONDS
    # Its own session: a Ctrl-C reaches only this script, which passes it on once.
    setsid "$@" &
    live_pid=$!
    status=0
    # A trapped signal interrupts wait: wait again until gst-launch itself is gone.
    while kill -0 "$live_pid" 2>/dev/null; do
      wait "$live_pid" && status=0 || status=$?
    done
    live_pid=
    [ "$stop_requested" = 1 ] && exit "$status"
    # 255: a state change failed at once (a model, a setting, a folder), not a camera.
    if [ "$status" = 255 ]; then
      echo "$name: the pipeline could not start (see the error above): not retried" >&2
      exit "$status"
    fi
    if [ "${RECONNECT:-1}" != 1 ]; then
      echo "$name: the pipeline ended by itself (exit $status): camera lost" >&2
      exit 3
    fi
    [ $((SECONDS - started)) -ge 60 ] && backoff=1
    echo "$name: the pipeline ended by itself (exit $status after $((SECONDS - started)) s): camera lost; starting again in $backoff s" >&2
    sleep "$backoff" &
    wait $! || true
    [ "$stop_requested" = 1 ] && exit 0
    backoff=$((backoff * 2 > max ? max : backoff * 2))
  done
}
