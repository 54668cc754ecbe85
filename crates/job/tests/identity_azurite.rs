//! Microsoft Entra ID instead of the account key (issue #16), with real parts, offline.
//!
//! Azurite runs over HTTPS with `--oauth basic` (a certificate made by the test) and checks
//! every bearer token's issuer, audience and lifetime. The real binary runs with the Workload
//! Identity environment the AKS webhook injects, `AZURE_AUTHORITY_HOST` pointing at a local
//! token endpoint (`support/entra.rs`) and `SSL_CERT_FILE` naming the test CA.
//! - A fixture is archived end to end (blobs and rows), and a second run finds nothing to do.
//! - Short-lived tokens are exchanged again within a run.
//! - A missing token file, a refused assertion, a wrong audience and an expired token each end
//!   the run with an error naming the problem, and nothing is deleted.
//! - No token, no service-account token and no key appears in any output at `RUST_LOG=trace`.

mod support;
use support::{azurite, common, entra};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::ArchiveRead;

use common::{run_limited, Run};
use entra::{Behaviour, Pki, SlowRelay, TokenEndpoint};

const LIMIT: Duration = Duration::from_secs(120);
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b9f4c6e-3d2a-4e8b-9c1d-5a7f3e2b1c0d";

/// Azurite over HTTPS checking tokens, the token endpoint, and the projected token file.
struct Rig {
    pki: Pki,
    azurite: azurite::Azurite,
    tokens: TokenEndpoint,
    /// What the kubelet projects: the federated service-account token.
    assertion: String,
    files: tempfile::TempDir,
}

impl Rig {
    fn start() -> Rig {
        let pki = Pki::make();
        let azurite = azurite::Azurite::start_https_oauth(&pki.cert(), &pki.key());
        let assertion = entra::service_account_token("segment-selector");
        let tokens = TokenEndpoint::start(&pki, TENANT, Behaviour::storage(&assertion));
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("azure-identity-token"), &assertion).unwrap();
        Rig {
            pki,
            azurite,
            tokens,
            assertion,
            files,
        }
    }

    fn token_file(&self) -> PathBuf {
        self.files.path().join("azure-identity-token")
    }

    /// The job as the CronJob starts it in the identity mode: no connection string, the
    /// webhook's variables, the archive's account and endpoints, the CA.
    fn job(&self, dir: &Path, stream: &str, segment: u64, token_file: &Path) -> Command {
        let mut cmd = common::job(dir, "", stream, segment);
        cmd.env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .env("AZURE_STORAGE_ACCOUNT", azurite::ACCOUNT)
            .env("AZURE_STORAGE_BLOB_ENDPOINT", self.azurite.blob_endpoint())
            .env(
                "AZURE_STORAGE_TABLE_ENDPOINT",
                self.azurite.table_endpoint(),
            )
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", CLIENT)
            .env("AZURE_FEDERATED_TOKEN_FILE", token_file)
            .env("AZURE_AUTHORITY_HOST", self.tokens.authority())
            .env("SSL_CERT_FILE", self.pki.ca())
            .env("RUST_LOG", "trace");
        cmd
    }

    /// The archive of `stream` read with the account key (independent of the code under test).
    fn archive(&self, stream: &str) -> AzureArchive {
        let mut target = StorageTarget::parse(&self.azurite.connection_string()).unwrap();
        target.ca_file = Some(self.pki.ca());
        AzureArchive::new(&target, stream, "audios", stream, AzureOptions::default()).unwrap()
    }

    fn snapshot(&self, stream: &str) -> common::Snapshot {
        common::runtime().block_on(async {
            let archive = self.archive(stream);
            let mut snap = common::Snapshot::default();
            let rows = match archive.first_rows(10_000).await {
                Ok(rows) => rows,
                Err(e) if e.cause().contains("TableNotFound") => Vec::new(),
                Err(e) => panic!("read the rows of {stream}: {e}"),
            };
            for row in rows {
                if let Some(blob) = row.blob_name.as_deref() {
                    if let Some(info) = archive.blob_info(blob).await.unwrap() {
                        let md5 = info.md5.map(|m| common::md5_b64(&m));
                        snap.blobs.insert(blob.to_owned(), (info.size, md5));
                    }
                }
                snap.rows.insert(row.row_key.clone(), row);
            }
            snap
        })
    }

    /// Fails the test if any output holds an issued token (or its payload or signature), the
    /// service-account token (or a piece of it), the account key, or a bearer header.
    fn assert_no_secret(&self, what: &str, output: &str) {
        let mut secrets: Vec<(String, String)> = vec![
            ("service-account token".into(), self.assertion.clone()),
            ("account key".into(), azurite::ACCOUNT_KEY.to_owned()),
        ];
        for r in self.tokens.requests() {
            if let Some(t) = r.issued {
                secrets.push(("access token".into(), t));
            }
        }
        for (name, secret) in &secrets {
            for part in secret.split('.') {
                // The JWT header is public and alike in every token; payload and signature
                // are what identify one.
                if part.len() < 40 {
                    continue;
                }
                for start in (0..part.len() - 16).step_by(8) {
                    let piece = &part[start..start + 16];
                    assert!(
                        !output.contains(piece),
                        "{what}: output holds a piece of the {name} ({piece:?})"
                    );
                }
            }
        }
        let lower = output.to_lowercase();
        for needle in ["bearer ey", "client_assertion=", "accountkey="] {
            assert!(!lower.contains(needle), "{what}: output holds {needle:?}");
        }
    }
}

fn output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn workload_identity_archives_a_fixture_end_to_end() {
    let rig = Rig::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::replay("steady", &[dir.path()]);
    let before = common::folder_state(dir.path());

    let first = run_limited(
        rig.job(dir.path(), "entra", manifest.segment, &rig.token_file()),
        LIMIT,
    );
    first.assert_no_panic("first run");
    assert!(first.success(), "first run:\n{}", first.describe());
    assert!(first.counter("archived") > 0, "{}", first.describe());

    let requests = rig.tokens.requests();
    assert!(!requests.is_empty(), "no token was requested");
    for r in &requests {
        assert_eq!(r.path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(r.client_id, CLIENT);
        assert_eq!(r.scope, "https://storage.azure.com/.default");
        assert_eq!(r.grant_type, "client_credentials");
        assert_eq!(
            r.assertion_type,
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        assert_eq!(r.assertion, rig.assertion);
        assert!(r.issued.is_some());
    }
    // Hour-long tokens: one exchange serves the whole run, blobs and tables alike.
    assert_eq!(requests.len(), 1, "{requests:#?}");

    let after = common::folder_state(dir.path());
    let snap = rig.snapshot("entra");
    assert!(!snap.rows.is_empty(), "no rows written");
    for row in snap.rows.values() {
        let blob = row.blob_name.as_deref().expect("a row names its blob");
        assert_eq!(
            snap.blobs.get(blob).map(|b| b.0),
            row.size,
            "blob {blob} holds the row's bytes"
        );
    }
    let deleted =
        common::check_deletions("entra", &before, &after, &snap, Some(&manifest), None).unwrap();
    assert!(!deleted.is_empty(), "{}", first.describe());

    let mut cmd = rig.job(dir.path(), "entra", manifest.segment, &rig.token_file());
    cmd.env("LOG_FORMAT", "json");
    let second = run_limited(cmd, LIMIT);
    assert!(second.success(), "second run:\n{}", second.describe());
    assert_eq!(second.counter("archived"), 0, "{}", second.describe());
    assert_eq!(rig.snapshot("entra").rows, snap.rows);

    rig.assert_no_secret("first run", &output(&first));
    rig.assert_no_secret("second run", &output(&second));
    eprintln!(
        "identity mode: {} rows, {} files deleted, {} token exchange(s) in {:.2} s",
        snap.rows.len(),
        deleted.len(),
        requests.len(),
        first.elapsed.as_secs_f64()
    );
}

#[test]
fn short_lived_tokens_are_exchanged_again_within_a_run() {
    let rig = Rig::start();
    // Tokens that say they last 1 s and are valid for 0.9 s: the job must exchange each again
    // once it is 0.5 s old, as Azurite refuses a token older than 0.9 s.
    rig.tokens.set(Behaviour {
        expires_in: 1,
        exp_in: 0.9,
        ..Behaviour::storage(&rig.assertion)
    });
    // Every answer from storage 30 ms late, so the run outlasts several tokens whatever the
    // machine's speed.
    let delay = Duration::from_millis(30);
    let blob = SlowRelay::start(rig.azurite.blob_port(), delay);
    let table = SlowRelay::start(rig.azurite.table_port(), delay);
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::replay("steady", &[dir.path()]);
    let mut cmd = rig.job(dir.path(), "refresh", manifest.segment, &rig.token_file());
    cmd.env(
        "AZURE_STORAGE_BLOB_ENDPOINT",
        format!("https://127.0.0.1:{}/{}", blob.port(), azurite::ACCOUNT),
    )
    .env(
        "AZURE_STORAGE_TABLE_ENDPOINT",
        format!("https://127.0.0.1:{}/{}", table.port(), azurite::ACCOUNT),
    )
    .env("UPLOAD_CONCURRENCY", "1");
    let run = run_limited(cmd, LIMIT);
    run.assert_no_panic("refresh run");
    assert!(run.success(), "{}", run.describe());
    assert!(run.counter("archived") > 0, "{}", run.describe());
    let requests = rig.tokens.requests();
    let span = requests.last().unwrap().at - requests[0].at;
    eprintln!(
        "refresh: {} token exchanges, {:.2} s from the first to the last, in a run of {:.2} s",
        requests.len(),
        span.as_secs_f64(),
        run.elapsed.as_secs_f64()
    );
    assert!(requests.iter().all(|r| r.issued.is_some()));
    // The run asked for a token after its first one had expired, and every request was
    // accepted: each carried a token that was still valid.
    assert!(
        span > Duration::from_secs_f64(0.9),
        "the run ended before its first token expired ({span:?}): the test proves nothing"
    );
    // Exchanged once a token was half-way through its lifetime and not before: the requests
    // in between (one every ~30 ms through the relay) shared it. The job counts a token's life
    // from when it asked for it, so the next exchange may reach the endpoint up to one
    // exchange's latency (a few ms here) before half the lifetime has passed since the last
    // one arrived: 497.8 ms was seen once.
    for pair in requests.windows(2) {
        let reuse = pair[1].at - pair[0].at;
        assert!(
            reuse >= Duration::from_millis(450),
            "a new exchange after only {reuse:?}: the token was not reused"
        );
    }
    rig.assert_no_secret("refresh run", &output(&run));
}

#[test]
fn refused_tokens_fail_clearly_and_delete_nothing() {
    let rig = Rig::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::replay("steady", &[dir.path()]);
    let before = common::folder_state(dir.path());
    let missing = rig.files.path().join("not-projected");
    let good = rig.token_file();
    let wrong = rig.files.path().join("other-token");
    std::fs::write(&wrong, entra::service_account_token("someone-else")).unwrap();

    // (what, behaviour, token file, what the error must say)
    let cases: Vec<(&str, Behaviour, &Path, &[&str])> = vec![
        (
            "missing token file",
            Behaviour::storage(&rig.assertion),
            &missing,
            &["AZURE_FEDERATED_TOKEN_FILE", "not-projected"],
        ),
        (
            "refused assertion",
            Behaviour::storage(&rig.assertion),
            &wrong,
            &[
                "refused to exchange",
                "HTTP 400 invalid_client: AADSTS700213",
                CLIENT,
            ],
        ),
        (
            "wrong audience",
            Behaviour {
                audience: "https://management.azure.com".into(),
                ..Behaviour::storage(&rig.assertion)
            },
            &good,
            &["HTTP 403 AuthenticationFailed", "Invalid token audience"],
        ),
        (
            "expired token",
            Behaviour {
                exp_in: -600.0,
                ..Behaviour::storage(&rig.assertion)
            },
            &good,
            &["HTTP 403 AuthenticationFailed", "The token is expired"],
        ),
    ];
    for (i, (what, behaviour, token_file, expect)) in cases.into_iter().enumerate() {
        rig.tokens.set(behaviour);
        let mut cmd = rig.job(dir.path(), "refused", manifest.segment, token_file);
        if i % 2 == 1 {
            cmd.env("LOG_FORMAT", "json");
        }
        let run = run_limited(cmd, LIMIT);
        run.assert_no_panic(what);
        assert!(
            !run.success(),
            "{what}: the run succeeded:\n{}",
            run.describe()
        );
        let text = output(&run);
        for line in text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("\"WARN\""))
        {
            eprintln!("{what}: {}", common::truncate(line, 600));
        }
        for e in expect {
            assert!(text.contains(e), "{what}: no {e:?} in:\n{}", run.describe());
        }
        assert_eq!(
            common::folder_state(dir.path()),
            before,
            "{what}: files were deleted"
        );
        rig.assert_no_secret(what, &text);
        let last_error = run
            .stderr
            .lines()
            .rev()
            .find(|l| l.contains("ERROR") || l.contains("\"level\":\"ERROR\""))
            .unwrap_or_default()
            .to_owned();
        eprintln!(
            "{what}: exit {:?}: {}",
            run.code,
            common::truncate(&last_error, 600)
        );
        // The reason is in the line the run ends with, not only in a warning before it.
        for e in expect {
            assert!(
                last_error.contains(e),
                "{what}: no {e:?} in the final error line: {last_error}"
            );
        }
    }
    assert!(rig.snapshot("refused").rows.is_empty());
}

/// A private endpoint whose CA is not trusted (no `SSL_CERT_FILE`): the run ends with an
/// error that says it is a certificate problem and names the setting, not that Entra ID
/// refused anything (nothing answered), and deletes nothing.
#[test]
fn an_untrusted_certificate_is_named_as_such() {
    let rig = Rig::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::replay("steady", &[dir.path()]);
    let before = common::folder_state(dir.path());
    let mut cmd = rig.job(dir.path(), "untrusted", manifest.segment, &rig.token_file());
    cmd.env_remove("SSL_CERT_FILE");
    let run = run_limited(cmd, LIMIT);
    run.assert_no_panic("untrusted CA");
    assert!(!run.success(), "the run succeeded:\n{}", run.describe());
    let last_error = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("untrusted CA: {}", common::truncate(&last_error, 800));
    for e in ["certificate problem", "SSL_CERT_FILE", "did not answer"] {
        assert!(
            last_error.contains(e),
            "no {e:?} in the final error line: {last_error}"
        );
    }
    assert!(!last_error.contains("refused"), "{last_error}");
    assert_eq!(
        common::folder_state(dir.path()),
        before,
        "files were deleted"
    );
}
