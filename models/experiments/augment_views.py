#!/usr/bin/env python3
"""Train the verifier head with other views of each training clip: mirrored left-right, or
shrunk into an ordinary camera's still (people smaller in the frame).

    python3 -m models.experiments.augment_views extract CLIPS_DIR BACKBONE.pt OUT_DIR --view mirror [--shard 0/2]
    python3 -m models.experiments.augment_views extract CLIPS_DIR BACKBONE.pt OUT_DIR --view shrink \
        --backgrounds NORMAL_DIR [--scale 0.5] [--shard 0/2]
    AUGMENT_DIRS=OUT_DIR[:OUT_DIR2] python3 -m models.experiments.augment_views train CLIPS_DIR FEATURES_DIR [train_head options]
    python3 -m models.experiments.augment_views extract CLIPS_DIR BACKBONE.pt OUT_DIR --view mirror --every-clip
    TEST_VIEW=OUT_DIR TEST_MERGE=mean python3 -m models.experiments.augment_views score CLIPS_DIR FEATURES_DIR [train_head options]

`extract` writes the backbone's maps of every train clip's frames (fight datasets only; ordinary
footage is already what it is) seen another way, as features.py --maps does for the clips
themselves. `shrink` pastes the clip, resized by --scale, at a place fixed per clip over one
frame of a clip of NORMAL_DIR's train split (its MANIFEST.tsv), the same for the whole clip.
`train` runs train_head.py with each clip's windows of those views added to its own: the same
label, the same owner (so the same out-of-fold fold, and the clip's weight shared among its
views), never for val clips. `score` trains the head as train_head.py does (no views added)
and scores every window as the mean (or the maximum, TEST_MERGE=max) of the head's probability
on the clip and on its view: test-time views, for which `extract --every-clip` writes the view of
every clip (all splits, ordinary footage too); the stream false starts of --cheap-model are
not merged. Not adopted (models/HISTORY.md).
"""

import copy
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.pose.features import frames_to_input


def backgrounds(normal_dir: Path, size: int) -> list:
    """One still per train clip of an ordinary-footage folder, area-resized to size x size."""
    rows = [line.split("\t") for line in (normal_dir / "MANIFEST.tsv").read_text().splitlines()[1:]]
    stills = []
    for path, split, *_ in rows:
        if split != "train":
            continue
        raw = subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-ss", "1", "-i", str(normal_dir / path), "-frames:v", "1",
             "-vf", f"scale={size}:{size}:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            check=True, capture_output=True).stdout
        stills.append(torch.from_numpy(np.frombuffer(raw, np.uint8).reshape(size, size, 3).copy()).permute(2, 0, 1).float())
    if not stills:
        sys.exit(f"{normal_dir}: no train clip in MANIFEST.tsv")
    return stills


def view(x: torch.Tensor, kind: str, clip_id: str, stills: list, scale: float) -> torch.Tensor:
    """x: float [N,3,S,S] of one clip -> the same frames seen another way."""
    if kind == "mirror":
        return x.flip(-1)
    size = x.shape[-1]
    small = round(size * scale)
    rng = np.random.default_rng(zlib.crc32(clip_id.encode()))
    still = stills[rng.integers(len(stills))]
    top, left = (int(v) for v in rng.integers(0, size - small + 1, 2))
    out = still.unsqueeze(0).repeat(len(x), 1, 1, 1)
    out[:, :, top : top + small, left : left + small] = F.interpolate(x, size=(small, small), mode="area")
    return out


def extract(argv):
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("clips", type=Path)
    ap.add_argument("backbone", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--view", choices=["mirror", "shrink"], required=True)
    ap.add_argument("--backgrounds", type=Path, help="ordinary footage folder (MANIFEST.tsv) for --view shrink")
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--every-clip", action="store_true",
                    help="every clip of every split and dataset (for score), not only the fight datasets' train clips")
    args = ap.parse_args(argv)
    if args.view == "shrink" and not args.backgrounds:
        ap.error("--view shrink needs --backgrounds")
    torch.set_num_threads(1)
    shard, shards = (int(v) for v in args.shard.split("/"))
    width, height = (int(v) for v in __import__("json").loads((args.clips / "config.json").read_text())["size"])
    stills = backgrounds(args.backgrounds, args.size) if args.view == "shrink" else []
    backbone = torch.jit.load(str(args.backbone)).eval()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = (args.clips / "index.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    fights_in = {r["dataset"] for r in rows if r["violent"] == "1"}
    rows = [r for r in rows if r["error"] == "-"
            and (args.every_clip or (r["split"] == "train" and r["dataset"] in fights_in))]
    for k, row in enumerate(rows):
        dst = args.out / f"{row['id']}.npy"
        if k % shards != shard or dst.exists():
            continue
        frames = np.fromfile(args.clips / "frames" / f"{row['id']}.u8", np.uint8).reshape(-1, height, width, 3)
        x = view(frames_to_input(torch.from_numpy(frames), args.size), args.view, row["id"], stills, args.scale)
        with torch.no_grad():
            maps = torch.cat([backbone(x[i : i + 16]) for i in range(0, len(x), 16)])
        np.save(dst, maps.numpy().astype(np.float16))
    print(f"[{args.shard}] {args.view}: done", file=sys.stderr)


def train(argv):
    import models.pose.train_head as th

    views = [Path(p) for p in os.environ.get("AUGMENT_DIRS", "").split(":") if p]
    if not views:
        sys.exit("AUGMENT_DIRS: the folders `extract` wrote, separated by ':'")
    own_windows = th.training_windows

    def with_views(clips, subset, every):
        x, y, owners = own_windows(clips, subset, every)
        xs, ys, os_ = [x], [y], [owners]
        for folder in views:
            for k, c in enumerate(clips):
                path = folder / f"{c.id}.npy"
                if c.split != "train" or not path.exists():
                    continue
                seen = copy.copy(c)
                maps = np.load(path).astype(np.float32)
                seen.features = maps.reshape(maps.shape[0], maps.shape[1], -1)
                w = c.windows[::every]
                xs.append(th.window_stats(seen, w, subset))
                ys.append(torch.tensor([c.violent] * len(w)))
                os_.append(np.full(len(w), k))
        print(f"views {':'.join(map(str, views))}: {len(x)} -> {sum(len(a) for a in xs)} training windows", file=sys.stderr)
        return torch.cat(xs), torch.cat(ys), np.concatenate(os_)

    th.training_windows = with_views
    sys.argv = [sys.argv[0]] + argv
    th.main()


def score(argv):
    import models.pose.train_head as th

    folder = Path(os.environ.get("TEST_VIEW", ""))
    merge = os.environ.get("TEST_MERGE", "mean")
    if not folder.is_dir() or merge not in ("mean", "max"):
        sys.exit("TEST_VIEW: the folder `extract --every-clip` wrote; TEST_MERGE: mean or max")
    seen = {}
    own_load = th.load

    def load(clips_dir, features_dir, cheap_dir):
        cfg, clips = own_load(clips_dir, features_dir, cheap_dir)
        for c in clips:
            path = folder / f"{c.id}.npy"
            if path.exists():
                maps = np.load(path).astype(np.float32)
                seen[c.id] = maps.reshape(maps.shape[0], maps.shape[1], -1)
        print(f"test view {folder}: {len(seen)} of {len(clips)} clips, {merge}", file=sys.stderr)
        return cfg, clips

    own_probabilities = th.head_probabilities

    def head_probabilities(head, clip, windows, subset):
        p = own_probabilities(head, clip, windows, subset)
        if clip.id not in seen:
            return p
        other = copy.copy(clip)
        other.features = seen[clip.id]
        q = own_probabilities(head, other, windows, subset)
        return (p + q) / 2 if merge == "mean" else np.maximum(p, q)

    th.load = load
    th.head_probabilities = head_probabilities
    sys.argv = [sys.argv[0]] + argv
    th.main()


if __name__ == "__main__":
    commands = {"extract": extract, "train": train, "score": score}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])
