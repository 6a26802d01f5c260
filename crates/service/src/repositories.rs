//! Hosted repositories as CodeCommit describes them: the records (name, id, description, dates)
//! are the store's; the repositories themselves — their branches and commits — are the
//! server's, which it reaches through a `RepositoryHost` (it owns the directory and runs git in
//! the sandbox). A repository made before its record (`sluice repo create`, or an older data
//! dir) gets one when the API first sees it.

use crate::deploy::{deploy_error as named, refused};
pub use crate::repository_copies::HeldCopy;
use crate::{Error, Page, Result, Sluice};
use sluice_artifacts::ByteStream;
use sluice_store::{RepositoryRecord, Tag};
use std::collections::BTreeMap;
use std::sync::Arc;

/// CodeCommit's quota of repositories per account.
const MAX_REPOSITORIES: usize = 5000;

/// A commit as CodeCommit shows it; dates are git's raw form, `SECONDS ±ZONE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitView {
    pub id: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author: (String, String, String),
    pub committer: (String, String, String),
}

/// The git side of hosted repositories.
#[async_trait::async_trait]
pub trait RepositoryHost: Send + Sync {
    /// Makes an empty repository.
    async fn create(&self, name: &str) -> std::result::Result<(), String>;
    async fn delete(&self, name: &str) -> std::result::Result<(), String>;
    async fn exists(&self, name: &str) -> bool;
    async fn names(&self) -> Vec<String>;
    /// Branches and their head commits, by name.
    async fn branches(&self, name: &str) -> std::result::Result<Vec<(String, String)>, String>;
    /// The branch `HEAD` names, when it exists.
    async fn default_branch(&self, name: &str) -> Option<String>;
    /// A commit, `None` when the repository has no such commit.
    async fn commit(&self, name: &str, id: &str)
        -> std::result::Result<Option<CommitView>, String>;
    /// What this server's copy of a shared repository holds, if it was ever brought up to a
    /// snapshot (`repository_copies`).
    async fn held(&self, name: &str) -> Option<HeldCopy>;
    /// Records what the copy holds.
    async fn mark(&self, name: &str, held: &HeldCopy) -> std::result::Result<(), String>;
    /// Brings the copy to a snapshot: from an empty repository when `fresh`, it adds the
    /// objects of each part in order, then sets the branches and tags exactly, and records
    /// what it holds.
    async fn restore(&self, name: &str, restore: Restore) -> std::result::Result<(), String>;
    /// The copy's branches and tags, and a bundle of the objects they reach that none of
    /// `known` do (`None`: no new objects).
    async fn bundle(&self, name: &str, known: &[String]) -> std::result::Result<Bundle, String>;
}

/// What a push left in a copy: the objects it added, as one git bundle, and the refs.
pub struct Bundle {
    pub objects: Option<ByteStream>,
    /// Every branch and tag: full name → object id.
    pub refs: BTreeMap<String, String>,
    /// The branch `HEAD` names.
    pub default_branch: Option<String>,
}

/// A snapshot as a copy is brought to it (`RepositoryHost::restore`).
pub struct Restore {
    pub held: HeldCopy,
    /// Start from an empty repository (the copy holds none of the parts).
    pub fresh: bool,
    /// Bundles of objects, in order: each needs the ones before.
    pub parts: Vec<ByteStream>,
    pub refs: BTreeMap<String, String>,
    pub default_branch: Option<String>,
}

/// A repository as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryView {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub account_id: String,
    pub description: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub clone_url_http: String,
    pub default_branch: Option<String>,
}

fn missing(name: &str) -> Error {
    named(
        "RepositoryDoesNotExistException",
        format!("{name} does not exist"),
    )
}

pub(crate) fn host_failure(e: String) -> Error {
    Error::Internal(format!("the hosted repository: {e}"))
}

impl Sluice {
    /// Installs the server's repositories; only the first call has an effect.
    pub fn set_repository_host(&self, host: Arc<dyn RepositoryHost>) {
        let _ = self.inner.repository_host.set(host);
    }

    pub(crate) fn repository_host(&self) -> Result<&Arc<dyn RepositoryHost>> {
        self.inner.repository_host.get().ok_or_else(|| {
            named(
                "OperationNotAllowedException",
                "this server hosts no repositories (it runs without a repository directory)",
            )
        })
    }

    fn repository_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:codecommit:{}:{}:{name}",
            self.options().region,
            self.options().account_id
        )
    }

    async fn repository_view(&self, record: RepositoryRecord) -> Result<RepositoryView> {
        let default_branch = self.repository_host()?.default_branch(&record.name).await;
        Ok(RepositoryView {
            arn: self.repository_arn(&record.name),
            account_id: self.options().account_id.clone(),
            clone_url_http: format!(
                "{}/v1/repos/{}",
                self.options().public_url.trim_end_matches('/'),
                record.name
            ),
            default_branch,
            name: record.name,
            id: record.id,
            description: record.description,
            created_ms: record.created_ms,
            modified_ms: record.modified_ms,
        })
    }

    /// The record of a hosted repository, made now for one that exists without one.
    pub(crate) async fn repository_record(&self, name: &str) -> Result<RepositoryRecord> {
        check_repository_name(name)?;
        self.sync_repository(name).await?;
        // Only a repository that exists has a record worth showing (a record left by a create
        // or delete cut short is finished by the next create or delete).
        if !self.repository_host()?.exists(name).await {
            return Err(missing(name));
        }
        if let Some(record) = self.store().repository(name).await? {
            return Ok(record);
        }
        let now = self.now_ms();
        let record = RepositoryRecord {
            name: name.into(),
            id: self.new_id(),
            description: None,
            created_ms: now,
            modified_ms: now,
            snapshot: None,
        };
        match self.store().create_repository(&record, usize::MAX).await {
            Ok(()) => Ok(record),
            // Made by a request at the same moment: its record stands.
            Err(sluice_store::Error::AlreadyExists(_)) => self
                .store()
                .repository(name)
                .await?
                .ok_or_else(|| missing(name)),
            Err(e) => Err(e.into()),
        }
    }

    /// `CreateRepository`: an empty repository, its record, its tags.
    pub async fn create_repository(
        &self,
        name: &str,
        description: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<RepositoryView> {
        check_repository_name(name)?;
        self.check_tags(&tags)?;
        let host = self.repository_host()?;
        // Another replica's repository is one here too.
        self.sync_repository(name).await?;
        if host.exists(name).await {
            return Err(named(
                "RepositoryNameExistsException",
                format!("Repository named {name} already exists"),
            ));
        }
        if let Some(record) = self.store().repository(name).await? {
            // A create that stopped between its record and its repository: finish it.
            host.create(name).await.map_err(host_failure)?;
            return self.repository_view(record).await;
        }
        let now = self.now_ms();
        let record = RepositoryRecord {
            name: name.into(),
            id: self.new_id(),
            description: description.map(str::to_string),
            created_ms: now,
            modified_ms: now,
            snapshot: None,
        };
        // The record first: a crash after it leaves a record the next create finishes, never a
        // repository nobody can describe.
        self.store()
            .create_repository(&record, MAX_REPOSITORIES)
            .await
            .map_err(|e| {
                refused(
                    e,
                    named(
                        "RepositoryNameExistsException",
                        format!("Repository named {name} already exists"),
                    ),
                    named(
                        "RepositoryLimitExceededException",
                        "The maximum number of allowed repositories was exceeded.",
                    ),
                )
            })?;
        if let Err(e) = host.create(name).await {
            self.store().delete_repository(name).await?;
            return Err(host_failure(e));
        }
        if !tags.is_empty() {
            let max = self.options().limits.max_tags_per_resource;
            self.store()
                .tag_resource(&self.repository_arn(name), &tags, max)
                .await?;
        }
        self.repository_view(record).await
    }

    pub async fn repository(&self, name: &str) -> Result<RepositoryView> {
        let record = self.repository_record(name).await?;
        self.repository_view(record).await
    }

    /// `ListRepositories`: (name, id), by name or by last modification.
    pub async fn list_repositories(
        &self,
        by_modified: bool,
        descending: bool,
        next_token: Option<&str>,
    ) -> Result<Page<(String, String)>> {
        let mut names = self.repository_host()?.names().await;
        if self.options().shared_repositories {
            // Those made on other replicas, too.
            names.extend(
                self.store()
                    .repositories()
                    .await?
                    .into_iter()
                    .map(|r| r.name),
            );
            names.sort();
            names.dedup();
        }
        let mut records = Vec::new();
        for name in names {
            match self.repository_record(&name).await {
                Ok(record) => records.push(record),
                // Deleted since the names were read.
                Err(Error::Named {
                    code: "RepositoryDoesNotExistException",
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        if by_modified {
            records.sort_by_key(|r| (r.modified_ms, r.name.clone()));
        }
        if descending {
            records.reverse();
        }
        let pairs: Vec<(String, String)> = records.into_iter().map(|r| (r.name, r.id)).collect();
        let scope = format!("ListRepositories:{by_modified}:{descending}");
        self.page_of(&scope, &pairs, 1000, next_token)
    }

    /// `DeleteRepository`: the id of what was deleted, `None` when there was nothing.
    pub async fn delete_repository(&self, name: &str) -> Result<Option<String>> {
        check_repository_name(name)?;
        let host = self.repository_host()?;
        let record = match self.repository_record(name).await {
            Ok(r) => Some(r),
            Err(Error::Named {
                code: "RepositoryDoesNotExistException",
                ..
            }) => None,
            Err(e) => return Err(e),
        };
        // A record whose repository is gone (a delete cut short) goes too.
        let leftover = self.store().repository(name).await?;
        let Some(id) = record.or(leftover.clone()).map(|r| r.id) else {
            return Ok(None);
        };
        host.delete(name).await.map_err(host_failure)?;
        self.store().delete_repository(name).await?;
        if let Some(shared) = &leftover {
            self.forget_snapshot(shared).await;
        }
        let arn = self.repository_arn(name);
        let keys: Vec<String> = self
            .store()
            .tags(&arn)
            .await?
            .into_iter()
            .map(|t| t.key)
            .collect();
        self.store().untag_resource(&arn, &keys).await?;
        Ok(Some(id))
    }

    pub async fn update_repository_description(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<()> {
        self.repository_record(name).await?;
        if description.is_some_and(|d| d.len() > 1000) {
            return Err(named(
                "InvalidRepositoryDescriptionException",
                "The repository description is longer than 1,000 characters.",
            ));
        }
        self.store()
            .describe_repository(name, description, self.now_ms())
            .await?;
        Ok(())
    }

    /// `GetBranch`: the branch's head commit.
    pub async fn repository_branch(&self, name: &str, branch: &str) -> Result<String> {
        self.repository_record(name).await?;
        let branches = self
            .repository_host()?
            .branches(name)
            .await
            .map_err(host_failure)?;
        branches
            .into_iter()
            .find(|(b, _)| b == branch)
            .map(|(_, commit)| commit)
            .ok_or_else(|| {
                named(
                    "BranchDoesNotExistException",
                    format!("Branch {branch} does not exist in repository {name}"),
                )
            })
    }

    pub async fn repository_branches(
        &self,
        name: &str,
        next_token: Option<&str>,
    ) -> Result<Page<String>> {
        self.repository_record(name).await?;
        let branches: Vec<String> = self
            .repository_host()?
            .branches(name)
            .await
            .map_err(host_failure)?
            .into_iter()
            .map(|(b, _)| b)
            .collect();
        self.page_of(&format!("ListBranches:{name}"), &branches, 100, next_token)
    }

    pub async fn repository_commit(&self, name: &str, id: &str) -> Result<CommitView> {
        self.repository_record(name).await?;
        let valid = (4..=40).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit());
        if !valid {
            return Err(named(
                "InvalidCommitIdException",
                format!("The commit id {id} is not valid: a full or abbreviated SHA-1"),
            ));
        }
        self.repository_host()?
            .commit(name, id)
            .await
            .map_err(host_failure)?
            .ok_or_else(|| {
                named(
                    "CommitIdDoesNotExistException",
                    format!("Could not find commit with ID {id}"),
                )
            })
    }
}

/// CodeCommit's repository names: letters, digits, `.`, `_`, `-`, 1 to 100 characters, not
/// ending in `.git`.
fn check_repository_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && !name.ends_with(".git")
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(named("InvalidRepositoryNameException", format!("The repository name {name:?} is not valid: use 1 to 100 letters, digits, '.', '_' or '-', not ending in .git")))
    }
}
