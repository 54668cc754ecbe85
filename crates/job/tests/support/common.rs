//! Shared harness of the `reliability_*` tests: replay a fixture with its modification times,
//! run the real `segment-selector` binary, snapshot the folder and the archive, and check that
//! every local file that disappeared had its audio archived.
//!
//! The other `reliability_*.rs` files include it with
//! `mod support; use support::common;`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use azure_storage::StorageCredentials;
use futures::StreamExt;
use md5::{Digest, Md5};
use serde_json::Value;
use store::azure::{AzureArchive, AzureOptions, LOCK_BLOB};
use store::connection::StorageTarget;
use store::{ArchiveRead, SegmentRow};

/// Azurite's well-known key (public); also in `support/azurite.rs`.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_segment-selector")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// One file of a fixture scenario, with the broadcast span its audio holds.
#[derive(Debug, Clone)]
pub struct FixtureFile {
    pub name: String,
    pub size: u64,
    pub span: Option<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub scenario: String,
    pub segment: u64,
    pub files: Vec<FixtureFile>,
}

impl Manifest {
    pub fn span(&self, name: &str) -> Option<(f64, f64)> {
        self.files.iter().find(|f| f.name == name)?.span
    }
}

/// Copies `scenario` into every folder of `dirs`, with modification times placed relative to
/// one `now` as they were relative to the snapshot, so every copy plans alike.
pub fn replay(scenario: &str, dirs: &[&Path]) -> Manifest {
    let from = fixtures().join(scenario);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(from.join("manifest.json")).unwrap())
            .unwrap();
    let snapshot =
        chrono::DateTime::parse_from_rfc3339(manifest["snapshot_at"].as_str().unwrap()).unwrap();
    let now = SystemTime::now();
    let mut files = Vec::new();
    for f in manifest["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let mtime = chrono::DateTime::parse_from_rfc3339(f["mtime"].as_str().unwrap()).unwrap();
        let age = (snapshot - mtime).to_std().unwrap_or_default();
        for dir in dirs {
            let to = dir.join(name);
            std::fs::copy(from.join(name), &to).unwrap();
            filetime::set_file_mtime(&to, filetime::FileTime::from_system_time(now - age)).unwrap();
        }
        let span = match (
            f["broadcast_start_s"].as_f64(),
            f["broadcast_end_s"].as_f64(),
        ) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        files.push(FixtureFile {
            name: name.to_owned(),
            size: f["size"].as_u64().unwrap_or(0),
            span,
        });
    }
    Manifest {
        scenario: scenario.to_owned(),
        segment: manifest["segment_time"].as_u64().unwrap(),
        files,
    }
}

/// The job as the CronJob starts it: a clean environment with the four contract variables.
pub fn job(dir: &Path, conn: &str, stream: &str, segment: u64) -> Command {
    job_of(Path::new(bin()), dir, conn, stream, segment)
}

/// [`job`] of another build of the binary (the previous release, `rollback_previous.rs`).
pub fn job_of(bin: &Path, dir: &Path, conn: &str, stream: &str, segment: u64) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("FOLDER", dir)
        .env("STREAM_NAME", stream)
        .env("FILE_DURATION", segment.to_string())
        .env("AZURE_STORAGE_CONNECTION_STRING", conn)
        .env("FFMPEG_PATH", "/ffmpeg/chunks")
        .stdin(Stdio::null());
    c
}

/// [`job`] with its clock set by libfaketime when `clock` is given (a `FAKETIME` spec such as
/// `-600`, `+0 x20` or `@2026-10-25 00:59:59`): see [`fake_clock`].
pub fn job_clocked(
    clock: Option<&str>,
    dir: &Path,
    conn: &str,
    stream: &str,
    segment: u64,
) -> Command {
    let mut c = job(dir, conn, stream, segment);
    if let Some(spec) = clock {
        fake_clock(&mut c, spec);
    }
    c
}

/// A finished invocation.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The `run summary` line's counters, when the run got that far.
    pub fn summary(&self) -> Option<BTreeMap<String, u64>> {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.contains("run summary"))?;
        let plain = strip_ansi(line);
        Some(
            plain
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
        )
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.summary()
            .and_then(|s| s.get(name).copied())
            .unwrap_or(0)
    }

    /// Panics (the test fails) if the job panicked.
    pub fn assert_no_panic(&self, what: &str) {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "{what}: the job panicked:\n{}",
            self.stderr
        );
        assert_ne!(
            self.code,
            Some(101),
            "{what}: exit code 101 is a Rust panic:\n{}",
            self.stderr
        );
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {:?} after {:.2} s\n--- stderr\n{}--- stdout\n{}",
            self.code,
            self.elapsed.as_secs_f64(),
            self.stderr,
            truncate(&self.stdout, 4000)
        )
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn run(mut cmd: Command) -> Run {
    let started = Instant::now();
    let out: Output = cmd.output().expect("start segment-selector");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: strip_ansi(&String::from_utf8_lossy(&out.stderr)),
        elapsed: started.elapsed(),
    }
}

/// Runs with a time limit; a job still running then is killed and the test fails.
pub fn run_limited(mut cmd: Command, limit: Duration) -> Run {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = cmd.spawn().expect("start segment-selector");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: strip_ansi(&std::fs::read_to_string(&err_path).unwrap_or_default()),
        elapsed: started.elapsed(),
    };
    assert!(
        status.is_some(),
        "the job did not finish within {limit:?} (hang):\n{}",
        run.describe()
    );
    run
}

/// What a run that finds the stream's lock taken logs (and then exits 0 having done nothing).
pub const LOCKED_OUT: &str = "another run holds the stream's lock";

/// Runs until a run archives and deletes nothing (at most `max` runs); every run must succeed.
/// A run locked out by a lease an earlier (killed or failed) run could not release is not the
/// end: the lease is broken, as its expiry would, and the next run goes on. Returns the runs.
pub fn run_to_fixpoint(dir: &Path, conn: &str, stream: &str, segment: u64, max: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    for n in 1..=max {
        let r = run(job(dir, conn, stream, segment));
        r.assert_no_panic(stream);
        assert!(
            r.success(),
            "{stream}: clean run {n} failed:\n{}",
            r.describe()
        );
        if r.stderr.contains(LOCKED_OUT) {
            assert!(
                r.summary().is_none(),
                "{stream}: a locked-out run did work:\n{}",
                r.describe()
            );
            assert!(
                break_lock(conn, stream),
                "{stream}: locked out, but no lease to break"
            );
            runs.push(r);
            continue;
        }
        let done = r.counter("archived") == 0 && r.counter("deleted") == 0;
        runs.push(r);
        if done {
            return runs;
        }
    }
    panic!(
        "{stream}: no fixpoint after {max} runs:\n{}",
        runs.iter()
            .map(Run::describe)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The logs of several runs, for a failure message.
pub fn describe_all(runs: &[Run]) -> String {
    runs.iter()
        .enumerate()
        .map(|(i, r)| format!("=== run {}: {}", i + 1, r.describe()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Spawns the job with its output in files of `logs` (for a run that will be killed).
pub fn spawn(mut cmd: Command, logs: &Path) -> Child {
    cmd.stdout(std::fs::File::create(logs.join("stdout")).unwrap())
        .stderr(std::fs::File::create(logs.join("stderr")).unwrap());
    cmd.spawn().expect("start segment-selector")
}

/// Name → (size, MD5) of the regular files directly in `dir`.
pub type FolderState = BTreeMap<String, (u64, [u8; 16])>;

pub fn folder_state(dir: &Path) -> FolderState {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        if meta.is_file() {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                (meta.len(), md5_file(&e.path())),
            );
        }
    }
    out
}

/// Every entry under `dir` (not following links): relative path → what it is, with the
/// content hash of files and the target of links.
pub fn tree_state(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, at: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(at) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            let what = if ft.is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if ft.is_dir() {
                walk(base, &path, out);
                "dir".to_owned()
            } else if ft.is_file() {
                let mtime = meta.modified().ok();
                format!(
                    "file {} bytes md5 {} mtime {mtime:?}",
                    meta.len(),
                    hex(&md5_file(&path))
                )
            } else {
                format!("special {ft:?}")
            };
            out.insert(rel, what);
        }
    }
    walk(dir, dir, &mut out);
    out
}

pub fn md5_file(path: &Path) -> [u8; 16] {
    match std::fs::read(path) {
        Ok(bytes) => Md5::digest(&bytes).into(),
        Err(_) => [0; 16],
    }
}

pub fn md5_b64(bytes: &[u8; 16]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the archive holds for a stream: its rows (by RowKey), its segment blobs (name → size,
/// MD5), and the names of its other blobs (day manifests), the lock blob left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub rows: BTreeMap<String, SegmentRow>,
    pub blobs: BTreeMap<String, (u64, Option<String>)>,
    pub others: BTreeSet<String>,
    /// Blob names listed by the day manifests (`_days/*.json`).
    pub in_day_manifests: BTreeSet<String>,
}

impl Snapshot {
    pub fn row_for_file(&self, file: &str) -> Option<&SegmentRow> {
        self.rows.values().find(|r| r.file_name == file)
    }

    /// Differences from `other`, for a failure message.
    pub fn diff(&self, other: &Snapshot) -> String {
        let mut out = Vec::new();
        for (k, r) in &self.rows {
            match other.rows.get(k) {
                None => out.push(format!("row only here: {k} {}", r.file_name)),
                Some(o) if o != r => out.push(format!("row differs: {r:?}\n   vs {o:?}")),
                _ => {}
            }
        }
        for (k, r) in &other.rows {
            if !self.rows.contains_key(k) {
                out.push(format!("row only there: {k} {}", r.file_name));
            }
        }
        for (k, b) in &self.blobs {
            match other.blobs.get(k) {
                None => out.push(format!("blob only here: {k} {b:?}")),
                Some(o) if o != b => out.push(format!("blob differs: {k} {b:?} vs {o:?}")),
                _ => {}
            }
        }
        for k in other.blobs.keys() {
            if !self.blobs.contains_key(k) {
                out.push(format!("blob only there: {k}"));
            }
        }
        if self.others != other.others {
            out.push(format!(
                "other blobs: {:?} vs {:?}",
                self.others, other.others
            ));
        }
        out.join("\n")
    }

    /// Every row's blob is listed in a day manifest, and every listed blob has a row.
    pub fn day_manifests_agree(&self) -> Result<(), String> {
        let rows: BTreeSet<String> = self
            .rows
            .values()
            .filter_map(|r| r.blob_name.clone())
            .collect();
        if rows == self.in_day_manifests {
            Ok(())
        } else {
            Err(format!(
                "day manifests list {:?}; rows name {:?}",
                self.in_day_manifests.difference(&rows).collect::<Vec<_>>(),
                rows.difference(&self.in_day_manifests).collect::<Vec<_>>()
            ))
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn archive(conn: &str, stream: &str) -> AzureArchive {
    let target = StorageTarget::parse(conn).unwrap();
    let name = stream.to_lowercase();
    AzureArchive::new(&target, &name, "audios", &name, AzureOptions::default()).unwrap()
}

/// Another partition of `stream`'s table rows (`<stream>~gone`, …), in its container.
pub fn archive_partition(conn: &str, stream: &str, partition: &str) -> AzureArchive {
    let target = StorageTarget::parse(conn).unwrap();
    let name = stream.to_lowercase();
    AzureArchive::new(&target, &name, "audios", partition, AzureOptions::default()).unwrap()
}

/// Reads the archive of `stream` (container and partition = the lowercased name).
pub fn snapshot(conn: &str, stream: &str) -> Snapshot {
    runtime().block_on(async {
        let name = stream.to_lowercase();
        let rows = match archive(conn, stream).first_rows(100_000).await {
            Ok(rows) => rows,
            Err(e) if e.cause().contains("TableNotFound") => Vec::new(),
            // A row the job cannot read (a test put it there): read them raw.
            Err(e) if e.cause().contains("fileName") || e.cause().contains("RowKey") => {
                raw_rows(conn, &name).await
            }
            Err(e) => panic!("read the rows of {name}: {e}"),
        };
        let mut snap = Snapshot::default();
        for r in rows {
            assert!(
                snap.rows.insert(r.row_key.clone(), r.clone()).is_none(),
                "duplicate RowKey {}",
                r.row_key
            );
        }
        let container = container_client(conn, &name);
        let mut pages = container.list_blobs().into_stream();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if format!("{e:?}").contains("ContainerNotFound") => break,
                Err(e) => panic!("list the blobs of {name}: {e}"),
            };
            for b in page.blobs.blobs() {
                if b.name == LOCK_BLOB {
                    continue;
                }
                if !b.name.ends_with(".mp3") {
                    snap.others.insert(b.name.clone());
                    continue;
                }
                let md5 = b
                    .properties
                    .content_md5
                    .as_ref()
                    .map(|m| md5_b64(m.as_slice()));
                snap.blobs
                    .insert(b.name.clone(), (b.properties.content_length, md5));
            }
        }
        let manifests = snap
            .others
            .iter()
            .filter(|n| n.starts_with("_days/") && n.ends_with(".json"));
        for manifest in manifests {
            let bytes = container
                .blob_client(manifest)
                .get_content()
                .await
                .unwrap_or_else(|e| panic!("read {manifest}: {e}"));
            let day: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{manifest} is not JSON: {e}"));
            for seg in day["segments"].as_array().into_iter().flatten() {
                if let Some(b) = seg["blob"].as_str() {
                    snap.in_day_manifests.insert(b.to_owned());
                }
            }
        }
        snap
    })
}

/// The partition's rows read without the job's parser; a row without a string `fileName` gets
/// `<no fileName: …>` as its file name.
async fn raw_rows(conn: &str, partition: &str) -> Vec<SegmentRow> {
    use azure_data_tables::prelude::Filter;
    let target = StorageTarget::parse(conn).unwrap();
    let credentials = StorageCredentials::access_key(
        target.account.clone(),
        target.key().expect("an account key").expose().to_owned(),
    );
    let table = azure_data_tables::clients::TableServiceClientBuilder::with_location(
        azure_storage::CloudLocation::Custom {
            account: target.account.clone(),
            uri: target.table_endpoint.clone(),
        },
        credentials,
    )
    .build()
    .table_client("audios");
    let mut pages = table
        .query()
        .filter(Filter::new(format!(
            "PartitionKey eq '{}'",
            partition.replace('\'', "''")
        )))
        .into_stream::<serde_json::Map<String, Value>>();
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        for e in page.unwrap().entities {
            let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            rows.push(SegmentRow {
                row_key: text("RowKey").unwrap_or_default(),
                file_name: text("fileName")
                    .unwrap_or_else(|| format!("<no fileName: {:?}>", e.get("fileName"))),
                blob_name: text("blobName"),
                pod: text("pod"),
                content_md5: text("contentMd5"),
                ..Default::default()
            });
        }
    }
    rows
}

/// Every day manifest (`_days/*.json`) of `container`, by name, in name order.
pub async fn day_manifests(
    container: &azure_storage_blobs::prelude::ContainerClient,
) -> Vec<(String, Value)> {
    let mut names = Vec::new();
    let mut pages = container.list_blobs().prefix("_days/").into_stream();
    while let Some(page) = pages.next().await {
        for b in page.unwrap().blobs.blobs() {
            if b.name.ends_with(".json") {
                names.push(b.name.clone());
            }
        }
    }
    names.sort();
    let mut days = Vec::new();
    for name in names {
        let bytes = container.blob_client(&name).get_content().await.unwrap();
        let day =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        days.push((name, day));
    }
    days
}

pub fn container_client(
    conn: &str,
    container: &str,
) -> azure_storage_blobs::prelude::ContainerClient {
    use azure_storage::CloudLocation;
    let target = StorageTarget::parse(conn).unwrap();
    let credentials = StorageCredentials::access_key(
        target.account.clone(),
        target.key().expect("an account key").expose().to_owned(),
    );
    azure_storage_blobs::prelude::ClientBuilder::with_location(
        CloudLocation::Custom {
            account: target.account.clone(),
            uri: target.blob_endpoint.clone(),
        },
        credentials,
    )
    .container_client(container)
}

/// Breaks the stream's lock lease at once: what its expiry (60 s) does to the lease of a
/// killed run, without the wait. Returns whether a lease was held.
pub fn break_lock(conn: &str, stream: &str) -> bool {
    runtime().block_on(async {
        let blob = container_client(conn, &stream.to_lowercase()).blob_client(LOCK_BLOB);
        blob.break_lease()
            .lease_break_period(azure_core::request_options::LeaseBreakPeriod::from(
                Duration::ZERO,
            ))
            .into_future()
            .await
            .is_ok()
    })
}

/// Checks the repaired archive against the uninterrupted one. Rows both hold must be identical
/// but for the audio start (an estimate that may move with what a run could still see), every
/// row must have its blob, and nothing else may differ: an interrupted run and its repair
/// archive what one uninterrupted run does. Returns how far audio starts moved, in ms.
pub fn compare_archives(
    what: &str,
    got: &Snapshot,
    want: &Snapshot,
    logs: impl Fn() -> String,
) -> i64 {
    let fail = |why: String| -> ! {
        panic!(
            "{what}: {why}\n--- differences from the uninterrupted archive\n{}\n{}",
            got.diff(want),
            logs()
        )
    };
    let identity = |r: &SegmentRow| SegmentRow {
        audio_start_ms: None,
        ..r.clone()
    };
    let mut drift_ms = 0i64;
    for (key, row) in &got.rows {
        let blob = row.blob_name.as_ref().and_then(|b| got.blobs.get(b));
        if !blob.is_some_and(|b| {
            Some(b.0) == row.size && (row.content_md5.is_none() || b.1 == row.content_md5)
        }) {
            fail(format!("row {key} has no blob with its size and MD5"));
        }
        if let Some(w) = want.rows.get(key) {
            if identity(row) != identity(w) {
                fail(format!("row {key} differs:\n{row:?}\nvs {w:?}"));
            }
            if let (Some(a), Some(b)) = (row.audio_start_ms, w.audio_start_ms) {
                drift_ms = drift_ms.max((a - b).abs());
            }
        }
    }
    if got.blobs.len() != got.rows.len() {
        fail("blobs without rows".into());
    }
    if got.others != want.others {
        fail("other blobs differ".into());
    }
    let same_keys = got.rows.keys().eq(want.rows.keys());
    if !same_keys || got.blobs != want.blobs {
        fail("the repaired archive differs from an uninterrupted run's".into());
    }
    drift_ms
}

/// Checks that the local files left at the end are an uninterrupted run's.
pub fn compare_folders(what: &str, got: &[String], want: &[String]) {
    assert_eq!(got, want, "{what}: local files differ at the end");
}

// The seconds of `[lo, hi]` that spans leave uncovered: shared with the fixture tests.
pub use super::fixture;
pub use fixture::uncovered;

/// Checks every file of `before` missing from `after`: it held no bytes, or a row records it
/// and its blob holds exactly its bytes, or (with a manifest) the archived files' broadcast
/// spans cover its own, or (with `covered_by` from the plan) every file it rests on is
/// archived. Returns the names of the deleted files.
pub fn check_deletions(
    what: &str,
    before: &FolderState,
    after: &FolderState,
    snap: &Snapshot,
    manifest: Option<&Manifest>,
    covered_by: Option<&BTreeMap<String, Vec<String>>>,
) -> Result<BTreeSet<String>, String> {
    let archived_ok = |file: &str, size: Option<u64>, md5: Option<&[u8; 16]>| -> bool {
        let Some(row) = snap.row_for_file(file) else {
            return false;
        };
        let Some(blob) = row.blob_name.as_ref().and_then(|b| snap.blobs.get(b)) else {
            return false;
        };
        size.is_none_or(|s| blob.0 == s)
            && md5.is_none_or(|m| blob.1.as_deref().is_none_or(|b| b == md5_b64(m)))
    };
    let mut deleted = BTreeSet::new();
    let mut wrong = Vec::new();
    for (name, (size, md5)) in before {
        if after.contains_key(name) {
            continue;
        }
        deleted.insert(name.clone());
        if *size == 0 || archived_ok(name, Some(*size), Some(md5)) {
            continue;
        }
        if let (Some(m), Some((lo, hi))) = (manifest, manifest.and_then(|m| m.span(name))) {
            let spans: Vec<(f64, f64)> = snap
                .rows
                .values()
                .filter(|r| archived_ok(&r.file_name, None, None))
                .filter_map(|r| m.span(&r.file_name))
                .collect();
            let missing = uncovered(&spans, lo, hi);
            if missing <= 0.05 {
                continue;
            }
            wrong.push(format!(
                "{name} deleted with {missing:.3} s of its audio not archived"
            ));
            continue;
        }
        if let Some(covers) = covered_by.and_then(|c| c.get(name)) {
            if !covers.is_empty() && covers.iter().all(|c| archived_ok(c, None, None)) {
                continue;
            }
        }
        wrong.push(format!(
            "{name} ({size} bytes) deleted but neither archived nor proven covered"
        ));
    }
    if wrong.is_empty() {
        Ok(deleted)
    } else {
        Err(format!("{what}: wrong deletions:\n{}", wrong.join("\n")))
    }
}

/// xorshift64*, seeded: reproducible "random" instants.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// libfaketime's preload library, when installed (Debian: `apt-get install -y faketime`, whose
/// dependency `libfaketime` ships it): the usual places, then wherever `dpkg -L` says.
pub fn libfaketime() -> Option<PathBuf> {
    const PLACES: [&str; 6] = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/lib64/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/libfaketime.so.1",
    ];
    if let Some(p) = PLACES.into_iter().map(Path::new).find(|p| p.exists()) {
        return Some(p.to_owned());
    }
    let out = Command::new("dpkg")
        .args(["-L", "libfaketime"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Path::new(l.trim()))
        .find(|p| p.ends_with("libfaketime.so.1") && p.exists())
        .map(Path::to_owned)
}

/// Sets `cmd`'s clock as `faketime -f SPEC cmd` would, without the wrapper program: call it
/// after `env_clear`. The wrapper (libfaketime 0.9.10, `src/faketime.c`) sets `FAKETIME` to
/// the spec, appends the library to `LD_PRELOAD` (empty in the job's cleared environment) and
/// sets `FAKETIME_SHARED` to a semaphore and shared memory it creates as
/// `/dev/shm/sem.faketime_sem_<pid>` and `/dev/shm/faketime_shm_<pid>`, so that processes the
/// program starts share its clock's start. It removes them only if it is not killed, and a
/// later wrapper given the same PID then fails with `sem_open: File exists` (CI machines are
/// reused). The job starts no process, so without them its clock is the same: the offset or
/// start is the spec's, and a speed-up (`x20`) counts from the moment libfaketime loads in the
/// job, which is also what the shared start held (`ftpl_init` sets it in the first process). `FAKETIME_DONT_FAKE_MONOTONIC`
/// is left out as the wrapper leaves it without `--exclude-monotonic` (the monotonic clock is
/// faked too, so timeouts run sped up), and `FAKETIME_NO_CACHE` is not needed: `FAKETIME` never
/// changes while the job runs.
pub fn fake_clock<'a>(cmd: &'a mut Command, spec: &str) -> &'a mut Command {
    let lib = libfaketime().expect("libfaketime (apt-get install -y faketime)");
    cmd.env("LD_PRELOAD", lib).env("FAKETIME", spec)
}

/// `u64` from the environment, or the default.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}
