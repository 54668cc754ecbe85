//! A private Azurite (blob and table services) for one test.
//!
//! Include it with `#[path = "support/azurite.rs"] mod azurite;`. Every instance has its own
//! ports and data folder, so tests can run in parallel; the process is killed on drop.
//! Needs `npm ci` at the repository root (Azurite is pinned in package.json).
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Azurite's well-known account and key (public, documented by Microsoft).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Azurite {
    dir: tempfile::TempDir,
    blob_port: u16,
    table_port: u16,
    child: Option<Child>,
    launches: u32,
    /// `--oauth basic` over HTTPS with this certificate and key, when set.
    oauth_tls: Option<(PathBuf, PathBuf)>,
}

impl Azurite {
    /// Starts Azurite on free loopback ports and waits until both services accept connections.
    pub fn start() -> Azurite {
        Self::start_with(None)
    }

    /// Starts Azurite over HTTPS (`--cert`, `--key`) checking bearer tokens (`--oauth basic`:
    /// issuer, audience and lifetime, not the signature). The account key works too.
    pub fn start_https_oauth(cert: &Path, key: &Path) -> Azurite {
        Self::start_with(Some((cert.to_owned(), key.to_owned())))
    }

    fn start_with(oauth_tls: Option<(PathBuf, PathBuf)>) -> Azurite {
        let mut azurite = Azurite {
            dir: tempfile::Builder::new()
                .prefix("azurite-")
                .tempdir()
                .expect("create a temporary folder for Azurite"),
            blob_port: 0,
            table_port: 0,
            child: None,
            launches: 0,
            oauth_tls,
        };
        azurite.launch();
        azurite
    }

    /// `BlobEndpoint=...;TableEndpoint=...;AccountName=devstoreaccount1;AccountKey=...`.
    pub fn connection_string(&self) -> String {
        let scheme = self.scheme();
        format!(
            "DefaultEndpointsProtocol={scheme};BlobEndpoint={scheme}://127.0.0.1:{}/{ACCOUNT};\
             TableEndpoint={scheme}://127.0.0.1:{}/{ACCOUNT};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY}",
            self.blob_port, self.table_port
        )
    }

    /// `https` with [`Azurite::start_https_oauth`], `http` otherwise.
    pub fn scheme(&self) -> &'static str {
        if self.oauth_tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The blob service's base URL, e.g. `https://127.0.0.1:P/devstoreaccount1`.
    pub fn blob_endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}/{ACCOUNT}", self.scheme(), self.blob_port)
    }

    /// The table service's base URL.
    pub fn table_endpoint(&self) -> String {
        format!(
            "{}://127.0.0.1:{}/{ACCOUNT}",
            self.scheme(),
            self.table_port
        )
    }

    pub fn blob_port(&self) -> u16 {
        self.blob_port
    }

    pub fn table_port(&self) -> u16 {
        self.table_port
    }

    /// Stops Azurite gracefully (SIGTERM, so it flushes its databases), keeping its data.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let terminated = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while terminated && Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts Azurite again on the same ports and data folder.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        let bin = azurite_bin();
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("create Azurite's data folder");
        self.launches += 1;
        let log_path = self
            .dir
            .path()
            .join(format!("azurite-{}.log", self.launches));
        let log = File::create(&log_path).expect("create Azurite's log file");
        // Port 0 the first time lets the kernel pick free ports without a race; the log says
        // which. Restarts reuse them so the connection string stays valid.
        let mut command = Command::new(&bin);
        if let Some((cert, key)) = &self.oauth_tls {
            command
                .arg("--cert")
                .arg(cert)
                .arg("--key")
                .arg(key)
                .args(["--oauth", "basic"]);
        }
        let mut child = command
            .args([
                "--blobHost",
                "127.0.0.1",
                "--tableHost",
                "127.0.0.1",
                "--queueHost",
                "127.0.0.1",
            ])
            .args(["--blobPort", &self.blob_port.to_string()])
            .args(["--tablePort", &self.table_port.to_string()])
            .args(["--queuePort", "0"])
            .arg("--location")
            .arg(&data)
            .args([
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
                "--disableTelemetry",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));

        let started = Instant::now();
        loop {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("Azurite exited with {status} while starting:\n{output}");
            }
            if self.blob_port == 0 {
                self.blob_port = listening_port(&output, "Blob").unwrap_or(0);
            }
            if self.table_port == 0 {
                self.table_port = listening_port(&output, "Table").unwrap_or(0);
            }
            if self.blob_port != 0
                && self.table_port != 0
                && accepts(self.blob_port)
                && accepts(self.table_port)
            {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("Azurite did not start within {START_TIMEOUT:?}:\n{output}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn azurite_bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join("node_modules/.bin/azurite");
    if !bin.exists() {
        panic!(
            "{} is missing: run `npm ci` at the repository root to install Azurite",
            bin.display()
        );
    }
    bin
}

/// The port from Azurite's "Azurite Blob service is successfully listening at http://127.0.0.1:P".
fn listening_port(output: &str, service: &str) -> Option<u16> {
    let marker = format!("Azurite {service} service is successfully listening at ");
    let line = output.lines().find(|l| l.contains(&marker))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
