//! `segment-selector playlist DAY`: a day's playlist with absolute blob URLs carrying a
//! read-only SAS, played from a private Azurite container.
//! - Account key (connection string): a service SAS. ffmpeg plays the printed playlist to the
//!   end (the archived seconds, byte ranges included); the same URLs without their SAS, with
//!   a tampered signature, or used to write, are refused with 403; the signature never
//!   appears in the command's logs. The container-scoped SAS of the same API reads every blob.
//! - Entra ID (HTTPS Azurite with `--oauth basic`, Workload Identity as in
//!   `identity_azurite.rs`): a user-delegation SAS from Get User Delegation Key, which Azurite
//!   implements (its answer lacks headers the 0.21 SDK requires; `sas.rs` supplies them); a
//!   signed URL reads the blob, the unsigned or tampered one is refused.

mod support;
use support::{azurite, common, entra, probe};

use common::fixture;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;

const DAY: &str = "2026-11-26";
const FRAME_S: f64 = 576.0 / 22_050.0;
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b9f4c6e-3d2a-4e8b-9c1d-5a7f3e2b1c0d";

/// The `playlist` command with only STREAM_NAME and `storage` in its environment.
fn playlist(stream: &str, storage: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.env_clear().env("STREAM_NAME", stream);
    for (k, v) in storage {
        cmd.env(k, v);
    }
    cmd.arg("playlist").arg(DAY).args(args).output().unwrap()
}

/// The HTTP status of a GET (or `method`) of `url`; `-k`: the Entra ID rig's certificate.
fn status(url: &str, method: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", method])
        .args(if method == "PUT" {
            &["--data-binary", "x"][..]
        } else {
            &[][..]
        })
        .args([
            "-H",
            "x-ms-version: 2021-10-04",
            "-H",
            "x-ms-blob-type: BlockBlob",
        ])
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn uris(playlist: &str) -> Vec<&str> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

fn archive_fixture(dir: &Path, conn: &str, stream: &str) -> Value {
    let truth = fixture::replay(&fixture::fixtures().join("kill-replace"), dir);
    fixture::finish_recordings(dir);
    for _ in 0..2 {
        let out = fixture::run_job(dir, conn, stream, truth["segment_time"].as_u64().unwrap());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    truth
}

#[test]
fn a_signed_playlist_plays_from_a_private_container_and_unsigned_urls_are_refused() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "signed-kill-replace";
    let dir = tempfile::tempdir().unwrap();
    archive_fixture(dir.path(), &conn, stream);
    let storage = [("AZURE_STORAGE_CONNECTION_STRING", conn.as_str())];

    let file = dir.path().join("day.m3u8");
    let out = playlist(
        stream,
        &storage,
        &["--expires-in", "2", "--output", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    // The same playlist on standard output.
    let printed = playlist(stream, &storage, &[]);
    assert!(printed.status.success());
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(uris(&printed).len(), uris(&text).len());

    assert!(
        text.starts_with("#EXTM3U\n") && text.ends_with("#EXT-X-ENDLIST\n"),
        "{text}"
    );
    let base = format!(
        "http://127.0.0.1:{}/devstoreaccount1/{stream}/",
        az.blob_port()
    );
    let urls = uris(&text);
    assert!(!urls.is_empty());
    for url in &urls {
        assert!(url.starts_with(&base), "{url}");
        assert!(
            url.contains("sp=r&") && url.contains("sr=b&") && url.contains("&sig="),
            "{url}"
        );
        assert_eq!(status(url, "GET"), 200, "{url}");
    }
    // Signatures are secrets: the command's log names the expiry, not them.
    let logs = String::from_utf8_lossy(&out.stderr);
    for url in &urls {
        let sig = url.split("&sig=").nth(1).unwrap();
        assert!(!logs.contains(sig), "the log holds a signature: {logs}");
    }
    assert!(logs.contains("playlist signed"), "{logs}");

    // The container is private: the URL without its SAS is refused, and so is a tampered
    // signature, a write with the read SAS, and a blob the SAS does not name.
    let url = urls[0];
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(status(unsigned, "GET"), 403, "{unsigned}");
    let tampered = url.replace("&sig=", "&sig=AAAA");
    assert_eq!(status(&tampered, "GET"), 403);
    assert_eq!(status(url, "PUT"), 403, "a read SAS must not write");
    let other =
        urls[1].split('?').next().unwrap().to_owned() + "?" + url.split('?').nth(1).unwrap();
    assert_eq!(status(&other, "GET"), 403, "a blob SAS reads only its blob");

    // ffmpeg plays the signed playlist to the end, from a local file as a user would.
    let day: Value = common::runtime().block_on(async {
        let c = common::container_client(&conn, stream).blob_client(format!("_days/{DAY}.json"));
        serde_json::from_slice(&c.get_content().await.unwrap()).unwrap()
    });
    let archived = day["archived_seconds"].as_f64().unwrap();
    let wav = dir.path().join("played.wav");
    let played = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-protocol_whitelist",
            "file,http,tcp",
            "-i",
        ])
        .arg(&file)
        .arg(&wav)
        .output()
        .unwrap();
    assert!(
        played.status.success(),
        "{}",
        String::from_utf8_lossy(&played.stderr)
    );
    let seconds = probe::ffprobe_seconds(&wav);
    assert!(
        (seconds - archived).abs() <= urls.len() as f64 * FRAME_S,
        "ffmpeg played {seconds:.3} s of {archived:.3} s archived"
    );
    println!(
        "signed playlist: {} segments, {archived:.3} s archived, ffmpeg played {seconds:.3} s",
        urls.len()
    );

    // The library's container-scoped SAS (for pages that link many blobs) reads every blob
    // of the container; its Debug output shows no signature; an expiry in the past is refused.
    let target = StorageTarget::parse(&conn).unwrap();
    let archive =
        AzureArchive::new(&target, stream, "audios", stream, AzureOptions::default()).unwrap();
    let (container_url, sas) = common::runtime().block_on(async {
        let now = chrono::Utc::now();
        let past = archive
            .read_urls(now, now - chrono::TimeDelta::hours(1))
            .await;
        assert!(past.unwrap_err().to_string().contains("not in the future"));
        let signed = archive
            .read_urls(now, now + chrono::TimeDelta::hours(1))
            .await
            .unwrap();
        let shown = format!("{signed:?}");
        assert!(
            !shown.contains("sig=") && !shown.contains(signed.container_sas()),
            "{shown}"
        );
        (
            signed.container_url().unwrap(),
            signed.container_sas().to_owned(),
        )
    });
    assert!(sas.contains("sr=c") && sas.contains("sp=r"), "{sas}");
    for url in &urls {
        let path = url.split('?').next().unwrap();
        let blob = path.strip_prefix(&base).unwrap();
        assert_eq!(status(&format!("{container_url}/{blob}?{sas}"), "GET"), 200);
    }

    // Errors name what is wrong.
    let bad = playlist(stream, &storage, &["--expires-in", "0"]);
    assert!(!bad.status.success());
    let none = Command::new(common::bin())
        .env_clear()
        .env("STREAM_NAME", stream)
        .env("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .args(["playlist", "2026-11-27"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        !none.status.success() && err.contains("nothing archived on 2026-11-27"),
        "{err}"
    );
}

#[test]
fn with_entra_id_the_playlist_carries_a_user_delegation_sas() {
    let pki = entra::Pki::make();
    let az = azurite::Azurite::start_https_oauth(&pki.cert(), &pki.key());
    let assertion = entra::service_account_token("segment-selector");
    let tokens = entra::TokenEndpoint::start(&pki, TENANT, entra::Behaviour::storage(&assertion));
    let files = tempfile::tempdir().unwrap();
    let token_file = files.path().join("azure-identity-token");
    std::fs::write(&token_file, &assertion).unwrap();
    let (blob, table, authority) = (az.blob_endpoint(), az.table_endpoint(), tokens.authority());
    let ca = pki.ca();
    let storage = [
        ("AZURE_STORAGE_ACCOUNT", azurite::ACCOUNT),
        ("AZURE_STORAGE_BLOB_ENDPOINT", blob.as_str()),
        ("AZURE_STORAGE_TABLE_ENDPOINT", table.as_str()),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
    ];
    // Archived by the job in the same identity mode.
    let stream = "delegated";
    let dir = tempfile::tempdir().unwrap();
    let truth = fixture::replay(&fixture::fixtures().join("steady"), dir.path());
    fixture::finish_recordings(dir.path());
    let mut job = common::job(
        dir.path(),
        "",
        stream,
        truth["segment_time"].as_u64().unwrap(),
    );
    job.env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .envs(storage);
    let out = job.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = playlist(stream, &storage, &["--expires-in", "1"]);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{logs}");
    let text = String::from_utf8(out.stdout).unwrap();
    let urls = uris(&text);
    assert!(!urls.is_empty(), "{text}");
    for url in &urls {
        assert!(url.starts_with(&format!("{blob}/{stream}/")), "{url}");
        // A user-delegation SAS names the delegation key it was signed with.
        assert!(
            url.contains("skoid=") && url.contains("sktid=") && url.contains("sp=r&"),
            "{url}"
        );
        assert_eq!(status(url, "GET"), 200, "{url}");
        let sig = url.split("&sig=").nth(1).unwrap();
        assert!(!logs.contains(sig), "the log holds a signature");
    }
    let unsigned = urls[0].split('?').next().unwrap();
    assert_eq!(status(unsigned, "GET"), 403, "{unsigned}");
    assert_eq!(
        status(&urls[0].replace("&sig=", "&sig=AAAA"), "GET"),
        403,
        "tampered"
    );
    assert_eq!(status(urls[0], "PUT"), 403, "a read SAS must not write");

    // A user-delegation key lives at most 7 days.
    let long = playlist(stream, &storage, &["--expires-in", "200"]);
    let err = String::from_utf8_lossy(&long.stderr);
    assert!(
        !long.status.success() && err.contains("at most 7 days"),
        "{err}"
    );
}
