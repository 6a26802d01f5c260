//! CodeDeploy (JSON 1.1, `X-Amz-Target: CodeDeploy_20141006.<Operation>`, signing name
//! `codedeploy`) for on-premises hosts, dispatched once over the generated `Operation` enum;
//! and its host command protocol (`commands.rs`). Authorized as `codedeploy:<Operation>` on the
//! resource ARNs AWS names: `application:APP`, `deploymentgroup:APP/GROUP`,
//! `deploymentconfig:NAME`, `instance/NAME`.

mod commands;
mod convert;

pub(crate) use commands::handle as handle_commands;
pub use commands::{is_target as is_commands_target, HostWake, POLL_WAIT};

use crate::json_service::{Plan, Request, ServiceSpec};
use crate::ApiError;
use axum::response::Response;
use convert as c;
use serde::de::DeserializeOwned;
use sluice_service::deploy as s;
use sluice_service::Sluice;
use sluice_wire::codedeploy::{self as w, Operation};

const SPEC: ServiceSpec = ServiceSpec {
    event_source: "codedeploy.amazonaws.com",
    content_type: "application/x-amz-json-1.1",
};

type R<T> = Result<T, ApiError>;

/// Whether a request is for this service.
pub fn is_target(target: &str) -> bool {
    crate::json_service::is_target(w::TARGET_PREFIX, target)
}

fn input<T: DeserializeOwned>(op: Operation, body: &[u8]) -> R<T> {
    let shape = op
        .input_shape()
        .ok_or_else(|| ApiError::internal(format!("{} has no input shape", op.name())))?;
    Ok(w::decode(shape, body)?)
}

use crate::json_service::output;

fn empty() -> R<Vec<u8>> {
    Ok(b"{}".to_vec())
}

fn unsupported(what: &str) -> ApiError {
    ApiError::client(
        "InvalidInputException",
        format!("{what} is not supported by this Sluice server: it deploys in place to on-premises instances selected by tags"),
    )
}

fn refuse_if(present: bool, what: &str) -> R<()> {
    if present {
        Err(unsupported(what))
    } else {
        Ok(())
    }
}

/// Refuses what `CreateDeploymentGroup` and `UpdateDeploymentGroup` accept for EC2, ECS,
/// Lambda, load balancers, alarms and triggers (their inputs share those members' names).
macro_rules! refuse_group_settings {
    ($i:expr) => {
        refuse_unsupported(Unsupported {
            ec2_tag_filters: &$i.ec2_tag_filters,
            ec2_tag_set: &$i.ec2_tag_set,
            auto_scaling_groups: &$i.auto_scaling_groups,
            blue_green: $i.blue_green_deployment_configuration.is_some(),
            load_balancer: $i.load_balancer_info.is_some(),
            ecs_services: $i.ecs_services.as_ref().is_some_and(|e| !e.is_empty()),
            alarms: &$i.alarm_configuration,
            triggers: &$i.trigger_configurations,
            style: &$i.deployment_style,
            termination_hook: $i.termination_hook_enabled,
        })?;
        refuse_if($i.ec2_deployment_options.is_some(), "ec2DeploymentOptions")?;
    };
}

/// The settings of a group that belong to EC2, ECS, Lambda, load balancers, alarms and
/// triggers: refused rather than stored and ignored.
struct Unsupported<'a> {
    ec2_tag_filters: &'a Option<Vec<w::EC2TagFilter>>,
    ec2_tag_set: &'a Option<w::EC2TagSet>,
    auto_scaling_groups: &'a Option<Vec<String>>,
    blue_green: bool,
    load_balancer: bool,
    ecs_services: bool,
    alarms: &'a Option<w::AlarmConfiguration>,
    triggers: &'a Option<Vec<w::TriggerConfig>>,
    style: &'a Option<w::DeploymentStyle>,
    termination_hook: Option<bool>,
}

fn refuse_unsupported(u: Unsupported<'_>) -> R<()> {
    refuse_if(
        u.ec2_tag_filters.as_ref().is_some_and(|f| !f.is_empty()),
        "ec2TagFilters",
    )?;
    refuse_if(
        u.ec2_tag_set
            .as_ref()
            .and_then(|s| s.ec2_tag_set_list.as_ref())
            .is_some_and(|l| !l.is_empty()),
        "ec2TagSet",
    )?;
    refuse_if(
        u.auto_scaling_groups
            .as_ref()
            .is_some_and(|g| !g.is_empty()),
        "autoScalingGroups",
    )?;
    refuse_if(u.blue_green, "blueGreenDeploymentConfiguration")?;
    refuse_if(u.load_balancer, "loadBalancerInfo")?;
    refuse_if(u.ecs_services, "ecsServices")?;
    refuse_if(
        u.alarms.as_ref().and_then(|a| a.enabled).unwrap_or(false),
        "alarmConfiguration (CloudWatch alarms)",
    )?;
    refuse_if(
        u.triggers.as_ref().is_some_and(|t| !t.is_empty()),
        "triggerConfigurations",
    )?;
    refuse_if(u.termination_hook == Some(true), "terminationHookEnabled")?;
    if let Some(style) = u.style {
        let in_place = style
            .deployment_type
            .as_deref()
            .is_none_or(|t| t == "IN_PLACE");
        let plain = style
            .deployment_option
            .as_deref()
            .is_none_or(|o| o == "WITHOUT_TRAFFIC_CONTROL");
        refuse_if(
            !(in_place && plain),
            "A deployment style other than IN_PLACE WITHOUT_TRAFFIC_CONTROL",
        )?;
    }
    Ok(())
}

async fn targets_of(
    sluice: &Sluice,
    d: &s::DeploymentDoc,
    ids: &[String],
) -> R<Vec<w::DeploymentTarget>> {
    let mut out = Vec::new();
    for id in ids {
        let target = d
            .targets
            .iter()
            .find(|t| &t.instance == id)
            .ok_or_else(|| {
                ApiError::client(
                    "DeploymentTargetDoesNotExistException",
                    format!(
                        "The target {id} is not part of deployment {}",
                        d.deployment_id
                    ),
                )
            })?;
        let arn = format!(
            "arn:aws:codedeploy:{}:{}:instance/{}",
            sluice.options().region,
            sluice.options().account_id,
            target.instance
        );
        out.push(c::deployment_target(d, target, arn));
    }
    Ok(out)
}

/// Runs one operation: the one `match` over the model's operations.
async fn dispatch(sl: &Sluice, op: Operation, body: &[u8]) -> R<Vec<u8>> {
    use Operation as O;
    match op {
        O::CreateApplication => {
            let i: w::CreateApplicationInput = input(op, body)?;
            let id = sl
                .create_deploy_application(
                    &i.application_name,
                    i.compute_platform.as_deref(),
                    c::tags_from(i.tags),
                )
                .await?;
            output(w::CreateApplicationOutput {
                application_id: Some(id),
            })
        }
        O::GetApplication => {
            let i: w::GetApplicationInput = input(op, body)?;
            let app = sl.deploy_application(&i.application_name).await?;
            output(w::GetApplicationOutput {
                application: Some(c::application(&app)),
            })
        }
        O::BatchGetApplications => {
            let i: w::BatchGetApplicationsInput = input(op, body)?;
            let mut apps = Vec::new();
            for name in &i.application_names {
                apps.push(c::application(&sl.deploy_application(name).await?));
            }
            output(w::BatchGetApplicationsOutput {
                applications_info: Some(apps),
            })
        }
        O::ListApplications => {
            let i: w::ListApplicationsInput = input(op, body)?;
            let page = sl.list_deploy_applications(i.next_token.as_deref()).await?;
            output(w::ListApplicationsOutput {
                applications: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::UpdateApplication => {
            let i: w::UpdateApplicationInput = input(op, body)?;
            let (Some(name), Some(new_name)) = (i.application_name, i.new_application_name) else {
                return Err(ApiError::client(
                    "ApplicationNameRequiredException",
                    "The minimum number of required application names was not specified.",
                ));
            };
            sl.rename_deploy_application(&name, &new_name).await?;
            empty()
        }
        O::DeleteApplication => {
            let i: w::DeleteApplicationInput = input(op, body)?;
            sl.delete_deploy_application(&i.application_name).await?;
            empty()
        }
        O::CreateDeploymentGroup => {
            let i: w::CreateDeploymentGroupInput = input(op, body)?;
            refuse_group_settings!(i);
            let group = s::DeploymentGroupDoc {
                application_name: i.application_name,
                deployment_group_name: i.deployment_group_name,
                deployment_config_name: i.deployment_config_name.unwrap_or_default(),
                service_role_arn: i.service_role_arn,
                on_premises_instance_tag_filters: c::tag_filters_from(
                    i.on_premises_instance_tag_filters,
                ),
                on_premises_tag_set: i
                    .on_premises_tag_set
                    .and_then(|s| s.on_premises_tag_set_list)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|set| c::tag_filters_from(Some(set)))
                    .collect(),
                auto_rollback: c::rollback_from(i.auto_rollback_configuration),
                outdated_instances_strategy: i.outdated_instances_strategy,
                ..Default::default()
            };
            let id = sl
                .create_deployment_group(group, c::tags_from(i.tags))
                .await?;
            output(w::CreateDeploymentGroupOutput {
                deployment_group_id: Some(id),
            })
        }
        O::GetDeploymentGroup => {
            let i: w::GetDeploymentGroupInput = input(op, body)?;
            let group = sl
                .deployment_group(&i.application_name, &i.deployment_group_name)
                .await?;
            let group = sl.group_history(&group).await?;
            output(w::GetDeploymentGroupOutput {
                deployment_group_info: Some(c::group(&group)),
            })
        }
        O::BatchGetDeploymentGroups => {
            let i: w::BatchGetDeploymentGroupsInput = input(op, body)?;
            let mut groups = Vec::new();
            let mut missing = Vec::new();
            for name in &i.deployment_group_names {
                match sl.deployment_group(&i.application_name, name).await {
                    Ok(g) => groups.push(c::group(&sl.group_history(&g).await?)),
                    Err(sluice_service::Error::Named {
                        code: "DeploymentGroupDoesNotExistException",
                        ..
                    }) => missing.push(name.clone()),
                    Err(e) => return Err(e.into()),
                }
            }
            output(w::BatchGetDeploymentGroupsOutput {
                deployment_groups_info: Some(groups),
                error_message: (!missing.is_empty())
                    .then(|| format!("Deployment groups not found: {}", missing.join(", "))),
            })
        }
        O::ListDeploymentGroups => {
            let i: w::ListDeploymentGroupsInput = input(op, body)?;
            let page = sl
                .list_deployment_groups(&i.application_name, i.next_token.as_deref())
                .await?;
            output(w::ListDeploymentGroupsOutput {
                application_name: Some(i.application_name),
                deployment_groups: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::UpdateDeploymentGroup => {
            let i: w::UpdateDeploymentGroupInput = input(op, body)?;
            refuse_group_settings!(i);
            sl.update_deployment_group(
                &i.application_name,
                &i.current_deployment_group_name,
                |g| {
                    if let Some(name) = i.new_deployment_group_name {
                        g.deployment_group_name = name;
                    }
                    if let Some(config) = i.deployment_config_name {
                        g.deployment_config_name = config;
                    }
                    if let Some(role) = i.service_role_arn {
                        g.service_role_arn = role;
                    }
                    if i.on_premises_instance_tag_filters.is_some() {
                        g.on_premises_instance_tag_filters =
                            c::tag_filters_from(i.on_premises_instance_tag_filters);
                    }
                    if let Some(set) = i.on_premises_tag_set {
                        g.on_premises_tag_set = set
                            .on_premises_tag_set_list
                            .unwrap_or_default()
                            .into_iter()
                            .map(|s| c::tag_filters_from(Some(s)))
                            .collect();
                    }
                    if i.auto_rollback_configuration.is_some() {
                        g.auto_rollback = c::rollback_from(i.auto_rollback_configuration);
                    }
                    if i.outdated_instances_strategy.is_some() {
                        g.outdated_instances_strategy = i.outdated_instances_strategy;
                    }
                },
            )
            .await?;
            output(w::UpdateDeploymentGroupOutput {
                hooks_not_cleaned_up: Some(Vec::new()),
            })
        }
        O::DeleteDeploymentGroup => {
            let i: w::DeleteDeploymentGroupInput = input(op, body)?;
            sl.delete_deployment_group(&i.application_name, &i.deployment_group_name)
                .await?;
            output(w::DeleteDeploymentGroupOutput {
                hooks_not_cleaned_up: Some(Vec::new()),
            })
        }
        O::CreateDeploymentConfig => {
            let i: w::CreateDeploymentConfigInput = input(op, body)?;
            refuse_if(
                i.traffic_routing_config.is_some(),
                "trafficRoutingConfig (Lambda and ECS)",
            )?;
            refuse_if(i.zonal_config.is_some(), "zonalConfig")?;
            let minimum = i.minimum_healthy_hosts.map(|m| s::MinimumHealthyHostsDoc {
                kind: m.r#type.unwrap_or_default(),
                value: m.value.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
            });
            let id = sl
                .create_deployment_config(
                    &i.deployment_config_name,
                    minimum,
                    i.compute_platform.as_deref(),
                )
                .await?;
            output(w::CreateDeploymentConfigOutput {
                deployment_config_id: Some(id),
            })
        }
        O::GetDeploymentConfig => {
            let i: w::GetDeploymentConfigInput = input(op, body)?;
            let config = sl.deployment_config(&i.deployment_config_name).await?;
            output(w::GetDeploymentConfigOutput {
                deployment_config_info: Some(c::config(&config)),
            })
        }
        O::ListDeploymentConfigs => {
            let i: w::ListDeploymentConfigsInput = input(op, body)?;
            let page = sl.list_deployment_configs(i.next_token.as_deref()).await?;
            output(w::ListDeploymentConfigsOutput {
                deployment_configs_list: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::DeleteDeploymentConfig => {
            let i: w::DeleteDeploymentConfigInput = input(op, body)?;
            sl.delete_deployment_config(&i.deployment_config_name)
                .await?;
            empty()
        }
        O::RegisterOnPremisesInstance => {
            let i: w::RegisterOnPremisesInstanceInput = input(op, body)?;
            sl.register_on_premises_instance(
                &i.instance_name,
                i.iam_user_arn.as_deref(),
                i.iam_session_arn.as_deref(),
            )
            .await?;
            empty()
        }
        O::DeregisterOnPremisesInstance => {
            let i: w::DeregisterOnPremisesInstanceInput = input(op, body)?;
            sl.deregister_on_premises_instance(&i.instance_name).await?;
            empty()
        }
        O::GetOnPremisesInstance => {
            let i: w::GetOnPremisesInstanceInput = input(op, body)?;
            let found = sl.on_premises_instance(&i.instance_name).await?;
            output(w::GetOnPremisesInstanceOutput {
                instance_info: Some(c::instance(&found)),
            })
        }
        O::BatchGetOnPremisesInstances => {
            let i: w::BatchGetOnPremisesInstancesInput = input(op, body)?;
            let mut infos = Vec::new();
            for name in &i.instance_names {
                match sl.on_premises_instance(name).await {
                    Ok(found) => infos.push(c::instance(&found)),
                    Err(sluice_service::Error::Named { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            output(w::BatchGetOnPremisesInstancesOutput {
                instance_infos: Some(infos),
            })
        }
        O::ListOnPremisesInstances => {
            let i: w::ListOnPremisesInstancesInput = input(op, body)?;
            let filters: Vec<s::TagFilter> = c::tag_filters_from(i.tag_filters);
            let names: Vec<String> = sl
                .on_premises_instances(i.registration_status.as_deref(), &filters)
                .await?
                .into_iter()
                .map(|d| d.instance_name)
                .collect();
            let page = sl.page_of(
                "ListOnPremisesInstances",
                &names,
                100,
                i.next_token.as_deref(),
            )?;
            output(w::ListOnPremisesInstancesOutput {
                instance_names: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::AddTagsToOnPremisesInstances => {
            let i: w::AddTagsToOnPremisesInstancesInput = input(op, body)?;
            sl.tag_on_premises_instances(&i.instance_names, &c::tags_from(Some(i.tags)))
                .await?;
            empty()
        }
        O::RemoveTagsFromOnPremisesInstances => {
            let i: w::RemoveTagsFromOnPremisesInstancesInput = input(op, body)?;
            sl.untag_on_premises_instances(&i.instance_names, &c::tags_from(Some(i.tags)))
                .await?;
            empty()
        }
        O::RegisterApplicationRevision => {
            let i: w::RegisterApplicationRevisionInput = input(op, body)?;
            let location = c::revision_from(i.revision)?;
            sl.register_revision(
                &i.application_name,
                &location,
                i.description.as_deref(),
                false,
            )
            .await?;
            empty()
        }
        O::GetApplicationRevision => {
            let i: w::GetApplicationRevisionInput = input(op, body)?;
            let location = c::revision_from(i.revision)?;
            let revision = sl
                .application_revision(&i.application_name, &location)
                .await?;
            output(w::GetApplicationRevisionOutput {
                application_name: Some(i.application_name),
                revision: Some(c::revision_to(&revision.location)),
                revision_info: Some(c::generic_revision(&revision)),
            })
        }
        O::BatchGetApplicationRevisions => {
            let i: w::BatchGetApplicationRevisionsInput = input(op, body)?;
            let mut infos = Vec::new();
            for location in i.revisions {
                let location = c::revision_from(location)?;
                infos.push(c::revision_info(
                    &sl.application_revision(&i.application_name, &location)
                        .await?,
                ));
            }
            output(w::BatchGetApplicationRevisionsOutput {
                application_name: Some(i.application_name),
                revisions: Some(infos),
                error_message: None,
            })
        }
        O::ListApplicationRevisions => {
            let i: w::ListApplicationRevisionsInput = input(op, body)?;
            let mut revisions = sl.application_revisions(&i.application_name).await?;
            revisions.retain(|r| {
                i.s3_bucket.as_ref().is_none_or(|b| &r.location.bucket == b)
                    && i.s3_key_prefix
                        .as_ref()
                        .is_none_or(|p| r.location.key.starts_with(p.as_str()))
                    && match i.deployed.as_deref() {
                        Some("include") => r.first_used_ms.is_some(),
                        Some("exclude") => r.first_used_ms.is_none(),
                        _ => true,
                    }
            });
            let key = |r: &s::RevisionDoc| match i.sort_by.as_deref() {
                Some("firstUsedTime") => r.first_used_ms.unwrap_or(0),
                Some("lastUsedTime") => r.last_used_ms.unwrap_or(0),
                _ => r.register_ms,
            };
            revisions.sort_by_key(key);
            if i.sort_order.as_deref() == Some("descending") {
                revisions.reverse();
            }
            let locations: Vec<w::RevisionLocation> = revisions
                .iter()
                .map(|r| c::revision_to(&r.location))
                .collect();
            let page = sl.page_of(
                &format!("ListApplicationRevisions:{}", i.application_name),
                &locations,
                100,
                i.next_token.as_deref(),
            )?;
            output(w::ListApplicationRevisionsOutput {
                revisions: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::CreateDeployment => {
            let i: w::CreateDeploymentInput = input(op, body)?;
            refuse_if(i.target_instances.is_some(), "targetInstances (blue/green)")?;
            refuse_if(
                i.deployment_mode.as_deref() == Some("RESTART"),
                "deploymentMode RESTART",
            )?;
            refuse_if(i.ec2_deployment_options.is_some(), "ec2DeploymentOptions")?;
            refuse_if(
                i.override_alarm_configuration
                    .as_ref()
                    .and_then(|a| a.enabled)
                    .unwrap_or(false),
                "overrideAlarmConfiguration",
            )?;
            refuse_if(
                i.update_outdated_instances_only == Some(true),
                "updateOutdatedInstancesOnly",
            )?;
            let group = i.deployment_group_name.ok_or_else(|| {
                ApiError::client(
                    "DeploymentGroupNameRequiredException",
                    "The deployment group name was not specified.",
                )
            })?;
            let request = s::NewDeployment {
                application: i.application_name,
                group,
                revision: i.revision.map(c::revision_from).transpose()?,
                config: i.deployment_config_name,
                description: i.description,
                file_exists_behavior: i.file_exists_behavior,
                ignore_application_stop_failures: i
                    .ignore_application_stop_failures
                    .unwrap_or(false),
                auto_rollback: c::rollback_from(i.auto_rollback_configuration),
                creator: None,
                creator_token: None,
            };
            let id = sl.create_deployment(request).await?;
            output(w::CreateDeploymentOutput {
                deployment_id: Some(id),
            })
        }
        O::GetDeployment => {
            let i: w::GetDeploymentInput = input(op, body)?;
            let d = sl.deployment(&i.deployment_id).await?;
            output(w::GetDeploymentOutput {
                deployment_info: Some(c::deployment(&d)),
            })
        }
        O::BatchGetDeployments => {
            let i: w::BatchGetDeploymentsInput = input(op, body)?;
            let mut infos = Vec::new();
            for id in &i.deployment_ids {
                match sl.deployment(id).await {
                    Ok(d) => infos.push(c::deployment(&d)),
                    Err(sluice_service::Error::Named { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            output(w::BatchGetDeploymentsOutput {
                deployments_info: Some(infos),
            })
        }
        O::ListDeployments => {
            let i: w::ListDeploymentsInput = input(op, body)?;
            refuse_if(i.external_id.is_some(), "externalId")?;
            let range = i.create_time_range.unwrap_or_default();
            let filter = s::DeploymentFilter {
                application: i.application_name,
                group: i.deployment_group_name,
                statuses: i.include_only_statuses.unwrap_or_default(),
                created_after_ms: range.start.map(|t| (t * 1000.0) as i64),
                created_before_ms: range.end.map(|t| (t * 1000.0) as i64),
            };
            let page = sl
                .list_deployments(&filter, i.next_token.as_deref())
                .await?;
            output(w::ListDeploymentsOutput {
                deployments: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::StopDeployment => {
            let i: w::StopDeploymentInput = input(op, body)?;
            sl.stop_deployment(&i.deployment_id, i.auto_rollback_enabled)
                .await?;
            output(w::StopDeploymentOutput {
                status: Some("Succeeded".into()),
                status_message: Some("The deployment was stopped".into()),
            })
        }
        O::ListDeploymentInstances => {
            let i: w::ListDeploymentInstancesInput = input(op, body)?;
            let types = i.instance_type_filter.unwrap_or_default();
            refuse_if(
                types.iter().any(|t| t == "Green"),
                "instanceTypeFilter Green (blue/green)",
            )?;
            let d = sl.deployment(&i.deployment_id).await?;
            let statuses = i.instance_status_filter.unwrap_or_default();
            let ids: Vec<String> = d
                .targets
                .iter()
                .filter(|t| statuses.is_empty() || statuses.contains(&t.status))
                .map(|t| t.instance.clone())
                .collect();
            let page = sl.page_of(
                &format!("ListDeploymentInstances:{}", i.deployment_id),
                &ids,
                100,
                i.next_token.as_deref(),
            )?;
            output(w::ListDeploymentInstancesOutput {
                instances_list: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::GetDeploymentInstance => {
            let i: w::GetDeploymentInstanceInput = input(op, body)?;
            let d = sl.deployment(&i.deployment_id).await?;
            let target = d
                .targets
                .iter()
                .find(|t| t.instance == i.instance_id)
                .ok_or_else(|| {
                    ApiError::client(
                        "InstanceDoesNotExistException",
                        format!(
                            "The instance {} is not part of deployment {}",
                            i.instance_id, i.deployment_id
                        ),
                    )
                })?;
            output(w::GetDeploymentInstanceOutput {
                instance_summary: Some(c::instance_summary(&d, target)),
            })
        }
        O::BatchGetDeploymentInstances => {
            let i: w::BatchGetDeploymentInstancesInput = input(op, body)?;
            let d = sl.deployment(&i.deployment_id).await?;
            let summaries = d
                .targets
                .iter()
                .filter(|t| i.instance_ids.contains(&t.instance))
                .map(|t| c::instance_summary(&d, t))
                .collect();
            output(w::BatchGetDeploymentInstancesOutput {
                instances_summary: Some(summaries),
                error_message: None,
            })
        }
        O::ListDeploymentTargets => {
            let i: w::ListDeploymentTargetsInput = input(op, body)?;
            let d = sl.deployment(&i.deployment_id).await?;
            let filters = i.target_filters.unwrap_or_default();
            let statuses = filters.get("TargetStatus").cloned().unwrap_or_default();
            // Every target of an in-place deployment is a Blue one.
            let labels = filters
                .get("ServerInstanceLabel")
                .cloned()
                .unwrap_or_default();
            let blue = labels.is_empty() || labels.iter().any(|l| l == "Blue");
            let ids: Vec<String> = d
                .targets
                .iter()
                .filter(|_| blue)
                .filter(|t| statuses.is_empty() || statuses.contains(&t.status))
                .map(|t| t.instance.clone())
                .collect();
            let page = sl.page_of(
                &format!("ListDeploymentTargets:{}", i.deployment_id),
                &ids,
                100,
                i.next_token.as_deref(),
            )?;
            output(w::ListDeploymentTargetsOutput {
                target_ids: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::GetDeploymentTarget => {
            let i: w::GetDeploymentTargetInput = input(op, body)?;
            let d = sl.deployment(&i.deployment_id).await?;
            let mut targets = targets_of(sl, &d, std::slice::from_ref(&i.target_id)).await?;
            output(w::GetDeploymentTargetOutput {
                deployment_target: targets.pop(),
            })
        }
        O::BatchGetDeploymentTargets => {
            let i: w::BatchGetDeploymentTargetsInput = input(op, body)?;
            let d = sl.deployment(&i.deployment_id).await?;
            let targets = targets_of(sl, &d, &i.target_ids).await?;
            output(w::BatchGetDeploymentTargetsOutput {
                deployment_targets: Some(targets),
            })
        }
        O::TagResource => {
            let i: w::TagResourceInput = input(op, body)?;
            sl.tag_deploy_resource(&i.resource_arn, c::tags_from(Some(i.tags)))
                .await?;
            empty()
        }
        O::UntagResource => {
            let i: w::UntagResourceInput = input(op, body)?;
            sl.untag_deploy_resource(&i.resource_arn, &i.tag_keys)
                .await?;
            empty()
        }
        O::ListTagsForResource => {
            let i: w::ListTagsForResourceInput = input(op, body)?;
            let tags = sl.deploy_resource_tags(&i.resource_arn).await?;
            output(w::ListTagsForResourceOutput {
                tags: Some(c::tags_to(&tags)),
                next_token: None,
            })
        }
        O::ContinueDeployment
        | O::DeleteGitHubAccountToken
        | O::DeleteResourcesByExternalId
        | O::ListGitHubAccountTokenNames
        | O::PutLifecycleEventHookExecutionStatus
        | O::SkipWaitTimeForInstanceTermination => Err(ApiError::not_implemented_named(op.name())),
    }
}

/// The operations this server answers.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::AddTagsToOnPremisesInstances,
    Operation::BatchGetApplicationRevisions,
    Operation::BatchGetApplications,
    Operation::BatchGetDeploymentGroups,
    Operation::BatchGetDeploymentInstances,
    Operation::BatchGetDeploymentTargets,
    Operation::BatchGetDeployments,
    Operation::BatchGetOnPremisesInstances,
    Operation::CreateApplication,
    Operation::CreateDeployment,
    Operation::CreateDeploymentConfig,
    Operation::CreateDeploymentGroup,
    Operation::DeleteApplication,
    Operation::DeleteDeploymentConfig,
    Operation::DeleteDeploymentGroup,
    Operation::DeregisterOnPremisesInstance,
    Operation::GetApplication,
    Operation::GetApplicationRevision,
    Operation::GetDeployment,
    Operation::GetDeploymentConfig,
    Operation::GetDeploymentGroup,
    Operation::GetDeploymentInstance,
    Operation::GetDeploymentTarget,
    Operation::GetOnPremisesInstance,
    Operation::ListApplicationRevisions,
    Operation::ListApplications,
    Operation::ListDeploymentConfigs,
    Operation::ListDeploymentGroups,
    Operation::ListDeploymentInstances,
    Operation::ListDeploymentTargets,
    Operation::ListDeployments,
    Operation::ListOnPremisesInstances,
    Operation::ListTagsForResource,
    Operation::RegisterApplicationRevision,
    Operation::RegisterOnPremisesInstance,
    Operation::RemoveTagsFromOnPremisesInstances,
    Operation::StopDeployment,
    Operation::TagResource,
    Operation::UntagResource,
    Operation::UpdateApplication,
    Operation::UpdateDeploymentGroup,
];

fn is_read_only(op: Operation) -> bool {
    let name = op.name();
    name.starts_with("Get") || name.starts_with("List") || name.starts_with("BatchGet")
}

fn str_of<'a>(input: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(|v| v.as_str())
}

/// The action, resource and trail resources IAM decides on, as AWS names them. Operations
/// that name only a deployment are decided on its group, read after authentication.
async fn plan(sl: &Sluice, op: Operation, input: &serde_json::Value) -> R<Plan> {
    let base = format!(
        "arn:aws:codedeploy:{}:{}:",
        sl.options().region,
        sl.options().account_id
    );
    let app = str_of(input, "applicationName");
    let group =
        str_of(input, "deploymentGroupName").or(str_of(input, "currentDeploymentGroupName"));
    let deployment = str_of(input, "deploymentId");
    let resource = if let Some(id) = deployment {
        match sl.deployment(id).await {
            Ok(d) => format!(
                "{base}deploymentgroup:{}/{}",
                d.application_name, d.deployment_group_name
            ),
            Err(_) => format!("{base}deploymentgroup:*"),
        }
    } else if let Some(name) =
        str_of(input, "deploymentConfigName").filter(|_| op.name().ends_with("DeploymentConfig"))
    {
        format!("{base}deploymentconfig:{name}")
    } else if let Some(name) = str_of(input, "instanceName") {
        format!("{base}instance/{name}")
    } else if let Some(arn) = str_of(input, "resourceArn") {
        arn.to_string()
    } else {
        match (app, group) {
            (Some(a), Some(g)) => format!("{base}deploymentgroup:{a}/{g}"),
            (Some(a), None) if op == Operation::BatchGetDeploymentGroups => {
                format!("{base}deploymentgroup:{a}/*")
            }
            (Some(a), None) => format!("{base}application:{a}"),
            _ => "*".to_string(),
        }
    };
    let kind = if resource.contains(":deploymentgroup:") {
        "AWS::CodeDeploy::DeploymentGroup"
    } else if resource.contains(":application:") {
        "AWS::CodeDeploy::Application"
    } else if resource.contains(":deploymentconfig:") {
        "AWS::CodeDeploy::DeploymentConfig"
    } else {
        "AWS::CodeDeploy::OnPremisesInstance"
    };
    let resources = if resource == "*" {
        Vec::new()
    } else {
        vec![(kind.to_string(), resource.clone())]
    };
    Ok(Plan {
        read_only: is_read_only(op),
        authorize: Some((format!("codedeploy:{}", op.name()), resource)),
        resources,
    })
}

pub(crate) async fn handle(
    sluice: &Sluice,
    request: Request<'_>,
    claim: crate::auth::Claim,
) -> Response {
    let op = Operation::from_name(request.operation_name());
    let body = request.body;
    crate::json_service::handle_operation(
        sluice,
        &SPEC,
        request,
        claim,
        op,
        |op, parsed| async move { plan(sluice, op, &parsed).await },
        |op, _caller| async move { dispatch(sluice, op, body).await },
    )
    .await
}

/// CodePipeline's `ListDeployActionExecutionTargets`: the hosts of the deployment a CodeDeploy
/// action execution made, with their lifecycle events.
pub(crate) async fn list_deploy_action_execution_targets(
    sl: &Sluice,
    i: sluice_wire::ListDeployActionExecutionTargetsInput,
) -> R<sluice_wire::ListDeployActionExecutionTargetsOutput> {
    use sluice_wire as cp;
    let pipeline = i.pipeline_name.ok_or_else(|| {
        ApiError::client(
            "ValidationException",
            "pipelineName is required: this server finds action executions within their pipeline",
        )
    })?;
    let deployment = sl
        .deploy_action_deployment(&pipeline, &i.action_execution_id)
        .await?;
    let mut statuses: Vec<String> = Vec::new();
    for filter in i.filters.unwrap_or_default() {
        match filter.name.as_deref() {
            Some("TARGET_STATUS") => statuses.extend(filter.values.unwrap_or_default()),
            other => {
                return Err(ApiError::client(
                    "ValidationException",
                    format!(
                        "The filter {} is not TARGET_STATUS",
                        other.unwrap_or_default()
                    ),
                ))
            }
        }
    }
    let targets: Vec<cp::DeployActionExecutionTarget> = deployment
        .targets
        .iter()
        .filter(|t| statuses.is_empty() || statuses.contains(&t.status))
        .map(|t| {
            let started = t.events.iter().filter_map(|e| e.start_ms).min();
            let ended = t
                .events
                .iter()
                .filter_map(|e| e.end_ms)
                .max()
                .filter(|_| !matches!(t.status.as_str(), "Pending" | "InProgress"));
            cp::DeployActionExecutionTarget {
                target_id: Some(t.instance.clone()),
                target_type: Some("OnPremisesInstance".into()),
                status: Some(t.status.clone()),
                start_time: started.map(c::time),
                end_time: ended.map(c::time),
                events: Some(
                    t.events
                        .iter()
                        .map(|e| cp::DeployTargetEvent {
                            name: Some(e.event.clone()),
                            status: Some(e.status.clone()),
                            start_time: e.start_ms.map(c::time),
                            end_time: e.end_ms.map(c::time),
                            context: e
                                .diagnostics
                                .as_ref()
                                .map(|d| cp::DeployTargetEventContext {
                                    message: Some(d.message.clone()),
                                    ssm_command_id: None,
                                }),
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    let limit = i.max_results.map_or(100, |n| n.clamp(1, 100) as usize);
    let page = sl.page_of(
        &format!("ListDeployActionExecutionTargets:{}", i.action_execution_id),
        &targets,
        limit,
        i.next_token.as_deref(),
    )?;
    Ok(cp::ListDeployActionExecutionTargetsOutput {
        targets: Some(page.items),
        next_token: page.next_token,
    })
}
