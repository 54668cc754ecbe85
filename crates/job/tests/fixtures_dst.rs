//! Issue 15: every recorded fixture scenario replayed across the autumn clock change of 2026
//! in Europe/Madrid (03:00 CEST becomes 02:00 CET at 01:00 UTC, so 02:00–03:00 local happens
//! twice), its names rewritten to Madrid local time (`TIME_ZONE=Europe/Madrid`), and side by
//! side the same timeline named in UTC. The time code is the truth. The real job runs against
//! Azurite under libfaketime at the replayed moment (modification times are not faked), as the
//! CronJob would: at the snapshot, again at once, and twice an hour later when every file is
//! finished. Both namings must give the same coverage, the same seconds archived twice, the
//! same gaps (no false ones) and the same number of blobs; blob folders and day manifests
//! use the local date of the names.//!
//! Scenarios whose replicas record more than one source (the manifest's `"sources"`, issue 31)
//! are left out: their files that are not wholly time code have no broadcast span, and this
//! test takes a file's span for all of its audio (`fixtures_disagree.rs` archives them).

mod support;
use support::{azurite, common};

use common::fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// When Madrid's clocks go back in 2026.
const FALL_BACK: &str = "2026-10-25T01:00:00Z";
/// The recorders' name format (`fixtures/README.md`).
const FORMAT: &str = "%Y%m%dT%H%M%S";

/// What one naming of one scenario gave.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    recorded_s: f64,
    archived_s: f64,
    twice_s: f64,
    missing_s: f64,
    blobs: usize,
    /// Rows the second run at the snapshot added (0: a second plan archives nothing more).
    second_run_rows: usize,
    /// Files left in the folder at the end.
    left: usize,
    /// Every gap the runs reported, as "<seconds> s unrecorded from <UTC> to <UTC>".
    gaps: BTreeSet<String>,
}

/// A fixture copied into `dir` with its timeline moved so that the clock change falls in the
/// middle of its names, each name rewritten to `zone`'s wall clock and each modification time
/// moved with it. Returns the manifest, the original name of each new name, and the moved
/// snapshot time.
fn replay_across(
    scenario: &Path,
    dir: &Path,
    zone: Tz,
) -> (Value, BTreeMap<String, String>, DateTime<Utc>) {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario.join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest["files"].as_array().unwrap();
    let split = |name: &str| -> (String, DateTime<Utc>) {
        let stem = name.strip_suffix(".mp3").unwrap();
        let (pod, stamp) = match stem.rfind('_') {
            Some(i) => (stem[..=i].to_string(), &stem[i + 1..]),
            None => (String::new(), stem),
        };
        (
            pod,
            NaiveDateTime::parse_from_str(stamp, FORMAT)
                .unwrap()
                .and_utc(),
        )
    };
    let times: Vec<DateTime<Utc>> = files
        .iter()
        .map(|f| split(f["name"].as_str().unwrap()).1)
        .collect();
    let (lo, hi) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    let middle = *lo + (*hi - *lo) / 2;
    let delta = FALL_BACK.parse::<DateTime<Utc>>().unwrap() - middle;
    let mut names = BTreeMap::new();
    for f in files {
        let name = f["name"].as_str().unwrap();
        let (pod, t) = split(name);
        let renamed = format!(
            "{pod}{}.mp3",
            (t + delta).with_timezone(&zone).format(FORMAT)
        );
        std::fs::copy(scenario.join(name), dir.join(&renamed)).unwrap();
        let mtime = DateTime::parse_from_rfc3339(f["mtime"].as_str().unwrap()).unwrap();
        let moved = std::time::SystemTime::from((mtime + delta).with_timezone(&Utc));
        filetime::set_file_mtime(
            dir.join(&renamed),
            filetime::FileTime::from_system_time(moved),
        )
        .unwrap();
        assert!(
            names.insert(renamed.clone(), name.to_string()).is_none(),
            "{renamed} twice"
        );
    }
    let snapshot = DateTime::parse_from_rfc3339(manifest["snapshot_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    (manifest, names, snapshot + delta)
}

/// The job as the CronJob runs it, its clock starting at `at`.
fn run_at(
    dir: &Path,
    conn: &str,
    stream: &str,
    segment: u64,
    zone: Tz,
    at: DateTime<Utc>,
) -> String {
    // libfaketime reads its start in TZ; the job only reads TIME_ZONE.
    let start = format!("@{}", at.format("%Y-%m-%d %H:%M:%S"));
    let mut cmd = common::job_clocked(Some(&start), dir, conn, stream, segment);
    cmd.env("TIME_ZONE", zone.name()).env("TZ", "UTC");
    let run = common::run(cmd);
    assert!(
        run.success(),
        "{stream} at {at}: run failed:\n{}",
        run.stderr
    );
    run.stderr
}

fn across(scenario: &Path, conn: &str, zone: Tz) -> Figures {
    let name = scenario.file_name().unwrap().to_string_lossy().to_string();
    let short = if zone == Tz::UTC { "utc" } else { "mad" };
    let stream = format!("dst-{short}-{name}");
    let dir = tempfile::tempdir().unwrap();
    let (manifest, original, snapshot) = replay_across(scenario, dir.path(), zone);
    let segment = manifest["segment_time"].as_u64().unwrap();
    // Whole seconds for libfaketime, not before the snapshot.
    let first = snapshot + TimeDelta::milliseconds(999);
    let mut logs = run_at(dir.path(), conn, &stream, segment, zone, first);
    let rows_first = common::snapshot(conn, &stream).rows.len();
    logs.push_str(&run_at(dir.path(), conn, &stream, segment, zone, first));
    let second_run_rows = common::snapshot(conn, &stream).rows.len() - rows_first;
    let later = first + TimeDelta::hours(1);
    for _ in 0..2 {
        logs.push_str(&run_at(dir.path(), conn, &stream, segment, zone, later));
    }
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();

    let snap = common::snapshot(conn, &stream);
    let span = |file: &str| fixture::span(&manifest, original.get(file).map_or(file, |o| o));
    // Blob folders and day manifests follow the names' local date.
    let mut days = BTreeSet::new();
    for row in snap.rows.values() {
        let stem = row.file_name.strip_suffix(".mp3").unwrap();
        let stamp = &stem[stem.rfind('_').map_or(0, |i| i + 1)..];
        let local = NaiveDateTime::parse_from_str(stamp, FORMAT).unwrap();
        let want = format!("{}/{}", local.format("%d-%m-%Y"), row.file_name);
        assert_eq!(row.blob_name.as_deref(), Some(want.as_str()), "{stream}");
        assert!(
            snap.in_day_manifests.contains(&want),
            "{stream}: {want} in no day manifest"
        );
        days.insert(format!("_days/{}.json", local.format("%Y-%m-%d")));
    }
    let manifests: BTreeSet<String> = snap
        .others
        .iter()
        .filter(|n| n.starts_with("_days/") && n.ends_with(".json"))
        .cloned()
        .collect();
    assert_eq!(manifests, days, "{stream}: day manifests");

    // Every recorded start on the broadcast clock (the source's start plus the time code,
    // moved with the names), within a second: including the first file after a connect,
    // which holds a burst of older audio (kill-late: every pod's only file).
    let moved = snapshot
        - DateTime::parse_from_rfc3339(manifest["snapshot_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
    let source = DateTime::parse_from_rfc3339(manifest["source_started_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
        + moved;
    for r in snap.rows.values() {
        let (Some((start, _)), Some(at)) = (span(&r.file_name), r.audio_start_ms) else {
            continue;
        };
        let truth = source + TimeDelta::microseconds((start * 1e6).round() as i64);
        let off = (at - truth.timestamp_millis()) as f64 / 1000.0;
        assert!(
            off.abs() <= 1.0,
            "{stream}: {} recorded {off:+.3} s off the broadcast clock",
            r.file_name
        );
    }
    let archived: Vec<(f64, f64)> = snap
        .rows
        .values()
        .filter_map(|r| span(&r.file_name))
        .collect();
    let recorded: Vec<(f64, f64)> = original
        .values()
        .filter_map(|o| fixture::span(&manifest, o))
        .collect();
    let (lo, hi) = recorded
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &(s, e)| (l.min(s), h.max(e)));
    let recorded_s = (hi - lo) - fixture::uncovered(&recorded, lo, hi);
    let archived_s = (hi - lo) - fixture::uncovered(&archived, lo, hi);
    let total: f64 = archived.iter().map(|(s, e)| e - s).sum();
    let missing_s: f64 = recorded
        .iter()
        .map(|&(s, e)| fixture::uncovered(&archived, s, e).max(0.0))
        .sum();
    let gaps = logs
        .lines()
        .filter(|l| l.contains("decision=\"gap\""))
        .filter_map(|l| {
            let at = l.find(" s unrecorded from ")?;
            let start = l[..at]
                .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
                .map_or(0, |i| i + 1);
            let end = l[at..].find(" (after").map_or(l.len(), |i| at + i);
            Some(l[start..end].to_string())
        })
        .collect();
    Figures {
        recorded_s,
        archived_s,
        twice_s: (total - archived_s).max(0.0),
        missing_s,
        blobs: snap.rows.len(),
        second_run_rows,
        left: left.len(),
        gaps,
    }
}

#[test]
fn the_fall_back_hour_archives_as_utc_does() {
    if common::libfaketime().is_none() {
        println!("faketime is not installed: the fall-back replay was skipped");
        return;
    }
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let mut failures = Vec::new();
    let mut report = vec![format!(
        "{:<15} {:>10} {:>22} {:>22} {:>13} {:>9}",
        "scenario", "recorded", "archived UTC | Madrid", "twice UTC | Madrid", "blobs", "gaps"
    )];
    for scenario in fixture::single_source_scenarios() {
        let name = scenario.file_name().unwrap().to_string_lossy().to_string();
        let utc = across(&scenario, &conn, Tz::UTC);
        let madrid = across(&scenario, &conn, Tz::Europe__Madrid);
        report.push(format!(
            "{name:<15} {:>8.1} s {:>8.1} s | {:>8.1} s {:>8.1} s | {:>8.1} s {:>5} | {:<5} {:>3} | {:<3}",
            utc.recorded_s,
            utc.archived_s,
            madrid.archived_s,
            utc.twice_s,
            madrid.twice_s,
            utc.blobs,
            madrid.blobs,
            utc.gaps.len(),
            madrid.gaps.len(),
        ));
        let mut check = |ok: bool, what: &str| {
            if !ok {
                failures.push(format!(
                    "{name}: {what}\n  UTC:    {utc:?}\n  Madrid: {madrid:?}"
                ));
            }
        };
        check(
            madrid.missing_s <= 0.05 * madrid.blobs.max(1) as f64,
            "recorded but not archived",
        );
        check(
            (madrid.archived_s - utc.archived_s).abs() < 0.01,
            "coverage",
        );
        check(
            (madrid.twice_s - utc.twice_s).abs() < 0.01,
            "archived twice",
        );
        check(madrid.gaps == utc.gaps, "gaps reported");
        check(madrid.blobs == utc.blobs, "blobs");
        check(
            madrid.second_run_rows + utc.second_run_rows == 0,
            "a second run archived more",
        );
        check(madrid.left + utc.left == 0, "files left at the end");
    }
    // The figures first, so that a failure shows them all.
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
