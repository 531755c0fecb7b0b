#!/usr/bin/env python3
"""Replay the cascade's own settings, or two models together, on the window scores `make eval`
(examples/evaluate) wrote, without re-running the pipeline.

    python3 -m models.experiments.replay_cascade copies models/default.pt OUT_DIR
    python3 -m models.experiments.replay_cascade knobs ALL/windows.tsv NONE/windows.tsv \
        --threshold 0.558 --gates 0,0.3 --weights 0.5,0.7 --thresholds 0.45,0.5,0.558
    python3 -m models.experiments.replay_cascade either A/windows.tsv B/windows.tsv --thresholds 0.558 0.636

`copies` writes two copies of a cascade (models/pose/cascade.py): `gate-all.pt` verifies every
window (gate ~0), `gate-none.pt` none (gate 1). Evaluated on the same clips, they give each
window's cheap probability (`gate-none`: score = threshold x p_cheap) and its blend with the
verifier (`gate-all`: score = w p_head + (1 - w) p_cheap, w the model's head weight), so
`knobs` can score each window at any gate g, head weight w' and threshold θ as the exported
model would (the blend if p_cheap >= g, else θ p_cheap / g) and decide with the element's rule
(models/replay_decision.py). Windows are matched by dataset, stream, clip and time.

`either` starts an event when either model's own decision starts one (each model at its own
threshold), as two classifiers on one camera would alert; a start within 2 s of the other
model's counts once.

Printed per setting: fight clips with an event per dataset, false events per normal stream
kind, clip accuracy (maximum window score) per dataset, and the share of normal windows the
verifier would score.
"""

import argparse
import csv
import sys
from collections import Counter, OrderedDict
from pathlib import Path

from models.replay_decision import event_starts, streams

# Starts of the two models closer than this many windows (2 s at the 0.267 s window step)
# are one alert.
SAME_ALERT_WINDOWS = 8


def copies(model: Path, out: Path):
    import torch

    out.mkdir(parents=True, exist_ok=True)
    for name, gate in (("gate-all.pt", 1e-6), ("gate-none.pt", 1.0)):
        m = torch.jit.load(str(model))
        if not hasattr(m, "gate"):
            sys.exit(f"{model}: not a cascade (no gate attribute)")
        m.gate = gate
        m.save(str(out / name))
        print(f"{out / name}: gate {gate}")


def load(path):
    rows = OrderedDict()
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            key = (r["dataset"], r["played_as"], r["path"], r["window_in_clip_s"])
            rows[key] = (r["label"], float(r["score"]), r["scene_cut"] == "1")
    return rows


def tally(groups, threshold):
    """groups: {stream key: windows as replay_decision.streams gives} -> figures."""
    caught, fights, false_events, clip_right, clips = Counter(), Counter(), Counter(), Counter(), Counter()
    for (dataset, played_as, _), windows in groups.items():
        starts = event_starts(windows, threshold)
        if played_as == "clip":
            clips[dataset] += 1
            fight = windows[0][1] == "fight"
            clip_right[dataset] += (max(w[3] for w in windows) >= threshold) == fight
            if fight:
                fights[dataset] += 1
                caught[dataset] += bool(starts)
        else:
            false_events[f"{dataset} ({played_as})"] += len(starts)
    return caught, fights, false_events, {d: round(clip_right[d] / clips[d], 3) for d in clips}


def knobs(args):
    every, none = load(args.all), load(args.none)
    missing = [k for k in every if k not in none]
    if missing:
        sys.exit(f"{len(missing)} windows of {args.all} are not in {args.none}: evaluate both on the same clips")
    for g in args.gates:
        for w in args.weights:
            for theta in args.thresholds:
                groups, verified, normal = OrderedDict(), 0, 0
                for (dataset, played_as, path, at), (label, blended, cut) in every.items():
                    p_cheap = none[(dataset, played_as, path, at)][1] / args.threshold
                    p_head = min(max((blended - (1 - args.weight) * p_cheap) / args.weight, 0.0), 1.0)
                    gated_in = p_cheap >= g
                    score = w * p_head + (1 - w) * p_cheap if gated_in else theta * p_cheap / max(g, 1e-6)
                    if label != "fight" and played_as != "clip":
                        normal += 1
                        verified += gated_in
                    one_stream = played_as == "normal-stream"
                    key = (dataset, played_as, "*" if one_stream else path)
                    groups.setdefault(key, []).append((path, label, float(at), score, cut))
                caught, fights, false_events, accuracy = tally(groups, theta)
                print(f"gate {g:g} weight {w:g} threshold {theta:g}: fights with an event "
                      f"{sum(caught.values())}/{sum(fights.values())} {dict(caught)}; false events {dict(false_events)}; "
                      f"clip accuracy {accuracy}; verified {verified / max(normal, 1):.2f} of normal windows")


def either(args):
    a, b = streams(args.first), streams(args.second)
    ta, tb = args.thresholds
    caught, fights, false_events, missing = Counter(), Counter(), Counter(), 0
    for key, windows in a.items():
        if key not in b:
            missing += 1
            continue
        dataset, played_as, _ = key
        starts = sorted(event_starts(windows, ta) + event_starts(b[key], tb))
        alerts = []
        for i in starts:
            if not alerts or i - alerts[-1] > SAME_ALERT_WINDOWS:
                alerts.append(i)
        if played_as == "clip":
            if windows[0][1] == "fight":
                fights[dataset] += 1
                caught[dataset] += bool(alerts)
        else:
            false_events[f"{dataset} ({played_as})"] += len(alerts)
    if missing:
        print(f"{missing} streams of {args.first} are not in {args.second}", file=sys.stderr)
    print(f"either ({ta:g}, {tb:g}): fights with an event {sum(caught.values())}/{sum(fights.values())} "
          f"{dict(caught)}; false events {dict(false_events)}")


def floats(text):
    return [float(v) for v in text.split(",")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("copies")
    c.add_argument("model", type=Path)
    c.add_argument("out", type=Path)
    k = sub.add_parser("knobs")
    k.add_argument("all", type=Path, help="windows.tsv of the gate-all copy")
    k.add_argument("none", type=Path, help="windows.tsv of the gate-none copy")
    k.add_argument("--threshold", type=float, required=True, help="the model's own threshold")
    k.add_argument("--weight", type=float, default=0.5, help="the model's own head weight")
    k.add_argument("--gates", type=floats, default=[0.3])
    k.add_argument("--weights", type=floats, default=[0.5])
    k.add_argument("--thresholds", type=floats, required=True)
    e = sub.add_parser("either")
    e.add_argument("first", type=Path)
    e.add_argument("second", type=Path)
    e.add_argument("--thresholds", type=float, nargs=2, required=True)
    args = ap.parse_args()
    {"copies": lambda: copies(args.model, args.out), "knobs": lambda: knobs(args), "either": lambda: either(args)}[args.command]()


if __name__ == "__main__":
    main()
