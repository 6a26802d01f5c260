//! Buckets and objects of the S3-compatible endpoint: version records in the store, bytes in
//! the blob store. The blob is written first and the record committed after, so a crash leaves
//! at most an unreferenced blob, never a record without bytes.

use crate::{Error, Result, Sluice};
use futures::StreamExt;
use sluice_artifacts::{BlobStore, ByteStream};
use sluice_store::{BucketRecord, ObjectVersionRecord};

pub use sluice_store::ObjectVersionRecord as ObjectVersion;

/// A page of `ListObjectsV2` or `ListObjectVersions`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectListing {
    pub objects: Vec<ObjectVersion>,
    pub common_prefixes: Vec<String>,
    /// Where the next page starts (`(key, version id)`), when the listing was truncated.
    pub next: Option<(String, Option<String>)>,
}

/// The most keys one listing returns.
pub const MAX_KEYS: usize = 1000;

/// S3's bucket naming rules (the subset that matters for path-style addressing).
pub fn check_bucket_name(name: &str) -> Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        // S3 refuses names formatted as an IP address (192.168.5.4).
        && name.parse::<std::net::Ipv4Addr>().is_err()
        // The web console's pages live at `/console/`, where this bucket's would.
        && name != CONSOLE_PATH_NAME;
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidBucketName(name.into()))
    }
}

/// The first path segment of the web console, which no bucket may take.
pub const CONSOLE_PATH_NAME: &str = "console";

/// The bucket that keeps job logs, readable through the S3 endpoint.
pub const LOG_BUCKET: &str = "sluice-logs";

/// The key of a job's log in `LOG_BUCKET`.
pub fn job_log_key(job_id: &str) -> String {
    format!("jobs/{job_id}.log")
}

impl Sluice {
    /// Creates `name` unless it exists (the artifact store's buckets, the log bucket).
    pub async fn ensure_bucket(&self, name: &str) -> Result<()> {
        // A read first: the bucket almost always exists, and a write would queue behind others.
        if self.store().bucket(name).await?.is_some() {
            return Ok(());
        }
        match self.create_bucket(name).await {
            Ok(()) | Err(Error::BucketAlreadyOwnedByYou(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The artifact stores' buckets a pipeline names, as the store creates them in the
    /// pipeline's own transaction (CodePipeline's console creates its default bucket the same
    /// way, so jobs can write to it). A declared key must exist and be usable.
    pub(crate) async fn artifact_buckets(
        &self,
        pipeline: &sluice_model::PipelineDeclaration,
    ) -> Result<Vec<sluice_store::BucketRecord>> {
        let stores = pipeline
            .artifact_store
            .iter()
            .chain(pipeline.artifact_stores.values());
        let mut buckets = Vec::new();
        for store in stores {
            let key = match &store.encryption_key {
                Some(k) => {
                    let key = self.resolve_key(&k.id).await.map_err(|_| {
                        Error::InvalidDeclaration(vec![sluice_model::Problem {
                            kind: sluice_model::ProblemKind::Structure,
                            message: format!(
                                "The artifact store's encryption key '{}' does not exist; create it with `sluice admin keys create`",
                                k.id
                            ),
                        }])
                    })?;
                    Some(key.arn)
                }
                None => None,
            };
            if check_bucket_name(&store.location).is_ok() {
                buckets.push(sluice_store::BucketRecord {
                    name: store.location.clone(),
                    created_ms: self.now_ms(),
                    versioning: None,
                    encryption_key: key,
                });
            }
        }
        Ok(buckets)
    }

    /// Keeps a job's log (already masked) where the S3 endpoint serves it.
    pub async fn store_job_log(&self, job_id: &str, log: ByteStream) -> Result<ObjectVersion> {
        self.ensure_bucket(LOG_BUCKET).await?;
        self.store_object(
            LOG_BUCKET,
            &job_log_key(job_id),
            log,
            Some("text/plain".into()),
            None,
        )
        .await
    }

    /// Keeps one function invocation's log (already masked):
    /// `sluice-logs/functions/NAME/REQUEST_ID.log`.
    pub async fn store_function_log(
        &self,
        function: &str,
        request_id: &str,
        log: Vec<u8>,
    ) -> Result<ObjectVersion> {
        self.ensure_bucket(LOG_BUCKET).await?;
        self.store_object(
            LOG_BUCKET,
            &format!("functions/{function}/{request_id}.log"),
            sluice_artifacts::bytes_stream(log),
            Some("text/plain".into()),
            None,
        )
        .await
    }

    /// Stores a job's output artifact (no source notification: artifacts start nothing).
    pub async fn store_artifact(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
    ) -> Result<ObjectVersion> {
        self.store_object(bucket, key, body, Some("application/zip".into()), None)
            .await
    }

    pub(crate) fn blobs(&self) -> &dyn BlobStore {
        self.inner.blobs.as_ref()
    }

    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        check_bucket_name(name)?;
        let record = BucketRecord {
            name: name.into(),
            created_ms: self.now_ms(),
            versioning: None,
            encryption_key: None,
        };
        match self.store().create_bucket(&record).await {
            Err(sluice_store::Error::AlreadyExists(_)) => {
                Err(Error::BucketAlreadyOwnedByYou(name.into()))
            }
            other => Ok(other?),
        }
    }

    pub async fn bucket(&self, name: &str) -> Result<BucketRecord> {
        self.store()
            .bucket(name)
            .await?
            .ok_or_else(|| Error::NoSuchBucket(name.into()))
    }

    pub async fn list_buckets(&self) -> Result<Vec<BucketRecord>> {
        Ok(self.store().list_buckets().await?)
    }

    pub async fn set_bucket_versioning(&self, bucket: &str, status: &str) -> Result<()> {
        if status != "Enabled" && status != "Suspended" {
            return Err(Error::MalformedXml(format!(
                "versioning status must be Enabled or Suspended, not '{status}'"
            )));
        }
        match self.store().set_versioning(bucket, status).await {
            Err(sluice_store::Error::NotFound(_)) => Err(Error::NoSuchBucket(bucket.into())),
            other => Ok(other?),
        }
    }

    /// Stores a new version of `key`; starts pipelines whose S3 source watches it.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        content_type: Option<String>,
        expected_sha256: Option<&str>,
    ) -> Result<ObjectVersion> {
        let version = self
            .store_object(bucket, key, body, content_type, expected_sha256)
            .await?;
        self.object_changed(bucket, key).await;
        Ok(version)
    }

    /// Stores a version without notifying sources (artifacts written by jobs).
    pub(crate) async fn store_object(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        content_type: Option<String>,
        expected_sha256: Option<&str>,
    ) -> Result<ObjectVersion> {
        check_object_key(key)?;
        let b = self.bucket(bucket).await?;
        let version_id = self.version_id();
        let blob_key = format!("objects/{bucket}/{version_id}");
        // Every object is encrypted at rest under its bucket's key (or the default key).
        let (data_key, envelope) = self.new_data_key(b.encryption_key.as_deref()).await?;
        let info = self.put_sealed(&blob_key, body, data_key, "object").await?;
        if expected_sha256.is_some_and(|e| !e.eq_ignore_ascii_case(&info.sha256_hex)) {
            self.delete_blob_quietly(&blob_key).await;
            return Err(Error::ContentSha256Mismatch(info.sha256_hex));
        }
        let record = ObjectVersionRecord {
            bucket: bucket.into(),
            key: key.into(),
            version_id,
            blob_key: Some(blob_key.clone()),
            size: info.size as i64,
            etag: info.md5_hex,
            sha256: info.sha256_hex,
            content_type,
            modified_ms: self.now_ms(),
            encryption: Some(envelope),
        };
        let stored = match self.store().put_object_version(&record).await {
            Ok(s) => s,
            Err(e) => {
                let _ = self.blobs().delete(&blob_key).await;
                return Err(match e {
                    sluice_store::Error::NotFound(_) => Error::NoSuchBucket(bucket.into()),
                    e => e.into(),
                });
            }
        };
        for orphan in stored.1 {
            self.delete_blob_quietly(&orphan).await;
        }
        Ok(stored.0)
    }

    /// Writes `body` to the blob `key` encrypted under `data_key`; what it wrote (the
    /// plaintext's size and checksums). A body whose bytes were not all encrypted (`what`
    /// names it in the error) leaves no blob behind.
    pub(crate) async fn put_sealed(
        &self,
        key: &str,
        body: ByteStream,
        data_key: sluice_artifacts::crypto::Key,
        what: &str,
    ) -> Result<sluice_artifacts::BlobInfo> {
        let (sealed, counted) = sluice_artifacts::envelope::encrypt(body, data_key);
        self.blobs().put(key, sealed).await?;
        let counted = counted.lock().unwrap_or_else(|p| p.into_inner()).take();
        match counted {
            Some(info) => Ok(info),
            None => {
                self.delete_blob_quietly(key).await;
                Err(Error::Internal(format!(
                    "the {what}'s bytes were not all encrypted"
                )))
            }
        }
    }

    pub(crate) async fn delete_blob_quietly(&self, key: &str) {
        if let Err(e) = self.blobs().delete(key).await {
            tracing::warn!(blob = key, error = %e, "an unreferenced blob could not be deleted");
        }
    }

    /// Time-ordered, unique version ids (S3's are opaque; ordering helps reading logs).
    fn version_id(&self) -> String {
        format!("{:013x}{}", self.now_ms(), self.new_id().replace('-', ""))
    }

    /// A version's record (the latest when `version_id` is `None`).
    pub async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion> {
        self.bucket(bucket).await?;
        let found = self.store().object_version(bucket, key, version_id).await?;
        match (found, version_id) {
            (Some(v), _) if !v.is_delete_marker() => Ok(v),
            (Some(v), Some(_)) => Err(Error::MethodNotAllowed(format!(
                "version {} of {key} is a delete marker",
                v.version_id
            ))),
            (_, Some(v)) => Err(Error::NoSuchVersion(v.into())),
            (_, None) => Err(Error::NoSuchKey(key.into())),
        }
    }

    /// A version's record and bytes.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(ObjectVersion, ByteStream)> {
        let version = self.head_object(bucket, key, version_id).await?;
        let body = self.object_body(&version, None).await?;
        Ok((version, body))
    }

    /// The bytes of a version, or of `start..end` of it.
    pub async fn object_body(
        &self,
        version: &ObjectVersion,
        range: Option<(u64, u64)>,
    ) -> Result<ByteStream> {
        let blob_key = version.blob_key.as_deref().unwrap_or_default();
        let Some(envelope) = &version.encryption else {
            // Written before objects were encrypted.
            return Ok(match range {
                Some((start, end)) => self.blobs().get_range(blob_key, start, end).await?,
                None => self.blobs().get(blob_key).await?,
            });
        };
        let data_key = self.open_envelope(envelope).await?;
        let size = version.size.max(0) as u64;
        let (start, end) = range.unwrap_or((0, size));
        let sealed = sluice_artifacts::envelope::sealed_range(size, start, end);
        let body = if range.is_none() {
            self.blobs().get(blob_key).await?
        } else {
            self.blobs()
                .get_range(blob_key, sealed.start, sealed.end)
                .await?
        };
        Ok(sluice_artifacts::envelope::decrypt(
            body, data_key, size, sealed,
        ))
    }

    /// Deletes a version, or (without an id, in a versioned bucket) adds a delete marker.
    /// Returns the version id affected and whether it is a delete marker.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(Option<String>, bool)> {
        let b = self.bucket(bucket).await?;
        let target = match version_id {
            Some(v) => v.to_string(),
            None if b.versioning.as_deref() == Some("Enabled") => {
                let marker = ObjectVersionRecord {
                    bucket: bucket.into(),
                    key: key.into(),
                    version_id: self.version_id(),
                    blob_key: None,
                    size: 0,
                    encryption: None,
                    etag: String::new(),
                    sha256: String::new(),
                    content_type: None,
                    modified_ms: self.now_ms(),
                };
                let (stored, _) = self.store().put_object_version(&marker).await?;
                return Ok((Some(stored.version_id), true));
            }
            None => "null".to_string(),
        };
        let removed = self
            .store()
            .delete_object_version(bucket, key, &target)
            .await?;
        let marker = removed.as_ref().is_some_and(|r| r.is_delete_marker());
        if let Some(blob) = removed.and_then(|r| r.blob_key) {
            self.delete_blob_quietly(&blob).await;
        }
        Ok((version_id.map(Into::into), marker))
    }

    /// Latest versions by key, rolled up at `delimiter` after `prefix` like `ListObjectsV2`.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max_keys: usize,
    ) -> Result<ObjectListing> {
        self.bucket(bucket).await?;
        let max_keys = max_keys.min(MAX_KEYS);
        let mut listing = ObjectListing::default();
        let mut cursor = after.map(str::to_string);
        loop {
            let batch = self
                .store()
                .list_objects(bucket, prefix, cursor.as_deref(), MAX_KEYS)
                .await?;
            let full = batch.len() == MAX_KEYS;
            let mut skipped = false;
            for object in batch {
                if listing.objects.len() + listing.common_prefixes.len() >= max_keys {
                    return Ok(listing);
                }
                let rolled = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                    object.key[prefix.len()..]
                        .find(d)
                        .map(|i| object.key[..prefix.len() + i + d.len()].to_string())
                });
                match rolled {
                    Some(common) => {
                        // Every key under the rolled-up prefix sorts before this cursor.
                        let past = format!("{common}\u{10FFFF}");
                        cursor = Some(past.clone());
                        listing.next = Some((past, None));
                        listing.common_prefixes.push(common);
                        skipped = true;
                        break;
                    }
                    None => {
                        cursor = Some(object.key.clone());
                        listing.next = Some((object.key.clone(), None));
                        listing.objects.push(object);
                    }
                }
            }
            if !skipped && !full {
                listing.next = None;
                return Ok(listing);
            }
        }
    }

    /// Every version by key, newest first, like `ListObjectVersions`.
    pub async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<&str>)>,
        max_keys: usize,
    ) -> Result<ObjectListing> {
        self.bucket(bucket).await?;
        let max_keys = max_keys.clamp(1, MAX_KEYS);
        let mut objects = self
            .store()
            .list_object_versions(bucket, prefix, after, max_keys + 1)
            .await?;
        let next = if objects.len() > max_keys {
            objects.truncate(max_keys);
            objects
                .last()
                .map(|o| (o.key.clone(), Some(o.version_id.clone())))
        } else {
            None
        };
        Ok(ObjectListing {
            objects,
            common_prefixes: Vec::new(),
            next,
        })
    }

    /// Reads a whole object into memory (small documents only).
    pub async fn read_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let (_, mut body) = self.get_object(bucket, key, None).await?;
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.map_err(|e| Error::Internal(e.to_string()))?);
        }
        Ok(out)
    }
}

fn check_object_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 1024 {
        return Err(Error::KeyTooLong(key.chars().take(64).collect()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_bucket_name;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["abc", "my-bucket.1", "codepipeline-us-east-1-111111111111"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "ABC",
            "a_b",
            "-abc",
            "abc-",
            "a..b",
            "_sluice",
            "192.168.5.4",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
