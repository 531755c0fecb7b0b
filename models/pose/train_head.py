#!/usr/bin/env python3
"""Train the verifier head on per-frame backbone features (features.py) of extract-clips
windows, choose its threshold on out-of-fold training scores, and report validation and
cross-domain figures.

    python3 -m models.pose.train_head CLIPS_DIR FEATURES_DIR --out HEAD.pt
        [--train-datasets hockey,scf] [--frames 8] [--hidden 0] [--epochs 60]

Only `train` clips of --train-datasets fit anything (weights, standardization, threshold).
Reported, for information: val accuracy and AUC per dataset at that threshold (clip score =
the maximum over the clip's inference windows, as `make eval` scores), and, when some
dataset is left out of training, the AUC on all of that dataset's clips (cross-domain).
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.pose.head import RELATIVE_EPS, STATS, CellHead, StatsHead, frame_subset, temporal_statistics
from models.train import choose_threshold

DEFAULT_STRIDE_FRAMES = 8  # clipbuffer's default stride


class Clip:
    __slots__ = ("id", "violent", "dataset", "split", "features", "windows", "cheap")


def load(clips_dir: Path, features_dir: Path, cheap_dir: Path):
    cfg = json.loads((clips_dir / "config.json").read_text())
    T = cfg["clip_length"]
    lines = (clips_dir / "index.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    clips = []
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        if row["error"] != "-":
            continue
        c = Clip()
        c.id, c.dataset, c.split, c.violent = row["id"], row["dataset"], row["split"], int(row["violent"])
        c.features = np.load(features_dir / f"{c.id}.npy").astype(np.float32)
        if c.features.ndim == 4:  # whole maps (features.py --maps): [F, C, S]
            c.features = c.features.reshape(c.features.shape[0], c.features.shape[1], -1)
        c.windows = np.fromfile(clips_dir / "frames" / f"{c.id}.idx", "<u4").reshape(-1, T)
        cheap = cheap_dir / f"{c.id}.cheap.npy"
        c.cheap = np.load(cheap) if cheap.exists() else None
        if len(c.windows):
            clips.append(c)
    return cfg, clips


STATS_KIND = "plain"  # set from --stats in main()
STATS_EPS = RELATIVE_EPS  # set from --eps in main()


def window_stats(clip, windows, subset):
    f = torch.from_numpy(clip.features[windows[:, subset]])  # [W, K, D]
    return temporal_statistics(f, STATS_KIND, STATS_EPS)


def auc(scores, labels):
    scores, labels = np.asarray(scores, float), np.asarray(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def fit(x, y, w, args, seed):
    torch.manual_seed(seed)
    if STATS_KIND == "cells":
        cells = x.shape[1] // args.channels
        head = CellHead(args.channels, cells, args.sharpness, args.dropout)
        per_feature = x.view(len(x), args.channels, cells).transpose(1, 2).reshape(-1, args.channels)
        head.center.copy_(per_feature.mean(0))
        head.scale.copy_(per_feature.std(0).clamp_min(1e-3))
    else:
        head = StatsHead(x.shape[1], args.hidden, args.dropout)
        head.center.copy_(x.mean(0))
        head.scale.copy_(x.std(0).clamp_min(1e-3))
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    g = torch.Generator().manual_seed(seed)
    head.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), args.batch):
            b = order[i : i + args.batch]
            loss = (F.cross_entropy(head(x[b]), y[b], reduction="none", label_smoothing=0.1) * w[b]).sum() / w[b].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head.eval()


def pair_sequences(clips, cfg, subset, phases=2):
    """Each clip's windows at clipbuffer's stride, from `phases` starting offsets spread over
    one stride: (stats [n, S], clip index) per sequence."""
    step = max(1, DEFAULT_STRIDE_FRAMES // cfg["frame_step"])
    out = []
    for k, c in enumerate(clips):
        for phase in range(0, step, max(1, step // phases)):
            rows = np.arange(phase, len(c.windows), step)
            if len(rows):
                out.append((window_stats(c, c.windows[rows], subset), k))
    return out


def fit_pairs(sequences, labels, weights, args, seed):
    """The head trained on the statistic the decision uses (`--pairs`): an event starts on two
    windows in a row over the threshold, so a pair scores the lower of its two margins. A
    fight sequence is a bag of pairs (one fighting pair suffices: soft maximum); every pair of
    an ordinary sequence should stay low. A lone window pairs with itself."""
    torch.manual_seed(seed)
    x = torch.cat([q for q, _ in sequences])
    head = StatsHead(x.shape[1], args.hidden, args.dropout)
    head.center.copy_(x.mean(0))
    head.scale.copy_(x.std(0).clamp_min(1e-3))
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    g = torch.Generator().manual_seed(seed)
    tau = args.pairs
    head.train()
    batch = max(1, args.batch // 8)
    for _ in range(args.epochs):
        order = torch.randperm(len(sequences), generator=g).tolist()
        for i in range(0, len(order), batch):
            chosen = order[i : i + batch]
            logits = head(torch.cat([sequences[j][0] for j in chosen]))
            margins = torch.split(logits[:, 1] - logits[:, 0], [len(sequences[j][0]) for j in chosen])
            losses, ws = [], []
            for j, m in zip(chosen, margins):
                low = torch.minimum(m[:-1], m[1:]) if len(m) > 1 else m
                if labels[j]:
                    bag = tau * (torch.logsumexp(low / tau, 0) - np.log(len(low)))
                    losses.append(F.binary_cross_entropy_with_logits(bag, torch.tensor(0.95)))
                else:
                    losses.append(F.binary_cross_entropy_with_logits(low, torch.full_like(low, 0.05)))
                ws.append(weights[j])
            ws = torch.tensor(ws)
            loss = (torch.stack(losses) * ws).sum() / ws.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head.eval()


def training_windows(clips, subset, every):
    xs, ys, owners = [], [], []
    for k, c in enumerate(clips):
        w = c.windows[::every]
        xs.append(window_stats(c, w, subset))
        ys += [c.violent] * len(w)
        owners += [k] * len(w)
    return torch.cat(xs), torch.tensor(ys), np.array(owners)


def spliced_windows(clips, subset, per_clip, rng):
    """Negative windows across a scene cut: the first frames of a window of one normal clip,
    the rest of a window of another normal clip of the same dataset. Relative motion
    statistics see a cut as a burst of change; phone, web and movie footage cut often, and
    the evaluation plays normal clips back to back, so the head must learn that a cut alone
    is not a fight. Returns stats [N, S] and the owning clip of each (the first clip)."""
    normal = [k for k, c in enumerate(clips) if not c.violent]
    by_dataset = {}
    for k in normal:
        by_dataset.setdefault(clips[k].dataset, []).append(k)
    xs, owners = [], []
    K = len(subset)
    for k in normal:
        others = [o for o in by_dataset[clips[k].dataset] if o != k]
        if not others:
            continue
        for _ in range(per_clip):
            a, b = clips[k], clips[others[rng.integers(len(others))]]
            wa = a.windows[rng.integers(len(a.windows))][subset]
            wb = b.windows[rng.integers(len(b.windows))][subset]
            cut = int(rng.integers(1, K))
            f = np.concatenate([a.features[wa[:cut]], b.features[wb[cut:]]])
            xs.append(torch.from_numpy(f))
            owners.append(k)
    if not xs:
        return None, np.zeros(0, int)
    return temporal_statistics(torch.stack(xs), STATS_KIND, STATS_EPS), np.array(owners)


def with_negatives(data, xs, extra_owners, weight):
    """(x, y, w, owners, negative_only) with the windows `xs` appended as negatives that
    weigh `weight` together (a group of group_weights weighs 1), owned by `extra_owners`,
    not counted as a normal-only dataset's."""
    x, y, w, owners, negative_only = data
    return (
        torch.cat([x, xs]),
        torch.cat([y, torch.zeros(len(xs), dtype=y.dtype)]),
        torch.cat([w, torch.full([len(xs)], weight / len(xs))]),
        np.concatenate([owners, extra_owners]),
        np.concatenate([negative_only, np.zeros(len(xs), bool)]),
    )


def fast_windows(clips, subset, speed, every):
    """Negative windows of ordinary footage played `speed` times faster: every `speed`-th
    sampled frame of a normal clip. People hurrying past move as much between two verified
    frames as people fighting; these windows teach the head that speed alone is not a fight.
    Returns stats [N, S] and the owning clip of each."""
    xs, owners = [], []
    for k, c in enumerate(clips):
        if c.violent:
            continue
        T = c.windows.shape[1]
        span = speed * (T - 1) + 1
        starts = np.arange(0, len(c.features) - span + 1, every)
        if len(starts) == 0:
            continue
        idx = starts[:, None] + speed * np.arange(T)[None, :]
        xs.append(window_stats(c, idx, subset))
        owners += [k] * len(starts)
    if not xs:
        return None, np.zeros(0, int)
    return torch.cat(xs), np.array(owners)


def group_weights(clips, owners):
    """Each (dataset, label) group weighs the same in the loss, and each clip the same within
    its group, however many windows it has."""
    groups = {}
    for c in clips:
        groups.setdefault((c.dataset, c.violent), []).append(c)
    per_clip = {id(c): 1.0 / len(members) for members in groups.values() for c in members}
    windows_of = np.bincount(owners, minlength=len(clips))
    return torch.tensor([per_clip[id(clips[k])] / windows_of[k] for k in owners], dtype=torch.float32)


def inference_rows(clip, cfg):
    """Row numbers (into clip.windows) of the windows clipbuffer emits at its default stride."""
    step = max(1, DEFAULT_STRIDE_FRAMES // cfg["frame_step"])
    rows = list(range(0, len(clip.windows), step))
    if (len(clip.windows) - 1 - rows[-1]) * cfg["frame_step"] * 2 >= DEFAULT_STRIDE_FRAMES:
        rows.append(len(clip.windows) - 1)
    return np.array(rows)


HEAD_WEIGHT = 1.0  # set from --head-weight in main()


@torch.no_grad()
def head_probabilities(head, clip, windows, subset):
    """The head's p(violent) of each of the clip's windows (models/experiments/augment_views
    replaces it to merge other views of the clip)."""
    return F.softmax(head(window_stats(clip, windows, subset)), 1)[:, 1].numpy()


@torch.no_grad()
def window_scores(head, clip, cfg, subset, gate=None, threshold=0.5):
    """p(violent) of each inference window: the verifier's (the head's, blended with the
    cheap stage's by --head-weight), or with a gate the exported cascade's (ungated windows
    get threshold * p_cheap / gate)."""
    rows = inference_rows(clip, cfg)
    p = head_probabilities(head, clip, clip.windows[rows], subset)
    if HEAD_WEIGHT < 1.0:
        p = HEAD_WEIGHT * p + (1.0 - HEAD_WEIGHT) * clip.cheap[rows]
    if gate is None:
        return p
    cheap = clip.cheap[rows]
    return np.where(cheap >= gate, p, threshold * cheap / max(gate, 1e-9))


def clip_scores(head, clips, cfg, subset, gate=None, threshold=0.5):
    return np.array([window_scores(head, c, cfg, subset, gate, threshold).max() for c in clips])


def false_starts(head, clips, cfg, subset, gate, threshold):
    """Starts in the normal clips, each clip's windows in turn (no window across two clips),
    with violenceclassify's default decision: a Python proxy; make eval counts them through
    the real pipeline, and stream_false_starts adds the windows across the cuts."""
    scores = np.concatenate([window_scores(head, c, cfg, subset, gate, threshold) for c in clips])
    return decision_starts(scores, threshold), len(scores)


def decision_starts(scores, threshold, min_consecutive=2, hold_windows=6):
    """violenceclassify's default decision over a score sequence: starts counted."""
    starts, run, below, active = 0, 0, 0, False
    for p in scores:
        if p >= threshold:
            below, run = 0, run + 1
            if not active and run >= min_consecutive:
                active, starts = True, starts + 1
        else:
            run, below = 0, below + 1
            if active and below >= hold_windows:
                active = False
    return starts


@torch.no_grad()
def stream_false_starts(head, normal, cfg, subset, gate, threshold, clips_dir, cheap_model):
    """The normal clips back to back as one stream of sampled frames (windows across the
    cuts, as make eval's normal stream has them), scored like the exported cascade."""
    width, height = cfg["size"]
    T, stride = cfg["clip_length"], max(1, DEFAULT_STRIDE_FRAMES // cfg["frame_step"])
    frames = np.concatenate([np.fromfile(clips_dir / "frames" / f"{c.id}.u8", np.uint8).reshape(-1, height, width, 3)
                             for c in normal])
    features = np.concatenate([c.features for c in normal])
    starts = np.arange(0, len(frames) - T + 1, stride)
    meta = json.loads(cheap_model.metadata())
    mean = torch.tensor(meta["mean"]).view(1, 3, 1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, 3, 1, 1, 1)
    cheap_size = meta["size"] if isinstance(meta["size"], int) else meta["size"][0]
    pool = width // cheap_size
    scores = []
    for s0 in starts:
        idx = np.arange(s0, s0 + T)
        x = torch.from_numpy(frames[idx]).permute(3, 0, 1, 2).unsqueeze(0).float() / 255.0
        x = F.avg_pool3d((x - mean) / std, kernel_size=[1, pool, pool], stride=[1, pool, pool])
        q = torch.softmax(cheap_model(x), 1)[0, 1].item()
        p = F.softmax(head(temporal_statistics(torch.from_numpy(features[idx[subset]]).unsqueeze(0), STATS_KIND,
                                                 STATS_EPS)),
                      1)[0, 1].item()
        p = HEAD_WEIGHT * p + (1 - HEAD_WEIGHT) * q
        scores.append(p if q >= gate else threshold * q / max(gate, 1e-9))
    return decision_starts(scores, threshold), len(scores)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", type=Path)
    ap.add_argument("features", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--train-datasets", default="hockey,scf")
    ap.add_argument("--threshold-datasets",
                    help="datasets whose out-of-fold scores choose the threshold (default: every training dataset)")
    ap.add_argument("--negative-weight", type=float, default=1.0,
                    help="loss weight of each normal-only training dataset (continuous ordinary footage) "
                         "relative to one (dataset, label) group")
    ap.add_argument("--hard-negatives", type=float, default=0.0,
                    help="refit once with each window of a normal-only dataset weighted by "
                         "1 + this x its first fit's out-of-fold p(violent) (hard negative mining)")
    ap.add_argument("--frames", type=int, default=8, help="samples of each window the verifier sees")
    ap.add_argument("--stats", choices=STATS, default="relative", help="temporal statistics (head.py)")
    ap.add_argument("--eps", type=float, default=RELATIVE_EPS,
                    help="the level added to a feature's mean before dividing by it (relative statistics)")
    ap.add_argument("--positive-focus", type=float, default=0.0,
                    help="weigh each fight clip's windows by how violent out-of-fold heads find them "
                         "(soft maximum; smaller is sharper; 0: every window alike)")
    ap.add_argument("--pairs", type=float, default=0.0, metavar="TEMPERATURE",
                    help="train on the decision's own statistic: the lower margin of two consecutive "
                         "inference windows (an event needs both); a fight clip by the soft maximum "
                         "(this temperature) of its pairs, an ordinary clip by every pair (0: per window)")
    ap.add_argument("--fast-negatives", type=int, default=0,
                    help="also train on the normal clips played this many times faster, as negatives")
    ap.add_argument("--fast-weight", type=float, default=1.0,
                    help="the fast negatives' total weight, in (dataset, label) groups")
    ap.add_argument("--splice", type=int, default=0, help="scene-cut negatives per normal training clip")
    ap.add_argument("--splice-weight", type=float, default=0.5,
                    help="the cut negatives' share of the loss, relative to one (dataset, label) group")
    ap.add_argument("--head-weight", type=float, default=1.0,
                    help="verified windows score head_weight * p_head + (1 - head_weight) * p_cheap")
    ap.add_argument("--hidden", type=int, default=0)
    ap.add_argument("--channels", type=int, default=1280, help="feature channels of a map (--stats cells)")
    ap.add_argument("--sharpness", type=float, default=4.0, help="soft maximum over cells (--stats cells)")
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--every", type=int, default=2, help="use every Nth training window")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", type=Path, help="write the figures as JSON")
    ap.add_argument("--gate", help="also score the cascade with these gates (comma list) on the cheap scores")
    ap.add_argument("--cheap-dir", type=Path, help="where ID.cheap.npy are (default: the features folder)")
    ap.add_argument("--curve", action="store_true",
                    help="report val event recall and false starts at thresholds 0.40-0.78 (needs --gate)")
    ap.add_argument("--summary", action="store_true", help="print one line per figure instead of JSON")
    ap.add_argument("--cheap-model", type=Path,
                    help="the cheap stage (TorchScript): also count false starts of the normal val clips "
                         "played back to back through the cascade (needs --gate)")
    args = ap.parse_args()
    if args.pairs > 0 and (args.hard_negatives or args.positive_focus or args.splice or args.fast_negatives > 1
                           or args.stats == "cells"):
        ap.error("--pairs weighs whole clips: it does not combine with --hard-negatives, --positive-focus, "
                 "--splice, --fast-negatives or --stats cells")
    torch.set_num_threads(args.threads)
    global STATS_KIND, STATS_EPS, HEAD_WEIGHT
    STATS_KIND, STATS_EPS = args.stats, args.eps
    HEAD_WEIGHT = args.head_weight
    cfg, clips = load(args.clips, args.features, args.cheap_dir or args.features)
    subset = frame_subset(cfg["clip_length"], args.frames)
    train_sets = args.train_datasets.split(",")
    train = [c for c in clips if c.split == "train" and c.dataset in train_sets]
    x, y, owners = training_windows(train, subset, args.every)
    w = group_weights(train, owners)
    # Datasets of ordinary footage only (no fights): continuous camera clips as negatives.
    fights_in = {c.dataset for c in train if c.violent}
    negative_only = np.array([train[k].dataset not in fights_in for k in owners])
    if negative_only.any():
        w[torch.from_numpy(negative_only)] *= args.negative_weight
        print(f"{int(negative_only.sum())} windows of normal-only datasets "
              f"({sorted({c.dataset for c in train} - fights_in)}), weight {args.negative_weight}", file=sys.stderr)
    if args.splice:
        xs, splice_owners = spliced_windows(train, subset, args.splice, np.random.default_rng(args.seed))
        if xs is not None:
            groups = len({(c.dataset, c.violent) for c in train})
            # group_weights sums to `groups`: the cut negatives weigh splice_weight of a group.
            x, y, w, owners, negative_only = with_negatives(
                (x, y, w, owners, negative_only), xs, splice_owners, args.splice_weight)
            print(f"{len(xs)} scene-cut negatives (of {groups} groups' weight, {args.splice_weight})", file=sys.stderr)

    if args.fast_negatives > 1:
        xs, fast_owners = fast_windows(train, subset, args.fast_negatives, args.every)
        if xs is not None:
            x, y, w, owners, negative_only = with_negatives(
                (x, y, w, owners, negative_only), xs, fast_owners, args.fast_weight)
            print(f"{len(xs)} negatives at {args.fast_negatives}x speed (weight {args.fast_weight})", file=sys.stderr)

    # Threshold from out-of-fold clip scores: a head scoring its own training clips is
    # over-confident, so the threshold would land too high for unseen footage.
    rng = np.random.default_rng(args.seed)
    fold_of = rng.integers(0, args.folds, len(train))

    if args.pairs > 0:
        sequences = pair_sequences(train, cfg, subset)
        # Each clip weighs as its windows did (group weights, ordinary-only datasets scaled).
        clip_weight = np.bincount(owners, weights=w.numpy(), minlength=len(train))
        per_sequence = np.bincount([k for _, k in sequences], minlength=len(train))

        def fit_clips(keep, seed):
            chosen = [(q, k) for q, k in sequences if keep[k]]
            return fit_pairs(chosen, [train[k].violent for _, k in chosen],
                             [clip_weight[k] / per_sequence[k] for _, k in chosen], args, seed)

    def out_of_fold(weights):
        """Clip scores of each training clip by a head that did not see it, and the same
        heads' p(violent) of every training window."""
        oof, window_p = np.zeros(len(train)), np.zeros(len(x))
        for f in range(args.folds):
            held = fold_of == f
            mask = torch.from_numpy(~held[owners])
            if not held.any() or not mask.any():
                continue
            if args.pairs > 0:
                head = fit_clips(~held, args.seed + f)
            else:
                head = fit(x[mask], y[mask], weights[mask], args, args.seed + f)
            idx = np.where(held)[0]
            oof[idx] = clip_scores(head, [train[i] for i in idx], cfg, subset)
            with torch.no_grad():
                window_p[~mask.numpy()] = F.softmax(head(x[~mask]), 1)[:, 1].numpy()
        return oof, window_p

    oof, window_p = out_of_fold(w)
    if args.hard_negatives > 0 and negative_only.any():
        # Ordinary windows a head scores high, though it never saw them, weigh more.
        boost = torch.from_numpy(1.0 + args.hard_negatives * window_p).float()
        w = torch.where(torch.from_numpy(negative_only), w * boost, w)
        print(f"hard negatives: mean boost {float(boost[torch.from_numpy(negative_only)].mean()):.2f}",
              file=sys.stderr)
        oof, _ = out_of_fold(w)
    if args.positive_focus > 0:
        # A fight clip is labelled as a whole, but not every window of it shows the fight (scf
        # clips run 5 s): its windows share the clip's weight by how violent a head that did
        # not see them finds them (a soft maximum, weights ~ odds^(1 / focus)), the weak
        # labels of multiple-instance learning.
        p = np.clip(window_p, 1e-4, 1 - 1e-4)
        logit = np.log(p / (1 - p)) / args.positive_focus
        focused = w.clone()
        positive = y.numpy() == 1
        for k in np.unique(owners[positive]):
            idx = np.where((owners == k) & positive)[0]
            share = np.exp(logit[idx] - logit[idx].max())
            focused[idx] = float(w[idx].sum()) * torch.from_numpy(share / share.sum()).float()
        w = focused
        print(f"positive focus {args.positive_focus}: windows of fight clips reweighted", file=sys.stderr)
        oof, _ = out_of_fold(w)
    # (the gate does not enter the threshold: verified windows are scored by the head alone)
    # A fold without training windows (tiny data) scores nothing: fit all for those clips.
    unscored = np.array([not (fold_of == f).any() or not torch.from_numpy(~(fold_of == f)[owners]).any()
                         for f in fold_of])
    if unscored.any():
        everything = fit_clips(np.ones(len(train), bool), args.seed) if args.pairs > 0 else fit(x, y, w, args, args.seed)
        idx = np.where(unscored)[0]
        oof[idx] = clip_scores(everything, [train[i] for i in idx], cfg, subset)
    chooser = set(args.threshold_datasets.split(",")) if args.threshold_datasets else {c.dataset for c in train}
    chosen_by = np.array([c.dataset in chooser for c in train])
    threshold, train_bacc = choose_threshold(oof[chosen_by], [c for c, k in zip(train, chosen_by) if k])
    if not np.isfinite(threshold):
        sys.exit(f"no finite threshold from the out-of-fold scores: {oof}")
    head = fit_clips(np.ones(len(train), bool), args.seed) if args.pairs > 0 else fit(x, y, w, args, args.seed)
    labels_train = np.array([c.violent for c in train])
    report = {"frames": subset, "stats": args.stats, "eps": args.eps, "head_weight": args.head_weight, "threshold": threshold, "oof_mean_balanced_accuracy": train_bacc,
              "oof_auc": auc(oof, labels_train), "train_datasets": train_sets, "val": {}, "cross_domain": {}}
    gates = [None] + ([float(g) for g in args.gate.split(",")] if args.gate else [])
    for d in sorted({c.dataset for c in clips}):
        val = [c for c in clips if c.split == "val" and c.dataset == d]
        lab = np.array([c.violent for c in val])
        for gate in gates if val else []:
            s = clip_scores(head, val, cfg, subset, gate, threshold)
            key = d if gate is None else f"{d} cascade gate {gate:g}"
            report["val"][key] = {"clips": len(val), "accuracy": float(((s >= threshold) == (lab == 1)).mean()),
                                  "auc": auc(s, lab)}
            fights = [c for c in val if c.violent]
            if fights:
                report["val"][key]["proxy_event_recall"] = float(np.mean(
                    [decision_starts(window_scores(head, c, cfg, subset, gate, threshold), threshold) > 0
                     for c in fights]))
            normal = [c for c in val if not c.violent]
            starts, windows = false_starts(head, normal, cfg, subset, gate, threshold)
            report["val"][key]["proxy_false_starts"] = starts
            report["val"][key]["normal_windows"] = windows
            if gate is not None and normal and args.cheap_model:
                cheap_model = torch.jit.load(str(args.cheap_model)).eval()
                starts, windows = stream_false_starts(head, normal, cfg, subset, gate, threshold, args.clips,
                                                      cheap_model)
                report["val"][key]["stream_false_starts"] = starts
                report["val"][key]["stream_windows"] = windows
            if gate is not None and normal:
                rows = np.concatenate([c.cheap[inference_rows(c, cfg)] for c in normal])
                report["val"][key]["verified_share_of_normal_windows"] = float((rows >= gate).mean())
                fights = [c for c in val if c.violent]
                report["val"][key]["fights_gated_in"] = float(np.mean([c.cheap[inference_rows(c, cfg)].max() >= gate
                                                                       for c in fights]))
        if d not in train_sets:
            every = [c for c in clips if c.dataset == d]
            per_clip = [window_scores(head, c, cfg, subset) for c in every]  # scored once
            s = np.array([w.max() for w in per_clip])
            lab = np.array([c.violent for c in every])
            # Also as a detector on the unseen dataset: the element's default decision over each
            # normal clip's windows in turn, and whether each fight starts an event.
            normal = np.concatenate([w for w, c in zip(per_clip, every) if not c.violent])
            recall = np.mean([decision_starts(w, threshold) > 0 for w, c in zip(per_clip, every) if c.violent])
            report["cross_domain"][d] = {"clips": len(every), "auc": auc(s, lab),
                                         "accuracy": float(((s >= threshold) == (lab == 1)).mean()),
                                         "false_starts": decision_starts(normal, threshold),
                                         "normal_windows": len(normal), "event_recall": float(recall)}
    if args.curve and args.gate:
        # Threshold-free comparison of heads: at each threshold, the val fights that start an
        # event (all fight datasets) and the false starts on each normal-only dataset's val clips.
        gate = float(args.gate.split(",")[0])
        val = [c for c in clips if c.split == "val"]
        scored = [(c, window_scores(head, c, cfg, subset, gate, 0.0)) for c in val]
        curve = []
        for t in np.arange(0.40, 0.80, 0.02):
            # Ungated windows score t * p_cheap / gate at threshold t: rescale them.
            def at(c, p):
                cheap = c.cheap[inference_rows(c, cfg)]
                return np.where(cheap >= gate, p, t * cheap / max(gate, 1e-9))
            fights = [decision_starts(at(c, p), t) > 0 for c, p in scored if c.violent]
            point = {"threshold": round(float(t), 2), "event_recall": float(np.mean(fights))}
            for d in sorted({c.dataset for c in val if c.dataset not in fights_in}):
                point[f"{d}_false_starts"] = int(sum(decision_starts(at(c, p), t) for c, p in scored
                                                     if c.dataset == d))
            curve.append(point)
        report["curve"] = curve
    if args.summary:
        print(f"trained on {','.join(train_sets)}: threshold {threshold:.3f}, out-of-fold AUC {report['oof_auc']:.3f}")
        for k, v in report["val"].items():
            print(f"  val {k}: " + ", ".join(f"{a} {b:.3f}" if isinstance(b, float) else f"{a} {b}" for a, b in v.items()))
        for k, v in report["cross_domain"].items():
            print(f"  cross-domain -> {k}: AUC {v['auc']:.3f} accuracy {v['accuracy']:.3f} ({v['clips']} clips); "
                  f"{v['false_starts']} false starts in {v['normal_windows']} normal windows, "
                  f"event recall {v['event_recall']:.3f}")
    else:
        print(json.dumps(report, indent=1))
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    if args.out:
        torch.save({"state_dict": head.state_dict(), "dim": x.shape[1], "hidden": args.hidden, "stats": args.stats, "eps": args.eps,
                    "head_weight": args.head_weight,
                    "frames": subset, "threshold": threshold, "args": vars(args) | {"out": str(args.out)},
                    "report": report}, args.out)


if __name__ == "__main__":
    main()
