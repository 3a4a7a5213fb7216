//! The one small HTTP/1.0 server of the daemons: the fencer's `GET /metrics` and the status
//! page (`palisade web`). One short-lived task per connection, at most
//! [`Limits::max_connections`] at once (a connection beyond that is closed at once and
//! counted, so a flood cannot take a daemon to its file limit); the request head is bounded
//! in size and time; every answer closes the connection. The handler is plain blocking code
//! (it may ask a daemon over its socket) and runs on tokio's blocking pool.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request head (request line and headers).
    pub max_head: usize,
    /// Time a client has to send its head.
    pub head_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 64,
            max_head: 8 * 1024,
            head_timeout: Duration::from_secs(5),
        }
    }
}

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Query parameters (percent-decoded; the last of a repeated name wins).
    pub query: BTreeMap<String, String>,
    /// Headers by lower-case name.
    pub headers: BTreeMap<String, String>,
}

/// Why a head is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not text, or not `METHOD TARGET HTTP/x.y`.
    #[error("malformed request line")]
    RequestLine,
    /// A header line without a colon.
    #[error("malformed header line")]
    Header,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// 200, 401, 404...
    pub status: u16,
    /// Its Content-Type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status`, `content_type` and `body`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "",
        }
    }

    /// The bytes on the wire (HTTP/1.0, connection closed after it).
    pub fn to_bytes(&self, with_body: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if with_body {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a request head (up to, not including, the blank line).
pub fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::RequestLine)?;
    let mut lines = text.split("\r\n");
    let line = lines.next().ok_or(HeadError::RequestLine)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::RequestLine);
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
        || !version.starts_with("HTTP/")
    {
        return Err(HeadError::RequestLine);
    }
    let (path, query_text) = target.split_once('?').unwrap_or((target, ""));
    let query = query_text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let mut headers = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeadError::Header)?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Ok(Request {
        method: method.to_string(),
        path: percent_decode(path),
        query,
        headers,
    })
}

/// Serve `handler` on `listener` until `stop` turns true; `turned_away` is called for each
/// connection closed because [`Limits::max_connections`] were being served.
pub async fn serve<H, T>(
    listener: TcpListener,
    limits: Limits,
    handler: Arc<H>,
    turned_away: T,
    mut stop: watch::Receiver<bool>,
) where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
    T: Fn() + Send + Sync + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            // Out of files or similar: do not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            turned_away();
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            let read_head = async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < limits.max_head {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
            };
            if tokio::time::timeout(limits.head_timeout, read_head)
                .await
                .is_err()
            {
                return;
            }
            let end = head.windows(4).position(|w| w == b"\r\n\r\n");
            let (response, with_body) = match end.map(|e| parse_head(&head[..e])) {
                Some(Ok(request)) => {
                    let with_body = request.method != "HEAD";
                    let answered = tokio::task::spawn_blocking(move || handler(&request)).await;
                    let response =
                        answered.unwrap_or_else(|_| Response::text(500, "the handler failed\n"));
                    (response, with_body)
                }
                Some(Err(e)) => (Response::text(400, format!("{e}\n")), true),
                None => (Response::text(400, "request head too large or cut\n"), true),
            };
            let _ = stream.write_all(&response.to_bytes(with_body)).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_method_path_query_and_headers() {
        let r = parse_head(
            b"GET /status.json?token=a%20b&x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t0k",
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/status.json");
        assert_eq!(r.query.get("token").map(String::as_str), Some("a b"));
        assert_eq!(r.query.get("x").map(String::as_str), Some(""));
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Bearer t0k")
        );
    }

    #[test]
    fn malformed_heads_are_refused() {
        for head in [
            &b""[..],
            b"GET",
            b"GET / ",
            b"get / HTTP/1.0",
            b"GET nopath HTTP/1.0",
            b"GET / FTP/1.0",
            b"GET / HTTP/1.0 extra",
            b"\xff\xfe / HTTP/1.0",
        ] {
            assert_eq!(parse_head(head), Err(HeadError::RequestLine), "{head:?}");
        }
        assert_eq!(
            parse_head(b"GET / HTTP/1.0\r\nno colon"),
            Err(HeadError::Header)
        );
    }

    #[test]
    fn percent_decoding_keeps_broken_escapes() {
        assert_eq!(percent_decode("a%41%4"), "aA%4");
        assert_eq!(percent_decode("%zz+%"), "%zz %");
    }

    #[test]
    fn a_response_closes_and_counts_its_body() {
        let bytes = Response::text(404, "no\n").to_bytes(true);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.0 404 Not Found\r\n"));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.ends_with("\r\n\r\nno\n"));
        let head_only = Response::text(200, "body").to_bytes(false);
        assert!(String::from_utf8(head_only).unwrap().ends_with("\r\n\r\n"));
    }
}
