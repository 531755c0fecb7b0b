// SPDX-License-Identifier: MPL-2.0

//! Where a model is found when `model-location` is not set: an environment variable, then
//! the data folder of an installed plugin, then the source tree the plugin was built from.
//! An element without a model then still works, and the error names every place looked in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The bundled violence model.
pub const DEFAULT_MODEL: Bundled = Bundled {
    file: "default.pt",
    env: "GST_VIOLENCE_MODEL",
};

/// persondetect's bundled person detector.
pub const PEOPLE_MODEL: Bundled = Bundled {
    file: "people.pt",
    env: "GST_VIOLENCE_PEOPLE_MODEL",
};

/// Folder of the installed models, below an installation prefix.
pub const DATA_FOLDER: &str = "share/gst-violence/models";

/// A model the plugin ships.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    pub file: &'static str,
    /// Environment variable that names the file instead.
    pub env: &'static str,
}

static PLUGIN_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Remembers where the plugin was loaded from (at plugin init), to find its data folder.
/// The path is resolved first: on merged-/usr systems GStreamer loads the plugin as
/// `/lib/<triplet>/gstreamer-1.0/...`, a symlink, and `/share` is not where the data went.
pub fn set_plugin_file(path: PathBuf) {
    let _ = PLUGIN_FILE.set(std::fs::canonicalize(&path).unwrap_or(path));
}

/// The places to look, in order: the environment variable's file (when set), the data
/// folder of each prefix above the plugin file (an installed plugin sits in
/// `<prefix>/lib/<triplet>/gstreamer-1.0/`), and the source tree's `models/`.
pub fn candidates(
    model: Bundled,
    env_value: Option<&str>,
    plugin_file: Option<&Path>,
    source_tree: &Path,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(v) = env_value.filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(v));
    }
    if let Some(plugin) = plugin_file {
        // lib/gstreamer-1.0 or lib/<triplet>/gstreamer-1.0: the prefix is 2 or 3 levels up.
        for prefix in plugin.ancestors().skip(2).take(3) {
            out.push(prefix.join(DATA_FOLDER).join(model.file));
        }
    }
    out.push(source_tree.join("models").join(model.file));
    out
}

/// The first of the candidates that exists, or an error that names them all.
pub fn first_existing(model: Bundled, candidates: &[PathBuf]) -> Result<PathBuf, String> {
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!(
                "model-location is not set and the bundled {} was not found: looked in {} \
                 (set model-location, or {} to its path)",
                model.file,
                looked.join(", "),
                model.env
            )
        })
}

/// The bundled `model` for this process: see `candidates`.
pub fn locate(model: Bundled) -> Result<PathBuf, String> {
    let env_value = std::env::var(model.env).ok();
    let found = candidates(
        model,
        env_value.as_deref(),
        PLUGIN_FILE.get().map(PathBuf::as_path),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    first_existing(model, &found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_go_from_the_environment_to_the_install_to_the_source_tree() {
        let c = candidates(
            DEFAULT_MODEL,
            Some("/my/model.pt"),
            Some(Path::new(
                "/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstviolence.so",
            )),
            Path::new("/src/gst-violence"),
        );
        let c: Vec<String> = c.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            c,
            [
                "/my/model.pt",
                "/usr/lib/x86_64-linux-gnu/share/gst-violence/models/default.pt",
                "/usr/lib/share/gst-violence/models/default.pt",
                "/usr/share/gst-violence/models/default.pt",
                "/src/gst-violence/models/default.pt",
            ]
        );
        let c = candidates(PEOPLE_MODEL, Some(""), None, Path::new("/src"));
        assert_eq!(c, [PathBuf::from("/src/models/people.pt")]);
    }

    #[test]
    fn the_error_names_every_place_looked_in() {
        let places = [PathBuf::from("/nope/a.pt"), PathBuf::from("/nope/b.pt")];
        let e = first_existing(PEOPLE_MODEL, &places).unwrap_err();
        assert!(
            e.contains("/nope/a.pt, /nope/b.pt") && e.contains("GST_VIOLENCE_PEOPLE_MODEL"),
            "{e}"
        );
        let here = std::env::temp_dir().join(format!("locate-{}.pt", std::process::id()));
        std::fs::write(&here, b"x").unwrap();
        let places = [PathBuf::from("/nope/a.pt"), here.clone()];
        assert_eq!(first_existing(PEOPLE_MODEL, &places), Ok(here.clone()));
        let _ = std::fs::remove_file(here);
    }
}
