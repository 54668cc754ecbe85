//! The local archive's lock: a lease with generations, one file each (`locks/lease.<n>`).

use serde::{Deserialize, Serialize};

use super::{io_error, now_ms, permanent, LocalArchive};
use crate::rules::check_lock_ttl;
use crate::{ErrorKind, Lock, StoreResult};

const LEASE_PREFIX: &str = "lease.";

#[derive(Debug, Serialize, Deserialize)]
struct LeaseFile {
    id: String,
    ttl_ms: u64,
    expires_ms: u64,
    released: bool,
}

impl LocalArchive {
    pub(super) async fn acquire(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        let operation = "take the stream's lock";
        check_lock_ttl(ttl_seconds)
            .map_err(|cause| permanent(ErrorKind::Invalid, operation, cause))?;
        let now = now_ms(&self.shared.clock);
        let generation = match self.newest_lease(operation).await? {
            Some((_, lease)) if !lease.released && lease.expires_ms > now => return Ok(None),
            Some((generation, _)) => generation + 1,
            None => 1,
        };
        let ttl_ms = u64::from(ttl_seconds) * 1000;
        let id = format!("{generation}-{}-{now}", std::process::id());
        let lease = LeaseFile {
            id: id.clone(),
            ttl_ms,
            expires_ms: now + ttl_ms,
            released: false,
        };
        let bytes = serde_json::to_vec(&lease).map_err(|e| {
            permanent(
                ErrorKind::Other,
                operation,
                format!("cannot encode the lease: {e}"),
            )
        })?;
        let dir = self.locks();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error(operation, &dir, &e))?;
        // Written aside and linked: the generation's file appears whole, and only one run
        // can create it.
        let temp = self.temp_path();
        tokio::fs::write(&temp, &bytes)
            .await
            .map_err(|e| io_error(operation, &temp, &e))?;
        let path = dir.join(format!("{LEASE_PREFIX}{generation}"));
        let linked = tokio::fs::hard_link(&temp, &path).await;
        let _ = tokio::fs::remove_file(&temp).await;
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(io_error(operation, &path, &e)),
        }
        // Older generations are history; a failure to remove one changes nothing.
        for old in generation.saturating_sub(3)..generation {
            let _ = tokio::fs::remove_file(dir.join(format!("{LEASE_PREFIX}{old}"))).await;
        }
        Ok(Some(Lock { id }))
    }

    pub(super) async fn renew(&self, lock: &Lock) -> StoreResult<()> {
        let operation = "renew the stream's lock";
        // Like a blob lease: renewable after it expired, as long as nobody took it since.
        let (generation, mut lease) = self.held(operation, lock).await?;
        lease.expires_ms = now_ms(&self.shared.clock) + lease.ttl_ms;
        self.write_lease(operation, generation, &lease).await
    }

    pub(super) async fn release(&self, lock: &Lock) -> StoreResult<()> {
        let operation = "release the stream's lock";
        let (generation, mut lease) = self.held(operation, lock).await?;
        lease.released = true;
        self.write_lease(operation, generation, &lease).await
    }

    /// The newest lease generation and its file, if any.
    async fn newest_lease(&self, operation: &str) -> StoreResult<Option<(u64, LeaseFile)>> {
        let dir = self.locks();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(operation, &dir, &e)),
        };
        let mut newest = None;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io_error(operation, &dir, &e))?
        {
            let name = entry.file_name();
            let generation = name
                .to_str()
                .and_then(|n| n.strip_prefix(LEASE_PREFIX))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(g) = generation {
                newest = newest.max(Some(g));
            }
        }
        let Some(generation) = newest else {
            return Ok(None);
        };
        let path = dir.join(format!("{LEASE_PREFIX}{generation}"));
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| io_error(operation, &path, &e))?;
        let lease = serde_json::from_slice(&bytes).map_err(|e| {
            permanent(
                ErrorKind::Io,
                operation,
                format!("{} is not a lease file: {e}", path.display()),
            )
        })?;
        Ok(Some((generation, lease)))
    }

    /// The held lease `lock` names, or why it is not held any more.
    async fn held(&self, operation: &str, lock: &Lock) -> StoreResult<(u64, LeaseFile)> {
        let lost = || {
            permanent(
                ErrorKind::Conflict,
                operation,
                "the lock is no longer held by this lease (released, or taken by another run)"
                    .to_owned(),
            )
        };
        match self.newest_lease(operation).await? {
            Some((generation, lease)) if lease.id == lock.id && !lease.released => {
                Ok((generation, lease))
            }
            _ => Err(lost()),
        }
    }

    async fn write_lease(
        &self,
        operation: &str,
        generation: u64,
        lease: &LeaseFile,
    ) -> StoreResult<()> {
        let path = self.locks().join(format!("{LEASE_PREFIX}{generation}"));
        let bytes = serde_json::to_vec(lease).map_err(|e| {
            permanent(
                ErrorKind::Other,
                operation,
                format!("cannot encode the lease: {e}"),
            )
        })?;
        self.write_whole(&path, &bytes)
            .await
            .map_err(|e| io_error(operation, &path, &e))
    }
}
