"""A benchmark-only model with the cost of a real clip classifier: a small 3D ResNet
(R3D-style: a stem and four residual stages, about 8 GFLOP per 16x112x112 clip) with fixed
random weights. Its scores mean nothing; it makes the forward time realistic, so the
plugin's overhead is measured against a forward of typical size.

Usage: make_bench_model.py OUT.pt
"""
import json
import sys

import torch
from torch import nn


def block(cin, cout, stride):
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
    )


class Stage(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = block(cin, cout, stride)
        self.skip = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class BenchR3D(nn.Module):
    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta
        self.stem = nn.Sequential(
            nn.Conv3d(3, 32, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(32),
            nn.ReLU(inplace=True),
        )
        self.stages = nn.Sequential(Stage(32, 32, 1), Stage(32, 64, 2), Stage(64, 128, 2), Stage(128, 256, 2))
        self.head = nn.Linear(256, 2)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(x.mean(dim=(2, 3, 4)))

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


def main():
    torch.manual_seed(0)
    meta = json.dumps({
        "name": "bench-r3d", "description": "benchmark only: random weights, realistic cost",
        "inputs": ["rgb"], "clip_length": 16, "frame_step": 1, "size": [112, 112],
        "mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225], "output": "logits",
        "labels": ["nonviolent", "violent"], "violent_label": "violent", "threshold": 0.5,
    })
    model = BenchR3D(meta).eval()
    torch.jit.script(model).save(sys.argv[1])


if __name__ == "__main__":
    main()
