# SPDX-License-Identifier: MPL-2.0
"""The exported models on CUDA: parity with CPU, fp16, and batch throughput.

No CPU test can show that a TorchScript model keeps every tensor on the input's device
(the cascade's feature memo, its gate, its constants) or how it batches on a GPU, so this
runs on a GPU machine when one is lent. Input: an .npz of uint8 clips [N,16,H,W,3] with
labels (real val clips, e.g. from `make extract`'s cache), as the plugin feeds them.

    python3 -m models.checks.cuda_check clips.npz models/default.pt models/zoo/motionnet.pt
"""

import argparse
import json
import time

import numpy as np
import torch

def to_input(clips_u8, size, meta):
    mean = torch.tensor(meta["mean"]).view(1, 3, 1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, 3, 1, 1, 1)
    x = torch.from_numpy(clips_u8).float().div(255.0).permute(0, 4, 1, 2, 3)  # [N,3,T,H,W]
    if x.shape[-1] != size:
        n, c, t, h, w = x.shape
        x = torch.nn.functional.interpolate(
            x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w), size=[size, size], mode="area"
        ).reshape(n, t, c, size, size).permute(0, 2, 1, 3, 4)
    return ((x - mean) / std).contiguous()


def p_violent(model, x):
    with torch.no_grad():
        return torch.softmax(model(x).float(), 1)[:, 1]


def timed(model, x, repeats, sync):
    with torch.no_grad():
        # The profiling executor specialises a graph on its first calls with a shape.
        for _ in range(5):
            model(x)
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
        sync()
    return (time.perf_counter() - start) / repeats


def size_of(model):
    meta = json.loads(model.metadata())
    return int(meta["size"][-1]), meta


def check(path, clips, labels, batches):
    report = {"model": path}
    cpu = torch.jit.load(path, map_location="cpu").eval()
    size, meta = size_of(cpu)
    x = to_input(clips, size, meta)
    p_cpu = p_violent(cpu, x)
    report["cpu_accuracy"] = float(((p_cpu >= meta.get("threshold", 0.5)) == torch.from_numpy(labels).bool()).float().mean())
    if not torch.cuda.is_available():
        report["cuda"] = "not available"
        return report
    dev = torch.device("cuda:0")
    gpu = torch.jit.load(path, map_location=dev).eval()
    # cuDNN convolutions may use TF32 on Ampere and later (the default in libtorch too).
    p_gpu = p_violent(gpu, x.to(dev)).cpu()
    report["cuda_fp32_max_abs_diff"] = float((p_gpu - p_cpu).abs().max())
    torch.backends.cudnn.allow_tf32 = False
    p_strict = p_violent(torch.jit.load(path, map_location=dev).eval(), x.to(dev)).cpu()
    report["cuda_fp32_no_tf32_max_abs_diff"] = float((p_strict - p_cpu).abs().max())
    torch.backends.cudnn.allow_tf32 = True
    try:
        half = torch.jit.load(path, map_location=dev).eval().half()
        p_half = p_violent(half, x.to(dev).half()).cpu()
        report["cuda_fp16_max_abs_diff"] = float((p_half - p_cpu).abs().max())
    except Exception as error:  # a model that cannot run in half precision says so
        half = None
        report["cuda_fp16_error"] = str(error).splitlines()[0][:300]
    sync = torch.cuda.synchronize
    rows = []
    for batch in batches:
        reps = max(1, batch // len(clips) + 1)
        xb = x.repeat(reps, 1, 1, 1, 1)[:batch]
        # A little noise makes every window distinct, so the cascade's memo cannot help.
        xb = xb + 1e-3 * torch.randn_like(xb)
        row = {"batch": batch}
        row["cpu_ms"] = 1e3 * timed(cpu, xb, 2, lambda: None) if batch <= 16 else None
        xg = xb.to(dev)
        row["cuda_fp32_ms"] = 1e3 * timed(gpu, xg, 20, sync)
        if half is not None:
            row["cuda_fp16_ms"] = 1e3 * timed(half, xg.half(), 20, sync)
        rows.append(row)
    report["batches"] = rows
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batches", default="1,4,16,64,256")
    args = parser.parse_args()
    data = np.load(args.clips)
    clips, labels = data["clips"], data["labels"]
    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}"
          + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
    print(f"{len(clips)} clips, {int(labels.sum())} violent")
    batches = [int(b) for b in args.batches.split(",")]
    for path in args.models:
        print(json.dumps(check(path, clips, labels, batches), indent=1))


if __name__ == "__main__":
    main()
