//! Content alignment of files around incidents, for the planner.
//!
//! Where one recording begins or ends beside another, names leave up to ±0.75 s (or a
//! connect burst) of doubt, and the planner archives both files rather than risk a hole.
//! Reading a few seconds of those files and aligning their audio (equal frames for `-c copy`,
//! decoded audio otherwise) tells it exactly.

use std::collections::BTreeMap;
use std::io::Read;

use selection::{Alignment, AlignmentCandidate, ArchiveState};
use tracing::{info, warn};

use crate::scan::Folder;
use crate::settings::Settings;
use crate::share::Recording;

/// At most this many pairs are aligned in one run.
const MAX_PAIRS: usize = 16;
/// Least confidence for an alignment to be trusted (see `align::Alignment::confidence`).
pub(crate) const MIN_CONFIDENCE: f64 = 0.5;
/// Seconds read from the start of the later file (the aligner correlates its first 3).
const PROBE_S: f64 = 4.0;
/// A file that cannot be cut by time (not constant bitrate) is read whole only up to this.
const WHOLE_FILE_CAP: u64 = 4 * 1024 * 1024;

/// What [`measure`] found.
#[derive(Debug, Default)]
pub struct Measured {
    pub alignments: Vec<Alignment>,
    /// Pairs whose files both hold sound where their names overlap, yet share no audio
    /// there: replicas that may record different audio (another stream, a relay's fallback).
    /// Each got a warning; neither file stands in for the other.
    pub unaligned: usize,
    /// Overlaps between two recordings (pairs of chains) that this run left unaligned, by
    /// reason ([`Left`]): each is placed by names, and neither recording stands in for the
    /// other there. An overlap whose first pair was in doubt but an alternate aligned is not
    /// counted.
    pub left: BTreeMap<Left, usize>,
}

/// Why an overlap between two recordings was left unaligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Left {
    /// Aligned, but below [`MIN_CONFIDENCE`] (every pair tried).
    LowConfidence,
    /// Both sound where the names overlap, with no common audio: different audio.
    DifferentAudio,
    /// No common audio where one is silent, or too little of it to read.
    Silence,
    /// A file could not be read.
    Unreadable,
    /// Not measured: the run had already measured [`MAX_PAIRS`] pairs.
    OverLimit,
}

impl Left {
    /// As the run summary names it.
    pub fn name(self) -> &'static str {
        match self {
            Left::LowConfidence => "low_confidence",
            Left::DifferentAudio => "different_audio",
            Left::Silence => "silence",
            Left::Unreadable => "unreadable",
            Left::OverLimit => "over_limit",
        }
    }
}

impl Measured {
    /// Overlaps left unaligned, all reasons.
    pub fn left_total(&self) -> usize {
        self.left.values().sum()
    }

    /// The reasons as the run summary prints them: `low_confidence:1,silence:2`, or `none`.
    pub fn left_reasons(&self) -> String {
        let parts: Vec<String> = self
            .left
            .iter()
            .map(|(why, n)| format!("{}:{n}", why.name()))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(",")
        }
    }
}

/// Measure the alignments the planner asks for, reading each file through the folder's
/// handle as the scan measured it ([`Folder::open`]). A pair that cannot be read or aligned
/// with confidence is left out: the planner then keeps its doubt, which costs duplicates, not
/// audio.
pub fn measure(
    folder: &Folder,
    state: &ArchiveState,
    settings: &Settings,
    now: selection::Now,
) -> Measured {
    let mut out = Measured::default();
    let open = |name: &str| folder.open(name).map_err(|e| e.to_string());
    // Whether the pair before, of the same two recordings, was in doubt: only then is its
    // alternate measured. `outcome`: why the current two recordings are still unaligned.
    let mut in_doubt = false;
    let mut outcome: Option<Left> = None;
    let mut measured = 0;
    for pair in selection::alignment_candidates(&folder.files, state, &settings.selection, now) {
        if !pair.alternate {
            if let Some(why) = outcome.take() {
                *out.left.entry(why).or_default() += 1;
            }
        }
        if pair.alternate && !in_doubt {
            continue;
        }
        if measured == MAX_PAIRS {
            if !pair.alternate {
                outcome = Some(Left::OverLimit);
            }
            continue;
        }
        in_doubt = false;
        outcome = None;
        measured += 1;
        match align_pair(&open, &pair, settings.silence.dbfs) {
            Ok(Paired::Found(found, offset_ms)) => {
                let confidence = (found.confidence * 100.0).round() / 100.0;
                if found.confidence < MIN_CONFIDENCE {
                    in_doubt = true;
                    outcome = Some(Left::LowConfidence);
                    info!(a = %pair.a, b = %pair.b, offset_ms, by_names_ms = pair.expected_offset_ms,
                        method = ?found.method, confidence, decision = "not aligned",
                        "content alignment not trusted (confidence below {MIN_CONFIDENCE}): the next overlapping pair of these recordings is tried, if any; else placed by names, and neither file stands in for the other");
                    continue;
                }
                info!(a = %pair.a, b = %pair.b, offset_ms, by_names_ms = pair.expected_offset_ms,
                    method = ?found.method, confidence, decision = "aligned", "aligned by content");
                out.alignments.push(Alignment {
                    a: pair.a,
                    b: pair.b,
                    offset_ms,
                });
            }
            Ok(Paired::NotFound { both_sound: true }) => {
                out.unaligned += 1;
                outcome = Some(Left::DifferentAudio);
                warn!(a = %pair.a, b = %pair.b, by_names_ms = pair.expected_offset_ms,
                    tolerance_ms = pair.tolerance_ms, decision = "not aligned",
                    "both files hold sound where their names overlap, but no common audio within the tolerance: the replicas may record different audio (another stream, a relay's fallback); both are kept, placed by names");
            }
            Ok(Paired::NotFound { both_sound: false }) => {
                outcome = Some(Left::Silence);
                info!(a = %pair.a, b = %pair.b, decision = "not aligned",
                "no common audio found (silence, or too little overlap): placed by names, and neither file stands in for the other")
            }
            Err(e) => {
                outcome = Some(Left::Unreadable);
                warn!(a = %pair.a, b = %pair.b, decision = "not aligned",
                    "cannot read for alignment ({e}): placed by names, and neither file stands in for the other")
            }
        }
    }
    if let Some(why) = outcome {
        *out.left.entry(why).or_default() += 1;
    }
    out
}

/// What aligning a pair came to.
enum Paired {
    /// The aligner's alignment, with `b`'s start minus `a`'s in ms.
    Found(align::Alignment, i64),
    /// No clear alignment; `both_sound` when neither window is silent (nor too short to read).
    NotFound { both_sound: bool },
}

/// What the aligner found from a few seconds of each file (opened by `open`, one at a time),
/// with `b`'s start minus `a`'s in ms.
fn align_pair(
    open: &dyn Fn(&str) -> Result<Recording, String>,
    pair: &AlignmentCandidate,
    silence_dbfs: f64,
) -> Result<Paired, String> {
    // Cut the earlier file around where the later one starts.
    let (early, late, sign) = if pair.expected_offset_ms >= 0 {
        (&pair.a, &pair.b, 1)
    } else {
        (&pair.b, &pair.a, -1)
    };
    let expected_s = (pair.expected_offset_ms * sign) as f64 / 1000.0;
    let tolerance_s = pair.tolerance_ms as f64 / 1000.0;
    let read = |e: std::io::Error| format!("cannot read it: {e}");
    let Some(a) = window(
        &open(early)?,
        expected_s - tolerance_s,
        expected_s + PROBE_S + tolerance_s,
    )
    .map_err(read)?
    else {
        return Ok(Paired::NotFound { both_sound: false });
    };
    // When the later file may in truth start first, its window holds the earlier's start.
    let Some(b) = window(
        &open(late)?,
        0.0,
        PROBE_S + (tolerance_s - expected_s).max(0.0),
    )
    .map_err(read)?
    else {
        return Ok(Paired::NotFound { both_sound: false });
    };
    let search = align::Search {
        expected_offset_s: Some(expected_s - a.start_ms / 1000.0),
        tolerance_s,
        ..align::Search::default()
    };
    Ok(match align::align(&a.bytes, &b.bytes, &search) {
        Some(found) => {
            let offset_ms = ((found.offset_ms + a.start_ms - b.start_ms).round() as i64) * sign;
            Paired::Found(found, offset_ms)
        }
        None => Paired::NotFound {
            both_sound: !silent(&a.bytes, silence_dbfs) && !silent(&b.bytes, silence_dbfs),
        },
    })
}

/// Whether a window of a recording is silent below `dbfs` for most of its length (its
/// first frames may decode wrongly: their bit reservoir lies before the window).
pub(crate) fn silent(bytes: &[u8], dbfs: f64) -> bool {
    let threshold = deadair::Threshold {
        min_seconds: 0.5,
        dbfs,
    };
    let report = deadair::detect(bytes, threshold);
    let silent: f64 = report.spans.iter().map(|s| s.seconds()).sum();
    report.seconds > 0.0 && silent >= 0.8 * report.seconds
}

/// Bytes of a file from its first whole frame at or after `from_s` to about `to_s`, and that
/// frame's time in the file (from its first audio frame).
pub(crate) struct Window {
    pub(crate) bytes: Vec<u8>,
    pub(crate) start_ms: f64,
}

pub(crate) fn window(file: &Recording, from_s: f64, to_s: f64) -> std::io::Result<Option<Window>> {
    let size = file.size();
    let mut head = Vec::new();
    file.reader(0, HEAD_BYTES.min(size))
        .read_to_end(&mut head)?;
    let Some(span) = window_span(&head, size, from_s, to_s) else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity((span.to - span.from) as usize);
    file.reader(span.from, span.to - span.from)
        .read_to_end(&mut bytes)?;
    Ok(span.cut(bytes))
}

/// How much of a recording's head tells its format and first frame.
pub(crate) const HEAD_BYTES: u64 = 16 * 1024;

/// Which bytes of a recording hold `from_s..to_s` of its audio, found from its head and size;
/// [`WindowSpan::cut`] then makes the window of the bytes read. Any byte source that reads
/// ranges (a recording in the folder, a blob) uses it.
pub(crate) struct WindowSpan {
    pub(crate) from: u64,
    pub(crate) to: u64,
    first_at: f64,
    frame_len: f64,
    frame_ms: f64,
}

pub(crate) fn window_span(head: &[u8], size: u64, from_s: f64, to_s: f64) -> Option<WindowSpan> {
    let mut scanner = mp3count::Mp3Scanner::new();
    scanner.feed(head);
    let facts = scanner.finish(head.len() as u64);
    let first = align::frames(head).first().copied()?;
    let constant = facts.bitrate_kbps_min == facts.bitrate_kbps_max && facts.bitrate_kbps_min > 0;
    if !constant || facts.sample_rate == 0 {
        // No way to find a time by its byte offset: the whole recording, if it is small.
        return (size <= WHOLE_FILE_CAP).then_some(WindowSpan {
            from: 0,
            to: size,
            first_at: 0.0,
            frame_len: 0.0,
            frame_ms: 0.0,
        });
    }
    // At a constant bitrate, frame k starts k × (average frame length) bytes after the first:
    // padding keeps the average exact.
    let frame_len = f64::from(first.samples) / 8.0 * f64::from(facts.bitrate_kbps_min) * 1000.0
        / f64::from(first.sample_rate);
    let frame_ms = f64::from(first.samples) * 1000.0 / f64::from(first.sample_rate);
    let first_at = first.offset as f64;
    let from = if from_s <= 0.0 {
        0
    } else {
        (first_at + (from_s * 1000.0 / frame_ms).floor() * frame_len - 2.0 * frame_len).max(0.0)
            as u64
    };
    let to = ((first_at + (to_s * 1000.0 / frame_ms).ceil() * frame_len + 2.0 * frame_len) as u64)
        .min(size);
    (from < to).then_some(WindowSpan {
        from,
        to,
        first_at,
        frame_len,
        frame_ms,
    })
}

impl WindowSpan {
    /// The window of `bytes`, read from `self.from`: from its first whole frame.
    pub(crate) fn cut(&self, mut bytes: Vec<u8>) -> Option<Window> {
        if self.from == 0 {
            return Some(Window {
                bytes,
                start_ms: 0.0,
            });
        }
        let at = align::frames(&bytes).first()?.offset;
        let index = ((self.from as f64 + at as f64 - self.first_at) / self.frame_len).round();
        bytes.drain(..at);
        Some(Window {
            bytes,
            start_ms: index * self.frame_ms,
        })
    }

    /// Milliseconds a frame lasts (0 where the recording is read whole).
    pub(crate) fn frame_ms(&self) -> f64 {
        self.frame_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::Share;
    use std::path::Path;

    /// Opens a fixture's files through the folder's handle, as measured now.
    fn opener(dir: &Path) -> impl Fn(&str) -> Result<Recording, String> {
        let share = Share::open(dir).unwrap();
        move |name| {
            let measured = share.attributes(name).map_err(|e| e.to_string())?;
            share
                .open_recording(name, &measured)
                .map_err(|e| e.to_string())
        }
    }

    fn fixture(scenario: &str) -> (std::path::PathBuf, serde_json::Value) {
        let dir = crate::testkit::fixture_dir(scenario);
        let manifest =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        (dir, manifest)
    }

    fn start(m: &serde_json::Value, suffix: &str) -> (String, f64) {
        let f = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"].as_str().unwrap().ends_with(suffix))
            .unwrap();
        (
            f["name"].as_str().unwrap().to_string(),
            f["broadcast_start_s"].as_f64().unwrap(),
        )
    }

    #[test]
    fn pairs_align_to_the_time_code_from_a_few_seconds_of_each() {
        for (scenario, a, b) in [
            (
                "steady",
                "abcde_20261126T151443.mp3",
                "fghij_20261126T151445.mp3",
            ),
            (
                "steady",
                "fghij_20261126T151445.mp3",
                "abcde_20261126T151443.mp3",
            ),
            (
                "copy-clock",
                "abcde_20261126T151450.mp3",
                "fghij_20261126T151450.mp3",
            ),
            (
                "sigterm",
                "abcde_20261126T151503.mp3",
                "klmno_20261126T151512.mp3",
            ),
        ] {
            let (dir, m) = fixture(scenario);
            let ((a, sa), (b, sb)) = (start(&m, a), start(&m, b));
            let truth = ((sb - sa) * 1000.0).round() as i64;
            // Names are off by up to a second, and a connect burst by 8.
            for guess in [truth - 900, truth + 900] {
                let pair = AlignmentCandidate {
                    a: a.clone(),
                    b: b.clone(),
                    expected_offset_ms: guess,
                    tolerance_ms: 2_500,
                    alternate: false,
                };
                let Paired::Found(found, got) = align_pair(&opener(&dir), &pair, -50.0).unwrap()
                else {
                    panic!("{scenario} {a} {b} not aligned")
                };
                assert!(
                    found.confidence >= MIN_CONFIDENCE,
                    "{scenario} {a} {b}: confidence {}",
                    found.confidence
                );
                assert!(
                    (got - truth).abs() <= 30,
                    "{scenario} {a} {b}: {got} ms, truth {truth} ms"
                );
            }
        }
    }

    #[test]
    fn a_window_starts_on_a_frame_at_its_time() {
        let (dir, m) = fixture("steady");
        let (name, _) = start(&m, "abcde_20261126T151443.mp3");
        let whole = std::fs::read(dir.join(&name)).unwrap();
        let w = window(&opener(&dir)(&name).unwrap(), 4.0, 6.0)
            .unwrap()
            .unwrap();
        let frames = align::frames(&whole);
        let k = (w.start_ms / (576.0 * 1000.0 / 22050.0)).round() as usize;
        assert!(
            (4000.0 - 3.0 * 26.2..=4000.0).contains(&w.start_ms),
            "{}",
            w.start_ms
        );
        assert_eq!(
            &w.bytes[..16],
            &whole[frames[k].offset..frames[k].offset + 16]
        );
        assert!(w.bytes.len() < whole.len() / 3);
    }
}
