//! Webhooks.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::params;
use sluice_store::from_row::{self, WEBHOOK_COLUMNS};
use sluice_store::{Error, Result, WebhookRecord, WebhookStore};

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn put_webhook(&self, webhook: &WebhookRecord, max: usize) -> Result<()> {
        let w = webhook.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET arn = excluded.arn, url_id = excluded.url_id, doc = excluded.doc"),
                params![w.name, w.arn, w.url_id, w.doc, w.created_ms, w.last_triggered_ms],
            )
            .map_err(db)?;
            let count: i64 = c
                .query_row("SELECT COUNT(*) FROM webhooks", [], |r| r.get(0))
                .map_err(db)?;
            if count as usize > max {
                return Err(Error::LimitExceeded(format!(
                    "the account would have {count} webhooks (limit {max})"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn webhook(&self, name: &str) -> Result<Option<WebhookRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::webhook))
    }

    async fn webhook_by_url(&self, url_id: &str) -> Result<Option<WebhookRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE url_id = ?"
        ))
        .bind(url_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::webhook))
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::webhook).collect())
    }

    async fn delete_webhook(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            Ok(c.execute("DELETE FROM webhooks WHERE name = ?", [&name])
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn webhook_triggered(&self, name: &str, at_ms: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE webhooks SET last_triggered_ms = ? WHERE name = ?",
                params![at_ms, name],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }
}
