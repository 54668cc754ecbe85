//! One run of the job, as a library function: the binary calls it with Azure partitions, the
//! `archive_to_dir` example with local ones, and an embedding tool with its own [`Archive`].
//!
//! The order is the run's: read the clocks once → scan the folder → take the stream's lock →
//! read what the archive says → align → plan → keep alignments and sightings → restamp →
//! carry the plan out (blob → row → gone row → delete) → the changed days' manifests and
//! pages (`crate::publish`) → summary → the outcome row (`crate::outcome`, best effort, not
//! for dry runs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tracing::{info, warn};

use crate::error::Error;
use crate::execute::{self, Stores};
use crate::outcome::{self, RunFacts, RunRecord};
use crate::publish;
use crate::settings::Settings;
use store::Archive;

/// The stream's lease: short, so a run killed while holding it blocks the next one for
/// seconds only; the executor renews it every 5 s.
pub const LOCK_SECONDS: u32 = 15;

/// The table partitions a run reads and writes, besides the stream's blobs in `archive`.
pub struct Partitions<'a> {
    /// The stream's container and its rows (partition `<stream>`, the Node job's).
    pub archive: &'a dyn Archive,
    /// Files deleted as duplicates (`<stream>~gone`).
    pub gone: &'a dyn Archive,
    /// Content alignments (`<stream>~align`).
    pub aligned: &'a dyn Archive,
    /// The sightings row (`<stream>~seen`).
    pub seen: &'a dyn Archive,
    /// The outcome row (`<stream>~run`, [`crate::outcome`]): what the metrics exporter reads.
    pub runs: &'a dyn Archive,
}

/// Run once over `settings.folder`. `dry_run` plans and prints the plan as JSON, changing
/// nothing. A second run at the same time finds the lock taken and returns `Ok` without work.
///
/// Every run but a dry run then leaves its outcome in the outcome row ([`crate::outcome`]),
/// whatever happened, best effort: that write never changes what the run returns.
pub async fn run(parts: &Partitions<'_>, settings: &Settings, dry_run: bool) -> Result<(), Error> {
    let started_at = crate::clock::node();
    let started = Instant::now();
    let mut facts = RunFacts::default();
    let result = attempt(parts, settings, dry_run, started, &mut facts).await;
    if !dry_run {
        let ended_at =
            started_at + chrono::TimeDelta::from_std(started.elapsed()).unwrap_or_default();
        record_outcome(parts.runs, &facts, &result, started_at, ended_at).await;
    }
    result
}

/// Replace the outcome row with this run's, its counters added to the previous row's. One
/// warning when that cannot be done; the run's result stays what it was.
async fn record_outcome(
    runs: &dyn Archive,
    facts: &RunFacts,
    result: &Result<(), Error>,
    started: chrono::DateTime<chrono::Utc>,
    ended: chrono::DateTime<chrono::Utc>,
) {
    let outcome = outcome::classify(facts, result);
    let previous = match runs.rows_in_range(outcome::RUN_KEY, outcome::RUN_KEY).await {
        Ok(rows) => rows.first().and_then(|row| match outcome::run_record(row) {
            Ok(record) => Some(record),
            Err(e) => {
                warn!("the previous outcome row is unreadable; its counters start again: {e}");
                None
            }
        }),
        Err(e) => {
            warn!(
                outcome = outcome.as_str(),
                "cannot record the run's outcome: {e}"
            );
            return;
        }
    };
    let record = RunRecord::next(previous.as_ref(), outcome, facts, started, ended);
    match runs.replace_row(&outcome::run_row(&record)).await {
        Ok(()) => info!(outcome = outcome.as_str(), "run outcome recorded"),
        Err(e) => warn!(
            outcome = outcome.as_str(),
            "cannot record the run's outcome: {e}"
        ),
    }
}

async fn attempt(
    parts: &Partitions<'_>,
    settings: &Settings,
    dry_run: bool,
    started: Instant,
    facts: &mut RunFacts,
) -> Result<(), Error> {
    let deadline = execute::deadline(settings);
    // One reading of the clocks for the whole run: the scan, the alignments and the plan see
    // the same `now`.
    // FOLDER's handle, opened once: the share's clock, the scan and every later read or
    // deletion of a recording go through it.
    let share = crate::share::Share::open(&settings.folder).map_err(Error::Folder)?;
    let now = crate::clock::read(&share);
    // The run reads and deletes recordings through FOLDER's one handle only.
    let folder =
        crate::scan::scan(share, settings.selection.finish_grace, now).map_err(Error::Folder)?;
    let skew_limit =
        chrono::TimeDelta::from_std(settings.clock_skew_warning).unwrap_or(chrono::TimeDelta::MAX);
    let clock_skew = crate::clock::skew(&now, &folder.files, skew_limit);
    facts.clock_skew_seconds = clock_skew;
    let archive = parts.archive;
    if !dry_run {
        archive.ensure_ready().await?;
    }
    let lock = if dry_run {
        None
    } else {
        match archive.try_lock(LOCK_SECONDS).await? {
            Some(l) => Some(l),
            None => {
                warn!("another run holds the stream's lock; nothing to do");
                facts.locked = true;
                return Ok(());
            }
        }
    };
    let stores = Stores {
        archive,
        gone: parts.gone,
        aligned: parts.aligned,
        seen: parts.seen,
        lock: lock.as_ref(),
    };
    let done = AtomicBool::new(false);
    let mut summary = None;
    let work = async {
        let outcome = async {
            let (state, recorded) = match execute::read_state(&stores, settings, &folder).await {
                Ok(s) => s,
                Err(e) if dry_run => {
                    warn!("cannot read the archive ({e}); planning as if it were empty");
                    Default::default()
                }
                Err(e) => return Err(Error::State(e)),
            };
            let measured = crate::alignments::measure(&folder, &state, settings, now);
            let (unaligned, unaligned_reasons) = (measured.left_total(), measured.left_reasons());
            let alignments = measured.alignments;
            // A deletion resting on another recording waits for a comparison of the audio
            // it rests on: compare what the plan asks about, then plan again with the verdicts.
            let mut planning = selection::Planning::new(
                &folder.files,
                &state,
                &alignments,
                &settings.selection,
                now,
            );
            while let Some(asked) = planning.questions() {
                let verdicts =
                    crate::compare::measure(asked, &folder, settings, archive, &recorded.archived)
                        .await;
                planning.answer(verdicts);
            }
            let (plan, comparisons) = planning.finish();
            let disagreements = comparisons
                .iter()
                .filter(|c| c.verdict == selection::Verdict::Different)
                .count();
            if dry_run {
                println!("{}", serde_json::to_string_pretty(&plan)?);
                return Ok(());
            }
            let unkept = execute::remember_alignments(&stores, settings, &state, &alignments).await;
            // Not an error: without them a later run only waits for the clocks to agree.
            let _ = execute::remember_sightings(&stores, &state, &plan).await;
            let (unstamped, mut days) = execute::restamp(&stores, settings, &recorded, &plan).await;
            let (mut sum, changed) = execute::execute(
                &stores,
                settings,
                &folder,
                &state,
                &recorded,
                &plan,
                &comparisons,
                deadline,
            )
            .await;
            // Days and pages: every day whose segments moved, were archived or deleted,
            // rewritten once from the table after the plan is carried out.
            days.extend(changed.days);
            let unpublished = publish::days_and_pages(
                archive,
                parts.gone,
                settings,
                &days,
                &folder.files,
                &plan,
                &changed.deleted,
            )
            .await;
            sum.errors += unkept + unstamped + unpublished;
            // Replicas that never aligned although both held sound disagree as surely as a
            // comparison that found different audio (a replica on another stream from the
            // start is never compared: nothing groups it with the other).
            sum.disagreements = disagreements + measured.unaligned;
            info!(
                seen = sum.seen,
                archived = sum.archived,
                bytes = sum.bytes,
                deleted = sum.deleted,
                held = sum.held,
                gaps = sum.gaps,
                silences = sum.silences,
                late_growth = sum.late_growth,
                disagreements = sum.disagreements,
                unaligned,
                unaligned_reasons = %unaligned_reasons,
                errors = sum.errors,
                clock_skew_seconds = clock_skew,
                seconds = started.elapsed().as_secs_f64(),
                peak_rss_kib = peak_rss_kib(),
                "run summary"
            );
            let errors = sum.errors;
            summary = Some(sum);
            if errors > 0 {
                return Err(Error::OperationsFailed { count: errors });
            }
            Ok(())
        }
        .await;
        done.store(true, Ordering::Relaxed);
        outcome
    };
    // The run ends when its work does: the renewal loop sleeps 250 ms between looks at
    // `done`, and waiting for its wake-up cost every run up to that (0.26 s of an
    // empty-folder run). A loop that returns first has lost the lock; the work still ends.
    let (outcome, lock_lost) = {
        let keep = std::pin::pin!(execute::keep_lock(&stores, &done));
        let mut work = std::pin::pin!(work);
        tokio::select! {
            biased;
            lost = keep => (work.await, lost),
            outcome = &mut work => (outcome, false),
        }
    };
    facts.summary = summary;
    let outcome = match outcome {
        Ok(()) if lock_lost => Err(Error::LockLost),
        other => other,
    };
    if let Some(lock) = lock {
        if let Err(e) = archive.release_lock(&lock).await {
            warn!("cannot release the lock (it expires by itself): {e}");
        }
    }
    outcome
}

/// The process's peak resident set (`VmHWM` in `/proc/self/status`, KiB) so far: the job's
/// own memory, whatever started it (a child's `ru_maxrss` can include its parent's peak at
/// exec). `None` where the file is not there (not Linux) or not readable.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{run_record, RunOutcome};
    use crate::testkit;
    use store::faulty::{Calls, Fault, FaultyArchive, Operation};
    use store::memory::InMemoryArchive;
    use store::ArchiveRead as _;

    /// Runs over `steady` in memory with the outcome row in `runs`: what each returned.
    fn runs_with(
        archive: &InMemoryArchive,
        runs: &dyn Archive,
        folder: &std::path::Path,
        times: usize,
    ) -> Vec<Result<(), String>> {
        let settings = testkit::settings(folder);
        let partitions = testkit::memory_partitions(archive);
        let parts = Partitions {
            archive,
            runs,
            ..partitions.parts()
        };
        let runtime = testkit::paused_runtime();
        (0..times)
            .map(|_| runtime.block_on(run(&parts, &settings, false)))
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    fn last(runs: &InMemoryArchive) -> crate::outcome::RunRecord {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        run_record(&runtime.block_on(runs.first_rows(1)).unwrap()[0]).unwrap()
    }

    #[test]
    fn a_locked_run_and_a_failed_run_leave_their_outcome_and_keep_their_result() {
        let dir = testkit::folder("steady");
        let archive = InMemoryArchive::new("hope");
        let runs = archive.partition(&crate::outcome::runs_partition("hope"));
        // Another run holds the lock: Ok, recorded as locked.
        let runtime = testkit::runtime();
        let held = runtime.block_on(archive.try_lock(60)).unwrap().unwrap();
        assert_eq!(runs_with(&archive, &runs, dir.path(), 1), vec![Ok(())]);
        assert_eq!(last(&runs).outcome, RunOutcome::Locked);
        runtime.block_on(archive.release_lock(&held)).unwrap();
        // No folder: the same error as ever, recorded as failed, the lock's count kept.
        let missing = dir.path().join("missing");
        let result = runs_with(&archive, &runs, &missing, 1);
        assert!(
            result[0].as_ref().unwrap_err().contains("FOLDER"),
            "{result:?}"
        );
        let record = last(&runs);
        assert_eq!(record.outcome, RunOutcome::Failed);
        assert_eq!(record.totals.runs["locked"], 1);
        assert_eq!(record.totals.errors, 1);
        assert_eq!(record.last_success_ms, None);
    }

    #[test]
    fn an_outcome_row_that_cannot_be_written_changes_nothing_else() {
        let dir = testkit::folder("steady");
        let archive = InMemoryArchive::new("hope");
        let runs = FaultyArchive::new(archive.partition(&crate::outcome::runs_partition("hope")));
        runs.fail(Operation::ReplaceRow, Calls::From(1), Fault::Before);
        assert_eq!(runs_with(&archive, &runs, dir.path(), 1), vec![Ok(())]);
        let snapshot = archive.snapshot();
        assert!(
            snapshot
                .partitions
                .get("hope~run")
                .is_none_or(|rows| rows.is_empty()),
            "{:?}",
            snapshot.partitions.get("hope~run")
        );
        assert!(snapshot
            .partitions
            .get("hope")
            .is_some_and(|rows| !rows.is_empty()));
    }

    #[test]
    fn peak_rss_is_read_from_the_process_status() {
        if std::path::Path::new("/proc/self/status").exists() {
            let kib = super::peak_rss_kib().expect("VmHWM in /proc/self/status");
            assert!(kib > 100 && kib < 16 * 1024 * 1024, "{kib} KiB");
        }
    }
}
