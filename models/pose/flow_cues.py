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
pixel (4x4-pixel blocks) changed, over the window.
"""

import numpy as np
import torch

from models.pose.frame_flow import pair_statistics

MOVING = 0.5  # model pixels per frame
BINS = 10


def pair_stats(flow: torch.Tensor):
    """flow [F,2,H,W] -> per consecutive pair (f, f+1): cell statistics [F-1, 5, 4, 4]
    and the change bits pooled to 4x4-pixel blocks [F-1, H/4, W/4] (frame_flow.py's, on the
    clip's flows as one sequence)."""
    stats, bits = pair_statistics(flow.unsqueeze(0), MOVING)
    return stats[0], bits[0]


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
