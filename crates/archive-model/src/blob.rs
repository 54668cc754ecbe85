//! What the archive knows of a blob, and how a blob may be written: the types the executor's
//! rules and every storage backend share.

use std::collections::BTreeMap;

/// What the archive holds for one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its size in bytes.
    pub size: u64,
    /// The blob's Content-MD5 property, when the service has one.
    pub md5: Option<[u8; 16]>,
    /// Its metadata (`x-ms-meta-*`).
    pub metadata: BTreeMap<String, String>,
}

/// How to treat a blob that already exists under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Commit only if no blob has the name (`If-None-Match: *`).
    CreateOnly,
    /// Replace whatever is there (a file that grew after it was archived).
    Overwrite,
}
