//! Carrying a plan out: the pure rules in [`core`], the I/O here.
//!
//! Upload the blob, then insert its row, then delete local copies. A run killed at any point
//! leaves either nothing, a blob without a row (the next run finds it with `CreateOnly`,
//! checks it, and writes the row), or a row with its blob (the next run sees the segment as
//! archived). A file is deleted only after every archived segment its deletion rests on is
//! confirmed: a row whose blob was seen in this run, or an upload and insert that succeeded in
//! this run. [`core::Executor`] decides all of that; [`execute`] only performs the operations
//! it asks for (uploads in parallel, deletions beside them) and feeds back their outcomes.
//!
//! The other steps of a run live beside it: [`state`] reads what the archive says,
//! [`record`] keeps alignments, sightings and moved audio starts.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use selection::{ArchiveState, Plan};
use tracing::{error, info, warn};

use crate::scan::Folder;
use crate::settings::Settings;
use store::{Archive, Lock, SegmentRow};

mod cuts;
mod frame_exact;
pub mod record;
mod shell;
pub mod state;

use archive_model::executor as core;
pub use archive_model::executor::{
    Counted, Event, Exact, FrameExact, Operation, Outcome, Setup, Step,
};
pub use record::{remember_alignments, remember_sightings, restamp};
use shell::Shell;
pub use state::read_state;

/// How often a run renews its 15-s lease on the stream's lock.
const LOCK_RENEW_EVERY: Duration = Duration::from_secs(5);

/// Totals for the run summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub seen: usize,
    pub archived: usize,
    pub bytes: u64,
    pub deleted: usize,
    pub held: usize,
    pub gaps: usize,
    /// Spans of dead air found in the files archived.
    pub silences: usize,
    /// Archived files found longer than the bytes archived for them (a writer that resumed,
    /// or a view of the share that lagged when they were archived): archived again in full.
    pub late_growth: usize,
    /// Overlaps where two recordings held different audio (both kept; issue 31): compared
    /// and found different, or both sounding and never aligned.
    pub disagreements: usize,
    pub errors: usize,
    /// Seconds of those spans of dead air.
    pub silence_seconds: f64,
    /// Uploads the run deadline (`RUN_DEADLINE_SECONDS`) left for the next run.
    pub deadline_left: usize,
    /// Files held for an operator, never deleted by the job ([`held_for_operator`]).
    pub held_for_operator: usize,
}

/// A hold that only a person resolves: a name the grammar refuses or that an archived
/// segment already uses, no audio, unreadable, no acceptable blob name. The others (still
/// recording, waiting for a replica or a comparison, a stale view, a name in the future,
/// not yet measured) resolve themselves in later runs.
pub fn held_for_operator(why: &selection::HoldReason) -> bool {
    use selection::HoldReason as H;
    matches!(
        why,
        H::UnknownName(_) | H::Unreadable(_) | H::NoFrames | H::BadBlobName(_) | H::NameReused(_)
    )
}

/// One warning per archived file that the folder now shows longer than its archived bytes
/// (for a frame-exact blob, the recording's `sourceEnd`), with the seconds at stake; the plan
/// archives each again in full. Returns how many.
fn warn_late_growth(state: &ArchiveState, plan: &Plan) -> usize {
    let archived: HashMap<&str, &selection::ArchivedSegment> = state
        .segments
        .iter()
        .map(|a| (a.file_name.as_str(), a))
        .collect();
    let mut count = 0;
    for u in plan.uploads.iter().filter(|u| u.replaces_archived) {
        count += 1;
        let before = archived.get(u.file.as_str());
        let had = before.and_then(|a| a.duration).unwrap_or_default();
        warn!(
            file = %u.file,
            decision = "late growth",
            archived_bytes = before.and_then(|a| a.size),
            bytes = u.size,
            seconds = u.duration.saturating_sub(had).as_secs_f64(),
            "the file is longer than the bytes archived for it ({:.1} s of audio more): \
             the recorder wrote after it was archived, or the share's view lagged then; \
             archiving it again in full",
            u.duration.saturating_sub(had).as_secs_f64()
        );
    }
    count
}

/// Where a run reads and writes: the stream's partition, the partition of files deleted
/// without being archived, the partition of content alignments, and the lock held for the run.
pub struct Stores<'a> {
    pub archive: &'a dyn Archive,
    pub gone: &'a dyn Archive,
    pub aligned: &'a dyn Archive,
    /// The partition holding the sightings row ([`archive_model::rows::sightings_row`]).
    pub seen: &'a dyn Archive,
    pub lock: Option<&'a Lock>,
}

/// What reading the archive state learnt besides the state: the rows it came from, by file
/// name (what restamps rewrite and joins are computed from), and the archived segments whose
/// blob was seen (so the executor need not look again).
#[derive(Debug, Default)]
pub struct Recorded {
    pub archived: HashMap<String, SegmentRow>,
    pub gone: HashMap<String, SegmentRow>,
    pub verified: HashSet<String>,
}

/// Carry out `plan`. Returns the summary (`errors > 0` means the run must exit non-zero) and
/// what changed, whose day manifests and pages the run then rewrites ([`crate::publish`]).
/// `comparisons` are the run's verdicts on the audio the plan's deletions rest on; a
/// frame-exact cut rests on them too.
#[allow(clippy::too_many_arguments)] // the run's stores, folder and state, and its plan
pub async fn execute(
    stores: &Stores<'_>,
    settings: &Settings,
    folder: &Folder,
    state: &ArchiveState,
    recorded: &Recorded,
    plan: &Plan,
    comparisons: &[selection::Comparison],
    deadline: Instant,
) -> (Summary, Changed) {
    for hold in &plan.holds {
        // A reused name waits for an operator; every other hold resolves itself or is logged
        // where it arose.
        if matches!(hold.why, selection::HoldReason::NameReused(_)) {
            warn!(file = %hold.file, decision = "hold", "{}", hold.why);
        } else {
            info!(file = %hold.file, decision = "hold", "{}", hold.why);
        }
    }
    for gap in &plan.gaps {
        warn!(decision = "gap", "{gap}");
    }
    let late_growth = warn_late_growth(state, plan);
    // A cut leaves audio out of a blob on the strength of the segment it joins, as a deletion
    // does: only where a comparison shows that segment holds the same audio.
    let cuts = cuts::confirm_cuts(
        archive_model::day::upload_cuts(
            &recorded.archived,
            &plan.uploads,
            &plan.groups,
            &settings.selection,
            settings.archive_mode,
        ),
        plan,
        comparisons,
        folder,
        settings,
        stores.archive,
        &recorded.archived,
    )
    .await;
    let setup = Setup {
        verified: recorded.verified.clone(),
        // Where each upload joins the archive, so that its row and blob carry it from the
        // start.
        joined: archive_model::day::upload_points(
            &recorded.archived,
            &plan.uploads,
            &settings.selection,
        ),
        cuts,
        leads: archive_model::day::upload_leads(
            &recorded.archived,
            plan,
            state,
            &settings.selection,
            settings.archive_mode,
        ),
        head_held_by: recorded
            .archived
            .iter()
            .filter_map(|(file, r)| Some((file.clone(), r.head_held_by.clone()?)))
            .collect(),
        blob_sizes: recorded
            .archived
            .iter()
            .filter(|(_, r)| r.source_end.is_some())
            .filter_map(|(file, r)| Some((file.clone(), r.size?)))
            .collect(),
        concurrency: settings.upload_concurrency,
        ..Setup::new(&settings.selection, state, &settings.stream, deadline)
    };
    let mut core = core::Executor::new(plan, setup);
    let shell = Shell {
        stores,
        settings,
        plan,
        folder,
    };
    // Every operation the core asks for runs at once with the others (at most
    // `upload_concurrency` uploads, one deletion and one lookup, as the core allows), so a
    // backlog's deletions do not wait for its last upload.
    let mut running = FuturesUnordered::new();
    loop {
        while let Some(op) = core.poll_operation(Instant::now()) {
            running.push(shell.perform(op));
        }
        match running.next().await {
            Some(event) => core.handle(event),
            None => break,
        }
    }
    let done = core.outcome();
    let sum = Summary {
        seen: folder.files.len(),
        archived: done.archived,
        bytes: done.bytes,
        deleted: done.deleted,
        held: plan.holds.len(),
        gaps: plan.gaps.len(),
        silences: done.silences,
        late_growth,
        disagreements: 0,
        errors: done.errors,
        silence_seconds: done.silence_ms as f64 / 1000.0,
        deadline_left: done.deadline_left,
        held_for_operator: plan
            .holds
            .iter()
            .filter(|h| held_for_operator(&h.why))
            .count(),
    };
    // Days whose segments changed: rewritten from the table, so a manifest whose write
    // failed is repaired when the day's archived files are deleted on the next run. An upload
    // whose audio reaches past midnight changes the next day's first join too.
    let mut days: BTreeSet<_> = plan
        .uploads
        .iter()
        .filter(|u| done.confirmed.contains(&u.file))
        .flat_map(|u| archive_model::day::days_of_upload(u, &settings.selection))
        .collect();
    days.extend(
        done.deleted_audio
            .iter()
            .filter_map(|f| archive_model::day::day_of(f, &settings.selection)),
    );
    let changed = Changed {
        days,
        deleted: done.deleted_audio.clone(),
    };
    (sum, changed)
}

/// What carrying out a plan changed that the day manifests and pages show.
#[derive(Debug, Default)]
pub struct Changed {
    /// Days whose segments changed (uploaded, or deleted from the folder).
    pub days: BTreeSet<chrono::NaiveDate>,
    /// Files deleted from the folder whose audio is archived.
    pub deleted: Vec<String>,
}

/// Renew the run's lease every 5 s (`LOCK_RENEW_EVERY`) until `done`; `true` when it was lost.
/// Losing it is not a safety problem (uploads are create-only and rows collide), but it is
/// reported.
pub async fn keep_lock(stores: &Stores<'_>, done: &std::sync::atomic::AtomicBool) -> bool {
    let Some(lock) = stores.lock else {
        return false;
    };
    let mut renewed = Instant::now();
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if renewed.elapsed() >= LOCK_RENEW_EVERY {
            if let Err(e) = stores.archive.renew_lock(lock).await {
                error!("lost the stream's lock; another run may take over: {e}");
                return true;
            }
            renewed = Instant::now();
        }
    }
    false
}

/// The longest a run may start new work.
pub fn deadline(settings: &Settings) -> Instant {
    Instant::now() + settings.run_deadline.min(Duration::from_secs(86_400))
}
