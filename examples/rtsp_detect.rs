// SPDX-License-Identifier: MPL-2.0

//! Violence detection on an RTSP camera that may go away:
//!
//!   [source bin: rtspsrc protocols=tcp ! decodebin ! videoconvert, linked as pads appear]
//!     ! queue ! videoconvert ! clipbuffer ! violenceclassify emit-scores=true
//!     ! fakesink
//!
//! The whole pipeline is torn down and rebuilt on an error from inside the source bin, on
//! EOS from it (dropped before it reaches the analysis part), or when no frame arrived for
//! `--stall` seconds. (Keeping the analysis part in PLAYING and swapping only the source
//! bin was tried first: with GStreamer 1.22 the second rtspsrc added to the running
//! pipeline connected but never exposed a pad, so the app rebuilds everything.) An event in
//! progress when the camera drops is not carried over: the new violenceclassify starts
//! idle, and one still violent after the reconnection starts a new event. Reconnection attempts back off from 0.5 s, doubling to 8 s; the delay
//! goes back to 0.5 s once frames flow again.
//!
//! Prints one line per fact, for people and for tests/rtsp_reconnect.rs:
//!   `connected attempt=N`, `frames-flowing`, `lost reason=...`, `reconnect in=SECONDS
//!   attempt=N`, `score pts=NS p=P`, `violence-start|violence-end pts=NS`.
//!
//! Usage: rtsp-detect URL MODEL [--stall SECONDS] [violenceclassify properties...]

use gst::prelude::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// What the streaming threads tell the main loop.
#[derive(Default)]
struct Flags {
    eos: AtomicBool,
    /// Buffers that left the source bin since it was built.
    buffers: AtomicU64,
}

fn make_source(url: &str, flags: &Arc<Flags>) -> Result<gst::Bin, Box<dyn std::error::Error>> {
    let bin = gst::Bin::new();
    let src = gst::ElementFactory::make("rtspsrc")
        .property("location", url)
        .property_from_str("protocols", "tcp")
        .property("latency", 200u32)
        .build()?;
    let decode = gst::ElementFactory::make("decodebin").build()?;
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    bin.add_many([&src, &decode, &convert])?;
    let decode_sink = decode
        .static_pad("sink")
        .ok_or("decodebin without sink pad")?;
    src.connect_pad_added(move |_, pad| {
        if !decode_sink.is_linked() {
            let _ = pad.link(&decode_sink);
        }
    });
    let convert_sink = convert
        .static_pad("sink")
        .ok_or("videoconvert without sink pad")?;
    decode.connect_pad_added(move |_, pad| {
        let video = pad
            .current_caps()
            .or_else(|| Some(pad.query_caps(None)))
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if video && !convert_sink.is_linked() {
            if let Err(e) = pad.link(&convert_sink) {
                eprintln!("rtsp-detect: cannot link the decoder: {e:?}");
            }
        }
    });
    let ghost = gst::GhostPad::with_target(&convert.static_pad("src").ok_or("no src")?)?;
    bin.add_pad(&ghost)?;
    let pad = bin.static_pad("src").ok_or("source bin without src pad")?;
    let f = flags.clone();
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| match &info.data {
            Some(gst::PadProbeData::Buffer(_)) => {
                f.buffers.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            }
            // The camera ended its stream: keep the analysis part running, reconnect.
            Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Eos => {
                f.eos.store(true, Ordering::Relaxed);
                gst::PadProbeReturn::Drop
            }
            _ => gst::PadProbeReturn::Ok,
        },
    );
    Ok(bin)
}

/// One connection: the whole pipeline, built again for every attempt.
struct Live {
    pipeline: gst::Pipeline,
    source: gst::Bin,
    cls: gst::Element,
    flags: Arc<Flags>,
}

struct App {
    url: String,
    /// The analysis part, as a gst-launch description.
    analysis: String,
    live: Option<Live>,
    attempt: u32,
    backoff: Duration,
    retry_at: Option<Instant>,
    flowing: bool,
    last_count: u64,
    last_progress: Instant,
    stall: Duration,
}

impl App {
    fn connect(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        self.attempt += 1;
        let flags = Arc::new(Flags::default());
        let source = make_source(&self.url, &flags)?;
        let pipeline = gst::Pipeline::new();
        let analysis = gst::parse::bin_from_description(&self.analysis, true)?;
        pipeline.add_many([source.upcast_ref::<gst::Element>(), analysis.upcast_ref()])?;
        source.link(&analysis)?;
        let cls = analysis.by_name("cls").ok_or("no classifier")?;
        self.flowing = false;
        self.last_count = 0;
        self.last_progress = Instant::now();
        let started = pipeline.set_state(gst::State::Playing);
        self.live = Some(Live {
            pipeline,
            source,
            cls,
            flags,
        });
        match started {
            // The error message on the bus says why; it leads to a retry.
            Err(_) => say(&format!("connect-failed attempt={}", self.attempt)),
            Ok(_) => say(&format!("connected attempt={}", self.attempt)),
        }
        Ok(())
    }

    fn lose(&mut self, reason: &str) {
        let Some(live) = self.live.take() else {
            return;
        };
        say(&format!(
            "lost reason={}",
            reason.replace(char::is_whitespace, "_")
        ));
        let _ = live.pipeline.set_state(gst::State::Null);
        if self.flowing {
            self.backoff = FIRST_BACKOFF;
        }
        self.flowing = false;
        say(&format!(
            "reconnect in={:.1} attempt={}",
            self.backoff.as_secs_f64(),
            self.attempt + 1
        ));
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Timers: a due retry, the start of the flow, a stall.
    fn tick(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(at) = self.retry_at {
            if Instant::now() >= at {
                self.retry_at = None;
                self.connect()?;
            }
            return Ok(());
        }
        let Some(live) = &self.live else {
            return Ok(());
        };
        if live.flags.eos.load(Ordering::Relaxed) {
            self.lose("eos");
            return Ok(());
        }
        let count = live.flags.buffers.load(Ordering::Relaxed);
        if count != self.last_count {
            self.last_count = count;
            self.last_progress = Instant::now();
            if !self.flowing {
                self.flowing = true;
                self.backoff = FIRST_BACKOFF;
                say("frames-flowing");
            }
        } else if self.last_progress.elapsed() > self.stall {
            self.lose("stalled");
        }
        Ok(())
    }

    /// Handles one bus message; Err when the analysis part itself failed.
    fn message(&mut self, msg: &gst::Message) -> Result<(), String> {
        let Some(live) = &self.live else {
            return Ok(());
        };
        let from_source = msg.src().is_some_and(|s| {
            s == live.source.upcast_ref::<gst::Object>() || s.has_as_ancestor(&live.source)
        });
        match msg.view() {
            gst::MessageView::Error(e) if from_source => self.lose(&e.error().to_string()),
            // The analysis part failed: that is not a camera problem.
            gst::MessageView::Error(e) => {
                return Err(format!("{} ({:?})", e.error(), e.debug()));
            }
            gst::MessageView::Eos(_) => return Err("unexpected EOS of the analysis part".into()),
            gst::MessageView::Latency(_) => {
                let _ = live.pipeline.recalculate_latency();
            }
            gst::MessageView::Element(e) if msg.src() == Some(live.cls.upcast_ref()) => {
                if let Some(s) = e.structure() {
                    let pts = s.get::<u64>("pts").unwrap_or(0);
                    match s.name().as_str() {
                        "violence-score" => say(&format!(
                            "score pts={pts} p={:.4}",
                            s.get::<f64>("score").unwrap_or(f64::NAN)
                        )),
                        name @ ("violence-start" | "violence-end") => {
                            say(&format!("{name} pts={pts}"))
                        }
                        _ => (),
                    }
                }
            }
            _ => (),
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err(
            "usage: rtsp-detect URL MODEL [--stall SECONDS] [violenceclassify properties...]"
                .into(),
        );
    }
    let (url, model) = (args[1].clone(), &args[2]);
    let mut stall = Duration::from_secs(5);
    let mut extra = Vec::new();
    let mut rest = args[3..].iter();
    while let Some(a) = rest.next() {
        if a == "--stall" {
            stall = Duration::from_secs_f64(rest.next().ok_or("--stall SECONDS")?.parse()?);
        } else {
            extra.push(a.clone());
        }
    }
    gst::init()?;
    gstviolence::plugin_register_static()?;
    let analysis = format!(
        "queue ! videoconvert ! clipbuffer ! violenceclassify name=cls \
         model-location=\"{model}\" emit-scores=true {} ! fakesink sync=false",
        extra.join(" ")
    );
    let mut app = App {
        url,
        analysis,
        live: None,
        attempt: 0,
        backoff: FIRST_BACKOFF,
        retry_at: None,
        flowing: false,
        last_count: 0,
        last_progress: Instant::now(),
        stall,
    };
    app.connect()?;
    loop {
        let msg = match &app.live {
            Some(live) => live
                .pipeline
                .bus()
                .and_then(|b| b.timed_pop(gst::ClockTime::from_mseconds(100))),
            None => {
                std::thread::sleep(Duration::from_millis(100));
                None
            }
        };
        if let Some(msg) = msg {
            if let Err(e) = app.message(&msg) {
                eprintln!("error: {e}");
                break;
            }
        }
        app.tick()?;
    }
    if let Some(live) = app.live.take() {
        live.pipeline.set_state(gst::State::Null)?;
    }
    Err("the analysis pipeline stopped".into())
}
