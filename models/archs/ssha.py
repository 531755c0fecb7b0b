#!/usr/bin/env python3
"""SSHA: semi-supervised hard attention by deep Q-learning (after Mohammadi & Nazerfard,
"Video Violence Recognition and Localization Using a Semi-Supervised Hard Attention Model").

Model: an I3D backbone (Inception-v1 inflated to 3D: 7x7x7 stem, 1x1x1 and 3x3x3 units,
nine Inception modules 3b..5c, 1024 channels at width 1) on RGB, on optical flow, or on
both with the two streams' feature maps fused by element-wise multiplication; a 3D
convolution that reduces the fused map's channels, global pooling, and a dueling Q head
(value and advantage streams, Q = V + A - mean A) whose input also holds the step count as
a one-hot vector. Outputs q_values [B, R+2]: R region actions (zoom into prior box r of the
current region), then non-violent, violent.

Inference is violenceclassify's multi-step loop (src/model/worker.rs `attend`): step 0 sees
the whole frame (the clip at model size); while a region action wins and steps remain, the
region is composed with the prior box and the next step sees that region of the clip's
attention frames, cropped and resized to the model size; the step one-hot is [B, max_steps].
p(violent) is the softmax of the two class values of the deciding step.

Training (Algorithm 1 of the paper, as implemented here):
- episodes over training clips (temporal jitter, flips, photometric changes fixed per
  episode); epsilon-greedy actions (epsilon decays linearly), the last step allows class
  actions only, as the element's loop decides there;
- rewards: class action +1 if right, -1 if wrong (terminal); region action +0.5 x decay^step
  (exponentially diminishing attention reward); every reward of a step past the second is
  further multiplied by `late` per extra step (diminishing rewards past 2 steps);
- reward injection: every visited state also gets the transitions of both class actions
  with their known rewards (the label is known for the whole clip), so class values learn
  at every zoom level whatever the policy chose;
- replay buffer (states stored as descriptors, re-rendered when sampled), a target network
  synchronized every `--target-sync` updates, targets r + gamma max_a' Q_target(s', a')
  clipped to [-1, 1.5], Huber loss;
- adaptive positive-reward sampling: two pools (reward > 0, reward <= 0); the share of a
  batch drawn from the positive pool is 1 - (share of positive rewards among the last 2000
  transitions), kept within [0.25, 0.75], so the rarer kind is sampled more as the agent's
  behaviour changes.

Attention frames: clipbuffer keeps them up to 640 px; training crops regions from a second
extraction of the same clips at a larger size (`--zoom-clips`, e.g. 128x128, same clip
length and step: the frames correspond one to one), or from the model-size frames when it
is not given.

    python3 -m models.archs.ssha CLIPS --zoom-clips CLIPS128 --out models/zoo/ssha.pt
"""

import json
import math
import os
import sys
import time
from typing import List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.archs import common

PRIOR_BOXES = [[0.0, 0.0, 0.6, 0.6], [0.4, 0.0, 0.6, 0.6], [0.0, 0.4, 0.6, 0.6], [0.4, 0.4, 0.6, 0.6],
               [0.2, 0.2, 0.6, 0.6]]
MAX_STEPS = 3


# --------------------------------------------------------------------------- I3D


class Unit3d(nn.Sequential):
    def __init__(self, cin, cout, k=1, stride=1):
        pad = tuple(v // 2 for v in (k if isinstance(k, tuple) else (k, k, k)))
        super().__init__(nn.Conv3d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm3d(cout, eps=1e-3),
                         nn.ReLU(inplace=True))


class Inception3d(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.b0 = Unit3d(cin, c[0])
        self.b1 = nn.Sequential(Unit3d(cin, c[1]), Unit3d(c[1], c[2], 3))
        self.b2 = nn.Sequential(Unit3d(cin, c[3]), Unit3d(c[3], c[4], 3))
        self.b3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), Unit3d(cin, c[5]))
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], 1)


# Inception-v1 modules: 1x1, 3x3 reduce, 3x3, 5x5 (here 3x3x3) reduce, 5x5, pool projection.
INCEPTION = {
    "3b": [64, 96, 128, 16, 32, 32], "3c": [128, 128, 192, 32, 96, 64],
    "4b": [192, 96, 208, 16, 48, 64], "4c": [160, 112, 224, 24, 64, 64], "4d": [128, 128, 256, 24, 64, 64],
    "4e": [112, 144, 288, 32, 64, 64], "4f": [256, 160, 320, 32, 128, 128],
    "5b": [256, 160, 320, 32, 128, 128], "5c": [384, 192, 384, 48, 128, 128],
}


class I3D(nn.Module):
    def __init__(self, in_channels=3, width_mult=1.0):
        super().__init__()

        def s(v):
            return common.scaled(v, width_mult, minimum=4)

        mods = [Unit3d(in_channels, s(64), 7, 2), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
                Unit3d(s(64), s(64)), Unit3d(s(64), s(192), 3), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))]
        cin = s(192)
        for name in ["3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c"]:
            if name == "4b":
                mods.append(nn.MaxPool3d(3, 2, 1))
            if name == "5b":
                mods.append(nn.MaxPool3d(2, 2, 0, ceil_mode=True))
            m = Inception3d(cin, [s(v) for v in INCEPTION[name]])
            mods.append(m)
            cin = m.out_channels
        self.body = nn.Sequential(*mods)
        self.out_channels = cin

    def forward(self, x):
        return self.body(x)


# --------------------------------------------------------------------------- SSHA


class SSHANet(nn.Module):
    def __init__(self, streams=("rgb",), width_mult=1.0, regions=len(PRIOR_BOXES), max_steps=MAX_STEPS,
                 reduced=256, hidden=1024):
        super().__init__()
        self.streams = list(streams)
        self.backbones = nn.ModuleList([I3D(3 if s == "rgb" else 2, width_mult) for s in self.streams])
        self.flow_scale = [0.0 if s == "rgb" else 0.25 for s in self.streams]
        c = self.backbones[0].out_channels
        r = common.scaled(reduced, width_mult)
        h = common.scaled(hidden, width_mult)
        self.reduce = nn.Sequential(nn.Conv3d(c, r, 1, bias=False), nn.BatchNorm3d(r), nn.ReLU(inplace=True))
        self.value = nn.Sequential(nn.Linear(r + max_steps, h), nn.ReLU(inplace=True), nn.Linear(h, 1))
        self.advantage = nn.Sequential(nn.Linear(r + max_steps, h), nn.ReLU(inplace=True),
                                       nn.Linear(h, regions + 2))

    def forward(self, xs: List[torch.Tensor], step):
        fused = torch.zeros(1)
        i = 0
        for bb in self.backbones:
            x = xs[i]
            if self.flow_scale[i] > 0.0:
                x = (x * self.flow_scale[i]).clamp(-4.0, 4.0)
            f = bb(x)
            fused = f if i == 0 else fused * f
            i += 1
        z = torch.cat([self.reduce(fused).mean((2, 3, 4)), step], 1)
        a = self.advantage(z)
        return self.value(z) + a - a.mean(1, keepdim=True)


class ExportRgb(nn.Module):
    def __init__(self, net, meta):
        super().__init__()
        self.net, self.meta = net, meta

    def forward(self, rgb, step):
        return self.net([rgb], step)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class ExportFlow(ExportRgb):
    def forward(self, flow, step):
        return self.net([flow], step)


class ExportTwoStream(nn.Module):
    def __init__(self, net, meta):
        super().__init__()
        self.net, self.meta = net, meta

    def forward(self, rgb, flow, step):
        return self.net([rgb, flow], step)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


def export_module(net, meta):
    key = "+".join(net.streams)
    return {"rgb": ExportRgb, "flow": ExportFlow, "rgb+flow": ExportTwoStream}[key](net, meta)


def compose(cur, prior):
    return (cur[0] + prior[0] * cur[2], cur[1] + prior[1] * cur[3], prior[2] * cur[2], prior[3] * cur[3])


def to_pixels(rel, w, h):
    """As src/model/attention.rs to_pixels."""
    x = min(max(round(rel[0] * w), 0), w - 1)
    y = min(max(round(rel[1] * h), 0), h - 1)
    right = max(min(max(round((rel[0] + rel[2]) * w), 0), w), x + 1)
    bottom = max(min(max(round((rel[1] + rel[3]) * h), 0), h), y + 1)
    return x, y, right - x, bottom - y


def one_hot(steps, n):
    t = torch.zeros(len(steps), n)
    t[torch.arange(len(steps)), torch.tensor(steps)] = 1.0
    return t


class Renderer:
    """States -> normalized model input [B,3,T,H,W], as violenceclassify builds it."""

    def __init__(self, cfg, zoom_frames):
        self.T = cfg["clip_length"]
        self.w, self.h = cfg["size"]
        self.zoom = zoom_frames  # list (per clip) of [F,H2,W2,3] u8 or None

    def render(self, clips, states):
        out = []
        for st in states:
            c = clips[st["clip"]]
            idx = st["idx"]
            if st["region"] == (0.0, 0.0, 1.0, 1.0):
                x = torch.from_numpy(c.frames[idx]).permute(3, 0, 1, 2).float()  # [3,T,H,W] 0..255
            else:
                src = self.zoom[st["clip"]] if self.zoom is not None else c.frames
                f = torch.from_numpy(src[idx]).permute(0, 3, 1, 2).float()  # [T,3,h,w]
                px, py, cw, ch = to_pixels(st["region"], f.shape[3], f.shape[2])
                f = f[:, :, py:py + ch, px:px + cw]
                f = F.interpolate(f, size=(self.h, self.w), mode="bilinear", align_corners=False)
                x = f.permute(1, 0, 2, 3)
            x = x / 255.0
            if st.get("flip"):
                x = x.flip(-1)
            if "contrast" in st:
                m = x.mean()
                x = ((x - m) * st["contrast"] + m + st["bright"]).clamp(0.0, 1.0)
            out.append(x)
        return common.normalize(torch.stack(out))


def class_reward(action, label, step, late):
    """+1 for the right class, -1 for the wrong one, diminished past the second step."""
    return (1.0 if (action - len(PRIOR_BOXES)) == label else -1.0) * late ** max(0, step - 1)


def attention_reward(step, reward, decay, late):
    """The exponentially diminishing reward of a region action, diminished past step 2."""
    return reward * decay ** step * late ** max(0, step - 1)


def q_targets(rewards, next_q, next_is_last, gamma):
    """r + gamma max_a' Q_target(s', a') for non-terminal transitions (next_q rows; None for
    terminal ones), class actions only when s' is the last step, clipped to [-1, 1.5]."""
    y = torch.tensor(rewards, dtype=torch.float32)
    for j, (q, last) in enumerate(zip(next_q, next_is_last)):
        if q is not None:
            y[j] += gamma * (q[len(PRIOR_BOXES):].max() if last else q.max())
    return y.clamp(-1.0, 1.5)


def window_indices(clip, T, rng):
    n = len(clip.frames)
    if n >= T:
        s = int(rng.integers(0, n - T + 1))
        return np.arange(s, s + T)
    return np.minimum(np.arange(T), n - 1)


@torch.no_grad()
def greedy_scores(net, clips, renderer, cfg, stride, steps_out=None, batch=16):
    """The element's loop in Python: p(violent) per clip = max over its inference windows."""
    net.eval()
    R = len(PRIOR_BOXES)
    states, owner = [], []
    for k, c in enumerate(clips):
        for w in common.inference_windows(c, cfg, stride):
            states.append({"clip": k, "idx": np.asarray(w), "region": (0.0, 0.0, 1.0, 1.0)})
            owner.append(k)
    probs = np.zeros(len(states))
    nsteps = np.zeros(len(states))
    for i in range(0, len(states), batch):
        active = list(range(i, min(i + batch, len(states))))
        for step in range(MAX_STEPS):
            if not active:
                break
            q = net([renderer.render(clips, [states[j] for j in active])], one_hot([step] * len(active), MAX_STEPS))
            still = []
            for row, j in zip(q, active):
                best = int(row.argmax())
                if best < R and step + 1 < MAX_STEPS:
                    states[j]["region"] = compose(states[j]["region"], PRIOR_BOXES[best])
                    still.append(j)
                else:
                    probs[j] = torch.sigmoid(row[R + 1] - row[R]).item()
                    nsteps[j] = step + 1
            active = still
    scores = np.zeros(len(clips))
    for k, p in zip(owner, probs):
        scores[k] = max(scores[k], p)
    if steps_out is not None:
        steps_out.append(float(nsteps.mean()) if len(nsteps) else 0.0)
    return scores


def main():
    ap = common.base_parser(__doc__, {"epochs": 1, "batch": 16, "lr": 1e-3, "width_mult": 0.125,
                                      "name": "ssha (i3d, dueling dqn hard attention)"})
    ap.add_argument("--zoom-clips", help="the same clips extracted at a larger size (attention frames)")
    ap.add_argument("--streams", default="rgb", choices=["rgb", "flow", "rgb+flow"],
                    help="backbone streams (flow needs flow clips; the extraction tool writes RGB only)")
    ap.add_argument("--episodes", type=int, default=4000, help="episodes to run (or until --time-budget)")
    ap.add_argument("--episode-batch", type=int, default=8, help="episodes acted in parallel")
    ap.add_argument("--updates-per-round", type=int, default=6)
    ap.add_argument("--gamma", type=float, default=0.9)
    ap.add_argument("--eps-start", type=float, default=0.6)
    ap.add_argument("--eps-end", type=float, default=0.05)
    ap.add_argument("--attention-reward", type=float, default=0.5)
    ap.add_argument("--attention-decay", type=float, default=0.5, help="attention reward x decay^step")
    ap.add_argument("--late", type=float, default=0.5, help="reward factor per step past the second")
    ap.add_argument("--replay", type=int, default=6000)
    ap.add_argument("--target-sync", type=int, default=50)
    args = ap.parse_args()
    if args.streams != "rgb":
        sys.exit("training reads RGB clips only (extract-clips writes no flow); --streams flow and rgb+flow are "
                 "defined and exportable (see test_archs.py) for clips with flow")
    rng = common.seed_all(args.seed, args.threads)
    cfg, train, errs = common.load_clips(args.clips, {"train"})
    T = cfg["clip_length"]
    zoom = None
    if args.zoom_clips:
        zcfg, ztrain, _ = common.load_clips(args.zoom_clips, {"train"})
        assert zcfg["clip_length"] == T and zcfg["frame_step"] == cfg["frame_step"], "zoom clips: other clip settings"
        zmap = {c.id: c for c in ztrain}
        zoom = []
        for c in train:
            z = zmap.get(c.id)
            zoom.append(z.frames if z is not None and len(z.frames) == len(c.frames) else
                        np.ascontiguousarray(c.frames))
    renderer = Renderer(cfg, zoom)
    R = len(PRIOR_BOXES)
    A = R + 2
    net = SSHANet(args.streams.split("+"), args.width_mult)
    full = common.count_params(SSHANet(["rgb"], 1.0))
    print(f"ssha: {len(train)} train clips, T={T} step={cfg['frame_step']} size={cfg['size']}, "
          f"{common.count_params(net):,} parameters (full size {full:,})", file=sys.stderr)
    if args.init:
        common.load_init(net, args.init)
    target = SSHANet(args.streams.split("+"), args.width_mult)
    target.load_state_dict(net.state_dict())
    target.eval()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    work = args.work or (os.path.splitext(args.out)[0] + "-work")
    os.makedirs(work, exist_ok=True)
    ckpt = os.path.join(work, "checkpoint.pt")
    episodes_done, updates = 0, 0
    if args.resume and os.path.exists(ckpt):
        ck = torch.load(ckpt, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        target.load_state_dict(ck["target"])
        opt.load_state_dict(ck["optimizer"])
        episodes_done, updates = ck["episodes"], ck["updates"]
        rng = np.random.default_rng(args.seed + episodes_done)
        print(f"resumed at episode {episodes_done}", file=sys.stderr)

    items = common.epoch_items(train, args.oversample)
    pos_pool, neg_pool, recent = [], [], []

    def push(tr):
        pool = pos_pool if tr["r"] > 0 else neg_pool
        pool.append(tr)
        if len(pool) > args.replay // 2:
            pool.pop(int(rng.integers(0, len(pool))))
        recent.append(tr["r"] > 0)
        if len(recent) > 2000:
            del recent[0]

    t0 = time.time()
    bar = common.Progress(args.episodes, "episodes")
    stats = {"reward": 0.0, "steps": 0.0, "correct": 0.0, "n": 0, "loss": 0.0, "nl": 0}
    stopped = ""
    while episodes_done < args.episodes:
        if args.time_budget and time.time() - t0 > args.time_budget:
            stopped = f"time budget of {args.time_budget:.0f} s reached after {episodes_done} episodes"
            break
        if args.max_steps and updates >= args.max_steps:
            break
        # Epsilon decays linearly over the first 70 % of the run (episodes or time budget).
        progress = episodes_done / max(1, args.episodes)
        if args.time_budget:
            progress = max(progress, (time.time() - t0) / args.time_budget)
        eps = args.eps_start + (args.eps_end - args.eps_start) * min(1.0, progress / 0.7)
        # Act: a batch of episodes in parallel, greedy in eval mode.
        states = []
        for _ in range(args.episode_batch):
            k = int(items[int(rng.integers(0, len(items)))])
            states.append({"clip": k, "idx": window_indices(train[k], T, rng), "region": (0.0, 0.0, 1.0, 1.0),
                           "step": 0, "flip": bool(rng.random() < 0.5),
                           "contrast": float(rng.uniform(0.7, 1.3)), "bright": float(rng.uniform(-0.12, 0.12))})
        active = list(range(len(states)))
        ep_reward = [0.0] * len(states)
        net.eval()
        for step in range(MAX_STEPS):
            if not active:
                break
            with torch.no_grad():
                q = net([renderer.render(train, [states[i] for i in active])],
                        one_hot([step] * len(active), MAX_STEPS))
            still = []
            for row, i in zip(q, active):
                st = states[i]
                label = train[st["clip"]].violent
                last = step + 1 >= MAX_STEPS
                if rng.random() < eps:
                    a = int(rng.integers(R if last else 0, A))
                else:
                    a = int(row[R:].argmax()) + R if last else int(row.argmax())
                # Reward injection: both class actions of this state, with their known rewards.
                for ca in (R, R + 1):
                    push({"s": st, "a": ca, "r": class_reward(ca, label, step, args.late), "next": None})
                if a >= R:
                    ep_reward[i] += class_reward(a, label, step, args.late)
                    stats["correct"] += float((a - R) == label)
                    stats["steps"] += step + 1
                    stats["n"] += 1
                else:
                    r = attention_reward(step, args.attention_reward, args.attention_decay, args.late)
                    nxt = dict(st, region=compose(st["region"], PRIOR_BOXES[a]), step=step + 1)
                    push({"s": st, "a": a, "r": r, "next": nxt})
                    ep_reward[i] += r
                    states[i] = nxt
                    still.append(i)
            active = still
        episodes_done += len(states)
        stats["reward"] += sum(ep_reward)
        # Learn: adaptive positive-reward sampling from the two pools.
        net.train()
        for _ in range(args.updates_per_round):
            share_pos = sum(recent) / max(1, len(recent))
            p_pos = min(0.75, max(0.25, 1.0 - share_pos))
            n_pos = min(len(pos_pool), int(round(args.batch * p_pos)))
            n_neg = min(len(neg_pool), args.batch - n_pos)
            if n_pos + n_neg < 2:
                continue
            batch = [pos_pool[int(j)] for j in rng.integers(0, max(1, len(pos_pool)), n_pos)]
            batch += [neg_pool[int(j)] for j in rng.integers(0, max(1, len(neg_pool)), n_neg)]
            nonterm = [j for j, tr in enumerate(batch) if tr["next"] is not None]
            next_q = [None] * len(batch)
            if nonterm:
                nxt = [batch[j]["next"] for j in nonterm]
                with torch.no_grad():
                    qn = target([renderer.render(train, nxt)], one_hot([s["step"] for s in nxt], MAX_STEPS))
                for j, row in zip(nonterm, qn):
                    next_q[j] = row
            # The element's loop allows class actions only at the last step.
            y = q_targets([tr["r"] for tr in batch], next_q,
                          [tr["next"] is not None and tr["next"]["step"] + 1 >= MAX_STEPS for tr in batch], args.gamma)
            q = net([renderer.render(train, [tr["s"] for tr in batch])],
                    one_hot([tr["s"]["step"] for tr in batch], MAX_STEPS))
            qa = q.gather(1, torch.tensor([tr["a"] for tr in batch]).view(-1, 1)).squeeze(1)
            loss = F.smooth_l1_loss(qa, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            updates += 1
            stats["loss"] += loss.item()
            stats["nl"] += 1
            if updates % args.target_sync == 0:
                target.load_state_dict(net.state_dict())
        n = max(1, stats["n"])
        bar.update(len(states), eps=eps, loss=stats["loss"] / max(1, stats["nl"]), acc=stats["correct"] / n,
                   steps=stats["steps"] / n, reward=stats["reward"] / max(1, episodes_done))
        if episodes_done % 400 < args.episode_batch:
            torch.save({"model": net.state_dict(), "target": target.state_dict(), "optimizer": opt.state_dict(),
                        "episodes": episodes_done, "updates": updates, "args": vars(args)}, ckpt)
    bar.close()
    torch.save({"model": net.state_dict(), "target": target.state_dict(), "optimizer": opt.state_dict(),
                "episodes": episodes_done, "updates": updates, "args": vars(args)}, ckpt)
    train_time = time.time() - t0
    if stopped:
        print(stopped, file=sys.stderr)

    steps_mean = []
    scores = greedy_scores(net, train, renderer, cfg, args.inference_stride, steps_mean)
    thr, best = common.choose_threshold(scores, train)
    train_acc = common.report(scores, train, thr)
    print(f"threshold {thr:.4f} (train mean balanced accuracy {best:.4f}); train accuracy "
          + " ".join(f"{k} {v:.3f}" for k, v in train_acc.items())
          + f"; {steps_mean[0]:.2f} steps per window", file=sys.stderr)
    net.eval()
    meta = common.contract(cfg, args.name, "SSHA: I3D backbone, 3D-conv reduction, dueling Q head over prior "
                           "boxes and two class actions with a step one-hot input, trained by deep Q-learning "
                           "from scratch", thr, {
                               "inputs": args.streams.split("+") + ["step"],
                               "output": "q_values",
                               "prior_boxes": PRIOR_BOXES,
                               "max_steps": MAX_STEPS,
                               "arch": "ssha_i3d",
                               "params": common.count_params(net),
                               "params_full_size": full,
                               "training": {"episodes": episodes_done, "updates": updates, "batch": args.batch,
                                            "lr": args.lr, "gamma": args.gamma, "seed": args.seed,
                                            "width_mult": args.width_mult, "train_clips": len(train),
                                            "train_accuracy": train_acc, "train_steps_per_window": steps_mean[0],
                                            "train_seconds": round(train_time), "threads": args.threads,
                                            "stopped": stopped or "episodes done",
                                            "zoom_clips": bool(args.zoom_clips)},
                           })
    meta.pop("labels")
    meta.pop("violent_label")
    size = common.save_script(export_module(net, json.dumps(meta)), args.out)
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) after {train_time:.0f} s of training", file=sys.stderr)


if __name__ == "__main__":
    main()
