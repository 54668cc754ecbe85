//! The executor's rules as a deterministic state machine: no I/O, no clock, no tasks.
//!
//! [`Executor`] holds what carrying out a [`Plan`] must respect, and nothing else:
//!
//! - **The crash-safe order.** A file's blob is uploaded, then its row written; a duplicate's
//!   *gone* row is written, then the file deleted. A run killed between two steps leaves a
//!   state the next run repairs: a blob without a row (found create-only, checked by size and
//!   MD5, recorded), or a gone row for a file still there (planned again).
//! - **What counts as confirmed.** An archived segment whose row was read this run with its
//!   blob seen (`verified`), a planned upload whose blob and row were both written now with
//!   the frames the plan counted on, or an archived segment looked up now and found (a
//!   Node-job row only ever through its blob: [`lookup_target`]). A segment the plan uploads
//!   is confirmed by that upload alone: an older copy, a blob left without a row, or a blob a
//!   failed row write left behind proves nothing about this run's bytes.
//! - **Which deletion rests on what.** [`selection::Deletion::covered_by`]: a file goes only
//!   once every segment named there is confirmed.
//! - **What a failure blocks.** A failed, timed-out or deferred upload or row blocks every
//!   deletion resting on it, and nothing else: other uploads and deletions go on.
//!
//! # Call order
//!
//! Like quinn-proto's `Connection`, the executor is driven from outside:
//!
//! 1. [`Executor::new`] with the plan and what reading the archive learnt ([`Setup`]).
//! 2. Call [`Executor::poll_operation`] with the current [`Instant`] until it returns `None`,
//!    starting each [`Operation`] it returns (they may run at the same time).
//! 3. When an operation ends, feed its outcome with [`Executor::handle`] (one [`Event`] per
//!    operation, in any order), then go back to 2.
//! 4. When nothing is running and `poll_operation` returns `None`, [`Executor::is_done`] is
//!    true and [`Executor::outcome`] holds the totals.
//!
//! At most `concurrency` uploads (blob and row) run at once, one deletion (gone row, then the
//! file) and one lookup. The deadline is checked when an upload would start: later uploads
//! are left for the next run, and deletions resting on them are kept.
//!
//! Decisions are logged here with `tracing`, as quinn-proto does: the shell only performs.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use job::execute::core::{Event, Executor, Operation, Setup};
//!
//! // A plan with nothing but an empty file to delete.
//! let plan = selection::Plan {
//!     deletions: vec![selection::Deletion {
//!         file: "pod-a_20261126T100000.mp3".into(),
//!         covered_by: vec![],
//!         why: selection::DeleteReason::NoAudio,
//!         remember: None,
//!     }],
//!     ..Default::default()
//! };
//! let settings = selection::Settings::new(600, "hope").unwrap();
//! let state = selection::ArchiveState::default();
//! let now = Instant::now();
//! let mut ex = Executor::new(&plan, Setup::new(&settings, &state, "hope", now + Duration::from_secs(60)));
//! assert_eq!(ex.poll_operation(now), Some(Operation::DeleteFile { deletion: 0 }));
//! assert_eq!(ex.poll_operation(now), None, "one deletion at a time");
//! ex.handle(Event::Deleted { deletion: 0 });
//! assert!(ex.poll_operation(now).is_none() && ex.is_done());
//! assert_eq!(ex.outcome().deleted, 1);
//! ```

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use selection::{DeleteReason, Plan};
use tracing::{error, info, warn};

use super::dead_air;
pub use super::protocol::{Counted, Event, Exact, FrameExact, Operation, Outcome, Setup, Step};
use crate::days::Silence;
use crate::proof::blob_proves;
use crate::rows;
use store::{PutMode, SegmentRow};

mod deletions;
mod uploads;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadState {
    Queued,
    Uploading,
    /// The row is being written; `confirms`: the counted frames are the planned ones.
    Writing {
        confirms: bool,
    },
    /// Settled: `true` when confirmed.
    Done(bool),
}

/// Whether an upload's blob leaves out its start now ([`Setup::trims`]).
enum TrimNow {
    /// Not a frame-exact blob: the recording's bytes.
    Whole,
    /// From this frame: the segment holding the audio before it is confirmed.
    Cut(u64),
    /// That segment is still being archived in this run.
    Wait,
    /// It failed in this run: the blob would rest on audio that is not archived.
    Blocked(String),
    /// It was archived by an earlier run: its blob is looked up first.
    LookUp { file: String, blob: String },
}

/// Where a deletion's segments stand.
enum Resolution {
    /// All confirmed.
    Ready,
    /// Some cannot be confirmed in this run any more.
    Missing(Vec<String>),
    /// One is still being archived.
    Wait,
    /// One must be looked up first.
    LookUp { file: String, blob: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeletionState {
    Pending,
    WritingGone,
    GoneWritten,
    Deleting,
    Done,
}

/// The executor's state for one plan; see the [module docs](self) for the call order.
pub struct Executor<'a> {
    plan: &'a Plan,
    setup: Setup<'a>,
    uploads: Vec<UploadState>,
    by_file: HashMap<&'a str, usize>,
    deletions: Vec<DeletionState>,
    refuted: HashSet<String>,
    looking_up: Option<String>,
    /// Rows to write, for uploads whose blob is in place.
    queued_rows: Vec<(usize, SegmentRow)>,
    outcome: Outcome,
}

impl<'a> Executor<'a> {
    /// Ready to carry out `plan`; nothing is confirmed but `setup.verified`.
    pub fn new(plan: &'a Plan, setup: Setup<'a>) -> Self {
        let mut outcome = Outcome::default();
        // A planned upload is confirmed by this run's upload only, even if an older copy
        // of it was verified.
        let by_file: HashMap<&str, usize> = plan
            .uploads
            .iter()
            .enumerate()
            .map(|(i, u)| (u.file.as_str(), i))
            .collect();
        outcome.confirmed = setup
            .verified
            .iter()
            .filter(|f| !by_file.contains_key(f.as_str()))
            .cloned()
            .collect();
        Executor {
            plan,
            uploads: vec![UploadState::Queued; plan.uploads.len()],
            by_file,
            deletions: vec![DeletionState::Pending; plan.deletions.len()],
            refuted: HashSet::new(),
            looking_up: None,
            queued_rows: Vec::new(),
            outcome,
            setup,
        }
    }

    /// The next operation to start, or `None` until an event arrives (or for good, once
    /// [`Executor::is_done`]). `now` is compared with the deadline.
    pub fn poll_operation(&mut self, now: Instant) -> Option<Operation> {
        if let Some((i, row)) = self.queued_rows.pop() {
            let replace = self.plan.uploads[i].replaces_archived;
            return Some(Operation::WriteRow {
                upload: i,
                row,
                replace,
            });
        }
        if let Some(op) = self.next_deletion(false) {
            return Some(op);
        }
        let running = self
            .uploads
            .iter()
            .filter(|s| matches!(s, UploadState::Uploading | UploadState::Writing { .. }))
            .count();
        if running < self.setup.concurrency.max(1) {
            for i in 0..self.uploads.len() {
                if self.uploads[i] != UploadState::Queued {
                    continue;
                }
                let u = &self.plan.uploads[i];
                if now > self.setup.deadline {
                    warn!(file = %u.file, "run deadline reached; left for the next run");
                    self.outcome.deadline_left += 1;
                    self.uploads[i] = UploadState::Done(false);
                    continue;
                }
                let exact = match self.trim_now(u) {
                    TrimNow::Wait => continue,
                    TrimNow::Blocked(after) => {
                        warn!(file = %u.file, after,
                            "left for the next run: its blob leaves out audio that rests on \
                             {after}, not archived in this run");
                        self.uploads[i] = UploadState::Done(false);
                        continue;
                    }
                    TrimNow::LookUp { file, blob } => {
                        if self.looking_up.is_some() {
                            continue;
                        }
                        self.looking_up = Some(file.clone());
                        return Some(Operation::LookUp { file, blob });
                    }
                    TrimNow::Cut(frame) => Some(Exact::Cut(frame)),
                    TrimNow::Whole => self.setup.leads.get(&u.file).cloned().map(Exact::Lead),
                };
                self.uploads[i] = UploadState::Uploading;
                let planned = self.row(u, u.size, &[0; 16]);
                return Some(Operation::Upload {
                    upload: i,
                    metadata: rows::blob_metadata(&planned, self.setup.stream),
                    locate: rows::ranged(&planned),
                    mode: if u.replaces_archived {
                        PutMode::Overwrite
                    } else {
                        PutMode::CreateOnly
                    },
                    exact,
                });
            }
        }
        if self
            .uploads
            .iter()
            .all(|s| matches!(s, UploadState::Done(_)))
        {
            return self.next_deletion(true);
        }
        None
    }

    /// Nothing runs and nothing is left to start.
    pub fn is_done(&self) -> bool {
        self.uploads
            .iter()
            .all(|s| matches!(s, UploadState::Done(_)))
            && self.queued_rows.is_empty()
            && self.deletions.iter().all(|s| *s == DeletionState::Done)
            && self.looking_up.is_none()
    }

    /// The totals so far.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Take in the outcome of an operation [`Executor::poll_operation`] returned.
    pub fn handle(&mut self, event: Event) {
        match event {
            Event::Uploaded {
                upload,
                size,
                md5,
                counted,
            } => {
                let silences = counted.silences.clone();
                let exact = counted.exact.clone();
                self.uploaded(upload, size, md5, Some(counted), &silences, exact.as_ref())
            }
            Event::BlobExists {
                upload,
                size,
                md5,
                local_md5,
                silences,
                exact,
            } => {
                let u = &self.plan.uploads[upload];
                let expected = exact.as_ref().map_or(u.size, |e| e.blob_size);
                if size != expected || md5.is_some_and(|m| m != local_md5) {
                    error!(file = %u.file, blob = %u.blob_name,
                        "a different blob already has its name ({size} bytes); left alone");
                    self.fail_upload(upload);
                } else {
                    // An earlier run uploaded it and stopped before writing the row.
                    self.uploaded(upload, size, local_md5, None, &silences, exact.as_ref());
                }
            }
            Event::RowWritten { upload } => self.row_written(upload),
            Event::RowExists { upload, row } => {
                let u = &self.plan.uploads[upload];
                if row.file_name == u.file {
                    self.row_written(upload);
                } else {
                    error!(file = %u.file, row_key = %row.row_key, other = %row.file_name,
                        "RowKey taken by another file");
                    self.fail_upload(upload);
                }
            }
            Event::Found { file, blob } => {
                self.looking_up = None;
                let expected = self.archived_size(&file);
                match blob {
                    Some(info) if blob_proves(expected, &info) => {
                        self.outcome.confirmed.insert(file);
                    }
                    Some(_) => {
                        self.refuted.insert(file);
                    }
                    None => {
                        warn!(file, "archived by the table but its blob is missing");
                        self.refuted.insert(file);
                    }
                }
            }
            // The file may go now: `next_deletion` starts it.
            Event::GoneWritten { deletion } => {
                self.deletions[deletion] = DeletionState::GoneWritten
            }
            Event::Deleted { deletion } => {
                let d = &self.plan.deletions[deletion];
                self.deletions[deletion] = DeletionState::Done;
                self.outcome.deleted += 1;
                if d.why != DeleteReason::NoAudio {
                    self.outcome.deleted_audio.push(d.file.clone());
                }
                let decision = match d.why {
                    DeleteReason::NoAudio => "deleted empty",
                    DeleteReason::Archived => "deleted archived",
                    DeleteReason::Duplicate => "deleted duplicate",
                };
                info!(file = %d.file, decision, "{d}");
            }
            Event::Skipped { deletion } => self.deletions[deletion] = DeletionState::Done,
            Event::Changed { step } => match step {
                Step::Upload(i) | Step::Row(i) => {
                    warn!(file = %self.plan.uploads[i].file,
                        "changed since it was measured; left for the next run");
                    self.uploads[i] = UploadState::Done(false);
                }
                Step::Gone(i) | Step::Delete(i) => {
                    warn!(file = %self.plan.deletions[i].file, "changed since it was planned; kept");
                    self.deletions[i] = DeletionState::Done;
                }
                Step::LookUp(file) => self.handle(Event::Found { file, blob: None }),
            },
            Event::Failed { step, error } => match step {
                Step::Upload(i) | Step::Row(i) => {
                    error!(file = %self.plan.uploads[i].file, "{error}");
                    self.fail_upload(i);
                }
                Step::LookUp(file) => {
                    warn!(file, "cannot check its blob: {error}");
                    self.looking_up = None;
                    self.refuted.insert(file);
                }
                Step::Gone(i) => {
                    error!(file = %self.plan.deletions[i].file,
                        "kept: cannot record it before deleting: {error}");
                    self.outcome.errors += 1;
                    self.deletions[i] = DeletionState::Done;
                }
                Step::Delete(i) => {
                    error!(file = %self.plan.deletions[i].file, "cannot delete: {error}");
                    self.outcome.errors += 1;
                    self.deletions[i] = DeletionState::Done;
                }
            },
        }
    }
}
