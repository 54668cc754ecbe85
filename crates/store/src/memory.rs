//! [`InMemoryArchive`]: the [`Archive`] contract kept in memory, for tests that need no
//! service (the idea of object_store's `InMemory`).
//!
//! It follows the Azure backend where the contract leaves room: the same input rules
//! ([`super::rules`]), create-only puts that answer with the existing blob's properties,
//! Content-MD5 kept for every blob, RowKeys in lexicographic order, and a lease that expires
//! `ttl` after it was taken or renewed, can be renewed after expiry until someone else takes
//! it, and is measured on a [`LeaseClock`] that tests advance instead of sleeping.
//!
//! ```
//! # tokio_test_block_on(async {
//! use store::memory::InMemoryArchive;
//! use store::Archive;
//!
//! let archive = InMemoryArchive::new("hope");
//! let lock = archive.try_lock(15).await.unwrap().expect("nobody holds it");
//! assert!(archive.try_lock(15).await.unwrap().is_none());
//! archive.advance_clock(std::time::Duration::from_secs(16));
//! assert!(archive.try_lock(15).await.unwrap().is_some(), "the first lease expired");
//! assert!(archive.release_lock(&lock).await.is_err(), "and was taken over");
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use md5::{Digest, Md5};

use super::clock::LeaseClock;
use super::rules::{check_key, check_lock_ttl, check_metadata, check_row};
use super::{
    Archive, ArchiveRead, BlobInfo, ErrorKind, InsertOutcome, Lock, PutMode, PutOutcome,
    SegmentRow, StoreError, StoreResult,
};

/// Bytes shown to `inspect` at a time, as a block upload would.
const INSPECT_CHUNK: usize = 64 * 1024;

/// One stream's archive held in memory. Clones, and archives from [`InMemoryArchive::partition`],
/// share the same blobs, table and lock.
#[derive(Debug, Clone)]
pub struct InMemoryArchive {
    shared: Arc<Shared>,
    partition: String,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    clock: LeaseClock,
}

/// What the archive holds, comparable: two runs that should leave the same archive leave
/// equal snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Blobs by name.
    pub blobs: BTreeMap<String, StoredBlob>,
    /// Rows by partition, then by RowKey.
    pub partitions: BTreeMap<String, BTreeMap<String, SegmentRow>>,
}

/// A blob as the in-memory archive keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub md5: [u8; 16],
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    archive: Snapshot,
    lease: Option<Lease>,
    leases_taken: u64,
}

#[derive(Debug)]
struct Lease {
    id: String,
    ttl: Duration,
    expires: SystemTime,
}

impl InMemoryArchive {
    /// An empty archive whose rows go to `partition`.
    pub fn new(partition: &str) -> Self {
        Self {
            shared: Arc::default(),
            partition: partition.to_owned(),
        }
    }

    /// The same archive (blobs, table, lock), reading and writing rows in `partition`.
    pub fn partition(&self, partition: &str) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            partition: partition.to_owned(),
        }
    }

    /// Moves the lease clock forward, so leases expire without waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Everything the archive holds, every partition included.
    pub fn snapshot(&self) -> Snapshot {
        self.state().archive.clone()
    }

    /// One blob's bytes and properties.
    pub fn blob(&self, name: &str) -> Option<StoredBlob> {
        self.state().archive.blobs.get(name).cloned()
    }

    /// Stores `bytes` as a blob, shown to `inspect` in chunks as an upload reads them.
    fn put_bytes(
        &self,
        blob_name: &str,
        bytes: Vec<u8>,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        for chunk in bytes.chunks(INSPECT_CHUNK) {
            inspect(chunk);
        }
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        let size = bytes.len() as u64;
        let mut state = self.state();
        let blobs = &mut state.archive.blobs;
        if mode == PutMode::CreateOnly {
            if let Some(existing) = blobs.get(blob_name) {
                return Ok(PutOutcome::AlreadyExists(info(existing)));
            }
        }
        let blob = StoredBlob {
            bytes,
            content_type: "audio/mpeg".to_owned(),
            md5,
            metadata: metadata.clone(),
        };
        blobs.insert(blob_name.to_owned(), blob);
        Ok(PutOutcome::Written {
            size,
            md5,
            range_md5: md5,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data: every change
        // below is a single insert or remove.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rows<'s>(state: &'s mut State, partition: &str) -> &'s mut BTreeMap<String, SegmentRow> {
        state
            .archive
            .partitions
            .entry(partition.to_owned())
            .or_default()
    }

    fn fail(&self, kind: ErrorKind, operation: String, cause: String) -> StoreError {
        StoreError::new(kind, operation, cause)
    }
}

fn info(blob: &StoredBlob) -> BlobInfo {
    BlobInfo {
        size: blob.bytes.len() as u64,
        md5: Some(blob.md5),
        metadata: blob.metadata.clone(),
    }
}

#[async_trait]
impl ArchiveRead for InMemoryArchive {
    async fn blob_info(&self, blob_name: &str) -> StoreResult<Option<BlobInfo>> {
        Ok(self.state().archive.blobs.get(blob_name).map(info))
    }

    async fn read_blob_range(&self, blob_name: &str, start: u64, len: u64) -> StoreResult<Vec<u8>> {
        let operation = format!("read bytes {start}+{len} of blob {blob_name}");
        match self.state().archive.blobs.get(blob_name) {
            Some(blob) => Ok(super::rules::byte_range(&blob.bytes, start, len).to_vec()),
            None => Err(self.fail(ErrorKind::NotFound, operation, "no such blob".to_owned())),
        }
    }

    async fn rows_in_range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>> {
        let operation = format!("read rows {from}..={to} of partition {}", self.partition);
        for bound in [from, to] {
            check_key("RowKey bound", bound)
                .map_err(|cause| self.fail(ErrorKind::Invalid, operation.clone(), cause))?;
        }
        if from > to {
            // An empty range, as the service's filter gives; `BTreeMap::range` would panic.
            return Ok(Vec::new());
        }
        let mut state = self.state();
        let rows = Self::rows(&mut state, &self.partition);
        Ok(rows
            .range::<str, _>((
                std::ops::Bound::Included(from),
                std::ops::Bound::Included(to),
            ))
            .map(|(_, row)| row.clone())
            .collect())
    }

    async fn first_rows(&self, limit: usize) -> StoreResult<Vec<SegmentRow>> {
        let mut state = self.state();
        let rows = Self::rows(&mut state, &self.partition);
        Ok(rows.values().take(limit).cloned().collect())
    }
}

#[async_trait]
impl Archive for InMemoryArchive {
    async fn ensure_ready(&self) -> StoreResult<()> {
        // Always ready: there is no container or table to create.
        Ok(())
    }

    async fn put_file_range_inspected(
        &self,
        blob_name: &str,
        head: &[u8],
        file: &File,
        range: std::ops::Range<u64>,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        let operation = format!("upload to blob {blob_name}");
        check_metadata(metadata)
            .map_err(|cause| self.fail(ErrorKind::Invalid, operation.clone(), cause))?;
        let unread = |e: std::io::Error| {
            self.fail(
                ErrorKind::Io,
                operation.clone(),
                format!("cannot read the file: {e}"),
            )
        };
        let file = std::sync::Arc::new(file.try_clone().map_err(unread)?);
        let mut bytes = head.to_vec();
        let mut at = range.start;
        while at < range.end {
            let want = (range.end - at).min(INSPECT_CHUNK as u64) as usize;
            let chunk = super::read_file_at(&file, Vec::new(), at, want)
                .await
                .map_err(unread)?;
            if chunk.is_empty() {
                break;
            }
            at += chunk.len() as u64;
            bytes.extend_from_slice(&chunk);
        }
        let range_md5: [u8; 16] = Md5::digest(&bytes[head.len()..]).into();
        self.put_bytes(blob_name, bytes, metadata, mode, inspect)
            .map(|outcome| match outcome {
                PutOutcome::Written { size, md5, .. } => PutOutcome::Written {
                    size,
                    md5,
                    range_md5,
                },
                other => other,
            })
    }

    async fn put_small(
        &self,
        blob_name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<()> {
        // Like Put Blob, a new version starts without metadata.
        let blob = StoredBlob {
            md5: Md5::digest(&bytes).into(),
            bytes,
            content_type: content_type.to_owned(),
            metadata: BTreeMap::new(),
        };
        self.state()
            .archive
            .blobs
            .insert(blob_name.to_owned(), blob);
        Ok(())
    }

    async fn set_blob_metadata(
        &self,
        blob_name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let operation = format!("set metadata of blob {blob_name}");
        check_metadata(metadata)
            .map_err(|cause| self.fail(ErrorKind::Invalid, operation.clone(), cause))?;
        match self.state().archive.blobs.get_mut(blob_name) {
            Some(blob) => {
                blob.metadata = metadata.clone();
                Ok(())
            }
            None => Err(self.fail(ErrorKind::NotFound, operation, "no such blob".to_owned())),
        }
    }

    async fn insert_row(&self, row: &SegmentRow) -> StoreResult<InsertOutcome> {
        let operation = format!(
            "insert row {} into partition {}",
            row.row_key, self.partition
        );
        check_row(row).map_err(|cause| self.fail(ErrorKind::Invalid, operation, cause))?;
        let mut state = self.state();
        let rows = Self::rows(&mut state, &self.partition);
        if let Some(existing) = rows.get(&row.row_key) {
            return Ok(InsertOutcome::AlreadyExists(Box::new(existing.clone())));
        }
        rows.insert(row.row_key.clone(), row.clone());
        Ok(InsertOutcome::Inserted)
    }

    async fn replace_row(&self, row: &SegmentRow) -> StoreResult<()> {
        let operation = format!(
            "replace row {} in partition {}",
            row.row_key, self.partition
        );
        check_row(row).map_err(|cause| self.fail(ErrorKind::Invalid, operation, cause))?;
        let mut state = self.state();
        Self::rows(&mut state, &self.partition).insert(row.row_key.clone(), row.clone());
        Ok(())
    }

    async fn delete_row(&self, row_key: &str) -> StoreResult<()> {
        let operation = format!("delete row {row_key} from partition {}", self.partition);
        check_key("RowKey", row_key)
            .map_err(|cause| self.fail(ErrorKind::Invalid, operation, cause))?;
        let mut state = self.state();
        Self::rows(&mut state, &self.partition).remove(row_key);
        Ok(())
    }

    async fn try_lock(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        check_lock_ttl(ttl_seconds).map_err(|cause| {
            self.fail(
                ErrorKind::Invalid,
                "take the stream's lock".to_owned(),
                cause,
            )
        })?;
        let now = self.shared.clock.now();
        let mut state = self.state();
        if state.lease.as_ref().is_some_and(|l| l.expires > now) {
            return Ok(None);
        }
        state.leases_taken += 1;
        // Shaped like the lease ids Azure hands out, so code that parses them keeps working.
        let id = format!("00000000-0000-4000-8000-{:012x}", state.leases_taken);
        let ttl = Duration::from_secs(ttl_seconds.into());
        state.lease = Some(Lease {
            id: id.clone(),
            ttl,
            expires: now + ttl,
        });
        Ok(Some(Lock { id }))
    }

    async fn renew_lock(&self, lock: &Lock) -> StoreResult<()> {
        let now = self.shared.clock.now();
        match self.state().lease.as_mut() {
            // Like a blob lease: renewable after it expired, as long as nobody took it since.
            Some(lease) if lease.id == lock.id => {
                lease.expires = now + lease.ttl;
                Ok(())
            }
            _ => Err(self.fail(
                ErrorKind::Conflict,
                "renew the stream's lock".to_owned(),
                "the lock is no longer held by this lease (released, or taken by another run)"
                    .to_owned(),
            )),
        }
    }

    async fn release_lock(&self, lock: &Lock) -> StoreResult<()> {
        let mut state = self.state();
        match &state.lease {
            Some(lease) if lease.id == lock.id => {
                state.lease = None;
                Ok(())
            }
            _ => Err(self.fail(
                ErrorKind::Conflict,
                "release the stream's lock".to_owned(),
                "the lock is no longer held by this lease (released, or taken by another run)"
                    .to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_expires_on_the_clock_and_is_renewable_until_taken() {
        let archive = InMemoryArchive::new("hope");
        let lock = archive.try_lock(15).await.unwrap().unwrap();
        archive.advance_clock(Duration::from_secs(14));
        assert_eq!(archive.try_lock(15).await.unwrap(), None, "14 s of 15");
        archive.advance_clock(Duration::from_secs(2));
        // Expired, but nobody took it: the holder can still renew, as with a blob lease.
        archive.renew_lock(&lock).await.unwrap();
        assert_eq!(archive.try_lock(15).await.unwrap(), None, "renewed");
        archive.advance_clock(Duration::from_secs(16));
        let other = archive.try_lock(15).await.unwrap().expect("expired");
        assert!(archive.renew_lock(&lock).await.is_err());
        assert!(archive.release_lock(&lock).await.is_err());
        archive.release_lock(&other).await.unwrap();
    }

    #[tokio::test]
    async fn partitions_share_blobs_and_the_lock_but_not_rows() {
        let archive = InMemoryArchive::new("hope");
        let gone = archive.partition("hopegone");
        let row = SegmentRow {
            row_key: "1".into(),
            file_name: "a.mp3".into(),
            ..SegmentRow::default()
        };
        gone.insert_row(&row).await.unwrap();
        assert!(archive.first_rows(10).await.unwrap().is_empty());
        assert_eq!(
            gone.first_rows(10).await.unwrap(),
            std::slice::from_ref(&row)
        );
        archive
            .put_small("_days/x.json", b"{}".to_vec(), "application/json")
            .await
            .unwrap();
        assert!(gone.blob_info("_days/x.json").await.unwrap().is_some());
        let _lock = archive.try_lock(15).await.unwrap().unwrap();
        assert_eq!(gone.try_lock(15).await.unwrap(), None);

        let snapshot = archive.snapshot();
        assert_eq!(snapshot.partitions["hopegone"]["1"], row);
        assert_eq!(
            archive.blob("_days/x.json").unwrap().content_type,
            "application/json"
        );
    }

    #[tokio::test]
    async fn an_unreadable_handle_is_a_named_permanent_error() {
        let archive = InMemoryArchive::new("hope");
        let dir = tempfile::tempdir().unwrap();
        // Open for writing only: every read of it fails.
        let file = File::create(dir.path().join("a.mp3")).unwrap();
        let err = archive
            .put_file("b.mp3", &file, &BTreeMap::new(), PutMode::CreateOnly)
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("b.mp3"), "{err}");
        assert!(archive.blob("b.mp3").is_none());
    }
}
