//! A differential test of everything the job writes (issue 26: "blobs, rows, day manifests and
//! pages are byte-identical to today's for every fixture"). Every fixture scenario is replayed
//! and archived by the real binary against a real Azurite, as `fixtures_azurite.rs` and
//! `fixtures_disagree.rs` do it: two runs at the snapshot, then, every recording finished, runs
//! until one archives and deletes nothing. Every scenario runs in both `ARCHIVE_MODE`s (the
//! single-source ones too, where `fixtures_azurite.rs` runs only the default), each as a
//! stream of its own in one Azurite. Then the archive is read back whole into a canonical
//! snapshot and compared with the committed one, `tests/golden/<scenario>-<mode>.json`:
//!
//! - every container the job made (its metadata and public access) and every blob in it:
//!   name, size, MD5 of its bytes (read back), and what the job sets on it: content type,
//!   encoding, language, disposition, cache control, the `Content-MD5` property, blob type,
//!   lease state and all its metadata. Day manifests (`.json`) are kept as their JSON,
//!   playlists (`.m3u8`) as their lines, everything else (audio, pages, pictures, the lock) as
//!   size and MD5;
//! - every row of every partition of every table the account holds (the stream's, `~align`,
//!   `~gone`, `~seen`, `~run`), all properties as the service returns them with full metadata
//!   (their `@odata.type`s included), read raw, not through the job's parser;
//! - per run, the local files it deleted and its `run summary` counters.
//!
//! At the end nothing in the account may belong to no scenario: a new container, table or
//! partition shows up as a failure, as a new field or blob shows up as a difference.
//!
//! Deterministic: the job's clock is fixed with libfaketime (`common::fake_clock`, a stopped
//! clock: `FAKETIME` without `@`; `FAKETIME_DONT_FAKE_MONOTONIC` so timeouts and the lock's
//! renewal still pass, `NO_FAKE_STAT` so file times are the kernel's) at the
//! snapshot's moment (`snapshot_at` rounded up to the second) for the first two runs and an
//! hour later for the rest, and the recordings keep the modification times they were recorded
//! with (`fixture::replay_as_recorded`; "finished" sets them to the first runs' moment, an hour
//! before the later runs, as `fixture::finish_recordings` ages them by an hour). The file
//! system still stamps files with the real time, so the share's clock (a probe file's
//! modification time) is hours to weeks after the job's: every decision on it is long past its
//! limit, and the same in every run. What still depends on the run is normalized, by name and
//! only these, each named in a constant below:
//!
//! - `Timestamp` (and its `@odata.type`), `odata.etag`, `odata.id`, `odata.editLink` and
//!   `odata.type` of every table row are removed: the table service adds them to what it returns (full metadata), the job does
//!   not write them. `Timestamp` and the ETag are Azurite's real clock, the URLs name its port
//!   (picked free in each run). Every property the job wrote stays, with its `@odata.type`;
//! - in the outcome row (partition `<stream>~run`), inside its JSON property `run`, the value
//!   of `clock_skew_seconds` (the fixed clock minus the share's real one), `ended_ms` and
//!   `last_success_ms` (the start plus the run's length on the monotonic clock) becomes
//!   `"<normalized>"`; the fields stay, so their absence would show;
//! - in each run's `run summary` line, likewise `clock_skew_seconds`, `seconds` (the run's
//!   length) and `peak_rss_kib` (the process's memory).
//!
//! The service's own blob and container properties (ETag, Last-Modified, Creation-Time,
//! access tier, server encryption) are not read: the job does not set them.
//!
//! `UPDATE_GOLDEN=1 cargo test -p job --test golden_archive` writes the snapshots anew (after a
//! change of behaviour that is meant; review the diff of `tests/golden/`). On a difference the
//! test prints the first differences of each snapshot, path by path.
//!
//! Needs Azurite (`npm ci`) and libfaketime (Debian's `faketime`).

mod support;
use support::{azurite, common, fixture};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use azure_storage::{CloudLocation, StorageCredentials};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use store::connection::StorageTarget;

/// The table the job writes to (the default `TABLE_NAME`).
const TABLE: &str = "audios";
/// Runs after the recordings finished before the test gives up on a fixpoint.
const MAX_RUNS: usize = 10;
/// Differences printed per snapshot.
const SHOWN: usize = 40;
/// What a normalized value becomes.
const NORMALIZED: &str = "<normalized>";
/// What the table service adds to every row it returns (full metadata), not the job: its own
/// time of the write and the ETag made from it (Azurite's real clock), and the row's URLs
/// (naming Azurite's port, picked free in each run) and type. Removed from the snapshot.
const ROW_SERVICE_FIELDS: [&str; 6] = [
    "Timestamp",
    "Timestamp@odata.type",
    "odata.etag",
    "odata.id",
    "odata.editLink",
    "odata.type",
];
/// Fields of the outcome row's `run` JSON that depend on the real clock or the run's length.
const RUN_CLOCK_FIELDS: [&str; 3] = ["clock_skew_seconds", "ended_ms", "last_success_ms"];
/// Fields of the `run summary` log line that depend on the real clock or the process.
const SUMMARY_RUN_FIELDS: [&str; 3] = ["clock_skew_seconds", "seconds", "peak_rss_kib"];

/// One scenario archived in one mode.
struct Case {
    scenario: PathBuf,
    name: String,
    mode: &'static str,
}

impl Case {
    fn stream(&self) -> String {
        let mode = if self.mode == "original" { "or" } else { "fe" };
        format!("g-{}-{mode}", self.name)
    }

    fn golden(&self) -> PathBuf {
        golden_dir().join(format!("{}-{}.json", self.name, self.mode))
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for scenario in fixture::scenarios() {
        let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
        for mode in ["frame-exact", "original"] {
            cases.push(Case {
                scenario: scenario.clone(),
                name: name.clone(),
                mode,
            });
        }
    }
    cases
}

/// A `FAKETIME` spec that stops the clock at `at` (libfaketime reads it in `TZ`).
fn stopped_at(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One run of the job as the CronJob starts it, its clock stopped at `at`.
fn run_at(case: &Case, dir: &Path, conn: &str, segment: u64, at: DateTime<Utc>) -> common::Run {
    let stream = case.stream();
    let mut cmd = common::job(dir, conn, &stream, segment);
    cmd.env("ARCHIVE_MODE", case.mode);
    common::fake_clock(&mut cmd, &stopped_at(at));
    cmd.env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("NO_FAKE_STAT", "1")
        .env("TZ", "UTC");
    let run = common::run(cmd);
    run.assert_no_panic(&stream);
    assert!(
        run.success(),
        "{stream} at {at}: the run failed:\n{}",
        run.describe()
    );
    assert!(
        !run.stderr.contains(common::LOCKED_OUT),
        "{stream}: locked out"
    );
    run
}

fn local_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Replays the case's scenario and runs the job to its fixpoint; returns what each run did.
fn archive_case(case: &Case, conn: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixture::replay_as_recorded(&case.scenario, dir.path());
    let segment = manifest["segment_time"].as_u64().unwrap();
    let snapshot = DateTime::parse_from_rfc3339(manifest["snapshot_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    // Whole seconds for libfaketime, not before the snapshot.
    let first =
        DateTime::from_timestamp((snapshot + TimeDelta::milliseconds(999)).timestamp(), 0).unwrap();
    let later = first + TimeDelta::hours(1);
    let mut runs = Vec::new();
    let one = |at: DateTime<Utc>, runs: &mut Vec<Value>| -> bool {
        let before = local_files(dir.path());
        let run = run_at(case, dir.path(), conn, segment, at);
        let after = local_files(dir.path());
        let summary = summary(&run);
        let done = run.counter("archived") == 0 && run.counter("deleted") == 0;
        runs.push(json!({
            "clock": at.to_rfc3339(),
            "deleted": before.difference(&after).collect::<Vec<_>>(),
            "summary": summary,
        }));
        done
    };
    one(first, &mut runs);
    one(first, &mut runs);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        filetime::set_file_mtime(&path, filetime::FileTime::from_system_time(first.into()))
            .unwrap();
    }
    let mut n = 0;
    while !one(later, &mut runs) {
        n += 1;
        assert!(
            n < MAX_RUNS,
            "{}: no fixpoint after {MAX_RUNS} runs",
            case.stream()
        );
    }
    runs
}

fn credentials(target: &StorageTarget) -> StorageCredentials {
    StorageCredentials::access_key(
        target.account.clone(),
        target.key().expect("an account key").expose().to_owned(),
    )
}

fn blob_service(conn: &str) -> azure_storage_blobs::prelude::BlobServiceClient {
    let target = StorageTarget::parse(conn).unwrap();
    azure_storage_blobs::prelude::ClientBuilder::with_location(
        CloudLocation::Custom {
            account: target.account.clone(),
            uri: target.blob_endpoint.clone(),
        },
        credentials(&target),
    )
    .blob_service_client()
}

fn table_service(conn: &str) -> azure_data_tables::prelude::TableServiceClient {
    let target = StorageTarget::parse(conn).unwrap();
    azure_data_tables::clients::TableServiceClientBuilder::with_location(
        CloudLocation::Custom {
            account: target.account.clone(),
            uri: target.table_endpoint.clone(),
        },
        credentials(&target),
    )
    .build()
}

fn hex_md5(bytes: &[u8]) -> String {
    common::hex(&Md5::digest(bytes))
}

/// Every container of the account, with its metadata.
async fn containers(conn: &str) -> BTreeMap<String, azure_storage_blobs::container::Container> {
    let mut out = BTreeMap::new();
    let mut pages = blob_service(conn)
        .list_containers()
        .include_metadata(true)
        .into_stream();
    while let Some(page) = pages.next().await {
        for c in page.unwrap().containers {
            out.insert(c.name.clone(), c);
        }
    }
    out
}

/// A container and every blob in it, as the snapshot keeps them.
async fn container_snapshot(conn: &str, name: &str) -> Value {
    let all = containers(conn).await;
    let Some(container) = all.get(name) else {
        return Value::Null;
    };
    let client = blob_service(conn).container_client(name);
    let mut blobs = Map::new();
    let mut pages = client.list_blobs().include_metadata(true).into_stream();
    while let Some(page) = pages.next().await {
        for b in page.unwrap().blobs.blobs() {
            let p = &b.properties;
            // An empty blob (the lock) has no range to read: get_content answers 416.
            let bytes = if p.content_length == 0 {
                Vec::new()
            } else {
                client.blob_client(&b.name).get_content().await.unwrap()
            };
            assert_eq!(bytes.len() as u64, p.content_length, "{name}/{}", b.name);
            let mut blob = json!({
                "size": p.content_length,
                "md5": hex_md5(&bytes),
                "content_type": p.content_type,
                "content_encoding": p.content_encoding,
                "content_language": p.content_language,
                "content_disposition": p.content_disposition,
                "cache_control": p.cache_control,
                "content_md5": p.content_md5.as_ref().map(|m| common::md5_b64(m.as_slice())),
                "blob_type": format!("{:?}", p.blob_type),
                "lease_state": p.lease_state.as_ref().map(|s| format!("{s:?}")),
                "metadata": b.metadata.clone().unwrap_or_default()
                    .into_iter().collect::<BTreeMap<_, _>>(),
            });
            if b.name.ends_with(".json") {
                blob["json"] = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{name}/{} is not JSON: {e}", b.name));
            } else if b.name.ends_with(".m3u8") {
                blob["lines"] = String::from_utf8_lossy(&bytes).lines().collect();
            }
            blobs.insert(b.name.clone(), blob);
        }
    }
    json!({
        "public_access": format!("{:?}", container.public_access),
        "metadata": container.metadata.clone().into_iter().collect::<BTreeMap<_, _>>(),
        "blobs": blobs,
    })
}

/// Every table of the account.
async fn tables(conn: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut pages = table_service(conn).list().into_stream();
    while let Some(page) = pages.next().await {
        out.extend(page.unwrap().tables.into_iter().map(|t| t.name));
    }
    out
}

/// Every row of `table`, raw: partition → RowKey → properties, normalized.
async fn rows(conn: &str, table: &str) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut pages = table_service(conn)
        .table_client(table)
        .query()
        .into_stream::<Map<String, Value>>();
    while let Some(page) = pages.next().await {
        for entity in page.unwrap().entities {
            let text = |k: &str| entity[k].as_str().unwrap().to_owned();
            let (pk, rk) = (text("PartitionKey"), text("RowKey"));
            let row = normalize_row(&pk, entity);
            let previous = out.entry(pk.clone()).or_default().insert(rk.clone(), row);
            assert!(previous.is_none(), "row {pk}/{rk} listed twice");
        }
    }
    out
}

/// The row with the fields named in the module's doc normalized.
fn normalize_row(partition: &str, mut row: Map<String, Value>) -> Value {
    for field in ROW_SERVICE_FIELDS {
        row.remove(field);
    }
    if partition.ends_with("~run") {
        if let Some(Value::String(text)) = row.get_mut("run") {
            let mut run: Value = serde_json::from_str(text).expect("the run row's JSON");
            for field in RUN_CLOCK_FIELDS {
                if let Some(v) = run.get_mut(field).filter(|v| !v.is_null()) {
                    *v = json!(NORMALIZED);
                }
            }
            // Kept as the JSON text it is, with only those fields replaced.
            *text = serde_json::to_string(&canonical(run)).unwrap();
        }
    }
    Value::Object(row)
}

/// Every `key=value` of the run's `run summary` line, those named in
/// [`SUMMARY_RUN_FIELDS`] normalized.
fn summary(run: &common::Run) -> BTreeMap<String, String> {
    let line = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.contains("run summary"))
        .unwrap_or_else(|| panic!("no run summary:\n{}", run.describe()));
    let fields = line.split_once("run summary").unwrap().1;
    fields
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| {
            let v = if SUMMARY_RUN_FIELDS.contains(&k) {
                NORMALIZED
            } else {
                v
            };
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Whether a partition is the stream's own or one of its `~` partitions.
fn of_stream(partition: &str, stream: &str) -> bool {
    partition == stream
        || partition
            .strip_prefix(stream)
            .is_some_and(|rest| rest.starts_with('~'))
}

/// The case's snapshot: what its runs did, its container, its rows in every table.
async fn case_snapshot(case: &Case, conn: &str, runs: Vec<Value>) -> Value {
    let stream = case.stream();
    let mut tables_out = Map::new();
    for table in tables(conn).await {
        let partitions: Map<String, Value> = rows(conn, &table)
            .await
            .into_iter()
            .filter(|(pk, _)| of_stream(pk, &stream))
            .map(|(pk, rows)| (pk, json!(rows)))
            .collect();
        if !partitions.is_empty() {
            tables_out.insert(table, Value::Object(partitions));
        }
    }
    canonical(json!({
        "scenario": case.name,
        "archive_mode": case.mode,
        "stream": stream,
        "runs": runs,
        "container": container_snapshot(conn, &stream).await,
        "tables": tables_out,
    }))
}

/// Objects with their keys in order, whatever serde_json's map keeps.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<String, Value> =
                m.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Path → scalar of every leaf (empty objects and arrays are leaves too).
fn flatten(v: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                flatten(v, &format!("{path}/{k}"), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten(v, &format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            out.insert(path.to_owned(), leaf.to_string());
        }
    }
}

/// The first differences of `got` from `want`, one line each, and how many there are.
fn differences(want: &Value, got: &Value) -> (Vec<String>, usize) {
    let (mut w, mut g) = (BTreeMap::new(), BTreeMap::new());
    flatten(want, "", &mut w);
    flatten(got, "", &mut g);
    let keys: BTreeSet<&String> = w.keys().chain(g.keys()).collect();
    let mut lines = Vec::new();
    for k in keys {
        match (w.get(k), g.get(k)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => lines.push(format!("  {k}\n      was {a}\n      now {b}")),
            (Some(a), None) => lines.push(format!("  {k}\n      was {a}\n      now absent")),
            (None, Some(b)) => lines.push(format!("  {k}\n      was absent\n      now {b}")),
            (None, None) => unreachable!(),
        }
    }
    let n = lines.len();
    lines.truncate(SHOWN);
    (lines, n)
}

/// What the account holds that belongs to no case: containers, tables, partitions.
async fn unclaimed(conn: &str, streams: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for name in containers(conn).await.keys() {
        if !streams.contains(name) {
            out.push(format!("container {name}"));
        }
    }
    for table in tables(conn).await {
        if table != TABLE {
            out.push(format!("table {table}"));
        }
        for pk in rows(conn, &table).await.keys() {
            if !streams.iter().any(|s| of_stream(pk, s)) {
                out.push(format!("partition {pk} of table {table}"));
            }
        }
    }
    out
}

#[test]
fn every_fixture_archives_as_the_golden_snapshots_say() {
    assert!(
        common::libfaketime().is_some(),
        "libfaketime is needed (apt-get install -y faketime)"
    );
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 14, "fixtures missing");
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let rt = common::runtime();
    let mut failures = Vec::new();
    let mut report = Vec::new();
    let mut written = BTreeSet::new();
    for case in &cases {
        let started = std::time::Instant::now();
        let runs = archive_case(case, &conn);
        let n_runs = runs.len();
        let got = rt.block_on(case_snapshot(case, &conn, runs));
        let path = case.golden();
        written.insert(path.clone());
        let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
        let blobs = got["container"]["blobs"].as_object().map_or(0, Map::len);
        report.push(format!(
            "{:<17} {:<11} {n_runs} runs, {blobs:>3} blobs, {:>6} bytes of snapshot, {:.1} s",
            case.name,
            case.mode,
            text.len(),
            started.elapsed().as_secs_f64()
        ));
        if update {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&path, text).unwrap();
            continue;
        }
        let Ok(want) = std::fs::read_to_string(&path) else {
            failures.push(format!(
                "{}: no golden snapshot (UPDATE_GOLDEN=1 writes it)",
                path.display()
            ));
            continue;
        };
        let want: Value = canonical(serde_json::from_str(&want).unwrap());
        let (lines, n) = differences(&want, &got);
        if n > 0 {
            failures.push(format!(
                "{} {}: {n} difference(s) from {} (the first {}):\n{}",
                case.name,
                case.mode,
                path.display(),
                lines.len(),
                lines.join("\n")
            ));
        }
    }
    let streams: BTreeSet<String> = cases.iter().map(Case::stream).collect();
    let stray = rt.block_on(unclaimed(&conn, &streams));
    if !stray.is_empty() {
        failures.push(format!(
            "the account holds what no scenario wrote: {stray:?}"
        ));
    }
    for entry in std::fs::read_dir(golden_dir()).into_iter().flatten() {
        let path = entry.unwrap().path();
        if !written.contains(&path) {
            failures.push(format!(
                "{}: a golden snapshot of no scenario (remove it)",
                path.display()
            ));
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "the archive differs from the golden snapshots (UPDATE_GOLDEN=1 rewrites them when \
         the change is meant):\n\n{}",
        failures.join("\n\n")
    );
}
