//! A blob in one Put Blob request, streamed from its parts while it is hashed and inspected:
//! one read, one request, constant memory. Checked against the MD5 the service computes.
//!
//! Put Blob of a block blob stores the MD5 the service computed over the body as the blob's
//! Content-MD5 and returns it in the response's `Content-MD5` (Azure since version 2012-02-12,
//! whether or not the request carried one; Azurite likewise). Ours is known only once the
//! body is sent, so the request carries none and the answer is compared instead: a
//! difference means the service stored other bytes than we read, and the upload fails
//! (transiently). The blob is then not trusted: no row points to it, and the next run's
//! create-only upload meets it, compares its MD5 with the file's and replaces it, as for any
//! blob left without a row.

use std::collections::BTreeMap;

use azure_core::request_options::IfMatchCondition;
use azure_core::Body;
use futures::StreamExt as _;

use super::blob::to_metadata;
use super::body::{self, Part, PartsBody};
use super::errors::store_error;
use super::upload::refused_as_existing;
use super::AzureArchive;
use crate::{ErrorKind, PutMode, PutOutcome, StoreError, StoreResult};

/// Files up to this size go up in one Put Blob by default (above: blocks). The service takes
/// up to 5000 MiB in one Put Blob; the bound here is the per-attempt timeout: a request must
/// finish within `request_timeout` (30 s), and 32 MiB does so from 1.1 MB/s up, while it
/// takes every recording of up to 30 min at 128 kb/s (28.8 MB) or 10 min at 320 kb/s in one
/// request. A failed attempt resends at most this much.
pub const SINGLE_PUT_LIMIT: u64 = 32 * 1024 * 1024;

impl AzureArchive {
    /// Files of up to `bytes` go up in one Put Blob request instead of blocks (0: always
    /// blocks, the default of [`AzureArchive::new`]).
    pub fn with_single_put_limit(mut self, bytes: u64) -> Self {
        self.single_put_limit = bytes;
        self
    }

    /// Writes block blob `blob_name` from `parts` (bytes, byte ranges of files) in one Put Blob
    /// request, streamed with constant memory, showing every byte once, in order, to
    /// `inspect`. Checked against the MD5 the service computed; `PutMode::CreateOnly` refuses
    /// an existing blob (`AlreadyExists` with its properties). For blobs assembled from
    /// several sources (frame-exact blobs: a generated header, then ranges of recordings).
    pub async fn put_parts(
        &self,
        blob_name: &str,
        parts: Vec<Part>,
        content_type: &str,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        let operation = format!("upload {}", self.blob_label(blob_name));
        self.put_single(
            &operation,
            blob_name,
            parts,
            content_type,
            metadata,
            mode,
            inspect,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)] // the trait's arguments, plus what names the call
    pub(super) async fn put_single(
        &self,
        operation: &str,
        blob_name: &str,
        parts: Vec<Part>,
        content_type: &str,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        let fail = |kind: ErrorKind, cause: String, transient: bool| {
            StoreError::new(kind, operation, cause).with_transient(transient)
        };
        let metadata =
            to_metadata(metadata).map_err(|cause| fail(ErrorKind::Invalid, cause, false))?;
        let sources = tokio::task::spawn_blocking(move || body::open(parts))
            .await
            .map_err(|e| fail(ErrorKind::Io, format!("opening the files: {e}"), false))?
            .map_err(|cause| fail(ErrorKind::Io, cause, false))?;
        let (body, mut inspected) = PartsBody::new(sources);
        let size = body.size();

        let mut put = self
            .blob(blob_name)
            .put_block_blob(Body::SeekableStream(Box::new(body.clone())))
            .content_type(content_type.to_owned())
            .metadata(metadata);
        if mode == PutMode::CreateOnly {
            put = put.if_match(IfMatchCondition::NotMatch("*".to_owned()));
        }
        let mut put = std::pin::pin!(self.within(put.into_future()));
        // The request runs on the HTTP client's task; the bytes it reads arrive here for the
        // inspector while it runs. Every byte the service acknowledged was queued before it
        // was sent, so what is left in the queue after the answer is the end of the body.
        let answer = loop {
            tokio::select! {
                Some(chunk) = inspected.next() => inspect(&chunk),
                answer = &mut put => break answer,
            }
        };
        while let Ok(chunk) = inspected.try_recv() {
            inspect(&chunk);
        }
        match answer {
            Ok(response) => {
                let Some((md5, range_md5)) = body.md5() else {
                    return Err(fail(
                        ErrorKind::Other,
                        "the service answered before the whole body was sent".to_owned(),
                        true,
                    ));
                };
                let stored = match response.content_md5 {
                    Some(theirs) => Some(*theirs.as_slice()),
                    None => self.properties(blob_name).await?.and_then(|info| info.md5),
                };
                match stored {
                    Some(stored) if stored == md5 => Ok(PutOutcome::Written {
                        size,
                        md5,
                        range_md5,
                    }),
                    Some(stored) => Err(fail(
                        ErrorKind::Other,
                        format!(
                            "the service stored bytes whose MD5 is {}, the {size} bytes read hash to {}: the blob is not trusted",
                            hex(&stored),
                            hex(&md5)
                        ),
                        true,
                    )),
                    None => Err(fail(
                        ErrorKind::Other,
                        "the service returned no MD5 to check the blob against".to_owned(),
                        true,
                    )),
                }
            }
            Err(e) if refused_as_existing(mode, &e) => {
                let vanished = fail(
                    ErrorKind::Conflict,
                    "the upload found a blob that then vanished".to_owned(),
                    true,
                );
                self.found_existing(blob_name, vanished).await
            }
            Err(e) => Err(store_error(operation, &e)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
