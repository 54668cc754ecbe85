//! `segment-selector ls` against a real Azurite: every page of the table (more than the
//! 1,000 rows one page holds), a day or a range in the recorders' local time, JSON output,
//! and a clear error for a stream that has nothing archived. Only STREAM_NAME and the
//! storage settings are given: `ls` needs no FOLDER or FILE_DURATION.

mod support;
use support::azurite;

use std::process::Command;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::{Archive, SegmentRow};

const ROWS: i64 = 1_100;
const SEGMENT_S: i64 = 600;

fn ls(conn: &str, stream: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_segment-selector"))
        .env_clear()
        .env("STREAM_NAME", stream)
        .env("AZURE_STORAGE_CONNECTION_STRING", conn)
        .env("TIME_ZONE", "Europe/Madrid")
        .arg("ls")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_pages_through_every_row_and_filters_by_local_day_and_range() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let target = StorageTarget::parse(&conn).unwrap();
    let archive = std::sync::Arc::new(
        AzureArchive::new(&target, "hope", "audios", "hope", AzureOptions::default()).unwrap(),
    );
    archive.ensure_ready().await.unwrap();
    // 1,100 segments of 600 s from 2026-10-20 00:00 UTC: seven and a half days, across the
    // Madrid fall-back of 2026-10-25.
    let t0: DateTime<Utc> = "2026-10-20T00:00:00Z".parse().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ROWS {
        let archive = archive.clone();
        tasks.spawn(async move {
            let start = t0 + TimeDelta::seconds(i * SEGMENT_S);
            let file = format!("pod-a_{}.mp3", start.format("%Y%m%dT%H%M%S"));
            let row = SegmentRow {
                row_key: archive_model::rows::row_key(start, "pod-a"),
                blob_name: Some(format!("{}/{file}", start.format("%d-%m-%Y"))),
                file_name: file,
                pod: Some("pod-a".into()),
                audio_start_ms: Some(start.timestamp_millis()),
                duration_ms: Some(SEGMENT_S * 1000),
                ..SegmentRow::default()
            };
            archive.insert_row(&row).await.unwrap();
        });
        while tasks.len() >= 16 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }

    let (ok, out, err) = ls(&conn, "Hope", &["--json"]);
    assert!(ok, "{err}");
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(all.len() as i64, ROWS, "every page is read");
    assert_eq!(all[0]["start"], "2026-10-20T00:00:00Z");
    assert_eq!(all[0]["start_local"], "2026-10-20T02:00:00+02:00");

    // The local day of the fall-back lasts 25 hours: 150 segments of 600 s.
    let (ok, out, err) = ls(&conn, "Hope", &["--day", "2026-10-25", "--json"]);
    assert!(ok, "{err}");
    let day: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(day.len(), 150);
    assert_eq!(day[0]["start"], "2026-10-24T22:00:00Z");

    // A range in local time; a segment overlapping an end counts.
    let (ok, out, err) = ls(
        &conn,
        "Hope",
        &[
            "--from",
            "2026-10-21T10:05:00",
            "--to",
            "2026-10-21T11:00:00",
        ],
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "start (UTC)\tstart (local)\tduration\tpod\tblob");
    assert_eq!(lines.len(), 1 + 6, "{out}");
    assert!(
        lines[1].starts_with(
            "2026-10-21T08:00:00.000Z\t2026-10-21T10:00:00+02:00\t600.000 s\tpod-a\t21-10-2026/"
        ),
        "{}",
        lines[1]
    );

    // An ambiguous local time, a stream with nothing archived.
    let (ok, _, err) = ls(
        &conn,
        "Hope",
        &[
            "--from",
            "2026-10-25T02:30:00",
            "--to",
            "2026-10-25T04:00:00",
        ],
    );
    assert!(!ok && err.contains("happens twice"), "{err}");
    let (ok, _, err) = ls(&conn, "nosuchstream", &[]);
    assert!(!ok && err.contains("nothing archived"), "{err}");
}
