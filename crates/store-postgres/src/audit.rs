//! The audit chain. Every append locks the chain's head row (`audit_head`), links its events
//! after the head and moves it, in one transaction: one chain in one order however many
//! servers append. Appends are committed in groups: callers queue their events, and whoever
//! holds the turn appends everything queued in one transaction and answers each caller after
//! the commit, so a burst of read calls costs one commit, not one each.

use crate::{backend, transaction, Bind, Isolation, PgStore, Tx};
use async_trait::async_trait;
use sluice_store::from_row::{self, AUDIT_COLUMNS};
use sluice_store::{
    audit_hash, AuditAttribute, AuditCheckpoint, AuditEventRecord, AuditQuery, AuditStore,
    ChainKey, Error, NewAuditEvent, Result,
};
use sqlx::{PgConnection, Row};
use tokio::sync::oneshot;

fn resources_json(resources: &[(String, String)]) -> String {
    serde_json::to_string(resources).unwrap_or_else(|_| "[]".into())
}

/// A caller's events waiting for the next group commit.
struct Waiting {
    events: Vec<NewAuditEvent>,
    completing: Vec<String>,
    /// The caller needs them on disk when answered (`append_audit_events`), not only
    /// committed in order (`queue_audit_events`).
    durable: bool,
    answer: oneshot::Sender<Result<()>>,
}

/// Audit appends waiting for their turn, and the turn.
#[derive(Default)]
pub(crate) struct GroupCommit {
    waiting: std::sync::Mutex<Vec<Waiting>>,
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl PgStore {
    fn chain_key(&self) -> Result<ChainKey> {
        self.chain_key
            .get()
            .cloned()
            .ok_or_else(|| Error::Backend("the audit chain key is not set".into()))
    }

    /// Queues the events and waits until a group commit holding them is committed — and on
    /// disk, when `durable` or when any caller in the group asks for that.
    async fn append_grouped(
        &self,
        events: &[NewAuditEvent],
        completing: &[String],
        durable: bool,
    ) -> Result<()> {
        let key = self.chain_key()?;
        let (answer, mut answered) = oneshot::channel();
        self.audit
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Waiting {
                events: events.to_vec(),
                completing: completing.to_vec(),
                durable,
                answer,
            });
        let turn = self.audit.turn.clone().lock_owned().await;
        // Whoever held the turn before may have appended these already: each turn answers
        // everything it took before giving the turn up.
        if let Ok(result) = answered.try_recv() {
            return result;
        }
        let group =
            std::mem::take(&mut *self.audit.waiting.lock().unwrap_or_else(|p| p.into_inner()));
        // The append runs as a task of its own, holding the turn: a caller that goes away
        // (its client hung up) must not take the other callers' events with it.
        let store = self.clone();
        tokio::spawn(async move {
            let events: Vec<&NewAuditEvent> = group.iter().flat_map(|w| &w.events).collect();
            let completing: Vec<&str> = group
                .iter()
                .flat_map(|w| w.completing.iter().map(String::as_str))
                .collect();
            let durable = group.iter().any(|w| w.durable);
            let result: Result<()> = async {
                transaction!(store, Isolation::ReadCommitted, |tx| {
                    if !durable {
                        // Queued events, as SQLite's writer keeps them: committed in order now
                        // and flushed with the next synchronous commit (or PostgreSQL's WAL
                        // writer within `wal_writer_delay`), so a read is not answered an fsync
                        // later than it needs to be. Every later write that returned is a
                        // barrier behind which they are on disk: WAL is flushed in order.
                        sqlx::query("SET LOCAL synchronous_commit = off")
                            .execute(&mut *tx)
                            .await?;
                    }
                    append(&mut tx, &key, &events, &completing).await
                })
            }
            .await;
            for waiting in group {
                let answer = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(Error::Backend(format!("appending audit events: {e}"))),
                };
                // A caller that went away is not waiting for its answer.
                let _ = waiting.answer.send(answer);
            }
            drop(turn);
        });
        answered
            .await
            .unwrap_or_else(|_| Err(Error::Backend("an audit group commit was lost".into())))
    }
}

/// Chains `events` after the head and retires the pending records they complete.
async fn append(
    c: &mut PgConnection,
    key: &ChainKey,
    events: &[&NewAuditEvent],
    completing: &[&str],
) -> Tx<()> {
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *c)
        .await?;
    let (mut seq, mut prev): (i64, String) = (head.get(0), head.get(1));
    if !completing.is_empty() {
        sqlx::query("DELETE FROM audit_pending WHERE event_id = ANY($1)")
            .bind(completing)
            .execute(&mut *c)
            .await?;
    }
    // A call whose server was taken for gone has its event recorded already (as interrupted):
    // its own completion is left out rather than refused, and logged. Only a call recorded as
    // pending (it changes something) can have been; read calls are not looked up.
    let recorded: Vec<String> = if completing.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar("SELECT event_id FROM audit_events WHERE event_id = ANY($1)")
            .bind(completing)
            .fetch_all(&mut *c)
            .await?
    };
    let events: Vec<&NewAuditEvent> = events
        .iter()
        .copied()
        .filter(|e| {
            let again = recorded.contains(&e.event_id);
            if again {
                tracing::warn!(event_id = e.event_id, "an event recorded as interrupted was completed later; the trail keeps the first");
            }
            !again
        })
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    let mut columns = EventColumns::default();
    let (mut resource_seqs, mut resource_types, mut resource_names) = (vec![], vec![], vec![]);
    for e in &events {
        seq += 1;
        let hash = audit_hash(key, &prev, &e.document);
        for (kind, name) in &e.resources {
            resource_seqs.push(seq);
            resource_types.push(kind.as_str());
            resource_names.push(name.as_str());
        }
        columns.push(seq, e, std::mem::replace(&mut prev, hash.clone()), hash);
    }
    sqlx::query(
        "INSERT INTO audit_events (seq, event_id, event_time_ms, event_name, event_source, username,
                                   access_key_id, read_only, resources, document, prev_hash, hash)
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                              $6::TEXT[], $7::TEXT[], $8::BOOLEAN[], $9::TEXT[], $10::TEXT[],
                              $11::TEXT[], $12::TEXT[])",
    )
    .bind(&columns.seq)
    .bind(&columns.event_id)
    .bind(&columns.time_ms)
    .bind(&columns.name)
    .bind(&columns.source)
    .bind(&columns.username)
    .bind(&columns.access_key_id)
    .bind(&columns.read_only)
    .bind(&columns.resources)
    .bind(&columns.document)
    .bind(&columns.prev_hash)
    .bind(&columns.hash)
    .execute(&mut *c)
    .await?;
    if !resource_seqs.is_empty() {
        sqlx::query(
            "INSERT INTO audit_resources (seq, resource_type, resource_name)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[]) ON CONFLICT DO NOTHING",
        )
        .bind(&resource_seqs)
        .bind(&resource_types)
        .bind(&resource_names)
        .execute(&mut *c)
        .await?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&prev)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Events as columns, for one `INSERT … SELECT FROM UNNEST`.
#[derive(Default)]
struct EventColumns {
    seq: Vec<i64>,
    event_id: Vec<String>,
    time_ms: Vec<i64>,
    name: Vec<String>,
    source: Vec<String>,
    username: Vec<Option<String>>,
    access_key_id: Vec<Option<String>>,
    read_only: Vec<bool>,
    resources: Vec<String>,
    document: Vec<String>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

impl EventColumns {
    fn push(&mut self, seq: i64, e: &NewAuditEvent, prev_hash: String, hash: String) {
        self.seq.push(seq);
        self.event_id.push(e.event_id.clone());
        self.time_ms.push(e.event_time_ms);
        self.name.push(e.event_name.clone());
        self.source.push(e.event_source.clone());
        self.username.push(e.username.clone());
        self.access_key_id.push(e.access_key_id.clone());
        self.read_only.push(e.read_only);
        self.resources.push(resources_json(&e.resources));
        self.document.push(e.document.clone());
        self.prev_hash.push(prev_hash);
        self.hash.push(hash);
    }
}

/// Removes the chain's prefix written before `before_ms` (at most `limit` events, never the
/// newest) and moves the checkpoint to the last event removed.
async fn prune(c: &mut PgConnection, key: &ChainKey, before_ms: i64, limit: usize) -> Tx<usize> {
    let newest: i64 = sqlx::query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *c)
        .await?
        .get(0);
    let stop: i64 = sqlx::query(
        "SELECT COALESCE((SELECT MIN(seq) FROM audit_events WHERE event_time_ms >= $1), $2)",
    )
    .bind(before_ms)
    .bind(newest)
    .fetch_one(&mut *c)
    .await?
    .get(0);
    let last = sqlx::query(
        "SELECT seq, hash FROM (SELECT seq, hash FROM audit_events
         WHERE seq < $1 AND seq < $2 ORDER BY seq LIMIT $3) prefix
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(stop)
    .bind(newest)
    .bind(limit as i64)
    .fetch_optional(&mut *c)
    .await?;
    let Some(last) = last else {
        return Ok(0);
    };
    let (seq, hash): (i64, String) = (last.get(0), last.get(1));
    // The resources go with their events (ON DELETE CASCADE).
    let removed = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
        .bind(seq)
        .execute(&mut *c)
        .await?
        .rows_affected() as usize;
    let before: i64 =
        sqlx::query("SELECT COALESCE((SELECT pruned FROM audit_checkpoint WHERE id = 1), 0)")
            .fetch_one(&mut *c)
            .await?
            .get(0);
    let checkpoint = AuditCheckpoint::new(key, seq, hash, before + removed as i64);
    sqlx::query(
        "INSERT INTO audit_checkpoint (id, seq, hash, pruned, mac) VALUES (1, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash,
           pruned = EXCLUDED.pruned, mac = EXCLUDED.mac",
    )
    .bind(checkpoint.seq)
    .bind(&checkpoint.hash)
    .bind(checkpoint.pruned)
    .bind(&checkpoint.mac)
    .execute(&mut *c)
    .await?;
    Ok(removed)
}

#[async_trait]
impl AuditStore for PgStore {
    fn set_chain_key(&self, key: ChainKey) {
        let _ = self.chain_key.set(key);
    }

    /// A PostgreSQL database was never written by a release with unkeyed links: every chain
    /// in one is keyed from its first event.
    async fn key_legacy_chain(&self) -> Result<u64> {
        Ok(0)
    }

    async fn append_audit_events(
        &self,
        events: &[NewAuditEvent],
        completing: &[String],
    ) -> Result<()> {
        self.append_grouped(events, completing, true).await
    }

    /// Waits for the commit like `append_audit_events` (the group commit is what makes a
    /// burst of calls cheap here, and a caller that has its answer has its events committed
    /// and chained), but not for the disk: as on SQLite, they are durable with the next
    /// synchronous commit.
    async fn queue_audit_events(
        &self,
        events: &[NewAuditEvent],
        completing: &[String],
    ) -> Result<()> {
        self.append_grouped(events, completing, false).await
    }

    async fn put_pending_audit(&self, e: &NewAuditEvent) -> Result<()> {
        let sql = "INSERT INTO audit_pending (event_id, event_time_ms, event_name, event_source,
                     username, access_key_id, read_only, resources, document, server)
                   VALUES ($1, $2, $3, $4, $5, $6, $7 = 1, $8, $9, $10)";
        let resources = resources_json(&e.resources);
        let server = self.identity.get().map(|(server, _)| server.as_str());
        let binds = [
            Bind::Text(&e.event_id),
            Bind::Int(e.event_time_ms),
            Bind::Text(&e.event_name),
            Bind::Text(&e.event_source),
            Bind::OptText(e.username.as_deref()),
            Bind::OptText(e.access_key_id.as_deref()),
            Bind::Int(i64::from(e.read_only)),
            Bind::Text(&resources),
            Bind::Text(&e.document),
            Bind::OptText(server),
        ];
        self.execute(sql, &binds).await.map(|_| ())
    }

    /// The pending records of servers that stopped: none of a server that heartbeat within
    /// its `gone_after_ms` (this one included).
    async fn pending_audits(&self) -> Result<Vec<NewAuditEvent>> {
        let gone_after_ms = self.identity.get().map_or(0, |(_, ms)| *ms);
        let rows = sqlx::query(
            "SELECT 0::BIGINT, event_id, event_time_ms, event_name, event_source, username,
                    access_key_id, read_only, resources, document, '', ''
             FROM audit_pending p
             WHERE p.server IS NULL OR NOT EXISTS (
                 SELECT 1 FROM servers s WHERE s.id = p.server
                   AND s.seen_ms >= (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT - $1)
             ORDER BY event_time_ms, event_id",
        )
        .bind(gone_after_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| from_row::audit_event(r).event)
            .collect())
    }

    async fn lookup_audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEventRecord>> {
        let (sql, binds) = lookup_statement(q);
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = b.bind(query);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        Ok(rows.iter().map(from_row::audit_event).collect())
    }

    async fn prune_audit_events(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let key = self.chain_key()?;
        transaction!(self, Isolation::ReadCommitted, |tx| {
            prune(&mut tx, &key, before_ms, limit).await
        })
    }

    async fn audit_checkpoint(&self) -> Result<Option<AuditCheckpoint>> {
        let row = sqlx::query("SELECT seq, hash, pruned, mac FROM audit_checkpoint WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.map(|r| AuditCheckpoint {
            seq: r.get(0),
            hash: r.get(1),
            pruned: r.get(2),
            mac: r.get(3),
        }))
    }

    async fn audit_chain(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditEventRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::audit_event).collect())
    }
}

/// The statement of one `LookupEvents` page, newest first, and what it binds. Each shape
/// makes the planner's only ordered path the one that stops after a page, whatever the value
/// is: by the primary key backwards it would pass every newer event whenever a value is common.
///
/// - An attribute of the event reads its own index, keyed `(attribute, -seq)`, in that order
///   (`ORDER BY -seq`, the next page `-seq > -before`): no other index gives that order.
/// - A resource attribute walks the resources' `(attribute, seq)` index backwards and looks
///   each event up by its key (a lateral subquery the `OFFSET 0` keeps from being merged into
///   a join that walks the events).
/// - No attribute reads the primary key backwards.
pub(crate) fn lookup_statement(q: &AuditQuery) -> (String, Vec<Bind<'_>>) {
    let mut binds: Vec<Bind<'_>> = Vec::new();
    fn next<'a>(bind: Bind<'a>, binds: &mut Vec<Bind<'a>>) -> String {
        binds.push(bind);
        format!("${}", binds.len())
    }
    let columns: Vec<String> = AUDIT_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect();
    let columns = columns.join(", ");
    let mut times = String::new();
    for (clause, v) in [
        ("e.event_time_ms >=", q.start_ms),
        ("e.event_time_ms <=", q.end_ms),
    ] {
        if let Some(v) = v {
            let p = next(Bind::Int(v), &mut binds);
            times.push_str(&format!(" AND {clause} {p}"));
        }
    }
    let resource = match &q.attribute {
        Some(AuditAttribute::ResourceType(v)) => Some(("resource_type", v)),
        Some(AuditAttribute::ResourceName(v)) => Some(("resource_name", v)),
        _ => None,
    };
    if let Some((column, value)) = resource {
        let mut seqs = format!(
            "SELECT DISTINCT r.seq FROM audit_resources r WHERE r.{column} = {}",
            next(Bind::Text(value), &mut binds)
        );
        if let Some(before) = q.before_seq {
            seqs.push_str(&format!(
                " AND r.seq < {}",
                next(Bind::Int(before), &mut binds)
            ));
        }
        let limit = next(Bind::Int(q.limit as i64), &mut binds);
        let sql = format!(
            "SELECT {columns} FROM ({seqs} ORDER BY r.seq DESC) s
             CROSS JOIN LATERAL (SELECT * FROM audit_events e WHERE e.seq = s.seq{times} OFFSET 0) e
             ORDER BY s.seq DESC LIMIT {limit}"
        );
        return (sql, binds);
    }
    let mut sql = format!("SELECT {columns} FROM audit_events e WHERE TRUE{times}");
    let (column, value) = match &q.attribute {
        None | Some(AuditAttribute::ResourceType(_) | AuditAttribute::ResourceName(_)) => {
            (None, None)
        }
        Some(AuditAttribute::EventId(v)) => (Some("e.event_id"), Some(v)),
        Some(AuditAttribute::EventName(v)) => (Some("e.event_name"), Some(v)),
        Some(AuditAttribute::ReadOnly(true)) => {
            sql.push_str(" AND e.read_only");
            (None, None)
        }
        Some(AuditAttribute::ReadOnly(false)) => {
            sql.push_str(" AND NOT e.read_only");
            (None, None)
        }
        Some(AuditAttribute::Username(v)) => (Some("e.username"), Some(v)),
        Some(AuditAttribute::EventSource(v)) => (Some("e.event_source"), Some(v)),
        Some(AuditAttribute::AccessKeyId(v)) => (Some("e.access_key_id"), Some(v)),
    };
    if let (Some(column), Some(value)) = (column, value) {
        let p = next(Bind::Text(value), &mut binds);
        sql.push_str(&format!(" AND {column} = {p}"));
    }
    let order = if q.attribute.is_some() {
        if let Some(before) = q.before_seq {
            let p = next(Bind::Int(-before), &mut binds);
            sql.push_str(&format!(" AND -e.seq > {p}"));
        }
        "-e.seq"
    } else {
        if let Some(before) = q.before_seq {
            let p = next(Bind::Int(before), &mut binds);
            sql.push_str(&format!(" AND e.seq < {p}"));
        }
        "e.seq DESC"
    };
    let p = next(Bind::Int(q.limit as i64), &mut binds);
    sql.push_str(&format!(" ORDER BY {order} LIMIT {p}"));
    (sql, binds)
}

#[cfg(test)]
mod tests {
    use super::lookup_statement;
    use sluice_store::{AuditAttribute, AuditQuery};

    /// Where the newest events are all of another kind (reads after a run of creations), a
    /// lookup by a common attribute value still reads that attribute's index, never the
    /// primary key backwards past every newer event.
    #[tokio::test]
    async fn a_lookup_by_attribute_reads_its_index_however_common_the_value() {
        let db = sluice_test_utils::ScratchDatabase::new().await;
        let store = crate::PgStore::connect(&db.url).await.expect("connect");
        sqlx::query(
            "INSERT INTO audit_events
             SELECT g, 'e' || g, g, CASE WHEN g <= 20000 THEN 'CreatePipeline' ELSE 'GetPipeline' END,
                    'codepipeline.amazonaws.com', 'root', 'AKID', g > 20000, '[]',
                    repeat('x', 500), '', ''
             FROM generate_series(1, 30000) g",
        )
        .execute(&store.pool)
        .await
        .expect("events");
        sqlx::query(
            "INSERT INTO audit_resources
             SELECT g, CASE WHEN g <= 20000 THEN 'AWS::CodePipeline::Pipeline' ELSE 'AWS::S3::Object' END,
                    'r-' || g
             FROM generate_series(1, 30000) g",
        )
        .execute(&store.pool)
        .await
        .expect("resources");
        sqlx::query("ANALYZE audit_events, audit_resources")
            .execute(&store.pool)
            .await
            .expect("analyze");
        let text = |v: &str| v.to_string();
        let cases = [
            (
                AuditAttribute::EventName(text("CreatePipeline")),
                "audit_events_by_name",
            ),
            (
                AuditAttribute::Username(text("root")),
                "audit_events_by_username",
            ),
            (
                AuditAttribute::EventSource(text("codepipeline.amazonaws.com")),
                "audit_events_by_source",
            ),
            (
                AuditAttribute::AccessKeyId(text("AKID")),
                "audit_events_by_key",
            ),
            (AuditAttribute::ReadOnly(false), "audit_events_by_read_only"),
            (
                AuditAttribute::ResourceType(text("AWS::CodePipeline::Pipeline")),
                "audit_resources_by_type",
            ),
        ];
        for (attribute, index) in cases {
            for before_seq in [None, Some(25_000)] {
                let query = AuditQuery {
                    attribute: Some(attribute.clone()),
                    before_seq,
                    limit: 51,
                    ..Default::default()
                };
                let (sql, binds) = lookup_statement(&query);
                let explain = format!("EXPLAIN {sql}");
                let mut statement = sqlx::query(&explain);
                for b in binds {
                    statement = b.bind(statement);
                }
                let plan: Vec<String> = statement
                    .fetch_all(&store.pool)
                    .await
                    .expect("explain")
                    .iter()
                    .map(|row| sqlx::Row::get(row, 0))
                    .collect();
                let plan = plan.join("\n");
                // Neither a sort of the matches nor a walk of the events in key order.
                assert!(
                    plan.contains(index)
                        && !plan.contains("Sort")
                        && !plan.contains("Merge Join")
                        && !plan.contains("Scan Backward using audit_events_pkey"),
                    "{attribute:?} after {before_seq:?}:\n{plan}"
                );
            }
        }
        store.close().await;
    }
}
