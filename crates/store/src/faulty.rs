//! [`FaultyArchive`]: wraps any [`Archive`] and fails the calls a test chooses, with a
//! transient [`StoreError`], so the executor's handling of failures can be tested without a
//! proxy or a service.
//!
//! A fault strikes either before the call reaches the archive (nothing happened) or after
//! (the archive did it, but the answer was lost, as when a request times out after the
//! service acted). Calls are counted per [`Operation`], from 1.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use store::faulty::{Calls, Fault, FaultyArchive, Operation};
//! use store::memory::InMemoryArchive;
//! use store::{Archive, ArchiveRead, SegmentRow};
//!
//! let archive = FaultyArchive::new(InMemoryArchive::new("hope"));
//! archive.fail(Operation::InsertRow, Calls::Nth(1), Fault::After);
//! let row = SegmentRow { row_key: "1".into(), file_name: "a.mp3".into(), ..Default::default() };
//! let err = archive.insert_row(&row).await.unwrap_err();
//! assert!(err.is_transient());
//! // The insert happened; only its answer was lost.
//! assert_eq!(archive.inner().first_rows(10).await.unwrap(), vec![row]);
//! assert_eq!(archive.calls(Operation::InsertRow), 1);
//! # });
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    Archive, ArchiveRead, BlobInfo, ErrorKind, InsertOutcome, Lock, PutMode, PutOutcome,
    SegmentRow, StoreError, StoreResult,
};

/// One operation of the [`Archive`] trait (`put_file`, `put_file_inspected` and
/// `put_file_range_inspected` are one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Operation {
    EnsureReady,
    PutFile,
    PutSmall,
    SetBlobMetadata,
    BlobInfo,
    ReadBlobRange,
    InsertRow,
    ReplaceRow,
    DeleteRow,
    RowsInRange,
    FirstRows,
    TryLock,
    RenewLock,
    ReleaseLock,
}

/// Which calls of an operation fail, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// Only the nth call.
    Nth(u64),
    /// The first n calls.
    First(u64),
    /// The nth call and every one after it.
    From(u64),
    /// Every call.
    Every,
}

impl Calls {
    fn includes(self, call: u64) -> bool {
        match self {
            Calls::Nth(n) => call == n,
            Calls::First(n) => call <= n,
            Calls::From(n) => call >= n,
            Calls::Every => true,
        }
    }
}

/// When the injected failure happens relative to the real call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call never reaches the archive.
    Before,
    /// The archive carries the call out, then the caller gets the failure instead of the
    /// answer (the archive's own error, when it failed too).
    After,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    operation: Operation,
    calls: Calls,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Record {
    rules: Vec<Rule>,
    calls: BTreeMap<Operation, u64>,
}

/// An [`Archive`] that fails chosen calls of the one it wraps.
#[derive(Debug)]
pub struct FaultyArchive<A> {
    inner: A,
    record: Mutex<Record>,
}

impl<A: Archive> FaultyArchive<A> {
    /// Wraps `inner`, failing nothing until told to.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            record: Mutex::default(),
        }
    }

    /// From now on, fail `calls` of `operation` (counted over the wrapper's whole life) with
    /// `fault`. When several rules match a call, the first one added decides.
    pub fn fail(&self, operation: Operation, calls: Calls, fault: Fault) -> &Self {
        self.record().rules.push(Rule {
            operation,
            calls,
            fault,
        });
        self
    }

    /// Forgets every rule; calls go through again (the counts stay).
    pub fn heal(&self) {
        self.record().rules.clear();
    }

    /// How many calls of `operation` were made, failed ones included.
    pub fn calls(&self, operation: Operation) -> u64 {
        self.record().calls.get(&operation).copied().unwrap_or(0)
    }

    /// The wrapped archive, to look at what really happened.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the call and performs it, failing it as the rules say.
    async fn call<T>(
        &self,
        operation: Operation,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let (number, fault) = {
            let mut record = self.record();
            let count = record.calls.entry(operation).or_insert(0);
            *count += 1;
            let number = *count;
            let fault = record
                .rules
                .iter()
                .find(|r| r.operation == operation && r.calls.includes(number))
                .map(|r| r.fault);
            (number, fault)
        };
        let injected = || {
            StoreError::new(
                ErrorKind::Other,
                format!("{operation:?} call {number}"),
                "injected fault",
            )
            .with_transient(true)
        };
        match fault {
            None => call.await,
            Some(Fault::Before) => Err(injected()),
            Some(Fault::After) => call.await.and_then(|_| Err(injected())),
        }
    }
}

#[async_trait]
impl<A: Archive> ArchiveRead for FaultyArchive<A> {
    async fn blob_info(&self, blob_name: &str) -> StoreResult<Option<BlobInfo>> {
        self.call(Operation::BlobInfo, self.inner.blob_info(blob_name))
            .await
    }

    async fn read_blob_range(&self, blob_name: &str, start: u64, len: u64) -> StoreResult<Vec<u8>> {
        self.call(
            Operation::ReadBlobRange,
            self.inner.read_blob_range(blob_name, start, len),
        )
        .await
    }

    async fn rows_in_range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>> {
        self.call(Operation::RowsInRange, self.inner.rows_in_range(from, to))
            .await
    }

    async fn first_rows(&self, limit: usize) -> StoreResult<Vec<SegmentRow>> {
        self.call(Operation::FirstRows, self.inner.first_rows(limit))
            .await
    }
}

#[async_trait]
impl<A: Archive> Archive for FaultyArchive<A> {
    async fn ensure_ready(&self) -> StoreResult<()> {
        self.call(Operation::EnsureReady, self.inner.ensure_ready())
            .await
    }

    async fn put_file_range_inspected(
        &self,
        blob_name: &str,
        head: &[u8],
        file: &std::fs::File,
        range: std::ops::Range<u64>,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        let put = self
            .inner
            .put_file_range_inspected(blob_name, head, file, range, metadata, mode, inspect);
        self.call(Operation::PutFile, put).await
    }

    async fn put_small(
        &self,
        blob_name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<()> {
        let put = self.inner.put_small(blob_name, bytes, content_type);
        self.call(Operation::PutSmall, put).await
    }

    async fn set_blob_metadata(
        &self,
        blob_name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let set = self.inner.set_blob_metadata(blob_name, metadata);
        self.call(Operation::SetBlobMetadata, set).await
    }

    async fn insert_row(&self, row: &SegmentRow) -> StoreResult<InsertOutcome> {
        self.call(Operation::InsertRow, self.inner.insert_row(row))
            .await
    }

    async fn replace_row(&self, row: &SegmentRow) -> StoreResult<()> {
        self.call(Operation::ReplaceRow, self.inner.replace_row(row))
            .await
    }

    async fn delete_row(&self, row_key: &str) -> StoreResult<()> {
        self.call(Operation::DeleteRow, self.inner.delete_row(row_key))
            .await
    }

    async fn try_lock(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        self.call(Operation::TryLock, self.inner.try_lock(ttl_seconds))
            .await
    }

    async fn renew_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.call(Operation::RenewLock, self.inner.renew_lock(lock))
            .await
    }

    async fn release_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.call(Operation::ReleaseLock, self.inner.release_lock(lock))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::InMemoryArchive;

    fn row(key: &str) -> SegmentRow {
        SegmentRow {
            row_key: key.into(),
            file_name: format!("{key}.mp3"),
            ..SegmentRow::default()
        }
    }

    #[tokio::test]
    async fn only_the_chosen_calls_fail() {
        let archive = FaultyArchive::new(InMemoryArchive::new("p"));
        archive.fail(Operation::InsertRow, Calls::Nth(2), Fault::Before);
        archive.insert_row(&row("1")).await.unwrap();
        let err = archive.insert_row(&row("2")).await.unwrap_err();
        assert!(
            err.is_transient() && err.to_string().contains("InsertRow call 2"),
            "{err}"
        );
        archive.insert_row(&row("3")).await.unwrap();
        // Failed before reaching the archive: row 2 was never written.
        let keys: Vec<String> = archive
            .inner()
            .first_rows(10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.row_key)
            .collect();
        assert_eq!(keys, ["1", "3"]);
        assert_eq!(archive.calls(Operation::InsertRow), 3);
        assert_eq!(
            archive.calls(Operation::FirstRows),
            0,
            "inner calls are not counted"
        );
    }

    #[tokio::test]
    async fn after_faults_take_effect_and_heal_restores_calls() {
        let archive = FaultyArchive::new(InMemoryArchive::new("p"));
        archive
            .fail(Operation::DeleteRow, Calls::Every, Fault::After)
            .fail(Operation::FirstRows, Calls::First(2), Fault::Before);
        archive.insert_row(&row("1")).await.unwrap();
        assert!(archive.delete_row("1").await.is_err());
        assert!(archive.inner().first_rows(10).await.unwrap().is_empty());
        assert!(archive.first_rows(1).await.is_err());
        assert!(archive.first_rows(1).await.is_err());
        assert!(
            archive.first_rows(1).await.is_ok(),
            "the third call goes through"
        );
        archive.heal();
        archive.delete_row("1").await.unwrap();
        assert_eq!(archive.calls(Operation::DeleteRow), 2);
    }

    #[tokio::test]
    async fn from_fails_every_later_call() {
        let archive = FaultyArchive::new(InMemoryArchive::new("p"));
        archive.fail(Operation::BlobInfo, Calls::From(2), Fault::Before);
        assert!(archive.blob_info("a").await.is_ok());
        for _ in 0..3 {
            assert!(archive.blob_info("a").await.is_err());
        }
    }
}
