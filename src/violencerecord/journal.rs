// SPDX-License-Identifier: MPL-2.0

//! What `violencerecord` keeps beside the files: the event log (one JSON line per start,
//! end and finished file) and the rotation that keeps at most `max-files` files.

use super::branch::Branch;
use super::recorder::Mark;
use crate::event::ViolenceEvent;
use std::io::Write as _;

/// The `event-log` file, appended to; writing to a closed log does nothing.
#[derive(Debug, Default)]
pub struct EventLog {
    file: Option<std::fs::File>,
}

impl EventLog {
    /// Opens (creates or appends to) the log at `path`; no path, no log.
    pub fn open(path: Option<&str>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(EventLog::default());
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("event-log {path}: {e}"))?;
        // A line torn by a power cut is ended, so the next line is not glued onto it.
        if !ends_a_line(path) {
            file.write_all(b"\n")
                .map_err(|e| format!("event-log {path}: {e}"))?;
        }
        Ok(EventLog { file: Some(file) })
    }

    /// Appends one line.
    pub fn write(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.write_all(format!("{value}\n").as_bytes()),
            None => Ok(()),
        }
    }
}

/// The index after the highest event index in the log at `path` (an event line's `index`, a
/// segment line's `events`), 0 for none or no log: a run appending to the log of earlier runs
/// numbers its events on, so that every index names one event.
pub fn next_event_index(path: &str) -> usize {
    // Bytes, line by line: a line torn by a power cut (cut inside a character) is skipped,
    // not the whole log.
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .flat_map(|line| {
            let listed = line["events"].as_array().cloned().unwrap_or_default();
            listed
                .into_iter()
                .chain(std::iter::once(line["index"].clone()))
                .filter_map(|v| v.as_u64())
                .collect::<Vec<_>>()
        })
        .max()
        .map_or(0, |last| {
            usize::try_from(last)
                .unwrap_or(usize::MAX)
                .saturating_add(1)
        })
}

/// Whether the file at `path` is empty or ends with a newline.
fn ends_a_line(path: &str) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return true;
    };
    let mut last = [b'\n'];
    if file.seek(SeekFrom::End(-1)).is_err() {
        return true; // empty
    }
    file.read_exact(&mut last).is_err() || last[0] == b'\n'
}

fn opt_ns(t: Option<gst::ClockTime>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| t.nseconds().into())
}

/// Now, in UTC with microseconds, e.g. 2024-05-01T12:00:00.000123Z.
pub fn wall_clock() -> String {
    glib::DateTime::now_utc()
        .ok()
        .and_then(|t| {
            t.format("%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|s| format!("{s}.{:06}Z", t.microsecond()))
        })
        .unwrap_or_default()
}

/// The line for a finished file.
pub fn file_line(branch: &Branch, time: &str) -> serde_json::Value {
    let span = &branch.span;
    serde_json::json!({
        "time": time,
        "event": "file",
        "file": branch.location,
        "first-pts": opt_ns(span.first_pts),
        "last-pts": opt_ns(span.last_pts),
        "duration": opt_ns(span.duration()),
        "frames": span.frames,
        "reason": branch.reason,
    })
}

/// The line for a start or an end that took effect at running time `rt`. `info` is the
/// event that caused it; `None` when the level state in `ViolenceMeta` repaired a lost one.
pub fn mark_line(
    mark: Mark,
    rt: u64,
    info: Option<&ViolenceEvent>,
    stream_time: Option<gst::ClockTime>,
    file: Option<&str>,
    time: &str,
) -> serde_json::Value {
    let region = info
        .and_then(|e| e.region)
        .map(|r| serde_json::json!({"x": r.x, "y": r.y, "width": r.width, "height": r.height}));
    serde_json::json!({
        "time": time,
        "event": match mark { Mark::Start => "start", Mark::End => "end" },
        "stream-time": opt_ns(stream_time),
        "running-time": rt,
        "score": info.map(|e| e.score),
        "region": region,
        "stream-id": info.map(|e| e.stream_id.clone()),
        "reconciled": info.is_none(),
        "file": file,
        "reason": info.and_then(|e| e.reason.clone()),
    })
}

/// The end of an event the stream left open: at `rt` (the last frame seen), for `reason`
/// (`eos`, `stopped`).
pub fn unfinished_end_line(rt: Option<u64>, reason: &str, time: &str) -> serde_json::Value {
    serde_json::json!({
        "time": time,
        "event": "end",
        "running-time": rt,
        "reason": reason,
        "reconciled": false,
    })
}

/// Keeps the log's starts and ends in pairs. An end is logged only after a start, and once
/// the stream is finished (EOS, or the element stops) nothing more is logged until it
/// flows again: a mark applied by the streaming thread while the element stops would
/// otherwise close, a second time, an event the stop already closed.
#[derive(Debug, Default)]
pub struct Pairing {
    open: bool,
    finished: bool,
}

impl Pairing {
    /// Whether a mark that took effect goes into the log.
    pub fn admit(&mut self, mark: Mark) -> bool {
        if self.finished {
            return false;
        }
        match mark {
            Mark::Start => {
                self.open = true;
                true
            }
            Mark::End => std::mem::take(&mut self.open),
        }
    }

    /// The stream is finished: whether an event is still open and needs its end line.
    pub fn finish(&mut self) -> bool {
        self.finished = true;
        std::mem::take(&mut self.open)
    }

    /// The stream flows again (after a flush).
    pub fn resume(&mut self) {
        self.finished = false;
    }
}

/// The files this element has written, oldest first, for `max-files`.
#[derive(Debug, Default)]
pub struct Rotation {
    /// Finished files by the order they were opened in, oldest first.
    files: Vec<(u64, String)>,
    opened: u64,
}

impl Rotation {
    /// A run's rotation that counts `earlier` (paths, oldest first: what earlier runs left in
    /// the folder) as older than anything it opens, so that `max-files` bounds the folder
    /// across restarts, not each run.
    pub fn with_earlier(earlier: Vec<String>) -> Self {
        let opened = earlier.len() as u64;
        Rotation {
            files: (0..).zip(earlier).collect(),
            opened,
        }
    }

    /// A file is opened: its place in the order of files.
    pub fn open(&mut self) -> u64 {
        self.opened += 1;
        self.opened
    }

    /// Counts a finished file, opened `order`th; returns the oldest ones to delete so that
    /// at most `max_files` remain (0: keep all). Oldest as opened, not as finished: files
    /// finish on threads of their own, so an older one may finish after a newer.
    pub fn add(&mut self, order: u64, location: String, max_files: u32) -> Vec<String> {
        // A file of the last run that finished after this run listed the folder is there
        // already, as an earlier file.
        if !self.files.iter().any(|(_, l)| *l == location) {
            let at = self.files.partition_point(|(o, _)| *o <= order);
            self.files.insert(at, (order, location));
        }
        let keep = match max_files {
            0 => self.files.len(),
            n => n as usize,
        };
        let excess = self.files.len().saturating_sub(keep);
        self.files.drain(..excess).map(|(_, l)| l).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::meta::Region;

    #[test]
    fn rotation_keeps_the_newest() {
        let mut r = Rotation::default();
        assert!(r.add(0, "a".into(), 2).is_empty());
        assert!(r.add(1, "b".into(), 2).is_empty());
        assert_eq!(r.add(2, "c".into(), 2), ["a"]);
        assert_eq!(r.add(3, "d".into(), 2), ["b"]);
        assert_eq!(
            r.add(4, "e".into(), 1),
            ["c", "d"],
            "a lower limit deletes more"
        );
        let mut all = Rotation::default();
        for name in ["a", "b", "c"] {
            let order = all.open();
            assert!(
                all.add(order, name.into(), 0).is_empty(),
                "0 keeps every file"
            );
        }
        assert_eq!(all.open(), 4);
    }

    #[test]
    fn next_event_index_follows_the_highest_in_the_log() {
        let path =
            std::env::temp_dir().join(format!("gst-violence-log-{}.jsonl", std::process::id()));
        let path = path.to_str().unwrap();
        let _ = std::fs::remove_file(path);
        assert_eq!(next_event_index(path), 0, "no log");
        std::fs::write(
            path,
            "{\"event\":\"start\",\"index\":3}\n{\"event\":\"segment\",\"events\":[3,4]}\n\
             not json\n{\"event\":\"file\"}\n",
        )
        .unwrap();
        assert_eq!(next_event_index(path), 5);
        let mut torn = b"{\"event\":\"start\",\"index\":41}\n{\"file\":\"caf\xc3".to_vec();
        torn.push(b'\n');
        std::fs::write(path, torn).unwrap();
        assert_eq!(
            next_event_index(path),
            42,
            "a torn line is skipped, not the log"
        );
        // A log that ends inside a line (the process died mid-write): the next run's first
        // line starts a line of its own.
        std::fs::write(
            path,
            "{\"event\":\"start\",\"index\":41}\n{\"event\":\"end\",\"ind",
        )
        .unwrap();
        let mut log = EventLog::open(Some(path)).unwrap();
        log.write(&serde_json::json!({"event": "start", "index": 42}))
            .unwrap();
        drop(log);
        assert_eq!(next_event_index(path), 43);
        std::fs::write(path, "{\"event\":\"file\"}\n").unwrap();
        assert_eq!(
            next_event_index(path),
            0,
            "mode=events lines carry no index"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn rotation_deletes_earlier_runs_files_first() {
        let mut r = Rotation::with_earlier(vec!["old-a".into(), "old-b".into()]);
        let order = r.open();
        assert!(order > 1, "opened after the earlier files");
        assert_eq!(r.add(order, "new".into(), 2), ["old-a"]);
        let order = r.open();
        assert_eq!(r.add(order, "newer".into(), 2), ["old-b"]);
        assert!(
            r.add(0, "newer".into(), 2).is_empty(),
            "a file counted once, however often it is reported"
        );
        let mut all = Rotation::with_earlier(vec!["old".into()]);
        let order = all.open();
        assert!(
            all.add(order, "new".into(), 0).is_empty(),
            "0 keeps every file"
        );
    }

    #[test]
    fn rotation_orders_files_as_they_were_opened() {
        let mut r = Rotation::default();
        assert!(r.add(1, "b".into(), 2).is_empty(), "b finished first");
        assert!(r.add(0, "a".into(), 2).is_empty());
        assert_eq!(r.add(2, "c".into(), 2), ["a"]);
        assert_eq!(
            r.add(0, "late".into(), 2),
            ["late"],
            "older than what is kept"
        );
    }

    #[test]
    fn pairing_logs_one_end_per_start_and_nothing_after_the_stream_finished() {
        let mut p = Pairing::default();
        assert!(!p.admit(Mark::End), "an end with no start");
        assert!(p.admit(Mark::Start));
        assert!(p.admit(Mark::End));
        assert!(!p.admit(Mark::End), "a second end");
        assert!(!p.finish(), "nothing open");
        assert!(!p.admit(Mark::Start), "after the stream finished");
        p.resume();
        assert!(p.admit(Mark::Start));
        assert!(p.finish(), "open at the stop: it needs its end line");
        assert!(
            !p.admit(Mark::End),
            "an end applied while stopping: the stop already logged it"
        );
        assert!(!p.finish());
    }

    #[test]
    fn mark_line_says_whether_the_event_was_reconciled() {
        let event = ViolenceEvent {
            kind: EventKind::Start,
            pts: 5,
            running_time: 7,
            score: 0.75,
            clip_start: 1,
            clip_end: 2,
            region: Some(Region {
                x: 1,
                y: 2,
                width: 3,
                height: 4,
            }),
            stream_id: "cam1".into(),
            latency: 0,
            steps: 1,
            reason: None,
            scene_cut: false,
        };
        let ns = gst::ClockTime::from_nseconds;
        let line = mark_line(
            Mark::Start,
            7,
            Some(&event),
            Some(ns(5)),
            Some("f.mp4"),
            "t",
        );
        assert_eq!(line["event"], "start");
        assert_eq!(line["stream-time"], 5);
        assert_eq!(line["score"], 0.75);
        assert_eq!(line["region"]["height"], 4);
        assert_eq!(line["stream-id"], "cam1");
        assert_eq!(line["reconciled"], false);
        assert_eq!(line["file"], "f.mp4");
        let repaired = mark_line(Mark::End, 9, None, None, None, "t");
        assert_eq!(repaired["event"], "end");
        assert_eq!(repaired["reconciled"], true);
        assert!(repaired["score"].is_null() && repaired["file"].is_null());
    }

    #[test]
    fn log_appends_one_line_per_write() {
        let path = std::env::temp_dir().join(format!("journal-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        for n in 0..2 {
            let mut log = EventLog::open(path.to_str()).unwrap();
            log.write(&serde_json::json!({ "n": n })).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n");
        std::fs::remove_file(&path).unwrap();
        assert!(EventLog::default().write(&serde_json::json!({})).is_ok());
        let err = EventLog::open(Some("/nonexistent/dir/log.jsonl")).unwrap_err();
        assert!(
            err.starts_with("event-log /nonexistent/dir/log.jsonl: "),
            "{err}"
        );
    }

    #[test]
    fn wall_clock_is_utc_with_microseconds() {
        let t = wall_clock();
        assert_eq!(t.len(), "2024-05-01T12:00:00.000123Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}
