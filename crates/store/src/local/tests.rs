//! The local archive: the contract suite, plus what only files show (leases seen across
//! processes, blobs whose properties were never written, names that are not plain paths).

use super::*;
use crate::conformance;

fn archive(dir: &tempfile::TempDir) -> LocalArchive {
    LocalArchive::new(dir.path().join("archive"), "hope").unwrap()
}

#[tokio::test]
async fn the_local_archive_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(&dir);
    archive.ensure_ready().await.unwrap();
    conformance::check_archive(&archive).await;
}

#[tokio::test]
async fn leases_expire_on_the_clock_and_span_processes_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let one = archive(&dir);
    one.ensure_ready().await.unwrap();
    // Another archive on the same directory, as another process would open it.
    let two = archive(&dir);
    let lock = one.try_lock(15).await.unwrap().unwrap();
    assert_eq!(two.try_lock(15).await.unwrap(), None);
    two.advance_clock(Duration::from_secs(16));
    let taken = two.try_lock(15).await.unwrap().expect("expired for two");
    assert!(one.renew_lock(&lock).await.is_err(), "taken over");
    two.renew_lock(&taken).await.unwrap();
    two.release_lock(&taken).await.unwrap();
    assert!(one.try_lock(15).await.unwrap().is_some(), "released");
}

#[tokio::test]
async fn blobs_without_properties_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(&dir);
    archive.ensure_ready().await.unwrap();
    archive
        .put_small("26-11-2026/a.mp3", b"abc".to_vec(), "audio/mpeg")
        .await
        .unwrap();
    // As if killed between the blob and its properties.
    std::fs::remove_file(dir.path().join("archive/props/26-11-2026/a.mp3.json")).unwrap();
    let info = archive
        .blob_info("26-11-2026/a.mp3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.md5, Some(Md5::digest(b"abc").into()));
    assert!(info.metadata.is_empty());
    for bad in ["../escape.mp3", "/abs.mp3", "a//b.mp3", "a/./b", "", "dir/"] {
        let err = archive.blob_info(bad).await.unwrap_err();
        assert!(err.cause().contains("blob name"), "{bad:?}: {err}");
    }
    assert!(LocalArchive::new(dir.path(), "..").is_err());
}

mod differential {
    use proptest::prelude::*;

    use crate::differential::{compare, Call};
    use crate::local::LocalArchive;
    use crate::memory::InMemoryArchive;
    use crate::Archive;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any sequence of calls gets the same answers from the local and in-memory archives.
        #[test]
        fn the_local_archive_answers_as_the_in_memory_one(
            bytes in proptest::collection::vec(any::<(u8, u8, u8)>(), 1..40)
        ) {
            let calls: Vec<Call> =
                bytes.iter().map(|&(c, a, b)| Call::from_bytes(c, a, b)).collect();
            let dir = tempfile::tempdir().unwrap();
            let local = LocalArchive::new(dir.path(), "hope").unwrap();
            let memory = InMemoryArchive::new("hope");
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(async {
                    local.ensure_ready().await.unwrap();
                    compare(&memory, &local, &calls).await;
                });
        }
    }
}
