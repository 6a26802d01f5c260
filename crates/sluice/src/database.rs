//! The database `sluice serve` runs on: SQLite in the data dir (the default), or PostgreSQL
//! at `--database-url` (`SLUICE_DATABASE_URL`, `database_url`).

use crate::config::ServeOptions;
use anyhow::{bail, Context, Result};
use sluice_store::Store;
use sluice_store_postgres::PgStore;
use sluice_store_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::Duration;

/// How long the server lease lasts unless renewed, and how often it is renewed.
const LEASE_TTL_MS: i64 = 15_000;
const LEASE_RENEWAL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The URL with its password left out, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Database {
    pub async fn open(options: &ServeOptions) -> Result<Self> {
        match &options.database_url {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    bail!(
                        "the database URL {} is not a PostgreSQL URL (postgres://USER@HOST:PORT/DB); leave it unset for SQLite in the data dir",
                        redacted(url)
                    );
                }
                let store = PgStore::connect(url)
                    .await
                    .with_context(|| format!("opening the database {}", redacted(url)))?;
                Ok(Self::Postgres(store))
            }
            None => {
                let db = options.data_dir.join("sluice.db");
                let store = SqliteStore::open(&db)
                    .await
                    .with_context(|| format!("opening the database {}", db.display()))?;
                Ok(Self::Sqlite(store))
            }
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// What the logs call it.
    pub fn describe(&self, options: &ServeOptions) -> String {
        match (self, &options.database_url) {
            (Self::Postgres(_), Some(url)) => redacted(url),
            _ => options.data_dir.join("sluice.db").display().to_string(),
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }

    /// Refuses keys other than those a shared database was first used with: its sealed
    /// secrets, tokens and audit chain are only readable with those. (SQLite's keys live in
    /// its own data dir beside it.)
    pub async fn check_keys(&self, master_key: &[u8], token_key: &[u8]) -> Result<()> {
        let Self::Postgres(store) = self else {
            return Ok(());
        };
        use sha2::Digest;
        // A one-way hash of keys of 256 random bits: it tells keys apart and reveals nothing.
        let mut hash = sha2::Sha256::new();
        hash.update(b"sluice key fingerprint\n");
        hash.update(master_key);
        hash.update(b"\n");
        hash.update(token_key);
        let fingerprint: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let first = store.key_fingerprint_or_init(&fingerprint).await?;
        if first != fingerprint {
            bail!(
                "this database's secrets are sealed with other keys than this server's: start it with the same SLUICE_MASTER_KEY and SLUICE_TOKEN_KEY (or master.key and token.key) as the server that first used the database"
            );
        }
        Ok(())
    }

    /// Takes the server lease of a shared database, or says which server holds it; the
    /// returned keeper renews it until it is released, and reports when it is lost.
    pub async fn hold_lease(&self) -> Result<Option<LeaseKeeper>> {
        let Self::Postgres(store) = self else {
            return Ok(None);
        };
        let host = hostname();
        let holder = format!("{host}:{}:{:08x}", std::process::id(), rand_u32()?);
        let mut held = store
            .acquire_server_lease(&holder, LEASE_TTL_MS, None)
            .await?;
        if let Some(dead) = held.as_ref().filter(|h| died_here(&host, &h.holder)) {
            // The server before this one on this machine was killed: no need to wait for
            // its lease to lapse.
            tracing::info!(
                holder = dead.holder,
                "taking over the lease of a server that died on this host"
            );
            let dead = dead.holder.clone();
            held = store
                .acquire_server_lease(&holder, LEASE_TTL_MS, Some(&dead))
                .await?;
        }
        if let Some(held) = held {
            bail!(
                "another sluice serve ({}) runs on this database; running several servers on one database (replicas) is not built yet. If that server is gone, its lease lapses in {} s",
                held.holder,
                (held.lapses_in_ms + 999) / 1000
            );
        }
        let (lost_tx, lost) = tokio::sync::watch::channel(false);
        let renewing = {
            let store = store.clone();
            let holder = holder.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(LEASE_RENEWAL);
                interval.tick().await;
                loop {
                    interval.tick().await;
                    match store.renew_server_lease(&holder, LEASE_TTL_MS).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(
                                holder,
                                "the server lease was lost to another server; stopping"
                            );
                            let _ = lost_tx.send(true);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "renewing the server lease failed; trying again")
                        }
                    }
                }
            })
        };
        tracing::info!(holder, "holding the server lease");
        Ok(Some(LeaseKeeper {
            store: store.clone(),
            holder,
            renewing,
            lost,
        }))
    }
}

/// Renews the server lease while the server runs.
pub struct LeaseKeeper {
    store: PgStore,
    holder: String,
    renewing: tokio::task::JoinHandle<()>,
    lost: tokio::sync::watch::Receiver<bool>,
}

impl LeaseKeeper {
    /// Resolves when the lease is lost (another server took it after it lapsed).
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            let _ = lost.wait_for(|lost| *lost).await;
        }
    }

    /// Stops renewing and gives the lease up, so the next server may start at once.
    pub async fn release(self) {
        self.renewing.abort();
        if let Err(e) = self.store.release_server_lease(&self.holder).await {
            tracing::warn!(error = %e, "releasing the server lease failed; it lapses by itself");
        }
    }
}

/// Whether `holder` (`HOST:PID:NONCE`) names a process of this host that no longer runs.
fn died_here(host: &str, holder: &str) -> bool {
    let mut parts = holder.rsplitn(3, ':');
    let (_nonce, pid, holder_host) = (parts.next(), parts.next(), parts.next());
    match (holder_host, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(holder_host), Some(pid)) if holder_host == host => {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

fn rand_u32() -> Result<u32> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(u32::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_holder_of_this_host_whose_process_is_gone_counts_as_dead() {
        let host = hostname();
        let alive = format!("{host}:{}:00000001", std::process::id());
        assert!(!died_here(&host, &alive), "this very process");
        assert!(died_here(&host, &format!("{host}:4000000000:00000001")));
        assert!(!died_here(&host, "elsewhere:4000000000:00000001"));
        assert!(!died_here(&host, "garbage"));
    }

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            redacted("postgres://sluice:hunter2@db:5432/sluice"),
            "postgres://sluice:****@db:5432/sluice"
        );
        assert_eq!(
            redacted("postgres://root@127.0.0.1/sluice"),
            "postgres://root@127.0.0.1/sluice"
        );
    }
}
