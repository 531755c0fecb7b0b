#!/usr/bin/env python3
"""Check the converter's TensorFlow SAME padding (tfjs_graph.py `_Conv`) against the rule
written out: pad the input TF's way (the odd pixel after), then convolve without padding.

    python3 -m models.checks.padding_check

`_Conv` never pads a copy of the activations: where TF pads one more pixel after than
before (stride 2 on an even size), it convolves a kernel with a leading row or column of
zeros and pads both sides alike. Covers even and odd sizes, strides 1 and 2, 3x3 and 1x1
kernels, dense and depthwise, square and not. Exits non-zero when any output differs by
more than 1e-5 or has another shape.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.pose.tfjs_graph import _Conv, _same_padding


def reference(x, conv):
    """TF SAME: the padded copy, then a VALID convolution."""
    kh, kw = conv.weight.shape[2], conv.weight.shape[3]
    top, bottom = _same_padding(x.shape[2], kh, conv.stride)
    left, right = _same_padding(x.shape[3], kw, conv.stride)
    padded = F.pad(x, (left, right, top, bottom))
    return F.conv2d(padded, conv.weight, conv.bias, conv.stride, 0, 1, conv.groups)


def main():
    rng = np.random.default_rng(3)
    worst, cases = 0.0, 0
    for depthwise in (False, True):
        for k in (1, 3):
            for stride in (1, 2):
                for h, w in ((8, 8), (9, 9), (8, 11), (7, 10), (160, 160)):
                    cin = 4
                    cout = cin if depthwise else 6
                    shape = [k, k, cin, 1] if depthwise else [k, k, cin, cout]
                    conv = _Conv(rng.normal(size=shape).astype(np.float32),
                                 rng.normal(size=[cout]).astype(np.float32), stride, "SAME", None, depthwise)
                    x = torch.from_numpy(rng.normal(size=[2, cin, h, w]).astype(np.float32))
                    x = x.contiguous(memory_format=torch.channels_last)
                    with torch.no_grad():
                        ours, expected = conv(x), reference(x, conv)
                    if ours.shape != expected.shape:
                        sys.exit(f"shape {tuple(ours.shape)} instead of {tuple(expected.shape)} "
                                 f"(k {k}, stride {stride}, {h}x{w}, depthwise {depthwise})")
                    gap = (ours - expected).abs().max().item()
                    worst, cases = max(worst, gap), cases + 1
                    if gap > 1e-5:
                        sys.exit(f"differs by {gap:.2e} (k {k}, stride {stride}, {h}x{w}, depthwise {depthwise})")
    print(f"SAME padding: {cases} cases, largest difference {worst:.1e}")


if __name__ == "__main__":
    main()
