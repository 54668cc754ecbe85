//! Property tests of the executor core, with no service and no files: random plans driven
//! through random interleavings of completions and failures.
//!
//! - `nothing_is_deleted_unless_all_it_rests_on_is_confirmed`: plans built directly, every
//!   upload, row, lookup, gone row and deletion answered at random (written, already there
//!   alike or different, failed, file changed), completions in random order, the deadline
//!   at a random moment. Checked at every step: a deletion starts only when every segment it
//!   rests on is confirmed by the truth of this run; a row is written only after its blob; no
//!   more than two uploads and one deletion at once. At the end: every deletion whose
//!   segments were all confirmed and whose own steps succeeded happened (a failure blocks
//!   nothing else), and the totals add up.
//! - A crash at any step, then further runs: `crate::crash_tests`, end to end in memory.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use selection::{ArchiveState, DeleteReason, Deletion, GoneSegment, Plan};

use super::core::Executor;
use super::testkit::{archived, counted, settings, upload};
use super::{Counted, Event, Operation, Setup};
use store::{BlobInfo, SegmentRow};

/// A small deterministic generator, seeded by proptest.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }

    pub(super) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// How an archived segment of the state stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kept {
    /// Its row was read and its blob seen.
    Verified,
    /// Its blob is there with the row's size.
    Present,
    /// Its blob is missing.
    Missing,
    /// Its blob has another size than the row says.
    WrongSize,
    /// Looking it up fails.
    Unreachable,
}

fn file(pod: char, i: usize) -> String {
    format!("pod-{pod}_20261126T10{:02}{:02}.mp3", i / 6, (i % 6) * 10)
}

struct Case {
    plan: Plan,
    state: ArchiveState,
    kept: BTreeMap<String, Kept>,
}

fn case(rng: &mut Rng) -> Case {
    let uploads: Vec<String> = (0..rng.below(6)).map(|i| file('a', i)).collect();
    let mut kept = BTreeMap::new();
    let mut state = ArchiveState::default();
    for i in 0..rng.below(5) {
        let f = file('r', i);
        let k = [
            Kept::Verified,
            Kept::Present,
            Kept::Missing,
            Kept::WrongSize,
            Kept::Unreachable,
        ][rng.below(5)];
        // Rows of the original job name no blob and record no size.
        let node = rng.chance(30);
        let blob = format!("26-11-2026/{f}");
        state.segments.push(archived(
            &f,
            (!node).then_some(blob.as_str()),
            (!node).then_some(100),
        ));
        kept.insert(f, k);
    }
    let covers: Vec<&String> = uploads.iter().chain(kept.keys()).collect();
    let mut deletions = Vec::new();
    for i in 0..rng.below(8) {
        let f = file('d', i);
        let covered_by: Vec<String> = (0..rng.below(4))
            .filter(|_| !covers.is_empty())
            .map(|_| covers[rng.below(covers.len())].clone())
            .collect();
        let why = if covered_by.is_empty() {
            DeleteReason::NoAudio
        } else {
            DeleteReason::Duplicate
        };
        let remember = rng.chance(60).then(|| GoneSegment {
            file_name: f.clone(),
            duration: Duration::from_secs(10),
            truncated: false,
            audio_start: None,
            name_start: None,
        });
        deletions.push(Deletion {
            file: f,
            covered_by,
            why,
            remember,
        });
    }
    // Uploaded files deleted as archived, as the planner does.
    for u in &uploads {
        if rng.chance(70) {
            deletions.push(Deletion {
                file: u.clone(),
                covered_by: vec![u.clone()],
                why: DeleteReason::Archived,
                remember: None,
            });
        }
    }
    let plan = Plan {
        uploads: uploads.iter().map(|f| upload(f)).collect(),
        deletions,
        ..Plan::default()
    };
    Case { plan, state, kept }
}

/// What the simulated world answers to `op`, and whether the answer confirms its segment.
fn answer(op: &Operation, case: &Case, rng: &mut Rng) -> (Event, bool) {
    let step = op.step();
    let failed = Event::Failed {
        step: step.clone(),
        error: "injected".into(),
    };
    match op {
        Operation::Upload { upload, .. } => {
            let u = &case.plan.uploads[*upload];
            match rng.below(10) {
                0 => (failed, false),
                1 => (Event::Changed { step }, false),
                2 => {
                    let local_md5 = [1 + rng.below(2) as u8; 16];
                    (
                        Event::BlobExists {
                            upload: *upload,
                            size: u.size,
                            md5: Some([1; 16]),
                            local_md5,
                            silences: Vec::new(),
                            exact: None,
                        },
                        local_md5 == [1; 16],
                    )
                }
                3 => (
                    Event::Uploaded {
                        upload: *upload,
                        size: u.size - 1,
                        md5: [1; 16],
                        counted: counted(u.frames),
                    },
                    false,
                ),
                4 => (
                    Event::Uploaded {
                        upload: *upload,
                        size: u.size,
                        md5: [1; 16],
                        counted: Counted {
                            truncated: true,
                            ..counted(u.frames)
                        },
                    },
                    false,
                ),
                _ => (
                    Event::Uploaded {
                        upload: *upload,
                        size: u.size,
                        md5: [1; 16],
                        counted: counted(u.frames),
                    },
                    true,
                ),
            }
        }
        Operation::WriteRow { upload, row, .. } => match rng.below(8) {
            0 => (failed, false),
            1 => {
                let other = SegmentRow {
                    file_name: if rng.chance(50) {
                        row.file_name.clone()
                    } else {
                        "other.mp3".into()
                    },
                    ..row.clone()
                };
                let ours = other.file_name == row.file_name;
                (
                    Event::RowExists {
                        upload: *upload,
                        row: Box::new(other),
                    },
                    ours,
                )
            }
            _ => (Event::RowWritten { upload: *upload }, true),
        },
        Operation::LookUp { file, .. } => {
            let info = |size| {
                Some(BlobInfo {
                    size,
                    md5: None,
                    metadata: Default::default(),
                })
            };
            let blob = match case.kept[file] {
                Kept::Verified | Kept::Present => info(100),
                Kept::Missing => None,
                Kept::WrongSize => info(99),
                Kept::Unreachable => return (failed, false),
            };
            // The original job's rows record no size: any blob with bytes proves them.
            let sized = case
                .state
                .segments
                .iter()
                .any(|a| a.file_name == *file && a.size.is_some());
            let proves = blob.is_some() && (case.kept[file] != Kept::WrongSize || !sized);
            (
                Event::Found {
                    file: file.clone(),
                    blob,
                },
                proves,
            )
        }
        Operation::WriteGone { deletion, .. } => match rng.below(8) {
            0 => (failed, false),
            1 => (Event::Changed { step }, false),
            _ => (
                Event::GoneWritten {
                    deletion: *deletion,
                },
                true,
            ),
        },
        Operation::DeleteFile { deletion } => match rng.below(8) {
            0 => (failed, false),
            1 => (Event::Changed { step }, false),
            _ => (
                Event::Deleted {
                    deletion: *deletion,
                },
                true,
            ),
        },
    }
}

/// Drive one case to its end, checking the safety rules at every step.
fn drive(case: &Case, rng: &mut Rng) -> Result<(), TestCaseError> {
    let settings = settings();
    let start = Instant::now();
    let deadline_ms = rng.below(12) as u64;
    let mut setup = Setup::new(
        &settings,
        &case.state,
        "hope",
        start + Duration::from_millis(deadline_ms),
    );
    setup.verified = case
        .kept
        .iter()
        .filter(|(_, k)| **k == Kept::Verified)
        .map(|(f, _)| f.clone())
        .collect();
    let mut ex = Executor::new(&case.plan, setup);
    let planned: HashSet<&str> = case.plan.uploads.iter().map(|u| u.file.as_str()).collect();
    // The truth of this run: what an observer of the archive would call confirmed.
    let mut truth: HashSet<String> = case
        .kept
        .iter()
        .filter(|(f, k)| **k == Kept::Verified && !planned.contains(f.as_str()))
        .map(|(f, _)| f.clone())
        .collect();
    let mut blob_ok: HashSet<usize> = HashSet::new();
    let mut blob_written: HashSet<usize> = HashSet::new();
    let mut running: Vec<Operation> = Vec::new();
    let mut gone_done: HashSet<usize> = HashSet::new();
    let mut steps_ok: BTreeMap<usize, bool> = BTreeMap::new();
    let mut deleted = 0;
    let mut started: HashSet<usize> = HashSet::new();
    for tick in 0u64.. {
        let now = start + Duration::from_millis(tick);
        while let Some(op) = ex.poll_operation(now) {
            match &op {
                Operation::Upload { upload, .. } => {
                    prop_assert!(now <= start + Duration::from_millis(deadline_ms));
                    started.insert(*upload);
                }
                Operation::WriteRow { upload, .. } => {
                    prop_assert!(
                        blob_written.contains(upload),
                        "row {upload} before its blob"
                    )
                }
                Operation::WriteGone { deletion, .. } | Operation::DeleteFile { deletion } => {
                    let d = &case.plan.deletions[*deletion];
                    for c in &d.covered_by {
                        prop_assert!(
                            truth.contains(c),
                            "{} deleted resting on {c}, not confirmed",
                            d.file
                        );
                    }
                    if matches!(op, Operation::DeleteFile { .. }) {
                        let remembered = d.remember.is_some();
                        prop_assert_eq!(remembered, gone_done.contains(deletion), "{}", d.file);
                    }
                }
                Operation::LookUp { file, .. } => {
                    prop_assert!(!planned.contains(file.as_str()), "looked up an upload")
                }
            }
            running.push(op);
        }
        let uploading = running
            .iter()
            .filter(|o| matches!(o, Operation::Upload { .. } | Operation::WriteRow { .. }))
            .count();
        let deleting = running
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Operation::WriteGone { .. } | Operation::DeleteFile { .. }
                )
            })
            .count();
        prop_assert!(uploading <= 2 && deleting <= 1, "{running:?}");
        if running.is_empty() {
            break;
        }
        let op = running.swap_remove(rng.below(running.len()));
        let (event, ok) = answer(&op, case, rng);
        if let Event::Uploaded { upload, .. } | Event::BlobExists { upload, .. } = &event {
            blob_written.insert(*upload);
        }
        match (&op, ok) {
            (Operation::Upload { upload, .. }, true) => {
                blob_ok.insert(*upload);
            }
            (Operation::WriteRow { upload, .. }, true) if blob_ok.contains(upload) => {
                truth.insert(case.plan.uploads[*upload].file.clone());
            }
            (Operation::LookUp { file, .. }, true) => {
                truth.insert(file.clone());
            }
            (Operation::WriteGone { deletion, .. }, true) => {
                gone_done.insert(*deletion);
            }
            (Operation::DeleteFile { .. }, true) => deleted += 1,
            _ => {}
        }
        if let Operation::WriteGone { deletion, .. } | Operation::DeleteFile { deletion } = &op {
            steps_ok.insert(
                *deletion,
                ok && steps_ok.get(deletion).copied().unwrap_or(true),
            );
        }
        ex.handle(event);
    }
    prop_assert!(ex.is_done());
    let out = ex.outcome();
    prop_assert_eq!(out.deleted, deleted);
    // Completeness: whatever rests only on confirmed segments was at least started, and
    // went unless one of its own steps failed.
    for (i, d) in case.plan.deletions.iter().enumerate() {
        let could = d.covered_by.iter().all(|c| truth.contains(c));
        if could {
            prop_assert!(steps_ok.contains_key(&i), "{} was never started", d.file);
        }
    }
    let archived = case
        .plan
        .uploads
        .iter()
        .filter(|u| truth.contains(&u.file))
        .count();
    prop_assert_eq!(out.archived, archived);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn nothing_is_deleted_unless_all_it_rests_on_is_confirmed(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let case = case(&mut rng);
        drive(&case, &mut rng)?;
    }
}
