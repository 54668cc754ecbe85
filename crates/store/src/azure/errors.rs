//! SDK errors as [`StoreError`]s: status, service error code, whether a retry may help, and
//! never a secret (URL queries, which hold SAS signatures, are dropped).

use azure_core::error::ErrorKind;

use crate::{ErrorKind as Kind, StoreError};

pub(super) const TRANSIENT_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// The HTTP status and Azure error code of a service error.
pub(super) fn status_of(error: &azure_core::Error) -> Option<(u16, Option<&str>)> {
    match error.kind() {
        ErrorKind::HttpResponse { status, error_code } => {
            Some((u16::from(*status), error_code.as_deref()))
        }
        _ => None,
    }
}

/// 409 "already exists" is success. "Being deleted" is not: the resource would be gone a
/// moment later, so `store_error` reports it as a transient failure instead.
pub(super) fn already_exists(error: &azure_core::Error, code: &str) -> bool {
    matches!(status_of(error), Some((409, Some(c))) if c == code)
}

/// Builds a secret-free [`StoreError`]: the status, Azure error code and the first line of the
/// service's message for HTTP errors, the sanitized cause chain otherwise.
pub(super) fn store_error(operation: impl Into<String>, error: &azure_core::Error) -> StoreError {
    let (kind, cause, transient, answered) = match status_of(error) {
        Some((status, code)) => {
            let mut cause = format!("HTTP {status} {}", code.unwrap_or("(no error code)"));
            let message = error
                .as_http_error()
                .and_then(|http| http.error_message())
                .and_then(|m| m.lines().next())
                .map(str::trim)
                .filter(|m| !m.is_empty());
            // A refused token is answered with a generic message; the reason (a wrong
            // audience, an expired token) is only in the body's detail, and it belongs in the
            // error the run ends with, not only in the warning logged on the way.
            let detail = matches!(status, 401 | 403)
                .then(|| error.as_http_error())
                .flatten()
                .and_then(|http| crate::refusal::authentication_detail(&http.to_string()));
            if let Some(detail) = &detail {
                cause.push_str(": ");
                cause.push_str(&redact_urls(detail));
            }
            if let Some(message) = message {
                cause.push_str(if detail.is_some() { " (" } else { ": " });
                cause.push_str(&redact_urls(&truncate(message, 200)));
                if detail.is_some() {
                    cause.push(')');
                }
            }
            // "Being deleted" clears up by itself; a later run can create the resource.
            let deleting = matches!(code, Some("ContainerBeingDeleted" | "TableBeingDeleted"));
            let transient = TRANSIENT_STATUSES.contains(&status) || deleting;
            let kind = match status {
                404 => Kind::NotFound,
                401 | 403 => Kind::Denied,
                _ if transient => Kind::Unavailable,
                409 | 412 => Kind::Conflict,
                _ => Kind::Rejected,
            };
            (kind, cause, transient, Some(status))
        }
        None => {
            let causes = cause_chain(error);
            // Said once: an Entra ID exchange that failed the same way already says it.
            let full = crate::tls::chain(error);
            let certificate = crate::tls::certificate_problem(&full);
            let causes = match certificate {
                Some(hint) if !full.contains("SSL_CERT_FILE") => format!("{hint} ({causes})"),
                _ => causes,
            };
            let kind = match error.kind() {
                // No storage token: Entra ID or the managed identity endpoint refused, or
                // could not be asked (the credential's message says which).
                ErrorKind::Credential => Kind::Denied,
                _ if certificate.is_some() => Kind::Certificate,
                ErrorKind::Io => Kind::Transport,
                _ => Kind::Other,
            };
            (kind, causes, matches!(error.kind(), ErrorKind::Io), None)
        }
    };
    let error = StoreError::new(kind, operation, cause).with_transient(transient);
    match answered {
        Some(status) => error.with_status(status),
        None => error,
    }
}

pub(super) fn cause_chain(error: &azure_core::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        let text = redact_urls(&e.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    truncate(&parts.join(": "), 900)
}

/// Drops the query string of every URL in `text`: with SAS credentials it holds the signature.
pub(super) fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..start]);
        let url = &rest[start..];
        let end = url.find(char::is_whitespace).unwrap_or(url.len());
        // Punctuation after the URL, like the "):" in reqwest's "for url (URL): cause".
        let token = url[..end].trim_end_matches([')', ']', ':', ',', '.', ';', '"', '\'']);
        match token.find('?') {
            Some(query) => {
                out.push_str(&token[..query]);
                out.push_str("?[redacted]");
            }
            None => out.push_str(token),
        }
        out.push_str(&url[token.len()..end]);
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_query() {
        let text = "error sending request for url (https://a.blob.core.windows.net/c/b?sv=1&sig=SECRET): x";
        let redacted = redact_urls(text);
        assert!(!redacted.contains("SECRET"), "{redacted}");
        assert!(redacted.contains("https://a.blob.core.windows.net/c/b?[redacted]"));
        assert_eq!(redact_urls("no url"), "no url");
        let table = "url (http://h:1/acct/audios()?%24filter=x&sig=SECRET): refused";
        assert_eq!(
            redact_urls(table),
            "url (http://h:1/acct/audios()?[redacted]): refused"
        );
    }
}
