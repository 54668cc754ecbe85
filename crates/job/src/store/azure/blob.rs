//! Small blobs from memory, blob metadata and blob properties.

use std::collections::BTreeMap;

use azure_core::request_options::Metadata;
use bytes::Bytes;
use md5::{Digest, Md5};

use super::errors::{status_of, store_error};
use super::AzureArchive;
use crate::store::{BlobInfo, StoreError, StoreResult};

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
        let metadata = to_metadata(metadata).map_err(|cause| StoreError {
            operation: operation.clone(),
            cause,
            transient: false,
        })?;
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
}

pub(super) fn to_metadata(metadata: &BTreeMap<String, String>) -> Result<Metadata, String> {
    let mut out = Metadata::new();
    for (name, value) in metadata {
        // HTTP lowercases header names, so only lowercase names read back unchanged.
        let valid_name = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(format!(
                "metadata name {name:?} is invalid (expected lowercase letters, digits and _, not starting with a digit)"
            ));
        }
        if !value.chars().all(|c| (' '..='~').contains(&c)) {
            return Err(format!(
                "metadata {name} has a value that is not printable ASCII"
            ));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_must_read_back_unchanged() {
        let ok = BTreeMap::from([("audio_start_ms".to_owned(), "123".to_owned())]);
        assert!(to_metadata(&ok).is_ok());
        let upper = BTreeMap::from([("audioStart".to_owned(), "1".to_owned())]);
        assert!(to_metadata(&upper).is_err());
        let non_ascii = BTreeMap::from([("pod".to_owned(), "é".to_owned())]);
        assert!(to_metadata(&non_ascii).is_err());
    }
}
