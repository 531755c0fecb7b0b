#!/usr/bin/env python3
"""T-CNN with temporal and spatial attention (after Zhou et al., "Integrating Temporal and
Spatial Attention for Video Action Recognition").

Structure:
- backbone, shared by three passes: a 3D ResNet-18 (3x3x3 basic blocks; 64, 128, 256, 512
  channels at width 1) whose classifier is a 1x1x1 convolution, so that it yields class
  response maps (CRM) [B,K,T',H',W']; its temporal attention is a frame-selection score per
  time step (softmax over time) that weights the CRMs' spatial means into the logits;
- spatial attention: the CRM of the predicted class from the first pass (no gradient),
  normalized per frame and upsampled to a G x G grid; its local maxima (3x3) are the peaks;
  peaks of normalized response >= `split` are the discriminative set, the others the
  complementary set; each set makes a saliency map (a sum of Gaussians at its peaks,
  weighted by their responses); each frame is resampled by that saliency (a
  saliency-weighted average of grid positions under a Gaussian kernel: salient areas get
  more output pixels, i.e. are zoomed), giving two new videos in the original frame order;
- the original, discriminative and complementary videos go through the same backbone; the
  three logits are averaged (training adds the three branch losses to the fused one).

Input: 16 consecutive frames (the paper's clip length).

    python3 -m models.archs.tcnn_attention CLIPS --out models/zoo/tcnn_attention.pt
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.archs import common


class Block3d(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.down is None else self.down(x)
        return F.relu(y + s)


class TCNN(nn.Module):
    """3D ResNet-18 trunk, CRM classifier and temporal (frame-selection) attention."""

    def __init__(self, width_mult=1.0, num_classes=2, dropout=0.3):
        super().__init__()
        c = [common.scaled(v, width_mult) for v in (64, 128, 256, 512)]
        self.stem = nn.Sequential(nn.Conv3d(3, c[0], (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                                  nn.BatchNorm3d(c[0]), nn.ReLU(inplace=True))
        layers, cin = [], c[0]
        for i, cout in enumerate(c):
            stride = 1 if i == 0 else 2
            layers += [Block3d(cin, cout, stride), Block3d(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout3d(dropout)
        self.classifier = nn.Conv3d(cin, num_classes, 1)
        self.frame_score = nn.Conv3d(cin, 1, 1)

    def forward(self, x):
        """-> (logits [B,K], class response maps [B,K,T',H',W'])"""
        f = self.layers(self.stem(x))
        crm = self.classifier(self.dropout(f))
        a = torch.softmax(self.frame_score(f).mean((3, 4)), dim=2)  # [B,1,T']
        logits = (crm.mean((3, 4)) * a).sum(2)
        return logits, crm


class SaliencySampler(nn.Module):
    """Resamples frames so that areas of high saliency take more output pixels."""

    def __init__(self, grid=16, sigma_peak=0.15, sigma_sample=0.25, floor=0.05):
        super().__init__()
        self.grid = grid
        lin = torch.linspace(-1.0, 1.0, grid)
        yy, xx = torch.meshgrid(lin, lin, indexing="ij")
        pos = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)  # [N,2] as (x, y) for grid_sample
        d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
        self.register_buffer("pos", pos)
        self.register_buffer("peak_kernel", torch.exp(-d2 / (2 * (2 * sigma_peak) ** 2)))
        self.register_buffer("sample_kernel", torch.exp(-d2 / (2 * (2 * sigma_sample) ** 2)))
        self.floor = floor

    def saliency(self, peaks):
        """peaks [N', G*G] (response at peak cells, 0 elsewhere) -> saliency [N', G*G]"""
        s = peaks @ self.peak_kernel
        s = s / s.amax(1, keepdim=True).clamp_min(1e-6)
        return s + self.floor

    def resample(self, frames, sal):
        """frames [N',3,H,W], sal [N',G*G] -> frames [N',3,H,W]"""
        n, _, h, w = frames.shape
        weights = sal[:, None, :] * self.sample_kernel[None]  # [N', G*G (out), G*G (in)]
        coords = (weights @ self.pos) / weights.sum(2, keepdim=True)  # [N', G*G, 2]
        g = coords.reshape(n, self.grid, self.grid, 2).permute(0, 3, 1, 2)
        g = F.interpolate(g, size=(h, w), mode="bilinear", align_corners=True).permute(0, 2, 3, 1)
        return F.grid_sample(frames, g, mode="bilinear", padding_mode="border", align_corners=True)


class TCNNSpatialAttention(nn.Module):
    def __init__(self, width_mult=1.0, grid=16, split=0.5):
        super().__init__()
        self.backbone = TCNN(width_mult)
        self.sampler = SaliencySampler(grid)
        self.grid = grid
        self.split = split

    def attention_videos(self, x, crm, logits):
        """The discriminative and complementary videos [B,3,T,H,W] from the first pass."""
        b, c, t, h, w = x.shape
        cls = logits.argmax(1)
        m = crm.detach().gather(1, cls.view(b, 1, 1, 1, 1).expand(b, 1, crm.shape[2], crm.shape[3], crm.shape[4]))
        m = F.interpolate(m, size=(t, self.grid, self.grid), mode="trilinear", align_corners=False)
        m = m.reshape(b * t, 1, self.grid, self.grid)
        lo = m.amin((2, 3), keepdim=True)
        hi = m.amax((2, 3), keepdim=True)
        m = (m - lo) / (hi - lo).clamp_min(1e-6)
        is_peak = (m == F.max_pool2d(m, 3, 1, 1)) & (m > 0.0)
        disc = torch.where(is_peak & (m >= self.split), m, torch.zeros_like(m)).reshape(b * t, -1)
        comp = torch.where(is_peak & (m < self.split), m, torch.zeros_like(m)).reshape(b * t, -1)
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        vd = self.sampler.resample(frames, self.sampler.saliency(disc))
        vc = self.sampler.resample(frames, self.sampler.saliency(comp))
        return (vd.reshape(b, t, c, h, w).transpose(1, 2), vc.reshape(b, t, c, h, w).transpose(1, 2))

    def branches(self, x):
        """[4,B,K]: fused, original, discriminative, complementary logits."""
        l0, crm = self.backbone(x)
        vd, vc = self.attention_videos(x, crm, l0)
        ld, _ = self.backbone(vd)
        lc, _ = self.backbone(vc)
        fused = (l0 + ld + lc) / 3.0
        return torch.stack([fused, l0, ld, lc], 0)

    def forward(self, x):
        return self.branches(x)[0]


def main():
    ap = common.base_parser(__doc__, {"epochs": 6, "batch": 8, "lr": 2e-3, "width_mult": 0.125,
                                      "name": "t-cnn + spatial attention"})
    args = ap.parse_args()
    common.seed_all(args.seed, args.threads)
    net = TCNNSpatialAttention(args.width_mult)

    def loss_fn(out, y):
        return sum(F.cross_entropy(o, y, label_smoothing=0.1) for o in out)

    return common.train_supervised(
        args, net, loss_fn=loss_fn, train_forward=net.branches, arch="tcnn_spatial_attention",
        full_params=common.count_params(TCNNSpatialAttention(1.0)),
        describe="3D ResNet-18 T-CNN with frame-selection attention; CRM peaks split into discriminative and "
                 "complementary sets, Gaussian saliency resampling into two more videos, three passes of the "
                 "shared backbone averaged; from scratch",
    )


if __name__ == "__main__":
    main()
