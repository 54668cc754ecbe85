//! Read-only signed URLs into the archive's container, for players and browsers that cannot
//! sign requests (`segment-selector playlist`, static day pages).
//!
//! With an account key (connection-string mode) they carry a service SAS signed with it; with
//! Entra ID a user-delegation SAS, signed with a key the service hands out for the chosen
//! span (Get User Delegation Key; the identity needs a role that grants
//! `generateUserDelegationKey`, e.g. Storage Blob Data Reader or Contributor). Both grant read
//! only (`sp=r`) until the chosen expiry. The signature is a secret: [`ReadUrls`] prints it
//! only into the URLs it returns, never into `Debug` output or errors.

use azure_storage::shared_access_signature::service_sas::{
    BlobSasPermissions, BlobSharedAccessSignature, UserDeligationKey,
};
use azure_storage::shared_access_signature::SasToken;
use chrono::{DateTime, TimeDelta, Utc};
use time::OffsetDateTime;

use super::errors::store_error;
use super::AzureArchive;
use crate::{ErrorKind, SignedUrls, Signer, StoreError, StoreResult};

/// The longest a user-delegation key (and so a user-delegation SAS) may live: 7 days.
pub const MAX_DELEGATION: TimeDelta = TimeDelta::days(7);

/// How the URLs are signed.
enum Signing {
    AccountKey,
    Delegation(Box<UserDeligationKey>),
}

/// Signs read-only URLs of one container's blobs, valid until one expiry
/// ([`AzureArchive::read_urls`]).
pub struct ReadUrls {
    container: azure_storage_blobs::prelude::ContainerClient,
    signing: Signing,
    expiry: OffsetDateTime,
    /// The container-scoped read SAS (a query string), signed once.
    container_sas: String,
}

impl std::fmt::Debug for ReadUrls {
    // By hand: the SAS and the delegation key are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadUrls")
            .field("container", &self.container.container_name())
            .field("expiry", &self.expiry)
            .field(
                "signing",
                &match self.signing {
                    Signing::AccountKey => "service SAS (account key)",
                    Signing::Delegation(_) => "user-delegation SAS (Entra ID)",
                },
            )
            .finish_non_exhaustive()
    }
}

fn read_only() -> BlobSasPermissions {
    BlobSasPermissions {
        read: true,
        ..BlobSasPermissions::default()
    }
}

fn offset_time(t: DateTime<Utc>) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map_err(|_| format!("{} is outside the range a SAS can name", t.to_rfc3339()))
}

impl AzureArchive {
    /// Read-only URLs into this archive's container valid from `now` until `expiry`: a service
    /// SAS from the account key, or with Entra ID a user-delegation SAS (one request for the
    /// delegation key, at most [`MAX_DELEGATION`] ahead).
    pub async fn read_urls(
        &self,
        now: DateTime<Utc>,
        expiry: DateTime<Utc>,
    ) -> StoreResult<ReadUrls> {
        let operation = format!(
            "sign read URLs of container {} until {}",
            self.container.container_name(),
            expiry.to_rfc3339()
        );
        let invalid = |cause: String| StoreError::new(ErrorKind::Invalid, &operation, cause);
        if expiry <= now {
            return Err(invalid("the expiry is not in the future".into()));
        }
        let se = offset_time(expiry).map_err(invalid)?;
        let signing = if self.account_key {
            Signing::AccountKey
        } else {
            if expiry - now > MAX_DELEGATION {
                return Err(invalid(format!(
                    "with Entra ID a signature lives at most {} days (a user-delegation key's limit)",
                    MAX_DELEGATION.num_days()
                )));
            }
            // Started a little in the past: the service's clock may be behind ours.
            let st = offset_time(now - TimeDelta::minutes(5)).map_err(invalid)?;
            let service = self.container.service_client();
            let key = self
                .within(async { service.get_user_deligation_key(st, se).await })
                .await
                .map_err(|e| store_error(&operation, &e))?;
            Signing::Delegation(Box::new(key.user_deligation_key))
        };
        let mut urls = ReadUrls {
            container: self.container.clone(),
            signing,
            expiry: se,
            container_sas: String::new(),
        };
        let sas = match &urls.signing {
            Signing::AccountKey => {
                urls.container
                    .shared_access_signature(read_only(), se)
                    .await
            }
            Signing::Delegation(key) => {
                urls.container
                    .user_delegation_shared_access_signature(read_only(), key)
                    .await
            }
        };
        urls.container_sas = sas
            .and_then(|s| s.token())
            .map_err(|e| store_error(&operation, &e))?;
        Ok(urls)
    }
}

impl ReadUrls {
    /// The container's URL, unsigned (`https://<account>.blob.core.windows.net/<container>`).
    pub fn container_url(&self) -> StoreResult<String> {
        self.container
            .url()
            .map(|u| u.to_string())
            .map_err(|e| store_error("name the container's URL", &e))
    }

    /// A container-scoped read SAS as a query string (no leading `?`): appended to the URL of
    /// any blob of the container, it reads that blob. For pages that link many blobs
    /// relatively (`<a href="…mp3?<sas>">`).
    pub fn container_sas(&self) -> &str {
        &self.container_sas
    }

    /// The URL of `blob` with a read SAS scoped to that blob alone.
    pub async fn blob_url(&self, blob: &str) -> StoreResult<String> {
        let operation = format!(
            "sign the URL of blob {}/{blob}",
            self.container.container_name()
        );
        let client = self.container.blob_client(blob);
        let sas: azure_core::Result<BlobSharedAccessSignature> = match &self.signing {
            Signing::AccountKey => {
                client
                    .shared_access_signature(read_only(), self.expiry)
                    .await
            }
            Signing::Delegation(key) => {
                client
                    .user_delegation_shared_access_signature(read_only(), key)
                    .await
            }
        };
        sas.and_then(|s| client.generate_signed_blob_url(&s))
            .map(|u| u.to_string())
            .map_err(|e| store_error(&operation, &e))
    }

    /// When the signatures expire.
    pub fn expiry(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.expiry.unix_timestamp(), 0).unwrap_or_default()
    }
}

/// Azurite (3.x) answers Get User Delegation Key without the headers the 0.21 SDK requires of
/// every response (`x-ms-request-id`, `x-ms-version`, `Date`, `Server`); this supplies those
/// missing for that operation alone, so user-delegation signing works against the emulator as
/// against Azure (which sends them all).
#[derive(Debug)]
pub(super) struct DelegationKeyHeaders;

#[async_trait::async_trait]
impl azure_core::Policy for DelegationKeyHeaders {
    async fn send(
        &self,
        ctx: &azure_core::Context,
        request: &mut azure_core::Request,
        next: &[std::sync::Arc<dyn azure_core::Policy>],
    ) -> azure_core::PolicyResult {
        use azure_core::headers::HeaderName;
        let response = next[0].send(ctx, request, &next[1..]).await?;
        let delegation = request
            .url()
            .query_pairs()
            .any(|(k, v)| k == "comp" && v == "userdelegationkey");
        if !delegation {
            return Ok(response);
        }
        let asked = |name: &'static str| {
            request
                .headers()
                .get_optional_string(&HeaderName::from_static(name))
        };
        let fill = [
            // A nil UUID: the SDK parses the header as one.
            (
                "x-ms-request-id",
                Some("00000000-0000-0000-0000-000000000000".to_owned()),
            ),
            ("x-ms-version", asked("x-ms-version")),
            ("date", asked("x-ms-date")),
            ("server", Some("unnamed".to_owned())),
        ];
        let (status, mut headers, body) = response.deconstruct();
        for (name, value) in fill {
            let name = HeaderName::from_static(name);
            if let (None, Some(value)) = (headers.get_optional_str(&name), value) {
                headers.insert(name, value);
            }
        }
        Ok(azure_core::Response::new(status, headers, Box::pin(body)))
    }
}

#[async_trait::async_trait]
impl Signer for AzureArchive {
    async fn signed_urls(
        &self,
        now: DateTime<Utc>,
        expiry: DateTime<Utc>,
    ) -> StoreResult<Box<dyn SignedUrls>> {
        Ok(Box::new(self.read_urls(now, expiry).await?))
    }
}

#[async_trait::async_trait]
impl SignedUrls for ReadUrls {
    async fn blob_url(&self, blob: &str) -> StoreResult<String> {
        ReadUrls::blob_url(self, blob).await
    }
}
