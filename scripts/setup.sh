#!/usr/bin/env bash
# Installs what gst-violence needs on Debian 12, idempotently: Debian packages, a virtualenv
# with torch==2.13.0 (libtorch for tch) cached outside the clone, and checks the Rust toolchain.
set -euo pipefail

VENV=${VIOLENCE_VENV:-$HOME/.cache/gst-violence/venv}
TORCH_VERSION=2.13.0
step() { printf '==> %s\n' "$*"; }

packages=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  pkg-config g++ fonts-dejavu-core
  libgstrtspserver-1.0-dev gstreamer1.0-rtsp
  mosquitto mosquitto-clients
  gstreamer1.0-plugins-base-apps ffmpeg time patchelf
)
python3 -m venv --help >/dev/null 2>&1 || packages+=(python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
  step "Debian packages: all present"
fi

if "$VENV/bin/python3" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  step "venv $VENV: torch $TORCH_VERSION present"
else
  step "creating venv $VENV with torch==$TORCH_VERSION (about 1 minute, 4.7 GB)"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # The default wheel carries CUDA; its runtime packages are needed even on the CPU.
  "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" numpy
fi

if ! command -v cargo >/dev/null; then
  echo "error: cargo (Rust stable >= 1.85) is not on PATH; install it with rustup" >&2
  exit 1
fi
step "Rust: $(cargo --version)"
