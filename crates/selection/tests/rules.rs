//! One test per rule of the plan, each with the smallest literal input that shows it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use selection::{
    alignment_candidates, plan, plan_compared, plan_with, Alignment, ArchiveState, ArchivedSegment,
    Audio, AudioFacts, Comparison, DeleteReason, GoneSegment, HoldReason, Now, Plan, SeenFile,
    Settings, Verdict,
};

const T: &str = "2026-11-26T10:00:00Z";

fn t(offset_s: i64) -> DateTime<Utc> {
    T.parse::<DateTime<Utc>>().unwrap() + TimeDelta::seconds(offset_s)
}

fn name(pod: &str, offset_s: i64) -> String {
    format!("{pod}_{}.mp3", t(offset_s).format("%Y%m%dT%H%M%S"))
}

/// A 10-s segment at 44.1 kHz: 383 frames.
fn full() -> Audio {
    Audio::Measured(AudioFacts {
        frames: 383,
        sample_rate: 44_100,
        samples_per_frame: 1152,
        clean_end: true,
        header_frames: Some(383),
    })
}

fn killed(frames: u64) -> Audio {
    Audio::Measured(AudioFacts {
        frames,
        sample_rate: 44_100,
        samples_per_frame: 1152,
        clean_end: false,
        header_frames: Some(0),
    })
}

fn file(pod: &str, at: i64, audio: Audio, modified: i64) -> SeenFile {
    let size = match &audio {
        Audio::Measured(a) => a.frames * 417,
        _ => 1000,
    };
    SeenFile {
        name: name(pod, at),
        size,
        modified: t(modified),
        audio,
    }
}

fn settings() -> Settings {
    Settings::new(10, "hope").unwrap()
}

fn run(files: &[SeenFile], state: &ArchiveState, now: i64) -> Plan {
    plan(files, state, &settings(), t(now))
}

fn uploads(p: &Plan) -> Vec<&str> {
    p.uploads.iter().map(|u| u.file.as_str()).collect()
}

/// A full segment of `pod` named at `at`, archived by an earlier run (its row, no blob name).
fn archived(pod: &str, at: i64) -> ArchivedSegment {
    ArchivedSegment {
        file_name: name(pod, at),
        blob_name: None,
        size: Some(383 * 417),
        duration: Some(Duration::from_millis(10_004)),
        truncated: false,
        audio_start: None,
        name_start: None,
    }
}

fn held<'a>(p: &'a Plan, file: &str) -> Option<&'a HoldReason> {
    p.holds.iter().find(|h| h.file == file).map(|h| &h.why)
}

#[test]
fn the_newest_file_of_a_live_pod_is_never_touched() {
    let files = [file("a", 0, full(), 10), file("a", 10, killed(200), 15)];
    let p = run(&files, &ArchiveState::default(), 16);
    assert_eq!(uploads(&p), [name("a", 0)]);
    assert_eq!(held(&p, &name("a", 10)), Some(&HoldReason::StillRecording));
    assert!(p.deletions.is_empty());
}

#[test]
fn a_file_idle_past_the_grace_period_is_finished() {
    let files = [file("a", 0, killed(200), 5)];
    let p = run(&files, &ArchiveState::default(), 5 + 121);
    assert_eq!(uploads(&p), [name("a", 0)]);
    assert!(p.uploads[0].truncated);
}

#[test]
fn a_killed_segment_that_is_the_only_copy_is_archived() {
    // Pod a was killed 4 s into its second file; pod b only started later.
    let files = [
        file("a", 0, full(), 10),
        file("a", 10, killed(150), 14),
        file("b", 20, full(), 30),
        file("b", 30, full(), 40),
    ];
    let p = run(&files, &ArchiveState::default(), 200);
    assert_eq!(
        uploads(&p),
        [name("a", 0), name("a", 10), name("b", 20), name("b", 30)]
    );
    assert_eq!(p.gaps.len(), 1, "{:?}", p.gaps);
    let gap = &p.gaps[0];
    assert!(gap.start >= t(13) && gap.end <= t(21), "{gap}");
}

#[test]
fn a_duplicate_is_deleted_only_on_the_strength_of_archived_audio() {
    // b's file lies inside a's two files.
    let files = [
        file("a", 0, full(), 10),
        file("a", 10, full(), 20),
        file("a", 20, full(), 30),
        file("b", 5, full(), 15),
        file("b", 15, full(), 25),
    ];
    // Content alignment found b's audio 5 s after a's: the two chains are one group.
    let aligned = [Alignment {
        a: name("a", 0),
        b: name("b", 5),
        offset_ms: 5_000,
    }];
    // An alignment places the recordings; whether a's files hold b's audio where they would
    // stand in for it is asked first (issue 31).
    let first = plan_with(
        &files,
        &ArchiveState::default(),
        &aligned,
        &settings(),
        t(200),
    );
    assert!(first.deletions.iter().all(|d| d.file != name("b", 5)));
    assert!(matches!(
        held(&first, &name("b", 5)),
        Some(HoldReason::Comparing(_))
    ));
    let asked: Vec<(&str, i64, i64, i64)> = first
        .compare
        .iter()
        .filter(|c| c.file == name("b", 5))
        .map(|c| (c.with.as_str(), c.offset_ms, c.from_ms, c.to_ms))
        .collect();
    assert_eq!(
        asked,
        [
            (name("a", 0).as_str(), -5_000, 0, 5_004),
            (name("a", 10).as_str(), 5_004, 5_004, 10_004),
        ]
    );
    let verdict = |v| -> Vec<Comparison> {
        first
            .compare
            .iter()
            .map(|c| Comparison {
                file: c.file.clone(),
                with: c.with.clone(),
                verdict: v,
            })
            .collect()
    };
    // Other audio where a's files would stand in: b's file is archived too, nothing deleted.
    for v in [Verdict::Different, Verdict::Unknown] {
        let p = plan_compared(
            &files,
            &ArchiveState::default(),
            &aligned,
            &verdict(v),
            &settings(),
            t(200),
        );
        assert!(uploads(&p).contains(&name("b", 5).as_str()), "{v:?}");
        assert!(p.deletions.iter().all(|d| d.why != DeleteReason::Duplicate));
    }
    let p = plan_compared(
        &files,
        &ArchiveState::default(),
        &aligned,
        &verdict(Verdict::Same),
        &settings(),
        t(200),
    );
    let dup = p
        .deletions
        .iter()
        .find(|d| d.file == name("b", 5))
        .expect("b's first file is a duplicate");
    assert_eq!(dup.why, DeleteReason::Duplicate);
    assert_eq!(dup.covered_by, [name("a", 0), name("a", 10)]);
    assert!(dup
        .covered_by
        .iter()
        .all(|c| uploads(&p).contains(&c.as_str())));
    assert!(dup.remember.is_some(), "a deleted duplicate is remembered");
}

/// Issue 31: names say when two recordings were made, not that they hold the same audio. Two
/// replicas that content alignment did not relate (another stream after a rolling update, a
/// relay's fallback loop, a stale mount) are both archived: nothing is deleted by names.
#[test]
fn files_that_content_alignment_did_not_relate_are_all_archived() {
    let files = [
        file("a", 0, full(), 10),
        file("a", 10, full(), 20),
        file("a", 20, full(), 30),
        file("b", 5, full(), 15),
        file("b", 15, full(), 25),
    ];
    let p = run(&files, &ArchiveState::default(), 200);
    assert!(
        p.deletions.iter().all(|d| d.why != DeleteReason::Duplicate),
        "{:?}",
        p.deletions
    );
    assert_eq!(uploads(&p).len(), 5, "{:?}", uploads(&p));
}

#[test]
fn a_file_waits_for_a_live_file_that_will_cover_it() {
    // a's second file is being written; b's finished file (placed by b's next name) lies
    // inside what a's files will hold.
    let files = [
        file("a", 0, full(), 10),
        file("a", 10, killed(100), 199),
        file("b", 5, full(), 15),
        file("b", 15, killed(100), 199),
    ];
    let aligned = [Alignment {
        a: name("a", 0),
        b: name("b", 5),
        offset_ms: 5_000,
    }];
    let p = plan_with(
        &files,
        &ArchiveState::default(),
        &aligned,
        &settings(),
        t(200),
    );
    assert_eq!(uploads(&p), [name("a", 0)]);
    assert!(
        matches!(held(&p, &name("b", 5)), Some(HoldReason::WaitingFor(w)) if w.contains(&name("a", 10)))
    );
}

#[test]
fn empty_files_go_only_once_idle() {
    let empty = |at, modified| SeenFile {
        name: name("a", at),
        size: 0,
        modified: t(modified),
        audio: Audio::NotMeasured,
    };
    let files = [
        empty(0, 0),
        file("a", 10, full(), 20),
        file("a", 20, full(), 30),
    ];
    let early = run(&files, &ArchiveState::default(), 60);
    assert_eq!(
        held(&early, &name("a", 0)),
        Some(&HoldReason::StillRecording)
    );
    let late = run(&files, &ArchiveState::default(), 200);
    let d = late
        .deletions
        .iter()
        .find(|d| d.file == name("a", 0))
        .unwrap();
    assert_eq!(d.why, DeleteReason::NoAudio);
}

#[test]
fn odd_files_are_left_alone_with_a_reason() {
    let files = [
        SeenFile {
            name: "notes.mp3".into(),
            ..file("a", 0, full(), 10)
        },
        SeenFile {
            name: name("a", 3600),
            ..file("a", 0, full(), 10)
        },
        file("b", 0, Audio::Unreadable("permission denied".into()), 10),
        SeenFile {
            size: 5000,
            ..file(
                "c",
                0,
                Audio::Measured(AudioFacts {
                    frames: 0,
                    sample_rate: 0,
                    samples_per_frame: 0,
                    clean_end: false,
                    header_frames: None,
                }),
                10,
            )
        },
    ];
    let p = run(&files, &ArchiveState::default(), 200);
    assert!(p.uploads.is_empty() && p.deletions.is_empty(), "{p:#?}");
    assert!(matches!(
        held(&p, "notes.mp3"),
        Some(HoldReason::UnknownName(_))
    ));
    assert_eq!(held(&p, &name("a", 3600)), Some(&HoldReason::FutureName));
    assert!(matches!(
        held(&p, &name("b", 0)),
        Some(HoldReason::Unreadable(_))
    ));
    assert_eq!(held(&p, &name("c", 0)), Some(&HoldReason::NoFrames));
}

#[test]
fn an_archived_file_is_deleted_and_a_grown_one_replaced() {
    let archived = |at, size| ArchivedSegment {
        file_name: name("a", at),
        blob_name: None,
        size: Some(size),
        duration: Some(Duration::from_millis(10_004)),
        truncated: false,
        audio_start: None,
        name_start: None,
    };
    let state = ArchiveState {
        segments: vec![archived(0, 383 * 417), archived(10, 100 * 417)],
        gone: vec![],
        alignments: vec![],
        sightings: vec![],
    };
    let files = [file("a", 0, full(), 10), file("a", 10, full(), 20)];
    let p = run(&files, &state, 200);
    let d = p.deletions.iter().find(|d| d.file == name("a", 0)).unwrap();
    assert_eq!(
        (d.why.clone(), d.covered_by.clone()),
        (DeleteReason::Archived, vec![name("a", 0)])
    );
    assert_eq!(uploads(&p), [name("a", 10)]);
    assert!(p.uploads[0].replaces_archived);
}

#[test]
fn resumes_after_days_with_the_original_jobs_rows() {
    // The Node job's row names only the file; days later, new files arrive.
    let state = ArchiveState {
        segments: vec![ArchivedSegment {
            file_name: name("a", -3 * 86_400),
            blob_name: None,
            size: None,
            duration: None,
            truncated: false,
            audio_start: None,
            name_start: None,
        }],
        gone: vec![],
        alignments: vec![],
        sightings: vec![],
    };
    let files = [
        file("a", 0, full(), 10),
        file("b", 4, full(), 14),
        file("b", 14, full(), 24),
    ];
    let p = run(&files, &state, 200);
    assert_eq!(
        p.uploads.first().map(|u| u.blob_name.as_str()),
        Some("26-11-2026/a_20261126T100000.mp3")
    );
    assert!(
        p.gaps.iter().any(|g| g.end <= t(1) && g.start < t(-86_400)),
        "the days-long gap is reported: {:?}",
        p.gaps
    );
}

#[test]
fn the_local_variant_without_pod_names_is_one_recorder() {
    let files: Vec<SeenFile> = (0..3)
        .map(|i| SeenFile {
            name: format!("{}.mp3", t(i * 10).format("%Y%m%dT%H%M%S")),
            ..file("a", i * 10, full(), i * 10 + 10)
        })
        .collect();
    let p = run(&files, &ArchiveState::default(), 200);
    assert_eq!(p.uploads.len(), 3);
    assert_eq!(p.uploads[0].blob_name, "26-11-2026/20261126T100000.mp3");
}

#[test]
fn a_remembered_killed_file_keeps_the_next_recording_apart() {
    // Pod a was killed in its second file (empty, deleted, remembered); the container
    // restarted at 12 s with a burst: its first file holds audio from before 12 s.
    let state = ArchiveState {
        segments: vec![],
        gone: vec![GoneSegment {
            file_name: name("a", 10),
            duration: Duration::ZERO,
            truncated: true,
            audio_start: None,
            name_start: None,
        }],
        alignments: vec![],
        sightings: vec![],
    };
    let files = [
        file("a", 0, full(), 10),
        file("a", 12, full(), 14),
        file("a", 14, full(), 24),
    ];
    let p = run(&files, &state, 200);
    let restarted = p.uploads.iter().find(|u| u.file == name("a", 12)).unwrap();
    let error = (restarted.audio_start - t(4)).num_milliseconds().abs();
    assert!(
        error <= 10,
        "placed by the next file's name, 8 s before its own: {}",
        restarted.audio_start
    );
}

#[test]
fn a_placeholder_inside_a_file_name_stays_text() {
    let s = Settings::new(10, "hope")
        .unwrap()
        .with_name_format("%Y%m%dT%H%M%S%Z")
        .unwrap()
        .with_blob_template("{stream}/{pod}/{file}")
        .unwrap();
    let file = "rec-br_20261126T100000{stream}UTC.mp3";
    if let Ok(n) = selection::parse_name(file, &s, None) {
        let blob = selection::blob_name(&s, &n, file).unwrap();
        assert_eq!(blob, format!("hope/rec-br/{file}"));
    }
    let n = selection::parse_name("a_20261126T100000UTC.mp3", &s, None).unwrap();
    assert_eq!(
        selection::blob_name(&s, &n, "x{pod}.mp3").unwrap(),
        "hope/a/x{pod}.mp3"
    );
}

#[test]
fn archived_files_still_in_the_folder_are_aligned_but_files_gone_from_it_are_not() {
    // A run uploaded pod a's files and was interrupted before deleting them: the repair must
    // align pod b against them as the interrupted run did, or it places b by names alone.
    let state = ArchiveState {
        segments: vec![archived("a", 0), archived("a", 10), archived("c", 1)],
        gone: vec![],
        alignments: vec![],
        sightings: vec![],
    };
    let files = [
        file("a", 0, full(), 10),
        file("a", 10, full(), 20),
        file("b", 3, full(), 13),
        file("b", 13, full(), 23),
    ];
    let pairs = alignment_candidates(&files, &state, &settings(), t(200));
    let named: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|c| !c.alternate)
        .map(|c| (c.a.as_str(), c.b.as_str()))
        .collect();
    assert_eq!(named.len(), 1, "one pair per pair of recordings: {named:?}");
    // Then the other overlapping pairs of the same recordings (b's first file with a's
    // second, both second files), to try where the pairs before are in doubt.
    assert_eq!(pairs.len(), 3, "{pairs:?}");
    assert!(
        !pairs[0].alternate && pairs[1].alternate && pairs[2].alternate,
        "{pairs:?}"
    );
    let mut all: Vec<(&str, &str)> = pairs.iter().map(|c| (c.a.as_str(), c.b.as_str())).collect();
    all.dedup();
    assert_eq!(all.len(), 3, "{all:?}");
    let (x, y) = named[0];
    let pods = [&x[..1], &y[..1]];
    assert!(pods.contains(&"a") && pods.contains(&"b"), "{named:?}");
}

#[test]
fn records_are_corrected_only_by_an_alignment() {
    // Rows whose recorded starts are 5 s from where their names allow (a row of another
    // scheme, or read without the neighbours that placed it): the plan places them by names,
    // but only an alignment may rewrite what a row records.
    let archived = |pod, at| ArchivedSegment {
        audio_start: Some(t(at) + TimeDelta::seconds(5)),
        ..archived(pod, at)
    };
    let state = ArchiveState {
        segments: vec![archived("a", 0), archived("a", 10), archived("b", 3)],
        gone: vec![],
        alignments: vec![],
        sightings: vec![],
    };
    assert_eq!(run(&[], &state, 200).restamps, []);
}

/// The clocks of a run whose node is `skew_s` ahead of the share (negative: behind), at share
/// time `now`; `share` says whether the share's clock was read.
fn skewed(now: i64, skew_s: i64, share: bool) -> Now {
    Now {
        node: t(now + skew_s),
        share: share.then(|| t(now)),
    }
}

#[test]
fn a_node_clock_an_hour_ahead_does_not_finish_a_file_being_written() {
    // pod a's second file was written 5 s ago by the share's clock, an hour and 5 s ago by the
    // node's; its empty first file (a writer killed early) was created 15 s ago.
    let files = [file("a", 0, killed(0), 1), file("a", 10, killed(200), 15)];
    for share in [true, false] {
        let p = plan(
            &files,
            &ArchiveState::default(),
            &settings(),
            skewed(20, 3600, share),
        );
        assert!(p.uploads.is_empty(), "share clock read: {share}");
        assert_eq!(held(&p, &name("a", 10)), Some(&HoldReason::StillRecording));
        // A newer file exists, but it appeared within the share's attribute cache window: the
        // empty first file may already have bytes that the view does not show yet.
        assert_eq!(held(&p, &name("a", 0)), Some(&HoldReason::StaleView));
        assert!(p.deletions.is_empty());
    }
}

#[test]
fn a_file_unchanged_since_a_sighting_is_finished_whatever_the_clocks_say() {
    // The pod stopped at 15 s. The node's clock is an hour behind the share's, so by the
    // node's clock the file was written in the future.
    let files = [file("a", 0, full(), 10), file("a", 10, killed(200), 15)];
    let first = plan(
        &files,
        &ArchiveState::default(),
        &settings(),
        skewed(300, -3600, true),
    );
    // Not in the future for the share: pod a's first file is archived at once.
    assert_eq!(uploads(&first), [name("a", 0)]);
    assert_eq!(
        held(&first, &name("a", 10)),
        Some(&HoldReason::StillRecording)
    );
    assert_eq!(first.sightings.len(), 1);
    let state = ArchiveState {
        sightings: first.sightings.clone(),
        ..ArchiveState::default()
    };
    // Seen unchanged 60 s later by the node's clock (grace 120 s): still waiting.
    let soon = plan(&files, &state, &settings(), skewed(360, -3600, true));
    assert_eq!(
        held(&soon, &name("a", 10)),
        Some(&HoldReason::StillRecording)
    );
    assert_eq!(
        soon.sightings, first.sightings,
        "the first sighting is kept"
    );
    // 300 s later: finished.
    let later = plan(&files, &state, &settings(), skewed(600, -3600, true));
    assert!(uploads(&later).contains(&name("a", 10).as_str()));
    // A file that changed since starts the count again.
    let mut grown = files.clone();
    grown[1].size += 417;
    let p = plan(&grown, &state, &settings(), skewed(600, -3600, true));
    assert_eq!(held(&p, &name("a", 10)), Some(&HoldReason::StillRecording));
    assert_eq!(p.sightings[0].since, t(600 - 3600));
}

#[test]
fn without_the_share_clock_the_newest_write_stands_in_for_it() {
    // pod b still writes (modified at 298 s); pod a stopped at 15 s. The node's clock is an hour
    // ahead. The share's clock is not read: pod b's write shows it is at least 298 s.
    let files = [
        file("a", 0, full(), 10),
        file("a", 10, killed(200), 15),
        file("b", 290, killed(100), 298),
    ];
    let p = plan(
        &files,
        &ArchiveState::default(),
        &settings(),
        skewed(300, 3600, false),
    );
    assert!(uploads(&p).contains(&name("a", 10).as_str()), "{p:?}");
    assert_eq!(held(&p, &name("b", 290)), Some(&HoldReason::StillRecording));
}

#[test]
fn names_are_in_the_future_only_for_both_clocks() {
    let files = [file("a", 0, full(), 10), file("a", 10, full(), 20)];
    // An hour behind: not in the future for the share.
    let p = plan(
        &files,
        &ArchiveState::default(),
        &settings(),
        skewed(30, -3600, true),
    );
    assert_eq!(uploads(&p), [name("a", 0)]);
    // A name ten minutes ahead of both clocks is.
    let ahead = [file("a", 600, full(), 20)];
    let p = plan(
        &ahead,
        &ArchiveState::default(),
        &settings(),
        skewed(30, 0, true),
    );
    assert_eq!(held(&p, &name("a", 600)), Some(&HoldReason::FutureName));
}

/// Europe/Madrid, 2026-10-25: 02:00-03:00 local happens at 00:00 UTC (CEST) and again at
/// 01:00 UTC (CET).
fn madrid() -> Settings {
    let mut s = settings();
    s.time_zone = "Europe/Madrid".parse().unwrap();
    s
}

fn utc(at: &str) -> DateTime<Utc> {
    at.parse().unwrap()
}

fn archived_at(file: &str, name_start: &str) -> ArchivedSegment {
    ArchivedSegment {
        file_name: file.into(),
        blob_name: Some(format!("25-10-2026/{file}")),
        size: Some(383 * 417),
        duration: Some(Duration::from_millis(10_004)),
        truncated: false,
        audio_start: Some(utc(name_start)),
        name_start: Some(utc(name_start)),
    }
}

fn seen(name: &str, modified: &str) -> SeenFile {
    SeenFile {
        name: name.into(),
        size: 383 * 417,
        modified: utc(modified),
        audio: full(),
    }
}

#[test]
fn an_archived_row_in_the_repeated_hour_means_the_instant_it_was_archived_at() {
    // pod-a's 02:30:00 was archived as the second 02:30 (01:30 UTC); its next file, still in
    // the folder, joins it. Read without its recorded start, the row would sit an hour early
    // and leave a gap before the next file.
    let state = ArchiveState {
        segments: vec![archived_at("a_20261025T023000.mp3", "2026-10-25T01:30:00Z")],
        ..ArchiveState::default()
    };
    let files = [
        seen("a_20261025T023010.mp3", "2026-10-25T01:30:20Z"),
        seen("a_20261025T023020.mp3", "2026-10-25T01:30:30Z"),
    ];
    let p = plan(&files, &state, &madrid(), utc("2026-10-25T01:35:00Z"));
    assert!(p.gaps.is_empty(), "{:#?}", p.gaps);
    assert_eq!(p.uploads.len(), 2, "{p:#?}");
}

#[test]
fn a_name_repeated_after_the_clocks_went_back_is_not_the_archived_segment() {
    // The first 02:30:00 (00:30 UTC) is archived; an hour later the recorder writes a file of
    // the same name. Same name and size, other audio: it is neither deleted as archived nor
    // archived over the first.
    let state = ArchiveState {
        segments: vec![archived_at("a_20261025T023000.mp3", "2026-10-25T00:30:00Z")],
        ..ArchiveState::default()
    };
    let files = [
        seen("a_20261025T023000.mp3", "2026-10-25T01:30:10Z"),
        seen("a_20261025T023010.mp3", "2026-10-25T01:30:20Z"),
    ];
    let p = plan(&files, &state, &madrid(), utc("2026-10-25T01:35:00Z"));
    assert_eq!(
        held(&p, "a_20261025T023000.mp3"),
        Some(&HoldReason::NameReused(utc("2026-10-25T00:30:00Z")))
    );
    assert!(p.deletions.is_empty(), "{:#?}", p.deletions);
    assert!(p.uploads.iter().all(|u| u.file != "a_20261025T023000.mp3"));
    // The first 02:30:00 itself, still in the folder, is deleted as archived as usual.
    let files = [seen("a_20261025T023000.mp3", "2026-10-25T00:30:10Z")];
    let p = plan(&files, &state, &madrid(), utc("2026-10-25T00:35:00Z"));
    assert_eq!(p.deletions.len(), 1, "{p:#?}");
    assert_eq!(p.deletions[0].why, DeleteReason::Archived);
}

#[test]
fn a_name_in_the_hour_skipped_in_spring_is_held_with_the_reason() {
    // 2026-03-29 02:00-03:00 does not exist in Madrid: no recorder writes such a name, so
    // it is left alone and the reason says why.
    let files = [seen("a_20260329T023000.mp3", "2026-03-29T01:30:10Z")];
    let p = plan(
        &files,
        &ArchiveState::default(),
        &madrid(),
        utc("2026-03-29T02:00:00Z"),
    );
    assert!(p.uploads.is_empty() && p.deletions.is_empty(), "{p:#?}");
    let why = held(&p, "a_20260329T023000.mp3").unwrap().to_string();
    assert!(
        why.contains("does not exist in Europe/Madrid (skipped by a clock change)"),
        "{why}"
    );
}

#[test]
fn an_upload_names_the_file_it_continues_where_that_file_is_archived() {
    // Pod a's 10-s files, one process: the first archived by an earlier run and gone from the
    // folder, the next two finished, the last still being written. Then a killed file, and the
    // restarted writer's first file, which continues nothing.
    let state = ArchiveState {
        segments: vec![archived("a", 0)],
        ..ArchiveState::default()
    };
    let files = [
        file("a", 10, full(), 20),
        file("a", 20, full(), 30),
        file("a", 30, killed(100), 33),
        file("a", 34, full(), 44),
        file("a", 44, killed(10), 45),
    ];
    // At 46 s the killed file's successor appeared 2 s ago: the share may still show the
    // killed file as it was before its last write, so it waits (issue 30).
    let early = run(&files, &state, 46);
    assert_eq!(held(&early, &name("a", 30)), Some(&HoldReason::StaleView));
    assert_eq!(
        uploads(&early),
        [name("a", 10), name("a", 20), name("a", 34)]
    );
    let p = run(&files, &state, 76);
    assert_eq!(
        uploads(&p),
        [name("a", 10), name("a", 20), name("a", 30), name("a", 34)]
    );
    let follows: Vec<(&str, &str)> = p
        .follows
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        follows,
        [
            (name("a", 10).as_str(), name("a", 0).as_str()),
            (name("a", 20).as_str(), name("a", 10).as_str()),
            (name("a", 30).as_str(), name("a", 20).as_str()),
        ]
    );
}

/// Issue 30: through Azure Files' attribute cache a killed writer's file may be shown as it
/// was before its last write, next to the restarted writer's new file. The new file finishes
/// the old one only once it is older than the cache window by the share's clock.
#[test]
fn a_newer_file_finishes_a_truncated_one_only_once_the_view_has_settled() {
    let files = [file("a", 0, killed(200), 8), file("a", 10, killed(50), 12)];
    let p = run(&files, &ArchiveState::default(), 20);
    assert_eq!(held(&p, &name("a", 0)), Some(&HoldReason::StaleView));
    assert!(p.uploads.is_empty() && p.deletions.is_empty());
    // 30 s after the newer file was last written (so created), the view of the older one is
    // from after that creation: final.
    let p = run(&files, &ArchiveState::default(), 42);
    assert_eq!(uploads(&p), [name("a", 0)]);
    // On a local disk (no cache) the newer file finishes it at once, as before.
    let mut local = settings();
    local.share_cache = Duration::ZERO;
    let p = plan(&files, &ArchiveState::default(), &local, t(20));
    assert_eq!(uploads(&p), [name("a", 0)]);
}

/// A file whose own header shows that ffmpeg closed it (the frame count written at close,
/// equal to the frames counted) is finished by a newer file at once: no view from before
/// the close shows that header.
#[test]
fn a_file_closed_by_its_header_is_finished_by_a_newer_file_at_once() {
    let files = [file("a", 0, full(), 10), file("a", 10, killed(20), 11)];
    let p = run(&files, &ArchiveState::default(), 12);
    assert_eq!(uploads(&p), [name("a", 0)]);
}

/// The idle rule waits out the cache window plus ffmpeg's write interval at the stream's
/// byte rate (256 KiB a block): a slow stream's file may sit unchanged for longer than
/// FINISH_GRACE_SECONDS between two writes.
#[test]
fn idleness_outlasts_the_cache_and_the_write_interval_of_a_slow_stream() {
    // 16 kb/s: 2 000 bytes a second, 131 s between two 256-KiB writes.
    let slow = |pod: &str, modified: i64| SeenFile {
        size: 200 * 52,
        ..file(pod, 0, killed(200), modified)
    };
    // 600-s segments: ffmpeg writes a block whenever 256 KiB have gathered.
    let long = Settings::new(600, "hope").unwrap();
    let files = [slow("a", 10)];
    // 131 s between writes, a quarter more as a margin, and the 30-s cache: 194 s.
    let p = plan(&files, &ArchiveState::default(), &long, t(10 + 121));
    assert_eq!(held(&p, &name("a", 0)), Some(&HoldReason::StillRecording));
    let p = plan(&files, &ArchiveState::default(), &long, t(10 + 192));
    assert_eq!(held(&p, &name("a", 0)), Some(&HoldReason::StillRecording));
    let p = plan(&files, &ArchiveState::default(), &long, t(10 + 195));
    assert_eq!(uploads(&p), [name("a", 0)]);
    // 10-s segments hold less than a block: ffmpeg writes each once, when it closes it, so
    // no write comes later than a segment (and the frame it cuts at) after the last.
    let mut short = settings();
    short.finish_grace = Duration::from_secs(35);
    // 12 s, a quarter more, and the cache: 45 s.
    let p = plan(&files, &ArchiveState::default(), &short, t(10 + 44));
    assert_eq!(held(&p, &name("a", 0)), Some(&HoldReason::StillRecording));
    let p = plan(&files, &ArchiveState::default(), &short, t(10 + 45));
    assert_eq!(uploads(&p), [name("a", 0)]);
}
