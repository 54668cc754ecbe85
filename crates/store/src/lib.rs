//! The one narrow storage interface the executor needs.
//!
//! Everything Azure-specific (the 0.21 SDK crates, connection strings, HTTP status codes) stays
//! behind [`Archive`], so a maintained client can replace those crates without touching the
//! planner or the executor.
//!
//! A crate of its own (like object_store), so the job and any other tool that reads or writes
//! the archive use the same trait and backends; it depends on nothing of segment-selector's.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::File;

use async_trait::async_trait;

/// The table row is the archive model's ([`archive_model::SegmentRow`]): one owner of the schema.
pub use archive_model::blob::{BlobInfo, PutMode};
pub use archive_model::SegmentRow;
pub use sign::{SignedUrls, Signer};

pub mod auth;
pub mod azure;
pub mod clock;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod connection;
#[cfg(any(test, feature = "testing"))]
pub mod differential;
mod error;
#[cfg(any(test, feature = "testing"))]
pub mod faulty;
pub mod identity;
pub mod local;
pub mod md5pair;
pub mod memory;
pub mod refusal;
pub mod rules;
mod sign;
pub(crate) mod tls;
pub mod transport;

pub use error::{ErrorKind, StoreError, StoreResult};

/// The result of [`Archive::put_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The blob now holds exactly the bytes read from the file: `md5` is theirs (the header's
    /// and the range's), checked against the service's; `range_md5` the range's alone (the
    /// bytes after the header), hashed in the same pass over the same attempt's bytes.
    Written {
        size: u64,
        md5: [u8; 16],
        range_md5: [u8; 16],
    },
    /// `CreateOnly` found a blob already there; its properties are returned so the caller can
    /// compare them with the local file.
    AlreadyExists(BlobInfo),
}

/// Reads up to `want` bytes of `file` from byte `at` into `buffer` (cleared first; fewer bytes
/// only at the file's end), on the blocking pool, at explicit offsets: the handle's position
/// is neither used nor moved. What the backends read an uploaded file with.
pub(crate) async fn read_file_at(
    file: &std::sync::Arc<File>,
    mut buffer: Vec<u8>,
    at: u64,
    want: usize,
) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let file = std::sync::Arc::clone(file);
    tokio::task::spawn_blocking(move || {
        buffer.clear();
        buffer.resize(want, 0);
        let mut got = 0;
        while got < want {
            match file.read_at(&mut buffer[got..], at + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buffer.truncate(got);
        Ok(buffer)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The result of [`Archive::insert_row`].
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    Inserted,
    /// A row with the same RowKey exists; it is returned so the caller can tell a repeat of its
    /// own insert from a collision.
    AlreadyExists(Box<SegmentRow>),
}

/// An exclusive claim on the stream, held for the length of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: String,
}

/// What a reader of the archive needs: its rows and blobs, read only. `ls`, `export`,
/// `playlist`, `report` and the metrics exporter take this side alone, so a tool that reads an
/// archive can be handed a backend (or a wrapper) that cannot change it.
#[async_trait]
pub trait ArchiveRead: Send + Sync {
    /// Properties of a blob, or `None` when it does not exist.
    async fn blob_info(&self, blob_name: &str) -> StoreResult<Option<BlobInfo>>;

    /// Bytes `start..start + len` of a blob (fewer where the blob ends sooner): what export and
    /// the join points read, a range at a time, so memory stays bounded whatever the blob's
    /// size. A missing blob is an error that names it.
    async fn read_blob_range(&self, blob_name: &str, start: u64, len: u64) -> StoreResult<Vec<u8>>;

    /// Rows of the stream's partition whose RowKey lies in `from..=to` (lexicographic), in
    /// RowKey order.
    async fn rows_in_range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>>;

    /// The first `limit` rows of the stream's partition in RowKey order (the newest ones, since
    /// RowKeys are inverted times).
    async fn first_rows(&self, limit: usize) -> StoreResult<Vec<SegmentRow>>;
}

/// The operations the executor needs, and nothing more: [`ArchiveRead`]'s and the writes.
///
/// The required methods are the primitives a backend implements; what derives from them
/// (`put_file`, `put_file_inspected`) is provided, so a backend or a wrapper writes the upload
/// once, as [`Archive::put_file_range_inspected`].
#[async_trait]
pub trait Archive: ArchiveRead {
    /// Create the container and the table if missing. Idempotent; safe when another run
    /// creates them at the same time.
    async fn ensure_ready(&self) -> StoreResult<()>;

    /// Stream the open `file`, from its first byte to its end, into block blob `blob_name`
    /// with bounded memory, `Content-Type: audio/mpeg`, per-block MD5 checked by the service,
    /// the whole file's MD5 as the blob's Content-MD5, and `metadata`.
    ///
    /// The file is a handle, never a path: the executor passes the recording it opened and
    /// checked (the job's `share::Recording`), so what is uploaded is what was measured, and
    /// nothing in the shared folder is resolved again. Backends read it at explicit offsets
    /// (`read_at`), whatever its position, and may duplicate the handle (`try_clone`) for the
    /// length of the call.
    async fn put_file(
        &self,
        blob_name: &str,
        file: &File,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
    ) -> StoreResult<PutOutcome> {
        self.put_file_inspected(blob_name, file, metadata, mode, &mut |_| {})
            .await
    }

    /// [`Archive::put_file`], showing every byte read, in order, to `inspect`: the executor
    /// counts frames in the same pass as the upload, so an archived file is read once.
    ///
    /// Provided: [`Archive::put_file_range_inspected`] with no head and the whole file
    /// (`0..u64::MAX`).
    async fn put_file_inspected(
        &self,
        blob_name: &str,
        file: &File,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        self.put_file_range_inspected(blob_name, &[], file, 0..u64::MAX, metadata, mode, inspect)
            .await
    }

    /// A blob assembled from `head` (a generated header frame, or nothing) followed by bytes
    /// `range` of the open `file`: a frame-exact blob, or with no head and `0..u64::MAX` the
    /// whole file ([`Archive::put_file_inspected`]). Bounded memory, the blob's MD5 as its
    /// Content-MD5, `Written` giving the blob's size and MD5; `inspect` sees every byte of the
    /// blob, `head` first. A file shorter than `range` gives a shorter blob, which
    /// `Written::size` shows; a range that ends at `u64::MAX` reads to the file's end. The
    /// file is read as [`Archive::put_file`] says (a handle, at explicit offsets).
    ///
    /// The one upload every backend writes; the whole-file forms above are provided.
    #[allow(clippy::too_many_arguments)] // put_file_inspected's, plus the parts
    async fn put_file_range_inspected(
        &self,
        blob_name: &str,
        head: &[u8],
        file: &File,
        range: std::ops::Range<u64>,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome>;

    /// Write a small blob (a day's manifest) from memory, replacing any previous version.
    async fn put_small(
        &self,
        blob_name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<()>;

    /// Replace a blob's metadata (its in/out points or audio start changed after upload).
    async fn set_blob_metadata(
        &self,
        blob_name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()>;

    /// Insert a row into the stream's partition without overwriting.
    async fn insert_row(&self, row: &SegmentRow) -> StoreResult<InsertOutcome>;

    /// Insert a row, or replace the row with the same RowKey (a file that grew after it was
    /// archived: the row must describe the blob's new bytes).
    async fn replace_row(&self, row: &SegmentRow) -> StoreResult<()>;

    /// Delete the row with this RowKey from the stream's partition. Idempotent: a row that is
    /// not there is already deleted, so a retried or repeated delete is `Ok`.
    async fn delete_row(&self, row_key: &str) -> StoreResult<()>;

    /// Take the stream's lock for `ttl_seconds` (15..=60), or `None` when another run holds it.
    async fn try_lock(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>>;

    /// Extend a held lock; fails when it was lost.
    async fn renew_lock(&self, lock: &Lock) -> StoreResult<()>;

    /// Release a held lock.
    async fn release_lock(&self, lock: &Lock) -> StoreResult<()>;
}
