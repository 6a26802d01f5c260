//! The audit trail: the API layer describes each call as a CloudTrail event; the service
//! appends it to the hash chain, answers lookups, and checks the chain end to end.

use crate::{Result, Sluice};
use sluice_store::{
    audit_hash, AuditEventRecord, AuditQuery, ChainKey, NewAuditEvent, GENESIS_HASH,
};

/// The audit chain's key: derived from the master key (which never enters the database), so
/// rewriting the database and recomputing the links is detected by `verify_audit_chain`.
pub(crate) fn chain_key(master_key: &sluice_artifacts::crypto::Key) -> ChainKey {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&master_key.0)
        .expect("HMAC takes any key length");
    mac.update(b"sluice:audit-chain-key:v1");
    ChainKey(mac.finalize().into_bytes().into())
}

/// The newest event of the chain as a server saw it, with a MAC under the chain key; the
/// binary keeps it outside the database (`audit-anchor` in the data dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    pub seq: i64,
    pub hash: String,
    pub mac: String,
}

impl AuditAnchor {
    /// `seq hash mac`, one line.
    pub fn to_line(&self) -> String {
        format!("{} {} {}\n", self.seq, self.hash, self.mac)
    }

    pub fn from_line(line: &str) -> Option<Self> {
        let mut parts = line.split_whitespace();
        Some(Self {
            seq: parts.next()?.parse().ok()?,
            hash: parts.next()?.to_string(),
            mac: parts.next()?.to_string(),
        })
    }
}

/// What `verify_audit_chain` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every link holds: `events` were checked, after `pruned` removed by retention.
    Intact {
        events: u64,
        pruned: u64,
        last_hash: String,
    },
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
    /// Queues the events of calls that changed nothing (reads, refusals) for the chain; they
    /// are durable with the store's next commit (on SQLite within 10 ms), not always before
    /// the answer — a `kill -9` can lose the events of the last few reads, never a change's.
    pub async fn record_audit(&self, events: &[NewAuditEvent]) -> Result<()> {
        self.store().queue_audit_events(events, &[]).await?;
        Ok(())
    }

    /// Records a call that may change something before it acts (`event` with no answer yet),
    /// so a crash between the change and its event still leaves the call in the trail.
    pub async fn begin_audit(&self, event: &NewAuditEvent) -> Result<()> {
        self.store().put_pending_audit(event).await?;
        Ok(())
    }

    /// Queues the finished event, which retires its pending record in the same transaction.
    /// Until that commits the pending record stands for the call, so nothing is lost.
    pub async fn complete_audit(&self, event: &NewAuditEvent) -> Result<()> {
        self.store()
            .queue_audit_events(
                std::slice::from_ref(event),
                std::slice::from_ref(&event.event_id),
            )
            .await?;
        Ok(())
    }

    /// At start: calls recorded as pending whose answer never came (the server stopped) are
    /// chained as they were recorded, after `mark` (the API layer's wording) notes the
    /// interruption. Returns how many.
    pub async fn recover_pending_audit(&self, mark: impl Fn(&mut NewAuditEvent)) -> Result<usize> {
        let pending = self.store().pending_audits().await?;
        for mut event in pending.clone() {
            mark(&mut event);
            self.store()
                .append_audit_events(
                    std::slice::from_ref(&event),
                    std::slice::from_ref(&event.event_id),
                )
                .await?;
        }
        Ok(pending.len())
    }

    /// At start: a chain written before links were keyed is relinked under the key (only as
    /// far as its unkeyed links hold). Returns how many events were relinked.
    pub async fn key_legacy_audit_chain(&self) -> Result<u64> {
        Ok(self.store().key_legacy_chain().await?)
    }

    /// Waits until every event queued before the call is chained (at shutdown, before the last
    /// anchor is written).
    pub async fn flush_audit(&self) -> Result<()> {
        self.store().append_audit_events(&[], &[]).await?;
        Ok(())
    }

    /// Events matching the query; every event queued before the call is included (an empty
    /// durable append is the barrier).
    pub async fn lookup_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEventRecord>> {
        self.store().append_audit_events(&[], &[]).await?;
        Ok(self.store().lookup_audit_events(query).await?)
    }

    /// The newest chained event, `(seq, hash)`, and the anchor that vouches for it: a MAC under
    /// the chain key, for the binary to keep outside the database.
    pub async fn audit_anchor(&self) -> Result<Option<AuditAnchor>> {
        let newest = self
            .store()
            .lookup_audit_events(&AuditQuery {
                limit: 1,
                ..Default::default()
            })
            .await?;
        Ok(newest.first().map(|e| AuditAnchor {
            seq: e.seq,
            hash: e.hash.clone(),
            mac: self.anchor_mac(e.seq, &e.hash),
        }))
    }

    fn anchor_mac(&self, seq: i64, hash: &str) -> String {
        let key = chain_key(&self.options().master_key);
        sluice_store::audit_hash(&key, &format!("anchor:{seq}"), hash)
    }

    /// Whether `anchor` was written by a server with this master key.
    pub fn anchor_is_genuine(&self, anchor: &AuditAnchor) -> bool {
        let expected = self.anchor_mac(anchor.seq, &anchor.hash);
        expected.len() == anchor.mac.len()
            && expected
                .bytes()
                .zip(anchor.mac.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }

    /// Walks the whole chain: each event must name the previous event's hash and hash to
    /// its own; a changed, removed or reordered event breaks a link. With an `anchor` (the
    /// newest event a server saw chained, kept outside the database), the chain must still
    /// hold that event: removing events from its end is detected too.
    pub async fn verify_audit_chain(&self, anchor: Option<&AuditAnchor>) -> Result<ChainCheck> {
        let key = chain_key(&self.options().master_key);
        let mut anchored = anchor.is_none();
        let mut prev = GENESIS_HASH.to_string();
        let mut after = 0;
        let mut events = 0u64;
        let mut pruned = 0u64;
        // Once old events were pruned, the chain starts at the checkpoint, whose MAC under the
        // chain key says it was written by a server with the key, where the pruning stopped.
        if let Some(checkpoint) = self.store().audit_checkpoint().await? {
            if !checkpoint.is_genuine(&key) {
                return Ok(ChainCheck::Broken {
                    seq: checkpoint.seq,
                    event_id: String::new(),
                    reason: "the checkpoint where the chain starts after pruning is not genuine (altered, or written without the key)".into(),
                });
            }
            if let Some(a) = anchor.filter(|a| a.seq <= checkpoint.seq) {
                // The anchored event was pruned since: only the checkpoint's own event can
                // still be compared with it.
                if a.seq == checkpoint.seq && a.hash != checkpoint.hash {
                    return Ok(ChainCheck::Broken {
                        seq: a.seq,
                        event_id: String::new(),
                        reason: "the checkpoint is not at the event the anchor outside the database names".into(),
                    });
                }
                anchored = true;
            }
            prev = checkpoint.hash;
            after = checkpoint.seq;
            pruned = checkpoint.pruned.max(0) as u64;
        }
        loop {
            let batch = self.store().audit_chain(after, VERIFY_BATCH).await?;
            if batch.is_empty() {
                if let (false, Some(a)) = (anchored, anchor) {
                    return Ok(ChainCheck::Broken {
                        seq: a.seq,
                        event_id: String::new(),
                        reason: format!(
                            "the chain ends before event #{} that the anchor outside the database names: events were removed from its end",
                            a.seq
                        ),
                    });
                }
                return Ok(ChainCheck::Intact {
                    events,
                    pruned,
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
                let computed = audit_hash(&key, &prev, &e.event.document);
                if e.hash != computed {
                    return Ok(broken(format!(
                        "its content hashes to {computed} under this server's chain key, not the stored {} (altered, or written without the key)",
                        e.hash
                    )));
                }
                if let Some(a) = anchor {
                    if e.seq == a.seq {
                        if e.hash != a.hash {
                            return Ok(broken(
                                "it is not the event the anchor outside the database names".into(),
                            ));
                        }
                        anchored = true;
                    }
                }
                prev = e.hash;
                after = e.seq;
                events += 1;
            }
        }
    }
}
