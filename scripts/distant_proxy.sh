#!/usr/bin/env bash
# make distant: a distant-camera proxy of the fight datasets. Every clip of one split of
# DATA (default ../shared/data/violence, val) is shrunk to 1/2 and to 1/3 of its size and
# pasted into a 1280x720 frame over a still background from ordinary camera footage (a frame
# of normal-cctv), at a place fixed by a hash of the clip's path, so people become as small
# as most CCTV cameras see them. Writes OUT/half and OUT/third, each a folder with a
# MANIFEST.tsv (same labels, datasets and split) for `make eval DATA=OUT/third`.
# Reproducible: the same inputs give the same files (x264 on one thread, fixed placement).
# Nothing of it goes into the repository.
set -euo pipefail
data=${DATA:-../shared/data/violence}
split=${SPLIT:-val}
out=${1:-target/distant}
background_clip=${BACKGROUND:-../shared/data/normal-cctv/people_shaxboz.mp4}
background_at=${BACKGROUND_AT:-40}
# SCALES picks the sizes (half, third); EVERY=N renders every Nth clip of the split (training
# augmentation of the train split renders fewer, over another background).
scales=${SCALES:-half third}
every=${EVERY:-1}
# The frame the clips are pasted into (1280x720; a smaller canvas keeps people as small and
# renders faster, for training augmentation).
canvas=${CANVAS:-1280:720}
for f in "$data/MANIFEST.tsv" "$background_clip"; do
  [ -f "$f" ] || { echo "distant: $f is missing (../shared/data holds it)" >&2; exit 1; }
done
command -v ffmpeg >/dev/null || { echo "distant: ffmpeg is missing (make setup installs it)" >&2; exit 1; }
mkdir -p "$out"
background="$out/background.png"
if [ ! -s "$background" ]; then
  ffmpeg -nostdin -loglevel error -y -ss "$background_at" -i "$background_clip" -frames:v 1 \
    -vf "scale=$canvas" "$background"
fi
header=$(head -1 "$data/MANIFEST.tsv")
col() { awk -F'\t' -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) print i }' "$data/MANIFEST.tsv"; }
path_col=$(col path); split_col=$(col split)
for scale in $scales; do
  divisor=$([ "$scale" = half ] && echo 2 || echo 3)
  dir="$out/$scale"
  mkdir -p "$dir/clips"
  printf '%s\n' "$header" > "$dir/MANIFEST.tsv.tmp"
  made=0
  row=0
  while IFS= read -r line; do
    path=$(cut -f"$path_col" <<<"$line")
    [ -z "$split_col" ] || [ "$split" = all ] || [ "$(cut -f"$split_col" <<<"$line")" = "$split" ] || continue
    row=$((row + 1))
    [ $(( (row - 1) % every )) -eq 0 ] || continue
    name=$(tr '/' '_' <<<"${path%.*}").mp4
    if [ ! -s "$dir/clips/$name" ]; then
      # Placement from the path's hash: the same clip always lands in the same place.
      hash=$(printf '%s' "$path" | sha256sum | cut -c1-8)
      fx=$(( 16#${hash:0:4} )); fy=$(( 16#${hash:4:4} ))
      ffmpeg -nostdin -loglevel error -y -loop 1 -i "$background" -i "$data/$path" -filter_complex \
        "[1:v]scale=trunc(iw/$divisor/2)*2:trunc(ih/$divisor/2)*2[small];[0:v][small]overlay=x='(W-w)*$fx/65535':y='(H-h)*$fy/65535':shortest=1,format=yuv420p" \
        -r "$(ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$data/$path")" \
        -c:v libx264 -preset veryfast -crf 20 -threads 1 -an "$dir/clips/$name.tmp.mp4"
      mv "$dir/clips/$name.tmp.mp4" "$dir/clips/$name"
      made=$((made + 1))
    fi
    # The same row, pointing at the rendered clip.
    awk -F'\t' -v OFS='\t' -v c="$path_col" -v p="clips/$name" '{ $c = p; print }' <<<"$line" >> "$dir/MANIFEST.tsv.tmp"
  done < <(tail -n +2 "$data/MANIFEST.tsv")
  mv "$dir/MANIFEST.tsv.tmp" "$dir/MANIFEST.tsv"
  echo "distant: $dir: $(( $(wc -l < "$dir/MANIFEST.tsv") - 1 )) clips at 1/$divisor in ${canvas/:/x} ($made rendered now)"
done
