//! Numbered migrations, applied in order at open inside one transaction each. A database
//! whose schema is newer than the last migration this binary knows is refused.

use sluice_store::{Error, Result};
use sqlx::{Row, SqlitePool};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_runs.sql")),
    (3, include_str!("../migrations/0003_client_tokens.sql")),
    (4, include_str!("../migrations/0004_open_jobs_index.sql")),
    (5, include_str!("../migrations/0005_objects.sql")),
    (6, include_str!("../migrations/0006_webhooks.sql")),
    (7, include_str!("../migrations/0007_iam_audit.sql")),
    (8, include_str!("../migrations/0008_encryption.sql")),
    (9, include_str!("../migrations/0009_audit_pending.sql")),
    (10, include_str!("../migrations/0010_job_interruptions.sql")),
    (11, include_str!("../migrations/0011_connections.sql")),
    (12, include_str!("../migrations/0012_source_index.sql")),
    (13, include_str!("../migrations/0013_deploy.sql")),
    (14, include_str!("../migrations/0014_repositories.sql")),
    (
        15,
        include_str!("../migrations/0015_audit_lookup_indexes.sql"),
    ),
    (16, include_str!("../migrations/0016_notifications.sql")),
    (17, include_str!("../migrations/0017_functions.sql")),
    (18, include_str!("../migrations/0018_audit_checkpoint.sql")),
    (19, include_str!("../migrations/0019_job_leases.sql")),
    (20, include_str!("../migrations/0020_live_job_leases.sql")),
    (21, include_str!("../migrations/0021_listing_pages.sql")),
    (
        22,
        include_str!("../migrations/0022_repository_snapshots.sql"),
    ),
];

/// The schema version this binary brings a database to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

fn backend(e: sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}

/// Applies the migrations the database lacks.
pub async fn run(pool: &SqlitePool) -> Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL, applied_ms INTEGER NOT NULL)")
        .execute(pool)
        .await
        .map_err(backend)?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(pool)
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
        let mut tx = pool.begin().await.map_err(backend)?;
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES (?, strftime('%s','now') * 1000)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        tracing::info!(version, "applied migration");
    }
    Ok(())
}
