//! What the archive holds of each recorded file, read from the blobs' bytes, and whether a
//! file gone from the folder had its audio archived first: the deletion check of the fixture
//! tests whose files' audio is known from the manifest (`fixtures_disagree.rs`,
//! `rollback_previous.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{common, fixture};

/// One recorded file, as the manifest describes it.
pub struct Recorded {
    pub name: String,
    pub pod: String,
    pub size: u64,
    /// `timecode`, `mixed` or the other source's kind; `None` for a 0-byte file.
    pub source: Option<String>,
    /// Broadcast spans of its time-code parts.
    pub timecode: Vec<(f64, f64)>,
    /// The same spans in seconds into the file.
    pub timecode_in_file: Vec<(f64, f64)>,
    pub duration_s: f64,
}

impl Recorded {
    /// Seconds of audio that is not time code.
    pub fn other_s(&self) -> f64 {
        self.other_from(0)
    }

    /// Seconds of audio that is not time code from audio frame `k` to the end.
    pub fn other_from(&self, k: usize) -> f64 {
        if matches!(self.source.as_deref(), None | Some("timecode")) {
            return 0.0;
        }
        let from = (k * 576) as f64 / 22050.0;
        let tc: f64 = self
            .timecode_in_file
            .iter()
            .map(|&(a, b)| (b.min(self.duration_s) - a.max(from)).max(0.0))
            .sum();
        (self.duration_s - from - tc).max(0.0)
    }
}

pub fn recorded(scenario: &Path, manifest: &Value) -> Vec<Recorded> {
    let spans = |v: &Value| -> Vec<(f64, f64)> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s[0].as_f64()?, s[1].as_f64()?)))
            .collect()
    };
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["name"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(scenario.join(&name)).unwrap();
            let duration_s = f["duration_s"].as_f64().unwrap_or(0.0);
            let mut file = Recorded {
                pod: f["pod"].as_str().unwrap_or_default().to_owned(),
                size: bytes.len() as u64,
                source: f["source"].as_str().map(str::to_owned),
                timecode: spans(&f["timecode_spans"]),
                timecode_in_file: spans(&f["timecode_in_file_s"]),
                duration_s,
                name,
            };
            // A single-source scenario's manifest gives each file its broadcast span: all of
            // its audio is time code.
            if let (None, Some(lo), Some(hi)) = (
                &file.source,
                f["broadcast_start_s"].as_f64(),
                f["broadcast_end_s"].as_f64(),
            ) {
                if file.size > 0 {
                    file.source = Some("timecode".to_owned());
                    file.timecode = vec![(lo, hi)];
                    file.timecode_in_file = vec![(0.0, duration_s)];
                }
            }
            file
        })
        .collect()
}

/// Byte offset of every audio frame of an MP3 recording as ffmpeg writes it (ID3v2 tag, then
/// an Info frame, then the audio frames: MPEG-1/2/2.5 layer III).
pub fn audio_frames(bytes: &[u8]) -> Vec<usize> {
    let mut at = 0;
    if bytes.len() >= 10 && &bytes[..3] == b"ID3" {
        let size = bytes[6..10]
            .iter()
            .fold(0usize, |a, &b| (a << 7) | (b & 0x7f) as usize);
        at = 10 + size;
    }
    let mut frames = Vec::new();
    while at + 4 <= bytes.len() {
        let h = &bytes[at..at + 4];
        if h[0] != 0xff || h[1] & 0xe0 != 0xe0 {
            break;
        }
        let version = (h[1] >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        let (rates, khz): (&[u32], &[u32]) = if version == 3 {
            (
                &[
                    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
                ],
                &[44100, 48000, 32000],
            )
        } else {
            let sr: &[u32] = if version == 2 {
                &[22050, 24000, 16000]
            } else {
                &[11025, 12000, 8000]
            };
            (
                &[0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
                sr,
            )
        };
        let (bi, si) = ((h[2] >> 4) as usize, ((h[2] >> 2) & 3) as usize);
        if bi == 0 || bi >= rates.len() || si >= 3 {
            break;
        }
        let per = if version == 3 { 144 } else { 72 };
        let len = (per * rates[bi] * 1000 / khz[si]) as usize + ((h[2] >> 1) & 1) as usize;
        frames.push(at);
        at += len;
    }
    if !frames.is_empty() {
        frames.remove(0); // the Info frame: no audio
    }
    frames
}

/// What the archive holds of each file: the index of its first audio frame its blob holds
/// (0: all of them), by comparing the blob's bytes with the file's (a frame-exact blob ends
/// with the recording's bytes from some frame on, after a generated header and warm-up
/// frames; an original blob is the recording). `None`: no blob, or not the file's bytes.
pub fn archived_from(
    conn: &str,
    stream: &str,
    scenario: &Path,
    files: &[Recorded],
    snap: &common::Snapshot,
) -> BTreeMap<String, usize> {
    let container = common::container_client(conn, stream);
    common::runtime().block_on(async {
        let mut out = BTreeMap::new();
        for f in files {
            let Some(blob) = snap.row_for_file(&f.name).and_then(|r| r.blob_name.clone()) else {
                continue;
            };
            let got = container.blob_client(&blob).get_content().await.unwrap();
            let own = std::fs::read(scenario.join(&f.name)).unwrap();
            let common = got
                .iter()
                .rev()
                .zip(own.iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            let from = own.len() - common;
            if let Some(k) = audio_frames(&own).iter().position(|&o| o >= from) {
                out.insert(f.name.clone(), k);
            }
        }
        out
    })
}

/// Broadcast spans of time code the blobs hold: a file's time code from its first archived
/// frame on (a mixed file's only when its blob holds all its frames).
pub fn archived_timecode(files: &[Recorded], held: &BTreeMap<String, usize>) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for f in files {
        match (held.get(&f.name), f.source.as_deref()) {
            (Some(&k), Some("timecode")) => {
                let (lo, hi) = f.timecode[0];
                out.push((lo + (k * 576) as f64 / 22050.0, hi));
            }
            (Some(0), _) => out.extend(f.timecode.iter().copied()),
            _ => {}
        }
    }
    out
}

/// Every file gone from the folder since the snapshot: checked against the archive now.
pub fn check_deletions(
    dir: &Path,
    files: &[Recorded],
    held: &BTreeMap<String, usize>,
) -> Vec<String> {
    let archived = archived_timecode(files, held);
    let mut wrong = Vec::new();
    for f in files {
        if dir.join(&f.name).exists() || f.size == 0 || held.get(&f.name) == Some(&0) {
            continue;
        }
        match f.source.as_deref() {
            Some("timecode") => {
                let (lo, hi) = f.timecode[0];
                let missing = fixture::uncovered(&archived, lo, hi);
                if missing > 0.05 {
                    wrong.push(format!(
                        "{} (time code {lo:.3}-{hi:.3}) deleted with {missing:.3} s of it not archived",
                        f.name
                    ));
                }
            }
            other => wrong.push(format!(
                "{} holds {other:?} audio and was deleted without a blob holding all its frames \
                 (blob from frame {:?})",
                f.name,
                held.get(&f.name)
            )),
        }
    }
    wrong
}
