#!/usr/bin/env python3
"""MobileNetV2 encoder + LSTM (after Vijeikis et al., "Efficient Violence Detection in
Surveillance").

Structure: every frame goes through the encoder half of a MobileNetV2 U-Net (the inverted
residual stages of MobileNetV2 up to the 320-channel projection, i.e. without its final
1280-channel 1x1 convolution, shared over frames); its map is pooled to one vector per
frame; an LSTM runs over the clip's frames; its last state goes through two dense layers
(ReLU, then the 2 class logits).

    python3 -m models.archs.mobilenet_lstm CLIPS --out models/zoo/mobilenet_lstm.pt
"""


import torch
import torch.nn as nn

from models.archs import common

# (expansion t, channels c, repeats n, first stride s) of MobileNetV2.
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]


def conv_bn(cin, cout, k, s, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = []
        if t != 1:
            layers += conv_bn(cin, hidden, 1, 1)
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += conv_bn(hidden, cout, 1, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2's downsampling path, as the encoder of a U-Net (ends at 320 channels)."""

    def __init__(self, width_mult=1.0):
        super().__init__()
        cin = common.scaled(32, width_mult, divisor=8)
        layers = conv_bn(3, cin, 3, 2)
        for t, c, n, s in SETTINGS:
            cout = common.scaled(c, width_mult, divisor=8)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        self.body = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        return self.body(x)


class MobileNetLSTM(nn.Module):
    def __init__(self, width_mult=1.0, hidden=None, dense=None, num_classes=2, dropout=0.3):
        super().__init__()
        self.encoder = MobileNetV2Encoder(width_mult)
        f = self.encoder.out_channels
        hidden = hidden or common.scaled(FULL_HIDDEN, width_mult)
        dense = dense or common.scaled(FULL_DENSE, width_mult)
        self.lstm = nn.LSTM(f, hidden, batch_first=True)
        self.fc1 = nn.Linear(hidden, dense)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(dense, num_classes)

    def forward(self, x):
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        f = self.encoder(frames).mean((2, 3)).reshape(b, t, -1)
        out, _ = self.lstm(f)
        y = torch.relu(self.fc1(out[:, -1]))
        return self.fc2(self.dropout(y))


# Head of the full-size model: the paper does not give the LSTM and dense widths used here;
# these make the Keras-style count (BN statistics included) 0.4 % below its 4,074,435.
FULL_HIDDEN = 576
FULL_DENSE = 256


def main():
    ap = common.base_parser(__doc__, {"epochs": 10, "batch": 8, "lr": 3e-3, "width_mult": 0.5,
                                      "name": "mobilenetv2 encoder + lstm"})
    args = ap.parse_args()
    common.seed_all(args.seed, args.threads)
    net = MobileNetLSTM(args.width_mult)
    return common.train_supervised(
        args, net, arch="mobilenetv2_lstm", full_params=common.count_params(MobileNetLSTM(1.0)),
        describe="MobileNetV2 U-Net encoder per frame, LSTM over the clip, two dense layers; from scratch",
    )


if __name__ == "__main__":
    main()
