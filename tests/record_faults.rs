// SPDX-License-Identifier: MPL-2.0

//! violencerecord faced with faults: an unknown `source`, an unwritable location or
//! recording folder (refused at start, in both modes), a file on a full disk, a tmpfs that
//! fills or is read-only under each `on-write-error` policy.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use common::start_error;
use std::path::{Path, PathBuf};

#[test]
fn unknown_source_is_an_error() {
    let dir = out_dir("bad-source");
    let err = start_error(&format!(
        "videotestsrc num-buffers=5 ! x264enc ! h264parse ! {}",
        recorder(&dir, "source=nope")
    ));
    assert!(err.unwrap().contains("nope"));
}

#[test]
fn an_unknown_name_among_several_sources_is_named() {
    let dir = out_dir("bad-second-source");
    let err = start_error(&format!(
        "videotestsrc num-buffers=5 ! tee name=t t. ! queue ! {} name=cls ! fakesink \
         t. ! queue ! x264enc ! h264parse ! {}",
        classify(),
        recorder(&dir, "source=cls,nope")
    ))
    .expect("an error");
    assert!(err.contains("named nope"), "{err}");
}

#[test]
fn unwritable_location_is_an_error_not_a_hang() {
    let (_, r) = {
        let dir = out_dir("unwritable");
        let launch = format!(
            "appsrc name=src ! {} name=cls ! {ENCODE} ! violencerecord \
             location=/nonexistent/dir/ev-%d.mp4 pre-roll={ROLL_NS} post-roll={ROLL_NS}",
            classify(),
        );
        (dir, run(&launch, "cls", 100, &[30..45], None))
    };
    let err = r.out.error.expect("an error");
    assert!(err.contains("/nonexistent/dir/ev-0.mp4"), "{err}");
}

#[test]
fn an_unwritable_recording_folder_is_refused_at_start_before_any_event() {
    // /proc takes no new file, even from root; a folder that does not exist neither. No
    // event ever comes here: the check must not wait for one.
    for (location, folder) in [
        ("/proc/ev-%d.mp4", "/proc"),
        ("/nonexistent/ev-%d.mp4", "/nonexistent"),
    ] {
        let err = start_error(&format!(
            "videotestsrc num-buffers=5 ! x264enc ! h264parse ! violencerecord location={location}"
        ))
        .expect("an error at start");
        assert!(
            err.contains("recording folder") && err.contains(folder),
            "{err}"
        );
    }
}

#[test]
fn full_disk_loses_one_file_not_the_stream() {
    // ev-000.mp4 is /dev/full: every write fails with ENOSPC.
    let dir = out_dir("full-disk");
    std::os::unix::fs::symlink("/dev/full", dir.join("ev-000.mp4")).unwrap();
    let launch = format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! {}",
        classify(),
        recorder(&dir, "")
    );
    let r = run(&launch, "cls", 170, &[30..45, 100..115], None);
    assert_eq!(r.out.error, None, "a failed file is a warning");
    let ev = events(&r.out);
    assert_eq!(ev.len(), 2);
    let closed = recording_messages(&r.out, "closed");
    assert_eq!(closed.len(), 1, "only the second file finished");
    check_file(&dir.join("ev-001.mp4"), ev[1].0, ev[1].1, 169);
}

/// A tmpfs of `bytes` (rounded up to pages) mounted on a fresh `target/test-record/<name>`,
/// unmounted on drop; `None` (the test says it skipped) where mounting is not permitted.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, options: &str) -> Option<Tmpfs> {
        let dir = out_dir(name);
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs on {} ({}): this test needs root",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

const DISK_FRAMES: u64 = 260;
/// A short event, a long one that fills the disk, then one more.
const DISK_MOTION: [std::ops::Range<u64>; 3] = [30..45, 90..170, 215..225];

fn disk_launch(dir: &Path, log_dir: &Path, policy: &str) -> String {
    format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! violencerecord name=rec \
         location={}/ev-%03d.mp4 pre-roll={ROLL_NS} post-roll={ROLL_NS} \
         event-log={}/events.jsonl on-write-error={policy}",
        classify(),
        dir.display(),
        log_dir.display()
    )
}

#[test]
fn full_disk_keeps_finished_files_and_the_stream() {
    // The sizes the files have with room to spare.
    let roomy = out_dir("disk-roomy");
    let r = run(
        &disk_launch(&roomy, &roomy, "skip"),
        "cls",
        DISK_FRAMES,
        &DISK_MOTION,
        None,
    );
    assert_eq!(r.out.error, None);
    let sizes: Vec<u64> = files_in(&roomy)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    let page = |n: u64| n.div_ceil(4096) * 4096;
    // Room for the first file and a third of the second.
    let size = page(sizes[0]) + page(sizes[1] / 3);
    for policy in ["skip", "error"] {
        let Some(disk) = Tmpfs::mount(&format!("disk-full-{policy}"), &format!("size={size}"))
        else {
            return;
        };
        let logs = out_dir(&format!("disk-full-{policy}-log"));
        let r = run(
            &disk_launch(&disk.0, &logs, policy),
            "cls",
            DISK_FRAMES,
            &DISK_MOTION,
            None,
        );
        if policy == "skip" {
            assert_eq!(r.out.error, None, "skip: the stream goes on to EOS");
        }
        let closed = recording_messages(&r.out, "closed");
        // The file finished before the disk filled is intact and playable.
        assert!(!closed.is_empty(), "{policy}: no file finished");
        let first = PathBuf::from(closed[0].get::<String>("location").unwrap());
        assert_eq!(first, disk.0.join("ev-000.mp4"));
        let (start, end) = (
            frame_of(r.out.events("violence-start")[0].pts),
            frame_of(r.out.events("violence-end")[0].pts),
        );
        check_file(&first, start, end, DISK_FRAMES - 1);
        match policy {
            "skip" => {
                assert_eq!(
                    events(&r.out).len(),
                    3,
                    "skip: every event is still detected"
                );
            }
            _ => {
                let e = r.out.error.expect("error: an element error");
                assert!(e.contains("recording failed"), "{e}");
            }
        }
    }
}

#[test]
fn read_only_folder_is_a_clear_error_or_skipped() {
    for policy in ["error-on-open", "skip"] {
        let Some(disk) = Tmpfs::mount(&format!("disk-ro-{policy}"), "ro,size=1m") else {
            return;
        };
        let logs = out_dir(&format!("disk-ro-{policy}-log"));
        let r = run(
            &disk_launch(&disk.0, &logs, policy),
            "cls",
            DISK_FRAMES,
            &DISK_MOTION,
            None,
        );
        assert!(files_in(&disk.0).is_empty());
        if policy == "skip" {
            assert_eq!(r.out.error, None, "skip: the stream goes on to EOS");
            assert_eq!(events(&r.out).len(), 3, "every event is still detected");
            assert!(recording_messages(&r.out, "closed").is_empty());
        } else {
            let e = r.out.error.expect("an element error");
            assert!(
                e.contains(&format!("{}/ev-000.mp4", disk.0.display())),
                "{e}"
            );
        }
    }
}

#[test]
fn segments_mode_with_an_unwritable_location_is_an_error_at_start_not_an_abort() {
    // Before the check, splitmuxsink failed inside the bin while PLAYING and the process
    // aborted (dispose in PLAYING) or hung; now the bin refuses to start, cleanly.
    for location in ["/proc/seg-%05d.mp4", "/nonexistent/seg-%05d.mp4"] {
        for on_error in ["error-on-open", "skip"] {
            let err = start_error(&format!(
                "videotestsrc num-buffers=30 ! x264enc ! h264parse ! violencerecord mode=segments \
                 location={location} on-write-error={on_error}"
            ))
            .expect("an error at start");
            assert!(
                err.contains("recording folder"),
                "{location} {on_error}: {err}"
            );
        }
    }
}
