//! `NotificationStore` on PostgreSQL: SNS topics and subscriptions, EventBridge rules, and
//! the outbox's delivery side (due rows, fan-out, retries, the undelivered record).

use crate::{backend, below_limit, serializable, Bind, PgStore, Tx};
use async_trait::async_trait;
use sluice_store::from_row::{
    self, OUTBOX_COLUMNS, RULE_COLUMNS, SUBSCRIPTION_COLUMNS, TOPIC_COLUMNS,
};
use sluice_store::{
    listing_sql, Error, EventRuleRecord, NotificationStore, OutboxRecord, PagePosition,
    RemoteChange, Result, SubscriptionRecord, TopicRecord, UndeliveredRecord,
};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

/// Queues outbox rows inside the caller's transaction.
pub(crate) async fn insert_outbox(c: &mut PgConnection, rows: &[OutboxRecord]) -> Tx<()> {
    for o in rows {
        sqlx::query(&format!(
            "INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&o.id)
        .bind(&o.kind)
        .bind(&o.topic)
        .bind(&o.body)
        .bind(o.created_ms)
        .bind(o.attempts)
        .bind(o.due_ms)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

async fn count(c: &mut PgConnection, sql: &str, bind: Option<&str>) -> Tx<i64> {
    let mut query = sqlx::query(sql);
    if let Some(value) = bind {
        query = query.bind(value);
    }
    Ok(query.fetch_one(c).await?.get(0))
}

#[async_trait]
impl NotificationStore for PgStore {
    async fn create_topic(&self, t: &TopicRecord, max: usize) -> Result<()> {
        serializable!(self, |tx| {
            let taken = count(
                &mut tx,
                "SELECT COUNT(*) FROM sns_topics WHERE name = $1",
                Some(&t.name),
            )
            .await?;
            if taken > 0 {
                return Err(Error::AlreadyExists(t.name.clone()).into());
            }
            let n = count(&mut tx, "SELECT COUNT(*) FROM sns_topics", None).await?;
            below_limit(n, max, || format!("there are {n} topics (limit {max})"))?;
            sqlx::query(
                "INSERT INTO sns_topics (arn, name, doc, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(&t.arn)
            .bind(&t.name)
            .bind(&t.doc)
            .bind(t.created_ms)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn topic(&self, arn: &str) -> Result<Option<TopicRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {TOPIC_COLUMNS} FROM sns_topics WHERE arn = $1"
        ))
        .bind(arn)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::topic))
    }

    async fn topics(&self) -> Result<Vec<TopicRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOPIC_COLUMNS} FROM sns_topics ORDER BY arn"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::topic).collect())
    }

    async fn replace_topic(&self, t: &TopicRecord) -> Result<bool> {
        let sql = "UPDATE sns_topics SET doc = $1 WHERE arn = $2";
        Ok(self
            .execute(sql, &[Bind::Text(&t.doc), Bind::Text(&t.arn)])
            .await?
            > 0)
    }

    async fn delete_topic(&self, arn: &str) -> Result<bool> {
        serializable!(self, |tx| {
            sqlx::query("DELETE FROM sns_subscriptions WHERE topic_arn = $1")
                .bind(arn)
                .execute(&mut *tx)
                .await?;
            Ok(sqlx::query("DELETE FROM sns_topics WHERE arn = $1")
                .bind(arn)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0)
        })
    }

    async fn create_subscription(
        &self,
        s: &SubscriptionRecord,
        messages: &[OutboxRecord],
        max: usize,
    ) -> Result<()> {
        serializable!(self, |tx| {
            let topics = count(
                &mut tx,
                "SELECT COUNT(*) FROM sns_topics WHERE arn = $1",
                Some(&s.topic_arn),
            )
            .await?;
            if topics == 0 {
                return Err(Error::NotFound(s.topic_arn.clone()).into());
            }
            let n = count(
                &mut tx,
                "SELECT COUNT(*) FROM sns_subscriptions WHERE topic_arn = $1",
                Some(&s.topic_arn),
            )
            .await?;
            below_limit(n, max, || {
                format!("the topic has {n} subscriptions (limit {max})")
            })?;
            sqlx::query(&format!(
                "INSERT INTO sns_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&s.arn)
            .bind(&s.topic_arn)
            .bind(&s.token)
            .bind(&s.doc)
            .bind(s.created_ms)
            .execute(&mut *tx)
            .await?;
            insert_outbox(&mut tx, messages).await?;
            self.notify(&mut tx, &[RemoteChange::Outbox]).await
        })
    }

    async fn subscription(&self, arn: &str) -> Result<Option<SubscriptionRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions WHERE arn = $1"
        ))
        .bind(arn)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::subscription))
    }

    async fn subscription_by_token(&self, token: &str) -> Result<Option<SubscriptionRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions WHERE token = $1"
        ))
        .bind(token)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::subscription))
    }

    async fn subscriptions(&self, topic_arn: &str) -> Result<Vec<SubscriptionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions WHERE topic_arn = $1
             ORDER BY created_ms, arn"
        ))
        .bind(topic_arn)
        .fetch_all(&self.pool)
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
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM sns_subscriptions"
        ));
        listing_sql::subscription_page(&mut sql, topic_arn, after, limit);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        Ok(rows.iter().map(from_row::subscription).collect())
    }

    async fn replace_subscription(&self, s: &SubscriptionRecord) -> Result<bool> {
        let sql = "UPDATE sns_subscriptions SET token = $1, doc = $2 WHERE arn = $3";
        let binds = [
            Bind::OptText(s.token.as_deref()),
            Bind::Text(&s.doc),
            Bind::Text(&s.arn),
        ];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    async fn delete_subscription(&self, arn: &str, messages: &[OutboxRecord]) -> Result<bool> {
        serializable!(self, |tx| {
            let deleted = sqlx::query("DELETE FROM sns_subscriptions WHERE arn = $1")
                .bind(arn)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if deleted {
                insert_outbox(&mut tx, messages).await?;
                self.notify(&mut tx, &[RemoteChange::Outbox]).await?;
            }
            Ok(deleted)
        })
    }

    async fn put_event_rule(&self, r: &EventRuleRecord, max: usize) -> Result<()> {
        serializable!(self, |tx| {
            let exists = count(
                &mut tx,
                "SELECT COUNT(*) FROM event_rules WHERE name = $1",
                Some(&r.name),
            )
            .await?;
            if exists == 0 {
                let n = count(&mut tx, "SELECT COUNT(*) FROM event_rules", None).await?;
                below_limit(n, max, || format!("there are {n} rules (limit {max})"))?;
            }
            sqlx::query(
                "INSERT INTO event_rules (name, doc, created_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc",
            )
            .bind(&r.name)
            .bind(&r.doc)
            .bind(r.created_ms)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn event_rule(&self, name: &str) -> Result<Option<EventRuleRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM event_rules WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::event_rule))
    }

    async fn event_rules(&self) -> Result<Vec<EventRuleRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM event_rules ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::event_rule).collect())
    }

    async fn delete_event_rule(&self, name: &str) -> Result<bool> {
        let sql = "DELETE FROM event_rules WHERE name = $1";
        Ok(self.execute(sql, &[Bind::Text(name)]).await? > 0)
    }

    async fn enqueue(&self, messages: &[OutboxRecord]) -> Result<()> {
        serializable!(self, |tx| {
            insert_outbox(&mut tx, messages).await?;
            self.notify(&mut tx, &[RemoteChange::Outbox]).await
        })
    }

    async fn due_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE due_ms <= $1
             ORDER BY due_ms, created_ms, id LIMIT $2"
        ))
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::outbox).collect())
    }

    async fn next_outbox_due(&self) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT MIN(due_ms) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(r.get(0))
    }

    async fn expand_outbox(&self, id: &str, into: &[OutboxRecord]) -> Result<bool> {
        serializable!(self, |tx| {
            let removed = sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if removed && !into.is_empty() {
                insert_outbox(&mut tx, into).await?;
                self.notify(&mut tx, &[RemoteChange::Outbox]).await?;
            }
            Ok(removed)
        })
    }

    async fn outbox_delivered(&self, id: &str) -> Result<()> {
        self.execute("DELETE FROM outbox WHERE id = $1", &[Bind::Text(id)])
            .await
            .map(|_| ())
    }

    async fn outbox_retry(&self, id: &str, attempts: i64, due_ms: i64) -> Result<()> {
        let sql = "UPDATE outbox SET attempts = $1, due_ms = $2 WHERE id = $3";
        self.execute(
            sql,
            &[Bind::Int(attempts), Bind::Int(due_ms), Bind::Text(id)],
        )
        .await
        .map(|_| ())
    }

    async fn outbox_undeliverable(&self, id: &str, error: &str, now_ms: i64) -> Result<()> {
        serializable!(self, |tx| {
            sqlx::query(
                "INSERT INTO undelivered (id, kind, topic, body, attempts, error, created_ms, failed_ms)
                 SELECT id, kind, topic, body, attempts, $1, created_ms, $2 FROM outbox WHERE id = $3
                 ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, topic = EXCLUDED.topic,
                   body = EXCLUDED.body, attempts = EXCLUDED.attempts, error = EXCLUDED.error,
                   created_ms = EXCLUDED.created_ms, failed_ms = EXCLUDED.failed_ms",
            )
            .bind(error)
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    async fn undelivered(&self, limit: usize) -> Result<Vec<UndeliveredRecord>> {
        let rows = sqlx::query(
            "SELECT id, kind, topic, body, attempts, error, created_ms, failed_ms FROM undelivered
             ORDER BY failed_ms DESC, id LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
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
        let sql = "DELETE FROM undelivered WHERE failed_ms < $1";
        Ok(self.execute(sql, &[Bind::Int(before_ms)]).await? as usize)
    }

    async fn signing_key_or_init(&self, sealed: &str) -> Result<String> {
        serializable!(self, |tx| {
            sqlx::query(
                "INSERT INTO notification_signing_key (id, sealed) VALUES (1, $1) ON CONFLICT DO NOTHING",
            )
            .bind(sealed)
            .execute(&mut *tx)
            .await?;
            Ok(
                sqlx::query("SELECT sealed FROM notification_signing_key WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0),
            )
        })
    }

    async fn signing_key(&self) -> Result<Option<String>> {
        let r = sqlx::query("SELECT sealed FROM notification_signing_key WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(r.map(|r| r.get(0)))
    }
}
