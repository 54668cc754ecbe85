//! Rows written by every earlier version still read, and mean what they meant.
//!
//! The schema only grows: each version added properties and never renamed or dropped one.
//! So a row as an earlier version wrote it is today's row with the later properties absent.
//! The test takes rows the current job wrote (`tests/data/kill-replace-rows.json`) and
//! strips them back, version by version, to what each one wrote (the commit that added the
//! properties is named). The Node.js job's rows hold `fileName` alone, under a RowKey made
//! from the upload time. Each must deserialize, and be read as archived audio and placed on
//! its day as far as what it records allows.

use std::time::Duration;

use archive_model::day::build;
use archive_model::{rows, SegmentRow};
use serde_json::{Map, Value};

/// The properties each version added, oldest first.
const ADDED: &[(&str, &[&str])] = &[
    (
        "d1c8a25, 1d21f92 (2026-11-26): the measured start and length, alignments",
        &[
            "audioStartMs",
            "durationUs",
            "alignedWith",
            "alignedOffsetMs",
        ],
    ),
    (
        "fac9b84 (2026-11-26): join points",
        &["inFrame", "inMs", "outFrame", "outMs"],
    ),
    ("6b4b35b (2026-12-01): sightings", &["sightings"]),
    (
        "3858dda, 04f2f4a (2026-12-02): byte ranges, silences",
        &["inByte", "outByte", "silences"],
    ),
    (
        "093c958 (2026-12-02): frame-exact blobs",
        &[
            "blobMode",
            "blobFirstFrame",
            "warmUpFrames",
            "sourceStart",
            "sourceEnd",
            "sourceMd5",
            "headHeldBy",
        ],
    ),
    ("2a9a28c (2026-12-02): leads", &["leadFrames", "leadFrom"]),
];

fn today() -> Vec<Map<String, Value>> {
    serde_json::from_str(include_str!("data/kill-replace-rows.json")).unwrap()
}

/// Today's rows as the version before the `version`-th addition wrote them.
fn as_written_before(version: usize) -> Vec<SegmentRow> {
    today()
        .into_iter()
        .map(|mut row| {
            for (_, fields) in &ADDED[version..] {
                for f in *fields {
                    row.remove(*f);
                }
            }
            serde_json::from_value(Value::Object(row)).unwrap()
        })
        .collect()
}

#[test]
fn rows_of_every_earlier_version_read_and_place_their_segments() {
    let names = selection::Settings::new(10, "radio").unwrap();
    let day = "2026-11-26".parse().unwrap();
    let now = build(&as_written_before(ADDED.len()), day, "radio", &names);
    for (version, (what, _)) in ADDED.iter().enumerate() {
        let rows = as_written_before(version);
        for row in &rows {
            let a = rows::archived(row, Duration::from_secs(10));
            assert_eq!(a.file_name, row.file_name, "before {what}");
            assert_eq!(a.blob_name, row.blob_name, "before {what}");
            assert!(
                a.size.is_some() && a.duration.is_some(),
                "before {what}: {a:?}"
            );
        }
        let then = build(&rows, day, "radio", &names);
        let files = |m: &archive_model::day::DayManifest| {
            m.segments
                .iter()
                .map(|s| s.file.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(files(&then), files(&now), "before {what}");
        assert!(then.gaps.is_empty(), "before {what}: {:?}", then.gaps);
    }
}

#[test]
fn the_node_jobs_rows_read_as_archived_under_the_default_blob_name() {
    let names = selection::Settings::new(10, "radio").unwrap();
    let day = "2026-11-26".parse().unwrap();
    // The Node job's row: fileName alone, RowKey from the upload time (1 minute after the
    // file's 10 s), no pod, no blob name.
    let node: Vec<SegmentRow> = today()
        .iter()
        .map(|r| {
            let file = r["fileName"].as_str().unwrap();
            let name = selection::parse_name(file, &names, None).unwrap();
            let key = rows::row_key(name.start + chrono::TimeDelta::seconds(70), "x");
            SegmentRow {
                row_key: key[..19].to_string(),
                file_name: file.to_owned(),
                ..SegmentRow::default()
            }
        })
        .collect();
    for row in &node {
        let a = rows::archived(row, Duration::from_secs(10));
        assert_eq!(
            (a.blob_name.as_deref(), a.size, a.audio_start),
            (None, None, None)
        );
    }
    let m = build(&node, day, "radio", &names);
    assert_eq!(
        m.segments.len(),
        node.len(),
        "every Node row is listed: {:?}",
        m.segments
    );
    for s in &m.segments {
        assert_eq!(
            s.blob,
            format!("26-11-2026/{}", s.file),
            "the Node job's blob name"
        );
    }
}
