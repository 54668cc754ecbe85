//! What a recorder (or anything else that can write the share) does to the folder while a run
//! works on it: the real run ([`crate::run::run`]) over a copy of fixture `steady` and an
//! [`InMemoryArchive`], behind [`Meddling`], which changes the folder just before the first
//! upload or row of the run reaches the archive. A recording swapped for a link, the folder
//! swapped for a link, and files that grow before their upload, during it, or between it and
//! their deletion: nothing outside the folder is read, and nothing that changed is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::{symlink, FileTypeExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::run::{run, Partitions};
use crate::testkit::{files, fixture_dir, folder, memory_partitions, paused_runtime, settings};
use store::memory::{InMemoryArchive, Snapshot};
use store::{
    Archive, ArchiveRead, BlobInfo, InsertOutcome, Lock, PutMode, PutOutcome, SegmentRow,
    StoreResult,
};

/// The call the meddler acts before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// The run's first `put_file*` (an upload, its recording already open).
    Put,
    /// The run's first row of an upload (after its blob, before any deletion resting on it).
    InsertRow,
}

type Action = Box<dyn FnOnce(&str) + Send>;

/// The stream's partition, with an action run once, before the first call of kind `before`
/// reaches it, given the name of the file that call is about.
struct Meddling {
    inner: InMemoryArchive,
    before: Before,
    action: Mutex<Option<Action>>,
}

impl Meddling {
    fn meddle(&self, call: Before, file: &str) {
        if call != self.before {
            return;
        }
        let action = self.action.lock().unwrap().take();
        if let Some(action) = action {
            action(file);
        }
    }
}

/// The recording a blob holds: the blob name's last part (`DD-MM-YYYY/<file>`).
fn file_of(blob: &str) -> &str {
    blob.rsplit('/').next().unwrap_or(blob)
}

#[async_trait]
impl ArchiveRead for Meddling {
    async fn blob_info(&self, blob: &str) -> StoreResult<Option<BlobInfo>> {
        self.inner.blob_info(blob).await
    }

    async fn read_blob_range(&self, blob: &str, start: u64, len: u64) -> StoreResult<Vec<u8>> {
        self.inner.read_blob_range(blob, start, len).await
    }

    async fn rows_in_range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>> {
        self.inner.rows_in_range(from, to).await
    }

    async fn first_rows(&self, limit: usize) -> StoreResult<Vec<SegmentRow>> {
        self.inner.first_rows(limit).await
    }
}

#[async_trait]
impl Archive for Meddling {
    async fn ensure_ready(&self) -> StoreResult<()> {
        self.inner.ensure_ready().await
    }
    async fn put_file_range_inspected(
        &self,
        blob_name: &str,
        head: &[u8],
        file: &std::fs::File,
        range: std::ops::Range<u64>,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        self.meddle(Before::Put, file_of(blob_name));
        self.inner
            .put_file_range_inspected(blob_name, head, file, range, metadata, mode, inspect)
            .await
    }
    async fn put_small(&self, blob: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<()> {
        self.inner.put_small(blob, bytes, content_type).await
    }
    async fn set_blob_metadata(
        &self,
        blob: &str,
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        self.inner.set_blob_metadata(blob, metadata).await
    }
    async fn insert_row(&self, row: &SegmentRow) -> StoreResult<InsertOutcome> {
        self.meddle(Before::InsertRow, &row.file_name);
        self.inner.insert_row(row).await
    }
    async fn replace_row(&self, row: &SegmentRow) -> StoreResult<()> {
        self.inner.replace_row(row).await
    }
    async fn delete_row(&self, row_key: &str) -> StoreResult<()> {
        self.inner.delete_row(row_key).await
    }
    async fn try_lock(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        self.inner.try_lock(ttl_seconds).await
    }
    async fn renew_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.inner.renew_lock(lock).await
    }
    async fn release_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.inner.release_lock(lock).await
    }
}

/// One run over `folder` with `action` before the first `before` call; the archive and what
/// the run returned.
fn run_meddled(
    folder: &Path,
    before: Before,
    action: impl FnOnce(&str) + Send + 'static,
) -> (Snapshot, Result<(), crate::error::Error>) {
    let archive = InMemoryArchive::new("hope");
    let partitions = memory_partitions(&archive);
    let main = Meddling {
        inner: partitions.archive.clone(),
        before,
        action: Mutex::new(Some(Box::new(action))),
    };
    let parts = Partitions {
        archive: &main,
        ..partitions.parts()
    };
    let runtime = paused_runtime();
    let outcome = runtime.block_on(run(&parts, &settings(folder), false));
    assert!(
        main.action.lock().unwrap().is_none(),
        "the run made no {before:?} call: nothing was meddled with"
    );
    (archive.snapshot(), outcome)
}

/// What one uninterrupted run over `steady` leaves: the archive and the folder's names.
fn reference() -> &'static (Snapshot, BTreeSet<String>) {
    static REFERENCE: std::sync::OnceLock<(Snapshot, BTreeSet<String>)> =
        std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = folder("steady");
        let (snapshot, outcome) = run_meddled(dir.path(), Before::Put, |_| {});
        outcome.expect("an uninterrupted run");
        (snapshot, files(dir.path()))
    })
}

/// Files of `steady` an uninterrupted first run deletes.
fn deleted_by_reference() -> BTreeSet<String> {
    let all = files(folder("steady").path());
    all.difference(&reference().1).cloned().collect()
}

/// Bytes that are nowhere in `steady`: a recording of another fixture, outside the folder.
fn outside_recording(dir: &Path) -> (PathBuf, Vec<u8>) {
    let src = fixture_dir("dead-air").join("ffmpeg-deployment-7c9f8d-abcde_20261202T001151.mp3");
    let bytes = std::fs::read(src).expect("the dead-air fixture");
    let path = dir.join("elsewhere.mp3");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// No blob holds any of `secret` (a 4-KiB window from its middle stands for it).
fn assert_nowhere_in(snapshot: &Snapshot, secret: &[u8]) {
    let window = &secret[secret.len() / 2..secret.len() / 2 + 4096];
    for (name, blob) in &snapshot.blobs {
        assert!(
            !blob.bytes.windows(window.len()).any(|w| w == window),
            "blob {name} holds bytes from outside the folder"
        );
    }
}

/// The recordings (non-empty `.mp3` files) in `folder` but `except`.
fn recordings(folder: &Path, except: &str) -> Vec<String> {
    files(folder)
        .into_iter()
        .filter(|f| f.ends_with(".mp3") && f != except)
        .filter(|f| std::fs::metadata(folder.join(f)).is_ok_and(|m| m.len() > 0))
        .collect()
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn recordings_swapped_for_links_mid_run_are_never_read_or_deleted() {
    let dir = folder("steady");
    let outside = tempfile::tempdir().unwrap();
    let (target, secret) = outside_recording(outside.path());
    // A FIFO with a recording's name and an old time: skipped, without blocking the run.
    let fifo = dir
        .path()
        .join("ffmpeg-deployment-7c9f8d-zzzzz_20261126T151400.mp3");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let old = filetime::FileTime::from_system_time(
        std::time::SystemTime::now() - Duration::from_secs(3600),
    );
    filetime::set_symlink_file_times(&fifo, old, old).unwrap();

    let swapped = Arc::new(Mutex::new(Vec::new()));
    let (folder_path, record) = (dir.path().to_owned(), Arc::clone(&swapped));
    let started = Instant::now();
    let (snapshot, outcome) = run_meddled(dir.path(), Before::Put, move |current| {
        // Every other recording becomes a link to a recording outside the folder.
        for name in recordings(&folder_path, current) {
            let path = folder_path.join(&name);
            std::fs::remove_file(&path).unwrap();
            symlink(&target, &path).unwrap();
            record.lock().unwrap().push(name);
        }
    });
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the run was not held up"
    );
    let swapped = swapped.lock().unwrap().clone();
    assert!(swapped.len() > 5, "{swapped:?}");
    let err = outcome.expect_err("a link where a recording was is an error");
    assert!(
        matches!(err, crate::error::Error::OperationsFailed { .. })
            && err.to_string().contains("operations failed"),
        "{err}"
    );
    assert_nowhere_in(&snapshot, &secret);
    for name in &swapped {
        let meta = std::fs::symlink_metadata(dir.path().join(name)).unwrap();
        assert!(meta.is_symlink(), "{name}: the link is kept, never deleted");
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::read(outside.path().join("elsewhere.mp3")).unwrap(),
        secret
    );
    // Some of them an uninterrupted run deletes.
    let deleted = deleted_by_reference();
    assert!(swapped.iter().any(|f| deleted.contains(f)), "{deleted:?}");
}

#[test]
fn the_folder_swapped_for_a_link_mid_run_leaves_what_an_uninterrupted_run_leaves() {
    let dir = folder("steady");
    let outside = tempfile::tempdir().unwrap();
    let (_, secret) = outside_recording(outside.path());
    let hope = dir.path().join("hope");
    std::fs::create_dir(&hope).unwrap();
    for name in files(dir.path()) {
        if name.ends_with(".mp3") {
            std::fs::rename(dir.path().join(&name), hope.join(&name)).unwrap();
        }
    }
    let moved = dir.path().join("hope.moved");
    // The other folder: the same names, other bytes.
    let other = outside.path().join("other");
    std::fs::create_dir(&other).unwrap();
    for name in files(&hope) {
        std::fs::write(other.join(&name), &secret).unwrap();
    }
    let names = files(&hope);
    let (from, to, link_to) = (hope.clone(), moved.clone(), other.clone());
    let (snapshot, outcome) = run_meddled(&hope, Before::Put, move |_| {
        std::fs::rename(&from, &to).unwrap();
        symlink(&link_to, &from).unwrap();
    });
    outcome.expect("the run goes on in the folder it opened");
    let (reference, left) = reference();
    assert!(
        snapshot == *reference,
        "the archive differs from an uninterrupted run's"
    );
    assert_eq!(files(&moved), *left, "deleted in the folder the run opened");
    assert_nowhere_in(&snapshot, &secret);
    assert_eq!(files(&other), names, "nothing deleted in the other folder");
    for name in files(&other) {
        assert_eq!(std::fs::read(other.join(&name)).unwrap(), secret, "{name}");
    }
}

#[test]
fn recordings_that_grow_before_their_upload_are_kept() {
    let dir = folder("steady");
    let grown = Arc::new(Mutex::new(BTreeMap::new()));
    let (folder_path, record) = (dir.path().to_owned(), Arc::clone(&grown));
    let (snapshot, outcome) = run_meddled(dir.path(), Before::Put, move |current| {
        for name in recordings(&folder_path, current) {
            let path = folder_path.join(&name);
            append(&path, &[0xff; 1000]);
            let size = std::fs::metadata(&path).unwrap().len();
            record.lock().unwrap().insert(name, size);
        }
    });
    // Not an error: a file written to is left for the next run.
    outcome.expect("changed files are kept without an error");
    let grown = grown.lock().unwrap().clone();
    assert!(grown.len() > 5, "{grown:?}");
    let rows: BTreeSet<&str> = snapshot.partitions["hope"]
        .values()
        .map(|r| r.file_name.as_str())
        .collect();
    for (name, size) in &grown {
        let now = std::fs::metadata(dir.path().join(name)).map(|m| m.len());
        assert_eq!(now.ok(), Some(*size), "{name} is kept as it grew");
        assert!(
            !rows.contains(name.as_str()),
            "{name} was archived as measured"
        );
    }
    let deleted = deleted_by_reference();
    assert!(grown.keys().any(|f| deleted.contains(f)), "{deleted:?}");
}

#[test]
fn a_recording_that_grows_during_its_upload_is_not_recorded_and_nothing_rests_on_it() {
    let dir = folder("steady");
    let target = Arc::new(Mutex::new(String::new()));
    let (folder_path, record) = (dir.path().to_owned(), Arc::clone(&target));
    let (snapshot, outcome) = run_meddled(dir.path(), Before::Put, move |current| {
        // Its handle is open; the bytes appended now are past what was measured.
        append(&folder_path.join(current), &[0xff; 1000]);
        *record.lock().unwrap() = current.to_owned();
    });
    let target = target.lock().unwrap().clone();
    let err = outcome.expect_err("an upload that read other bytes than measured fails");
    assert!(
        matches!(err, crate::error::Error::OperationsFailed { .. })
            && err.to_string().contains("operations failed"),
        "{err}"
    );
    assert!(dir.path().join(&target).exists(), "{target} is kept");
    let archived: BTreeSet<&str> = snapshot.partitions["hope"]
        .values()
        .filter(|r| {
            r.blob_name
                .as_ref()
                .is_some_and(|b| snapshot.blobs.contains_key(b))
        })
        .map(|r| r.file_name.as_str())
        .collect();
    assert!(!archived.contains(target.as_str()), "{target} has no row");
    // Whatever the uninterrupted run archives is archived here too, or still in the folder.
    let kept = files(dir.path());
    for row in reference().0.partitions["hope"].values() {
        let file = row.file_name.as_str();
        assert!(
            archived.contains(file) || kept.contains(file),
            "{file} deleted unarchived"
        );
    }
}

#[test]
fn duplicates_that_grow_between_the_upload_they_rest_on_and_their_deletion_are_kept() {
    let dir = folder("steady");
    let grown = Arc::new(Mutex::new(BTreeMap::new()));
    let (folder_path, record) = (dir.path().to_owned(), Arc::clone(&grown));
    let (snapshot, outcome) = run_meddled(dir.path(), Before::InsertRow, move |_| {
        // The first upload's blob is in; its row goes in now, and then the deletions resting
        // on it. The recordings an uninterrupted run deletes grow first.
        for name in deleted_by_reference() {
            let path = folder_path.join(&name);
            let Ok(size) = std::fs::metadata(&path).map(|m| m.len()) else {
                continue; // an empty file, deleted already (it rests on no upload)
            };
            append(&path, &[0xff; 1000]);
            record.lock().unwrap().insert(name, size + 1000);
        }
    });
    outcome.expect("a changed file is kept without an error");
    let grown = grown.lock().unwrap().clone();
    assert!(grown.len() >= 5, "{grown:?}");
    for (name, size) in &grown {
        let now = std::fs::metadata(dir.path().join(name)).map(|m| m.len());
        assert_eq!(now.ok(), Some(*size), "{name} is kept as it grew");
    }
    // The uploads themselves went on.
    assert_eq!(
        snapshot.partitions["hope"].len(),
        reference().0.partitions["hope"].len()
    );
}
