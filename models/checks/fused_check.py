#!/usr/bin/env python3
"""Check that an exported cascade's verifier runs its oneDNN-fused backbone on CPU
(models/pose/fuse_cpu.py) and that it scores as the original backbone does.

    python3 -m models.checks.fused_check MODEL.pt [--windows 6] [--tolerance 1e-4]

Windows of random frames slid as clipbuffer slides them, every window through the verifier:
the features of the fused and the original backbone, and the cascade's logits with the fused
path switched on and off, must agree within the tolerance. Exits non-zero otherwise, or when
the model has no fused backbone or that backbone still holds an unfused layer.
"""

import argparse
import json
import sys

import torch

from models.pose.fuse_cpu import UNFUSED, operators


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--windows", type=int, default=6)
    ap.add_argument("--stride", type=int, default=4, help="samples between windows")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    torch.manual_seed(0)
    fused = torch.jit.load(args.model).eval()
    verifier = fused.verifier
    if not getattr(verifier, "fused_cpu", False):
        sys.exit(f"{args.model}: its verifier has no fused CPU backbone")
    kinds = operators(verifier.cpu_backbone.graph)
    left = {k: n for k, n in kinds.items() if k in UNFUSED}
    if left or not any(k.startswith("mkldnn::") for k in kinds):
        sys.exit(f"{args.model}: the fused backbone's operators are {kinds}")
    plain = torch.jit.load(args.model).eval()
    plain.verifier.fused_cpu = False
    meta = json.loads(fused.metadata())
    t, (h, w) = meta["clip_length"], meta["size"]
    size = verifier.size
    worst_features = worst_logits = 0.0
    with torch.no_grad():
        frames = (torch.rand(4, 3, size, size) * 255.0).contiguous(memory_format=torch.channels_last)
        a, b = verifier.cpu_backbone(frames), verifier.backbone(frames)
        worst_features = ((a - b).norm() / b.norm()).item()
        clip_frames = torch.randn(3, t + args.stride * (args.windows - 1), h, w)
        for i in range(args.windows):
            clip = clip_frames[:, i * args.stride: i * args.stride + t].unsqueeze(0)
            worst_logits = max(worst_logits, (fused(clip) - plain(clip)).abs().max().item())
    print(f"{args.model}: fused backbone {kinds.get('mkldnn::_linear_pointwise', 0)} pointwise and "
          f"{kinds.get('mkldnn::_convolution_pointwise', 0)} other fused layers; features differ by "
          f"{worst_features:.1e} of their norm, logits by {worst_logits:.1e}")
    if not (worst_features <= args.tolerance and worst_logits <= args.tolerance):
        sys.exit(f"{args.model}: the fused backbone differs from the original beyond {args.tolerance}")


if __name__ == "__main__":
    main()
