//! `sluice worker`: polls a Sluice server for jobs of one action type and runs each with a
//! command you give it (the guide's job-worker role, e.g. a Jenkins build). For every job it
//! downloads the input artifacts with the job's `artifactCredentials`, runs the command in its
//! own process group with the inputs and an output directory in its environment, uploads the
//! outputs and the masked log, and reports success or failure. A command still running after
//! `continue_after` is reported with a continuation token and kept running; the continuation
//! job is then claimed and the run attached to it. Server errors and restarts are waited out.

use crate::client::{ApiError, Client};
use crate::files::{pack_to_file, unpack_file};
use crate::log::JobLog;
use crate::process::{self, Exit};
use crate::runners::Workspace;
use crate::{Error, Result};
use sluice_sigv4::Credentials;
use sluice_wire as w;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the worker runs and how.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub action_type: w::ActionTypeId,
    /// The program and its arguments (an argument vector, never a shell string).
    pub command: Vec<String>,
    pub work_dir: PathBuf,
    pub poll_interval: Duration,
    /// The longest one command may run.
    pub job_timeout: Duration,
    /// How long a job's command runs before the job is continued with a continuation token.
    pub continue_after: Duration,
    /// Stop after this many jobs (tests); `None` runs until shutdown.
    pub max_jobs: Option<usize>,
}

fn env_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

async fn call<I: serde::Serialize, O: serde::de::DeserializeOwned>(
    client: &Client,
    op: &str,
    input: &I,
    shutdown: &watch::Receiver<bool>,
) -> Result<std::result::Result<O, ApiError>> {
    // Transport errors (the server restarting) are retried with backoff; API errors are not.
    let mut delay = Duration::from_millis(200);
    loop {
        match client.call(op, input).await {
            Ok(r) => return Ok(r),
            Err(e) if !*shutdown.borrow() => {
                tracing::warn!(operation = op, error = %e, "server unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Polls and runs jobs until `shutdown` turns true (or `max_jobs` are done).
pub async fn run(
    client: Client,
    options: WorkerOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    if options.command.is_empty() {
        return Err(Error::Configuration(
            "the worker needs a command to run: -- ./build.sh".into(),
        ));
    }
    let mut done = 0;
    while !*shutdown.borrow() && options.max_jobs.is_none_or(|m| done < m) {
        let input = w::PollForJobsInput {
            action_type_id: options.action_type.clone(),
            max_batch_size: Some(1),
            query_param: None,
        };
        let polled: std::result::Result<w::PollForJobsOutput, ApiError> =
            call(&client, "PollForJobs", &input, &shutdown).await?;
        let jobs = match polled {
            Ok(out) => out.jobs.unwrap_or_default(),
            Err(e) => {
                return Err(Error::Configuration(format!(
                    "PollForJobs was refused: {} {}",
                    e.code, e.message
                )))
            }
        };
        let Some(job) = jobs.into_iter().next() else {
            tokio::time::sleep(options.poll_interval).await;
            continue;
        };
        if let Err(e) = run_job(&client, &options, job, &shutdown).await {
            tracing::warn!(error = %e, "a job could not be completed");
        }
        done += 1;
    }
    Ok(())
}

async fn acknowledge(
    client: &Client,
    job: &w::Job,
    shutdown: &watch::Receiver<bool>,
) -> Result<bool> {
    let input = w::AcknowledgeJobInput {
        job_id: job.id.clone().unwrap_or_default(),
        nonce: job.nonce.clone().unwrap_or_default(),
    };
    let acked: std::result::Result<w::AcknowledgeJobOutput, ApiError> =
        call(client, "AcknowledgeJob", &input, shutdown).await?;
    Ok(acked.is_ok())
}

fn credentials(data: &w::JobData) -> Result<Credentials> {
    let c = data
        .artifact_credentials
        .as_ref()
        .ok_or_else(|| Error::Configuration("the job carries no artifactCredentials".into()))?;
    Ok(Credentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
        session_token: Some(c.session_token.clone()),
    })
}

fn location(a: &w::Artifact) -> Option<(String, String)> {
    let s3 = a.location.as_ref()?.s3_location.as_ref()?;
    Some((s3.bucket_name.clone(), s3.object_key.clone()))
}

async fn run_job(
    client: &Client,
    options: &WorkerOptions,
    job: w::Job,
    shutdown: &watch::Receiver<bool>,
) -> Result<()> {
    if !acknowledge(client, &job, shutdown).await? {
        return Ok(());
    }
    let mut job_id = job.id.clone().unwrap_or_default();
    let mut data = job.data.clone().unwrap_or_default();
    let began = Instant::now();
    let context = data.pipeline_context.clone().unwrap_or_default();
    // One line per job for whoever watches the worker, whatever the log filter.
    eprintln!(
        "job {job_id} started: {}/{}/{}",
        context.pipeline_name.unwrap_or_default(),
        context.stage.and_then(|s| s.name).unwrap_or_default(),
        context.action.and_then(|a| a.name).unwrap_or_default()
    );
    let mut creds = credentials(&data)?;
    let root = options.work_dir.join(&job_id);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let log = JobLog::create(
        &root.join("job.log"),
        vec![
            creds.secret_access_key.clone(),
            creds.session_token.clone().unwrap_or_default(),
        ],
    )?;
    let started = prepare_and_spawn(client, options, &data, &creds, &root, &log).await;
    let outcome = match started {
        Err(e) => Err(e.to_string()),
        Ok((ws, task)) => {
            let mut task = task;
            let mut current = job.clone();
            loop {
                tokio::select! {
                    exit = &mut task => {
                        break finish(client, &data, &creds, &ws, &root, exit, options).await;
                    }
                    _ = tokio::time::sleep(options.continue_after) => {
                        match continue_job(client, options, &current, shutdown).await? {
                            Some(next) => {
                                // The finished job's credentials expired with it.
                                job_id = next.id.clone().unwrap_or_default();
                                data = next.data.clone().unwrap_or_default();
                                creds = credentials(&data)?;
                                current = next;
                            }
                            None => {
                                task.abort();
                                break Err("the continuation job did not arrive".into());
                            }
                        }
                    }
                }
            }
        }
    };
    upload_log(client, &creds, &job_id, &log).await;
    let seconds = began.elapsed().as_secs_f64();
    match &outcome {
        Ok(_) => eprintln!("job {job_id} succeeded in {seconds:.1} s"),
        Err(message) => eprintln!(
            "job {job_id} failed in {seconds:.1} s: {}",
            log.mask(message)
        ),
    }
    let reported = match outcome {
        Ok(summary) => {
            let input = w::PutJobSuccessResultInput {
                job_id: job_id.clone(),
                execution_details: Some(w::ExecutionDetails {
                    external_execution_id: Some(job_id.clone()),
                    percent_complete: Some(100),
                    summary: Some(summary),
                }),
                ..Default::default()
            };
            call::<_, serde_json::Value>(client, "PutJobSuccessResult", &input, shutdown).await?
        }
        Err(message) => {
            let input = w::PutJobFailureResultInput {
                job_id: job_id.clone(),
                failure_details: w::FailureDetails {
                    r#type: "JobFailed".into(),
                    message: log.mask(&message),
                    external_execution_id: Some(job_id.clone()),
                },
            };
            call::<_, serde_json::Value>(client, "PutJobFailureResult", &input, shutdown).await?
        }
    };
    if let Err(e) = reported {
        tracing::warn!(
            job = job_id,
            code = e.code,
            "the result was refused: {}",
            e.message
        );
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

type RunTask = tokio::task::JoinHandle<Result<Exit>>;

async fn prepare_and_spawn(
    client: &Client,
    options: &WorkerOptions,
    data: &w::JobData,
    creds: &Credentials,
    root: &Path,
    log: &JobLog,
) -> Result<(Workspace, RunTask)> {
    let inputs = data.input_artifacts.clone().unwrap_or_default();
    let names: Vec<String> = inputs
        .iter()
        .map(|a| a.name.clone().unwrap_or_default())
        .collect();
    let ws = Workspace::create(&root.join("ws"), &names)?;
    for (artifact, (name, dir)) in inputs.iter().zip(&ws.inputs) {
        let (bucket, key) = location(artifact).ok_or_else(|| {
            Error::Configuration(format!("input artifact {name} has no location"))
        })?;
        let zip = root.join("input.zip");
        client.s3_get(creds, &bucket, &key, &zip).await?;
        unpack_file(&zip, dir).await?;
        let _ = std::fs::remove_file(&zip);
    }
    let cwd = ws
        .inputs
        .first()
        .map(|(_, d)| d.clone())
        .unwrap_or_else(|| ws.output.clone());
    let mut cmd = process::operator_command(&options.command[0], &cwd);
    cmd.args(&options.command[1..]);
    let ctx = data.pipeline_context.clone().unwrap_or_default();
    cmd.env("SLUICE_OUTPUT_DIR", &ws.output)
        .env("SLUICE_PIPELINE", ctx.pipeline_name.unwrap_or_default())
        .env(
            "SLUICE_PIPELINE_EXECUTION_ID",
            ctx.pipeline_execution_id.unwrap_or_default(),
        )
        .env(
            "SLUICE_STAGE",
            ctx.stage.and_then(|s| s.name).unwrap_or_default(),
        )
        .env(
            "SLUICE_ACTION",
            ctx.action.and_then(|a| a.name).unwrap_or_default(),
        );
    for (name, dir) in &ws.inputs {
        cmd.env(format!("SLUICE_INPUT_{}", env_name(name)), dir);
    }
    let config = data
        .action_configuration
        .clone()
        .and_then(|c| c.configuration)
        .unwrap_or_default();
    for (k, v) in config {
        cmd.env(format!("SLUICE_CONFIG_{}", env_name(&k)), v);
    }
    log.line(&format!("[sluice worker] running {:?}", options.command));
    let deadline = Instant::now() + options.job_timeout;
    let task_log = log.clone();
    let task = tokio::spawn(async move { process::run(cmd, deadline, &task_log).await });
    Ok((ws, task))
}

/// Reports the running job as continuing and claims the continuation job the server queues.
async fn continue_job(
    client: &Client,
    options: &WorkerOptions,
    current: &w::Job,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<w::Job>> {
    let id = current.id.clone().unwrap_or_default();
    let token = format!("run-of-{id}");
    let input = w::PutJobSuccessResultInput {
        job_id: id.clone(),
        continuation_token: Some(token.clone()),
        execution_details: Some(w::ExecutionDetails {
            external_execution_id: Some(id),
            percent_complete: Some(50),
            summary: Some("still running".into()),
        }),
        ..Default::default()
    };
    if call::<_, serde_json::Value>(client, "PutJobSuccessResult", &input, shutdown)
        .await?
        .is_err()
    {
        return Ok(None);
    }
    for _ in 0..600 {
        let poll = w::PollForJobsInput {
            action_type_id: options.action_type.clone(),
            max_batch_size: Some(1),
            query_param: None,
        };
        let polled: std::result::Result<w::PollForJobsOutput, ApiError> =
            call(client, "PollForJobs", &poll, shutdown).await?;
        for next in polled.ok().and_then(|o| o.jobs).unwrap_or_default() {
            let ours = next
                .data
                .as_ref()
                .and_then(|d| d.continuation_token.as_deref())
                == Some(token.as_str());
            if ours && acknowledge(client, &next, shutdown).await? {
                return Ok(Some(next));
            }
            // Another job: left unacknowledged, it returns to the queue after its lease.
        }
        tokio::time::sleep(options.poll_interval).await;
    }
    Ok(None)
}

async fn finish(
    client: &Client,
    data: &w::JobData,
    creds: &Credentials,
    ws: &Workspace,
    root: &Path,
    exit: std::result::Result<Result<Exit>, tokio::task::JoinError>,
    options: &WorkerOptions,
) -> std::result::Result<String, String> {
    let program = &options.command[0];
    match exit {
        Ok(Ok(Exit::Finished(status))) if status.success() => {}
        Ok(Ok(Exit::Finished(status))) => {
            let code = status
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into());
            return Err(format!(
                "Command {program} did not exit successfully: exit status {code}"
            ));
        }
        Ok(Ok(Exit::TimedOut)) => {
            return Err(format!("Command {program} timed out and was killed"))
        }
        Ok(Err(e)) => return Err(e.to_string()),
        Err(e) => return Err(format!("the command's task failed: {e}")),
    }
    let outputs = data.output_artifacts.clone().unwrap_or_default();
    for artifact in &outputs {
        let name = artifact.name.clone().unwrap_or_default();
        let dir = if outputs.len() == 1 {
            ws.output.clone()
        } else {
            ws.output.join(&name)
        };
        let Some((bucket, key)) = location(artifact) else {
            return Err(format!("output artifact {name} has no location"));
        };
        let zip = root.join("output.zip");
        pack_to_file(&dir, &zip)
            .await
            .map_err(|e| format!("output artifact {name} could not be packed: {e}"))?;
        client
            .s3_put(creds, &bucket, &key, &zip)
            .await
            .map_err(|e| format!("output artifact {name} could not be uploaded: {e}"))?;
    }
    Ok(format!("{program} succeeded"))
}

async fn upload_log(client: &Client, creds: &Credentials, job_id: &str, log: &JobLog) {
    let key = format!("jobs/{job_id}.log");
    if let Err(e) = client.s3_put(creds, "sluice-logs", &key, log.path()).await {
        tracing::warn!(job = job_id, error = %e, "the job log could not be uploaded");
    }
}
