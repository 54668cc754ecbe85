//! The executor core's rules, one literal case each (no service, no files).

use std::time::{Duration, Instant};

use selection::{ArchiveState, DeleteReason, Plan};

use super::core::Executor;
use super::testkit::{archived, counted, deletion, kinds, plan, settings, A0, A1, B0, B1};
use super::{Counted, Event, Operation, Setup, Step};
use store::{BlobInfo, PutMode, SegmentRow};

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
