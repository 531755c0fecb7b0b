// SPDX-License-Identifier: MPL-2.0

//! The manifests of footage found in public repositories (models/negatives: ordinary footage,
//! models/fights: held-out fights) are what `cut_extra.py` rebuilds the clips from and what
//! `evaluate` reads: each row must name its source and both checksums, say how it was cut, and
//! never list footage kept for independent checks (`EXCLUDED.sha256`).

mod common;
use common::*;
use gstviolence_tools::manifest;
use std::collections::{HashMap, HashSet};
use std::path::Path;

const REQUIRED: [&str; 8] = [
    "path",
    "split",
    "source_repo",
    "source_commit",
    "source_path",
    "sha256",
    "kept_sha256",
    "cut",
];

/// `digits` hexadecimal digits: a sha256 (64) or a git commit (40).
fn is_hex(s: &str, digits: usize) -> bool {
    s.len() == digits && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks one manifest's rows; returns them as (column, value) maps.
fn check(file: &Path, excluded: &HashSet<String>) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    for column in REQUIRED {
        assert!(
            header.contains(&column),
            "{}: no `{column}` column",
            file.display()
        );
    }
    let mut rows = Vec::new();
    let mut paths = HashSet::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields.len(),
            header.len(),
            "{}: line {} has {} fields",
            file.display(),
            n + 2,
            fields.len()
        );
        let row: HashMap<String, String> = header
            .iter()
            .zip(&fields)
            .map(|(h, f)| (h.to_string(), f.to_string()))
            .collect();
        let path = &row["path"];
        assert!(
            paths.insert(path.clone()),
            "{}: {path} listed twice",
            file.display()
        );
        for column in ["sha256", "kept_sha256"] {
            let digest = row[column].to_lowercase();
            assert!(
                is_hex(&digest, 64),
                "{}: {path}: {column} is not a sha256",
                file.display()
            );
            assert!(
                !excluded.contains(&digest),
                "{}: {path} is footage kept for independent checks ({column} in EXCLUDED.sha256)",
                file.display()
            );
        }
        let commit = &row["source_commit"];
        assert!(
            is_hex(commit, 40),
            "{}: {path}: source_commit {commit:?} is not a git commit",
            file.display()
        );
        let cut = &row["cut"];
        assert!(
            cut == "-"
                || (cut.starts_with("ffmpeg ") && cut.contains("{raw}") && cut.contains("{out}")),
            "{}: {path}: cut is `-` or an ffmpeg command from {{raw}} to {{out}}, not {cut:?}",
            file.display()
        );
        rows.push(row);
    }
    assert!(!rows.is_empty(), "{}: no rows", file.display());
    rows
}

#[test]
fn footage_manifests_name_their_sources_and_keep_excluded_footage_out() {
    let data = shared_data("EXCLUDED.sha256");
    let excluded: HashSet<String> = std::fs::read_to_string(data.join("EXCLUDED.sha256"))
        .expect("EXCLUDED.sha256")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_lowercase)
        .collect();
    assert!(
        excluded.len() > 100,
        "EXCLUDED.sha256 holds {} checksums",
        excluded.len()
    );
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");

    let negatives = check(&models.join("negatives/MANIFEST.tsv"), &excluded);
    assert!(negatives
        .iter()
        .all(|r| r["split"] == "train" || r["split"] == "val"));

    let fights = check(&models.join("fights/MANIFEST.tsv"), &excluded);
    let labels: HashSet<&str> = fights.iter().map(|r| r["label"].as_str()).collect();
    assert_eq!(labels, HashSet::from(["fight", "nofight"]));
    // Held out: never trained or tuned on, so every row is val and evaluate reads them so.
    assert!(fights.iter().all(|r| r["split"] == "val"));
    let rows =
        manifest::read(&models.join("fights"), "val").expect("evaluate reads the fights manifest");
    assert_eq!(rows.len(), fights.len());
    assert!(rows
        .iter()
        .all(|r| r.dataset == "ghfights" && r.duration_s.is_some_and(|d| d >= 2.0)));
}

fn sha256_of(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// Runs `python -m MODULE ARGS` from the repository root; (success, stderr).
fn python_module(module: &str, args: &[&Path]) -> (bool, String) {
    let out = std::process::Command::new(python())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-m", module])
        .args(args)
        .output()
        .expect("run the venv's python (run `make test`, which sets it up)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// x264's bytes depend on its build and the CPU: a clip cut_extra.py cuts from the verified
/// published source with other bytes than `kept_sha256` is recorded beside the clips, and
/// build_mix.py takes it; a clip changed afterwards, or listed in EXCLUDED.sha256, is refused.
#[test]
fn a_cut_with_other_encoder_bytes_is_recorded_and_a_changed_clip_is_refused() {
    let work = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/cut-extra-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let (sources, out, data) = (work.join("sources"), work.join("out"), work.join("data"));
    for dir in [
        sources.join("owner/repo"),
        data.join("violence"),
        data.join("normal-cctv"),
    ] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let source = sources.join("owner/repo/walk.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .args(["testsrc=size=64x48:rate=10", "-t", "1", "-c:v", "libx264"])
        .arg(&source)
        .status()
        .expect("ffmpeg (make setup installs it)");
    assert!(made.success());
    let manifest = work.join("MANIFEST.tsv");
    std::fs::write(
        &manifest,
        format!(
            "path\tsplit\tduration_s\tsource_repo\tsource_commit\tsource_path\tsha256\tkept_sha256\tcut\n\
             walk.mp4\ttrain\t1.0\towner/repo\t{}\twalk.mp4\t{}\t{}\tffmpeg -i {{raw}} -an -c:v libx264 {{out}}\n",
            "0".repeat(40),
            sha256_of(&source),
            // What another machine's x264 made: never these bytes here.
            "a".repeat(64),
        ),
    )
    .unwrap();
    std::fs::write(data.join("EXCLUDED.sha256"), "").unwrap();
    std::fs::write(
        data.join("violence/MANIFEST.tsv"),
        "path\tlabel\tdataset\tsplit\tduration_s\n",
    )
    .unwrap();
    std::fs::write(
        data.join("normal-cctv/MANIFEST.tsv"),
        "path\tsplit\tduration_s\n",
    )
    .unwrap();

    let cut = ["--manifest", "--data"].map(Path::new);
    let (ok, stderr) = python_module(
        "models.negatives.cut_extra",
        &[&sources, &out, cut[0], &manifest, cut[1], &data],
    );
    assert!(ok, "cut_extra failed: {stderr}");
    let clip = out.join("walk.mp4");
    let digest = sha256_of(&clip);
    let recorded = std::fs::read_to_string(out.join("LOCAL_CUTS.tsv")).unwrap();
    assert_eq!(recorded, format!("path\tsha256\nwalk.mp4\t{digest}\n"));

    let mix = work.join("mix");
    let build = || {
        let flags = ["--data", "--extra", "--extra-manifest"].map(Path::new);
        let args = [&mix, flags[0], &data, flags[1], &out, flags[2], &manifest];
        python_module("models.negatives.build_mix", &args)
    };
    let (ok, stderr) = build();
    assert!(ok, "build_mix refused the recorded cut: {stderr}");
    let rows = std::fs::read_to_string(mix.join("MANIFEST.tsv")).unwrap();
    assert!(
        rows.lines()
            .any(|l| l.contains("walk.mp4") && l.contains("\textra\ttrain\t")),
        "{rows}"
    );

    // Excluded footage stays out even when cut here.
    std::fs::write(
        data.join("EXCLUDED.sha256"),
        format!("{digest}  walk.mp4\n"),
    )
    .unwrap();
    let (ok, stderr) = build();
    assert!(!ok && stderr.contains("EXCLUDED.sha256"), "{stderr}");
    std::fs::write(data.join("EXCLUDED.sha256"), "").unwrap();

    // A byte changed after the cut: neither checksum matches.
    let mut bytes = std::fs::read(&clip).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&clip, bytes).unwrap();
    let (ok, stderr) = build();
    assert!(
        !ok && stderr.contains("walk.mp4") && stderr.contains("LOCAL_CUTS.tsv"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&work);
}
