#!/usr/bin/env python3
"""Build the training manifest of the default model: the fight datasets, the continuous
ordinary footage of normal-cctv, and the extra ordinary footage listed in
models/negatives/MANIFEST.tsv, as one MANIFEST.tsv of absolute paths for extract-clips.

    python3 -m models.negatives.build_mix OUT_DIR [--data ../shared/data]
        [--extra FOLDER_WITH_THE_EXTRA_CLIPS]

Footage kept for independent checks must never enter training: every file of normal-cctv
and of the extra folder is hashed (sha256 of its bytes) and refused when its hash is listed
in DATA/EXCLUDED.sha256. The extra files must also be the ones the manifest lists (its
`kept_sha256`, or the sha256 that cut_extra.py recorded in EXTRA/LOCAL_CUTS.tsv when it cut the
clip here from the verified published source with other encoder bytes), so that a re-encode, an
edit or a different download is noticed. The extra clips are
not in the repository (their licences are mostly unstated): the manifest gives each one's
public source (repository, commit, path, sha256 of the published bytes) and how it was cut.

Datasets in the output: `hockey`, `scf` (from DATA/violence), `cctv` (normal-cctv, label
nofight) and `extra` (label nofight); splits as given.
"""

import argparse
import csv
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_tsv(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# Written by cut_extra.py beside the clips: the sha256 of each clip it cut from a verified
# source whose bytes differ from the manifest's kept_sha256 (x264's output depends on the build
# and the CPU).
LOCAL_CUTS = "LOCAL_CUTS.tsv"


def local_cuts(folder: Path) -> dict:
    """path -> sha256 of the clips cut_extra.py recorded in FOLDER/LOCAL_CUTS.tsv."""
    file = folder / LOCAL_CUTS
    return {r["path"]: r["sha256"].lower() for r in read_tsv(file)} if file.exists() else {}


def excluded_hashes(data: Path) -> set:
    file = data / "EXCLUDED.sha256"
    if not file.exists():
        sys.exit(f"{file} is missing: without it no footage can be checked, so none is used")
    return {line.split()[0].lower() for line in file.read_text().splitlines() if line.strip()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--extra", type=Path, help="folder holding the clips of models/negatives/MANIFEST.tsv")
    ap.add_argument("--extra-manifest", type=Path, default=HERE / "MANIFEST.tsv", help="the extra clips' manifest")
    args = ap.parse_args()
    data = args.data.resolve()
    excluded = excluded_hashes(data)
    rows, refused = [], []

    def check(path: Path, expected: tuple = ()) -> bool:
        digest = sha256(path)
        if digest in excluded:
            refused.append(f"{path}: listed in EXCLUDED.sha256 (footage kept for independent checks)")
            return False
        if expected and digest not in expected:
            refused.append(f"{path}: sha256 {digest}, the manifest lists {expected[0]}"
                           + (f" and {LOCAL_CUTS} {expected[1]}" if len(expected) > 1 else ""))
            return False
        return True

    for r in read_tsv(data / "violence" / "MANIFEST.tsv"):
        rows.append((data / "violence" / r["path"], r["label"], r["dataset"], r["split"], r["duration_s"]))
    for r in read_tsv(data / "normal-cctv" / "MANIFEST.tsv"):
        path = data / "normal-cctv" / r["path"]
        if check(path):
            rows.append((path, "nofight", "cctv", r["split"], r["duration_s"]))
    if args.extra:
        recorded = local_cuts(args.extra)
        for r in read_tsv(args.extra_manifest):
            path = args.extra.resolve() / r["path"]
            expected = (r["kept_sha256"],) + ((recorded[r["path"]],) if r["path"] in recorded else ())
            if not path.exists():
                refused.append(f"{path}: missing (source: {r['source_repo']}@{r['source_commit']}:{r['source_path']})")
            elif check(path, expected):
                rows.append((path, "nofight", "extra", r["split"], r["duration_s"]))
    if refused:
        sys.exit("refused:\n  " + "\n  ".join(refused))
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "MANIFEST.tsv", "w") as f:
        f.write("path\tlabel\tdataset\tsplit\tduration_s\n")
        for row in rows:
            f.write("\t".join(str(v) for v in row) + "\n")
    counts = {}
    for _, _, dataset, split, _ in rows:
        counts[(dataset, split)] = counts.get((dataset, split), 0) + 1
    print(f"{args.out / 'MANIFEST.tsv'}: {len(rows)} clips, every normal file checked against "
          f"{len(excluded)} excluded checksums: " + ", ".join(f"{d}/{s} {n}" for (d, s), n in sorted(counts.items())))


if __name__ == "__main__":
    main()
