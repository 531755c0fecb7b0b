#!/usr/bin/env python3
"""Check that an exported cascade's memos (the verifier's per-frame features, the cheap stage's
per-pair work) change no score.

    python3 -m models.checks.memo_check MODEL.pt [--windows 40] [--stride 4]

Feeds overlapping windows of a random frame sequence (as clipbuffer slides them) one at a
time and in one large batch to a model whose memo is warm, and compares every p(violent)
with a freshly loaded model scoring that window alone (an empty memo: every frame encoded).
The batch holds more frames than either ring, so both wrap inside one call. Then
the same with a small square moving inside one key block over a flat background (block means
alone cannot tell those frames apart). Exits non-zero when any score differs by more than 1e-5,
or when the cheap stage's memo (where the model has one) computed more frame pairs than the
noise windows bring new: a memo whose keys never match changes no score, but saves nothing.
"""

import argparse
import json
import sys

import torch


def p_violent(model, clips):
    with torch.no_grad():
        return torch.softmax(model(clips), 1)[:, 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--windows", type=int, default=40)
    ap.add_argument("--stride", type=int, default=4, help="samples between windows")
    args = ap.parse_args()
    torch.manual_seed(0)
    meta = json.loads(torch.jit.load(args.model).metadata())
    t, (h, w) = meta["clip_length"], meta["size"]
    n = t + args.stride * (args.windows - 1)
    noise = torch.randn(3, n, h, w)
    # Normalized 0 background; a bright 3x3 square back and forth inside the first 4x4 key block.
    square = torch.zeros(3, n, h, w)
    room = max(h // 4 - 3, 1)
    for i in range(n):
        x = i % (2 * room) if i % (2 * room) < room else 2 * room - i % (2 * room)
        square[:, i, 1:4, x : x + 3] = 2.0
    worst = 0.0
    for name, frames in (("noise", noise), ("square in one block", square)):
        gap = largest_difference(args.model, frames, t, args.stride, args.windows)
        print(f"{args.model}: {name}, {args.windows} windows, largest difference from an empty memo {gap:.2e}")
        worst = max(worst, gap)
    if worst > 1e-5:
        sys.exit("a memo changed a score")
    check_cheap_memo_hits(args.model, noise, t, args.stride, args.windows)


def check_cheap_memo_hits(model, frames, t, stride, windows):
    """Windows one at a time: the first computes its t - 1 frame pairs, each later one only the
    `stride` pairs it adds (noise frames never repeat). The ring's write position counts them."""
    model = torch.jit.load(model).eval()
    if not hasattr(model.cheap, "memo_next"):
        return
    for i in range(windows):
        p_violent(model, frames[:, i * stride : i * stride + t].unsqueeze(0))
    computed = t - 1 + stride * (windows - 1)
    if model.cheap.memo_next != computed % model.cheap.memo_size:
        sys.exit(f"the cheap stage's memo wrote {model.cheap.memo_next} (mod {model.cheap.memo_size}) frame pairs, "
                 f"expected {computed}: its keys do not match the frames a window shares with the one before")
    print(f"cheap stage memo: {computed} frame pairs computed for {windows} windows "
          f"(without the memo: {(t - 1) * windows})")


def largest_difference(model, frames, t, stride, windows):
    clips = torch.stack([frames[:, i * stride : i * stride + t] for i in range(windows)])
    fresh = torch.stack([p_violent(torch.jit.load(model).eval(), clips[i : i + 1])[0] for i in range(windows)])
    warm = torch.jit.load(model).eval()
    one_by_one = torch.cat([p_violent(warm, clips[i : i + 1]) for i in range(windows)])
    batched = p_violent(warm, clips)  # every frame a hit
    cold_batch = p_violent(torch.jit.load(model).eval(), clips)  # misses and repeats in one call
    return max((one_by_one - fresh).abs().max().item(), (batched - fresh).abs().max().item(),
               (cold_batch - fresh).abs().max().item())


if __name__ == "__main__":
    main()
