//! Secrets never reach the output, OData filters are quoted, blob names cannot climb.
//!
//! - Many invocations of the real binary, failing and succeeding, with a distinctive fake
//!   account key and with Azurite's key, at every log level (`RUST_LOG=trace`) and in JSON: all
//!   of stdout and stderr together must hold neither key (nor a 12-character piece of one), no
//!   `sig=`, no `AccountKey=`, no `SharedKey` authorization.
//! - Quotes in partition keys, RowKeys and file names through `AzureArchive`'s filters: an
//!   injection attempt reads nothing it should not.
//! - Blob names from hostile pod names and blob templates, through `segment-selector plan`:
//!   no empty, `.` or `..` part, no leading `/`, no backslash.

mod support;
use support::{azurite, common, faultproxy};

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use store::{Archive, ArchiveRead, InsertOutcome, SegmentRow};

use common::{job, replay, run_limited, Run};
use faultproxy::{Fault, FaultProxy, Scope};

const LIMIT: Duration = Duration::from_secs(120);

fn fake_key() -> String {
    base64::engine::general_purpose::STANDARD
        .encode(b"reliability-FAKE-account-key: must never be printed 0123456789ab")
}

/// Replaces the account key of an explicit-endpoint connection string.
fn with_key(conn: &str, key: &str) -> String {
    conn.replace(azurite::ACCOUNT_KEY, key)
}

/// The default log level (and `RUST_LOG=info`), text and JSON.
#[test]
fn no_secret_in_any_output() {
    no_secret_at(&["info"]);
}

/// `RUST_LOG=debug` and `trace`: azure_core 0.21 logs every request at DEBUG
/// (`azure_core::policies::transport`), and its `Headers` Debug redacts every header but
/// `Authorization`, so the per-request SharedKey signature is printed.
#[test]
fn no_secret_in_any_output_at_debug_and_trace() {
    no_secret_at(&["debug", "trace"]);
}

fn no_secret_at(levels: &[&str]) {
    let az = azurite::Azurite::start();
    let direct = az.connection_string();
    let proxy = FaultProxy::start(az.blob_port(), az.table_port());
    let via_proxy = proxy.connection_string(azurite::ACCOUNT, azurite::ACCOUNT_KEY);
    let fake = fake_key();
    let dir = tempfile::tempdir().unwrap();
    let manifest = replay("zero-byte", &[dir.path()]);
    let segment = manifest.segment;
    let closed = format!(
        "BlobEndpoint=http://127.0.0.1:9/{a};TableEndpoint=http://127.0.0.1:9/{a};AccountName={a};AccountKey={fake}",
        a = azurite::ACCOUNT
    );
    let sas_sig = "c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ%3D%3D";

    // (what, connection string, subcommand, extra environment, fault)
    type Inv<'a> = (
        &'a str,
        String,
        Option<&'a str>,
        Vec<(&'a str, &'a str)>,
        Option<Fault>,
    );
    let mut invocations: Vec<Inv> = Vec::new();
    for &level in levels {
        for format in ["text", "json"] {
            let env = vec![("RUST_LOG", level), ("LOG_FORMAT", format)];
            invocations.push((
                "fake key, 403",
                with_key(&direct, &fake),
                None,
                env.clone(),
                None,
            ));
            invocations.push((
                "fake key, plan",
                with_key(&direct, &fake),
                Some("plan"),
                env.clone(),
                None,
            ));
            invocations.push((
                "fake key, ls",
                with_key(&direct, &fake),
                Some("ls"),
                env.clone(),
                None,
            ));
            if level == levels[levels.len() - 1] {
                // These retry: their clock is sped up (see `wrapper`).
                invocations.push((
                    "fake key, closed port",
                    closed.clone(),
                    None,
                    env.clone(),
                    None,
                ));
                invocations.push((
                    "real key, 500s",
                    via_proxy.clone(),
                    None,
                    env.clone(),
                    Some(Fault::Status(500)),
                ));
                invocations.push((
                    "real key, resets",
                    via_proxy.clone(),
                    None,
                    env.clone(),
                    Some(Fault::Reset),
                ));
            }
            invocations.push(("real key, run", via_proxy.clone(), None, env.clone(), None));
            invocations.push((
                "real key, plan",
                direct.clone(),
                Some("plan"),
                env.clone(),
                None,
            ));
            invocations.push(("real key, ls", direct.clone(), Some("ls"), env, None));
        }
    }
    let bad_strings = [
        ("truncated key", format!("AccountName=acct;AccountKey={}", &fake[..fake.len() - 7])),
        ("key, then garbage", format!("AccountName=acct;AccountKey={fake};garbage")),
        ("key without account", format!("AccountKey={fake}")),
        ("key, one endpoint", format!("BlobEndpoint=http://127.0.0.1:9/a;AccountName=a;AccountKey={fake}")),
        ("SAS only", format!("BlobEndpoint=https://a.blob.core.windows.net;TableEndpoint=https://a.table.core.windows.net;SharedAccessSignature=sv=2022-11-02&ss=bt&sig={sas_sig}")),
        ("SAS in an endpoint", format!("BlobEndpoint=https://a.blob.core.windows.net/?sv=2022&sig={sas_sig};TableEndpoint=https://a.table.core.windows.net;AccountName=a;AccountKey={fake}")),
        ("bad protocol", format!("DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey={fake}")),
    ];
    for (what, conn) in &bad_strings {
        let level = levels[levels.len() - 1];
        invocations.push((what, conn.clone(), None, vec![("RUST_LOG", level)], None));
    }

    let mut output = String::new();
    let mut failures = 0;
    for (i, (what, conn, sub, env, fault)) in invocations.iter().enumerate() {
        match fault {
            Some(f) => proxy.set(*f, Scope::Service(faultproxy::Service::Blob)),
            None => proxy.pass(),
        }
        let retries = what.contains("closed") || fault.is_some();
        let clock = (retries && common::libfaketime().is_some()).then_some("+0 x20");
        let mut cmd = common::job_clocked(clock, dir.path(), conn, "secrets", segment);
        if let Some(s) = sub {
            cmd.arg(s);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let r: Run = run_limited(cmd, LIMIT);
        r.assert_no_panic(what);
        if !r.success() {
            failures += 1;
        }
        output.push_str(&format!(
            "=== {i} {what} {env:?}: exit {:?}\n{}\n{}\n",
            r.code, r.stdout, r.stderr
        ));
        // Breaks a lease left by a run the proxy failed, for the next one.
        common::break_lock(&direct, "secrets");
    }
    proxy.pass();

    let lower = output.to_lowercase();
    let mut leaks = Vec::new();
    for (name, key) in [
        ("fake key", fake.as_str()),
        ("Azurite key", azurite::ACCOUNT_KEY),
    ] {
        for start in 0..key.len().saturating_sub(12) {
            let piece = &key[start..start + 12];
            if output.contains(piece) {
                leaks.push(format!("{name} piece {piece:?}"));
                break;
            }
        }
    }
    for needle in ["sig=", "sharedkey ", "sharedkeylite ", sas_sig] {
        if lower.contains(&needle.to_lowercase()) {
            leaks.push(format!("{needle:?}"));
        }
    }
    // "AccountKey=..." (literally) is how messages name what they expect.
    if lower.replace("accountkey=...", "").contains("accountkey=") {
        leaks.push("\"accountkey=\"".into());
    }
    // For each leak: the invocation that printed it, and the line.
    let mut found = Vec::new();
    for leak in &leaks {
        let needle = leak.split('"').nth(1).unwrap_or("").to_lowercase();
        let mut header = "";
        for line in output.lines() {
            if line.starts_with("=== ") {
                header = line;
            } else if line.to_lowercase().contains(&needle) {
                found.push(format!(
                    "{leak} in {header}\n    {}",
                    common::truncate(line.trim(), 300)
                ));
                break;
            }
        }
    }
    let dump = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability-secrets-output.txt");
    std::fs::write(&dump, &output).unwrap();
    assert!(
        leaks.is_empty(),
        "secrets in the output (all of it in {}):\n{}",
        dump.display(),
        found.join("\n")
    );
    println!(
        "{} invocations ({failures} failing), {} KiB of output, levels {levels:?}, text and JSON: \
         no key (no 12-character piece of either), no sig=, no AccountKey=, no SharedKey",
        invocations.len(),
        output.len() / 1024
    );
}

#[test]
fn odata_filters_quote_what_they_are_given() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let target = store::connection::StorageTarget::parse(&conn).unwrap();
    let archive = |partition: &str| {
        store::azure::AzureArchive::new(
            &target,
            "odata",
            "audios",
            partition,
            store::azure::AzureOptions::default(),
        )
        .unwrap()
    };
    let row = |key: &str, file: &str| SegmentRow {
        row_key: key.into(),
        file_name: file.into(),
        ..Default::default()
    };
    common::runtime().block_on(async {
        let plain = archive("x");
        plain.ensure_ready().await.unwrap();
        plain
            .insert_row(&row("1", "x_20260101T000000.mp3"))
            .await
            .unwrap();
        archive("y")
            .insert_row(&row("1", "y_20260101T000000.mp3"))
            .await
            .unwrap();

        // Quotes in the partition, the RowKey and the file name.
        let quoted = archive("it's");
        let r = row(
            "0001_o'brien''s",
            "o'brien's ''quoted''_20260101T000000.mp3",
        );
        assert_eq!(
            quoted.insert_row(&r).await.unwrap(),
            InsertOutcome::Inserted
        );
        // A repeat reads the row back through a filter on the quoted RowKey.
        match quoted.insert_row(&r).await.unwrap() {
            InsertOutcome::AlreadyExists(existing) => assert_eq!(existing.file_name, r.file_name),
            other => panic!("repeat insert: {other:?}"),
        }
        let rows = quoted.first_rows(10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].file_name, r.file_name);
        let range = quoted.rows_in_range("0001_o'", "0001_o'~").await.unwrap();
        assert_eq!(range.len(), 1, "range with quoted bounds");

        // Injection attempts read only their own (empty) partition.
        for evil in [
            "x' or PartitionKey ne 'x",
            "x' or '1' eq '1",
            "x'",
            "' or true or '",
        ] {
            let rows = archive(evil).first_rows(100).await.unwrap();
            assert!(rows.is_empty(), "partition {evil:?} read {rows:?}");
            let rows = archive(evil).rows_in_range("0", "9").await.unwrap();
            assert!(rows.is_empty(), "partition {evil:?} read {rows:?} by range");
        }
        let rows = plain
            .rows_in_range("1' or RowKey ne '1", "9")
            .await
            .unwrap();
        assert!(rows.is_empty(), "an injected range bound read {rows:?}");
    });
    println!("quotes in partition, RowKey, file name and range bounds: escaped; 5 injection attempts read nothing");
}

#[test]
fn blob_names_cannot_climb() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let dir = tempfile::tempdir().unwrap();
    let cbr = common::fixtures().join("steady");
    let sample = std::fs::read_dir(&cbr)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 30_000)
        .unwrap();
    let bytes = std::fs::read(sample).unwrap();
    let pods = [
        ".", "..", "...", ".-.", "-..", "..-", "a..b", ".hidden", "-", "...",
    ];
    let t0 = chrono::Utc::now() - chrono::TimeDelta::hours(3);
    for (i, pod) in pods.iter().enumerate() {
        let at = t0 + chrono::TimeDelta::seconds(100 * i as i64);
        let name = format!("{pod}_{}.mp3", at.format("%Y%m%dT%H%M%S"));
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).unwrap();
        let mtime =
            filetime::FileTime::from_system_time((at + chrono::TimeDelta::seconds(11)).into());
        filetime::set_file_mtime(&path, mtime).unwrap();
    }
    let check = |blob: &str, how: &str| {
        assert!(
            !blob.starts_with('/')
                && !blob.contains('\\')
                && blob
                    .split('/')
                    .all(|p| !p.is_empty() && p != "." && p != ".."),
            "{how}: blob name {blob:?}"
        );
    };
    let mut uploads = 0;
    let mut held = 0;
    for template in [
        None,
        Some("{pod}/{file}"),
        Some("{stream}/{pod}/%Y/{file}"),
        Some("%d-%m-%Y/{pod}-{file}"),
    ] {
        let mut cmd = job(dir.path(), &conn, "climb", 10);
        cmd.arg("plan");
        if let Some(t) = template {
            cmd.env("BLOB_TEMPLATE", t);
        }
        let r = run_limited(cmd, LIMIT);
        r.assert_no_panic("plan");
        assert!(r.success(), "{template:?}: {}", r.describe());
        let plan: Value = serde_json::from_str(&r.stdout).unwrap();
        for u in plan["uploads"].as_array().unwrap() {
            check(u["blob_name"].as_str().unwrap(), &format!("{template:?}"));
            uploads += 1;
        }
        held += plan["holds"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["why"].to_string().contains("BadBlobName"))
            .count();
    }
    // Templates that would climb are refused before anything runs.
    for template in [
        "../{file}",
        "/{file}",
        "{pod}/../{file}",
        "%Y/./{file}",
        "a//{file}",
        "{file}/..",
        "..\\{file}",
    ] {
        let mut cmd = job(dir.path(), &conn, "climb", 10);
        cmd.env("BLOB_TEMPLATE", template);
        let r = run_limited(cmd, LIMIT);
        r.assert_no_panic(template);
        if r.code == Some(2) {
            assert!(
                r.stderr.contains("BLOB_TEMPLATE"),
                "{template}: {}",
                r.describe()
            );
            continue;
        }
        // Accepted: then every name it builds must still be safe.
        assert!(r.success(), "{template}: {}", r.describe());
        let snap = common::snapshot(&conn, "climb");
        for blob in snap.blobs.keys() {
            check(blob, template);
        }
    }
    // A real run with the default template: the blobs it writes.
    let r = run_limited(job(dir.path(), &conn, "climb", 10), LIMIT);
    assert!(r.success(), "{}", r.describe());
    let snap = common::snapshot(&conn, "climb");
    for blob in snap.blobs.keys() {
        check(blob, "written");
    }
    let dotted = snap.blobs.keys().filter(|b| b.contains("..")).count();
    println!(
        "{} pods of dots and hyphens, 4 templates: {uploads} planned blob names and {} written, none \
         with an empty, '.' or '..' part; {held} held as BadBlobName; 7 climbing templates refused \
         ({dotted} written names hold '..' inside a part, e.g. '<date>/.._<time>.mp3', which is no \
         path step)",
        pods.len(),
        snap.blobs.len()
    );
    let _ = Path::new("");
}
