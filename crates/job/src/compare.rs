//! Comparing the audio a deletion rests on (issue 31).
//!
//! A content alignment places two recordings once; it does not show that they still hold the
//! same audio later (a relay that falls back to its loop hours into a recording, a replica on
//! another stream after a rolling update). Before the planner lets one recording stand in
//! for another, it asks ([`selection::Plan::compare`]) and this module looks: windows of both
//! files are aligned at the offset the group gives them, at both ends of their overlap and at
//! intervals inside it.
//!
//! - **Same**: every window aligns at the group's offset (within a frame), at least two
//!   independent windows where the overlap is long enough for two (one window alone must
//!   also correlate at `ONE_WINDOW_PEAK`); or both sides are silent (below `SILENCE_DBFS`)
//!   over the whole overlap.
//! - **Different**: a window where both sides hold sound and do not align, confirmed by a
//!   second window; or one side silent where the other is not. Both files are archived.
//! - **Unknown**: too little overlap, a weak match, or a side that cannot be read (the other
//!   file has left the folder). Both files are archived, with a warning.

use std::collections::HashMap;

use selection::{CompareRequest, Comparison, Verdict};
use tracing::{info, warn};

use crate::alignments::{window, window_span, Window, HEAD_BYTES, MIN_CONFIDENCE};
use crate::scan::Folder;
use crate::settings::Settings;
use crate::share::Recording;
use archive_model::rows::blob_frame_offset;
use store::{ArchiveRead, SegmentRow};

/// Seconds of the other file's window at each checkpoint; shorter overlaps are compared in
/// one window as long as the overlap, down to [`SHORTEST_S`].
const PROBE_S: f64 = 3.0;
/// The shortest overlap compared on its own.
const SHORTEST_S: f64 = 1.2;
/// How far the found offset may be from the group's (a frame at 22.05 kHz is 26 ms).
const OFFSET_SLACK_MS: f64 = 40.0;
/// The search around the group's offset at each checkpoint.
const TOLERANCE_S: f64 = 0.5;
/// Checkpoints inside a long overlap, besides its two ends.
const EVERY_S: f64 = 120.0;
/// A correlation at the group's offset this high is the same audio, however periodic.
const SAME_PEAK: f64 = 0.95;
/// Below this best correlation near the group's offset, two sounding windows differ.
const DIFFERENT_PEAK: f64 = 0.5;
/// A Same that rests on one window (an overlap shorter than two) also needs the aligner's
/// correlation at the group's offset this high: its confidence says how unique an offset is,
/// not how alike the audio is. Different songs over one drum machine aligned clearly there
/// at 0.73–0.79, never confirmed by a second window; re-encoded music and speech correlate at
/// 0.91–0.97 (p5). Measured in docs/alignment.md, "False acceptances (issue 31)".
const ONE_WINDOW_PEAK: f64 = 0.85;

/// Compare what the plan asks about. Every request gets a verdict.
///
/// An overlap too short to compare on its own (a file of the other recorder that only
/// begins or ends inside this one) takes the verdict of the overlap it continues: the same
/// recorder's next or previous file, which abuts it in this file's time, is one continuous
/// stream of frames with it.
///
/// Both files are read through the folder's handle as the scan measured them
/// ([`Folder::open`]); the other file from its blob once it has left the folder (`archived`:
/// the rows read this run, by file name).
pub async fn measure(
    requests: &[CompareRequest],
    folder: &Folder,
    settings: &Settings,
    archive: &dyn ArchiveRead,
    archived: &HashMap<String, SegmentRow>,
) -> Vec<Comparison> {
    let mut own: Vec<Option<(Verdict, String)>> = Vec::with_capacity(requests.len());
    for r in requests {
        own.push(if r.to_ms - r.from_ms >= (SHORTEST_S * 1000.0) as i64 {
            Some(match folder.open(&r.file) {
                Ok(file) => {
                    let with = Source::of(&r.with, folder, archive, archived);
                    compare(&file, &with, r, settings).await
                }
                Err(e) => (Verdict::Unknown, format!("cannot read {}: {e}", r.file)),
            })
        } else {
            None
        });
    }
    let pod = |file: &str| file.rsplit_once('_').map_or("", |(pod, _)| pod).to_owned();
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (verdict, evidence) = match &own[i] {
                Some(found) => found.clone(),
                None => requests
                    .iter()
                    .enumerate()
                    .find(|&(j, o)| {
                        o.file == r.file
                            && pod(&o.with) == pod(&r.with)
                            && ((o.to_ms - r.from_ms).abs() <= 50
                                || (r.to_ms - o.from_ms).abs() <= 50)
                            && own[j].is_some()
                    })
                    .and_then(|(j, o)| {
                        let (v, _) = own[j].as_ref()?;
                        Some((
                            *v,
                            format!(
                                "{:.1} s of overlap, continuing {} ({v:?})",
                                (r.to_ms - r.from_ms) as f64 / 1000.0,
                                o.with
                            ),
                        ))
                    })
                    .unwrap_or_else(|| {
                        (
                            Verdict::Unknown,
                            format!(
                                "{:.1} s of overlap, too little to compare",
                                (r.to_ms - r.from_ms) as f64 / 1000.0
                            ),
                        )
                    }),
            };
            let from_s = r.from_ms as f64 / 1000.0;
            let to_s = r.to_ms as f64 / 1000.0;
            match verdict {
                Verdict::Same => info!(file = %r.file, with = %r.with, from_s, to_s,
                    decision = "same audio", "{evidence}"),
                Verdict::Different => warn!(file = %r.file, with = %r.with, from_s, to_s,
                    decision = "replicas disagree",
                    "the two recordings hold different audio where one would stand in for the \
                     other ({evidence}); both are archived"),
                Verdict::Unknown => warn!(file = %r.file, with = %r.with, from_s, to_s,
                    decision = "not compared",
                    "cannot tell whether the two recordings hold the same audio ({evidence}); \
                     both are archived"),
            }
            Comparison {
                file: r.file.clone(),
                with: r.with.clone(),
                verdict,
            }
        })
        .collect()
}

/// What one checkpoint found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Look {
    /// Aligned at the group's offset.
    Agrees,
    /// Both sides hold sound and do not align there.
    Disagrees,
    /// Both sides silent there.
    BothSilent,
    /// One side silent, the other not.
    OneSilent,
    /// Nothing to tell (a weak match, too short, unreadable).
    Unsure,
}

/// Where the other recording's audio is read: the folder, or its blob.
enum Source<'a> {
    Folder(Recording),
    /// The blob's frame `k` is the recording's `k + offset_frames`.
    Blob {
        archive: &'a dyn ArchiveRead,
        blob: String,
        offset_frames: i64,
        /// Its size and first bytes, read once for all of its windows.
        head: tokio::sync::OnceCell<BlobHead>,
    },
    /// Neither: the reason.
    Missing(String),
}

impl<'a> Source<'a> {
    fn of(
        file: &str,
        folder: &Folder,
        archive: &'a dyn ArchiveRead,
        archived: &HashMap<String, SegmentRow>,
    ) -> Self {
        if folder.measured.contains_key(file) {
            return match folder.open(file) {
                Ok(recording) => Source::Folder(recording),
                Err(e) => Source::Missing(format!("cannot read {file}: {e}")),
            };
        }
        match archived.get(file) {
            Some(row) => match &row.blob_name {
                Some(blob) => Source::Blob {
                    archive,
                    blob: blob.clone(),
                    offset_frames: blob_frame_offset(row),
                    head: tokio::sync::OnceCell::new(),
                },
                None => Source::Missing(format!(
                    "{file} has left the folder and its row names no blob"
                )),
            },
            None => Source::Missing(format!("{file} has left the folder and is not archived")),
        }
    }

    /// `from_s..to_s` of the recording's audio (its own time, from its first audio frame).
    async fn window(&self, from_s: f64, to_s: f64) -> Result<Option<Window>, String> {
        match self {
            Source::Folder(recording) => window(recording, from_s, to_s).map_err(|e| e.to_string()),
            Source::Blob {
                archive,
                blob,
                offset_frames,
                head,
            } => {
                let head = head
                    .get_or_try_init(|| BlobHead::read(*archive, blob))
                    .await?;
                // The blob's time is the recording's less the frames it starts after.
                let shift = *offset_frames as f64 * head.frame_ms / 1000.0;
                let Some(span) = window_span(&head.bytes, head.size, from_s - shift, to_s - shift)
                else {
                    return Ok(None);
                };
                let bytes = archive
                    .read_blob_range(blob, span.from, span.to - span.from)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(span.cut(bytes).map(|mut w| {
                    w.start_ms += shift * 1000.0;
                    w
                }))
            }
            Source::Missing(why) => Err(why.clone()),
        }
    }
}

/// What every window of a blob needs: its size, its first bytes and how long a frame lasts.
struct BlobHead {
    size: u64,
    bytes: Vec<u8>,
    frame_ms: f64,
}

impl BlobHead {
    async fn read(archive: &dyn ArchiveRead, blob: &str) -> Result<Self, String> {
        let size = archive
            .blob_info(blob)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("blob {blob} is missing"))?
            .size;
        let bytes = archive
            .read_blob_range(blob, 0, HEAD_BYTES.min(size))
            .await
            .map_err(|e| e.to_string())?;
        let frame_ms = window_span(&bytes, size, 0.0, 1.0).map_or(0.0, |s| s.frame_ms());
        Ok(BlobHead {
            size,
            bytes,
            frame_ms,
        })
    }
}

async fn compare(
    file: &Recording,
    with: &Source<'_>,
    r: &CompareRequest,
    settings: &Settings,
) -> (Verdict, String) {
    let (from, to) = (r.from_ms as f64 / 1000.0, r.to_ms as f64 / 1000.0);
    let offset = r.offset_ms as f64 / 1000.0;
    if let Source::Missing(why) = with {
        return (Verdict::Unknown, why.clone());
    }
    let probe = (to - from).min(PROBE_S);
    // Both ends of the overlap, and every EVERY_S inside it.
    let last = to - probe;
    let mut at = vec![from];
    let mut c = from + EVERY_S;
    while c < last {
        at.push(c);
        c += EVERY_S;
    }
    if last - from >= probe {
        at.push(last);
    }
    // One window decides an overlap shorter than two: it must correlate well, not only
    // uniquely.
    let least_peak = if to - from < 2.0 * probe {
        ONE_WINDOW_PEAK
    } else {
        0.0
    };
    let mut looks = Vec::new();
    for &c in &at {
        let mut look = checkpoint(file, with, c, offset, probe, least_peak, settings).await;
        // A disagreement must show at a second, independent window; a silent or unsure one
        // is looked at again beside it.
        if look != Look::Agrees {
            let next = if c + 2.0 * probe <= to {
                c + probe
            } else {
                (c - probe).max(from)
            };
            if next != c {
                let again = checkpoint(file, with, next, offset, probe, least_peak, settings).await;
                look = match (look, again) {
                    (Look::Disagrees, Look::Disagrees) => Look::Disagrees,
                    (Look::OneSilent, Look::OneSilent | Look::Disagrees) => Look::OneSilent,
                    (_, Look::Agrees) => Look::Agrees,
                    (Look::BothSilent, Look::BothSilent) => Look::BothSilent,
                    _ => Look::Unsure,
                };
            }
        }
        looks.push((c, look));
    }
    let evidence = format!(
        "{:.1} s overlap at offset {:.3} s; {}",
        to - from,
        offset,
        looks
            .iter()
            .map(|(c, l)| format!("{c:.1} s: {l:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let agrees = looks.iter().filter(|(_, l)| *l == Look::Agrees).count();
    if looks
        .iter()
        .any(|(_, l)| matches!(l, Look::Disagrees | Look::OneSilent))
    {
        return (Verdict::Different, evidence);
    }
    if looks.iter().all(|(_, l)| *l == Look::Agrees) && (agrees >= 2 || to - from < 2.0 * probe) {
        return (Verdict::Same, evidence);
    }
    if looks
        .iter()
        .all(|(_, l)| matches!(l, Look::Agrees | Look::BothSilent))
        && silent_throughout(file, with, from, to, offset, settings).await
    {
        return (Verdict::Same, format!("{evidence}; both silent throughout"));
    }
    (Verdict::Unknown, evidence)
}

/// Align `with`'s audio from `c - offset` (its own time) against `file`'s around `c`; a
/// clear alignment of decoded audio agrees only with a correlation of `least_peak` or more.
async fn checkpoint(
    file: &Recording,
    with: &Source<'_>,
    c: f64,
    offset: f64,
    probe: f64,
    least_peak: f64,
    settings: &Settings,
) -> Look {
    let Ok(Some(a)) = window(file, c - TOLERANCE_S, c + probe + TOLERANCE_S) else {
        return Look::Unsure;
    };
    let Ok(Some(b)) = with.window(c - offset, c - offset + probe).await else {
        return Look::Unsure;
    };
    // Where b's window starts on a's window's timeline.
    let expected_s = b.start_ms / 1000.0 + offset - a.start_ms / 1000.0;
    let search = align::Search {
        expected_offset_s: Some(expected_s),
        tolerance_s: TOLERANCE_S,
        probe_s: probe * 0.8,
        min_overlap_s: (probe * 0.8).min(1.0),
    };
    let at_offset =
        |found: &align::Alignment| (found.offset_ms - expected_s * 1000.0).abs() <= OFFSET_SLACK_MS;
    let accepted = |found: &align::Alignment| {
        found.confidence >= MIN_CONFIDENCE
            && (found.method == align::Method::Copy || found.peak >= least_peak)
            && at_offset(found)
    };
    // What `align::align` does (equal frames, else the audio's measurement when clear), with
    // the audio measured once for both rules below.
    let copy = align::align_copy(&a.bytes, &b.bytes);
    if copy.as_ref().is_some_and(accepted) {
        return Look::Agrees;
    }
    let measured = align::measure_audio(&a.bytes, &b.bytes, &search);
    let clear = measured.as_ref().filter(|m| m.is_clear());
    if copy.is_none() && clear.is_some_and(accepted) {
        return Look::Agrees;
    }
    // The aligner returns only offsets nothing else comes near; periodic audio (a time code,
    // a tone, a loop) correlates at several. The group already says where to look: the best
    // correlation within the narrow search, at that offset and high, is the same audio.
    if measured
        .as_ref()
        .is_some_and(|m| at_offset(m) && m.peak >= SAME_PEAK)
    {
        return Look::Agrees;
    }
    match (silent(&a.bytes, settings), silent(&b.bytes, settings)) {
        (true, true) => Look::BothSilent,
        (true, false) | (false, true) => Look::OneSilent,
        // Both sound, and nothing near the group's offset correlates: different audio. A
        // strong correlation elsewhere is the same audio misplaced: not the same here, not
        // different either.
        (false, false) if measured.as_ref().is_none_or(|m| m.peak < DIFFERENT_PEAK) => {
            Look::Disagrees
        }
        (false, false) => Look::Unsure,
    }
}

/// Whether a window of a recording is silent below `SILENCE_DBFS` for most of its length.
fn silent(bytes: &[u8], settings: &Settings) -> bool {
    crate::alignments::silent(bytes, settings.silence.dbfs)
}

/// Both sides silent over the whole overlap: the only way silence counts as the same audio.
async fn silent_throughout(
    file: &Recording,
    with: &Source<'_>,
    from: f64,
    to: f64,
    offset: f64,
    settings: &Settings,
) -> bool {
    let Ok(Some(a)) = window(file, from, to) else {
        return false;
    };
    let Ok(Some(b)) = with.window(from - offset, to - offset).await else {
        return false;
    };
    silent(&a.bytes, settings) && silent(&b.bytes, settings)
}
