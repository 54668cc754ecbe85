//! The `Archive` contract suite (`job::store::conformance`) against `AzureArchive` on a real
//! Azurite. The in-memory and local-directory archives run the same suite in `cargo test
//! --lib`. Needs `npm ci` at the repository root.

#[path = "support/azurite.rs"]
mod azurite;

use std::time::Duration;

use azurite::Azurite;
use job::store::azure::{AzureArchive, AzureOptions};
use job::store::connection::StorageTarget;
use job::store::{conformance, Archive};

#[tokio::test]
async fn azure_keeps_the_archive_contract() {
    let azurite = Azurite::start();
    let target = StorageTarget::parse(&azurite.connection_string()).unwrap();
    let options = AzureOptions {
        request_timeout: Duration::from_secs(10),
        max_retries: 2,
        // Small blocks, so the suite's 200-kB file takes several.
        block_size: 64 * 1024,
        upload_concurrency: 3,
    };
    let archive = AzureArchive::new(&target, "hope", "audios", "hope", options).unwrap();
    archive.ensure_ready().await.unwrap();
    conformance::check_archive(&archive).await;
}
