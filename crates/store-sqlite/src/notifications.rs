//! `NotificationStore` on SQLite: SNS topics and subscriptions, EventBridge rules, and the
//! outbox's delivery side (due rows, fan-out, retries, the undelivered record).

use crate::write_ops::{db, insert_outbox};
use crate::{backend, SqliteStore};
use async_trait::async_trait;
use rusqlite::params;
use sluice_store::from_row::{
    self, OUTBOX_COLUMNS, RULE_COLUMNS, SUBSCRIPTION_COLUMNS, TOPIC_COLUMNS,
};
use sluice_store::{
    listing_sql, Error, EventRuleRecord, NotificationStore, OutboxRecord, PagePosition, Result,
    SubscriptionRecord, TopicRecord, UndeliveredRecord,
};
use sqlx::{QueryBuilder, Row, Sqlite};

/// The statement of one `ListSubscriptions` page (`listing_pages_seek_and_never_sort` checks
/// that each shape it takes walks an index in the page's order).
pub(crate) fn subscription_page<'a>(
    topic_arn: Option<&'a str>,
    after: Option<&'a PagePosition>,
    limit: usize,
) -> QueryBuilder<'a, Sqlite> {
    let mut sql = QueryBuilder::new(format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions"
    ));
    listing_sql::subscription_page(&mut sql, topic_arn, after, limit);
    sql
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn create_topic(&self, topic: &TopicRecord, max: usize) -> Result<()> {
        let t = topic.clone();
        self.write(move |tx| {
            let taken: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM sns_topics WHERE name = ?",
                    [&t.name],
                    |x| x.get(0),
                )
                .map_err(db)?;
            if taken > 0 {
                return Err(Error::AlreadyExists(t.name.clone()));
            }
            let count: i64 = tx
                .query_row("SELECT COUNT(*) FROM sns_topics", [], |x| x.get(0))
                .map_err(db)?;
            if count as usize >= max {
                return Err(Error::LimitExceeded(format!(
                    "there are {count} topics (limit {max})"
                )));
            }
            tx.execute(
                "INSERT INTO sns_topics (arn, name, doc, created_ms) VALUES (?, ?, ?, ?)",
                params![t.arn, t.name, t.doc, t.created_ms],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn topic(&self, arn: &str) -> Result<Option<TopicRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {TOPIC_COLUMNS} FROM sns_topics WHERE arn = ?"
        ))
        .bind(arn)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::topic))
    }

    async fn topics(&self) -> Result<Vec<TopicRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOPIC_COLUMNS} FROM sns_topics ORDER BY arn"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::topic).collect())
    }

    async fn replace_topic(&self, topic: &TopicRecord) -> Result<bool> {
        let t = topic.clone();
        self.write(move |tx| {
            Ok(tx
                .execute(
                    "UPDATE sns_topics SET doc = ? WHERE arn = ?",
                    params![t.doc, t.arn],
                )
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn delete_topic(&self, arn: &str) -> Result<bool> {
        let arn = arn.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM sns_subscriptions WHERE topic_arn = ?", [&arn])
                .map_err(db)?;
            Ok(tx
                .execute("DELETE FROM sns_topics WHERE arn = ?", [&arn])
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn create_subscription(
        &self,
        subscription: &SubscriptionRecord,
        messages: &[OutboxRecord],
        max: usize,
    ) -> Result<()> {
        let (s, messages) = (subscription.clone(), messages.to_vec());
        self.write(move |tx| {
            let topics: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM sns_topics WHERE arn = ?",
                    [&s.topic_arn],
                    |x| x.get(0),
                )
                .map_err(db)?;
            if topics == 0 {
                return Err(Error::NotFound(s.topic_arn.clone()));
            }
            let count: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM sns_subscriptions WHERE topic_arn = ?",
                    [&s.topic_arn],
                    |x| x.get(0),
                )
                .map_err(db)?;
            if count as usize >= max {
                return Err(Error::LimitExceeded(format!(
                    "the topic has {count} subscriptions (limit {max})"
                )));
            }
            tx.execute(
                &format!(
                    "INSERT INTO sns_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                ),
                params![s.arn, s.topic_arn, s.token, s.doc, s.created_ms],
            )
            .map_err(db)?;
            insert_outbox(tx, &messages)
        })
        .await
    }

    async fn subscription(&self, arn: &str) -> Result<Option<SubscriptionRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions WHERE arn = ?"
        ))
        .bind(arn)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::subscription))
    }

    async fn subscription_by_token(&self, token: &str) -> Result<Option<SubscriptionRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions WHERE token = ?"
        ))
        .bind(token)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::subscription))
    }

    async fn subscriptions(&self, topic_arn: &str) -> Result<Vec<SubscriptionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions WHERE topic_arn = ?
             ORDER BY created_ms, arn"
        ))
        .bind(topic_arn)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::subscription).collect())
    }

    async fn subscription_page(
        &self,
        topic_arn: Option<&str>,
        after: Option<&PagePosition>,
        limit: usize,
    ) -> Result<Vec<SubscriptionRecord>> {
        let rows = subscription_page(topic_arn, after, limit)
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(from_row::subscription).collect())
    }

    async fn replace_subscription(&self, subscription: &SubscriptionRecord) -> Result<bool> {
        let s = subscription.clone();
        self.write(move |tx| {
            Ok(tx
                .execute(
                    "UPDATE sns_subscriptions SET token = ?, doc = ? WHERE arn = ?",
                    params![s.token, s.doc, s.arn],
                )
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn delete_subscription(&self, arn: &str, messages: &[OutboxRecord]) -> Result<bool> {
        let (arn, messages) = (arn.to_string(), messages.to_vec());
        self.write(move |tx| {
            let deleted = tx
                .execute("DELETE FROM sns_subscriptions WHERE arn = ?", [&arn])
                .map_err(db)?
                > 0;
            if deleted {
                insert_outbox(tx, &messages)?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn put_event_rule(&self, rule: &EventRuleRecord, max: usize) -> Result<()> {
        let r = rule.clone();
        self.write(move |tx| {
            let exists: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM event_rules WHERE name = ?",
                    [&r.name],
                    |x| x.get(0),
                )
                .map_err(db)?;
            if exists == 0 {
                let count: i64 = tx
                    .query_row("SELECT COUNT(*) FROM event_rules", [], |x| x.get(0))
                    .map_err(db)?;
                if count as usize >= max {
                    return Err(Error::LimitExceeded(format!(
                        "there are {count} rules (limit {max})"
                    )));
                }
            }
            tx.execute(
                "INSERT INTO event_rules (name, doc, created_ms) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                params![r.name, r.doc, r.created_ms],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn event_rule(&self, name: &str) -> Result<Option<EventRuleRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM event_rules WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::event_rule))
    }

    async fn event_rules(&self) -> Result<Vec<EventRuleRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM event_rules ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::event_rule).collect())
    }

    async fn delete_event_rule(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |tx| {
            Ok(tx
                .execute("DELETE FROM event_rules WHERE name = ?", [&name])
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn enqueue(&self, messages: &[OutboxRecord]) -> Result<()> {
        let messages = messages.to_vec();
        self.write(move |tx| insert_outbox(tx, &messages)).await
    }

    async fn due_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE due_ms <= ? ORDER BY due_ms, created_ms, id LIMIT ?"
        ))
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::outbox).collect())
    }

    async fn next_outbox_due(&self) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT MIN(due_ms) FROM outbox")
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(r.get(0))
    }

    async fn expand_outbox(&self, id: &str, into: &[OutboxRecord]) -> Result<bool> {
        let (id, into) = (id.to_string(), into.to_vec());
        self.write(move |tx| {
            let removed = tx
                .execute("DELETE FROM outbox WHERE id = ?", [&id])
                .map_err(db)?
                > 0;
            if removed {
                insert_outbox(tx, &into)?;
            }
            Ok(removed)
        })
        .await
    }

    async fn outbox_delivered(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM outbox WHERE id = ?", [&id])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn outbox_retry(&self, id: &str, attempts: i64, due_ms: i64) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE outbox SET attempts = ?, due_ms = ? WHERE id = ?",
                params![attempts, due_ms, id],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn outbox_undeliverable(&self, id: &str, error: &str, now_ms: i64) -> Result<()> {
        let (id, error) = (id.to_string(), error.to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO undelivered (id, kind, topic, body, attempts, error, created_ms, failed_ms)
                 SELECT id, kind, topic, body, attempts, ?, created_ms, ? FROM outbox WHERE id = ?",
                params![error, now_ms, id],
            )
            .map_err(db)?;
            tx.execute("DELETE FROM outbox WHERE id = ?", [&id])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn undelivered(&self, limit: usize) -> Result<Vec<UndeliveredRecord>> {
        let rows = sqlx::query(
            "SELECT id, kind, topic, body, attempts, error, created_ms, failed_ms FROM undelivered
             ORDER BY failed_ms DESC, id LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| UndeliveredRecord {
                id: r.get(0),
                kind: r.get(1),
                topic: r.get(2),
                body: r.get(3),
                attempts: r.get(4),
                error: r.get(5),
                created_ms: r.get(6),
                failed_ms: r.get(7),
            })
            .collect())
    }

    async fn prune_undelivered(&self, before_ms: i64) -> Result<usize> {
        self.write(move |tx| {
            tx.execute("DELETE FROM undelivered WHERE failed_ms < ?", [before_ms])
                .map_err(db)
        })
        .await
    }

    async fn signing_key_or_init(&self, sealed: &str) -> Result<String> {
        let sealed = sealed.to_string();
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO notification_signing_key (id, sealed) VALUES (1, ?)",
                [&sealed],
            )
            .map_err(db)?;
            tx.query_row(
                "SELECT sealed FROM notification_signing_key WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .map_err(db)
        })
        .await
    }

    async fn signing_key(&self) -> Result<Option<String>> {
        let r = sqlx::query("SELECT sealed FROM notification_signing_key WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(r.map(|r| r.get(0)))
    }
}
