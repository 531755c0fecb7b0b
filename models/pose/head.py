"""The verifier's clip head: temporal statistics of per-frame backbone features -> logits.

Shared by training (train_head.py) and export (cascade.py) so both compute the same thing.
"""

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
STATS = ("plain", "relative", "change", "mixed", "cell")
MAP_STATS = ("cell",)
RELATIVE_EPS = 0.1  # features are ReLU6 activations pooled: 0..6, most below 1


def temporal_statistics(f: torch.Tensor, kind: str = "plain", eps: float = RELATIVE_EPS) -> torch.Tensor:
    """f: [B, K, D] per-frame features -> [B, n*D] statistics over the K frames; for the
    map statistics f is [B, K, C, S] (S cells) -> [B, 2*C]."""
    if kind == "cell":
        level = f.mean((1, 3)) + eps
        change = (f[:, 1:] - f[:, :-1]).abs().mean(1)  # [B, C, S]
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
