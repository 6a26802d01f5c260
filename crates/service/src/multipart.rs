//! Multipart uploads (what `aws s3 cp` uses above 8 MB): parts are blobs under the upload's
//! prefix; completing streams them, in order, into one new object version.

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
        self.bucket(bucket).await?;
        let upload_id = self.new_id().replace('-', "");
        let meta = serde_json::to_vec(&UploadMeta {
            bucket: bucket.into(),
            key: key.into(),
            content_type,
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
        self.upload_meta(bucket, key, upload_id).await?;
        let info = self.blobs().put(&part_key(upload_id, part), body).await?;
        Ok(info.md5_hex)
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
        for (n, _) in parts {
            match self.blobs().get(&part_key(upload_id, *n)).await {
                Ok(s) => streams.push(s),
                Err(sluice_artifacts::Error::Missing(_)) => {
                    return Err(Error::InvalidPart(format!(
                        "One or more of the specified parts could not be found: part {n}"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let body = futures::stream::iter(streams).flatten().boxed();
        let version = self
            .store_object(bucket, key, body, meta.content_type, None)
            .await?;
        self.abort_multipart_upload(bucket, key, upload_id).await?;
        self.object_changed(bucket, key).await;
        Ok(version)
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
