//! The database `sluice serve` runs on: SQLite in the data dir (the default), or PostgreSQL
//! at `--database-url` (`SLUICE_DATABASE_URL`, `database_url`).

use crate::config::ServeOptions;
use anyhow::{bail, Context, Result};
use sluice_store::Store;
use sluice_store_postgres::PgStore;
use sluice_store_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::Duration;

/// How long the leader lease lasts unless renewed (`[replicas] leader_lease_secs`); it is
/// renewed (or, by a server that does not lead, contended for) three times as often.
pub const DEFAULT_LEADER_LEASE_MS: i64 = 15_000;

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

    /// Names this server to a shared database and says it is alive: calls it records as
    /// pending are its own, completed by another server only once it stops heartbeating for
    /// `gone_after_ms`.
    pub async fn identify(&self, server_id: &str, gone_after_ms: i64) -> Result<()> {
        if let Self::Postgres(store) = self {
            store.identify(server_id, gone_after_ms);
            store.heartbeat().await?;
        }
        Ok(())
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
        let fingerprint = sluice_model::hex(&hash.finalize());
        let first = store.key_fingerprint_or_init(&fingerprint).await?;
        if first != fingerprint {
            bail!(
                "this database's secrets are sealed with other keys than this server's: start it with the same SLUICE_MASTER_KEY and SLUICE_TOKEN_KEY (or master.key and token.key) as the server that first used the database"
            );
        }
        Ok(())
    }

    /// Starts taking part in the election of the server that leads: on SQLite this server is
    /// the only one and always leads; on PostgreSQL it leads while it holds the leader lease,
    /// and tries to take it whenever it lapses.
    pub async fn lead(&self, server_id: &str, lease_ms: i64) -> Result<Leadership> {
        let Self::Postgres(store) = self else {
            let (_always, leading) = tokio::sync::watch::channel(true);
            return Ok(Leadership {
                leading,
                _always: Some(_always),
                task: None,
                store: None,
                holder: server_id.to_string(),
            });
        };
        let (leads, leading) = tokio::sync::watch::channel(false);
        let held = contend(store, server_id, lease_ms).await?;
        let _ = leads.send(held);
        let task = {
            let store = store.clone();
            let holder = server_id.to_string();
            tokio::spawn(async move {
                let every = Duration::from_millis((lease_ms / 3).max(100) as u64);
                let mut interval = tokio::time::interval(every);
                interval.tick().await;
                loop {
                    interval.tick().await;
                    if let Err(e) = store.heartbeat().await {
                        tracing::warn!(error = %e, "the heartbeat failed");
                    }
                    let leading = *leads.borrow();
                    let now_leading = if leading {
                        match store.renew_leader_lease(&holder, lease_ms).await {
                            Ok(renewed) => renewed,
                            Err(e) => {
                                // Unrenewed, the lease lapses in lease_ms; stop leading
                                // before another server may take over.
                                tracing::warn!(error = %e, "renewing the leader lease failed");
                                false
                            }
                        }
                    } else {
                        contend(&store, &holder, lease_ms).await.unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "contending for the leader lease failed");
                            false
                        })
                    };
                    if now_leading != leading {
                        if now_leading {
                            tracing::info!(holder, "this server leads now");
                        } else {
                            tracing::warn!(holder, "this server no longer leads");
                        }
                        let _ = leads.send(now_leading);
                    }
                }
            })
        };
        Ok(Leadership {
            leading,
            _always: None,
            task: Some(task),
            store: Some(store.clone()),
            holder: server_id.to_string(),
        })
    }
}

/// Tries to take the leader lease; true when this server holds it now. A holder that died on
/// this host (a server killed and started again) is replaced at once.
async fn contend(store: &PgStore, holder: &str, lease_ms: i64) -> Result<bool> {
    let host = hostname();
    let held = store.acquire_leader_lease(holder, lease_ms, None).await?;
    match held {
        None => Ok(true),
        Some(other) if died_here(&host, &other.holder) => {
            tracing::info!(
                holder = other.holder,
                "taking over the leader lease of a server that died on this host"
            );
            Ok(store
                .acquire_leader_lease(holder, lease_ms, Some(&other.holder))
                .await?
                .is_none())
        }
        Some(_) => Ok(false),
    }
}

/// Whether this server leads, as it changes.
pub struct Leadership {
    leading: tokio::sync::watch::Receiver<bool>,
    /// SQLite's constant answer, kept alive.
    _always: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
    store: Option<PgStore>,
    holder: String,
}

impl Leadership {
    pub fn watch(&self) -> tokio::sync::watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Stops contending and gives the lease up, so another server leads at once.
    pub async fn release(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(store) = self.store {
            if let Err(e) = store.release_leader_lease(&self.holder).await {
                tracing::warn!(error = %e, "releasing the leader lease failed; it lapses by itself");
            }
        }
    }
}

/// A name for this server process, unique among servers sharing a database: what leases name.
pub fn server_id() -> Result<String> {
    Ok(format!(
        "{}:{}:{:08x}",
        hostname(),
        std::process::id(),
        rand_u32()?
    ))
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
