//! Connections of `CodeStarSourceConnection` sources.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::params;
use sluice_store::from_row::{self, CONNECTION_COLUMNS};
use sluice_store::{ConnectionRecord, ConnectionStore, Error, Result};

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
                &format!("INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
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
        let r = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE arn = ?"
        ))
        .bind(arn)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::connection))
    }

    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY created_ms, arn"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::connection).collect())
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
