//! The executor core's rules, one literal case each (no service, no files).

use std::time::{Duration, Instant};

use selection::{ArchiveState, DeleteReason, Deletion, GoneSegment, Plan};

use super::core::Executor;
use super::testkit::{archived, counted, settings, upload, A0, A1, B0, B1};
use super::{Counted, Event, Operation, Setup, Step};
use crate::store::{BlobInfo, PutMode, SegmentRow};

fn deletion(file: &str, covered_by: &[&str], why: DeleteReason) -> Deletion {
    let remember = (why == DeleteReason::Duplicate).then(|| GoneSegment {
        file_name: file.into(),
        duration: Duration::from_millis(10_005),
        truncated: false,
        audio_start: None,
        name_start: None,
    });
    Deletion {
        file: file.into(),
        covered_by: covered_by.iter().map(|c| c.to_string()).collect(),
        why,
        remember,
    }
}

/// Drives one executor by hand: `ops` are what it asked for, in order.
struct Drive<'a> {
    ex: Executor<'a>,
    now: Instant,
}

impl<'a> Drive<'a> {
    fn new(plan: &'a Plan, settings: &'a selection::Settings, state: &'a ArchiveState) -> Self {
        Self::with(plan, settings, state, &[])
    }

    fn with(
        plan: &'a Plan,
        settings: &'a selection::Settings,
        state: &'a ArchiveState,
        verified: &[&str],
    ) -> Self {
        let now = Instant::now();
        let mut setup = Setup::new(settings, state, "hope", now + Duration::from_secs(60));
        setup.verified = verified.iter().map(|v| v.to_string()).collect();
        Drive {
            ex: Executor::new(plan, setup),
            now,
        }
    }

    fn poll(&mut self) -> Vec<Operation> {
        std::iter::from_fn(|| self.ex.poll_operation(self.now)).collect()
    }

    /// Answer an upload as a written blob with the planned frames, then its row.
    fn archive(&mut self, plan: &Plan, i: usize) {
        let u = &plan.uploads[i];
        self.ex.handle(Event::Uploaded {
            upload: i,
            size: u.size,
            md5: [7; 16],
            counted: counted(u.frames),
        });
        let ops = self.poll();
        assert!(
            matches!(&ops[..], [Operation::WriteRow { upload, .. }, ..] if *upload == i),
            "{ops:?}"
        );
        self.ex.handle(Event::RowWritten { upload: i });
    }
}

fn plan(uploads: &[&str], deletions: Vec<Deletion>) -> Plan {
    Plan {
        uploads: uploads.iter().map(|f| upload(f)).collect(),
        deletions,
        ..Plan::default()
    }
}

fn kinds(ops: &[Operation]) -> Vec<Step> {
    ops.iter().map(Operation::step).collect()
}

#[test]
fn blob_then_row_then_delete() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[A0], vec![deletion(A0, &[A0], DeleteReason::Archived)]);
    let mut d = Drive::new(&p, &s, &st);
    let ops = d.poll();
    let Operation::Upload { mode, metadata, .. } = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!((*mode, ops.len()), (PutMode::CreateOnly, 1));
    assert_eq!(metadata["stream"], "hope");
    d.ex.handle(Event::Uploaded {
        upload: 0,
        size: 160_000,
        md5: [7; 16],
        counted: counted(383),
    });
    let ops = d.poll();
    let Operation::WriteRow { row, replace, .. } = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(
        (row.file_name.as_str(), *replace, ops.len()),
        (A0, false, 1)
    );
    assert_eq!(row.content_md5.as_deref(), Some("BwcHBwcHBwcHBwcHBwcHBw=="));
    assert!(d.poll().is_empty(), "nothing is deleted before its row");
    d.ex.handle(Event::RowWritten { upload: 0 });
    assert_eq!(kinds(&d.poll()), [Step::Delete(0)]);
    d.ex.handle(Event::Deleted { deletion: 0 });
    assert!(d.poll().is_empty() && d.ex.is_done());
    let out = d.ex.outcome();
    assert_eq!(
        (out.archived, out.bytes, out.deleted, out.errors),
        (1, 160_000, 1, 0)
    );
    assert_eq!(out.deleted_audio, [A0]);
}

#[test]
fn a_duplicate_is_remembered_before_it_goes_and_kept_when_that_fails() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(
        &[],
        vec![
            deletion(B0, &[A0], DeleteReason::Duplicate),
            deletion(B1, &[A0], DeleteReason::Duplicate),
        ],
    );
    let mut d = Drive::with(&p, &s, &st, &[A0]);
    let ops = d.poll();
    let Operation::WriteGone { deletion: 0, row } = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(
        (row.file_name.as_str(), ops.len()),
        (B0, 1),
        "one deletion at a time"
    );
    d.ex.handle(Event::GoneWritten { deletion: 0 });
    assert_eq!(kinds(&d.poll()), [Step::Delete(0)]);
    d.ex.handle(Event::Deleted { deletion: 0 });
    assert_eq!(kinds(&d.poll()), [Step::Gone(1)]);
    d.ex.handle(Event::Failed {
        step: Step::Gone(1),
        error: "insert row failed".into(),
    });
    assert!(d.poll().is_empty() && d.ex.is_done(), "B1 is kept");
    assert_eq!((d.ex.outcome().deleted, d.ex.outcome().errors), (1, 1));
}

#[test]
fn what_rests_on_verified_rows_goes_while_uploads_run() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(
        &[A1, B1],
        vec![deletion(B0, &[A0], DeleteReason::Duplicate)],
    );
    let mut d = Drive::with(&p, &s, &st, &[A0]);
    assert_eq!(
        kinds(&d.poll()),
        [Step::Gone(0), Step::Upload(0), Step::Upload(1)]
    );
}

#[test]
fn at_most_the_concurrency_in_uploads_and_rows() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[A0, A1, B0, B1], vec![]);
    let mut d = Drive::new(&p, &s, &st);
    assert_eq!(kinds(&d.poll()), [Step::Upload(0), Step::Upload(1)]);
    d.ex.handle(Event::Uploaded {
        upload: 1,
        size: 160_000,
        md5: [1; 16],
        counted: counted(383),
    });
    // Its row keeps its slot.
    assert_eq!(kinds(&d.poll()), [Step::Row(1)]);
    d.ex.handle(Event::RowWritten { upload: 1 });
    assert_eq!(kinds(&d.poll()), [Step::Upload(2)]);
}

#[test]
fn a_failure_blocks_what_rests_on_it_and_nothing_else() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(
        &[A0, A1],
        vec![
            deletion(A0, &[A0], DeleteReason::Archived),
            deletion(B0, &[A0, A1], DeleteReason::Duplicate),
            deletion(A1, &[A1], DeleteReason::Archived),
        ],
    );
    let mut d = Drive::new(&p, &s, &st);
    d.poll();
    // A0's blob is written but its row fails: the blob proves nothing, it is not looked up.
    d.ex.handle(Event::Uploaded {
        upload: 0,
        size: 160_000,
        md5: [1; 16],
        counted: counted(383),
    });
    d.poll();
    d.ex.handle(Event::Failed {
        step: Step::Row(0),
        error: "insert row failed: 503".into(),
    });
    assert!(d.poll().is_empty());
    d.archive(&p, 1);
    assert_eq!(kinds(&d.poll()), [Step::Delete(2)]);
    d.ex.handle(Event::Deleted { deletion: 2 });
    assert!(d.poll().is_empty() && d.ex.is_done());
    let out = d.ex.outcome();
    assert_eq!((out.archived, out.deleted, out.errors), (1, 1, 1));
}

#[test]
fn frames_unlike_the_plans_are_recorded_as_counted_and_confirm_nothing() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[A0], vec![deletion(A0, &[A0], DeleteReason::Archived)]);
    let mut d = Drive::new(&p, &s, &st);
    d.poll();
    d.ex.handle(Event::Uploaded {
        upload: 0,
        size: 160_000,
        md5: [1; 16],
        counted: Counted {
            truncated: true,
            ..counted(300)
        },
    });
    let ops = d.poll();
    let Operation::WriteRow { row, .. } = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!((row.frames, row.truncated), (Some(300), Some(true)));
    d.ex.handle(Event::RowWritten { upload: 0 });
    assert!(d.poll().is_empty() && d.ex.is_done());
    let out = d.ex.outcome();
    assert_eq!((out.archived, out.deleted, out.errors), (0, 0, 0));
}

#[test]
fn a_blob_left_by_an_earlier_run_is_recorded_when_its_bytes_match() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[A0, A1], vec![deletion(A0, &[A0], DeleteReason::Archived)]);
    let mut d = Drive::new(&p, &s, &st);
    d.poll();
    d.ex.handle(Event::BlobExists {
        upload: 0,
        size: 160_000,
        md5: Some([3; 16]),
        local_md5: [3; 16],
        silences: Vec::new(),
        exact: None,
    });
    let ops = d.poll();
    assert!(matches!(&ops[0], Operation::WriteRow { upload: 0, .. }));
    d.ex.handle(Event::RowWritten { upload: 0 });
    assert_eq!(kinds(&d.poll()), [Step::Delete(0)]);
    // Another blob under A1's name: left alone, an error.
    d.ex.handle(Event::BlobExists {
        upload: 1,
        size: 160_000,
        md5: Some([4; 16]),
        local_md5: [5; 16],
        silences: Vec::new(),
        exact: None,
    });
    assert_eq!(d.ex.outcome().errors, 1);
}

#[test]
fn a_row_already_there_is_ours_only_with_our_file_name() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[A0, A1], vec![]);
    let mut d = Drive::new(&p, &s, &st);
    d.poll();
    for i in 0..2 {
        d.ex.handle(Event::Uploaded {
            upload: i,
            size: 160_000,
            md5: [1; 16],
            counted: counted(383),
        });
    }
    d.poll();
    let row = |f: &str| {
        Box::new(SegmentRow {
            file_name: f.into(),
            ..SegmentRow::default()
        })
    };
    d.ex.handle(Event::RowExists {
        upload: 0,
        row: row(A0),
    });
    d.ex.handle(Event::RowExists {
        upload: 1,
        row: row(B1),
    });
    let out = d.ex.outcome();
    assert_eq!((out.archived, out.errors), (1, 1));
    assert!(out.confirmed.contains(A0) && !out.confirmed.contains(A1));
}

#[test]
fn unverified_rows_are_looked_up_once_the_uploads_are_done() {
    let s = settings();
    let st = ArchiveState {
        segments: vec![
            archived(A0, Some("26-11-2026/x.mp3"), Some(9)),
            archived(A1, None, None),
            archived(B1, Some("26-11-2026/b1.mp3"), Some(9)),
        ],
        ..ArchiveState::default()
    };
    let p = plan(
        &[B0],
        vec![
            deletion("pod-c_20261126T100000.mp3", &[A0], DeleteReason::Duplicate),
            deletion(
                "pod-c_20261126T100010.mp3",
                &[A1, B1],
                DeleteReason::Duplicate,
            ),
        ],
    );
    let mut d = Drive::new(&p, &s, &st);
    assert_eq!(
        kinds(&d.poll()),
        [Step::Upload(0)],
        "no lookup while uploading"
    );
    d.archive(&p, 0);
    let ops = d.poll();
    assert_eq!(
        ops,
        [Operation::LookUp {
            file: A0.into(),
            blob: "26-11-2026/x.mp3".into()
        }]
    );
    let info = |size| BlobInfo {
        size,
        md5: None,
        metadata: Default::default(),
    };
    // A blob of another size than the row's proves nothing.
    d.ex.handle(Event::Found {
        file: A0.into(),
        blob: Some(info(8)),
    });
    // The original job's row names no blob: the default name is looked up.
    let ops = d.poll();
    assert_eq!(
        ops,
        [Operation::LookUp {
            file: A1.into(),
            blob: "26-11-2026/pod-a_20261126T100010.mp3".into()
        }]
    );
    d.ex.handle(Event::Found {
        file: A1.into(),
        blob: Some(info(123)),
    });
    assert_eq!(kinds(&d.poll()), [Step::LookUp(B1.into())]);
    d.ex.handle(Event::Failed {
        step: Step::LookUp(B1.into()),
        error: "blob properties failed".into(),
    });
    assert!(d.poll().is_empty() && d.ex.is_done());
    let out = d.ex.outcome();
    assert_eq!(
        (out.deleted, out.errors),
        (0, 0),
        "a lookup failure only keeps"
    );
    assert!(out.confirmed.contains(A1));
}

#[test]
fn past_the_deadline_no_upload_starts_and_what_rests_on_it_stays() {
    let s = settings();
    let st = ArchiveState {
        segments: vec![archived(A0, Some("26-11-2026/a0.mp3"), Some(160_000))],
        ..ArchiveState::default()
    };
    let p = plan(&[A0], vec![deletion(A0, &[A0], DeleteReason::Archived)]);
    let mut d = Drive::new(&p, &s, &st);
    let late = d.now + Duration::from_secs(61);
    assert_eq!(d.ex.poll_operation(late), None);
    assert!(d.ex.is_done(), "no lookup stands in for the upload");
    assert_eq!(d.ex.outcome().errors, 0);
}

#[test]
fn a_replacement_is_confirmed_by_its_upload_not_by_the_older_copy() {
    let (s, st) = (settings(), ArchiveState::default());
    let mut p = plan(&[A0], vec![deletion(A0, &[A0], DeleteReason::Archived)]);
    p.uploads[0].replaces_archived = true;
    let mut d = Drive::with(&p, &s, &st, &[A0]);
    let ops = d.poll();
    assert!(
        matches!(
            &ops[..],
            [Operation::Upload {
                mode: PutMode::Overwrite,
                ..
            }]
        ),
        "{ops:?}"
    );
    d.ex.handle(Event::Uploaded {
        upload: 0,
        size: 160_000,
        md5: [1; 16],
        counted: counted(383),
    });
    assert!(matches!(
        &d.poll()[..],
        [Operation::WriteRow { replace: true, .. }]
    ));
    d.ex.handle(Event::Failed {
        step: Step::Row(0),
        error: "replace row failed".into(),
    });
    assert!(d.poll().is_empty() && d.ex.is_done());
    assert_eq!(d.ex.outcome().deleted, 0);
}

#[test]
fn a_file_that_changed_is_left_without_an_error() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(
        &[A0],
        vec![
            deletion(A0, &[A0], DeleteReason::Archived),
            deletion(B0, &[], DeleteReason::NoAudio),
        ],
    );
    let mut d = Drive::new(&p, &s, &st);
    assert_eq!(kinds(&d.poll()), [Step::Delete(1), Step::Upload(0)]);
    d.ex.handle(Event::Changed {
        step: Step::Upload(0),
    });
    d.ex.handle(Event::Changed {
        step: Step::Delete(1),
    });
    assert!(d.poll().is_empty() && d.ex.is_done());
    let out = d.ex.outcome();
    assert_eq!((out.archived, out.deleted, out.errors), (0, 0, 0));
}

/// An executor with B0's blob cut at frame 120, after `after` (the frames before are its
/// audio).
fn cut_after<'a>(
    plan: &'a Plan,
    settings: &'a selection::Settings,
    state: &'a ArchiveState,
    after: &str,
) -> Executor<'a> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut setup = Setup::new(settings, state, "hope", deadline);
    setup.trims.insert(
        B0.into(),
        crate::days::Trim {
            frame: 120,
            after: after.into(),
        },
    );
    Executor::new(plan, setup)
}

/// Every operation `ex` asks for now.
fn polled(ex: &mut Executor<'_>, now: Instant) -> Vec<Operation> {
    std::iter::from_fn(|| ex.poll_operation(now)).collect()
}

fn exact(size: u64) -> super::FrameExact {
    super::FrameExact {
        first_frame: 116,
        warm_up: 4,
        lead: 0,
        source: (48_000, 160_000),
        source_md5: [9; 16],
        blob_size: size,
        played: (2_100, size),
    }
}

#[test]
fn a_cut_upload_waits_for_the_segment_holding_its_head_and_its_deletion_rests_on_both() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[A0, B0], vec![deletion(B0, &[B0], DeleteReason::Archived)]);
    let mut ex = cut_after(&p, &s, &st, A0);
    let now = Instant::now();
    let ops = polled(&mut ex, now);
    // A0 goes up; B0 waits for it (two uploads at once would be allowed).
    assert!(
        matches!(
            &ops[..],
            [Operation::Upload {
                upload: 0,
                exact: None,
                ..
            }]
        ),
        "{ops:?}"
    );
    ex.handle(Event::Uploaded {
        upload: 0,
        size: 160_000,
        md5: [7; 16],
        counted: counted(383),
    });
    let ops = polled(&mut ex, now);
    assert!(
        matches!(&ops[..], [Operation::WriteRow { upload: 0, .. }]),
        "{ops:?}"
    );
    ex.handle(Event::RowWritten { upload: 0 });
    let ops = polled(&mut ex, now);
    assert!(
        matches!(
            &ops[..],
            [Operation::Upload {
                upload: 1,
                exact: Some(super::Exact::Cut(120)),
                ..
            }]
        ),
        "{ops:?}"
    );
    ex.handle(Event::Uploaded {
        upload: 1,
        size: 114_100,
        md5: [8; 16],
        counted: Counted {
            exact: Some(exact(114_100)),
            ..counted(383)
        },
    });
    let ops = polled(&mut ex, now);
    let [Operation::WriteRow { row, .. }] = &ops[..] else {
        panic!("{ops:?}")
    };
    // The row's size and MD5 are the blob's; its frames and points the recording's.
    assert_eq!(
        (
            row.size,
            row.source_end,
            row.blob_first_frame,
            row.warm_up_frames
        ),
        (Some(114_100), Some(160_000), Some(116), Some(4))
    );
    assert_eq!(
        (row.blob_mode.as_deref(), row.head_held_by.as_deref()),
        (Some("frame-exact"), Some(A0))
    );
    assert_eq!(
        (row.source_start, row.source_end),
        (Some(48_000), Some(160_000))
    );
    assert_eq!((row.in_byte, row.out_byte), (Some(2_100), Some(114_100)));
    ex.handle(Event::RowWritten { upload: 1 });
    let ops = polled(&mut ex, now);
    assert_eq!(kinds(&ops), [Step::Delete(0)]);
}

#[test]
fn a_cut_upload_whose_head_failed_is_left_for_the_next_run_and_its_file_kept() {
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[A0, B0], vec![deletion(B0, &[B0], DeleteReason::Archived)]);
    let mut ex = cut_after(&p, &s, &st, A0);
    let now = Instant::now();
    let _ = polled(&mut ex, now);
    ex.handle(Event::Failed {
        step: Step::Upload(0),
        error: "503".into(),
    });
    let ops = polled(&mut ex, now);
    assert!(
        ops.is_empty(),
        "B0 is not uploaded, and its file not deleted: {ops:?}"
    );
    assert!(ex.is_done());
    // Only A0's failure is an error; B0 waits.
    assert_eq!((ex.outcome().errors, ex.outcome().deleted), (1, 0));
}

#[test]
fn a_cut_upload_after_an_earlier_runs_segment_looks_its_blob_up_first() {
    let s = settings();
    let st = ArchiveState {
        segments: vec![archived(
            A0,
            Some("26-11-2026/pod-a_20261126T100000.mp3"),
            Some(160_000),
        )],
        ..ArchiveState::default()
    };
    let p = plan(&[B0], vec![]);
    let mut ex = cut_after(&p, &s, &st, A0);
    let now = Instant::now();
    let ops = polled(&mut ex, now);
    assert!(
        matches!(&ops[..], [Operation::LookUp { file, .. }] if file == A0),
        "{ops:?}"
    );
    // Its blob is missing: the upload goes up whole.
    ex.handle(Event::Found {
        file: A0.into(),
        blob: None,
    });
    let ops = polled(&mut ex, now);
    assert!(
        matches!(
            &ops[..],
            [Operation::Upload {
                upload: 0,
                exact: None,
                ..
            }]
        ),
        "{ops:?}"
    );
    // Found, it is cut.
    let mut ex = cut_after(&p, &s, &st, A0);
    let _ = polled(&mut ex, now);
    ex.handle(Event::Found {
        file: A0.into(),
        blob: Some(BlobInfo {
            size: 160_000,
            md5: None,
            metadata: Default::default(),
        }),
    });
    let ops = polled(&mut ex, now);
    assert!(
        matches!(
            &ops[..],
            [Operation::Upload {
                upload: 0,
                exact: Some(super::Exact::Cut(120)),
                ..
            }]
        ),
        "{ops:?}"
    );
}

#[test]
fn a_blob_that_continues_a_file_starts_with_its_frames_and_rests_on_itself_alone() {
    // B0 continues A0, an earlier run's: its blob starts with A0's last frames, uploaded at
    // once (they are read, not waited for), and its deletion rests on its own blob alone.
    let (s, st) = (settings(), ArchiveState::default());
    let p = plan(&[B0], vec![deletion(B0, &[B0], DeleteReason::Archived)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut setup = Setup::new(&s, &st, "hope", deadline);
    let lead = crate::days::Lead {
        file: A0.into(),
        blob: format!("hope/{A0}"),
    };
    setup.leads.insert(B0.into(), lead.clone());
    let mut ex = Executor::new(&p, setup);
    let now = Instant::now();
    let ops = polled(&mut ex, now);
    let [Operation::Upload {
        upload: 0,
        exact: Some(super::Exact::Lead(asked)),
        ..
    }] = &ops[..]
    else {
        panic!("{ops:?}")
    };
    assert_eq!(asked, &lead);
    ex.handle(Event::Uploaded {
        upload: 0,
        size: 163_400,
        md5: [8; 16],
        counted: Counted {
            exact: Some(super::FrameExact {
                first_frame: 0,
                warm_up: 8,
                lead: 8,
                source: (1_200, 160_000),
                source_md5: [9; 16],
                blob_size: 163_400,
                played: (4_600, 163_400),
            }),
            ..counted(383)
        },
    });
    let ops = polled(&mut ex, now);
    let [Operation::WriteRow { row, .. }] = &ops[..] else {
        panic!("{ops:?}")
    };
    assert_eq!(
        (row.blob_first_frame, row.warm_up_frames, row.lead_frames),
        (Some(0), Some(8), Some(8))
    );
    assert_eq!(
        (row.lead_from.as_deref(), row.head_held_by.as_deref()),
        (Some(A0), None)
    );
    // Its blob's frame k is the recording's k - 8: all of the recording plays, from blob
    // frame 8.
    assert_eq!(crate::rows::blob_frame_offset(row), -8);
    let whole = SegmentRow {
        in_frame: Some(0),
        out_frame: Some(383),
        ..row.clone()
    };
    assert_eq!(crate::rows::ranged(&whole), Some((8, 391)));
    ex.handle(Event::RowWritten { upload: 0 });
    assert_eq!(kinds(&polled(&mut ex, now)), [Step::Delete(0)]);
}
