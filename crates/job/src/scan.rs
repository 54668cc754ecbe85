//! The stream folder as facts: names, sizes, modification times and counted frames.
//!
//! Everything goes through the folder's handle ([`crate::share`]): listed through it, each
//! name's attributes asked of the server (`statx`, past the SMB client's cache, links not
//! followed; the listing's entry type is not trusted), each recording opened beneath it,
//! checked against those attributes, read, and closed before the next.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use chrono::{DateTime, Utc};
use selection::{Audio, AudioFacts, Now, SeenFile};

use crate::share::{Attributes, Kind, NotOpened, Recording, Share, Why};

/// What the folder holds, plus what was skipped and why, and the handle the run reads it by.
pub struct Folder {
    pub files: Vec<SeenFile>,
    /// Entries that are not plain `.mp3` files: `(name, why)`.
    pub skipped: Vec<(String, String)>,
    /// FOLDER's handle: every later read or deletion of a recording in this run goes through
    /// it ([`Folder::open`], [`Share::remove`]).
    pub share: Share,
    /// What the scan measured of each of `files` (size, modification time, device and inode):
    /// what a recording must still be when the run opens or deletes it.
    pub measured: HashMap<String, Attributes>,
}

impl Folder {
    /// Open the recording `name` as the scan measured it; an error naming the file and what
    /// differs otherwise (it is then not read).
    pub fn open(&self, name: &str) -> Result<Recording, NotOpened> {
        let Some(measured) = self.measured.get(name) else {
            return Err(NotOpened {
                name: name.to_owned(),
                why: Why::NotMeasured,
            });
        };
        self.share.open_recording(name, measured)
    }
}

/// Attempts at opening a file as measured, when it changes in between (a recording being
/// written): each looks at its attributes again.
const OPEN_ATTEMPTS: usize = 3;

/// List and measure the folder through `share`. Only regular files directly in it are
/// considered: symlinks are never followed (they could point outside the folder) and
/// subfolders are left alone; each one skipped is warned about (`decision="skipped"`).
///
/// `now` holds the run's clocks: a file is counted frame by frame once either clock says it is
/// idle (counting a file that is still growing costs a read, never audio; waiting for both
/// clocks would leave killed files unmeasured while a node's clock runs behind).
pub fn scan(share: Share, grace: Duration, now: Now) -> Result<Folder, String> {
    let names = share.list()?;
    let mut out = Folder {
        files: Vec::new(),
        skipped: Vec::new(),
        share,
        measured: HashMap::new(),
    };
    let mut recordings = Vec::new();
    for name in names {
        let name = match name {
            Ok(name) => name,
            Err(e) => {
                out.skipped
                    .push(("?".into(), format!("cannot read a folder entry: {e}")));
                continue;
            }
        };
        let attributes = match out.share.attributes(&name) {
            Ok(a) => a,
            Err(e) => {
                out.skipped.push((
                    name.to_string_lossy().into_owned(),
                    format!("cannot read its attributes: {e}"),
                ));
                continue;
            }
        };
        // A name that is not UTF-8 is listed under its lossy form, for the planner to hold as
        // a name it cannot parse; it is never measured, opened or deleted (the run knows it
        // by no name it could open).
        let (name, utf8) = match name.into_string() {
            Ok(name) => (name, true),
            Err(raw) => (raw.to_string_lossy().into_owned(), false),
        };
        match attributes.kind {
            Kind::Symlink => {
                out.skipped
                    .push((name, "is a symbolic link; links are never followed".into()));
                continue;
            }
            Kind::Directory => {
                out.skipped.push((
                    name,
                    "is a subfolder; only files directly in FOLDER are archived".into(),
                ));
                continue;
            }
            _ => {}
        }
        if !name.ends_with(".mp3") {
            continue;
        }
        if attributes.kind != Kind::File {
            // Never opened: a FIFO would block; none of these holds a recording.
            out.skipped.push((
                name,
                "is not a regular file (a FIFO, socket or device); left alone".into(),
            ));
            continue;
        }
        if !utf8 {
            out.files.push(SeenFile {
                name,
                size: attributes.size,
                modified: attributes.modified,
                audio: Audio::NotMeasured,
            });
            continue;
        }
        recordings.push((name, attributes));
    }
    // Without the share's clock, the newest modification time stands in for it.
    let share_now = now.share.or_else(|| {
        recordings
            .iter()
            .map(|(_, a)| a.modified)
            .filter(|&m| m > DateTime::<Utc>::MIN_UTC)
            .max()
    });
    let idle = |modified: DateTime<Utc>| {
        chrono::TimeDelta::from_std(grace).is_ok_and(|g| {
            now.node - modified >= g || share_now.is_some_and(|share| share - modified >= g)
        })
    };
    for (name, attributes) in recordings {
        let (seen, measured) = look_at(&out.share, name, attributes, idle);
        out.measured.insert(seen.name.clone(), measured);
        out.files.push(seen);
    }
    out.files.sort_by(|a, b| a.name.cmp(&b.name));
    for (name, why) in &out.skipped {
        tracing::warn!(file = %name, decision = "skipped", "{why}");
    }
    Ok(out)
}

/// Measure one regular file: open it as listed, read what is needed, close it. A file that
/// changes between its attributes and the open (still being written) is looked at again, up
/// to [`OPEN_ATTEMPTS`] times, then left unmeasured; any other difference (a link or another
/// file in its place) makes it unreadable.
fn look_at(
    share: &Share,
    name: String,
    mut attributes: Attributes,
    idle: impl Fn(DateTime<Utc>) -> bool,
) -> (SeenFile, Attributes) {
    let mut attempt = 1;
    let audio = loop {
        if attributes.size == 0 {
            break Ok(Audio::Measured(AudioFacts {
                frames: 0,
                sample_rate: 0,
                samples_per_frame: 0,
                clean_end: true,
                header_frames: None,
            }));
        }
        match share.open_recording(&name, &attributes) {
            Ok(recording) => break measure(&recording, idle(attributes.modified)),
            Err(e) if e.is_change() && attempt < OPEN_ATTEMPTS => {
                attempt += 1;
                match share.attributes(&name) {
                    Ok(again) if again.kind == Kind::File => attributes = again,
                    Ok(_) => break Err(e.to_string()),
                    Err(e) => break Err(format!("cannot read its attributes: {e}")),
                }
            }
            Err(e) if e.is_change() => break Ok(Audio::NotMeasured),
            Err(e) => break Err(e.to_string()),
        }
    };
    let seen = SeenFile {
        name,
        size: attributes.size,
        modified: attributes.modified,
        audio: audio.unwrap_or_else(Audio::Unreadable),
    };
    (seen, attributes)
}

fn measure(recording: &Recording, idle: bool) -> Result<Audio, String> {
    measure_file(recording, idle).map_err(|e| format!("cannot read {}: {e}", recording.name()))
}

/// How much of a file is read to find its header frame (ID3v2 tag, Info/Xing frame).
const PEEK_BYTES: usize = 16 * 1024;

/// Measure a file, reading as little as can be trusted: a finished ffmpeg file carries an
/// Info header whose frame and byte counts agree with its size, and that is enough. A file
/// whose header is a placeholder or disagrees is counted frame by frame, but only once it
/// is idle (a file still being written would be read in full at every run for nothing).
/// Only the bytes measured are read (up to the size the handle was opened at), from the handle.
fn measure_file(recording: &Recording, idle: bool) -> std::io::Result<Audio> {
    let size = recording.size();
    let mut head = Vec::with_capacity(PEEK_BYTES);
    recording
        .reader(0, (PEEK_BYTES as u64).min(size))
        .read_to_end(&mut head)?;
    let mut scanner = mp3count::Mp3Scanner::new();
    scanner.feed(&head);
    let peeked = scanner.finish(head.len() as u64);
    if head.len() as u64 >= size {
        return Ok(Audio::Measured(peeked.audio_facts()));
    }
    if let Some(trusted) = trusted_header(&peeked, size) {
        return Ok(Audio::Measured(trusted));
    }
    if !idle {
        return Ok(Audio::NotMeasured);
    }
    let counted = mp3count::scan_reader(recording.reader(0, size))?;
    Ok(Audio::Measured(counted.audio_facts()))
}

/// The header's claims, when they can be trusted without counting: a CBR Info header whose
/// frame count is not a placeholder, whose byte count ends exactly at the end of the file,
/// and whose frames at the stream's bitrate fill those bytes.
fn trusted_header(peeked: &mp3count::Mp3Facts, size: u64) -> Option<AudioFacts> {
    let header = peeked.header.as_ref()?;
    let frames = u64::from(header.frames.filter(|&f| f > 0)?);
    let bytes = u64::from(header.bytes?);
    let constant =
        peeked.bitrate_kbps_min == peeked.bitrate_kbps_max && peeked.bitrate_kbps_min > 0;
    if !header.is_info_cbr
        || !constant
        || peeked.sample_rate == 0
        || peeked.leading_bytes + bytes != size
    {
        return None;
    }
    // Average frame length in bytes: samples/8 × bits per second / samples per second.
    let frame_len =
        f64::from(peeked.samples_per_frame) / 8.0 * f64::from(peeked.bitrate_kbps_min) * 1000.0
            / f64::from(peeked.sample_rate);
    let expected = (frames + 1) as f64 * frame_len;
    if (bytes as f64 - expected).abs() > 2.0 * frame_len + 1.0 {
        return None;
    }
    Some(AudioFacts {
        frames,
        sample_rate: peeked.sample_rate,
        samples_per_frame: peeked.samples_per_frame,
        clean_end: true,
        header_frames: Some(frames),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt as _;

    fn fixture() -> Vec<u8> {
        let dir = crate::testkit::fixture_dir("steady");
        let name = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "mp3"))
            .find(|p| std::fs::metadata(p).unwrap().len() > 30_000)
            .unwrap();
        std::fs::read(name).unwrap()
    }

    fn measured(bytes: &[u8], idle: bool) -> Audio {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mp3"), bytes).unwrap();
        let share = Share::open(dir.path()).unwrap();
        let attributes = share.attributes("a.mp3").unwrap();
        let recording = share.open_recording("a.mp3", &attributes).unwrap();
        measure_file(&recording, idle).unwrap()
    }

    #[test]
    fn a_finished_file_is_trusted_from_its_header() {
        let bytes = fixture();
        let Audio::Measured(a) = measured(&bytes, false) else {
            panic!("not measured")
        };
        let counted = mp3count::scan_reader(&bytes[..]).unwrap();
        assert_eq!(a.frames, counted.frames);
        assert!(!a.truncated());
    }

    #[test]
    fn a_placeholder_header_is_counted_once_idle() {
        let mut bytes = fixture();
        let at = bytes.windows(4).position(|w| w == b"Info").unwrap();
        bytes[at + 8..at + 12].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(measured(&bytes, false), Audio::NotMeasured);
        let Audio::Measured(a) = measured(&bytes, true) else {
            panic!("not measured")
        };
        assert!(a.frames > 300);
        assert!(a.truncated(), "a placeholder header marks a killed writer");
    }

    #[test]
    fn a_size_that_disagrees_with_the_header_is_counted() {
        let bytes = fixture();
        let cut = &bytes[..bytes.len() - 1000];
        let Audio::Measured(a) = measured(cut, true) else {
            panic!("not measured")
        };
        assert!(a.truncated());
        assert!(a.frames < mp3count::scan_reader(&bytes[..]).unwrap().frames);
    }

    #[test]
    fn links_fifos_and_folders_named_like_recordings_are_skipped_unopened_and_odd_names_held() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("hope");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("a.mp3"), fixture()).unwrap();
        let outside = dir.path().join("outside.mp3");
        std::fs::write(&outside, fixture()).unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("link.mp3")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(folder.join("fifo.mp3"))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::create_dir(folder.join("sub.mp3")).unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"\xff.mp3");
        std::fs::write(folder.join(bad), b"x").unwrap();
        // A name with a byte that is not UTF-8: listed by its lossy form, never measured.
        let lossy = "\u{fffd}.mp3";
        let now = Now {
            node: Utc::now(),
            share: None,
        };
        let started = std::time::Instant::now();
        let scanned = scan(Share::open(&folder).unwrap(), Duration::from_secs(5), now).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the FIFO did not block"
        );
        let names: Vec<_> = scanned.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.mp3", lossy]);
        assert!(matches!(scanned.files[0].audio, Audio::Measured(_)));
        assert_eq!(scanned.measured["a.mp3"].size, scanned.files[0].size);
        assert_eq!(scanned.files[1].audio, Audio::NotMeasured);
        assert!(!scanned.measured.contains_key(lossy));
        let mut skipped: Vec<_> = scanned
            .skipped
            .iter()
            .map(|(name, why)| (name.as_str(), why.split(';').next().unwrap()))
            .collect();
        skipped.sort();
        assert_eq!(
            skipped,
            [
                (
                    "fifo.mp3",
                    "is not a regular file (a FIFO, socket or device)"
                ),
                ("link.mp3", "is a symbolic link"),
                ("sub.mp3", "is a subfolder"),
            ]
        );
    }
}
