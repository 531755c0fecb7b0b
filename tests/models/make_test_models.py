"""Makes the small deterministic TorchScript models the test suite runs (a few KB each).

Usage: make_test_models.py OUTDIR

Every model scores motion: m = mean |x[t+1] - x[t]| over the clip (inputs on the 0..1
scale: metadata sets mean 0, std 1), and p(violent) = sigmoid(10000 (m - 0.0005)), so a clip
is violent exactly when two of its consecutive frames differ. Variants exercise the
contract and the error paths.
"""
import json
import sys
from pathlib import Path

import torch

T, SIZE = 8, 32
BASE = {
    "name": "test-motion",
    "description": "test model: violent when consecutive frames differ",
    "inputs": ["rgb"],
    "clip_length": T,
    "frame_step": 1,
    "size": [SIZE, SIZE],
    "mean": [0.0, 0.0, 0.0],
    "std": [1.0, 1.0, 1.0],
    "colour": "rgb",
    "output": "logits",
    "labels": ["nonviolent", "violent"],
    "violent_label": "violent",
    "threshold": 0.5,
}


def motion_logits(x: torch.Tensor) -> torch.Tensor:
    m = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(1, 2, 3, 4))
    z = 10000.0 * (m - 0.0005)
    return torch.stack([-z / 2, z / 2], dim=1)


class Motion(torch.nn.Module):
    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta

    def forward(self, x):
        return motion_logits(x)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class MotionEncoded(torch.nn.Module):
    """Motion with a frame encoder: encode() keeps each frame's pixels as its features, and
    head() takes the mean absolute change between consecutive feature rows, which is
    motion_logits of the clip. `off` breaks head(encode(x)) == forward(x) on purpose."""

    def __init__(self, meta: str, off: float = 0.0):
        super().__init__()
        self.meta = meta
        self.off = off

    def forward(self, x):
        return motion_logits(x)

    @torch.jit.export
    def encode(self, frames):
        return frames.reshape(frames.shape[0], -1)

    @torch.jit.export
    def head(self, features):
        m = (features[:, 1:] - features[:, :-1]).abs().mean(dim=(1, 2))
        z = 10000.0 * (m - 0.0005) + self.off
        return torch.stack([-z / 2, z / 2], dim=1)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class RaggedEncoder(torch.nn.Module):
    """A frame encoder whose feature width is the number of frames encoded in the call. It
    keeps the contract on the load check (a whole clip, encoded at once) and breaks the memo:
    a window that encodes only its new frames gets narrower rows than the ones cached."""

    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta

    def forward(self, x):
        return self.head(torch.stack([self.encode(clip.transpose(0, 1)) for clip in x]))

    @torch.jit.export
    def encode(self, frames):
        return frames.reshape(frames.shape[0], -1)[:, : frames.shape[0]]

    @torch.jit.export
    def head(self, features):
        m = (features[:, 1:] - features[:, :-1]).abs().mean(dim=(1, 2))
        return torch.stack([-m, m], dim=1)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class MotionNoMetadata(torch.nn.Module):
    def forward(self, x):
        return motion_logits(x)


class Slow(torch.nn.Module):
    """Motion, plus a chain of matrix products that makes each forward slow (~0.2-0.5 s)."""

    def __init__(self, meta: str, rounds: int):
        super().__init__()
        self.meta = meta
        self.rounds = rounds
        self.weight = torch.nn.Parameter(torch.eye(384) * 0.5, requires_grad=False)

    def forward(self, x):
        y = self.weight
        for _ in range(self.rounds):
            y = torch.mm(y, self.weight) + self.weight
        return motion_logits(x) + 0.0 * y.sum()

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class SlowScreened(Slow):
    """Slow, with a screen that answers at once with p(violent) = 0.25 for every clip: a
    screened clip is told apart by its score."""

    @torch.jit.export
    def screen(self, x):
        return torch.stack([torch.zeros(x.shape[0]), torch.full([x.shape[0]], -1.0986123)], 1)


class WrongShape(torch.nn.Module):
    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta

    def forward(self, x):
        return torch.zeros(x.shape[0], 3)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class Raises(torch.nn.Module):
    """Fails at every forward whose clip has motion; fine on the zeros of the warm-up."""

    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta

    def forward(self, x):
        if bool((x[:, :, 1:] - x[:, :, :-1]).abs().sum() > 0):
            raise RuntimeError("injected model failure")
        return motion_logits(x)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class NonFinite(torch.nn.Module):
    """Motion, but outputs `value` (NaN or infinity) for every clip with motion."""

    def __init__(self, meta: str, value: float):
        super().__init__()
        self.meta = meta
        self.value = value

    def forward(self, x):
        logits = motion_logits(x)
        moving = (x[:, :, 1:] - x[:, :, :-1]).abs().sum(dim=(1, 2, 3, 4)) > 0
        bad = torch.full_like(logits, self.value)
        return torch.where(moving.unsqueeze(1), bad, logits)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class Weighted(torch.nn.Module):
    """Motion through a stored parameter, so the archive holds a tensor with a device."""

    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta
        self.scale = torch.nn.Parameter(torch.ones(2), requires_grad=False)

    def forward(self, x):
        return motion_logits(x) * self.scale

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


def save_as_if_on_cuda(src: Path, dst: Path):
    """Rewrites a TorchScript archive as `torch.jit.save` writes it for a module on CUDA:
    the device of every stored tensor becomes cuda:0 (the only difference). Without a GPU
    this is the one way to make such a file; loading it without map_location fails with
    "no NVIDIA driver", which the caller checks."""
    import zipfile

    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    replaced = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith(".pkl"):
                replaced += data.count(cpu)
                data = data.replace(cpu, cuda)
            zout.writestr(info.filename, data)
    assert replaced > 0, "no tensor device found in the archive"


class FlowMean(torch.nn.Module):
    """Two-stream contract test: p(violent) = sigmoid(mean horizontal flow), so the mean u
    (model pixels per frame) can be read back from the score."""

    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta

    def forward(self, rgb, flow):
        mean_u = flow[:, 0].mean(dim=(1, 2, 3)) + 0.0 * rgb.mean()
        return torch.stack([torch.zeros_like(mean_u), mean_u], dim=1)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class QuadrantAttention(torch.nn.Module):
    """SSHA-format test model (q_values over the 4 quadrants as prior boxes, then
    non-violent, violent; step one-hot as second input). At step 0 it zooms into the
    quadrant with the most motion, if any; at later steps it decides: violent when the
    view moves."""

    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta

    def forward(self, x, step):
        e = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(1, 2))
        h2, w2 = e.shape[1] // 2, e.shape[2] // 2
        quadrants = torch.stack([
            e[:, :h2, :w2].mean(dim=(1, 2)), e[:, :h2, w2:].mean(dim=(1, 2)),
            e[:, h2:, :w2].mean(dim=(1, 2)), e[:, h2:, w2:].mean(dim=(1, 2)),
        ], dim=1)
        total = e.mean(dim=(1, 2))
        first = step[:, 0]
        regions = quadrants * 1000.0 * first.unsqueeze(1) - 10.0 * (1.0 - first).unsqueeze(1)
        nonviolent = 0.5 * first + 0.1 * (1.0 - first)
        violent = 0.4 * first + 1000.0 * total * (1.0 - first)
        return torch.cat([regions, nonviolent.unsqueeze(1), violent.unsqueeze(1)], dim=1)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


class GradedMotion(torch.nn.Module):
    """p(violent) rises gently with the amount of motion (sigmoid(100 (m - 0.02))), so that a
    block moving across grey scores about 0.8 and a flickering frame about 1, and a
    per-camera calibration has room to raise the bar."""

    def __init__(self, meta: str):
        super().__init__()
        self.meta = meta

    def forward(self, x):
        m = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(1, 2, 3, 4))
        z = 100.0 * (m - 0.02)
        return torch.stack([-z / 2, z / 2], dim=1)

    @torch.jit.export
    def metadata(self) -> str:
        return self.meta


def save(module: torch.nn.Module, path: Path):
    torch.jit.script(module).save(str(path))


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    meta = json.dumps(BASE)
    save(Motion(meta), out / "motion.pt")
    save(MotionNoMetadata(), out / "motion-nometa.pt")
    save(Slow(json.dumps({**BASE, "name": "test-slow"}), rounds=1200), out / "slow.pt")
    save(SlowScreened(json.dumps({**BASE, "name": "test-slow-screened", "screen": True}), rounds=1200),
         out / "slow-screened.pt")
    # Declares a screen it does not export.
    save(Motion(json.dumps({**BASE, "screen": True})), out / "screen-missing.pt")
    save(WrongShape(meta), out / "wrong-shape.pt")
    save(Raises(meta), out / "raises.pt")
    save(Motion(json.dumps({**BASE, "violent_label": "fight"})), out / "contradictory.pt")
    save(Motion("{not json"), out / "bad-json.pt")
    quadrants = [[0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 0.5, 0.5], [0.0, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]
    ssha = {**BASE, "name": "test-ssha", "inputs": ["rgb", "step"], "output": "q_values",
            "prior_boxes": quadrants, "max_steps": 3}
    for key in ("labels", "violent_label"):
        ssha.pop(key)
    save(QuadrantAttention(json.dumps(ssha)), out / "ssha.pt")
    save(FlowMean(json.dumps({**BASE, "name": "test-flow-mean", "inputs": ["rgb", "flow"]})), out / "flow-mean.pt")
    save(NonFinite(meta, float("nan")), out / "nan.pt")
    save(NonFinite(meta, float("inf")), out / "inf.pt")
    save(Weighted(meta), out / "weighted.pt")
    save(GradedMotion(json.dumps({**BASE, "name": "test-graded-motion"})), out / "graded.pt")
    save(Motion(json.dumps({**BASE, "name": "test-people-motion", "people_crop": True})), out / "people-motion.pt")
    encoded = json.dumps({**BASE, "name": "test-motion-encoded", "frame_encoder": True})
    save(MotionEncoded(encoded), out / "motion-encoded.pt")
    save(MotionEncoded(encoded, off=1.0), out / "encoder-mismatch.pt")
    save(RaggedEncoder(encoded), out / "ragged-encoder.pt")
    save_as_if_on_cuda(out / "weighted.pt", out / "cuda-saved.pt")
    if not torch.cuda.is_available():
        try:
            torch.jit.load(str(out / "cuda-saved.pt"))
            raise AssertionError("cuda-saved.pt loads on a CPU-only machine without map_location")
        except RuntimeError:
            pass
    (out / "not-torchscript.pt").write_text("this is not a TorchScript archive\n")
    (out / "DONE").write_text("ok\n")


if __name__ == "__main__":
    main()
