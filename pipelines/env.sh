# Sourced by the pipelines/*.sh scripts: load the plugin from this checkout's release build
# and libtorch from the setup venv (run `make build` first).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GST_PLUGIN_PATH="$root/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
MODEL=${MODEL:-$root/models/default.pt}
if [ ! -f "$root/target/release/libgstviolence.so" ]; then
  echo "build the plugin first: make build" >&2
  exit 1
fi
