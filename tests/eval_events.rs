// SPDX-License-Identifier: MPL-2.0

//! The event-level figures of `make eval`: the evaluate example, built by
//! `cargo test` next to the test binaries, runs the real pipelines on a few real clips of
//! ../shared/data/violence listed in a temporary manifest without `split` and `dataset`
//! columns (3 normal clips of different sizes and frame rates, played as one stream, and 2
//! fight clips), and metrics.json must hold sane event figures beside the clip metrics.
//! The pure arithmetic (Poisson bound, medians) is unit-tested in the included modules.
//! `cargo test` builds the examples; `cargo test --test eval_events` alone does not, so
//! run `cargo build --release --examples` before it.

mod common;
use gstviolence_tools::{event_metrics, manifest};

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/eval_events-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing (cargo test builds the examples; alone, run cargo build --release --examples first)",
        path.display()
    );
    path
}

/// Runs the evaluate example with `args`; it must succeed. Returns its standard output.
fn evaluate(args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(example("evaluate"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "evaluate failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

#[test]
fn evaluate_reports_false_events_per_hour_recall_and_latency() {
    let data = common::shared_data("the clips of ../shared/data");
    let dir = data.join("violence");
    let rows = manifest::read(&dir, "all").expect("MANIFEST.tsv");
    // scf's normal val clips differ in size and frame rate: the stream must convert them.
    let chosen = manifest::first_of_each(
        &rows,
        &[("scf", "nofight", "val", 3), ("hockey", "fight", "val", 2)],
    );
    assert_eq!(chosen.len(), 5, "the manifest lacks the sample clips");
    let normal_seconds: f64 = chosen
        .iter()
        .filter(|r| !r.violent())
        .map(|r| r.duration_s.expect("duration_s"))
        .sum();

    let work = std::env::temp_dir().join(format!("eval-events-{}", std::process::id()));
    let (sample, out) = (work.join("sample"), work.join("out"));
    std::fs::create_dir_all(&sample).unwrap();
    let mut text = String::from("path\tlabel\n");
    for r in &chosen {
        text += &format!("{}\t{}\n", dir.join(&r.path).display(), r.label);
    }
    std::fs::write(sample.join("MANIFEST.tsv"), text).unwrap();

    let model = format!("{}/models/default.pt", env!("CARGO_MANIFEST_DIR"));
    let stdout = evaluate(&[sample.as_os_str(), model.as_ref(), out.as_os_str()]);
    assert!(stdout.contains("sample events: "), "{stdout}");
    assert!(stdout.contains("false in"), "{stdout}");

    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["split"], "all");
    // Without a dataset column the dataset is the manifest's folder.
    let dataset = &metrics["datasets"]["sample"];
    assert_eq!(dataset["clips"], 5, "{metrics:#}");
    assert_eq!(dataset["errors"], 0, "{metrics:#}");
    assert!(dataset["accuracy"].is_number());

    let normal = &dataset["events"]["normal_stream"];
    assert_eq!(normal["clips"], 3, "{normal:#}");
    assert_eq!(
        normal["errors"].as_array().map(Vec::len),
        Some(0),
        "{normal:#}"
    );
    // Every clip played, once: the footage matches the manifest's durations.
    let seconds = f(&normal["seconds"]);
    assert!(
        (seconds - normal_seconds).abs() < 0.1 * normal_seconds,
        "{seconds} s played, the clips last {normal_seconds} s"
    );
    assert!((f(&normal["hours"]) - seconds / 3600.0).abs() < 1e-9);
    let events = normal["false_events"].as_u64().expect("false_events");
    let hours = seconds / 3600.0;
    assert!((f(&normal["false_events_per_hour"]) - events as f64 / hours).abs() < 1e-6);
    let upper = f(&normal["false_events_per_hour_upper95"]);
    let expected_upper = event_metrics::poisson_upper_bound(events, 0.025) / hours;
    assert!((upper - expected_upper).abs() < 1e-6 * expected_upper);
    assert!(upper > f(&normal["false_events_per_hour"]));

    let fights = &dataset["events"]["fight_clips"];
    assert_eq!(fights["clips"], 2, "{fights:#}");
    let detected = fights["detected"].as_u64().expect("detected");
    assert!(detected <= 2);
    assert!((f(&fights["event_recall"]) - detected as f64 / 2.0).abs() < 1e-9);
    if detected > 0 {
        let (latency, max) = (
            f(&fights["latency_s"]["median"]),
            f(&fights["latency_s"]["max"]),
        );
        // At least one clip window (16 frames, step 2, at 25 fps: 1.2 s), at most the clip.
        assert!(latency > 0.5 && latency <= max && max < 10.0, "{fights:#}");
        assert!(f(&fights["decided_after_clip_start_s"]["median"]) >= latency);
    } else {
        assert!(fights["latency_s"]["median"].is_null());
    }
    // The same events, one row each, in events.tsv.
    let tsv = std::fs::read_to_string(out.join("events.tsv")).unwrap();
    let stream_rows = tsv
        .lines()
        .filter(|l| l.contains("\tnormal-stream\t"))
        .count();
    assert_eq!(stream_rows as u64, events, "{tsv}");
    assert!(metrics["overall"]["events"]["normal_stream"]["false_events"].is_u64());
    // windows.tsv: every window of every clip, which scores.tsv sums up per clip.
    let windows = std::fs::read_to_string(out.join("windows.tsv")).unwrap();
    let scores = std::fs::read_to_string(out.join("scores.tsv")).unwrap();
    for row in scores.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (path, count, max) = (cols[0], cols[4], cols[5]);
        let own: Vec<f64> = windows
            .lines()
            .filter(|l| l.contains("\tclip\t") && l.split('\t').nth(2) == Some(path))
            .map(|l| l.split('\t').nth(6).unwrap().parse().unwrap())
            .collect();
        assert_eq!(own.len().to_string(), count, "{path}: {windows}");
        let top = own.iter().copied().fold(f64::MIN, f64::max);
        assert!((top - max.parse::<f64>().unwrap()).abs() < 1e-3, "{path}");
    }
    assert!(windows.lines().any(|l| l.contains("\tnormal-stream\t")));
    std::fs::remove_dir_all(&work).unwrap();
}

/// Continuous ordinary footage (`--normal`): each clip plays as its own stream, and its
/// false alarms are reported per clip and overall, per hour with the Poisson bound; with
/// `--calibration` each clip learns its first half and is judged on its second half through
/// violenceclassify's calibration. A footage manifest needs no label, and refuses a fight.
#[test]
fn evaluate_reports_false_alarms_per_clip_of_continuous_footage() {
    let data = common::shared_data("the clips of ../shared/data");
    let (violence, cctv) = (data.join("violence"), data.join("normal-cctv"));
    let fights = manifest::first_of_each(
        &manifest::read(&violence, "all").expect("MANIFEST.tsv"),
        &[("hockey", "fight", "val", 1)],
    );
    let footage: Vec<manifest::Row> = manifest::read_normal(&cctv, "val")
        .expect("normal-cctv/MANIFEST.tsv")
        .into_iter()
        .filter(|r| r.duration_s.is_some_and(|d| d < 20.0))
        .take(2)
        .collect();
    assert_eq!(footage.len(), 2, "normal-cctv lacks two short val clips");
    let work = std::env::temp_dir().join(format!("eval-footage-{}", std::process::id()));
    let (sample, normal, out) = (work.join("sample"), work.join("normal"), work.join("out"));
    std::fs::create_dir_all(&sample).unwrap();
    std::fs::create_dir_all(&normal).unwrap();
    std::fs::write(
        sample.join("MANIFEST.tsv"),
        format!(
            "path\tlabel\n{}\tfight\n",
            violence.join(&fights[0].path).display()
        ),
    )
    .unwrap();
    let mut text = String::from("path\tsplit\tduration_s\n");
    for r in &footage {
        let duration = r.duration_s.unwrap();
        text += &format!("{}\tval\t{duration}\n", cctv.join(&r.path).display());
    }
    std::fs::write(normal.join("MANIFEST.tsv"), &text).unwrap();

    let model = format!("{}/models/default.pt", env!("CARGO_MANIFEST_DIR"));
    let stdout = evaluate(&[
        sample.as_os_str(),
        model.as_ref(),
        out.as_os_str(),
        "--normal".as_ref(),
        normal.as_os_str(),
        "--calibration".as_ref(),
    ]);
    assert!(stdout.contains("normal (continuous footage): "), "{stdout}");

    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let continuous = &metrics["continuous_footage"];
    let overall = &continuous["overall"];
    assert_eq!(overall["clips"], 2, "{continuous:#}");
    assert_eq!(overall["errors"], 0, "{continuous:#}");
    let expected: f64 = footage.iter().map(|r| r.duration_s.unwrap()).sum();
    let seconds = f(&overall["seconds"]);
    assert!(
        (seconds - expected).abs() < 0.05 * expected,
        "{seconds} s played, the clips last {expected} s"
    );
    let events = overall["false_events"].as_u64().unwrap();
    let hours = seconds / 3600.0;
    assert!((f(&overall["false_events_per_hour"]) - events as f64 / hours).abs() < 1e-6);
    let upper = event_metrics::poisson_upper_bound(events, 0.025) / hours;
    assert!((f(&overall["false_events_per_hour_upper95"]) - upper).abs() < 1e-6 * upper);

    // Per clip: the events and windows of events.tsv and windows.tsv, each clip on its own.
    let rows_of = |file: &str, path: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(out.join(file))
            .unwrap()
            .lines()
            .map(|l| l.split('\t').map(String::from).collect::<Vec<_>>())
            .filter(|c| c[1] == "continuous" && c[2] == path)
            .collect()
    };
    let clips = continuous["clips"].as_array().unwrap();
    let mut total = 0;
    for (clip, row) in clips.iter().zip(&footage) {
        let path = cctv.join(&row.path).display().to_string();
        assert_eq!(clip["path"], path.as_str());
        let starts = rows_of("events.tsv", &path).len() as u64;
        assert_eq!(clip["false_events"].as_u64(), Some(starts), "{clip:#}");
        total += starts;
        let windows = rows_of("windows.tsv", &path);
        assert_eq!(clip["windows"].as_u64(), Some(windows.len() as u64));
        assert!(windows.len() > 10, "{path}: {} windows", windows.len());
        let top = windows
            .iter()
            .map(|c| c[6].parse::<f64>().unwrap())
            .fold(0.0, f64::max);
        assert!((f(&clip["max_score"]) - top).abs() < 1e-3, "{clip:#}");
    }
    assert_eq!(total, events);

    // Calibration: each clip learned on its first half, judged on its second.
    let halves = &metrics["calibration"]["footage_halves"];
    let per_clip = halves["clips"].as_array().unwrap();
    assert_eq!(per_clip.len(), 2, "{halves:#}");
    for (h, row) in per_clip.iter().zip(&footage) {
        let half = row.duration_s.unwrap() / 2.0;
        for key in ["learned_seconds", "second_half_seconds"] {
            assert!((f(&h[key]) - half).abs() < 1.0, "{key}: {h:#}");
        }
        let file = PathBuf::from(h["file"].as_str().unwrap());
        let calibration: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert!(!calibration["windows"].as_array().unwrap().is_empty());
        assert!(h["false_alarms_calibrated"].as_u64().is_some());
    }

    // A fight in footage read as ordinary is refused by name.
    std::fs::write(
        normal.join("MANIFEST.tsv"),
        format!(
            "{text}{}\tval\t1.6\tfight\n",
            violence.join(&fights[0].path).display()
        )
        .replace(
            "path\tsplit\tduration_s\n",
            "path\tsplit\tduration_s\tlabel\n",
        ),
    )
    .unwrap();
    let output = Command::new(example("evaluate"))
        .args([&sample, &PathBuf::from(&model), &out])
        .arg("--normal")
        .arg(&normal)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&fights[0].path) && stderr.contains("without violence"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&work).unwrap();
}
