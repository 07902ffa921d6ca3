//! A minimal HTTP/1.1 client for readiness and correctness checks before load: one `POST`
//! per connection (`Connection: close`), the answer read to the end.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long one probe may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Status code.
    pub(crate) status: u16,
    /// The `Content-Type` header, if any.
    pub(crate) content_type: Option<String>,
    /// The body bytes.
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as text, lossily, for messages.
    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `POST path` with a JSON `body` to `addr`.
pub(crate) fn post_json(addr: SocketAddr, path: &str, body: &[u8]) -> Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).context("cannot set a read timeout")?;
    stream.set_write_timeout(Some(TIMEOUT)).context("cannot set a write timeout")?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).context("cannot send the request")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).context("cannot read the answer")?;
    parse_answer(&raw)
}

/// Parses a whole HTTP/1.1 answer with a `Content-Length` body.
fn parse_answer(raw: &[u8]) -> Result<Answer> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("answer has no complete header")?;
    let head = std::str::from_utf8(&raw[..split]).context("answer header is not UTF-8")?;
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut content_type = None;
    let mut content_length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().with_context(|| format!("bad content-length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("unexpected transfer-encoding {value:?} (the probe reads content-length bodies only)");
        }
    }
    if let Some(length) = content_length
        && length != body.len()
    {
        bail!("content-length says {length} bytes, {} received", body.len());
    }
    Ok(Answer { status, content_type, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_answer() {
        let raw = b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let answer = parse_answer(raw).expect("parses");
        assert_eq!(answer.status, 403);
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        assert_eq!(answer.body, b"{}");
    }

    #[test]
    fn refuses_truncated_answers() {
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
