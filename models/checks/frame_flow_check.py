"""frame_flow.py measures what it claims: the Lucas-Kanade flow recovers known shifts of a
texture, and its cues tell steady motion (walking) from motion that reverses (a scuffle).
Run by tests/cascade.rs; exits non-zero with the failing figure.

    python3 -m models.checks.frame_flow_check
"""

import sys

import torch
import torch.nn.functional as F

from models.pose import frame_flow


def texture(size=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.avg_pool2d(torch.rand(1, 1, size, size, generator=g), 5, stride=1)


def shifted(img, du, dv):
    """img moved by (du, dv) pixels: the result at x is img at x - d."""
    n, _, h, w = img.shape
    return frame_flow._warp(img, torch.tensor([-du, -dv]).view(1, 2, 1, 1).expand(n, 2, h, w).contiguous())


def window(img, steps, crop=80):
    """A window of frames of the texture moved by the cumulative steps, cropped to crop x crop."""
    frames, x, y = [], 0.0, 0.0
    for du, dv in steps:
        x, y = x + du, y + dv
        frames.append(shifted(img, x, y)[0, 0, 40:40 + crop, 40:40 + crop])
    return torch.stack(frames).unsqueeze(0)


def main():
    failures = []
    img = texture()
    first = img[:, :, 40:120, 40:120]
    for du, dv in [(0.5, 0.0), (2.3, -1.2), (4.0, 3.0)]:
        flow = frame_flow.lk_flow(first, shifted(img, du, dv)[:, :, 40:120, 40:120])
        inner = flow[0, :, 10:70, 10:70].median(2).values.median(1).values
        err = (inner - torch.tensor([du, dv])).abs().max().item()
        print(f"shift ({du}, {dv}): median flow ({inner[0]:.3f}, {inner[1]:.3f}), error {err:.3f} px")
        if err > 0.15:
            failures.append(f"shift ({du}, {dv}) recovered with error {err:.3f} px")

    names = frame_flow.cue_names()
    still = frame_flow.window_cues(window(img, [(0.0, 0.0)] * 16))
    steady = frame_flow.window_cues(window(img, [(1.5, 0.5)] * 16))
    back_and_forth = frame_flow.window_cues(window(img, [(2.0, 0.0), (-2.0, 0.0)] * 8))
    scripted = torch.jit.script(frame_flow.window_cues)(window(img, [(2.0, 0.0), (-2.0, 0.0)] * 8))
    cue = {n: i for i, n in enumerate(names)}
    print(f"magnitude_mean still {still[0, cue['magnitude_mean']]:.3f}, steady {steady[0, cue['magnitude_mean']]:.3f}")
    print(f"reversal_mean steady {steady[0, cue['reversal_mean']]:.3f}, back and forth {back_and_forth[0, cue['reversal_mean']]:.3f}")
    print(f"coherence_mean steady {steady[0, cue['coherence_mean']]:.3f}")
    if still[0, cue["magnitude_mean"]] > 0.05:
        failures.append("a still window moves")
    if steady[0, cue["reversal_mean"]] > 0.05 or back_and_forth[0, cue["reversal_mean"]] < 0.9:
        failures.append("reversals: steady motion reverses or back-and-forth motion does not")
    if steady[0, cue["coherence_mean"]] < 0.9:
        failures.append("steady motion is not coherent")
    if (scripted - back_and_forth).abs().max() > 1e-5:
        failures.append("the scripted cues differ from the eager ones")
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)
    print("frame_flow: ok")


if __name__ == "__main__":
    main()
