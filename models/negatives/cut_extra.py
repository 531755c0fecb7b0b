#!/usr/bin/env python3
"""Rebuild footage found in public repositories from its published files: the extra ordinary
footage of models/negatives/MANIFEST.tsv (the default), or the held-out fights of
models/fights/MANIFEST.tsv (`--manifest`).

    python3 -m models.negatives.cut_extra SOURCES_DIR OUT_DIR [--manifest FILE] [--data DIR]

SOURCES_DIR holds the published files at SOURCES_DIR/<source_repo>/<source_path> (a checkout
of each listed repository at its commit, or just those files; a UCSD sequence is its folder
of JPEG frames). Each source is checked against the manifest's `sha256` (of its bytes; of its
frame files concatenated in name order for a folder), then copied (`cut` is `-`) or cut with
the manifest's `cut` command, and the result checked against `kept_sha256`. The cuts are
ffmpeg with libx264, whose bytes depend on the x264 build and on the CPU it runs on (on a
2-core AMD EPYC under Debian 12 no thread count reproduces the listed bytes): a cut from a
verified source whose bytes differ is kept and recorded, with its own sha256, in
OUT_DIR/LOCAL_CUTS.tsv, which build_mix.py accepts beside `kept_sha256`. Sources and clips
listed in DATA/EXCLUDED.sha256 (footage kept for independent checks) are refused. OUT_DIR gets
the manifest too, so that `make eval NORMAL=OUT_DIR` and `make train-cascade EXTRA=OUT_DIR`
(the extra footage) or `make eval DATA=OUT_DIR SPLIT=val NORMAL=` (the fights) take it as it
is.
"""

import argparse
import hashlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from models.negatives.build_mix import HERE, LOCAL_CUTS, excluded_hashes, local_cuts, read_tsv, sha256


def source_hash(path: Path) -> str:
    if path.is_dir():
        h = hashlib.sha256()
        for frame in sorted(path.iterdir()):
            h.update(frame.read_bytes())
        return h.hexdigest()
    return sha256(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--manifest", type=Path, default=HERE / "MANIFEST.tsv")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="holds EXCLUDED.sha256")
    args = ap.parse_args()
    excluded = excluded_hashes(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = 0
    # Cuts made here from verified sources whose bytes differ from kept_sha256: path -> sha256.
    recorded = local_cuts(args.out)
    for row in read_tsv(args.manifest):
        if excluded & {row["sha256"].lower(), row["kept_sha256"].lower()}:
            print(f"{row['path']}: listed in EXCLUDED.sha256 (kept for independent checks): refused", file=sys.stderr)
            problems += 1
            continue
        out = args.out / row["path"]
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists() and sha256(out) in {row["kept_sha256"], recorded.get(row["path"])}:
            continue
        recorded.pop(row["path"], None)
        source = args.sources / row["source_repo"] / row["source_path"].split(" (")[0].rstrip("/")
        if not source.exists():
            print(f"{row['path']}: {source} not found", file=sys.stderr)
            problems += 1
            continue
        if source_hash(source) != row["sha256"]:
            print(f"{row['path']}: {source} is not the published version (sha256 differs)", file=sys.stderr)
            problems += 1
            continue
        if row["cut"] == "-":
            shutil.copyfile(source, out)
        else:
            command = [part.format(raw=str(source), out=str(out)) for part in shlex.split(row["cut"])]
            subprocess.run(command[:1] + ["-v", "error", "-y"] + command[1:], check=True)
        digest = sha256(out)
        if digest in excluded:
            out.unlink()
            print(f"{row['path']}: the cut is listed in EXCLUDED.sha256: refused and removed", file=sys.stderr)
            problems += 1
        elif digest != row["kept_sha256"]:
            # The same footage cut the same way from the verified source; only the encoder's
            # bytes differ. Recorded, so that build_mix.py still notices any later change.
            recorded[row["path"]] = digest
            print(f"{row['path']}: cut from the verified source; its bytes differ from kept_sha256 "
                  f"(this x264 build or CPU): recorded in {LOCAL_CUTS}", file=sys.stderr)
    with open(args.out / LOCAL_CUTS, "w") as f:
        f.write("path\tsha256\n")
        for path, digest in sorted(recorded.items()):
            f.write(f"{path}\t{digest}\n")
    # The manifest beside the clips: `make eval NORMAL=OUT_DIR` (ordinary) or DATA=OUT_DIR (fights) reads it.
    shutil.copyfile(args.manifest, args.out / "MANIFEST.tsv")
    local = f", {len(recorded)} of them cut here with other bytes ({LOCAL_CUTS})" if recorded else ""
    print(f"{args.out}: {'all clips as listed' + local if problems == 0 else f'{problems} clips missing or refused'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
