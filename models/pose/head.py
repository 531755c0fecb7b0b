"""The verifier's clip head: temporal statistics of per-frame backbone features -> logits.

Shared by training (train_head.py) and export (cascade.py) so both compute the same thing.
"""

import math

import torch
from torch import nn


def frame_subset(clip_length: int, frames: int):
    """Which samples of a window the verifier looks at: `frames` evenly spaced, ending on
    the window's last (newest) sample, so the decision uses the freshest frame."""
    stride = clip_length // frames
    return [clip_length - 1 - stride * (frames - 1 - i) for i in range(frames)]


# Which statistics the head sees (train_head.py --stats):
# - plain: mean, standard deviation and mean absolute change of each feature over time;
# - relative: the change and the deviation divided by the feature's mean level, i.e. how much
#   the scene's activations move relative to how strongly they fire. It leaves out the mean
#   (the scene's appearance: ice rink, corridor), which is what does not carry to cameras
#   the head never saw;
# - change: the relative change only;
# - mixed: standard deviation and change, absolute and relative;
# - cell: the change of each cell of the feature map (not of its spatial pool), averaged
#   over the cells and at its largest cell, divided by the feature's mean level. Where
#   people move, the cells they leave and enter change while the pooled mean barely does.
#   Its per-frame features are the whole map [C, S] (features.py --maps), not the pools.
# - cells: the same relative change of every cell kept apart, [B, C*S], for CellHead, which
#   scores each cell's features jointly and pools the cells' scores: a fight is a few cells
#   where many features change together, a walking crowd many cells that change a little.
STATS = ("plain", "relative", "change", "mixed", "cell", "cells")
MAP_STATS = ("cell", "cells")
RELATIVE_EPS = 0.1  # features are ReLU6 activations pooled: 0..6, most below 1


def temporal_statistics(f: torch.Tensor, kind: str = "plain", eps: float = RELATIVE_EPS) -> torch.Tensor:
    """f: [B, K, D] per-frame features -> [B, n*D] statistics over the K frames; for the
    map statistics f is [B, K, C, S] (S cells) -> [B, 2*C]."""
    if kind == "cell" or kind == "cells":  # MAP_STATS (TorchScript reads no global tuple)
        level = f.mean((1, 3)) + eps
        change = (f[:, 1:] - f[:, :-1]).abs().mean(1)  # [B, C, S]
        if kind == "cells":
            return (change / level.unsqueeze(2)).flatten(1)
        return torch.cat([change.mean(2) / level, change.amax(2) / level], 1)
    mean = f.mean(1)
    std = (f - mean.unsqueeze(1)).pow(2).mean(1).clamp_min(1e-12).sqrt()
    change = (f[:, 1:] - f[:, :-1]).abs().mean(1)
    level = mean + eps
    if kind == "relative":
        return torch.cat([std / level, change / level], 1)
    if kind == "change":
        return change / level
    if kind == "mixed":
        return torch.cat([std, change, std / level, change / level], 1)
    return torch.cat([mean, std, change], 1)


class StatsHead(nn.Module):
    """Standardize the statistics (train-set mean and scale, frozen), then a linear layer or a
    one-hidden-layer MLP to two logits (non-violent, violent)."""

    def __init__(self, dim: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        if hidden > 0:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, 2))
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, 2))

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.net((stats - self.center) / self.scale)


class CellHead(nn.Module):
    """Scores each cell of the map from its C relative changes (standardized per feature over
    every cell, one linear layer shared by the cells), then pools the cells' scores with a
    soft maximum: log-mean-exp at `sharpness`. Input [B, C*S] (the "cells" statistics)."""

    def __init__(self, channels: int, cells: int, sharpness: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.channels = channels
        self.cells = cells
        self.sharpness = sharpness
        self.register_buffer("center", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))
        self.drop = nn.Dropout(dropout)
        self.cell = nn.Linear(channels, 1)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        x = stats.view(stats.shape[0], self.channels, self.cells).transpose(1, 2)  # [B, S, C]
        z = self.cell(self.drop((x - self.center) / self.scale)).squeeze(2)  # [B, S]
        pooled = (torch.logsumexp(self.sharpness * z, 1) - math.log(self.cells)) / self.sharpness
        return torch.stack([torch.zeros_like(pooled), pooled], 1)
