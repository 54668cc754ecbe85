//! Azure implementation of [`super::Archive`] on the 0.21 SDK crates.
//!
//! Two SDK gaps shape this file:
//! - `PutBlockBuilder::hash` is accepted but never sent, so each block's Content-MD5 goes in
//!   through [`CustomHeaders`] in the request context (applied before the request is signed).
//! - The SDK retries I/O errors and 408/429/5xx with backoff but has no client-side timeout, so
//!   each attempt gets [`AttemptTimeout`] and each call an overall deadline (which also covers
//!   reading response bodies, outside the pipeline).
//!
//! Table rows store 64-bit numbers as Edm.Int64 (a decimal string plus an `@odata.type`
//! annotation), the service's own representation, so other clients read them as numbers.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::headers::{Headers, CONTENT_MD5};
use azure_core::request_options::{IfMatchCondition, LeaseId, Metadata, ProposedLeaseId};
use azure_core::{
    ClientOptions, Context, CustomHeaders, ExponentialRetryOptions, Policy, PolicyResult, Request,
    RetryOptions,
};
use azure_data_tables::clients::{TableClient, TableServiceClientBuilder};
use azure_data_tables::prelude::{Filter, Top};
use azure_storage::CloudLocation;
use azure_storage_blobs::prelude::{
    BlobBlockType, BlobClient, BlobContentMD5, BlockId, BlockList, ClientBuilder, ContainerClient,
};
use base64::Engine as _;
use bytes::Bytes;
use futures::stream::StreamExt;
use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::connection::StorageTarget;
use super::{
    Archive, BlobInfo, InsertOutcome, Lock, PutMode, PutOutcome, SegmentRow, StoreError,
    StoreResult,
};

/// The blob whose lease is the stream's lock.
pub const LOCK_BLOB: &str = ".locks/segment-selector";

const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
// The SDK never waits less than 1 s between late retries, whatever this says.
const MAX_BACKOFF: Duration = Duration::from_secs(4);
const MAX_BLOCKS: usize = 50_000;
const MAX_BLOCK_SIZE: usize = 100 * 1024 * 1024;
const TRANSIENT_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];
// Keeps a single page request well under the service's 1,000-row page limit.
const MAX_TOP: usize = 1000;

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
}

/// Blocks in flight across all uploads of an archive, and their buffers, kept for the next
/// blocks: freed and allocated again, 2-MiB buffers end up spread over the allocator's
/// per-thread arenas, and the memory they leave behind there stays resident.
struct BlockBudget {
    permits: Arc<tokio::sync::Semaphore>,
    spare: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl BlockBudget {
    fn buffer(&self, block_size: usize) -> Vec<u8> {
        let spare = self.spare.lock().map(|mut s| s.pop()).unwrap_or_default();
        spare.unwrap_or_else(|| Vec::with_capacity(block_size))
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(buffer);
        }
    }
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
        let invalid = |cause: String| StoreError {
            operation: "configure the archive".to_owned(),
            cause,
            transient: false,
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

        let auth = super::identity::SdkAuth::new(target).map_err(invalid)?;
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
        })
    }

    /// Caps the blocks in flight across all uploads of this archive (each file still sends at
    /// most `upload_concurrency`), so several files at a time cost no more memory than
    /// `blocks × block_size`: a file waiting for its commit or row leaves the budget to the
    /// next file instead of leaving the connection idle.
    pub fn with_block_budget(mut self, blocks: usize) -> Self {
        self.block_budget = Some(Arc::new(BlockBudget {
            permits: Arc::new(tokio::sync::Semaphore::new(blocks.max(1))),
            spare: std::sync::Mutex::new(Vec::new()),
        }));
        self
    }

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

    async fn query(
        &self,
        operation: &str,
        filter: String,
        limit: Option<usize>,
    ) -> StoreResult<Vec<SegmentRow>> {
        let mut query = self.table.query().filter(Filter::new(filter));
        if let Some(limit) = limit {
            query = query.top(Top::new(limit.min(MAX_TOP) as u32));
        }
        // The pageable follows the NextPartitionKey/NextRowKey continuation headers.
        let mut pages = query.into_stream::<Map<String, Value>>();
        let mut rows = Vec::new();
        while let Some(page) = self
            .within(async { pages.next().await.transpose() })
            .await
            .map_err(|e| store_error(operation, &e))?
        {
            for entity in &page.entities {
                // A row we cannot read names no file: skipping it only leaves that row out,
                // while stopping would leave every recording unarchived until someone acts.
                match parse_row(entity) {
                    Ok(row) => rows.push(row),
                    Err(cause) => tracing::warn!(operation, "skipping a table row: {cause}"),
                }
            }
            if limit.is_some_and(|limit| rows.len() >= limit) {
                break;
            }
        }
        if let Some(limit) = limit {
            rows.truncate(limit);
        }
        Ok(rows)
    }

    async fn row(&self, row_key: &str) -> StoreResult<Option<SegmentRow>> {
        let filter = format!(
            "PartitionKey eq {} and RowKey eq {}",
            odata_string(&self.partition),
            odata_string(row_key)
        );
        let operation = format!("read row {row_key} of {}", self.partition_label());
        Ok(self
            .query(&operation, filter, None)
            .await?
            .into_iter()
            .next())
    }

    /// The row as a table entity, once its RowKey is known to be acceptable.
    fn checked_entity(&self, row: &SegmentRow, operation: &str) -> StoreResult<Value> {
        let invalid = |cause: String| StoreError {
            operation: operation.to_owned(),
            cause,
            transient: false,
        };
        check_key("RowKey", &row.row_key).map_err(invalid)?;
        row_entity(&self.partition, row).map_err(invalid)
    }

    async fn create_lock_blob(&self) -> StoreResult<()> {
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

    fn lease_client(
        &self,
        operation: &str,
        lock: &Lock,
    ) -> StoreResult<azure_storage_blobs::prelude::BlobLeaseClient> {
        let lease_id: LeaseId = lock.id.parse().map_err(|_| StoreError {
            operation: operation.to_owned(),
            cause: "the lock id is not a lease id (expected a UUID)".to_owned(),
            transient: false,
        })?;
        Ok(self.blob(LOCK_BLOB).blob_lease_client(lease_id))
    }
}

#[async_trait]
impl Archive for AzureArchive {
    async fn ensure_ready(&self) -> StoreResult<()> {
        let container = self.container.container_name();
        if let Err(e) = self.within(self.container.create().into_future()).await {
            if !already_exists(&e, "ContainerAlreadyExists") {
                return Err(store_error(format!("create container {container}"), &e));
            }
        }
        let table = self.table.table_name();
        if let Err(e) = self.within(self.table.create().into_future()).await {
            if !already_exists(&e, "TableAlreadyExists") {
                return Err(store_error(format!("create table {table}"), &e));
            }
        }
        Ok(())
    }

    async fn put_file_inspected(
        &self,
        blob_name: &str,
        path: &Path,
        metadata: &BTreeMap<String, String>,
        mode: PutMode,
        inspect: &mut (dyn for<'b> FnMut(&'b [u8]) + Send),
    ) -> StoreResult<PutOutcome> {
        let operation = format!(
            "upload {} to {}",
            path.display(),
            self.blob_label(blob_name)
        );
        let fail = |cause: String, transient: bool| StoreError {
            operation: operation.clone(),
            cause,
            transient,
        };
        let metadata = to_metadata(metadata).map_err(|cause| fail(cause, false))?;
        // No look before a create-only upload: the conditional commit refuses an existing blob
        // anyway, and a blob already there is rare (a run stopped between blob and row), while
        // the look would cost every upload a round trip.

        let blob = self.blob(blob_name);
        let block_size = self.options.block_size;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| fail(format!("cannot open the file: {e}"), false))?;
        let file = Arc::new(file.into_std().await);
        let mut whole = Md5::new();
        let mut size = 0u64;
        let mut ids: Vec<Option<BlockId>> = Vec::new();
        // Dropping the set (an early return) aborts the blocks still in flight.
        let mut in_flight = tokio::task::JoinSet::new();
        let finished =
            |joined: Result<azure_core::Result<(usize, BlockId)>, tokio::task::JoinError>,
             ids: &mut Vec<Option<BlockId>>| {
                let (index, id) = joined
                    .map_err(|e| fail(format!("block upload task: {e}"), false))?
                    .map_err(|e| store_error(&operation, &e))?;
                ids[index] = Some(id);
                Ok::<(), StoreError>(())
            };
        loop {
            let permit = match &self.block_budget {
                Some(budget) => Some(
                    Arc::clone(&budget.permits)
                        .acquire_owned()
                        .await
                        .map_err(|e| fail(format!("block budget: {e}"), false))?,
                ),
                None => None,
            };
            let buffer = match &self.block_budget {
                Some(budget) => budget.buffer(block_size),
                None => Vec::with_capacity(block_size),
            };
            let data = read_block(&file, buffer, block_size)
                .await
                .map_err(|e| fail(format!("cannot read the file: {e}"), false))?;
            if data.is_empty() {
                break;
            }
            if ids.len() == MAX_BLOCKS {
                return Err(fail(
                    format!("the file needs more than {MAX_BLOCKS} blocks of {block_size} bytes"),
                    false,
                ));
            }
            let short = data.len() < block_size;
            inspect(&data);
            whole.update(&data);
            size += data.len() as u64;
            let upload = put_block(blob.clone(), ids.len(), data, self.options.call_deadline());
            let budget = self.block_budget.clone();
            in_flight.spawn(async move {
                // Held until the block's buffer is back, or freed with its request.
                let _permit = permit;
                let (result, buffer) = upload.await;
                if let (Some(budget), Some(buffer)) = (budget, buffer) {
                    budget.give_back(buffer);
                }
                result
            });
            ids.push(None);
            if in_flight.len() >= self.options.upload_concurrency {
                if let Some(joined) = in_flight.join_next().await {
                    finished(joined, &mut ids)?;
                }
            }
            // A short read is the end of the file as it is now; a writer may still append,
            // but the blob must hold exactly what was hashed.
            if short {
                break;
            }
        }
        while let Some(joined) = in_flight.join_next().await {
            finished(joined, &mut ids)?;
        }
        let blocks: Vec<_> = ids
            .into_iter()
            .map(|id| BlobBlockType::new_uncommitted(id.expect("every block finished")))
            .collect();
        let md5: [u8; 16] = whole.finalize().into();

        let mut commit = blob
            .put_block_list(BlockList { blocks })
            .content_type("audio/mpeg")
            .content_md5(BlobContentMD5(md5))
            .metadata(metadata);
        if mode == PutMode::CreateOnly {
            commit = commit.if_match(IfMatchCondition::NotMatch("*".to_owned()));
        }
        match self.within(commit.into_future()).await {
            Ok(_) => Ok(PutOutcome::Written { size, md5 }),
            Err(e)
                if mode == PutMode::CreateOnly
                    && matches!(
                        status_of(&e),
                        Some((409, Some("BlobAlreadyExists")) | (412, _))
                    ) =>
            {
                match self.blob_info(blob_name).await? {
                    Some(info) => Ok(PutOutcome::AlreadyExists(info)),
                    None => Err(fail(
                        "the commit found a blob that then vanished".to_owned(),
                        true,
                    )),
                }
            }
            Err(e) => Err(store_error(&operation, &e)),
        }
    }

    async fn put_small(
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

    async fn set_blob_metadata(
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

    async fn blob_info(&self, blob_name: &str) -> StoreResult<Option<BlobInfo>> {
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

    async fn replace_row(&self, row: &SegmentRow) -> StoreResult<()> {
        let operation = format!("replace row {} in {}", row.row_key, self.partition_label());
        let entity = self.checked_entity(row, &operation)?;
        let put = self
            .table
            .partition_key_client(self.partition.clone())
            .entity_client(row.row_key.clone())
            .insert_or_replace(entity)
            .map_err(|e| store_error(&operation, &e))?;
        self.within(put.into_future())
            .await
            .map(|_| ())
            .map_err(|e| store_error(&operation, &e))
    }

    async fn insert_row(&self, row: &SegmentRow) -> StoreResult<InsertOutcome> {
        let operation = format!("insert row {} into {}", row.row_key, self.partition_label());
        let entity = self.checked_entity(row, &operation)?;
        let insert = self
            .table
            .insert::<_, Value>(entity)
            .map_err(|e| store_error(&operation, &e))?;
        match self.within(insert.into_future()).await {
            Ok(_) => Ok(InsertOutcome::Inserted),
            Err(e) if matches!(status_of(&e), Some((409, Some("EntityAlreadyExists")))) => {
                match self.row(&row.row_key).await? {
                    Some(existing) => Ok(InsertOutcome::AlreadyExists(Box::new(existing))),
                    None => Err(StoreError {
                        operation,
                        cause: "the insert found a row that then vanished".to_owned(),
                        transient: true,
                    }),
                }
            }
            Err(e) => Err(store_error(&operation, &e)),
        }
    }

    async fn rows_in_range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>> {
        let operation = format!("read rows {from}..={to} of {}", self.partition_label());
        for bound in [from, to] {
            check_key("RowKey bound", bound).map_err(|cause| StoreError {
                operation: operation.clone(),
                cause,
                transient: false,
            })?;
        }
        let filter = format!(
            "PartitionKey eq {} and RowKey ge {} and RowKey le {}",
            odata_string(&self.partition),
            odata_string(from),
            odata_string(to)
        );
        self.query(&operation, filter, None).await
    }

    async fn first_rows(&self, limit: usize) -> StoreResult<Vec<SegmentRow>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let operation = format!("read the first {limit} rows of {}", self.partition_label());
        let filter = format!("PartitionKey eq {}", odata_string(&self.partition));
        self.query(&operation, filter, Some(limit)).await
    }

    async fn try_lock(&self, ttl_seconds: u32) -> StoreResult<Option<Lock>> {
        let operation = format!("take lock {}", self.blob_label(LOCK_BLOB));
        if !(15..=60).contains(&ttl_seconds) {
            return Err(StoreError {
                operation,
                cause: format!("lease duration {ttl_seconds} s is outside 15..=60 s"),
                transient: false,
            });
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
        Err(StoreError {
            operation,
            cause: "the lock blob vanished right after it was created".to_owned(),
            transient: true,
        })
    }

    async fn renew_lock(&self, lock: &Lock) -> StoreResult<()> {
        let operation = format!("renew lock {}", self.blob_label(LOCK_BLOB));
        let lease = self.lease_client(&operation, lock)?;
        self.within(lease.renew().into_future())
            .await
            .map(drop)
            .map_err(|e| store_error(&operation, &e))
    }

    async fn release_lock(&self, lock: &Lock) -> StoreResult<()> {
        let operation = format!("release lock {}", self.blob_label(LOCK_BLOB));
        let lease = self.lease_client(&operation, lock)?;
        self.within(lease.release().into_future())
            .await
            .map(drop)
            .map_err(|e| store_error(&operation, &e))
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

/// Hashes one block and sends it. A task of its own, so hashing runs on whichever worker is
/// free while the file's own task reads, counts frames and hashes the whole file. The buffer
/// comes back unless the request still holds it.
async fn put_block(
    blob: BlobClient,
    index: usize,
    data: Vec<u8>,
    deadline: Duration,
) -> (azure_core::Result<(usize, BlockId)>, Option<Vec<u8>>) {
    let md5: [u8; 16] = Md5::digest(&data).into();
    let id = block_id(index, &md5);
    // The service checks the body against this transactional MD5 and rejects a mismatch.
    let mut headers = Headers::new();
    headers.insert(
        CONTENT_MD5,
        base64::engine::general_purpose::STANDARD.encode(md5),
    );
    let mut context = Context::new();
    context.insert(CustomHeaders::from(headers));
    let body = Bytes::from(data);
    let put = blob
        .put_block(id.clone(), body.clone())
        .context(context)
        .into_future();
    let result = within(deadline, put).await.map(|_| (index, id));
    (result, body.try_into_mut().ok().map(Vec::from))
}

/// Reads up to `block_size` bytes at the file's position into `data` (empty, with room for a
/// block). `tokio::fs::File` would copy through a second buffer of its own, a block more of
/// memory for every file in flight.
async fn read_block(
    file: &Arc<std::fs::File>,
    mut data: Vec<u8>,
    block_size: usize,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = Arc::clone(file);
    tokio::task::spawn_blocking(move || {
        (&*file).take(block_size as u64).read_to_end(&mut data)?;
        Ok(data)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The HTTP status and Azure error code of a service error.
fn status_of(error: &azure_core::Error) -> Option<(u16, Option<&str>)> {
    match error.kind() {
        ErrorKind::HttpResponse { status, error_code } => {
            Some((u16::from(*status), error_code.as_deref()))
        }
        _ => None,
    }
}

/// 409 "already exists" is success. "Being deleted" is not: the resource would be gone a
/// moment later, so `store_error` reports it as a transient failure instead.
fn already_exists(error: &azure_core::Error, code: &str) -> bool {
    matches!(status_of(error), Some((409, Some(c))) if c == code)
}

/// Builds a secret-free [`StoreError`]: the status, Azure error code and the first line of the
/// service's message for HTTP errors, the sanitized cause chain otherwise.
fn store_error(operation: impl Into<String>, error: &azure_core::Error) -> StoreError {
    let (cause, transient) = match status_of(error) {
        Some((status, code)) => {
            let mut cause = format!("HTTP {status} {}", code.unwrap_or("(no error code)"));
            let message = error
                .as_http_error()
                .and_then(|http| http.error_message())
                .and_then(|m| m.lines().next())
                .map(str::trim)
                .filter(|m| !m.is_empty());
            if let Some(message) = message {
                cause.push_str(": ");
                cause.push_str(&redact_urls(&truncate(message, 200)));
            }
            // "Being deleted" clears up by itself; a later run can create the resource.
            let deleting = matches!(code, Some("ContainerBeingDeleted" | "TableBeingDeleted"));
            (cause, TRANSIENT_STATUSES.contains(&status) || deleting)
        }
        None => (cause_chain(error), matches!(error.kind(), ErrorKind::Io)),
    };
    StoreError {
        operation: operation.into(),
        cause,
        transient,
    }
}

fn cause_chain(error: &azure_core::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        let text = redact_urls(&e.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    truncate(&parts.join(": "), 600)
}

/// Drops the query string of every URL in `text`: with SAS credentials it holds the signature.
fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..start]);
        let url = &rest[start..];
        let end = url.find(char::is_whitespace).unwrap_or(url.len());
        // Punctuation after the URL, like the "):" in reqwest's "for url (URL): cause".
        let token = url[..end].trim_end_matches([')', ']', ':', ',', '.', ';', '"', '\'']);
        match token.find('?') {
            Some(query) => {
                out.push_str(&token[..query]);
                out.push_str("?[redacted]");
            }
            None => out.push_str(token),
        }
        out.push_str(&url[token.len()..end]);
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Same for every upload of the same bytes at the same position, so a retried or repeated
/// upload replaces its own uncommitted blocks; the content hash keeps a concurrent upload of
/// different bytes from mixing its blocks into ours. Every id has the same length, as the
/// service requires.
fn block_id(index: usize, md5: &[u8; 16]) -> BlockId {
    let hex: String = md5.iter().map(|b| format!("{b:02x}")).collect();
    BlockId::new(Bytes::from(format!("{index:08}-{hex}")))
}

fn new_lease_id() -> LeaseId {
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

fn to_metadata(metadata: &BTreeMap<String, String>) -> Result<Metadata, String> {
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

/// Quotes a string for an OData filter.
fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn check_key(what: &str, value: &str) -> Result<(), String> {
    if value.len() > 1024 {
        return Err(format!("{what} is longer than 1 KiB"));
    }
    match value
        .chars()
        .find(|&c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        Some(c) => Err(format!(
            "{what} {value:?} contains {c:?}; Azure Tables forbids / \\ # ? and control characters in keys"
        )),
        None => Ok(()),
    }
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

fn row_entity(partition: &str, row: &SegmentRow) -> Result<Value, String> {
    let mut entity = Map::new();
    entity.insert("PartitionKey".into(), partition.into());
    entity.insert("RowKey".into(), row.row_key.clone().into());
    entity.insert("fileName".into(), row.file_name.clone().into());
    let strings = [
        ("blobName", &row.blob_name),
        ("pod", &row.pod),
        ("contentMd5", &row.content_md5),
        ("alignedWith", &row.aligned_with),
        ("sightings", &row.sightings),
    ];
    for (name, value) in strings {
        if let Some(value) = value {
            entity.insert(name.into(), value.clone().into());
        }
    }
    if let Some(truncated) = row.truncated {
        entity.insert("truncated".into(), truncated.into());
    }
    let unsigned = |name: &str, value: Option<u64>| -> Result<Option<i64>, String> {
        value
            .map(|v| i64::try_from(v).map_err(|_| format!("{name} {v} does not fit Edm.Int64")))
            .transpose()
    };
    let numbers = [
        ("audioStartMs", row.audio_start_ms),
        ("durationMs", row.duration_ms),
        ("durationUs", row.duration_us),
        ("alignedOffsetMs", row.aligned_offset_ms),
        ("inFrame", unsigned("inFrame", row.in_frame)?),
        ("inMs", row.in_ms),
        ("outFrame", unsigned("outFrame", row.out_frame)?),
        ("outMs", row.out_ms),
        ("frames", unsigned("frames", row.frames)?),
        ("size", unsigned("size", row.size)?),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            entity.insert(name.into(), value.to_string().into());
            entity.insert(format!("{name}@odata.type"), "Edm.Int64".into());
        }
    }
    Ok(Value::Object(entity))
}

/// Reads a row leniently: a property of an unexpected type is skipped with a warning, so one
/// odd row cannot stop the job; a row without `fileName` is an error (the row is skipped).
fn parse_row(entity: &Map<String, Value>) -> Result<SegmentRow, String> {
    let row_key = match entity.get("RowKey") {
        Some(Value::String(key)) => key.clone(),
        _ => return Err("a row has no string RowKey".to_owned()),
    };
    let Some(Value::String(file_name)) = entity.get("fileName") else {
        return Err(format!("row {row_key} has no string property fileName"));
    };
    let skip = |name: &str, value: &Value| {
        tracing::warn!(row_key = %row_key, property = name, value = %value,
            "ignoring a table property of unexpected type");
    };
    let string = |name: &str| match entity.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            skip(name, other);
            None
        }
    };
    let int = |name: &str| {
        let value = entity.get(name)?;
        let parsed = match value {
            Value::Null => return None,
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            skip(name, value);
        }
        parsed
    };
    let unsigned = |name: &str| {
        let value = int(name)?;
        let parsed = u64::try_from(value).ok();
        if parsed.is_none() {
            skip(name, &Value::from(value));
        }
        parsed
    };
    Ok(SegmentRow {
        file_name: file_name.clone(),
        blob_name: string("blobName"),
        pod: string("pod"),
        audio_start_ms: int("audioStartMs"),
        duration_ms: int("durationMs"),
        frames: unsigned("frames"),
        size: unsigned("size"),
        content_md5: string("contentMd5"),
        duration_us: int("durationUs"),
        aligned_with: string("alignedWith"),
        sightings: string("sightings"),
        aligned_offset_ms: int("alignedOffsetMs"),
        in_frame: unsigned("inFrame"),
        in_ms: int("inMs"),
        out_frame: unsigned("outFrame"),
        out_ms: int("outMs"),
        truncated: match entity.get("truncated") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                skip("truncated", other);
                None
            }
        },
        row_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn rows_round_trip_through_the_entity_shape() {
        let row = SegmentRow {
            row_key: "2519999999999".into(),
            file_name: "pod-a_20261126T101000.mp3".into(),
            blob_name: Some("26-11-2026/pod-a_20261126T101000.mp3".into()),
            pod: Some("pod-a".into()),
            audio_start_ms: Some(1_795_687_800_000),
            duration_ms: Some(600_030),
            frames: Some(22_970),
            size: Some(9_600_000_000),
            content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
            truncated: Some(true),
            duration_us: Some(600_026_122),
            aligned_with: Some("pod-b_20261126T101003.mp3".into()),
            aligned_offset_ms: Some(-2_345),
            in_frame: Some(96),
            in_ms: Some(2_508),
            out_frame: Some(22_970),
            out_ms: Some(600_026),
            sightings: Some("[]".into()),
        };
        let entity = row_entity("hope", &row).unwrap();
        assert_eq!(entity["PartitionKey"], "hope");
        assert_eq!(entity["size"], "9600000000");
        assert_eq!(entity["size@odata.type"], "Edm.Int64");
        assert_eq!(parse_row(&map(entity)).unwrap(), row);
    }

    #[test]
    fn node_rows_and_odd_types_parse() {
        let node = parse_row(&map(json!({
            "PartitionKey": "hope", "RowKey": "1", "fileName": "p_20261126T101000.mp3",
            "Timestamp": "2026-11-26T10:20:00Z"
        })))
        .unwrap();
        assert_eq!(node.file_name, "p_20261126T101000.mp3");
        assert_eq!(node.blob_name, None);
        assert_eq!(node.size, None);

        let odd = parse_row(&map(json!({
            "RowKey": "2", "fileName": "f.mp3", "size": 12, "frames": "x", "durationMs": -1,
            "pod": true, "audioStartMs": 1.5
        })))
        .unwrap();
        assert_eq!(odd.size, Some(12));
        assert_eq!(odd.frames, None);
        assert_eq!(odd.duration_ms, Some(-1));
        assert_eq!(odd.pod, None);
        assert_eq!(odd.audio_start_ms, None);

        let err = parse_row(&map(json!({"RowKey": "3", "fileName": 5}))).unwrap_err();
        assert!(err.contains("row 3") && err.contains("fileName"), "{err}");
    }

    #[test]
    fn filter_values_are_quoted_and_keys_checked() {
        assert_eq!(odata_string("o'brien"), "'o''brien'");
        assert_eq!(odata_string("''"), "''''''");
        assert!(check_key("RowKey", "2519999999999").is_ok());
        assert!(check_key("RowKey", "o'brien").is_ok());
        for bad in [
            "a/b", "a\\b", "a#b", "a?b", "a\u{1}b", "a\u{7f}b", "a\u{85}b",
        ] {
            assert!(check_key("RowKey", bad).is_err(), "{bad:?}");
        }
    }

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
    fn metadata_names_must_read_back_unchanged() {
        let ok = BTreeMap::from([("audio_start_ms".to_owned(), "123".to_owned())]);
        assert!(to_metadata(&ok).is_ok());
        let upper = BTreeMap::from([("audioStart".to_owned(), "1".to_owned())]);
        assert!(to_metadata(&upper).is_err());
        let non_ascii = BTreeMap::from([("pod".to_owned(), "é".to_owned())]);
        assert!(to_metadata(&non_ascii).is_err());
    }

    #[test]
    fn block_ids_are_deterministic_and_equal_length() {
        let a = block_id(0, &[0; 16]);
        assert_eq!(a, block_id(0, &[0; 16]));
        assert_ne!(a, block_id(1, &[0; 16]));
        assert_ne!(a, block_id(0, &[1; 16]));
        assert_eq!(
            a.as_ref().len(),
            block_id(49_999, &[255; 16]).as_ref().len()
        );
    }

    #[test]
    fn urls_lose_their_query() {
        let text = "error sending request for url (https://a.blob.core.windows.net/c/b?sv=1&sig=SECRET): x";
        let redacted = redact_urls(text);
        assert!(!redacted.contains("SECRET"), "{redacted}");
        assert!(redacted.contains("https://a.blob.core.windows.net/c/b?[redacted]"));
        assert_eq!(redact_urls("no url"), "no url");
        let table = "url (http://h:1/acct/audios()?%24filter=x&sig=SECRET): refused";
        assert_eq!(
            redact_urls(table),
            "url (http://h:1/acct/audios()?[redacted]): refused"
        );
    }

    #[test]
    fn lease_ids_are_uuids_and_differ() {
        let a = new_lease_id();
        let b = new_lease_id();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 36);
    }

    #[test]
    fn default_deadline_is_bounded() {
        let options = AzureOptions::default();
        assert!(options.call_deadline() < Duration::from_secs(180));
    }
}
