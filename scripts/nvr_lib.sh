# Sourced by scripts/faults.sh and scripts/nvr_soak.sh: what both ask of a recording folder
# and of the machine. Needs $PYTHON (the venv's python3).

# A free TCP port on loopback.
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The lines of one kind ($2: start, end, file) in $1/events.jsonl; 0 when there is none.
count() { local n; n=$(grep -c "\"event\":\"$2\"" "$1/events.jsonl" 2>/dev/null); echo "${n:-0}"; }

# A file plays: the discoverer finds a duration above zero and no error.
plays() {
  local info
  info=$(gst-discoverer-1.0 -t 60 "$1" 2>&1)
  echo "$info" | grep -q "Duration: " && ! echo "$info" | grep -qE "Duration: 0:00:00.000000000|corrupt|rror"
}
