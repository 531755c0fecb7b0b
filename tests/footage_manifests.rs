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
