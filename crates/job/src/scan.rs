//! The stream folder as facts: names, sizes, modification times and counted frames.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use selection::{Audio, AudioFacts, SeenFile};

use crate::measure;

/// What the folder holds, plus what was skipped and why.
pub struct Folder {
    pub files: Vec<SeenFile>,
    /// Entries that are not plain `.mp3` files: `(name, why)`.
    pub skipped: Vec<(String, String)>,
}

/// List and measure the folder. Only plain files directly in it are considered: symlinks
/// are never followed (they could point outside the folder) and subfolders are left alone.
pub fn scan(folder: &Path) -> Result<Folder, String> {
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
        out.files.push(look_at(&entry.path(), name));
    }
    out.files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn look_at(path: &PathBuf, name: String) -> SeenFile {
    let meta = match fs::symlink_metadata(path) {
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
    let audio = if meta.len() == 0 {
        Audio::Measured(AudioFacts {
            frames: 0,
            sample_rate: 0,
            samples_per_frame: 0,
            clean_end: true,
            header_frames: None,
        })
    } else {
        match measure::scan_file(path) {
            Ok(f) => Audio::Measured(facts(&f)),
            Err(e) => Audio::Unreadable(e.to_string()),
        }
    };
    SeenFile {
        name,
        size: meta.len(),
        modified,
        audio,
    }
}

/// The planner's view of a scan.
pub fn facts(f: &measure::Mp3Facts) -> AudioFacts {
    AudioFacts {
        frames: f.frames,
        sample_rate: f.sample_rate,
        samples_per_frame: f.samples_per_frame,
        clean_end: f.clean_end,
        header_frames: f.header.as_ref().and_then(|h| h.frames).map(u64::from),
    }
}
