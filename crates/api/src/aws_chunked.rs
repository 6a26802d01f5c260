//! The `aws-chunked` content encoding SDKs use for uploads over HTTPS
//! (`x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`): `SIZE-IN-HEX\r\nDATA\r\n`
//! chunks, a `0\r\n` chunk, then trailer lines (`x-amz-checksum-crc32:BASE64`) and a blank
//! line. Decoded as it streams, with bounded lines; a CRC32 trailer is checked against the
//! data. Chunk-signed streams (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`) are refused by the caller:
//! their chunk signatures are not verified here.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use sluice_artifacts::ByteStream;

/// The longest chunk header or trailer line.
const MAX_LINE: usize = 4096;

/// Whether the request body is `aws-chunked`.
pub fn is_chunked(content_encoding: Option<&str>, content_sha256: Option<&str>) -> bool {
    content_encoding.is_some_and(|e| e.split(',').any(|p| p.trim() == "aws-chunked"))
        || content_sha256.is_some_and(|h| h.starts_with("STREAMING-"))
}

enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk: this many data bytes left, then `\r\n`.
    Data(usize),
    /// Reading trailer lines until a blank one.
    Trailers,
    Done,
}

struct Decoder {
    body: ByteStream,
    buf: BytesMut,
    state: State,
    crc: crc32fast::Hasher,
    finished: bool,
}

fn bad(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

impl Decoder {
    /// A complete line (without `\r\n`) from the buffer, if there is one.
    fn line(&mut self) -> std::io::Result<Option<String>> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(end) => {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.advance(end + 2);
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE => Err(bad("an aws-chunked line is too long")),
            None => Ok(None),
        }
    }

    /// The next decoded bytes, `Ok(None)` at the end, or what is wrong.
    fn step(&mut self) -> std::io::Result<Option<Option<Bytes>>> {
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| bad("an aws-chunked chunk size is not hexadecimal"))?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    if left == 0 {
                        if self.buf.len() < 2 {
                            return Ok(None);
                        }
                        if &self.buf[..2] != b"\r\n" {
                            return Err(bad("an aws-chunked chunk is longer than it says"));
                        }
                        self.buf.advance(2);
                        self.state = State::Header;
                        continue;
                    }
                    let n = left.min(self.buf.len());
                    let data = self.buf.split_to(n).freeze();
                    self.crc.update(&data);
                    self.state = State::Data(left - n);
                    return Ok(Some(Some(data)));
                }
                State::Trailers => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.trim().eq_ignore_ascii_case("x-amz-checksum-crc32") {
                            let actual = self.crc.clone().finalize().to_be_bytes();
                            let expected = base64_decode(value.trim());
                            if expected.as_deref() != Some(&actual[..]) {
                                return Err(bad(
                                    "the x-amz-checksum-crc32 trailer does not match the data",
                                ));
                            }
                        }
                    }
                }
                State::Done => return Ok(Some(None)),
            }
        }
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The decoded payload of an `aws-chunked` body.
pub fn decode(body: ByteStream) -> ByteStream {
    let decoder = Decoder {
        body,
        buf: BytesMut::new(),
        state: State::Header,
        crc: crc32fast::Hasher::new(),
        finished: false,
    };
    futures_util::stream::unfold(decoder, |mut d| async move {
        if d.finished {
            return None;
        }
        loop {
            match d.step() {
                Ok(Some(Some(bytes))) => return Some((Ok(bytes), d)),
                Ok(Some(None)) => return None,
                Ok(None) => match d.body.next().await {
                    Some(Ok(more)) => d.buf.extend_from_slice(&more),
                    Some(Err(e)) => {
                        d.finished = true;
                        return Some((Err(e), d));
                    }
                    None => {
                        d.finished = true;
                        return Some((Err(bad("the aws-chunked body is cut short")), d));
                    }
                },
                Err(e) => {
                    d.finished = true;
                    return Some((Err(e), d));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn decoded(body: &[u8], split: usize) -> std::io::Result<Vec<u8>> {
        let parts: Vec<std::io::Result<Bytes>> = body
            .chunks(split)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut out = Vec::new();
        let mut stream = decode(futures_util::stream::iter(parts).boxed());
        while let Some(b) = stream.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(out)
    }

    fn crc_trailer(data: &[u8]) -> String {
        use base64::Engine;
        let crc = crc32fast::hash(data).to_be_bytes();
        base64::engine::general_purpose::STANDARD.encode(crc)
    }

    #[tokio::test]
    async fn chunks_and_a_crc32_trailer_decode_whatever_the_read_sizes() {
        let body = format!(
            "8\r\nover tls\r\n3\r\n!!!\r\n0\r\nx-amz-checksum-crc32:{}\r\n\r\n",
            crc_trailer(b"over tls!!!")
        );
        for split in [1, 2, 5, 64] {
            assert_eq!(
                decoded(body.as_bytes(), split).await.expect("decodes"),
                b"over tls!!!"
            );
        }
    }

    #[tokio::test]
    async fn a_wrong_trailer_a_short_body_or_a_bad_size_is_an_error() {
        let wrong = "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        assert!(decoded(wrong.as_bytes(), 4).await.is_err());
        assert!(decoded(b"8\r\nshort", 4).await.is_err());
        assert!(decoded(b"zz\r\nabc\r\n", 4).await.is_err());
        assert!(
            decoded(b"2\r\nabc\r\n0\r\n\r\n", 4).await.is_err(),
            "too long a chunk"
        );
        assert!(
            decoded(&vec![b'1'; 10_000], 100).await.is_err(),
            "an endless line"
        );
    }
}
