//! Envelope encryption of object bytes: each object has its own data key, the bytes are cut
//! into 64 KiB chunks and each chunk is sealed with AES-256-GCM under that key, its index and
//! whether it is the last bound in as associated data — so chunks cannot be reordered, dropped
//! or the object cut short without the read failing. Plaintext size, MD5 and SHA-256 are
//! counted while encrypting, for the object's record. A byte range decrypts only the chunks it
//! touches.

use crate::crypto::Key;
use crate::{BlobInfo, ByteStream, Error};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use md5::{Digest, Md5};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes a sealed chunk adds: nonce and tag.
pub const OVERHEAD: usize = 12 + 16;

fn aad(index: u64, last: bool) -> [u8; 9] {
    let mut a = [0u8; 9];
    a[..8].copy_from_slice(&index.to_be_bytes());
    a[8] = u8::from(last);
    a
}

fn io(e: Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// What encrypting counted, known once the returned stream has ended.
pub type Counted = Arc<Mutex<Option<BlobInfo>>>;

struct Encrypting {
    body: ByteStream,
    key: Key,
    buf: BytesMut,
    index: u64,
    done: bool,
    md5: Md5,
    sha: Sha256,
    size: u64,
    counted: Counted,
}

/// Encrypts `body` chunk by chunk under `data_key`.
pub fn encrypt(body: ByteStream, data_key: Key) -> (ByteStream, Counted) {
    let counted: Counted = Arc::new(Mutex::new(None));
    let state = Encrypting {
        body,
        key: data_key,
        buf: BytesMut::new(),
        index: 0,
        done: false,
        md5: Md5::new(),
        sha: Sha256::new(),
        size: 0,
        counted: counted.clone(),
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        // Fill one chunk and look one byte past it, to know whether it is the last.
        let mut ended = false;
        while s.buf.len() <= CHUNK {
            match s.body.next().await {
                Some(Ok(b)) => {
                    s.md5.update(&b);
                    s.sha.update(&b);
                    s.size += b.len() as u64;
                    s.buf.extend_from_slice(&b);
                }
                Some(Err(e)) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let take = s.buf.len().min(CHUNK);
        let plain = s.buf.split_to(take);
        let last = ended && s.buf.is_empty();
        let sealed = s.key.seal(&plain, &aad(s.index, last)).map_err(io);
        s.index += 1;
        if last {
            s.done = true;
            let info = BlobInfo {
                size: s.size,
                md5_hex: hex(&s.md5.clone().finalize()),
                sha256_hex: hex(&s.sha.clone().finalize()),
            };
            *s.counted.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
        }
        Some((sealed.map(Bytes::from), s))
    });
    (stream.boxed(), counted)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the sealed chunks for plaintext `start..end` of an object of `size` bytes lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedRange {
    pub first_chunk: u64,
    /// Ciphertext byte range to read.
    pub start: u64,
    pub end: u64,
    /// Plaintext bytes to skip in the first chunk, and to keep in all.
    pub skip: u64,
    pub take: u64,
}

/// The number of chunks an object of `size` plaintext bytes has (at least one).
pub fn chunks(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64).max(1)
}

/// The ciphertext length of an object of `size` bytes.
pub fn sealed_len(size: u64) -> u64 {
    size + chunks(size) * OVERHEAD as u64
}

/// The chunks that hold plaintext `start..end` (end exclusive, clamped to `size`).
pub fn sealed_range(size: u64, start: u64, end: u64) -> SealedRange {
    let chunk = CHUNK as u64;
    let sealed_chunk = chunk + OVERHEAD as u64;
    let end = end.min(size);
    let start = start.min(end);
    let first = start / chunk;
    let last = if end == 0 { 0 } else { (end - 1) / chunk };
    SealedRange {
        first_chunk: first,
        start: first * sealed_chunk,
        end: ((last + 1) * sealed_chunk).min(sealed_len(size)),
        skip: start - first * chunk,
        take: end - start,
    }
}

struct Decrypting {
    body: ByteStream,
    key: Key,
    buf: BytesMut,
    index: u64,
    last_index: u64,
    skip: u64,
    take: u64,
    done: bool,
}

/// Decrypts sealed chunks read from `body` (which starts at chunk `range.first_chunk`) and
/// yields the plaintext bytes `range` asks for. `size` is the object's plaintext size.
pub fn decrypt(body: ByteStream, data_key: Key, size: u64, range: SealedRange) -> ByteStream {
    let state = Decrypting {
        body,
        key: data_key,
        buf: BytesMut::new(),
        index: range.first_chunk,
        last_index: chunks(size) - 1,
        skip: range.skip,
        take: range.take,
        done: range.take == 0 && size > 0,
    };
    let sealed_chunk = CHUNK + OVERHEAD;
    futures::stream::unfold(state, move |mut s| async move {
        if s.done {
            return None;
        }
        let last = s.index == s.last_index;
        let want = if last { usize::MAX } else { sealed_chunk };
        while s.buf.len() < want {
            match s.body.next().await {
                Some(Ok(b)) => s.buf.extend_from_slice(&b),
                Some(Err(e)) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
                None => break,
            }
        }
        if !last && s.buf.len() < sealed_chunk {
            s.done = true;
            let e = std::io::Error::other("the encrypted object is cut short");
            return Some((Err(e), s));
        }
        let n = s.buf.len().min(sealed_chunk);
        let sealed = s.buf.split_to(n);
        let plain = match s.key.open(&sealed, &aad(s.index, last)) {
            Ok(p) => p,
            Err(e) => {
                s.done = true;
                return Some((Err(io(e)), s));
            }
        };
        s.index += 1;
        let from = (s.skip as usize).min(plain.len());
        s.skip = 0;
        let keep = (plain.len() - from).min(s.take as usize);
        s.take -= keep as u64;
        if s.take == 0 || last {
            s.done = true;
        }
        Some((Ok(Bytes::copy_from_slice(&plain[from..from + keep])), s))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bytes_stream, collect};

    async fn sealed(data: &[u8], key: &Key) -> (Vec<u8>, BlobInfo) {
        let (stream, counted) = encrypt(bytes_stream(data.to_vec()), key.clone());
        let bytes = collect(stream).await.expect("encrypt");
        let info = counted.lock().expect("lock").clone().expect("counted");
        (bytes, info)
    }

    async fn read(
        sealed: &[u8],
        key: &Key,
        size: u64,
        start: u64,
        end: u64,
    ) -> std::io::Result<Vec<u8>> {
        let r = sealed_range(size, start, end);
        let part = sealed[r.start as usize..r.end as usize].to_vec();
        collect(decrypt(bytes_stream(part), key.clone(), size, r))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    #[tokio::test]
    async fn objects_round_trip_whole_and_by_range_at_every_chunk_edge() {
        let key = Key::generate().expect("key");
        for size in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let (bytes, info) = sealed(&data, &key).await;
            assert_eq!(bytes.len() as u64, sealed_len(size as u64), "size {size}");
            assert_eq!(info.size, size as u64);
            assert_eq!(info.sha256_hex, crate::sha256_hex(&data));
            assert_eq!(
                read(&bytes, &key, size as u64, 0, size as u64)
                    .await
                    .expect("whole"),
                data
            );
            for (s, e) in [
                (0, 1),
                (CHUNK - 1, CHUNK + 1),
                (5, size.saturating_sub(3)),
                (size / 2, size),
            ] {
                if s >= e || e > size {
                    continue;
                }
                let got = read(&bytes, &key, size as u64, s as u64, e as u64)
                    .await
                    .expect("range");
                assert_eq!(got, data[s..e], "size {size} range {s}..{e}");
            }
        }
    }

    #[tokio::test]
    async fn reordered_cut_or_altered_chunks_and_wrong_keys_fail() {
        let key = Key::generate().expect("key");
        let data = vec![7u8; 2 * CHUNK + 10];
        let (bytes, _) = sealed(&data, &key).await;
        let size = data.len() as u64;
        let sc = CHUNK + OVERHEAD;
        let mut swapped = bytes.clone();
        swapped[..sc].copy_from_slice(&bytes[sc..2 * sc]);
        swapped[sc..2 * sc].copy_from_slice(&bytes[..sc]);
        assert!(
            read(&swapped, &key, size, 0, size).await.is_err(),
            "reordered"
        );
        let cut = &bytes[..2 * sc];
        let r = SealedRange {
            first_chunk: 0,
            start: 0,
            end: cut.len() as u64,
            skip: 0,
            take: size,
        };
        assert!(
            collect(decrypt(bytes_stream(cut.to_vec()), key.clone(), size, r))
                .await
                .is_err(),
            "cut short"
        );
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(
            read(&flipped, &key, size, 0, size).await.is_err(),
            "altered"
        );
        assert!(
            read(&bytes, &Key::generate().expect("key"), size, 0, size)
                .await
                .is_err(),
            "wrong key"
        );
        assert!(
            !bytes.windows(64).any(|w| w == &data[..64]),
            "no plaintext in the sealed bytes"
        );
    }
}
