//! CodeDeploy's wire shapes ↔ the façade's documents.

use crate::ApiError;
use sluice_service::deploy as s;
use sluice_service::Tag;
use sluice_wire::codedeploy as w;

/// Milliseconds since the epoch as the JSON protocol's timestamp (seconds, fractional).
pub(super) fn time(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

pub(super) fn tags_from(tags: Option<Vec<w::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.key.unwrap_or_default(),
            value: t.value.unwrap_or_default(),
        })
        .collect()
}

pub(super) fn tags_to(tags: &[Tag]) -> Vec<w::Tag> {
    tags.iter()
        .map(|t| w::Tag {
            key: Some(t.key.clone()),
            value: Some(t.value.clone()),
        })
        .collect()
}

pub(super) fn tag_filters_from(filters: Option<Vec<w::TagFilter>>) -> Vec<s::TagFilter> {
    filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| s::TagFilter {
            key: f.key,
            value: f.value,
            kind: f.r#type.unwrap_or_default(),
        })
        .collect()
}

pub(super) fn tag_filters_to(filters: &[s::TagFilter]) -> Vec<w::TagFilter> {
    filters
        .iter()
        .map(|f| w::TagFilter {
            key: f.key.clone(),
            value: f.value.clone(),
            r#type: Some(f.kind.clone()),
        })
        .collect()
}

pub(super) fn rollback_from(
    config: Option<w::AutoRollbackConfiguration>,
) -> Option<s::AutoRollbackDoc> {
    config.map(|c| s::AutoRollbackDoc {
        enabled: c.enabled.unwrap_or(false),
        events: c.events.unwrap_or_default(),
    })
}

pub(super) fn rollback_to(
    config: &Option<s::AutoRollbackDoc>,
) -> Option<w::AutoRollbackConfiguration> {
    config.as_ref().map(|c| w::AutoRollbackConfiguration {
        enabled: Some(c.enabled),
        events: Some(c.events.clone()),
    })
}

/// A revision location: only S3 revisions exist here.
pub(super) fn revision_from(location: w::RevisionLocation) -> Result<s::S3LocationDoc, ApiError> {
    let kind = location
        .revision_type
        .clone()
        .unwrap_or_else(|| "S3".into());
    if kind != "S3" {
        return Err(ApiError::client(
            "InvalidRevisionException",
            format!(
                "The revision type {kind} is not supported by this Sluice server: deploy a bundle from one of its S3 buckets (revisionType S3)"
            ),
        ));
    }
    let s3 = location.s3_location.ok_or_else(|| {
        ApiError::client(
            "InvalidRevisionException",
            "An S3 revision needs an s3Location",
        )
    })?;
    Ok(s::S3LocationDoc {
        bucket: s3.bucket.unwrap_or_default(),
        key: s3.key.unwrap_or_default(),
        bundle_type: s3.bundle_type.unwrap_or_default(),
        version: s3.version,
        etag: s3.e_tag.map(|e| e.trim_matches('"').to_string()),
    })
}

pub(super) fn revision_to(location: &s::S3LocationDoc) -> w::RevisionLocation {
    w::RevisionLocation {
        revision_type: Some("S3".into()),
        s3_location: Some(w::S3Location {
            bucket: Some(location.bucket.clone()),
            key: Some(location.key.clone()),
            bundle_type: Some(location.bundle_type.clone()),
            version: location.version.clone(),
            e_tag: location.etag.clone(),
        }),
        ..Default::default()
    }
}

pub(super) fn application(app: &s::ApplicationDoc) -> w::ApplicationInfo {
    w::ApplicationInfo {
        application_id: Some(app.application_id.clone()),
        application_name: Some(app.application_name.clone()),
        compute_platform: Some(app.compute_platform.clone()),
        create_time: Some(time(app.create_ms)),
        linked_to_git_hub: Some(false),
        git_hub_account_name: None,
    }
}

fn last(deployment: &Option<s::LastDeploymentDoc>) -> Option<w::LastDeploymentInfo> {
    deployment.as_ref().map(|d| w::LastDeploymentInfo {
        deployment_id: Some(d.deployment_id.clone()),
        status: Some(d.status.clone()),
        end_time: d.end_ms.map(time),
        create_time: Some(time(d.create_ms)),
    })
}

pub(super) fn group(group: &s::DeploymentGroupDoc) -> w::DeploymentGroupInfo {
    w::DeploymentGroupInfo {
        application_name: Some(group.application_name.clone()),
        deployment_group_id: Some(group.deployment_group_id.clone()),
        deployment_group_name: Some(group.deployment_group_name.clone()),
        deployment_config_name: Some(group.deployment_config_name.clone()),
        service_role_arn: Some(group.service_role_arn.clone()),
        on_premises_instance_tag_filters: Some(tag_filters_to(
            &group.on_premises_instance_tag_filters,
        )),
        on_premises_tag_set: (!group.on_premises_tag_set.is_empty()).then(|| w::OnPremisesTagSet {
            on_premises_tag_set_list: Some(
                group
                    .on_premises_tag_set
                    .iter()
                    .map(|set| tag_filters_to(set))
                    .collect(),
            ),
        }),
        auto_rollback_configuration: rollback_to(&group.auto_rollback),
        target_revision: group.target_revision.as_ref().map(revision_to),
        last_successful_deployment: last(&group.last_successful_deployment),
        last_attempted_deployment: last(&group.last_attempted_deployment),
        compute_platform: Some("Server".into()),
        deployment_style: Some(w::DeploymentStyle {
            deployment_type: Some("IN_PLACE".into()),
            deployment_option: Some("WITHOUT_TRAFFIC_CONTROL".into()),
        }),
        outdated_instances_strategy: Some(
            group
                .outdated_instances_strategy
                .clone()
                .unwrap_or_else(|| "UPDATE".into()),
        ),
        ec2_tag_filters: Some(Vec::new()),
        auto_scaling_groups: Some(Vec::new()),
        trigger_configurations: Some(Vec::new()),
        ..Default::default()
    }
}

pub(super) fn config(config: &s::DeploymentConfigDoc) -> w::DeploymentConfigInfo {
    w::DeploymentConfigInfo {
        deployment_config_id: Some(config.deployment_config_id.clone()),
        deployment_config_name: Some(config.deployment_config_name.clone()),
        minimum_healthy_hosts: Some(w::MinimumHealthyHosts {
            r#type: Some(config.minimum_healthy_hosts.kind.clone()),
            value: Some(i64::from(config.minimum_healthy_hosts.value)),
        }),
        compute_platform: Some(config.compute_platform.clone()),
        create_time: Some(time(config.create_ms)),
        ..Default::default()
    }
}

pub(super) fn instance(instance: &s::InstanceDoc) -> w::InstanceInfo {
    w::InstanceInfo {
        instance_name: Some(instance.instance_name.clone()),
        iam_user_arn: Some(instance.iam_user_arn.clone()),
        iam_session_arn: None,
        instance_arn: Some(instance.instance_arn.clone()),
        register_time: Some(time(instance.register_ms)),
        deregister_time: instance.deregister_ms.map(time),
        tags: Some(tags_to(&instance.tags)),
    }
}

pub(super) fn revision_info(revision: &s::RevisionDoc) -> w::RevisionInfo {
    w::RevisionInfo {
        revision_location: Some(revision_to(&revision.location)),
        generic_revision_info: Some(generic_revision(revision)),
    }
}

pub(super) fn generic_revision(revision: &s::RevisionDoc) -> w::GenericRevisionInfo {
    w::GenericRevisionInfo {
        description: revision.description.clone(),
        deployment_groups: Some(revision.deployment_groups.clone()),
        first_used_time: revision.first_used_ms.map(time),
        last_used_time: revision.last_used_ms.map(time),
        register_time: Some(time(revision.register_ms)),
    }
}

pub(super) fn deployment(d: &s::DeploymentDoc) -> w::DeploymentInfo {
    let overview = d.overview();
    let count = |name: &str| overview.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
    w::DeploymentInfo {
        deployment_id: Some(d.deployment_id.clone()),
        application_name: Some(d.application_name.clone()),
        deployment_group_name: Some(d.deployment_group_name.clone()),
        deployment_config_name: Some(d.deployment_config_name.clone()),
        status: Some(d.status.clone()),
        error_information: d.error.as_ref().map(|e| w::ErrorInformation {
            code: Some(e.code.clone()),
            message: Some(e.message.clone()),
        }),
        create_time: Some(time(d.create_ms)),
        start_time: d.start_ms.map(time),
        complete_time: d.complete_ms.map(time),
        deployment_overview: Some(w::DeploymentOverview {
            pending: count("Pending"),
            in_progress: count("InProgress"),
            succeeded: count("Succeeded"),
            failed: count("Failed"),
            skipped: count("Skipped"),
            ready: Some(0),
        }),
        description: d.description.clone(),
        creator: Some(d.creator.clone()),
        ignore_application_stop_failures: Some(d.ignore_application_stop_failures),
        auto_rollback_configuration: rollback_to(&d.auto_rollback),
        update_outdated_instances_only: Some(false),
        rollback_info: d.rollback_info.as_ref().map(|r| w::RollbackInfo {
            rollback_deployment_id: r.rollback_deployment_id.clone(),
            rollback_triggering_deployment_id: r.rollback_triggering_deployment_id.clone(),
            rollback_message: r.rollback_message.clone(),
        }),
        deployment_style: Some(w::DeploymentStyle {
            deployment_type: Some("IN_PLACE".into()),
            deployment_option: Some("WITHOUT_TRAFFIC_CONTROL".into()),
        }),
        revision: Some(revision_to(&d.revision)),
        previous_revision: d.previous_revision.as_ref().map(revision_to),
        file_exists_behavior: Some(
            d.file_exists_behavior
                .clone()
                .unwrap_or_else(|| "DISALLOW".into()),
        ),
        compute_platform: Some("Server".into()),
        instance_termination_wait_time_started: Some(false),
        ..Default::default()
    }
}

fn lifecycle_events(target: &s::TargetDoc) -> Vec<w::LifecycleEvent> {
    target
        .events
        .iter()
        .map(|run| w::LifecycleEvent {
            lifecycle_event_name: Some(run.event.clone()),
            status: Some(run.status.clone()),
            start_time: run.start_ms.map(time),
            end_time: run.end_ms.map(time),
            diagnostics: run.diagnostics.as_ref().map(|x| w::Diagnostics {
                error_code: Some(x.error_code.clone()),
                script_name: Some(x.script_name.clone()),
                message: Some(x.message.clone()),
                log_tail: Some(x.log_tail.clone()),
            }),
        })
        .collect()
}

pub(super) fn instance_summary(d: &s::DeploymentDoc, target: &s::TargetDoc) -> w::InstanceSummary {
    w::InstanceSummary {
        deployment_id: Some(d.deployment_id.clone()),
        instance_id: Some(target.instance.clone()),
        instance_type: Some("Blue".into()),
        last_updated_at: Some(time(target.updated_ms)),
        lifecycle_events: Some(lifecycle_events(target)),
        status: Some(target.status.clone()),
    }
}

pub(super) fn deployment_target(
    d: &s::DeploymentDoc,
    target: &s::TargetDoc,
    instance_arn: String,
) -> w::DeploymentTarget {
    w::DeploymentTarget {
        deployment_target_type: Some("InstanceTarget".into()),
        instance_target: Some(w::InstanceTarget {
            deployment_id: Some(d.deployment_id.clone()),
            target_id: Some(target.instance.clone()),
            target_arn: Some(instance_arn),
            status: Some(target.status.clone()),
            last_updated_at: Some(time(target.updated_ms)),
            lifecycle_events: Some(lifecycle_events(target)),
            instance_label: Some("Blue".into()),
        }),
        ..Default::default()
    }
}
