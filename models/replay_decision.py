#!/usr/bin/env python3
"""Replay violenceclassify's default decision on the window scores `make eval` wrote, at other
thresholds, without running the pipeline again.

    python3 -m models.replay_decision OUT/windows.tsv 0.558 0.7 0.75

The rule is the element's default (src/violenceclassify/decision.rs): an event starts on
`min-consecutive` (2) windows in a row at or above the threshold, none spanning a scene cut,
and ends once the score has stayed below it (release-threshold = threshold) for `hold-time`
(2 s). Prints, per threshold: fight clips with an event, per dataset; false events of the
normal streams (each dataset's normal clips back to back; continuous footage, each clip its
own stream); normal clips played on their own with an event. `evaluate --threshold P` gives
the same counts through the real element (checked on ghfights: 18/23 and 2 at 0.75).
"""

import argparse
import csv
from collections import OrderedDict, defaultdict


def streams(path):
    """Windows grouped as the evaluator played them: a normal stream is one group."""
    groups = OrderedDict()
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            one_stream = r["played_as"] == "normal-stream"
            key = (r["dataset"], r["played_as"], "*" if one_stream else r["path"])
            groups.setdefault(key, []).append(
                (r["path"], r["label"], float(r["window_in_clip_s"]), float(r["score"]), r["scene_cut"] == "1")
            )
    return groups


def event_starts(windows, threshold, min_consecutive=2, hold_s=2.0):
    """Indices of the windows that start an event."""
    starts, run, violent, below_since = [], 0, False, None
    t, previous = 0.0, None
    for i, (path, _, at, score, cut) in enumerate(windows):
        # Running time across the clips of a stream: the window step inside a clip, and one
        # step (0.267 s at 30 fps, frame step 2, 4-frame hop) across a boundary.
        if previous is not None:
            t += at - previous[1] if path == previous[0] and at > previous[1] else 0.267
        previous = (path, at)
        if not violent:
            if score < threshold or cut:
                run = 0
                continue
            run += 1
            if run >= min_consecutive:
                violent, below_since = True, None
                starts.append(i)
        elif score >= threshold:
            below_since = None
        elif below_since is None:
            below_since = t
        elif t - below_since >= hold_s:
            violent, run = False, 0
    return starts


def replay(path, threshold, min_consecutive=2, hold_s=2.0):
    caught, fights, false_events, normal_clips = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    for (dataset, played_as, _), windows in streams(path).items():
        starts = event_starts(windows, threshold, min_consecutive, hold_s)
        if played_as == "clip" and windows[0][1] == "fight":
            fights[dataset] += 1
            caught[dataset] += bool(starts)
        elif played_as == "clip":
            normal_clips[dataset] += bool(starts)
        else:
            false_events[f"{dataset} {played_as}"] += len(starts)
    return caught, fights, false_events, normal_clips


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("windows")
    ap.add_argument("thresholds", type=float, nargs="+")
    ap.add_argument("--min-consecutive", type=int, default=2)
    ap.add_argument("--hold-time", type=float, default=2.0, help="seconds")
    args = ap.parse_args()
    for threshold in args.thresholds:
        caught, fights, false_events, normal_clips = replay(args.windows, threshold, args.min_consecutive, args.hold_time)
        total = sum(fights.values())
        recall = sum(caught.values()) / total if total else float("nan")
        per_dataset = ", ".join(f"{d} {caught[d]}/{fights[d]}" for d in fights)
        streams_ = ", ".join(f"{k} {v}" for k, v in false_events.items()) or "none played"
        clips = ", ".join(f"{k} {v}" for k, v in normal_clips.items() if v)
        print(f"threshold {threshold:.3f}: event recall {recall:.3f} ({per_dataset}); false events: {streams_}"
              + (f"; normal clips alone with an event: {clips}" if clips else ""))


if __name__ == "__main__":
    main()
