//! Resources kept as a row each: webhooks, connections, CodeCommit repositories, Lambda
//! functions.

use crate::{backend, below_limit, serializable, transaction, Bind, Isolation, PgStore, Tx};
use async_trait::async_trait;
use sluice_store::from_row::{
    self, CONNECTION_COLUMNS, FUNCTION_COLUMNS, REPOSITORY_COLUMNS, WEBHOOK_COLUMNS,
};
use sluice_store::{
    ConnectionRecord, ConnectionStore, Error, FunctionRecord, FunctionStore, Publication,
    RepositoryRecord, RepositoryStore, Result, WebhookRecord, WebhookStore,
};
use sqlx::{PgConnection, Row};

/// How many rows of `table` there are, and whether one has `name` in `column`: what a create
/// checks before it inserts.
async fn taken_and_count(
    c: &mut PgConnection,
    table: &str,
    column: &str,
    name: &str,
) -> Tx<(bool, i64)> {
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) FILTER (WHERE {column} = $1), COUNT(*) FROM {table}"
    ))
    .bind(name)
    .fetch_one(c)
    .await?;
    Ok((row.get::<i64, _>(0) > 0, row.get(1)))
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn put_webhook(&self, w: &WebhookRecord, max: usize) -> Result<()> {
        serializable!(self, |tx| {
            sqlx::query(&format!(
                "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (name) DO UPDATE SET arn = EXCLUDED.arn, url_id = EXCLUDED.url_id,
                   doc = EXCLUDED.doc"
            ))
            .bind(&w.name)
            .bind(&w.arn)
            .bind(&w.url_id)
            .bind(&w.doc)
            .bind(w.created_ms)
            .bind(w.last_triggered_ms)
            .execute(&mut *tx)
            .await?;
            let count: i64 = sqlx::query("SELECT COUNT(*) FROM webhooks")
                .fetch_one(&mut *tx)
                .await?
                .get(0);
            if count as usize > max {
                return Err(Error::LimitExceeded(format!(
                    "the account would have {count} webhooks (limit {max})"
                ))
                .into());
            }
            Ok(())
        })
    }

    async fn webhook(&self, name: &str) -> Result<Option<WebhookRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::webhook))
    }

    async fn webhook_by_url(&self, url_id: &str) -> Result<Option<WebhookRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE url_id = $1"
        ))
        .bind(url_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::webhook))
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::webhook).collect())
    }

    async fn delete_webhook(&self, name: &str) -> Result<bool> {
        let sql = "DELETE FROM webhooks WHERE name = $1";
        Ok(self.execute(sql, &[Bind::Text(name)]).await? > 0)
    }

    async fn webhook_triggered(&self, name: &str, at_ms: i64) -> Result<()> {
        let sql = "UPDATE webhooks SET last_triggered_ms = $1 WHERE name = $2";
        self.execute(sql, &[Bind::Int(at_ms), Bind::Text(name)])
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl ConnectionStore for PgStore {
    async fn create_connection(&self, c: &ConnectionRecord, max: usize) -> Result<()> {
        serializable!(self, |tx| {
            let (taken, count) = taken_and_count(&mut tx, "connections", "name", &c.name).await?;
            if taken {
                return Err(Error::NameInUse(c.name.clone()).into());
            }
            below_limit(count, max, || {
                format!("the account has {count} connections (limit {max})")
            })?;
            sqlx::query(&format!(
                "INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .bind(&c.arn)
            .bind(&c.name)
            .bind(&c.provider_type)
            .bind(&c.host_arn)
            .bind(&c.status)
            .bind(&c.url)
            .bind(&c.token)
            .bind(c.created_ms)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn connection(&self, arn: &str) -> Result<Option<ConnectionRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE arn = $1"
        ))
        .bind(arn)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::connection))
    }

    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY created_ms, arn"
        ))
        .fetch_all(&self.pool)
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
        let sql = "UPDATE connections SET status = $1, url = $2, token = $3 WHERE arn = $4";
        let binds = [
            Bind::Text(status),
            Bind::OptText(url),
            Bind::OptText(token),
            Bind::Text(arn),
        ];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    async fn delete_connection(&self, arn: &str) -> Result<bool> {
        let sql = "DELETE FROM connections WHERE arn = $1";
        Ok(self.execute(sql, &[Bind::Text(arn)]).await? > 0)
    }
}

#[async_trait]
impl RepositoryStore for PgStore {
    async fn create_repository(&self, r: &RepositoryRecord, max: usize) -> Result<()> {
        serializable!(self, |tx| {
            let (taken, count) = taken_and_count(&mut tx, "repositories", "name", &r.name).await?;
            if taken {
                return Err(Error::AlreadyExists(r.name.clone()).into());
            }
            below_limit(count, max, || {
                format!("there are {count} repositories (limit {max})")
            })?;
            sqlx::query(&format!(
                "INSERT INTO repositories ({REPOSITORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&r.name)
            .bind(&r.id)
            .bind(&r.description)
            .bind(r.created_ms)
            .bind(r.modified_ms)
            .bind(&r.snapshot)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn repository(&self, name: &str) -> Result<Option<RepositoryRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::repository))
    }

    async fn repositories(&self) -> Result<Vec<RepositoryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories ORDER BY name"
        ))
        .fetch_all(&self.pool)
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
        let sql = "UPDATE repositories SET description = $1, modified_ms = $2 WHERE name = $3";
        let binds = [
            Bind::OptText(description),
            Bind::Int(modified_ms),
            Bind::Text(name),
        ];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    async fn delete_repository(&self, name: &str) -> Result<bool> {
        let sql = "DELETE FROM repositories WHERE name = $1";
        Ok(self.execute(sql, &[Bind::Text(name)]).await? > 0)
    }

    async fn lock_repository(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        // One statement: the row lock it takes orders two replicas' attempts.
        let sql = "UPDATE repositories SET push_owner = $1, push_until_ms = $2
                   WHERE name = $3 AND (push_owner IS NULL OR push_owner = $1 OR push_until_ms < $4)";
        let binds = [
            Bind::Text(owner),
            Bind::Int(until_ms),
            Bind::Text(name),
            Bind::Int(now_ms),
        ];
        if self.execute(sql, &binds).await? > 0 {
            return Ok(true);
        }
        match self.repository(name).await? {
            Some(_) => Ok(false),
            None => Err(Error::NotFound(format!("repository {name}"))),
        }
    }

    async fn publish_repository(
        &self,
        name: &str,
        owner: &str,
        snapshot: Option<&str>,
    ) -> Result<Publication> {
        transaction!(self, Isolation::ReadCommitted, |tx| {
            let held: Option<Option<String>> = sqlx::query_scalar(
                "SELECT snapshot FROM repositories WHERE name = $1 AND push_owner = $2 FOR UPDATE",
            )
            .bind(name)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(replaced) = held else {
                return Ok(Publication::LockLost);
            };
            sqlx::query(
                "UPDATE repositories SET snapshot = $1, push_owner = NULL, push_until_ms = NULL
                 WHERE name = $2",
            )
            .bind(snapshot)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            Ok(Publication::Published { replaced })
        })
    }

    async fn unlock_repository(&self, name: &str, owner: &str) -> Result<()> {
        let sql = "UPDATE repositories SET push_owner = NULL, push_until_ms = NULL
                   WHERE name = $1 AND push_owner = $2";
        self.execute(sql, &[Bind::Text(name), Bind::Text(owner)])
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl FunctionStore for PgStore {
    async fn create_function(&self, f: &FunctionRecord, max: usize) -> Result<()> {
        serializable!(self, |tx| {
            let (taken, count) = taken_and_count(&mut tx, "functions", "name", &f.name).await?;
            if taken {
                return Err(Error::AlreadyExists(f.name.clone()).into());
            }
            below_limit(count, max, || {
                format!("there are {count} functions (limit {max})")
            })?;
            sqlx::query(&format!(
                "INSERT INTO functions ({FUNCTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&f.name)
            .bind(&f.revision_id)
            .bind(&f.doc)
            .bind(f.created_ms)
            .bind(f.modified_ms)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn function(&self, name: &str) -> Result<Option<FunctionRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::function))
    }

    async fn functions(&self) -> Result<Vec<FunctionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::function).collect())
    }

    async fn replace_function(&self, f: &FunctionRecord, expected_revision: &str) -> Result<()> {
        serializable!(self, |tx| {
            let current: Option<String> =
                sqlx::query("SELECT revision_id FROM functions WHERE name = $1")
                    .bind(&f.name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.get(0));
            match current {
                None => Err(Error::NotFound(f.name.clone()).into()),
                Some(r) if r != expected_revision => Err(Error::VersionConflict {
                    what: format!("function {}", f.name),
                    expected: 0,
                }
                .into()),
                Some(_) => {
                    sqlx::query(
                        "UPDATE functions SET revision_id = $1, doc = $2, modified_ms = $3 WHERE name = $4",
                    )
                    .bind(&f.revision_id)
                    .bind(&f.doc)
                    .bind(f.modified_ms)
                    .bind(&f.name)
                    .execute(&mut *tx)
                    .await?;
                    Ok(())
                }
            }
        })
    }

    async fn delete_function(&self, name: &str) -> Result<Option<FunctionRecord>> {
        serializable!(self, |tx| {
            let found = sqlx::query(&format!(
                "DELETE FROM functions WHERE name = $1 RETURNING {FUNCTION_COLUMNS}"
            ))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            Ok(found.as_ref().map(from_row::function))
        })
    }
}
