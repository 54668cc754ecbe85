//! Parsing Azure Storage connection strings without leaking their secrets.
//!
//! Error messages name the missing or malformed setting and what is expected, and never repeat
//! any value from the string: endpoints may carry a SAS query and segments may be pieces of a key.

use std::path::PathBuf;

use azure_core::Url;
use base64::Engine as _;

use super::identity::EntraId;

/// The well-known Azurite / storage emulator account (public, documented by Microsoft).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// The well-known Azurite / storage emulator key (public, documented by Microsoft).
pub const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_BLOB_PORT: u16 = 10000;
const DEV_TABLE_PORT: u16 = 10002;

/// A secret string whose `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; only for handing to the SDK.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How requests to the archive are authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Shared key, from a connection string.
    AccountKey(Secret),
    /// Microsoft Entra ID tokens (Workload Identity or a managed identity).
    EntraId(EntraId),
}

/// Where the archive lives and how to sign requests to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageTarget {
    pub account: String,
    pub credential: Credential,
    /// Base URL of the blob service, without a trailing `/`.
    pub blob_endpoint: String,
    /// Base URL of the table service, without a trailing `/`.
    pub table_endpoint: String,
    /// Extra CA roots to trust (`SSL_CERT_FILE`), beside the public ones.
    pub ca_file: Option<PathBuf>,
}

/// Why a connection string was rejected. The message never contains a value from the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStringError(String);

impl std::fmt::Display for ConnectionStringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectionStringError {}

fn fail<T>(message: impl Into<String>) -> Result<T, ConnectionStringError> {
    Err(ConnectionStringError(message.into()))
}

impl StorageTarget {
    /// The account key, when requests are signed with one.
    pub fn key(&self) -> Option<&Secret> {
        match &self.credential {
            Credential::AccountKey(key) => Some(key),
            Credential::EntraId(_) => None,
        }
    }

    /// An account reached with Entra ID tokens: `https://<account>.blob.core.windows.net` and
    /// `.table.` unless both endpoints are given. Bearer tokens travel only over HTTPS, so
    /// endpoints must be `https`. `names` are the settings' names, for error messages: account,
    /// blob endpoint, table endpoint.
    pub fn entra_id(
        account: &str,
        endpoints: Option<(&str, &str)>,
        entra: EntraId,
        names: [&str; 3],
    ) -> Result<Self, ConnectionStringError> {
        let [account_name, blob_name, table_name] = names;
        if account.is_empty()
            || account.len() > 24
            || !account
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            // Azurite's devstoreaccount1 fits; a pasted connection string does not.
            return fail(format!(
                "{account_name} is not a storage account name (expected 1-24 lowercase letters and digits)"
            ));
        }
        let (blob, table) = match endpoints {
            Some((blob, table)) => (endpoint(blob_name, blob)?, endpoint(table_name, table)?),
            None => (
                format!("https://{account}.blob.core.windows.net"),
                format!("https://{account}.table.core.windows.net"),
            ),
        };
        for (name, url) in [(blob_name, &blob), (table_name, &table)] {
            if !url.starts_with("https://") {
                return fail(format!(
                    "{name} must be an https URL with Entra ID (bearer tokens are only sent over TLS)"
                ));
            }
        }
        Ok(StorageTarget {
            account: account.to_owned(),
            credential: Credential::EntraId(entra),
            blob_endpoint: blob,
            table_endpoint: table,
            ca_file: None,
        })
    }

    /// Parses an account-key, `UseDevelopmentStorage=true` or explicit-endpoint connection
    /// string. SAS-only strings are rejected: leases and table writes need the account key here.
    pub fn parse(connection_string: &str) -> Result<Self, ConnectionStringError> {
        let settings = Settings::parse(connection_string)?;

        if let Some(value) = settings.get("UseDevelopmentStorage") {
            if !value.eq_ignore_ascii_case("true") {
                return fail("UseDevelopmentStorage must be true when present");
            }
            return development_storage(settings.get("DevelopmentStorageProxyUri"));
        }

        if settings.get("SharedAccessSignature").is_some() && settings.get("AccountKey").is_none() {
            return fail(
                "SAS connection strings (SharedAccessSignature=...) are not supported \
                 (expected AccountName=...;AccountKey=...)",
            );
        }
        let Some(account) = settings.get("AccountName").filter(|a| !a.is_empty()) else {
            return fail(
                "connection string has no AccountName (expected AccountName=...;AccountKey=... \
                 or UseDevelopmentStorage=true)",
            );
        };
        let Some(key) = settings.get("AccountKey").filter(|k| !k.is_empty()) else {
            return fail(
                "connection string has no AccountKey (expected AccountName=...;AccountKey=... \
                 or UseDevelopmentStorage=true)",
            );
        };
        if base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_err()
        {
            return fail("AccountKey is not valid base64 (expected the key as shown by Azure)");
        }

        let (blob_endpoint, table_endpoint) = match (
            settings.get("BlobEndpoint"),
            settings.get("TableEndpoint"),
        ) {
            (Some(blob), Some(table)) => (
                endpoint("BlobEndpoint", blob)?,
                endpoint("TableEndpoint", table)?,
            ),
            (None, None) => {
                let protocol = settings.get("DefaultEndpointsProtocol").unwrap_or("https");
                if protocol != "https" && protocol != "http" {
                    return fail("DefaultEndpointsProtocol must be https or http");
                }
                let suffix = settings
                    .get("EndpointSuffix")
                    .unwrap_or("core.windows.net")
                    .trim_matches('/');
                (
                    endpoint(
                        "BlobEndpoint",
                        &format!("{protocol}://{account}.blob.{suffix}"),
                    )?,
                    endpoint(
                        "TableEndpoint",
                        &format!("{protocol}://{account}.table.{suffix}"),
                    )?,
                )
            }
            (Some(_), None) => return fail(
                "connection string has BlobEndpoint but no TableEndpoint (both services are used)",
            ),
            (None, Some(_)) => return fail(
                "connection string has TableEndpoint but no BlobEndpoint (both services are used)",
            ),
        };

        Ok(StorageTarget {
            account: account.to_owned(),
            credential: Credential::AccountKey(Secret::new(key)),
            blob_endpoint,
            table_endpoint,
            ca_file: None,
        })
    }
}

/// `Key=Value` pairs; keys compare case-insensitively, as in Azure's SDKs.
struct Settings<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Settings<'a> {
    fn parse(s: &'a str) -> Result<Self, ConnectionStringError> {
        if s.trim().is_empty() {
            return fail("connection string is empty (expected AccountName=...;AccountKey=... or UseDevelopmentStorage=true)");
        }
        let mut pairs = Vec::new();
        for (index, segment) in s.split(';').enumerate() {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            // Split at the first '=' only: keys and SAS tokens end in '=' padding.
            let Some((key, value)) = segment.split_once('=') else {
                return fail(format!(
                    "connection string segment {} has no '=' (expected Key=Value pairs separated by ';')",
                    index + 1
                ));
            };
            pairs.push((key.trim(), value.trim()));
        }
        Ok(Self(pairs))
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }
}

fn endpoint(name: &str, value: &str) -> Result<String, ConnectionStringError> {
    let trimmed = value.trim_end_matches('/');
    match Url::parse(trimmed) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.query().is_none() =>
        {
            Ok(trimmed.to_owned())
        }
        Ok(url) if url.query().is_some() => fail(format!(
            "{name} carries a query string (expected a plain http(s) URL; SAS is not supported)"
        )),
        _ => fail(format!(
            "{name} is not an http(s) URL (expected e.g. http://127.0.0.1:10000/devstoreaccount1)"
        )),
    }
}

fn development_storage(proxy: Option<&str>) -> Result<StorageTarget, ConnectionStringError> {
    let base = proxy.unwrap_or("http://127.0.0.1");
    let service = |port: u16| -> Result<String, ConnectionStringError> {
        let mut url = Url::parse(base.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                ConnectionStringError(
                    "DevelopmentStorageProxyUri is not an http(s) URL (expected e.g. http://127.0.0.1)"
                        .into(),
                )
            })?;
        // The emulator's fixed ports; a proxy URI only chooses the host.
        let _ = url.set_port(Some(port));
        url.set_path(DEV_ACCOUNT);
        url.set_query(None);
        Ok(url.as_str().trim_end_matches('/').to_owned())
    };
    Ok(StorageTarget {
        account: DEV_ACCOUNT.to_owned(),
        credential: Credential::AccountKey(Secret::new(DEV_ACCOUNT_KEY)),
        blob_endpoint: service(DEV_BLOB_PORT)?,
        table_endpoint: service(DEV_TABLE_PORT)?,
        ca_file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Valid base64, but not a real key.
    const FAKE_KEY: &str = "c2VjcmV0LXRlc3Qta2V5LWRvLW5vdC1sZWFrLXRoaXMtdmFsdWU=";

    fn parse(s: &str) -> Result<StorageTarget, ConnectionStringError> {
        StorageTarget::parse(s)
    }

    #[test]
    fn account_key_string_derives_public_endpoints() {
        let t = parse(&format!(
            "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey={FAKE_KEY};EndpointSuffix=core.windows.net"
        ))
        .unwrap();
        assert_eq!(t.account, "myacct");
        assert_eq!(t.key().unwrap().expose(), FAKE_KEY);
        assert_eq!(t.blob_endpoint, "https://myacct.blob.core.windows.net");
        assert_eq!(t.table_endpoint, "https://myacct.table.core.windows.net");
    }

    #[test]
    fn defaults_apply_without_protocol_or_suffix() {
        let t = parse(&format!("AccountName=a1;AccountKey={FAKE_KEY}")).unwrap();
        assert_eq!(t.blob_endpoint, "https://a1.blob.core.windows.net");
        let t = parse(&format!(
            "DefaultEndpointsProtocol=http;AccountName=a1;AccountKey={FAKE_KEY};EndpointSuffix=core.chinacloudapi.cn;"
        ))
        .unwrap();
        assert_eq!(t.table_endpoint, "http://a1.table.core.chinacloudapi.cn");
    }

    #[test]
    fn development_storage_maps_to_azurite() {
        let t = parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(t.account, DEV_ACCOUNT);
        assert_eq!(t.key().unwrap().expose(), DEV_ACCOUNT_KEY);
        assert_eq!(t.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(t.table_endpoint, "http://127.0.0.1:10002/devstoreaccount1");

        let t =
            parse("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite/").unwrap();
        assert_eq!(t.blob_endpoint, "http://azurite:10000/devstoreaccount1");
        assert_eq!(t.table_endpoint, "http://azurite:10002/devstoreaccount1");

        assert!(parse("UseDevelopmentStorage=false").is_err());
    }

    #[test]
    fn explicit_endpoints_are_trimmed() {
        let t = parse(&format!(
            "BlobEndpoint=http://127.0.0.1:40000/devstoreaccount1/;TableEndpoint=http://127.0.0.1:40002/devstoreaccount1;AccountName=devstoreaccount1;AccountKey={DEV_ACCOUNT_KEY}"
        ))
        .unwrap();
        assert_eq!(t.blob_endpoint, "http://127.0.0.1:40000/devstoreaccount1");
        assert_eq!(t.table_endpoint, "http://127.0.0.1:40002/devstoreaccount1");
        assert_eq!(t.account, DEV_ACCOUNT);
    }

    #[test]
    fn keys_are_case_insensitive_and_padding_survives() {
        let t = parse(&format!("accountname=x;accountkey={FAKE_KEY}")).unwrap();
        assert_eq!(t.key().unwrap().expose(), FAKE_KEY);
    }

    fn error_of(s: &str) -> String {
        let e = parse(s).unwrap_err().to_string();
        assert!(!e.contains(FAKE_KEY), "error leaks the key: {e}");
        assert!(!e.contains("c2VjcmV0"), "error leaks part of the key: {e}");
        assert!(!e.contains("sig="), "error leaks a signature: {e}");
        e
    }

    #[test]
    fn errors_name_the_problem_and_never_the_values() {
        let e = error_of("AccountName=x");
        assert!(
            e.contains("no AccountKey") && e.contains("UseDevelopmentStorage=true"),
            "{e}"
        );
        let e = error_of(&format!("AccountKey={FAKE_KEY}"));
        assert!(e.contains("no AccountName"), "{e}");
        let e = error_of(&format!("AccountName=x;{}", FAKE_KEY.trim_end_matches('=')));
        assert!(e.contains("segment 2 has no '='"), "{e}");
        // A key pasted without its name splits at its '=' padding: still no leak.
        let e = error_of(&format!("AccountName=x;{FAKE_KEY}"));
        assert!(e.contains("no AccountKey"), "{e}");
        let e = error_of("AccountName=x;AccountKey=not base64 c2VjcmV0!!");
        assert!(e.contains("not valid base64"), "{e}");
        let e = error_of(&format!(
            "BlobEndpoint=https://x.blob.core.windows.net?sv=1&sig=c2VjcmV0;TableEndpoint=https://x.table.core.windows.net;AccountName=x;AccountKey={FAKE_KEY}"
        ));
        assert!(e.contains("BlobEndpoint"), "{e}");
        let e = error_of(&format!(
            "BlobEndpoint=not-a-url-c2VjcmV0;TableEndpoint=http://h;AccountName=x;AccountKey={FAKE_KEY}"
        ));
        assert!(e.contains("BlobEndpoint is not an http(s) URL"), "{e}");
        let e = error_of(&format!(
            "BlobEndpoint=http://h/a;AccountName=x;AccountKey={FAKE_KEY}"
        ));
        assert!(e.contains("no TableEndpoint"), "{e}");
        let e = error_of("");
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn sas_only_strings_are_rejected_clearly() {
        let e = error_of(
            "BlobEndpoint=https://x.blob.core.windows.net;SharedAccessSignature=sv=2022&sig=c2VjcmV0",
        );
        assert!(e.contains("not supported"), "{e}");
        let e = error_of(
            "AccountName=x;BlobEndpoint=https://x.blob.core.windows.net;SharedAccessSignature=sv=2022&sig=c2VjcmV0",
        );
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn secret_never_prints() {
        let t = parse(&format!("AccountName=x;AccountKey={FAKE_KEY}")).unwrap();
        assert_eq!(format!("{}", t.key().unwrap()), "***");
        let debug = format!("{t:?}");
        assert!(!debug.contains(FAKE_KEY), "{debug}");
        assert!(debug.contains("***"));
    }
}
