#!/usr/bin/env bash
# make train-people: the people-crop cascade (models/zoo/people-cascade.pt). The default's
# backbone, gate and head form, trained on clips cut around the moving people as clipbuffer
# serves them behind persondetect (extract-clips --people-crop), plus distant-camera renders of
# every second train clip at 1/3 and 1/2 (scripts/distant_proxy.sh over a still of a
# normal-cctv train clip, never the val proxy's background), with normal-cctv and the extra
# footage's train split as negatives. Needs the training mix (MIX, from
# models/negatives/build_mix.py with --extra) and the converted backbone (make pretrained).
set -euo pipefail
mix=${MIX:?MIX=folder of the training mix (make train-cascade EXTRA=... builds it)}
py=${VIOLENCE_PYTHON:-python3}
backbone=${BACKBONE:?BACKBONE=the converted MultiPose backbone (make pretrained)}
out=${OUT:-models/zoo/people-cascade.pt}
cache=${CACHE:-clips-cache}
front="persondetect model-location=models/people.pt"
extract() {
  nice -n 10 target/release/examples/extract-clips "$1" "$2" --split all --clip-length 16 --frame-step 2 \
    --size 160 --front "$front" --people-crop
}
features() {
  for k in 0 1; do nice -n 10 "$py" -m models.pose.features "$1" "$backbone" "$2" --size 160 --shard $k/2 --maps & done
  wait
  nice -n 10 "$py" -m models.pose.cheap_scores "$1" models/zoo/motionnet.pt "$2"
}
echo "==> people crops of the training mix"
[ -s "$cache/people160/index.tsv" ] || extract "$mix" "$cache/people160"
[ -s "$cache/peoplemaps160/.done" ] || { features "$cache/people160" "$cache/peoplemaps160"; touch "$cache/peoplemaps160/.done"; }
echo "==> distant renders of every second train clip, and their people crops"
SPLIT=train SCALES="third half" EVERY=2 CANVAS=640:360 BACKGROUND=../shared/data/normal-cctv/ped_xanon.mp4 \
  BACKGROUND_AT=5 bash scripts/distant_proxy.sh target/distant-train
for s in third half; do
  [ -s "$cache/peoplefar-$s/index.tsv" ] || extract "target/distant-train/$s" "$cache/peoplefar-$s"
  [ -s "$cache/peoplefarmaps-$s/.done" ] || { features "$cache/peoplefar-$s" "$cache/peoplefarmaps-$s"; touch "$cache/peoplefarmaps-$s/.done"; }
done
rm -rf "$cache/peopleaug160" "$cache/peopleaugmaps160"
"$py" -m models.pose.merge_extractions "$cache/peopleaug160" "$cache/peopleaugmaps160" \
  "$cache/people160:$cache/peoplemaps160" "$cache/peoplefar-third:$cache/peoplefarmaps-third:far" \
  "$cache/peoplefar-half:$cache/peoplefarmaps-half:far"
echo "==> head and export -> $out"
"$py" -m models.pose.train_head "$cache/peopleaug160" "$cache/peopleaugmaps160" --out target/people-head.pt \
  --gate 0.3 --stats cell --eps 0.5 --head-weight 0.5 --train-datasets hockey,scf,hockeyfar,scffar,cctv,extra \
  --threshold-datasets hockey,scf,hockeyfar,scffar --negative-weight 3 > models/zoo/logs/people-cascade-head.json
"$py" -m models.pose.cascade --cheap models/zoo/motionnet.pt --backbone "$backbone" --head target/people-head.pt \
  --gate 0.3 --verifier-size 160 --out "$out" --people-crop
