//! [`StoreError`]: what failed, why, and what kind of failure it was, decided where the
//! error is made (the backend that saw the status, the I/O error or the bad input), so callers
//! tell failures apart by [`ErrorKind`] and never by the message's text.

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The blob, row, container or table does not exist (HTTP 404, or a backend's "no such
    /// blob").
    NotFound,
    /// The credentials were refused: HTTP 401 or 403, or no storage token was obtained.
    Denied,
    /// The resource is in another state than the call needs: a lease held or lost, a
    /// condition not met, something that vanished between two calls (HTTP 409, 412).
    Conflict,
    /// The service answered that it cannot serve now: HTTP 408, 429, 5xx, or a container or
    /// table being deleted.
    Unavailable,
    /// Any other answer of the service (an HTTP status not above, e.g. 400).
    Rejected,
    /// No answer: the connection failed or no response came in time.
    Transport,
    /// The TLS handshake failed over the server's certificate (an untrusted CA, a certificate
    /// not yet valid): a setting to fix (`SSL_CERT_FILE`), not an outage.
    Certificate,
    /// The call was refused before anything was sent: a name, key, metadata or setting the
    /// service would not accept.
    Invalid,
    /// A local file could not be read or written (the uploaded recording, the local
    /// backend's files).
    Io,
    /// Anything else (an injected fault, an unexpected SDK error).
    Other,
}

impl ErrorKind {
    /// Whether a retry of the same call may succeed, for errors that do not say otherwise.
    fn transient(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Transport)
    }
}

/// A storage failure, already stripped of secrets: safe to log as is.
///
/// Displays as "{operation} failed: {cause}".
#[derive(Debug)]
pub struct StoreError {
    kind: ErrorKind,
    operation: String,
    cause: String,
    transient: bool,
    status: Option<u16>,
}

impl StoreError {
    /// An error of `kind` while doing `operation`, because of `cause`; transient when the
    /// kind usually is ([`ErrorKind::Unavailable`], [`ErrorKind::Transport`]).
    pub fn new(kind: ErrorKind, operation: impl Into<String>, cause: impl Into<String>) -> Self {
        StoreError {
            kind,
            operation: operation.into(),
            cause: cause.into(),
            transient: kind.transient(),
            status: None,
        }
    }

    /// The same error, saying whether retrying the same call later may succeed.
    pub fn with_transient(mut self, transient: bool) -> Self {
        self.transient = transient;
        self
    }

    /// The same error, with the HTTP status the service answered with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What was being done, e.g. `upload blob 26-11-2026/pod-a_20261126T101000.mp3`.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// Why it failed: status code and service error code, or the transport error.
    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// Whether retrying the same call later may succeed (timeouts, 5xx, connection resets).
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The HTTP status of the service's answer, or `None` when no service answered (a
    /// transport failure, a refused token, a check before sending, a local backend).
    pub fn status(&self) -> Option<u16> {
        self.status
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.operation, self.cause)
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;
