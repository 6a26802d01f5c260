//! The leader lease and the key fingerprint.
//!
//! Servers that share the database elect one of them to run what must run once: timers, the
//! outbox's deliveries, source polling, sweeps. The leader holds the lease row and renews it;
//! when it stops renewing (it died), another server takes the lease once it lapses. Times are
//! the database's clock, so servers on machines whose clocks differ agree on when a lease
//! lapses. (A row, not a session advisory lock, so connection poolers are no trouble.)
//!
//! The fingerprint is of the keys the database's secrets are sealed with.

use crate::{backend, serializable, PgStore};
use sluice_store::Result;
use sqlx::Row;

/// Another server holds the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHeld {
    pub holder: String,
    /// Milliseconds until it lapses unless renewed.
    pub lapses_in_ms: i64,
}

const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

impl PgStore {
    /// Takes the lease for `holder` for `ttl_ms` if it is free, lapsed, already the holder's,
    /// or held by `replacing` (a holder the caller knows is dead); otherwise says who holds
    /// it.
    pub async fn acquire_leader_lease(
        &self,
        holder: &str,
        ttl_ms: i64,
        replacing: Option<&str>,
    ) -> Result<Option<LeaseHeld>> {
        serializable!(self, |tx| {
            let current = sqlx::query(&format!(
                "SELECT holder, until_ms - {NOW_MS} FROM leader_lease WHERE id = 1"
            ))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = current {
                let (other, lapses_in_ms): (String, i64) = (row.get(0), row.get(1));
                if other != holder && lapses_in_ms > 0 && Some(other.as_str()) != replacing {
                    return Ok(Some(LeaseHeld {
                        holder: other,
                        lapses_in_ms,
                    }));
                }
            }
            sqlx::query(&format!(
                "INSERT INTO leader_lease (id, holder, until_ms) VALUES (1, $1, {NOW_MS} + $2)
                 ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, until_ms = EXCLUDED.until_ms"
            ))
            .bind(holder)
            .bind(ttl_ms)
            .execute(&mut *tx)
            .await?;
            Ok(None)
        })
    }

    /// Extends the holder's lease; false when it is no longer the holder's (it lapsed and
    /// another server took it).
    pub async fn renew_leader_lease(&self, holder: &str, ttl_ms: i64) -> Result<bool> {
        let renewed = sqlx::query(&format!(
            "UPDATE leader_lease SET until_ms = {NOW_MS} + $2 WHERE id = 1 AND holder = $1"
        ))
        .bind(holder)
        .bind(ttl_ms)
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(renewed > 0)
    }

    /// Gives the lease up, so the next server starts at once.
    pub async fn release_leader_lease(&self, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leader_lease WHERE id = 1 AND holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

impl PgStore {
    /// The fingerprint of the keys the database was first used with, storing `fingerprint`
    /// if there is none yet; whichever was stored first wins.
    pub async fn key_fingerprint_or_init(&self, fingerprint: &str) -> Result<String> {
        serializable!(self, |tx| {
            sqlx::query(
                "INSERT INTO key_fingerprint (id, fingerprint) VALUES (1, $1) ON CONFLICT DO NOTHING",
            )
            .bind(fingerprint)
            .execute(&mut *tx)
            .await?;
            Ok(
                sqlx::query("SELECT fingerprint FROM key_fingerprint WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0),
            )
        })
    }
}

impl PgStore {
    /// Names the server this store serves (once): its pending audit records carry the name,
    /// and only a server that has not heartbeat for `gone_after_ms` has its records completed
    /// by another. Without a name, every pending record is taken to be from a stopped server.
    pub fn identify(&self, server: &str, gone_after_ms: i64) {
        let _ = self.identity.set((server.to_string(), gone_after_ms));
    }

    /// Says this server is alive; done well within its `gone_after_ms`.
    pub async fn heartbeat(&self) -> Result<()> {
        let Some((server, gone_after_ms)) = self.identity.get() else {
            return Ok(());
        };
        sqlx::query(&format!(
            "INSERT INTO servers (id, seen_ms) VALUES ($1, {NOW_MS})
             ON CONFLICT (id) DO UPDATE SET seen_ms = EXCLUDED.seen_ms"
        ))
        .bind(server)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        // Servers long gone are forgotten (their pending records are someone else's by now).
        sqlx::query(&format!(
            "DELETE FROM servers WHERE seen_ms < {NOW_MS} - 100 * $1::BIGINT"
        ))
        .bind(gone_after_ms)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}
