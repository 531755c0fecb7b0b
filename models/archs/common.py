"""Shared toolchain for the published architectures (models/archs/*.py).

Data, augmentation, threshold selection and the progress bar are those of models/train.py
(imported, not copied), so every architecture trains on the clips clipbuffer itself made
(`extract-clips`) and exports TorchScript with the `metadata()` of docs/architecture.md.

This module adds what the architectures share beyond train.py: the command line, a
supervised training loop with an end-of-epoch hook (R(2+1)D's activation switching uses
it), a wall-clock budget, `--init`, checkpoints with `--resume`, and the export.
"""

import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models import train as base

MEAN, STD = base.MEAN, base.STD
load_clips = base.load_clips
sample_window = base.sample_window
augment = base.augment
to_tensor = base.to_tensor
normalize = base.normalize
choose_threshold = base.choose_threshold
report = base.report
Progress = base.Progress
inference_windows = base.inference_windows


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def keras_style_count(module):
    """Parameters plus BatchNorm running statistics: how Keras' model.summary() counts
    ("Total params"), for comparing with figures of papers written in Keras."""
    extra = sum(m.running_mean.numel() + m.running_var.numel()
                for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    return count_params(module) + extra


def scaled(channels, mult, minimum=8, divisor=1):
    v = max(minimum, int(round(channels * mult)))
    if divisor > 1:
        v = max(minimum, int(v + divisor / 2) // divisor * divisor)
    return v


def base_parser(description, defaults):
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", help="folder written by extract-clips (its clip length/step/size become the model's)")
    ap.add_argument("--out", required=True, help="TorchScript file to write")
    ap.add_argument("--work", help="checkpoint folder (default: OUT without .pt + '-work')")
    ap.add_argument("--epochs", type=int, default=defaults.get("epochs", 10))
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps (CI)")
    ap.add_argument("--time-budget", type=float, default=0, help="stop training after this many seconds (0: none)")
    ap.add_argument("--batch", type=int, default=defaults.get("batch", 8))
    ap.add_argument("--lr", type=float, default=defaults.get("lr", 2e-3))
    ap.add_argument("--weight-decay", type=float, default=5e-3)
    ap.add_argument("--width-mult", type=float, default=defaults.get("width_mult", 0.25),
                    help="channel multiplier of the backbone (1.0 = the paper's full size)")
    ap.add_argument("--oversample", default="scf=3", help="DATASET=K,... repeat these clips K times per epoch")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", help="start from these weights (a checkpoint of this script or a state_dict; "
                    "non-strict, shape-mismatched tensors are skipped and reported)")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint in --work")
    ap.add_argument("--inference-stride", type=int, default=8, help="clipbuffer stride (input frames) at inference")
    ap.add_argument("--name", default=defaults.get("name"))
    return ap


def seed_all(seed, threads):
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def load_init(net, path):
    """Non-strict load that skips tensors whose shape differs (e.g. a 400-class Kinetics
    head), and reports what was used."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    elif not isinstance(state, dict):
        state = state.state_dict()
    own = net.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = [k for k in state if k not in usable]
    missing = [k for k in own if k not in usable]
    net.load_state_dict(usable, strict=False)
    print(f"init from {path}: {len(usable)} tensors loaded, {len(missing)} missing, "
          f"{len(skipped)} skipped (unknown or other shape)", file=sys.stderr)


def epoch_items(train, oversample):
    repeat = {}
    for item in filter(None, oversample.split(",")):
        k, v = item.split("=")
        repeat[k] = int(v)
    return [i for i, c in enumerate(train) for _ in range(repeat.get(c.dataset, 1))]


# TorchScript wrapper: forward(rgb) -> logits [B,2], and metadata().
Exported = base.Exported


@torch.no_grad()
def clip_scores(net, clips, cfg, stride_frames, batch=16):
    net.eval()
    return base.clip_scores(net, clips, cfg, stride_frames, batch)


def contract(cfg, name, description, threshold, extra):
    width, height = cfg["size"]
    meta = {
        "name": name,
        "description": description,
        "interim": False,
        "inputs": ["rgb"],
        "clip_length": cfg["clip_length"],
        "frame_step": cfg["frame_step"],
        "size": [width, height],
        "mean": MEAN,
        "std": STD,
        "colour": "rgb",
        "output": "logits",
        "labels": ["nonviolent", "violent"],
        "violent_label": "violent",
        "threshold": round(float(threshold), 4),
        "threshold_selection": "max over the clip's inference windows, train split, mean per-dataset balanced accuracy",
    }
    meta.update(extra)
    return meta


def save_script(module, out):
    scripted = torch.jit.script(module)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    scripted.save(out)
    return os.path.getsize(out)


def train_supervised(args, net, *, loss_fn=None, end_of_epoch=None, holdout_fraction=0.0,
                     describe="", arch="", full_params=0, export_module=None, train_forward=None):
    """Cross-entropy training of a logits model on the train split, then threshold choice on
    the train split and export. `end_of_epoch(epoch, holdout_loss, net) -> str|None` runs
    after each epoch with the loss on a part of the train split held out of the gradient
    (`holdout_fraction`), never on the val split."""
    rng = seed_all(args.seed, args.threads)
    cfg, train, errs = load_clips(args.clips, {"train"})
    if not train:
        sys.exit(f"no train clips in {args.clips}")
    holdout = []
    if holdout_fraction > 0:
        order = np.random.default_rng(args.seed + 17).permutation(len(train))
        n = max(1, int(len(train) * holdout_fraction))
        hold = set(order[:n].tolist())
        holdout = [c for i, c in enumerate(train) if i in hold]
        fit = [c for i, c in enumerate(train) if i not in hold]
    else:
        fit = train
    T = cfg["clip_length"]
    width, height = cfg["size"]
    print(f"{arch}: {len(fit)} train clips ({len(holdout)} held out of the gradient, {errs} not extracted), "
          f"T={T} step={cfg['frame_step']} size={width}x{height}, {count_params(net):,} parameters", file=sys.stderr)
    if args.init:
        load_init(net, args.init)
    items = epoch_items(fit, args.oversample)
    steps_per_epoch = max(1, len(items) // args.batch)
    total = steps_per_epoch * args.epochs
    if args.max_steps:
        total = min(total, args.max_steps)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(1, total), pct_start=0.15)
    work = args.work or (os.path.splitext(args.out)[0] + "-work")
    os.makedirs(work, exist_ok=True)
    ckpt = os.path.join(work, "checkpoint.pt")
    start_epoch, step, log = 0, 0, []
    if args.resume and os.path.exists(ckpt):
        ck = torch.load(ckpt, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, step, log = ck["epoch"], ck["step"], ck.get("log", [])
        if "extra" in ck and hasattr(net, "load_extra"):
            net.load_extra(ck["extra"])
        rng = np.random.default_rng(args.seed + 1000 * start_epoch)
        torch.manual_seed(args.seed + 1000 * start_epoch)
        print(f"resumed from {ckpt} at epoch {start_epoch}", file=sys.stderr)
    loss_fn = loss_fn or (lambda out, y: F.cross_entropy(out, y, label_smoothing=0.1))
    t0 = time.time()
    stopped = ""
    for epoch in range(start_epoch, args.epochs):
        if step >= total or stopped:
            break
        net.train()
        order = rng.permutation(items)
        bar = Progress(steps_per_epoch, f"epoch {epoch + 1}/{args.epochs}")
        run_loss = run_acc = seen = 0.0
        for b in range(steps_per_epoch):
            if step >= total:
                break
            if args.time_budget and time.time() - t0 > args.time_budget:
                stopped = f"time budget of {args.time_budget:.0f} s reached in epoch {epoch + 1}"
                break
            batch = [fit[i] for i in order[b * args.batch:(b + 1) * args.batch]]
            x = normalize(augment(to_tensor([c.frames[sample_window(c, T, rng)] for c in batch]), rng, (height, width)))
            y = torch.tensor([c.violent for c in batch])
            out = (train_forward or net)(x)
            loss = loss_fn(out, y)
            logits = out[0] if out.dim() == 3 else out
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
        entry = {"epoch": epoch + 1, "train_loss": round(run_loss / max(1, seen), 4), "steps": step}
        if holdout:
            hl = holdout_loss(net, holdout, cfg, args.inference_stride)
            entry["holdout_loss"] = round(hl, 4)
            if end_of_epoch:
                note = end_of_epoch(epoch, hl, net)
                if note:
                    entry["note"] = note
            print(f"  holdout loss {hl:.4f} {entry.get('note', '')}", file=sys.stderr)
        log.append(entry)
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "epoch": epoch + 1, "step": step, "log": log, "args": vars(args),
                    "extra": net.save_extra() if hasattr(net, "save_extra") else None}, ckpt)
    train_time = time.time() - t0
    if stopped:
        print(stopped, file=sys.stderr)

    scores = clip_scores(net, train, cfg, args.inference_stride)
    thr, best = choose_threshold(scores, train)
    train_acc = report(scores, train, thr)
    print(f"threshold {thr:.4f} (train mean balanced accuracy {best:.4f}); train accuracy "
          + " ".join(f"{k} {v:.3f}" for k, v in train_acc.items()), file=sys.stderr)
    net.eval()
    meta = contract(cfg, args.name, describe, thr, {
        "arch": arch,
        "params": count_params(net),
        "params_full_size": full_params,
        "training": {"epochs_run": len(log), "steps": step, "batch": args.batch, "lr": args.lr, "seed": args.seed,
                     "width_mult": args.width_mult, "oversample": args.oversample, "train_clips": len(train),
                     "train_accuracy": train_acc, "train_seconds": round(train_time), "threads": args.threads,
                     "stopped": stopped or "epochs done", "log": log,
                     "state": net.save_extra() if hasattr(net, "save_extra") else None},
    })
    module = export_module(net, json.dumps(meta)) if export_module else Exported(net, json.dumps(meta))
    size = save_script(module, args.out)
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, {count_params(net):,} parameters) after {train_time:.0f} s "
          f"of training", file=sys.stderr)
    return meta


@torch.no_grad()
def holdout_loss(net, clips, cfg, stride_frames):
    """Mean cross-entropy over the inference windows of held-out training clips."""
    net.eval()
    total, n = 0.0, 0
    wins, labels = [], []
    for c in clips:
        for w in inference_windows(c, cfg, stride_frames):
            wins.append(c.frames[w])
            labels.append(c.violent)
    for i in range(0, len(wins), 16):
        x = normalize(to_tensor(wins[i:i + 16]))
        out = net(x)
        total += F.cross_entropy(out, torch.tensor(labels[i:i + 16]), reduction="sum").item()
        n += x.shape[0]
    net.train()
    return total / max(1, n)
