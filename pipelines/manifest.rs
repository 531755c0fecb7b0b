//! `MANIFEST.tsv` reading shared by the extraction and evaluation tools: a header line
//! naming the columns (at least `path` and `label`; `dataset`, `split` and `duration_s` are
//! optional),
//! then one tab-separated row per clip, paths relative to the manifest's folder.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Row {
    pub path: String,
    pub label: String,
    pub dataset: String,
    pub split: String,
    /// The optional `duration_s` column.
    #[allow(dead_code)] // the tools do not need it; the tests pick clips by it
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

/// Reads `dir/MANIFEST.tsv`; `split` keeps the rows of that split (`all` keeps every row).
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
            dataset: get(dataset, "all"),
            split: get(split_col, "all"),
            duration_s: get(duration, "").parse().ok(),
        };
        if split == "all" || row.split == split {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The first `n` rows of each (dataset, label, split) asked for, in manifest order: a small,
/// fixed sample of clips.
#[allow(dead_code)] // the tools read whole splits; the tests take samples
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
