"""Merge extract-clips folders (and their feature folders) into one, for train_head.py, without
copying frames: the merged folders hold links.

    python3 -m models.pose.merge_extractions OUT_CLIPS OUT_FEATURES \
        CLIPS:FEATURES[:SUFFIX] [CLIPS:FEATURES[:SUFFIX] ...]

Each source's clips get new ids (`<source index>-<id>`); with SUFFIX its datasets are renamed
`<dataset><SUFFIX>` (e.g. `far`: the distant-camera renders of the train clips become
`hockeyfar` and `scffar`, groups of their own for the head's weights). The sources must share
clip length, frame step, size and inputs.
"""

import json
import os
import sys
from pathlib import Path

SHARED = ("clip_length", "frame_step", "size", "inputs", "people_crop")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out_clips, out_features = Path(sys.argv[1]), Path(sys.argv[2])
    (out_clips / "frames").mkdir(parents=True, exist_ok=True)
    out_features.mkdir(parents=True, exist_ok=True)
    config, rows, header = None, [], None
    for n, spec in enumerate(sys.argv[3:]):
        clips, features, *suffix = spec.split(":")
        clips, features, suffix = Path(clips).resolve(), Path(features).resolve(), (suffix or [""])[0]
        cfg = json.loads((clips / "config.json").read_text())
        if config is None:
            config = dict(cfg, source=[])
        elif any(cfg.get(k) != config.get(k) for k in SHARED):
            sys.exit(f"{clips}: {({k: cfg.get(k) for k in SHARED})} differs from the first source's")
        config["source"].append(str(clips))
        lines = (clips / "index.tsv").read_text().splitlines()
        header = lines[0].split("\t")
        for line in lines[1:]:
            row = dict(zip(header, line.split("\t")))
            old = row["id"]
            row["id"] = f"{n}-{old}"
            row["dataset"] += suffix
            for folder, new_folder, ext in ((clips / "frames", out_clips / "frames", (".u8", ".idx", ".flow")),
                                            (features, out_features, (".npy", ".cheap.npy"))):
                for e in ext:
                    src, dst = folder / f"{old}{e}", new_folder / f"{row['id']}{e}"
                    if src.exists() and not dst.exists():
                        os.symlink(src, dst)
            rows.append("\t".join(row[h] for h in header))
    (out_clips / "index.tsv").write_text("\t".join(header) + "\n" + "\n".join(rows) + "\n")
    (out_clips / "config.json").write_text(json.dumps(config))
    print(f"merged {len(rows)} clips into {out_clips} (features {out_features})")


if __name__ == "__main__":
    main()
