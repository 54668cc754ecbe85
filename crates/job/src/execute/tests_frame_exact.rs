//! The executor core's rules for frame-exact blobs: a cut upload waits for the segment that
//! holds its head, and a blob that continues a file starts with that file's last frames.

use std::time::{Duration, Instant};

use selection::{ArchiveState, DeleteReason, Plan};

use super::core::Executor;
use super::testkit::{archived, counted, deletion, kinds, plan, settings, A0, B0};
use super::{Counted, Event, Exact, FrameExact, Operation, Setup, Step};
use store::{BlobInfo, SegmentRow};

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

/// The upload `ops` asks for, where it is its only operation, and how its blob is built.
fn sole_upload(ops: &[Operation]) -> Option<(usize, Option<&Exact>)> {
    match ops {
        [Operation::Upload { upload, exact, .. }] => Some((*upload, exact.as_ref())),
        _ => None,
    }
}

/// Every operation `ex` asks for now.
fn polled(ex: &mut Executor<'_>, now: Instant) -> Vec<Operation> {
    std::iter::from_fn(|| ex.poll_operation(now)).collect()
}

fn exact(size: u64) -> FrameExact {
    FrameExact {
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
    assert_eq!(sole_upload(&ops), Some((0, None)), "{ops:?}");
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
    assert_eq!(
        sole_upload(&ops),
        Some((1, Some(&Exact::Cut(120)))),
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
    assert_eq!(sole_upload(&ops), Some((0, None)), "{ops:?}");
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
    assert_eq!(
        sole_upload(&ops),
        Some((0, Some(&Exact::Cut(120)))),
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
        exact: Some(Exact::Lead(asked)),
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
            exact: Some(FrameExact {
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
