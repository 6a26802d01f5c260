//! The source providers: the latest version of an S3 object, the head of a branch of a hosted
//! repository (CodeCommit) or of a remote git host (GitHub). Each produces the output artifact,
//! the revision it came from and a summary.

use crate::providers::{store_dir, ProviderConfig};
use sluice_service::{ConnectionSource, Job, JobOutcome, Sluice};
use sluice_worker::git::{self, CommitInfo, Git, GitAuth};
use sluice_worker::log::JobLog;
use std::collections::BTreeMap;
use std::path::Path;

fn config<'a>(job: &'a Job, name: &str) -> Result<&'a str, String> {
    job.configuration
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("the action's configuration has no {name}"))
}

pub(crate) async fn run_source(
    sluice: &Sluice,
    providers: &ProviderConfig,
    job: &Job,
    root: &Path,
    log: &JobLog,
) -> Result<JobOutcome, String> {
    let git = Git::new(providers.sandbox.clone());
    let output = job
        .output_artifacts
        .first()
        .ok_or_else(|| "a source action needs an output artifact".to_string())?;
    let (revision, summary, variables) = match job.action_type_id.provider.as_str() {
        "S3" if is_external(sluice, providers, config(job, "S3Bucket")?).await => {
            let bucket = config(job, "S3Bucket")?;
            let (key, version) = s3_revision(job)?;
            let key = key.as_str();
            log.line(&format!(
                "Fetching s3://{bucket}/{key} from the external S3 endpoint"
            ));
            let store = external_store(providers, bucket)?;
            let mut meta = store
                .head(key)
                .await
                .map_err(|e| format!("s3://{bucket}/{key} could not be read: {e}"))?;
            if version.is_some() {
                // The version the start named, not the latest.
                meta.version = version;
                meta.etag = None;
            }
            let revision = meta
                .version
                .clone()
                .or(meta.etag.clone())
                .unwrap_or_default();
            let body = store
                .get_version(key, meta.version.clone())
                .await
                .map_err(|e| format!("s3://{bucket}/{key} could not be read: {e}"))?;
            let Some((out_bucket, out_key)) = &output.location else {
                return Err("the output artifact has no location".into());
            };
            sluice
                .store_artifact(out_bucket, out_key, body)
                .await
                .map_err(|e| format!("output artifact {} could not be stored: {e}", output.name))?;
            let variables = BTreeMap::from([
                ("ObjectKey".to_string(), key.to_string()),
                (
                    "VersionId".to_string(),
                    meta.version.clone().unwrap_or_default(),
                ),
                (
                    "ETag".to_string(),
                    meta.etag
                        .as_deref()
                        .unwrap_or_default()
                        .trim_matches('"')
                        .to_string(),
                ),
            ]);
            (
                revision.clone(),
                format!("s3://{bucket}/{key} version {revision}"),
                variables,
            )
        }
        "S3" => {
            let bucket = config(job, "S3Bucket")?;
            let (key, version_id) = s3_revision(job)?;
            let key = key.as_str();
            log.line(&format!("Fetching s3://{bucket}/{key}"));
            let version = sluice
                .head_object(bucket, key, version_id.as_deref())
                .await
                .map_err(|e| format!("s3://{bucket}/{key} could not be read: {e}"))?;
            let body = sluice
                .object_body(&version, None)
                .await
                .map_err(|e| e.to_string())?;
            let Some((out_bucket, out_key)) = &output.location else {
                return Err("the output artifact has no location".into());
            };
            sluice
                .store_artifact(out_bucket, out_key, body)
                .await
                .map_err(|e| format!("output artifact {} could not be stored: {e}", output.name))?;
            let variables = BTreeMap::from([
                ("ObjectKey".to_string(), key.to_string()),
                ("VersionId".to_string(), version.version_id.clone()),
                (
                    "ETag".to_string(),
                    version.etag.trim_matches('"').to_string(),
                ),
            ]);
            (
                version.version_id.clone(),
                format!("s3://{bucket}/{key} version {}", version.version_id),
                variables,
            )
        }
        "CodeCommit" => {
            let name = config(job, "RepositoryName")?;
            let branch = config(job, "BranchName")?;
            let (commit, info) =
                export_hosted(sluice, providers, &git, name, branch, job, root, log).await?;
            let variables = commit_variables(&commit, &info, branch, name, None);
            (commit, first_line(&info.message), variables)
        }
        "GitHub" => {
            let owner = config(job, "Owner")?;
            let repo_name = config(job, "Repo")?;
            let branch = config(job, "Branch")?;
            git::check_repository_name(owner).map_err(|e| e.to_string())?;
            git::check_repository_name(repo_name).map_err(|e| e.to_string())?;
            let base = providers.github_base_url.trim_end_matches('/');
            let url = format!("{base}/{owner}/{repo_name}");
            let mirror = providers
                .mirrors_dir
                .join(format!("{owner}__{repo_name}.git"));
            let auth = GitAuth {
                token: job
                    .configuration
                    .get("OAuthToken")
                    .cloned()
                    .filter(|t| !t.is_empty()),
            };
            let remote = Remote {
                url: &url,
                mirror: &mirror,
                auth: &auth,
            };
            let (commit, info) =
                export_remote(sluice, providers, &git, &remote, branch, job, root, log).await?;
            let commit_url = format!("{url}/commit/{commit}");
            let variables = commit_variables(&commit, &info, branch, repo_name, Some(commit_url));
            (commit, first_line(&info.message), variables)
        }
        "CodeStarSourceConnection" => {
            let arn = config(job, "ConnectionArn")?;
            let repository = config(job, "FullRepositoryId")?;
            let branch = config(job, "BranchName")?;
            let connection = sluice
                .connection_source(arn)
                .await
                .map_err(|e| e.to_string())?;
            let (commit, info) = match connection {
                ConnectionSource::Hosted => {
                    export_hosted(sluice, providers, &git, repository, branch, job, root, log)
                        .await?
                }
                ConnectionSource::Remote { base, token } => {
                    for part in repository.split('/') {
                        git::check_repository_name(part).map_err(|e| e.to_string())?;
                    }
                    let url = format!("{}/{repository}", base.trim_end_matches('/'));
                    let mirror = providers
                        .mirrors_dir
                        .join(format!("connection__{}.git", repository.replace('/', "__")));
                    let auth = GitAuth { token };
                    let remote = Remote {
                        url: &url,
                        mirror: &mirror,
                        auth: &auth,
                    };
                    // The connection's token is no job secret the log knows: a failure
                    // never repeats it.
                    export_remote(sluice, providers, &git, &remote, branch, job, root, log)
                        .await
                        .map_err(|e| match auth.token.as_deref().filter(|t| !t.is_empty()) {
                            Some(token) => e.replace(token, sluice_model::SECRET_MASK),
                            None => e,
                        })?
                }
            };
            let variables = commit_variables(&commit, &info, branch, repository, None);
            (commit, first_line(&info.message), variables)
        }
        other => {
            return Err(format!(
                "no source provider {other} is available on this server"
            ))
        }
    };
    log.line(&format!("Revision {revision}: {summary}"));
    Ok(JobOutcome {
        summary: Some(summary),
        external_execution_id: Some(revision.clone()),
        current_revision: Some(revision),
        output_variables: variables,
        ..Default::default()
    })
}

/// The key and version an S3 source fetches: its configuration's, or what `sourceRevisions`
/// named (`S3_OBJECT_KEY`, `S3_OBJECT_VERSION_ID`).
fn s3_revision(job: &Job) -> Result<(String, Option<String>), String> {
    let key = config(job, "S3ObjectKey")?.to_string();
    Ok(match &job.source_revision {
        Some(r) if r.kind == "S3_OBJECT_KEY" => (r.value.clone(), None),
        Some(r) if r.kind == "S3_OBJECT_VERSION_ID" => (key, Some(r.value.clone())),
        _ => (key, None),
    })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}

/// The output variables of a git source action, named as CodeCommit's and GitHub's.
fn commit_variables(
    commit: &str,
    info: &CommitInfo,
    branch: &str,
    repository: &str,
    commit_url: Option<String>,
) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::from([
        ("CommitId".to_string(), commit.to_string()),
        ("CommitMessage".to_string(), info.message.clone()),
        ("AuthorDate".to_string(), info.author_date.clone()),
        ("CommitterDate".to_string(), info.committer_date.clone()),
        ("BranchName".to_string(), branch.to_string()),
        ("RepositoryName".to_string(), repository.to_string()),
    ]);
    if let Some(url) = commit_url {
        variables.insert("CommitUrl".to_string(), url);
    }
    variables
}

/// An S3 source's bucket is external when it is not one of this server's and an external
/// endpoint is configured.
async fn is_external(sluice: &Sluice, providers: &ProviderConfig, bucket: &str) -> bool {
    providers.external_s3.is_some() && sluice.bucket(bucket).await.is_err()
}

fn external_store(
    providers: &ProviderConfig,
    bucket: &str,
) -> Result<sluice_artifacts::ObjectBlobStore, String> {
    let mut config = providers
        .external_s3
        .clone()
        .ok_or_else(|| "no external S3 endpoint is configured".to_string())?;
    config.bucket = bucket.into();
    sluice_artifacts::ObjectBlobStore::s3(&config).map_err(|e| e.to_string())
}

/// A remote repository and the mirror it is fetched into.
struct Remote<'a> {
    url: &'a str,
    mirror: &'a Path,
    auth: &'a GitAuth,
}

/// Exports `branch` (or the commit the start named) of one of this server's repositories.
#[allow(clippy::too_many_arguments)]
async fn export_hosted(
    sluice: &Sluice,
    providers: &ProviderConfig,
    git: &Git,
    name: &str,
    branch: &str,
    job: &Job,
    root: &Path,
    log: &JobLog,
) -> Result<(String, CommitInfo), String> {
    git::check_repository_name(name).map_err(|e| e.to_string())?;
    git::check_branch(branch).map_err(|e| e.to_string())?;
    // Another replica's pushes first.
    sluice
        .sync_repository(name)
        .await
        .map_err(|e| format!("The repository {name} could not be brought up to date: {e}"))?;
    let repo = providers.repos_dir.join(format!("{name}.git"));
    if !repo.is_dir() {
        return Err(format!("The repository {name} does not exist on this server (create it with `sluice repo create {name}`)"));
    }
    export_branch(sluice, git, &repo, branch, job, root, log).await
}

/// Fetches `branch` of a remote repository (and every branch, when the start named a commit
/// the branch does not hold) and exports it.
#[allow(clippy::too_many_arguments)]
async fn export_remote(
    sluice: &Sluice,
    providers: &ProviderConfig,
    git: &Git,
    remote: &Remote<'_>,
    branch: &str,
    job: &Job,
    root: &Path,
    log: &JobLog,
) -> Result<(String, CommitInfo), String> {
    let url = remote.url;
    std::fs::create_dir_all(&providers.mirrors_dir).map_err(|e| e.to_string())?;
    log.line(&format!("Fetching branch {branch} of {url}"));
    git.fetch_branch(url, branch, remote.mirror, remote.auth)
        .await
        .map_err(|e| log.mask(&e.to_string()))?;
    // A trigger may name a commit of another branch or of a pull request.
    if let Some(revision) = job
        .source_revision
        .as_ref()
        .filter(|r| r.kind == "COMMIT_ID")
    {
        if git
            .commit_info(remote.mirror, &revision.value)
            .await
            .is_err()
        {
            log.line(&format!(
                "Fetching every branch of {url} for {}",
                revision.value
            ));
            git.fetch_all(url, remote.mirror, remote.auth)
                .await
                .map_err(|e| log.mask(&e.to_string()))?;
        }
    }
    export_branch(sluice, git, remote.mirror, branch, job, root, log).await
}

async fn export_branch(
    sluice: &Sluice,
    git: &Git,
    repo: &Path,
    branch: &str,
    job: &Job,
    root: &Path,
    log: &JobLog,
) -> Result<(String, CommitInfo), String> {
    let commit = match &job.source_revision {
        // The commit the start named (`sourceRevisions`), if the repository has it.
        Some(revision) if revision.kind == "COMMIT_ID" => {
            git.commit_info(repo, &revision.value).await.map_err(|_| {
                format!(
                    "The commit {} named in sourceRevisions was not found in the repository",
                    revision.value
                )
            })?;
            revision.value.clone()
        }
        _ => git
            .branch_commit(repo, branch)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("The branch {branch} was not found in the repository"))?,
    };
    let tree = root.join("tree");
    git.export_tree(repo, &commit, &tree, root)
        .await
        .map_err(|e| e.to_string())?;
    log.line(&format!("Exported {branch} at {commit}"));
    let info = git.commit_info(repo, &commit).await.unwrap_or_default();
    for artifact in job.output_artifacts.iter().take(1) {
        store_dir(sluice, &tree, root, artifact).await?;
    }
    Ok((commit, info))
}

/// Change detection by polling, for sources whose changes do not arrive through this server:
/// hosted repositories pushed to by file path, remote (GitHub) repositories, and objects on an
/// external S3 endpoint. Every
/// `poll_interval`, a source action whose branch head differs from the revision it last ran
/// (and that is not running) starts its pipeline.
pub async fn run_source_polling(
    sluice: Sluice,
    config: std::sync::Arc<ProviderConfig>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(config.poll_interval) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        for provider in ["CodeCommit", "GitHub", "CodeStarSourceConnection", "S3"] {
            if provider == "S3" && config.external_s3.is_none() {
                continue;
            }
            let sources = match sluice.polled_sources(provider).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "listing polled sources failed");
                    continue;
                }
            };
            for source in sources.into_iter().filter(|s| !s.running) {
                let local_s3 = provider == "S3"
                    && !is_external(
                        &sluice,
                        &config,
                        source
                            .configuration
                            .get("S3Bucket")
                            .map(String::as_str)
                            .unwrap_or_default(),
                    )
                    .await;
                if local_s3 {
                    continue; // this server's buckets announce new versions themselves
                }
                let head = match head_of(&sluice, &config, provider, &source.configuration).await {
                    Ok(Some(h)) => h,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::debug!(pipeline = source.pipeline, error = %e, "polling a source failed");
                        continue;
                    }
                };
                if source.last_revision.as_deref() != Some(head.as_str()) {
                    match sluice.start_for_polled_change(&source, &head).await {
                        Ok(id) => tracing::info!(
                            pipeline = source.pipeline,
                            execution = id,
                            "polling found a change"
                        ),
                        Err(e) => {
                            tracing::warn!(pipeline = source.pipeline, error = %e, "polling could not start a run")
                        }
                    }
                }
            }
        }
    }
}

async fn head_of(
    sluice: &Sluice,
    config: &ProviderConfig,
    provider: &str,
    c: &std::collections::BTreeMap<String, String>,
) -> sluice_worker::Result<Option<String>> {
    let get = |k: &str| c.get(k).cloned().unwrap_or_default();
    let hosted_head = |name: String| async move {
        git::check_repository_name(&name)?;
        if let Err(e) = sluice.sync_repository(&name).await {
            return Err(sluice_worker::Error::Failed(format!(
                "the repository {name} could not be brought up to date: {e}"
            )));
        }
        let repo = config.repos_dir.join(format!("{name}.git"));
        if !repo.is_dir() {
            return Ok(None);
        }
        Git::new(config.sandbox.clone())
            .branch_commit(&repo, &get("BranchName"))
            .await
    };
    match provider {
        "CodeCommit" => hosted_head(get("RepositoryName")).await,
        "CodeStarSourceConnection" => {
            let repository = get("FullRepositoryId");
            // A connection not yet completed has nothing to poll.
            match sluice.connection_source(&get("ConnectionArn")).await {
                Ok(ConnectionSource::Hosted) => hosted_head(repository).await,
                Ok(ConnectionSource::Remote { base, token }) => {
                    for part in repository.split('/') {
                        git::check_repository_name(part)?;
                    }
                    let url = format!("{}/{repository}", base.trim_end_matches('/'));
                    Git::new(config.sandbox.clone())
                        .remote_branch_commit(&url, &get("BranchName"), &GitAuth { token })
                        .await
                }
                Err(_) => Ok(None),
            }
        }
        "S3" => {
            let store = external_store(config, &get("S3Bucket"))
                .map_err(sluice_worker::Error::Configuration)?;
            let meta = store.head(&get("S3ObjectKey")).await?;
            Ok(meta.version.or(meta.etag))
        }
        _ => {
            let (owner, repo) = (get("Owner"), get("Repo"));
            git::check_repository_name(&owner)?;
            git::check_repository_name(&repo)?;
            let url = format!(
                "{}/{owner}/{repo}",
                config.github_base_url.trim_end_matches('/')
            );
            let auth = GitAuth {
                token: c.get("OAuthToken").cloned().filter(|t| !t.is_empty()),
            };
            Git::new(config.sandbox.clone())
                .remote_branch_commit(&url, &get("Branch"), &auth)
                .await
        }
    }
}
