//! The embedded SQLite backend of `sluice-store`: one file in the data dir, WAL journal,
//! `synchronous=FULL`, numbered migrations applied at open.
//!
//! Writes go through a pool of exactly one connection, so write transactions never race to
//! upgrade a read lock (SQLite's `SQLITE_BUSY` deadlock); reads use a separate pool.

mod migrations;
mod rows;
mod runs;
mod writer;

use async_trait::async_trait;
use sluice_store::{
    AccessKeyRecord, ActionTypeKey, ActionTypeRecord, ActionTypeStore, CredentialStore,
    DeclarationDoc, Error, NewPipeline, PipelineRecord, PipelineStore, PipelineSummary, Result,
    Tag, TagStore, TransitionRecord,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use std::path::Path;
use std::time::Duration;

pub use migrations::SCHEMA_VERSION;

/// How many connections serve reads.
const READ_POOL_SIZE: u32 = 4;
/// How long a statement waits for a lock before failing.
const BUSY_TIMEOUT_SECS: u64 = 10;

/// A store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    /// The pool of the one write connection, which the writer task holds while it runs.
    writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Write operations for the writer task; `close` sends `Close` and joins it.
    ops: tokio::sync::mpsc::Sender<writer::Message>,
    /// The writer task, owned here and joined by `close`.
    writer_task: std::sync::Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

pub(crate) fn backend(e: sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(BUSY_TIMEOUT_SECS));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        migrations::run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_POOL_SIZE)
            .connect_with(options.read_only(true))
            .await
            .map_err(backend)?;
        let connection = writer.acquire().await.map_err(backend)?;
        let (ops, queue) = tokio::sync::mpsc::channel(writer::QUEUE_BOUND);
        let task = tokio::spawn(writer::run(connection, queue));
        Ok(Self {
            writer,
            reader,
            ops,
            writer_task: std::sync::Arc::new(tokio::sync::Mutex::new(Some(task))),
        })
    }

    /// Finishes queued writes, stops the writer and closes both pools.
    pub async fn close(&self) {
        let _ = self.ops.send(writer::Message::Close).await;
        if let Some(task) = self.writer_task.lock().await.take() {
            let _ = task.await;
        }
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Runs `f` on the write connection inside the writer's next batch and returns its result
    /// once that batch is committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::SqliteConnection) -> writer::OpFuture<'c, T>
            + Send
            + 'static,
    {
        let (op, answer) = writer::op(f);
        self.ops
            .send(writer::Message::Op(op))
            .await
            .map_err(writer::closed)?;
        answer.await.map_err(writer::closed)?
    }
}

async fn insert_tags(tx: &mut sqlx::SqliteConnection, arn: &str, tags: &[Tag]) -> Result<()> {
    for tag in tags {
        sqlx::query("INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?) ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value")
            .bind(arn)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// The ARN of a pipeline inside a write transaction, if it exists.
pub(crate) async fn pipeline_arn(
    tx: &mut sqlx::SqliteConnection,
    name: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT arn FROM pipelines WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .map(|r| r.get(0)))
}

#[async_trait]
impl PipelineStore for SqliteStore {
    async fn create_pipeline(&self, new: &NewPipeline, max_pipelines: usize) -> Result<()> {
        let new = new.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let new = &new;
                let tx = conn;
                if pipeline_arn(&mut *tx, &new.name).await?.is_some() {
                    return Err(Error::NameInUse(new.name.clone()));
                }
                let count: i64 = sqlx::query("SELECT COUNT(*) FROM pipelines")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?
                    .get(0);
                if count as usize >= max_pipelines {
                    return Err(Error::LimitExceeded(format!(
                        "the account already has {count} pipelines (limit {max_pipelines})"
                    )));
                }
                let doc = new.declaration.clone().with_version(1);
                sqlx::query("INSERT INTO pipelines (name, arn, version, created_ms, updated_ms, execution_mode, pipeline_type) VALUES (?, ?, 1, ?, ?, ?, ?)")
                    .bind(&new.name)
                    .bind(&new.arn)
                    .bind(new.created_ms)
                    .bind(new.created_ms)
                    .bind(doc.execution_mode())
                    .bind(doc.pipeline_type())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                sqlx::query("INSERT INTO pipeline_versions (name, version, declaration, written_ms) VALUES (?, 1, ?, ?)")
                    .bind(&new.name)
                    .bind(doc.to_json())
                    .bind(new.created_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                insert_tags(&mut *tx, &new.arn, &new.tags).await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_pipeline(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<PipelineRecord>> {
        let row = sqlx::query(
            "SELECT p.name, p.arn, v.version, v.declaration, p.created_ms, v.written_ms
             FROM pipelines p JOIN pipeline_versions v ON v.name = p.name
             WHERE p.name = ? AND v.version = COALESCE(?, p.version)",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.map(|r| rows::pipeline(&r)).transpose()
    }

    async fn update_pipeline(
        &self,
        name: &str,
        expected_version: i64,
        declaration: &DeclarationDoc,
        updated_ms: i64,
    ) -> Result<PipelineRecord> {
        let name = name.to_string();
        let declaration = declaration.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let name = name.as_str();
                let declaration = &declaration;
                let tx = conn;
                let head = sqlx::query("SELECT arn, version, created_ms FROM pipelines WHERE name = ?")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                    .ok_or_else(|| Error::NotFound(format!("pipeline {name}")))?;
                let current: i64 = head.get(1);
                if current != expected_version {
                    return Err(Error::VersionConflict {
                        what: format!("pipeline {name}"),
                        expected: expected_version,
                    });
                }
                let version = current + 1;
                let doc = declaration.clone().with_version(version);
                sqlx::query("UPDATE pipelines SET version = ?, updated_ms = ?, execution_mode = ?, pipeline_type = ? WHERE name = ?")
                    .bind(version)
                    .bind(updated_ms)
                    .bind(doc.execution_mode())
                    .bind(doc.pipeline_type())
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                sqlx::query("INSERT INTO pipeline_versions (name, version, declaration, written_ms) VALUES (?, ?, ?, ?)")
                    .bind(name)
                    .bind(version)
                    .bind(doc.to_json())
                    .bind(updated_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                Ok(PipelineRecord {
                    name: name.to_string(),
                    arn: head.get(0),
                    version,
                    declaration: doc,
                    created_ms: head.get(2),
                    updated_ms,
                })
            })
        })
        .await
    }

    async fn delete_pipeline(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let name = name.as_str();
                let tx = conn;
                let Some(arn) = pipeline_arn(&mut *tx, name).await? else {
                    return Ok(false);
                };
                for statement in [
                    "DELETE FROM pipeline_versions WHERE name = ?",
                    "DELETE FROM transitions WHERE pipeline = ?",
                    "DELETE FROM pipelines WHERE name = ?",
                ] {
                    sqlx::query(statement)
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                sqlx::query("DELETE FROM tags WHERE resource_arn = ?")
                    .bind(&arn)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                Ok(true)
            })
        })
        .await
    }

    async fn list_pipelines(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PipelineSummary>> {
        let rows = sqlx::query(
            "SELECT name, version, created_ms, updated_ms, execution_mode, pipeline_type FROM pipelines
             WHERE ? IS NULL OR name > ? ORDER BY name LIMIT ?",
        )
        .bind(after)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(rows::summary).collect())
    }

    async fn set_transition(&self, t: &TransitionRecord) -> Result<()> {
        let t = t.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let t = &t;
                let tx = conn;
                if pipeline_arn(&mut *tx, &t.pipeline).await?.is_none() {
                    return Err(Error::NotFound(format!("pipeline {}", t.pipeline)));
                }
                sqlx::query(
                    "INSERT INTO transitions (pipeline, stage, direction, enabled, reason, changed_by, changed_ms)
                     VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (pipeline, stage, direction) DO UPDATE SET enabled = excluded.enabled,
                       reason = excluded.reason, changed_by = excluded.changed_by, changed_ms = excluded.changed_ms",
                )
                .bind(&t.pipeline)
                .bind(&t.stage)
                .bind(t.direction.as_str())
                .bind(t.enabled)
                .bind(&t.reason)
                .bind(&t.changed_by)
                .bind(t.changed_ms)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn transitions(&self, pipeline: &str) -> Result<Vec<TransitionRecord>> {
        let rows = sqlx::query(
            "SELECT pipeline, stage, direction, enabled, reason, changed_by, changed_ms FROM transitions WHERE pipeline = ?",
        )
        .bind(pipeline)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::transition).collect()
    }
}

#[async_trait]
impl ActionTypeStore for SqliteStore {
    async fn create_action_type(
        &self,
        new: &ActionTypeRecord,
        tags: &[Tag],
        max_types: usize,
    ) -> Result<()> {
        let new = new.clone();
        let tags = tags.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                let new = &new;
                let tags = tags.as_slice();
                let k = &new.key;
                let tx = conn;
                let existing = sqlx::query(
                    "SELECT deleted FROM action_types WHERE category = ? AND owner = ? AND provider = ? AND version = ?",
                )
                .bind(&k.category)
                .bind(&k.owner)
                .bind(&k.provider)
                .bind(&k.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                let what = format!(
                    "action type {}/{}/{}/{}",
                    k.owner, k.category, k.provider, k.version
                );
                if let Some(row) = existing {
                    let deleted: bool = row.get(0);
                    return Err(if deleted {
                        Error::Deleted(what)
                    } else {
                        Error::AlreadyExists(what)
                    });
                }
                let count: i64 = sqlx::query("SELECT COUNT(*) FROM action_types WHERE deleted = 0")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?
                    .get(0);
                if count as usize >= max_types {
                    return Err(Error::LimitExceeded(format!(
                        "the account already has {count} custom action types (limit {max_types})"
                    )));
                }
                sqlx::query("INSERT INTO action_types (category, owner, provider, version, definition, created_ms) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(&k.category)
                    .bind(&k.owner)
                    .bind(&k.provider)
                    .bind(&k.version)
                    .bind(new.definition.to_json())
                    .bind(new.created_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let arn = sluice_store::action_type_tag_key(k);
                insert_tags(&mut *tx, &arn, tags).await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_action_type(&self, k: &ActionTypeKey) -> Result<Option<ActionTypeRecord>> {
        let row = sqlx::query(
            "SELECT category, owner, provider, version, definition, created_ms FROM action_types
             WHERE category = ? AND owner = ? AND provider = ? AND version = ? AND deleted = 0",
        )
        .bind(&k.category)
        .bind(&k.owner)
        .bind(&k.provider)
        .bind(&k.version)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.map(|r| rows::action_type(&r)).transpose()
    }

    async fn delete_action_type(&self, k: &ActionTypeKey) -> Result<bool> {
        let k = k.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let k = &k;
                let tx = conn;
                let done = sqlx::query(
                    "UPDATE action_types SET deleted = 1
                     WHERE category = ? AND owner = ? AND provider = ? AND version = ? AND deleted = 0",
                )
                .bind(&k.category)
                .bind(&k.owner)
                .bind(&k.provider)
                .bind(&k.version)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected()
                    > 0;
                sqlx::query("DELETE FROM tags WHERE resource_arn = ?")
                    .bind(sluice_store::action_type_tag_key(k))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                Ok(done)
            })
        })
        .await
    }

    async fn list_action_types(&self) -> Result<Vec<ActionTypeRecord>> {
        let rows = sqlx::query(
            "SELECT category, owner, provider, version, definition, created_ms FROM action_types
             WHERE deleted = 0 ORDER BY category, owner, provider, version",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::action_type).collect()
    }
}

#[async_trait]
impl TagStore for SqliteStore {
    async fn tags(&self, resource_arn: &str) -> Result<Vec<Tag>> {
        let rows = sqlx::query("SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY key")
            .bind(sluice_store::tag_resource_key(resource_arn))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| Tag {
                key: r.get(0),
                value: r.get(1),
            })
            .collect())
    }

    async fn tag_resource(&self, resource_arn: &str, tags: &[Tag], max_tags: usize) -> Result<()> {
        let resource_arn = resource_arn.to_string();
        let tags = tags.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                let resource_arn = resource_arn.as_str();
                let tags = tags.as_slice();
                let key = sluice_store::tag_resource_key(resource_arn);
                let tx = conn;
                insert_tags(&mut *tx, &key, tags).await?;
                let count: i64 = sqlx::query("SELECT COUNT(*) FROM tags WHERE resource_arn = ?")
                    .bind(&key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?
                    .get(0);
                if count as usize > max_tags {
                    // Dropping the transaction rolls the inserts back.
                    return Err(Error::LimitExceeded(format!(
                        "the resource would have {count} tags (limit {max_tags})"
                    )));
                }
                Ok(())
            })
        })
        .await
    }

    async fn untag_resource(&self, resource_arn: &str, keys: &[String]) -> Result<()> {
        let resource_arn = resource_arn.to_string();
        let keys = keys.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                let resource_arn = resource_arn.as_str();
                let keys = keys.as_slice();
                let key = sluice_store::tag_resource_key(resource_arn);
                let tx = conn;
                for k in keys {
                    sqlx::query("DELETE FROM tags WHERE resource_arn = ? AND key = ?")
                        .bind(&key)
                        .bind(k)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn ensure_access_key(&self, key: &AccessKeyRecord) -> Result<AccessKeyRecord> {
        let key = key.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let key = &key;
                let tx = conn;
                sqlx::query("INSERT INTO access_keys (access_key_id, secret_access_key, principal_arn, created_ms) VALUES (?, ?, ?, ?) ON CONFLICT (access_key_id) DO NOTHING")
                    .bind(&key.access_key_id)
                    .bind(&key.secret_access_key)
                    .bind(&key.principal_arn)
                    .bind(key.created_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let row = sqlx::query("SELECT access_key_id, secret_access_key, principal_arn, created_ms FROM access_keys WHERE access_key_id = ?")
                    .bind(&key.access_key_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                Ok(rows::access_key(&row))
            })
        })
        .await
    }

    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row = sqlx::query("SELECT access_key_id, secret_access_key, principal_arn, created_ms FROM access_keys WHERE access_key_id = ?")
            .bind(access_key_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.as_ref().map(rows::access_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_passes_the_store_conformance_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("sluice.db"))
            .await
            .expect("open");
        sluice_store::conformance::run_all(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_in_a_group_commit_rolls_back_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("sluice.db"))
            .await
            .expect("open");
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = store.clone();
            // Every name is created twice at once: one of each pair must lose.
            let new = sluice_store::conformance::sample_pipeline(&format!("p{}", i / 2));
            tasks.push(tokio::spawn(async move {
                store.create_pipeline(&new, 1000).await
            }));
        }
        let mut created = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(()) => created += 1,
                Err(Error::NameInUse(_)) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((created, refused), (20, 20));
        assert_eq!(
            store.list_pipelines(None, 100).await.expect("list").len(),
            20
        );
        for i in 0..20 {
            let p = store
                .get_pipeline(&format!("p{i}"), None)
                .await
                .expect("get")
                .expect("exists");
            assert_eq!(p.version, 1);
        }
        // A write that fails part-way (the tag limit, checked after its inserts) leaves nothing
        // behind while its batch-mates commit.
        let p0 = store
            .get_pipeline("p0", None)
            .await
            .expect("get")
            .expect("exists");
        let too_many: Vec<Tag> = (0..5)
            .map(|i| Tag {
                key: format!("k{i}"),
                value: "v".into(),
            })
            .collect();
        let (a, b) = tokio::join!(
            store.tag_resource(&p0.arn, &too_many, 3),
            store.delete_pipeline("p1")
        );
        assert!(matches!(a, Err(Error::LimitExceeded(_))));
        assert!(b.expect("delete"));
        assert_eq!(store.tags(&p0.arn).await.expect("tags").len(), 1);
        assert!(store.get_pipeline("p1", None).await.expect("get").is_none());
        store.close().await;
    }

    #[tokio::test]
    async fn a_schema_newer_than_the_binary_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sluice.db");
        let store = SqliteStore::open(&path).await.expect("open");
        store
            .write(|conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES (?, 0)")
                        .bind(SCHEMA_VERSION + 1)
                        .execute(&mut *conn)
                        .await
                        .map(|_| ())
                        .map_err(backend)
                })
            })
            .await
            .expect("insert");
        store.close().await;
        let err = SqliteStore::open(&path).await.err().expect("refused");
        assert!(matches!(err, Error::SchemaTooNew { .. }), "{err}");
    }

    #[tokio::test]
    async fn reopening_keeps_what_was_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sluice.db");
        let store = SqliteStore::open(&path).await.expect("open");
        let new = sluice_store::conformance::sample_pipeline("Durable");
        store.create_pipeline(&new, 10).await.expect("create");
        drop(store);
        let store = SqliteStore::open(&path).await.expect("reopen");
        assert!(store
            .get_pipeline("Durable", None)
            .await
            .expect("get")
            .is_some());
    }
}
