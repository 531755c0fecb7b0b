#!/usr/bin/env python3
"""Two classifiers on each clip, as `pipelines/record-two-models.sh` analyses a camera: the
default on the whole frame (`whole`) and the people cascade behind persondetect (`people`),
each clip played on its own through the real elements (`gst-launch-1.0 -m`, mode=sync).
An alert runs while either classifier is in an event (their start-end spans merged), as
`violencerecord source=whole,people` records it.

    python3 -m models.experiments.two_models CLIP.mp4 [CLIP.mp4 ...]

Prints the clips with an alert, the alerts (merged spans), and each classifier's own starts.
Needs the release build (`make build`) and the plugin path set as pipelines/env.sh sets it.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = re.compile(r'from element "(\w+)".*violence-(start|end), pts=\(guint64\)\d+, running-time=\(guint64\)(\d+)')


def launch(clip: Path, default: Path, people: Path, detector: Path) -> list:
    return [
        "gst-launch-1.0", "-m", "uridecodebin", f"uri={clip.resolve().as_uri()}", "!", "videoconvert", "!", "tee", "name=t",
        "t.", "!", "queue", "!", "clipbuffer", "!", "violenceclassify", "name=whole", f"model-location={default}",
        "mode=sync", "!", "fakesink", "sync=false",
        "t.", "!", "queue", "!", "persondetect", f"model-location={detector}", "!", "clipbuffer", "!",
        "violenceclassify", "name=people", f"model-location={people}", "mode=sync", "!", "fakesink", "sync=false",
    ]


def alerts(messages: str):
    """Merged [start, end] spans of either classifier, and each one's starts."""
    spans, open_at, starts = [], {}, {}
    for line in messages.splitlines():
        m = MESSAGE.search(line)
        if not m:
            continue
        who, kind, at = m.group(1), m.group(2), int(m.group(3))
        if kind == "start":
            open_at[who] = at
            starts[who] = starts.get(who, 0) + 1
        elif who in open_at:
            spans.append((open_at.pop(who), at))
    spans += [(at, float("inf")) for at in open_at.values()]
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged, starts


def main():
    clips = [Path(p) for p in sys.argv[1:]]
    if not clips:
        sys.exit(__doc__)
    default, people = ROOT / "models/default.pt", ROOT / "models/zoo/people-cascade.pt"
    detector = ROOT / "models/people.pt"
    with_alert = total = 0
    starts = {}
    for clip in clips:
        run = subprocess.run(launch(clip, default, people, detector), capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{clip}: gst-launch-1.0 failed: {run.stderr.strip()[-500:]}")
        merged, own = alerts(run.stdout)
        with_alert += bool(merged)
        total += len(merged)
        for who, n in own.items():
            starts[who] = starts.get(who, 0) + n
        print(f"{clip}: {len(merged)} alerts {own}", file=sys.stderr)
    print(f"{len(clips)} clips, {with_alert} with an alert, {total} alerts (either); starts per classifier {starts}")


if __name__ == "__main__":
    main()
