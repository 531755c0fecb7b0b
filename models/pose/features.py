"""Per-frame features of the pretrained backbone for every frame of an extract-clips folder.

    python3 -m models.pose.features CLIPS_DIR BACKBONE.pt OUT_DIR [--size 160] [--shard 0/2]

For each extracted clip, writes OUT_DIR/ID.npy: float16 [F, 2C], the spatial mean then the
spatial maximum of the backbone's feature map for each of the clip's F sampled frames (the
frames clipbuffer prepared, resized to --size by area averaging as the exported model does);
with --maps the whole map [F, C, h, w] (for head.py's map statistics); with --raw the
module's output as it is (keypoints.py's poses: [F, 6, 56]).
Training the verifier head then costs seconds instead of re-running the backbone.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def frames_to_input(frames: torch.Tensor, size: int) -> torch.Tensor:
    """u8 [N,H,W,3] -> float [N,3,size,size] in 0..255, area-resized: the same resampling the
    exported model applies to the clip it receives (models/pose/cascade.py)."""
    x = frames.permute(0, 3, 1, 2).float()
    if size > 0 and (x.shape[-1] != size or x.shape[-2] != size):
        x = F.interpolate(x, size=(size, size), mode="area")
    return x


def pooled(feature_map: torch.Tensor) -> torch.Tensor:
    return torch.cat([feature_map.mean((2, 3)), feature_map.amax((2, 3))], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", type=Path)
    ap.add_argument("backbone", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=int, default=160, help="square input size; 0: the frames as extracted")
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--maps", action="store_true", help="store the whole feature map [F, C, h, w] instead of its pooled statistics")
    ap.add_argument("--raw", action="store_true", help="store the module's output as it is (keypoints.py)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shard, shards = (int(v) for v in args.shard.split("/"))
    cfg = json.loads((args.clips / "config.json").read_text())
    width, height = cfg["size"]
    backbone = torch.jit.load(str(args.backbone)).eval()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [line.split("\t") for line in (args.clips / "index.tsv").read_text().splitlines()[1:]]
    rows = [r for i, r in enumerate(rows) if r[-1] == "-" and i % shards == shard]
    start, done_frames = time.time(), 0
    for k, row in enumerate(rows):
        dst = args.out / f"{row[0]}.npy"
        if dst.exists():
            continue
        frames = np.fromfile(args.clips / "frames" / f"{row[0]}.u8", np.uint8).reshape(-1, height, width, 3)
        out = []
        with torch.no_grad():
            for i in range(0, len(frames), args.batch):
                x = frames_to_input(torch.from_numpy(frames[i : i + args.batch]), args.size)
                fmap = backbone(x)
                out.append(fmap if args.maps or args.raw else pooled(fmap))
        np.save(dst, torch.cat(out).numpy().astype(np.float16))
        done_frames += len(frames)
        if k % 50 == 0:
            rate = done_frames / max(time.time() - start, 1e-9)
            print(f"[{args.shard}] {k + 1}/{len(rows)} clips, {rate:.1f} frames/s", file=sys.stderr, flush=True)
    print(f"[{args.shard}] done: {len(rows)} clips in {time.time() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
