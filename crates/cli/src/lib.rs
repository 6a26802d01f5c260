//! The `sluice` client commands people use all day, over the public API with the standard
//! AWS credential chain: `status` (every pipeline on one screen), `start`, `watch` (live
//! progress until the execution ends; the exit code is its result) and `logs` (an action's
//! log, `--follow`ed while it runs), plus `git-credential` (git's credential helper protocol,
//! so `git push` to a hosted repository signs in with the same key). Data goes to stdout,
//! progress and errors to stderr; `--output json` prints JSON instead of text.

pub mod credentials;

use serde_json::{json, Value};
use sluice_worker::client::Client;
use std::io::Write;
use std::time::Duration;

/// What can go wrong in a client command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no AWS credentials were found (looked at {0})")]
    NoCredentials(String),
    #[error("{0}")]
    Api(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Worker(#[from] sluice_worker::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// How often `watch` and `logs --follow` look again.
const POLL: Duration = Duration::from_secs(1);

/// The bucket and key of a job's log on the server's S3 endpoint.
const LOG_BUCKET: &str = "sluice-logs";

async fn call(client: &Client, operation: &str, input: Value) -> Result<Value> {
    match client.call::<Value, Value>(operation, &input).await? {
        Ok(v) => Ok(v),
        Err(e) => Err(Error::Api(format!(
            "{operation} failed: {} ({}): {}",
            e.code, e.status, e.message
        ))),
    }
}

fn print_json(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::other)?;
    writeln!(out)?;
    Ok(())
}

/// Every pipeline name, across pages.
async fn pipeline_names(client: &Client) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page = call(client, "ListPipelines", input).await?;
        for p in page["pipelines"].as_array().into_iter().flatten() {
            names.extend(p["name"].as_str().map(str::to_string));
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(names),
        }
    }
}

async fn latest_execution(client: &Client, pipeline: &str) -> Result<Option<Value>> {
    let list = call(
        client,
        "ListPipelineExecutions",
        json!({"pipelineName": pipeline, "maxResults": 1}),
    )
    .await?;
    Ok(list["pipelineExecutionSummaries"]
        .as_array()
        .and_then(|l| l.first())
        .cloned())
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// `sluice status`: each pipeline, its latest execution and each stage's state.
pub async fn status(client: &Client, output: Output) -> Result<()> {
    let mut rows = Vec::new();
    for name in pipeline_names(client).await? {
        let state = call(client, "GetPipelineState", json!({"name": name})).await?;
        let latest = latest_execution(client, &name).await?;
        let stages: Vec<Value> = state["stageStates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                json!({"stage": s["stageName"],
                       "status": s["latestExecution"]["status"].as_str().unwrap_or("-")})
            })
            .collect();
        rows.push(json!({
            "pipeline": name,
            "executionId": latest.as_ref().map(|l| l["pipelineExecutionId"].clone()),
            "status": latest.as_ref().map(|l| l["status"].clone()),
            "revision": latest.as_ref().map(|l| l["sourceRevisions"][0]["revisionSummary"].clone()),
            "stages": stages,
        }));
    }
    if output == Output::Json {
        return print_json(&json!({"pipelines": rows}));
    }
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        writeln!(out, "no pipelines")?;
        return Ok(());
    }
    let width = rows
        .iter()
        .filter_map(|r| r["pipeline"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(8)
        .max(8);
    writeln!(
        out,
        "{:width$}  {:8}  {:10}  STAGES",
        "PIPELINE", "RUN", "STATUS"
    )?;
    for row in &rows {
        let stages: Vec<String> = row["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["stage"].as_str().unwrap_or_default(),
                    s["status"].as_str().unwrap_or("-")
                )
            })
            .collect();
        let revision = row["revision"].as_str().unwrap_or_default();
        writeln!(
            out,
            "{:width$}  {:8}  {:10}  {}{}",
            row["pipeline"].as_str().unwrap_or_default(),
            short(row["executionId"].as_str().unwrap_or("-")),
            row["status"].as_str().unwrap_or("-"),
            stages.join("  "),
            if revision.is_empty() {
                String::new()
            } else {
                format!("  \"{revision}\"")
            }
        )?;
    }
    Ok(())
}

/// `sluice start PIPELINE`: starts an execution and prints its id.
pub async fn start(client: &Client, pipeline: &str, output: Output) -> Result<String> {
    let started = call(client, "StartPipelineExecution", json!({"name": pipeline})).await?;
    let id = started["pipelineExecutionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match output {
        Output::Json => print_json(&started)?,
        Output::Text => println!("{id}"),
    }
    Ok(id)
}

/// The states of the actions the execution `id` has reached, as `Stage/Action -> status`.
fn action_states(state: &Value, id: &str) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for stage in state["stageStates"].as_array().into_iter().flatten() {
        if stage["latestExecution"]["pipelineExecutionId"].as_str() != Some(id) {
            continue;
        }
        for action in stage["actionStates"].as_array().into_iter().flatten() {
            let latest = &action["latestExecution"];
            if let Some(status) = latest["status"].as_str() {
                out.push((
                    format!(
                        "{}/{}",
                        stage["stageName"].as_str().unwrap_or_default(),
                        action["actionName"].as_str().unwrap_or_default()
                    ),
                    status.to_string(),
                    latest["errorDetails"]["message"]
                        .as_str()
                        .map(str::to_string),
                ));
            }
        }
    }
    out
}

/// `sluice watch PIPELINE [EXECUTION]`: prints each action's changes until the execution ends;
/// returns whether it succeeded.
pub async fn watch(
    client: &Client,
    pipeline: &str,
    execution: Option<&str>,
    output: Output,
) -> Result<bool> {
    let id = match execution {
        Some(id) => id.to_string(),
        None => latest_execution(client, pipeline)
            .await?
            .and_then(|e| e["pipelineExecutionId"].as_str().map(str::to_string))
            .ok_or_else(|| Error::Usage(format!("{pipeline} has no executions yet")))?,
    };
    eprintln!("watching {pipeline} execution {id}");
    let mut seen: std::collections::BTreeMap<String, String> = Default::default();
    loop {
        let state = call(client, "GetPipelineState", json!({"name": pipeline})).await?;
        for (action, status, error) in action_states(&state, &id) {
            if seen.get(&action) != Some(&status) {
                match output {
                    Output::Json => println!(
                        "{}",
                        json!({"action": action, "status": status, "error": error})
                    ),
                    Output::Text => match &error {
                        Some(e) if status == "Failed" => println!("{action:30} {status}: {e}"),
                        _ => println!("{action:30} {status}"),
                    },
                }
                seen.insert(action, status);
            }
        }
        let execution = call(
            client,
            "GetPipelineExecution",
            json!({"pipelineName": pipeline, "pipelineExecutionId": id}),
        )
        .await?;
        let status = execution["pipelineExecution"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !matches!(status.as_str(), "InProgress" | "Stopping" | "") {
            match output {
                Output::Json => println!("{}", json!({"execution": id, "status": status})),
                Output::Text => println!("{pipeline} {} {status}", short(&id)),
            }
            return Ok(status == "Succeeded");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Where a log is: the job, and (for `PIPELINE/STAGE/ACTION`) where to ask whether it runs.
struct LogTarget {
    job_id: String,
    action: Option<(String, String, String)>,
}

async fn log_target(client: &Client, target: &str) -> Result<LogTarget> {
    let parts: Vec<&str> = target.split('/').collect();
    let [pipeline, stage, action] = parts.as_slice() else {
        return Ok(LogTarget {
            job_id: target.to_string(),
            action: None,
        });
    };
    let state = call(client, "GetPipelineState", json!({"name": pipeline})).await?;
    let job_id = action_latest(&state, stage, action)
        .and_then(|l| l["externalExecutionId"].as_str().map(str::to_string))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{target} has not started a job yet (no externalExecutionId)"
            ))
        })?;
    Ok(LogTarget {
        job_id,
        action: Some((pipeline.to_string(), stage.to_string(), action.to_string())),
    })
}

fn action_latest<'a>(state: &'a Value, stage: &str, action: &str) -> Option<&'a Value> {
    state["stageStates"]
        .as_array()?
        .iter()
        .find(|s| s["stageName"] == stage)?["actionStates"]
        .as_array()?
        .iter()
        .find(|a| a["actionName"] == action)
        .map(|a| &a["latestExecution"])
}

async fn still_running(client: &Client, target: &LogTarget) -> Result<bool> {
    let Some((pipeline, stage, action)) = &target.action else {
        return Ok(false);
    };
    let state = call(client, "GetPipelineState", json!({"name": pipeline})).await?;
    Ok(action_latest(&state, stage, action).is_some_and(|l| {
        l["status"] == "InProgress" && l["externalExecutionId"] == target.job_id.as_str()
    }))
}

/// `sluice logs JOB | PIPELINE/STAGE/ACTION [--follow]`: prints the log; with `follow`, keeps
/// printing while the action runs.
pub async fn logs(client: &Client, target: &str, follow: bool) -> Result<()> {
    let target = log_target(client, target).await?;
    let key = format!("jobs/{}.log", target.job_id);
    let mut offset = 0u64;
    loop {
        // Asked before reading, so the last read after the end sees everything.
        let running = follow && still_running(client, &target).await?;
        if let Some(bytes) = client.s3_read(LOG_BUCKET, &key, offset).await? {
            std::io::stdout().lock().write_all(&bytes)?;
            offset += bytes.len() as u64;
        } else if !running {
            return Err(Error::Usage(format!(
                "job {} has no log (yet)",
                target.job_id
            )));
        }
        if !running {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `sluice git-credential get`: git's credential helper protocol, answering with the access
/// key id as the user name and its secret as the password (`store` and `erase` do nothing).
pub fn git_credential(operation: &str, credentials: &sluice_sigv4::Credentials) -> Result<()> {
    if operation != "get" {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "username={}", credentials.access_key_id)?;
    writeln!(out, "password={}", credentials.secret_access_key)?;
    Ok(())
}
