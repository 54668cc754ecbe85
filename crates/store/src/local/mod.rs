//! [`LocalArchive`]: the [`Archive`] contract on a local directory, for demos, tests and
//! on-premises users without Azure.
//!
//! ```text
//! <root>/blobs/<blob name>         the blob's bytes ("26-11-2026/pod-a_….mp3")
//! <root>/props/<blob name>.json    its content type, MD5 and metadata
//! <root>/tables/<partition>.json   the partition's rows, a JSON object by RowKey
//! <root>/locks/lease.<n>           generation n of the stream's lock
//! <root>/tmp/                      files being written, renamed into place when complete
//! ```
//!
//! Every file appears whole or not at all (written aside, then renamed or hard-linked), so a
//! run killed at any point leaves what a killed Azure run leaves. A create-only put is a hard
//! link, which fails when the name exists: atomic, even between processes. A blob whose
//! properties were never written (killed between the two) reads as its bytes' MD5 and no
//! metadata.
//!
//! The lock is a lease with generations: taking it creates `lease.<n+1>` exclusively, so of
//! two runs that find generation n expired or released, one wins. It stays exclusive as long
//! as its holder renews it before it expires (the job renews a 15-s lease every 5 s).
//!
//! Rows are read, changed and written back whole, under a lock shared by the archives of one
//! process; other processes must hold the stream's lock to write, as the job does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

mod blobs;
mod lease;

use super::clock::LeaseClock;
use super::rules::{check_key, check_metadata, check_row};
use super::{
    Archive, ArchiveRead, BlobInfo, ErrorKind, InsertOutcome, Lock, PutMode, PutOutcome,
    SegmentRow, StoreError, StoreResult,
};

/// One stream's archive in a directory.
#[derive(Debug, Clone)]
pub struct LocalArchive {
    root: PathBuf,
    partition: String,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    clock: LeaseClock,
    // Serializes read-modify-write of table files within the process.
    tables: tokio::sync::Mutex<()>,
    written: Mutex<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Props {
    content_type: String,
    /// Base64, as Content-MD5.
    md5: String,
    metadata: BTreeMap<String, String>,
}

impl LocalArchive {
    /// The archive in `root` (created on [`Archive::ensure_ready`]) with its rows in
    /// `partition`.
    pub fn new(root: impl Into<PathBuf>, partition: &str) -> Result<Self, StoreError> {
        let invalid = |cause: String| {
            StoreError::new(ErrorKind::Invalid, "configure the local archive", cause)
        };
        check_key("partition", partition).map_err(invalid)?;
        if partition.is_empty() || partition.starts_with('.') {
            return Err(invalid(format!(
                "partition {partition:?} cannot name a file (expected a name not starting with '.')"
            )));
        }
        Ok(Self {
            root: root.into(),
            partition: partition.to_owned(),
            shared: Arc::default(),
        })
    }

    /// The same directory, clock and table lock, with rows in `partition`.
    pub fn partition(&self, partition: &str) -> Result<Self, StoreError> {
        let mut other = Self::new(&self.root, partition)?;
        other.shared = Arc::clone(&self.shared);
        Ok(other)
    }

    /// Moves the lease clock forward, so leases expire without waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    fn blob_path(&self, operation: &str, blob_name: &str) -> StoreResult<(PathBuf, PathBuf)> {
        // Checked by hand: `Path::components` would quietly read "a//b" and "a/./b" as "a/b".
        let plain = blob_name
            .split('/')
            .all(|part| !matches!(part, "" | "." | "..") && !part.contains(['\\', '\0']));
        if !plain {
            return Err(permanent(
                ErrorKind::Invalid,
                operation,
                format!("blob name {blob_name:?} is not a relative path of plain names"),
            ));
        }
        let props = self.root.join("props").join(format!("{blob_name}.json"));
        Ok((self.root.join("blobs").join(blob_name), props))
    }

    fn table_path(&self) -> PathBuf {
        self.root
            .join("tables")
            .join(format!("{}.json", self.partition))
    }

    pub(super) fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// A fresh name in `tmp/`, unique within the process and across processes.
    pub(super) fn temp_path(&self) -> PathBuf {
        let n = {
            let mut written = self
                .shared
                .written
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *written += 1;
            *written
        };
        let ms = now_ms(&self.shared.clock);
        self.root
            .join("tmp")
            .join(format!("{}-{ms}-{n}", std::process::id()))
    }

    /// Writes `bytes` aside, then renames them over `path`.
    pub(super) async fn write_whole(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let temp = self.temp_path();
        tokio::fs::write(&temp, bytes).await?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&temp, path).await
    }

    async fn read_rows(&self, operation: &str) -> StoreResult<BTreeMap<String, SegmentRow>> {
        let path = self.table_path();
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                permanent(
                    ErrorKind::Io,
                    operation,
                    format!("{} is not a table file: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_error(operation, &path, &e)),
        }
    }

    async fn write_rows(
        &self,
        operation: &str,
        rows: &BTreeMap<String, SegmentRow>,
    ) -> StoreResult<()> {
        let path = self.table_path();
        let bytes = serde_json::to_vec_pretty(rows).map_err(|e| {
            permanent(
                ErrorKind::Other,
                operation,
                format!("cannot encode the rows: {e}"),
            )
        })?;
        self.write_whole(&path, &bytes)
            .await
            .map_err(|e| io_error(operation, &path, &e))
    }

    /// Changes the partition's rows under the table lock.
    async fn change_rows<T>(
        &self,
        operation: &str,
        change: impl FnOnce(&mut BTreeMap<String, SegmentRow>) -> (bool, T),
    ) -> StoreResult<T> {
        let _guard = self.shared.tables.lock().await;
        let mut rows = self.read_rows(operation).await?;
        let (changed, answer) = change(&mut rows);
        if changed {
            self.write_rows(operation, &rows).await?;
        }
        Ok(answer)
    }
}

pub(super) fn permanent(kind: ErrorKind, operation: &str, cause: String) -> StoreError {
    StoreError::new(kind, operation, cause)
}

pub(super) fn io_error(operation: &str, path: &Path, error: &std::io::Error) -> StoreError {
    use std::io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
    StoreError::new(
        ErrorKind::Io,
        operation,
        format!("{}: {error}", path.display()),
    )
    .with_transient(matches!(error.kind(), Interrupted | TimedOut | WouldBlock))
}

pub(super) fn now_ms(clock: &LeaseClock) -> u64 {
    let since = clock.now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl ArchiveRead for LocalArchive {
    async fn blob_info(&self, blob_name: &str) -> StoreResult<Option<BlobInfo>> {
        self.info(&format!("read properties of blob {blob_name}"), blob_name)
            .await
    }

    async fn read_blob_range(&self, blob_name: &str, start: u64, len: u64) -> StoreResult<Vec<u8>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let operation = format!("read bytes {start}+{len} of blob {blob_name}");
        let (blob, _) = self.blob_path(&operation, blob_name)?;
        let mut file = tokio::fs::File::open(&blob)
            .await
            .map_err(|e| io_error(&operation, &blob, &e))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| io_error(&operation, &blob, &e))?;
        let mut bytes = Vec::new();
        file.take(len)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| io_error(&operation, &blob, &e))?;
        Ok(bytes)
    }

    async fn rows_in_range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>> {
        let operation = format!("read rows {from}..={to} of partition {}", self.partition);
        for bound in [from, to] {
            check_key("RowKey bound", bound)
                .map_err(|cause| permanent(ErrorKind::Invalid, &operation, cause))?;
        }
        let rows = self.read_rows(&operation).await?;
        Ok(rows
            .into_iter()
            .filter(|(key, _)| (from..=to).contains(&key.as_str()))
            .map(|(_, row)| row)
            .collect())
    }

    async fn first_rows(&self, limit: usize) -> StoreResult<Vec<SegmentRow>> {
        let operation = format!(
            "read the first {limit} rows of partition {}",
            self.partition
        );
        let rows = self.read_rows(&operation).await?;
        Ok(rows.into_values().take(limit).collect())
    }
}

#[async_trait]
impl Archive for LocalArchive {
    async fn ensure_ready(&self) -> StoreResult<()> {
        for dir in ["blobs", "props", "tables", "locks", "tmp"] {
            let path = self.root.join(dir);
            tokio::fs::create_dir_all(&path)
                .await
                .map_err(|e| io_error("create the local archive", &path, &e))?;
        }
        Ok(())
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
        self.put_assembled(blob_name, head, file, range, metadata, mode, inspect)
            .await
    }

    async fn put_small(
        &self,
        blob_name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<()> {
        let operation = format!("write blob {blob_name}");
        let operation = operation.as_str();
        let (blob, props) = self.blob_path(operation, blob_name)?;
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        self.write_whole(&blob, &bytes)
            .await
            .map_err(|e| io_error(operation, &blob, &e))?;
        // Like Put Blob, a new version starts without metadata.
        self.write_props(operation, &props, content_type, &md5, &BTreeMap::new())
            .await
    }

    async fn set_blob_metadata(
        &self,
        blob_name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let operation = format!("set metadata of blob {blob_name}");
        let operation = operation.as_str();
        check_metadata(metadata)
            .map_err(|cause| permanent(ErrorKind::Invalid, operation, cause))?;
        let (_, props) = self.blob_path(operation, blob_name)?;
        let Some(info) = self.info(operation, blob_name).await? else {
            return Err(permanent(
                ErrorKind::NotFound,
                operation,
                "no such blob".to_owned(),
            ));
        };
        let content_type = match tokio::fs::read(&props).await {
            Ok(bytes) => serde_json::from_slice::<Props>(&bytes)
                .map(|p| p.content_type)
                .unwrap_or_else(|_| "audio/mpeg".to_owned()),
            Err(_) => "audio/mpeg".to_owned(),
        };
        let md5 = info.md5.unwrap_or_default();
        self.write_props(operation, &props, &content_type, &md5, metadata)
            .await
    }

    async fn insert_row(&self, row: &SegmentRow) -> StoreResult<InsertOutcome> {
        let operation = format!(
            "insert row {} into partition {}",
            row.row_key, self.partition
        );
        check_row(row).map_err(|cause| permanent(ErrorKind::Invalid, &operation, cause))?;
        self.change_rows(&operation, |rows| match rows.get(&row.row_key) {
            Some(existing) => (
                false,
                InsertOutcome::AlreadyExists(Box::new(existing.clone())),
            ),
            None => {
                rows.insert(row.row_key.clone(), row.clone());
                (true, InsertOutcome::Inserted)
            }
        })
        .await
    }

    async fn replace_row(&self, row: &SegmentRow) -> StoreResult<()> {
        let operation = format!(
            "replace row {} in partition {}",
            row.row_key, self.partition
        );
        check_row(row).map_err(|cause| permanent(ErrorKind::Invalid, &operation, cause))?;
        self.change_rows(&operation, |rows| {
            rows.insert(row.row_key.clone(), row.clone());
            (true, ())
        })
        .await
    }

    async fn delete_row(&self, row_key: &str) -> StoreResult<()> {
        let operation = format!("delete row {row_key} from partition {}", self.partition);
        check_key("RowKey", row_key)
            .map_err(|cause| permanent(ErrorKind::Invalid, &operation, cause))?;
        self.change_rows(&operation, |rows| (rows.remove(row_key).is_some(), ()))
            .await
    }

    async fn try_lock(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        self.acquire(ttl_seconds).await
    }

    async fn renew_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.renew(lock).await
    }

    async fn release_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.release(lock).await
    }
}

#[cfg(test)]
mod tests;
