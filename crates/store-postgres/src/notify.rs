//! Changes other servers commit, told with `NOTIFY` on the channel `sluice` in the transaction
//! that commits them (so a notification is delivered only once its change is visible), and
//! heard by each server's one `LISTEN` connection. A notification names its origin, so a server
//! does not wake itself for its own change. The listener reconnects after losing its
//! connection; what was committed meanwhile is found by the polls that remain the fallback.

use crate::{PgStore, Tx};
use sluice_store::{ActionTypeKey, RemoteChange, RemoteChangeListener};
use sqlx::PgConnection;
use std::time::Duration;

const CHANNEL: &str = "sluice";

/// A name for this store's notifications, unique among the servers on the database.
pub(crate) fn origin() -> String {
    // The time as well as random bytes: should randomness fail, two servers still differ
    // (a clash would only cost them each other's wake-ups, never a change).
    let mut nonce = [0u8; 8];
    if let Err(e) = getrandom::fill(&mut nonce) {
        tracing::warn!(error = %e, "no randomness for the notification origin; the time alone tells servers apart");
    }
    let nonce = sluice_model::hex(&nonce);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}-{nonce}", std::process::id())
}

/// A change as its notification's payload says it (after the origin).
fn payload(change: &RemoteChange) -> String {
    match change {
        RemoteChange::JobsQueued(t) => format!(
            "jobs {}/{}/{}/{}",
            t.category, t.owner, t.provider, t.version
        ),
        RemoteChange::PipelineState => "state".into(),
        RemoteChange::Outbox => "outbox".into(),
    }
}

fn parse(text: &str) -> Option<RemoteChange> {
    match text.split_once(' ') {
        Some(("jobs", t)) => {
            let mut parts = t.splitn(4, '/');
            Some(RemoteChange::JobsQueued(ActionTypeKey {
                category: parts.next()?.into(),
                owner: parts.next()?.into(),
                provider: parts.next()?.into(),
                version: parts.next()?.into(),
            }))
        }
        None if text == "state" => Some(RemoteChange::PipelineState),
        None if text == "outbox" => Some(RemoteChange::Outbox),
        _ => None,
    }
}

impl PgStore {
    /// Tells the other servers about `changes` when the caller's transaction commits.
    pub(crate) async fn notify(&self, c: &mut PgConnection, changes: &[RemoteChange]) -> Tx<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let payloads: Vec<String> = changes
            .iter()
            .map(|change| format!("{} {}", self.origin, payload(change)))
            .collect();
        sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::TEXT[]) p")
            .bind(CHANNEL)
            .bind(&payloads)
            .execute(c)
            .await?;
        Ok(())
    }

    /// Starts the one `LISTEN` connection (needs a tokio runtime; without one, nothing).
    pub(crate) fn start_listening(&self, listener: RemoteChangeListener) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pool, origin) = (self.pool.clone(), self.origin.clone());
        runtime.spawn(async move {
            loop {
                let mut connection = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(connection) => connection,
                    Err(e) if pool.is_closed() => {
                        tracing::debug!(error = %e, "the store is closed; no longer listening");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other servers' changes failed; trying again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = connection.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "listening for other servers' changes failed; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                loop {
                    match connection.try_recv().await {
                        Ok(Some(notification)) => {
                            let Some((from, text)) = notification.payload().split_once(' ') else {
                                continue;
                            };
                            if from == origin.as_str() {
                                continue;
                            }
                            if let Some(change) = parse(text) {
                                listener(change);
                            }
                        }
                        // The connection was lost: whatever happened meanwhile is found by
                        // looking, so wake everyone once and listen again.
                        Ok(None) => {
                            listener(RemoteChange::PipelineState);
                            listener(RemoteChange::Outbox);
                        }
                        Err(e) => {
                            if pool.is_closed() {
                                return;
                            }
                            tracing::warn!(error = %e, "listening for other servers' changes failed; trying again");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_reads_back_from_its_payload() {
        for change in [
            RemoteChange::JobsQueued(ActionTypeKey {
                category: "Compute".into(),
                owner: "AWS".into(),
                provider: "Commands".into(),
                version: "1".into(),
            }),
            RemoteChange::PipelineState,
            RemoteChange::Outbox,
        ] {
            assert_eq!(parse(&payload(&change)), Some(change));
        }
        assert_eq!(parse("jobs Compute/AWS"), None);
        assert_eq!(parse("gossip"), None);
    }
}
