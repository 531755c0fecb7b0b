#!/usr/bin/env bash
# make demo: the main job on the bundled model and a sample video made here (or VIDEO=).
set -euo pipefail
video=${1:-}
out=${2:-demo-out}
mkdir -p "$out"
if [ -z "$video" ]; then
  video="$out/sample.mp4"
  if [ ! -s "$video" ]; then
    echo "==> generating the sample video $video"
    target/release/examples/sample-video "$video"
  fi
fi
echo "==> detecting violence in $video with models/default.pt (model card: models/README.md)"
target/release/examples/detect "$video" models/default.pt "$out"
