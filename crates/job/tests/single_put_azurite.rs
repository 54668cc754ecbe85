//! The single-request upload (one Put Blob streamed from the file or from parts, checked
//! against the MD5 the service returns) against a real Azurite, through the fault proxy so
//! the requests on the wire are seen and can be broken. Needs `npm ci` at the repository root.

mod support;
use support::{azurite, faultproxy};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use azurite::{Azurite, ACCOUNT, ACCOUNT_KEY};
use bytes::Bytes;
use faultproxy::{Fault, FaultProxy, RequestHead, Scope};
use md5::{Digest, Md5};
use store::azure::{AzureArchive, AzureOptions, Part};
use store::connection::StorageTarget;
use store::{Archive, ArchiveRead, PutMode, PutOutcome};

const LIMIT: u64 = 4 * 1024 * 1024;

fn options() -> AzureOptions {
    AzureOptions {
        request_timeout: Duration::from_secs(10),
        max_retries: 2,
        block_size: 64 * 1024,
        upload_concurrency: 2,
    }
}

/// Azurite, the proxy in front of it, and an archive that talks through the proxy.
async fn setup() -> (Azurite, FaultProxy, AzureArchive) {
    let az = Azurite::start();
    let proxy = FaultProxy::start(az.blob_port(), az.table_port());
    let target = StorageTarget::parse(&proxy.connection_string(ACCOUNT, ACCOUNT_KEY)).unwrap();
    let archive = AzureArchive::new(&target, "hope", "audios", "hope", options())
        .unwrap()
        .with_single_put_limit(LIMIT);
    archive.ensure_ready().await.unwrap();
    (az, proxy, archive)
}

fn write_file(dir: &Path, name: &str, len: usize, seed: u8) -> PathBuf {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn md5(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// Uploads `path`, returning the outcome and every byte the inspector saw.
async fn put(
    archive: &AzureArchive,
    name: &str,
    path: &Path,
    mode: PutMode,
) -> (Result<PutOutcome, store::StoreError>, Vec<u8>) {
    let mut seen = Vec::new();
    let metadata = BTreeMap::from([("pod".to_owned(), "pod-a".to_owned())]);
    let outcome = archive
        .put_file_inspected(
            name,
            &std::fs::File::open(path).unwrap(),
            &metadata,
            mode,
            &mut |chunk| seen.extend_from_slice(chunk),
        )
        .await;
    (outcome, seen)
}

fn puts_of(proxy: &FaultProxy, name: &str) -> Vec<String> {
    proxy
        .log()
        .into_iter()
        .filter(|l| l.contains("PUT") && l.contains(name))
        .collect()
}

fn single_put_of(name: &'static str) -> Scope {
    Scope::Matching(std::sync::Arc::new(move |h: &RequestHead| {
        h.is_single_put() && h.path().ends_with(name)
    }))
}

#[tokio::test]
async fn a_file_up_to_the_limit_is_one_put_blob_checked_and_inspected_once() {
    let (_az, proxy, archive) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "a.mp3", 3 * 1024 * 1024 + 17, 1);
    let content = std::fs::read(&path).unwrap();

    let (outcome, seen) = put(&archive, "d/a.mp3", &path, PutMode::CreateOnly).await;
    assert_eq!(
        outcome.unwrap(),
        PutOutcome::Written {
            size: content.len() as u64,
            md5: md5(&content),
            range_md5: md5(&content)
        }
    );
    assert!(seen == content, "the inspector saw other bytes");
    let puts = puts_of(&proxy, "d/a.mp3");
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(!puts[0].contains("comp="), "{puts:?}");
    // The service's own property, what a later run compares a file with.
    let info = archive.blob_info("d/a.mp3").await.unwrap().unwrap();
    assert_eq!(info.size, content.len() as u64);
    assert_eq!(info.md5, Some(md5(&content)));
    assert_eq!(info.metadata["pod"], "pod-a");
    assert_eq!(
        archive
            .read_blob_range("d/a.mp3", 0, 1 << 30)
            .await
            .unwrap(),
        content
    );
}

#[tokio::test]
async fn create_only_refuses_an_existing_blob_and_overwrite_replaces_it() {
    let (_az, _proxy, archive) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let first = write_file(dir.path(), "1.mp3", 200_000, 1);
    let second = write_file(dir.path(), "2.mp3", 300_000, 2);
    put(&archive, "b.mp3", &first, PutMode::CreateOnly)
        .await
        .0
        .unwrap();

    let (refused, _) = put(&archive, "b.mp3", &second, PutMode::CreateOnly).await;
    match refused.unwrap() {
        PutOutcome::AlreadyExists(info) => {
            assert_eq!(info.size, 200_000);
            assert_eq!(info.md5, Some(md5(&std::fs::read(&first).unwrap())));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        archive.read_blob_range("b.mp3", 0, 1 << 20).await.unwrap(),
        std::fs::read(&first).unwrap()
    );

    let (replaced, _) = put(&archive, "b.mp3", &second, PutMode::Overwrite).await;
    let content = std::fs::read(&second).unwrap();
    assert_eq!(
        replaced.unwrap(),
        PutOutcome::Written {
            size: 300_000,
            md5: md5(&content),
            range_md5: md5(&content)
        }
    );
    assert_eq!(
        archive.read_blob_range("b.mp3", 0, 1 << 20).await.unwrap(),
        content
    );
}

#[tokio::test]
async fn a_cut_request_is_retried_and_the_inspector_still_sees_each_byte_once() {
    let (_az, proxy, archive) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "r.mp3", 2 * 1024 * 1024, 3);
    let content = std::fs::read(&path).unwrap();
    // The first attempt's connection drops after 1 MB of the body; the SDK retries.
    proxy.set_limited(Fault::CutUpload(1 << 20), single_put_of("r.mp3"), Some(1));

    let (outcome, seen) = put(&archive, "r.mp3", &path, PutMode::CreateOnly).await;
    assert_eq!(
        outcome.unwrap(),
        PutOutcome::Written {
            size: content.len() as u64,
            md5: md5(&content),
            range_md5: md5(&content)
        }
    );
    assert_eq!(proxy.faults(), 1);
    assert_eq!(puts_of(&proxy, "r.mp3").len(), 2);
    assert!(
        seen == content,
        "inspected {} bytes, not the file once",
        seen.len()
    );
    let info = archive.blob_info("r.mp3").await.unwrap().unwrap();
    assert_eq!(info.md5, Some(md5(&content)));
}

#[tokio::test]
async fn bytes_the_service_stored_differently_fail_the_upload_and_the_blob_is_not_trusted() {
    let (_az, proxy, archive) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "m.mp3", 500_000, 4);
    let content = std::fs::read(&path).unwrap();
    proxy.set_limited(Fault::FlipByte(123_456), single_put_of("m.mp3"), Some(1));

    let (outcome, _) = put(&archive, "m.mp3", &path, PutMode::CreateOnly).await;
    let err = outcome.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.cause().contains("not trusted"), "{err}");
    assert!(err.to_string().contains("m.mp3"), "{err}");

    // What the next run meets: a blob there, whose MD5 is not the file's, so it is not
    // recorded as the file's copy (the executor compares the two).
    let (again, _) = put(&archive, "m.mp3", &path, PutMode::CreateOnly).await;
    match again.unwrap() {
        PutOutcome::AlreadyExists(info) => {
            assert_eq!(info.size, content.len() as u64);
            assert_ne!(info.md5, Some(md5(&content)));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[tokio::test]
async fn a_blob_from_a_header_and_ranges_of_files_holds_exactly_those_bytes() {
    let (_az, proxy, archive) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(dir.path(), "a.mp3", 700_000, 5);
    let b = write_file(dir.path(), "b.mp3", 400_000, 6);
    let (ca, cb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let header = Bytes::from_static(b"ID3\x04\x00\x00\x00\x00\x00\x00generated");
    let parts = vec![
        Part::Bytes(header.clone()),
        Part::File {
            file: std::sync::Arc::new(std::fs::File::open(&a).unwrap()),
            start: 4_181,
            len: 600_000,
        },
        Part::File {
            file: std::sync::Arc::new(std::fs::File::open(&b).unwrap()),
            start: 0,
            len: 300_001,
        },
    ];
    let mut expected = header.to_vec();
    expected.extend_from_slice(&ca[4_181..604_181]);
    expected.extend_from_slice(&cb[..300_001]);

    let mut seen = Vec::new();
    let outcome = archive
        .put_parts(
            "exact/x.mp3",
            parts,
            "audio/mpeg",
            &BTreeMap::new(),
            PutMode::CreateOnly,
            &mut |chunk| seen.extend_from_slice(chunk),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PutOutcome::Written {
            size: expected.len() as u64,
            md5: md5(&expected),
            range_md5: md5(&expected[header.len()..])
        }
    );
    assert!(seen == expected);
    assert_eq!(puts_of(&proxy, "exact/x.mp3").len(), 1);
    let info = archive.blob_info("exact/x.mp3").await.unwrap().unwrap();
    assert_eq!(info.md5, Some(md5(&expected)));
    assert_eq!(
        archive
            .read_blob_range("exact/x.mp3", 0, 1 << 30)
            .await
            .unwrap(),
        expected
    );
}

#[tokio::test]
async fn a_file_above_the_limit_goes_up_in_blocks() {
    let (_az, proxy, archive) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "big.mp3", LIMIT as usize + 1, 7);
    let content = std::fs::read(&path).unwrap();
    let (outcome, seen) = put(&archive, "big.mp3", &path, PutMode::CreateOnly).await;
    assert_eq!(
        outcome.unwrap(),
        PutOutcome::Written {
            size: content.len() as u64,
            md5: md5(&content),
            range_md5: md5(&content)
        }
    );
    assert!(seen == content);
    let puts = puts_of(&proxy, "big.mp3");
    assert!(
        puts.iter().any(|l| l.contains("comp=blocklist")),
        "{puts:?}"
    );
    assert_eq!(
        puts.iter().filter(|l| l.ends_with("comp=block")).count(),
        content.len().div_ceil(64 * 1024),
        "{puts:?}"
    );
}
