//! Where artifact and bucket bytes live: a blob store over the `object_store` crate (a local
//! directory by default). Blobs are written whole or not at all: an interrupted upload never
//! leaves a partial blob under its key.

use crate::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use md5::Md5;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A stream of body chunks.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// What a put stored: its size and checksums (MD5 is S3's ETag, SHA-256 the recorded checksum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub size: u64,
    pub md5_hex: String,
    pub sha256_hex: String,
}

/// The blob store `service` sees; backends are chosen by the binary.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `body` under `key` (replacing nothing: keys are unique per version).
    async fn put(&self, key: &str, body: ByteStream) -> Result<BlobInfo>;
    /// The bytes under `key`; `Error::Missing` when there are none.
    async fn get(&self, key: &str) -> Result<ByteStream>;
    /// Bytes `start..end` (end exclusive) under `key`.
    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<ByteStream>;
    /// Removes `key`; removing a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Every key under `prefix/`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
}

/// Chunks larger than this are written as separate parts.
const PART_SIZE: usize = 8 << 20;

/// A `BlobStore` over any `object_store` backend.
#[derive(Debug, Clone)]
pub struct ObjectBlobStore {
    inner: Arc<dyn ObjectStore>,
}

impl ObjectBlobStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }

    /// Blobs as files under `dir` (created if needed).
    pub fn local(dir: &std::path::Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::Store(e.to_string()))?;
        Ok(Self::new(Arc::new(fs)))
    }
}

/// Where an S3-compatible blob store is and how to sign for it.
#[derive(Clone)]
pub struct S3BlobConfig {
    /// e.g. `http://minio.internal:9000`; path-style requests are used.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3BlobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobConfig")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"REDACTED")
            .finish()
    }
}

impl ObjectBlobStore {
    /// Blobs in a bucket of any S3-compatible store (another Sluice included).
    pub fn s3(config: &S3BlobConfig) -> Result<Self> {
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_allow_http(config.endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .build()
            .map_err(|e| Error::Store(e.to_string()))?;
        Ok(Self::new(Arc::new(store)))
    }
}

/// What a store says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    pub version: Option<String>,
    pub etag: Option<String>,
}

impl ObjectBlobStore {
    pub async fn head(&self, key: &str) -> Result<BlobMeta> {
        let meta = self
            .inner
            .head(&StorePath::from(key))
            .await
            .map_err(store_err)?;
        Ok(BlobMeta {
            size: meta.size,
            version: meta.version,
            etag: meta.e_tag,
        })
    }

    /// The bytes of one version (the latest when `version` is `None`).
    pub async fn get_version(&self, key: &str, version: Option<String>) -> Result<ByteStream> {
        self.get_with(
            key,
            object_store::GetOptions {
                version,
                ..Default::default()
            },
        )
        .await
    }

    async fn get_with(&self, key: &str, options: object_store::GetOptions) -> Result<ByteStream> {
        let got = self
            .inner
            .get_opts(&StorePath::from(key), options)
            .await
            .map_err(store_err)?;
        Ok(got
            .into_stream()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed())
    }
}

fn store_err(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { path, .. } => Error::Missing(path),
        e => Error::Store(e.to_string()),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(&self, key: &str, mut body: ByteStream) -> Result<BlobInfo> {
        let path = StorePath::from(key);
        let upload = self.inner.put_multipart(&path).await.map_err(store_err)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let (mut md5, mut sha, mut size) = (Md5::new(), Sha256::new(), 0u64);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e.into());
                }
            };
            md5.update(&chunk);
            sha.update(&chunk);
            size += chunk.len() as u64;
            writer.wait_for_capacity(2).await.map_err(store_err)?;
            writer.put(chunk);
        }
        writer.finish().await.map_err(store_err)?;
        Ok(BlobInfo {
            size,
            md5_hex: hex(&md5.finalize()),
            sha256_hex: hex(&sha.finalize()),
        })
    }

    async fn get(&self, key: &str) -> Result<ByteStream> {
        self.get_with(key, Default::default()).await
    }

    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<ByteStream> {
        let options = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(start..end)),
            ..Default::default()
        };
        self.get_with(key, options).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&StorePath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = StorePath::from(prefix);
        self.inner
            .list(Some(&prefix))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(store_err)
    }
}

/// A stream over one in-memory buffer.
pub fn bytes_stream(bytes: impl Into<Bytes>) -> ByteStream {
    futures::stream::once(futures::future::ready(Ok(bytes.into()))).boxed()
}

/// Collects a stream into memory (for small bodies: parts of XML requests, tests).
pub async fn collect(mut body: ByteStream) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_put_blob_reads_back_with_its_checksums() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ObjectBlobStore::local(dir.path()).expect("store");
        let chunks: Vec<std::io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from(vec![b'x'; PART_SIZE + 10])),
        ];
        let info = store
            .put("a/b/c", futures::stream::iter(chunks).boxed())
            .await
            .expect("put");
        assert_eq!(info.size, 6 + PART_SIZE as u64 + 10);
        let back = collect(store.get("a/b/c").await.expect("get"))
            .await
            .expect("read");
        assert_eq!(crate::sha256_hex(&back), info.sha256_hex);
        let part = collect(store.get_range("a/b/c", 2, 9).await.expect("range"))
            .await
            .expect("read");
        assert_eq!(part, b"llo xxx");
        store.delete("a/b/c").await.expect("delete");
        assert!(matches!(store.get("a/b/c").await, Err(Error::Missing(_))));
        store
            .delete("a/b/c")
            .await
            .expect("deleting twice succeeds");
    }

    #[tokio::test]
    async fn a_failed_upload_leaves_no_blob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ObjectBlobStore::local(dir.path()).expect("store");
        let chunks: Vec<std::io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("client went away")),
        ];
        assert!(store
            .put("k", futures::stream::iter(chunks).boxed())
            .await
            .is_err());
        assert!(matches!(store.get("k").await, Err(Error::Missing(_))));
    }
}
