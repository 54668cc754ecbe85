//! The HTTP client that storage and token requests share, trusting extra CA roots.
//!
//! `SSL_CERT_FILE` names a PEM file of CA certificates (the OpenSSL convention). They are
//! trusted in addition to the built-in public roots: a private endpoint behind a corporate CA,
//! or Azurite with a certificate a test made. Without the setting, the SDK's own client is used
//! unchanged.

use std::path::Path;
use std::sync::Arc;

use azure_core::{HttpClient, TransportOptions};

/// The environment variable naming the extra CA roots.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// A client trusting the public roots and every certificate in `ca_file`, or `None` (the SDK's
/// default client) when there is no file.
///
/// ```no_run
/// let client = store::transport::http_client(Some(std::path::Path::new("/etc/ca.pem")))
///     .expect("a readable PEM file");
/// assert!(client.is_some());
/// ```
pub fn http_client(ca_file: Option<&Path>) -> Result<Option<Arc<dyn HttpClient>>, String> {
    let Some(path) = ca_file else {
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "{SSL_CERT_FILE} {}: cannot read it ({e}); expected a PEM file of CA certificates",
            path.display()
        )
    })?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        format!(
            "{SSL_CERT_FILE} {}: not PEM certificates ({e}); expected -----BEGIN CERTIFICATE----- blocks",
            path.display()
        )
    })?;
    if roots.is_empty() {
        return Err(format!(
            "{SSL_CERT_FILE} {}: holds no certificate; expected -----BEGIN CERTIFICATE----- blocks",
            path.display()
        ));
    }
    // Like azure_core's own client: no idle pooling, which avoids a hyper hang
    // (hyperium/hyper#2312) the SDK works around the same way.
    let mut builder = reqwest::ClientBuilder::new().pool_max_idle_per_host(0);
    for root in roots {
        builder = builder.add_root_certificate(root);
    }
    let client = builder.build().map_err(|e| {
        format!(
            "{SSL_CERT_FILE} {}: cannot build an HTTPS client with these roots ({e})",
            path.display()
        )
    })?;
    Ok(Some(Arc::new(client)))
}

/// The SDK's transport for `client`.
pub fn transport(client: Arc<dyn HttpClient>) -> TransportOptions {
    TransportOptions::new(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_keeps_the_sdk_client() {
        assert!(http_client(None).unwrap().is_none());
    }

    /// distroless images set `SSL_CERT_FILE` to the system bundle: all of it must load, or
    /// every run in such an image would fail.
    #[test]
    fn the_system_bundle_loads() {
        let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
        if !bundle.exists() {
            eprintln!("no {} here; nothing to check", bundle.display());
            return;
        }
        assert!(http_client(Some(bundle)).unwrap().is_some());
    }

    #[test]
    fn errors_name_the_setting_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = http_client(Some(&missing)).err().unwrap();
        assert!(
            e.contains("SSL_CERT_FILE") && e.contains("missing.pem"),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = http_client(Some(&empty)).err().unwrap();
        assert!(
            e.contains("SSL_CERT_FILE") && e.contains("no certificate"),
            "{e}"
        );
    }
}
