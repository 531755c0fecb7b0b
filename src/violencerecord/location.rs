// SPDX-License-Identifier: MPL-2.0

//! File names from the `location` pattern.
//!
//! The last `%d` conversion (with an optional zero flag and width, `%05d`) takes the file
//! index. Every other `%` conversion is a strftime one (GLib's `g_date_time_format`, local
//! time), so `cam1-%Y%m%d-%H%M%S-%03d.mp4` works (the day's `%d` is not the last one).

/// Where the index conversion sits: (start, end, zero-padded width).
fn index_conversion(pattern: &str) -> Option<(usize, usize, usize)> {
    let bytes = pattern.as_bytes();
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'%') {
            i += 2;
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if bytes.get(j) == Some(&b'd') {
            let width = pattern[i + 1..j].parse::<usize>().unwrap_or(0);
            found = Some((i, j + 1, width.min(32)));
        }
        i = j.max(i + 1);
    }
    found
}

/// Whether the index is the only conversion (besides `%%`): what printf-style users of the
/// pattern (splitmuxsink) can format.
pub fn printf_only(pattern: &str) -> bool {
    let Some((a, b, _)) = index_conversion(pattern) else {
        return false;
    };
    let others = pattern[..a].to_string() + &pattern[b..];
    !others.replace("%%", "").contains('%')
}

/// A part of `pattern` around the index, its strftime conversions done.
fn strftime_part(pattern: &str, part: &str, now: &glib::DateTime) -> Result<String, String> {
    if !part.contains('%') {
        return Ok(part.to_string());
    }
    now.format(part)
        .map(|s| s.to_string())
        .map_err(|_| format!("location pattern {pattern:?} has an invalid conversion"))
}

/// Formats `pattern` for file `index` at time `now`. Errors name the pattern.
pub fn format(pattern: &str, index: u32, now: &glib::DateTime) -> Result<String, String> {
    let strf = |part: &str| strftime_part(pattern, part, now);
    match index_conversion(pattern) {
        Some((a, b, width)) => Ok(format!(
            "{}{:0width$}{}",
            strf(&pattern[..a])?,
            index,
            strf(&pattern[b..])?,
            width = width
        )),
        None => Err(format!(
            "location pattern {pattern:?} needs an index conversion such as %05d"
        )),
    }
}

/// The first index from `start` whose file does not exist yet, and its name: a pipeline
/// restarted on the same folder (a camera reconnected, a service restarted) goes on after
/// the files already there instead of writing over the evidence they hold. `exists` says
/// what counts as taken (the element: a regular file, so a link to a device is written to).
pub fn first_free(
    pattern: &str,
    start: u32,
    now: &glib::DateTime,
    exists: impl Fn(&str) -> bool,
) -> Result<(u32, String), String> {
    let mut index = start;
    loop {
        let name = format(pattern, index, now)?;
        if !exists(&name) {
            return Ok((index, name));
        }
        index = index
            .checked_add(1)
            .ok_or_else(|| format!("location pattern {pattern:?}: every index is taken"))?;
    }
}

/// The index after the highest one that `names` (paths as `pattern` formats them) hold, or
/// `start` when none is that high, and its name. splitmuxsink numbers its files on from its
/// start-index without looking at the folder; in mode=segments the deleted segments leave
/// gaps, so a restart at the first free index would write over the kept segments after the
/// first gap (and then delete them).
pub fn after_last(
    pattern: &str,
    start: u32,
    now: &glib::DateTime,
    names: impl IntoIterator<Item = String>,
) -> Result<(u32, String), String> {
    let (a, b, _) = index_conversion(pattern).ok_or_else(|| {
        format!("location pattern {pattern:?} needs an index conversion such as %05d")
    })?;
    let prefix = strftime_part(pattern, &pattern[..a], now)?;
    let suffix = strftime_part(pattern, &pattern[b..], now)?;
    let mut next = start;
    for name in names {
        let digits = name
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_suffix(suffix.as_str()))
            .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()));
        if let Some(index) = digits.and_then(|d| d.parse::<u32>().ok()) {
            next =
                next.max(index.checked_add(1).ok_or_else(|| {
                    format!("location pattern {pattern:?}: every index is taken")
                })?);
        }
    }
    Ok((next, format(pattern, next, now)?))
}

/// One piece of a location pattern, for recognizing the names it formats at any time.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Byte(u8),
    /// Exactly this many digits (`%Y`: 4, `%m`: 2, ...).
    Digits(usize),
    /// Two digits, or a digit after a space (glib pads `%e`, `%k` and `%l` with U+2007, the
    /// figure space; C's strftime with an ASCII space).
    Padded,
    /// One or more digits (`%s`, and unpadded `%-H`).
    DigitRun,
    /// One of these texts (`%a`: the locale's day names, `%Z`: the time zone's names).
    OneOf(Vec<String>),
    /// The file index: one or more digits.
    Index,
}

/// The pieces a strftime conversion stands for, at any time: digits of its width, or every
/// text a name conversion can give in the locale (glib formats with it). None for one whose
/// texts cannot be listed (`%c`, `%x`, `%X`, `%r`, ...).
fn conversion(letter: u8, unpadded: bool) -> Option<Vec<Piece>> {
    use Piece::*;
    let digits = |n| if unpadded { DigitRun } else { Digits(n) };
    let names = |dates: &[(i32, i32, i32, i32)]| -> Option<Piece> {
        let spec = format!("%{}", letter as char);
        let mut texts: Vec<String> = dates
            .iter()
            .filter_map(|&(y, m, d, h)| glib::DateTime::from_local(y, m, d, h, 0, 0.0).ok())
            .filter_map(|t| t.format(&spec).ok().map(|s| s.to_string()))
            .filter(|t| !t.is_empty())
            .collect();
        texts.sort();
        texts.dedup();
        (!texts.is_empty()).then_some(OneOf(texts))
    };
    // 2024-01-01 is a Monday; the first of each month; midnight and noon; winter and summer.
    let week: Vec<_> = (1..=7).map(|d| (2024, 1, d, 0)).collect();
    let year: Vec<_> = (1..=12).map(|m| (2024, m, 1, 0)).collect();
    Some(match letter {
        b'Y' | b'G' => vec![digits(4)],
        b'm' | b'd' | b'H' | b'M' | b'S' | b'y' | b'I' | b'V' | b'C' | b'g' | b'U' | b'W' => {
            vec![digits(2)]
        }
        b'j' => vec![digits(3)],
        b'u' | b'w' => vec![Digits(1)],
        b'e' | b'k' | b'l' => vec![if unpadded { DigitRun } else { Padded }],
        b's' => vec![DigitRun],
        b'F' => vec![Digits(4), Byte(b'-'), Digits(2), Byte(b'-'), Digits(2)],
        b'T' => vec![Digits(2), Byte(b':'), Digits(2), Byte(b':'), Digits(2)],
        b'R' => vec![Digits(2), Byte(b':'), Digits(2)],
        b'D' => vec![Digits(2), Byte(b'/'), Digits(2), Byte(b'/'), Digits(2)],
        b'a' | b'A' => vec![names(&week)?],
        b'b' | b'B' | b'h' => vec![names(&year)?],
        b'p' | b'P' => vec![names(&[(2024, 1, 1, 0), (2024, 1, 1, 12)])?],
        b'z' | b'Z' => vec![names(&[(2024, 1, 1, 0), (2024, 7, 1, 0)])?],
        _ => return None,
    })
}

/// The pattern as pieces; None without an index conversion, or with a conversion whose
/// texts cannot be listed.
fn pieces(pattern: &str) -> Option<Vec<Piece>> {
    let (a, b, _) = index_conversion(pattern)?;
    let strftime = |part: &[u8], out: &mut Vec<Piece>| -> Option<()> {
        let mut i = 0;
        while i < part.len() {
            if part[i] != b'%' {
                out.push(Piece::Byte(part[i]));
                i += 1;
                continue;
            }
            match *part.get(i + 1)? {
                b'%' => out.push(Piece::Byte(b'%')),
                b'-' => {
                    out.extend(conversion(*part.get(i + 2)?, true)?);
                    i += 1;
                }
                letter => out.extend(conversion(letter, false)?),
            }
            i += 2;
        }
        Some(())
    };
    let bytes = pattern.as_bytes();
    let mut out = Vec::new();
    strftime(&bytes[..a], &mut out)?;
    out.push(Piece::Index);
    strftime(&bytes[b..], &mut out)?;
    Some(out)
}

/// The index of a file that `pattern` names at some time, or None: its `%d` index is digits,
/// each strftime conversion what it can format to (digits of its width, the locale's day and
/// month names, ...), and the rest as written. What an earlier run may have written, whatever
/// the time it started. None too for a pattern with a conversion whose texts cannot be listed.
pub fn index_of(pattern: &str, name: &str) -> Option<u32> {
    index_by(&pieces(pattern)?, name)
}

/// `index_of` with the pattern's pieces made once (they list the locale's names).
fn index_by(pieces: &[Piece], name: &str) -> Option<u32> {
    let text = name.as_bytes();
    // What matches pieces[p..] against text[t..]: None for nothing, Some(index) otherwise,
    // the index being the digits the Index piece took (0 once past it). Memoized: pieces that
    // take a varying length would otherwise try every split of every name.
    let width = text.len() + 1;
    let mut memo: Vec<Option<Option<u64>>> = vec![None; (pieces.len() + 1) * width];
    fn go(
        pieces: &[Piece],
        text: &[u8],
        p: usize,
        t: usize,
        memo: &mut Vec<Option<Option<u64>>>,
        width: usize,
    ) -> Option<u64> {
        if let Some(known) = memo[p * width + t] {
            return known;
        }
        let rest = &text[t..];
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut next = |n: usize| go(pieces, text, p + 1, t + n, memo, width);
        let found = match pieces.get(p) {
            None => rest.is_empty().then_some(0),
            Some(Piece::Byte(b)) => (rest.first() == Some(b)).then(|| next(1)).flatten(),
            Some(Piece::Digits(n)) => (digits >= *n).then(|| next(*n)).flatten(),
            Some(Piece::Padded) => {
                let pad = [" ", "\u{2007}"]
                    .iter()
                    .find(|p| rest.starts_with(p.as_bytes()))
                    .map(|p| p.len());
                match pad {
                    Some(n) if rest.get(n).is_some_and(u8::is_ascii_digit) => next(n + 1),
                    _ if digits >= 2 => next(2),
                    _ => None,
                }
            }
            Some(Piece::DigitRun) => (1..=digits).find_map(&mut next),
            Some(Piece::OneOf(texts)) => texts
                .iter()
                .filter(|w| rest.starts_with(w.as_bytes()))
                .find_map(|w| next(w.len())),
            Some(Piece::Index) => (1..=digits.min(10)).rev().find_map(|n| {
                next(n)?;
                std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
            }),
        };
        memo[p * width + t] = Some(found);
        found
    }
    go(pieces, text, 0, 0, &mut memo, width).and_then(|i| u32::try_from(i).ok())
}

/// The files an earlier run left under `pattern` in the folder its files go to now, with
/// their index, oldest first (by modification time, then index). Only a folder without
/// strftime conversions is listed: with them (one folder a day) earlier folders are left alone.
pub fn earlier_files(pattern: &str, now: &glib::DateTime) -> Vec<(String, u32)> {
    let (Ok(first), Some(pieces)) = (format(pattern, 0, now), pieces(pattern)) else {
        return Vec::new();
    };
    let folder = std::path::Path::new(&first)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    let pattern_folder = std::path::Path::new(pattern)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    if pattern_folder.is_some_and(|f| f.to_string_lossy().contains('%')) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(folder.unwrap_or(std::path::Path::new("."))) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, u32, String)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let path = match folder {
                Some(f) => f.join(&name).to_string_lossy().into_owned(),
                None => name,
            };
            let index = index_by(&pieces, &path)?;
            let modified = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((modified, index, path))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, index, path)| (path, index))
        .collect()
}

/// Checks that files can be created where `file` (a formatted location) goes: its folder
/// exists and takes a new file. Run at start, so that an unwritable folder is an error then,
/// not when the first event's evidence is due. The error names the folder and the reason.
pub fn check_writable(file: &str) -> Result<(), String> {
    let path = std::path::Path::new(file);
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(format!(
            "the recording folder {} does not exist (location {file:?})",
            folder.display()
        ));
    }
    let probe = folder.join(format!(
        ".violencerecord-write-check-{}",
        std::process::id()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| {
            format!(
                "cannot create files in the recording folder {}: {e} (location {file:?})",
                folder.display()
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> glib::DateTime {
        glib::DateTime::from_utc(2024, 3, 9, 14, 5, 7.0).unwrap()
    }

    #[test]
    fn printf_index() {
        assert_eq!(format("ev-%05d.mp4", 7, &t()).unwrap(), "ev-00007.mp4");
        assert_eq!(format("/x/ev%d.mkv", 12, &t()).unwrap(), "/x/ev12.mkv");
    }

    #[test]
    fn strftime_around_the_index() {
        assert_eq!(
            format("cam-%Y%m%d-%H%M%S-%03d.mp4", 3, &t()).unwrap(),
            "cam-20240309-140507-003.mp4"
        );
        assert_eq!(
            format("%F/ev-%d.mp4", 3, &t()).unwrap(),
            "2024-03-09/ev-3.mp4"
        );
        assert_eq!(format("100%%-%d.ts", 1, &t()).unwrap(), "100%-1.ts");
    }

    #[test]
    fn printf_only_patterns() {
        assert!(printf_only("cam1-%05d.mp4"));
        assert!(printf_only("100%%-%d.ts"));
        assert!(!printf_only("cam-%Y-%05d.mp4"));
        assert!(!printf_only("cam.mp4"));
    }

    #[test]
    fn missing_index_is_an_error() {
        assert!(format("ev.mp4", 1, &t()).is_err());
        assert!(format("ev-%Y.mp4", 1, &t()).is_err());
    }

    #[test]
    fn first_free_skips_the_files_already_there() {
        let taken = ["ev-00000.mp4", "ev-00001.mp4", "ev-00003.mp4"];
        let exists = |name: &str| taken.contains(&name);
        assert_eq!(
            first_free("ev-%05d.mp4", 0, &t(), exists).unwrap(),
            (2, "ev-00002.mp4".to_string())
        );
        assert_eq!(first_free("ev-%05d.mp4", 3, &t(), exists).unwrap().0, 4);
        assert_eq!(first_free("ev-%05d.mp4", 7, &t(), exists).unwrap().0, 7);
        assert!(first_free("ev.mp4", 0, &t(), exists).is_err());
    }

    #[test]
    fn after_last_goes_past_the_highest_index_not_into_a_gap() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let kept = names(&["out/cam-00003.mp4", "out/cam-00004.mp4", "out/events.jsonl"]);
        assert_eq!(
            after_last("out/cam-%05d.mp4", 0, &t(), kept.clone()).unwrap(),
            (5, "out/cam-00005.mp4".to_string())
        );
        assert_eq!(after_last("out/cam-%05d.mp4", 9, &t(), kept).unwrap().0, 9);
        // Other names, other folders and other suffixes do not count; wider indices do.
        let others = names(&[
            "out/cam-7.mp4.tmp",
            "other/cam-00099.mp4",
            "out/cam-x1.mp4",
            "out/cam-123456.mp4",
        ]);
        assert_eq!(
            after_last("out/cam-%05d.mp4", 0, &t(), others).unwrap().0,
            123_457
        );
        assert_eq!(
            after_last("cam-%d.mkv", 0, &t(), Vec::<String>::new()).unwrap(),
            (0, "cam-0.mkv".to_string())
        );
        assert!(after_last("cam.mkv", 0, &t(), Vec::<String>::new()).is_err());
        let full = names(&["cam-4294967295.mkv"]);
        assert!(after_last("cam-%d.mkv", 0, &t(), full).is_err());
    }

    #[test]
    fn writable_folders_are_checked_by_creating_a_file() {
        let dir = std::env::temp_dir().join(format!("location-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ev-00000.mp4");
        assert_eq!(check_writable(file.to_str().unwrap()), Ok(()));
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the probe is removed"
        );
        let missing = dir.join("nope/ev.mp4");
        let e = check_writable(missing.to_str().unwrap()).unwrap_err();
        assert!(e.contains("does not exist") && e.contains("nope"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn index_of_recognizes_what_the_pattern_wrote_at_any_time() {
        assert_eq!(index_of("rec/ev-%05d.mp4", "rec/ev-00042.mp4"), Some(42));
        assert_eq!(index_of("rec/ev-%05d.mp4", "rec/ev-42.mp4"), Some(42));
        assert_eq!(index_of("rec/ev-%05d.mp4", "rec/ev-00042.mkv"), None);
        assert_eq!(index_of("rec/ev-%05d.mp4", "rec/other-00042.mp4"), None);
        assert_eq!(index_of("rec/ev-%05d.mp4", "rec/ev-.mp4"), None);
        let timed = "cam1-%Y%m%d-%H%M%S-%03d.mp4";
        let written = format(timed, 7, &t()).unwrap();
        assert_eq!(written, "cam1-20240309-140507-007.mp4");
        assert_eq!(index_of(timed, &written), Some(7));
        assert_eq!(index_of(timed, "cam1-20251231-235959-123.mp4"), Some(123));
        assert_eq!(index_of(timed, "cam2-20251231-235959-123.mp4"), None);
        assert_eq!(
            index_of(timed, "cam1-2025/1231-235959-123.mp4"),
            None,
            "a conversion stays in its component"
        );
        assert_eq!(index_of("100%%-%d.ts", "100%-3.ts"), Some(3));
        let named = "ev-%a-%b-%d.mp4";
        let written = format(named, 12, &t()).unwrap();
        assert_eq!(index_of(named, &written), Some(12), "{written}");
        assert_eq!(
            index_of(named, "ev-door-Dec-12.mp4"),
            None,
            "not a day name"
        );
        // Composite conversions are their digits: another camera's files whose names only
        // begin the same are not this pattern's.
        let dated = "rec/front-%F-%03d.mp4";
        assert_eq!(index_of(dated, "rec/front-2026-12-07-005.mp4"), Some(5));
        assert_eq!(index_of(dated, "rec/front-door-2026-12-07-005.mp4"), None);
        assert_eq!(
            index_of("rec/cam1_%T_%03d.mkv", "rec/cam1_backup_copy_007.mkv"),
            None
        );
        assert_eq!(
            index_of("rec/cam1_%T_%03d.mkv", "rec/cam1_14:05:07_007.mkv"),
            Some(7)
        );
        assert_eq!(
            index_of("d%e-%d.ts", "d 9-4.ts"),
            Some(4),
            "space-padded day"
        );
        assert_eq!(index_of("h%-H-%d.ts", "h7-4.ts"), Some(4), "unpadded hour");
        assert_eq!(
            index_of("%c-%d.ts", "x-4.ts"),
            None,
            "%c cannot be listed: nothing adopted"
        );
    }

    #[test]
    fn earlier_files_lists_the_patterns_files_oldest_first() {
        let dir = std::env::temp_dir().join(format!("gst-violence-earlier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pattern = format!("{}/ev-%03d.mp4", dir.display());
        for (name, age) in [
            ("ev-002.mp4", 30),
            ("ev-010.mp4", 10),
            ("ev-001.mp4", 20),
            ("notes.txt", 40),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, b"x").unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        std::fs::create_dir(dir.join("ev-003.mp4")).unwrap();
        let names: Vec<String> = earlier_files(&pattern, &t())
            .iter()
            .map(|(p, _)| p.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            ["ev-002.mp4", "ev-001.mp4", "ev-010.mp4"],
            "by age, files only"
        );
        let daily = format!("{}/%Y%m%d/ev-%03d.mp4", dir.display());
        assert!(
            earlier_files(&daily, &t()).is_empty(),
            "a dated folder is left alone"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
