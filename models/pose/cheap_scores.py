"""p(violent) of the cheap stage (a MotionNet TorchScript file) for every extracted window
of an extract-clips folder at a multiple of the cheap model's size (160x160 for 80x80),
averaged down block by block as the cascade does.

    python3 -m models.pose.cheap_scores CLIPS_DIR CHEAP.pt OUT_DIR

Writes OUT_DIR/ID.cheap.npy, float32 [W] (one score per row of ID.idx); train_head.py
uses them to choose the gate and to score the cascade as exported.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def main():
    clips_dir, cheap_path, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    cfg = json.loads((clips_dir / "config.json").read_text())
    width, height = cfg["size"]
    T = cfg["clip_length"]
    cheap = torch.jit.load(str(cheap_path)).eval()
    meta = json.loads(cheap.metadata())
    mean = torch.tensor(meta["mean"]).view(1, 3, 1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, 3, 1, 1, 1)
    cheap_size = meta["size"] if isinstance(meta["size"], int) else meta["size"][0]
    pool = width // cheap_size
    if pool * cheap_size != width:
        sys.exit(f"{clips_dir}: frames of {width} px are not a multiple of the cheap model's {cheap_size}")
    out.mkdir(parents=True, exist_ok=True)
    for line in (clips_dir / "index.tsv").read_text().splitlines()[1:]:
        row = line.split("\t")
        if row[-1] != "-":
            continue
        frames = np.fromfile(clips_dir / "frames" / f"{row[0]}.u8", np.uint8).reshape(-1, height, width, 3)
        windows = np.fromfile(clips_dir / "frames" / f"{row[0]}.idx", "<u4").reshape(-1, T)
        scores = []
        with torch.no_grad():
            for i in range(0, len(windows), 32):
                x = torch.from_numpy(frames[windows[i : i + 32]]).permute(0, 4, 1, 2, 3).float() / 255.0
                x = F.avg_pool3d((x - mean) / std, kernel_size=[1, pool, pool], stride=[1, pool, pool])
                scores.append(torch.softmax(cheap(x), 1)[:, 1])
        np.save(out / f"{row[0]}.cheap.npy", torch.cat(scores).numpy() if scores else np.zeros(0, np.float32))


if __name__ == "__main__":
    main()
