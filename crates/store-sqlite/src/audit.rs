//! The audit chain. Appends run on the writer thread, which reads the last hash and inserts in
//! the same transaction, so the chain has exactly one order.

use crate::{backend, write_ops::db, writer, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use sluice_store::from_row::{self, AUDIT_COLUMNS};
use sluice_store::{
    audit_hash, unkeyed_audit_hash, AuditAttribute, AuditCheckpoint, AuditEventRecord, AuditQuery,
    AuditStore, ChainKey, Error, NewAuditEvent, Result, GENESIS_HASH,
};
use sqlx::Row;

/// The most audit events waiting in memory; beyond it callers wait for the disk.
const MAX_BUFFERED: usize = 10_000;
/// Queued events the writer is woken for at once rather than after `FLUSH_DELAY`.
const FLUSH_AT: usize = 512;
/// How long a queued event may wait for the writer's next batch when nothing else is
/// written. Each commit rewrites the last page of the table and of each of its indexes, so
/// under a load of reads, commits of a few events each cost several times the CPU and disk
/// writes per event of commits of hundreds; this bounds what a `kill -9` can lose of the
/// events of reads (never of changes: those have a pending record).
const FLUSH_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

/// Audit events queued in memory: the writer appends them all at the start of its next batch,
/// so a burst of calls costs one chain read and one savepoint, not one each.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    events: Vec<NewAuditEvent>,
    completing: Vec<String>,
    /// A flush is due within `FLUSH_DELAY`.
    flush_scheduled: bool,
}

/// The writer thread's view of the queued events.
#[derive(Clone)]
pub(crate) struct Queued {
    pub(crate) buffer: std::sync::Arc<std::sync::Mutex<Buffer>>,
    pub(crate) chain_key: std::sync::Arc<std::sync::OnceLock<ChainKey>>,
}

impl Queued {
    /// Empties the buffer: the events and the pending records they complete.
    pub(crate) fn take(&self) -> (Vec<NewAuditEvent>, Vec<String>) {
        let mut b = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        b.flush_scheduled = false;
        (
            std::mem::take(&mut b.events),
            std::mem::take(&mut b.completing),
        )
    }

    /// Returns events taken for a batch that was not committed, ahead of any queued since.
    pub(crate) fn put_back(&self, events: Vec<NewAuditEvent>, completing: Vec<String>) {
        let mut b = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        b.events.splice(0..0, events);
        b.completing.splice(0..0, completing);
    }

    pub(crate) fn append(
        &self,
        c: &rusqlite::Connection,
        events: &[NewAuditEvent],
        completing: &[String],
    ) -> Result<()> {
        let key = self
            .chain_key
            .get()
            .ok_or_else(|| Error::Backend("the audit chain key is not set".into()))?;
        append(c, key, events, completing)
    }
}

/// When the writer should take newly queued events.
enum Flush {
    Now,
    Later,
    AlreadyDue,
}

impl SqliteStore {
    fn chain_key(&self) -> Result<ChainKey> {
        self.chain_key
            .get()
            .cloned()
            .ok_or_else(|| Error::Backend("the audit chain key is not set".into()))
    }
}

/// Chains `events` after the last event and retires the pending records they complete.
fn append(
    c: &rusqlite::Connection,
    key: &ChainKey,
    events: &[NewAuditEvent],
    completing: &[String],
) -> Result<()> {
    for id in completing {
        c.execute("DELETE FROM audit_pending WHERE event_id = ?", [id])
            .map_err(db)?;
    }
    let mut prev: String = c
        .query_row(
            "SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?
        .unwrap_or_else(|| GENESIS_HASH.to_string());
    // Cached statements: a burst of read events is hundreds of inserts, each otherwise parsed
    // anew. An event already chained is skipped rather than allowed to fail those with it.
    let mut insert_event = c
        .prepare_cached(
            "INSERT INTO audit_events (event_id, event_time_ms, event_name, event_source, username, access_key_id, read_only, resources, document, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        )
        .map_err(db)?;
    let mut insert_resource = c
        .prepare_cached(
            "INSERT OR IGNORE INTO audit_resources (seq, resource_type, resource_name) VALUES (?, ?, ?)",
        )
        .map_err(db)?;
    for e in events {
        let hash = audit_hash(key, &prev, &e.document);
        let resources = serde_json::to_string(&e.resources).unwrap_or_else(|_| "[]".into());
        let inserted = insert_event
            .execute(params![
                e.event_id,
                e.event_time_ms,
                e.event_name,
                e.event_source,
                e.username,
                e.access_key_id,
                i64::from(e.read_only),
                resources,
                e.document,
                prev,
                hash
            ])
            .map_err(db)?;
        if inserted == 0 {
            tracing::warn!(event_id = %e.event_id, "an audit event already in the chain was not appended again");
            continue;
        }
        let seq = c.last_insert_rowid();
        for (kind, name) in &e.resources {
            insert_resource
                .execute(params![seq, kind, name])
                .map_err(db)?;
        }
        prev = hash;
    }
    Ok(())
}

/// Relinks the leading events whose links hold as plain SHA-256 (written before the chain was
/// keyed) under `key`, in one transaction; stops at the first event that is not such a link.
fn relink_legacy(c: &rusqlite::Connection, key: &ChainKey) -> Result<u64> {
    let mut read = c
        .prepare("SELECT seq, document, prev_hash, hash FROM audit_events ORDER BY seq")
        .map_err(db)?;
    let rows = read
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(db)?;
    let mut old_prev = GENESIS_HASH.to_string();
    let mut new_prev = GENESIS_HASH.to_string();
    let mut relinked = Vec::new();
    for row in rows {
        let (seq, document, prev_hash, hash) = row.map_err(db)?;
        if prev_hash != old_prev || hash != unkeyed_audit_hash(&prev_hash, &document) {
            break;
        }
        let keyed = audit_hash(key, &new_prev, &document);
        relinked.push((seq, new_prev.clone(), keyed.clone()));
        old_prev = hash;
        new_prev = keyed;
    }
    drop(read);
    for (seq, prev, hash) in &relinked {
        c.execute(
            "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?",
            params![prev, hash, seq],
        )
        .map_err(db)?;
    }
    Ok(relinked.len() as u64)
}

#[async_trait]
impl AuditStore for SqliteStore {
    fn set_chain_key(&self, key: ChainKey) {
        let _ = self.chain_key.set(key);
    }

    async fn key_legacy_chain(&self) -> Result<u64> {
        let key = self.chain_key()?;
        self.write(move |c| relink_legacy(c, &key)).await
    }

    async fn append_audit_events(
        &self,
        events: &[NewAuditEvent],
        completing: &[String],
    ) -> Result<()> {
        let key = self.chain_key()?;
        let (events, completing) = (events.to_vec(), completing.to_vec());
        self.write(move |c| append(c, &key, &events, &completing))
            .await
    }

    async fn queue_audit_events(
        &self,
        events: &[NewAuditEvent],
        completing: &[String],
    ) -> Result<()> {
        // `None`: the buffer is full and this caller appends durably itself.
        let flush = {
            let mut b = self.audit_buffer.lock().unwrap_or_else(|p| p.into_inner());
            if b.events.len() >= MAX_BUFFERED {
                None
            } else {
                b.events.extend_from_slice(events);
                b.completing.extend_from_slice(completing);
                Some(if b.events.len() >= FLUSH_AT {
                    Flush::Now
                } else if std::mem::replace(&mut b.flush_scheduled, true) {
                    Flush::AlreadyDue
                } else {
                    Flush::Later
                })
            }
        };
        match flush {
            // The writer is behind: wait for the disk instead of growing the buffer.
            None => self.append_audit_events(events, completing).await,
            // A full queue means a batch (which takes these too) is coming anyway.
            Some(Flush::Now) => {
                let _ = self.ops.try_send(writer::Message::Flush);
                Ok(())
            }
            Some(Flush::Later) => {
                let ops = self.ops.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(FLUSH_DELAY).await;
                    let _ = ops.send(writer::Message::Flush).await;
                });
                Ok(())
            }
            Some(Flush::AlreadyDue) => Ok(()),
        }
    }

    async fn put_pending_audit(&self, event: &NewAuditEvent) -> Result<()> {
        let e = event.clone();
        self.write(move |c| {
            let resources = serde_json::to_string(&e.resources).unwrap_or_else(|_| "[]".into());
            c.execute(
                "INSERT INTO audit_pending (event_id, event_time_ms, event_name, event_source, username, access_key_id, read_only, resources, document)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![e.event_id, e.event_time_ms, e.event_name, e.event_source, e.username, e.access_key_id, i64::from(e.read_only), resources, e.document],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn pending_audits(&self) -> Result<Vec<NewAuditEvent>> {
        let rows = sqlx::query(
            "SELECT 0, event_id, event_time_ms, event_name, event_source, username, access_key_id, read_only, resources, document, '', ''
             FROM audit_pending ORDER BY event_time_ms, event_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| from_row::audit_event(r).event)
            .collect())
    }

    async fn lookup_audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEventRecord>> {
        enum Bind<'a> {
            Int(i64),
            Text(&'a str),
        }
        // A resource attribute reads the resources' index and joins its events; every other
        // attribute has an index of its own, ordered by `seq` like the answer.
        let by_resource = match &q.attribute {
            Some(AuditAttribute::ResourceType(v)) => Some(("resource_type", v)),
            Some(AuditAttribute::ResourceName(v)) => Some(("resource_name", v)),
            _ => None,
        };
        let mut binds: Vec<Bind<'_>> = Vec::new();
        let columns: Vec<String> = AUDIT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect();
        let columns = columns.join(", ");
        let mut sql = match by_resource {
            Some((column, value)) => {
                binds.push(Bind::Text(value));
                format!(
                    "SELECT {columns} FROM audit_resources r JOIN audit_events e ON e.seq = r.seq WHERE r.{column} = ?"
                )
            }
            None => format!("SELECT {columns} FROM audit_events e WHERE 1 = 1"),
        };
        for (clause, v) in [
            (" AND e.event_time_ms >= ?", q.start_ms),
            (" AND e.event_time_ms <= ?", q.end_ms),
            (" AND e.seq < ?", q.before_seq),
        ] {
            if let Some(v) = v {
                sql.push_str(clause);
                binds.push(Bind::Int(v));
            }
        }
        let (clause, value) = match &q.attribute {
            None | Some(AuditAttribute::ResourceType(_) | AuditAttribute::ResourceName(_)) => {
                ("", None)
            }
            Some(AuditAttribute::EventId(v)) => (" AND e.event_id = ?", Some(v)),
            Some(AuditAttribute::EventName(v)) => (" AND e.event_name = ?", Some(v)),
            Some(AuditAttribute::ReadOnly(true)) => (" AND e.read_only = 1", None),
            Some(AuditAttribute::ReadOnly(false)) => (" AND e.read_only = 0", None),
            Some(AuditAttribute::Username(v)) => (" AND e.username = ?", Some(v)),
            Some(AuditAttribute::EventSource(v)) => (" AND e.event_source = ?", Some(v)),
            Some(AuditAttribute::AccessKeyId(v)) => (" AND e.access_key_id = ?", Some(v)),
        };
        sql.push_str(clause);
        if let Some(v) = value {
            binds.push(Bind::Text(v));
        }
        if by_resource.is_some() {
            // An event with two resources of the type is one answer.
            sql.push_str(" GROUP BY r.seq ORDER BY r.seq DESC LIMIT ?");
        } else {
            sql.push_str(" ORDER BY e.seq DESC LIMIT ?");
        }
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = match b {
                Bind::Int(v) => query.bind(v),
                Bind::Text(v) => query.bind(v),
            };
        }
        let rows = query
            .bind(q.limit as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(from_row::audit_event).collect())
    }

    async fn prune_audit_events(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let key = self.chain_key()?;
        self.write(move |tx| {
            // The prefix: events in chain order up to the first one written at or after
            // `before_ms`, never the newest (the next event links to it).
            let stop: i64 = tx
                .query_row(
                    "SELECT COALESCE(
                        (SELECT MIN(seq) FROM audit_events WHERE event_time_ms >= ?),
                        (SELECT MAX(seq) FROM audit_events), 0)",
                    [before_ms],
                    |r| r.get(0),
                )
                .map_err(db)?;
            let newest: i64 = tx
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_events", [], |r| {
                    r.get(0)
                })
                .map_err(db)?;
            let last: Option<(i64, String)> = tx
                .query_row(
                    "SELECT seq, hash FROM (SELECT seq, hash FROM audit_events
                     WHERE seq < ?1 AND seq < ?2 ORDER BY seq LIMIT ?3)
                     ORDER BY seq DESC LIMIT 1",
                    params![stop, newest, limit as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((seq, hash)) = last else {
                return Ok(0);
            };
            let removed = tx
                .execute("DELETE FROM audit_events WHERE seq <= ?", [seq])
                .map_err(db)?;
            tx.execute("DELETE FROM audit_resources WHERE seq <= ?", [seq])
                .map_err(db)?;
            let before: i64 = tx
                .query_row(
                    "SELECT COALESCE((SELECT pruned FROM audit_checkpoint WHERE id = 1), 0)",
                    [],
                    |r| r.get(0),
                )
                .map_err(db)?;
            let checkpoint = AuditCheckpoint::new(&key, seq, hash, before + removed as i64);
            tx.execute(
                "INSERT INTO audit_checkpoint (id, seq, hash, pruned, mac) VALUES (1, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                 pruned = excluded.pruned, mac = excluded.mac",
                params![
                    checkpoint.seq,
                    checkpoint.hash,
                    checkpoint.pruned,
                    checkpoint.mac
                ],
            )
            .map_err(db)?;
            Ok(removed)
        })
        .await
    }

    async fn audit_checkpoint(&self) -> Result<Option<AuditCheckpoint>> {
        let row = sqlx::query("SELECT seq, hash, pruned, mac FROM audit_checkpoint WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.map(|r| AuditCheckpoint {
            seq: r.get("seq"),
            hash: r.get("hash"),
            pruned: r.get("pruned"),
            mac: r.get("mac"),
        }))
    }

    async fn audit_chain(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditEventRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after_seq)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::audit_event).collect())
    }
}
