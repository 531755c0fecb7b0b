// SPDX-License-Identifier: MPL-2.0

//! The RTSP reconnection app (`examples/rtsp_detect.rs`) against a local RTSP camera on
//! loopback (`examples/rtsp_test_server.rs`, gst-rtsp-server) that is killed and restarted
//! on the same port: the app notices, retries with backoff, and scores flow again.
//! Both are examples, built by `cargo test` next to the test binaries.

use gst::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

mod common;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/rtsp_reconnect-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing (cargo test builds the examples)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child on drop (a failing assertion must not leave processes behind).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(port: u16) -> Proc {
    let mut child = Command::new(example("rtsp-test-server"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // It prints once it listens.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("serving"), "server: {line:?}");
    Proc(child)
}

/// Waits for a line of the app's output matching `pred`, at most `limit`.
fn expect(
    lines: &Receiver<String>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let t0 = Instant::now();
    loop {
        let left = limit.saturating_sub(t0.elapsed());
        match lines.recv_timeout(left) {
            Ok(l) if pred(&l) => return l,
            Ok(_) => (),
            Err(_) => panic!("no {what} within {limit:?}"),
        }
    }
}

#[test]
fn survives_the_camera_going_away_and_coming_back() {
    let port = free_port();
    let mut camera = Some(server(port));
    let model = common::model("motion.pt");
    let mut app = Proc(
        Command::new(example("rtsp-detect"))
            .arg(format!("rtsp://127.0.0.1:{port}/test"))
            .arg(&model)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, lines) = channel();
    let out = app.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            eprintln!("rtsp-detect: {l}");
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let score = |l: &str| l.starts_with("score ");
    expect(&lines, Duration::from_secs(10), "frames", |l| {
        l == "frames-flowing"
    });
    // The ball moves: scores arrive, and they say violent.
    for _ in 0..2 {
        let l = expect(&lines, Duration::from_secs(5), "score", score);
        assert!(l.ends_with("p=1.0000"), "{l}");
    }
    // The camera goes away.
    drop(camera.take());
    let lost = expect(&lines, Duration::from_secs(8), "loss", |l| {
        l.starts_with("lost ")
    });
    eprintln!("noticed: {lost}");
    // It retries while the camera is away (connection refused), backing off.
    let mut delays = Vec::new();
    while delays.len() < 2 {
        let l = expect(&lines, Duration::from_secs(5), "retry", |l| {
            l.starts_with("reconnect ")
        });
        delays.push(l.split_whitespace().nth(1).unwrap().to_string());
    }
    assert_eq!(delays, ["in=0.5", "in=1.0"], "backoff");
    // The camera comes back on the same port: frames and scores flow again, within the
    // next retry (2 s) plus connection time.
    let t0 = Instant::now();
    camera = Some(server(port));
    expect(
        &lines,
        Duration::from_secs(10),
        "frames after the restart",
        |l| l == "frames-flowing",
    );
    expect(
        &lines,
        Duration::from_secs(5),
        "score after the restart",
        score,
    );
    eprintln!("scores again {:?} after the restart", t0.elapsed());
    assert!(app.0.try_wait().unwrap().is_none(), "the app exited");
    drop(camera);
}

/// The width and height of the first decoded frame of an RTSP stream.
fn frame_size(url: &str) -> (i32, i32) {
    use gst::prelude::*;
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "rtspsrc location={url} protocols=tcp ! rtph264depay ! h264parse ! avdec_h264 ! appsink name=sink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(20))
        .expect("a frame");
    pipeline.set_state(gst::State::Null).unwrap();
    let s = sample.caps().unwrap().structure(0).unwrap().to_owned();
    (s.get("width").unwrap(), s.get("height").unwrap())
}

#[test]
fn the_test_camera_serves_a_file_as_main_and_sub_stream() {
    let dir = std::env::temp_dir().join(format!("rtsp-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let video = dir.join("ball.mp4");
    common::write_ball_video(&video);
    let port = free_port();
    let mut child = Command::new(example("rtsp-test-server"))
        .arg(port.to_string())
        .arg(&video)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mounts: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    let _server = Proc(child);
    assert!(
        mounts.iter().any(|l| l.ends_with("/main")) && mounts.iter().any(|l| l.ends_with("/sub")),
        "{mounts:?}"
    );
    // The file is 64x64: main as it is, sub scaled to 640x360.
    assert_eq!(
        frame_size(&format!("rtsp://127.0.0.1:{port}/main")),
        (64, 64)
    );
    assert_eq!(
        frame_size(&format!("rtsp://127.0.0.1:{port}/sub")),
        (640, 360)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pipelines/record-rtsp.sh` with the motion model against the test camera, its stderr in
/// `dir/script.log`; the environment of the script as a user's.
fn record_rtsp_sh(port: u16, dir: &std::path::Path, env: &[(&str, &str)]) -> Proc {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Proc(
        // SIGINT back to its default: a test run from a background job (CI) inherits it
        // ignored, and a script cannot trap a signal ignored on entry.
        Command::new("env")
            .arg("--default-signal=INT")
            .arg(root.join("pipelines/record-rtsp.sh"))
            .arg(format!("rtsp://127.0.0.1:{port}/test"))
            .arg(dir)
            .env("MODEL", common::model("motion.pt"))
            .env("GST_PLUGIN_PATH", "")
            .env("GST_REGISTRY", dir.join("registry.bin"))
            .env("G_DEBUG", "fatal-criticals")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("script.log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn event_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits up to `limit` for `done`, failing with the script's log.
fn wait_for(dir: &std::path::Path, limit: Duration, what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        if t0.elapsed() > limit {
            panic!(
                "no {what} within {limit:?}: {:?}\n{}",
                event_lines(dir),
                std::fs::read_to_string(dir.join("script.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `n`th start's file holds a complete fragment (so the camera is killed with evidence
/// written, not only the file's header).
fn nth_file_written(dir: &std::path::Path, n: usize) -> bool {
    event_lines(dir)
        .iter()
        .filter(|l| l["event"] == "start")
        .nth(n)
        .and_then(|l| l["file"].as_str().map(std::path::PathBuf::from))
        .is_some_and(|f| common::holds_a_fragment(&f))
}

fn script_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-record")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn plugin_built() -> bool {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/release/libgstviolence.so")
        .exists();
    if !built {
        eprintln!(
            "SKIPPED: pipelines/record-rtsp.sh needs the plugin in target/release (make build)"
        );
    }
    built
}

/// A camera killed in the middle of an event and back on the same port: the script tells
/// (stderr), starts its pipeline again after the backoff and records on in the same folder.
/// Both events' files are listed in the event log and play; SIGINT then stops it, exit 0.
#[test]
fn record_rtsp_sh_starts_again_when_the_camera_comes_back() {
    if !plugin_built() {
        return;
    }
    common::init();
    let dir = script_dir("script-reconnect");
    let port = free_port();
    let camera = server(port);
    let mut script = record_rtsp_sh(port, &dir, &[("RECONNECT_MAX", "1")]);
    wait_for(&dir, Duration::from_secs(30), "first event's file", || {
        nth_file_written(&dir, 0)
    });
    drop(camera);
    let log = || std::fs::read_to_string(dir.join("script.log")).unwrap_or_default();
    wait_for(&dir, Duration::from_secs(20), "camera loss", || {
        log().contains("camera lost; starting again")
    });
    let _camera = server(port);
    wait_for(&dir, Duration::from_secs(30), "second event's file", || {
        nth_file_written(&dir, 1)
    });
    let kill = Command::new("kill")
        .args(["-INT", &script.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = script.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no exit within 20 s of SIGINT: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", log());
    let lines = event_lines(&dir);
    let files: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "file")
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{lines:?}");
    assert_ne!(files[0], files[1]);
    let ends = lines.iter().filter(|l| l["event"] == "end").count();
    assert_eq!(ends, 2, "every event closed: {lines:?}");
    for file in files {
        let pipeline = gst::parse::launch(&format!(
            "filesrc location={file} ! qtdemux ! h264parse ! avdec_h264 ! fakesink"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let out = common::run_pipeline(&pipeline, || {});
        assert_eq!(out.error, None, "{file} plays");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// RECONNECT=0: a killed camera ends the script with exit 3, which a supervisor tells from
/// a stop (exit 0).
#[test]
fn record_rtsp_sh_exits_3_when_the_camera_is_lost_and_reconnect_is_off() {
    if !plugin_built() {
        return;
    }
    let dir = script_dir("script-camera-lost");
    let port = free_port();
    let camera = server(port);
    let mut script = record_rtsp_sh(port, &dir, &[("RECONNECT", "0")]);
    wait_for(&dir, Duration::from_secs(30), "an event", || {
        nth_file_written(&dir, 0)
    });
    drop(camera);
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = script.0.try_wait().unwrap() {
            break status;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(dir.join("script.log")).unwrap_or_default();
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("camera lost"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
