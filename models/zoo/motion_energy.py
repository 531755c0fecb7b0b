"""The motion-energy reference model: not a trained network, a heuristic in the model
contract's form.

It scores a clip by its motion energy (mean absolute difference between consecutive frames,
with a 3x3 spatial blur to ignore sensor noise): p(violent) = sigmoid(GAIN * (energy -
CENTRE)). Fights move more than most scenes, so it ranks clips better than chance, but it
fires on any vigorous motion. It was the first bundled model; today it is the floor the
trained models are compared with (`models/zoo/README.md`), and `make bench-scale` uses it to
time detection on the generated sample, where it fires at a known moment.

Usage: python3 -m models.zoo.motion_energy OUT.pt [CENTRE] [GAIN]
"""
import json
import sys

import torch

T, SIZE = 16, 112
MEAN, STD = [0.45, 0.45, 0.45], [0.225, 0.225, 0.225]


class MotionEnergy(torch.nn.Module):
    def __init__(self, centre: float, gain: float, meta: str):
        super().__init__()
        self.centre = centre
        self.gain = gain
        self.meta = meta
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1, 1))

    def forward(self, x):
        x = x * self.std + self.mean                      # back to 0..1
        grey = x.mean(dim=1)                              # [B,T,H,W]
        grey = torch.nn.functional.avg_pool2d(grey, 3, stride=1, padding=1)
        energy = (grey[:, 1:] - grey[:, :-1]).abs().mean(dim=(1, 2, 3))
        z = self.gain * (energy - self.centre)
        return torch.stack([-z / 2, z / 2], dim=1)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


def main():
    out = sys.argv[1]
    centre = float(sys.argv[2]) if len(sys.argv) > 2 else 0.015
    gain = float(sys.argv[3]) if len(sys.argv) > 3 else 400.0
    meta = {
        "name": "motion-energy",
        "description": "motion-energy heuristic, not a trained network (models/zoo/motion_energy.py)",
        # violenceclassify warns that it is not trained for accuracy.
        "interim": True,
        "inputs": ["rgb"],
        "clip_length": T,
        "frame_step": 1,
        "size": [SIZE, SIZE],
        "mean": MEAN,
        "std": STD,
        "colour": "rgb",
        "output": "logits",
        "labels": ["nonviolent", "violent"],
        "violent_label": "violent",
        "threshold": 0.5,
        "motion_centre": centre,
        "motion_gain": gain,
    }
    torch.jit.script(MotionEnergy(centre, gain, json.dumps(meta))).save(out)


if __name__ == "__main__":
    main()
