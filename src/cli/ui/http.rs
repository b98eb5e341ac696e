//! The HTTP/1.1 the dashboard speaks: one `GET` (or `HEAD`) request per connection, read with a
//! size limit and a timeout, answered with `Connection: close`.
//!
//! Invariants: a request line or header block over [`MAX_HEAD`] bytes, a request that is not
//! `GET`/`HEAD`, or one with a body is refused with a 4xx before any handler runs; every
//! response carries `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` and a
//! `Content-Security-Policy` (no script from anywhere but the server itself, no framing), so a
//! page of the dashboard can neither be embedded by another site nor run foreign code.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};

/// The most bytes of request line plus headers read before refusing the request.
pub const MAX_HEAD: usize = 16 * 1024;

/// The policy of every HTML page and script: only our own assets, no frames, no plugins.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                           img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                           base-uri 'none'; form-action 'self'";
/// The policy of stored bytes served raw: a stored SVG opened directly runs nothing.
pub const RAW_POLICY: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'";

/// One parsed request.
#[derive(Debug)]
pub struct Request {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The path, percent-decoded, split at `/` (empty segments dropped).
    pub segments: Vec<String>,
    /// Query parameters, percent-decoded (`+` is a space); a repeated name keeps the last.
    pub query: BTreeMap<String, String>,
    /// Header values by lowercase name.
    pub headers: BTreeMap<String, String>,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum BadRequest {
    /// The connection failed or timed out (nothing to answer).
    Io(io::Error),
    /// The request is malformed: answer with this status and message.
    Refused(u16, &'static str),
}

impl From<io::Error> for BadRequest {
    fn from(e: io::Error) -> Self {
        BadRequest::Io(e)
    }
}

/// Reads one request head from `stream`.
pub fn read_request(stream: impl Read) -> Result<Request, BadRequest> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD as u64 + 1));
    let mut line = String::new();
    let mut read = reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Refused(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(BadRequest::Refused(505, "only HTTP/1.x is spoken here"));
    }
    let method = method.to_owned();
    let target = target.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        let n = reader.read_line(&mut header)?;
        read += n;
        if read > MAX_HEAD {
            return Err(BadRequest::Refused(431, "request head too large"));
        }
        if n == 0 {
            return Err(BadRequest::Refused(400, "request head ended early"));
        }
        let header = header.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(BadRequest::Refused(400, "malformed header"));
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    if method != "GET" && method != "HEAD" {
        return Err(BadRequest::Refused(
            405,
            "the dashboard is read-only: GET only",
        ));
    }
    let has_body = headers.contains_key("transfer-encoding")
        || headers.get("content-length").is_some_and(|n| n != "0");
    if has_body {
        return Err(BadRequest::Refused(400, "a GET request has no body"));
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect::<Option<Vec<_>>>()
        .ok_or(BadRequest::Refused(400, "bad percent-encoding in the path"))?;
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_decode(name, true).zip(percent_decode(value, true));
        let (name, value) = decoded.ok_or(BadRequest::Refused(
            400,
            "bad percent-encoding in the query",
        ))?;
        params.insert(name, value);
    }
    Ok(Request {
        method,
        segments,
        query: params,
        headers,
    })
}

/// Decodes `%XX` escapes (and `+` as a space in a query); `None` if malformed or not UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes `text` for a path segment or query value (everything but unreserved characters).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response to send.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers (name, value).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status`, `content_type` and `body`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A JSON response.
    pub fn json(value: &serde_json::Value) -> Self {
        Response::new(200, "application/json", value.to_string())
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Writes the response (without the body for `HEAD`).
    pub fn write_to(&self, mut stream: impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
             Referrer-Policy: no-referrer\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if !self
            .headers
            .iter()
            .any(|(n, _)| *n == "Content-Security-Policy")
        {
            head.push_str(&format!("Content-Security-Policy: {PAGE_POLICY}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if !head_only {
            stream.write_all(&self.body)?;
        }
        stream.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_split_into_path_query_and_headers() -> Result<(), String> {
        let text = "GET /task/tr%C3%A4in/run?where=lr%3E0.1+and&x HTTP/1.1\r\nHost: a\r\n\r\n";
        let request = read_request(text.as_bytes()).map_err(|e| format!("{e:?}"))?;
        assert_eq!(request.segments, ["task", "träin", "run"]);
        assert_eq!(request.param("where"), Some("lr>0.1 and"));
        assert_eq!(request.param("x"), Some(""));
        assert_eq!(request.header("host"), Some("a"));
        Ok(())
    }

    #[test]
    fn writes_bodies_and_oversized_heads_are_refused() {
        let refused = |text: &str| match read_request(text.as_bytes()) {
            Err(BadRequest::Refused(status, _)) => status,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(refused("POST / HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(
            refused("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
            400
        );
        assert_eq!(refused("GET /%zz HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused("GET / HTTP/2\r\n\r\n"), 505);
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(refused(&huge), 431);
    }

    #[test]
    fn percent_encoding_round_trips() {
        let text = "a b/ä%&=?";
        assert_eq!(
            percent_decode(&percent_encode(text), false).as_deref(),
            Some(text)
        );
    }
}
