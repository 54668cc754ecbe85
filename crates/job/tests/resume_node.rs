//! Switching from the original Node.js job: its rows (only `fileName`, RowKeys from upload
//! times) and blobs are already in the account, and the files it archived may still be in
//! the folder (it crashed before deleting them). The job must not archive them again, must
//! delete them only once their blob is seen, and must archive the rest.

mod support;
use support::{azurite, fixture};

use std::collections::BTreeSet;

use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::{Archive, ArchiveRead, PutMode, SegmentRow};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_from_the_node_jobs_rows() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let target = StorageTarget::parse(&conn).unwrap();
    let scenario = fixture::fixtures().join("steady");
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixture::replay(&scenario, dir.path());
    let stream = "Hope";
    let archive =
        AzureArchive::new(&target, "hope", "audios", "hope", AzureOptions::default()).unwrap();
    archive.ensure_ready().await.unwrap();

    // The Node job archived the first three full-length files of one pod, newest row first
    // (RowKey = max ticks - upload time, upload times 10 minutes apart).
    let files = manifest["files"].as_array().unwrap();
    let pod = files[0]["pod"].as_str().unwrap();
    let node: Vec<&str> = files
        .iter()
        .filter(|f| f["pod"] == pod && f["frames"].as_u64() == Some(383))
        .map(|f| f["name"].as_str().unwrap())
        .take(3)
        .collect();
    for (i, name) in node.iter().enumerate() {
        let date = &name[name.len() - 19..name.len() - 11];
        let blob = format!("{}-{}-{}/{name}", &date[6..8], &date[4..6], &date[0..4]);
        archive
            .put_file(
                &blob,
                &std::fs::File::open(dir.path().join(name)).unwrap(),
                &Default::default(),
                PutMode::CreateOnly,
            )
            .await
            .unwrap();
        let row = SegmentRow {
            row_key: format!(
                "{}",
                3_155_378_975_999_999_999i64 - 639_000_000_000_000_000 - i as i64 * 6_000_000_000
            ),
            file_name: name.to_string(),
            ..SegmentRow::default()
        };
        archive.insert_row(&row).await.unwrap();
    }

    let segment = manifest["segment_time"].as_u64().unwrap();
    let out = fixture::run_job(dir.path(), &conn, stream, segment);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    for name in &node {
        assert!(
            !dir.path().join(name).exists(),
            "{name}: archived by the Node job, should be deleted\n{log}"
        );
    }
    let rows = archive.first_rows(1000).await.unwrap();
    let ours: Vec<&SegmentRow> = rows.iter().filter(|r| r.blob_name.is_some()).collect();
    let names: BTreeSet<&str> = rows.iter().map(|r| r.file_name.as_str()).collect();
    assert_eq!(
        names.len(),
        rows.len(),
        "a file was recorded twice: {rows:#?}"
    );
    for r in &ours {
        assert!(
            !node.contains(&r.file_name.as_str()),
            "{} archived again",
            r.file_name
        );
    }
    assert!(!ours.is_empty(), "nothing new archived\n{log}");
    // What the Node job and this job archived together covers everything deleted.
    let archived: Vec<(f64, f64)> = names
        .iter()
        .filter_map(|n| fixture::span(&manifest, n))
        .collect();
    for f in files {
        let name = f["name"].as_str().unwrap();
        if dir.path().join(name).exists() {
            continue;
        }
        if let Some((lo, hi)) = fixture::span(&manifest, name) {
            let missing = fixture::uncovered(&archived, lo, hi);
            assert!(
                missing <= 0.05,
                "{name} deleted with {missing:.3} s not archived"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_row_without_its_blob_is_archived_again() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let target = StorageTarget::parse(&conn).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixture::replay(&fixture::fixtures().join("steady"), dir.path());
    let archive =
        AzureArchive::new(&target, "hope", "audios", "hope", AzureOptions::default()).unwrap();
    archive.ensure_ready().await.unwrap();
    // A row claims a file is archived, but its blob is missing (the Node job ignored errors).
    let files = manifest["files"].as_array().unwrap();
    let name = files
        .iter()
        .find(|f| f["frames"].as_u64() == Some(383))
        .unwrap()["name"]
        .as_str()
        .unwrap();
    archive
        .insert_row(&SegmentRow {
            row_key: "2516378975999999999".into(),
            file_name: name.into(),
            ..SegmentRow::default()
        })
        .await
        .unwrap();
    let out = fixture::run_job(
        dir.path(),
        &conn,
        "Hope",
        manifest["segment_time"].as_u64().unwrap(),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        dir.path().join(name).exists(),
        "{name} deleted although its blob is missing\n{log}"
    );
    // It is archived again instead, under its default blob name.
    let rows = archive.first_rows(100).await.unwrap();
    let again = rows
        .iter()
        .find(|r| r.file_name == name && r.blob_name.is_some())
        .unwrap_or_else(|| panic!("{name} not archived again\n{log}"));
    let blob = again.blob_name.as_deref().unwrap();
    assert!(archive.blob_info(blob).await.unwrap().is_some());
}
