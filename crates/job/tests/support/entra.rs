//! A test CA and a local stand-in for Entra ID's token exchange, for Workload Identity tests.
//!
//! Include it with `#[path = "support/entra.rs"] mod entra;`.
//! - [`Pki::make`] makes a CA and a server certificate for 127.0.0.1 with `openssl`: Azurite and
//!   the token endpoint serve it, the job trusts the CA through `SSL_CERT_FILE`. (A leaf signed
//!   by a CA, because rustls refuses a CA certificate used as a server's own.)
//! - [`TokenEndpoint`] answers `POST /{tenant}/oauth2/v2.0/token` over HTTPS, as Entra ID does
//!   for a federated client assertion, with an unsigned JWT: Azurite's `--oauth basic` checks
//!   issuer, audience and lifetime, not the signature. What it issues is set per test
//!   ([`Behaviour`]) and every request is recorded.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The audience storage accepts.
pub const STORAGE_AUDIENCE: &str = "https://storage.azure.com";

/// A CA and a server certificate for 127.0.0.1 signed by it, in a temporary folder.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn make() -> Pki {
        let dir = tempfile::Builder::new().prefix("pki-").tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            p,
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem"],
                &["-days", "2", "-subj", "/CN=segment-selector test CA"],
            ],
        );
        openssl(
            p,
            &[
                &["req"],
                &ec[..],
                &["-keyout", "key.pem", "-out", "leaf.csr"],
                &["-subj", "/CN=127.0.0.1"],
            ],
        );
        openssl(
            p,
            &[
                &[
                    "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                ],
                &[
                    "-set_serial",
                    "2",
                    "-days",
                    "2",
                    "-extfile",
                    "ext.cnf",
                    "-out",
                    "cert.pem",
                ],
            ],
        );
        Pki { dir }
    }

    /// The CA certificate (what `SSL_CERT_FILE` names).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate for 127.0.0.1.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The server certificate's private key.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

fn openssl(dir: &Path, parts: &[&[&str]]) {
    let args: Vec<&str> = parts.concat();
    let out = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the token endpoint answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The token's `aud`.
    pub audience: String,
    /// `expires_in` of the answer, in seconds.
    pub expires_in: u64,
    /// The token's `exp` relative to now, in seconds (negative: already expired). Fractions
    /// count: Azurite compares `exp × 1000` with its clock in milliseconds.
    pub exp_in: f64,
    /// The client assertion it accepts; anything else is refused like Entra ID refuses an
    /// assertion without a matching federated credential.
    pub assertion: String,
}

impl Behaviour {
    /// Hour-long tokens for storage, for `assertion`.
    pub fn storage(assertion: &str) -> Behaviour {
        Behaviour {
            audience: STORAGE_AUDIENCE.to_owned(),
            expires_in: 3600,
            exp_in: 3600.0,
            assertion: assertion.to_owned(),
        }
    }
}

/// One token request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub path: String,
    pub client_id: String,
    pub scope: String,
    pub grant_type: String,
    pub assertion_type: String,
    pub assertion: String,
    /// The access token issued, when the request was granted.
    pub issued: Option<String>,
    /// When the request arrived.
    pub at: std::time::Instant,
}

struct State {
    behaviour: Behaviour,
    requests: Vec<TokenRequest>,
}

/// The local token endpoint; stops on drop.
pub struct TokenEndpoint {
    port: u16,
    tenant: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl TokenEndpoint {
    pub fn start(pki: &Pki, tenant: &str, behaviour: Behaviour) -> TokenEndpoint {
        let certs = CertificateDer::pem_file_iter(pki.cert())
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(pki.key()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            behaviour,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, tn) = (state.clone(), stop.clone(), tenant.to_owned());
        std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (config, state, tenant) = (config.clone(), st.clone(), tn.clone());
                        std::thread::spawn(move || {
                            let _ = serve(stream, config, &state, &tenant);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TokenEndpoint {
            port,
            tenant: tenant.to_owned(),
            state,
            stop,
        }
    }

    /// What `AZURE_AUTHORITY_HOST` is set to.
    pub fn authority(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    pub fn set(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour = behaviour;
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    state: &Mutex<State>,
    tenant: &str,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut reader = BufReader::new(&mut tls);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut request = TokenRequest {
        path: path.clone(),
        client_id: field("client_id"),
        scope: field("scope"),
        grant_type: field("grant_type"),
        assertion_type: field("client_assertion_type"),
        assertion: field("client_assertion"),
        issued: None,
        at: std::time::Instant::now(),
    };
    let (status, answer) = {
        let mut state = state.lock().unwrap();
        let b = state.behaviour.clone();
        let (status, answer) = if path != format!("/{tenant}/oauth2/v2.0/token") {
            (404, r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant not found."}"#.to_owned())
        } else if request.assertion != b.assertion {
            (400, r#"{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found for presented assertion subject.","error_codes":[700213]}"#.to_owned())
        } else {
            let token = jwt(&b, tenant, &request.client_id, state.requests.len());
            request.issued = Some(token.clone());
            (
                200,
                serde_json::json!({
                    "token_type": "Bearer",
                    "expires_in": b.expires_in,
                    "ext_expires_in": b.expires_in,
                    "access_token": token,
                })
                .to_string(),
            )
        };
        state.requests.push(request);
        (status, answer)
    };
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    write!(
        tls,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    tls.flush()?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}

/// An unsigned JWT as Entra ID would issue for storage; `n` makes every token distinct.
fn jwt(b: &Behaviour, tenant: &str, client_id: &str, n: usize) -> String {
    let now_f = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let now = now_f as i64;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let header = b64(serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "local-test"}));
    let payload = b64(serde_json::json!({
        "aud": b.audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now_f + b.exp_in,
        "appid": client_id,
        "tid": tenant,
        "oid": client_id,
        "sub": client_id,
        "uti": format!("local-token-{n}-{now}"),
        "ver": "1.0",
    }));
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("not-a-signature-{n}-{now}").as_bytes());
    format!("{header}.{payload}.{signature}")
}

/// A federated service-account token as the kubelet projects it (only its text matters here).
pub fn service_account_token(marker: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes());
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","kid":"sa"}"#),
        b64(&format!(
            r#"{{"aud":["api://AzureADTokenExchange"],"sub":"system:serviceaccount:audio:{marker}"}}"#
        )),
        b64(&format!("service-account-signature-{marker}"))
    )
}

/// A TCP relay to `127.0.0.1:upstream` that holds every chunk of the answers for `delay`:
/// TLS passes through untouched, and each request takes at least `delay`, so a run of N
/// sequential requests lasts at least N × `delay`. Stops accepting on drop.
pub struct SlowRelay {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl SlowRelay {
    pub fn start(upstream: u16, delay: Duration) -> SlowRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let sp = stop.clone();
        std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(c2, s2, Duration::ZERO));
                std::thread::spawn(move || pipe(server, client, delay));
            }
        });
        SlowRelay { port, stop }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SlowRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                std::thread::sleep(delay);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}
