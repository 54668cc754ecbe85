//! Recorded fixture scenarios, replayed into a folder as the CronJob would find them, and
//! the real binary run over them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Copy a scenario into `dir`, with modification times placed relative to now as they were
/// relative to the snapshot.
pub fn replay(scenario: &Path, dir: &Path) -> Value {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario.join("manifest.json")).unwrap())
            .unwrap();
    let snapshot =
        chrono::DateTime::parse_from_rfc3339(manifest["snapshot_at"].as_str().unwrap()).unwrap();
    let now = SystemTime::now();
    for f in manifest["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let to = dir.join(name);
        std::fs::copy(scenario.join(name), &to).unwrap();
        let mtime = chrono::DateTime::parse_from_rfc3339(f["mtime"].as_str().unwrap()).unwrap();
        let age = (snapshot - mtime).to_std().unwrap_or_default();
        filetime::set_file_mtime(&to, filetime::FileTime::from_system_time(now - age)).unwrap();
    }
    manifest
}

/// Copy a scenario into `dir` with the modification times it was recorded with, not moved to
/// now: for a job whose clock is set to the snapshot's moment (`golden_archive.rs`). Returns
/// the manifest.
pub fn replay_as_recorded(scenario: &Path, dir: &Path) -> Value {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario.join("manifest.json")).unwrap())
            .unwrap();
    for f in manifest["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let to = dir.join(name);
        std::fs::copy(scenario.join(name), &to).unwrap();
        let mtime = chrono::DateTime::parse_from_rfc3339(f["mtime"].as_str().unwrap()).unwrap();
        filetime::set_file_mtime(&to, filetime::FileTime::from_system_time(mtime.into())).unwrap();
    }
    manifest
}

/// The job as the CronJob starts it ([`super::common::job`]), run to its end.
pub fn run_job(dir: &Path, conn: &str, stream: &str, segment: u64) -> std::process::Output {
    super::common::job(dir, conn, stream, segment)
        .output()
        .unwrap()
}

/// Ages every file of `dir` by an hour: long after the snapshot every recorder has stopped and
/// every file is finished, so the job may archive or drop what was still live.
pub fn finish_recordings(dir: &Path) {
    let old = SystemTime::now() - std::time::Duration::from_secs(3600);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        filetime::set_file_mtime(&path, filetime::FileTime::from_system_time(old)).unwrap();
    }
}

pub fn uncovered(spans: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let mut v = spans.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (mut at, mut missing) = (lo, 0.0);
    for (s, e) in v {
        if e <= at {
            continue;
        }
        if s >= hi {
            break;
        }
        if s > at {
            missing += s - at;
        }
        at = at.max(e);
    }
    missing + (hi - at).max(0.0)
}

/// Every scenario folder, sorted.
pub fn scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    v.sort();
    v
}

/// The broadcast span `(start, end)` in seconds of a file, from the manifest's time code.
pub fn span(manifest: &Value, file: &str) -> Option<(f64, f64)> {
    let f = manifest["files"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == file)?;
    Some((
        f["broadcast_start_s"].as_f64()?,
        f["broadcast_end_s"].as_f64()?,
    ))
}

/// Whether every replica of the scenario recorded the one time-code source. Scenarios whose
/// replicas record different audio (issue 31: `other-source`, `fallback-loop`,
/// `fallback-silence`) list their sources in the manifest's `"sources"`, and a file of theirs
/// that is not wholly time code has no broadcast span: a test that takes a file's span for
/// all of its audio must leave them out (`fixtures_disagree.rs` archives them).
pub fn single_source(scenario: &Path) -> bool {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario.join("manifest.json")).unwrap())
            .unwrap();
    manifest["sources"]
        .as_array()
        .is_none_or(|s| s.iter().all(|x| x == "timecode"))
}

/// [`scenarios`] whose replicas all recorded the time code ([`single_source`]).
pub fn single_source_scenarios() -> Vec<PathBuf> {
    scenarios()
        .into_iter()
        .filter(|p| single_source(p))
        .collect()
}
