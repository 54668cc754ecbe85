//! A fault-injecting HTTP/1.1 proxy between the job and Azurite (blob and table services),
//! on 127.0.0.1, built on std threads and sockets only.
//!
//! Include it with `#[path = "support/faultproxy.rs"] mod faultproxy;`. Point the job at
//! [`FaultProxy::connection_string`] instead of Azurite's, then switch the [`Fault`] at any
//! time with [`FaultProxy::set`]: every request whose head matches the [`Scope`] gets the fault,
//! until the optional budget of faults is spent; the others pass. [`FaultProxy::faults`] counts
//! what was injected.
//!
//! The proxy reads each request head (peeking first, so that [`Fault::Reset`] can close the
//! socket with the request still unread, which makes the kernel answer with an RST), and then,
//! for requests that pass, opens a fresh connection to Azurite, forwards the request and relays
//! the response, framed by Content-Length or chunked encoding. Client connections are kept
//! alive across requests as the SDK's connection pool expects.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How often blocked reads wake up to look at the shutdown flag.
const POLL: Duration = Duration::from_millis(100);
/// Longest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Which Azurite service a listener fronts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Blob,
    Table,
}

/// What happens to a request the scope selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and relay the answer.
    Pass,
    /// Answer it with this status (500, 503, ...) and an Azure-style error code, without
    /// forwarding it.
    Status(u16),
    /// Close the connection with the request unread: the client sees a connection reset.
    Reset,
    /// Forward it (the service carries it out) but never relay the answer; the connection is
    /// held open until the client gives up.
    Stall,
    /// For a request whose body is longer than this many bytes: forward the head and that many
    /// body bytes, then drop both connections. Shorter requests pass.
    CutUpload(u64),
    /// For a request whose body is longer than this many bytes: forward it with the body's
    /// byte at this offset inverted, and relay the answer (the service stores other bytes
    /// than the client sent). Shorter requests pass.
    FlipByte(u64),
    /// Forward it; when the service answers with success (2xx), close the client's connection
    /// without relaying the answer: the write happened but the job never learns it. Other
    /// answers pass (so a retry that meets "already exists" gets through).
    DropResponse,
}

/// The first line and headers of a request.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub service: Service,
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn query_has(&self, pair: &str) -> bool {
        self.target
            .split_once('?')
            .is_some_and(|(_, q)| q.split('&').any(|p| p == pair))
    }

    /// Put Block: one block of a blob upload.
    pub fn is_block_upload(&self) -> bool {
        self.service == Service::Blob && self.method == "PUT" && self.query_has("comp=block")
    }

    /// Put Block List: the commit of an upload.
    pub fn is_block_commit(&self) -> bool {
        self.service == Service::Blob && self.method == "PUT" && self.query_has("comp=blocklist")
    }

    /// Put Blob of a recording (`audio/mpeg`): a whole file's bytes and its commit in one
    /// request, as the job uploads files up to its single-put limit. Day manifests (JSON,
    /// playlists) are not recordings.
    pub fn is_single_put(&self) -> bool {
        self.service == Service::Blob
            && self.method == "PUT"
            && !self.target.contains("comp=")
            && self
                .header("x-ms-blob-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("BlockBlob"))
            && self.header("x-ms-blob-content-type") == Some("audio/mpeg")
    }

    /// A lease operation (the job's lock).
    pub fn is_lease(&self) -> bool {
        self.service == Service::Blob && self.query_has("comp=lease")
    }

    /// Insert Entity (a row), not Create Table.
    pub fn is_row_insert(&self) -> bool {
        self.service == Service::Table
            && self.method == "POST"
            && !self.path().trim_end_matches('/').ends_with("/Tables")
    }

    /// Query Entities.
    pub fn is_row_query(&self) -> bool {
        self.service == Service::Table && self.method == "GET"
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// `PUT blob /devstoreaccount1/c/26-11-2026/x.mp3?comp=block`, for logs.
    pub fn summary(&self) -> String {
        let service = match self.service {
            Service::Blob => "blob",
            Service::Table => "table",
        };
        let query: Vec<&str> = self
            .target
            .split_once('?')
            .map(|(_, q)| q.split('&').filter(|p| p.starts_with("comp=")).collect())
            .unwrap_or_default();
        format!(
            "{} {service} {} {}",
            self.method,
            self.path(),
            query.join("&")
        )
    }
}

/// Which requests a fault applies to.
#[derive(Clone)]
pub enum Scope {
    All,
    Service(Service),
    /// Requests carrying a recording's bytes: Put Block, or a single Put Blob.
    BlockUploads,
    /// Requests committing a recording's blob: Put Block List, or a single Put Blob.
    BlockCommits,
    RowInserts,
    RowQueries,
    Leases,
    Matching(Arc<dyn Fn(&RequestHead) -> bool + Send + Sync>),
}

impl Scope {
    fn selects(&self, head: &RequestHead) -> bool {
        match self {
            Scope::All => true,
            Scope::Service(s) => head.service == *s,
            Scope::BlockUploads => head.is_block_upload() || head.is_single_put(),
            Scope::BlockCommits => head.is_block_commit() || head.is_single_put(),
            Scope::RowInserts => head.is_row_insert(),
            Scope::RowQueries => head.is_row_query(),
            Scope::Leases => head.is_lease(),
            Scope::Matching(f) => f(head),
        }
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::All => "all requests",
            Scope::Service(Service::Blob) => "blob requests",
            Scope::Service(Service::Table) => "table requests",
            Scope::BlockUploads => "block uploads",
            Scope::BlockCommits => "block-list commits",
            Scope::RowInserts => "row inserts",
            Scope::RowQueries => "row queries",
            Scope::Leases => "lease requests",
            Scope::Matching(_) => "matching requests",
        })
    }
}

struct Setting {
    fault: Fault,
    scope: Scope,
    /// Faults left to inject; `None` is unlimited.
    budget: Option<u64>,
}

struct Shared {
    setting: Mutex<Setting>,
    shutdown: AtomicBool,
    requests: AtomicU64,
    faults: AtomicU64,
    by_kind: Mutex<BTreeMap<String, u64>>,
    log: Mutex<Vec<String>>,
}

impl Shared {
    /// What to do with this request; counts the fault when one is chosen.
    fn decide(&self, head: &RequestHead) -> Fault {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let mut s = self.setting.lock().unwrap();
        let applies = s.fault != Fault::Pass
            && s.budget != Some(0)
            && s.scope.selects(head)
            && match s.fault {
                Fault::CutUpload(n) | Fault::FlipByte(n) => {
                    head.content_length().is_some_and(|len| len > n)
                }
                _ => true,
            };
        let fault = if applies { s.fault } else { Fault::Pass };
        // A dropped response is counted once the answer shows the write succeeded.
        if applies && fault != Fault::DropResponse {
            if let Some(b) = s.budget.as_mut() {
                *b -= 1;
            }
            self.count(fault);
        }
        drop(s);
        let mut log = self.log.lock().unwrap();
        if log.len() < 10_000 {
            log.push(format!("{:<10} {}", kind_name(fault), head.summary()));
        }
        fault
    }

    fn count(&self, fault: Fault) {
        self.faults.fetch_add(1, Ordering::SeqCst);
        *self
            .by_kind
            .lock()
            .unwrap()
            .entry(kind_name(fault))
            .or_default() += 1;
    }

    /// Takes one fault of the budget for a response about to be dropped.
    fn take_drop(&self) -> bool {
        let mut s = self.setting.lock().unwrap();
        if s.fault != Fault::DropResponse || s.budget == Some(0) {
            return false;
        }
        if let Some(b) = s.budget.as_mut() {
            *b -= 1;
        }
        self.count(Fault::DropResponse);
        true
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

fn kind_name(fault: Fault) -> String {
    match fault {
        Fault::Pass => "pass".into(),
        Fault::Status(code) => format!("http-{code}"),
        Fault::Reset => "reset".into(),
        Fault::Stall => "stall".into(),
        Fault::CutUpload(n) => format!("cut-after-{n}"),
        Fault::FlipByte(n) => format!("flip-byte-{n}"),
        Fault::DropResponse => "drop-response".into(),
    }
}

/// The proxy: two listeners, one per service, sharing one fault setting.
pub struct FaultProxy {
    shared: Arc<Shared>,
    blob_port: u16,
    table_port: u16,
}

impl FaultProxy {
    /// Listens on free loopback ports and forwards to Azurite's blob and table ports.
    pub fn start(upstream_blob_port: u16, upstream_table_port: u16) -> FaultProxy {
        let shared = Arc::new(Shared {
            setting: Mutex::new(Setting {
                fault: Fault::Pass,
                scope: Scope::All,
                budget: None,
            }),
            shutdown: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            by_kind: Mutex::new(BTreeMap::new()),
            log: Mutex::new(Vec::new()),
        });
        let listen = |service: Service, upstream: u16| -> u16 {
            let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the fault proxy");
            let port = listener.local_addr().unwrap().port();
            let upstream = SocketAddr::from(([127, 0, 0, 1], upstream));
            let shared = shared.clone();
            thread::spawn(move || accept_loop(listener, upstream, service, shared));
            port
        };
        let blob_port = listen(Service::Blob, upstream_blob_port);
        let table_port = listen(Service::Table, upstream_table_port);
        FaultProxy {
            shared,
            blob_port,
            table_port,
        }
    }

    /// Inject `fault` into every request in `scope` from now on.
    pub fn set(&self, fault: Fault, scope: Scope) {
        self.set_limited(fault, scope, None);
    }

    /// Inject `fault` into at most `budget` requests in `scope`, then pass everything.
    pub fn set_limited(&self, fault: Fault, scope: Scope, budget: Option<u64>) {
        *self.shared.setting.lock().unwrap() = Setting {
            fault,
            scope,
            budget,
        };
    }

    /// Forward everything.
    pub fn pass(&self) {
        self.set(Fault::Pass, Scope::All);
    }

    pub fn blob_port(&self) -> u16 {
        self.blob_port
    }

    pub fn table_port(&self) -> u16 {
        self.table_port
    }

    /// An explicit-endpoint connection string through the proxy.
    pub fn connection_string(&self, account: &str, key: &str) -> String {
        format!(
            "DefaultEndpointsProtocol=http;BlobEndpoint=http://127.0.0.1:{}/{account};\
             TableEndpoint=http://127.0.0.1:{}/{account};AccountName={account};AccountKey={key}",
            self.blob_port, self.table_port
        )
    }

    /// Requests seen since the start.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Faults injected since the start.
    pub fn faults(&self) -> u64 {
        self.shared.faults.load(Ordering::SeqCst)
    }

    /// Faults injected, by kind (`http-503`, `reset`, `stall`, `cut-after-N`).
    pub fn faults_by_kind(&self) -> BTreeMap<String, u64> {
        self.shared.by_kind.lock().unwrap().clone()
    }

    /// One line per request seen: the action taken and the request.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loops.
        for port in [self.blob_port, self.table_port] {
            let _ = TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(200),
            );
        }
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, service: Service, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping() {
            return;
        }
        let Ok(client) = conn else { continue };
        let shared = shared.clone();
        thread::spawn(move || {
            let _ = serve(client, upstream, service, &shared);
        });
    }
}

/// Serves one client connection, request after request.
fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    service: Service,
    shared: &Shared,
) -> io::Result<()> {
    client.set_read_timeout(Some(POLL))?;
    client.set_nodelay(true)?;
    let mut client = Conn::new(client);
    loop {
        let Some(head_len) = peek_head(&client.stream, shared)? else {
            return Ok(());
        };
        let mut raw = vec![0u8; head_len];
        let n = client.stream.peek(&mut raw)?;
        if n < head_len {
            return Ok(());
        }
        let Some(head) = parse_request(&raw, service) else {
            return Ok(());
        };
        let fault = shared.decide(&head);
        if fault == Fault::Reset {
            // Dropping a socket with unread data makes the kernel send an RST.
            return Ok(());
        }
        client.read_exact(&mut raw, shared)?;
        match fault {
            Fault::Pass | Fault::Reset => {
                let mut up = connect(upstream)?;
                up.stream.write_all(&raw)?;
                copy_body(&mut client, &mut up.stream, &head, shared)?;
                if !relay_response(&mut up, &mut client.stream, &head, shared)? {
                    return Ok(());
                }
            }
            Fault::Status(code) => {
                copy_body(&mut client, &mut io::sink(), &head, shared)?;
                client
                    .stream
                    .write_all(&error_response(code, &head).into_bytes())?;
            }
            Fault::Stall => {
                let mut up = connect(upstream)?;
                up.stream.write_all(&raw)?;
                copy_body(&mut client, &mut up.stream, &head, shared)?;
                let _ = relay_response(&mut up, &mut io::sink(), &head, shared);
                // Hold the client until it gives up (or the proxy stops).
                let mut scratch = [0u8; 4096];
                loop {
                    if shared.stopping() {
                        return Ok(());
                    }
                    match client.stream.read(&mut scratch) {
                        Ok(0) => return Ok(()),
                        Ok(_) => {}
                        Err(e) if timed_out(&e) => {}
                        Err(_) => return Ok(()),
                    }
                }
            }
            Fault::DropResponse => {
                let mut up = connect(upstream)?;
                up.stream.write_all(&raw)?;
                copy_body(&mut client, &mut up.stream, &head, shared)?;
                let mut answer = Vec::new();
                let more = relay_response(&mut up, &mut answer, &head, shared)?;
                let status = std::str::from_utf8(&answer[..answer.len().min(16)])
                    .ok()
                    .and_then(|l| l.split(' ').nth(1))
                    .and_then(|c| c.parse::<u16>().ok())
                    .unwrap_or(0);
                if (200..300).contains(&status) && shared.take_drop() {
                    let _ = client.stream.shutdown(Shutdown::Both);
                    return Ok(());
                }
                client.stream.write_all(&answer)?;
                if !more {
                    return Ok(());
                }
            }
            Fault::FlipByte(n) => {
                let mut up = connect(upstream)?;
                up.stream.write_all(&raw)?;
                let len = head.content_length().unwrap_or(0);
                client.copy_exact(&mut up.stream, n, shared)?;
                let mut byte = [0u8; 1];
                client.read_exact(&mut byte, shared)?;
                up.stream.write_all(&[!byte[0]])?;
                client.copy_exact(&mut up.stream, len - n - 1, shared)?;
                if !relay_response(&mut up, &mut client.stream, &head, shared)? {
                    return Ok(());
                }
            }
            Fault::CutUpload(n) => {
                let mut up = connect(upstream)?;
                up.stream.write_all(&raw)?;
                client.copy_exact(&mut up.stream, n, shared)?;
                let _ = up.stream.shutdown(Shutdown::Both);
                let _ = client.stream.shutdown(Shutdown::Both);
                return Ok(());
            }
        }
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn connect(upstream: SocketAddr) -> io::Result<Conn> {
    let stream = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_nodelay(true)?;
    Ok(Conn::new(stream))
}

/// Waits until a whole request head can be peeked; `None` when the client closed first.
fn peek_head(stream: &TcpStream, shared: &Shared) -> io::Result<Option<usize>> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut last = 0;
    loop {
        if shared.stopping() {
            return Ok(None);
        }
        match stream.peek(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                if let Some(end) = find(&buf[..n], b"\r\n\r\n") {
                    return Ok(Some(end + 4));
                }
                if n == MAX_HEAD {
                    return Ok(None);
                }
                if n == last {
                    thread::sleep(Duration::from_millis(1));
                }
                last = n;
            }
            Err(e) if timed_out(&e) => {}
            Err(_) => return Ok(None),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_request(raw: &[u8], service: Service) -> Option<RequestHead> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(RequestHead {
        service,
        method,
        target,
        headers,
    })
}

fn error_response(code: u16, head: &RequestHead) -> String {
    let (reason, error_code) = match code {
        500 => ("Internal Server Error", "InternalError"),
        503 => ("Service Unavailable", "ServerBusy"),
        _ => ("Injected Fault", "InjectedFault"),
    };
    let (content_type, body) = match head.service {
        Service::Blob => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{error_code}</Code>\
                 <Message>injected by the fault proxy</Message></Error>"
            ),
        ),
        Service::Table => (
            "application/json",
            format!(
                "{{\"odata.error\":{{\"code\":\"{error_code}\",\"message\":{{\"lang\":\"en-US\",\
                 \"value\":\"injected by the fault proxy\"}}}}}}"
            ),
        ),
    };
    let body = if head.method == "HEAD" {
        String::new()
    } else {
        body
    };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         x-ms-error-code: {error_code}\r\nx-ms-request-id: 00000000-0000-0000-0000-000000000000\r\n\
         x-ms-version: 2023-11-03\r\n\r\n{body}",
        body.len()
    )
}

/// A socket with a read-ahead buffer (responses are read in chunks; requests exactly).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads some bytes into the buffer; `Ok(false)` at end of stream.
    fn fill(&mut self, shared: &Shared) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if shared.stopping() {
                return Err(io::Error::other("proxy stopping"));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if timed_out(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn read_exact(&mut self, out: &mut [u8], shared: &Shared) -> io::Result<()> {
        let mut at = 0;
        while at < out.len() {
            if !self.buf.is_empty() {
                let n = self.buf.len().min(out.len() - at);
                out[at..at + n].copy_from_slice(&self.buf[..n]);
                self.buf.drain(..n);
                at += n;
                continue;
            }
            if shared.stopping() {
                return Err(io::Error::other("proxy stopping"));
            }
            match self.stream.read(&mut out[at..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => at += n,
                Err(e) if timed_out(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Copies exactly `n` bytes to `to`.
    fn copy_exact(&mut self, to: &mut dyn Write, n: u64, shared: &Shared) -> io::Result<()> {
        let mut left = n;
        let mut chunk = vec![0u8; 16 * 1024];
        while left > 0 {
            let take = left.min(chunk.len() as u64) as usize;
            self.read_exact(&mut chunk[..take], shared)?;
            to.write_all(&chunk[..take])?;
            left -= take as u64;
        }
        Ok(())
    }

    /// A line ending in CRLF, CRLF included (byte by byte from the socket when the buffer is
    /// empty, so nothing past the line is consumed).
    fn read_line(&mut self, shared: &Shared) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > MAX_HEAD {
                return Err(io::Error::other("line too long"));
            }
            self.read_exact(&mut byte, shared)?;
            line.push(byte[0]);
        }
        Ok(line)
    }

    /// Copies a chunked body, framing included.
    fn copy_chunked(&mut self, to: &mut dyn Write, shared: &Shared) -> io::Result<()> {
        loop {
            let line = self.read_line(shared)?;
            to.write_all(&line)?;
            let text = String::from_utf8_lossy(&line);
            let size = u64::from_str_radix(text.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    let line = self.read_line(shared)?;
                    to.write_all(&line)?;
                    if line == b"\r\n" {
                        return Ok(());
                    }
                }
            }
            self.copy_exact(to, size + 2, shared)?;
        }
    }
}

fn copy_body(
    from: &mut Conn,
    to: &mut dyn Write,
    head: &RequestHead,
    shared: &Shared,
) -> io::Result<()> {
    if head.chunked() {
        from.copy_chunked(to, shared)
    } else {
        from.copy_exact(to, head.content_length().unwrap_or(0), shared)
    }
}

/// Relays one response; `Ok(false)` when its end is the end of the connection.
fn relay_response(
    up: &mut Conn,
    to: &mut dyn Write,
    request: &RequestHead,
    shared: &Shared,
) -> io::Result<bool> {
    loop {
        let end = loop {
            if let Some(end) = find(&up.buf, b"\r\n\r\n") {
                break end + 4;
            }
            if !up.fill(shared)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let head: Vec<u8> = up.buf.drain(..end).collect();
        to.write_all(&head)?;
        let text = String::from_utf8_lossy(&head).to_string();
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&status) {
            continue;
        }
        let header = |name: &str| {
            text.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        if request.method == "HEAD" || status == 204 || status == 304 {
            return Ok(true);
        }
        if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            up.copy_chunked(to, shared)?;
            return Ok(true);
        }
        if let Some(len) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
            up.copy_exact(to, len, shared)?;
            return Ok(true);
        }
        // Delimited by the end of the connection.
        to.write_all(&std::mem::take(&mut up.buf))?;
        while up.fill(shared)? {
            to.write_all(&std::mem::take(&mut up.buf))?;
        }
        return Ok(false);
    }
}
