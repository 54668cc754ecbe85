//! Small blobs from memory, blob metadata and blob properties.

use std::collections::BTreeMap;

use azure_core::request_options::Metadata;
use bytes::Bytes;
use futures::StreamExt;
use md5::{Digest, Md5};

use super::errors::{status_of, store_error};
use super::AzureArchive;
use crate::rules::check_metadata;
use crate::{BlobInfo, ErrorKind, StoreError, StoreResult};

impl AzureArchive {
    pub(super) async fn write_small(
        &self,
        blob_name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<()> {
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        let put = self
            .blob(blob_name)
            .put_block_blob(Bytes::from(bytes))
            .content_type(content_type.to_owned())
            .hash(md5);
        self.within(put.into_future())
            .await
            .map(|_| ())
            .map_err(|e| store_error(format!("write {}", self.blob_label(blob_name)), &e))
    }

    pub(super) async fn write_metadata(
        &self,
        blob_name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let operation = format!("set metadata of {}", self.blob_label(blob_name));
        let metadata = to_metadata(metadata)
            .map_err(|cause| StoreError::new(ErrorKind::Invalid, &operation, cause))?;
        let set = self.blob(blob_name).set_metadata().metadata(metadata);
        self.within(set.into_future())
            .await
            .map(|_| ())
            .map_err(|e| store_error(&operation, &e))
    }

    pub(super) async fn properties(&self, blob_name: &str) -> StoreResult<Option<BlobInfo>> {
        match self
            .within(self.blob(blob_name).get_properties().into_future())
            .await
        {
            Ok(response) => {
                let blob = response.blob;
                Ok(Some(BlobInfo {
                    size: blob.properties.content_length,
                    md5: blob.properties.content_md5.map(|md5| *md5.as_slice()),
                    metadata: blob.metadata.unwrap_or_default().into_iter().collect(),
                }))
            }
            Err(e) if matches!(status_of(&e), Some((404, _))) => Ok(None),
            Err(e) => Err(store_error(
                format!("read properties of {}", self.blob_label(blob_name)),
                &e,
            )),
        }
    }

    pub(super) async fn read_range(
        &self,
        blob_name: &str,
        start: u64,
        len: u64,
    ) -> StoreResult<Vec<u8>> {
        let operation = format!("read bytes {start}+{len} of {}", self.blob_label(blob_name));
        let mut bytes = Vec::new();
        if len == 0 {
            return Ok(bytes);
        }
        // The SDK pages a range through requests of at most `chunk_size` bytes: one request
        // for the ranges export and the join points read.
        let mut pages = self
            .blob(blob_name)
            .get()
            .range(start..start + len)
            .chunk_size(len)
            .into_stream();
        loop {
            let page = match self.within(async { pages.next().await.transpose() }).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                // A range that starts at or after the blob's end: nothing there to read.
                Err(e) if matches!(status_of(&e), Some((416, _))) => break,
                Err(e) => return Err(store_error(&operation, &e)),
            };
            let data = self
                .within(page.data.collect())
                .await
                .map_err(|e| store_error(&operation, &e))?;
            bytes.extend_from_slice(&data);
        }
        Ok(bytes)
    }
}

pub(super) fn to_metadata(metadata: &BTreeMap<String, String>) -> Result<Metadata, String> {
    check_metadata(metadata)?;
    let mut out = Metadata::new();
    for (name, value) in metadata {
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}
