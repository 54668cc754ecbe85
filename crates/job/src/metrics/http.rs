//! The exporter's HTTP/1.1 responder, on tokio's `TcpListener`: `GET /metrics` (the page of
//! the last refresh), `GET /` and `GET /healthz` (`ok`, for probes), 404 for any other path,
//! 405 for any other method. One request per connection (`Connection: close`), its head at
//! most [`MAX_HEAD`] bytes, read and written within [`IO_TIMEOUT`], at most [`MAX_CONNECTIONS`]
//! at once.
//!
//! Hand-written rather than hyper's server: hyper 1 is in the lock (reqwest's client) but
//! without its `server` feature or hyper-util's server glue, and a scrape target needs none of
//! what they bring (keep-alive, pipelining, bodies, HTTP/2): these few lines are all of it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The longest request head read; a longer one gets 431 and the connection closes.
pub const MAX_HEAD: usize = 8 * 1024;
/// Reading the head, and writing the answer, each within this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 16;

/// The content type of the OpenMetrics text `prometheus-client` encodes.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The page of the last refresh, shared between the refresh and the connections.
pub type Page = Arc<RwLock<Arc<str>>>;

/// Accept connections on `listener` and answer each; returns only when accepting fails.
pub async fn serve(listener: TcpListener, page: Page) -> Result<(), String> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (socket, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // A connection reset before it was accepted, or out of file descriptors for a
            // moment: the listener itself is fine.
            Err(e) => {
                tracing::debug!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let page = Arc::clone(&page);
        tokio::spawn(async move {
            let _ = answer(socket, &page).await;
            drop(permit);
        });
    }
}

/// What a request head asks for: the status line, content type and body to answer with.
pub fn respond(head: &[u8], page: &str) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return ("400 Bad Request", TEXT, "bad request\n".into());
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return ("400 Bad Request", TEXT, "bad request\n".into());
    }
    if method != "GET" {
        return ("405 Method Not Allowed", TEXT, "only GET\n".into());
    }
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => ("200 OK", OPENMETRICS, page.to_owned()),
        "/" | "/healthz" => ("200 OK", TEXT, "ok\n".into()),
        _ => ("404 Not Found", TEXT, "not found: try /metrics\n".into()),
    }
}

async fn answer(mut socket: TcpStream, page: &Page) -> std::io::Result<()> {
    let head = match tokio::time::timeout(IO_TIMEOUT, read_head(&mut socket)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            let _ = tokio::time::timeout(
                IO_TIMEOUT,
                write(
                    &mut socket,
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    "too large\n",
                ),
            )
            .await;
            return Ok(());
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let text: Arc<str> = page
        .read()
        .map(|p| Arc::clone(&p))
        .unwrap_or_else(|_| Arc::from(""));
    let (status, content_type, body) = respond(&head, &text);
    let _ = tokio::time::timeout(IO_TIMEOUT, write(&mut socket, status, content_type, &body)).await;
    Ok(())
}

/// The request head, up to its blank line; `None` when it is longer than [`MAX_HEAD`].
async fn read_head(socket: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(Some(head));
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

async fn write(
    socket: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_answered_by_method_and_path() {
        let page = "# EOF\n";
        let status = |head: &str| respond(head.as_bytes(), page).0;
        assert_eq!(
            respond(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", page).2,
            page
        );
        assert_eq!(
            respond(b"GET /metrics HTTP/1.1\r\n\r\n", page).1,
            OPENMETRICS
        );
        assert_eq!(status("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), "200 OK");
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), "200 OK");
        assert_eq!(status("GET /healthz HTTP/1.1\r\n\r\n"), "200 OK");
        assert_eq!(status("GET /other HTTP/1.1\r\n\r\n"), "404 Not Found");
        assert_eq!(
            status("POST /metrics HTTP/1.1\r\n\r\n"),
            "405 Method Not Allowed"
        );
        assert_eq!(
            status("HEAD /metrics HTTP/1.1\r\n\r\n"),
            "405 Method Not Allowed"
        );
        assert_eq!(status("GET /metrics\r\n\r\n"), "400 Bad Request");
        assert_eq!(status("GET /metrics SPDY/3\r\n\r\n"), "400 Bad Request");
        assert_eq!(status(""), "400 Bad Request");
    }

    /// Sends `request` to a served page and reads the whole answer.
    async fn exchange(port: u16, request: &[u8]) -> String {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // The server may answer (and close) before an oversized head is all sent.
        let _ = socket.write_all(request).await;
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn a_real_socket_gets_the_page_and_an_oversized_head_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let page: Page = Arc::new(RwLock::new(Arc::from("# EOF\n")));
        tokio::spawn(serve(listener, Arc::clone(&page)));
        let ok = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains(&format!("Content-Type: {OPENMETRICS}\r\n")),
            "{ok}"
        );
        assert!(
            ok.contains("Content-Length: 6\r\n") && ok.ends_with("\r\n\r\n# EOF\n"),
            "{ok}"
        );
        // The next refresh's page is what the next scrape gets.
        *page.write().unwrap() = Arc::from("# EOF\nx\n");
        let next = exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(next.ends_with("# EOF\nx\n"), "{next}");
        let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 100));
        let refused = exchange(port, &huge).await;
        assert!(refused.starts_with("HTTP/1.1 431 "), "{refused}");
    }
}
