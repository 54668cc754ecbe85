//! `AzureArchive` against a real Azurite: every `Archive` method, plus failure behaviour.
//! Needs `npm ci` at the repository root.

mod support;
use support::azurite;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use azure_core::headers::{Headers, CONTENT_MD5};
use azure_core::{Context, CustomHeaders};
use azure_data_tables::clients::{TableClient, TableServiceClientBuilder};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{BlobClient, BlockListType, ClientBuilder};
use azurite::{Azurite, ACCOUNT, ACCOUNT_KEY};
use base64::Engine as _;
use futures::stream::{self, StreamExt};
use md5::{Digest, Md5};
use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::{Archive, ArchiveRead, InsertOutcome, PutMode, PutOutcome, SegmentRow, StoreError};

const CONTAINER: &str = "hope";
const TABLE: &str = "audios";
const BLOCK: usize = 64 * 1024;

fn options() -> AzureOptions {
    AzureOptions {
        request_timeout: Duration::from_secs(10),
        max_retries: 2,
        block_size: BLOCK,
        upload_concurrency: 3,
    }
}

fn target(azurite: &Azurite) -> StorageTarget {
    StorageTarget::parse(&azurite.connection_string()).expect("Azurite's connection string")
}

fn archive_in(azurite: &Azurite, partition: &str, options: AzureOptions) -> AzureArchive {
    AzureArchive::new(&target(azurite), CONTAINER, TABLE, partition, options).unwrap()
}

async fn ready(azurite: &Azurite, partition: &str) -> AzureArchive {
    let archive = archive_in(azurite, partition, options());
    archive.ensure_ready().await.unwrap();
    archive
}

fn credentials() -> StorageCredentials {
    StorageCredentials::access_key(ACCOUNT, ACCOUNT_KEY.to_owned())
}

/// Direct SDK access, for checks the trait does not expose.
fn sdk_blob(azurite: &Azurite, name: &str) -> BlobClient {
    let location = CloudLocation::Custom {
        account: ACCOUNT.into(),
        uri: target(azurite).blob_endpoint,
    };
    ClientBuilder::with_location(location, credentials()).blob_client(CONTAINER, name)
}

fn sdk_table(azurite: &Azurite) -> TableClient {
    let location = CloudLocation::Custom {
        account: ACCOUNT.into(),
        uri: target(azurite).table_endpoint,
    };
    TableServiceClientBuilder::with_location(location, credentials())
        .build()
        .table_client(TABLE)
}

/// Deterministic, non-repeating bytes, so a misplaced block changes the MD5.
fn write_file(dir: &Path, name: &str, len: usize, seed: u8) -> PathBuf {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn md5_of(path: &Path) -> [u8; 16] {
    Md5::digest(std::fs::read(path).unwrap()).into()
}

fn row(key: &str) -> SegmentRow {
    SegmentRow {
        row_key: key.into(),
        file_name: format!("pod-a_{key}.mp3"),
        blob_name: Some(format!("26-11-2026/pod-a_{key}.mp3")),
        pod: Some("pod-a".into()),
        audio_start_ms: Some(1_795_687_800_000),
        duration_ms: Some(600_030),
        frames: Some(22_970),
        size: Some(9_600_000_000),
        content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
        truncated: Some(false),
        duration_us: Some(600_030_000),
        aligned_with: None,
        aligned_offset_ms: None,
        in_frame: Some(0),
        in_ms: Some(0),
        out_frame: Some(22_970),
        out_ms: Some(600_030),
        in_byte: Some(417),
        out_byte: Some(9_599_999_583),
        sightings: None,
        silences: None,
        ..SegmentRow::default()
    }
}

fn keys(rows: &[SegmentRow]) -> Vec<&str> {
    rows.iter().map(|r| r.row_key.as_str()).collect()
}

#[tokio::test]
async fn ensure_ready_is_idempotent_and_safe_when_concurrent() {
    let azurite = Azurite::start();
    let archive = archive_in(&azurite, "hope", options());
    archive.ensure_ready().await.unwrap();
    archive.ensure_ready().await.unwrap();

    let target = target(&azurite);
    let racers: Vec<AzureArchive> = (0..4)
        .map(|_| AzureArchive::new(&target, "racing", "racetable", "p", options()).unwrap())
        .collect();
    let results = futures::future::join_all(racers.iter().map(|a| a.ensure_ready())).await;
    for result in results {
        result.unwrap();
    }
    // Created means usable: the table answers queries right away.
    assert!(racers[0].first_rows(5).await.unwrap().is_empty());
}

#[tokio::test]
async fn put_file_uploads_many_blocks_with_type_md5_and_metadata() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "a.mp3", BLOCK * 5 + 1234, 1);
    let metadata = BTreeMap::from([
        ("pod".to_owned(), "pod-a".to_owned()),
        ("frames".to_owned(), "383".to_owned()),
    ]);

    let outcome = archive
        .put_file(
            "26-11-2026/a.mp3",
            &open(&path),
            &metadata,
            PutMode::CreateOnly,
        )
        .await
        .unwrap();
    let size = (BLOCK * 5 + 1234) as u64;
    assert_eq!(
        outcome,
        PutOutcome::Written {
            size,
            md5: md5_of(&path),
            range_md5: md5_of(&path)
        }
    );

    let info = archive
        .blob_info("26-11-2026/a.mp3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.size, size);
    assert_eq!(info.md5, Some(md5_of(&path)));
    assert_eq!(info.metadata, metadata);

    let blob = sdk_blob(&azurite, "26-11-2026/a.mp3");
    let properties = blob.get_properties().await.unwrap().blob.properties;
    assert_eq!(properties.content_type, "audio/mpeg");
    let blocks = blob
        .get_block_list()
        .block_list_type(BlockListType::Committed)
        .await
        .unwrap()
        .block_with_size_list
        .blocks;
    let sizes: Vec<u64> = blocks.iter().map(|b| b.size_in_bytes).collect();
    let mut expected = vec![BLOCK as u64; 5];
    expected.push(1234);
    assert_eq!(sizes, expected);
    assert_eq!(
        blob.get_content().await.unwrap(),
        std::fs::read(&path).unwrap()
    );

    assert_eq!(
        archive.blob_info("26-11-2026/missing.mp3").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn empty_file_becomes_an_empty_blob() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "empty.mp3", 0, 0);
    let outcome = archive
        .put_file(
            "empty.mp3",
            &open(&path),
            &BTreeMap::new(),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PutOutcome::Written {
            size: 0,
            md5: md5_of(&path),
            range_md5: md5_of(&path)
        }
    );
    assert_eq!(
        archive.blob_info("empty.mp3").await.unwrap().unwrap().size,
        0
    );
}

#[tokio::test]
async fn create_only_keeps_the_existing_blob_and_overwrite_replaces_it() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    let dir = tempfile::tempdir().unwrap();
    let first = write_file(dir.path(), "first.mp3", BLOCK * 2 + 7, 1);
    let second = write_file(dir.path(), "second.mp3", BLOCK * 3 + 9, 2);
    let name = "26-11-2026/b.mp3";
    let none = BTreeMap::new();

    archive
        .put_file(name, &open(&first), &none, PutMode::CreateOnly)
        .await
        .unwrap();
    match archive
        .put_file(name, &open(&second), &none, PutMode::CreateOnly)
        .await
        .unwrap()
    {
        PutOutcome::AlreadyExists(info) => {
            assert_eq!(info.md5, Some(md5_of(&first)));
            assert_eq!(info.size, (BLOCK * 2 + 7) as u64);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }

    let outcome = archive
        .put_file(name, &open(&second), &none, PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PutOutcome::Written {
            size: (BLOCK * 3 + 9) as u64,
            md5: md5_of(&second),
            range_md5: md5_of(&second)
        }
    );
    let info = archive.blob_info(name).await.unwrap().unwrap();
    assert_eq!(info.md5, Some(md5_of(&second)));
    assert_eq!(
        sdk_blob(&azurite, name).get_content().await.unwrap(),
        std::fs::read(&second).unwrap()
    );
}

#[tokio::test]
async fn concurrent_create_only_uploads_leave_exactly_one_intact_blob() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(dir.path(), "a.mp3", BLOCK * 8, 3);
    let b = write_file(dir.path(), "b.mp3", BLOCK * 8, 4);
    let none = BTreeMap::new();
    let name = "race.mp3";
    let (fa, fb) = (open(&a), open(&b));

    let (ra, rb) = tokio::join!(
        archive.put_file(name, &fa, &none, PutMode::CreateOnly),
        archive.put_file(name, &fb, &none, PutMode::CreateOnly)
    );
    let outcomes = [ra.unwrap(), rb.unwrap()];
    let written: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            PutOutcome::Written { md5, .. } => Some(*md5),
            PutOutcome::AlreadyExists(_) => None,
        })
        .collect();
    assert_eq!(written.len(), 1, "{outcomes:?}");
    let winner = written[0];
    for outcome in &outcomes {
        if let PutOutcome::AlreadyExists(info) = outcome {
            assert_eq!(info.md5, Some(winner));
        }
    }
    // Same block positions, different bytes: the content hash in the block ids keeps them apart.
    let content = sdk_blob(&azurite, name).get_content().await.unwrap();
    assert_eq!(<[u8; 16]>::from(Md5::digest(&content)), winner);
}

#[tokio::test]
async fn azurite_checks_the_per_block_md5_sent_through_custom_headers() {
    // The SDK's `PutBlockBuilder::hash` is never sent; this is the route AzureArchive uses.
    let azurite = Azurite::start();
    ready(&azurite, "hope").await;
    let blob = sdk_blob(&azurite, "md5-check.mp3");
    let put = |md5: [u8; 16]| {
        let mut headers = Headers::new();
        headers.insert(
            CONTENT_MD5,
            base64::engine::general_purpose::STANDARD.encode(md5),
        );
        let mut context = Context::new();
        context.insert(CustomHeaders::from(headers));
        blob.put_block(b"0001".to_vec(), b"hello".to_vec())
            .context(context)
            .into_future()
    };
    put(Md5::digest(b"hello").into()).await.unwrap();
    let err = put([0; 16]).await.unwrap_err();
    assert!(format!("{err:?}").contains("Md5Mismatch"), "{err:?}");
}

#[tokio::test]
async fn insert_row_twice_returns_the_existing_row() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    let first = row("2519999999000");
    assert_eq!(
        archive.insert_row(&first).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        archive.insert_row(&first).await.unwrap(),
        InsertOutcome::AlreadyExists(Box::new(first.clone()))
    );
    let other = SegmentRow {
        file_name: "pod-b_x.mp3".into(),
        ..row("2519999999000")
    };
    assert_eq!(
        archive.insert_row(&other).await.unwrap(),
        InsertOutcome::AlreadyExists(Box::new(first.clone()))
    );
    assert_eq!(archive.first_rows(10).await.unwrap(), vec![first]);

    let bad = archive.insert_row(&row("a/b")).await.unwrap_err();
    assert!(
        !bad.is_transient() && bad.cause().contains("forbids"),
        "{bad}"
    );
}

#[tokio::test]
async fn node_style_and_oddly_typed_rows_parse() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    let table = sdk_table(&azurite);
    let node = serde_json::json!({
        "PartitionKey": "hope", "RowKey": "2519999990000",
        "fileName": "ffmpeg-deployment-7c9f-abcde_20261126T132143.mp3"
    });
    table
        .insert::<_, serde_json::Value>(node)
        .unwrap()
        .await
        .unwrap();
    let odd = serde_json::json!({
        "PartitionKey": "hope", "RowKey": "2519999990001", "fileName": "odd.mp3",
        "size": "not a number", "frames": true, "durationMs": 600, "pod": 7
    });
    table
        .insert::<_, serde_json::Value>(odd)
        .unwrap()
        .await
        .unwrap();

    let rows = archive.first_rows(5).await.unwrap();
    assert_eq!(
        rows[0],
        SegmentRow {
            row_key: "2519999990000".into(),
            file_name: "ffmpeg-deployment-7c9f-abcde_20261126T132143.mp3".into(),
            ..SegmentRow::default()
        }
    );
    assert_eq!(rows[1].file_name, "odd.mp3");
    assert_eq!((rows[1].size, rows[1].frames), (None, None));
    assert_eq!(rows[1].duration_ms, Some(600));
    assert_eq!(rows[1].pod, None);
}

#[tokio::test]
async fn ranges_and_first_rows_are_ordered_bounded_and_partitioned() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    let other = ready(&azurite, "inspire").await;
    for key in [
        "k07", "k03", "k00", "k05", "k01", "k09", "k02", "k04", "k06", "k08",
    ] {
        archive.insert_row(&row(key)).await.unwrap();
    }
    other.insert_row(&row("k05")).await.unwrap();

    let range = archive.rows_in_range("k03", "k07").await.unwrap();
    assert_eq!(keys(&range), ["k03", "k04", "k05", "k06", "k07"]);
    assert_eq!(range[2], row("k05"));
    assert_eq!(
        keys(&archive.rows_in_range("k035", "k05").await.unwrap()),
        ["k04", "k05"]
    );
    assert!(archive
        .rows_in_range("k10", "k20")
        .await
        .unwrap()
        .is_empty());
    assert!(archive
        .rows_in_range("k05", "k03")
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        keys(&archive.first_rows(3).await.unwrap()),
        ["k00", "k01", "k02"]
    );
    assert_eq!(archive.first_rows(100).await.unwrap().len(), 10);
    assert!(archive.first_rows(0).await.unwrap().is_empty());
    assert_eq!(keys(&other.first_rows(10).await.unwrap()), ["k05"]);
}

#[tokio::test]
async fn queries_follow_continuation_tokens() {
    let azurite = Azurite::start();
    let archive = ready(&azurite, "hope").await;
    // More than one 1,000-row page.
    let keys_in: Vec<String> = (0..1105).map(|i| format!("r{i:05}")).collect();
    let rows: Vec<SegmentRow> = keys_in.iter().map(|k| row(k)).collect();
    let inserted: Vec<_> = stream::iter(&rows)
        .map(|r| archive.insert_row(r))
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(inserted
        .iter()
        .all(|r| matches!(r, Ok(InsertOutcome::Inserted))));

    // The service really splits this result, so the archive had to follow the tokens.
    let pages = sdk_table(&azurite)
        .query()
        .into_stream::<serde_json::Value>()
        .count()
        .await;
    assert!(pages >= 2, "{pages} page(s)");

    let all = archive.rows_in_range("r00000", "r99999").await.unwrap();
    assert_eq!(keys(&all), keys_in);
    let first = archive.first_rows(1050).await.unwrap();
    assert_eq!(keys(&first), keys_in[..1050]);
}

#[tokio::test]
async fn quotes_in_filter_values_are_escaped() {
    let azurite = Azurite::start();
    let quoted = ready(&azurite, "o'brien").await;
    let plain = ready(&azurite, "o").await;
    quoted.insert_row(&row("it's")).await.unwrap();
    quoted.insert_row(&row("k1")).await.unwrap();
    plain.insert_row(&row("it's")).await.unwrap();
    plain.insert_row(&row("z")).await.unwrap();

    assert_eq!(
        keys(&quoted.rows_in_range("it's", "it's").await.unwrap()),
        ["it's"]
    );
    assert_eq!(keys(&quoted.first_rows(10).await.unwrap()), ["it's", "k1"]);
    assert_eq!(keys(&plain.first_rows(10).await.unwrap()), ["it's", "z"]);
    // An injection attempt is just an odd bound that matches nothing.
    let injected = plain.rows_in_range("x' or RowKey ne '", "y").await.unwrap();
    assert!(injected.is_empty(), "{injected:?}");
    // Repeat insert of a quoted key goes through the quoted lookup.
    assert_eq!(
        quoted.insert_row(&row("it's")).await.unwrap(),
        InsertOutcome::AlreadyExists(Box::new(row("it's")))
    );
}

#[tokio::test]
async fn the_lock_is_exclusive_until_released() {
    let azurite = Azurite::start();
    let a = ready(&azurite, "hope").await;
    let b = ready(&azurite, "hope").await;

    let lock = a
        .try_lock(15)
        .await
        .unwrap()
        .expect("first taker gets the lock");
    assert_eq!(b.try_lock(15).await.unwrap(), None);
    a.renew_lock(&lock).await.unwrap();
    assert_eq!(b.try_lock(60).await.unwrap(), None);
    a.release_lock(&lock).await.unwrap();

    let again = b.try_lock(60).await.unwrap().expect("free after release");
    assert_ne!(again, lock);
    let lost = a.renew_lock(&lock).await.unwrap_err();
    assert!(!lost.is_transient(), "{lost}");
    b.release_lock(&again).await.unwrap();

    let bad = a.try_lock(10).await.unwrap_err();
    assert!(bad.cause().contains("15..=60"), "{bad}");
}

fn assert_no_secret(err: &StoreError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(ACCOUNT_KEY), "{text}");
        assert!(!text.contains(&ACCOUNT_KEY[..20]), "{text}");
        assert!(!text.contains("sig="), "{text}");
    }
}

#[tokio::test]
async fn a_stopped_azurite_fails_fast_and_transiently_then_data_survives_restart() {
    let mut azurite = Azurite::start();
    let fast = AzureOptions {
        request_timeout: Duration::from_secs(2),
        max_retries: 2,
        ..options()
    };
    let archive = archive_in(&azurite, "hope", fast.clone());
    archive.ensure_ready().await.unwrap();
    archive.insert_row(&row("k1")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "s.mp3", BLOCK + 1, 5);
    archive
        .put_file("s.mp3", &open(&path), &BTreeMap::new(), PutMode::CreateOnly)
        .await
        .unwrap();

    azurite.stop();
    let bound = fast.request_timeout * 3 + Duration::from_secs(10);
    let started = Instant::now();
    let errors = vec![
        archive.ensure_ready().await.unwrap_err(),
        archive.blob_info("s.mp3").await.unwrap_err(),
        archive.first_rows(1).await.unwrap_err(),
        archive.rows_in_range("a", "z").await.unwrap_err(),
        archive.insert_row(&row("k2")).await.unwrap_err(),
        archive.try_lock(15).await.unwrap_err(),
        archive
            .put_file("t.mp3", &open(&path), &BTreeMap::new(), PutMode::Overwrite)
            .await
            .unwrap_err(),
    ];
    let elapsed = started.elapsed();
    assert!(
        elapsed < bound * errors.len() as u32,
        "took {elapsed:?} for {} calls",
        errors.len()
    );
    for err in &errors {
        eprintln!("{err}");
        assert!(err.is_transient(), "{err}");
        assert_no_secret(err);
    }

    azurite.restart();
    assert_eq!(keys(&archive.first_rows(5).await.unwrap()), ["k1"]);
    let info = archive.blob_info("s.mp3").await.unwrap().unwrap();
    assert_eq!(info.md5, Some(md5_of(&path)));
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out() {
    // Accepts connections (the kernel's backlog) but never responds.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let target = StorageTarget::parse(&format!(
        "BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};\
         AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY}"
    ))
    .unwrap();
    let options = AzureOptions {
        request_timeout: Duration::from_millis(500),
        max_retries: 1,
        ..options()
    };
    let archive = AzureArchive::new(&target, CONTAINER, TABLE, "hope", options).unwrap();

    let started = Instant::now();
    let err = archive.blob_info("x.mp3").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(1000),
        "no retry? {elapsed:?}"
    );
    assert!(err.is_transient(), "{err}");
    assert!(err.cause().contains("no response within"), "{err}");
    assert_no_secret(&err);
}

/// A file open for reading: what the job passes to an upload.
fn open(path: &std::path::Path) -> std::fs::File {
    std::fs::File::open(path).unwrap()
}
