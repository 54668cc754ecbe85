//! The outcome a run leaves behind for the metrics exporter (`segment-selector metrics`,
//! docs/operations.md): one row, RowKey [`RUN_KEY`], in a partition of its own,
//! `<stream>~run` (never `<stream>`, whose newest row the original Node job reads), replaced
//! by every run that is not a dry run.
//!
//! The row holds the last run (outcome, start, end, clock skew, files held for an operator),
//! when a run last ended `ok`, and counters that each run adds to: read from the previous row,
//! so the exporter reads one row, never a history. A bounded number of rows (one per stream),
//! no partition scan. Writing it is best effort: it never changes a run's exit code, and a
//! failure is one warning ([`crate::run::run`]).
//!
//! Pure: no I/O, no clock. The row keeps the record as JSON in its `run` property, as the
//! sightings row keeps its list.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::execute::Summary;
use store::SegmentRow;

/// The partition holding the stream's outcome row. `~` cannot appear in a container name, so
/// no stream's own partition can collide with it.
pub fn runs_partition(partition: &str) -> String {
    format!("{partition}~run")
}

/// The RowKey of the one outcome row: replaced by every run.
pub const RUN_KEY: &str = "last";

/// How a run ended: the `outcome` label of `segment_selector_last_run_outcome` and
/// `segment_selector_runs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Everything it started succeeded.
    Ok,
    /// It failed before carrying anything out (folder, storage, state), or every operation
    /// it tried failed.
    Failed,
    /// Some uploads or deletions failed, others succeeded.
    Partial,
    /// Another run held the stream's lock; it did nothing.
    Locked,
    /// `RUN_DEADLINE_SECONDS` cut it short: uploads were left for the next run.
    Deadline,
}

impl RunOutcome {
    /// Every outcome, in label order.
    pub const ALL: [RunOutcome; 5] = [
        RunOutcome::Ok,
        RunOutcome::Failed,
        RunOutcome::Partial,
        RunOutcome::Locked,
        RunOutcome::Deadline,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
            RunOutcome::Partial => "partial",
            RunOutcome::Locked => "locked",
            RunOutcome::Deadline => "deadline",
        }
    }
}

/// What one run did, as the outcome row needs it.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Another run held the lock.
    pub locked: bool,
    /// The summary, when the run got as far as carrying out a plan.
    pub summary: Option<Summary>,
    /// The node's clock minus the share's, when both were read.
    pub clock_skew_seconds: Option<f64>,
}

/// The outcome of a run that returned `result` after learning `facts`.
pub fn classify<E>(facts: &RunFacts, result: &Result<(), E>) -> RunOutcome {
    if facts.locked {
        return RunOutcome::Locked;
    }
    match (&facts.summary, result) {
        (Some(s), _) if s.errors > 0 => {
            if s.archived + s.deleted > 0 {
                RunOutcome::Partial
            } else {
                RunOutcome::Failed
            }
        }
        (_, Err(_)) | (None, Ok(())) => {
            // `Ok` without a summary is a dry run, which records nothing; a lost lock is an
            // error with no failed operation.
            RunOutcome::Failed
        }
        (Some(s), Ok(())) if s.deadline_left > 0 => RunOutcome::Deadline,
        (Some(_), Ok(())) => RunOutcome::Ok,
    }
}

/// Counters every run adds to (the `_total` metrics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Runs by outcome label.
    pub runs: BTreeMap<String, u64>,
    pub archived: u64,
    pub deleted: u64,
    pub bytes: u64,
    pub errors: u64,
    pub gaps: u64,
    pub dead_air_seconds: f64,
    pub disagreements: u64,
    pub late_growth: u64,
}

/// What the outcome row says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub outcome: RunOutcome,
    /// When the last run started and ended, milliseconds since the Unix epoch (node's clock).
    pub started_ms: i64,
    pub ended_ms: i64,
    /// When the last run with outcome `ok` ended; `None` before the first.
    #[serde(default)]
    pub last_success_ms: Option<i64>,
    /// The last run's clock skew (node minus share), when it read both clocks.
    #[serde(default)]
    pub clock_skew_seconds: Option<f64>,
    /// Files the last run held for an operator (never deleted by the job); `None` when it
    /// did not plan.
    #[serde(default)]
    pub held: Option<u64>,
    #[serde(default)]
    pub totals: Totals,
}

impl RunRecord {
    /// The record after a run: `previous` (the row read before writing, `None` for the
    /// first run or an unreadable row) with this run's outcome and numbers added.
    pub fn next(
        previous: Option<&RunRecord>,
        outcome: RunOutcome,
        facts: &RunFacts,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
    ) -> RunRecord {
        let mut totals = previous.map(|p| p.totals.clone()).unwrap_or_default();
        *totals.runs.entry(outcome.as_str().to_owned()).or_default() += 1;
        let summary = facts.summary.clone().unwrap_or_default();
        let n = |v: usize| v as u64;
        totals.archived += n(summary.archived);
        totals.deleted += n(summary.deleted);
        totals.bytes += summary.bytes;
        // A run that failed before its plan counts one error (the one it logged).
        totals.errors += match (&facts.summary, outcome) {
            (None, RunOutcome::Failed) => 1,
            _ => n(summary.errors),
        };
        totals.gaps += n(summary.gaps);
        totals.dead_air_seconds += summary.silence_seconds;
        totals.disagreements += n(summary.disagreements);
        totals.late_growth += n(summary.late_growth);
        RunRecord {
            outcome,
            started_ms: started.timestamp_millis(),
            ended_ms: ended.timestamp_millis(),
            last_success_ms: if outcome == RunOutcome::Ok {
                Some(ended.timestamp_millis())
            } else {
                previous.and_then(|p| p.last_success_ms)
            },
            clock_skew_seconds: facts.clock_skew_seconds,
            held: facts.summary.as_ref().map(|s| n(s.held_for_operator)),
            totals,
        }
    }
}

/// The table row keeping `record`.
pub fn run_row(record: &RunRecord) -> SegmentRow {
    SegmentRow {
        row_key: RUN_KEY.to_owned(),
        run: Some(serde_json::to_string(record).unwrap_or_else(|_| "{}".to_owned())),
        ..SegmentRow::default()
    }
}

/// What an outcome row says; an error naming what is wrong with it otherwise.
pub fn run_record(row: &SegmentRow) -> Result<RunRecord, String> {
    let json = row
        .run
        .as_deref()
        .ok_or_else(|| format!("row {} has no property run", row.row_key))?;
    serde_json::from_str(json).map_err(|e| {
        format!(
            "row {}: property run ({} characters) is not a run record: {e}",
            row.row_key,
            json.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn summary(archived: usize, deleted: usize, errors: usize) -> Summary {
        Summary {
            archived,
            deleted,
            errors,
            bytes: 1000 * archived as u64,
            gaps: 1,
            silence_seconds: 12.5,
            disagreements: 2,
            late_growth: 1,
            held: 4,
            held_for_operator: 1,
            ..Summary::default()
        }
    }

    #[test]
    fn outcomes_follow_what_the_run_did() {
        let with = |s: Summary| RunFacts {
            summary: Some(s),
            ..RunFacts::default()
        };
        let ok: Result<(), String> = Ok(());
        let err: Result<(), String> = Err("x".into());
        assert_eq!(classify(&with(summary(2, 1, 0)), &ok), RunOutcome::Ok);
        assert_eq!(classify(&with(summary(2, 0, 1)), &err), RunOutcome::Partial);
        assert_eq!(classify(&with(summary(0, 1, 1)), &err), RunOutcome::Partial);
        assert_eq!(classify(&with(summary(0, 0, 3)), &err), RunOutcome::Failed);
        let cut = Summary {
            deadline_left: 3,
            ..summary(1, 0, 0)
        };
        assert_eq!(classify(&with(cut), &ok), RunOutcome::Deadline);
        // Failed before a plan (no folder, no storage), or lost its lock.
        assert_eq!(classify(&RunFacts::default(), &err), RunOutcome::Failed);
        assert_eq!(classify(&with(summary(1, 0, 0)), &err), RunOutcome::Failed);
        let locked = RunFacts {
            locked: true,
            ..RunFacts::default()
        };
        assert_eq!(classify(&locked, &ok), RunOutcome::Locked);
    }

    #[test]
    fn counters_add_up_across_runs_and_the_last_success_stays() {
        let facts = RunFacts {
            summary: Some(summary(2, 1, 0)),
            clock_skew_seconds: Some(-0.4),
            ..RunFacts::default()
        };
        let first = RunRecord::next(
            None,
            RunOutcome::Ok,
            &facts,
            t("2026-12-07T10:00:00Z"),
            t("2026-12-07T10:00:20Z"),
        );
        assert_eq!(
            first.last_success_ms,
            Some(t("2026-12-07T10:00:20Z").timestamp_millis())
        );
        assert_eq!(first.held, Some(1));
        let failed = RunRecord::next(
            Some(&first),
            RunOutcome::Failed,
            &RunFacts::default(),
            t("2026-12-07T10:05:00Z"),
            t("2026-12-07T10:05:01Z"),
        );
        assert_eq!(failed.outcome, RunOutcome::Failed);
        assert_eq!(failed.last_success_ms, first.last_success_ms);
        assert_eq!(failed.held, None);
        assert_eq!(failed.clock_skew_seconds, None);
        let second = RunRecord::next(
            Some(&failed),
            RunOutcome::Ok,
            &facts,
            t("2026-12-07T10:10:00Z"),
            t("2026-12-07T10:10:30Z"),
        );
        let totals = &second.totals;
        assert_eq!(totals.runs["ok"], 2);
        assert_eq!(totals.runs["failed"], 1);
        assert_eq!(
            (totals.archived, totals.deleted, totals.bytes),
            (4, 2, 4000)
        );
        // The failed run's one logged error; none from the ok runs.
        assert_eq!(totals.errors, 1);
        assert_eq!(
            (totals.gaps, totals.disagreements, totals.late_growth),
            (2, 4, 2)
        );
        assert_eq!(totals.dead_air_seconds, 25.0);
        assert_eq!(
            second.started_ms,
            t("2026-12-07T10:10:00Z").timestamp_millis()
        );
    }

    #[test]
    fn the_record_round_trips_through_its_row() {
        let record = RunRecord::next(
            None,
            RunOutcome::Partial,
            &RunFacts {
                summary: Some(summary(1, 0, 2)),
                clock_skew_seconds: Some(1.25),
                ..RunFacts::default()
            },
            t("2026-12-07T10:00:00Z"),
            t("2026-12-07T10:01:00Z"),
        );
        let row = run_row(&record);
        assert_eq!(row.row_key, RUN_KEY);
        assert_eq!(run_record(&row).unwrap(), record);
        let odd = SegmentRow {
            run: Some("[1,2]".into()),
            ..row.clone()
        };
        let e = run_record(&odd).unwrap_err();
        assert!(e.contains("property run"), "{e}");
        assert!(run_record(&SegmentRow::default()).is_err());
        assert_eq!(runs_partition("hope"), "hope~run");
    }
}
