#!/usr/bin/env python3
"""Check that an exported cascade's verifier memo changes no score.

    python3 models/pose/memo_check.py MODEL.pt [--windows 40] [--stride 4]

Feeds overlapping windows of a random frame sequence (as clipbuffer slides them) one at a
time and in one large batch to a model whose memo is warm, and compares every p(violent)
with a freshly loaded model scoring that window alone (an empty memo: every frame encoded).
The batch holds more frames than the memo's ring, so the ring wraps inside one call. Exits
non-zero when any score differs by more than 1e-5.
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
    frames = torch.randn(3, t + args.stride * (args.windows - 1), h, w)
    clips = torch.stack([frames[:, i * args.stride : i * args.stride + t] for i in range(args.windows)])
    fresh = torch.stack([p_violent(torch.jit.load(args.model).eval(), clips[i : i + 1])[0]
                         for i in range(args.windows)])
    warm = torch.jit.load(args.model).eval()
    one_by_one = torch.cat([p_violent(warm, clips[i : i + 1]) for i in range(args.windows)])
    batched = p_violent(warm, clips)  # every frame a hit
    cold_batch = p_violent(torch.jit.load(args.model).eval(), clips)  # misses and repeats in one call
    worst = max((one_by_one - fresh).abs().max().item(), (batched - fresh).abs().max().item(),
                (cold_batch - fresh).abs().max().item())
    print(f"{args.model}: {args.windows} windows, largest difference from an empty memo {worst:.2e}")
    if worst > 1e-5:
        sys.exit("the verifier memo changed a score")


if __name__ == "__main__":
    main()
