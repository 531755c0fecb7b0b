#!/usr/bin/env python3
"""A head over one more cue per window, alone or beside the default's verifier: what people do
to each other (interaction.py's statistics of MultiPose's poses, keypoints.py), or how the
motion changes (flow_cues.py, from extract-clips --flow). Its val figures and its curve of
event recall against false starts, in the same Python proxy as train_head.py's.

    python3 -m models.pose.train_interaction CLIPS_DIR MAPS_DIR --cue poses|flow|frames --cue-dir DIR
        [--flow-size 80] [--fuse 0.5] [--hidden 0] [--negative-weight 3] [--extra-clips DIR --extra-maps DIR --extra-cue-dir DIR]

MAPS_DIR holds the default's backbone maps and cheap scores (make train-cascade's FEATURES);
the cue's folder, features.py --raw output of keypoints.py's module ([F,6,56] per clip), an
extract-clips --flow folder of the same manifest, or for `frames` (frame_flow.py: a flow the
model computes itself from the window's frames, at --flow-size) an extract-clips folder whose
frames it reads (CLIPS_DIR itself; the cues are cached in its frame-cues-SIZE folder). With --fuse w,
a verified window scores w * (the default's verifier, as train-cascade trains it) +
(1 - w) * the cue's head; 0 is the cue's head alone. The gate (cheap stage >= --gate) is the
default's. Only train clips of --train-datasets fit anything; the threshold is chosen on
out-of-fold scores of the fight datasets' train clips, as train_head.py does.
"""

import argparse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from models.pose import frame_flow
from models.pose import train_head as th
from models.pose.flow_cues import clip_cues
from models.pose.head import frame_subset
from models.pose.interaction import feature_names, window_features
from models.train import choose_threshold


def frame_cues(frames_file: Path, windows, size, flow_size: int, cache: Path):
    """frame_flow.py's cues of every window, from the clip's own frames (ID.u8) as a cascade
    would see them: area-reduced to flow_size x flow_size, grey. Cached per clip in `cache`
    (delete it after changing frame_flow.py)."""
    cached = cache / (frames_file.stem + ".npy")
    if cached.exists():
        return np.load(cached)
    frames = np.fromfile(frames_file, np.uint8).reshape(-1, size[1], size[0], 3)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    grey = F.adaptive_avg_pool2d(x, [flow_size, flow_size]).mean(1)  # [F, s, s]
    out = []
    with torch.no_grad():
        for start in range(0, len(windows), 8):
            w = torch.from_numpy(windows[start:start + 8].astype(np.int64))
            out.append(frame_flow.window_cues(grey[w]))
    cues = torch.cat(out).numpy()
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cached, cues)
    return cues


def attach(clips, cue: str, cue_dir: Path, size, flow_size: int = 80):
    """The clips (whose `features` are the default's backbone maps) with the cue statistics of
    every window: keypoints.py's poses (features.py --raw, ID.npy in cue_dir), opticalflow's
    flow (extract-clips --flow, frames/ID.flow in cue_dir) or frame_flow.py's own flow of the
    frames (frames/ID.u8 in cue_dir)."""
    clips = [SimpleNamespace(**{s: getattr(c, s) for s in c.__slots__}) for c in clips]
    for c in clips:
        c.maps = c.features
        if cue == "frames":
            c.cue = frame_cues(cue_dir / "frames" / f"{c.id}.u8", c.windows, size, flow_size,
                               cue_dir / f"frame-cues-{flow_size}")
        elif cue == "flow":
            flow = np.fromfile(cue_dir / "frames" / f"{c.id}.flow", "<f2").reshape(-1, 2, size[1], size[0])
            c.cue = clip_cues(flow, c.windows)
        else:
            poses = np.load(cue_dir / f"{c.id}.npy").astype(np.float32)
            with torch.no_grad():
                c.cue = window_features(torch.from_numpy(poses[c.windows])).numpy()
    return clips


class Scorer:
    """The two heads, fitted on some clips; p(violent) of chosen windows of a clip."""

    def __init__(self, clips, args, subset, seed):
        rows = [(k, r) for k, c in enumerate(clips) for r in range(0, len(c.windows), args.every)]
        owners = np.array([k for k, _ in rows])
        y = torch.tensor([clips[k].violent for k, _ in rows])
        w = th.group_weights(clips, owners)
        fights_in = {c.dataset for c in clips if c.violent}
        negative_only = torch.tensor([clips[k].dataset not in fights_in for k in owners])
        w[negative_only] *= args.negative_weight
        self.subset, self.fuse = subset, args.fuse
        pose_x = torch.from_numpy(np.stack([clips[k].cue[r] for k, r in rows]))
        th.STATS_KIND = "plain"
        self.pose = th.fit(pose_x, y, w, _head_args(args, args.hidden, args.pose_epochs), seed)
        self.verifier = None
        if args.fuse > 0:
            th.STATS_KIND, th.STATS_EPS = "cell", 0.5
            maps_x = torch.cat([self._stats(clips[k], np.array([r])) for k, r in rows])
            self.verifier = th.fit(maps_x, y, w, _head_args(args, 0, 30), seed)

    def _stats(self, c, rows):
        f = torch.from_numpy(c.maps[c.windows[rows][:, self.subset]])
        return th.temporal_statistics(f, "cell", 0.5)

    @torch.no_grad()
    def __call__(self, c, rows):
        p = F.softmax(self.pose(torch.from_numpy(c.cue[rows])), 1)[:, 1].numpy()
        if self.verifier is None:
            return p
        v = F.softmax(self.verifier(self._stats(c, rows)), 1)[:, 1].numpy()
        v = 0.5 * v + 0.5 * c.cheap[rows]  # the default's blend (head weight 0.5)
        return self.fuse * v + (1 - self.fuse) * p


def _head_args(args, hidden, epochs):
    return argparse.Namespace(hidden=hidden, dropout=args.dropout, lr=args.lr, weight_decay=args.weight_decay,
                              epochs=epochs, batch=256, channels=1280, sharpness=4.0)


def gated(c, rows, p, gate, threshold):
    cheap = c.cheap[rows]
    return np.where(cheap >= gate, p, threshold * cheap / max(gate, 1e-9))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", type=Path)
    ap.add_argument("maps", type=Path, help="the default's backbone maps and cheap scores of CLIPS_DIR")
    ap.add_argument("--cue", choices=["poses", "flow", "frames"], default="poses")
    ap.add_argument("--flow-size", type=int, default=80, help="frames: the size the flow is computed at")
    ap.add_argument("--cue-dir", type=Path, required=True,
                    help="poses: features.py --raw output of keypoints.py; flow: extract-clips --flow of CLIPS_DIR's manifest")
    ap.add_argument("--extra-clips", type=Path, help="an extract-clips folder of more ordinary footage (held out)")
    ap.add_argument("--extra-maps", type=Path)
    ap.add_argument("--extra-cue-dir", type=Path)
    ap.add_argument("--train-datasets", default="hockey,scf,cctv")
    ap.add_argument("--threshold-datasets", default="hockey,scf")
    ap.add_argument("--negative-weight", type=float, default=3.0)
    ap.add_argument("--fuse", type=float, default=0.0)
    ap.add_argument("--gate", type=float, default=0.3)
    ap.add_argument("--frames", type=int, default=8, help="samples of each window the verifier sees")
    ap.add_argument("--hidden", type=int, default=0)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--pose-epochs", type=int, default=60)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--separation", action="store_true", help="print each feature's val AUC (fights vs the rest)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, clips = th.load(args.clips, args.maps, args.maps)
    clips = attach(clips, args.cue, args.cue_dir, cfg["size"], args.flow_size)
    if args.extra_clips:
        _, extra = th.load(args.extra_clips, args.extra_maps, args.extra_maps)
        extra = attach(extra, args.cue, args.extra_cue_dir, cfg["size"], args.flow_size)
        for c in extra:
            c.dataset = "extra"
        clips += [c for c in extra if c.split == "val"]
    subset = frame_subset(cfg["clip_length"], args.frames)
    val = [c for c in clips if c.split == "val"]
    if args.separation:
        names = frame_flow.cue_names() if args.cue in ("flow", "frames") else feature_names()
        rows = [(c, th.inference_rows(c, cfg)) for c in val]
        x = np.concatenate([c.cue[r] for c, r in rows])
        lab = np.concatenate([[c.violent] * len(r) for c, r in rows])
        for i, n in enumerate(names):
            print(f"  {n:22s} window AUC {th.auc(x[:, i], lab):.3f}")
    train = [c for c in clips if c.split == "train" and c.dataset in args.train_datasets.split(",")]
    rng = np.random.default_rng(args.seed)
    fold_of = rng.integers(0, args.folds, len(train))
    oof = np.zeros(len(train))
    for f in range(args.folds):
        scorer = Scorer([c for c, g in zip(train, fold_of) if g != f], args, subset, args.seed + f)
        for k in np.where(fold_of == f)[0]:
            c = train[k]
            oof[k] = scorer(c, th.inference_rows(c, cfg)).max()  # the verifier's own score, as train_head
    chooser = np.array([c.dataset in args.threshold_datasets.split(",") for c in train])
    threshold, _ = choose_threshold(oof[chooser], [c for c, k in zip(train, chooser) if k])
    scorer = Scorer(train, args, subset, args.seed)
    print(f"fuse {args.fuse}, hidden {args.hidden}: threshold {threshold:.3f} (out-of-fold AUC "
          f"{th.auc(oof, [c.violent for c in train]):.3f})")
    scored = [(c, th.inference_rows(c, cfg)) for c in val]
    scored = [(c, r, scorer(c, r)) for c, r in scored]
    for d in sorted({c.dataset for c in val}):
        mine = [(c, r, p) for c, r, p in scored if c.dataset == d]
        lab = np.array([c.violent for c, _, _ in mine])
        s = np.array([gated(c, r, p, args.gate, threshold).max() for c, r, p in mine])
        line = f"  val {d}: {len(mine)} clips"
        if lab.any() and not lab.all():
            line += f", accuracy {((s >= threshold) == (lab == 1)).mean():.3f}, AUC {th.auc(s, lab):.3f}"
        if lab.any():
            line += ", event recall {:.3f}".format(np.mean(
                [th.decision_starts(gated(c, r, p, args.gate, threshold), threshold) > 0 for c, r, p in mine if c.violent]))
        line += ", false starts {}".format(sum(th.decision_starts(gated(c, r, p, args.gate, threshold), threshold)
                                                for c, r, p in mine if not c.violent))
        print(line)
    normal_only = sorted({c.dataset for c in val} - {c.dataset for c in val if c.violent})
    print("  curve: threshold, event recall (all val fights), false starts " + ", ".join(normal_only))
    for t in np.arange(0.40, 0.80, 0.04):
        recall = np.mean([th.decision_starts(gated(c, r, p, args.gate, t), t) > 0 for c, r, p in scored if c.violent])
        starts = [sum(th.decision_starts(gated(c, r, p, args.gate, t), t) for c, r, p in scored if c.dataset == d)
                  for d in normal_only]
        print(f"    {t:.2f}  {recall:.3f}  " + "  ".join(str(s) for s in starts))


if __name__ == "__main__":
    main()
