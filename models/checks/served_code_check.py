#!/usr/bin/env python3
"""Check that the cascade and verifier code of models/pose/cascade.py scores an exported
cascade's own parts (cheap stage, backbones, head) exactly as the file does: a change to how
the cascade serves them (how the verified frames are gathered, the memo, ...) must not move a
shipped model's scores, so that the next export or rebuild of it gives the same events.

    python3 -m models.checks.served_code_check MODEL.pt [--clips 3]

Random clips, through `forward` at the file's own gate and with every clip verified (gate 0),
and through `screen`; each on fresh copies of the file and of its parts rebuilt with this
code, which must agree bit for bit. Exits non-zero otherwise.
"""

import argparse
import json
import sys

import torch

from models.pose.cascade import Verifier, cascade_from, fresh_copy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--clips", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    shipped = torch.jit.load(args.model).eval()
    meta = json.loads(shipped.metadata())
    if not meta.get("cascade"):
        sys.exit(f"{args.model}: not a cascade (no cascade entry in its metadata)")
    v = shipped.verifier
    verifier = Verifier(v.backbone, v.head, v.size, v.stats, v.eps, v.memo_size, v.channels,
                        cpu_backbone=v.cpu_backbone if v.fused_cpu else None)
    if not torch.equal(verifier.key_projections, v.key_projections):
        sys.exit(f"{args.model}: its memo keys were made another way")
    rebuilt = torch.jit.script(cascade_from(shipped, verifier=verifier).eval())
    clips = torch.rand(args.clips, 3, meta["clip_length"], meta["size"][0], meta["size"][1]) * 4.0 - 2.0
    failed = []
    for gate in (float(shipped.gate), 0.0):
        ours, theirs = fresh_copy(rebuilt), fresh_copy(shipped)
        ours.gate, theirs.gate = gate, gate
        with torch.no_grad():
            for name in ("forward", "screen"):
                # One clip alone, then all of them batched: the batch path selects the verified clips.
                for batch in (clips[:1], clips):
                    a, b = getattr(ours, name)(batch), getattr(theirs, name)(batch)
                    if not torch.equal(a, b):
                        failed.append(f"{name} at gate {gate}, batch {batch.shape[0]}: "
                                      f"{(a - b).abs().max().item():.2e} logits apart")
    if failed:
        sys.exit(f"{args.model}: this code scores the file's parts otherwise: " + "; ".join(failed))
    print(f"{args.model}: this code scores its parts as the file does, bit for bit "
          f"({args.clips} clips; gates {float(shipped.gate)} and 0; forward and screen)")


if __name__ == "__main__":
    main()
