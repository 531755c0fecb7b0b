"""How the motion of a window changes, from opticalflow's flow (extract-clips --flow): an
experiment beside the default's verifier (train_interaction.py --cue flow).

People walking move coherently and steadily: a region's flow keeps its direction from one
frame to the next and its vectors agree. Strikes and scuffles reverse direction within a few
frames, their vectors disagree, and their magnitude jumps (the Violent Flows descriptor,
Hassner et al. 2012, counts those jumps). `clip_cues(flow, windows)` gives, for each window,
statistics of 4x4 cells of the frame over its consecutive frame pairs:

- mean magnitude, mean magnitude change, the share of pixels whose change exceeds the
  frame's mean change (Violent Flows' bit);
- the share of moving pixels whose direction reversed since the previous frame;
- coherence, |mean vector| / mean magnitude;

each as its maximum, mean and spread over the cells, and a 10-bin histogram of how often each
pixel (40x40 blocks) changed, over the window.
"""

import numpy as np
import torch
import torch.nn.functional as F

MOVING = 0.5  # model pixels per frame
CELLS = 4
BLOCKS = 40
BINS = 10


def pair_stats(flow: torch.Tensor):
    """flow [F,2,H,W] -> per consecutive pair (f, f+1): cell statistics [F-1, 5, CELLS, CELLS]
    and the change bits pooled to [F-1, BLOCKS, BLOCKS]."""
    a, b = flow[:-1], flow[1:]
    mag_a, mag_b = a.norm(dim=1), b.norm(dim=1)
    change = (mag_b - mag_a).abs()
    bit = (change > change.mean((1, 2), keepdim=True)).float()
    moving = ((mag_a > MOVING) & (mag_b > MOVING)).float()
    reversed_ = ((a * b).sum(1) < 0).float() * moving

    def cells(x):
        return F.adaptive_avg_pool2d(x.unsqueeze(1), CELLS).squeeze(1)

    moving_share = cells(moving)
    reversal = cells(reversed_) / moving_share.clamp_min(1e-3) * (moving_share > 0.01).float()
    mean_vec = F.adaptive_avg_pool2d(b, CELLS).norm(dim=1)
    mean_mag = cells(mag_b)
    coherence = mean_vec / mean_mag.clamp_min(1e-3) * (mean_mag > MOVING / 4).float()
    stats = torch.stack([mean_mag, cells(change), cells(bit), reversal, coherence], 1)
    return stats, F.adaptive_avg_pool2d(bit.unsqueeze(1), BLOCKS).squeeze(1)


def clip_cues(flow: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """flow [F,2,H,W] (float16 ok), windows [W,T] frame indices -> [W, 25] cues."""
    f = torch.from_numpy(flow.astype(np.float32))
    if len(f) < 2:
        return np.zeros((len(windows), 25), np.float32)
    stats, bits = pair_stats(f)
    out = []
    for w in windows:
        pairs = np.unique(np.clip(w[:-1], 0, len(stats) - 1))
        s = stats[pairs].mean(0).flatten(1)  # [5, cells]
        freq = bits[pairs].mean(0).flatten()
        hist = torch.histc(freq, BINS, 0.0, 1.0) / freq.numel()
        out.append(torch.cat([s.amax(1), s.mean(1), s.std(1), hist]))
    return torch.stack(out).numpy()


def cue_names():
    stats = ["magnitude", "change", "vif_bit", "reversal", "coherence"]
    return ([f"{s}_max" for s in stats] + [f"{s}_mean" for s in stats] + [f"{s}_spread" for s in stats]
            + [f"changed_{i}" for i in range(BINS)])
