//! The blobs of a [`LocalArchive`]: a blob's properties (its MD5, content type and metadata,
//! beside it as JSON) and a blob assembled from a header and a byte range of an open file,
//! written aside, hashed as it is copied, then hard-linked into place (create-only: fails
//! when the name exists) or renamed over it (overwrite).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use super::{io_error, permanent, LocalArchive, Props};
use crate::rules::check_metadata;
use crate::{BlobInfo, ErrorKind, PutMode, PutOutcome, StoreError, StoreResult};

/// Bytes read, hashed and shown to `inspect` at a time.
const CHUNK: usize = 256 * 1024;

impl LocalArchive {
    pub(super) async fn info(
        &self,
        operation: &str,
        blob_name: &str,
    ) -> StoreResult<Option<BlobInfo>> {
        let (blob, props) = self.blob_path(operation, blob_name)?;
        let size = match tokio::fs::metadata(&blob).await {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(operation, &blob, &e)),
        };
        let props = match tokio::fs::read(&props).await {
            Ok(bytes) => serde_json::from_slice::<Props>(&bytes).ok(),
            Err(_) => None,
        };
        let decoded = props.as_ref().and_then(|p| {
            let md5 = base64::engine::general_purpose::STANDARD
                .decode(&p.md5)
                .ok()?;
            <[u8; 16]>::try_from(md5).ok()
        });
        let md5 = match decoded {
            Some(md5) => md5,
            // Killed between the blob and its properties: the bytes are complete anyway.
            None => {
                let bytes = tokio::fs::read(&blob)
                    .await
                    .map_err(|e| io_error(operation, &blob, &e))?;
                Md5::digest(&bytes).into()
            }
        };
        Ok(Some(BlobInfo {
            size,
            md5: Some(md5),
            metadata: props.map(|p| p.metadata).unwrap_or_default(),
        }))
    }

    pub(super) async fn write_props(
        &self,
        operation: &str,
        path: &Path,
        content_type: &str,
        md5: &[u8; 16],
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let props = Props {
            content_type: content_type.to_owned(),
            md5: base64::engine::general_purpose::STANDARD.encode(md5),
            metadata: metadata.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&props).map_err(|e| {
            permanent(
                ErrorKind::Other,
                operation,
                format!("cannot encode the properties: {e}"),
            )
        })?;
        self.write_whole(path, &bytes)
            .await
            .map_err(|e| io_error(operation, path, &e))
    }

    /// `head`, then bytes `range` of the open `file` (to its end as it is now), as a blob.
    #[allow(clippy::too_many_arguments)] // the trait's arguments, plus the parts
    pub(super) async fn put_assembled(
        &self,
        blob_name: &str,
        head: &[u8],
        file: &std::fs::File,
        range: std::ops::Range<u64>,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        let operation = format!("upload to blob {blob_name}");
        let operation = operation.as_str();
        check_metadata(metadata)
            .map_err(|cause| permanent(ErrorKind::Invalid, operation, cause))?;
        let (blob, props) = self.blob_path(operation, blob_name)?;
        let file = Arc::new(file.try_clone().map_err(|e| {
            permanent(
                ErrorKind::Io,
                operation,
                format!("cannot read the file: {e}"),
            )
        })?);
        let temp = self.temp_path();
        let mut copy = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| io_error(operation, &temp, &e))?;
        // The blob's MD5 and the range's, side by side.
        let mut whole = crate::md5pair::Md5Pair::new();
        let mut size = 0u64;
        if !head.is_empty() {
            inspect(head);
            whole.update(head, &[]);
            size += head.len() as u64;
            copy.write_all(head)
                .await
                .map_err(|e| io_error(operation, &temp, &e))?;
        }
        let mut at = range.start;
        let mut buffer = Vec::with_capacity(CHUNK);
        while at < range.end {
            // A read up to the end as it is now: a writer may still append, but the blob
            // must hold exactly what was hashed.
            let want = (range.end - at).min(CHUNK as u64) as usize;
            buffer = crate::read_file_at(&file, buffer, at, want)
                .await
                .map_err(|e| {
                    permanent(
                        ErrorKind::Io,
                        operation,
                        format!("cannot read the file: {e}"),
                    )
                })?;
            if buffer.is_empty() {
                break;
            }
            at += buffer.len() as u64;
            let data = &buffer[..];
            inspect(data);
            whole.update(data, data);
            size += data.len() as u64;
            copy.write_all(data)
                .await
                .map_err(|e| io_error(operation, &temp, &e))?;
        }
        copy.sync_all()
            .await
            .map_err(|e| io_error(operation, &temp, &e))?;
        drop(copy);
        let (md5, range_md5) = whole.finalize();
        if let Some(parent) = blob.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_error(operation, parent, &e))?;
        }
        let placed = match mode {
            PutMode::CreateOnly => tokio::fs::hard_link(&temp, &blob).await,
            PutMode::Overwrite => tokio::fs::rename(&temp, &blob).await,
        };
        // Gone already after a rename; after a link, the blob keeps the bytes.
        let _ = tokio::fs::remove_file(&temp).await;
        match placed {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return match self.info(operation, blob_name).await? {
                    Some(info) => Ok(PutOutcome::AlreadyExists(info)),
                    None => Err(StoreError::new(
                        ErrorKind::Conflict,
                        operation,
                        "the put found a blob that then vanished",
                    )
                    .with_transient(true)),
                };
            }
            Err(e) => return Err(io_error(operation, &blob, &e)),
        }
        self.write_props(operation, &props, "audio/mpeg", &md5, metadata)
            .await?;
        Ok(PutOutcome::Written {
            size,
            md5,
            range_md5,
        })
    }
}
