//! Numbered migrations, applied in order at connect, each in one transaction that holds a
//! transaction-scoped advisory lock: servers starting together apply each one once, and the
//! lock goes with the transaction (so connection poolers are no trouble). A database whose
//! schema is newer than the last migration this binary knows is refused.

use crate::backend;
use sluice_store::{Error, Result};
use sqlx::{PgPool, Row};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_schema.sql")),
    (2, include_str!("../migrations/0002_open_jobs_order.sql")),
    (3, include_str!("../migrations/0003_live_job_leases.sql")),
    (4, include_str!("../migrations/0004_listing_pages.sql")),
    (
        5,
        include_str!("../migrations/0005_repository_snapshots.sql"),
    ),
    (
        6,
        include_str!("../migrations/0006_audit_lookups_newest_first.sql"),
    ),
];

/// The schema version this binary brings a database to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock's key: "sluice" in ASCII.
const MIGRATION_LOCK: i64 = 0x736c_7569_6365;

/// Applies the migrations the database lacks.
pub async fn run(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let fresh: bool = sqlx::query("SELECT to_regclass('schema_migrations') IS NULL")
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?
        .get(0);
    if fresh {
        sqlx::query(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, applied_ms)
             VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)",
        )
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tracing::info!(version, "applied migration");
    }
    tx.commit().await.map_err(backend)
}
