#!/usr/bin/env bash
# make bench-budget (also run at the end of make bench-scale): cameras per box by the
# operator's alert budget (benches/budget.rs), on the benchmark footage: scf's 720p fights
# and the fight datasets' ordinary clips at 720p, each with its 640x360 sub-stream.
# MODEL (default models/default.pt) and BUDGET_SECONDS (60 per N) override the defaults;
# BUDGET_TRIALS="nvr-fights:8,10" runs only those trials (add the word cpu for the analysis CPU
# part, BUDGET_TRIALS=cpu for it alone), CLASSIFY adds violenceclassify properties, and
# BUDGET_COMPARE=OTHER.pt measures a second model in the same rounds of the CPU part.
set -euo pipefail
dir=target/bench
bash scripts/bench_footage.sh scf normal
for f in scf normal; do bash scripts/sub_stream.sh "$dir/$f-720p30.mp4" "$dir/$f-360p30.mp4"; done
cargo bench --bench budget -- "${MODEL:-models/default.pt}" "$dir/scf-720p30.mp4" "$dir/scf-360p30.mp4" \
  "$dir/normal-720p30.mp4" "$dir/normal-360p30.mp4" "${BUDGET_SECONDS:-60}"
