//! The persisted documents of CodeDeploy's resources and deployments, which are also what the
//! façade answers with. Times are milliseconds since the epoch.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sluice_deploy as d;
use sluice_store::Tag;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationDoc {
    pub application_id: String,
    pub application_name: String,
    pub create_ms: i64,
    pub compute_platform: String,
}

/// A tag filter: `Type` is `KEY_ONLY`, `VALUE_ONLY` or `KEY_AND_VALUE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagFilter {
    pub key: Option<String>,
    pub value: Option<String>,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoRollbackDoc {
    pub enabled: bool,
    pub events: Vec<String>,
}

/// The latest deployment of a kind a group remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastDeploymentDoc {
    pub deployment_id: String,
    pub status: String,
    pub end_ms: Option<i64>,
    pub create_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeploymentGroupDoc {
    pub application_name: String,
    pub deployment_group_id: String,
    pub deployment_group_name: String,
    pub deployment_config_name: String,
    pub service_role_arn: String,
    pub on_premises_instance_tag_filters: Vec<TagFilter>,
    pub on_premises_tag_set: Vec<Vec<TagFilter>>,
    pub auto_rollback: Option<AutoRollbackDoc>,
    /// The revision of the last successful deployment.
    pub target_revision: Option<S3LocationDoc>,
    pub last_successful_deployment: Option<LastDeploymentDoc>,
    pub last_attempted_deployment: Option<LastDeploymentDoc>,
    #[serde(default)]
    pub outdated_instances_strategy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinimumHealthyHostsDoc {
    /// `HOST_COUNT`, `FLEET_PERCENT`, or `MOST_CONCURRENCY` (built in only).
    pub kind: String,
    pub value: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentConfigDoc {
    pub deployment_config_id: String,
    pub deployment_config_name: String,
    pub minimum_healthy_hosts: MinimumHealthyHostsDoc,
    pub compute_platform: String,
    pub create_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceDoc {
    pub instance_name: String,
    pub iam_user_arn: String,
    pub instance_arn: String,
    pub register_ms: i64,
    pub deregister_ms: Option<i64>,
    pub tags: Vec<Tag>,
}

/// A revision in an S3 bucket of this server: bundle type `zip`, `tar` or `tgz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3LocationDoc {
    pub bucket: String,
    pub key: String,
    pub bundle_type: String,
    pub version: Option<String>,
    pub etag: Option<String>,
}

impl S3LocationDoc {
    pub(crate) fn check(&self) -> Result<()> {
        if self.bucket.is_empty() || self.key.is_empty() {
            return Err(super::deploy_error(
                "InvalidRevisionException",
                "The revision's S3 location needs a bucket and a key",
            ));
        }
        if !matches!(self.bundle_type.as_str(), "zip" | "tar" | "tgz") {
            return Err(super::deploy_error(
                "InvalidBundleTypeException",
                format!(
                    "The bundle type {:?} is not zip, tar or tgz (YAML and JSON are for Lambda and ECS)",
                    self.bundle_type
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionDoc {
    pub location: S3LocationDoc,
    pub description: Option<String>,
    pub register_ms: i64,
    pub first_used_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    pub deployment_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackInfoDoc {
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_deployment_id: Option<String>,
    pub rollback_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticsDoc {
    pub error_code: String,
    pub script_name: String,
    pub message: String,
    pub log_tail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRunDoc {
    pub event: String,
    pub status: String,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub diagnostics: Option<DiagnosticsDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDoc {
    pub instance: String,
    pub status: String,
    pub events: Vec<EventRunDoc>,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfoDoc {
    pub code: String,
    pub message: String,
}

/// A deployment: what was asked and the scheduler's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDoc {
    pub deployment_id: String,
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_group_id: String,
    pub deployment_config_name: String,
    pub minimum_healthy_hosts: MinimumHealthyHostsDoc,
    pub revision: S3LocationDoc,
    /// The revision the group ran before, whose `ApplicationStop` hooks run first.
    pub previous_revision: Option<S3LocationDoc>,
    pub description: Option<String>,
    /// `user`, `autoRollback` or `CodePipeline`.
    pub creator: String,
    pub file_exists_behavior: Option<String>,
    pub ignore_application_stop_failures: bool,
    pub auto_rollback: Option<AutoRollbackDoc>,
    pub rollback_info: Option<RollbackInfoDoc>,
    pub status: String,
    pub error: Option<ErrorInfoDoc>,
    pub create_ms: i64,
    pub start_ms: Option<i64>,
    pub complete_ms: Option<i64>,
    pub targets: Vec<TargetDoc>,
}

fn corrupt(what: &str) -> Error {
    Error::Internal(format!("a stored deployment has an unknown {what}"))
}

impl DeploymentDoc {
    /// The scheduler's view of this deployment.
    pub(crate) fn scheduler(&self) -> Result<d::Deployment> {
        let health = self
            .minimum_healthy_hosts
            .health()
            .ok_or_else(|| corrupt("minimum healthy hosts type"))?;
        let mut targets = Vec::new();
        for t in &self.targets {
            let mut events = Vec::new();
            for run in &t.events {
                events.push(d::EventRun {
                    event: d::LifecycleEvent::from_name(&run.event)
                        .ok_or_else(|| corrupt("lifecycle event"))?,
                    status: d::EventStatus::from_name(&run.status)
                        .ok_or_else(|| corrupt("event status"))?,
                    start_ms: run.start_ms,
                    end_ms: run.end_ms,
                    diagnostics: run.diagnostics.as_ref().map(|x| d::Diagnostics {
                        error_code: x.error_code.clone(),
                        script_name: x.script_name.clone(),
                        message: x.message.clone(),
                        log_tail: x.log_tail.clone(),
                    }),
                });
            }
            targets.push(d::Target {
                instance: t.instance.clone(),
                status: d::TargetStatus::from_name(&t.status)
                    .ok_or_else(|| corrupt("target status"))?,
                events,
                updated_ms: t.updated_ms,
            });
        }
        Ok(d::Deployment {
            status: d::DeploymentStatus::from_name(&self.status)
                .ok_or_else(|| corrupt("deployment status"))?,
            health,
            targets,
            error: self.error.as_ref().map(|e| d::ErrorInfo {
                code: e.code.clone(),
                message: e.message.clone(),
            }),
            start_ms: self.start_ms,
            complete_ms: self.complete_ms,
        })
    }

    /// Takes the scheduler's state after a step.
    pub(crate) fn absorb(&mut self, state: &d::Deployment) {
        self.status = state.status.name().into();
        self.error = state.error.as_ref().map(|e| ErrorInfoDoc {
            code: e.code.clone(),
            message: e.message.clone(),
        });
        self.start_ms = state.start_ms;
        self.complete_ms = state.complete_ms;
        self.targets = state
            .targets
            .iter()
            .map(|t| TargetDoc {
                instance: t.instance.clone(),
                status: t.status.name().into(),
                updated_ms: t.updated_ms,
                events: t
                    .events
                    .iter()
                    .map(|run| EventRunDoc {
                        event: run.event.name().into(),
                        status: run.status.name().into(),
                        start_ms: run.start_ms,
                        end_ms: run.end_ms,
                        diagnostics: run.diagnostics.as_ref().map(|x| DiagnosticsDoc {
                            error_code: x.error_code.clone(),
                            script_name: x.script_name.clone(),
                            message: x.message.clone(),
                            log_tail: x.log_tail.clone(),
                        }),
                    })
                    .collect(),
            })
            .collect();
    }

    /// Counts of targets by status, as `deploymentOverview` gives them.
    pub fn overview(&self) -> [(&'static str, i64); 5] {
        let count = |s: &str| self.targets.iter().filter(|t| t.status == s).count() as i64;
        [
            ("Pending", count("Pending")),
            ("InProgress", count("InProgress")),
            ("Succeeded", count("Succeeded")),
            ("Failed", count("Failed")),
            ("Skipped", count("Skipped")),
        ]
    }
}
