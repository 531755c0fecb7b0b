"""Does the verifier see more with MoveNet's finer maps? (experiment, thirty-first session)

The default's verifier looks at the backbone's last map, 1280 features over 5x5 cells at
160x160: a player 20 px tall in a wide broadcast shot, or a person 50 px tall in a 720p
corridor, is a fraction of one cell. MultiPose's own feature pyramid (the maps its person and
keypoint heads read) keeps the same frames at 10x10, 20x20 and 40x40, and its heads say where
people and their joints are. This measures whether the per-cell change statistics of those
maps, beside the default's, tell fights from walking better.

    python3 -m models.experiments.fpn_maps extract CLIPS_DIR MODEL_JSON OUT_DIR [--shard 0/2]
    FEATURE_DIRS=DIR[:DIR2...] [EXTRA_CLIPS=DIR EXTRA_FEATURE_DIRS=DIR[:DIR2...] EXTRA_CHEAP_DIR=DIR] \
        python3 -m models.experiments.fpn_maps train CLIPS_DIR FEATURES_DIR [train_head options]

`extract` writes OUT_DIR/NAME/ID.npy for each map of `MAPS` (float16 [F, C, h, w], the clip's
sampled frames at 160x160 as features.py prepares them). `train` runs train_head.py on the
maps of FEATURE_DIRS concatenated per frame; each map's statistics are the default's `cell`
statistics (the mean and the largest change of each feature over the cells, divided by its
mean absolute level + eps: the pyramid's maps are not ReLU outputs and may be negative).
EXTRA_CLIPS adds another extract-clips folder's clips (held-out ordinary footage, split val, its
maps in the same order) to the val figures and the curve's false starts. Figures: HISTORY.md.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.pose.features import frames_to_input

PYRAMID = "StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1/"
# name -> (graph node, transform, pooling to a coarser grid for storage)
MAPS = {
    "p10": (PYRAMID + "tf.__operators__.add/AddV2", None, 1),
    "p20": (PYRAMID + "tf.__operators__.add_1/AddV2", None, 1),
    "p40": (PYRAMID + "tf.__operators__.add_2/AddV2", None, 2),
    "joints": ("StatefulPartitionedCall/kpt_heatmap_0/conv2d_7/BiasAdd", "sigmoid", 2),
    "centers": ("StatefulPartitionedCall/center_0/conv2d_4/BiasAdd", "sigmoid", 2),
}


def extract(argv):
    import argparse

    from models.pose import movenet
    from models.pose.tfjs_graph import TfjsSubgraph

    ap = argparse.ArgumentParser()
    ap.add_argument("clips", type=Path)
    ap.add_argument("model_json", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    shard, shards = (int(v) for v in args.shard.split("/"))
    width, height = json.loads((args.clips / "config.json").read_text())["size"]
    mean, scale, offset = movenet.preprocessing(movenet.load_weights(args.model_json))
    graph = TfjsSubgraph(args.model_json, movenet.NORMALIZED_NODE, [v[0] for v in MAPS.values()]).eval()
    for name in MAPS:
        (args.out / name).mkdir(parents=True, exist_ok=True)
    rows = [line.split("\t") for line in (args.clips / "index.tsv").read_text().splitlines()[1:]]
    rows = [r for i, r in enumerate(rows) if r[-1] == "-" and i % shards == shard]
    start = time.time()
    for k, row in enumerate(rows):
        if all((args.out / name / f"{row[0]}.npy").exists() for name in MAPS):
            continue
        frames = np.fromfile(args.clips / "frames" / f"{row[0]}.u8", np.uint8).reshape(-1, height, width, 3)
        outs = {name: [] for name in MAPS}
        with torch.no_grad():
            for i in range(0, len(frames), args.batch):
                x = frames_to_input(torch.from_numpy(frames[i : i + args.batch]), 160)
                values = graph((x - mean) * scale - offset)
                for (name, (_, transform, pool)), v in zip(MAPS.items(), values):
                    if transform == "sigmoid":
                        v = torch.sigmoid(v)
                    if pool > 1:
                        v = F.avg_pool2d(v, pool)
                    outs[name].append(v)
        for name in MAPS:
            np.save(args.out / name / f"{row[0]}.npy", torch.cat(outs[name]).numpy().astype(np.float16))
        if k % 100 == 0:
            print(f"[{args.shard}] {k + 1}/{len(rows)} clips, {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    print(f"[{args.shard}] done: {len(rows)} clips in {time.time() - start:.0f} s", file=sys.stderr)


def grouped_cell_statistics(f: torch.Tensor, groups, eps: float) -> torch.Tensor:
    """f: [B, K, D] frames of maps flattened and concatenated (groups: (C, S) each) ->
    [B, 2 * sum C]: each map's cell statistics."""
    out, at = [], 0
    for channels, cells in groups:
        g = f[:, :, at : at + channels * cells].reshape(f.shape[0], f.shape[1], channels, cells)
        at += channels * cells
        level = g.abs().mean((1, 3)) + eps
        change = (g[:, 1:] - g[:, :-1]).abs().mean(1)
        out += [change.mean(2) / level, change.amax(2) / level]
    return torch.cat(out, 1)


def train(argv):
    import models.pose.train_head as th

    dirs = [Path(p) for p in os.environ.get("FEATURE_DIRS", "").split(":") if p]
    if not dirs:
        sys.exit("FEATURE_DIRS: the maps' folders (clips-cache/mixmaps160 for the default's), separated by ':'")
    if "--stats" not in argv or argv[argv.index("--stats") + 1 : argv.index("--stats") + 2] != ["cell"]:
        sys.exit("train: pass --stats cell (every map gets the cell statistics; the head records them as such)")
    groups = []

    def load_with(clips_dir, feature_dirs, cheap_dir):
        cfg, clips = own_load(clips_dir, feature_dirs[0], cheap_dir)
        for c in clips:
            maps = [c.features] + [np.load(d / f"{c.id}.npy").astype(np.float32) for d in feature_dirs[1:]]
            maps = [m.reshape(m.shape[0], m.shape[1], -1) for m in maps]
            if not groups:
                groups.extend((m.shape[1], m.shape[2]) for m in maps)
            c.features = np.concatenate([m.reshape(m.shape[0], -1) for m in maps], 1)
        return cfg, clips

    def load(clips_dir, features_dir, cheap_dir):
        cfg, clips = load_with(clips_dir, dirs, cheap_dir)
        print(f"maps {[str(d) for d in dirs]}: groups {groups}", file=sys.stderr)
        # Held-out ordinary footage, never trained on: its val clips join the curve's
        # false starts (a dataset without fights in training).
        extra = os.environ.get("EXTRA_CLIPS")
        if extra:
            extra_dirs = [Path(p) for p in os.environ["EXTRA_FEATURE_DIRS"].split(":")]
            _, more = load_with(Path(extra), extra_dirs, Path(os.environ.get("EXTRA_CHEAP_DIR", extra_dirs[0])))
            clips += more
            print(f"{len(more)} clips of {extra}", file=sys.stderr)
        return cfg, clips

    def statistics(f, kind="plain", eps=0.1):
        return grouped_cell_statistics(f, groups, eps)

    own_load = th.load
    th.load = load
    th.temporal_statistics = statistics
    sys.argv = [sys.argv[0]] + argv
    th.main()


if __name__ == "__main__":
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "extract":
        extract(rest)
    elif command == "train":
        train(rest)
    else:
        sys.exit(__doc__)
