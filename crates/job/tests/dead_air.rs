//! Issue 18, dead air: the real job archives the `dead-air` fixture (a source whose time code
//! stops for 40 s and for 20 s, then carries a −60 dBFS hum for 40 s; fixtures/README.md)
//! into Azurite. Every archived row records the spans of silence its file holds: against the
//! ground truth (± 1 s) and against ffmpeg's `silencedetect` at the same settings (± 1 s);
//! one warning per span, the count in the run summary, and the parts the day plays in the
//! day manifest. Needs Azurite and ffmpeg.

mod support;
use support::{azurite, common, fixture};

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use store::{ArchiveRead, SegmentRow};

const SCENARIO: &str = "dead-air";

/// The silences of the source, in broadcast seconds (`scripts/record-fixtures.sh`): the time
/// code stops at 12 s and 62 s (40 s and 20 s), the hum runs from 112 s for 40 s; each ends
/// with the next second's 50-ms gap, before its tone.
const SILENT: [(f64, f64); 3] = [(12.0, 52.05), (62.0, 82.05), (112.0, 152.05)];
/// The hum's index in `SILENT`: −63 dBFS RMS (a sine of peak −60 dBFS).
const HUM: usize = 2;

const TOLERANCE_S: f64 = 1.0;

/// The spans file `f` of the manifest holds: `SILENT` inside its broadcast span, in seconds
/// into the file, longer than `min`.
fn truth(f: &Value, min: f64, with_hum: bool) -> Vec<(f64, f64)> {
    let (lo, hi) = (
        f["broadcast_start_s"].as_f64().unwrap(),
        f["broadcast_end_s"].as_f64().unwrap(),
    );
    SILENT
        .iter()
        .enumerate()
        .filter(|&(i, _)| with_hum || i != HUM)
        .map(|(_, &(a, b))| (a.max(lo) - lo, b.min(hi) - lo))
        .filter(|(a, b)| b - a > min)
        .collect()
}

fn spans_of(row: &SegmentRow) -> Vec<(f64, f64)> {
    let json = row
        .silences
        .as_deref()
        .unwrap_or_else(|| panic!("{}: no silences recorded", row.file_name));
    let v: Vec<Value> = serde_json::from_str(json).unwrap();
    v.iter()
        .map(|s| (s["start_s"].as_f64().unwrap(), s["end_s"].as_f64().unwrap()))
        .collect()
}

/// ffmpeg's `silencedetect` on `path` (its times skip the encoder delay, 24–50 ms).
fn silencedetect(path: &Path, min: f64, dbfs: f64) -> Vec<(f64, f64)> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(path)
        .args(["-af", &format!("silencedetect=noise={dbfs}dB:d={min}")])
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let log = String::from_utf8_lossy(&out.stderr);
    let mut spans = Vec::new();
    let mut start = None;
    for line in log.lines() {
        if let Some(v) = line.split("silence_start: ").nth(1) {
            start = v.trim().parse::<f64>().ok();
        }
        if let Some(v) = line.split("silence_end: ").nth(1) {
            let end = v.split_whitespace().next().and_then(|e| e.parse().ok());
            if let (Some(s), Some(e)) = (start.take(), end) {
                spans.push((s, e));
            }
        }
    }
    spans
}

fn close(got: &[(f64, f64)], want: &[(f64, f64)]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g.0 - w.0).abs() <= TOLERANCE_S && (g.1 - w.1).abs() <= TOLERANCE_S)
}

/// Runs the job (with `env`) until a run archives nothing; returns every run's stderr and
/// the summed `silences` counter.
fn archive_all(dir: &Path, conn: &str, stream: &str, env: &[(&str, &str)]) -> (String, u64) {
    let (mut logs, mut counted) = (String::new(), 0);
    for n in 1..=4 {
        let mut cmd = common::job(dir, conn, stream, 90);
        cmd.envs(env.iter().copied());
        let r = common::run(cmd);
        r.assert_no_panic(stream);
        assert!(r.success(), "{stream}: run {n} failed:\n{}", r.describe());
        logs.push_str(&r.stderr);
        counted += r.counter("silences");
        if r.counter("archived") == 0 {
            return (logs, counted);
        }
    }
    panic!("{stream}: still archiving after 4 runs:\n{logs}");
}

struct Archived {
    manifest: Value,
    rows: Vec<SegmentRow>,
    logs: String,
    counted: u64,
    day: Value,
    dir: tempfile::TempDir,
}

fn archive_fixture(conn: &str, stream: &str, env: &[(&str, &str)]) -> Archived {
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixture::replay(&fixture::fixtures().join(SCENARIO), dir.path());
    // Keep a copy of every file for silencedetect: the job deletes duplicates.
    let copies = dir.path().join("copies");
    std::fs::create_dir(&copies).unwrap();
    for f in manifest["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        std::fs::copy(dir.path().join(name), copies.join(name)).unwrap();
    }
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    for f in manifest["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        std::fs::rename(dir.path().join(name), folder.join(name)).unwrap();
    }
    // The pods stopped before the snapshot: an hour later every file is idle.
    fixture::finish_recordings(&folder);
    let (logs, counted) = archive_all(&folder, conn, stream, env);
    let (rows, day) = common::runtime().block_on(async {
        let archive = common::archive(conn, stream);
        let rows = archive.first_rows(100).await.unwrap();
        let name = "_days/2026-12-02.json";
        let info = archive
            .blob_info(name)
            .await
            .unwrap()
            .expect("day manifest");
        let bytes = archive.read_blob_range(name, 0, info.size).await.unwrap();
        (rows, serde_json::from_slice::<Value>(&bytes).unwrap())
    });
    Archived {
        manifest,
        rows: rows.into_iter().filter(|r| r.blob_name.is_some()).collect(),
        logs,
        counted,
        day,
        dir,
    }
}

fn check(a: &Archived, min: f64, dbfs: f64, with_hum: bool) -> usize {
    assert!(!a.rows.is_empty(), "nothing archived:\n{}", a.logs);
    let mut found = 0;
    let mut report = Vec::new();
    for row in &a.rows {
        let f = a.manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == row.file_name.as_str())
            .unwrap();
        let got = spans_of(row);
        let want = truth(f, min, with_hum);
        let ffmpeg = silencedetect(&a.dir.path().join("copies").join(&row.file_name), min, dbfs);
        report.push(format!(
            "{}: found {got:?}, truth {want:?}, silencedetect {ffmpeg:?}",
            row.file_name
        ));
        assert!(
            close(&got, &want),
            "against the truth: {}",
            report.join("\n")
        );
        assert!(
            close(&got, &ffmpeg),
            "against silencedetect: {}",
            report.join("\n")
        );
        found += got.len();
    }
    println!("{}", report.join("\n"));
    let warned = a.logs.matches("dead air:").count();
    assert_eq!(warned, found, "one warning per span:\n{}", a.logs);
    assert_eq!(a.counted as usize, found, "the run summaries count them");

    // The day manifest: each segment's spans as its row has them; the day's dead air is the
    // part of them inside what it plays, placed at the segment's start plus the offset.
    let segments = a.day["segments"].as_array().unwrap();
    let mut played = 0.0;
    for seg in segments {
        let row = a.rows.iter().find(|r| r.file_name == seg["file"]).unwrap();
        let listed: Vec<(f64, f64)> = seg["silences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["start_s"].as_f64().unwrap(), s["end_s"].as_f64().unwrap()))
            .collect();
        assert_eq!(listed, spans_of(row), "{}", seg["file"]);
        let (in_s, out_s) = (
            seg["in_s"].as_f64().unwrap(),
            seg["out_s"].as_f64().unwrap(),
        );
        played += listed
            .iter()
            .map(|(s, e)| (e.min(out_s) - s.max(in_s)).max(0.0))
            .sum::<f64>();
    }
    let day: f64 = a.day["silences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seconds"].as_f64().unwrap())
        .sum();
    assert!(
        (day - played).abs() < 0.01,
        "day {day} s, segments {played} s"
    );
    day.round() as usize
}

#[test]
fn dead_air_at_the_defaults_is_the_40_s_stop_and_the_hum() {
    let az = azurite::Azurite::start();
    let a = archive_fixture(&az.connection_string(), "deadair", &[]);
    let day_seconds = check(&a, 30.0, -50.0, true);
    // The day plays each broadcast second once: two spans of 40 s are dead air.
    assert!((day_seconds as f64 - 80.1).abs() <= 2.0, "{day_seconds} s");
}

#[test]
fn shorter_and_lower_settings_find_the_20_s_stop_and_not_the_hum() {
    let az = azurite::Azurite::start();
    let env = [("SILENCE_SECONDS", "15"), ("SILENCE_DBFS", "-70")];
    let a = archive_fixture(&az.connection_string(), "deadair", &env);
    let day_seconds = check(&a, 15.0, -70.0, false);
    assert!((day_seconds as f64 - 60.1).abs() <= 2.0, "{day_seconds} s");
}

/// Every recorded file, including the replica the job deletes as a duplicate, through the
/// detector the upload runs: the truth and silencedetect agree with it at both settings.
#[test]
fn every_fixture_file_agrees_with_the_truth_and_silencedetect() {
    let dir = fixture::fixtures().join(SCENARIO);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    for (min, dbfs, with_hum) in [(30.0, -50.0, true), (15.0, -70.0, false)] {
        let t = deadair::Threshold {
            min_seconds: min,
            dbfs,
        };
        for f in manifest["files"].as_array().unwrap() {
            let path = dir.join(f["name"].as_str().unwrap());
            let report = deadair::detect(&std::fs::read(&path).unwrap(), t);
            let got: Vec<(f64, f64)> = report.spans.iter().map(|s| (s.start_s, s.end_s)).collect();
            let want = truth(f, min, with_hum);
            let ffmpeg = silencedetect(&path, min, dbfs);
            let what = format!(
                "{}: found {got:?}, truth {want:?}, silencedetect {ffmpeg:?}",
                f["name"]
            );
            println!("{what}");
            assert!(close(&got, &want) && close(&got, &ffmpeg), "{what}");
        }
    }
}
