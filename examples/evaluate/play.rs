// SPDX-License-Identifier: MPL-2.0

//! Playing clips and continuous footage through the real pipeline, and what each run gave.

use crate::*;

pub(crate) struct ClipResult {
    pub(crate) row: manifest::Row,
    /// Its `violence-score` events, one per window.
    pub(crate) windows: Vec<ViolenceEvent>,
    /// The clip's `violence-start` events (played on its own).
    pub(crate) starts: Vec<ViolenceEvent>,
    pub(crate) error: Option<String>,
    pub(crate) seconds: f64,
}

impl ClipResult {
    /// The clip's score for the figures: the maximum window score, or the worst score for
    /// its label when it has none.
    pub(crate) fn score(&self) -> f32 {
        match (self.error.is_some(), self.windows.is_empty()) {
            (false, false) => self
                .windows
                .iter()
                .map(|w| w.score)
                .fold(f32::MIN, f32::max),
            _ if self.row.violent() => 0.0,
            _ => 1.0,
        }
    }

    /// The first event of the clip, when it started one and did not fail.
    pub(crate) fn first_start(&self) -> Option<event_metrics::FirstStart> {
        let first = self.starts.first().filter(|_| self.error.is_none())?;
        Some(event_metrics::FirstStart {
            latency: first.latency,
            decided_after_clip_start: first.running_time.saturating_add(first.latency),
        })
    }

    pub(crate) fn predicted(&self, threshold: f32) -> bool {
        if self.error.is_some() || self.windows.is_empty() {
            !self.row.violent()
        } else {
            self.score() >= threshold
        }
    }
}

/// What one pipeline run gave: window scores and `violence-start` events.
#[derive(Default)]
pub(crate) struct ClipRun {
    pub(crate) windows: Vec<ViolenceEvent>,
    pub(crate) starts: Vec<ViolenceEvent>,
    pub(crate) error: Option<String>,
    /// Running time (ns) played: the end of the last frame that reached the sink.
    pub(crate) played: u64,
}

/// The running time played at a sink pad: the end of the latest frame, in its segment.
pub(crate) type Played = Arc<Mutex<(gst::FormattedSegment<gst::ClockTime>, u64)>>;

pub(crate) fn track_played(pipeline: &gst::Element) -> Result<Played, String> {
    let played: Played = Arc::new(Mutex::new((gst::FormattedSegment::new(), 0)));
    let p = played.clone();
    pipeline
        .downcast_ref::<gst::Bin>()
        .and_then(|bin| bin.by_name("sink"))
        .and_then(|sink| sink.static_pad("sink"))
        .ok_or("no sink pad named sink")?
        .add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let mut p = p.lock().unwrap();
                match &info.data {
                    Some(gst::PadProbeData::Event(ev)) => {
                        if let gst::EventView::Segment(s) = ev.view() {
                            if let Ok(seg) = s.segment().clone().downcast::<gst::ClockTime>() {
                                p.0 = seg;
                            }
                        }
                    }
                    Some(gst::PadProbeData::Buffer(buf)) => {
                        if let Some(rt) = buf.pts().and_then(|pts| p.0.to_running_time(pts)) {
                            let end = rt + buf.duration().unwrap_or(gst::ClockTime::ZERO);
                            p.1 = p.1.max(end.nseconds());
                        }
                    }
                    _ => (),
                }
                gst::PadProbeReturn::Ok
            },
        );
    Ok(played)
}

/// The analysis tail shared by the clip runs and the normal streams. The decision settings
/// are the element's defaults; `threshold` is set only when given on the command line.
/// A calibration file and the `calibration-mode` to use it in.
pub(crate) type Calibration<'a> = (&'a Path, &'a str);

pub(crate) fn analysis_tail(
    model: &str,
    device: &str,
    flow: bool,
    front: Option<&str>,
    stride: Option<u32>,
    threshold: Option<f32>,
    calibration: Option<Calibration>,
) -> String {
    // clipbuffer takes its inputs (rgb or rgb+flow) from the model.
    let flow = if flow {
        "opticalflow preset=fast ! "
    } else {
        ""
    };
    // `--front`: elements before clipbuffer (e.g. a crop of where things move).
    let front = front
        .filter(|f| !f.trim().is_empty())
        .map_or(String::new(), |f| format!("{f} ! "));
    let stride = stride.map_or(String::new(), |n| format!(" stride={n}"));
    let threshold = threshold.map_or(String::new(), |t| format!(" threshold={t}"));
    let calibration = calibration.map_or(String::new(), |(file, mode)| {
        format!(
            " calibration-location=\"{}\" calibration-mode={mode}",
            file.display()
        )
    });
    format!(
        "{front}{flow}clipbuffer{stride} ! violenceclassify name=classify mode=sync emit-scores=true \
         device={device} model-location=\"{model}\"{threshold}{calibration} ! fakesink name=sink sync=false"
    )
}

/// Reads a score or start message of violenceclassify into `run`.
pub(crate) fn collect_event(msg: &gst::Message, run: &mut ClipRun) {
    if let gst::MessageView::Element(e) = msg.view() {
        if let Some(ev) = e.structure().and_then(ViolenceEvent::from_structure) {
            match ev.kind {
                EventKind::Score => run.windows.push(ev),
                EventKind::Start => run.starts.push(ev),
                EventKind::End => (),
            }
        }
    }
}

pub(crate) fn run_clip(uri: &str, tail: &str) -> ClipRun {
    run_clip_range(uri, tail, None)
}

/// Plays one manifest row of the folder `dir` on its own; a row whose file cannot be found
/// is a failed run. Errors are printed as they come.
pub(crate) fn run_row(row: &manifest::Row, dir: &Path, tail: &str) -> ClipRun {
    let run = match row.uri(dir) {
        Ok(uri) => run_clip(&uri, tail),
        Err(e) => ClipRun {
            error: Some(e),
            ..ClipRun::default()
        },
    };
    if let Some(e) = &run.error {
        eprintln!("error: {}: {e}", row.path);
    }
    run
}

/// `range`: play only [start, stop) of the clip (ns of stream time), through a flushing
/// seek before it plays; running time then starts at 0 at `start`.
pub(crate) fn run_clip_range(uri: &str, tail: &str, range: Option<(u64, u64)>) -> ClipRun {
    let launch = format!("uridecodebin uri=\"{uri}\" ! videoconvert ! {tail}");
    let mut run = ClipRun::default();
    let pipeline = match gst::parse::launch(&launch) {
        Ok(p) => p,
        Err(e) => {
            run.error = Some(e.to_string());
            return run;
        }
    };
    let played = match track_played(&pipeline) {
        Ok(p) => p,
        Err(e) => {
            run.error = Some(e);
            return run;
        }
    };
    if let Some((start, stop)) = range {
        if let Err(e) = seek_to(&pipeline, start, stop) {
            let _ = pipeline.set_state(gst::State::Null);
            run.error = Some(e);
            return run;
        }
    }
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        run.error = Some(format!("cannot start: {e}"));
        return run;
    }
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    run.error = Some("timed out after 300 s".to_string());
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(
        deadline.saturating_duration_since(Instant::now()).as_secs(),
    )) {
        collect_event(&msg, &mut run);
        match msg.view() {
            gst::MessageView::Error(e) => {
                run.error = Some(format!("{}: {}", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            gst::MessageView::Eos(_) => {
                run.error = run.windows.is_empty().then(|| "no score".to_string());
                break;
            }
            _ => (),
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    run.played = played.lock().unwrap().1;
    run
}

/// Prerolls `pipeline` and seeks it to [start, stop) ns.
pub(crate) fn seek_to(pipeline: &gst::Element, start: u64, stop: u64) -> Result<(), String> {
    pipeline
        .set_state(gst::State::Paused)
        .map_err(|e| format!("cannot preroll: {e}"))?;
    let (done, _, _) = pipeline.state(gst::ClockTime::from_seconds(60));
    done.map_err(|e| format!("no preroll: {e}"))?;
    pipeline
        .seek(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds(start),
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds(stop),
        )
        .map_err(|e| format!("cannot seek to {start}..{stop} ns: {e}"))?;
    let (done, _, _) = pipeline.state(gst::ClockTime::from_seconds(60));
    done.map(|_| ())
        .map_err(|e| format!("no preroll after the seek: {e}"))
}

/// The normal clips of one dataset played back to back as one stream.
pub(crate) struct NormalStream {
    pub(crate) run: ClipRun,
    /// Running time (ns) at which each clip starts, in play order.
    pub(crate) clip_starts: Vec<u64>,
    /// Running time (ns) played: the end of the last frame.
    pub(crate) played: u64,
}

/// The raw format of a clip as decoded: the format the whole stream takes, as a camera has
/// one size and frame rate.
pub(crate) fn stream_format(uri: &str) -> Result<gst::Caps, String> {
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! fakesink name=sink"
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline".to_string())?;
    let result = (|| {
        pipeline
            .set_state(gst::State::Paused)
            .map_err(|e| format!("cannot preroll: {e}"))?;
        let bus = pipeline.bus().ok_or("no bus")?;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::AsyncDone(_) => {
                    let caps = pipeline
                        .by_name("sink")
                        .and_then(|s| s.static_pad("sink"))
                        .and_then(|p| p.current_caps())
                        .ok_or("no caps after preroll")?;
                    let info = gst_video::VideoInfo::from_caps(&caps)
                        .map_err(|_| format!("not raw video: {caps}"))?;
                    // Variable frame rate (0/1) cannot be resampled to: 25 fps then.
                    let fps = if info.fps().numer() > 0 {
                        info.fps()
                    } else {
                        gst::Fraction::new(25, 1)
                    };
                    return gst_video::VideoInfo::builder(
                        info.format(),
                        info.width(),
                        info.height(),
                    )
                    .fps(fps)
                    .par(gst::Fraction::new(1, 1))
                    .colorimetry(&info.colorimetry())
                    .chroma_site(info.chroma_site())
                    .build()
                    .and_then(|i| i.to_caps())
                    .map_err(|e| format!("{e}"));
                }
                gst::MessageView::Error(e) => return Err(e.error().to_string()),
                _ => (),
            }
        }
        Err("no preroll within 60 s".to_string())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Plays `uris` as one stream through concat into the analysis `tail`, so that the decision
/// state (hysteresis, min-consecutive, hold-time) carries across clip boundaries. Every clip
/// is converted, scaled (no borders, like clipbuffer's own scaling) and rate-converted to
/// the first clip's format and restamped to one segment, so the caps never change and
/// clipbuffer's windows run on across boundaries as on a camera. Decoders are created one
/// clip ahead and dropped once played; concat's sink pads are all requested up front so
/// that it never runs out of inputs early.
pub(crate) fn run_normal_stream(uris: &[String], tail: &str) -> NormalStream {
    let mut stream = NormalStream {
        run: ClipRun::default(),
        clip_starts: Vec::new(),
        played: 0,
    };
    let Some(first) = uris.first() else {
        return stream;
    };
    let caps = match stream_format(first) {
        Ok(c) => c,
        Err(e) => {
            stream.run.error = Some(format!("{first}: {e}"));
            return stream;
        }
    };
    match play_concatenated(uris, &caps, tail, &mut stream) {
        Ok(()) => (),
        Err(e) => stream.run.error = Some(e),
    }
    stream
}

/// State of the restamping probe after concat.
#[derive(Default)]
pub(crate) struct OneSegment {
    /// The segment of the clip playing now.
    pub(crate) clip_segment: gst::FormattedSegment<gst::ClockTime>,
    pub(crate) new_clip: bool,
    pub(crate) clip_starts: Vec<u64>,
}

impl OneSegment {
    pub(crate) fn restamp(&mut self, info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
        match &mut info.data {
            Some(gst::PadProbeData::Event(ev)) => match ev.view() {
                gst::EventView::StreamStart(_) => self.new_clip = true,
                gst::EventView::Segment(s) => {
                    let Ok(segment) = s.segment().clone().downcast::<gst::ClockTime>() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    if std::mem::take(&mut self.new_clip) {
                        let start = segment.to_running_time(segment.start());
                        self.clip_starts.push(start.map_or(0, |t| t.nseconds()));
                    }
                    self.clip_segment = segment;
                    // Every clip's segment becomes the same one (dropping a sticky event
                    // in a probe makes the pad retry it before every buffer).
                    let seqnum = ev.seqnum();
                    *ev = gst::event::Segment::builder(
                        &gst::FormattedSegment::<gst::ClockTime>::new(),
                    )
                    .seqnum(seqnum)
                    .build();
                }
                _ => (),
            },
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let Some(running_time) = buffer
                    .pts()
                    .and_then(|pts| self.clip_segment.to_running_time(pts))
                else {
                    // Outside its clip's segment: it would not be shown.
                    return gst::PadProbeReturn::Drop;
                };
                let buffer = buffer.make_mut();
                buffer.set_pts(running_time);
                buffer.set_dts(gst::ClockTime::NONE);
            }
            _ => (),
        }
        gst::PadProbeReturn::Ok
    }
}

pub(crate) fn play_concatenated(
    uris: &[String],
    caps: &gst::Caps,
    tail: &str,
    stream: &mut NormalStream,
) -> Result<(), String> {
    let launch = format!(
        "concat name=joined ! videoconvert ! videoscale add-borders=false ! videorate \
         ! capsfilter name=format ! {tail}"
    );
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let by_name = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| format!("no element {name}"))
    };
    by_name("format")?.set_property("caps", caps);
    let concat = by_name("joined")?;
    let concat_pads: Vec<gst::Pad> = (0..uris.len())
        .map(|_| concat.request_pad_simple("sink_%u"))
        .collect::<Option<_>>()
        .ok_or("concat gives no sink pad")?;
    // One segment, as a camera's stream has: after videorate (which restarts its timestamps
    // at each segment it sees), every frame is restamped to its running time (concat's
    // adjust-base keeps the clips adjacent) and every clip's segment is replaced by the same
    // one, starting at 0.
    // Elements that map a window's PTS to running time with the latest segment then see
    // consistent times across boundaries. The running time of each clip's first segment
    // marks where it starts.
    let restamp = Arc::new(Mutex::new(OneSegment::default()));
    let r = restamp.clone();
    by_name("format")?
        .static_pad("src")
        .ok_or("capsfilter has no src pad")?
        .add_probe(
            gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BUFFER,
            move |_, info| r.lock().unwrap().restamp(info),
        );
    // Footage played and progress: the running time of the last frame at the sink.
    let played = track_played(pipeline.upcast_ref())?;
    // Which input plays now, told to this thread: it adds the next decoder and drops the
    // played ones (not from concat's streaming thread).
    concat.connect_notify(Some("active-pad"), |concat, _| {
        let index = concat
            .property::<Option<gst::Pad>>("active-pad")
            .and_then(|p| p.name().strip_prefix("sink_")?.parse::<u32>().ok());
        if let Some(index) = index {
            let s = gst::Structure::builder("active-input")
                .field("index", index)
                .build();
            let _ = concat.post_message(gst::message::Application::builder(s).src(concat).build());
        }
    });
    let mut decoders: Vec<Option<gst::Element>> = vec![None; uris.len()];
    let add_decoder = |decoders: &mut Vec<Option<gst::Element>>, i: usize| -> Result<(), String> {
        if i >= uris.len() || decoders[i].is_some() {
            return Ok(());
        }
        let decoder = gst::ElementFactory::make("uridecodebin")
            .property("uri", &uris[i])
            .build()
            .map_err(|e| e.to_string())?;
        let target = concat_pads[i].clone();
        decoder.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/"));
            // Audio and further video pads stay unlinked, as with `uridecodebin ! ...`.
            if video && !target.is_linked() {
                let _ = pad.link(&target);
            }
        });
        pipeline.add(&decoder).map_err(|e| e.to_string())?;
        decoder
            .sync_state_with_parent()
            .map_err(|e| e.to_string())?;
        decoders[i] = Some(decoder);
        Ok(())
    };
    add_decoder(&mut decoders, 0)?;
    add_decoder(&mut decoders, 1)?;
    let result = (|| {
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start: {e}"))?;
        let bus = pipeline.bus().ok_or("no bus")?;
        let (mut progress, mut progress_at) = (0u64, Instant::now());
        loop {
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(1)) else {
                let now = played.lock().unwrap().1;
                if now != progress {
                    (progress, progress_at) = (now, Instant::now());
                } else if progress_at.elapsed() > Duration::from_secs(300) {
                    return Err(format!(
                        "stalled for 300 s at {:.1} s of footage",
                        now as f64 / 1e9
                    ));
                }
                continue;
            };
            collect_event(&msg, &mut stream.run);
            match msg.view() {
                gst::MessageView::Application(a) => {
                    if let Some(i) = a
                        .structure()
                        .filter(|s| s.name() == "active-input")
                        .and_then(|s| s.get::<u32>("index").ok())
                    {
                        let i = i as usize;
                        add_decoder(&mut decoders, i + 1)?;
                        for played in decoders.iter_mut().take(i) {
                            if let Some(d) = played.take() {
                                let _ = d.set_state(gst::State::Null);
                                let _ = pipeline.remove(&d);
                            }
                        }
                    }
                }
                gst::MessageView::Error(e) => {
                    let source = e.src().map(|s| s.path_string().to_string());
                    return Err(format!(
                        "{} ({}): {}",
                        e.error(),
                        source.unwrap_or_default(),
                        e.debug().unwrap_or_default()
                    ));
                }
                gst::MessageView::Eos(_) => return Ok(()),
                _ => (),
            }
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    stream.played = played.lock().unwrap().1;
    stream.clip_starts = restamp.lock().unwrap().clip_starts.clone();
    result
}
