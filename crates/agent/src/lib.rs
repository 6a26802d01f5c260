//! `sluice agent`: the host side of CodeDeploy's command protocol. It long-polls the server for
//! its instance's next lifecycle event, acknowledges it, reads the deployment's specification,
//! does the event — download and unpack the bundle, install its files, or run the appspec's
//! hook scripts — while telling the server it is alive, and reports the end with AWS's
//! diagnostics. What it keeps between deployments (the last install of each deployment group,
//! the files it placed) lives in its data dir, as AWS's agent keeps it.

mod bundle;
mod hooks;
mod install;

use serde::Deserialize;
use sluice_deploy::appspec::AppSpec;
use sluice_deploy::LifecycleEvent;
use sluice_wire::codedeploy_commands as w;
use sluice_worker::client::Client;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many of a group's deployments stay on a host's disk.
const KEPT_REVISIONS: usize = 5;
/// How often a running command tells the server its host is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long to wait after the server could not be reached.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// How many times an unreachable server is asked again for a command's end (a few minutes).
const COMPLETE_ATTEMPTS: u32 = 600;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    Io(String),
}

impl From<sluice_worker::Error> for Error {
    fn from(e: sluice_worker::Error) -> Self {
        Error::Server(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// How a lifecycle event ended, in the agent's terms (`ScriptError` codes of AWS's agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// 0 success, 1 script missing, 2 not executable, 3 timed out, 4 failed, 5 unknown.
    pub code: u8,
    pub script: String,
    pub message: String,
    pub log: String,
}

impl Outcome {
    fn success(message: impl Into<String>, log: String) -> Outcome {
        Outcome {
            code: 0,
            script: String::new(),
            message: message.into(),
            log,
        }
    }

    fn unknown(message: impl Into<String>) -> Outcome {
        Outcome {
            code: 5,
            script: String::new(),
            message: message.into(),
            log: String::new(),
        }
    }

    fn payload(&self) -> String {
        serde_json::json!({
            "error_code": self.code,
            "script_name": self.script,
            "message": self.message,
            "log": self.log,
        })
        .to_string()
    }
}

#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The instance's IAM user ARN, the host identifier the server knows it by.
    pub host_identifier: String,
    /// Where deployments are unpacked and the agent's records are kept.
    pub data_dir: PathBuf,
}

/// The deployment specification, as the server sends it (`TEXT/JSON`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Spec {
    pub deployment_id: String,
    pub deployment_group_id: String,
    pub deployment_group_name: String,
    pub application_name: String,
    #[serde(default)]
    pub app_spec_filename: Option<String>,
    pub revision: SpecRevision,
    #[serde(default)]
    pub agent_action_overrides: Option<serde_json::Value>,
    #[serde(default)]
    pub ignore_application_stop_failures: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SpecRevision {
    pub revision_type: String,
    #[serde(default)]
    pub s3_revision: Option<S3Revision>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct S3Revision {
    pub bucket: String,
    pub key: String,
    pub bundle_type: String,
    #[serde(default)]
    pub version: Option<String>,
}

impl Spec {
    fn file_exists_behavior(&self) -> Option<String> {
        self.agent_action_overrides
            .as_ref()
            .and_then(|o| o.get("AgentOverrides"))
            .and_then(|o| o.get("FileExistsBehavior"))
            .and_then(|b| b.as_str())
            .map(str::to_string)
    }
}

/// One agent, for one host.
pub struct Agent {
    client: Client,
    options: AgentOptions,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("host_identifier", &self.options.host_identifier)
            .finish()
    }
}

/// Finds the caller's ARN with STS `GetCallerIdentity`: an instance is known by its IAM user.
pub async fn caller_arn(client: &Client) -> Result<String> {
    let (status, xml) = client
        .query("sts", "Action=GetCallerIdentity&Version=2011-06-15")
        .await?;
    let arn = xml
        .split("<Arn>")
        .nth(1)
        .and_then(|rest| rest.split("</Arn>").next())
        .filter(|_| status == 200);
    arn.map(str::to_string).ok_or_else(|| {
        Error::Server(format!(
            "GetCallerIdentity failed (HTTP {status}); the agent's key must belong to the IAM user its instance was registered with"
        ))
    })
}

impl Agent {
    pub fn new(client: Client, options: AgentOptions) -> Agent {
        Agent { client, options }
    }

    async fn call<I: serde::Serialize, O: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        input: &I,
    ) -> Result<O> {
        match self
            .client
            .call_service(w::TARGET_PREFIX, w::SIGNING_NAME, operation, input)
            .await?
        {
            Ok(out) => Ok(out),
            Err(e) => Err(Error::Server(format!(
                "{operation}: {} {}",
                e.code, e.message
            ))),
        }
    }

    /// Polls and runs commands until `stop` turns true.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<()> {
        tracing::info!(
            host = self.options.host_identifier,
            "agent polling for commands"
        );
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let poll = w::PollHostCommandInput {
                host_identifier: self.options.host_identifier.clone(),
            };
            let polled = tokio::select! {
                polled = self.call::<_, w::PollHostCommandOutput>("PollHostCommand", &poll) => polled,
                _ = stop.changed() => return Ok(()),
            };
            match polled {
                Ok(w::PollHostCommandOutput {
                    host_command: Some(command),
                }) => {
                    if let Err(e) = self.handle(command).await {
                        tracing::warn!(error = %e, "a command could not be completed");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "polling failed; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }

    async fn handle(&self, command: w::HostCommandInstance) -> Result<()> {
        let id = command.host_command_identifier.clone().unwrap_or_default();
        let name = command.command_name.clone().unwrap_or_default();
        let execution = command.deployment_execution_id.clone().unwrap_or_default();
        let spec: w::GetDeploymentSpecificationOutput = self
            .call(
                "GetDeploymentSpecification",
                &w::GetDeploymentSpecificationInput {
                    deployment_execution_id: execution,
                    host_identifier: self.options.host_identifier.clone(),
                },
            )
            .await?;
        let ack: w::CommandStatusOutput = self
            .call(
                "PutHostCommandAcknowledgement",
                &w::PutHostCommandAcknowledgementInput {
                    host_command_identifier: id.clone(),
                    diagnostics: None,
                },
            )
            .await?;
        if matches!(ack.command_status.as_deref(), Some("Succeeded" | "Failed")) {
            tracing::info!(command = name, "the command was withdrawn");
            return Ok(());
        }
        let payload = spec
            .deployment_specification
            .and_then(|s| s.generic_envelope)
            .and_then(|e| e.payload)
            .unwrap_or_default();
        let outcome = match serde_json::from_str::<Spec>(&payload) {
            Err(e) => Outcome::unknown(format!(
                "the deployment specification could not be read: {e}"
            )),
            Ok(spec) => {
                tracing::info!(command = name, deployment = spec.deployment_id, "running");
                let work = self.execute(&name, &spec);
                tokio::pin!(work);
                let mut beat = tokio::time::interval(HEARTBEAT);
                beat.tick().await;
                loop {
                    tokio::select! {
                        outcome = &mut work => break outcome,
                        _ = beat.tick() => {
                            let update: Result<w::CommandStatusOutput> = self.call("PostHostCommandUpdate", &w::PostHostCommandUpdateInput {
                                host_command_identifier: id.clone(),
                                estimated_completion_time: None,
                                diagnostics: None,
                            }).await;
                            if matches!(update, Ok(w::CommandStatusOutput { command_status: Some(ref s) }) if s == "Failed") {
                                // Withdrawn (the deployment was stopped): dropping the work kills its scripts.
                                tracing::info!(command = name, "the command was withdrawn while it ran; its scripts were killed");
                                return Ok(());
                            }
                        }
                    }
                }
            }
        };
        let status = if outcome.code == 0 {
            "Succeeded"
        } else {
            "Failed"
        };
        tracing::info!(
            command = name,
            status,
            message = outcome.message,
            "command finished"
        );
        let complete = w::PutHostCommandCompleteInput {
            host_command_identifier: id,
            command_status: status.into(),
            diagnostics: Some(w::Envelope {
                format: Some("JSON".into()),
                payload: Some(outcome.payload()),
            }),
        };
        // The result is what the deployment waits for: a server that is restarting is asked
        // again until it answers (the command's lease bounds how long that can matter).
        let mut attempts = 0;
        loop {
            match self
                .client
                .call_service::<_, serde_json::Value>(
                    w::TARGET_PREFIX,
                    w::SIGNING_NAME,
                    "PutHostCommandComplete",
                    &complete,
                )
                .await
            {
                Ok(Ok(_)) => break,
                Ok(Err(e)) => {
                    return Err(Error::Server(format!(
                        "PutHostCommandComplete: {} {}",
                        e.code, e.message
                    )))
                }
                Err(e) if attempts < COMPLETE_ATTEMPTS => {
                    attempts += 1;
                    tracing::warn!(error = %e, "reporting the command's end failed; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn group_dir(&self, spec: &Spec) -> PathBuf {
        self.options
            .data_dir
            .join("deployment-root")
            .join(&spec.deployment_group_id)
    }

    fn deployment_dir(&self, spec: &Spec) -> PathBuf {
        self.group_dir(spec).join(&spec.deployment_id)
    }

    fn instructions(&self, spec: &Spec, what: &str) -> PathBuf {
        self.options
            .data_dir
            .join("deployment-root")
            .join("deployment-instructions")
            .join(format!("{}-{what}", spec.deployment_group_id))
    }

    /// Keeps the newest `KEPT_REVISIONS` deployments of the group on disk (AWS's agent keeps
    /// five too), so a host's disk does not fill with every revision it ever ran.
    fn prune_revisions(&self, spec: &Spec) {
        let Ok(entries) = std::fs::read_dir(self.group_dir(spec)) else {
            return;
        };
        let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        dirs.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        let current = self.deployment_dir(spec);
        for (_, dir) in dirs.into_iter().skip(KEPT_REVISIONS) {
            if dir != current {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "an old revision could not be removed");
                }
            }
        }
    }

    /// The archive of the revision the group last installed on this host.
    fn last_install(&self, spec: &Spec) -> Option<PathBuf> {
        let recorded =
            std::fs::read_to_string(self.instructions(spec, "last-successful-install")).ok()?;
        let dir = PathBuf::from(recorded.trim());
        dir.is_dir().then_some(dir)
    }

    async fn execute(&self, command: &str, spec: &Spec) -> Outcome {
        let Some(event) = LifecycleEvent::from_name(command) else {
            return Outcome::unknown(format!("Unsupported command type: {command}."));
        };
        let archive = self.deployment_dir(spec).join("deployment-archive");
        match event {
            LifecycleEvent::DownloadBundle => {
                match bundle::download(&self.client, spec, &self.deployment_dir(spec)).await {
                    Ok(files) => Outcome::success(
                        format!("Succeeded: downloaded and unpacked {files} files"),
                        String::new(),
                    ),
                    Err(message) => Outcome::unknown(message),
                }
            }
            LifecycleEvent::Install => {
                let appspec = match read_appspec(&archive, spec) {
                    Ok(a) => a,
                    Err(message) => return Outcome::unknown(message),
                };
                let cleanup = self.instructions(spec, "cleanup");
                match install::install(
                    &appspec,
                    &archive,
                    &cleanup,
                    spec.file_exists_behavior().as_deref(),
                ) {
                    Ok(count) => {
                        let record = self.instructions(spec, "last-successful-install");
                        if let Err(e) =
                            std::fs::write(&record, archive.to_string_lossy().as_bytes())
                        {
                            return Outcome::unknown(format!(
                                "the install could not be recorded: {e}"
                            ));
                        }
                        self.prune_revisions(spec);
                        Outcome::success(
                            format!("Succeeded: installed {count} files"),
                            String::new(),
                        )
                    }
                    Err(message) => Outcome::unknown(message),
                }
            }
            LifecycleEvent::ApplicationStop => {
                // The scripts of the revision being replaced, if this host has one.
                let Some(previous) = self.last_install(spec) else {
                    return Outcome::success(
                        "Succeeded: no previous revision to stop",
                        String::new(),
                    );
                };
                let appspec = match read_appspec(&previous, spec) {
                    Ok(a) => a,
                    Err(message) => return Outcome::unknown(message),
                };
                let outcome =
                    hooks::run_event(&appspec, event, &previous, spec, &self.deployment_dir(spec))
                        .await;
                if outcome.code != 0 && spec.ignore_application_stop_failures {
                    return Outcome::success(
                        format!(
                            "ApplicationStop failed and was ignored: {}",
                            outcome.message
                        ),
                        outcome.log,
                    );
                }
                outcome
            }
            _ if !event.runs_on_host() => Outcome::success(
                "Succeeded: nothing to do on an on-premises host",
                String::new(),
            ),
            _ => {
                let appspec = match read_appspec(&archive, spec) {
                    Ok(a) => a,
                    Err(message) => return Outcome::unknown(message),
                };
                hooks::run_event(&appspec, event, &archive, spec, &self.deployment_dir(spec)).await
            }
        }
    }
}

/// The revision's appspec (`appspec.yml`, or `.yaml`), parsed.
pub(crate) fn read_appspec(archive: &Path, spec: &Spec) -> std::result::Result<AppSpec, String> {
    let named = spec
        .app_spec_filename
        .clone()
        .unwrap_or_else(|| "appspec.yml".into());
    let candidates = [named.clone(), named.replace(".yml", ".yaml")];
    let path = candidates
        .iter()
        .map(|n| archive.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("The CodeDeploy agent did not find an AppSpec file within the unpacked revision directory at revision-relative path \"{named}\""))?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    sluice_deploy::appspec::parse(&text).map_err(|e| e.to_string())
}
