#!/usr/bin/env bash
# The benchmarks' real-footage files, built once by the bench-footage example and cached
# under target/bench/ (rebuilt when the clip list changes). Usage: bench_footage.sh WHICH...
#   scf     target/bench/scf-720p30.mp4: the 1280x720 clips of the scf dataset, manifest order
#   normal  target/bench/normal-720p30.mp4: every nofight clip of both datasets, val split
#           first, stretched to 1280x720
# Both: 30 fps, H.264 4:2:0 (I420), GOP 60.
set -euo pipefail
data=${DATA:-../shared/data/violence}
dir=target/bench
manifest="$data/MANIFEST.tsv"
if [ ! -s "$manifest" ]; then
  echo "bench: no clips at $data ($manifest is missing). The benchmarks play real footage" >&2
  echo "bench: from ../shared/data/violence (see its README.md); set DATA= to its place." >&2
  exit 1
fi
mkdir -p "$dir"
# Column numbers by name, so that the manifest's column order does not matter.
cols='NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }'
for which in "$@"; do
  list="$dir/$which-720p30.list"
  case "$which" in
    scf)
      awk -F'\t' -v d="$data" "$cols"' $c["dataset"] == "scf" && $c["width"] == 1280 && $c["height"] == 720 { print d "/" $c["path"] }' "$manifest" >"$list" ;;
    normal)
      for split in val train; do
        awk -F'\t' -v d="$data" -v s="$split" "$cols"' $c["label"] == "nofight" && $c["split"] == s { print d "/" $c["path"] }' "$manifest"
      done >"$list" ;;
    *) echo "bench_footage.sh: unknown file $which" >&2; exit 2 ;;
  esac
  if [ ! -s "$list" ]; then
    echo "bench: $manifest lists no clip for the $which file" >&2
    exit 1
  fi
  target/release/examples/bench-footage "$dir/$which-720p30.mp4" "$list" 1280 720
done
