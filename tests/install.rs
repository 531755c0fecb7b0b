// SPDX-License-Identifier: MPL-2.0

//! `make install`, `make uninstall` and `make deb` (scripts/install.sh), staged under a
//! temporary DESTDIR: the installed plugin loads libtorch from its own folder, finds its
//! models without a path or a variable, and uninstall removes exactly what install wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// None (with a note) when the release plugin the scripts install is not built.
fn built_plugin() -> Option<PathBuf> {
    let plugin = root().join("target/release/libgstviolence.so");
    if plugin.exists() {
        Some(plugin)
    } else {
        eprintln!("SKIPPED: installs target/release/libgstviolence.so (make build)");
        None
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target/tmp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn install_script(action: &str, destdir: &Path) -> (bool, String) {
    let out = Command::new("bash")
        .arg(root().join("scripts/install.sh"))
        .arg(action)
        .env("PREFIX", "/usr")
        .env("DESTDIR", destdir)
        .env_remove("LIBTORCH")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn multiarch() -> String {
    let out = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn tool_output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GStreamer's own plugin folder (videotestsrc and the rest).
fn system_plugin_dir() -> String {
    tool_output("pkg-config", &["--variable=pluginsdir", "gstreamer-1.0"])
        .trim()
        .to_string()
}

/// gst-launch-1.0 in an environment as bare as a new login's: no GST_PLUGIN_PATH of the
/// build tree, no model variables. The staged plugin folder joins the system folders, as if
/// it were one. Returns success and the element logs.
fn launch_installed(plugin_dir: &Path, scratch: &Path) -> (bool, String) {
    let line = "videotestsrc num-buffers=64 ! videoconvert ! persondetect ! clipbuffer \
                ! violenceclassify ! fakesink";
    let out = Command::new("gst-launch-1.0")
        .args(line.split(' '))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", scratch)
        .env("GST_REGISTRY", scratch.join("registry.bin"))
        .env(
            "GST_PLUGIN_SYSTEM_PATH_1_0",
            format!("{}:{}", plugin_dir.display(), system_plugin_dir()),
        )
        .env("GST_DEBUG", "violenceclassify:4,persondetect:4")
        .env("GST_DEBUG_NO_COLOR", "1")
        .current_dir(scratch)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a staged `/usr` must hold for the plugin to run from it with nothing else.
fn check_staged_usr(stage: &Path, scratch: &Path) {
    let triplet = multiarch();
    let usr = stage.join("usr");
    let plugin = usr.join(format!("lib/{triplet}/gstreamer-1.0/libgstviolence.so"));
    let dynamic = tool_output("readelf", &["-d", plugin.to_str().unwrap()]);
    assert!(
        dynamic.contains("[$ORIGIN/../gst-violence]") && !dynamic.contains("libtorch_cuda"),
        "the installed plugin loads the bundled CPU runtime:\n{dynamic}"
    );
    let ldd = tool_output("ldd", &[plugin.to_str().unwrap()]);
    let libtorch = ldd
        .lines()
        .find(|l| l.contains("libtorch_cpu.so"))
        .unwrap_or_else(|| panic!("{ldd}"));
    assert!(
        libtorch.contains(stage.to_str().unwrap()) && !ldd.contains("not found"),
        "libtorch from the install, every library found:\n{ldd}"
    );

    // Merged /usr, as on Debian 12: GStreamer loads the plugin through /lib.
    std::os::unix::fs::symlink("usr/lib", stage.join("lib")).unwrap();
    let via_lib = stage.join(format!("lib/{triplet}/gstreamer-1.0"));
    let (ok, log) = launch_installed(&via_lib, scratch);
    assert!(ok, "{log}");
    let models = usr.join("share/gst-violence/models");
    assert!(
        log.contains(&format!(
            "the bundled model {}",
            models.join("default.pt").display()
        )),
        "the installed default.pt, not the source tree's:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "person model {} loaded",
            models.join("people.pt").display()
        )),
        "{log}"
    );
    std::fs::remove_file(stage.join("lib")).unwrap();

    // The calibrate tool starts (its usage) with the same runtime.
    let out = Command::new(usr.join("bin/gst-violence-calibrate"))
        .env_clear()
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase().contains("usage") && !err.contains("shared libraries"),
        "{err}"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn install_runs_from_its_prefix_and_uninstall_removes_exactly_what_it_installed() {
    if built_plugin().is_none() {
        return;
    }
    let scratch = scratch("install");
    let stage = scratch.join("root");
    // Something of the user's in the prefix, which uninstall must leave alone.
    let theirs = stage.join("usr/share/theirs.txt");
    std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
    std::fs::write(&theirs, b"keep").unwrap();

    let (ok, log) = install_script("install", &stage);
    assert!(ok, "{log}");
    check_staged_usr(&stage, &scratch);
    let manifest = stage.join("usr/share/gst-violence/installed-files");
    let listed = std::fs::read_to_string(&manifest).unwrap();
    let installed = files_under(&stage);
    for file in &installed {
        let inside = file.strip_prefix(&stage).unwrap();
        if file != &theirs {
            assert!(
                listed.contains(&format!("file /{}\n", inside.display())),
                "{} is not in the list",
                inside.display()
            );
        }
    }

    let (ok, log) = install_script("install", &stage);
    assert!(!ok && log.contains("make uninstall first"), "{log}");

    let (ok, log) = install_script("uninstall", &stage);
    assert!(ok, "{log}");
    assert_eq!(files_under(&stage), vec![theirs]);
    assert_eq!(
        std::fs::read_dir(&stage).unwrap().count(),
        1,
        "only the user's usr/ is left"
    );
    let (ok, log) = install_script("uninstall", &stage);
    assert!(!ok && log.contains("nothing installed"), "{log}");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn deb_holds_the_plugin_runtime_and_models_and_declares_gstreamer() {
    if built_plugin().is_none() {
        return;
    }
    let scratch = scratch("deb");
    let out = Command::new("bash")
        .arg(root().join("scripts/install.sh"))
        .arg("deb")
        .env("DEB_DIR", &scratch)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = log
        .lines()
        .find_map(|l| l.strip_prefix("==> dpkg-deb -> "))
        .map(|p| PathBuf::from(p.trim()))
        .unwrap_or_else(|| panic!("{log}"));

    let control = tool_output("dpkg-deb", &["--field", deb.to_str().unwrap()]);
    for wanted in [
        "Package: gst-violence",
        "libgstreamer1.0-0 (>= 1.22)",
        "gstreamer1.0-plugins-good",
    ] {
        assert!(control.contains(wanted), "{wanted}:\n{control}");
    }
    let listing = tool_output("dpkg-deb", &["--contents", deb.to_str().unwrap()]);
    assert!(
        !listing.contains("installed-files")
            && listing.contains("usr/share/doc/gst-violence/copyright"),
        "{listing}"
    );

    // What dpkg -i would unpack, run from where it lands.
    let stage = scratch.join("root");
    let status = Command::new("dpkg-deb")
        .args(["-x", deb.to_str().unwrap(), stage.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    check_staged_usr(&stage, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
}
