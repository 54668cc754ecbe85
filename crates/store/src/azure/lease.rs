//! The stream's lock: a lease on one empty blob, created on first use.

use std::time::Duration;

use azure_core::request_options::{IfMatchCondition, LeaseId, ProposedLeaseId};
use bytes::Bytes;

use super::errors::{status_of, store_error};
use super::{AzureArchive, LOCK_BLOB};
use crate::rules::check_lock_ttl;
use crate::{ErrorKind, Lock, StoreError, StoreResult};

impl AzureArchive {
    pub(super) async fn create_lock_blob(&self) -> StoreResult<()> {
        let create = self
            .blob(LOCK_BLOB)
            .put_block_blob(Bytes::new())
            .if_match(IfMatchCondition::NotMatch("*".to_owned()));
        match self.within(create.into_future()).await {
            Ok(_) => Ok(()),
            // Created by someone else meanwhile (412 when they also hold its lease).
            Err(e) if matches!(status_of(&e), Some((409 | 412, _))) => Ok(()),
            Err(e) => Err(store_error(
                format!("create lock {}", self.blob_label(LOCK_BLOB)),
                &e,
            )),
        }
    }

    pub(super) fn lease_client(
        &self,
        operation: &str,
        lock: &Lock,
    ) -> StoreResult<azure_storage_blobs::prelude::BlobLeaseClient> {
        let lease_id: LeaseId = lock.id.parse().map_err(|_| {
            StoreError::new(
                ErrorKind::Invalid,
                operation,
                "the lock id is not a lease id (expected a UUID)",
            )
        })?;
        Ok(self.blob(LOCK_BLOB).blob_lease_client(lease_id))
    }

    pub(super) async fn acquire(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        let operation = format!("take lock {}", self.blob_label(LOCK_BLOB));
        if let Err(cause) = check_lock_ttl(ttl_seconds) {
            return Err(StoreError::new(ErrorKind::Invalid, operation, cause));
        }
        // Proposing our own id makes a retried acquire (lost response) succeed instead of
        // finding "our" lease held by someone.
        let proposed = new_lease_id();
        for attempt in 0..2 {
            let acquire = self
                .blob(LOCK_BLOB)
                .acquire_lease(Duration::from_secs(ttl_seconds.into()))
                .proposed_lease_id(ProposedLeaseId::from(proposed));
            match self.within(acquire.into_future()).await {
                Ok(response) => {
                    return Ok(Some(Lock {
                        id: response.lease_id.to_string(),
                    }))
                }
                Err(e) if matches!(status_of(&e), Some((409, Some("LeaseAlreadyPresent")))) => {
                    return Ok(None)
                }
                Err(e)
                    if attempt == 0
                        && matches!(status_of(&e), Some((404, Some("BlobNotFound")))) =>
                {
                    self.create_lock_blob().await?;
                }
                Err(e) => return Err(store_error(&operation, &e)),
            }
        }
        Err(StoreError::new(
            ErrorKind::Conflict,
            operation,
            "the lock blob vanished right after it was created",
        )
        .with_transient(true))
    }

    pub(super) async fn renew(&self, lock: &Lock) -> StoreResult<()> {
        let operation = format!("renew lock {}", self.blob_label(LOCK_BLOB));
        let lease = self.lease_client(&operation, lock)?;
        self.within(lease.renew().into_future())
            .await
            .map(drop)
            .map_err(|e| store_error(&operation, &e))
    }

    pub(super) async fn release(&self, lock: &Lock) -> StoreResult<()> {
        let operation = format!("release lock {}", self.blob_label(LOCK_BLOB));
        let lease = self.lease_client(&operation, lock)?;
        self.within(lease.release().into_future())
            .await
            .map(drop)
            .map_err(|e| store_error(&operation, &e))
    }
}

pub(super) fn new_lease_id() -> LeaseId {
    use std::hash::{BuildHasher, Hasher};
    // Only uniqueness matters; RandomState is seeded randomly per process and per instance.
    let word = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    let (a, b) = (word(1), word(2));
    let text = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    );
    text.parse().expect("formatted as a UUID")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_are_uuids_and_differ() {
        let a = new_lease_id();
        let b = new_lease_id();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 36);
    }
}
