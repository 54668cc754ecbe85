//! Where the archive is and how the job signs in: the connection string (account key) or the
//! account name with Microsoft Entra ID (Workload Identity, or a managed identity).

use std::path::PathBuf;

use super::{Env, SettingsError};
use store::connection::StorageTarget;
use store::identity::{authority_host, EntraId, PUBLIC_AUTHORITY};

/// Treats an empty variable as unset, as a Helm template that renders `""` means it.
pub(super) fn set(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// The connection string (account key), or the account with Entra ID: exactly one of them.
pub(super) fn storage_target(env: &Env) -> Result<StorageTarget, SettingsError> {
    let conn = set(env.azure_storage_connection_string.clone());
    let account = set(env.azure_storage_account.clone());
    let endpoints = (
        set(env.azure_storage_blob_endpoint.clone()),
        set(env.azure_storage_table_endpoint.clone()),
    );
    let err = |m: String| SettingsError(m);
    match (conn, account) {
        (Some(_), Some(_)) => Err(err(
            "AZURE_STORAGE_CONNECTION_STRING and AZURE_STORAGE_ACCOUNT are both set: expected \
             one of them (the connection string signs with the account key, the account name \
             selects Entra ID)"
                .into(),
        )),
        (Some(conn), None) => {
            if endpoints.0.is_some() || endpoints.1.is_some() {
                return Err(err(
                    "AZURE_STORAGE_BLOB_ENDPOINT and AZURE_STORAGE_TABLE_ENDPOINT go with \
                     AZURE_STORAGE_ACCOUNT; with a connection string, put BlobEndpoint= and \
                     TableEndpoint= in it"
                        .into(),
                ));
            }
            StorageTarget::parse(&conn)
                .map_err(|e| err(format!("AZURE_STORAGE_CONNECTION_STRING: {e}")))
        }
        (None, None) => Err(err(
            "AZURE_STORAGE_CONNECTION_STRING is not set: expected an Azure Storage connection \
             string, or AZURE_STORAGE_ACCOUNT (the archive's account name) for Entra ID"
                .into(),
        )),
        (None, Some(account)) => {
            let endpoints = match endpoints {
                (Some(blob), Some(table)) => Some((blob, table)),
                (None, None) => None,
                (Some(_), None) => {
                    return Err(err("AZURE_STORAGE_BLOB_ENDPOINT is set but AZURE_STORAGE_TABLE_ENDPOINT is not: expected both or neither".into()))
                }
                (None, Some(_)) => {
                    return Err(err("AZURE_STORAGE_TABLE_ENDPOINT is set but AZURE_STORAGE_BLOB_ENDPOINT is not: expected both or neither".into()))
                }
            };
            StorageTarget::entra_id(
                account.trim(),
                endpoints.as_ref().map(|(b, t)| (b.as_str(), t.as_str())),
                entra_id(env)?,
                [
                    "AZURE_STORAGE_ACCOUNT",
                    "AZURE_STORAGE_BLOB_ENDPOINT",
                    "AZURE_STORAGE_TABLE_ENDPOINT",
                ],
            )
            .map_err(|e| err(e.to_string()))
        }
    }
}

/// Workload Identity when the webhook's variables are there, a managed identity when none is.
fn entra_id(env: &Env) -> Result<EntraId, SettingsError> {
    let vars = [
        ("AZURE_TENANT_ID", set(env.azure_tenant_id.clone())),
        ("AZURE_CLIENT_ID", set(env.azure_client_id.clone())),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            set(env.azure_federated_token_file.clone()),
        ),
    ];
    let missing: Vec<&str> = vars
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    let [(_, Some(tenant_id)), (_, Some(client_id)), (_, Some(token_file))] = vars else {
        if missing.len() == vars.len() {
            return Ok(EntraId::ManagedIdentity);
        }
        return Err(SettingsError(format!(
            "Workload Identity needs AZURE_TENANT_ID, AZURE_CLIENT_ID and \
             AZURE_FEDERATED_TOKEN_FILE; {} not set (the webhook injects them into pods \
             labelled azure.workload.identity/use=true)",
            missing.join(" and ")
        )));
    };
    let host = set(env.azure_authority_host.clone()).unwrap_or_else(|| PUBLIC_AUTHORITY.into());
    let authority_host = authority_host(host.trim()).ok_or_else(|| {
        SettingsError(format!(
            "AZURE_AUTHORITY_HOST {host:?} is not an https URL (expected e.g. {PUBLIC_AUTHORITY})"
        ))
    })?;
    Ok(EntraId::Workload {
        tenant_id: tenant_id.trim().to_owned(),
        client_id: client_id.trim().to_owned(),
        token_file: PathBuf::from(token_file),
        authority_host,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{vars, KEY};
    use super::super::Settings;
    use store::identity::EntraId;

    fn identity_vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![
            ("AZURE_STORAGE_CONNECTION_STRING", ""),
            ("AZURE_STORAGE_ACCOUNT", "archive1"),
            ("AZURE_TENANT_ID", "11111111-2222-3333-4444-555555555555"),
            ("AZURE_CLIENT_ID", "66666666-7777-8888-9999-000000000000"),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
        ];
        all.extend_from_slice(extra);
        vars(&all)
    }

    #[test]
    fn the_account_name_selects_workload_identity() {
        let s = Settings::from_vars(identity_vars(&[])).unwrap();
        assert_eq!(s.storage.account, "archive1");
        assert!(s.storage.key().is_none());
        assert_eq!(
            s.storage.blob_endpoint,
            "https://archive1.blob.core.windows.net"
        );
        assert_eq!(
            s.storage.table_endpoint,
            "https://archive1.table.core.windows.net"
        );
        let store::connection::Credential::EntraId(EntraId::Workload {
            authority_host,
            token_file,
            ..
        }) = &s.storage.credential
        else {
            panic!("expected workload identity: {:?}", s.storage.credential);
        };
        assert_eq!(
            authority_host.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert!(token_file.ends_with("azure-identity-token"));

        let s = Settings::from_vars(identity_vars(&[
            (
                "AZURE_STORAGE_BLOB_ENDPOINT",
                "https://127.0.0.1:4000/devstoreaccount1/",
            ),
            (
                "AZURE_STORAGE_TABLE_ENDPOINT",
                "https://127.0.0.1:4002/devstoreaccount1",
            ),
            ("AZURE_STORAGE_ACCOUNT", "devstoreaccount1"),
            ("AZURE_AUTHORITY_HOST", "https://127.0.0.1:4443/"),
            ("SSL_CERT_FILE", "/tmp/ca.pem"),
        ]))
        .unwrap();
        assert_eq!(
            s.storage.blob_endpoint,
            "https://127.0.0.1:4000/devstoreaccount1"
        );
        assert_eq!(
            s.storage.ca_file.as_deref(),
            Some(std::path::Path::new("/tmp/ca.pem"))
        );
    }

    #[test]
    fn without_the_webhook_variables_a_managed_identity_is_used() {
        let s = Settings::from_vars(identity_vars(&[
            ("AZURE_TENANT_ID", ""),
            ("AZURE_CLIENT_ID", ""),
            ("AZURE_FEDERATED_TOKEN_FILE", ""),
        ]))
        .unwrap();
        assert_eq!(
            s.storage.credential,
            store::connection::Credential::EntraId(EntraId::ManagedIdentity)
        );
    }

    #[test]
    fn identity_settings_errors_name_what_is_missing() {
        for (extra, expect) in [
            (
                vec![("AZURE_FEDERATED_TOKEN_FILE", "")],
                "AZURE_FEDERATED_TOKEN_FILE not set",
            ),
            (
                vec![("AZURE_TENANT_ID", ""), ("AZURE_CLIENT_ID", "")],
                "AZURE_TENANT_ID and AZURE_CLIENT_ID not set",
            ),
            (
                vec![(
                    "AZURE_STORAGE_CONNECTION_STRING",
                    "UseDevelopmentStorage=true",
                )],
                "both set",
            ),
            (
                vec![("AZURE_STORAGE_ACCOUNT", "")],
                "AZURE_STORAGE_CONNECTION_STRING is not set",
            ),
            (
                vec![("AZURE_STORAGE_ACCOUNT", "My_Account")],
                "AZURE_STORAGE_ACCOUNT",
            ),
            (
                vec![("AZURE_STORAGE_BLOB_ENDPOINT", "https://h/a")],
                "AZURE_STORAGE_TABLE_ENDPOINT is not",
            ),
            (
                vec![
                    ("AZURE_STORAGE_BLOB_ENDPOINT", "http://h/a"),
                    ("AZURE_STORAGE_TABLE_ENDPOINT", "https://h/a"),
                ],
                "AZURE_STORAGE_BLOB_ENDPOINT must be an https URL",
            ),
            (
                vec![("AZURE_AUTHORITY_HOST", "login")],
                "AZURE_AUTHORITY_HOST",
            ),
        ] {
            let e = Settings::from_vars(identity_vars(&extra))
                .err()
                .unwrap_or_else(|| panic!("{extra:?} should fail"))
                .to_string();
            assert!(e.contains(expect), "{extra:?}: {e}");
        }
        // Endpoints belong to the identity mode; a connection string carries its own.
        let e = Settings::from_vars(vars(&[("AZURE_STORAGE_BLOB_ENDPOINT", "https://h/a")]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("BlobEndpoint=") && !e.contains(KEY), "{e}");
    }
}
