//! The host command protocol (`codedeploy-commands`): an agent signs with the IAM user its
//! on-premises instance was registered with, and that identity alone lets it poll its own
//! commands, report on them, and read its own deployment's specification — nothing else.
//! Every contact renews the leases of the commands the host holds.

use super::deployments::{execution_id, parse_execution_id};
use super::{decode, deploy_error, DeploymentDoc, InstanceDoc};
use crate::{Caller, Error, Result, Sluice};
use sluice_deploy as d;
use sluice_store::{DeployKind, HostCommandRecord};
use std::sync::Arc;

/// What `GetDeploymentSpecification` names the deployment system.
pub const DEPLOYMENT_SYSTEM: &str = "CodeDeploy";

/// Called with the instance name of each newly opened host command (after commit), to wake
/// a long poll.
pub type HostCommandListener = Arc<dyn Fn(&str) + Send + Sync>;

/// A command handed to a host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCommand {
    pub id: String,
    pub host_identifier: String,
    pub deployment_execution_id: String,
    pub command_name: String,
}

fn client_error(message: impl Into<String>) -> Error {
    deploy_error("ClientException", message)
}

impl Sluice {
    /// Installs the listener told about opened host commands; only the first call has an effect.
    pub fn set_host_command_listener(&self, listener: HostCommandListener) {
        let _ = self.inner.host_listener.set(listener);
    }

    pub(crate) fn announce_host_commands(&self, commands: &[HostCommandRecord]) {
        if let Some(listener) = self.inner.host_listener.get() {
            for command in commands {
                listener(&command.host);
            }
        }
    }

    /// The registered instance whose IAM user is the caller, which must be the host it names.
    async fn calling_host(
        &self,
        caller: &Caller,
        host_identifier: Option<&str>,
    ) -> Result<InstanceDoc> {
        if let Some(host) = host_identifier {
            if host != caller.arn {
                return Err(client_error(format!(
                    "The host identifier {host} is not the caller ({}): an agent speaks only for its own instance",
                    caller.arn
                )));
            }
        }
        if let Some(r) = self
            .store()
            .deploy_resource_by_owner(DeployKind::OnPremisesInstance, &caller.arn)
            .await?
        {
            return decode(&r);
        }
        Err(client_error(format!(
            "No registered on-premises instance has the IAM user {}",
            caller.arn
        )))
    }

    /// The caller's instance name, if the caller is a registered instance's IAM user.
    pub async fn instance_of_caller(&self, caller: &Caller) -> Option<String> {
        self.calling_host(caller, None)
            .await
            .ok()
            .map(|i| i.instance_name)
    }

    async fn owned_command(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(InstanceDoc, Option<HostCommandRecord>)> {
        let host = self.calling_host(caller, None).await?;
        let command = self.store().host_command(id).await?;
        if let Some(c) = &command {
            if c.host != host.instance_name {
                return Err(client_error(format!(
                    "The host command {id} is not this host's"
                )));
            }
        }
        Ok((host, command))
    }

    async fn renew(&self, host: &str) -> Result<()> {
        let until = self.now_ms() + self.options().host_lease_ms;
        Ok(self.store().renew_host_leases(host, until).await?)
    }

    /// `PollHostCommand`: the host's oldest command not yet handed out, now handed out.
    pub async fn poll_host_command(
        &self,
        caller: &Caller,
        host_identifier: &str,
    ) -> Result<Option<HostCommand>> {
        let host = self.calling_host(caller, Some(host_identifier)).await?;
        self.renew(&host.instance_name).await?;
        let open = self.store().host_commands(&host.instance_name).await?;
        let Some(next) = open.into_iter().find(|c| c.state == "Pending") else {
            return Ok(None);
        };
        let until = self.now_ms() + self.options().host_lease_ms;
        if !self
            .store()
            .set_host_command(&next.id, "Dispatched", until)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(HostCommand {
            id: next.id,
            host_identifier: host_identifier.into(),
            deployment_execution_id: execution_id(
                &self.options().account_id,
                &next.deployment_id,
                &host.instance_name,
            ),
            command_name: next.event,
        }))
    }

    /// `PutHostCommandAcknowledgement`: the command's status — `InProgress` when the host
    /// should run it, `Failed` when it was withdrawn (a stopped deployment).
    pub async fn acknowledge_host_command(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<&'static str> {
        let (host, command) = self.owned_command(caller, id).await?;
        self.renew(&host.instance_name).await?;
        let Some(command) = command else {
            return Ok("Failed");
        };
        let until = self.now_ms() + self.options().host_lease_ms;
        self.store()
            .set_host_command(id, "InProgress", until)
            .await?;
        let event = d::LifecycleEvent::from_name(&command.event)
            .ok_or_else(|| Error::Internal(format!("command {id} has an unknown event")))?;
        let input = d::Input::Acknowledged {
            instance: command.host.clone(),
            event,
        };
        match self
            .deployment_step(&command.deployment_id, input, None)
            .await
        {
            Ok(_) => Ok("InProgress"),
            Err(Error::Named { .. }) => Ok("Failed"),
            Err(e) => Err(e),
        }
    }

    /// `PostHostCommandUpdate`: the host is alive; `Failed` tells it the command was withdrawn.
    pub async fn host_command_update(&self, caller: &Caller, id: &str) -> Result<&'static str> {
        let (host, command) = self.owned_command(caller, id).await?;
        self.renew(&host.instance_name).await?;
        Ok(if command.is_some() {
            "InProgress"
        } else {
            "Failed"
        })
    }

    /// `PutHostCommandComplete`: the lifecycle event ended; the scheduler moves on.
    pub async fn complete_host_command(
        &self,
        caller: &Caller,
        id: &str,
        status: &str,
        diagnostics: Option<&str>,
    ) -> Result<()> {
        let (host, command) = self.owned_command(caller, id).await?;
        self.renew(&host.instance_name).await?;
        let Some(command) = command else {
            // Withdrawn or already reported: nothing waits for it.
            return Ok(());
        };
        let succeeded = match status {
            "Succeeded" => true,
            "Failed" => false,
            other => {
                return Err(client_error(format!(
                    "A command completes Succeeded or Failed, not {other}"
                )))
            }
        };
        let event = d::LifecycleEvent::from_name(&command.event)
            .ok_or_else(|| Error::Internal(format!("command {id} has an unknown event")))?;
        let input = d::Input::Completed {
            instance: command.host.clone(),
            event,
            succeeded,
            diagnostics: parse_diagnostics(diagnostics, succeeded),
        };
        match self
            .deployment_step(&command.deployment_id, input, Some(id))
            .await
        {
            Ok(_) | Err(Error::Named { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GetDeploymentSpecification`: what the host is to deploy, as the agent reads it.
    pub async fn deployment_specification(
        &self,
        caller: &Caller,
        execution: &str,
        host_identifier: &str,
    ) -> Result<String> {
        let host = self.calling_host(caller, Some(host_identifier)).await?;
        let (deployment_id, instance) = parse_execution_id(execution).ok_or_else(|| {
            client_error(format!(
                "The deployment execution id {execution} is not valid"
            ))
        })?;
        if instance != host.instance_name {
            return Err(client_error("The deployment execution is not this host's"));
        }
        let deployment = self
            .deployment(deployment_id)
            .await
            .map_err(|_| client_error(format!("The deployment {deployment_id} does not exist")))?;
        if deployment
            .targets
            .iter()
            .all(|t| t.instance != host.instance_name)
        {
            return Err(client_error("This host is not a target of the deployment"));
        }
        Ok(specification(&deployment))
    }

    /// Whether the caller is a host that may read `bucket`/`key`: the revision (or the
    /// previous revision) of a deployment it has an open command in.
    pub async fn host_may_read(&self, caller: &Caller, bucket: &str, key: &str) -> bool {
        let Ok(host) = self.calling_host(caller, None).await else {
            return false;
        };
        let Ok(open) = self.store().host_commands(&host.instance_name).await else {
            return false;
        };
        for command in open {
            if let Ok(deployment) = self.deployment(&command.deployment_id).await {
                let matches = |r: &super::S3LocationDoc| r.bucket == bucket && r.key == key;
                if matches(&deployment.revision)
                    || deployment.previous_revision.as_ref().is_some_and(matches)
                {
                    return true;
                }
            }
        }
        false
    }
}

/// The deployment specification as AWS's agent parses it (`TEXT/JSON`).
fn specification(deployment: &DeploymentDoc) -> String {
    let revision = &deployment.revision;
    let events: Vec<&str> = d::LifecycleEvent::IN_PLACE
        .iter()
        .map(|e| e.name())
        .collect();
    let mut spec = serde_json::json!({
        "DeploymentId": deployment.deployment_id,
        "DeploymentGroupId": deployment.deployment_group_id,
        "DeploymentGroupName": deployment.deployment_group_name,
        "ApplicationName": deployment.application_name,
        "DeploymentCreator": deployment.creator,
        "DeploymentType": "IN_PLACE",
        "AppSpecFilename": "appspec.yml",
        "AllPossibleLifecycleEvents": events,
        "Revision": {
            "RevisionType": "S3",
            "S3Revision": {
                "Bucket": revision.bucket,
                "Key": revision.key,
                "BundleType": revision.bundle_type,
                "Version": revision.version,
                "ETag": revision.etag,
            }
        },
    });
    if let Some(behavior) = &deployment.file_exists_behavior {
        spec["AgentActionOverrides"] =
            serde_json::json!({"AgentOverrides": {"FileExistsBehavior": behavior}});
    }
    if deployment.ignore_application_stop_failures {
        spec["IgnoreApplicationStopFailures"] = serde_json::json!(true);
    }
    spec.to_string()
}

/// The agent's diagnostics payload (`{"error_code", "script_name", "message", "log"}`, the
/// code a number as AWS's agent sends it) in CodeDeploy's terms.
fn parse_diagnostics(payload: Option<&str>, succeeded: bool) -> d::Diagnostics {
    let value: serde_json::Value = payload
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let code = match value.get("error_code") {
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(0) => "Success",
            Some(1) => "ScriptMissing",
            Some(2) => "ScriptNotExecutable",
            Some(3) => "ScriptTimedOut",
            Some(4) => "ScriptFailed",
            _ => "UnknownError",
        },
        Some(serde_json::Value::String(s)) => match s.as_str() {
            "Success"
            | "ScriptMissing"
            | "ScriptNotExecutable"
            | "ScriptTimedOut"
            | "ScriptFailed" => s.as_str(),
            _ => "UnknownError",
        },
        _ if succeeded => "Success",
        _ => "UnknownError",
    };
    let text = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let log = text("log");
    // CodeDeploy keeps the last 4 KiB of a script's output.
    let mut start = log.len().saturating_sub(4096);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    d::Diagnostics {
        error_code: code.into(),
        script_name: text("script_name"),
        message: text("message"),
        log_tail: log[start..].to_string(),
    }
}
