//! A reader of the archive places its segments exactly as the job did, from the rows alone.
//!
//! `tests/data/kill-replace-*` were written by the real job (`cargo run -p job --example
//! archive_to_dir` over `fixtures/kill-replace`, stream `radio`, 10-s segments): its table's
//! rows, and the day manifest and playlist it wrote from them. A replica is killed and
//! replaced there, so the day has a switch between pods with an in-point and byte ranges.

use archive_model::day::{build, playlist};
use archive_model::SegmentRow;

fn rows() -> Vec<SegmentRow> {
    serde_json::from_str(include_str!("data/kill-replace-rows.json")).unwrap()
}

#[test]
fn the_day_manifest_and_playlist_built_from_rows_are_the_jobs_byte_for_byte() {
    let names = selection::Settings::new(10, "radio").unwrap();
    let day = "2026-11-26".parse().unwrap();
    let manifest = build(&rows(), day, "radio", &names);
    assert_eq!(
        String::from_utf8(serde_json::to_vec_pretty(&manifest).unwrap()).unwrap(),
        include_str!("data/kill-replace-2026-11-26.json")
    );
    assert_eq!(
        playlist::playlist(&manifest),
        include_str!("data/kill-replace-2026-11-26.m3u8")
    );
    let pods: Vec<&str> = manifest.segments.iter().map(|s| s.pod.as_str()).collect();
    assert!(
        pods.first() != pods.last(),
        "no switch between pods: {pods:?}"
    );
}

#[test]
fn a_row_with_fields_this_version_does_not_know_still_reads() {
    // A later version's row: properties are added, never renamed, so an older reader skips
    // what it does not know.
    let row: SegmentRow = serde_json::from_str(
        r#"{"rowKey":"k","fileName":"a_20261126T151442.mp3","someFutureField":3}"#,
    )
    .unwrap();
    assert_eq!(row.file_name, "a_20261126T151442.mp3");
}
