"""OpenCV's flow methods on the Middlebury pairs, for make bench-flow: average EPE and
median ms per pair, at full size and at 320 px wide (flow upscaled back, bilinear), with
2 threads. Prints one JSON object.

Usage: opencv_flow.py MIDDLEBURY_DIR [REPS=5]
"""
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

SCENES = ["Dimetrodon", "Grove2", "Grove3", "Hydrangea", "RubberWhale", "Urban2", "Urban3", "Venus"]


def read_flo(path):
    data = np.fromfile(path, dtype=np.float32)
    assert data[0] == 202021.25
    w, h = data[1:3].view(np.int32)
    return data[3:].reshape(h, w, 2)


def methods():
    dis_fast = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    dis_medium = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return {
        "DIS fast": lambda a, b: dis_fast.calc(a, b, None),
        "DIS medium": lambda a, b: dis_medium.calc(a, b, None),
        "Farneback": lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 13, 10, 5, 1.1, 0),
    }


def main():
    root = Path(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    cv2.setNumThreads(2)
    scenes = []
    for name in SCENES:
        a = cv2.cvtColor(cv2.imread(str(root / name / "frame10.png")), cv2.COLOR_BGR2GRAY)
        b = cv2.cvtColor(cv2.imread(str(root / name / "frame11.png")), cv2.COLOR_BGR2GRAY)
        scenes.append((a, b, read_flo(root / name / "flow10.flo")))
    out = {}
    for label, calc in methods().items():
        for size in ("full", "320"):
            errors, times = [], []
            for a, b, gt in scenes:
                h, w = a.shape
                if size == "320":
                    sh = round(h * 320 / w)
                    a2 = cv2.resize(a, (320, sh), interpolation=cv2.INTER_AREA)
                    b2 = cv2.resize(b, (320, sh), interpolation=cv2.INTER_AREA)
                else:
                    a2, b2 = a, b
                calc(a2, b2)
                for _ in range(reps):
                    t = time.perf_counter()
                    flow = calc(a2, b2)
                    times.append((time.perf_counter() - t) * 1000)
                if size == "320":
                    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
                    flow[..., 0] *= w / 320
                    flow[..., 1] *= h / a2.shape[0]
                valid = (np.abs(gt[..., 0]) < 1e9) & (np.abs(gt[..., 1]) < 1e9)
                errors.append(float(np.sqrt(((flow - gt) ** 2).sum(-1))[valid].mean()))
            out[f"{label}|{size}"] = {"epe": sum(errors) / len(errors), "ms": statistics.median(times)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
