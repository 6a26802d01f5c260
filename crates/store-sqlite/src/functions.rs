//! `FunctionStore` on SQLite.

use crate::write_ops::db;
use crate::{backend, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use sluice_store::from_row::{self, FUNCTION_COLUMNS};
use sluice_store::{Error, FunctionRecord, FunctionStore, Result};

#[async_trait]
impl FunctionStore for SqliteStore {
    async fn create_function(&self, function: &FunctionRecord, max: usize) -> Result<()> {
        let f = function.clone();
        self.write(move |tx| {
            let taken: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM functions WHERE name = ?",
                    [&f.name],
                    |x| x.get(0),
                )
                .map_err(db)?;
            if taken > 0 {
                return Err(Error::AlreadyExists(f.name.clone()));
            }
            let count: i64 = tx
                .query_row("SELECT COUNT(*) FROM functions", [], |x| x.get(0))
                .map_err(db)?;
            if count as usize >= max {
                return Err(Error::LimitExceeded(format!(
                    "there are {count} functions (limit {max})"
                )));
            }
            tx.execute(
                &format!("INSERT INTO functions ({FUNCTION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
                params![f.name, f.revision_id, f.doc, f.created_ms, f.modified_ms],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn function(&self, name: &str) -> Result<Option<FunctionRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::function))
    }

    async fn functions(&self) -> Result<Vec<FunctionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::function).collect())
    }

    async fn replace_function(
        &self,
        function: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<()> {
        let (f, expected) = (function.clone(), expected_revision.to_string());
        self.write(move |tx| {
            let current: Option<String> = tx
                .query_row("SELECT revision_id FROM functions WHERE name = ?", [&f.name], |x| x.get(0))
                .optional()
                .map_err(db)?;
            match current {
                None => Err(Error::NotFound(f.name.clone())),
                Some(r) if r != expected => Err(Error::VersionConflict {
                    what: format!("function {}", f.name),
                    expected: 0,
                }),
                Some(_) => {
                    tx.execute(
                        "UPDATE functions SET revision_id = ?, doc = ?, modified_ms = ? WHERE name = ?",
                        params![f.revision_id, f.doc, f.modified_ms, f.name],
                    )
                    .map_err(db)?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn delete_function(&self, name: &str) -> Result<Option<FunctionRecord>> {
        let name = name.to_string();
        self.write(move |tx| {
            let found = tx
                .query_row(
                    &format!("SELECT {FUNCTION_COLUMNS} FROM functions WHERE name = ?"),
                    [&name],
                    |r| {
                        Ok(FunctionRecord {
                            name: r.get(0)?,
                            revision_id: r.get(1)?,
                            doc: r.get(2)?,
                            created_ms: r.get(3)?,
                            modified_ms: r.get(4)?,
                        })
                    },
                )
                .optional()
                .map_err(db)?;
            tx.execute("DELETE FROM functions WHERE name = ?", [&name])
                .map_err(db)?;
            Ok(found)
        })
        .await
    }
}
