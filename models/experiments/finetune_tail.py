#!/usr/bin/env python3
"""Fine-tune the last block of the pretrained backbone together with the verifier head.

    python3 -m models.experiments.finetune_tail extract CLIPS_DIR PACKAGE_MODELS_DIR TRUNK_DIR [--shard 0/2]
    python3 -m models.experiments.finetune_tail train CLIPS_DIR PACKAGE_MODELS_DIR TRUNK_DIR --cheap-dir DIR --head HEAD.pt
        [--train-datasets hockey,scf] [--out TAIL.pt]

The backbone splits at `block_15_add` (5x5x240 at 160x160): the trunk before it stays frozen
and its output is stored once per sampled frame (`extract`, float16, 280 MB for the 24 k
frames of the data); the tail (block 16 and `out_relu`, 1.7 M parameters) is trained with
the head on the per-cell change statistics, starting from the pretrained weights and from a
head trained on the frozen features (train_head.py). Reported: the verifier's val AUC per
dataset and, when a dataset is left out of training, its AUC on every clip of that dataset
(the cross-domain check), before and after fine-tuning, in the same run.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.pose.head import StatsHead, frame_subset, temporal_statistics
from models.pose.movenet import MODEL_FILE, NORMALIZED_NODE, PREFIX, FEATURES_NODE, MoveNetBackbone
from models.pose.tfjs_graph import TfjsSubgraph
from models.pose.train_head import auc, group_weights, inference_rows

SPLIT_NODE = PREFIX + "block_15_add/add"


def trunk_of(package: Path) -> nn.Module:
    backbone = MoveNetBackbone(package / MODEL_FILE)
    backbone.body = TfjsSubgraph(package / MODEL_FILE, NORMALIZED_NODE, SPLIT_NODE)
    return backbone.eval()


def tail_of(package: Path) -> nn.Module:
    tail = TfjsSubgraph(package / MODEL_FILE, SPLIT_NODE, FEATURES_NODE)
    for p in tail.parameters():
        p.requires_grad_(True)
    return tail


def rows_of(clips_dir: Path):
    lines = (clips_dir / "index.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


@torch.no_grad()
def extract(args):
    torch.set_num_threads(1)
    cfg = json.loads((args.clips / "config.json").read_text())
    width, height = cfg["size"]
    trunk = trunk_of(args.package)
    args.trunk.mkdir(parents=True, exist_ok=True)
    shard, shards = (int(v) for v in args.shard.split("/"))
    rows = [r for i, r in enumerate(rows_of(args.clips)) if r["error"] == "-" and i % shards == shard]
    start = time.time()
    for k, row in enumerate(rows):
        dst = args.trunk / f"{row['id']}.npy"
        if dst.exists():
            continue
        frames = np.fromfile(args.clips / "frames" / f"{row['id']}.u8", np.uint8).reshape(-1, height, width, 3)
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
        out = torch.cat([trunk(x[i : i + 16]) for i in range(0, len(x), 16)])
        np.save(dst, out.half().numpy())
        if k % 100 == 0:
            print(f"{k}/{len(rows)} clips, {time.time() - start:.0f} s", file=sys.stderr)


class Clip:
    __slots__ = ("id", "violent", "dataset", "split", "trunk", "windows", "cheap")


def load(args):
    cfg = json.loads((args.clips / "config.json").read_text())
    T = cfg["clip_length"]
    clips = []
    for row in rows_of(args.clips):
        if row["error"] != "-":
            continue
        c = Clip()
        c.id, c.dataset, c.split, c.violent = row["id"], row["dataset"], row["split"], int(row["violent"])
        c.trunk = torch.from_numpy(np.load(args.trunk / f"{c.id}.npy"))
        c.windows = np.fromfile(args.clips / "frames" / f"{c.id}.idx", "<u4").reshape(-1, T)
        c.cheap = np.load(args.cheap_dir / f"{c.id}.cheap.npy")
        if len(c.windows):
            clips.append(c)
    return cfg, clips


def clip_window_stats(tail, clip, windows, subset, eps):
    """Statistics of the given windows of one clip, the tail run once per frame used."""
    used = np.unique(windows[:, subset])
    maps = tail(clip.trunk[used].float())  # [U, C, h, w]
    where = np.searchsorted(used, windows[:, subset])
    f = maps.flatten(2)[torch.from_numpy(where)]  # [W, K, C, S]
    return temporal_statistics(f, "cell", eps)


@torch.no_grad()
def clip_scores(tail, head, clips, cfg, subset, eps):
    return np.array([F.softmax(head(clip_window_stats(tail, c, c.windows[inference_rows(c, cfg)], subset, eps)),
                               1)[:, 1].max().item() for c in clips])


def report(tag, tail, head, clips, cfg, subset, eps, train_sets):
    tail.eval()
    head.eval()
    line = []
    for d in sorted({c.dataset for c in clips}):
        # A dataset left out of training is scored whole once; its val clips are among them.
        scored = [c for c in clips if c.dataset == d and (d not in train_sets or c.split == "val")]
        s = clip_scores(tail, head, scored, cfg, subset, eps)
        val = np.array([c.split == "val" for c in scored])
        labels = np.array([c.violent for c in scored])
        line.append(f"val {d} AUC {auc(s[val], labels[val]):.3f}")
        if d not in train_sets:
            line.append(f"cross-domain -> {d} AUC {auc(s, labels):.3f}")
    print(f"{tag}: " + ", ".join(line), flush=True)


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg, clips = load(args)
    subset = frame_subset(cfg["clip_length"], args.frames)
    train_sets = args.train_datasets.split(",")
    train_clips = [c for c in clips if c.split == "train" and c.dataset in train_sets]
    saved = torch.load(args.head, weights_only=False)
    eps = saved["eps"]
    head = StatsHead(saved["dim"], saved["hidden"], args.dropout)
    head.load_state_dict(saved["state_dict"])
    tail = tail_of(args.package)
    report("frozen tail, head as trained", tail, head, clips, cfg, subset, eps, train_sets)

    # Each clip's training windows: every `every`th, weighted as train_head.py weights them.
    windows = [c.windows[:: args.every] for c in train_clips]
    owners = np.concatenate([[k] * len(w) for k, w in enumerate(windows)])
    weight = group_weights(train_clips, owners)
    per_clip = [weight[torch.from_numpy(owners == k)] for k in range(len(train_clips))]
    opt = torch.optim.AdamW([{"params": tail.parameters(), "lr": args.tail_lr, "weight_decay": 0.0},
                             {"params": head.net.parameters(), "lr": args.head_lr, "weight_decay": 0.05}])
    reference = [p.detach().clone() for p in tail.parameters()]
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        tail.train()
        head.train()
        order = torch.randperm(len(train_clips), generator=g).tolist()
        start, total = time.time(), 0.0
        for i in range(0, len(order), args.clips_per_step):
            batch = order[i : i + args.clips_per_step]
            stats = torch.cat([clip_window_stats(tail, train_clips[k], windows[k], subset, eps) for k in batch])
            y = torch.tensor(np.concatenate([[train_clips[k].violent] * len(windows[k]) for k in batch]))
            w = torch.cat([per_clip[k] for k in batch])
            loss = (F.cross_entropy(head(stats), y, reduction="none", label_smoothing=0.1) * w).sum() / w.sum()
            # L2-SP: stay near the pretrained tail, which is what carries to unseen cameras.
            loss = loss + args.sp * sum((p - r).pow(2).sum() for p, r in zip(tail.parameters(), reference))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}: loss {total / len(order):.4f}, {time.time() - start:.0f} s", file=sys.stderr,
              flush=True)
        report(f"epoch {epoch + 1}", tail, head, clips, cfg, subset, eps, train_sets)
    if args.out:
        torch.save({"tail": tail.state_dict(), "head": head.state_dict(), "eps": eps, "dim": saved["dim"],
                    "hidden": saved["hidden"], "frames": subset, "args": {k: str(v) for k, v in vars(args).items()}},
                   args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract")
    ex.add_argument("clips", type=Path)
    ex.add_argument("package", type=Path)
    ex.add_argument("trunk", type=Path)
    ex.add_argument("--shard", default="0/1")
    tr = sub.add_parser("train")
    tr.add_argument("clips", type=Path)
    tr.add_argument("package", type=Path)
    tr.add_argument("trunk", type=Path)
    tr.add_argument("--cheap-dir", type=Path, required=True)
    tr.add_argument("--head", type=Path, required=True, help="a head trained on the frozen maps (train_head.py --stats cell)")
    tr.add_argument("--train-datasets", default="hockey,scf")
    tr.add_argument("--frames", type=int, default=8)
    tr.add_argument("--every", type=int, default=2)
    tr.add_argument("--epochs", type=int, default=4)
    tr.add_argument("--clips-per-step", type=int, default=16)
    tr.add_argument("--tail-lr", type=float, default=1e-4)
    tr.add_argument("--head-lr", type=float, default=1e-4)
    tr.add_argument("--sp", type=float, default=1e-3, help="L2 pull towards the pretrained tail")
    tr.add_argument("--dropout", type=float, default=0.2)
    tr.add_argument("--seed", type=int, default=7)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--out", type=Path)
    args = ap.parse_args()
    extract(args) if args.command == "extract" else train(args)


if __name__ == "__main__":
    main()
