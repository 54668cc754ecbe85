//! Decides which replica's recorded MP3 segments go into the archive.
//!
//! Two (or more) ffmpeg replicas record the same live stream into one folder, each cutting it
//! into segments named `<pod>_<start time>.mp3`. Every span of audio exists more than once,
//! sometimes truncated, shifted, or missing on one side. [`plan`] looks at the folder (names,
//! sizes, modification times and counted frames), at what the archive already holds, and at
//! `now`, and returns a [`Plan`]: what to archive, what may be deleted and on the strength of
//! which archived audio, what to leave alone, and which spans no replica recorded.
//!
//! The crate does no I/O and never reads the clock, so every decision can be tested with a
//! literal input.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use selection::{plan, ArchiveState, Audio, AudioFacts, SeenFile, Settings};
//!
//! let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
//! // 10-s segments at 44.1 kHz: 383 frames of 1152 samples.
//! let full = Audio::Measured(AudioFacts {
//!     frames: 383, sample_rate: 44_100, samples_per_frame: 1152,
//!     clean_end: true, header_frames: Some(383),
//! });
//! let file = |name: &str, modified: &str, audio: &Audio| SeenFile {
//!     name: name.into(), size: 160_000, modified: at(modified), audio: audio.clone(),
//! };
//! let files = vec![
//!     file("pod-a_20261126T100000.mp3", "2026-11-26T10:00:10Z", &full),
//!     file("pod-a_20261126T100010.mp3", "2026-11-26T10:00:20Z", &full),
//!     file("pod-b_20261126T100003.mp3", "2026-11-26T10:00:13Z", &full),
//!     file("pod-b_20261126T100013.mp3", "2026-11-26T10:00:23Z", &Audio::NotMeasured),
//! ];
//! let settings = Settings::new(10, "hope").unwrap();
//! let p = plan(&files, &ArchiveState::default(), &settings, at("2026-11-26T10:00:24Z"));
//! // Each pod's newest file is still being written and is held; pod-a's first file is
//! // archived and pod-b's, whose audio pod-a's files hold, waits for pod-a's live file.
//! assert_eq!(p.uploads[0].file, "pod-a_20261126T100000.mp3");
//! assert_eq!(p.uploads[0].blob_name, "26-11-2026/pod-a_20261126T100000.mp3");
//! assert!(p.holds.iter().any(|h| h.file == "pod-b_20261126T100013.mp3"));
//! ```
//!
//! # Carrying out a plan
//!
//! A plan is only safe if it is carried out in this order; the job's executor
//! (`crates/job/src/execute.rs`) is one implementation, and any other must keep to it:
//!
//! 1. **Read the state first.** Fill [`ArchiveState`] from what the archive says: segments
//!    (rows) whose blob is known to exist, gone segments, kept alignments and sightings. A row
//!    whose blob cannot be found must be left out: it proves nothing, and the file is
//!    archived again.
//! 2. **Keep what shaped the plan.** Store the alignments passed to [`plan_with`] and the
//!    plan's [`Plan::sightings`] (in place of the old ones) with the archive, and apply
//!    [`Plan::restamps`], before anything below. A failure here delays; it deletes nothing.
//! 3. **Upload, then record.** For each [`Upload`], write the blob without overwriting
//!    (unless `replaces_archived`), then its record. A blob already there counts only if it
//!    holds the same bytes (size and MD5). A crash between the two leaves a blob that the next
//!    run finds and records.
//! 4. **Delete last, and only on confirmed ground.** A [`Deletion`] may be carried out only
//!    once every file in its `covered_by` is *confirmed in this run*: its record was read in
//!    step 1 with its blob seen, or it was uploaded and recorded in step 3. Write its
//!    `remember` as a gone segment before the file goes. If any upload or record it rests on
//!    failed or was not reached, skip the deletion: the next plan repairs it.
//! 5. **Holds are left alone** ([`Plan::holds`]); [`Plan::gaps`] are for reporting.
//!
//! Deletions may run beside the uploads, each as soon as what it rests on is confirmed.
//! Calling [`plan`] again after carrying a plan out (with the state read again) uploads and
//! restamps nothing more: a crash at any step is repaired by the next run.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alignments;
mod choose;
mod classify;
mod coverage;
mod input;
mod name;
mod plan;
mod planning;
mod seconds;
mod settings;
mod timeline;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use alignments::link;
pub use alignments::{alignment_candidates, AlignmentCandidate};
use choose::{Entry, Outcome, Role};
use classify::{prepare, Prepared, Segment};
pub use input::{
    Alignment, ArchiveState, ArchivedSegment, Audio, AudioFacts, Comparison, GoneSegment, Now,
    SeenFile, Sighting, Verdict,
};
use name::{archived_name_starts, recorded_name};
pub use name::{parse_name, parse_name_near, NameError, SegmentName};
pub use plan::{
    CompareRequest, DeleteReason, Deletion, Gap, Hold, HoldReason, Plan, Restamp, Upload,
};
pub use planning::{Planning, MAX_ROUNDS};
pub use settings::{Settings, SettingsError, DEFAULT_BLOB_TEMPLATE, DEFAULT_NAME_FORMAT};
use timeline::Member;

/// How far in the future a name may be (clock skew between pods and the share) before the
/// file is left alone as suspicious.
const FUTURE_SLACK: TimeDelta = TimeDelta::seconds(60);

/// Decide what to do with the stream folder. Pure: the same input gives the same plan.
///
/// `now` is a time (both clocks read it) or a [`Now`] with the node's and the share's clocks.
pub fn plan(
    files: &[SeenFile],
    state: &ArchiveState,
    settings: &Settings,
    now: impl Into<Now>,
) -> Plan {
    plan_with(files, state, &[], settings, now)
}

/// [`plan`], with content alignments measured by the caller (see [`alignment_candidates`])
/// besides those remembered in `state`. The caller keeps the new ones with the archive
/// ([`ArchiveState::alignments`]) before it carries the plan out.
pub fn plan_with(
    files: &[SeenFile],
    state: &ArchiveState,
    alignments: &[Alignment],
    settings: &Settings,
    now: impl Into<Now>,
) -> Plan {
    plan_compared(files, state, alignments, &[], settings, now)
}

/// [`plan_with`], with the caller's comparisons of the files a first plan asked about
/// ([`Plan::compare`]). A file another chain of its group would stand in for is deleted only
/// on a [`Verdict::Same`] for every such file; a `Different` or `Unknown` verdict keeps it
/// (archived beside the other), and a missing one holds it ([`HoldReason::Comparing`]).
/// A deletion thus rests on evidence about the deleted audio itself: an alignment places two
/// recordings, a comparison shows they still hold the same audio where one replaces the other.
pub fn plan_compared(
    files: &[SeenFile],
    state: &ArchiveState,
    alignments: &[Alignment],
    comparisons: &[Comparison],
    settings: &Settings,
    now: impl Into<Now>,
) -> Plan {
    let jitter = millis(settings.name_jitter).max(1);
    let Prepared {
        mut out,
        segs,
        mut places,
    } = prepare(files, state, settings, now.into());
    link(
        &segs,
        &mut places,
        state.alignments.iter().chain(alignments),
    );
    let entries: Vec<Entry<'_>> = segs
        .iter()
        .zip(&places)
        .map(|(s, p)| Entry {
            role: s.role,
            place: *p,
            truncated: s.truncated,
            name: &s.file,
        })
        .collect();
    // Whether two recordings hold the same audio where they overlap does not depend on which
    // one would be deleted.
    let verdicts: HashMap<(&str, &str), Verdict> = comparisons
        .iter()
        .flat_map(|c| {
            [
                ((c.file.as_str(), c.with.as_str()), c.verdict),
                ((c.with.as_str(), c.file.as_str()), c.verdict),
            ]
        })
        .collect();
    // The files of other chains that would stand in for part of a covered file: those its
    // deletion rests on. (`by` also names neighbours that only touch it.)
    let others = |i: usize, by: &[usize]| -> Vec<usize> {
        let p = &places[i];
        by.iter()
            .copied()
            .filter(|&j| {
                let q = &places[j];
                q.chain != p.chain && q.start < p.end && q.end > p.start
            })
            .collect()
    };
    // A file whose stand-in holds other audio, or audio that could not be told apart, is
    // archived beside it. Choosing it can leave others uncovered in turn: again until none.
    let mut forced = vec![false; entries.len()];
    let cover = loop {
        let cover = choose::cover(&entries, jitter, &forced);
        let mut more = false;
        for (i, outcome) in cover.outcomes.iter().enumerate() {
            let Outcome::Covered(by) = outcome else {
                continue;
            };
            let kept = others(i, by).iter().any(|&j| {
                matches!(
                    verdicts.get(&(segs[i].file.as_str(), segs[j].file.as_str())),
                    Some(Verdict::Different | Verdict::Unknown)
                )
            });
            if kept && !forced[i] {
                forced[i] = true;
                more = true;
            }
        }
        if !more {
            break cover;
        }
    };

    let names = |ids: &[usize]| {
        let mut v: Vec<String> = ids.iter().map(|&i| segs[i].file.clone()).collect();
        v.sort();
        v
    };
    for (i, outcome) in cover.outcomes.iter().enumerate() {
        let s = &segs[i];
        match (outcome, s.role) {
            (Outcome::Chosen, Role::Candidate) => out.uploads.push(Upload {
                file: s.file.clone(),
                blob_name: s.blob_name.clone().unwrap_or_default(),
                pod: s.pod.clone(),
                name_time: s.name.start,
                audio_start: at(places[i].start),
                duration: s.exact,
                frames: s.frames,
                size: s.size,
                truncated: s.truncated,
                replaces_archived: s.replaces_archived,
                reason: upload_reason(s, &places[i]),
            }),
            (Outcome::Covered(by), _)
                if others(i, by).iter().any(|&j| {
                    !verdicts.contains_key(&(s.file.as_str(), segs[j].file.as_str()))
                }) =>
            {
                let unknown: Vec<usize> = others(i, by)
                    .into_iter()
                    .filter(|&j| !verdicts.contains_key(&(s.file.as_str(), segs[j].file.as_str())))
                    .collect();
                for &j in &unknown {
                    let (p, q) = (&places[i], &places[j]);
                    out.compare.push(CompareRequest {
                        file: s.file.clone(),
                        with: segs[j].file.clone(),
                        offset_ms: q.start - p.start,
                        from_ms: (q.start - p.start).max(0),
                        to_ms: (q.end.min(p.end) - p.start).max(0),
                    });
                }
                out.holds.push(Hold {
                    file: s.file.clone(),
                    why: HoldReason::Comparing(names(&unknown).join(", ")),
                });
            }
            (Outcome::Covered(by), _) => out.deletions.push(Deletion {
                file: s.file.clone(),
                covered_by: names(by),
                why: DeleteReason::Duplicate,
                remember: Some(GoneSegment {
                    file_name: s.file.clone(),
                    duration: s.exact,
                    truncated: s.truncated,
                    audio_start: Some(at(places[i].start)),
                    name_start: Some(s.name.start),
                }),
            }),
            (Outcome::Waiting(on), _) => out.holds.push(Hold {
                file: s.file.clone(),
                why: HoldReason::WaitingFor(names(on).join(", ")),
            }),
            _ => {}
        }
    }
    // Only an alignment, or names seen in the folder that exclude a record, correct it: a
    // plan that places rows by names alone (records outside what the names allow, or read
    // without their neighbours) leaves them.
    for (i, s) in segs.iter().enumerate() {
        let moved = s.recorded.is_some_and(|r| (r - places[i].start).abs() > 1);
        if moved && places[i].moved && matches!(s.role, Role::Archived | Role::Gone) {
            out.restamps.push(Restamp {
                file: s.file.clone(),
                archived: s.role == Role::Archived,
                audio_start: at(places[i].start),
            });
        }
    }
    out.restamps.sort_by(|a, b| a.file.cmp(&b.file));
    for &(after, before, start, end) in &cover.gaps {
        out.gaps.push(Gap {
            start: at(start),
            end: at(end),
            after: segs[after].file.clone(),
            before: segs[before].file.clone(),
        });
    }
    // Named by their first file, so the plan does not depend on the listing's order.
    let mut first_of: HashMap<usize, &str> = HashMap::new();
    for (i, s) in segs.iter().enumerate() {
        let first = first_of.entry(places[i].group).or_insert(&s.file);
        if s.file.as_str() < *first {
            *first = &s.file;
        }
    }
    for (i, s) in segs.iter().enumerate() {
        let kept = match s.role {
            Role::Archived => true,
            Role::Candidate => cover.outcomes[i] == Outcome::Chosen,
            Role::Live | Role::Gone => false,
        };
        if kept {
            out.groups
                .insert(s.file.clone(), first_of[&places[i].group].to_owned());
        }
    }
    // The file each upload continues: the one before it in its chain, where its bytes are
    // in the archive or about to be.
    let by_place: HashMap<(usize, usize), usize> = places
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.chain, p.index), i))
        .collect();
    for (i, s) in segs.iter().enumerate() {
        if s.role != Role::Candidate || cover.outcomes[i] != Outcome::Chosen {
            continue;
        }
        let Some(index) = places[i].index.checked_sub(1) else {
            continue;
        };
        let Some(&prev) = by_place.get(&(places[i].chain, index)) else {
            continue;
        };
        let kept = match segs[prev].role {
            Role::Archived => true,
            Role::Candidate => cover.outcomes[prev] == Outcome::Chosen,
            Role::Live | Role::Gone => false,
        };
        if kept {
            out.follows.insert(s.file.clone(), segs[prev].file.clone());
        }
    }
    out.uploads
        .sort_by(|a, b| (a.audio_start, &a.file).cmp(&(b.audio_start, &b.file)));
    out.deletions.sort_by(|a, b| a.file.cmp(&b.file));
    out.holds.sort_by(|a, b| a.file.cmp(&b.file));
    out.compare
        .sort_by(|a, b| (&a.file, &a.with).cmp(&(&b.file, &b.with)));
    out.sightings.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    out
}

/// Why [`blob_name`] cannot name a segment's blob: the text says what was built and what is
/// expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobNameError(pub String);

impl std::fmt::Display for BlobNameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BlobNameError {}

/// The blob name for a segment: the template's date fields come from the name as written,
/// as the original job did.
///
/// ```
/// let s = selection::Settings::new(600, "hope").unwrap();
/// let n = selection::parse_name("p_20261126T132143.mp3", &s, None).unwrap();
/// assert_eq!(selection::blob_name(&s, &n, "p_20261126T132143.mp3").unwrap(),
///            "26-11-2026/p_20261126T132143.mp3");
/// ```
pub fn blob_name(
    settings: &Settings,
    name: &SegmentName,
    file: &str,
) -> Result<String, BlobNameError> {
    use std::fmt::Write;
    let mut dated = String::new();
    write!(dated, "{}", name.local.format(settings.blob_template())).map_err(|_| {
        BlobNameError(format!(
            "blob template {:?} cannot be formatted",
            settings.blob_template()
        ))
    })?;
    // One pass over the template: what is put in is never read again, so a `{stream}` inside
    // a file name stays text.
    let mut blob = String::with_capacity(dated.len() + file.len());
    let mut rest = dated.as_str();
    while let Some(at) = rest.find('{') {
        blob.push_str(&rest[..at]);
        rest = &rest[at..];
        let (value, token) = [
            ("{file}", file),
            ("{pod}", name.pod.as_str()),
            ("{stream}", settings.stream.as_str()),
        ]
        .into_iter()
        .find(|(token, _)| rest.starts_with(token))
        .map_or(("{", "{"), |(token, value)| (value, token));
        blob.push_str(value);
        rest = &rest[token.len()..];
    }
    blob.push_str(rest);
    let bad_part = blob
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..");
    if blob.len() > 1024 || bad_part || blob.chars().any(|c| c.is_control() || c == '\\') {
        return Err(BlobNameError(format!(
            "{blob:?} is not a valid blob name (1..=1024 characters, no empty, '.' or '..' parts, \
             no control characters or backslashes)"
        )));
    }
    Ok(blob)
}

fn upload_reason(s: &Segment, p: &timeline::Placement) -> String {
    let mut why = format!(
        "covers {:.1} s of audio from {}",
        s.duration as f64 / 1000.0,
        at(p.start).format("%H:%M:%S%.3f")
    );
    if s.truncated {
        why.push_str(" (truncated: its writer was killed)");
    }
    if s.replaces_archived {
        why.push_str("; replaces a shorter archived copy");
    }
    why
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
