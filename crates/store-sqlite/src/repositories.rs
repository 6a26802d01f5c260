//! CodeCommit's descriptions of the hosted repositories.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::params;
use sluice_store::{Error, RepositoryRecord, RepositoryStore, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

const COLUMNS: &str = "name, id, description, created_ms, modified_ms";

fn row(r: &SqliteRow) -> RepositoryRecord {
    RepositoryRecord {
        name: r.get(0),
        id: r.get(1),
        description: r.get(2),
        created_ms: r.get(3),
        modified_ms: r.get(4),
    }
}

#[async_trait]
impl RepositoryStore for SqliteStore {
    async fn create_repository(&self, repository: &RepositoryRecord, max: usize) -> Result<()> {
        let r = repository.clone();
        self.write(move |tx| {
            let taken: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM repositories WHERE name = ?",
                    [&r.name],
                    |x| x.get(0),
                )
                .map_err(db)?;
            if taken > 0 {
                return Err(Error::AlreadyExists(r.name.clone()));
            }
            let count: i64 = tx
                .query_row("SELECT COUNT(*) FROM repositories", [], |x| x.get(0))
                .map_err(db)?;
            if count as usize >= max {
                return Err(Error::LimitExceeded(format!(
                    "there are {count} repositories (limit {max})"
                )));
            }
            tx.execute(
                &format!("INSERT INTO repositories ({COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
                params![r.name, r.id, r.description, r.created_ms, r.modified_ms],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn repository(&self, name: &str) -> Result<Option<RepositoryRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM repositories WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(row))
    }

    async fn repositories(&self) -> Result<Vec<RepositoryRecord>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM repositories ORDER BY name"))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(row).collect())
    }

    async fn describe_repository(
        &self,
        name: &str,
        description: Option<&str>,
        modified_ms: i64,
    ) -> Result<bool> {
        let (name, description) = (name.to_string(), description.map(str::to_string));
        self.write(move |tx| {
            Ok(tx
                .execute(
                    "UPDATE repositories SET description = ?, modified_ms = ? WHERE name = ?",
                    params![description, modified_ms, name],
                )
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn delete_repository(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |tx| {
            Ok(tx
                .execute("DELETE FROM repositories WHERE name = ?", [&name])
                .map_err(db)?
                > 0)
        })
        .await
    }
}
