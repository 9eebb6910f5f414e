//! RTSP 1.0 messages (RFC 2326), sans-IO: bytes in, requests and interleaved frames out;
//! responses rendered to bytes. Limits keep a hostile peer from making us buffer much.

use bytes::{Buf, Bytes, BytesMut};

/// Longest request line plus headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest body (an SDP): ANNOUNCE/SET_PARAMETER.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("request header section larger than {MAX_HEADER_BYTES} bytes")]
    HeaderTooLarge,
    #[error("body of {0} bytes is larger than {MAX_BODY_BYTES}")]
    BodyTooLarge(usize),
    #[error("malformed request line {0:?}")]
    RequestLine(String),
    #[error("malformed header line {0:?}")]
    Header(String),
    #[error("more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("bad Content-Length {0:?}")]
    ContentLength(String),
    #[error("not UTF-8 in the header section")]
    NotUtf8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn cseq(&self) -> Option<&str> {
        self.header("CSeq")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    /// Parses one response (for clients and tests); `None` when incomplete.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Request(Request),
    Response(Response),
    /// An interleaved binary frame (RFC 2326 10.12): `$`, channel, 16-bit length, data.
    Interleaved {
        channel: u8,
        data: Bytes,
    },
}

/// Accumulates bytes and yields complete items.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete item, `Ok(None)` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, MessageError> {
        // Some clients send CRLF keep-alives between messages.
        while self.buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
            self.buf.advance(1);
        }
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        if first == b'$' {
            if self.buf.len() < 4 {
                return Ok(None);
            }
            let channel = self.buf[1];
            let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
            if self.buf.len() < 4 + len {
                return Ok(None);
            }
            self.buf.advance(4);
            let data = self.buf.split_to(len).freeze();
            return Ok(Some(Item::Interleaved { channel, data }));
        }
        let Some(end) = find(&self.buf, b"\r\n\r\n")
            .map(|p| (p, 4))
            .or_else(|| find(&self.buf, b"\n\n").map(|p| (p, 2)))
        else {
            if self.buf.len() > MAX_HEADER_BYTES {
                return Err(MessageError::HeaderTooLarge);
            }
            return Ok(None);
        };
        let (head_len, sep) = end;
        if head_len > MAX_HEADER_BYTES {
            return Err(MessageError::HeaderTooLarge);
        }
        let head = std::str::from_utf8(&self.buf[..head_len]).map_err(|_| MessageError::NotUtf8)?;
        let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
        let first_line = lines.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            if headers.len() >= MAX_HEADERS {
                return Err(MessageError::TooManyHeaders);
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| MessageError::Header(truncate(line)))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let body_len = match header(&headers, "Content-Length") {
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| MessageError::ContentLength(truncate(v)))?,
            None => 0,
        };
        if body_len > MAX_BODY_BYTES {
            return Err(MessageError::BodyTooLarge(body_len));
        }
        let total = head_len + sep + body_len;
        if self.buf.len() < total {
            return Ok(None);
        }
        self.buf.advance(head_len + sep);
        let body = self.buf.split_to(body_len).freeze();
        if let Some(rest) = first_line.strip_prefix("RTSP/") {
            let mut parts = rest.splitn(3, ' ');
            let _version = parts.next();
            let status = parts
                .next()
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| MessageError::RequestLine(truncate(&first_line)))?;
            let reason = parts.next().unwrap_or_default().to_string();
            return Ok(Some(Item::Response(Response {
                status,
                reason,
                headers,
                body,
            })));
        }
        let mut parts = first_line.split(' ').filter(|p| !p.is_empty());
        let (Some(method), Some(uri), Some(version)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(MessageError::RequestLine(truncate(&first_line)));
        };
        if !version.starts_with("RTSP/") || parts.next().is_some() || !is_token(method) {
            return Err(MessageError::RequestLine(truncate(&first_line)));
        }
        Ok(Some(Item::Request(Request {
            method: method.to_string(),
            uri: uri.to_string(),
            headers,
            body,
        })))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A response with `CSeq` echoed; `headers` then follow.
pub fn render_response(
    status: u16,
    cseq: Option<&str>,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("RTSP/1.0 {status} {}\r\n", reason(status));
    if let Some(c) = cseq {
        out.push_str(&format!("CSeq: {c}\r\n"));
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Server: ferrocast\r\n");
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut b = out.into_bytes();
    b.extend_from_slice(body);
    b
}

/// A request (for clients and tests).
pub fn render_request(method: &str, uri: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {uri} RTSP/1.0\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut b = out.into_bytes();
    b.extend_from_slice(body);
    b
}

/// An interleaved frame header.
pub fn interleaved_header(channel: u8, len: usize) -> [u8; 4] {
    let l = (len.min(0xffff) as u16).to_be_bytes();
    [b'$', channel, l[0], l[1]]
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_pieces_and_interleaved_frames() {
        let mut d = Decoder::new();
        let req = b"ANNOUNCE rtsp://h/live RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 4\r\n\r\nv=0\n$\x01\x00\x02ab";
        for chunk in req.chunks(3) {
            d.push(chunk);
        }
        let Some(Item::Request(r)) = d.next_item().unwrap() else {
            panic!("no request")
        };
        assert_eq!(
            (r.method.as_str(), r.uri.as_str()),
            ("ANNOUNCE", "rtsp://h/live")
        );
        assert_eq!(r.cseq(), Some("2"));
        assert_eq!(&r.body[..], b"v=0\n");
        assert_eq!(
            d.next_item().unwrap(),
            Some(Item::Interleaved {
                channel: 1,
                data: Bytes::from_static(b"ab")
            })
        );
        assert_eq!(d.next_item().unwrap(), None);
    }

    #[test]
    fn limits_and_garbage() {
        let mut d = Decoder::new();
        d.push(&vec![b'A'; MAX_HEADER_BYTES + 1]);
        assert_eq!(d.next_item(), Err(MessageError::HeaderTooLarge));
        let mut d = Decoder::new();
        d.push(b"GET / HTTP/1.1\r\n\r\n");
        assert!(matches!(d.next_item(), Err(MessageError::RequestLine(_))));
        let mut d = Decoder::new();
        d.push(b"OPTIONS * RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n");
        assert!(matches!(d.next_item(), Err(MessageError::BodyTooLarge(_))));
        let mut d = Decoder::new();
        d.push(b"OPTIONS * RTSP/1.0\r\nno colon\r\n\r\n");
        assert!(matches!(d.next_item(), Err(MessageError::Header(_))));
    }

    #[test]
    fn responses_parse() {
        let mut d = Decoder::new();
        d.push(&render_response(
            200,
            Some("3"),
            &[("Session", "x".into())],
            b"",
        ));
        let Some(Item::Response(r)) = d.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cseq"), Some("3"));
    }
}
