//! CodeCommit's descriptions of the hosted repositories.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use sluice_store::from_row::{self, REPOSITORY_COLUMNS};
use sluice_store::{Error, Publication, RepositoryRecord, RepositoryStore, Result};

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
                &format!(
                    "INSERT INTO repositories ({REPOSITORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                params![
                    r.name,
                    r.id,
                    r.description,
                    r.created_ms,
                    r.modified_ms,
                    r.snapshot
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn repository(&self, name: &str) -> Result<Option<RepositoryRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::repository))
    }

    async fn repositories(&self) -> Result<Vec<RepositoryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::repository).collect())
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

    async fn lock_repository(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.write(move |tx| {
            let taken = tx
                .execute(
                    "UPDATE repositories SET push_owner = ?1, push_until_ms = ?2
                     WHERE name = ?3 AND (push_owner IS NULL OR push_owner = ?1 OR push_until_ms < ?4)",
                    params![owner, until_ms, name, now_ms],
                )
                .map_err(db)?;
            if taken > 0 {
                return Ok(true);
            }
            let exists: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM repositories WHERE name = ?",
                    [&name],
                    |x| x.get(0),
                )
                .map_err(db)?;
            if exists == 0 {
                return Err(Error::NotFound(format!("repository {name}")));
            }
            Ok(false)
        })
        .await
    }

    async fn publish_repository(
        &self,
        name: &str,
        owner: &str,
        snapshot: Option<&str>,
    ) -> Result<Publication> {
        let (name, owner) = (name.to_string(), owner.to_string());
        let snapshot = snapshot.map(str::to_string);
        self.write(move |tx| {
            let held: Option<Option<String>> = tx
                .query_row(
                    "SELECT snapshot FROM repositories WHERE name = ? AND push_owner = ?",
                    params![name, owner],
                    |x| x.get(0),
                )
                .optional()
                .map_err(db)?;
            let Some(replaced) = held else {
                return Ok(Publication::LockLost);
            };
            tx.execute(
                "UPDATE repositories SET snapshot = ?, push_owner = NULL, push_until_ms = NULL
                 WHERE name = ?",
                params![snapshot, name],
            )
            .map_err(db)?;
            Ok(Publication::Published { replaced })
        })
        .await
    }

    async fn unlock_repository(&self, name: &str, owner: &str) -> Result<()> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.write(move |tx| {
            tx.execute(
                "UPDATE repositories SET push_owner = NULL, push_until_ms = NULL
                 WHERE name = ? AND push_owner = ?",
                params![name, owner],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }
}
