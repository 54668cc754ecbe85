//! Why storage refused an Entra ID token, in the log.
//!
//! A refused bearer token is answered `401`/`403 AuthenticationFailed` with the generic message
//! "Server failed to authenticate the request", and the reason (wrong audience, expired, wrong
//! issuer) only in the body's `AuthenticationErrorDetail`; a missing role is
//! `403 AuthorizationPermissionMismatch`. This policy logs that reason once per refusal with
//! what to check, and hands the response on unchanged. It is installed only with Entra ID: with
//! the account key the detail repeats the string that was signed.

use std::sync::Arc;

use azure_core::{BytesStream, Context, Policy, PolicyResult, Request, Response};

/// The policy; see the module docs.
#[derive(Debug, Default)]
pub struct ExplainRefusal;

#[async_trait::async_trait]
impl Policy for ExplainRefusal {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let response = next[0].send(ctx, request, &next[1..]).await?;
        let status = u16::from(response.status());
        if status != 401 && status != 403 {
            return Ok(response);
        }
        let (status_code, headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        let text = String::from_utf8_lossy(&bytes);
        let code = between(&text, "<Code>", "</Code>")
            .or_else(|| json_string(&text, "\"code\""))
            .unwrap_or("(no error code)");
        let detail = between(
            &text,
            "<AuthenticationErrorDetail>",
            "</AuthenticationErrorDetail>",
        )
        .or_else(|| json_string(&text, "\"AuthenticationErrorDetail\""));
        let hint = if code == "AuthorizationPermissionMismatch" || code == "AuthorizationFailure" {
            "the identity needs the roles Storage Blob Data Contributor and Storage Table Data \
             Contributor on the archive's storage account (assignments take a few minutes)"
        } else {
            "the token must be issued by Entra ID for the audience https://storage.azure.com and \
             be unexpired; check AZURE_TENANT_ID, AZURE_CLIENT_ID and the federated credential"
        };
        let detail: String = detail
            .unwrap_or("no detail given")
            .chars()
            .take(300)
            .collect();
        tracing::warn!(
            status,
            code,
            detail = %detail,
            url = %format!(
                "{}://{}{}",
                request.url().scheme(),
                request.url().host_str().unwrap_or_default(),
                request.url().path()
            ),
            "storage refused the Entra ID token: {detail}; {hint}"
        );
        Ok(Response::new(
            status_code,
            headers,
            Box::pin(BytesStream::new(bytes)),
        ))
    }
}

/// The reason a service error body gives for refusing a token (`AuthenticationErrorDetail`,
/// in XML or JSON), also from a text that quotes the body escaped (the SDK's error display).
pub(crate) fn authentication_detail(text: &str) -> Option<String> {
    let text = text.replace("\\\"", "\"");
    between(
        &text,
        "<AuthenticationErrorDetail>",
        "</AuthenticationErrorDetail>",
    )
    .or_else(|| json_string(&text, "\"AuthenticationErrorDetail\""))
    .map(|d| d.chars().take(300).collect())
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim()).filter(|s| !s.is_empty())
}

/// The string value after `"key":` in a JSON text (the table service's error bodies).
fn json_string<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let after = &text[text.find(key)? + key.len()..];
    let after = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(&after[..after.find('"')?]).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_found_in_xml_and_json_bodies() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>Server \
                   failed</Message><AuthenticationErrorDetail>Invalid token audience.\
                   </AuthenticationErrorDetail></Error>";
        assert_eq!(
            between(xml, "<Code>", "</Code>"),
            Some("AuthenticationFailed")
        );
        assert_eq!(
            between(
                xml,
                "<AuthenticationErrorDetail>",
                "</AuthenticationErrorDetail>"
            ),
            Some("Invalid token audience.")
        );
        let json = r#"{"odata.error":{"code":"AuthenticationFailed","AuthenticationErrorDetail": "Lifetime validation failed. The token is expired."}}"#;
        assert_eq!(json_string(json, "\"code\""), Some("AuthenticationFailed"));
        assert_eq!(
            json_string(json, "\"AuthenticationErrorDetail\""),
            Some("Lifetime validation failed. The token is expired.")
        );
        assert_eq!(json_string("{}", "\"code\""), None);
    }

    #[test]
    fn a_reason_is_found_in_the_sdk_s_display_of_the_body() {
        // azure_core's HttpError shows the body as escaped bytes.
        let display = format!(
            "HttpError {{ Status: 403, Body: \"{:?}\" }}",
            r#"{"odata.error":{"code":"AuthenticationFailed","AuthenticationErrorDetail":"Lifetime validation failed. The token is expired."}}"#
        );
        assert_eq!(
            authentication_detail(&display).as_deref(),
            Some("Lifetime validation failed. The token is expired.")
        );
        let xml = "Body: \"b\\\"<Error><AuthenticationErrorDetail>Invalid token audience.</AuthenticationErrorDetail></Error>\\\"\"";
        assert_eq!(
            authentication_detail(xml).as_deref(),
            Some("Invalid token audience.")
        );
        assert_eq!(authentication_detail("HTTP 403 AuthorizationFailure"), None);
    }
}
