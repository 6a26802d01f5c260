//! The PostgreSQL backend of `sluice-store`, for servers that share one database: numbered
//! migrations applied at connect, every write one transaction.
//!
//! Writes run at `SERIALIZABLE` and are retried when PostgreSQL reports a serialization
//! failure or a deadlock, so a check-then-write (a name in use, a limit) holds exactly as it
//! does on SQLite's single writer, whatever other connections or servers do meanwhile. The
//! busiest writes are built differently, at `READ COMMITTED` with the locks they need, so that
//! unrelated writes never abort each other: engine steps lock their pipeline's runtime row,
//! pipeline creation takes a transaction-scoped lock of its own (names and the limit are
//! checked one creation at a time), job claims lock rows with `FOR UPDATE SKIP LOCKED`
//! (pollers never wait for each other), and audit appends lock the chain's head row and are
//! committed in groups (`audit.rs`).

mod audit;
mod deploy;
mod iam;
mod lease;
mod migrations;
mod notifications;
mod notify;
mod objects;
mod pipelines;
mod resources;
mod runs;

use sluice_store::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub use lease::LeaseHeld;
pub use migrations::SCHEMA_VERSION;

/// How many connections one server keeps to the database.
const POOL_SIZE: u32 = 16;
/// How often a write that lost a serialization race is tried again before giving up.
const MAX_ATTEMPTS: u32 = 40;

/// A store in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// The audit chain's key, set once by whoever builds the service over this store.
    pub(crate) chain_key: std::sync::Arc<std::sync::OnceLock<sluice_store::ChainKey>>,
    /// Audit events waiting to be appended by the next group commit.
    pub(crate) audit: std::sync::Arc<audit::GroupCommit>,
    /// Which server this is, and after how long without a heartbeat a server counts as gone.
    pub(crate) identity: std::sync::Arc<std::sync::OnceLock<(String, i64)>>,
    /// What this store's notifications are signed with, so it skips its own.
    pub(crate) origin: std::sync::Arc<String>,
}

pub(crate) fn backend(e: sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}

/// Why a transaction's body stopped: a store answer (a name in use, a conflict) or a
/// database error, which may only mean another transaction won a race.
pub(crate) enum Fail {
    Store(Error),
    Db(sqlx::Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Self::Store(e)
    }
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// What a transaction's body returns.
pub(crate) type Tx<T> = std::result::Result<T, Fail>;

/// Serialization failures and deadlocks (and a unique key another transaction took first,
/// which a retry reports as the store's own answer): running the body again decides it.
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("40001") | Some("40P01") | Some("23505")
        ),
        _ => false,
    }
}

/// How isolated a transaction is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Isolation {
    Serializable,
    /// For writes that take row locks and read what they locked (claims, audit appends).
    ReadCommitted,
}

/// Runs `$body` (an expression of type `Tx<T>` that uses `$tx`) in a transaction, again
/// while it loses races, and evaluates to the `Result<T>` of its last run.
macro_rules! transaction {
    ($store:expr, $isolation:expr, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            let mut $tx = $store.begin($isolation).await?;
            let outcome: $crate::Tx<_> = async { $body }.await;
            match $crate::settle($tx, outcome, &mut attempt).await {
                Some(answer) => break answer,
                None => continue,
            }
        }
    }};
}
pub(crate) use transaction;

/// A write transaction at `SERIALIZABLE`, retried while it loses races.
macro_rules! serializable {
    ($store:expr, |$tx:ident| $body:expr) => {
        $crate::transaction!($store, $crate::Isolation::Serializable, |$tx| $body)
    };
}
pub(crate) use serializable;

/// Commits a body's success; for a failure that only lost a race, waits a little and says
/// to run it again (`None`).
pub(crate) async fn settle<T>(
    tx: Transaction<'static, Postgres>,
    outcome: Tx<T>,
    attempt: &mut u32,
) -> Option<Result<T>> {
    let failure = match outcome {
        Ok(value) => match tx.commit().await {
            Ok(()) => return Some(Ok(value)),
            Err(e) => Fail::Db(e),
        },
        Err(f) => {
            let _ = tx.rollback().await;
            f
        }
    };
    match failure {
        Fail::Store(e) => Some(Err(e)),
        Fail::Db(e) if retryable(&e) && *attempt < MAX_ATTEMPTS => {
            *attempt += 1;
            tokio::time::sleep(backoff(*attempt)).await;
            None
        }
        Fail::Db(e) => Some(Err(backend(e))),
    }
}

/// A short wait that grows with the attempts and differs between racers, so the same
/// transactions do not collide again in lockstep.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let ceiling_us = 500u64 << attempt.min(6);
    Duration::from_micros(hasher.finish() % ceiling_us)
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings its
    /// schema up to date; servers starting together apply each migration once.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Backend(format!("the database URL is not valid: {e}")))?
            .application_name("sluice");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(30))
            // Every statement here is a short one; JIT compiling only ever adds to it, and it
            // starts whenever an estimate passes `jit_above_cost`, as a scan of a table that
            // dead rows have bloated does (a server's start read its few pending audit
            // records in 22 ms instead of 2, growing with the calls ever made, where
            // autovacuum is off). Nor does one want parallel workers: launching them took
            // 3.6 ms of a LookupEvents page that reads 51 rows. Plain SETs, so a transaction
            // pooler passes them.
            .after_connect(|connection, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *connection, "SET jit = off").await?;
                    sqlx::Executor::execute(
                        &mut *connection,
                        "SET max_parallel_workers_per_gather = 0",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(backend)?;
        migrations::run(&pool).await?;
        Ok(Self {
            pool,
            chain_key: Default::default(),
            audit: Default::default(),
            identity: Default::default(),
            origin: std::sync::Arc::new(notify::origin()),
        })
    }

    /// Closes the pool once every connection is returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn begin(
        &self,
        isolation: Isolation,
    ) -> Result<Transaction<'static, Postgres>> {
        let begin = match isolation {
            Isolation::Serializable => "BEGIN ISOLATION LEVEL SERIALIZABLE",
            Isolation::ReadCommitted => "BEGIN ISOLATION LEVEL READ COMMITTED",
        };
        self.pool.begin_with(begin).await.map_err(backend)
    }

    /// Runs one statement as a write of its own; how many rows it touched.
    pub(crate) async fn execute(&self, sql: &str, binds: &[Bind<'_>]) -> Result<u64> {
        serializable!(self, |tx| {
            let mut query = sqlx::query(sql);
            for b in binds {
                query = b.bind(query);
            }
            Ok(query.execute(&mut *tx).await?.rows_affected())
        })
    }
}

/// A value bound to a statement built at run time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
}

impl<'a> Bind<'a> {
    pub(crate) fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>
    where
        'a: 'q,
    {
        match self {
            Bind::Int(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
            Bind::OptText(v) => query.bind(v),
        }
    }
}

/// `LimitExceeded` unless `count` is below `max`.
pub(crate) fn below_limit(count: i64, max: usize, what: impl FnOnce() -> String) -> Tx<()> {
    if count as usize >= max {
        return Err(Fail::Store(Error::LimitExceeded(what())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The pool's statements are short ones: none of its connections JIT-compiles one or
    /// starts parallel workers for one.
    #[tokio::test]
    async fn no_connection_jit_compiles_or_parallelizes_a_statement() {
        let db = sluice_test_utils::ScratchDatabase::new().await;
        let store = super::PgStore::connect(&db.url).await.expect("connect");
        let mut connections = Vec::new();
        for _ in 0..3 {
            connections.push(store.pool.acquire().await.expect("a connection"));
        }
        for connection in &mut connections {
            let jit: String = sqlx::query_scalar("SHOW jit")
                .fetch_one(&mut **connection)
                .await
                .expect("show");
            assert_eq!(jit, "off");
            let workers: String = sqlx::query_scalar("SHOW max_parallel_workers_per_gather")
                .fetch_one(&mut **connection)
                .await
                .expect("show");
            assert_eq!(workers, "0");
        }
        drop(connections);
        store.close().await;
    }
}
