//! Hosted repositories shared by replicas. Each replica keeps a copy of a repository in its
//! own data dir; the record in the shared store names the repository's *snapshot* — a bundle
//! of every ref, sealed like an object and kept in the shared blob store — and every replica
//! brings its copy up to that snapshot before it serves a fetch, reads a branch or runs a
//! source action. A push holds the repository's lock (a lease in the record, which the server
//! renews while the push runs) from before it brings its copy up to date until its snapshot is
//! recorded, so replicas push one at a time and each push starts from the last one's refs.
//!
//! On one server (`Options::shared_repositories` off) none of this runs: the copy is the
//! repository.

use crate::repositories::{host_failure, Bundle};
use crate::{Error, Result, Sluice};
use serde::{Deserialize, Serialize};
use sluice_store::Publication;

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
    id: String,
    blob_key: String,
    size: u64,
    /// The data key, wrapped (as an object's).
    envelope: String,
    /// The branch `HEAD` names (a first push of another branch than `main` makes it that).
    default_branch: Option<String>,
}

/// What a copy being pushed to holds: no snapshot's id (those are fresh ids).
const UNPUBLISHED: &str = "unpublished";

/// A push's lock lasts this long unless renewed (its holder renews it well before).
pub const PUSH_LOCK_MS: i64 = 30_000;

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
        let bundle = match &snapshot {
            Some(s) => Some(self.snapshot_bytes(s).await?),
            None => None,
        };
        host.restore(name, &wanted, bundle)
            .await
            .map_err(host_failure)
    }

    async fn snapshot_bytes(&self, snapshot: &Snapshot) -> Result<Bundle> {
        let data_key = self.open_envelope(&snapshot.envelope).await?;
        let sealed = self.blobs().get(&snapshot.blob_key).await?;
        let range = sluice_artifacts::envelope::sealed_range(snapshot.size, 0, snapshot.size);
        Ok(Bundle {
            bytes: sluice_artifacts::envelope::decrypt(sealed, data_key, snapshot.size, range),
            default_branch: snapshot.default_branch.clone(),
        })
    }

    /// Takes the repository's push lock for this server: false while another push holds it
    /// (through another replica, or through this one). Always true on one server.
    pub async fn lock_repository_push(&self, name: &str) -> Result<bool> {
        if !self.options().shared_repositories {
            return Ok(true);
        }
        // A repository that exists only here gets its record, which holds the lock.
        self.repository(name).await?;
        if !self.pushes_here().insert(name.to_string()) {
            return Ok(false);
        }
        let taken = self.renew_repository_push(name).await;
        if !matches!(taken, Ok(true)) {
            self.pushes_here().remove(name);
        }
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

    /// After a push that moved refs: seals a bundle of the copy's refs into the blob store and
    /// records it as the repository's snapshot, releasing the lock. The bytes are written
    /// first, so a crash leaves at most an unreferenced blob.
    pub async fn publish_repository(&self, name: &str) -> Result<()> {
        if !self.options().shared_repositories {
            return Ok(());
        }
        let published = self.publish_copy(name).await;
        self.pushes_here().remove(name);
        published
    }

    async fn publish_copy(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        let host = self.repository_host()?;
        let owner = self.options().job_owner.clone();
        let record = self.store().repository(&name).await?.ok_or_else(|| {
            Error::Internal(format!("repository {name} was deleted during a push"))
        })?;
        let snapshot = match host.bundle(&name).await.map_err(host_failure)? {
            Some(bundle) => {
                let (data_key, envelope) = self.new_data_key(None).await?;
                let id = self.new_id();
                let blob_key = format!("repositories/{}/{id}.bundle", record.id);
                let (sealed, counted) = sluice_artifacts::envelope::encrypt(bundle.bytes, data_key);
                self.blobs().put(&blob_key, sealed).await?;
                let counted = counted.lock().unwrap_or_else(|p| p.into_inner()).take();
                let Some(info) = counted else {
                    let _ = self.blobs().delete(&blob_key).await;
                    return Err(Error::Internal(
                        "a repository snapshot was not all encrypted".into(),
                    ));
                };
                Some(Snapshot {
                    id,
                    blob_key,
                    size: info.size,
                    envelope,
                    default_branch: bundle.default_branch,
                })
            }
            None => None,
        };
        let text = snapshot
            .as_ref()
            .map(|s| serde_json::to_string(s).unwrap_or_default());
        let published = self
            .store()
            .publish_repository(&name, &owner, text.as_deref())
            .await;
        match published {
            Ok(Publication::Published { replaced }) => {
                let held = HeldCopy {
                    record_id: record.id,
                    snapshot_id: snapshot.map(|s| s.id),
                };
                host.mark(&name, &held).await.map_err(host_failure)?;
                if let Some(old) = replaced.as_deref().map(snapshot_of).transpose()? {
                    self.delete_snapshot_blob(&old.blob_key).await;
                }
                Ok(())
            }
            Ok(Publication::LockLost) | Err(_) => {
                if let Some(s) = &snapshot {
                    self.delete_snapshot_blob(&s.blob_key).await;
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

    async fn delete_snapshot_blob(&self, key: &str) {
        if let Err(e) = self.blobs().delete(key).await {
            tracing::warn!(blob = key, error = %e, "an unreferenced repository snapshot could not be deleted");
        }
    }

    /// A deleted repository's snapshot bytes.
    pub(crate) async fn forget_snapshot(&self, record: &sluice_store::RepositoryRecord) {
        if let Some(Ok(s)) = record.snapshot.as_deref().map(snapshot_of) {
            self.delete_snapshot_blob(&s.blob_key).await;
        }
    }
}
