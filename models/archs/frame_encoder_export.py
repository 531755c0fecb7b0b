# SPDX-License-Identifier: MPL-2.0
"""Re-exports a zoo model whose forward is a per-frame CNN and a recurrent head with the
frame-encoder contract (docs/model-contract.md): `encode(frames [N,3,H,W]) ->
[N,D]` and `head(features [B,T,D]) -> logits` beside the unchanged `forward`, and
`"frame_encoder": true` in its metadata. violenceclassify then encodes each sampled frame
once instead of once per window that holds it. The weights are not touched; the script
checks that head(encode(frames)) gives forward's logits on real-looking input.

    python3 -m models.archs.frame_encoder_export models/zoo/mobilenet_lstm.pt OUT.pt
"""

import argparse
import json

import torch


class MobileNetLSTMFrames(torch.nn.Module):
    """models/archs/mobilenet_lstm.py: encoder -> spatial mean -> LSTM -> last step -> MLP."""

    def __init__(self, exported):
        super().__init__()
        self.net = exported.net
        self.meta = json.dumps({**json.loads(exported.metadata()), "frame_encoder": True})

    def forward(self, rgb):
        return self.net(rgb)

    @torch.jit.export
    def encode(self, frames):
        return self.net.encoder(frames).mean((2, 3))

    @torch.jit.export
    def head(self, features):
        # A scripted LSTM keeps its tensor overload of forward under this name.
        out, _ = self.net.lstm.forward__0(features, None)
        y = torch.relu(self.net.fc1(out[:, -1]))
        return self.net.fc2(self.net.dropout(y))

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class CnnBiLSTMFrames(MobileNetLSTMFrames):
    """models/archs/cnn_bilstm.py: cnn -> spatial mean -> BiLSTM -> both ends -> MLP."""

    @torch.jit.export
    def encode(self, frames):
        return self.net.cnn(frames).mean((2, 3))

    @torch.jit.export
    def head(self, features):
        # A scripted LSTM keeps its tensor overload of forward under this name.
        out, _ = self.net.lstm.forward__0(features, None)
        hidden = self.net.hidden
        z = torch.cat([out[:, -1, :hidden], out[:, 0, hidden:]], 1)
        z = self.net.dropout(torch.relu(self.net.fc1(z)))
        z = torch.relu(self.net.fc2(z))
        return self.net.fc3(z)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("out")
    args = parser.parse_args()
    exported = torch.jit.load(args.model).eval()
    names = [name for name, _ in exported.net.named_children()]
    wrapper = CnnBiLSTMFrames if "cnn" in names else MobileNetLSTMFrames
    model = torch.jit.script(wrapper(exported).eval())
    meta = json.loads(model.metadata())
    t, (h, w) = meta["clip_length"], meta["size"]
    torch.manual_seed(0)
    x = torch.randn(2, 3, t, h, w)
    with torch.no_grad():
        direct = model(x)
        frames = x.transpose(1, 2).reshape(-1, 3, h, w)
        headed = model.head(model.encode(frames).reshape(2, t, -1))
    gap = (direct - headed).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"head(encode(frames)) differs from forward by {gap:.2e}")
    model.save(args.out)
    print(f"wrote {args.out} ({wrapper.__name__}, |forward - head(encode)| = {gap:.1e})")


if __name__ == "__main__":
    main()
