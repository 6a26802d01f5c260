//! One function per implemented operation: typed wire input in, typed wire output out.

use crate::convert::*;
use crate::ApiError;
use sluice_model as m;
use sluice_service::{Caller, Sluice, TransitionDirection};
use sluice_wire as w;

type R<T> = Result<T, ApiError>;

pub async fn create_pipeline(s: &Sluice, i: w::CreatePipelineInput) -> R<w::CreatePipelineOutput> {
    // Tags are echoed as given, an empty list too.
    let given = i.tags.is_some();
    let tags = tags_from_wire(i.tags);
    let echoed = given.then(|| tags_to_wire(tags.clone()));
    let stored = s
        .create_pipeline(pipeline_from_wire(i.pipeline)?, tags)
        .await?;
    Ok(w::CreatePipelineOutput {
        pipeline: Some(pipeline_to_wire(stored)),
        tags: echoed,
    })
}

pub async fn get_pipeline(s: &Sluice, i: w::GetPipelineInput) -> R<w::GetPipelineOutput> {
    let view = s.get_pipeline(&i.name, i.version).await?;
    Ok(w::GetPipelineOutput {
        pipeline: Some(pipeline_to_wire(view.declaration)),
        metadata: Some(w::PipelineMetadata {
            pipeline_arn: Some(view.arn),
            created: Some(epoch_seconds(view.created_ms)),
            updated: Some(epoch_seconds(view.updated_ms)),
            polling_disabled_at: None,
        }),
    })
}

pub async fn update_pipeline(s: &Sluice, i: w::UpdatePipelineInput) -> R<w::UpdatePipelineOutput> {
    let stored = s.update_pipeline(pipeline_from_wire(i.pipeline)?).await?;
    Ok(w::UpdatePipelineOutput {
        pipeline: Some(pipeline_to_wire(stored)),
    })
}

pub async fn delete_pipeline(s: &Sluice, i: w::DeletePipelineInput) -> R<()> {
    Ok(s.delete_pipeline(&i.name).await?)
}

pub async fn list_pipelines(s: &Sluice, i: w::ListPipelinesInput) -> R<w::ListPipelinesOutput> {
    let page = s
        .list_pipelines(i.max_results.map(|n| n as usize), i.next_token.as_deref())
        .await?;
    Ok(w::ListPipelinesOutput {
        pipelines: Some(
            page.items
                .into_iter()
                .map(|p| w::PipelineSummary {
                    name: Some(p.name),
                    version: Some(p.version),
                    created: Some(epoch_seconds(p.created_ms)),
                    updated: Some(epoch_seconds(p.updated_ms)),
                    execution_mode: Some(p.execution_mode.unwrap_or_else(|| "SUPERSEDED".into())),
                    pipeline_type: Some(p.pipeline_type.unwrap_or_else(|| "V1".into())),
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}

pub async fn get_pipeline_state(
    s: &Sluice,
    i: w::GetPipelineStateInput,
) -> R<w::GetPipelineStateOutput> {
    let state = s.get_pipeline_state(&i.name).await?;
    Ok(w::GetPipelineStateOutput {
        pipeline_name: Some(state.name),
        pipeline_version: Some(state.version),
        created: Some(epoch_seconds(state.created_ms)),
        updated: Some(epoch_seconds(state.updated_ms)),
        stage_states: Some(
            state
                .stages
                .into_iter()
                .map(|stage| w::StageState {
                    stage_name: Some(stage.name),
                    inbound_transition_state: stage.inbound.map(|t| w::TransitionState {
                        enabled: Some(t.enabled),
                        disabled_reason: t.disabled_reason,
                        last_changed_by: t.last_changed_by,
                        last_changed_at: t.last_changed_ms.map(epoch_seconds),
                    }),
                    latest_execution: stage.latest_execution.map(stage_execution),
                    inbound_execution: stage
                        .inbound_executions
                        .first()
                        .cloned()
                        .map(stage_execution),
                    inbound_executions: (!stage.inbound_executions.is_empty()).then(|| {
                        stage
                            .inbound_executions
                            .into_iter()
                            .map(stage_execution)
                            .collect()
                    }),
                    action_states: Some(stage.actions.into_iter().map(action_state).collect()),
                    before_entry_condition_state: crate::rule_handlers::condition_state(
                        &stage.conditions,
                        m::ConditionKind::BeforeEntry,
                    ),
                    on_success_condition_state: crate::rule_handlers::condition_state(
                        &stage.conditions,
                        m::ConditionKind::OnSuccess,
                    ),
                    on_failure_condition_state: crate::rule_handlers::condition_state(
                        &stage.conditions,
                        m::ConditionKind::OnFailure,
                    ),
                    ..Default::default()
                })
                .collect(),
        ),
    })
}

fn stage_execution(e: sluice_service::StageExecutionView) -> w::StageExecution {
    w::StageExecution {
        pipeline_execution_id: e.execution_id,
        status: e.status,
        r#type: None,
    }
}

fn action_state(a: sluice_service::ActionStateView) -> w::ActionState {
    w::ActionState {
        action_name: Some(a.name),
        entity_url: a.entity_url,
        current_revision: a.latest.as_ref().and_then(|l| {
            l.current_revision
                .clone()
                .map(|revision| w::ActionRevision {
                    revision_change_id: revision.clone(),
                    revision_id: revision,
                    created: epoch_seconds(l.last_status_change_ms),
                })
        }),
        latest_execution: a.latest.map(|l| w::ActionExecution {
            action_execution_id: l.action_execution_id,
            status: Some(l.status),
            summary: l.summary,
            last_status_change: Some(epoch_seconds(l.last_status_change_ms)),
            token: l.token,
            last_updated_by: l.last_updated_by,
            external_execution_id: l.external_execution_id,
            external_execution_url: l.external_execution_url,
            percent_complete: l.percent_complete,
            error_details: l.error.map(|(code, message)| w::ErrorDetails {
                code: Some(code),
                message: Some(message),
            }),
            log_stream_arn: None,
        }),
        revision_url: None,
    }
}

fn direction(t: &str) -> R<TransitionDirection> {
    // The model's enum constraint already refused anything else.
    TransitionDirection::parse(t).ok_or_else(|| {
        ApiError::client(
            "ValidationException",
            format!("Transition type '{t}' is not valid"),
        )
    })
}

pub async fn disable_stage_transition(
    s: &Sluice,
    caller: &Caller,
    i: w::DisableStageTransitionInput,
) -> R<()> {
    let d = direction(&i.transition_type)?;
    Ok(s.set_stage_transition(
        caller,
        &i.pipeline_name,
        &i.stage_name,
        d,
        false,
        Some(i.reason),
    )
    .await?)
}

pub async fn enable_stage_transition(
    s: &Sluice,
    caller: &Caller,
    i: w::EnableStageTransitionInput,
) -> R<()> {
    let d = direction(&i.transition_type)?;
    Ok(
        s.set_stage_transition(caller, &i.pipeline_name, &i.stage_name, d, true, None)
            .await?,
    )
}

pub async fn list_action_types(
    s: &Sluice,
    i: w::ListActionTypesInput,
) -> R<w::ListActionTypesOutput> {
    let owner = match i.action_owner_filter.as_deref() {
        None => None,
        Some(o) => Some(m::ActionOwner::parse(o).ok_or_else(|| {
            ApiError::client(
                "ValidationException",
                format!("Action owner '{o}' is not valid"),
            )
        })?),
    };
    let page = s.list_action_types(owner, i.next_token.as_deref()).await?;
    Ok(w::ListActionTypesOutput {
        action_types: page.items.into_iter().map(action_type_to_wire).collect(),
        next_token: page.next_token,
    })
}

pub async fn create_custom_action_type(
    s: &Sluice,
    i: w::CreateCustomActionTypeInput,
) -> R<w::CreateCustomActionTypeOutput> {
    let tags = tags_from_wire(i.tags.clone());
    let echoed = (!tags.is_empty()).then(|| tags_to_wire(tags.clone()));
    let created = s
        .create_custom_action_type(custom_action_type_from_wire(i)?, tags)
        .await?;
    Ok(w::CreateCustomActionTypeOutput {
        action_type: action_type_to_wire(created),
        tags: echoed,
    })
}

pub async fn delete_custom_action_type(s: &Sluice, i: w::DeleteCustomActionTypeInput) -> R<()> {
    let id = m::ActionTypeId::new(
        &i.category,
        m::ActionOwner::Custom.as_str(),
        &i.provider,
        &i.version,
    );
    Ok(s.delete_custom_action_type(&id).await?)
}

pub async fn tag_resource(s: &Sluice, i: w::TagResourceInput) -> R<()> {
    Ok(
        s.tag_resource(&i.resource_arn, tags_from_wire(Some(i.tags)))
            .await?,
    )
}

pub async fn untag_resource(s: &Sluice, i: w::UntagResourceInput) -> R<()> {
    Ok(s.untag_resource(&i.resource_arn, i.tag_keys).await?)
}

pub async fn list_tags_for_resource(
    s: &Sluice,
    i: w::ListTagsForResourceInput,
) -> R<w::ListTagsForResourceOutput> {
    let page = s
        .list_tags(
            &i.resource_arn,
            i.max_results.map(|n| n as usize),
            i.next_token.as_deref(),
        )
        .await?;
    Ok(w::ListTagsForResourceOutput {
        tags: Some(tags_to_wire(page.items)),
        next_token: page.next_token,
    })
}

fn execution_trigger(t: sluice_service::Trigger) -> w::ExecutionTrigger {
    w::ExecutionTrigger {
        trigger_type: Some(t.kind),
        trigger_detail: (!t.detail.is_empty()).then_some(t.detail),
    }
}

pub async fn start_pipeline_execution(
    s: &Sluice,
    caller: &Caller,
    i: w::StartPipelineExecutionInput,
) -> R<w::StartPipelineExecutionOutput> {
    let mut overrides = sluice_service::StartOverrides::default();
    for variable in i.variables.unwrap_or_default() {
        if overrides
            .variables
            .insert(variable.name.clone(), variable.value)
            .is_some()
        {
            return Err(ApiError::client(
                "ValidationException",
                format!("Variable {} is given more than once", variable.name),
            ));
        }
    }
    for revision in i.source_revisions.unwrap_or_default() {
        let value = sluice_service::SourceRevision {
            kind: revision.revision_type,
            value: revision.revision_value,
        };
        if overrides
            .source_revisions
            .insert(revision.action_name.clone(), value)
            .is_some()
        {
            return Err(ApiError::client(
                "ValidationException",
                format!(
                    "sourceRevisions names action {} more than once",
                    revision.action_name
                ),
            ));
        }
    }
    let trigger = sluice_service::Trigger {
        kind: "StartPipelineExecution".into(),
        detail: caller.arn.clone(),
    };
    let id = s
        .start_pipeline_execution(&i.name, trigger, overrides, i.client_request_token)
        .await?;
    Ok(w::StartPipelineExecutionOutput {
        pipeline_execution_id: Some(id),
    })
}

fn execution_to_wire(e: sluice_service::ExecutionView) -> w::PipelineExecution {
    w::PipelineExecution {
        pipeline_name: Some(e.pipeline),
        pipeline_version: Some(e.pipeline_version),
        pipeline_execution_id: Some(e.id),
        status: Some(e.status),
        status_summary: e.status_summary,
        artifact_revisions: Some(
            e.artifact_revisions
                .into_iter()
                .map(|r| w::ArtifactRevision {
                    name: Some(r.name),
                    revision_id: Some(r.revision_id.clone()),
                    revision_change_identifier: Some(r.revision_id),
                    revision_summary: r.summary,
                    created: Some(epoch_seconds(r.created_ms)),
                    revision_url: None,
                })
                .collect(),
        ),
        trigger: Some(execution_trigger(e.trigger)),
        execution_mode: Some(e.mode.into()),
        execution_type: Some(execution_type(e.rollback_target.as_deref()).into()),
        rollback_metadata: rollback_metadata(e.rollback_target.as_deref()),
        variables: (!e.variables.is_empty()).then(|| {
            e.variables
                .into_iter()
                .map(|(name, value)| w::ResolvedPipelineVariable {
                    name: Some(name),
                    resolved_value: Some(value),
                })
                .collect()
        }),
    }
}

fn execution_type(rollback_target: Option<&str>) -> &'static str {
    if rollback_target.is_some() {
        "ROLLBACK"
    } else {
        "STANDARD"
    }
}

fn rollback_metadata(rollback_target: Option<&str>) -> Option<w::PipelineRollbackMetadata> {
    rollback_target.map(|target| w::PipelineRollbackMetadata {
        rollback_target_pipeline_execution_id: Some(target.to_string()),
    })
}

pub async fn get_pipeline_execution(
    s: &Sluice,
    i: w::GetPipelineExecutionInput,
) -> R<w::GetPipelineExecutionOutput> {
    let e = s
        .get_pipeline_execution(&i.pipeline_name, &i.pipeline_execution_id)
        .await?;
    Ok(w::GetPipelineExecutionOutput {
        pipeline_execution: Some(execution_to_wire(e)),
    })
}

pub async fn list_pipeline_executions(
    s: &Sluice,
    i: w::ListPipelineExecutionsInput,
) -> R<w::ListPipelineExecutionsOutput> {
    let page = s
        .list_pipeline_executions(
            &i.pipeline_name,
            i.max_results.map(|n| n as usize),
            i.next_token.as_deref(),
        )
        .await?;
    Ok(w::ListPipelineExecutionsOutput {
        pipeline_execution_summaries: Some(
            page.items
                .into_iter()
                .map(|e| w::PipelineExecutionSummary {
                    pipeline_execution_id: Some(e.id),
                    status: Some(e.status),
                    status_summary: e.status_summary,
                    start_time: Some(epoch_seconds(e.started_ms)),
                    last_update_time: Some(epoch_seconds(e.updated_ms)),
                    source_revisions: Some(
                        e.artifact_revisions
                            .into_iter()
                            .map(|r| w::SourceRevision {
                                action_name: r.name,
                                revision_id: Some(r.revision_id),
                                revision_summary: r.summary,
                                revision_url: None,
                            })
                            .collect(),
                    ),
                    trigger: Some(execution_trigger(e.trigger)),
                    execution_mode: Some(e.mode.into()),
                    execution_type: Some(execution_type(e.rollback_target.as_deref()).into()),
                    rollback_metadata: rollback_metadata(e.rollback_target.as_deref()),
                    ..Default::default()
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}

pub async fn stop_pipeline_execution(
    s: &Sluice,
    i: w::StopPipelineExecutionInput,
) -> R<w::StopPipelineExecutionOutput> {
    s.stop_pipeline_execution(
        &i.pipeline_name,
        &i.pipeline_execution_id,
        i.abandon.unwrap_or(false),
        i.reason,
    )
    .await?;
    Ok(w::StopPipelineExecutionOutput {
        pipeline_execution_id: Some(i.pipeline_execution_id),
    })
}

pub async fn retry_stage_execution(
    s: &Sluice,
    i: w::RetryStageExecutionInput,
) -> R<w::RetryStageExecutionOutput> {
    let mode = match i.retry_mode.as_str() {
        "FAILED_ACTIONS" => sluice_service::RetryMode::FailedActions,
        "ALL_ACTIONS" => sluice_service::RetryMode::AllActions,
        other => {
            return Err(ApiError::client(
                "ValidationException",
                format!("Retry mode '{other}' is not valid"),
            ))
        }
    };
    let id = s
        .retry_stage_execution(
            &i.pipeline_name,
            &i.pipeline_execution_id,
            &i.stage_name,
            mode,
        )
        .await?;
    Ok(w::RetryStageExecutionOutput {
        pipeline_execution_id: Some(id),
    })
}

/// `GetActionType`: an AWS or third-party type as an action type declaration; its executor is
/// a job worker — this server's own (polled by `codepipeline.amazonaws.com`) or the account's.
pub async fn get_action_type(s: &Sluice, i: w::GetActionTypeInput) -> R<w::GetActionTypeOutput> {
    let id = sluice_model::ActionTypeId::new(&i.category, &i.owner, &i.provider, &i.version);
    let (t, served_here) = s.get_action_type(&id).await?;
    let (polling_accounts, polling_service_principals) = if served_here {
        (None, Some(vec!["codepipeline.amazonaws.com".to_string()]))
    } else {
        (Some(vec![s.options().account_id.clone()]), None)
    };
    let details = |d: sluice_model::ArtifactDetails| w::ActionTypeArtifactDetails {
        minimum_count: d.minimum_count,
        maximum_count: d.maximum_count,
    };
    let settings = t.settings.unwrap_or_default();
    Ok(w::GetActionTypeOutput {
        action_type: Some(w::ActionTypeDeclaration {
            description: None,
            executor: w::ActionTypeExecutor {
                configuration: w::ExecutorConfiguration {
                    job_worker_executor_configuration: Some(w::JobWorkerExecutorConfiguration {
                        polling_accounts,
                        polling_service_principals,
                    }),
                    lambda_executor_configuration: None,
                },
                job_timeout: None,
                policy_statements_template: None,
                r#type: "JobWorker".into(),
            },
            id: w::ActionTypeIdentifier {
                category: t.id.category,
                owner: t.id.owner,
                provider: t.id.provider,
                version: t.id.version,
            },
            input_artifact_details: details(t.input_artifact_details),
            output_artifact_details: details(t.output_artifact_details),
            permissions: None,
            properties: Some(
                t.configuration_properties
                    .into_iter()
                    .map(|p| w::ActionTypeProperty {
                        description: p.description,
                        key: p.key,
                        name: p.name,
                        no_echo: p.secret,
                        optional: !p.required,
                        queryable: Some(p.queryable),
                    })
                    .collect(),
            ),
            urls: Some(w::ActionTypeUrls {
                configuration_url: settings.third_party_configuration_url,
                entity_url_template: settings.entity_url_template,
                execution_url_template: settings.execution_url_template,
                revision_url_template: settings.revision_url_template,
            }),
        }),
    })
}

pub async fn rollback_stage(
    s: &Sluice,
    caller: &Caller,
    i: w::RollbackStageInput,
) -> R<w::RollbackStageOutput> {
    let trigger = sluice_service::Trigger {
        kind: "ManualRollback".into(),
        detail: caller.arn.clone(),
    };
    let id = s
        .rollback_stage(
            &i.pipeline_name,
            &i.stage_name,
            &i.target_pipeline_execution_id,
            trigger,
        )
        .await?;
    Ok(w::RollbackStageOutput {
        pipeline_execution_id: id,
    })
}

fn artifact_to_wire(a: sluice_service::JobArtifact) -> w::Artifact {
    w::Artifact {
        name: Some(a.name),
        revision: None,
        location: a
            .location
            .map(|(bucket_name, object_key)| w::ArtifactLocation {
                r#type: Some("S3".into()),
                s3_location: Some(w::S3ArtifactLocation {
                    bucket_name,
                    object_key,
                }),
            }),
    }
}

fn job_data(s: &Sluice, j: &sluice_service::Job) -> w::JobData {
    let credentials = s.job_credentials(&j.id);
    let j = j.clone();
    w::JobData {
        action_type_id: Some(w::ActionTypeId {
            category: j.action_type_id.category,
            owner: j.action_type_id.owner,
            provider: j.action_type_id.provider,
            version: j.action_type_id.version,
        }),
        action_configuration: Some(w::ActionConfiguration {
            configuration: Some(j.configuration),
        }),
        pipeline_context: Some(w::PipelineContext {
            pipeline_name: Some(j.pipeline),
            stage: Some(w::StageContext {
                name: Some(j.stage),
            }),
            action: Some(w::ActionContext {
                name: Some(j.action),
                action_execution_id: Some(j.action_execution_id),
            }),
            pipeline_arn: Some(j.pipeline_arn),
            pipeline_execution_id: Some(j.execution_id),
        }),
        input_artifacts: Some(
            j.input_artifacts
                .into_iter()
                .map(artifact_to_wire)
                .collect(),
        ),
        output_artifacts: Some(
            j.output_artifacts
                .into_iter()
                .map(artifact_to_wire)
                .collect(),
        ),
        artifact_credentials: Some(w::AWSSessionCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
        }),
        continuation_token: j.continuation_token,
        encryption_key: j.encryption_key.map(|k| w::EncryptionKey {
            id: k.id,
            r#type: k.kind,
        }),
    }
}

pub async fn poll_for_jobs(s: &Sluice, i: w::PollForJobsInput) -> R<w::PollForJobsOutput> {
    let jobs = s
        .poll_for_jobs(
            &type_id_from_wire(i.action_type_id),
            i.max_batch_size.unwrap_or(1) as usize,
            i.query_param.unwrap_or_default(),
        )
        .await?;
    Ok(w::PollForJobsOutput {
        jobs: Some(
            jobs.iter()
                .map(|j| w::Job {
                    id: Some(j.id.clone()),
                    nonce: j.nonce.clone(),
                    account_id: Some(j.account_id.clone()),
                    data: Some(job_data(s, j)),
                })
                .collect(),
        ),
    })
}

pub async fn acknowledge_job(s: &Sluice, i: w::AcknowledgeJobInput) -> R<w::AcknowledgeJobOutput> {
    s.ensure_worker_job(&i.job_id).await?;
    let status = s.acknowledge_job(&i.job_id, &i.nonce).await?;
    Ok(w::AcknowledgeJobOutput {
        status: Some(status.as_str().into()),
    })
}

pub async fn get_job_details(s: &Sluice, i: w::GetJobDetailsInput) -> R<w::GetJobDetailsOutput> {
    s.ensure_worker_job(&i.job_id).await?;
    let j = s.job_details(&i.job_id).await?;
    Ok(w::GetJobDetailsOutput {
        job_details: Some(w::JobDetails {
            id: Some(j.id.clone()),
            account_id: Some(j.account_id.clone()),
            data: Some(job_data(s, &j)),
        }),
    })
}

pub async fn put_job_success_result(s: &Sluice, i: w::PutJobSuccessResultInput) -> R<()> {
    let details = i.execution_details.unwrap_or_default();
    let outcome = sluice_service::JobOutcome {
        summary: details.summary,
        external_execution_id: details.external_execution_id,
        percent_complete: details.percent_complete,
        current_revision: i.current_revision.map(|r| r.revision),
        output_variables: i.output_variables.unwrap_or_default(),
    };
    s.ensure_worker_job(&i.job_id).await?;
    Ok(s.put_job_success(&i.job_id, outcome, i.continuation_token)
        .await?)
}

pub async fn put_job_failure_result(s: &Sluice, i: w::PutJobFailureResultInput) -> R<()> {
    let f = i.failure_details;
    let failure = sluice_service::JobFailure {
        kind: f.r#type,
        message: f.message,
        external_execution_id: f.external_execution_id,
    };
    s.ensure_worker_job(&i.job_id).await?;
    Ok(s.put_job_failure(&i.job_id, failure).await?)
}

pub async fn put_approval_result(
    s: &Sluice,
    caller: &Caller,
    i: w::PutApprovalResultInput,
) -> R<w::PutApprovalResultOutput> {
    let answer = sluice_service::ApprovalAnswer {
        pipeline: i.pipeline_name,
        stage: i.stage_name,
        action: i.action_name,
        token: i.token,
        approved: i.result.status == "Approved",
        summary: i.result.summary,
    };
    let at = s.put_approval_result(caller, answer).await?;
    Ok(w::PutApprovalResultOutput {
        approved_at: Some(epoch_seconds(at)),
    })
}

fn artifact_details(artifacts: Vec<(String, Option<(String, String)>)>) -> Vec<w::ArtifactDetail> {
    artifacts
        .into_iter()
        .map(|(name, location)| w::ArtifactDetail {
            name: Some(name),
            s3location: location.map(|(bucket, key)| w::S3Location {
                bucket: Some(bucket),
                key: Some(key),
            }),
        })
        .collect()
}

pub async fn list_action_executions(
    s: &Sluice,
    i: w::ListActionExecutionsInput,
) -> R<w::ListActionExecutionsOutput> {
    let filter = i.filter.unwrap_or_default();
    // `latestInPipelineExecution` names the execution too; `Latest` keeps only each action's
    // latest attempt in it, `All` every attempt.
    let (execution, latest_only) = history_filter(
        filter.pipeline_execution_id,
        filter.latest_in_pipeline_execution,
    )?;
    let page = s
        .list_action_executions(
            &i.pipeline_name,
            execution.as_deref(),
            latest_only,
            i.max_results.map(|n| n as usize),
            i.next_token.as_deref(),
        )
        .await?;
    Ok(w::ListActionExecutionsOutput {
        action_execution_details: Some(
            page.items
                .into_iter()
                .map(|a| {
                    let declared = a.declaration.clone().unwrap_or_default();
                    w::ActionExecutionDetail {
                        pipeline_execution_id: Some(a.execution_id),
                        action_execution_id: Some(a.action_execution_id),
                        pipeline_version: Some(a.pipeline_version),
                        stage_name: Some(a.stage),
                        action_name: Some(a.action),
                        start_time: Some(epoch_seconds(a.start_ms)),
                        last_update_time: Some(epoch_seconds(a.last_update_ms)),
                        updated_by: a.updated_by,
                        status: Some(a.status),
                        input: Some(w::ActionExecutionInput {
                            action_type_id: Some(w::ActionTypeId {
                                category: declared.action_type_id.category.clone(),
                                owner: declared.action_type_id.owner.clone(),
                                provider: declared.action_type_id.provider.clone(),
                                version: declared.action_type_id.version.clone(),
                            }),
                            configuration: Some(declared.configuration.clone()),
                            // Attempts from before variables were resolved ran as declared.
                            resolved_configuration: Some(if a.resolved_configuration.is_empty() {
                                declared.configuration.clone()
                            } else {
                                a.resolved_configuration
                            }),
                            role_arn: declared.role_arn.clone(),
                            region: declared.region.clone(),
                            namespace: declared.namespace.clone(),
                            input_artifacts: Some(artifact_details(a.input_artifacts)),
                        }),
                        output: Some(w::ActionExecutionOutput {
                            output_artifacts: Some(artifact_details(a.output_artifacts)),
                            execution_result: Some(w::ActionExecutionResult {
                                external_execution_id: a.external_execution_id,
                                external_execution_summary: a.summary,
                                external_execution_url: None,
                                error_details: a.error.map(|(code, message)| w::ErrorDetails {
                                    code: Some(code),
                                    message: Some(message),
                                }),
                                log_stream_arn: None,
                            }),
                            output_variables: (!a.output_variables.is_empty())
                                .then_some(a.output_variables),
                        }),
                    }
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}

pub async fn poll_for_third_party_jobs(
    s: &Sluice,
    i: w::PollForThirdPartyJobsInput,
) -> R<w::PollForThirdPartyJobsOutput> {
    let jobs = s
        .poll_for_third_party_jobs(
            &type_id_from_wire(i.action_type_id),
            i.max_batch_size.unwrap_or(1) as usize,
        )
        .await?;
    Ok(w::PollForThirdPartyJobsOutput {
        jobs: Some(
            jobs.into_iter()
                .map(|j| w::ThirdPartyJob {
                    job_id: Some(j.job_id),
                    client_id: Some(j.client_id),
                })
                .collect(),
        ),
    })
}

pub async fn get_third_party_job_details(
    s: &Sluice,
    i: w::GetThirdPartyJobDetailsInput,
) -> R<w::GetThirdPartyJobDetailsOutput> {
    let j = s
        .third_party_job_details(&i.job_id, &i.client_token)
        .await?;
    let d = job_data(s, &j);
    Ok(w::GetThirdPartyJobDetailsOutput {
        job_details: Some(w::ThirdPartyJobDetails {
            id: Some(j.id.clone()),
            nonce: j.nonce.clone(),
            data: Some(w::ThirdPartyJobData {
                action_type_id: d.action_type_id,
                action_configuration: d.action_configuration,
                pipeline_context: d.pipeline_context,
                input_artifacts: d.input_artifacts,
                output_artifacts: d.output_artifacts,
                artifact_credentials: d.artifact_credentials,
                continuation_token: d.continuation_token,
                encryption_key: d.encryption_key,
            }),
        }),
    })
}

pub async fn acknowledge_third_party_job(
    s: &Sluice,
    i: w::AcknowledgeThirdPartyJobInput,
) -> R<w::AcknowledgeThirdPartyJobOutput> {
    let status = s
        .acknowledge_third_party_job(&i.job_id, &i.nonce, &i.client_token)
        .await?;
    Ok(w::AcknowledgeThirdPartyJobOutput {
        status: Some(status.as_str().into()),
    })
}

pub async fn put_third_party_job_success_result(
    s: &Sluice,
    i: w::PutThirdPartyJobSuccessResultInput,
) -> R<()> {
    let details = i.execution_details.unwrap_or_default();
    let outcome = sluice_service::JobOutcome {
        summary: details.summary,
        external_execution_id: details.external_execution_id,
        percent_complete: details.percent_complete,
        current_revision: i.current_revision.map(|r| r.revision),
        output_variables: Default::default(),
    };
    Ok(
        s.put_third_party_job_success(&i.job_id, &i.client_token, outcome, i.continuation_token)
            .await?,
    )
}

pub async fn put_third_party_job_failure_result(
    s: &Sluice,
    i: w::PutThirdPartyJobFailureResultInput,
) -> R<()> {
    let f = i.failure_details;
    let failure = sluice_service::JobFailure {
        kind: f.r#type,
        message: f.message,
        external_execution_id: f.external_execution_id,
    };
    Ok(
        s.put_third_party_job_failure(&i.job_id, &i.client_token, failure)
            .await?,
    )
}
