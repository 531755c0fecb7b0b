"""How the motion of a window changes, computed by the model itself from the frames it is given
(an experiment, train_interaction.py --cue frames; not in the default, models/HISTORY.md): a
small pyramidal Lucas-Kanade flow between consecutive sampled frames at 80x80 (the cheap
stage's size) and the statistics of flow_cues.py over it (pair_statistics, which flow_cues.py
also applies to opticalflow's flow). TorchScript-able, so that a cascade
could serve exactly what its head was trained on, with no opticalflow element in the pipeline
and only for the windows the gate lets through. `python3 -m models.checks.frame_flow_check`
checks the flow on known shifts and the cues on steady and back-and-forth motion.

    window_cues(grey [N,T,h,w] in 0..1) -> [N, 25]

Lucas-Kanade (Lucas and Kanade 1981; pyramidal as Bouguet 2001 describes it): per pixel, the
least-squares motion of a 5x5 neighbourhood from the image gradients, refined
coarse to fine over 3 levels with 2 warps each. A Tikhonov term keeps flat
regions at zero motion instead of noise.
"""

from typing import List, Tuple

import torch
import torch.nn.functional as F

# Defaults of the functions below (TorchScript takes no module globals): pyramid levels,
# warps per level, the box window, the Tikhonov term in (intensity per pixel)^2 for
# intensities 0..1, and the magnitude that counts as moving (pixels of the 80x80 frame per
# sampled-frame pair). Statistics over 4x4 cells, a 10-bin histogram: 25 cues.
CUES = 25


def _gradients(img):
    """Central differences of [N,1,H,W], replicated at the border."""
    p = F.pad(img, [1, 1, 1, 1], mode="replicate")
    gx = (p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2]) * 0.5
    gy = (p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1]) * 0.5
    return gx, gy


def _warp(img, flow):
    """img [N,1,H,W] sampled at (x + u, y + v): the second frame moved back onto the first."""
    n, _, h, w = img.shape
    ys = torch.arange(h, dtype=img.dtype, device=img.device).view(1, h, 1).expand(n, h, w)
    xs = torch.arange(w, dtype=img.dtype, device=img.device).view(1, 1, w).expand(n, h, w)
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], 3)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _box(x):
    """The mean of each 5x5 neighbourhood (zeros outside the frame), as sums of shifted views:
    four times faster on one CPU thread than avg_pool2d's generic loop."""
    h, w = x.shape[-2], x.shape[-1]
    p = F.pad(x, [2, 2, 2, 2])
    rows = p[..., 0:w] + p[..., 1:w + 1] + p[..., 2:w + 2] + p[..., 3:w + 3] + p[..., 4:w + 4]
    return (rows[..., 0:h, :] + rows[..., 1:h + 1, :] + rows[..., 2:h + 2, :] + rows[..., 3:h + 3, :]
            + rows[..., 4:h + 4, :]) * (1.0 / 25.0)


def lk_flow(first, second, levels: int = 3, iterations: int = 2, ridge: float = 1e-4):
    """[N,1,H,W] grey in 0..1 -> flow [N,2,H,W] (u, v) in pixels of that size, from first to second."""
    firsts: List[torch.Tensor] = [first]
    seconds: List[torch.Tensor] = [second]
    for _ in range(levels - 1):
        firsts.append(F.avg_pool2d(firsts[-1], 2))
        seconds.append(F.avg_pool2d(seconds[-1], 2))
    flow = torch.zeros_like(firsts[-1]).expand(-1, 2, -1, -1).contiguous()
    for level in range(levels - 1, -1, -1):
        a, b = firsts[level], seconds[level]
        if level != levels - 1:
            flow = F.interpolate(flow, size=[a.shape[2], a.shape[3]], mode="bilinear", align_corners=False) * 2.0
        gx, gy = _gradients(a)
        moments = _box(torch.cat([gx * gx, gx * gy, gy * gy], 1))
        sxx, sxy, syy = moments[:, 0:1] + ridge, moments[:, 1:2], moments[:, 2:3] + ridge
        inverse_det = 1.0 / (sxx * syy - sxy * sxy)
        for _ in range(iterations):
            dt = _warp(b, flow) - a
            mismatch = _box(torch.cat([gx * dt, gy * dt], 1))
            sxt, syt = mismatch[:, 0:1], mismatch[:, 1:2]
            flow = flow + torch.cat([(sxy * syt - syy * sxt) * inverse_det, (sxy * sxt - sxx * syt) * inverse_det], 1)
    return flow


def _magnitude(flow):
    return (flow * flow).sum(1, keepdim=True).sqrt()


def _cells(x):
    return F.adaptive_avg_pool2d(x, [4, 4])


def pair_statistics(flows, moving_at: float = 0.5) -> Tuple[torch.Tensor, torch.Tensor]:
    """flows [N,P,2,h,w] (consecutive sampled-frame pairs of each window) -> statistics of each
    consecutive pair of flows [N,P-1,5,4,4] and Violent Flows' change bits [N,P-1,h/4,w/4]:
    mean magnitude, mean magnitude change, share of pixels whose change exceeds the pair's mean
    (the bit), share of moving pixels whose direction reversed, coherence."""
    n, p, _, h, w = flows.shape
    a = flows[:, :-1].reshape(n * (p - 1), 2, h, w)
    b = flows[:, 1:].reshape(n * (p - 1), 2, h, w)
    mag_a, mag_b = _magnitude(a), _magnitude(b)
    change = (mag_b - mag_a).abs()
    bit = (change > change.mean([2, 3], keepdim=True)).to(flows.dtype)
    moving = ((mag_a > moving_at) & (mag_b > moving_at)).to(flows.dtype)
    reversed_ = ((a * b).sum(1, keepdim=True) < 0).to(flows.dtype) * moving
    moving_share = _cells(moving)
    reversal = _cells(reversed_) / moving_share.clamp_min(1e-3) * (moving_share > 0.01).to(flows.dtype)
    mean_vector = _magnitude(_cells(b))
    mean_magnitude = _cells(mag_b)
    coherence = mean_vector / mean_magnitude.clamp_min(1e-3) * (mean_magnitude > moving_at / 4).to(flows.dtype)
    stats = torch.cat([mean_magnitude, _cells(change), _cells(bit), reversal, coherence], 1)
    bits = F.avg_pool2d(bit, 4)
    return (stats.reshape(n, p - 1, 5, 4, 4), bits.reshape(n, p - 1, bits.shape[2], bits.shape[3]))


def window_cues(grey, bins: int = 10):
    """grey [N,T,h,w] in 0..1 (a window's frames) -> [N, CUES]: each statistic's maximum, mean
    and spread over the cells (averaged over the window's pairs), and a `bins`-bin histogram of
    how often each 4x4 block's magnitude changed more than its frame's mean."""
    n, t, h, w = grey.shape
    first = grey[:, :-1].reshape(n * (t - 1), 1, h, w)
    second = grey[:, 1:].reshape(n * (t - 1), 1, h, w)
    flows = lk_flow(first, second).reshape(n, t - 1, 2, h, w)
    stats, bits = pair_statistics(flows)
    s = stats.mean(1).flatten(2)  # [N,5,cells]
    freq = bits.mean(1).flatten(1)  # [N, blocks]
    index = (freq * bins).floor().clamp(0, bins - 1).long()
    hist = F.one_hot(index, bins).to(grey.dtype).mean(1)
    return torch.cat([s.amax(2), s.mean(2), s.std(2), hist], 1)


def cue_names():
    stats = ["magnitude", "change", "vif_bit", "reversal", "coherence"]
    return ([f"{s}_max" for s in stats] + [f"{s}_mean" for s in stats] + [f"{s}_spread" for s in stats]
            + [f"changed_{i}" for i in range(10)])
