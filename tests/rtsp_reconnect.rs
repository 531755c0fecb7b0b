// SPDX-License-Identifier: MPL-2.0

//! The RTSP reconnection app (`examples/rtsp_detect.rs`) against a local RTSP camera on
//! loopback (`examples/rtsp_test_server.rs`, gst-rtsp-server) that is killed and restarted
//! on the same port: the app notices, retries with backoff, and scores flow again.
//! Both are examples, built by `cargo test` next to the test binaries.

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
