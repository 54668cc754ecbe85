//! Telling a certificate problem from a service that does not answer.
//!
//! A private endpoint behind a corporate CA, a TLS-inspecting proxy, or a clock that makes a
//! certificate not yet valid all fail the TLS handshake; the HTTP stack reports that as a
//! failed connection ("error sending request"), which reads as an outage. The cause chain
//! still names the certificate, and the fix is always the same setting.

/// The error's causes, outermost first, joined (each once).
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// What to say when `causes` (an error's cause chain as text) is a failed TLS handshake over
/// the server's certificate, or `None`.
pub(crate) fn certificate_problem(causes: &str) -> Option<&'static str> {
    let lower = causes.to_ascii_lowercase();
    [
        "certificate",
        "unknownissuer",
        "notvalidyet",
        "causedasendentity",
        "expired cert",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    .then_some(
        "a TLS certificate problem, not an outage (set SSL_CERT_FILE to a PEM file of the CA \
         if a private CA or a TLS-inspecting proxy signs the server's certificate): the \
         certificate is not trusted here: an unknown CA, not yet or no longer valid, or a CA \
         certificate served as the server's",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_are_told_apart_from_outages() {
        for text in [
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer",
            "invalid peer certificate: NotValidYet",
            "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
        ] {
            assert!(certificate_problem(text).unwrap().contains("SSL_CERT_FILE"), "{text}");
        }
        assert_eq!(
            certificate_problem("tcp connect error: Connection refused (os error 111)"),
            None
        );
    }
}
