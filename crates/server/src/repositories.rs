//! The hosted repositories as the service's `RepositoryHost`: bare repositories under the
//! repository directory, read with git in the sandbox.

use async_trait::async_trait;
use sluice_service::{CommitView, RepositoryHost};
use sluice_worker::git::{self, Git};
use std::path::PathBuf;

pub(crate) struct HostedRepositories {
    pub dir: PathBuf,
    pub git: Git,
}

impl HostedRepositories {
    fn path(&self, name: &str) -> Result<PathBuf, String> {
        git::check_repository_name(name).map_err(|e| e.to_string())?;
        Ok(self.dir.join(format!("{name}.git")))
    }
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
        let head = std::fs::read_to_string(path.join("HEAD")).ok()?;
        let branch = head.trim().strip_prefix("ref: refs/heads/")?.to_string();
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
}
