//! Buckets and object versions of the S3-compatible endpoint.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use sluice_store::from_row::{self, BUCKET_COLUMNS, VERSION_COLUMNS};
use sluice_store::{BucketRecord, Error, ObjectStore, ObjectVersionRecord, Result};

/// The id an unversioned bucket gives its one version of a key.
const NULL_VERSION: &str = "null";

fn create_bucket(c: &Connection, b: &BucketRecord) -> Result<()> {
    let inserted = c
        .execute(
            "INSERT INTO buckets (name, created_ms, versioning, encryption_key) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            params![b.name, b.created_ms, b.versioning, b.encryption_key],
        )
        .map_err(db)?;
    if inserted == 0 {
        return Err(Error::AlreadyExists(format!("bucket {}", b.name)));
    }
    Ok(())
}

fn set_versioning(c: &Connection, bucket: &str, status: &str) -> Result<()> {
    let n = c
        .execute(
            "UPDATE buckets SET versioning = ? WHERE name = ?",
            params![status, bucket],
        )
        .map_err(db)?;
    if n == 0 {
        return Err(Error::NotFound(format!("bucket {bucket}")));
    }
    Ok(())
}

fn put_version(
    c: &Connection,
    v: &ObjectVersionRecord,
) -> Result<(ObjectVersionRecord, Vec<String>)> {
    let versioning: Option<Option<String>> = c
        .query_row(
            "SELECT versioning FROM buckets WHERE name = ?",
            [&v.bucket],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    let Some(versioning) = versioning else {
        return Err(Error::NotFound(format!("bucket {}", v.bucket)));
    };
    let mut stored = v.clone();
    let mut orphaned = Vec::new();
    if versioning.as_deref() != Some("Enabled") {
        stored.version_id = NULL_VERSION.into();
        let old: Option<Option<String>> = c
            .query_row(
                "DELETE FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ? RETURNING blob_key",
                params![v.bucket, v.key, NULL_VERSION],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        orphaned.extend(old.flatten());
    }
    c.execute(
        &format!(
            "INSERT INTO object_versions ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        params![
            stored.bucket,
            stored.key,
            stored.version_id,
            stored.blob_key,
            stored.size,
            stored.etag,
            stored.sha256,
            stored.content_type,
            stored.modified_ms,
            stored.encryption
        ],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Error::AlreadyExists(format!("version {} of {}", stored.version_id, stored.key))
        }
        e => db(e),
    })?;
    Ok((stored, orphaned))
}

fn delete_version(
    c: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<ObjectVersionRecord>> {
    c.query_row(
        &format!("DELETE FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ? RETURNING {VERSION_COLUMNS}"),
        params![bucket, key, version_id],
        |r| {
            Ok(ObjectVersionRecord {
                bucket: r.get(0)?,
                key: r.get(1)?,
                version_id: r.get(2)?,
                blob_key: r.get(3)?,
                size: r.get(4)?,
                etag: r.get(5)?,
                sha256: r.get(6)?,
                content_type: r.get(7)?,
                modified_ms: r.get(8)?,
                encryption: r.get(9)?,
            })
        },
    )
    .optional()
    .map_err(db)
}

#[async_trait]
impl ObjectStore for SqliteStore {
    async fn create_bucket(&self, bucket: &BucketRecord) -> Result<()> {
        let b = bucket.clone();
        self.write(move |c| create_bucket(c, &b)).await
    }

    async fn bucket(&self, name: &str) -> Result<Option<BucketRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::bucket))
    }

    async fn list_buckets(&self) -> Result<Vec<BucketRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::bucket).collect())
    }

    async fn set_versioning(&self, bucket: &str, status: &str) -> Result<()> {
        let (b, s) = (bucket.to_string(), status.to_string());
        self.write(move |c| set_versioning(c, &b, &s)).await
    }

    async fn put_object_version(
        &self,
        version: &ObjectVersionRecord,
    ) -> Result<(ObjectVersionRecord, Vec<String>)> {
        let v = version.clone();
        self.write(move |c| put_version(c, &v)).await
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersionRecord>> {
        let query = match version_id {
            Some(_) => format!("SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?"),
            None => format!("SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1"),
        };
        let mut q = sqlx::query(&query).bind(bucket).bind(key);
        if let Some(v) = version_id {
            q = q.bind(v);
        }
        let row = q.fetch_optional(&self.reader).await.map_err(backend)?;
        Ok(row.as_ref().map(from_row::object_version))
    }

    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersionRecord>> {
        let (b, k, v) = (bucket.to_string(), key.to_string(), version_id.to_string());
        self.write(move |c| delete_version(c, &b, &k, &v)).await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectVersionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM object_versions v
             WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2 AND key > ?3
               AND seq = (SELECT MAX(seq) FROM object_versions w WHERE w.bucket = v.bucket AND w.key = v.key)
               AND blob_key IS NOT NULL
             ORDER BY key LIMIT ?4"
        ))
        .bind(bucket)
        .bind(prefix)
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::object_version).collect())
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<&str>)>,
        limit: usize,
    ) -> Result<Vec<ObjectVersionRecord>> {
        // Within the marker's key, versions older (lower seq) than the marker come next.
        let (after_key, after_version) = after.unwrap_or(("", None));
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM object_versions v
             WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2
               AND (key > ?3 OR (key = ?3 AND ?4 IS NOT NULL AND seq <
                    (SELECT seq FROM object_versions m WHERE m.bucket = ?1 AND m.key = ?3 AND m.version_id = ?4)))
             ORDER BY key, seq DESC LIMIT ?5"
        ))
        .bind(bucket)
        .bind(prefix)
        .bind(after_key)
        .bind(after_version)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::object_version).collect())
    }
}
