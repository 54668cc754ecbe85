//! The stream folder as facts: names, sizes, modification times and counted frames.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use selection::{Audio, AudioFacts, Now, SeenFile};

/// What the folder holds, plus what was skipped and why.
pub struct Folder {
    pub files: Vec<SeenFile>,
    /// Entries that are not plain `.mp3` files: `(name, why)`.
    pub skipped: Vec<(String, String)>,
}

/// List and measure the folder. Only plain files directly in it are considered: symlinks
/// are never followed (they could point outside the folder) and subfolders are left alone.
///
/// `now` holds the run's clocks: a file is counted frame by frame once either clock says it is
/// idle (counting a file that is still growing costs a read, never audio; waiting for both
/// clocks would leave killed files unmeasured while a node's clock runs behind).
pub fn scan(folder: &Path, grace: Duration, now: Now) -> Result<Folder, String> {
    let meta = fs::metadata(folder).map_err(|e| {
        format!(
            "FOLDER {}: {e} (expected the stream's recording folder)",
            folder.display()
        )
    })?;
    if !meta.is_dir() {
        return Err(format!("FOLDER {} is not a directory", folder.display()));
    }
    let entries =
        fs::read_dir(folder).map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
    let mut out = Folder {
        files: Vec::new(),
        skipped: Vec::new(),
    };
    let mut recordings = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.skipped
                    .push(("?".into(), format!("cannot read a folder entry: {e}")));
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            out.skipped.push((name, "cannot read its type".into()));
            continue;
        };
        if kind.is_symlink() {
            out.skipped
                .push((name, "is a symbolic link; links are never followed".into()));
            continue;
        }
        if kind.is_dir() {
            out.skipped.push((
                name,
                "is a subfolder; only files directly in FOLDER are archived".into(),
            ));
            continue;
        }
        if !name.ends_with(".mp3") {
            continue;
        }
        if !kind.is_file() {
            // Opening a FIFO would block; none of these holds a recording.
            out.skipped.push((
                name,
                "is not a regular file (a FIFO, socket or device); left alone".into(),
            ));
            continue;
        }
        let path = entry.path();
        let meta = fs::symlink_metadata(&path);
        recordings.push((path, name, meta));
    }
    // Without the share's clock, the newest modification time stands in for it.
    let share = now.share.or_else(|| {
        recordings
            .iter()
            .filter_map(|(_, _, meta)| meta.as_ref().ok()?.modified().ok())
            .map(DateTime::<Utc>::from)
            .max()
    });
    let idle = |modified: DateTime<Utc>| {
        chrono::TimeDelta::from_std(grace).is_ok_and(|g| {
            now.node - modified >= g || share.is_some_and(|share| share - modified >= g)
        })
    };
    for (path, name, meta) in recordings {
        out.files.push(look_at(&path, name, meta, idle));
    }
    out.files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn look_at(
    path: &Path,
    name: String,
    meta: std::io::Result<fs::Metadata>,
    idle: impl Fn(DateTime<Utc>) -> bool,
) -> SeenFile {
    let meta = match meta {
        Ok(m) => m,
        Err(e) => {
            return SeenFile {
                name,
                size: 0,
                modified: DateTime::<Utc>::MIN_UTC,
                audio: Audio::Unreadable(e.to_string()),
            }
        }
    };
    let modified = meta
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let size = meta.len();
    let audio = match measure_file(path, size, idle(modified)) {
        Ok(audio) => audio,
        Err(e) => Audio::Unreadable(e.to_string()),
    };
    SeenFile {
        name,
        size,
        modified,
        audio,
    }
}

/// How much of a file is read to find its header frame (ID3v2 tag, Info/Xing frame).
const PEEK_BYTES: usize = 16 * 1024;

/// Measure a file, reading as little as can be trusted: a finished ffmpeg file carries an
/// Info header whose frame and byte counts agree with its size, and that is enough. A file
/// whose header is a placeholder or disagrees is counted frame by frame, but only once it
/// is idle (a file still being written would be read in full at every run for nothing).
fn measure_file(path: &Path, size: u64, idle: bool) -> std::io::Result<Audio> {
    if size == 0 {
        return Ok(Audio::Measured(AudioFacts {
            frames: 0,
            sample_rate: 0,
            samples_per_frame: 0,
            clean_end: true,
            header_frames: None,
        }));
    }
    let mut head = Vec::with_capacity(PEEK_BYTES);
    fs::File::open(path)?
        .take(PEEK_BYTES as u64)
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
    Ok(Audio::Measured(mp3count::scan_file(path)?.audio_facts()))
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

    fn fixture() -> Vec<u8> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/steady");
        let name = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "mp3"))
            .find(|p| fs::metadata(p).unwrap().len() > 30_000)
            .unwrap();
        fs::read(name).unwrap()
    }

    fn measured(bytes: &[u8], idle: bool) -> Audio {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp3");
        fs::write(&path, bytes).unwrap();
        measure_file(&path, bytes.len() as u64, idle).unwrap()
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
}
