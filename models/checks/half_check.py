#!/usr/bin/env python3
"""Check that an exported model runs in half precision, as violenceclassify fp16=true runs it
(`.to(Half)` of the loaded module, half inputs), and scores as in single precision.

    python3 -m models.checks.half_check MODEL.pt [--windows 8] [--tolerance 0.02]

Runs on the CPU (slowly: that is enough to find a tensor that does not follow the module's
precision, such as the constants of a frozen module). Windows of random frames slid as
clipbuffer slides them, so that a cascade's memo is used too. Exits non-zero when the half
model fails or a p(violent) differs by more than the tolerance.
"""

import argparse
import json
import sys

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--stride", type=int, default=4, help="samples between windows")
    ap.add_argument("--tolerance", type=float, default=0.02)
    args = ap.parse_args()
    torch.manual_seed(0)
    single = torch.jit.load(args.model).eval()
    meta = json.loads(single.metadata())
    t, (h, w) = meta["clip_length"], meta["size"]
    frames = torch.randn(3, t + args.stride * (args.windows - 1), h, w)
    clips = [frames[:, i * args.stride : i * args.stride + t].unsqueeze(0) for i in range(args.windows)]
    half = torch.jit.load(args.model).eval()
    half.half()
    worst = 0.0
    with torch.no_grad():
        for clip in clips:
            p_single = torch.softmax(single(clip), 1)[:, 1]
            try:
                p_half = torch.softmax(half(clip.half()).float(), 1)[:, 1]
            except RuntimeError as error:
                lines = [line for line in str(error).splitlines() if "Error" in line]
                sys.exit(f"{args.model} fails in half precision: {lines[-1] if lines else error}")
            worst = max(worst, (p_half - p_single).abs().max().item())
    print(f"{args.model}: half against single precision, {args.windows} windows, largest difference {worst:.1e}")
    if worst > args.tolerance:
        sys.exit("half precision moved a score by more than the tolerance")


if __name__ == "__main__":
    main()
