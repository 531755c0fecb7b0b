#!/usr/bin/env bash
# The benchmarks' own virtualenv (OpenCV and torch for the Python references), cached
# beside the main one. Prints its python3.
set -euo pipefail
BENCH_VENV=${BENCH_VENV:-$HOME/.cache/gst-violence/bench-venv}
if ! "$BENCH_VENV/bin/python3" -c "import cv2, numpy" 2>/dev/null; then
  echo "==> creating the benchmark venv $BENCH_VENV (opencv-python-headless)" >&2
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q opencv-python-headless numpy >&2
fi
if [ -n "${WITH_TORCH:-}" ] && ! "$BENCH_VENV/bin/python3" -c "import torch" 2>/dev/null; then
  echo "==> adding torch==2.13.0 to the benchmark venv (for the Python peer)" >&2
  "$BENCH_VENV/bin/pip" install -q torch==2.13.0 >&2
fi
echo "$BENCH_VENV/bin/python3"
