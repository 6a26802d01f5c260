//! The built-in providers, run inside `sluice serve`: they claim jobs of their action types
//! from the same queue `PollForJobs` serves (woken when a step queues one, and every second),
//! run each in a fresh workspace, store outputs and the masked log, and report the result.
//! At most `max_concurrent_jobs` run at once; shutdown waits for none of them (their jobs
//! are queued again when the providers start), but every task is owned and aborted. One server
//! runs the providers of a data dir; replicas would need leases on the jobs they run.

use crate::sources;
use sluice_model::ActionTypeId;
use sluice_sandbox::Sandbox;
use sluice_service::{Job, JobFailure, JobOutcome, Sluice};
use sluice_worker::files::{file_stream, pack_to_file, unpack_file, write_stream};
use sluice_worker::log::JobLog;
use sluice_worker::runners::{run_codebuild, run_commands, Project, RunOutput, Workspace};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};

/// What the providers need to know.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Workspaces live here while a job runs.
    pub work_dir: PathBuf,
    /// Hosted repositories (`NAME.git`), the CodeCommit provider's source.
    pub repos_dir: PathBuf,
    /// Bare mirrors of remote repositories (the GitHub provider).
    pub mirrors_dir: PathBuf,
    /// Where `Owner/Repo` of a GitHub action is found: `https://github.com` by default; any git
    /// host or local directory.
    pub github_base_url: String,
    /// CodeBuild projects by name.
    pub projects: BTreeMap<String, Project>,
    pub max_concurrent_jobs: usize,
    /// The longest a job runs when its project sets no timeout.
    pub job_timeout: Duration,
    /// How often CodeCommit, GitHub and external S3 sources are polled for changes.
    pub poll_interval: Duration,
    /// An S3-compatible endpoint for S3 sources whose bucket is not one of this server's
    /// (`bucket` is ignored: each action names its own).
    pub external_s3: Option<sluice_artifacts::S3BlobConfig>,
    /// Where build commands run (checked with a probe when the providers start).
    pub sandbox: Sandbox,
    /// Poll sources here (else the server that leads does, with `run_source_polling`).
    pub poll_sources: bool,
    /// At start, queue again every job of the providers' types that was running: this is the
    /// only server on its database, so whatever ran was its own. Servers that share a
    /// database leave that to job leases.
    pub requeue_at_start: bool,
}

/// The action types the built-in providers run.
pub fn provider_types() -> Vec<ActionTypeId> {
    vec![
        ActionTypeId::new("Source", "AWS", "S3", "1"),
        ActionTypeId::new("Source", "AWS", "CodeCommit", "1"),
        ActionTypeId::new("Source", "ThirdParty", "GitHub", "1"),
        ActionTypeId::new("Source", "AWS", "CodeStarSourceConnection", "1"),
        ActionTypeId::new("Compute", "AWS", "Commands", "1"),
        ActionTypeId::new("Build", "AWS", "CodeBuild", "1"),
        ActionTypeId::new("Test", "AWS", "CodeBuild", "1"),
        ActionTypeId::new("Deploy", "AWS", "CodeDeploy", "1"),
        ActionTypeId::new("Invoke", "AWS", "Lambda", "1"),
    ]
}

/// Claims and runs jobs until `shutdown` turns true.
pub async fn run_providers(
    sluice: Sluice,
    config: ProviderConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let wake = Arc::new(Notify::new());
    let types = provider_types();
    {
        let wake = wake.clone();
        let served = types.clone();
        sluice.set_job_listener(Arc::new(move |t| {
            if served.contains(t) {
                wake.notify_one();
            }
        }));
    }
    if config.requeue_at_start {
        match sluice.requeue_provider_jobs(&types).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "jobs interrupted by a restart are queued again"),
            Err(e) => tracing::error!(error = %e, "interrupted jobs could not be queued again"),
        }
    }
    let _ = std::fs::create_dir_all(&config.work_dir);
    let refusal = match config.sandbox.probe(&config.work_dir).await {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(error = %e, "builds are refused: the sandbox cannot run here");
            Some(e.to_string())
        }
    };
    if config.sandbox.options().mode == sluice_sandbox::Mode::None {
        tracing::warn!(
            "[sandbox] mode = \"none\": build commands run UNSANDBOXED as this server's user and can read its keys and database"
        );
    }
    let slots = Arc::new(Semaphore::new(config.max_concurrent_jobs.max(1)));
    let config = Arc::new(Providers { config, refusal });
    let polling = config.poll_sources.then(|| {
        tokio::spawn(sources::run_source_polling(
            sluice.clone(),
            Arc::new(config.config.clone()),
            shutdown.clone(),
        ))
    });
    let renewing = tokio::spawn(renew_job_leases(sluice.clone(), shutdown.clone()));
    let mut running = tokio::task::JoinSet::new();
    loop {
        for t in &types {
            // A CodeDeploy action only follows its deployment (the hosts do the work): it
            // takes no build slot, so long deployments never hold builds back.
            let follows_only = t.category == "Deploy" || t.category == "Invoke";
            let free = if follows_only {
                MAX_FOLLOWED_DEPLOYMENTS.saturating_sub(running.len())
            } else {
                slots.available_permits()
            };
            if free == 0 {
                continue;
            }
            let jobs = match sluice.claim_provider_jobs(t, free).await {
                Ok(j) => j,
                Err(e) => {
                    tracing::error!(error = %e, action_type = %t, "claiming jobs failed");
                    continue;
                }
            };
            for job in jobs {
                if follows_only {
                    let (sluice, config) = (sluice.clone(), config.clone());
                    running.spawn(async move { run_job(&sluice, &config, job).await });
                    continue;
                }
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (sluice, config) = (sluice.clone(), config.clone());
                running.spawn(async move {
                    run_job(&sluice, &config, job).await;
                    drop(permit);
                });
            }
        }
        while running.try_join_next().is_some() {}
        tokio::select! {
            _ = wake.notified() => {}
            // A finished job frees a slot: claim the next one now, not at the next tick.
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                    if let Some(polling) = polling {
                        let _ = polling.await;
                    }
                    let _ = renewing.await;
                    return;
                }
            }
        }
    }
}

/// Renews the leases of the jobs this server runs, three times per lease, until `shutdown`.
async fn renew_job_leases(sluice: Sluice, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_millis((sluice.options().job_lease_ms / 3).max(100) as u64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = sluice.renew_job_leases().await {
                    tracing::warn!(error = %e, "renewing the leases of running jobs failed");
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// How many jobs may run at once in all (CodeDeploy actions, which only follow their
/// deployments, beside the build slots).
const MAX_FOLLOWED_DEPLOYMENTS: usize = 256;

/// The outcome of a job's work.
type Outcome = Result<JobOutcome, String>;

/// The providers' configuration and what the sandbox probe found at start.
struct Providers {
    config: ProviderConfig,
    /// Why build commands cannot run here, if the sandbox probe failed.
    refusal: Option<String>,
}

impl std::ops::Deref for Providers {
    type Target = ProviderConfig;
    fn deref(&self) -> &ProviderConfig {
        &self.config
    }
}

async fn run_job(sluice: &Sluice, config: &Providers, job: Job) {
    let started = Instant::now();
    let root = config.work_dir.join(&job.id);
    remove_tree(&root).await;
    let created =
        std::fs::create_dir_all(&root).and_then(|()| config.sandbox.make_traversable(&root));
    let log_path = root.join("job.log");
    let result = match created.and_then(|()| {
        JobLog::create_bounded(&log_path, secrets_of(&job), config.sandbox.max_log_bytes())
    }) {
        Ok(log) => {
            if let Err(e) = sluice.job_started(&job.id, &job.id).await {
                tracing::warn!(job = job.id, error = %e, "the job's start could not be recorded");
            }
            // The log is stored as it grows, so it can be read (and followed) while it runs.
            let result = tokio::select! {
                result = execute(sluice, config, &job, &root, &log) => result,
                never = store_log_while_running(sluice, &job.id, &log) => match never {},
                // Dropping the work kills its processes: stop means stop.
                () = until_no_longer_wanted(sluice, &job.id) => {
                    if sluice.job_status(&job.id).await.is_ok_and(|s| s == sluice_service::JobStatus::Succeeded || s == sluice_service::JobStatus::Failed) {
                        // A function reported the result itself.
                        Err("the job's result was reported".into())
                    } else {
                        log.line("[Sluice] The action was stopped; its processes were killed");
                        Err("the action was stopped".into())
                    }
                }
            };
            log.finish();
            result
        }
        Err(e) => Err(format!("the workspace could not be created: {e}")),
    };
    if log_path.exists() {
        match file_stream(&log_path).await {
            Ok(body) => {
                if let Err(e) = sluice.store_job_log(&job.id, body).await {
                    tracing::warn!(job = job.id, error = %e, "the job log could not be stored");
                }
            }
            Err(e) => tracing::warn!(job = job.id, error = %e, "the job log could not be read"),
        }
    }
    remove_tree(&root).await;
    // Whoever finished the job first (a function reporting for itself, a stop) stands.
    if sluice
        .job_status(&job.id)
        .await
        .is_ok_and(|s| s.is_finished())
    {
        tracing::info!(job = job.id, action_type = %job.action_type_id, elapsed_ms = started.elapsed().as_millis() as u64, "job finished (reported elsewhere)");
        return;
    }
    let reported = match result {
        Ok(outcome) => sluice.put_job_success(&job.id, outcome, None).await,
        Err(message) => {
            let failure = JobFailure {
                kind: "JobFailed".into(),
                message,
                // The id recorded at start (the job's, or its deployment's) stands.
                external_execution_id: None,
            };
            sluice.put_job_failure(&job.id, failure).await
        }
    };
    match reported {
        Ok(()) => {
            tracing::info!(job = job.id, action_type = %job.action_type_id, elapsed_ms = started.elapsed().as_millis() as u64, "job finished")
        }
        Err(e) => {
            tracing::warn!(job = job.id, error = %e, "the job's result could not be recorded")
        }
    }
}

/// What a job's role must be allowed, as the guide's service-role policy names it: reading the
/// source (`s3:GetObject`, `codecommit:GetBranch`) and the input artifacts, writing the output
/// artifacts (`s3:PutObject`).
fn role_accesses(sluice: &Sluice, job: &Job) -> Vec<(&'static str, String)> {
    let mut accesses = Vec::new();
    let get = |name: &str| job.configuration.get(name).cloned().unwrap_or_default();
    match (
        job.action_type_id.category.as_str(),
        job.action_type_id.provider.as_str(),
    ) {
        ("Source", "S3") => accesses.push((
            "s3:GetObject",
            format!("arn:aws:s3:::{}/{}", get("S3Bucket"), get("S3ObjectKey")),
        )),
        ("Source", "CodeStarSourceConnection") => {
            accesses.push(("codestar-connections:UseConnection", get("ConnectionArn")))
        }
        ("Source", "CodeCommit") => accesses.push((
            "codecommit:GetBranch",
            format!(
                "arn:aws:codecommit:{}:{}:{}",
                sluice.options().region,
                sluice.options().account_id,
                get("RepositoryName")
            ),
        )),
        ("Invoke", "Lambda") => accesses.push((
            "lambda:InvokeFunction",
            sluice
                .function_name_of(&get("FunctionName"), None)
                .map(|name| sluice.function_arn(&name))
                .unwrap_or_else(|_| get("FunctionName")),
        )),
        ("Deploy", "CodeDeploy") => accesses.push((
            "codedeploy:CreateDeployment",
            format!(
                "arn:aws:codedeploy:{}:{}:deploymentgroup:{}/{}",
                sluice.options().region,
                sluice.options().account_id,
                get("ApplicationName"),
                get("DeploymentGroupName")
            ),
        )),
        _ => {}
    }
    for artifact in &job.input_artifacts {
        if let Some((bucket, key)) = &artifact.location {
            accesses.push(("s3:GetObject", format!("arn:aws:s3:::{bucket}/{key}")));
        }
    }
    for artifact in &job.output_artifacts {
        if let Some((bucket, key)) = &artifact.location {
            accesses.push(("s3:PutObject", format!("arn:aws:s3:::{bucket}/{key}")));
        }
    }
    accesses
}

/// Removes a workspace off the async runtime (a large tree takes a while).
async fn remove_tree(root: &std::path::Path) {
    let root = root.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(root)).await;
}

/// How often a running job checks that it is still wanted.
const CANCEL_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Returns once the job is no longer in progress (its execution was stopped or abandoned, or
/// it timed out): its work is then dropped.
async fn until_no_longer_wanted(sluice: &Sluice, job_id: &str) {
    loop {
        tokio::time::sleep(CANCEL_CHECK_INTERVAL).await;
        match sluice.job_status(job_id).await {
            Ok(status) if status.is_finished() => return,
            Err(sluice_service::Error::JobNotFound(_)) => return,
            _ => {}
        }
    }
}

/// How often a running job's log is stored when it has grown: every 2 s while it is small;
/// each store rewrites the whole log, so a larger one waits 2 s more per MiB, up to a minute.
const LIVE_LOG_INTERVAL: Duration = Duration::from_secs(2);
const LIVE_LOG_MAX_INTERVAL: Duration = Duration::from_secs(60);

fn live_log_interval(size: u64) -> Duration {
    (LIVE_LOG_INTERVAL * (1 + (size >> 20) as u32)).min(LIVE_LOG_MAX_INTERVAL)
}

/// Stores the job's log every `LIVE_LOG_INTERVAL` while it grows; never returns (the caller
/// drops it when the job ends and stores the final log itself).
async fn store_log_while_running(
    sluice: &Sluice,
    job_id: &str,
    log: &JobLog,
) -> std::convert::Infallible {
    let mut stored = 0u64;
    loop {
        tokio::time::sleep(live_log_interval(stored)).await;
        log.flush();
        let size = std::fs::metadata(log.path()).map_or(0, |m| m.len());
        if size == stored {
            continue;
        }
        match file_stream(log.path()).await {
            Ok(body) => match sluice.store_job_log(job_id, body).await {
                Ok(_) => stored = size,
                Err(e) => tracing::debug!(job = job_id, error = %e, "the live log was not stored"),
            },
            Err(e) => tracing::debug!(job = job_id, error = %e, "the live log was not read"),
        }
    }
}

/// Secret values the job's log must never show.
fn secrets_of(job: &Job) -> Vec<String> {
    let mut secrets: Vec<String> = job
        .configuration
        .iter()
        .filter(|(k, _)| k.as_str() == "OAuthToken")
        .map(|(_, v)| v.clone())
        .collect();
    secrets.extend(
        job.environment_variables
            .iter()
            .filter(|v| v.kind.as_deref().is_some_and(|k| k != "PLAINTEXT"))
            .map(|v| v.value.clone()),
    );
    secrets
}

async fn execute(
    sluice: &Sluice,
    config: &Providers,
    job: &Job,
    root: &std::path::Path,
    log: &JobLog,
) -> Outcome {
    // The providers act as the pipeline's role: what it may not read or write, they do not.
    for (action, resource) in role_accesses(sluice, job) {
        if let Err(e) = sluice.authorize_job(job, action, &resource).await {
            let message = format!("Insufficient permissions: {e}");
            log.line(&message);
            return Err(message);
        }
    }
    let t = &job.action_type_id;
    if t.category == "Source" {
        return sources::run_source(sluice, config, job, root, log).await;
    }
    if t.category == "Deploy" && t.provider == "CodeDeploy" {
        // The hosts' agents run the revision; nothing runs here.
        return crate::deploy::run_codedeploy(sluice, job, log).await;
    }
    if t.category == "Invoke" && t.provider == "Lambda" {
        // The function runs in the function pool (sandboxed there) and reports for itself.
        return crate::lambda::run_lambda(sluice, job, log).await;
    }
    if let Some(refusal) = &config.refusal {
        return Err(format!("builds are refused on this server: {refusal}"));
    }
    let names: Vec<String> = job.input_artifacts.iter().map(|a| a.name.clone()).collect();
    let ws = Workspace::create(&root.join("ws"), &names).map_err(|e| e.to_string())?;
    for (artifact, (_, dir)) in job.input_artifacts.iter().zip(&ws.inputs) {
        let Some((bucket, key)) = &artifact.location else {
            return Err(format!(
                "input artifact {} was not produced by this execution",
                artifact.name
            ));
        };
        let zip = root.join("input.zip");
        let (_, body) = sluice
            .get_object(bucket, key, None)
            .await
            .map_err(|e| format!("input artifact {} could not be read: {e}", artifact.name))?;
        write_stream(body, &zip).await.map_err(|e| e.to_string())?;
        let unpacked = unpack_file(&zip, dir).await.map_err(|e| {
            format!(
                "input artifact {} could not be unpacked: {e}",
                artifact.name
            )
        })?;
        // A build must never pass on a workspace its input failed to fill.
        let arrived = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        if unpacked.files + unpacked.directories > 0 && !arrived {
            return Err(format!(
                "input artifact {} holds {} files but none arrived in the workspace",
                artifact.name, unpacked.files
            ));
        }
        let _ = std::fs::remove_file(&zip);
    }
    let wants_output = !job.output_artifacts.is_empty();
    let ran: Result<RunOutput, sluice_worker::Error> = match t.provider.as_str() {
        "Commands" => {
            let deadline = Instant::now() + config.job_timeout;
            log.line(&format!(
                "[Container] Commands action {} of {}",
                job.action, job.pipeline
            ));
            run_commands(
                &job.commands,
                &job.environment_variables,
                &job.output_variables,
                wants_output,
                job.output_artifacts
                    .first()
                    .and_then(|artifact| job.output_files.get(&artifact.name))
                    .map(Vec::as_slice),
                &config.sandbox,
                &ws,
                deadline,
                log.clone(),
            )
            .await
        }
        "CodeBuild" => {
            let name = job
                .configuration
                .get("ProjectName")
                .cloned()
                .unwrap_or_default();
            let Some(project) = config.projects.get(&name) else {
                return Err(format!("CodeBuild project {name} is not defined in this server's configuration ([codebuild.projects.{name}])"));
            };
            let timeout = project
                .timeout_minutes
                .map(|m| Duration::from_secs(m * 60))
                .unwrap_or(config.job_timeout);
            log.line(&format!(
                "[Container] Build of project {name} for {}",
                job.pipeline
            ));
            run_codebuild(
                &name,
                project,
                &job.configuration,
                wants_output,
                &config.sandbox,
                &ws,
                Instant::now() + timeout,
                log.clone(),
            )
            .await
        }
        other => Err(sluice_worker::Error::Configuration(format!(
            "no provider for {other} is available on this server"
        ))),
    };
    let ran = ran.map_err(|e| e.to_string())?;
    if ran.has_output {
        for artifact in &job.output_artifacts {
            store_dir(sluice, &ws.output, root, artifact).await?;
        }
    }
    Ok(JobOutcome {
        summary: Some(ran.summary),
        external_execution_id: Some(job.id.clone()),
        output_variables: ran.output_variables,
        ..Default::default()
    })
}

/// Packs `dir` and stores it as the output artifact.
pub(crate) async fn store_dir(
    sluice: &Sluice,
    dir: &std::path::Path,
    root: &std::path::Path,
    artifact: &sluice_service::JobArtifact,
) -> Result<(), String> {
    let Some((bucket, key)) = &artifact.location else {
        return Err(format!("output artifact {} has no location", artifact.name));
    };
    let zip = root.join("output.zip");
    pack_to_file(dir, &zip)
        .await
        .map_err(|e| format!("output artifact {} could not be packed: {e}", artifact.name))?;
    let body = file_stream(&zip).await.map_err(|e| e.to_string())?;
    sluice
        .store_artifact(bucket, key, body)
        .await
        .map_err(|e| format!("output artifact {} could not be stored: {e}", artifact.name))?;
    let _ = std::fs::remove_file(&zip);
    Ok(())
}
