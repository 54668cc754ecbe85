//! Clock skew (issue 19): every recorded fixture replayed as the CronJob finds it, with the
//! job's clock (libfaketime, `common::fake_clock`) off from the recorders' and the share's by
//! up to an hour either way. The files still being written at the snapshot (`live` in the
//! manifest) must be neither deleted nor archived; after the recorders stop, a few runs
//! archive everything.
//!
//! Scenarios whose replicas record more than one source (the manifest's `"sources"`, issue 31)
//! are left out: their files that are not wholly time code have no broadcast span, and the
//! coverage here takes a file's span for all of its audio (`fixtures_disagree.rs`).
//!
//! Needs libfaketime (Debian: `apt-get install -y faketime`) and Azurite (`npm ci`).

mod support;
use support::{azurite, common, fixture};

use std::path::Path;

use serde_json::Value;
use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::ArchiveRead;

/// Offsets of the job's clock from the share's, in seconds: those the issue measured, from
/// an hour behind to an hour ahead.
const SKEWS: [i64; 7] = [-3600, -600, 0, 30, 110, 150, 3600];

/// The job under libfaketime, its clock `skew` seconds off.
async fn run_skewed(
    dir: &Path,
    conn: &str,
    stream: &str,
    segment: u64,
    skew: i64,
) -> (bool, String) {
    let (dir, conn, stream) = (dir.to_owned(), conn.to_owned(), stream.to_owned());
    tokio::task::spawn_blocking(move || run_skewed_now(&dir, &conn, &stream, segment, skew))
        .await
        .unwrap()
}

fn run_skewed_now(dir: &Path, conn: &str, stream: &str, segment: u64, skew: i64) -> (bool, String) {
    let offset = format!("{skew:+}");
    let out = common::job_clocked(Some(&offset), dir, conn, stream, segment)
        .output()
        .expect("start segment-selector");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Outcome {
    live_deleted: Vec<String>,
    live_archived: Vec<String>,
    missing_s: f64,
    recorded_s: f64,
    skew_reported: bool,
}

async fn one(scenario: &Path, conn: &str, target: &StorageTarget, skew: i64) -> Outcome {
    let name = scenario.file_name().unwrap().to_string_lossy().to_string();
    let stream = format!(
        "clk{}-{name}",
        if skew < 0 {
            format!("m{}", -skew)
        } else {
            skew.to_string()
        }
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixture::replay(scenario, dir.path());
    let segment = manifest["segment_time"].as_u64().unwrap();
    let files = manifest["files"].as_array().unwrap();
    let archive =
        AzureArchive::new(target, &stream, "audios", &stream, AzureOptions::default()).unwrap();

    let (ok, log) = run_skewed(dir.path(), conn, &stream, segment, skew).await;
    assert!(ok, "{name} at {skew:+} s: the run failed:\n{log}");
    let skew_reported = log.contains("the node's clock is");
    let rows = archive.first_rows(1000).await.unwrap();
    let live: Vec<&str> = files
        .iter()
        .filter(|f| f["live"] == Value::Bool(true))
        .filter_map(|f| f["name"].as_str())
        .collect();
    let live_deleted = live
        .iter()
        .filter(|f| !dir.path().join(f).exists())
        .map(|f| f.to_string())
        .collect();
    let live_archived = live
        .iter()
        .filter(|f| rows.iter().any(|r| r.file_name == **f))
        .map(|f| f.to_string())
        .collect();

    // Every recorder stops; later runs (their clock moving on as between CronJob runs) finish
    // the archive.
    fixture::finish_recordings(dir.path());
    for k in 1..=3 {
        let (ok, log) = run_skewed(dir.path(), conn, &stream, segment, skew + k * 150).await;
        assert!(
            ok,
            "{name} at {skew:+} s: a run after the end failed:\n{log}"
        );
    }
    let rows = archive.first_rows(1000).await.unwrap();
    let archived: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| fixture::span(&manifest, &r.file_name))
        .collect();
    let recorded: Vec<(f64, f64)> = files
        .iter()
        .filter_map(|f| fixture::span(&manifest, f["name"].as_str()?))
        .collect();
    let (lo, hi) = recorded
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &(s, e)| (l.min(s), h.max(e)));
    let recorded_s = (hi - lo) - fixture::uncovered(&recorded, lo, hi);
    let missing_s = recorded
        .iter()
        .map(|&(s, e)| fixture::uncovered(&archived, s, e).max(0.0))
        .sum();
    let left = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(
        left, 0,
        "{name} at {skew:+} s: files left after everything finished"
    );
    Outcome {
        live_deleted,
        live_archived,
        missing_s,
        recorded_s,
        skew_reported,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_clock_skew_deletes_or_archives_a_file_being_written() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let target = StorageTarget::parse(&conn).unwrap();
    let scenarios = fixture::single_source_scenarios();
    assert!(scenarios.len() >= 5, "fixtures missing: {scenarios:?}");
    let mut report = vec!["job clock vs share | live files deleted | live files archived | archived after the end | skew warned".to_string()];
    // The skews run side by side (each case has a stream of its own): the job mostly waits
    // for Azurite and for process start-up.
    let cases = SKEWS.map(|skew| {
        let (conn, target, scenarios) = (conn.clone(), target.clone(), scenarios.clone());
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for scenario in &scenarios {
                outcomes.push(one(scenario, &conn, &target, skew).await);
            }
            outcomes
        })
    });
    let mut failures = Vec::new();
    for (skew, case) in SKEWS.into_iter().zip(cases) {
        let (mut deleted, mut archived, mut missing, mut recorded, mut reported) =
            (0, 0, 0.0, 0.0, 0);
        for (scenario, o) in scenarios.iter().zip(case.await.unwrap()) {
            let name = scenario.file_name().unwrap().to_string_lossy().to_string();
            if !o.live_deleted.is_empty() || !o.live_archived.is_empty() {
                failures.push(format!(
                    "{name} at {skew:+} s: deleted {:?}, archived {:?} while being written",
                    o.live_deleted, o.live_archived
                ));
            }
            if o.missing_s > 0.05 {
                failures.push(format!(
                    "{name} at {skew:+} s: {:.3} s never archived",
                    o.missing_s
                ));
            }
            // The share's clock is read from a probe file, so the skew is measured, not guessed.
            if o.skew_reported != (skew.abs() > 60) {
                failures.push(format!(
                    "{name} at {skew:+} s: skew warning {}",
                    if o.skew_reported { "given" } else { "missing" }
                ));
            }
            deleted += o.live_deleted.len();
            archived += o.live_archived.len();
            missing += o.missing_s;
            recorded += o.recorded_s;
            reported += usize::from(o.skew_reported);
        }
        report.push(format!(
            "{skew:+} s | {deleted} | {archived} | {:.2} % of {recorded:.1} s | {reported} of {} runs",
            100.0 * (recorded - missing) / recorded,
            scenarios.len()
        ));
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
