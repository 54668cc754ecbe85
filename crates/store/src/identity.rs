//! Microsoft Entra ID credentials for blobs and tables, instead of the account key.
//!
//! - **Workload Identity** (AKS): the webhook injects `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!   `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST`. The service account token in the
//!   file is exchanged at `{authority}/{tenant}/oauth2/v2.0/token` for a storage token
//!   (scope [`STORAGE_SCOPE`]). The file is read again at every exchange, because the kubelet
//!   rotates it.
//! - **Managed identity** (a VM's, through IMDS) when none of those variables is set.
//!
//! Tokens are cached and exchanged again before they expire, so a run that outlives its token
//! keeps going. Errors name the variable, file or authority that failed, never a token.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::auth::{AccessToken, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::{headers, HttpClient, Method, Request, Url};
use azure_identity::{TokenCredentialOptions, VirtualMachineManagedIdentityCredential};
use time::OffsetDateTime;

/// The scope of a token for Azure Storage (blobs and tables alike).
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
/// Entra ID's authority for the public cloud, when `AZURE_AUTHORITY_HOST` is not set.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";
/// A token is exchanged again once less than this is left of it (or half its lifetime, for
/// short-lived tokens), so no request goes out with a token about to expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// `host` as Entra ID's authority (`AZURE_AUTHORITY_HOST`): an https URL with a host and no
/// query, or `None`.
pub fn authority_host(host: &str) -> Option<Url> {
    Url::parse(host)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host_str().is_some() && u.query().is_none())
}

/// Which Entra ID credential the job uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntraId {
    /// AKS Workload Identity: a federated service-account token exchanged for storage tokens.
    Workload {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
        authority_host: Url,
    },
    /// The managed identity of the VM (IMDS), system-assigned or the VM's only user-assigned one.
    ManagedIdentity,
}

impl EntraId {
    /// A short description for logs: which identity, never a token.
    pub fn describe(&self) -> String {
        match self {
            EntraId::Workload {
                tenant_id,
                client_id,
                ..
            } => format!("workload identity (client {client_id}, tenant {tenant_id})"),
            EntraId::ManagedIdentity => "managed identity (IMDS)".to_owned(),
        }
    }

    /// The credential the SDK asks for tokens, sending its requests through `http`.
    pub fn credential(&self, http: Arc<dyn HttpClient>) -> Arc<dyn TokenCredential> {
        match self {
            EntraId::Workload {
                tenant_id,
                client_id,
                token_file,
                authority_host,
            } => Arc::new(WorkloadIdentity {
                http,
                tenant_id: tenant_id.clone(),
                client_id: client_id.clone(),
                token_file: token_file.clone(),
                authority_host: authority_host.clone(),
                cache: tokio::sync::Mutex::new(None),
            }),
            EntraId::ManagedIdentity => Arc::new(ManagedIdentity(
                VirtualMachineManagedIdentityCredential::new(TokenCredentialOptions::from(http)),
            )),
        }
    }
}

/// Reads the federated token file; the error names the variable and the file.
fn read_token_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {e}; \
             is the pod labelled azure.workload.identity/use=true and its service account \
             annotated with the identity's client id?",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "the federated token file {} (AZURE_FEDERATED_TOKEN_FILE) is empty; expected the \
             service account token the kubelet projects there",
            path.display()
        ));
    }
    Ok(token.to_owned())
}

/// Checks that the federated token file can be read now, so a misconfigured pod fails at once
/// with a clear message instead of at its first storage request.
pub fn check(entra: &EntraId) -> Result<(), String> {
    match entra {
        EntraId::Workload { token_file, .. } => read_token_file(token_file).map(|_| ()),
        EntraId::ManagedIdentity => Ok(()),
    }
}

struct Cached {
    token: AccessToken,
    obtained: Instant,
    lifetime: Duration,
}

impl Cached {
    fn fresh(&self) -> bool {
        let margin = REFRESH_MARGIN.min(self.lifetime / 2);
        self.obtained.elapsed() + margin < self.lifetime
    }
}

struct WorkloadIdentity {
    http: Arc<dyn HttpClient>,
    tenant_id: String,
    client_id: String,
    token_file: PathBuf,
    authority_host: Url,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for WorkloadIdentity {
    // By hand: the cache holds a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentity")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("token_file", &self.token_file)
            .field("authority_host", &self.authority_host.as_str())
            .finish_non_exhaustive()
    }
}

/// How a token exchange failed: only an answer is a refusal.
enum Exchange {
    /// The request could not be made.
    NotSent(String),
    /// No answer came (the connection or the TLS handshake failed).
    NoAnswer(String),
    /// Entra ID answered, and gave no token.
    Refused(String),
}

impl WorkloadIdentity {
    /// The client-credentials request with a federated assertion, as Entra ID documents it
    /// (and azure_identity sends it), done here so that a refusal reports Entra ID's own error
    /// code and description. Returns the access token and its lifetime in seconds.
    async fn post(&self, assertion: &str, scopes: &[&str]) -> Result<(String, u64), Exchange> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &scopes.join(" "))
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", assertion)
            .append_pair("grant_type", "client_credentials")
            .finish();
        let url = self
            .authority_host
            .join(&format!("/{}/oauth2/v2.0/token", self.tenant_id))
            .map_err(|e| {
                Exchange::NotSent(format!("AZURE_TENANT_ID cannot be part of a URL ({e})"))
            })?;
        let mut request = Request::new(url, Method::Post);
        request.insert_header(headers::CONTENT_TYPE, "application/x-www-form-urlencoded");
        request.set_body(body);
        let response = self.http.execute_request(&request).await.map_err(|e| {
            let causes = super::tls::chain(&e);
            Exchange::NoAnswer(match super::tls::certificate_problem(&causes) {
                Some(hint) => format!("{hint} ({causes})"),
                None => causes,
            })
        })?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| {
            Exchange::Refused(format!(
                "HTTP {status}, and its body could not be read ({e})"
            ))
        })?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if !status.is_success() {
            let code = json["error"].as_str().unwrap_or("(no error code)");
            // Entra ID appends trace and correlation ids on further lines.
            let description = json["error_description"]
                .as_str()
                .and_then(|d| d.lines().next())
                .unwrap_or("(no description)");
            let description: String = description.chars().take(300).collect();
            return Err(Exchange::Refused(format!(
                "HTTP {} {code}: {description}",
                u16::from(status)
            )));
        }
        let token = json["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Exchange::Refused("the answer has no access_token".into()))?;
        // A number from Entra ID; some endpoints send it as a string.
        let expires_in = json["expires_in"]
            .as_u64()
            .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| Exchange::Refused("the answer has no expires_in".into()))?;
        Ok((token.to_owned(), expires_in))
    }

    async fn exchange(&self, scopes: &[&str]) -> azure_core::Result<Cached> {
        let assertion = read_token_file(&self.token_file)
            .map_err(|m| azure_core::Error::message(ErrorKind::Credential, m))?;
        let started = Instant::now();
        let (token, expires_in) = self.post(&assertion, scopes).await.map_err(|failed| {
            let (what, cause) = match failed {
                Exchange::Refused(cause) => ("refused to exchange", cause),
                Exchange::NoAnswer(cause) => ("did not answer the exchange of", cause),
                Exchange::NotSent(cause) => ("was not asked to exchange", cause),
            };
            azure_core::Error::message(
                ErrorKind::Credential,
                format!(
                    "Entra ID at {} {what} the federated token of {} for a storage token \
                     (AZURE_CLIENT_ID {}, AZURE_TENANT_ID {}): {cause}",
                    self.authority_host.as_str().trim_end_matches('/'),
                    self.token_file.display(),
                    self.client_id,
                    self.tenant_id,
                ),
            )
        })?;
        let lifetime = Duration::from_secs(expires_in);
        tracing::debug!(
            client_id = %self.client_id,
            expires_in_seconds = expires_in,
            "obtained a storage token from Entra ID"
        );
        Ok(Cached {
            token: AccessToken::new(token, OffsetDateTime::now_utc() + lifetime),
            obtained: started,
            lifetime,
        })
    }
}

#[async_trait::async_trait]
impl TokenCredential for WorkloadIdentity {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        // One exchange at a time: parallel uploads wait for the same new token.
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref().filter(|c| c.fresh()) {
            return Ok(cached.token.clone());
        }
        let cached = self.exchange(scopes).await?;
        let token = cached.token.clone();
        *cache = Some(cached);
        Ok(token)
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        *self.cache.lock().await = None;
        Ok(())
    }
}

/// The SDK's IMDS credential, with errors that say what was tried.
#[derive(Debug)]
struct ManagedIdentity(VirtualMachineManagedIdentityCredential);

#[async_trait::async_trait]
impl TokenCredential for ManagedIdentity {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        self.0.get_token(scopes).await.map_err(|e| {
            let cause: String = e.to_string().chars().take(300).collect();
            azure_core::Error::message(
                ErrorKind::Credential,
                format!(
                    "no storage token from the managed identity endpoint (IMDS): {cause}; for \
                     Workload Identity set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                     AZURE_FEDERATED_TOKEN_FILE"
                ),
            )
        })
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.0.clear_cache().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(lifetime: u64, age: u64) -> Cached {
        Cached {
            token: AccessToken::new("t".to_owned(), OffsetDateTime::now_utc()),
            obtained: Instant::now() - Duration::from_secs(age),
            lifetime: Duration::from_secs(lifetime),
        }
    }

    #[test]
    fn tokens_are_exchanged_again_before_they_expire() {
        // An hour-long token: kept for 55 minutes.
        assert!(cached(3600, 3000).fresh());
        assert!(!cached(3600, 3301).fresh());
        // A short-lived one: kept for half its lifetime.
        assert!(cached(4, 1).fresh());
        assert!(!cached(4, 2).fresh());
        assert!(!cached(0, 0).fresh());
    }

    #[test]
    fn token_file_errors_name_the_variable_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("azure-identity-token");
        let e = read_token_file(&path).unwrap_err();
        assert!(
            e.contains("AZURE_FEDERATED_TOKEN_FILE") && e.contains("azure-identity-token"),
            "{e}"
        );
        std::fs::write(&path, "\n").unwrap();
        let e = read_token_file(&path).unwrap_err();
        assert!(e.contains("is empty"), "{e}");
        std::fs::write(&path, "header.payload.signature\n").unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "header.payload.signature");
    }
}
