// SPDX-License-Identifier: MPL-2.0

//! One file of `violencerecord`: `appsrc ! <muxer> ! filesink` in its own bin, added to the
//! recorder while the file is open and removed once the muxer has written its last byte;
//! and the set of branches whose muxer is finishing.

use gst::prelude::*;
use std::collections::{HashMap, HashSet};

/// Where a file's frames lie in the stream, for its `closed` report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FileSpan {
    pub first_pts: Option<gst::ClockTime>,
    pub last_pts: Option<gst::ClockTime>,
    /// The end of the latest-ending frame (PTS + duration).
    pub end_pts: Option<gst::ClockTime>,
    pub frames: u64,
}

impl FileSpan {
    /// Counts one frame; frames come in decoding order, so PTS may go back (B-frames).
    pub fn record(&mut self, pts: Option<gst::ClockTime>, duration: Option<gst::ClockTime>) {
        self.first_pts
            .get_or_insert_with(|| pts.unwrap_or_default());
        if let Some(pts) = pts {
            self.last_pts = Some(self.last_pts.map_or(pts, |l| l.max(pts)));
            let end = pts + duration.unwrap_or_default();
            self.end_pts = Some(self.end_pts.map_or(end, |e| e.max(end)));
        }
        self.frames += 1;
    }

    /// From the first frame's PTS to the end of the last frame.
    pub fn duration(&self) -> Option<gst::ClockTime> {
        match (self.first_pts, self.end_pts) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        }
    }
}

/// Where a file's segment starts. Each file has a timeline of its own, from 0 at its first
/// frame, so that its length (and MP4's fragment header) does not count the time since the
/// stream began. Its first decoding times can precede that (B-frames): as GstVideoEncoder
/// does, times are offset by this much and the segment starts here, so that muxers see a
/// negative running time instead of a missing DTS (which made fragmented MP4 report 2^32
/// ticks).
pub const FILE_SEGMENT_START: gst::ClockTime = gst::ClockTime::from_seconds(1000 * 3600);

/// Maps a stream's running times onto a file's timeline.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// Running time (ns) of the file's first frame, its 0.
    origin: Option<i64>,
}

impl Timeline {
    /// File times of a frame (PTS, DTS) from their running times; the first frame written
    /// sets the origin. A time before the file's segment start is dropped.
    pub fn place(
        &mut self,
        pts: Option<gst::Signed<gst::ClockTime>>,
        dts: Option<gst::Signed<gst::ClockTime>>,
    ) -> (Option<gst::ClockTime>, Option<gst::ClockTime>) {
        let (pts, dts) = (pts.map(signed_ns), dts.map(signed_ns));
        let Some(origin) = self.origin.or(pts).or(dts) else {
            return (None, None);
        };
        self.origin = Some(origin);
        let start = FILE_SEGMENT_START.nseconds() as i64;
        let place = |t: Option<i64>| {
            let ns = t?.checked_sub(origin)?.checked_add(start)?;
            u64::try_from(ns).ok().map(gst::ClockTime::from_nseconds)
        };
        (place(pts), place(dts))
    }

    /// File time of running time `rt` (ns) once the first frame set the origin; `None`
    /// before that or for a time before the origin.
    pub fn place_after_origin(&self, rt: u64) -> Option<gst::ClockTime> {
        let origin = self.origin?;
        let ns = (rt as i64).checked_sub(origin)?;
        u64::try_from(ns)
            .ok()
            .map(|ns| FILE_SEGMENT_START + gst::ClockTime::from_nseconds(ns))
    }

    /// The segment the file's times are in.
    pub fn segment() -> gst::FormattedSegment<gst::ClockTime> {
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(FILE_SEGMENT_START);
        segment.set_time(gst::ClockTime::ZERO);
        segment
    }
}

fn signed_ns(t: gst::Signed<gst::ClockTime>) -> i64 {
    match t {
        gst::Signed::Positive(t) => t.nseconds() as i64,
        gst::Signed::Negative(t) => -(t.nseconds() as i64),
    }
}

/// Why a branch could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// This element factory is not installed.
    MissingElement(String),
    /// The elements could not be added or linked.
    Link(String),
}

/// Sets a muxer that has a `fragment-duration` property (mp4mux, qtmux) to write fragments
/// of `milliseconds` (0 leaves its own, as does a fragment duration already set on it, or a
/// `reserved-max-duration`: robust muxing chosen instead):
/// what was written survives a crash or a stop without EOS, and a regular moov over all
/// samples is written at EOS. The default (DASH) mode only finalizes a fragment duration,
/// and with B-frames it shifts every PTS by the decoding delay without an edit list, so
/// qtdemux cuts the last frames.
pub fn fragment_muxer(mux: &gst::Element, milliseconds: u32) {
    let robust = mux.find_property("reserved-max-duration").is_some()
        && mux.property::<u64>("reserved-max-duration") != u64::MAX;
    if milliseconds == 0
        || robust
        || mux.find_property("fragment-duration").is_none()
        || mux.property::<u32>("fragment-duration") > 0
    {
        return;
    }
    mux.set_property("fragment-duration", milliseconds);
    if mux.find_property("fragment-mode").is_some() {
        mux.set_property_from_str("fragment-mode", "first-moov-then-finalise");
    }
}

/// What a new file is written with.
#[derive(Debug, Clone, Copy)]
pub struct MuxerSpec<'a> {
    pub factory: &'a str,
    /// Milliseconds, for muxers that have a `fragment-duration` property; 0 leaves theirs.
    pub fragment_duration: u32,
    /// Caps of the encoded audio to record beside the video, if any.
    pub audio: Option<&'a gst::Caps>,
}

/// One file being written.
#[derive(Debug)]
pub struct Branch {
    pub bin: gst::Bin,
    /// Its place in the order of files opened (for `max-files`), set once it is opened.
    pub order: u64,
    appsrc: gst_app::AppSrc,
    pub location: String,
    pub span: FileSpan,
    timeline: Timeline,
    /// Why the file was closed, once it was.
    pub reason: &'static str,
    /// Where the audio goes in, when the file has an audio track.
    audio: Option<gst_app::AppSrc>,
    /// Running time (ns) up to which video is written: audio before it may follow.
    pub video_upto: Option<u64>,
    /// Running time (ns) of the last audio written.
    pub audio_upto: Option<u64>,
}

impl Branch {
    /// Builds the bin `file-<index>` writing to `location`; not yet added to a parent.
    pub fn build(
        index: u32,
        location: String,
        muxer: MuxerSpec,
        caps: Option<&gst::Caps>,
    ) -> Result<Branch, BuildError> {
        let make = |factory: &str| {
            gst::ElementFactory::make(factory)
                .build()
                .map_err(|_| BuildError::MissingElement(factory.to_string()))
        };
        let new_appsrc = |caps: Option<&gst::Caps>| {
            let appsrc = gst_app::AppSrc::builder()
                .format(gst::Format::Time)
                .is_live(false)
                .block(false)
                .build();
            // The file's segment (see Timeline) comes with each sample pushed.
            appsrc.set_property("handle-segment-change", true);
            appsrc.set_caps(caps);
            appsrc
        };
        let appsrc = new_appsrc(caps);
        let mux = make(muxer.factory)?;
        fragment_muxer(&mux, muxer.fragment_duration);
        let filesink = make("filesink")?;
        filesink.set_property("location", &location);
        filesink.set_property("async", false);
        filesink.set_property("sync", false);
        // Unbuffered: what the muxer wrote is on disk if the process is killed.
        filesink.set_property_from_str("buffer-mode", "unbuffered");
        let bin = gst::Bin::with_name(&format!("file-{index}"));
        bin.add_many([appsrc.upcast_ref(), &mux, &filesink])
            .map_err(|e| e.to_string())
            .and_then(|_| link_video(&appsrc, &mux, caps))
            .and_then(|_| mux.link(&filesink).map_err(|e| e.to_string()))
            .map_err(BuildError::Link)?;
        let audio = match muxer.audio {
            Some(audio_caps) => {
                let audio = new_appsrc(Some(audio_caps));
                bin.add(&audio)
                    .map_err(|e| e.to_string())
                    .and_then(|_| link_video(&audio, &mux, Some(audio_caps)))
                    .map_err(|e| BuildError::Link(format!("audio: {e}")))?;
                Some(audio)
            }
            None => None,
        };
        Ok(Branch {
            bin,
            order: 0,
            appsrc,
            location,
            span: FileSpan::default(),
            timeline: Timeline::default(),
            reason: "",
            audio,
            video_upto: None,
            audio_upto: None,
        })
    }

    pub fn name(&self) -> String {
        self.bin.name().to_string()
    }

    pub fn set_caps(&self, caps: &gst::Caps) {
        self.appsrc.set_caps(Some(caps));
    }

    /// Writes a frame. The file gets its own timeline from running time (see
    /// [`Timeline`]), so that a segment change upstream keeps it monotonic. Returns false
    /// when the branch no longer takes data.
    pub fn push(
        &mut self,
        buffer: &gst::Buffer,
        segment: &gst::FormattedSegment<gst::ClockTime>,
    ) -> bool {
        let pts = buffer.pts();
        let (file_pts, file_dts) = self.timeline.place(
            pts.and_then(|t| segment.to_running_time_full(t)),
            buffer.dts().and_then(|t| segment.to_running_time_full(t)),
        );
        let mut out = buffer.copy();
        {
            let b = out.make_mut();
            b.set_pts(file_pts);
            b.set_dts(file_dts);
        }
        self.span.record(pts, buffer.duration());
        if let Some(rt) = pts.and_then(|t| segment.to_running_time(t)) {
            let end = (rt + buffer.duration().unwrap_or_default()).nseconds();
            self.video_upto = Some(self.video_upto.map_or(end, |u| u.max(end)));
        }
        let caps = self.appsrc.caps();
        let sample = gst::Sample::builder()
            .buffer(&out)
            .segment(&Timeline::segment())
            .caps_if_some(caps.as_ref())
            .build();
        self.appsrc.push_sample(&sample).is_ok()
    }

    /// Whether the file has an audio track.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// Writes an audio buffer at running time `rt` (ns) on the file's timeline; one from
    /// before the file's first frame is left out. Returns false when the branch no longer
    /// takes data.
    pub fn push_audio(&mut self, buffer: &gst::Buffer, rt: u64) -> bool {
        let Some(audio) = &self.audio else {
            return true;
        };
        self.audio_upto = Some(rt);
        let Some(pts) = self.timeline.place_after_origin(rt) else {
            return true;
        };
        let mut out = buffer.copy();
        {
            let b = out.make_mut();
            b.set_pts(pts);
            b.set_dts(pts);
        }
        let caps = audio.caps();
        let sample = gst::Sample::builder()
            .buffer(&out)
            .segment(&Timeline::segment())
            .caps_if_some(caps.as_ref())
            .build();
        audio.push_sample(&sample).is_ok()
    }

    /// Where the data goes in (video, then audio if any): their end of stream makes the
    /// muxer finish the file.
    pub fn inputs(&self) -> Vec<gst_app::AppSrc> {
        std::iter::once(self.appsrc.clone())
            .chain(self.audio.clone())
            .collect()
    }

    /// Takes the branch out of `parent` and stops it. Locked first, so that a state change
    /// of `parent` running beside this leaves it alone; stopped last, so that what holds
    /// the last reference holds it in NULL.
    pub fn remove_from(&self, parent: &gst::Bin) {
        self.bin.set_locked_state(true);
        let _ = parent.remove(&self.bin);
        let _ = self.bin.set_state(gst::State::Null);
    }

    /// The `violence-recording` message body for a file just opened at `first`.
    pub fn opened_structure(
        &self,
        first: &gst::Buffer,
        segment: &gst::FormattedSegment<gst::ClockTime>,
    ) -> gst::Structure {
        let pts = first.pts();
        gst::Structure::builder("violence-recording")
            .field("action", "opened")
            .field("location", &self.location)
            .field("first-pts", pts)
            .field("running-time", pts.and_then(|t| segment.to_running_time(t)))
            .build()
    }

    /// The `violence-recording` message body for a finalized file.
    pub fn closed_structure(&self) -> gst::Structure {
        let span = &self.span;
        gst::Structure::builder("violence-recording")
            .field("action", "closed")
            .field("location", &self.location)
            .field("first-pts", span.first_pts)
            .field("last-pts", span.last_pts)
            .field("duration", span.duration())
            .field("frames", span.frames)
            .field("reason", self.reason)
            .build()
    }
}

impl Drop for Branch {
    /// A branch dropped on a path that did not stop it: no element may be disposed
    /// outside NULL. One still in its parent is the parent's to stop.
    fn drop(&mut self) {
        if self.bin.parent().is_none() && self.bin.current_state() != gst::State::Null {
            let _ = self.bin.set_state(gst::State::Null);
        }
    }
}

/// Links appsrc to the muxer's video (or audio) pad (requested from the template that takes `caps`).
fn link_video(
    appsrc: &gst_app::AppSrc,
    mux: &gst::Element,
    caps: Option<&gst::Caps>,
) -> Result<(), String> {
    let templ = mux.pad_template_list().into_iter().find(|t| {
        t.direction() == gst::PadDirection::Sink && caps.is_some_and(|c| t.caps().can_intersect(c))
    });
    let Some(templ) = templ else {
        return Err("the muxer has no pad for these caps".into());
    };
    let sinkpad = match templ.presence() {
        gst::PadPresence::Request => mux.request_pad(&templ, None, None),
        _ => mux.static_pad(templ.name_template()),
    }
    .ok_or_else(|| format!("no {} pad on the muxer", templ.name_template()))?;
    let srcpad = appsrc.static_pad("src").ok_or("appsrc without src pad")?;
    srcpad
        .link(&sinkpad)
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Branches whose muxer is finishing, by name, and how many of those taken out are still
/// being finalized: EOS waits for both, so that the `closed` message always precedes the
/// recorder's EOS.
#[derive(Debug)]
pub struct Closing<B> {
    branches: HashMap<String, B>,
    finishing: usize,
    /// Branches whose file failed to write. A failing filesink posts its error and then the
    /// branch's EOS; each is finalized on a thread of its own, so the mark, set when the
    /// error is posted, decides, not which thread runs first.
    failed: HashSet<String>,
}

impl<B> Default for Closing<B> {
    fn default() -> Self {
        Closing {
            branches: HashMap::new(),
            finishing: 0,
            failed: HashSet::new(),
        }
    }
}

impl<B> Closing<B> {
    pub fn insert(&mut self, name: String, branch: B) {
        self.branches.insert(name, branch);
    }

    /// Marks the branch's file as failed, before it is finalized (it may not be closing yet).
    pub fn mark_failed(&mut self, name: &str) {
        self.failed.insert(name.to_string());
    }

    /// Takes a branch out to finalize it, with whether its file failed; it counts as
    /// finishing until [`Self::finished`].
    pub fn take(&mut self, name: &str) -> Option<(B, bool)> {
        let branch = self.branches.remove(name)?;
        self.finishing += 1;
        Some((branch, self.failed.remove(name)))
    }

    /// A branch taken out is finalized; returns whether nothing is closing any more.
    pub fn finished(&mut self) -> bool {
        self.finishing = self.finishing.saturating_sub(1);
        self.is_idle()
    }

    pub fn is_idle(&self) -> bool {
        self.branches.is_empty() && self.finishing == 0
    }

    /// Branches told to close whose muxer has not finished.
    pub fn unfinished(&self) -> usize {
        self.branches.len()
    }

    /// Takes every branch that has not finished (at a stop without EOS).
    pub fn drain(&mut self) -> Vec<B> {
        self.failed.clear();
        self.branches.drain().map(|(_, b)| b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ms(v: u64) -> Option<gst::ClockTime> {
        Some(gst::ClockTime::from_nseconds(v * MS))
    }

    #[test]
    fn span_covers_reordered_frames_to_the_end_of_the_last() {
        let mut span = FileSpan::default();
        assert_eq!(span.duration(), None);
        span.record(ms(1000), ms(40));
        span.record(ms(1120), ms(40));
        span.record(ms(1040), ms(40));
        assert_eq!(span.first_pts, ms(1000));
        assert_eq!(span.last_pts, ms(1120));
        assert_eq!(span.end_pts, ms(1160));
        assert_eq!(span.duration(), ms(160));
        assert_eq!(span.frames, 3);
    }

    #[test]
    fn span_counts_frames_without_pts() {
        let mut span = FileSpan::default();
        span.record(None, None);
        span.record(ms(80), None);
        assert_eq!(span.first_pts, ms(0), "an untimed first frame starts at 0");
        assert_eq!((span.last_pts, span.end_pts), (ms(80), ms(80)));
        assert_eq!(span.frames, 2);
    }

    fn signed(ns: i64) -> Option<gst::Signed<gst::ClockTime>> {
        let t = gst::ClockTime::from_nseconds(ns.unsigned_abs());
        Some(if ns < 0 {
            gst::Signed::Negative(t)
        } else {
            gst::Signed::Positive(t)
        })
    }

    #[test]
    fn timeline_starts_each_file_at_its_first_frame() {
        let start = FILE_SEGMENT_START;
        let at = |ns: u64| Some(start + gst::ClockTime::from_nseconds(ns));
        let mut t = Timeline::default();
        // An I-frame decoded 80 ms before it shows (B-frames follow), at running time 30 s.
        let s30 = 30_000 * MS as i64;
        assert_eq!(
            t.place(signed(s30), signed(s30 - 80 * MS as i64)),
            (at(0), Some(start - gst::ClockTime::from_mseconds(80)))
        );
        assert_eq!(
            t.place(signed(s30 + 120 * MS as i64), signed(s30 - 40 * MS as i64)),
            (
                at(120 * MS),
                Some(start - gst::ClockTime::from_mseconds(40))
            )
        );
        assert_eq!(t.place(None, signed(s30)), (None, at(0)));
        let segment = Timeline::segment();
        assert_eq!(segment.to_running_time(start), Some(gst::ClockTime::ZERO));
    }

    #[test]
    fn timeline_takes_negative_running_times() {
        // The stream's first frames: the encoder's DTS precede its segment.
        let mut t = Timeline::default();
        let (pts, dts) = t.place(signed(0), signed(-80 * MS as i64));
        assert_eq!(pts, Some(FILE_SEGMENT_START));
        assert_eq!(
            dts,
            Some(FILE_SEGMENT_START - gst::ClockTime::from_mseconds(80))
        );
        let mut untimed = Timeline::default();
        assert_eq!(untimed.place(None, None), (None, None));
        assert_eq!(untimed.place(signed(5), None).0, Some(FILE_SEGMENT_START));
    }

    #[test]
    fn closing_is_idle_only_when_every_branch_is_finalized() {
        let mut closing = Closing::default();
        assert!(closing.is_idle());
        closing.insert("file-0".into(), 0);
        closing.insert("file-1".into(), 1);
        assert_eq!(closing.take("file-0"), Some((0, false)));
        assert_eq!(closing.take("file-0"), None, "taken once");
        assert!(!closing.finished(), "file-1 is still closing");
        assert_eq!(closing.take("file-1"), Some((1, false)));
        assert!(!closing.is_idle(), "file-1 is being finalized");
        assert!(closing.finished());
    }

    #[test]
    fn a_failed_file_stays_failed_whichever_message_is_finalized_first() {
        let mut closing = Closing::default();
        // The error arrives while the file is still the open one, then its EOS closes it.
        closing.mark_failed("file-0");
        closing.insert("file-0".into(), 0);
        closing.insert("file-1".into(), 1);
        assert_eq!(
            closing.take("file-0"),
            Some((0, true)),
            "the EOS thread ran first"
        );
        assert_eq!(
            closing.take("file-0"),
            None,
            "the error thread finds nothing left"
        );
        assert_eq!(
            closing.take("file-1"),
            Some((1, false)),
            "other files are not marked"
        );
        closing.mark_failed("file-1");
        assert_eq!(closing.take("file-1"), None);
        assert!(closing.failed.contains("file-1"));
        closing.drain();
        assert!(closing.failed.is_empty(), "a stop forgets the marks");
    }

    #[test]
    fn closing_drain_leaves_nothing() {
        let mut closing = Closing::default();
        closing.insert("file-3".into(), 3);
        assert_eq!(closing.unfinished(), 1);
        assert_eq!(closing.drain(), vec![3]);
        assert!(closing.is_idle());
    }

    fn h264_caps() -> gst::Caps {
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build()
    }

    #[test]
    fn build_links_appsrc_muxer_and_filesink() {
        gst::init().unwrap();
        let muxer = MuxerSpec {
            factory: "mpegtsmux",
            fragment_duration: 1000,
            audio: None,
        };
        let caps = h264_caps();
        let branch = Branch::build(7, "/nonexistent/x.ts".into(), muxer, Some(&caps)).unwrap();
        assert_eq!(branch.name(), "file-7");
        assert_eq!(branch.bin.children().len(), 3);
        let linked = branch
            .bin
            .iterate_elements()
            .into_iter()
            .flatten()
            .flat_map(|e| e.src_pads())
            .all(|p| p.is_linked());
        assert!(linked);
        assert_eq!(branch.span, FileSpan::default());
    }

    #[test]
    fn build_links_audio_when_it_is_given() {
        gst::init().unwrap();
        let alaw = gst::Caps::builder("audio/x-alaw")
            .field("rate", 8000)
            .field("channels", 1)
            .build();
        let muxer = MuxerSpec {
            factory: "matroskamux",
            fragment_duration: 0,
            audio: Some(&alaw),
        };
        let avc = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .build();
        let branch = Branch::build(1, "/nonexistent/x.mkv".into(), muxer, Some(&avc)).unwrap();
        assert!(branch.has_audio());
        assert_eq!(branch.inputs().len(), 2);
        let mp4 = MuxerSpec {
            factory: "mp4mux",
            fragment_duration: 0,
            audio: Some(&alaw),
        };
        let err = Branch::build(2, "x.mp4".into(), mp4, Some(&avc)).unwrap_err();
        assert!(
            matches!(err, BuildError::Link(ref e) if e.starts_with("audio")),
            "{err:?}"
        );
    }

    #[test]
    fn audio_is_placed_on_the_file_timeline_once_video_set_its_origin() {
        let mut t = Timeline::default();
        assert_eq!(t.place_after_origin(5), None, "no video yet");
        t.place(signed(1_000 * MS as i64), None);
        assert_eq!(
            t.place_after_origin(999 * MS),
            None,
            "before the first frame"
        );
        assert_eq!(
            t.place_after_origin(1_020 * MS),
            Some(FILE_SEGMENT_START + gst::ClockTime::from_mseconds(20))
        );
    }

    #[test]
    fn build_names_what_is_missing() {
        gst::init().unwrap();
        let muxer = MuxerSpec {
            factory: "no-such-muxer",
            fragment_duration: 0,
            audio: None,
        };
        let err = Branch::build(0, "x.mp4".into(), muxer, Some(&h264_caps())).unwrap_err();
        assert_eq!(err, BuildError::MissingElement("no-such-muxer".into()));
        let no_pad = MuxerSpec {
            factory: "mpegtsmux",
            fragment_duration: 0,
            audio: None,
        };
        let unknown = gst::Caps::builder("application/x-nothing").build();
        let err = Branch::build(0, "x.ts".into(), no_pad, Some(&unknown)).unwrap_err();
        assert!(matches!(err, BuildError::Link(_)), "{err:?}");
    }
}
