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
use gstviolence::tools::{event_metrics, manifest};

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

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

#[test]
fn evaluate_reports_false_events_per_hour_recall_and_latency() {
    let Some(data) = common::shared_data() else {
        eprintln!("SKIPPED: ../shared/data is missing; this test needs the shared violence clips");
        return;
    };
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
    let output = Command::new(example("evaluate"))
        .arg(&sample)
        .arg(&model)
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "evaluate failed:\n{stdout}\n{stderr}"
    );
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
