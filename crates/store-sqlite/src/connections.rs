//! Connections of `CodeStarSourceConnection` sources.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::params;
use sluice_store::{ConnectionRecord, ConnectionStore, Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

const COLUMNS: &str = "arn, name, provider_type, host_arn, status, url, token, created_ms";

fn row(r: &SqliteRow) -> ConnectionRecord {
    ConnectionRecord {
        arn: r.get(0),
        name: r.get(1),
        provider_type: r.get(2),
        host_arn: r.get(3),
        status: r.get(4),
        url: r.get(5),
        token: r.get(6),
        created_ms: r.get(7),
    }
}

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn create_connection(&self, connection: &ConnectionRecord, max: usize) -> Result<()> {
        let c = connection.clone();
        self.write(move |tx| {
            let taken: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM connections WHERE name = ?",
                    [&c.name],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if taken > 0 {
                return Err(Error::NameInUse(c.name.clone()));
            }
            let count: i64 = tx
                .query_row("SELECT COUNT(*) FROM connections", [], |r| r.get(0))
                .map_err(db)?;
            if count as usize >= max {
                return Err(Error::LimitExceeded(format!(
                    "the account has {count} connections (limit {max})"
                )));
            }
            tx.execute(
                &format!("INSERT INTO connections ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                params![
                    c.arn,
                    c.name,
                    c.provider_type,
                    c.host_arn,
                    c.status,
                    c.url,
                    c.token,
                    c.created_ms
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn connection(&self, arn: &str) -> Result<Option<ConnectionRecord>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM connections WHERE arn = ?"))
            .bind(arn)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(r.as_ref().map(row))
    }

    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connections ORDER BY created_ms, arn"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(row).collect())
    }

    async fn complete_connection(
        &self,
        arn: &str,
        status: &str,
        url: Option<&str>,
        token: Option<&str>,
    ) -> Result<bool> {
        let (arn, status) = (arn.to_string(), status.to_string());
        let (url, token) = (url.map(str::to_string), token.map(str::to_string));
        self.write(move |tx| {
            Ok(tx
                .execute(
                    "UPDATE connections SET status = ?, url = ?, token = ? WHERE arn = ?",
                    params![status, url, token, arn],
                )
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn delete_connection(&self, arn: &str) -> Result<bool> {
        let arn = arn.to_string();
        self.write(move |tx| {
            Ok(tx
                .execute("DELETE FROM connections WHERE arn = ?", [&arn])
                .map_err(db)?
                > 0)
        })
        .await
    }
}
