// SPDX-License-Identifier: MPL-2.0

//! Shared test support: static plugin registration, the generated test models, synthetic
//! video pushed through real pipelines, and bus message collection.
#![allow(dead_code)]

pub mod classify;
pub mod frame_index;
pub mod record;

use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const FPS: u64 = 25;
pub const FRAME_NS: u64 = 1_000_000_000 / FPS;

pub fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().unwrap();
        gstviolence::plugin_register_static().expect("register the plugin statically");
    });
}

/// The interpreter of the setup venv (the Makefile exports VIOLENCE_PYTHON).
pub fn python() -> String {
    std::env::var("VIOLENCE_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        let venv = format!("{home}/.cache/gst-violence/venv/bin/python3");
        if Path::new(&venv).exists() {
            venv
        } else {
            "python3".into()
        }
    })
}

/// Folder with the models made by tests/models/make_test_models.py, made once.
pub fn models_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("tests/models/make_test_models.py");
        let source = std::fs::read(&script).unwrap();
        // Keyed by the script's content so an edited script makes new models.
        let hash = source.iter().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100000001b3)
        });
        let dir = root.join(format!("target/test-models/{hash:016x}"));
        if dir.join("DONE").exists() {
            return dir;
        }
        let tmp = root.join(format!("target/test-models/tmp-{}", std::process::id()));
        let status = std::process::Command::new(python())
            .arg(&script)
            .arg(&tmp)
            .status()
            .expect(
                "run the venv's python to make test models (run `make test`, which sets it up)",
            );
        assert!(status.success(), "make_test_models.py failed");
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another test binary made it meanwhile.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        assert!(dir.join("DONE").exists());
        dir
    })
    .clone()
}

pub fn model(name: &str) -> String {
    models_dir().join(name).to_str().unwrap().to_string()
}

/// A synthetic RGB video: grey, with a white block that moves on frames in `motion`.
#[derive(Clone)]
pub struct Synthetic {
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub motion: std::ops::Range<u64>,
}

impl Synthetic {
    pub fn caps(&self) -> gst::Caps {
        init();
        gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, self.width, self.height)
            .fps(gst::Fraction::new(FPS as i32, 1))
            .build()
            .unwrap()
            .to_caps()
            .unwrap()
    }

    pub fn frame(&self, i: u64) -> gst::Buffer {
        let info = gst_video::VideoInfo::from_caps(&self.caps()).unwrap();
        let stride = info.stride()[0] as usize;
        let mut data = vec![96u8; info.size()];
        if self.motion.contains(&i) {
            let block = (self.width / 4) as usize;
            let span = self.width as usize - block;
            let x0 = (i as usize * 5) % span;
            let y0 = (i as usize * 3) % (self.height as usize - block);
            for y in y0..y0 + block {
                for x in x0..x0 + block {
                    data[y * stride + 3 * x..y * stride + 3 * x + 3].fill(255);
                }
            }
        }
        let mut buffer = gst::Buffer::from_mut_slice(data);
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(i * FRAME_NS));
            b.set_duration(gst::ClockTime::from_nseconds(FRAME_NS));
        }
        buffer
    }
}

/// Messages an element posted, collected from the bus while a pipeline runs.
#[derive(Default, Debug)]
pub struct Outcome {
    pub messages: Vec<gst::Structure>,
    pub error: Option<String>,
    pub buffers: Vec<gst::Buffer>,
}

impl Outcome {
    pub fn named(&self, name: &str) -> Vec<&gst::Structure> {
        self.messages.iter().filter(|s| s.name() == name).collect()
    }
    pub fn events(&self, name: &str) -> Vec<gstviolence::event::ViolenceEvent> {
        self.named(name)
            .into_iter()
            .map(|s| {
                gstviolence::event::ViolenceEvent::from_structure(s).expect("well-formed event")
            })
            .collect()
    }
}

/// Runs `appsrc ! <middle> ! appsink` over the synthetic video and collects the result.
pub fn run_synthetic(video: &Synthetic, middle: &str) -> Outcome {
    run_frames(
        &video.caps(),
        (0..video.frames).map(|i| video.frame(i)),
        middle,
    )
}

/// Parses a pipeline holding `appsrc name=src` and gives that appsrc `caps`.
pub fn appsrc_pipeline(launch: &str, caps: &gst::Caps) -> (gst::Pipeline, gst_app::AppSrc) {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(caps));
    (pipeline, src)
}

/// Runs `appsrc ! <middle> ! appsink` over `frames` of `caps`, collecting the output
/// buffers and the element messages.
pub fn run_frames(
    caps: &gst::Caps,
    frames: impl Iterator<Item = gst::Buffer>,
    middle: &str,
) -> Outcome {
    init();
    let (pipeline, src) = appsrc_pipeline(
        &format!("appsrc name=src format=time ! {middle} ! appsink name=sink sync=false"),
        caps,
    );
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let buffers = std::sync::Arc::new(Mutex::new(Vec::new()));
    let collected = buffers.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                collected
                    .lock()
                    .unwrap()
                    .push(sample.buffer_owned().unwrap());
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let outcome = run_pipeline(&pipeline, || {
        for frame in frames {
            if src.push_buffer(frame).is_err() {
                break;
            }
        }
        let _ = src.end_of_stream();
    });
    let collected = std::mem::take(&mut *buffers.lock().unwrap());
    Outcome {
        buffers: collected,
        ..outcome
    }
}

/// Plays the pipeline, runs `feed`, waits for EOS or an error, and collects element messages.
pub fn run_pipeline(pipeline: &gst::Pipeline, feed: impl FnOnce()) -> Outcome {
    let bus = pipeline.bus().unwrap();
    let mut outcome = Outcome::default();
    if pipeline.set_state(gst::State::Playing).is_err() {
        outcome.error = collect_error(&bus);
        let _ = pipeline.set_state(gst::State::Null);
        return outcome;
    }
    feed();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    outcome.messages.push(s.to_owned());
                }
            }
            gst::MessageView::Error(e) => {
                outcome.error = Some(format!("{} ({})", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            gst::MessageView::Eos(_) => break,
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    outcome
}

fn collect_error(bus: &gst::Bus) -> Option<String> {
    bus.iter_timed(gst::ClockTime::from_seconds(5))
        .find_map(|msg| match msg.view() {
            gst::MessageView::Error(e) => {
                Some(format!("{} ({})", e.error(), e.debug().unwrap_or_default()))
            }
            _ => None,
        })
}

/// Starts `launch` and returns the first error message (for pipelines that must fail).
pub fn start_error(launch: &str) -> Option<String> {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let res = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let err = bus
        .iter_timed(gst::ClockTime::from_seconds(60))
        .find_map(|msg| match msg.view() {
            gst::MessageView::Error(e) => {
                Some(format!("{} ({})", e.error(), e.debug().unwrap_or_default()))
            }
            gst::MessageView::Eos(_) => Some(String::new()),
            _ => None,
        });
    let _ = res;
    pipeline.set_state(gst::State::Null).unwrap();
    err.filter(|e| !e.is_empty())
}

/// `../shared/data`, which the tests of real footage need. One policy for all of them: when
/// it is missing the test fails and says what it needs (CI always has it; a skipped test
/// would pass without checking anything).
pub fn shared_data(needs: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.is_dir(),
        "../shared/data is missing next to the repository: this test needs {needs} (CI always has them)"
    );
    dir
}

/// RGB frame whose pixel (x, y) is (x, y, 7): positions can be read back from a crop.
pub fn coded_rgb(w: u32, h: u32) -> gst::Buffer {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
        .build()
        .unwrap();
    let stride = info.stride()[0] as usize;
    let mut data = vec![0u8; info.size()];
    for y in 0..h as usize {
        for x in 0..w as usize {
            data[y * stride + 3 * x..][..3].copy_from_slice(&[x as u8, y as u8, 7]);
        }
    }
    gst::Buffer::from_mut_slice(data)
}

/// Writes a 2 s, 64x64 H.264 MP4 of videotestsrc's moving ball to `path`: every clip of the
/// motion test model is violent on it.
pub fn write_ball_video(path: &Path) {
    init();
    let encode = gst::parse::launch(&format!(
        "videotestsrc num-buffers=50 pattern=ball ! video/x-raw,width=64,height=64,framerate=25/1 \
         ! x264enc ! mp4mux ! filesink location={}",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    encode.set_state(gst::State::Playing).unwrap();
    let eos = encode.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    encode.set_state(gst::State::Null).unwrap();
    assert_eq!(eos.map(|m| m.type_()), Some(gst::MessageType::Eos));
}

pub fn wait(d: Duration) {
    std::thread::sleep(d)
}

/// Whether an MP4 file on disk holds at least one complete fragment of samples
/// (violencerecord's own check): a test that stops a pipeline "once something is written"
/// must wait for this, since a recording's first bytes play nothing.
pub fn holds_a_fragment(path: &Path) -> bool {
    std::fs::read(path)
        .is_ok_and(|data| gstviolence::violencerecord::segment_keeper::mp4_holds_a_fragment(&data))
}
