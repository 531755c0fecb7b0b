#!/usr/bin/env python3
"""Train a violence classifier on clips extracted by the plugin itself, and export it.

The clips come from `extract-clips` (cargo example, examples/extract_clips.rs): the very
frames clipbuffer prepares for inference (RGB u8 at the model's size), so training and
serving share one preprocessing path. This script only trains and exports; Python never
runs in the streaming path.

    python3 -m models.train CLIPS_DIR --out models/zoo/motionnet.pt [--epochs 12] [--init PATH]
        [--inputs rgb|rgb+flow]

- Fits on the `train` split of CLIPS_DIR/index.tsv only. The decision threshold written into
  `metadata()` is chosen on training clips (the maximum of the clip's inference windows,
  maximising the mean over datasets of the balanced accuracy). `--monitor val` prints
  validation figures after each epoch for information only; nothing is chosen on them.
- Deterministic: fixed seeds, a fixed number of libtorch threads (`--threads`).
- Augmentation: random crops (resized back to the input size), horizontal flips,
  brightness / contrast / greyscale, and temporal jitter (any window of the clip's sampled
  frames, short clips padded like clipbuffer's EOS policy).
- Checkpoints every epoch in `--work` (resume with `--resume`); `--init` starts from
  weights (a checkpoint of this script or a state_dict).
- `--inputs rgb+flow` (clips from `extract-clips --flow`): the network also takes the flow
  clip clipbuffer builds after `opticalflow preset=fast` ([B,2,T,H,W], model pixels per
  frame, fed unnormalized by violenceclassify; the network scales it itself), early-fused
  with the RGB channels at the stem. The same crop and flip are applied to the flow (a
  flip negates u, a crop resized back multiplies u and v by the zoom). Exported as
  `forward(rgb, flow)` with `inputs: ["rgb", "flow"]`.
- Export: TorchScript with `metadata()` as in docs/architecture.md "The model contract".
"""

import argparse
import json
import math
import os
import random
import sys
import time
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = [0.45, 0.45, 0.45]
STD = [0.225, 0.225, 0.225]
# Flow is fed in model pixels per frame (80x80 clips of the training data: standard deviation
# 0.2-0.8, 99th percentile of |u|, |v| 1-3, rare outliers beyond 20); the network clamps it
# to +-FLOW_CLAMP and multiplies it by FLOW_SCALE before its stem.
FLOW_SCALE = 1.5
FLOW_CLAMP = 10.0


# --------------------------------------------------------------------------- data


class Clip:
    __slots__ = ("id", "path", "violent", "dataset", "split", "frames", "windows", "flow")


def load_clips(root, splits, flow=False):
    cfg = json.load(open(os.path.join(root, "config.json")))
    width, height = cfg["size"]
    T = cfg["clip_length"]
    clips, errors = [], 0
    with open(os.path.join(root, "index.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            if row["split"] not in splits:
                continue
            if row["error"] != "-":
                errors += 1
                continue
            c = Clip()
            c.id, c.path, c.dataset, c.split = row["id"], row["path"], row["dataset"], row["split"]
            c.violent = int(row["violent"])
            c.frames = np.fromfile(os.path.join(root, "frames", c.id + ".u8"), np.uint8).reshape(
                -1, height, width, 3
            )
            c.windows = np.fromfile(os.path.join(root, "frames", c.id + ".idx"), "<u4").reshape(-1, T)
            c.flow = None
            if flow:
                c.flow = np.fromfile(os.path.join(root, "frames", c.id + ".flow"), "<f2").reshape(
                    -1, 2, height, width
                )
                if len(c.flow) != len(c.frames):
                    sys.exit(f"clip {c.id}: {len(c.flow)} flow frames for {len(c.frames)} frames")
            clips.append(c)
    return cfg, clips, errors


def inference_windows(clip, cfg, stride_frames):
    """The windows clipbuffer emits with its default stride, from the windows extracted at a
    stride of one sample (see window.rs: first when the ring is full, then every stride, and
    at EOS the last window when at least half a stride came after the last one)."""
    w = clip.windows
    if len(w) == 0:
        return w
    step = max(1, stride_frames // cfg["frame_step"])
    picked = list(range(0, len(w), step))
    if (len(w) - 1 - picked[-1]) * cfg["frame_step"] * 2 >= stride_frames:
        picked.append(len(w) - 1)
    return w[picked]


def sample_window(clip, T, rng):
    """Temporal jitter: the indices of any T consecutive sampled frames; short clips are
    padded with their last frame, as clipbuffer pads at EOS."""
    n = len(clip.frames)
    if n >= T:
        s = rng.integers(0, n - T + 1)
        return np.arange(s, s + T)
    return np.minimum(np.arange(T), n - 1)


def augment(batch, rng, size, flow=None):
    """batch: float [B,3,T,H,W] in 0..1. Crops (resized back), flips, photometric. flow:
    float [B,2,T,H,W] in model pixels per frame, given the same crop and flip (modified in
    place)."""
    B, _, T, H, W = batch.shape
    out = torch.empty_like(batch)
    for i in range(B):
        x = batch[i]
        fl = flow[i] if flow is not None else None
        area = rng.uniform(0.55, 1.0)
        aspect = math.exp(rng.uniform(-0.2, 0.2))
        ch = min(H, max(8, int(round(H * math.sqrt(area / aspect)))))
        cw = min(W, max(8, int(round(W * math.sqrt(area * aspect)))))
        y0 = rng.integers(0, H - ch + 1)
        x0 = rng.integers(0, W - cw + 1)
        x = x[:, :, y0 : y0 + ch, x0 : x0 + cw]
        if ch != H or cw != W:
            x = F.interpolate(x.transpose(0, 1), size=(H, W), mode="bilinear", align_corners=False)
            x = x.transpose(0, 1)
        if fl is not None:
            fl = fl[:, :, y0 : y0 + ch, x0 : x0 + cw]
            if ch != H or cw != W:
                fl = F.interpolate(fl.transpose(0, 1), size=(H, W), mode="bilinear", align_corners=False)
                fl = fl.transpose(0, 1) * torch.tensor([W / cw, H / ch]).view(2, 1, 1, 1)
        if rng.random() < 0.5:
            x = x.flip(-1)
            if fl is not None:
                fl = fl.flip(-1) * torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1)
        if fl is not None:
            flow[i] = fl
        if rng.random() < 0.15:
            g = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
            x = g.expand(3, -1, -1, -1)
        contrast = rng.uniform(0.7, 1.3)
        bright = rng.uniform(-0.12, 0.12)
        m = x.mean()
        x = (x - m) * contrast + m + bright
        out[i] = x.clamp(0.0, 1.0)
    return out


def to_tensor(frames_list):
    """list of [T,H,W,3] u8 -> float [B,3,T,H,W] in 0..1"""
    a = torch.from_numpy(np.stack(frames_list))
    return a.permute(0, 4, 1, 2, 3).float().div_(255.0)


def flow_tensor(flow_list):
    """list of [T,2,H,W] f16 -> float [B,2,T,H,W]"""
    return torch.from_numpy(np.stack(flow_list)).float().transpose(1, 2).contiguous()


def normalize(x):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1, 1)
    return (x - mean) / std


# --------------------------------------------------------------------------- model


def spatial_layout(x):
    """[B,C,T,H,W] -> [B*T,C,H,W]"""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


def clip_layout(x, b: int):
    """[B*T,C,H,W] -> [B,C,T,H,W]"""
    bt, c, h, w = x.shape
    return x.reshape(b, bt // b, c, h, w).transpose(1, 2)


class Sep3d(nn.Module):
    """(2+1)D residual block: a spatial 3x3 conv, BN, ReLU, then a temporal 3-tap conv, BN,
    with a projected shortcut. Written with 2D convolutions (time folded into the batch for
    the spatial conv, space flattened for the temporal one): libtorch's CPU 2D convolutions
    are several times faster than its 3D ones for the same work."""

    def __init__(self, cin, cout, s_stride, t_stride):
        super().__init__()
        self.s_stride, self.t_stride = s_stride, t_stride
        self.spatial = nn.Conv2d(cin, cout, 3, s_stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.temporal = nn.Conv2d(cout, cout, (3, 1), (t_stride, 1), (1, 0), bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn_skip = nn.BatchNorm2d(cout)

    def forward(self, x):
        # x: [B,C,T,H,W]
        b = x.shape[0]
        y = F.relu(self.bn1(self.spatial(spatial_layout(x))))
        y = clip_layout(y, b)
        _, c, t, h, w = y.shape
        y = self.bn2(self.temporal(y.reshape(b, c, t, h * w)))
        y = y.reshape(b, c, y.shape[2], h, w)
        s = x[:, :, :: self.t_stride, :: self.s_stride, :: self.s_stride]
        bs, cs, ts, hs, ws = s.shape
        s = self.bn_skip(self.skip(s.reshape(bs, cs, ts, hs * ws))).reshape(bs, -1, ts, hs, ws)
        return F.relu(y + s)


class MotionNet(nn.Module):
    """A small (2+1)D CNN over appearance and motion: its input is the normalized RGB clip
    [B,3,T,H,W]; it adds the frame differences as three more channels (motion is what tells
    a fight from a crowd), then a strided 3x3 stem and three (2+1)D residual stages, and
    pools the mean and the maximum over space and time (a fight may fill a small part of
    the clip)."""

    def __init__(self, width=16, dropout=0.3, flow=False):
        super().__init__()
        w = width
        self.flow = flow
        self.flow_scale = FLOW_SCALE
        self.flow_clamp = FLOW_CLAMP
        # With flow: its u, v (scaled by FLOW_SCALE) join the stem's input channels.
        self.stem = nn.Conv2d(8 if flow else 6, w, 3, 2, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(w)
        self.stage1 = Sep3d(w, w * 3 // 2, 2, 1)
        self.stage2 = Sep3d(w * 3 // 2, 3 * w, 2, 2)
        self.stage3 = Sep3d(3 * w, 6 * w, 2, 2)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(12 * w, 2)

    def forward(self, x, flow: Optional[torch.Tensor] = None):
        b = x.shape[0]
        diff = x[:, :, 1:] - x[:, :, :-1]
        if flow is not None:
            # The flow of frame t is from the input frame before it to it, aligned with
            # the frames kept here.
            x = torch.cat([x[:, :, 1:], diff * 2.0, flow[:, :, 1:].clamp(-self.flow_clamp, self.flow_clamp) * self.flow_scale], 1)
        else:
            x = torch.cat([x[:, :, 1:], diff * 2.0], 1)
        x = clip_layout(F.relu(self.stem_bn(self.stem(spatial_layout(x)))), b)
        x = self.stage1(x)
        x = self.stage2(x)
        x = self.stage3(x)
        f = torch.cat([x.mean((2, 3, 4)), x.amax((2, 3, 4))], 1)
        return self.fc(self.dropout(f))


class Exported(nn.Module):
    """TorchScript wrapper: forward(rgb) -> logits [B,2], and metadata()."""

    def __init__(self, net, meta):
        super().__init__()
        self.net = net
        self.meta = meta

    def forward(self, rgb):
        return self.net(rgb)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class ExportedFlow(Exported):
    """forward(rgb, flow), the inputs in the order of `metadata()` `inputs`."""

    def forward(self, rgb, flow):
        return self.net(rgb, flow)


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def clip_scores(net, clips, cfg, stride_frames, batch=32):
    """p(violent) per clip = max over its inference windows."""
    net.eval()
    windows, flows, owner = [], [], []
    for k, c in enumerate(clips):
        for w in inference_windows(c, cfg, stride_frames):
            windows.append(c.frames[w])
            if c.flow is not None:
                flows.append(c.flow[w])
            owner.append(k)
    probs = []
    for i in range(0, len(windows), batch):
        x = normalize(to_tensor(windows[i : i + batch]))
        fl = flow_tensor(flows[i : i + batch]) if flows else None
        logits = net(x) if fl is None else net(x, fl)
        probs.append(F.softmax(logits, 1)[:, 1])
    p = torch.cat(probs).numpy() if probs else np.zeros(0)
    scores = np.zeros(len(clips))
    for k, v in zip(owner, p):
        scores[k] = max(scores[k], v)
    return scores


def balanced_accuracy(scores, labels, thr):
    pred = scores >= thr
    pos, neg = labels == 1, labels == 0
    tpr = pred[pos].mean() if pos.any() else 1.0
    tnr = (~pred[neg]).mean() if neg.any() else 1.0
    return 0.5 * (tpr + tnr)


def choose_threshold(scores, clips):
    """Maximise the mean over datasets of the balanced accuracy; the middle of the best
    interval between distinct scores."""
    labels = np.array([c.violent for c in clips])
    datasets = sorted({c.dataset for c in clips})
    cands = np.unique(np.concatenate([[0.0, 1.0], scores]))
    mids = (cands[:-1] + cands[1:]) / 2 if len(cands) > 1 else np.array([0.5])

    def objective(t):
        return np.mean(
            [
                balanced_accuracy(scores[[c.dataset == d for c in clips]], labels[[c.dataset == d for c in clips]], t)
                for d in datasets
            ]
        )

    vals = np.array([objective(t) for t in mids])
    best = vals.max()
    good = np.where(vals >= best - 1e-9)[0]
    # The longest run of best thresholds, and its middle.
    runs, start = [], good[0]
    for a, b in zip(good[:-1], good[1:]):
        if b != a + 1:
            runs.append((start, a))
            start = b
    runs.append((start, good[-1]))
    lo, hi = max(runs, key=lambda r: mids[r[1]] - mids[r[0]])
    thr = float((mids[lo] + mids[hi]) / 2)
    return min(max(thr, 0.05), 0.95), float(best)


def report(scores, clips, thr):
    out = {}
    for d in sorted({c.dataset for c in clips}) + ["all"]:
        sel = np.array([d == "all" or c.dataset == d for c in clips])
        lab = np.array([c.violent for c in clips])[sel]
        pred = scores[sel] >= thr
        out[d] = float((pred == (lab == 1)).mean())
    return out


# --------------------------------------------------------------------------- training


class Progress:
    def __init__(self, total, desc):
        self.total, self.desc, self.n, self.t0 = total, desc, 0, time.time()
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def update(self, n, **info):
        self.n += n
        now = time.time()
        if not self.tty and now - self.last < 30 and self.n < self.total:
            return
        self.last = now
        frac = self.n / max(1, self.total)
        bar = "#" * int(frac * 24)
        el = now - self.t0
        eta = el / frac - el if frac > 0 else 0
        extra = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        line = f"{self.desc} [{bar:<24}] {self.n}/{self.total} {el:4.0f}s<{eta:4.0f}s {extra}"
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def close(self):
        if self.tty:
            sys.stderr.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", help="folder written by extract-clips")
    ap.add_argument("--out", required=True, help="TorchScript file to write")
    ap.add_argument("--work", help="checkpoint folder (default: OUT without .pt + '-work')")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (CI)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-3)
    ap.add_argument("--width", type=int, default=16, help="channels of the first stage")
    ap.add_argument("--oversample", default="scf=3", help="DATASET=K,... repeat these clips K times per epoch")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", help="start from these weights (checkpoint or state_dict)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --work")
    ap.add_argument("--monitor", default="", help="also print figures on this split each epoch (information only)")
    ap.add_argument("--inference-stride", type=int, default=8, help="clipbuffer stride (input frames) used at inference")
    ap.add_argument("--name", default="gst-violence motionnet")
    ap.add_argument("--inputs", default="rgb", choices=["rgb", "rgb+flow"],
                    help="rgb+flow: also the flow clips of extract-clips --flow")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    use_flow = args.inputs == "rgb+flow"
    cfg, train, errs = load_clips(args.clips, {"train"}, use_flow)
    if not train:
        sys.exit(f"no train clips in {args.clips}")
    if use_flow and "flow" not in cfg.get("inputs", []):
        sys.exit(f"{args.clips} has no flow: extract it with extract-clips --flow")
    monitor = load_clips(args.clips, {args.monitor}, use_flow)[1] if args.monitor else []
    T = cfg["clip_length"]
    width, height = cfg["size"]
    print(
        f"{len(train)} train clips ({errs} not extracted), T={T} step={cfg['frame_step']} size={width}x{height}",
        file=sys.stderr,
    )

    repeat = {}
    for item in filter(None, args.oversample.split(",")):
        k, v = item.split("=")
        repeat[k] = int(v)
    epoch_items = [i for i, c in enumerate(train) for _ in range(repeat.get(c.dataset, 1))]
    steps_per_epoch = len(epoch_items) // args.batch
    total_steps = steps_per_epoch * args.epochs
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)

    net = MotionNet(args.width, flow=use_flow)
    if args.init:
        state = torch.load(args.init, map_location="cpu", weights_only=False)
        state = state.get("model", state) if isinstance(state, dict) else state.state_dict()
        missing, unexpected = net.load_state_dict(state, strict=False)
        print(f"init from {args.init}: {len(missing)} missing, {len(unexpected)} unexpected keys", file=sys.stderr)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=max(1, total_steps), pct_start=0.15
    )
    work = args.work or (os.path.splitext(args.out)[0] + "-work")
    os.makedirs(work, exist_ok=True)
    ckpt_path = os.path.join(work, "checkpoint.pt")
    start_epoch, step = 0, 0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, step = ck["epoch"], ck["step"]
        rng = np.random.default_rng(args.seed + 1000 * start_epoch)
        torch.manual_seed(args.seed + 1000 * start_epoch)
        print(f"resumed from {ckpt_path} at epoch {start_epoch}", file=sys.stderr)

    t0 = time.time()
    for epoch in range(start_epoch, args.epochs):
        if step >= total_steps:
            break
        net.train()
        order = rng.permutation(epoch_items)
        bar = Progress(steps_per_epoch, f"epoch {epoch + 1}/{args.epochs}")
        run_loss, run_acc, seen = 0.0, 0.0, 0
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            items = [train[i] for i in order[b * args.batch : (b + 1) * args.batch]]
            idx = [sample_window(c, T, rng) for c in items]
            x = to_tensor([c.frames[i] for c, i in zip(items, idx)])
            fl = flow_tensor([c.flow[i] for c, i in zip(items, idx)]) if use_flow else None
            x = normalize(augment(x, rng, (height, width), fl))
            y = torch.tensor([c.violent for c in items])
            logits = net(x, fl)
            loss = F.cross_entropy(logits, y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            seen += 1
            run_loss += loss.item()
            run_acc += (logits.argmax(1) == y).float().mean().item()
            bar.update(1, loss=run_loss / seen, acc=run_acc / seen, lr=sched.get_last_lr()[0])
        bar.close()
        torch.save(
            {"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "epoch": epoch + 1, "step": step, "args": vars(args)},
            ckpt_path,
        )
        if monitor:
            s = clip_scores(net, monitor, cfg, args.inference_stride)
            r = report(s, monitor, 0.5)
            print(f"  [{args.monitor}, information only, threshold 0.5] " +
                  " ".join(f"{k} {v:.3f}" for k, v in r.items()), file=sys.stderr)
    train_time = time.time() - t0

    # Threshold on training clips, through the inference windows (no augmentation).
    scores = clip_scores(net, train, cfg, args.inference_stride)
    thr, best = choose_threshold(scores, train)
    train_acc = report(scores, train, thr)
    print(f"threshold {thr:.4f} (train mean balanced accuracy {best:.4f}); train accuracy " +
          " ".join(f"{k} {v:.3f}" for k, v in train_acc.items()), file=sys.stderr)

    net.eval()
    meta = {
        "name": args.name,
        "description": ("(2+1)D CNN over RGB, frame differences and optical flow (opticalflow preset=fast), "
                        if use_flow else "(2+1)D CNN over RGB and frame differences, ")
        + "trained from scratch on the train split of hockey + scf clips extracted by clipbuffer",
        "interim": False,
        "inputs": ["rgb", "flow"] if use_flow else ["rgb"],
        "clip_length": T,
        "frame_step": cfg["frame_step"],
        "size": [width, height],
        "mean": MEAN,
        "std": STD,
        "colour": "rgb",
        "output": "logits",
        "labels": ["nonviolent", "violent"],
        "violent_label": "violent",
        "threshold": round(thr, 4),
        "threshold_selection": "max over the clip's inference windows, train split, mean per-dataset balanced accuracy",
        "training": {"epochs": args.epochs, "steps": step, "batch": args.batch, "lr": args.lr, "seed": args.seed,
                     "width": args.width, "oversample": args.oversample, "inputs": args.inputs, "train_clips": len(train),
                     "train_accuracy": train_acc, "train_seconds": round(train_time)},
    }
    scripted = torch.jit.script((ExportedFlow if use_flow else Exported)(net, json.dumps(meta)))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    scripted.save(args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB) after {train_time:.0f} s of training",
          file=sys.stderr)


if __name__ == "__main__":
    main()
