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
    let file = dir.join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty manifest")?.split('\t').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(path), Some(label)) = (col("path"), col("label")) else {
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
            label: get(Some(label), ""),
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
}
