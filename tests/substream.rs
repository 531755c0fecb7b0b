// SPDX-License-Identifier: MPL-2.0

//! Sub-stream detect, main-stream record (`pipelines/substream-record.sh`): a local RTSP
//! camera (gst-rtsp-server, in this process) serves one scene as a 1280x720 main stream and
//! a 640x360 sub-stream; the script analyses the sub-stream and records the main stream
//! without decoding it. The main stream carries each scene frame's index burnt into its
//! pixels (the sub-stream does not: the motion model would see it), so the recorded frames
//! are read back and compared with where the motion was. A third stream, /av, carries AAC
//! audio for the audio launch line of docs/recording.md.

mod common;

use common::frame_index::FrameIndex;

use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAIN: (u32, u32) = (1280, 720);
const SUB: (u32, u32) = (640, 360);
const FPS: u64 = 25;
const FRAME_NS: u64 = 1_000_000_000 / FPS;
/// Scene frames in which the block moves (25 frames from 2 s in).
const MOTION: std::ops::Range<u64> = 50..75;
/// Pre-roll and post-roll given to the script: 1 s.
const ROLL_FRAMES: u64 = FPS;
/// Main-stream keyframe interval.
const GOP: u64 = 10;
/// violenceclassify's default hold-time (2 s): the end is decided that long after the
/// last violent clip, and frames keep being written until then.
const HOLD_FRAMES: u64 = 2 * FPS;
/// Clip length of the motion model, and clipbuffer's default stride.
const T: u64 = 8;
/// The frame index code, in squares large enough for the 1280x720 main stream's encoding.
const INDEX: FrameIndex = FrameIndex { block: 16 };

/// Scene frame `i` at `width`x`height`, RGB: grey, with a white block that moves during
/// MOTION and is absent otherwise.
fn scene(i: u64, (width, height): (u32, u32), burn_index: bool) -> gst::Buffer {
    let (w, h) = (width as usize, height as usize);
    let stride = 3 * w;
    let mut data = vec![96u8; stride * h];
    if MOTION.contains(&i) {
        let block = w / 8;
        let x0 = ((i * 7) % 100) as usize * (w - block) / 100;
        let y0 = ((i * 3) % 100) as usize * (h - block) / 100;
        for y in y0..y0 + block {
            data[y * stride + 3 * x0..y * stride + 3 * (x0 + block)].fill(255);
        }
    }
    if burn_index {
        INDEX.burn(&mut data, stride, i);
    }
    gst::Buffer::from_mut_slice(data)
}

/// The camera's two streams, fed by one scene clock once both are playing.
#[derive(Default)]
struct Streams {
    main: Option<gst_app::AppSrc>,
    sub: Option<gst_app::AppSrc>,
    /// /av: the scene at the sub-stream's size, index burnt in, with AAC audio.
    av: Option<gst_app::AppSrc>,
}

fn stream_launch((w, h): (u32, u32)) -> String {
    format!(
        "( appsrc name=src is-live=true format=time do-timestamp=true max-buffers=2 \
         leaky-type=upstream \
         caps=video/x-raw,format=RGB,width={w},height={h},framerate={FPS}/1 ! videoconvert \
         ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max={GOP} \
         ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
}

/// An RTSP camera on 127.0.0.1:`port` with /main and /sub, until dropped.
struct Camera {
    main_loop: glib::MainLoop,
    streams: Arc<Mutex<Streams>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Scene frames sent since both streams existed (the scene clock).
    sent: Arc<std::sync::atomic::AtomicU64>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Camera {
    fn start(port: u16) -> Camera {
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let streams = Arc::new(Mutex::new(Streams::default()));
        let mounts = server.mount_points().unwrap();
        for (path, size) in [("/main", MAIN), ("/sub", SUB), ("/av", SUB)] {
            let factory = gst_rtsp_server::RTSPMediaFactory::new();
            let launch = stream_launch(size);
            let launch = match path {
                "/av" => launch.replace(
                    " )",
                    " audiotestsrc is-live=true ! avenc_aac ! rtpmp4gpay name=pay1 pt=97 )",
                ),
                _ => launch,
            };
            factory.set_launch(&launch);
            factory.set_shared(true);
            let streams = streams.clone();
            factory.connect_media_configure(move |_, media| {
                let bin = media.element().downcast::<gst::Bin>().unwrap();
                let src = bin
                    .by_name("src")
                    .unwrap()
                    .downcast::<gst_app::AppSrc>()
                    .unwrap();
                let mut s = streams.lock().unwrap();
                match path {
                    "/main" => s.main = Some(src),
                    "/sub" => s.sub = Some(src),
                    _ => s.av = Some(src),
                }
            });
            mounts.add_factory(path, factory);
        }
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        // The server stays attached to its own context, which goes with the thread.
        let _source = server.attach(Some(&context)).unwrap();
        let ml = main_loop.clone();
        std::thread::spawn(move || {
            let _guard = context.acquire().unwrap();
            ml.run();
        });
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let feeder = {
            let (streams, stop, sent) = (streams.clone(), stop.clone(), sent.clone());
            std::thread::spawn(move || feed(&streams, &stop, &sent))
        };
        Camera {
            main_loop,
            streams,
            stop,
            sent,
            feeder: Some(feeder),
        }
    }

    /// Which streams a client set up and how far the scene got: for a test that timed out.
    fn report(&self) -> String {
        let s = self.streams.lock().unwrap();
        format!(
            "camera: /main {}, /sub {}, /av {}; scene frame {}",
            if s.main.is_some() {
                "set up"
            } else {
                "never set up"
            },
            if s.sub.is_some() {
                "set up"
            } else {
                "never set up"
            },
            if s.av.is_some() {
                "set up"
            } else {
                "never set up"
            },
            self.sent.load(std::sync::atomic::Ordering::Relaxed)
        )
    }
}

/// Pushes scene frames at 25 fps to both streams: frame i goes out at t0 + i / 25 s on
/// both, so their running times at the client agree; t0 is when both exist (before that,
/// frame 0 goes to the one that does: a stream needs data to tell its caps). A stream whose
/// media is not playing yet drops them (leaky appsrc), so none is stale.
fn feed(
    streams: &Mutex<Streams>,
    stop: &std::sync::atomic::AtomicBool,
    sent: &std::sync::atomic::AtomicU64,
) {
    let tick = Duration::from_nanos(FRAME_NS);
    let mut t0 = None;
    let mut next = Instant::now();
    let mut i = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let (main, sub, av) = {
            let s = streams.lock().unwrap();
            (s.main.clone(), s.sub.clone(), s.av.clone())
        };
        if t0.is_none() && (main.is_some() && sub.is_some() || av.is_some()) {
            t0 = Some(next);
        }
        for (src, size, burn) in [(main, MAIN, true), (sub, SUB, false), (av, SUB, true)] {
            if let Some(src) = src {
                let _ = src.push_buffer(scene(i, size, burn));
            }
        }
        next += tick;
        if t0.is_some() {
            i += 1;
            sent.store(i, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
        *self.streams.lock().unwrap() = Streams::default();
        self.main_loop.quit();
    }
}

/// One camera and one gst-launch-1.0 at a time: their timing is what the tests check.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Runs `pipelines/<script> rtsp://…/main rtsp://…/sub <dir>` against a local camera with
/// `env`, until `done` holds for its event log, then interrupts it (gst-launch-1.0 -e: EOS)
/// and returns the folder and the event log's lines; `None` where the plugin is not built.
fn run_script(
    script: &str,
    name: &str,
    env: &[(&str, String)],
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Option<(PathBuf, Vec<serde_json::Value>)> {
    let _serial = serial();
    common::init();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("target/release/libgstviolence.so").exists() {
        eprintln!("SKIPPED: pipelines/{script} needs the plugin in target/release (make build)");
        return None;
    }
    let dir: PathBuf = root.join("target/test-record").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let camera = Camera::start(port);
    let url = |path: &str| format!("rtsp://127.0.0.1:{port}{path}");
    let log = std::fs::File::create(dir.join("gst-launch.log")).unwrap();
    // SIGINT back to its default: a test run from a background job (CI) inherits it ignored,
    // and the script (run_live) cannot trap a signal ignored on entry.
    let mut child = Command::new("env")
        .arg("--default-signal=INT")
        .arg(root.join("pipelines").join(script))
        .args([url("/main"), url("/sub")])
        .arg(&dir)
        .env("MODEL", common::model("motion.pt"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("GST_PLUGIN_PATH", "")
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .env("G_DEBUG", "fatal-criticals")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let events = dir.join("events.jsonl");
    let t0 = Instant::now();
    while !done(&log_lines(&events)) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the script ended ({status}): {}",
                std::fs::read_to_string(dir.join("gst-launch.log")).unwrap_or_default()
            );
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "not done within 60 s: {:?} {}; files {:?}; gst-launch.log: {}",
                log_lines(&events),
                camera.report(),
                std::fs::read_dir(&dir)
                    .map(|d| d
                        .filter_map(|e| e.ok())
                        .map(|e| (e.file_name(), e.metadata().map(|m| m.len()).unwrap_or(0)))
                        .collect::<Vec<_>>())
                    .unwrap_or_default(),
                std::fs::read_to_string(dir.join("gst-launch.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // gst-launch-1.0 -e ends on SIGINT after EOS.
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let t1 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t1.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the script did not end within 20 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(camera);
    let stderr = std::fs::read_to_string(dir.join("gst-launch.log")).unwrap_or_default();
    assert!(status.success(), "{status}: {stderr}");
    let lines = log_lines(&events);
    Some((dir, lines))
}

#[test]
fn substream_record_sh_records_the_main_stream_of_a_substream_event() {
    let roll = (ROLL_FRAMES * FRAME_NS).to_string();
    let env = [("PRE_ROLL", roll.clone()), ("POST_ROLL", roll)];
    // Until the recorder logs its finished file (after the motion, its end and post-roll).
    let Some((dir, lines)) = run_script("substream-record.sh", "substream", &env, |lines| {
        lines.iter().any(|l| l["event"] == "file")
    }) else {
        return;
    };
    let files: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "file").collect();
    assert_eq!(files.len(), 1, "one event, one file: {lines:?}");
    assert_eq!(files[0]["reason"], "post-roll", "{lines:?}");
    let path = PathBuf::from(files[0]["file"].as_str().unwrap());
    let d = INDEX.decode(&path);
    let (first, last) = (d.indices[0], *d.indices.last().unwrap());
    eprintln!(
        "{}: {}x{}, scene frames {first}..={last}, motion {MOTION:?}",
        path.display(),
        d.size.0,
        d.size.1
    );
    assert_eq!(
        d.size,
        (MAIN.0 as i32, MAIN.1 as i32),
        "the main stream's size"
    );
    assert_eq!(
        d.indices.len() as u64,
        last - first + 1,
        "every frame in between"
    );
    for w in d.indices.windows(2) {
        assert_eq!(w[1], w[0] + 1, "frame missing or out of order");
    }
    // The event starts with the first clip that holds a moving frame (the clip's first frame
    // lies at or before MOTION.start - 1) and ends at a clip holding MOTION.end (the block
    // disappears there); frames go on being written until the end is decided, hold-time
    // later. Two frames of slack for the streams' arrival times.
    let (a, b) = (MOTION.start, MOTION.end);
    assert!(
        first + ROLL_FRAMES < a + 2,
        "pre-roll: first frame {first} for motion from {a}"
    );
    assert!(
        first + ROLL_FRAMES + T + GOP + 2 >= a,
        "the file starts too early: {first} for motion from {a}"
    );
    assert!(
        last + 2 >= b + ROLL_FRAMES,
        "post-roll: last frame {last} for motion until {b}"
    );
    assert!(
        last <= b + T + ROLL_FRAMES.max(HOLD_FRAMES) + 15,
        "the file ends too late: {last} for motion until {b}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pipelines/record-segments.sh`: splitmuxsink writes the main stream in segments; those
/// overlapping the sub-stream's event (with its rolls) stay, the others are deleted.
#[test]
fn record_segments_sh_keeps_the_main_stream_segments_of_an_event() {
    const SEG_ROLL: u64 = 10;
    let roll = (SEG_ROLL * FRAME_NS).to_string();
    let env = [
        ("PRE_ROLL", roll.clone()),
        ("POST_ROLL", roll),
        ("SEGMENT_DURATION", "1000000000".to_string()),
    ];
    // Until 3 s after the event's end: segments after it have closed and gone.
    let ended = std::cell::Cell::new(None::<Instant>);
    let Some((dir, lines)) = run_script("record-segments.sh", "segments-sh", &env, |lines| {
        if ended.get().is_none() && lines.iter().any(|l| l["event"] == "end") {
            ended.set(Some(Instant::now()));
        }
        ended
            .get()
            .is_some_and(|t| t.elapsed() > Duration::from_secs(3))
    }) else {
        return;
    };
    let kept: Vec<PathBuf> = lines
        .iter()
        .filter(|l| l["event"] == "segment")
        .map(|l| {
            assert_eq!(l["events"], serde_json::json!([0]), "{l}");
            PathBuf::from(l["file"].as_str().unwrap())
        })
        .collect();
    let mut on_disk: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, kept, "only the kept segments are left: {lines:?}");
    // splitmuxsink numbered every segment it wrote: those missing were deleted, before the
    // event and after it.
    let index = |p: &PathBuf| -> u32 {
        let stem = p.file_stem().unwrap().to_str().unwrap();
        stem.trim_start_matches("cam1-").parse().unwrap()
    };
    let (lo, hi) = (index(&kept[0]), index(kept.last().unwrap()));
    assert!(lo > 0, "the segment before the event was deleted");
    assert_eq!(hi - lo + 1, kept.len() as u32, "one run of segments");
    let mut frames = std::collections::BTreeSet::new();
    for path in &kept {
        let d = INDEX.decode(path);
        assert_eq!(d.size, (MAIN.0 as i32, MAIN.1 as i32));
        frames.extend(d.indices);
    }
    eprintln!("kept {kept:?}: scene frames {frames:?}");
    let (a, b) = (MOTION.start, MOTION.end);
    let missing: Vec<u64> = (a + 1 - SEG_ROLL..=b + SEG_ROLL - 2)
        .filter(|i| !frames.contains(i))
        .collect();
    assert!(missing.is_empty(), "event frames not kept: {missing:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The launch line of docs/recording.md for a camera with AAC audio, run as written (the camera's URL,
/// the output folder and the test model substituted) against the local camera's /av
/// stream: the event's file has the camera's audio beside its video.
#[test]
fn readme_audio_line_records_the_camera_audio() {
    common::init();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plugin = root.join("target/release/libgstviolence.so");
    if !plugin.exists() {
        eprintln!(
            "SKIPPED: the docs/recording.md line needs the plugin in target/release (make build)"
        );
        return;
    }
    let readme = include_str!("../docs/recording.md");
    let block = readme
        .split("From an RTSP camera with AAC audio:\n\n```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the audio launch line of docs/recording.md");
    let line = block.replace("\\\n", " ");
    let _serial = serial();
    let dir = root.join("target/test-record/readme-audio");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let camera = Camera::start(port);
    let line = line
        .replace("rtsp://camera/main", &format!("rtsp://127.0.0.1:{port}/av"))
        .replace(
            "location=cam1-",
            &format!("location={}/cam1-", dir.display()),
        )
        .replace("models/default.pt", &common::model("motion.pt"));
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(args[0], "gst-launch-1.0");
    let log = std::fs::File::create(dir.join("gst-launch.log")).unwrap();
    let mut child = Command::new("gst-launch-1.0")
        .args(&args[1..])
        .env("GST_PLUGIN_PATH", plugin.parent().unwrap())
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .env("G_DEBUG", "fatal-criticals")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    // The index burnt into the stream changes every frame: one event from the start.
    let file = dir.join("cam1-00000.mp4");
    let t0 = Instant::now();
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 30_000 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "gst-launch-1.0 ended ({status}): {}",
                std::fs::read_to_string(dir.join("gst-launch.log")).unwrap_or_default()
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "nothing recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let t1 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t1.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gst-launch-1.0 did not end within 20 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(camera);
    let stderr = std::fs::read_to_string(dir.join("gst-launch.log")).unwrap_or_default();
    assert!(status.success(), "{status}: {stderr}");
    let Ok(out) = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time,duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
    else {
        eprintln!("ffprobe is not installed: audio track not checked");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let stream = |kind: &str| -> (f64, f64) {
        let l = text
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} track: {text}"));
        let f: Vec<f64> = l.split(',').skip(1).map(|v| v.parse().unwrap()).collect();
        (f[0], f[1])
    };
    let (video, audio) = (stream("video"), stream("audio"));
    eprintln!(
        "{}: video {video:?}, audio {audio:?} (start, duration)",
        file.display()
    );
    assert!(video.1 > 2.0, "{text}");
    assert!((audio.0 - video.0).abs() < 0.1, "{text}");
    assert!((audio.1 - video.1).abs() < 0.3, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
