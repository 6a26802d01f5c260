//! Hosted repositories shared by replicas. Each replica keeps a copy of a repository in its
//! own data dir; the record in the shared store names the repository's *snapshot* — its
//! branches and tags, and the git bundles that hold their objects, each sealed like an object
//! in the shared blob store — and every replica brings its copy up to that snapshot before it
//! serves a fetch, reads a branch or runs a source action. A push adds one bundle of the
//! objects it brought (a *part*), so publishing costs what was pushed, and a copy one push
//! behind reads one part; once the parts after the first outweigh it (or there are
//! `MAX_PARTS`), a push starts the chain again with one bundle of everything. A push holds the repository's lock (a lease in the record, which the server
//! renews while the push runs) from before it brings its copy up to date until its snapshot is
//! recorded, so replicas push one at a time and each push starts from the last one's refs.
//!
//! On one server (`Options::shared_repositories` off) none of this runs: the copy is the
//! repository.

use crate::repositories::{host_failure, Bundle, Restore};
use crate::{Error, Result, Sluice};
use serde::{Deserialize, Serialize};
use sluice_artifacts::ByteStream;
use sluice_store::Publication;
use std::collections::BTreeMap;

/// What a copy holds: the record it was made for (a repository deleted and made again is
/// another) and the snapshot it was brought to (`None`: the empty repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCopy {
    pub record_id: String,
    pub snapshot_id: Option<String>,
}

/// The record's description of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    /// The last part's id.
    id: String,
    /// The first holds every object its refs reached; each after it, what one push added.
    parts: Vec<Part>,
    /// Every branch and tag: full name → object id.
    refs: BTreeMap<String, String>,
    /// The branch `HEAD` names (a first push of another branch than `main` makes it that).
    default_branch: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Part {
    id: String,
    /// `None` for a push that added no objects (a branch deleted, or made at a known commit).
    blob: Option<SealedBlob>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SealedBlob {
    key: String,
    /// Bytes of the bundle itself.
    size: u64,
    /// The data key, wrapped (as an object's).
    envelope: String,
}

impl Snapshot {
    /// Whether the next push should write one bundle of everything rather than a part.
    fn should_restart(&self) -> bool {
        let size = |p: &Part| p.blob.as_ref().map_or(0, |b| b.size);
        let first = self.parts.first().map_or(0, size);
        let after: u64 = self.parts.iter().skip(1).map(size).sum();
        self.parts.len() >= MAX_PARTS || after > first
    }

    fn blob_keys(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .filter_map(|p| p.blob.as_ref().map(|b| b.key.as_str()))
    }
}

/// The longest chain of parts a snapshot keeps.
const MAX_PARTS: usize = 32;

/// What a copy being pushed to holds: no snapshot's id (those are fresh ids).
const UNPUBLISHED: &str = "unpublished";

/// A push's lock lasts this long unless renewed (its holder renews it well before).
pub const PUSH_LOCK_MS: i64 = 30_000;

/// This server's claim on a repository for one push (`Inner::pushing`), given up when
/// dropped unless kept: a request dropped half-way (its client went away) leaves none behind.
struct PushClaim<'a> {
    sluice: &'a Sluice,
    name: &'a str,
    keep: bool,
}

impl Drop for PushClaim<'_> {
    fn drop(&mut self) {
        if !self.keep {
            self.sluice.pushes_here().remove(self.name);
        }
    }
}

fn snapshot_of(text: &str) -> Result<Snapshot> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("a repository snapshot record is corrupt: {e}")))
}

impl Sluice {
    /// Brings this server's copy of `name` up to the shared snapshot; removes a copy whose
    /// repository was deleted (or made again) on another replica. A repository with no record
    /// is left as it is: it exists here only until the API first sees it.
    pub async fn sync_repository(&self, name: &str) -> Result<()> {
        if !self.options().shared_repositories {
            return Ok(());
        }
        let host = self.repository_host()?;
        let record = self.store().repository(name).await?;
        let held = host.held(name).await;
        let Some(record) = record else {
            if held.is_some() {
                host.delete(name).await.map_err(host_failure)?;
            }
            return Ok(());
        };
        let snapshot = record.snapshot.as_deref().map(snapshot_of).transpose()?;
        let wanted = HeldCopy {
            record_id: record.id.clone(),
            snapshot_id: snapshot.as_ref().map(|s| s.id.clone()),
        };
        if held.as_ref() == Some(&wanted) {
            return Ok(());
        }
        let pushed_here = held
            .as_ref()
            .is_some_and(|h| h.snapshot_id.as_deref() == Some(UNPUBLISHED));
        if pushed_here && self.pushes_here().contains(name) {
            // This server's push in progress: its refs are the newest, published when it ends.
            return Ok(());
        }
        if held.is_none() && snapshot.is_none() && host.exists(name).await {
            // Made here (or before replicas shared it), and never pushed through a replica:
            // this copy is the repository until its first shared push.
            return host.mark(name, &wanted).await.map_err(host_failure);
        }
        let Some(snapshot) = snapshot else {
            let restore = Restore {
                held: wanted,
                fresh: true,
                parts: Vec::new(),
                refs: BTreeMap::new(),
                default_branch: None,
            };
            return host.restore(name, restore).await.map_err(host_failure);
        };
        // The parts after the one the copy holds, when it holds one of this repository's.
        let after_held = held
            .filter(|h| h.record_id == record.id)
            .and_then(|h| h.snapshot_id)
            .and_then(|id| snapshot.parts.iter().position(|p| p.id == id));
        let (fresh, from) = match after_held {
            Some(i) => (false, i + 1),
            None => (true, 0),
        };
        let mut parts = Vec::new();
        for part in &snapshot.parts[from..] {
            if let Some(blob) = &part.blob {
                parts.push(self.sealed_bytes(blob).await?);
            }
        }
        let restore = Restore {
            held: wanted,
            fresh,
            parts,
            refs: snapshot.refs,
            default_branch: snapshot.default_branch,
        };
        host.restore(name, restore).await.map_err(host_failure)
    }

    async fn sealed_bytes(&self, blob: &SealedBlob) -> Result<ByteStream> {
        let data_key = self.open_envelope(&blob.envelope).await?;
        let sealed = self.blobs().get(&blob.key).await?;
        let range = sluice_artifacts::envelope::sealed_range(blob.size, 0, blob.size);
        Ok(sluice_artifacts::envelope::decrypt(
            sealed, data_key, blob.size, range,
        ))
    }

    /// Seals `bytes` into the blob store under a key of the repository's.
    async fn seal_part(&self, record_id: &str, id: &str, bytes: ByteStream) -> Result<SealedBlob> {
        let (data_key, envelope) = self.new_data_key(None).await?;
        let key = format!("repositories/{record_id}/{id}.bundle");
        let info = self
            .put_sealed(&key, bytes, data_key, "repository snapshot")
            .await?;
        Ok(SealedBlob {
            key,
            size: info.size,
            envelope,
        })
    }

    /// Takes the repository's push lock for this server: false while another push holds it
    /// (through another replica, or through this one). Always true on one server.
    pub async fn lock_repository_push(&self, name: &str) -> Result<bool> {
        if !self.options().shared_repositories {
            return Ok(true);
        }
        // A repository that exists only here gets its record, which holds the lock (a plain
        // read when it has one: this runs again each time a push waits for its turn).
        if self.store().repository(name).await?.is_none() {
            self.repository_record(name).await?;
        }
        if !self.pushes_here().insert(name.to_string()) {
            return Ok(false);
        }
        let mut claim = PushClaim {
            sluice: self,
            name,
            keep: false,
        };
        let taken = self.renew_repository_push(name).await;
        claim.keep = matches!(taken, Ok(true));
        taken
    }

    /// Extends the push lock this server holds; false when it lapsed and another took it.
    pub async fn renew_repository_push(&self, name: &str) -> Result<bool> {
        let now = self.now_ms();
        Ok(self
            .store()
            .lock_repository(name, &self.options().job_owner, now, now + PUSH_LOCK_MS)
            .await?)
    }

    fn pushes_here(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.inner
            .pushing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// With the push lock held: brings the copy up to the latest snapshot and marks it as
    /// changing, so a copy that a crash left between the push and its publication is brought
    /// back to the snapshot rather than kept with refs no other replica has.
    pub async fn prepare_repository_push(&self, name: &str) -> Result<()> {
        if !self.options().shared_repositories {
            return Ok(());
        }
        self.sync_repository(name).await?;
        let host = self.repository_host()?;
        if let Some(mut held) = host.held(name).await {
            held.snapshot_id = Some(UNPUBLISHED.into());
            host.mark(name, &held).await.map_err(host_failure)?;
        }
        Ok(())
    }

    /// Gives the push lock up without publishing (the push moved nothing, or failed).
    pub async fn release_repository_push(&self, name: &str) {
        if !self.options().shared_repositories {
            return;
        }
        self.pushes_here().remove(name);
        let owner = &self.options().job_owner;
        if let Err(e) = self.store().unlock_repository(name, owner).await {
            tracing::warn!(repository = name, error = %e, "a push lock could not be released; it lapses");
        }
    }

    /// After a push that moved refs: seals a bundle of the objects it added into the blob
    /// store and records the snapshot with it as its last part, releasing the lock. The bytes
    /// are written first, so a crash leaves at most an unreferenced blob.
    pub async fn publish_repository(&self, name: &str) -> Result<()> {
        if !self.options().shared_repositories {
            return Ok(());
        }
        let _claim = PushClaim {
            sluice: self,
            name,
            keep: false,
        };
        self.publish_copy(name).await
    }

    async fn publish_copy(&self, name: &str) -> Result<()> {
        let host = self.repository_host()?;
        let owner = self.options().job_owner.clone();
        let record = self.store().repository(name).await?.ok_or_else(|| {
            Error::Internal(format!("repository {name} was deleted during a push"))
        })?;
        let previous = record.snapshot.as_deref().map(snapshot_of).transpose()?;
        // A part holds what the previous snapshot's refs do not reach; the copy has all of
        // theirs (it was brought to it before the push).
        let chain = previous.filter(|p| !p.should_restart());
        let known: Vec<String> = chain
            .as_ref()
            .map(|p| p.refs.values().cloned().collect())
            .unwrap_or_default();
        let bundle = match host.bundle(name, &known).await {
            Ok(b) => b,
            Err(e) if !known.is_empty() => {
                // A known object gone (git collected it): one bundle of everything instead.
                tracing::warn!(repository = name, error = %e, "a push's part could not be made; its snapshot starts again");
                return self.publish_whole(name, &owner, record, host).await;
            }
            Err(e) => return Err(host_failure(e)),
        };
        let snapshot = self.next_snapshot(&record.id, chain, bundle).await?;
        self.record_snapshot(name, &owner, record, snapshot).await
    }

    /// Publishes one bundle of every object, starting the chain of parts again.
    async fn publish_whole(
        &self,
        name: &str,
        owner: &str,
        record: sluice_store::RepositoryRecord,
        host: &std::sync::Arc<dyn crate::RepositoryHost>,
    ) -> Result<()> {
        let bundle = host.bundle(name, &[]).await.map_err(host_failure)?;
        let snapshot = self.next_snapshot(&record.id, None, bundle).await?;
        self.record_snapshot(name, owner, record, snapshot).await
    }

    /// The snapshot after `chain` (or a first one) with `bundle` as its last part; `None` for
    /// a repository left without branches or tags.
    async fn next_snapshot(
        &self,
        record_id: &str,
        chain: Option<Snapshot>,
        bundle: Bundle,
    ) -> Result<Option<Snapshot>> {
        if bundle.refs.is_empty() {
            return Ok(None);
        }
        let id = self.new_id();
        let blob = match bundle.objects {
            Some(bytes) => Some(self.seal_part(record_id, &id, bytes).await?),
            None => None,
        };
        let mut parts = chain.map(|c| c.parts).unwrap_or_default();
        parts.push(Part {
            id: id.clone(),
            blob,
        });
        Ok(Some(Snapshot {
            id,
            parts,
            refs: bundle.refs,
            default_branch: bundle.default_branch,
        }))
    }

    /// Records `snapshot` if this server still holds the push lock, and deletes the blobs no
    /// snapshot holds any more (the replaced chain's, or the new part's when the lock was lost).
    async fn record_snapshot(
        &self,
        name: &str,
        owner: &str,
        record: sluice_store::RepositoryRecord,
        snapshot: Option<Snapshot>,
    ) -> Result<()> {
        let host = self.repository_host()?;
        let text = snapshot
            .as_ref()
            .map(|s| serde_json::to_string(s).unwrap_or_default());
        let published = self
            .store()
            .publish_repository(name, owner, text.as_deref())
            .await;
        let kept: Vec<String> = snapshot
            .iter()
            .flat_map(|s| s.blob_keys().map(str::to_string))
            .collect();
        match published {
            Ok(Publication::Published { replaced }) => {
                let held = HeldCopy {
                    record_id: record.id,
                    snapshot_id: snapshot.map(|s| s.id),
                };
                host.mark(name, &held).await.map_err(host_failure)?;
                if let Some(old) = replaced.as_deref().map(snapshot_of).transpose()? {
                    for key in old.blob_keys().filter(|k| !kept.iter().any(|x| x == k)) {
                        self.delete_blob_quietly(key).await;
                    }
                }
                Ok(())
            }
            Ok(Publication::LockLost) | Err(_) => {
                let before: Vec<String> = record
                    .snapshot
                    .as_deref()
                    .map(snapshot_of)
                    .transpose()?
                    .iter()
                    .flat_map(|s| s.blob_keys().map(str::to_string))
                    .collect();
                for key in kept.iter().filter(|k| !before.contains(k)) {
                    self.delete_blob_quietly(key).await;
                }
                Err(match published {
                    Err(e) => e.into(),
                    _ => Error::Internal(format!(
                        "the push to {name} outlasted its lock; other replicas do not have it"
                    )),
                })
            }
        }
    }

    /// A deleted repository's snapshot bytes.
    pub(crate) async fn forget_snapshot(&self, record: &sluice_store::RepositoryRecord) {
        match record.snapshot.as_deref().map(snapshot_of) {
            Some(Ok(s)) => {
                for key in s.blob_keys() {
                    self.delete_blob_quietly(key).await;
                }
            }
            Some(Err(e)) => {
                tracing::warn!(repository = record.name, error = %e, "a deleted repository's snapshot bytes are left behind");
            }
            None => {}
        }
    }
}
