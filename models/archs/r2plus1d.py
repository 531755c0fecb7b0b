#!/usr/bin/env python3
"""R(2+1)D-18 over sliding windows with dynamically switched activations (after Faridi et
al., "Dynamic Adaptation of Activation Function to Fine Tune Video ResNet for Fight or
Non-Fight Classification").

Structure: the 18-layer video ResNet whose every 3x3x3 convolution is factored into a 1x3x3
spatial and a 3x1x1 temporal convolution (intermediate width from Tran et al.'s rule that
matches a 3D convolution's parameters, computed once per block as torchvision does), stem 1x7x7 then 3x1x1, four stages of
two basic blocks (64, 128, 256, 512 channels at width 1), spatial stride 2 in stages 2-4 and
**no temporal downsampling anywhere** (windows of 4, 8 or 12 consecutive frames keep their
length to the end), global average pooling, a linear layer to 2 logits.

Training rule: one activation for the whole network, drawn from ReLU -> LeakyReLU -> CELU ->
ReLU6; after each epoch the loss on a part of the train split held out of the gradient is
compared with the previous epoch's; when it rises, the network switches to the next
activation and keeps its weights.

    python3 -m models.archs.r2plus1d CLIPS --out models/zoo/r2plus1d.pt [--width-mult 0.25]
"""

import sys

import torch
import torch.nn as nn

from models.archs import common

ACTIVATIONS = ["relu", "leaky_relu", "celu", "relu6"]


class DynAct(nn.Module):
    """The activation in use, switchable between epochs without touching weights."""

    def __init__(self):
        super().__init__()
        self.kind = 0

    def forward(self, x):
        if self.kind == 0:
            return torch.relu(x)
        if self.kind == 1:
            return nn.functional.leaky_relu(x, 0.01)
        if self.kind == 2:
            return nn.functional.celu(x, 1.0)
        return nn.functional.relu6(x)


def mid_channels(cin, cout):
    return (cin * cout * 27) // (cin * 9 + 3 * cout)


class Conv2Plus1D(nn.Sequential):
    def __init__(self, cin, cout, mid, stride):
        super().__init__(
            nn.Conv3d(cin, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(mid),
            DynAct(),
            nn.Conv3d(mid, cout, (3, 1, 1), 1, (1, 0, 0), bias=False),
        )


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        # One intermediate width per block, from its input and output widths (torchvision's
        # r2plus1d_18 convention, so that its Kinetics weights fit --init shape for shape).
        mid = mid_channels(cin, cout)
        self.conv1 = Conv2Plus1D(cin, cout, mid, stride)
        self.bn1 = nn.BatchNorm3d(cout)
        self.act1 = DynAct()
        self.conv2 = Conv2Plus1D(cout, cout, mid, 1)
        self.bn2 = nn.BatchNorm3d(cout)
        self.act2 = DynAct()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv3d(cin, cout, 1, (1, stride, stride), bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.down is None else self.down(x)
        return self.act2(y + s)


class R2Plus1D18(nn.Module):
    def __init__(self, width_mult=1.0, num_classes=2, dropout=0.3):
        super().__init__()
        c = [common.scaled(v, width_mult) for v in (64, 128, 256, 512)]
        stem_mid = common.scaled(45, width_mult)
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
            nn.BatchNorm3d(stem_mid),
            DynAct(),
            nn.Conv3d(stem_mid, c[0], (3, 1, 1), 1, (1, 0, 0), bias=False),
            nn.BatchNorm3d(c[0]),
            DynAct(),
        )
        layers = []
        cin = c[0]
        for i, cout in enumerate(c):
            stride = 1 if i == 0 else 2
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c[3], num_classes)
        self.activation = 0

    def set_activation(self, kind):
        self.activation = kind
        for m in self.modules():
            if isinstance(m, DynAct):
                m.kind = kind

    def save_extra(self):
        return {"activation": self.activation}

    def load_extra(self, extra):
        if extra:
            self.set_activation(extra["activation"])

    def features(self, x):
        return self.layers(self.stem(x))

    def forward(self, x):
        f = self.features(x)
        return self.fc(self.dropout(f.mean((2, 3, 4))))


class Switcher:
    """Switch to the next activation when the held-out loss rises (weights kept)."""

    def __init__(self):
        self.previous = None

    def __call__(self, epoch, loss, net):
        note = None
        if self.previous is not None and loss > self.previous:
            old = ACTIVATIONS[net.activation]
            net.set_activation((net.activation + 1) % len(ACTIVATIONS))
            note = f"holdout loss rose {self.previous:.4f} -> {loss:.4f}: {old} -> {ACTIVATIONS[net.activation]}"
        self.previous = loss
        return note


def main():
    ap = common.base_parser(__doc__, {"epochs": 8, "batch": 8, "lr": 2e-3, "width_mult": 0.25,
                                      "name": "r(2+1)d-18 sliding window, dynamic activation"})
    ap.add_argument("--holdout", type=float, default=0.1, help="part of the train split held out for the loss rule")
    args = ap.parse_args()
    common.seed_all(args.seed, args.threads)
    net = R2Plus1D18(args.width_mult)
    switcher = Switcher()
    meta = common.train_supervised(
        args, net, end_of_epoch=switcher, holdout_fraction=args.holdout, arch="r2plus1d_18",
        full_params=common.count_params(R2Plus1D18(1.0)),
        describe="R(2+1)D-18, no temporal downsampling, sliding window of consecutive frames; activation "
                 "switched among ReLU, LeakyReLU, CELU, ReLU6 when the held-out loss rose; from scratch",
    )
    print("final activation:", ACTIVATIONS[net.activation], file=sys.stderr)
    return meta


if __name__ == "__main__":
    main()
