use super::*;
use crate::ArchiveMode;

/// Stream `hope`'s names: 10-second files in UTC.
fn settings() -> selection::Settings {
    selection::Settings::new(10, "hope").unwrap()
}

fn row(file: &str, start_ms: i64, duration_ms: i64) -> SegmentRow {
    SegmentRow {
        file_name: file.into(),
        blob_name: Some(format!("26-11-2026/{file}")),
        audio_start_ms: Some(start_ms),
        duration_ms: Some(duration_ms),
        ..SegmentRow::default()
    }
}

#[test]
fn node_rows_in_the_repeated_hour_are_played_in_recording_order() {
    let mut settings = selection::Settings::new(600, "hope").unwrap();
    settings.time_zone = "Europe/Madrid".parse().unwrap();
    // The Node job's rows, keyed by upload time (2 minutes after each file ended): 02:50
    // CEST is 00:50 UTC, the next file 02:00 CET is 01:00 UTC.
    let node = |file: &str, upload: &str| {
        let upload: DateTime<Utc> = upload.parse().unwrap();
        let key = rows::row_key(upload, "x");
        SegmentRow {
            row_key: key[..19].to_string(),
            file_name: file.into(),
            ..SegmentRow::default()
        }
    };
    let rows = [
        node("a_20261025T020000.mp3", "2026-10-25T01:12:00Z"),
        node("a_20261025T025000.mp3", "2026-10-25T01:02:00Z"),
    ];
    let m = build(
        &rows,
        NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(),
        "hope",
        &settings,
    );
    let order: Vec<(&str, String)> = m
        .segments
        .iter()
        .map(|s| (s.file.as_str(), s.start.to_rfc3339()))
        .collect();
    assert_eq!(
        order,
        [
            (
                "a_20261025T025000.mp3",
                "2026-10-25T00:50:00+00:00".to_string()
            ),
            (
                "a_20261025T020000.mp3",
                "2026-10-25T01:00:00+00:00".to_string()
            ),
        ]
    );
    assert!(m.gaps.is_empty(), "{:?}", m.gaps);
}

#[test]
fn segments_in_order_with_the_gaps_between() {
    let t0 = 1_795_687_200_000; // 2026-11-26T10:00:00Z
    let rows = [
        row("b_20261126T100020.mp3", t0 + 20_000, 10_000),
        row("a_20261126T100000.mp3", t0, 10_000),
        row("a_20261126T100010.mp3", t0 + 10_000, 5_000),
        row("a_20261125T235959.mp3", t0 - 36_001_000, 10_000),
    ];
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let m = build(&rows, day, "hope", &settings());
    let files: Vec<&str> = m.segments.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "a_20261126T100000.mp3",
            "a_20261126T100010.mp3",
            "b_20261126T100020.mp3"
        ]
    );
    // From the previous day's last segment (00:00:09) to 10:00, then between a and b.
    let gaps: Vec<(f64, &str, &str)> = m
        .gaps
        .iter()
        .map(|g| (g.seconds, g.after.as_str(), g.before.as_str()))
        .collect();
    assert_eq!(gaps, [(35_991.0, "a", "a"), (5.0, "a", "b")]);
    // Both pods recorded that day, and neither in either gap.
    assert!(m.gaps.iter().all(|g| g.pods_down == ["a", "b"]));
    assert_eq!(m.archived_seconds, 25.0);
    assert_eq!((m.segments[1].in_s, m.segments[2].in_s), (0.0, 0.0));
    let p = playlist::playlist(&m);
    assert!(
        p.starts_with(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:00.000Z\n\
             #EXTINF:10.000,a_20261126T100000.mp3\n../26-11-2026/a_20261126T100000.mp3\n\
             #EXTINF:5.000,a_20261126T100010.mp3\n"
        ),
        "{p}"
    );
    assert!(p.ends_with("#EXT-X-ENDLIST\n"));
    // The gap before b's segment, and a new pod: a discontinuity, and the wall-clock time
    // again, for the segment after it only.
    assert_eq!(p.matches("#EXT-X-DISCONTINUITY").count(), 1, "{p}");
    assert!(
        p.contains(
            "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:20.000Z\n\
             #EXTINF:10.000,b_20261126T100020.mp3\n"
        ),
        "{p}"
    );
    assert_eq!(p.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 2, "{p}");
}

#[test]
fn an_overlap_is_skipped_by_the_in_point() {
    let t0 = 1_795_687_200_000;
    let rows = [
        row("a_20261126T100000.mp3", t0, 10_000),
        row("b_20261126T100007.mp3", t0 + 7_500, 10_000),
    ];
    let m = build(
        &rows,
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        "hope",
        &settings(),
    );
    assert_eq!((m.segments[1].in_s, m.segments[1].out_s), (2.5, 10.0));
    assert_eq!(m.archived_seconds, 17.5);
    assert!(m.gaps.is_empty());
}

#[test]
fn the_first_segment_of_a_day_joins_the_last_of_the_day_before() {
    let midnight = 1_795_651_200_000; // 2026-11-26T00:00:00Z
    let rows = [
        row("a_20261125T235955.mp3", midnight - 5_000, 10_000),
        row("b_20261125T235958.mp3", midnight - 2_000, 10_000),
    ];
    let m = build(
        &rows,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        "hope",
        &settings(),
    );
    assert_eq!(m.segments[1].in_s, 7.0);
    let rows = [
        row("a_20261125T235955.mp3", midnight - 5_000, 10_000),
        row("b_20261126T000002.mp3", midnight + 2_000, 10_000),
    ];
    let m = build(
        &rows,
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        "hope",
        &settings(),
    );
    assert_eq!(m.segments.len(), 1);
    assert_eq!((m.segments[0].in_s, m.archived_seconds), (3.0, 7.0));
    assert!(m.gaps.is_empty());
}

#[test]
fn with_frames_the_in_point_is_the_nearest_frame_boundary() {
    // 383 frames of 576 samples at 22050 Hz (26.12 ms): 2.5 s in is 95.7 frames.
    let t0 = 1_795_687_200_000;
    let mut b = row("b_20261126T100007.mp3", t0 + 7_500, 10_004);
    b.frames = Some(383);
    b.duration_us = Some(10_004_898);
    let rows = [row("a_20261126T100000.mp3", t0, 10_000), b];
    let m = build(
        &rows,
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        "hope",
        &settings(),
    );
    let s = &m.segments[1];
    assert_eq!((s.in_frame, s.out_frame), (Some(96), Some(383)));
    assert!(
        (s.in_s - 96.0 * 576.0 / 22_050.0).abs() < 1e-6,
        "{}",
        s.in_s
    );
    assert_eq!(s.duration_s, 10.004898);
    assert_eq!(m.segments[0].in_frame, None);
}

#[test]
fn an_upload_joins_the_archived_rows_before_it_and_replaces_its_own() {
    let t0 = 1_795_687_200_000;
    let s = selection::Settings::new(10, "hope").unwrap();
    let file = "b_20261126T100007.mp3";
    let name = selection::parse_name(file, &s, None).unwrap();
    let upload = selection::Upload {
        file: file.into(),
        blob_name: format!("26-11-2026/{file}"),
        pod: "b".into(),
        name_time: name.start,
        audio_start: DateTime::from_timestamp_millis(t0 + 7_500).unwrap(),
        duration: std::time::Duration::from_millis(10_000),
        frames: 0,
        size: 1,
        truncated: false,
        replaces_archived: true,
        reason: String::new(),
    };
    let archived: HashMap<String, SegmentRow> = [
        row("a_20261126T100000.mp3", t0, 10_000),
        // The shorter copy the upload replaces: it joins nothing.
        row(file, t0 + 1_000, 1_000),
    ]
    .into_iter()
    .map(|r| (r.file_name.clone(), r))
    .collect();
    let points = upload_points(&archived, &[upload], &settings());
    assert_eq!(points.len(), 1);
    assert_eq!((points[file].in_s, points[file].out_s), (2.5, 10.0));
}

#[test]
fn a_segment_with_byte_offsets_plays_only_its_points() {
    let t0 = 1_795_687_200_000;
    let mut b = row("b_20261126T100007.mp3", t0 + 7_500, 10_004);
    b.frames = Some(383);
    b.duration_us = Some(10_004_898);
    // The offsets of frames 96..383, as the upload found them.
    (b.in_frame, b.out_frame) = (Some(96), Some(383));
    (b.in_byte, b.out_byte) = (Some(40_545), Some(160_200));
    let rows = [row("a_20261126T100000.mp3", t0, 10_000), b.clone()];
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let m = build(&rows, day, "hope", &settings());
    let s = &m.segments[1];
    assert_eq!((s.in_byte, s.out_byte), (Some(40_545), Some(160_200)));
    let p = playlist::playlist(&m);
    assert!(p.starts_with("#EXTM3U\n#EXT-X-VERSION:4\n"), "{p}");
    let played = (383.0 - 96.0) * 576.0 / 22_050.0;
    // Another pod: a discontinuity, and b's wall-clock time is where its byte range starts
    // playing (frame 96 of 383, 2.508 s into it), not its name nor its first frame.
    assert!(
        p.contains(&format!(
            "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:10.008Z\n\
             #EXTINF:{played:.3},b_20261126T100007.mp3\n#EXT-X-BYTERANGE:119655@40545\n\
             ../26-11-2026/b_20261126T100007.mp3\n"
        )),
        "{p}"
    );
    // Offsets of other frames than the manifest plays are not used: the blob plays whole.
    b.in_frame = Some(90);
    let m = build(
        &[row("a_20261126T100000.mp3", t0, 10_000), b],
        day,
        "hope",
        &settings(),
    );
    assert_eq!(
        (m.segments[1].in_byte, m.segments[1].out_byte),
        (None, None)
    );
    let p = playlist::playlist(&m);
    assert!(
        p.contains("#EXT-X-VERSION:3\n") && !p.contains("BYTERANGE"),
        "{p}"
    );
    assert!(p.contains("#EXTINF:10.005,b_"), "{p}");
}

#[test]
fn changed_points_keep_byte_offsets_only_for_the_same_frames() {
    let mut r = row("b_20261126T100007.mp3", 0, 10_004);
    r.frames = Some(383);
    (r.in_frame, r.out_frame) = (Some(96), Some(383));
    (r.in_byte, r.out_byte) = (Some(40_545), Some(160_200));
    let same = Points {
        in_s: 2.5,
        out_s: 10.0,
        in_frame: Some(96),
        out_frame: Some(383),
    };
    assert_eq!(rows::with_points(&r, &same).in_byte, Some(40_545));
    let moved = Points {
        in_frame: Some(97),
        ..same
    };
    let moved = rows::with_points(&r, &moved);
    assert_eq!((moved.in_byte, moved.out_byte), (None, None));
    assert_eq!(rows::ranged(&moved), Some((97, 383)));
    let whole = Points {
        in_frame: Some(0),
        ..same
    };
    assert_eq!(rows::ranged(&rows::with_points(&r, &whole)), None);
}

/// `upload_cuts`: only a join within one alignment group is cut, only in frame-exact mode,
/// and never before the blob joined starts holding audio.
#[test]
fn only_a_join_within_an_alignment_group_is_cut() {
    let t0 = 1_795_687_200_000;
    let file = "b_20261126T100007.mp3";
    let s = selection::Settings::new(10, "hope").unwrap();
    let name = selection::parse_name(file, &s, None).unwrap();
    let upload = selection::Upload {
        file: file.into(),
        blob_name: format!("26-11-2026/{file}"),
        pod: "b".into(),
        name_time: name.start,
        audio_start: DateTime::from_timestamp_millis(t0 + 7_500).unwrap(),
        duration: std::time::Duration::from_micros(10_004_898),
        frames: 383,
        size: 160_000,
        truncated: false,
        replaces_archived: false,
        reason: String::new(),
    };
    let a = "a_20261126T100000.mp3";
    let mut a_row = row(a, t0, 10_000);
    a_row.frames = Some(383);
    let archived: HashMap<String, SegmentRow> = [(a.to_owned(), a_row.clone())].into();
    let uploads = [upload];
    let groups = |b: &str| -> std::collections::BTreeMap<String, String> {
        [
            (a.to_owned(), a.to_owned()),
            (file.to_owned(), b.to_owned()),
        ]
        .into()
    };
    // One group: cut at the join, 2.5 s in (frame 96 of 383).
    let cuts = upload_cuts(
        &archived,
        &uploads,
        &groups(a),
        &settings(),
        ArchiveMode::FrameExact,
    );
    assert_eq!(
        cuts.get(file),
        Some(&Cut {
            frame: 96,
            after: a.into()
        })
    );
    assert_eq!(
        upload_points(&archived, &uploads, &settings())[file].in_frame,
        Some(96),
        "the cut is the row's in-point"
    );
    // Placed by names only: nothing is cut.
    assert!(upload_cuts(
        &archived,
        &uploads,
        &groups(file),
        &settings(),
        ArchiveMode::FrameExact
    )
    .is_empty());
    // ARCHIVE_MODE=original: nothing is cut.
    assert!(upload_cuts(
        &archived,
        &uploads,
        &groups(a),
        &settings(),
        ArchiveMode::Original
    )
    .is_empty());
    // The blob joined itself starts after the upload's start: its audio there is elsewhere.
    let mut cut = a_row;
    (cut.blob_first_frame, cut.warm_up_frames) = (Some(300), Some(4));
    let archived: HashMap<String, SegmentRow> = [(a.to_owned(), cut)].into();
    assert!(upload_cuts(
        &archived,
        &uploads,
        &groups(a),
        &settings(),
        ArchiveMode::FrameExact
    )
    .is_empty());
}

/// `upload_leads`: an upload that continues a file starts with that file's last frames, read
/// from the blob its row names, or the blob this plan uploads it to; only in frame-exact mode.
#[test]
fn an_upload_that_continues_a_file_is_led_by_that_files_blob() {
    let (a, b, c) = (
        "a_20261126T100000.mp3",
        "a_20261126T100010.mp3",
        "a_20261126T100020.mp3",
    );
    let mut a_row = row(a, 1_795_687_200_000, 10_000);
    a_row.blob_name = Some("elsewhere/a.mp3".into());
    let archived: HashMap<String, SegmentRow> = [(a.to_owned(), a_row)].into();
    let upload = |file: &str| selection::Upload {
        file: file.into(),
        blob_name: format!("26-11-2026/{file}"),
        pod: "a".into(),
        name_time: DateTime::from_timestamp_millis(0).unwrap(),
        audio_start: DateTime::from_timestamp_millis(0).unwrap(),
        duration: std::time::Duration::from_secs(10),
        frames: 383,
        size: 160_000,
        truncated: false,
        replaces_archived: false,
        reason: String::new(),
    };
    let plan = selection::Plan {
        uploads: vec![upload(b), upload(c)],
        follows: [(b.to_owned(), a.to_owned()), (c.to_owned(), b.to_owned())].into(),
        ..selection::Plan::default()
    };
    let state = selection::ArchiveState::default();
    let leads = upload_leads(
        &archived,
        &plan,
        &state,
        &settings(),
        ArchiveMode::FrameExact,
    );
    let lead = |file: &str| leads.get(file).map(|l| (l.file.as_str(), l.blob.as_str()));
    assert_eq!(lead(b), Some((a, "elsewhere/a.mp3")));
    assert_eq!(lead(c), Some((b, "26-11-2026/a_20261126T100010.mp3")));
    assert!(upload_leads(&archived, &plan, &state, &settings(), ArchiveMode::Original).is_empty());
}

#[test]
fn an_upload_that_reaches_past_midnight_changes_the_next_day_too() {
    // The next day's first segment (b) joins the last one of the day before: archived later,
    // a recording named 23:59:55 whose audio reaches 00:00:05 closes its gap and moves its
    // in-point, so both days are rewritten.
    let midnight = 1_796_256_000_000; // 2026-12-03T00:00:00Z
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let early = row("a_20261202T235945.mp3", midnight - 15_000, 10_000);
    let next = row("b_20261203T000003.mp3", midnight + 2_000, 10_000);
    let before = build(&[early.clone(), next.clone()], day, "hope", &settings());
    assert_eq!(before.gaps.len(), 1);
    assert_eq!(before.segments[0].in_s, 0.0);
    let crossing = row("a_20261202T235955.mp3", midnight - 5_000, 10_000);
    let after = build(&[early, next, crossing], day, "hope", &settings());
    assert!(after.gaps.is_empty(), "{:?}", after.gaps);
    assert_eq!(after.segments[0].in_s, 3.0);

    let upload = |file: &str, start_ms: i64| selection::Upload {
        file: file.into(),
        blob_name: format!("02-12-2026/{file}"),
        pod: "a".into(),
        name_time: DateTime::from_timestamp_millis(start_ms).unwrap(),
        audio_start: DateTime::from_timestamp_millis(start_ms).unwrap(),
        duration: std::time::Duration::from_secs(10),
        frames: 383,
        size: 40_000,
        truncated: false,
        replaces_archived: false,
        reason: String::new(),
    };
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    assert_eq!(
        days_of_upload(
            &upload("a_20261202T235955.mp3", midnight - 5_000),
            &settings()
        ),
        [d("2026-12-02"), d("2026-12-03")]
    );
    assert_eq!(
        days_of_upload(
            &upload("a_20261202T235945.mp3", midnight - 15_000),
            &settings()
        ),
        [d("2026-12-02")]
    );
    // Local days: in Madrid (UTC+1) the same recording ends at 01:00:05, not across midnight.
    let mut madrid = settings();
    madrid.time_zone = "Europe/Madrid".parse().unwrap();
    assert_eq!(
        days_of_upload(&upload("a_20261203T005955.mp3", midnight - 5_000), &madrid),
        [d("2026-12-03")]
    );
}
