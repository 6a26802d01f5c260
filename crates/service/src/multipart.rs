//! Multipart uploads (what `aws s3 cp` uses above 8 MB): parts are blobs under the upload's
//! prefix, encrypted as they arrive under a data key the upload's record wraps (a part is
//! never at rest in the clear), each with a small record of its plaintext size and MD5;
//! completing checks every listed ETag, then decrypts the parts, in order, into one new object
//! version (encrypted under its own data key).

use crate::{Error, Result, Sluice};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sluice_artifacts::{bytes_stream, collect, ByteStream};

/// S3 numbers parts 1 to 10,000.
const MAX_PART_NUMBER: u32 = 10_000;

#[derive(Serialize, Deserialize)]
struct UploadMeta {
    bucket: String,
    key: String,
    content_type: Option<String>,
    /// The wrapped data key of the parts; absent in uploads begun before parts were
    /// encrypted (their parts are plain).
    #[serde(default)]
    envelope: Option<String>,
    /// When the upload began (0 for uploads begun before this was recorded).
    #[serde(default)]
    created_ms: i64,
}

/// Uploads neither completed nor aborted within this long are removed, parts and all.
pub const STALE_UPLOAD_MS: i64 = 7 * 24 * 3600 * 1000;

/// How many uploads one sweep looks at, at most.
const STALE_SWEEP_BATCH: usize = 1000;

/// What a stored part was, before encryption.
#[derive(Serialize, Deserialize)]
struct PartInfo {
    size: u64,
    md5_hex: String,
}

fn part_info_key(upload_id: &str, part: u32) -> String {
    format!("uploads/{upload_id}/part-{part:05}.info")
}

fn meta_key(upload_id: &str) -> String {
    format!("uploads/{upload_id}/meta")
}

fn part_key(upload_id: &str, part: u32) -> String {
    format!("uploads/{upload_id}/part-{part:05}")
}

impl Sluice {
    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<String>,
    ) -> Result<String> {
        let b = self.bucket(bucket).await?;
        let upload_id = self.new_id().replace('-', "");
        let (_, envelope) = self.new_data_key(b.encryption_key.as_deref()).await?;
        let meta = serde_json::to_vec(&UploadMeta {
            bucket: bucket.into(),
            key: key.into(),
            content_type,
            envelope: Some(envelope),
            created_ms: self.now_ms(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        self.blobs()
            .put(&meta_key(&upload_id), bytes_stream(meta))
            .await?;
        Ok(upload_id)
    }

    async fn upload_meta(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadMeta> {
        let valid_id =
            !upload_id.is_empty() && upload_id.bytes().all(|b| b.is_ascii_alphanumeric());
        let missing = || Error::NoSuchUpload(upload_id.into());
        if !valid_id {
            return Err(missing());
        }
        let raw = match self.blobs().get(&meta_key(upload_id)).await {
            Ok(body) => collect(body).await?,
            Err(sluice_artifacts::Error::Missing(_)) => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        let meta: UploadMeta = serde_json::from_slice(&raw).map_err(|_| missing())?;
        if meta.bucket != bucket || meta.key != key {
            return Err(missing());
        }
        Ok(meta)
    }

    /// Stores one part; returns its ETag (MD5 hex).
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: u32,
        body: ByteStream,
    ) -> Result<String> {
        if !(1..=MAX_PART_NUMBER).contains(&part) {
            return Err(Error::InvalidPart(format!(
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )));
        }
        let meta = self.upload_meta(bucket, key, upload_id).await?;
        let Some(envelope) = &meta.envelope else {
            let info = self.blobs().put(&part_key(upload_id, part), body).await?;
            return Ok(info.md5_hex);
        };
        let data_key = self.open_envelope(envelope).await?;
        let info = self
            .put_sealed(&part_key(upload_id, part), body, data_key, "part")
            .await?;
        let record = serde_json::to_vec(&PartInfo {
            size: info.size,
            md5_hex: info.md5_hex.clone(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        self.blobs()
            .put(&part_info_key(upload_id, part), bytes_stream(record))
            .await?;
        Ok(info.md5_hex)
    }

    /// The plaintext of a stored part, after checking the ETag the client lists for it.
    async fn part_body(
        &self,
        meta: &UploadMeta,
        upload_id: &str,
        part: u32,
        etag: &str,
    ) -> Result<ByteStream> {
        let invalid = || {
            Error::InvalidPart(format!(
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag: part {part}"
            ))
        };
        let get = |key: String| async move {
            match self.blobs().get(&key).await {
                Ok(s) => Ok(s),
                Err(sluice_artifacts::Error::Missing(_)) => Err(invalid()),
                Err(e) => Err(Error::from(e)),
            }
        };
        let Some(envelope) = &meta.envelope else {
            return get(part_key(upload_id, part)).await;
        };
        let info: PartInfo =
            serde_json::from_slice(&collect(get(part_info_key(upload_id, part)).await?).await?)
                .map_err(|_| Error::Internal("a part's record is corrupt".into()))?;
        if etag.trim_matches('"') != info.md5_hex {
            return Err(invalid());
        }
        let data_key = self.open_envelope(envelope).await?;
        let sealed = get(part_key(upload_id, part)).await?;
        let range = sluice_artifacts::envelope::sealed_range(info.size, 0, info.size);
        Ok(sluice_artifacts::envelope::decrypt(
            sealed, data_key, info.size, range,
        ))
    }

    /// Joins the listed parts (ascending, each with the ETag it was given) into the object.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<crate::ObjectVersion> {
        let meta = self.upload_meta(bucket, key, upload_id).await?;
        if parts.is_empty() || parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::InvalidPart(
                "The list of parts was not in ascending order. Parts must be ordered by part number.".into(),
            ));
        }
        let mut streams = Vec::with_capacity(parts.len());
        for (n, etag) in parts {
            streams.push(self.part_body(&meta, upload_id, *n, etag).await?);
        }
        let body = futures::stream::iter(streams).flatten().boxed();
        let version = self
            .store_object(bucket, key, body, meta.content_type, None)
            .await?;
        self.abort_multipart_upload(bucket, key, upload_id).await?;
        self.object_changed(bucket, key).await;
        Ok(version)
    }

    /// Removes the uploads begun more than `STALE_UPLOAD_MS` ago (their parts are never
    /// completed now); returns how many.
    pub async fn expire_stale_uploads(&self) -> Result<usize> {
        let metas: Vec<String> = self
            .blobs()
            .list("uploads")
            .await?
            .into_iter()
            .filter(|k| k.ends_with("/meta"))
            .take(STALE_SWEEP_BATCH)
            .collect();
        let mut expired = 0;
        for meta_key in metas {
            let Some(upload_id) = meta_key
                .strip_prefix("uploads/")
                .and_then(|k| k.strip_suffix("/meta"))
            else {
                continue;
            };
            let meta: Option<UploadMeta> = match self.blobs().get(&meta_key).await {
                Ok(body) => serde_json::from_slice(&collect(body).await?).ok(),
                Err(_) => continue,
            };
            let stale = meta.is_none_or(|m| m.created_ms + STALE_UPLOAD_MS < self.now_ms());
            if stale {
                for blob in self.blobs().list(&format!("uploads/{upload_id}")).await? {
                    self.blobs().delete(&blob).await?;
                }
                expired += 1;
            }
        }
        Ok(expired)
    }

    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        self.upload_meta(bucket, key, upload_id).await?;
        for blob in self.blobs().list(&format!("uploads/{upload_id}")).await? {
            self.blobs().delete(&blob).await?;
        }
        Ok(())
    }
}
