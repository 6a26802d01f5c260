//! Buckets and object versions of the S3-compatible endpoint, and the keys that encrypt them.

use crate::{backend, serializable, Bind, PgStore};
use async_trait::async_trait;
use sluice_store::from_row::{self, BUCKET_COLUMNS, KEY_COLUMNS, VERSION_COLUMNS};
use sluice_store::{
    BucketRecord, Error, KeyStore, KmsKeyRecord, ObjectStore, ObjectVersionRecord, Result,
};
use sqlx::Row;

/// The id an unversioned bucket gives its one version of a key.
const NULL_VERSION: &str = "null";

#[async_trait]
impl ObjectStore for PgStore {
    async fn create_bucket(&self, b: &BucketRecord) -> Result<()> {
        let inserted = serializable!(self, |tx| {
            Ok(sqlx::query(&format!(
                "INSERT INTO buckets ({BUCKET_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING"
            ))
            .bind(&b.name)
            .bind(b.created_ms)
            .bind(&b.versioning)
            .bind(&b.encryption_key)
            .execute(&mut *tx)
            .await?
            .rows_affected())
        })?;
        if inserted == 0 {
            return Err(Error::AlreadyExists(format!("bucket {}", b.name)));
        }
        Ok(())
    }

    async fn bucket(&self, name: &str) -> Result<Option<BucketRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::bucket))
    }

    async fn list_buckets(&self) -> Result<Vec<BucketRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::bucket).collect())
    }

    async fn set_versioning(&self, bucket: &str, status: &str) -> Result<()> {
        let sql = "UPDATE buckets SET versioning = $1 WHERE name = $2";
        if self
            .execute(sql, &[Bind::Text(status), Bind::Text(bucket)])
            .await?
            == 0
        {
            return Err(Error::NotFound(format!("bucket {bucket}")));
        }
        Ok(())
    }

    async fn put_object_version(
        &self,
        v: &ObjectVersionRecord,
    ) -> Result<(ObjectVersionRecord, Vec<String>)> {
        serializable!(self, |tx| {
            let versioning: Option<String> =
                sqlx::query("SELECT versioning FROM buckets WHERE name = $1")
                    .bind(&v.bucket)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("bucket {}", v.bucket)))?
                    .get(0);
            let mut stored = v.clone();
            let mut orphaned = Vec::new();
            if versioning.as_deref() != Some("Enabled") {
                stored.version_id = NULL_VERSION.into();
                let old = sqlx::query(
                    "DELETE FROM object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3
                     RETURNING blob_key",
                )
                .bind(&v.bucket)
                .bind(&v.key)
                .bind(NULL_VERSION)
                .fetch_optional(&mut *tx)
                .await?;
                orphaned.extend(old.and_then(|r| r.get::<Option<String>, _>(0)));
            }
            let inserted = sqlx::query(&format!(
                "INSERT INTO object_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (bucket, key, version_id) DO NOTHING"
            ))
            .bind(&stored.bucket)
            .bind(&stored.key)
            .bind(&stored.version_id)
            .bind(&stored.blob_key)
            .bind(stored.size)
            .bind(&stored.etag)
            .bind(&stored.sha256)
            .bind(&stored.content_type)
            .bind(stored.modified_ms)
            .bind(&stored.encryption)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(Error::AlreadyExists(format!(
                    "version {} of {}",
                    stored.version_id, stored.key
                ))
                .into());
            }
            Ok((stored, orphaned))
        })
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersionRecord>> {
        let row = match version_id {
            Some(version) => {
                sqlx::query(&format!(
                    "SELECT {VERSION_COLUMNS} FROM object_versions
                     WHERE bucket = $1 AND key = $2 AND version_id = $3"
                ))
                .bind(bucket)
                .bind(key)
                .bind(version)
                .fetch_optional(&self.pool)
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = $1 AND key = $2
                     ORDER BY seq DESC LIMIT 1"
                ))
                .bind(bucket)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
            }
        }
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::object_version))
    }

    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersionRecord>> {
        serializable!(self, |tx| {
            let row = sqlx::query(&format!(
                "DELETE FROM object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3
                 RETURNING {VERSION_COLUMNS}"
            ))
            .bind(bucket)
            .bind(key)
            .bind(version_id)
            .fetch_optional(&mut *tx)
            .await?;
            Ok(row.as_ref().map(from_row::object_version))
        })
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
             WHERE bucket = $1 AND left(key, length($2)) = $2 AND key > $3
               AND seq = (SELECT MAX(seq) FROM object_versions w WHERE w.bucket = v.bucket AND w.key = v.key)
               AND blob_key IS NOT NULL
             ORDER BY key LIMIT $4"
        ))
        .bind(bucket)
        .bind(prefix)
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.pool)
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
             WHERE bucket = $1 AND left(key, length($2)) = $2
               AND (key > $3 OR (key = $3 AND $4::TEXT IS NOT NULL AND seq <
                    (SELECT seq FROM object_versions m WHERE m.bucket = $1 AND m.key = $3 AND m.version_id = $4)))
             ORDER BY key, seq DESC LIMIT $5"
        ))
        .bind(bucket)
        .bind(prefix)
        .bind(after_key)
        .bind(after_version)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::object_version).collect())
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn create_kms_key(&self, k: &KmsKeyRecord, material: &str) -> Result<()> {
        serializable!(self, |tx| {
            if let Some(alias) = &k.alias {
                let taken = sqlx::query("SELECT 1 FROM kms_keys WHERE alias = $1")
                    .bind(alias)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                if taken {
                    return Err(Error::AlreadyExists(alias.clone()).into());
                }
            }
            sqlx::query(&format!(
                "INSERT INTO kms_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&k.key_id)
            .bind(&k.arn)
            .bind(&k.alias)
            .bind(&k.description)
            .bind(&k.state)
            .bind(k.created_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO kms_key_versions (key_id, version, material, created_ms) VALUES ($1, 1, $2, $3)",
            )
            .bind(&k.key_id)
            .bind(material)
            .bind(k.created_ms)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn kms_key(&self, id_arn_or_alias: &str) -> Result<Option<KmsKeyRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM kms_keys WHERE key_id = $1 OR arn = $1 OR alias = $1"
        ))
        .bind(id_arn_or_alias)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::kms_key))
    }

    async fn list_kms_keys(&self) -> Result<Vec<KmsKeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM kms_keys ORDER BY created_ms, key_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::kms_key).collect())
    }

    async fn set_kms_key_state(&self, key_id: &str, state: &str) -> Result<bool> {
        let sql = "UPDATE kms_keys SET state = $1 WHERE key_id = $2";
        Ok(self
            .execute(sql, &[Bind::Text(state), Bind::Text(key_id)])
            .await?
            > 0)
    }

    async fn add_kms_key_version(
        &self,
        key_id: &str,
        material: &str,
        created_ms: i64,
    ) -> Result<i64> {
        serializable!(self, |tx| {
            let next: i64 = sqlx::query(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM kms_key_versions WHERE key_id = $1",
            )
            .bind(key_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            sqlx::query(
                "INSERT INTO kms_key_versions (key_id, version, material, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(key_id)
            .bind(next)
            .bind(material)
            .bind(created_ms)
            .execute(&mut *tx)
            .await?;
            Ok(next)
        })
    }

    async fn kms_key_versions(&self, key_id: &str) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT version, material FROM kms_key_versions WHERE key_id = $1 ORDER BY version",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn set_bucket_encryption(&self, bucket: &str, key_arn: Option<&str>) -> Result<()> {
        let sql = "UPDATE buckets SET encryption_key = $1 WHERE name = $2";
        if self
            .execute(sql, &[Bind::OptText(key_arn), Bind::Text(bucket)])
            .await?
            == 0
        {
            return Err(Error::NotFound(format!("bucket {bucket}")));
        }
        Ok(())
    }
}
