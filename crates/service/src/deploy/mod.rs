//! CodeDeploy for on-premises hosts: applications, deployment groups, deployment configs,
//! on-premises instances and revisions (this file), deployments and their scheduler steps
//! (`deployments.rs`), and the host command protocol the agents speak (`host.rs`).
//! Documents are persisted as JSON in the store (`docs.rs`); errors carry CodeDeploy's own
//! exception names.

mod deployments;
mod docs;
mod host;

pub use deployments::{DeploymentFilter, NewDeployment, PIPELINE_CREATOR};
pub use docs::*;
pub use host::{HostCommand, HostCommandListener, DEPLOYMENT_SYSTEM};

use crate::{Error, Page, Result, Sluice};
use sluice_deploy::{HealthyHosts, HealthyHostsKind};
use sluice_store::{DeployKind, DeployResource, Tag};

/// CodeDeploy's quotas: applications per account, groups per application, configs and
/// on-premises instances per account.
const MAX_APPLICATIONS: usize = 1000;
const MAX_GROUPS: usize = 1000;
const MAX_CONFIGS: usize = 1000;
const MAX_INSTANCES: usize = 10_000;
const MAX_REVISIONS: usize = 100_000;

/// A CodeDeploy exception by its name.
pub(crate) fn deploy_error(code: &'static str, message: impl Into<String>) -> Error {
    Error::Named {
        code,
        message: message.into(),
    }
}

/// A store's refusal of a new resource in the service's words: `taken` for a name in use,
/// `full` for a quota reached.
pub(crate) fn refused(e: sluice_store::Error, taken: Error, full: Error) -> Error {
    match e {
        sluice_store::Error::AlreadyExists(_) => taken,
        sluice_store::Error::LimitExceeded(_) => full,
        other => other.into(),
    }
}

/// CodeDeploy's names: letters, digits, `.`, `_`, `-`, 1 to 100 characters.
fn check_name(what: &'static str, invalid: &'static str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(deploy_error(
            invalid,
            format!(
                "{what} name {name:?} is not valid: use 1 to 100 letters, digits, '.', '_' or '-'"
            ),
        ))
    }
}

fn encode<T: serde::Serialize>(doc: &T) -> Result<String> {
    serde_json::to_string(doc).map_err(|e| Error::Internal(format!("encoding a document: {e}")))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(resource: &DeployResource) -> Result<T> {
    serde_json::from_str(&resource.doc).map_err(|e| {
        Error::Internal(format!(
            "stored {} {} is corrupt: {e}",
            resource.kind.name(),
            resource.name
        ))
    })
}

pub(crate) fn decode_doc(record: &sluice_store::DeploymentRecord) -> Result<DeploymentDoc> {
    serde_json::from_str(&record.doc)
        .map_err(|e| Error::Internal(format!("stored deployment {} is corrupt: {e}", record.id)))
}

fn resource<T: serde::Serialize>(
    kind: DeployKind,
    scope: &str,
    name: &str,
    doc: &T,
    created_ms: i64,
) -> Result<DeployResource> {
    Ok(DeployResource {
        kind,
        scope: scope.into(),
        name: name.into(),
        doc: encode(doc)?,
        created_ms,
        owner: None,
    })
}

/// An instance's row: a registered instance answers to its IAM user.
fn instance_resource(doc: &InstanceDoc) -> Result<DeployResource> {
    let mut record = resource(
        DeployKind::OnPremisesInstance,
        "",
        &doc.instance_name,
        doc,
        doc.register_ms,
    )?;
    record.owner = doc
        .deregister_ms
        .is_none()
        .then(|| doc.iam_user_arn.clone());
    Ok(record)
}

/// How a tag filter matches an instance's tags (`KEY_ONLY`, `VALUE_ONLY`, `KEY_AND_VALUE`).
fn filter_matches(filter: &TagFilter, tags: &[Tag]) -> bool {
    tags.iter().any(|tag| match filter.kind.as_str() {
        "KEY_ONLY" => filter.key.as_deref() == Some(tag.key.as_str()),
        "VALUE_ONLY" => filter.value.as_deref() == Some(tag.value.as_str()),
        _ => {
            filter.key.as_deref() == Some(tag.key.as_str())
                && filter.value.as_deref() == Some(tag.value.as_str())
        }
    })
}

/// Whether a group's filters pick an instance: any filter of `onPremisesInstanceTagFilters`;
/// with `onPremisesTagSet`, any filter of every set.
pub(crate) fn group_selects(group: &DeploymentGroupDoc, tags: &[Tag]) -> bool {
    let by_filters = !group.on_premises_instance_tag_filters.is_empty()
        && group
            .on_premises_instance_tag_filters
            .iter()
            .any(|f| filter_matches(f, tags));
    let by_set = !group.on_premises_tag_set.is_empty()
        && group
            .on_premises_tag_set
            .iter()
            .all(|set| set.iter().any(|f| filter_matches(f, tags)));
    by_filters || by_set
}

fn check_tag_filters(filters: &[TagFilter]) -> Result<()> {
    for filter in filters {
        let ok = match filter.kind.as_str() {
            "KEY_ONLY" => filter.key.is_some(),
            "VALUE_ONLY" => filter.value.is_some(),
            "KEY_AND_VALUE" => filter.key.is_some() && filter.value.is_some(),
            _ => false,
        };
        if !ok {
            return Err(deploy_error(
                "InvalidTagException",
                format!(
                    "The tag filter {filter:?} is not valid: Type is KEY_ONLY (with a Key), VALUE_ONLY (with a Value) or KEY_AND_VALUE (with both)"
                ),
            ));
        }
    }
    Ok(())
}

impl Sluice {
    /// `ListDeployActionExecutionTargets`: the deployment a pipeline's CodeDeploy action
    /// execution made, with its targets.
    pub async fn deploy_action_deployment(
        &self,
        pipeline: &str,
        action_execution_id: &str,
    ) -> Result<DeploymentDoc> {
        let mut next: Option<String> = None;
        loop {
            let page = self
                .list_action_executions(pipeline, None, false, Some(1000), next.as_deref())
                .await?;
            if let Some(attempt) = page
                .items
                .iter()
                .find(|a| a.action_execution_id == action_execution_id)
            {
                let is_deploy = attempt
                    .declaration
                    .as_ref()
                    .is_some_and(|d| d.action_type_id.provider == "CodeDeploy");
                let deployment = attempt.external_execution_id.clone().filter(|_| is_deploy);
                let Some(id) = deployment else {
                    return Err(deploy_error(
                        "ActionExecutionNotFoundException",
                        format!("The action execution {action_execution_id} is not a CodeDeploy deployment"),
                    ));
                };
                return self.deployment(&id).await.map_err(|_| {
                    deploy_error(
                        "ActionExecutionNotFoundException",
                        format!("The deployment {id} of action execution {action_execution_id} no longer exists"),
                    )
                });
            }
            match page.next_token {
                Some(token) => next = Some(token),
                None => {
                    return Err(deploy_error(
                        "ActionExecutionNotFoundException",
                        format!("The action execution {action_execution_id} was not found in pipeline {pipeline}"),
                    ))
                }
            }
        }
    }

    /// One page of `all`, with a signed token for the rest.
    pub fn page_of<T: Clone>(
        &self,
        scope: &str,
        all: &[T],
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<Page<T>> {
        crate::pagination::offset_page(&self.inner.tokens, scope, all, limit, next_token)
    }

    /// Checks that an application, deployment group or deployment config ARN names one.
    async fn resolve_deploy_arn(&self, arn: &str) -> Result<()> {
        let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
        let found = if let Some(app) = resource.strip_prefix("application:") {
            self.deploy_application(app).await.map(|_| ())
        } else if let Some(rest) = resource.strip_prefix("deploymentgroup:") {
            let (app, group) = rest.split_once('/').unwrap_or((rest, ""));
            self.deployment_group(app, group).await.map(|_| ())
        } else if let Some(name) = resource.strip_prefix("deploymentconfig:") {
            self.deployment_config(name).await.map(|_| ())
        } else {
            return Err(deploy_error(
                "InvalidArnException",
                format!("The ARN {arn} is not a CodeDeploy application, deployment group or deployment config"),
            ));
        };
        found.map_err(|_| {
            deploy_error(
                "ResourceArnRequiredException",
                format!("The resource {arn} does not exist"),
            )
        })
    }

    /// `TagResource` on a CodeDeploy application, group or config.
    pub async fn tag_deploy_resource(&self, arn: &str, tags: Vec<Tag>) -> Result<()> {
        self.resolve_deploy_arn(arn).await?;
        self.check_tags(&tags)?;
        let max = self.options().limits.max_tags_per_resource;
        Ok(self.store().tag_resource(arn, &tags, max).await?)
    }

    pub async fn untag_deploy_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.resolve_deploy_arn(arn).await?;
        Ok(self.store().untag_resource(arn, keys).await?)
    }

    pub async fn deploy_resource_tags(&self, arn: &str) -> Result<Vec<Tag>> {
        self.resolve_deploy_arn(arn).await?;
        Ok(self.store().tags(arn).await?)
    }

    fn deploy_arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:codedeploy:{}:{}:{resource}",
            self.options().region,
            self.options().account_id
        )
    }

    // ---- applications

    pub async fn create_deploy_application(
        &self,
        name: &str,
        compute_platform: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<String> {
        check_name("Application", "InvalidApplicationNameException", name)?;
        let platform = compute_platform.unwrap_or("Server");
        if platform != "Server" {
            return Err(deploy_error(
                "InvalidComputePlatformException",
                format!("The compute platform {platform} is not supported by this Sluice server: it deploys to on-premises hosts (Server)"),
            ));
        }
        self.check_tags(&tags)?;
        let doc = ApplicationDoc {
            application_id: self.new_id(),
            application_name: name.into(),
            create_ms: self.now_ms(),
            compute_platform: platform.into(),
        };
        let record = resource(DeployKind::Application, "", name, &doc, doc.create_ms)?;
        self.store()
            .create_deploy_resource(&record, MAX_APPLICATIONS)
            .await
            .map_err(|e| {
                refused(
                    e,
                    deploy_error(
                        "ApplicationAlreadyExistsException",
                        format!(
                        "The application {name} already exists with the IAM user or AWS account."
                    ),
                    ),
                    deploy_error(
                        "ApplicationLimitExceededException",
                        "The maximum number of applications was exceeded.",
                    ),
                )
            })?;
        if !tags.is_empty() {
            let max = self.options().limits.max_tags_per_resource;
            self.store()
                .tag_resource(&self.deploy_arn(&format!("application:{name}")), &tags, max)
                .await?;
        }
        Ok(doc.application_id)
    }

    pub async fn deploy_application(&self, name: &str) -> Result<ApplicationDoc> {
        let found = self
            .store()
            .deploy_resource(DeployKind::Application, "", name)
            .await?
            .ok_or_else(|| {
                deploy_error(
                    "ApplicationDoesNotExistException",
                    format!("No application found for name: {name}"),
                )
            })?;
        decode(&found)
    }

    pub async fn list_deploy_applications(&self, next_token: Option<&str>) -> Result<Page<String>> {
        let names: Vec<String> = self
            .store()
            .deploy_resources(DeployKind::Application, "")
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        crate::pagination::offset_page(
            &self.inner.tokens,
            "ListApplications",
            &names,
            100,
            next_token,
        )
    }

    pub async fn rename_deploy_application(&self, name: &str, new_name: &str) -> Result<()> {
        check_name("Application", "InvalidApplicationNameException", new_name)?;
        let mut doc = self.deploy_application(name).await?;
        doc.application_name = new_name.into();
        let record = resource(DeployKind::Application, "", new_name, &doc, doc.create_ms)?;
        self.store()
            .replace_deploy_resource(name, &record)
            .await
            .map_err(|e| match e {
                sluice_store::Error::AlreadyExists(_) => deploy_error(
                    "ApplicationAlreadyExistsException",
                    format!("The application {new_name} already exists with the IAM user or AWS account."),
                ),
                other => other.into(),
            })?;
        // Groups keep their application's name in their documents.
        for group in self
            .store()
            .deploy_resources(DeployKind::DeploymentGroup, new_name)
            .await?
        {
            let mut doc: DeploymentGroupDoc = decode(&group)?;
            doc.application_name = new_name.into();
            let record = resource(
                DeployKind::DeploymentGroup,
                new_name,
                &group.name,
                &doc,
                group.created_ms,
            )?;
            self.store()
                .replace_deploy_resource(&group.name, &record)
                .await?;
        }
        Ok(())
    }

    /// Deletes an application with its groups, revisions and deployments. Deleting one that
    /// does not exist succeeds, as in CodeDeploy.
    pub async fn delete_deploy_application(&self, name: &str) -> Result<()> {
        check_name("Application", "InvalidApplicationNameException", name)?;
        self.store()
            .delete_deploy_resource(DeployKind::Application, "", name)
            .await?;
        Ok(())
    }

    // ---- deployment configs

    /// A config by name: a built-in one or one the user made.
    pub async fn deployment_config(&self, name: &str) -> Result<DeploymentConfigDoc> {
        if let Some((builtin, health)) = sluice_deploy::BUILT_IN_CONFIGS
            .iter()
            .find(|(n, _)| *n == name)
        {
            return Ok(DeploymentConfigDoc {
                deployment_config_id: format!(
                    "builtin-{}",
                    builtin.trim_start_matches("CodeDeployDefault.")
                ),
                deployment_config_name: builtin.to_string(),
                minimum_healthy_hosts: MinimumHealthyHostsDoc {
                    kind: health.kind.name().into(),
                    value: health.value,
                },
                compute_platform: "Server".into(),
                create_ms: 0,
            });
        }
        if name.starts_with("CodeDeployDefault.") {
            return Err(deploy_error(
                "DeploymentConfigDoesNotExistException",
                format!("The deployment config {name} is not available for on-premises hosts on this server"),
            ));
        }
        let found = self
            .store()
            .deploy_resource(DeployKind::DeploymentConfig, "", name)
            .await?
            .ok_or_else(|| {
                deploy_error(
                    "DeploymentConfigDoesNotExistException",
                    format!("No deployment configuration found for name: {name}"),
                )
            })?;
        decode(&found)
    }

    pub async fn create_deployment_config(
        &self,
        name: &str,
        minimum: Option<MinimumHealthyHostsDoc>,
        compute_platform: Option<&str>,
    ) -> Result<String> {
        check_name(
            "Deployment config",
            "InvalidDeploymentConfigNameException",
            name,
        )?;
        if name.starts_with("CodeDeployDefault.") {
            return Err(deploy_error(
                "DeploymentConfigAlreadyExistsException",
                format!("The deployment config {name} is built in"),
            ));
        }
        if compute_platform.is_some_and(|p| p != "Server") {
            return Err(deploy_error(
                "InvalidComputePlatformException",
                "Only the Server compute platform (on-premises hosts) is supported by this Sluice server",
            ));
        }
        let minimum = minimum.ok_or_else(|| {
            deploy_error(
                "InvalidMinimumHealthyHostValueException",
                "minimumHealthyHosts is required for the Server compute platform",
            )
        })?;
        let health = minimum.health().ok_or_else(|| {
            deploy_error(
                "InvalidMinimumHealthyHostValueException",
                format!(
                    "The minimum healthy host type {} is not HOST_COUNT or FLEET_PERCENT",
                    minimum.kind
                ),
            )
        })?;
        health
            .check()
            .map_err(|m| deploy_error("InvalidMinimumHealthyHostValueException", m))?;
        let doc = DeploymentConfigDoc {
            deployment_config_id: self.new_id(),
            deployment_config_name: name.into(),
            minimum_healthy_hosts: minimum,
            compute_platform: "Server".into(),
            create_ms: self.now_ms(),
        };
        let record = resource(DeployKind::DeploymentConfig, "", name, &doc, doc.create_ms)?;
        self.store()
            .create_deploy_resource(&record, MAX_CONFIGS)
            .await
            .map_err(|e| {
                refused(
                    e,
                    deploy_error(
                        "DeploymentConfigAlreadyExistsException",
                        format!("A deployment configuration with the name {name} already exists."),
                    ),
                    deploy_error(
                        "DeploymentConfigLimitExceededException",
                        "The deployment configurations limit was exceeded.",
                    ),
                )
            })?;
        Ok(doc.deployment_config_id)
    }

    pub async fn list_deployment_configs(&self, next_token: Option<&str>) -> Result<Page<String>> {
        let mut names: Vec<String> = sluice_deploy::BUILT_IN_CONFIGS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        names.extend(
            self.store()
                .deploy_resources(DeployKind::DeploymentConfig, "")
                .await?
                .into_iter()
                .map(|r| r.name),
        );
        crate::pagination::offset_page(
            &self.inner.tokens,
            "ListDeploymentConfigs",
            &names,
            100,
            next_token,
        )
    }

    pub async fn delete_deployment_config(&self, name: &str) -> Result<()> {
        if name.starts_with("CodeDeployDefault.") {
            return Err(deploy_error(
                "InvalidOperationException",
                "A built-in deployment configuration cannot be deleted.",
            ));
        }
        for app in self
            .store()
            .deploy_resources(DeployKind::Application, "")
            .await?
        {
            for group in self
                .store()
                .deploy_resources(DeployKind::DeploymentGroup, &app.name)
                .await?
            {
                let doc: DeploymentGroupDoc = decode(&group)?;
                if doc.deployment_config_name == name {
                    return Err(deploy_error(
                        "DeploymentConfigInUseException",
                        format!(
                            "The deployment config {name} is in use by deployment group {}",
                            doc.deployment_group_name
                        ),
                    ));
                }
            }
        }
        self.store()
            .delete_deploy_resource(DeployKind::DeploymentConfig, "", name)
            .await?;
        Ok(())
    }

    // ---- deployment groups

    async fn checked_group(&self, mut group: DeploymentGroupDoc) -> Result<DeploymentGroupDoc> {
        check_name(
            "Deployment group",
            "InvalidDeploymentGroupNameException",
            &group.deployment_group_name,
        )?;
        check_tag_filters(&group.on_premises_instance_tag_filters)?;
        for set in &group.on_premises_tag_set {
            check_tag_filters(set)?;
        }
        if !group.on_premises_instance_tag_filters.is_empty()
            && !group.on_premises_tag_set.is_empty()
        {
            return Err(deploy_error(
                "InvalidInputException",
                "onPremisesInstanceTagFilters and onPremisesTagSet cannot both be specified",
            ));
        }
        if group.service_role_arn.is_empty() {
            return Err(deploy_error(
                "RoleRequiredException",
                "The service role ARN was not specified.",
            ));
        }
        if group.service_role_arn.split(':').nth(2) != Some("iam") {
            return Err(deploy_error(
                "InvalidRoleException",
                format!(
                    "The service role {} is not an IAM role ARN",
                    group.service_role_arn
                ),
            ));
        }
        if group.deployment_config_name.is_empty() {
            group.deployment_config_name = "CodeDeployDefault.OneAtATime".into();
        }
        self.deployment_config(&group.deployment_config_name)
            .await?;
        if let Some(rollback) = &group.auto_rollback {
            if let Some(bad) = rollback.events.iter().find(|e| {
                !matches!(
                    e.as_str(),
                    "DEPLOYMENT_FAILURE" | "DEPLOYMENT_STOP_ON_REQUEST"
                )
            }) {
                return Err(deploy_error(
                    "InvalidAutoRollbackConfigException",
                    format!("The rollback event {bad} is not supported here: CloudWatch alarms do not exist on this server (DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_REQUEST are)"),
                ));
            }
        }
        Ok(group)
    }

    pub async fn create_deployment_group(
        &self,
        group: DeploymentGroupDoc,
        tags: Vec<Tag>,
    ) -> Result<String> {
        let application = self.deploy_application(&group.application_name).await?;
        let mut group = self.checked_group(group).await?;
        self.check_tags(&tags)?;
        group.deployment_group_id = self.new_id();
        group.application_name = application.application_name.clone();
        let record = resource(
            DeployKind::DeploymentGroup,
            &application.application_name,
            &group.deployment_group_name,
            &group,
            self.now_ms(),
        )?;
        self.store()
            .create_deploy_resource(&record, MAX_GROUPS)
            .await
            .map_err(|e| match e {
                sluice_store::Error::AlreadyExists(name) => deploy_error(
                    "DeploymentGroupAlreadyExistsException",
                    format!(
                        "The deployment group {name} already exists for the application {}.",
                        application.application_name
                    ),
                ),
                sluice_store::Error::LimitExceeded(_) => deploy_error(
                    "DeploymentGroupLimitExceededException",
                    "The deployment groups limit was exceeded.",
                ),
                other => other.into(),
            })?;
        if !tags.is_empty() {
            let max = self.options().limits.max_tags_per_resource;
            let arn = self.deploy_arn(&format!(
                "deploymentgroup:{}/{}",
                group.application_name, group.deployment_group_name
            ));
            self.store().tag_resource(&arn, &tags, max).await?;
        }
        Ok(group.deployment_group_id)
    }

    pub async fn deployment_group(
        &self,
        application: &str,
        name: &str,
    ) -> Result<DeploymentGroupDoc> {
        self.deploy_application(application).await?;
        let found = self
            .store()
            .deploy_resource(DeployKind::DeploymentGroup, application, name)
            .await?
            .ok_or_else(|| {
                deploy_error(
                    "DeploymentGroupDoesNotExistException",
                    format!("No Deployment Group found for name: {name}"),
                )
            })?;
        decode(&found)
    }

    pub async fn list_deployment_groups(
        &self,
        application: &str,
        next_token: Option<&str>,
    ) -> Result<Page<String>> {
        self.deploy_application(application).await?;
        let names: Vec<String> = self
            .store()
            .deploy_resources(DeployKind::DeploymentGroup, application)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        crate::pagination::offset_page(
            &self.inner.tokens,
            &format!("ListDeploymentGroups:{application}"),
            &names,
            100,
            next_token,
        )
    }

    /// `UpdateDeploymentGroup`: `change` edits a copy of the current document.
    pub async fn update_deployment_group(
        &self,
        application: &str,
        name: &str,
        change: impl FnOnce(&mut DeploymentGroupDoc),
    ) -> Result<()> {
        let current = self.deployment_group(application, name).await?;
        let mut updated = current.clone();
        change(&mut updated);
        updated.application_name = current.application_name.clone();
        updated.deployment_group_id = current.deployment_group_id.clone();
        let updated = self.checked_group(updated).await?;
        let record = resource(
            DeployKind::DeploymentGroup,
            application,
            &updated.deployment_group_name,
            &updated,
            self.now_ms(),
        )?;
        self.store()
            .replace_deploy_resource(name, &record)
            .await
            .map_err(|e| match e {
                sluice_store::Error::AlreadyExists(taken) => deploy_error(
                    "DeploymentGroupAlreadyExistsException",
                    format!("The deployment group {taken} already exists for the application {application}."),
                ),
                other => other.into(),
            })
    }

    pub async fn delete_deployment_group(&self, application: &str, name: &str) -> Result<()> {
        self.deploy_application(application).await?;
        self.store()
            .delete_deploy_resource(DeployKind::DeploymentGroup, application, name)
            .await?;
        Ok(())
    }

    // ---- on-premises instances

    pub async fn register_on_premises_instance(
        &self,
        name: &str,
        iam_user_arn: Option<&str>,
        iam_session_arn: Option<&str>,
    ) -> Result<()> {
        check_name("Instance", "InvalidInstanceNameException", name)?;
        let user_arn = match (iam_user_arn, iam_session_arn) {
            (Some(user), None) => user,
            (None, Some(_)) => {
                return Err(deploy_error(
                    "InvalidIamSessionArnException",
                    "Registering with an IAM session ARN is not supported by this Sluice server; register the instance with --iam-user-arn",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(deploy_error(
                    "MultipleIamArnsProvidedException",
                    "Both an IAM user ARN and an IAM session ARN were included in the request. Use only one ARN type.",
                ))
            }
            (None, None) => {
                return Err(deploy_error("IamArnRequiredException", "No IAM ARN was included in the request."))
            }
        };
        let user = user_arn
            .splitn(6, ':')
            .nth(5)
            .and_then(|r| r.strip_prefix("user/"))
            .map(|r| r.rsplit('/').next().unwrap_or(r).to_string())
            .filter(|_| user_arn.starts_with("arn:aws:iam::"))
            .ok_or_else(|| {
                deploy_error(
                    "InvalidIamUserArnException",
                    format!("The IAM user ARN {user_arn} is not valid."),
                )
            })?;
        if self
            .store()
            .principal(sluice_store::PrincipalKind::User, &user)
            .await?
            .is_none()
        {
            return Err(deploy_error(
                "InvalidIamUserArnException",
                format!("The IAM user {user} does not exist."),
            ));
        }
        let doc = InstanceDoc {
            instance_name: name.into(),
            iam_user_arn: user_arn.into(),
            instance_arn: self.deploy_arn(&format!("instance/{name}")),
            register_ms: self.now_ms(),
            deregister_ms: None,
            tags: Vec::new(),
        };
        let record = instance_resource(&doc)?;
        self.store()
            .create_deploy_resource(&record, MAX_INSTANCES)
            .await
            .map_err(|e| match e {
                sluice_store::Error::AlreadyExists(taken) if taken == user_arn => deploy_error(
                    "IamUserArnAlreadyRegisteredException",
                    format!("The IAM user {user_arn} is already registered to another instance"),
                ),
                sluice_store::Error::AlreadyExists(_) => deploy_error(
                    "InstanceNameAlreadyRegisteredException",
                    format!("The instance {name} is already registered."),
                ),
                sluice_store::Error::LimitExceeded(_) => deploy_error(
                    "InstanceLimitExceededException",
                    "The maximum number of allowed on-premises instances in a single call was exceeded.",
                ),
                other => other.into(),
            })
    }

    pub async fn on_premises_instance(&self, name: &str) -> Result<InstanceDoc> {
        let found = self
            .store()
            .deploy_resource(DeployKind::OnPremisesInstance, "", name)
            .await?
            .ok_or_else(|| {
                deploy_error(
                    "InstanceNotRegisteredException",
                    format!("The instance {name} is not registered."),
                )
            })?;
        decode(&found)
    }

    /// Instances, by name, filtered by registration status and tag filters.
    pub async fn on_premises_instances(
        &self,
        status: Option<&str>,
        filters: &[TagFilter],
    ) -> Result<Vec<InstanceDoc>> {
        check_tag_filters(filters)?;
        let mut out = Vec::new();
        for r in self
            .store()
            .deploy_resources(DeployKind::OnPremisesInstance, "")
            .await?
        {
            let doc: InstanceDoc = decode(&r)?;
            let registered = doc.deregister_ms.is_none();
            let status_ok = match status {
                Some("Registered") => registered,
                Some("Deregistered") => !registered,
                _ => true,
            };
            if status_ok
                && (filters.is_empty() || filters.iter().any(|f| filter_matches(f, &doc.tags)))
            {
                out.push(doc);
            }
        }
        Ok(out)
    }

    async fn save_instance(&self, doc: &InstanceDoc) -> Result<()> {
        let record = instance_resource(doc)?;
        Ok(self
            .store()
            .replace_deploy_resource(&doc.instance_name, &record)
            .await?)
    }

    pub async fn deregister_on_premises_instance(&self, name: &str) -> Result<()> {
        let mut doc = self.on_premises_instance(name).await?;
        if doc.deregister_ms.is_none() {
            doc.deregister_ms = Some(self.now_ms());
            self.save_instance(&doc).await?;
        }
        Ok(())
    }

    pub async fn tag_on_premises_instances(&self, names: &[String], tags: &[Tag]) -> Result<()> {
        if tags.is_empty() {
            return Err(deploy_error(
                "TagRequiredException",
                "A tag was not specified.",
            ));
        }
        let mut docs = Vec::new();
        for name in names {
            docs.push(self.on_premises_instance(name).await?);
        }
        for mut doc in docs {
            for tag in tags {
                doc.tags.retain(|t| t.key != tag.key);
                doc.tags.push(tag.clone());
            }
            if doc.tags.len() > 10 {
                return Err(deploy_error(
                    "TagLimitExceededException",
                    "The maximum allowed number of tags was exceeded: an instance has at most 10.",
                ));
            }
            self.save_instance(&doc).await?;
        }
        Ok(())
    }

    pub async fn untag_on_premises_instances(&self, names: &[String], tags: &[Tag]) -> Result<()> {
        for name in names {
            let mut doc = self.on_premises_instance(name).await?;
            doc.tags
                .retain(|t| !tags.iter().any(|r| r.key == t.key && r.value == t.value));
            self.save_instance(&doc).await?;
        }
        Ok(())
    }

    // ---- revisions

    fn revision_key(location: &S3LocationDoc) -> String {
        format!(
            "{}/{}#{}",
            location.bucket,
            location.key,
            location.version.clone().unwrap_or_default()
        )
    }

    /// `RegisterApplicationRevision` (and every deployment's revision): remembered per
    /// application with when it was first and last used.
    pub async fn register_revision(
        &self,
        application: &str,
        location: &S3LocationDoc,
        description: Option<&str>,
        used: bool,
    ) -> Result<()> {
        self.deploy_application(application).await?;
        location.check()?;
        let key = Self::revision_key(location);
        let now = self.now_ms();
        let existing = self
            .store()
            .deploy_resource(DeployKind::Revision, application, &key)
            .await?;
        let mut doc = match &existing {
            Some(r) => decode(r)?,
            None => RevisionDoc {
                location: location.clone(),
                description: None,
                register_ms: now,
                first_used_ms: None,
                last_used_ms: None,
                deployment_groups: Vec::new(),
            },
        };
        if let Some(d) = description {
            doc.description = Some(d.into());
        }
        if used {
            doc.first_used_ms.get_or_insert(now);
            doc.last_used_ms = Some(now);
        }
        let record = resource(
            DeployKind::Revision,
            application,
            &key,
            &doc,
            doc.register_ms,
        )?;
        match existing {
            Some(_) => self.store().replace_deploy_resource(&key, &record).await?,
            None => {
                self.store()
                    .create_deploy_resource(&record, MAX_REVISIONS)
                    .await?
            }
        }
        Ok(())
    }

    pub async fn application_revisions(&self, application: &str) -> Result<Vec<RevisionDoc>> {
        self.deploy_application(application).await?;
        self.store()
            .deploy_resources(DeployKind::Revision, application)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    pub async fn application_revision(
        &self,
        application: &str,
        location: &S3LocationDoc,
    ) -> Result<RevisionDoc> {
        self.deploy_application(application).await?;
        let key = Self::revision_key(location);
        let found = self
            .store()
            .deploy_resource(DeployKind::Revision, application, &key)
            .await?
            .ok_or_else(|| {
                deploy_error(
                    "RevisionDoesNotExistException",
                    format!(
                        "The revision s3://{}/{} does not exist in application {application}",
                        location.bucket, location.key
                    ),
                )
            })?;
        decode(&found)
    }
}

impl MinimumHealthyHostsDoc {
    /// The scheduler's value, for a type a user may set or the built-in one.
    pub fn health(&self) -> Option<HealthyHosts> {
        Some(HealthyHosts {
            kind: HealthyHostsKind::from_name(&self.kind)?,
            value: self.value,
        })
    }
}
