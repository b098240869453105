//! Raw HTTP/1.1 over TCP: the request goes on the wire exactly as written, so
//! tests can send what no well-behaved client would.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP answer read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code (0 if the answer could not be parsed).
    pub status: u16,
    /// The status line and headers, lower-cased.
    pub head: String,
    /// The body.
    pub body: String,
}

impl Response {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == name).then(|| v.trim())
        })
    }
}

/// Sends `request` as written and reads the answer until the server closes the
/// connection (so the request should say `connection: close`).
///
/// A server may answer before reading the whole request (a body over its limit)
/// and close the connection: a failed write is then not an error as long as an
/// answer can be read.
pub async fn send(addr: SocketAddr, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    let written = stream.write_all(request).await;
    let mut buf = Vec::new();
    let read = stream.read_to_end(&mut buf).await;
    if buf.is_empty() {
        written?;
        read?;
    }
    Ok(parse(&buf))
}

/// Parses an HTTP answer (status line, headers, body).
pub fn parse(buf: &[u8]) -> Response {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// A `POST` with `connection: close`, a `content-length`, the given extra header
/// lines (`"name: value"`) and, if `content_type` is given, a `content-type`.
pub fn post(path: &str, content_type: Option<&str>, headers: &[&str], body: &str) -> Vec<u8> {
    let mut req = format!("POST {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n");
    if let Some(ct) = content_type {
        req.push_str(&format!("content-type: {ct}\r\n"));
    }
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    req.into_bytes()
}

/// A JSON `POST` (see [`post`]).
pub fn post_json(path: &str, headers: &[&str], body: &str) -> Vec<u8> {
    post(path, Some("application/json"), headers, body)
}

/// A `GET` with `connection: close`.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").into_bytes()
}

/// A keep-alive HTTP/1.1 connection sending one request after another: what
/// a load test's caller holds (unlike [`send`], which closes after one).
#[derive(Debug)]
pub struct KeepAlive {
    stream: tokio::io::BufReader<TcpStream>,
}

impl KeepAlive {
    /// A connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<KeepAlive> {
        Ok(KeepAlive {
            stream: tokio::io::BufReader::new(TcpStream::connect(addr).await?),
        })
    }

    /// `POST path` with the JSON `body` and `headers` (`name: value`): the
    /// answer's status and body. An error if the connection broke.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[&str],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        use tokio::io::AsyncBufReadExt;
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.stream.get_mut().write_all(req.as_bytes()).await?;
        let (mut status, mut length) = (0, 0);
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            if let Some(s) = line.strip_prefix("http/1.1 ") {
                status = s.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("content-length: ") {
                length = v.parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
