#!/usr/bin/env python3
"""Per-frame CNN features + bidirectional LSTM (after the "Violence Detection using CNN +
LSTM" notebook).

Structure: a frame CNN shared over the clip's frames -- VGG16's 13 convolution layers
(`--backbone vgg16`) or EfficientNet-B0's MBConv stages (`--backbone efficientnet_b0`) --
globally average-pooled to one vector per frame; a bidirectional LSTM over the frames;
the concatenated last forward and first backward states go through Dense 1024 (ReLU),
Dense 50 (ReLU) and Dense 2 (softmax at inference: the contract applies the softmax to the
two logits).

    python3 -m models.archs.cnn_bilstm CLIPS --out models/zoo/cnn_bilstm.pt [--backbone vgg16]
"""


import torch
import torch.nn as nn
import torch.nn.functional as F

from models.archs import common

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16Features(nn.Module):
    def __init__(self, width_mult=1.0):
        super().__init__()
        layers, cin = [], 3
        for v in VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                cout = common.scaled(v, width_mult)
                layers += [nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(inplace=True)]
                cin = cout
        self.body = nn.Sequential(*layers)
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # VGG has no normalization layers: He initialization keeps 13 ReLU layers
                # trainable from scratch.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.body(x)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        s = F.silu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * torch.sigmoid(self.expand(s))


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.SiLU()]
        layers += [nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.SiLU(), SqueezeExcite(hidden, max(1, cin // 4)),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


# (expansion, kernel, stride, channels, repeats) of EfficientNet-B0's stages.
EFFICIENTNET_B0 = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                   (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


class EfficientNetB0Features(nn.Module):
    def __init__(self, width_mult=1.0):
        super().__init__()
        cin = common.scaled(32, width_mult, divisor=8)
        layers = [nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.SiLU()]
        for e, k, s, c, n in EFFICIENTNET_B0:
            cout = common.scaled(c, width_mult, divisor=8)
            for i in range(n):
                layers.append(MBConv(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
        head = common.scaled(1280, width_mult, divisor=8)
        layers += [nn.Conv2d(cin, head, 1, bias=False), nn.BatchNorm2d(head), nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.out_channels = head

    def forward(self, x):
        return self.body(x)


class CNNBiLSTM(nn.Module):
    def __init__(self, backbone="vgg16", width_mult=1.0, hidden=None, num_classes=2, dropout=0.3):
        super().__init__()
        self.cnn = VGG16Features(width_mult) if backbone == "vgg16" else EfficientNetB0Features(width_mult)
        hidden = hidden or common.scaled(256, width_mult)
        self.lstm = nn.LSTM(self.cnn.out_channels, hidden, batch_first=True, bidirectional=True)
        d1, d2 = common.scaled(1024, width_mult), 50
        self.fc1 = nn.Linear(2 * hidden, d1)
        self.fc2 = nn.Linear(d1, d2)
        self.fc3 = nn.Linear(d2, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.hidden = hidden

    def forward(self, x):
        b, c, t, h, w = x.shape
        f = self.cnn(x.transpose(1, 2).reshape(b * t, c, h, w)).mean((2, 3)).reshape(b, t, -1)
        out, _ = self.lstm(f)
        # Last step of the forward direction, first step of the backward one.
        z = torch.cat([out[:, -1, : self.hidden], out[:, 0, self.hidden:]], 1)
        z = self.dropout(torch.relu(self.fc1(z)))
        z = torch.relu(self.fc2(z))
        return self.fc3(z)


def main():
    ap = common.base_parser(__doc__, {"epochs": 12, "batch": 8, "lr": 3e-4, "width_mult": 0.125,
                                      "name": "cnn + bilstm"})
    ap.add_argument("--backbone", choices=["vgg16", "efficientnet_b0"], default="vgg16")
    args = ap.parse_args()
    common.seed_all(args.seed, args.threads)
    net = CNNBiLSTM(args.backbone, args.width_mult)
    return common.train_supervised(
        args, net, arch=f"cnn_bilstm_{args.backbone}", full_params=common.count_params(CNNBiLSTM(args.backbone, 1.0)),
        describe=f"{args.backbone} features per frame, bidirectional LSTM, dense 1024-50-2; from scratch",
    )


if __name__ == "__main__":
    main()
