//! Deployments: created from a group's instances and config, moved one scheduler step at a time
//! (each step one store transaction guarded by the deployment's `rev`, with the host commands
//! it opens and closes), stopped, rolled back.

use super::{
    decode_doc, deploy_error, DeploymentDoc, DeploymentGroupDoc, LastDeploymentDoc,
    RollbackInfoDoc, S3LocationDoc,
};
use crate::{Error, Page, Result, Sluice};
use sluice_deploy as d;
use sluice_store::{DeploymentQuery, DeploymentRecord, HostCommandRecord, PagePosition};
use std::collections::BTreeSet;

/// `creator` of deployments a pipeline's CodeDeploy action makes.
pub const PIPELINE_CREATOR: &str = "CodePipeline";
/// How many times a step is recomputed after losing a race with another step.
const STEP_ATTEMPTS: usize = 20;
/// `ListDeployments` answers this many ids a page, as CodeDeploy does.
const DEPLOYMENT_PAGE: usize = 100;

/// What `CreateDeployment` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewDeployment {
    pub application: String,
    pub group: String,
    pub revision: Option<S3LocationDoc>,
    pub config: Option<String>,
    pub description: Option<String>,
    pub file_exists_behavior: Option<String>,
    pub ignore_application_stop_failures: bool,
    /// Overrides the group's auto-rollback configuration for this deployment.
    pub auto_rollback: Option<super::AutoRollbackDoc>,
    /// `user` unless a pipeline or a rollback makes it.
    pub creator: Option<String>,
    /// Makes creation idempotent (a pipeline's job id): the same token answers the same id.
    pub creator_token: Option<String>,
}

/// `ListDeployments`' filters.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    pub application: Option<String>,
    pub group: Option<String>,
    pub statuses: Vec<String>,
    pub created_after_ms: Option<i64>,
    pub created_before_ms: Option<i64>,
}

fn deployment_id(uuid: &str) -> String {
    let body: String = uuid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(9)
        .collect::<String>()
        .to_ascii_uppercase();
    format!("d-{body}")
}

/// The identifier the agent names a host's part of a deployment by (CodeDeploy's pattern has
/// four slash-separated parts).
pub(crate) fn execution_id(account: &str, deployment: &str, instance: &str) -> String {
    format!("{account}/{deployment}/{instance}/in-place")
}

pub(crate) fn parse_execution_id(id: &str) -> Option<(&str, &str)> {
    let mut parts = id.splitn(4, '/');
    let _account = parts.next()?;
    let deployment = parts.next()?;
    let instance = parts.next()?;
    Some((deployment, instance))
}

fn step_error(e: d::StepError) -> Error {
    match e {
        d::StepError::Over(status) => deploy_error(
            "DeploymentAlreadyCompletedException",
            format!("The deployment is already completed ({status})."),
        ),
        other => deploy_error("InvalidInputException", other.to_string()),
    }
}

impl Sluice {
    async fn deployment_record(&self, id: &str) -> Result<DeploymentRecord> {
        self.store().deployment(id).await?.ok_or_else(|| {
            deploy_error(
                "DeploymentDoesNotExistException",
                format!("The deployment {id} could not be found."),
            )
        })
    }

    fn record_of(
        &self,
        doc: &DeploymentDoc,
        rev: i64,
        creator_token: Option<String>,
    ) -> Result<DeploymentRecord> {
        Ok(DeploymentRecord {
            id: doc.deployment_id.clone(),
            application: doc.application_name.clone(),
            deployment_group: doc.deployment_group_name.clone(),
            status: doc.status.clone(),
            create_ms: doc.create_ms,
            rev,
            creator_token,
            doc: serde_json::to_string(doc)
                .map_err(|e| Error::Internal(format!("encoding a deployment: {e}")))?,
        })
    }

    /// The host commands for the scheduler's dispatches.
    fn commands_for(&self, deployment_id: &str, effects: &[d::Effect]) -> Vec<HostCommandRecord> {
        let now = self.now_ms();
        effects
            .iter()
            .filter_map(|e| match e {
                d::Effect::Dispatch { instance, event } => Some(HostCommandRecord {
                    id: self.new_id(),
                    host: instance.clone(),
                    deployment_id: deployment_id.into(),
                    event: event.name().into(),
                    state: "Pending".into(),
                    created_ms: now,
                    // An agent that never picks its command up fails after the lease too.
                    lease_until_ms: Some(now + self.options().host_lease_ms),
                }),
                _ => None,
            })
            .collect()
    }

    /// A deployment of `request`, started: its first commands are open when this returns.
    async fn build_deployment(
        &self,
        request: &NewDeployment,
        rollback_of: Option<&DeploymentDoc>,
    ) -> Result<(DeploymentDoc, Vec<HostCommandRecord>)> {
        let group = self
            .deployment_group(&request.application, &request.group)
            .await?;
        let last_good = self
            .store()
            .latest_deployment(&request.application, &request.group, Some("Succeeded"))
            .await?
            .as_ref()
            .map(decode_doc)
            .transpose()?;
        let mut revision = match &request.revision {
            Some(r) => r.clone(),
            None => last_good
                .as_ref()
                .map(|d| d.revision.clone())
                .ok_or_else(|| {
                    deploy_error(
                        "RevisionRequiredException",
                        "The revision ID was not specified.",
                    )
                })?,
        };
        revision.check()?;
        // Pinned to one object version, so every host gets the same bytes.
        let object = self
            .head_object(&revision.bucket, &revision.key, revision.version.as_deref())
            .await
            .map_err(|_| {
                deploy_error(
                    "InvalidRevisionException",
                    format!(
                        "The revision s3://{}/{} does not exist on this server",
                        revision.bucket, revision.key
                    ),
                )
            })?;
        if revision
            .etag
            .as_ref()
            .is_some_and(|e| e.trim_matches('"') != object.etag)
        {
            return Err(deploy_error(
                "InvalidRevisionException",
                format!(
                    "The ETag of s3://{}/{} is not {}",
                    revision.bucket,
                    revision.key,
                    revision.etag.clone().unwrap_or_default()
                ),
            ));
        }
        revision.version = Some(object.version_id.clone());
        revision.etag = Some(object.etag.clone());
        let config_name = request
            .config
            .clone()
            .unwrap_or_else(|| group.deployment_config_name.clone());
        let config = self.deployment_config(&config_name).await?;
        let health = config
            .minimum_healthy_hosts
            .health()
            .ok_or_else(|| Error::Internal("a config has an unknown type".into()))?;
        if let Some(b) = &request.file_exists_behavior {
            if sluice_deploy::appspec::FileExistsBehavior::from_name(b).is_none() {
                return Err(deploy_error(
                    "InvalidFileExistsBehaviorException",
                    format!("{b} is not DISALLOW, OVERWRITE or RETAIN"),
                ));
            }
        }
        let instances: Vec<String> = self
            .on_premises_instances(Some("Registered"), &[])
            .await?
            .into_iter()
            .filter(|i| super::group_selects(&group, &i.tags))
            .map(|i| i.instance_name)
            .collect();
        let now = self.now_ms();
        let id = deployment_id(&self.new_id());
        let mut state = d::Deployment::new(health, &instances, now);
        let effects = d::apply(&mut state, now, d::Input::Start).map_err(step_error)?;
        let mut doc = DeploymentDoc {
            deployment_id: id.clone(),
            application_name: group.application_name.clone(),
            deployment_group_name: group.deployment_group_name.clone(),
            deployment_group_id: group.deployment_group_id.clone(),
            deployment_config_name: config.deployment_config_name.clone(),
            minimum_healthy_hosts: config.minimum_healthy_hosts.clone(),
            revision,
            previous_revision: rollback_of
                .map(|f| f.revision.clone())
                .or(last_good.map(|d| d.revision)),
            description: request.description.clone(),
            creator: request.creator.clone().unwrap_or_else(|| "user".into()),
            file_exists_behavior: request
                .file_exists_behavior
                .clone()
                .map(|b| b.to_ascii_uppercase()),
            ignore_application_stop_failures: request.ignore_application_stop_failures,
            auto_rollback: request
                .auto_rollback
                .clone()
                .or(group.auto_rollback.clone()),
            rollback_info: rollback_of.map(|failed| RollbackInfoDoc {
                rollback_deployment_id: None,
                rollback_triggering_deployment_id: Some(failed.deployment_id.clone()),
                rollback_message: Some(format!(
                    "Automatic rollback of deployment {} to the last successful revision",
                    failed.deployment_id
                )),
            }),
            status: String::new(),
            error: None,
            create_ms: now,
            start_ms: None,
            complete_ms: None,
            targets: Vec::new(),
        };
        doc.absorb(&state);
        let commands = self.commands_for(&id, &effects);
        Ok((doc, commands))
    }

    /// `CreateDeployment`: the deployment's id. With a creator token used before, the id of
    /// the deployment it made.
    pub async fn create_deployment(&self, request: NewDeployment) -> Result<String> {
        if let Some(token) = &request.creator_token {
            if let Some(existing) = self.store().deployment_by_token(token).await? {
                return Ok(existing.id);
            }
        }
        let (doc, commands) = self.build_deployment(&request, None).await?;
        if let Some(r) = &request.revision {
            self.register_revision(&request.application, r, None, true)
                .await?;
        }
        let record = self.record_of(&doc, 1, request.creator_token.clone())?;
        match self.store().create_deployment(&record, &commands).await {
            Ok(()) => {}
            Err(sluice_store::Error::AlreadyExists(id)) => return Ok(id),
            Err(e) => return Err(e.into()),
        }
        self.announce_host_commands(&commands);
        Ok(doc.deployment_id)
    }

    pub async fn deployment(&self, id: &str) -> Result<DeploymentDoc> {
        let record = self.deployment_record(id).await?;
        decode_doc(&record)
    }

    /// `ListDeployments`: one page of ids, newest first, read from the store a page at a time.
    pub async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
        next_token: Option<&str>,
    ) -> Result<Page<String>> {
        if let Some(app) = &filter.application {
            self.deploy_application(app).await?;
            if let Some(group) = &filter.group {
                self.deployment_group(app, group).await?;
            }
        } else if filter.group.is_some() {
            return Err(deploy_error(
                "ApplicationNameRequiredException",
                "The minimum number of required application names was not specified.",
            ));
        }
        // The wire layer admits only CodeDeploy's statuses; each one once is enough.
        let statuses: BTreeSet<&String> = filter.statuses.iter().collect();
        // A token is bound to the listing it came from: the same filters, in the same order.
        let scope = format!(
            "ListDeployments:{:?}:{:?}:{statuses:?}:{:?}:{:?}",
            filter.application, filter.group, filter.created_after_ms, filter.created_before_ms
        );
        let after = next_token
            .map(|t| crate::pagination::position_of(&self.inner.tokens, &scope, t))
            .transpose()?;
        let query = DeploymentQuery {
            application: filter.application.clone(),
            group: filter.group.clone(),
            statuses: statuses.into_iter().cloned().collect(),
            created_from_ms: filter.created_after_ms,
            created_to_ms: filter.created_before_ms,
            after,
        };
        let mut records = self
            .store()
            .deployments(&query, DEPLOYMENT_PAGE + 1)
            .await?;
        let next_token = crate::pagination::next_page_token(
            &self.inner.tokens,
            &scope,
            &mut records,
            DEPLOYMENT_PAGE,
            |r| PagePosition {
                created_ms: r.create_ms,
                name: r.id.clone(),
            },
        );
        Ok(Page {
            items: records.into_iter().map(|r| r.id).collect(),
            next_token,
        })
    }

    /// A group's last attempted and last successful deployments and the revision it runs,
    /// read from its deployments (so they can never disagree with them).
    pub async fn group_history(&self, group: &DeploymentGroupDoc) -> Result<DeploymentGroupDoc> {
        let mut group = group.clone();
        let (app, name) = (&group.application_name, &group.deployment_group_name);
        let attempted = self.store().latest_deployment(app, name, None).await?;
        let good = self
            .store()
            .latest_deployment(app, name, Some("Succeeded"))
            .await?;
        let last = |r: &DeploymentRecord| -> Result<LastDeploymentDoc> {
            let doc = decode_doc(r)?;
            Ok(LastDeploymentDoc {
                deployment_id: r.id.clone(),
                status: r.status.clone(),
                end_ms: doc.complete_ms,
                create_ms: r.create_ms,
            })
        };
        group.last_attempted_deployment = attempted.as_ref().map(last).transpose()?;
        group.last_successful_deployment = good.as_ref().map(last).transpose()?;
        group.target_revision = good
            .as_ref()
            .map(decode_doc)
            .transpose()?
            .map(|d| d.revision);
        Ok(group)
    }

    /// Applies one scheduler input to a deployment, commits it with the commands it opens and
    /// closes (`closing`: the command the input reports on), and starts a rollback when a
    /// failed deployment asks for one — all in one transaction.
    pub(crate) async fn deployment_step(
        &self,
        id: &str,
        input: d::Input,
        closing: Option<&str>,
    ) -> Result<DeploymentDoc> {
        for _ in 0..STEP_ATTEMPTS {
            let record = self.deployment_record(id).await?;
            let mut doc = decode_doc(&record)?;
            let mut state = doc.scheduler()?;
            let now = self.now_ms();
            let effects = d::apply(&mut state, now, input.clone()).map_err(step_error)?;
            doc.absorb(&state);
            let mut add = self.commands_for(id, &effects);
            let mut remove: Vec<String> = closing.map(|c| vec![c.to_string()]).unwrap_or_default();
            for effect in &effects {
                if let d::Effect::Cancel { instance } = effect {
                    for open in self.store().host_commands(instance).await? {
                        if open.deployment_id == id {
                            remove.push(open.id);
                        }
                    }
                }
            }
            let failed = effects.contains(&d::Effect::Finished(d::DeploymentStatus::Failed));
            let stopped = effects.contains(&d::Effect::Finished(d::DeploymentStatus::Stopped));
            let rolls_back = doc.auto_rollback.as_ref().is_some_and(|r| {
                r.enabled
                    && ((failed && r.events.iter().any(|e| e == "DEPLOYMENT_FAILURE"))
                        || (stopped && r.events.iter().any(|e| e == "DEPLOYMENT_STOP_ON_REQUEST")))
            }) && doc.creator != "autoRollback";
            let mut spawned = None;
            if rolls_back {
                match self.rollback_for(&doc).await {
                    Ok(Some((rollback, commands))) => {
                        doc.rollback_info = Some(RollbackInfoDoc {
                            rollback_deployment_id: Some(rollback.deployment_id.clone()),
                            rollback_triggering_deployment_id: None,
                            rollback_message: Some(format!(
                                "Deployment {} rolls this deployment back",
                                rollback.deployment_id
                            )),
                        });
                        add.extend(commands);
                        spawned = Some(self.record_of(&rollback, 1, None)?);
                    }
                    Ok(None) => {
                        doc.rollback_info = Some(RollbackInfoDoc {
                            rollback_deployment_id: None,
                            rollback_triggering_deployment_id: None,
                            rollback_message: Some("No deployment rollback was performed: there is no previous successful revision of this deployment group.".into()),
                        });
                    }
                    Err(e) => {
                        doc.rollback_info = Some(RollbackInfoDoc {
                            rollback_deployment_id: None,
                            rollback_triggering_deployment_id: None,
                            rollback_message: Some(format!("The rollback could not start: {e}")),
                        });
                    }
                }
            }
            let next = self.record_of(&doc, record.rev + 1, record.creator_token.clone())?;
            match self
                .store()
                .step_deployment(&next, record.rev, &add, &remove, spawned.as_ref())
                .await
            {
                Ok(()) => {
                    self.announce_host_commands(&add);
                    return Ok(doc);
                }
                Err(sluice_store::Error::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::ConcurrentModification(format!(
            "deployment {id} is changing too fast; retry"
        )))
    }

    /// The deployment that puts the group's last successful revision back, started; `None`
    /// when the group never succeeded.
    async fn rollback_for(
        &self,
        failed: &DeploymentDoc,
    ) -> Result<Option<(DeploymentDoc, Vec<HostCommandRecord>)>> {
        let good = self
            .store()
            .latest_deployment(
                &failed.application_name,
                &failed.deployment_group_name,
                Some("Succeeded"),
            )
            .await?;
        let Some(good) = good else {
            return Ok(None);
        };
        let good = decode_doc(&good)?;
        let request = NewDeployment {
            application: failed.application_name.clone(),
            group: failed.deployment_group_name.clone(),
            revision: Some(good.revision),
            config: Some(failed.deployment_config_name.clone()),
            creator: Some("autoRollback".into()),
            file_exists_behavior: failed.file_exists_behavior.clone(),
            ..NewDeployment::default()
        };
        self.build_deployment(&request, Some(failed))
            .await
            .map(Some)
    }

    /// `StopDeployment`: what has not started is skipped, what runs is withdrawn.
    /// `auto_rollback` says whether the hosts already updated go back to the last good revision
    /// (`None`: as the deployment's configuration says).
    pub async fn stop_deployment(
        &self,
        id: &str,
        auto_rollback: Option<bool>,
    ) -> Result<DeploymentDoc> {
        if let Some(wanted) = auto_rollback {
            let rollback = wanted.then(|| super::AutoRollbackDoc {
                enabled: true,
                events: vec!["DEPLOYMENT_STOP_ON_REQUEST".into()],
            });
            self.set_rollback(id, rollback).await?;
        }
        self.deployment_step(id, d::Input::Stop, None).await
    }

    /// Replaces a running deployment's rollback configuration.
    async fn set_rollback(&self, id: &str, rollback: Option<super::AutoRollbackDoc>) -> Result<()> {
        for _ in 0..STEP_ATTEMPTS {
            let record = self.deployment_record(id).await?;
            let mut doc = decode_doc(&record)?;
            if d::DeploymentStatus::from_name(&doc.status).is_some_and(|s| s.is_final()) {
                // Stopping it says so.
                return Ok(());
            }
            doc.auto_rollback = rollback.clone();
            let next = self.record_of(&doc, record.rev + 1, record.creator_token.clone())?;
            match self
                .store()
                .step_deployment(&next, record.rev, &[], &[], None)
                .await
            {
                Ok(()) => return Ok(()),
                Err(sluice_store::Error::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::ConcurrentModification(format!(
            "deployment {id} is changing too fast; retry"
        )))
    }

    /// Fails the hosts whose agents went quiet past their lease. Returns how many.
    pub async fn sweep_host_leases(&self) -> Result<usize> {
        let lapsed = self.store().lapsed_host_commands(self.now_ms()).await?;
        let mut failed = 0;
        for command in lapsed {
            let input = d::Input::LeaseExpired {
                instance: command.host.clone(),
            };
            match self
                .deployment_step(&command.deployment_id, input, Some(&command.id))
                .await
            {
                Ok(_) => failed += 1,
                Err(Error::Named { .. }) => {
                    // The deployment already moved on (or is gone): the command is stale.
                    let record = self.store().deployment(&command.deployment_id).await?;
                    if let Some(record) = record {
                        let next = DeploymentRecord {
                            rev: record.rev + 1,
                            ..record.clone()
                        };
                        self.store()
                            .step_deployment(
                                &next,
                                record.rev,
                                &[],
                                std::slice::from_ref(&command.id),
                                None,
                            )
                            .await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(failed)
    }
}
