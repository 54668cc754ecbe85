//! The `Archive` contract suite (`store::conformance`) against `AzureArchive` on a real
//! Azurite, and random call sequences that must get the same answers from Azure and from the
//! in-memory archive (`store::differential`). The in-memory and local-directory archives
//! run the same suite in `cargo test --lib`. Needs `npm ci` at the repository root.

mod support;
use support::azurite;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use azurite::Azurite;
use proptest::test_runner::{Config, TestRunner};
use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::differential::{compare, Call};
use store::memory::InMemoryArchive;
use store::{conformance, Archive};

fn options() -> AzureOptions {
    AzureOptions {
        request_timeout: Duration::from_secs(10),
        max_retries: 2,
        // Small blocks, so the suite's 200-kB file takes several.
        block_size: 64 * 1024,
        upload_concurrency: 3,
    }
}

#[tokio::test]
async fn azure_keeps_the_archive_contract() {
    let azurite = Azurite::start();
    let target = StorageTarget::parse(&azurite.connection_string()).unwrap();
    let archive = AzureArchive::new(&target, "hope", "audios", "hope", options()).unwrap();
    archive.ensure_ready().await.unwrap();
    conformance::check_archive(&archive).await;
}

/// The same contract with files going up in one Put Blob (the job's configuration) instead of
/// blocks: the suite's files are all under the limit.
#[tokio::test]
async fn azure_with_single_puts_keeps_the_archive_contract() {
    let azurite = Azurite::start();
    let target = StorageTarget::parse(&azurite.connection_string()).unwrap();
    let archive = AzureArchive::new(&target, "hope", "audios", "hope", options())
        .unwrap()
        .with_single_put_limit(store::azure::SINGLE_PUT_LIMIT);
    archive.ensure_ready().await.unwrap();
    conformance::check_archive(&archive).await;
}

#[test]
fn azure_answers_as_the_in_memory_archive() {
    let azurite = Azurite::start();
    let target = StorageTarget::parse(&azurite.connection_string()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Each case (shrinking included) gets a container of its own: its own blobs and lock.
    let case = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config::with_cases(16));
    let sequences = proptest::collection::vec(proptest::prelude::any::<(u8, u8, u8)>(), 1..30);
    runner
        .run(&sequences, |bytes| {
            let calls: Vec<Call> = bytes
                .iter()
                .map(|&(c, a, b)| Call::from_bytes(c, a, b))
                .collect();
            let name = format!("case{}", case.fetch_add(1, Ordering::Relaxed));
            let azure = AzureArchive::new(&target, &name, "audios", &name, options()).unwrap();
            let memory = InMemoryArchive::new(&name);
            runtime.block_on(async {
                azure.ensure_ready().await.unwrap();
                compare(&memory, &azure, &calls).await;
            });
            Ok(())
        })
        .unwrap();
}
