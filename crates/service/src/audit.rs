//! The audit trail: the API layer describes each call as a CloudTrail event; the service
//! appends it to the hash chain, answers lookups, and checks the chain end to end.

use crate::{Result, Sluice};
use sluice_store::{audit_hash, AuditEventRecord, AuditQuery, NewAuditEvent, GENESIS_HASH};

/// What `verify_audit_chain` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every link holds.
    Intact { events: u64, last_hash: String },
    /// The first event whose link does not hold, and why.
    Broken {
        seq: i64,
        event_id: String,
        reason: String,
    },
}

/// Events read per round trip while verifying.
const VERIFY_BATCH: usize = 1_000;

impl Sluice {
    /// Appends events to the chain; returns after they are durable.
    pub async fn record_audit(&self, events: &[NewAuditEvent]) -> Result<()> {
        self.store().append_audit_events(events).await?;
        Ok(())
    }

    pub async fn lookup_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEventRecord>> {
        Ok(self.store().lookup_audit_events(query).await?)
    }

    /// Walks the whole chain: each event must name the previous event's hash and hash to
    /// its own; a changed, removed or reordered event breaks a link.
    pub async fn verify_audit_chain(&self) -> Result<ChainCheck> {
        let mut prev = GENESIS_HASH.to_string();
        let mut after = 0;
        let mut events = 0u64;
        loop {
            let batch = self.store().audit_chain(after, VERIFY_BATCH).await?;
            if batch.is_empty() {
                return Ok(ChainCheck::Intact {
                    events,
                    last_hash: prev,
                });
            }
            for e in batch {
                let broken = |reason: String| ChainCheck::Broken {
                    seq: e.seq,
                    event_id: e.event.event_id.clone(),
                    reason,
                };
                if e.prev_hash != prev {
                    return Ok(broken(format!(
                        "it names {} as the previous hash, but the event before it hashes to {prev}",
                        e.prev_hash
                    )));
                }
                let computed = audit_hash(&prev, &e.event.document);
                if e.hash != computed {
                    return Ok(broken(format!(
                        "its content hashes to {computed}, not the stored {}",
                        e.hash
                    )));
                }
                prev = e.hash;
                after = e.seq;
                events += 1;
            }
        }
    }
}
