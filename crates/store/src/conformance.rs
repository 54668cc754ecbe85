//! The [`Archive`] contract as one suite, run against every backend: the in-memory and
//! local-directory archives in `cargo test --lib`, Azure against Azurite in
//! `tests/archive_conformance.rs`. Built for tests, or with the `conformance` feature for a
//! backend outside this crate.
//!
//! [`check_archive`] wants a ready archive with an empty partition and its lock free. Each
//! check uses names of its own, so they run one after the other on the same archive; a
//! failed expectation panics with what differed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::{Archive, BlobInfo, InsertOutcome, PutMode, PutOutcome, SegmentRow};

/// Runs every check of the contract on `archive`.
pub async fn check_archive(archive: &dyn Archive) {
    let scratch = Scratch::new();
    // First: it asserts which rows come first in the partition, and every other check's
    // RowKeys start with a letter, after these digits.
    first_rows_are_the_lowest_keys_in_order(archive).await;
    create_only_put_refuses_an_existing_blob(archive, &scratch).await;
    overwrite_replaces_bytes_and_metadata(archive, &scratch).await;
    put_small_replaces_the_blob(archive).await;
    metadata_is_replaced_as_a_whole(archive, &scratch).await;
    a_missing_blob_has_no_info(archive).await;
    ranges_of_a_blob_read_back_its_bytes(archive, &scratch).await;
    a_blob_from_a_header_and_a_range_of_a_file(archive, &scratch).await;
    insert_refuses_an_existing_row_and_returns_it(archive).await;
    replace_writes_or_overwrites(archive).await;
    delete_is_idempotent(archive).await;
    ranges_are_inclusive_and_lexicographic(archive).await;
    bad_keys_are_refused(archive).await;
    the_lock_is_exclusive_until_released(archive).await;
}

/// `first_rows(n)`: the n lowest RowKeys, in order; 0 gives none.
pub async fn first_rows_are_the_lowest_keys_in_order(archive: &dyn Archive) {
    for key in ["003", "001", "002"] {
        archive.insert_row(&row(key)).await.unwrap();
    }
    assert_eq!(keys(&archive.first_rows(2).await.unwrap()), ["001", "002"]);
    assert_eq!(
        keys(&archive.first_rows(10).await.unwrap()),
        ["001", "002", "003"]
    );
    assert!(archive.first_rows(0).await.unwrap().is_empty());
}

/// A create-only put writes once; a second answers `AlreadyExists` with the first blob's
/// size, MD5 and metadata, and leaves it alone. Every byte is shown to `inspect`, in order.
pub async fn create_only_put_refuses_an_existing_blob(archive: &dyn Archive, scratch: &Scratch) {
    let name = "26-11-2026/create-only.mp3";
    let first = scratch.file("create-only-1.mp3", 200_000, 1);
    let second = scratch.file("create-only-2.mp3", 1_000, 2);
    let metadata = meta(&[("pod", "pod-a"), ("frames", "383")]);
    let mut seen = Vec::new();
    let outcome = archive
        .put_file_inspected(
            name,
            &open(&first),
            &metadata,
            PutMode::CreateOnly,
            &mut |b| seen.extend_from_slice(b),
        )
        .await
        .unwrap();
    let bytes = std::fs::read(&first).unwrap();
    let expected = BlobInfo {
        size: bytes.len() as u64,
        md5: Some(md5(&bytes)),
        metadata: metadata.clone(),
    };
    assert_eq!(
        outcome,
        PutOutcome::Written {
            size: expected.size,
            md5: md5(&bytes),
            range_md5: md5(&bytes)
        }
    );
    assert!(seen == bytes, "inspect saw other bytes than the file's");
    assert_eq!(
        archive.blob_info(name).await.unwrap(),
        Some(expected.clone())
    );

    let again = archive
        .put_file(name, &open(&second), &BTreeMap::new(), PutMode::CreateOnly)
        .await
        .unwrap();
    assert_eq!(again, PutOutcome::AlreadyExists(expected.clone()));
    assert_eq!(archive.blob_info(name).await.unwrap(), Some(expected));
}

/// An overwriting put replaces the bytes, MD5 and metadata of a blob.
pub async fn overwrite_replaces_bytes_and_metadata(archive: &dyn Archive, scratch: &Scratch) {
    let name = "26-11-2026/overwrite.mp3";
    let short = scratch.file("overwrite-1.mp3", 5_000, 3);
    let long = scratch.file("overwrite-2.mp3", 9_000, 4);
    let put = |path: PathBuf, metadata: BTreeMap<String, String>| async move {
        archive
            .put_file(name, &open(&path), &metadata, PutMode::Overwrite)
            .await
            .unwrap()
    };
    put(short, meta(&[("pod", "pod-a")])).await;
    let outcome = put(long.clone(), meta(&[("grew", "1")])).await;
    let bytes = std::fs::read(&long).unwrap();
    assert_eq!(
        outcome,
        PutOutcome::Written {
            size: 9_000,
            md5: md5(&bytes),
            range_md5: md5(&bytes)
        }
    );
    let info = archive.blob_info(name).await.unwrap().unwrap();
    assert_eq!((info.size, info.md5), (9_000, Some(md5(&bytes))));
    assert_eq!(info.metadata, meta(&[("grew", "1")]));
}

/// `put_small` writes from memory and replaces the previous version, metadata included.
pub async fn put_small_replaces_the_blob(archive: &dyn Archive) {
    let name = "_days/2026-11-26.json";
    let content = "application/json";
    archive
        .put_small(name, b"{\"v\":1}".to_vec(), content)
        .await
        .unwrap();
    archive
        .set_blob_metadata(name, &meta(&[("stale", "1")]))
        .await
        .unwrap();
    let newer = b"{\"v\":2,\"more\":true}".to_vec();
    archive
        .put_small(name, newer.clone(), content)
        .await
        .unwrap();
    let info = archive.blob_info(name).await.unwrap().unwrap();
    assert_eq!(info.size, newer.len() as u64);
    assert_eq!(info.md5, Some(md5(&newer)));
    assert!(info.metadata.is_empty(), "{:?}", info.metadata);
}

/// `set_blob_metadata` replaces the whole map; a blob that does not exist, or a name that
/// would not read back, is an error.
pub async fn metadata_is_replaced_as_a_whole(archive: &dyn Archive, scratch: &Scratch) {
    let name = "26-11-2026/metadata.mp3";
    let path = scratch.file("metadata.mp3", 3_000, 5);
    let first = meta(&[("pod", "pod-a"), ("in_ms", "0")]);
    archive
        .put_file(name, &open(&path), &first, PutMode::CreateOnly)
        .await
        .unwrap();
    let second = meta(&[("in_ms", "2508"), ("out_ms", "600026")]);
    archive.set_blob_metadata(name, &second).await.unwrap();
    let info = archive.blob_info(name).await.unwrap().unwrap();
    assert_eq!(info.metadata, second);
    assert_eq!(info.size, 3_000, "metadata changes leave the bytes");

    let missing = archive
        .set_blob_metadata("26-11-2026/no-such-blob.mp3", &second)
        .await;
    assert!(missing.is_err(), "metadata of a missing blob: {missing:?}");
    let upper = archive
        .set_blob_metadata(name, &meta(&[("inMs", "1")]))
        .await
        .unwrap_err();
    assert!(
        !upper.is_transient() && upper.cause().contains("inMs"),
        "{upper}"
    );
}

/// A blob that was never written has no info (not an error).
pub async fn a_missing_blob_has_no_info(archive: &dyn Archive) {
    assert_eq!(
        archive.blob_info("26-11-2026/never.mp3").await.unwrap(),
        None
    );
}

/// `read_blob_range` returns exactly the bytes asked for, fewer at the blob's end, none past
/// it; a missing blob is an error.
pub async fn ranges_of_a_blob_read_back_its_bytes(archive: &dyn Archive, scratch: &Scratch) {
    let name = "26-11-2026/ranges.mp3";
    let path = scratch.file("ranges.mp3", 70_000, 7);
    archive
        .put_file(name, &open(&path), &BTreeMap::new(), PutMode::Overwrite)
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let read = |start, len| archive.read_blob_range(name, start, len);
    assert_eq!(read(0, 70_000).await.unwrap(), bytes);
    assert_eq!(read(1_234, 5_000).await.unwrap(), bytes[1_234..6_234]);
    assert_eq!(read(69_000, 5_000).await.unwrap(), bytes[69_000..]);
    assert!(read(70_000, 10).await.unwrap().is_empty());
    assert!(read(100, 0).await.unwrap().is_empty());
    let missing = archive.read_blob_range("26-11-2026/never.mp3", 0, 10).await;
    assert!(missing.is_err(), "a range of a missing blob: {missing:?}");
}

/// `put_file_range_inspected`: the blob is the header, then exactly the range (blocks and
/// single puts alike), its MD5 theirs, every byte shown to `inspect` in order; create-only
/// refuses it a second time.
pub async fn a_blob_from_a_header_and_a_range_of_a_file(archive: &dyn Archive, scratch: &Scratch) {
    let name = "26-11-2026/assembled.mp3";
    let path = scratch.file("assembled.mp3", 300_000, 9);
    let head: Vec<u8> = (0..417u32).map(|i| (i * 7) as u8).collect();
    let file = std::fs::read(&path).unwrap();
    let mut expected = head.clone();
    expected.extend_from_slice(&file[10_001..250_000]);
    let metadata = meta(&[("mode", "frame-exact")]);
    let mut seen = Vec::new();
    let range = 10_001..250_000;
    // The handle's position is not where the range starts: backends read at offsets.
    let handle = open(&path);
    std::io::Seek::seek(&mut &handle, std::io::SeekFrom::Start(77_777)).unwrap();
    let outcome = archive
        .put_file_range_inspected(
            name,
            &head,
            &handle,
            range.clone(),
            &metadata,
            PutMode::CreateOnly,
            &mut |b| seen.extend_from_slice(b),
        )
        .await
        .unwrap();
    let md5: [u8; 16] = Md5::digest(&expected).into();
    assert_eq!(
        outcome,
        PutOutcome::Written {
            size: expected.len() as u64,
            md5,
            range_md5: Md5::digest(&expected[head.len()..]).into()
        }
    );
    assert!(seen == expected, "inspect saw other bytes");
    let read = archive
        .read_blob_range(name, 0, expected.len() as u64 + 10)
        .await
        .unwrap();
    assert!(read == expected, "the blob holds other bytes");
    let info = archive.blob_info(name).await.unwrap().unwrap();
    assert_eq!((info.size, info.md5), (expected.len() as u64, Some(md5)));
    assert_eq!(
        info.metadata.get("mode").map(String::as_str),
        Some("frame-exact")
    );
    let again = archive
        .put_file_range_inspected(
            name,
            &head,
            &handle,
            range,
            &metadata,
            PutMode::CreateOnly,
            &mut |_| {},
        )
        .await;
    match again.unwrap() {
        PutOutcome::AlreadyExists(i) => assert_eq!(i.size, expected.len() as u64),
        other => panic!("a second create-only put: {other:?}"),
    }
}

/// A second insert of the same RowKey answers `AlreadyExists` with the stored row, unchanged.
pub async fn insert_refuses_an_existing_row_and_returns_it(archive: &dyn Archive) {
    let first = full_row("insert-1");
    assert_eq!(
        archive.insert_row(&first).await.unwrap(),
        InsertOutcome::Inserted
    );
    let other = SegmentRow {
        file_name: "other.mp3".into(),
        ..row("insert-1")
    };
    assert_eq!(
        archive.insert_row(&other).await.unwrap(),
        InsertOutcome::AlreadyExists(Box::new(first.clone()))
    );
    assert_eq!(
        archive.rows_in_range("insert-1", "insert-1").await.unwrap(),
        [first]
    );
}

/// `replace_row` inserts a missing row and overwrites an existing one entirely.
pub async fn replace_writes_or_overwrites(archive: &dyn Archive) {
    let fresh = full_row("replace-1");
    archive.replace_row(&fresh).await.unwrap();
    assert_eq!(
        archive
            .rows_in_range("replace-1", "replace-1")
            .await
            .unwrap(),
        [fresh]
    );
    // Fields the new row leaves out are gone, not kept from the old one.
    let grown = SegmentRow {
        size: Some(12_345),
        ..row("replace-1")
    };
    archive.replace_row(&grown).await.unwrap();
    assert_eq!(
        archive
            .rows_in_range("replace-1", "replace-1")
            .await
            .unwrap(),
        [grown]
    );
}

/// `delete_row` removes a row; deleting it again, or a row never written, is `Ok`.
pub async fn delete_is_idempotent(archive: &dyn Archive) {
    archive.insert_row(&row("delete-1")).await.unwrap();
    archive.insert_row(&row("delete-2")).await.unwrap();
    archive.delete_row("delete-1").await.unwrap();
    assert_eq!(
        keys(&archive.rows_in_range("delete-0", "delete-9").await.unwrap()),
        ["delete-2"]
    );
    archive.delete_row("delete-1").await.unwrap();
    archive.delete_row("delete-never").await.unwrap();
    // A deleted key can be inserted again.
    assert_eq!(
        archive.insert_row(&row("delete-1")).await.unwrap(),
        InsertOutcome::Inserted
    );
}

/// `rows_in_range(from, to)`: both bounds included, keys compared as strings, in order.
pub async fn ranges_are_inclusive_and_lexicographic(archive: &dyn Archive) {
    for key in ["k-1", "k-2", "k-10", "k-20", "k-3"] {
        archive.insert_row(&row(key)).await.unwrap();
    }
    let range = |from: &'static str, to: &'static str| async move {
        keys(&archive.rows_in_range(from, to).await.unwrap())
    };
    assert_eq!(range("k-1", "k-2").await, ["k-1", "k-10", "k-2"]);
    assert_eq!(range("k-2", "k-2").await, ["k-2"]);
    assert_eq!(range("k-10", "k-3").await, ["k-10", "k-2", "k-20", "k-3"]);
    assert_eq!(range("k-4", "k-9").await, Vec::<String>::new());
    assert_eq!(range("k-3", "k-1").await, Vec::<String>::new(), "from > to");
}

/// RowKeys the table forbids are refused before anything is written, as permanent errors.
pub async fn bad_keys_are_refused(archive: &dyn Archive) {
    let bad = row("bad/key");
    for result in [
        archive.insert_row(&bad).await.map(drop),
        archive.replace_row(&bad).await,
        archive.delete_row("bad/key").await,
        archive.rows_in_range("a", "bad#").await.map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(!err.is_transient(), "{err}");
    }
}

/// One holder at a time: a second `try_lock` gets `None`; the holder renews; once released
/// the lock can be taken again, under a new id. Lease lengths outside 15..=60 s are refused.
pub async fn the_lock_is_exclusive_until_released(archive: &dyn Archive) {
    let lock = archive
        .try_lock(15)
        .await
        .unwrap()
        .expect("the lock is free");
    assert_eq!(archive.try_lock(15).await.unwrap(), None);
    archive.renew_lock(&lock).await.unwrap();
    assert_eq!(
        archive.try_lock(60).await.unwrap(),
        None,
        "renewed, still held"
    );
    archive.release_lock(&lock).await.unwrap();
    let again = archive.try_lock(15).await.unwrap().expect("released");
    assert_ne!(again, lock, "a new lease");
    assert!(
        archive.renew_lock(&lock).await.is_err(),
        "the old lease is lost"
    );
    archive.release_lock(&again).await.unwrap();
    for ttl in [0, 14, 61] {
        assert!(archive.try_lock(ttl).await.is_err(), "ttl {ttl}");
    }
}

/// A scratch file open for reading: what the executor passes (the job's `share::Recording`'s
/// handle).
fn open(path: &Path) -> std::fs::File {
    std::fs::File::open(path).unwrap()
}

/// A scratch folder for the files the checks upload, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "archive-conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// A file of `len` deterministic, non-repeating bytes: a misplaced block changes its MD5.
    fn file(&self, name: &str, len: usize, seed: u8) -> PathBuf {
        let bytes: Vec<u8> = (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
            .collect();
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn md5(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn row(key: &str) -> SegmentRow {
    SegmentRow {
        row_key: key.into(),
        file_name: format!("pod-a_{key}.mp3"),
        ..SegmentRow::default()
    }
}

/// A row with every field set, so a backend that drops or mangles one fails.
fn full_row(key: &str) -> SegmentRow {
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
        truncated: Some(true),
        duration_us: Some(600_026_122),
        aligned_with: Some("pod-b_20261126T101003.mp3".into()),
        aligned_offset_ms: Some(-2_345),
        in_frame: Some(96),
        in_ms: Some(2_508),
        out_frame: Some(22_970),
        out_ms: Some(600_026),
        in_byte: Some(40_545),
        out_byte: Some(9_599_999_800),
        sightings: Some(r#"[{"file_name":"pod-a.mp3"}]"#.into()),
        run: Some(r#"{"outcome":"ok"}"#.into()),
        silences: Some(r#"[{"start_s":12.5,"end_s":48.0}]"#.into()),
        blob_mode: Some("frame-exact".into()),
        blob_first_frame: Some(92),
        warm_up_frames: Some(4),
        source_start: Some(38_871),
        source_end: Some(9_600_000_000),
        source_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
        head_held_by: Some("pod-b_20261126T100003.mp3".into()),
        lead_frames: Some(8),
        lead_from: Some("pod-a_20261126T100003.mp3".into()),
    }
}

fn keys(rows: &[SegmentRow]) -> Vec<String> {
    rows.iter().map(|r| r.row_key.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::InMemoryArchive;

    #[tokio::test]
    async fn the_in_memory_archive_keeps_the_contract() {
        check_archive(&InMemoryArchive::new("hope")).await;
    }
}
