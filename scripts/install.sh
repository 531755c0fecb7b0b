#!/usr/bin/env bash
# make install / uninstall / deb: the plugin, its models and the calibrate tool, installed as
# a GStreamer plugin is, with the libtorch runtime beside it (docs/install.md).
#
#   install.sh install     copy into $DESTDIR$PREFIX and list every file and new folder in
#                          $PREFIX/share/gst-violence/installed-files
#   install.sh uninstall   remove exactly what that list names
#   install.sh deb         a Debian package of an install to /usr: $DEB_DIR (target)/gst-violence_<v>_<arch>.deb
#
# LIBTORCH=bundle (default) copies libtorch's CPU runtime (libtorch_cpu, libc10 and the few
# libraries they load) into <libdir>/gst-violence and points the plugin there ($ORIGIN). The
# plugin is linked against the CUDA build of the wheel; the bundled copy drops libtorch_cuda,
# which it never calls by symbol, so it runs on the CPU without the CUDA libraries (about 4 GB).
# LIBTORCH=link keeps the plugin as built (CUDA included), loading libtorch from the venv it
# was built against: for a machine with a GPU that keeps that venv.
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:-}
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
LIBTORCH=${LIBTORCH:-bundle}
PLUGIN=${PLUGIN:-target/release/libgstviolence.so}
CALIBRATE=${CALIBRATE:-target/release/examples/calibrate}
multiarch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
LIBDIR=${LIBDIR:-$PREFIX/lib/$multiarch}
PLUGINDIR=${PLUGINDIR:-$LIBDIR/gstreamer-1.0}
BINDIR=${BINDIR:-$PREFIX/bin}
DATADIR=${DATADIR:-$PREFIX/share}
PRIVATE_LIBDIR=$LIBDIR/gst-violence
MODELDIR=$DATADIR/gst-violence/models
MANIFEST=$DATADIR/gst-violence/installed-files

die() { echo "install.sh: $*" >&2; exit 1; }
step() { printf '==> %s\n' "$*"; }

# The folder a binary was linked to load libtorch from (its RUNPATH).
runpath_of() {
  readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p' | tr ':' '\n' | head -1
}

# libtorch's CPU runtime: the libraries libtorch_cpu loads that live in the torch package
# (libc10, libgomp, the CUDA runtime stubs it is linked with), found by the loader itself.
runtime_libraries() {
  local torch_lib=$1 package_root
  package_root=$(cd "$torch_lib/../.." && pwd)
  echo "$torch_lib/libtorch_cpu.so"
  ldd "$torch_lib/libtorch_cpu.so" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
    resolved=$(readlink -f "$lib")
    case "$resolved" in "$package_root"/*) echo "$lib" ;; esac
  done
}

# Copies $1 to $DESTDIR$2 (a full file path), creating folders, and records both.
record_dirs() {
  local dir=$1
  [ "$dir" = / ] && { mkdir -p "$DESTDIR/"; return; }
  [ -d "$DESTDIR$dir" ] && return
  record_dirs "$(dirname "$dir")"
  mkdir -p "$DESTDIR$dir"
  echo "dir $dir" >>"$manifest_tmp"
}
put() {
  local src=$1 dst=$2 mode=${3:-0644}
  record_dirs "$(dirname "$dst")"
  install -m "$mode" "$src" "$DESTDIR$dst"
  echo "file $dst" >>"$manifest_tmp"
}

# A binary linked against the venv, made to load the bundled runtime from $2 ($ORIGIN-relative).
relink() {
  local file=$1 rpath=$2
  strip --strip-unneeded "$file"
  if [ "$LIBTORCH" = bundle ]; then
    patchelf --remove-needed libtorch_cuda.so --set-rpath "$rpath" "$file"
  fi
}

do_install() {
  [ -f "$PLUGIN" ] || die "$PLUGIN not found: run make build first"
  case "$LIBTORCH" in bundle | link) ;; *) die "LIBTORCH=$LIBTORCH: expected bundle or link" ;; esac
  command -v patchelf >/dev/null || die "patchelf is missing (apt-get install patchelf; make setup installs it)"
  if [ -e "$DESTDIR$MANIFEST" ]; then
    die "$DESTDIR$MANIFEST exists: an earlier install is there (make uninstall first)"
  fi
  local torch_lib
  torch_lib=$(runpath_of "$PLUGIN")
  [ -f "$torch_lib/libtorch_cpu.so" ] || die "$PLUGIN does not point at a libtorch folder (RUNPATH '$torch_lib')"

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  manifest_tmp=$work/manifest
  : >"$manifest_tmp"

  step "plugin -> $DESTDIR$PLUGINDIR (libtorch: $LIBTORCH)"
  cp "$PLUGIN" "$work/libgstviolence.so"
  relink "$work/libgstviolence.so" "\$ORIGIN/../gst-violence"
  put "$work/libgstviolence.so" "$PLUGINDIR/libgstviolence.so" 0755

  if [ -f "$CALIBRATE" ]; then
    step "calibrate tool -> $DESTDIR$BINDIR/gst-violence-calibrate"
    cp "$CALIBRATE" "$work/gst-violence-calibrate"
    relink "$work/gst-violence-calibrate" "\$ORIGIN/$(realpath -m --relative-to="$BINDIR" "$PRIVATE_LIBDIR")"
    put "$work/gst-violence-calibrate" "$BINDIR/gst-violence-calibrate" 0755
  fi

  if [ "$LIBTORCH" = bundle ]; then
    step "libtorch CPU runtime from $torch_lib -> $DESTDIR$PRIVATE_LIBDIR"
    runtime_libraries "$torch_lib" | sort -u | while read -r lib; do
      put "$(readlink -f "$lib")" "$PRIVATE_LIBDIR/$(basename "$lib")"
    done
  fi

  step "models -> $DESTDIR$MODELDIR"
  for f in models/default.pt models/people.pt models/README.md; do
    put "$f" "$MODELDIR/$(basename "$f")"
  done
  for f in models/zoo/*.pt models/zoo/README.md; do
    put "$f" "$MODELDIR/zoo/$(basename "$f")"
  done

  if [ "${NO_MANIFEST:-}" != 1 ]; then
    echo "file $MANIFEST" >>"$manifest_tmp"
    install -m 0644 "$manifest_tmp" "$DESTDIR$MANIFEST"
  fi
  local size
  size=$(awk '$1 == "file" {print $2}' "$manifest_tmp" | sed "s|^|$DESTDIR|" | xargs du -cb 2>/dev/null | tail -1 | cut -f1)
  step "installed $(grep -c '^file' "$manifest_tmp") files, $((size / 1048576)) MiB"
  case ":$(gst_plugin_dirs):" in
    *":$PLUGINDIR:"*) ;;
    *) echo "note: GStreamer does not look in $PLUGINDIR by default: export GST_PLUGIN_PATH=$PLUGINDIR" ;;
  esac
}

# The folders this machine's GStreamer scans without GST_PLUGIN_PATH.
gst_plugin_dirs() {
  local system
  system=$(pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null || true)
  echo "$system:$HOME/.local/share/gstreamer-1.0/plugins"
}

do_uninstall() {
  [ -f "$DESTDIR$MANIFEST" ] || die "$DESTDIR$MANIFEST not found: nothing installed at PREFIX=$PREFIX"
  local listed kind path count=0
  listed=$(cat "$DESTDIR$MANIFEST")
  # Files first (the list itself among them), then the folders install created, deepest
  # first, when they are empty.
  while read -r kind path; do
    [ "$kind" = file ] || continue
    rm -f "$DESTDIR$path" && count=$((count + 1))
  done <<<"$listed"
  grep '^dir ' <<<"$listed" | cut -d' ' -f2- | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- |
    while read -r path; do rmdir --ignore-fail-on-non-empty "$DESTDIR$path"; done
  step "removed $count files installed at $DESTDIR$PREFIX"
}

do_deb() {
  local version arch stage deb
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  arch=$(dpkg --print-architecture)
  mkdir -p "${DEB_DIR:=target}"
  stage=$DEB_DIR/deb-stage/gst-violence_${version}_$arch
  deb=$DEB_DIR/gst-violence_${version}_$arch.deb
  rm -rf "$stage"
  mkdir -p "$stage"
  PREFIX=/usr DESTDIR=$(realpath "$stage") LIBTORCH=bundle NO_MANIFEST=1 "$0" install
  install -d "$stage/usr/share/doc/gst-violence" "$stage/DEBIAN"
  install -m 0644 packaging/copyright "$stage/usr/share/doc/gst-violence/copyright"
  local installed_kb
  installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$installed_kb/" \
    packaging/control.in >"$stage/DEBIAN/control"
  step "dpkg-deb -> $deb"
  dpkg-deb --root-owner-group -Zzstd -z3 --build "$stage" "$deb" >/dev/null
  rm -rf "$DEB_DIR/deb-stage"
  step "$deb: $(($(stat -c %s "$deb") / 1048576)) MiB, $((installed_kb / 1024)) MiB installed"
  echo "install: sudo dpkg -i $deb && sudo apt-get -f install   (remove: sudo dpkg -r gst-violence)"
}

case "$action" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  deb) do_deb ;;
  *) die "usage: install.sh install|uninstall|deb (PREFIX, DESTDIR, LIBTORCH=bundle|link)" ;;
esac
