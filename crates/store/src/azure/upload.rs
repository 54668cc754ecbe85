//! Streaming a file into a block blob: blocks read, hashed and sent with bounded memory,
//! then committed in one conditional Put Block List. Files up to the single-put limit go up
//! in one Put Blob instead (`single.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azure_core::headers::{Headers, CONTENT_MD5};
use azure_core::request_options::IfMatchCondition;
use azure_core::{Context, CustomHeaders};
use azure_storage_blobs::prelude::{BlobBlockType, BlobClient, BlobContentMD5, BlockId, BlockList};
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};

use super::blob::to_metadata;
use super::body::Part;
use super::errors::{status_of, store_error};
use super::{within, AzureArchive};
use crate::{read_file_at, ErrorKind, PutMode, PutOutcome, StoreError, StoreResult};

pub(super) const MAX_BLOCKS: usize = 50_000;
pub(super) const MAX_BLOCK_SIZE: usize = 100 * 1024 * 1024;

/// Blocks in flight across all uploads of an archive, and their buffers, kept for the next
/// blocks: freed and allocated again, 2-MiB buffers end up spread over the allocator's
/// per-thread arenas, and the memory they leave behind there stays resident.
pub(super) struct BlockBudget {
    permits: Arc<tokio::sync::Semaphore>,
    spare: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl BlockBudget {
    pub(super) fn buffer(&self, block_size: usize) -> Vec<u8> {
        let spare = self.spare.lock().map(|mut s| s.pop()).unwrap_or_default();
        spare.unwrap_or_else(|| Vec::with_capacity(block_size))
    }

    pub(super) fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(buffer);
        }
    }
}

impl AzureArchive {
    /// Caps the blocks in flight across all uploads of this archive (each file still sends at
    /// most `upload_concurrency`), so several files at a time cost no more memory than
    /// `blocks × block_size`: a file waiting for its commit or row leaves the budget to the
    /// next file instead of leaving the connection idle.
    pub fn with_block_budget(mut self, blocks: usize) -> Self {
        self.block_budget = Some(Arc::new(BlockBudget {
            permits: Arc::new(tokio::sync::Semaphore::new(blocks.max(1))),
            spare: std::sync::Mutex::new(Vec::new()),
        }));
        self
    }

    /// Uploads `head`, then bytes `range` of the open `file` (a range ending at `u64::MAX`: to
    /// the file's end, whose size then decides): in one Put Blob up to the single-put limit,
    /// in blocks above it. The file is read at explicit offsets, from a duplicate of the
    /// handle held for the call.
    #[allow(clippy::too_many_arguments)] // the trait's arguments, plus the blob's parts
    pub(super) async fn upload(
        &self,
        blob_name: &str,
        head: &[u8],
        file: &std::fs::File,
        range: std::ops::Range<u64>,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        let operation = format!("upload {}", self.blob_label(blob_name));
        let fail = |kind: ErrorKind, cause: String, transient: bool| {
            StoreError::new(kind, &operation, cause).with_transient(transient)
        };
        let file = Arc::new(
            file.try_clone()
                .map_err(|e| fail(ErrorKind::Io, format!("cannot read the file: {e}"), false))?,
        );
        // `None`: to the file's end.
        let (start, len) = (
            range.start,
            (range.end != u64::MAX).then(|| range.end.saturating_sub(range.start)),
        );
        if self.single_put_limit > 0 {
            let len = match len {
                Some(len) => len,
                None => file
                    .metadata()
                    .map_err(|e| {
                        fail(
                            ErrorKind::Io,
                            format!("cannot read the file's size: {e}"),
                            false,
                        )
                    })?
                    .len()
                    .saturating_sub(start),
            };
            if head.len() as u64 + len <= self.single_put_limit {
                let mut parts = Vec::with_capacity(2);
                if !head.is_empty() {
                    parts.push(Part::Bytes(bytes::Bytes::copy_from_slice(head)));
                }
                parts.push(Part::File { file, start, len });
                return self
                    .put_single(
                        &operation,
                        blob_name,
                        parts,
                        "audio/mpeg",
                        metadata,
                        mode,
                        inspect,
                    )
                    .await;
            }
        }
        let metadata =
            to_metadata(metadata).map_err(|cause| fail(ErrorKind::Invalid, cause, false))?;
        // No look before a create-only upload: the conditional commit refuses an existing blob
        // anyway, and a blob already there is rare (a run stopped between blob and row), while
        // the look would cost every upload a round trip.

        let blob = self.blob(blob_name);
        let block_size = self.options.block_size;
        // Where the next block starts in the file.
        let mut at = start;
        // Bytes of the file still to read (`u64::MAX`: to its end).
        let mut left = len.unwrap_or(u64::MAX);
        // The blob's MD5 and the range's, side by side.
        let mut whole = crate::md5pair::Md5Pair::new();
        let mut size = 0u64;
        let mut ids: Vec<Option<BlockId>> = Vec::new();
        if !head.is_empty() {
            // The generated header is a block of its own, before the file's.
            inspect(head);
            whole.update(head, &[]);
            size += head.len() as u64;
            let (put, _) =
                put_block(blob.clone(), 0, head.to_vec(), self.options.call_deadline()).await;
            let (_, id) = put.map_err(|e| store_error(&operation, &e))?;
            ids.push(Some(id));
        }
        // Dropping the set (an early return) aborts the blocks still in flight.
        let mut in_flight = tokio::task::JoinSet::new();
        let finished =
            |joined: Result<azure_core::Result<(usize, BlockId)>, tokio::task::JoinError>,
             ids: &mut Vec<Option<BlockId>>| {
                let (index, id) = joined
                    .map_err(|e| fail(ErrorKind::Other, format!("block upload task: {e}"), false))?
                    .map_err(|e| store_error(&operation, &e))?;
                ids[index] = Some(id);
                Ok::<(), StoreError>(())
            };
        loop {
            let permit = match &self.block_budget {
                Some(budget) => Some(
                    Arc::clone(&budget.permits)
                        .acquire_owned()
                        .await
                        .map_err(|e| fail(ErrorKind::Other, format!("block budget: {e}"), false))?,
                ),
                None => None,
            };
            let buffer = match &self.block_budget {
                Some(budget) => budget.buffer(block_size),
                None => Vec::with_capacity(block_size),
            };
            let want = block_size.min(usize::try_from(left).unwrap_or(usize::MAX));
            let data = read_file_at(&file, buffer, at, want)
                .await
                .map_err(|e| fail(ErrorKind::Io, format!("cannot read the file: {e}"), false))?;
            if data.is_empty() {
                break;
            }
            at += data.len() as u64;
            left = left.saturating_sub(data.len() as u64);
            if ids.len() == MAX_BLOCKS {
                return Err(fail(
                    ErrorKind::Invalid,
                    format!("the file needs more than {MAX_BLOCKS} blocks of {block_size} bytes"),
                    false,
                ));
            }
            let short = data.len() < block_size || left == 0;
            inspect(&data);
            whole.update(&data, &data);
            size += data.len() as u64;
            let upload = put_block(blob.clone(), ids.len(), data, self.options.call_deadline());
            let budget = self.block_budget.clone();
            in_flight.spawn(async move {
                // Held until the block's buffer is back, or freed with its request.
                let _permit = permit;
                let (result, buffer) = upload.await;
                if let (Some(budget), Some(buffer)) = (budget, buffer) {
                    budget.give_back(buffer);
                }
                result
            });
            ids.push(None);
            if in_flight.len() >= self.options.upload_concurrency {
                if let Some(joined) = in_flight.join_next().await {
                    finished(joined, &mut ids)?;
                }
            }
            // A short read is the end of the file as it is now; a writer may still append,
            // but the blob must hold exactly what was hashed.
            if short {
                break;
            }
        }
        while let Some(joined) = in_flight.join_next().await {
            finished(joined, &mut ids)?;
        }
        let blocks: Vec<_> = ids
            .into_iter()
            .map(|id| BlobBlockType::new_uncommitted(id.expect("every block finished")))
            .collect();
        let (md5, range_md5) = whole.finalize();

        let mut commit = blob
            .put_block_list(BlockList { blocks })
            .content_type("audio/mpeg")
            .content_md5(BlobContentMD5(md5))
            .metadata(metadata);
        if mode == PutMode::CreateOnly {
            commit = commit.if_match(IfMatchCondition::NotMatch("*".to_owned()));
        }
        match self.within(commit.into_future()).await {
            Ok(_) => Ok(PutOutcome::Written {
                size,
                md5,
                range_md5,
            }),
            Err(e) if refused_as_existing(mode, &e) => {
                let vanished = fail(
                    ErrorKind::Conflict,
                    "the commit found a blob that then vanished".to_owned(),
                    true,
                );
                self.found_existing(blob_name, vanished).await
            }
            Err(e) => Err(store_error(&operation, &e)),
        }
    }
}

/// Hashes one block and sends it. A task of its own, so hashing runs on whichever worker is
/// free while the file's own task reads, counts frames and hashes the whole file. The buffer
/// comes back unless the request still holds it.
pub(super) async fn put_block(
    blob: BlobClient,
    index: usize,
    data: Vec<u8>,
    deadline: Duration,
) -> (azure_core::Result<(usize, BlockId)>, Option<Vec<u8>>) {
    let md5: [u8; 16] = Md5::digest(&data).into();
    let id = block_id(index, &md5);
    // The service checks the body against this transactional MD5 and rejects a mismatch.
    let mut headers = Headers::new();
    headers.insert(
        CONTENT_MD5,
        base64::engine::general_purpose::STANDARD.encode(md5),
    );
    let mut context = Context::new();
    context.insert(CustomHeaders::from(headers));
    let body = Bytes::from(data);
    let put = blob
        .put_block(id.clone(), body.clone())
        .context(context)
        .into_future();
    let result = within(deadline, put).await.map(|_| (index, id));
    (result, body.try_into_mut().ok().map(Vec::from))
}

/// Same for every upload of the same bytes at the same position, so a retried or repeated
/// upload replaces its own uncommitted blocks; the content hash keeps a concurrent upload of
/// different bytes from mixing its blocks into ours. Every id has the same length, as the
/// service requires.
pub(super) fn block_id(index: usize, md5: &[u8; 16]) -> BlockId {
    let hex: String = md5.iter().map(|b| format!("{b:02x}")).collect();
    BlockId::new(Bytes::from(format!("{index:08}-{hex}")))
}

/// A create-only write the service refused because the blob exists: 409 BlobAlreadyExists, or
/// 412 from `If-None-Match: *`. Both upload paths (blocks, one Put Blob) answer it alike.
pub(super) fn refused_as_existing(mode: PutMode, e: &azure_core::Error) -> bool {
    mode == PutMode::CreateOnly
        && matches!(
            status_of(e),
            Some((409, Some("BlobAlreadyExists")) | (412, _))
        )
}

impl AzureArchive {
    /// The blob a refused create-only write found, for the caller to compare with its file;
    /// `vanished` when it is gone again by the time its properties are read.
    pub(super) async fn found_existing(
        &self,
        blob_name: &str,
        vanished: StoreError,
    ) -> StoreResult<PutOutcome> {
        match self.properties(blob_name).await? {
            Some(info) => Ok(PutOutcome::AlreadyExists(info)),
            None => Err(vanished),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_are_deterministic_and_equal_length() {
        let a = block_id(0, &[0; 16]);
        assert_eq!(a, block_id(0, &[0; 16]));
        assert_ne!(a, block_id(1, &[0; 16]));
        assert_ne!(a, block_id(0, &[1; 16]));
        assert_eq!(
            a.as_ref().len(),
            block_id(49_999, &[255; 16]).as_ref().len()
        );
    }
}
