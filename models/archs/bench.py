#!/usr/bin/env python3
"""Forward time of exported models on this CPU, one libtorch thread, batch 1, with the
input shapes their metadata() declares (for SSHA: one forward per attention step).

    python3 -m models.archs.bench models/zoo/*.pt
"""

import json
import sys
import time

import torch


def main():
    torch.set_num_threads(1)
    for path in sys.argv[1:]:
        m = torch.jit.load(path)
        meta = json.loads(m.metadata())
        w, h = meta["size"]
        T = meta["clip_length"]
        inputs = []
        for kind in meta["inputs"]:
            if kind == "rgb":
                inputs.append(torch.zeros(1, 3, T, h, w))
            elif kind == "flow":
                inputs.append(torch.zeros(1, 2, T, h, w))
            else:
                s = torch.zeros(1, meta["max_steps"])
                s[0, 0] = 1.0
                inputs.append(s)
        with torch.no_grad():
            for _ in range(3):
                m(*inputs)
            times = []
            for _ in range(15):
                t = time.perf_counter()
                m(*inputs)
                times.append(time.perf_counter() - t)
        times.sort()
        ms = 1000 * times[len(times) // 2]
        per = "per step" if meta.get("output") == "q_values" else "per clip"
        print(f"{path}: {ms:.1f} ms {per} (median of 15), [{T}x{h}x{w}], {1000 / ms:.0f} forwards/s")


if __name__ == "__main__":
    main()
