//! The archive read by Microsoft's official Python SDKs (azure-storage-blob and
//! azure-data-tables from PyPI), as a user's own tooling would read it: the job archives a
//! fixture into Azurite, then `tests/python/read_archive.py` lists the partition's rows with
//! `TableClient`, downloads every blob with `BlobClient`, checks each MD5 and size against its
//! row, checks that byte ranges start on frame headers, and reads the day manifest. Its JSON summary is asserted here.
//!
//! Needs `python3 -m pip install azure-storage-blob azure-data-tables` (scripts/test.sh does
//! it); without them the test fails in CI and is skipped with a message elsewhere.

mod support;
use support::{azurite, common};

use common::fixture;

use std::process::Command;

use serde_json::Value;

fn sdks_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import azure.storage.blob, azure.data.tables"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_python_sdks_read_every_row_and_blob_the_job_wrote() {
    if !sdks_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Python SDKs are missing in CI (scripts/test.sh installs them)"
        );
        println!("skipped: python3 -m pip install azure-storage-blob azure-data-tables");
        return;
    }
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "Python-Kill-Replace";
    let dir = tempfile::tempdir().unwrap();
    let truth = fixture::replay(&fixture::fixtures().join("kill-replace"), dir.path());
    fixture::finish_recordings(dir.path());
    for _ in 0..2 {
        let out = fixture::run_job(
            dir.path(),
            &conn,
            stream,
            truth["segment_time"].as_u64().unwrap(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_archive.py");
    let out = Command::new("python3")
        .arg(script)
        .args([conn.as_str(), stream, "2026-11-26"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    println!("{summary}");

    // Every segment the job archived is a row with its blob, and every blob is what its row
    // says: as many MD5 and size matches as blobs, no mismatch.
    let n = |k: &str| summary[k].as_u64().unwrap();
    assert!(n("rows") >= 8, "{summary}");
    assert_eq!(n("rows_with_blob"), n("rows"), "{summary}");
    assert_eq!(n("blobs"), n("rows_with_blob"), "{summary}");
    assert_eq!(n("md5_matches"), n("blobs"), "{summary}");
    assert_eq!(n("size_matches"), n("blobs"), "{summary}");
    assert_eq!(n("frames_in_metadata"), n("blobs"), "{summary}");
    assert!(n("byte_ranges") >= 1, "{summary}");
    assert_eq!(n("byte_ranges_on_frames"), n("byte_ranges"), "{summary}");
    assert_eq!(summary["mismatches"], serde_json::json!([]), "{summary}");
    // The row properties other clients rely on, as Python sees them.
    for field in [
        "fileName",
        "blobName",
        "contentMd5",
        "size",
        "frames",
        "audioStartMs",
        "inFrame",
        "outFrame",
    ] {
        assert!(
            summary["row_fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == field),
            "{field} missing: {summary}"
        );
    }
    // The manifest lists only archived blobs, each one a row.
    let m = &summary["manifest"];
    assert_eq!(m["day"], "2026-11-26");
    assert!(m["segments"].as_u64().unwrap() >= 1);
    assert_eq!(m["segments_with_rows"], m["segments"], "{summary}");
    assert!(m["archived_seconds"].as_f64().unwrap() > 70.0, "{summary}");
}
