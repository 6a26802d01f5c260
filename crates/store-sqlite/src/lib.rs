//! The embedded SQLite backend of `sluice-store`: one file in the data dir, WAL journal,
//! `synchronous=FULL`, numbered migrations applied at open.
//!
//! Writes go to one writer thread that owns the only write connection and commits them in
//! batches (`writer.rs`, `write_ops.rs`); reads use a separate read-only pool.

mod audit;
mod connections;
mod deploy;
mod functions;
mod iam;
mod keys;
mod migrations;
mod notifications;
mod objects;
mod readers;
mod repositories;
mod rows;
mod runs;
mod webhooks;
mod write_ops;
mod writer;

use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sluice_store::from_row::{self, ACCESS_KEY_COLUMNS};
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
/// Pages read through a memory map rather than `read` calls. Every commit ends the page
/// caches of the other connections, so without it each read transaction copies its pages
/// from the kernel again; mapped, it reads them in place.
pub(crate) const MMAP_PRAGMA: &str = "PRAGMA mmap_size = 268435456;";
/// How long a statement waits for a lock before failing.
pub(crate) const BUSY_TIMEOUT_SECS: u64 = 10;

/// A store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) reader: SqlitePool,
    /// Connections for the point reads served on the caller's thread (`readers.rs`).
    pub(crate) readers: std::sync::Arc<readers::Readers>,
    /// Write operations for the writer thread; `close` sends `Close` and joins it.
    pub(crate) ops: tokio::sync::mpsc::Sender<writer::Message>,
    /// The writer thread, owned here and joined by `close`.
    writer_thread: std::sync::Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// Queued audit events, appended together by one writer operation.
    pub(crate) audit_buffer: std::sync::Arc<std::sync::Mutex<audit::Buffer>>,
    /// The audit chain's key, set once by whoever builds the service over this store.
    pub(crate) chain_key: std::sync::Arc<std::sync::OnceLock<sluice_store::ChainKey>>,
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
            // A pooled SQLite connection is a file handle on a worker thread: pinging it
            // before every query costs a thread round trip and finds nothing to repair.
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(backend)?;
        // Migrations ran on the sqlx connection; from here on the writer thread owns writes.
        writer.close().await;
        let connection = rusqlite::Connection::open(path).map_err(write_ops::db)?;
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = {}; {MMAP_PRAGMA}",
                BUSY_TIMEOUT_SECS * 1000
            ))
            .map_err(write_ops::db)?;
        write_ops::fill_source_index(&connection)?;
        let (ops, queue) = tokio::sync::mpsc::channel(writer::QUEUE_BOUND);
        let queued = audit::Queued {
            buffer: Default::default(),
            chain_key: Default::default(),
        };
        let writer_queued = queued.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-sqlite-writer".into())
            .spawn(move || writer::run(connection, queue, writer_queued))
            .map_err(|e| Error::Backend(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            reader,
            readers: std::sync::Arc::new(readers::Readers::new(path.to_path_buf())),
            ops,
            writer_thread: std::sync::Arc::new(std::sync::Mutex::new(Some(thread))),
            audit_buffer: queued.buffer,
            chain_key: queued.chain_key,
        })
    }

    /// Writes a consistent copy of the database at `db` to `dest` while servers may be using
    /// it (`VACUUM INTO`: one read transaction, so the copy is one committed state).
    pub fn backup(db: &Path, dest: &Path) -> Result<()> {
        let connection =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(write_ops::db)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(BUSY_TIMEOUT_SECS))
            .map_err(write_ops::db)?;
        let dest = dest
            .to_str()
            .ok_or_else(|| Error::Backend("the backup path is not UTF-8".into()))?;
        connection
            .execute("VACUUM INTO ?", [dest])
            .map_err(write_ops::db)?;
        Ok(())
    }

    /// Finishes queued writes, stops the writer and closes the read pool.
    pub async fn close(&self) {
        let _ = self.ops.send(writer::Message::Close).await;
        let thread = self.writer_thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.reader.close().await;
    }

    /// Runs `f` on the write connection inside the writer's next batch and returns its result
    /// once that batch is committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        let (op, answer) = writer::op(f);
        self.ops
            .send(writer::Message::Op(op))
            .await
            .map_err(writer::closed)?;
        answer.await.map_err(writer::closed)?
    }
}

#[async_trait]
impl PipelineStore for SqliteStore {
    async fn create_pipeline(&self, new: &NewPipeline, max_pipelines: usize) -> Result<()> {
        let new = new.clone();
        self.write(move |c| write_ops::create_pipeline(c, &new, max_pipelines))
            .await
    }

    async fn get_pipeline(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<PipelineRecord>> {
        let row = self.readers.read(|c| {
            c.prepare_cached(
                "SELECT p.name, p.arn, v.version, v.declaration, p.created_ms, v.written_ms
                 FROM pipelines p JOIN pipeline_versions v ON v.name = p.name
                 WHERE p.name = ? AND v.version = COALESCE(?, p.version)",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(rusqlite::params![name, version], rows::pipeline)
                    .optional()
            })
            .map_err(write_ops::db)
        })?;
        row.map(rows::PipelineRow::into_record).transpose()
    }

    async fn update_pipeline(
        &self,
        name: &str,
        expected_version: i64,
        declaration: &DeclarationDoc,
        buckets: &[sluice_store::BucketRecord],
        updated_ms: i64,
    ) -> Result<PipelineRecord> {
        let (name, declaration, buckets) =
            (name.to_string(), declaration.clone(), buckets.to_vec());
        self.write(move |c| {
            let record =
                write_ops::update_pipeline(c, &name, expected_version, &declaration, updated_ms)?;
            write_ops::claim_artifact_buckets(c, &buckets)?;
            Ok(record)
        })
        .await
    }

    async fn delete_pipeline(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| write_ops::delete_pipeline(c, &name))
            .await
    }

    async fn list_pipelines(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PipelineSummary>> {
        self.readers.read(|c| {
            c.prepare_cached(
                "SELECT name, version, created_ms, updated_ms, execution_mode, pipeline_type FROM pipelines
                 WHERE name > ?1 ORDER BY name LIMIT ?2",
            )
            .and_then(|mut statement| {
                // Every name follows "", and `name > ?` seeks to the page (where `?1 IS NULL OR`
                // read every name before it).
                let after = after.unwrap_or("");
                statement
                    .query_map(rusqlite::params![after, limit as i64], rows::summary)?
                    .collect()
            })
            .map_err(write_ops::db)
        })
    }

    async fn set_transition(&self, t: &TransitionRecord) -> Result<()> {
        let t = t.clone();
        self.write(move |c| write_ops::set_transition(c, &t)).await
    }

    async fn sources_at(
        &self,
        provider: &str,
        location: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        // Two statements, not `(? IS NULL OR location = ?)`: the planner cannot seek on a
        // location it may have to ignore, and read every source of the provider for each PUT.
        let rows = match location {
            Some(location) => sqlx::query(
                "SELECT pipeline, action FROM source_index
                 WHERE provider = ? AND location = ? ORDER BY pipeline, action",
            )
            .bind(provider)
            .bind(location),
            None => sqlx::query(
                "SELECT pipeline, action FROM source_index WHERE provider = ? ORDER BY pipeline, action",
            )
            .bind(provider),
        }
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn transitions(&self, pipeline: &str) -> Result<Vec<TransitionRecord>> {
        let rows = self.readers.read(|c| {
            c.prepare_cached(
                "SELECT pipeline, stage, direction, enabled, reason, changed_by, changed_ms FROM transitions WHERE pipeline = ?",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([pipeline], rows::transition)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(write_ops::db)
        })?;
        rows.into_iter().map(rows::with_direction).collect()
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
        let (new, tags) = (new.clone(), tags.to_vec());
        self.write(move |c| write_ops::create_action_type(c, &new, &tags, max_types))
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
        self.write(move |c| write_ops::delete_action_type(c, &k))
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
        let (arn, tags) = (resource_arn.to_string(), tags.to_vec());
        self.write(move |c| write_ops::tag_resource(c, &arn, &tags, max_tags))
            .await
    }

    async fn untag_resource(&self, resource_arn: &str, keys: &[String]) -> Result<()> {
        let (arn, keys) = (resource_arn.to_string(), keys.to_vec());
        self.write(move |c| write_ops::untag_resource(c, &arn, &keys))
            .await
    }
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn ensure_access_key(&self, key: &AccessKeyRecord) -> Result<AccessKeyRecord> {
        let key = key.clone();
        self.write(move |c| write_ops::ensure_access_key(c, &key))
            .await
    }

    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?"
        ))
        .bind(access_key_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::access_key))
    }

    async fn create_access_key(
        &self,
        key: &AccessKeyRecord,
        max_per_principal: usize,
    ) -> Result<()> {
        let key = key.clone();
        self.write(move |c| {
            let count: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM access_keys WHERE principal_arn = ?",
                    [&key.principal_arn],
                    |r| r.get(0),
                )
                .map_err(write_ops::db)?;
            if count as usize >= max_per_principal {
                return Err(Error::LimitExceeded(format!(
                    "Cannot exceed quota for AccessKeysPerUser: {max_per_principal}"
                )));
            }
            c.execute(
                &format!("INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
                rusqlite::params![
                    key.access_key_id,
                    key.secret_access_key.expose(),
                    key.principal_arn,
                    key.created_ms,
                    key.status
                ],
            )
            .map_err(write_ops::db)?;
            Ok(())
        })
        .await
    }

    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE principal_arn = ? ORDER BY created_ms, access_key_id"
        ))
        .bind(principal_arn)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::access_key).collect())
    }

    async fn set_access_key_status(&self, access_key_id: &str, status: &str) -> Result<bool> {
        let (id, status) = (access_key_id.to_string(), status.to_string());
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE access_keys SET status = ? WHERE access_key_id = ?",
                [&status, &id],
            )
            .map_err(write_ops::db)?
                > 0)
        })
        .await
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool> {
        let id = access_key_id.to_string();
        self.write(move |c| {
            Ok(
                c.execute("DELETE FROM access_keys WHERE access_key_id = ?", [&id])
                    .map_err(write_ops::db)?
                    > 0,
            )
        })
        .await
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

    #[tokio::test]
    async fn pipelines_from_before_the_source_index_are_indexed_when_it_is_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sluice.db");
        let store = SqliteStore::open(&path).await.expect("open");
        let mut new = sluice_store::conformance::sample_pipeline("old");
        let repo: &[(&str, &str)] = &[("RepositoryName", "app"), ("BranchName", "main")];
        new.declaration = sluice_store::conformance::with_sources("old", &[("CodeCommit", repo)]);
        store.create_pipeline(&new, 10).await.expect("create");
        store.close().await;
        // As a database migrated from before the index: rows missing, the fill pending.
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch(
            "DELETE FROM source_index; INSERT INTO source_index_backfill (pending) VALUES (1);",
        )
        .expect("unindex");
        drop(c);
        let store = SqliteStore::open(&path).await.expect("reopen");
        assert_eq!(
            store
                .sources_at("CodeCommit", Some("app"))
                .await
                .expect("index"),
            [("old".to_string(), "Src0".to_string())]
        );
        store.close().await;
    }

    fn read_event(id: &str) -> sluice_store::NewAuditEvent {
        sluice_store::NewAuditEvent {
            event_id: id.into(),
            event_time_ms: 1_000,
            event_name: "GetPipeline".into(),
            event_source: "codepipeline.amazonaws.com".into(),
            username: Some("root".into()),
            access_key_id: None,
            read_only: true,
            resources: vec![],
            document: format!(r#"{{"eventID":"{id}"}}"#),
        }
    }

    #[tokio::test]
    async fn queued_audit_events_are_committed_with_no_later_write_and_at_close_and_a_duplicate_fails_none_of_them(
    ) {
        use sluice_store::AuditStore;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sluice.db");
        let store = SqliteStore::open(&path).await.expect("open");
        store.set_chain_key(sluice_store::ChainKey([7; 32]));
        store
            .queue_audit_events(&[read_event("first")], &[])
            .await
            .expect("queue");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.audit_chain(0, 10).await.expect("chain").is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "a queued event was never committed"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Queued just before the store closes: closing commits it. An event already chained,
        // queued with it, is skipped without costing it its place.
        store
            .queue_audit_events(&[read_event("first"), read_event("last")], &[])
            .await
            .expect("queue");
        store.close().await;
        let store = SqliteStore::open(&path).await.expect("reopen");
        let chain = store.audit_chain(0, 10).await.expect("chain");
        let ids: Vec<_> = chain.iter().map(|e| e.event.event_id.as_str()).collect();
        assert_eq!(ids, ["first", "last"]);
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
            .write(|c| {
                c.execute(
                    "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, 0)",
                    [SCHEMA_VERSION + 1],
                )
                .map(|_| ())
                .map_err(write_ops::db)
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
