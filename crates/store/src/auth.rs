//! How one archive's SDK clients authenticate: the credentials for a [`StorageTarget`]
//! (its account key, or an Entra ID credential from [`super::identity`], one per identity for
//! the whole process) and the transport and policies that go with them. It joins where the
//! archive is (`connection`) to how a token is obtained (`identity`), so those two need not
//! know each other.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use azure_core::auth::TokenCredential;
use azure_core::{ClientOptions, HttpClient, TransportOptions};
use azure_storage::StorageCredentials;

use super::connection::{Credential, StorageTarget};
use super::identity::{check, EntraId};
use super::transport;

/// What the SDK clients of one archive need for `target`: credentials, and the transport and
/// policies that go with them.
pub struct SdkAuth {
    pub credentials: StorageCredentials,
    transport: Option<TransportOptions>,
    entra_id: bool,
}

impl SdkAuth {
    /// Errors name the setting at fault (`SSL_CERT_FILE`, `AZURE_FEDERATED_TOKEN_FILE`).
    pub fn new(target: &StorageTarget) -> Result<SdkAuth, String> {
        let client = transport::http_client(target.ca_file.as_deref())?;
        let (credentials, entra_id) = match &target.credential {
            Credential::AccountKey(key) => (
                StorageCredentials::access_key(target.account.clone(), key.expose().to_owned()),
                false,
            ),
            Credential::EntraId(entra) => {
                check(entra)?;
                let http = client.clone().unwrap_or_else(azure_core::new_http_client);
                let credential = shared(entra, target.ca_file.as_deref(), http);
                (StorageCredentials::token_credential(credential), true)
            }
        };
        Ok(SdkAuth {
            credentials,
            transport: client.map(transport::transport),
            entra_id,
        })
    }

    /// `options` with the transport (extra CA roots) and, with Entra ID, the policy that logs
    /// why storage refused a token.
    pub fn client_options(&self, mut options: ClientOptions) -> ClientOptions {
        if let Some(transport) = &self.transport {
            options = options.transport(transport.clone());
        }
        if self.entra_id {
            options
                .per_retry_policies_mut()
                .push(Arc::new(super::refusal::ExplainRefusal));
        }
        options
    }
}

/// One credential per identity for the whole process: the job opens an archive per table
/// partition, and they should share one token (and its exchange) rather than fetch one each.
fn shared(
    entra: &EntraId,
    ca_file: Option<&std::path::Path>,
    http: Arc<dyn HttpClient>,
) -> Arc<dyn TokenCredential> {
    type Shared = Vec<(EntraId, Option<PathBuf>, Arc<dyn TokenCredential>)>;
    static SHARED: OnceLock<Mutex<Shared>> = OnceLock::new();
    let mut shared = SHARED
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = ca_file.map(|p| p.to_owned());
    if let Some((_, _, credential)) = shared.iter().find(|(e, c, _)| e == entra && *c == key) {
        return credential.clone();
    }
    tracing::info!(
        identity = %entra.describe(),
        "storage requests are authorised with Microsoft Entra ID"
    );
    let credential = entra.credential(http);
    shared.push((entra.clone(), key, credential.clone()));
    credential
}
