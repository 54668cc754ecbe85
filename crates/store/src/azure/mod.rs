//! Azure implementation of [`super::Archive`] on the 0.21 SDK crates.
//!
//! Two SDK gaps shape this module:
//! - `PutBlockBuilder::hash` is accepted but never sent, so each block's Content-MD5 goes in
//!   through [`CustomHeaders`](azure_core::CustomHeaders) in the request context (applied
//!   before the request is signed; see `upload.rs`).
//! - The SDK retries I/O errors and 408/429/5xx with backoff but has no client-side timeout, so
//!   each attempt gets `AttemptTimeout` and each call an overall deadline (which also covers
//!   reading response bodies, outside the pipeline).
//!
//! One file per concern: `upload` (block upload and its memory budget), `single` and `body`
//! (one Put Blob streamed from parts: files up to a size, and blobs assembled from ranges), `blob` (small blobs,
//! metadata, properties), `table` and `entity` (rows), `lease` (the lock) and `errors` (error
//! mapping and secret redaction). This file holds the configuration and the request pipeline,
//! and wires the concerns to the trait.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::{
    ClientOptions, Context, ExponentialRetryOptions, Policy, PolicyResult, Request, RetryOptions,
};
use azure_data_tables::clients::{TableClient, TableServiceClientBuilder};
use azure_storage::CloudLocation;
use azure_storage_blobs::prelude::{BlobClient, ClientBuilder, ContainerClient};

use super::connection::StorageTarget;
use super::rules::check_key;
use super::{
    Archive, ArchiveRead, BlobInfo, InsertOutcome, Lock, PutMode, PutOutcome, SegmentRow,
    StoreError, StoreResult,
};
use errors::{already_exists, store_error};
use upload::{BlockBudget, MAX_BLOCK_SIZE};

pub use body::Part;
pub use single::SINGLE_PUT_LIMIT;

mod blob;
mod body;
mod entity;
mod errors;
mod lease;
pub mod sas;
mod single;
mod table;
mod upload;

/// The blob whose lease is the stream's lock.
pub const LOCK_BLOB: &str = ".locks/segment-selector";

const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
// The SDK never waits less than 1 s between late retries, whatever this says.
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// Tuning for [`AzureArchive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureOptions {
    /// Limit for one HTTP attempt, connecting included.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for transient failures only.
    pub max_retries: u32,
    /// Bytes per Put Block. Upload memory is about `block_size × (upload_concurrency + 1)`.
    pub block_size: usize,
    /// Blocks of one file in flight at once.
    pub upload_concurrency: usize,
}

impl Default for AzureOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            block_size: 4 * 1024 * 1024,
            upload_concurrency: 2,
        }
    }
}

impl AzureOptions {
    /// The longest one call (all attempts and backoff) may take before it is abandoned.
    pub fn call_deadline(&self) -> Duration {
        let attempts = self.max_retries.saturating_add(1);
        self.request_timeout.saturating_mul(attempts)
            + MAX_BACKOFF.saturating_mul(self.max_retries)
            + Duration::from_secs(1)
    }
}

/// One stream's archive: a blob container, and a partition of a table.
pub struct AzureArchive {
    container: ContainerClient,
    table: TableClient,
    partition: String,
    options: AzureOptions,
    block_budget: Option<Arc<BlockBudget>>,
    /// Requests are signed with the account key (else Entra ID): what read URLs are signed
    /// with too (`sas.rs`).
    account_key: bool,
    /// Files up to this size go up in one Put Blob (`single.rs`); 0: none.
    single_put_limit: u64,
}

impl std::fmt::Debug for AzureArchive {
    // By hand: the SDK clients hold the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureArchive")
            .field("container", &self.container.container_name())
            .field("table", &self.table.table_name())
            .field("partition", &self.partition)
            .field("options", &self.options)
            .finish()
    }
}

impl AzureArchive {
    pub fn new(
        target: &StorageTarget,
        container: &str,
        table: &str,
        partition: &str,
        options: AzureOptions,
    ) -> Result<Self, StoreError> {
        let invalid = |cause: String| {
            StoreError::new(crate::ErrorKind::Invalid, "configure the archive", cause)
        };
        check_container_name(container).map_err(invalid)?;
        check_table_name(table).map_err(invalid)?;
        check_key("partition", partition).map_err(invalid)?;
        if options.request_timeout.is_zero() {
            return Err(invalid("request_timeout must be above zero".into()));
        }
        if !(1..=MAX_BLOCK_SIZE).contains(&options.block_size) {
            return Err(invalid(format!(
                "block_size must be 1..={MAX_BLOCK_SIZE} bytes"
            )));
        }
        if options.upload_concurrency == 0 {
            return Err(invalid("upload_concurrency must be at least 1".into()));
        }

        let auth = crate::auth::SdkAuth::new(target).map_err(invalid)?;
        let client_options = auth.client_options(client_options(&options));
        let credentials = auth.credentials;
        let location = |uri: &str| CloudLocation::Custom {
            account: target.account.clone(),
            uri: uri.to_owned(),
        };
        let container_client =
            ClientBuilder::with_location(location(&target.blob_endpoint), credentials.clone())
                .client_options(client_options.clone())
                .container_client(container);
        let table_client =
            TableServiceClientBuilder::with_location(location(&target.table_endpoint), credentials)
                .client_options(client_options)
                .build()
                .table_client(table);
        Ok(Self {
            container: container_client,
            table: table_client,
            partition: partition.to_owned(),
            options,
            block_budget: None,
            account_key: target.key().is_some(),
            single_put_limit: 0,
        })
    }
}

impl AzureArchive {
    /// Runs one SDK call under the overall deadline; a missed deadline counts as an I/O error
    /// (transient), like the SDK's own timeouts.
    async fn within<T>(
        &self,
        call: impl Future<Output = azure_core::Result<T>>,
    ) -> azure_core::Result<T> {
        within(self.options.call_deadline(), call).await
    }

    fn blob(&self, name: &str) -> BlobClient {
        self.container.blob_client(name)
    }

    fn blob_label(&self, name: &str) -> String {
        format!("blob {}/{}", self.container.container_name(), name)
    }

    fn partition_label(&self) -> String {
        format!(
            "partition {} of table {}",
            self.partition,
            self.table.table_name()
        )
    }
}

#[async_trait]
impl ArchiveRead for AzureArchive {
    async fn blob_info(&self, blob_name: &str) -> StoreResult<Option<BlobInfo>> {
        self.properties(blob_name).await
    }

    async fn read_blob_range(&self, blob_name: &str, start: u64, len: u64) -> StoreResult<Vec<u8>> {
        self.read_range(blob_name, start, len).await
    }

    async fn rows_in_range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>> {
        self.range(from, to).await
    }

    async fn first_rows(&self, limit: usize) -> StoreResult<Vec<SegmentRow>> {
        self.first(limit).await
    }
}

#[async_trait]
impl Archive for AzureArchive {
    async fn ensure_ready(&self) -> StoreResult<()> {
        // Both at once: two services, and neither needs the other (one round trip per run).
        let container = self.container.container_name();
        let table = self.table.table_name();
        let (created_container, created_table) = futures::join!(
            self.within(self.container.create().into_future()),
            self.within(self.table.create().into_future())
        );
        if let Err(e) = created_container {
            if !already_exists(&e, "ContainerAlreadyExists") {
                return Err(store_error(format!("create container {container}"), &e));
            }
        }
        if let Err(e) = created_table {
            if !already_exists(&e, "TableAlreadyExists") {
                return Err(store_error(format!("create table {table}"), &e));
            }
        }
        Ok(())
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
        self.upload(blob_name, head, file, range, metadata, mode, inspect)
            .await
    }

    async fn put_small(
        &self,
        blob_name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<()> {
        self.write_small(blob_name, bytes, content_type).await
    }

    async fn set_blob_metadata(
        &self,
        blob_name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        self.write_metadata(blob_name, metadata).await
    }

    async fn replace_row(&self, row: &SegmentRow) -> StoreResult<()> {
        self.replace(row).await
    }

    async fn insert_row(&self, row: &SegmentRow) -> StoreResult<InsertOutcome> {
        self.insert(row).await
    }

    async fn delete_row(&self, row_key: &str) -> StoreResult<()> {
        self.delete(row_key).await
    }

    async fn try_lock(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        self.acquire(ttl_seconds).await
    }

    async fn renew_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.renew(lock).await
    }

    async fn release_lock(&self, lock: &Lock) -> StoreResult<()> {
        self.release(lock).await
    }
}

/// Bounds one HTTP attempt. It sits after the SDK's retry policy, so a timed-out attempt is
/// retried like any other I/O error.
#[derive(Debug)]
struct AttemptTimeout(Duration);

#[async_trait]
impl Policy for AttemptTimeout {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        match tokio::time::timeout(self.0, next[0].send(ctx, request, &next[1..])).await {
            Ok(result) => result,
            Err(_) => Err(azure_core::Error::message(
                ErrorKind::Io,
                format!("no response within {} ms", self.0.as_millis()),
            )),
        }
    }
}

fn client_options(options: &AzureOptions) -> ClientOptions {
    let retry = ExponentialRetryOptions::default()
        .max_retries(options.max_retries)
        .initial_delay(INITIAL_BACKOFF)
        .max_delay(MAX_BACKOFF)
        .max_total_elapsed(
            options
                .request_timeout
                .saturating_mul(options.max_retries.saturating_add(1)),
        );
    let mut client_options = ClientOptions::default().retry(RetryOptions::exponential(retry));
    client_options
        .per_retry_policies_mut()
        .push(Arc::new(AttemptTimeout(options.request_timeout)));
    client_options
        .per_retry_policies_mut()
        .push(Arc::new(sas::DelegationKeyHeaders));
    client_options
}

async fn within<T>(
    deadline: Duration,
    call: impl Future<Output = azure_core::Result<T>>,
) -> azure_core::Result<T> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or_else(|_| {
            Err(azure_core::Error::message(
                ErrorKind::Io,
                format!("no answer within {} s", deadline.as_secs()),
            ))
        })
}

fn check_container_name(name: &str) -> Result<(), String> {
    let valid = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "container name {name:?} is invalid (expected 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit)"
        ))
    }
}

fn check_table_name(name: &str) -> Result<(), String> {
    let valid = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "table name {name:?} is invalid (expected 3-63 letters and digits, starting with a letter)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(check_container_name("hope-mp3").is_ok());
        for bad in ["ab", "Hope", "a--b", "-ab", "ab-", "a_b"] {
            assert!(check_container_name(bad).is_err(), "{bad}");
        }
        assert!(check_table_name("audios").is_ok());
        for bad in ["1abc", "ab", "a-bc"] {
            assert!(check_table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_deadline_is_bounded() {
        let options = AzureOptions::default();
        assert!(options.call_deadline() < Duration::from_secs(180));
    }
}
