//! Read-only links to an archive's blobs, valid for a while: what a player or a browser needs
//! to read a private archive without credentials of its own. Readers (`segment-selector
//! playlist`) sign through these traits and never name a backend; Azure signs with a SAS
//! ([`crate::azure::sas::ReadUrls`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreResult;

/// An archive that can hand out read-only links to its blobs.
#[async_trait]
pub trait Signer: Send + Sync {
    /// Links valid from `now` until `expiry`. Signing may cost a request (Azure's Get User
    /// Delegation Key with Entra ID), so a reader asks only once it knows what to sign.
    async fn signed_urls(
        &self,
        now: DateTime<Utc>,
        expiry: DateTime<Utc>,
    ) -> StoreResult<Box<dyn SignedUrls>>;
}

/// Read-only links to one archive's blobs, valid until one expiry.
#[async_trait]
pub trait SignedUrls: Send + Sync {
    /// A URL that reads `blob` until the links expire. It carries a secret (a signature):
    /// print it only where the link itself is wanted.
    async fn blob_url(&self, blob: &str) -> StoreResult<String>;
}
