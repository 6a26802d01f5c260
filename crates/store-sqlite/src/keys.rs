//! KMS-style keys and bucket default encryption.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use sluice_store::from_row::{self, KEY_COLUMNS};
use sluice_store::{Error, KeyStore, KmsKeyRecord, Result};
use sqlx::Row;

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_kms_key(&self, key: &KmsKeyRecord, material: &str) -> Result<()> {
        let (k, material) = (key.clone(), material.to_string());
        self.write(move |c| {
            if let Some(alias) = &k.alias {
                let taken = c
                    .query_row("SELECT 1 FROM kms_keys WHERE alias = ?", [alias], |_| Ok(()))
                    .optional()
                    .map_err(db)?
                    .is_some();
                if taken {
                    return Err(Error::AlreadyExists(alias.clone()));
                }
            }
            c.execute(
                &format!("INSERT INTO kms_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
                params![k.key_id, k.arn, k.alias, k.description, k.state, k.created_ms],
            )
            .map_err(db)?;
            c.execute(
                "INSERT INTO kms_key_versions (key_id, version, material, created_ms) VALUES (?, 1, ?, ?)",
                params![k.key_id, material, k.created_ms],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn kms_key(&self, id_arn_or_alias: &str) -> Result<Option<KmsKeyRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM kms_keys WHERE key_id = ?1 OR arn = ?1 OR alias = ?1"
        ))
        .bind(id_arn_or_alias)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::kms_key))
    }

    async fn list_kms_keys(&self) -> Result<Vec<KmsKeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM kms_keys ORDER BY created_ms, key_id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::kms_key).collect())
    }

    async fn set_kms_key_state(&self, key_id: &str, state: &str) -> Result<bool> {
        let (id, state) = (key_id.to_string(), state.to_string());
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE kms_keys SET state = ? WHERE key_id = ?",
                [&state, &id],
            )
            .map_err(db)?
                > 0)
        })
        .await
    }

    async fn add_kms_key_version(
        &self,
        key_id: &str,
        material: &str,
        created_ms: i64,
    ) -> Result<i64> {
        let (id, material) = (key_id.to_string(), material.to_string());
        self.write(move |c| {
            let next: i64 = c
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM kms_key_versions WHERE key_id = ?",
                    [&id],
                    |r| r.get(0),
                )
                .map_err(db)?;
            c.execute(
                "INSERT INTO kms_key_versions (key_id, version, material, created_ms) VALUES (?, ?, ?, ?)",
                params![id, next, material, created_ms],
            )
            .map_err(db)?;
            Ok(next)
        })
        .await
    }

    async fn kms_key_versions(&self, key_id: &str) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT version, material FROM kms_key_versions WHERE key_id = ? ORDER BY version",
        )
        .bind(key_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn set_bucket_encryption(&self, bucket: &str, key_arn: Option<&str>) -> Result<()> {
        let (bucket, key) = (bucket.to_string(), key_arn.map(str::to_string));
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE buckets SET encryption_key = ? WHERE name = ?",
                    params![key, bucket],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(Error::NotFound(format!("bucket {bucket}")));
            }
            Ok(())
        })
        .await
    }
}
