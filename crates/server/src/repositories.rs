//! The hosted repositories as the service's `RepositoryHost`: bare repositories under the
//! repository directory, read with git in the sandbox. Where replicas share them, each copy
//! records the snapshot it holds in a file beside git's own (`COPY_FILE`).

use async_trait::async_trait;
use sluice_artifacts::ByteStream;
use sluice_service::{Bundle, CommitView, HeldCopy, RepositoryHost, Restore};
use sluice_worker::git::{self, Git};
use std::path::{Path, PathBuf};

/// In a copy's git directory: `RECORD_ID SNAPSHOT_ID` (`-` for the empty repository). Git
/// ignores it, and the smart HTTP protocol never serves it.
const COPY_FILE: &str = "sluice-copy";
/// Under the repository directory: bundles on their way in or out. Not a repository name
/// (those end in `.git`).
const SCRATCH_DIR: &str = ".snapshots";

pub(crate) struct HostedRepositories {
    pub dir: PathBuf,
    pub git: Git,
    /// One copy is brought up to a snapshot at a time.
    pub restoring: tokio::sync::Mutex<()>,
}

impl HostedRepositories {
    pub(crate) fn new(dir: PathBuf, git: Git) -> Self {
        // Bundles a stopped server left half-written or half-read.
        let _ = std::fs::remove_dir_all(dir.join(SCRATCH_DIR));
        Self {
            dir,
            git,
            restoring: tokio::sync::Mutex::new(()),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, String> {
        git::check_repository_name(name).map_err(|e| e.to_string())?;
        Ok(self.dir.join(format!("{name}.git")))
    }

    /// A new file name in the scratch directory (made if missing).
    fn scratch_file(&self) -> Result<(PathBuf, PathBuf), String> {
        let scratch = self.dir.join(SCRATCH_DIR);
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = scratch.join(format!("{n}.bundle"));
        Ok((scratch, file))
    }

    async fn init_empty(&self, path: &Path) -> Result<(), String> {
        match tokio::fs::remove_dir_all(path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        git::init_bare(path).await.map_err(|e| e.to_string())
    }
}

/// The branch a repository's `HEAD` names.
fn default_branch_of(repo: &Path) -> Option<String> {
    let head = std::fs::read_to_string(repo.join("HEAD")).ok()?;
    Some(head.trim().strip_prefix("ref: refs/heads/")?.to_string())
}

/// Points `HEAD` at `branch`, written whole then renamed.
pub(crate) fn set_default_branch(repo: &Path, branch: &str) -> Result<(), String> {
    git::check_branch(branch).map_err(|e| e.to_string())?;
    let staged = repo.join("HEAD.sluice-new");
    std::fs::write(&staged, format!("ref: refs/heads/{branch}\n"))
        .and_then(|()| std::fs::rename(&staged, repo.join("HEAD")))
        .map_err(|e| format!("{}: {e}", repo.display()))
}

/// Writes `body` to `path`.
async fn write_stream(path: &Path, mut body: ByteStream) -> Result<(), String> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("reading a snapshot: {e}"))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[async_trait]
impl RepositoryHost for HostedRepositories {
    async fn create(&self, name: &str) -> Result<(), String> {
        let path = self.path(name)?;
        git::init_bare(&path).await.map_err(|e| e.to_string())
    }

    async fn delete(&self, name: &str) -> Result<(), String> {
        let path = self.path(name)?;
        match tokio::fs::remove_dir_all(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    async fn exists(&self, name: &str) -> bool {
        self.path(name).is_ok_and(|p| p.join("HEAD").is_file())
    }

    async fn names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".git")
                    .map(str::to_string)
            })
            .filter(|n| git::check_repository_name(n).is_ok())
            .collect();
        names.sort();
        names
    }

    async fn branches(&self, name: &str) -> Result<Vec<(String, String)>, String> {
        let path = self.path(name)?;
        self.git.branches(&path).await.map_err(|e| e.to_string())
    }

    async fn default_branch(&self, name: &str) -> Option<String> {
        let path = self.path(name).ok()?;
        // HEAD names the default branch (`ref: refs/heads/main`); it counts once it exists.
        let branch = default_branch_of(&path)?;
        let branches = self.git.branches(&path).await.ok()?;
        branches.iter().any(|(b, _)| *b == branch).then_some(branch)
    }

    async fn commit(&self, name: &str, id: &str) -> Result<Option<CommitView>, String> {
        let path = self.path(name)?;
        let details = self
            .git
            .commit_details(&path, id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(details.map(|d| CommitView {
            id: d.id,
            tree: d.tree,
            parents: d.parents,
            message: d.message,
            author: d.author,
            committer: d.committer,
        }))
    }

    async fn held(&self, name: &str) -> Option<HeldCopy> {
        let path = self.path(name).ok()?;
        let text = tokio::fs::read_to_string(path.join(COPY_FILE)).await.ok()?;
        let (record_id, snapshot) = text.trim().split_once(' ')?;
        Some(HeldCopy {
            record_id: record_id.to_string(),
            snapshot_id: (snapshot != "-").then(|| snapshot.to_string()),
        })
    }

    async fn mark(&self, name: &str, held: &HeldCopy) -> Result<(), String> {
        let path = self.path(name)?;
        let text = format!(
            "{} {}\n",
            held.record_id,
            held.snapshot_id.as_deref().unwrap_or("-")
        );
        // Written whole, then renamed: a crash leaves the old mark or the new one.
        let partial = path.join(format!("{COPY_FILE}.new"));
        tokio::fs::write(&partial, text)
            .await
            .and(tokio::fs::rename(&partial, path.join(COPY_FILE)).await)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    async fn restore(&self, name: &str, restore: Restore) -> Result<(), String> {
        let path = self.path(name)?;
        let _one_at_a_time = self.restoring.lock().await;
        if self.held(name).await.as_ref() == Some(&restore.held) {
            return Ok(());
        }
        if restore.fresh || !path.join("HEAD").is_file() {
            self.init_empty(&path).await?;
        }
        for part in restore.parts {
            let (scratch, file) = self.scratch_file()?;
            let added = match write_stream(&file, part).await {
                Ok(()) => self
                    .git
                    .unbundle(&path, &scratch, &file)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let _ = tokio::fs::remove_file(&file).await;
            added?;
        }
        self.git
            .set_refs(&path, &restore.refs)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(branch) = &restore.default_branch {
            set_default_branch(&path, branch)?;
        }
        self.mark(name, &restore.held).await
    }

    async fn bundle(&self, name: &str, known: &[String]) -> Result<Bundle, String> {
        let path = self.path(name)?;
        let refs = self
            .git
            .ref_objects(&path)
            .await
            .map_err(|e| e.to_string())?;
        let default_branch = default_branch_of(&path);
        if refs.is_empty() {
            return Ok(Bundle {
                objects: None,
                refs,
                default_branch,
            });
        }
        let (_, file) = self.scratch_file()?;
        let created = self
            .git
            .create_bundle(&path, &file, known)
            .await
            .map_err(|e| e.to_string());
        let objects = match created {
            Ok(true) => sluice_worker::files::file_stream(&file)
                .await
                .map(Some)
                .map_err(|e| e.to_string()),
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        // An open stream reads on; the name goes now.
        let _ = tokio::fs::remove_file(&file).await;
        Ok(Bundle {
            objects: objects?,
            refs,
            default_branch,
        })
    }
}
