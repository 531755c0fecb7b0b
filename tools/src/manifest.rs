// SPDX-License-Identifier: MPL-2.0

//! `MANIFEST.tsv` reading shared by the extraction and evaluation tools: a header line
//! naming the columns (at least `path` and `label`; `dataset`, `split` and `duration_s` are
//! optional),
//! then one tab-separated row per clip, paths relative to the manifest's folder (or
//! absolute).
//!
//! Without a `dataset` column every row belongs to one dataset named after the manifest's
//! folder (`all` when it has no name). Without a `split` column there is nothing to choose
//! from: every row is kept whatever split is asked for, and `Row::split` is `all`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Row {
    pub path: String,
    pub label: String,
    pub dataset: String,
    pub split: String,
    /// The optional `duration_s` column.
    pub duration_s: Option<f64>,
}

impl Row {
    /// Labels that mean violent: `fight`, `violent`, `violence`, `1` (case-insensitive).
    pub fn violent(&self) -> bool {
        matches!(
            self.label.to_ascii_lowercase().as_str(),
            "fight" | "violent" | "violence" | "1" | "true" | "yes"
        )
    }

    pub fn uri(&self, dir: &Path) -> Result<String, String> {
        let file: PathBuf = dir.join(&self.path);
        let file = std::fs::canonicalize(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        gst::glib::filename_to_uri(&file, None)
            .map(|u| u.to_string())
            .map_err(|e| format!("{}: {e}", file.display()))
    }
}

/// Reads `dir/MANIFEST.tsv`; `split` keeps the rows of that split (`all` keeps every row;
/// a manifest without a `split` column keeps every row).
pub fn read(dir: &Path, split: &str) -> Result<Vec<Row>, String> {
    parse(dir, split, None)
}

/// The label of footage known to hold no violence (`read_normal`).
pub const NORMAL_LABEL: &str = "normal";

/// Reads the manifest of a folder of ordinary footage (no fights), such as
/// `normal-cctv`: the `label` column may be left out (every row is then labelled
/// `normal`); a row labelled violent is an error, since every event in this footage is a
/// false alarm.
pub fn read_normal(dir: &Path, split: &str) -> Result<Vec<Row>, String> {
    let rows = parse(dir, split, Some(NORMAL_LABEL))?;
    match rows.iter().find(|r| r.violent()) {
        Some(r) => Err(format!(
            "{}: {} is labelled {}, but this folder is read as footage without violence",
            dir.join("MANIFEST.tsv").display(),
            r.path,
            r.label
        )),
        None => Ok(rows),
    }
}

/// `default_label`: the label of every row when the manifest has no `label` column (`None`:
/// the column is required).
fn parse(dir: &Path, split: &str, default_label: Option<&str>) -> Result<Vec<Row>, String> {
    let file = dir.join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty manifest")?.split('\t').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let label = col("label");
    let Some(path) = col("path").filter(|_| label.is_some() || default_label.is_some()) else {
        return Err(format!(
            "{}: the header needs `path` and `label` columns",
            file.display()
        ));
    };
    let (dataset, split_col, duration) = (col("dataset"), col("split"), col("duration_s"));
    let default_dataset = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "all".to_string());
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: Option<usize>, default: &str| {
            i.and_then(|i| f.get(i))
                .map_or(default.to_string(), |s| s.trim().to_string())
        };
        let row = Row {
            path: f
                .get(path)
                .ok_or(format!("{}: line {} has no path", file.display(), n + 2))?
                .to_string(),
            label: get(label, default_label.unwrap_or_default()),
            dataset: get(dataset, &default_dataset),
            split: get(split_col, "all"),
            duration_s: get(duration, "").parse().ok(),
        };
        if split == "all" || split_col.is_none() || row.split == split {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The first `n` rows of each (dataset, label, split) asked for, in manifest order: a small,
/// fixed sample of clips.
pub fn first_of_each(rows: &[Row], wanted: &[(&str, &str, &str, usize)]) -> Vec<Row> {
    let mut chosen = Vec::new();
    for &(dataset, label, split, n) in wanted {
        chosen.extend(
            rows.iter()
                .filter(|r| r.dataset == dataset && r.label == label && r.split == split)
                .take(n)
                .cloned(),
        );
    }
    chosen
}

#[cfg(test)]
mod manifest_tests {
    use super::*;

    fn manifest_in(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("MANIFEST.tsv"), text).unwrap();
        dir
    }

    #[test]
    fn without_split_or_dataset_columns_every_row_is_kept() {
        let dir = manifest_in(
            "manifest-min",
            "path\tlabel\na.mp4\tfight\nb.mp4\tnofight\n",
        );
        let rows = read(&dir, "val").unwrap();
        assert_eq!(rows.len(), 2);
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(rows.iter().all(|r| r.dataset == folder && r.split == "all"));
        assert!(rows[0].violent() && !rows[1].violent());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn with_a_split_column_only_that_split_is_kept() {
        let dir = manifest_in(
            "manifest-split",
            "path\tlabel\tdataset\tsplit\na.mp4\tfight\td\tval\nb.mp4\tnofight\td\ttrain\n",
        );
        let rows = read(&dir, "val").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].path.as_str(), rows[0].dataset.as_str()),
            ("a.mp4", "d")
        );
        assert_eq!(read(&dir, "all").unwrap().len(), 2);
        assert!(read(&dir.join("missing"), "all").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn normal_footage_needs_no_label_and_refuses_fights() {
        let dir = manifest_in(
            "manifest-normal",
            "path\tsplit\tduration_s\na.mp4\tval\t12.5\nb.mp4\ttrain\t3\n",
        );
        assert!(
            read(&dir, "val").is_err(),
            "fight manifests keep needing labels"
        );
        let rows = read_normal(&dir, "val").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].label.as_str(), rows[0].duration_s),
            (NORMAL_LABEL, Some(12.5))
        );
        assert!(!rows[0].violent());
        std::fs::write(
            dir.join("MANIFEST.tsv"),
            "path\tlabel\na.mp4\tnofight\nb.mp4\tfight\n",
        )
        .unwrap();
        let err = read_normal(&dir, "all").unwrap_err();
        assert!(err.contains("b.mp4") && err.contains("fight"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
