//! Stage conditions and their rules: `ListRuleTypes`, `ListRuleExecutions`,
//! `OverrideStageCondition`, and the condition states `GetPipelineState` shows.

use crate::convert::*;
use crate::ApiError;
use sluice_model as m;
use sluice_service::{Caller, ConditionRun, Sluice};
use sluice_wire as w;

type R<T> = Result<T, ApiError>;

fn rule_type_id(id: m::RuleTypeId) -> w::RuleTypeId {
    w::RuleTypeId {
        category: id.category,
        owner: Some(id.owner),
        provider: id.provider,
        version: Some(id.version),
    }
}

pub async fn list_rule_types(s: &Sluice, i: w::ListRuleTypesInput) -> R<w::ListRuleTypesOutput> {
    // Every rule type is AWS's and runs in this server's region.
    let region = &s.options().region;
    let shown = i.rule_owner_filter.as_deref().is_none_or(|o| o == "AWS")
        && i.region_filter.as_ref().is_none_or(|r| r == region);
    let rule_types = m::rules::catalog()
        .into_iter()
        .filter(|_| shown)
        .map(|t| w::RuleType {
            id: rule_type_id(t.id),
            settings: None,
            rule_configuration_properties: Some(
                t.properties
                    .into_iter()
                    .map(|p| w::RuleConfigurationProperty {
                        name: p.name.into(),
                        required: p.required,
                        key: p.required,
                        secret: false,
                        queryable: Some(false),
                        description: Some(p.description.into()),
                        r#type: Some("String".into()),
                    })
                    .collect(),
            ),
            input_artifact_details: w::ArtifactDetails {
                minimum_count: t.min_inputs,
                maximum_count: t.max_inputs,
            },
        })
        .collect();
    Ok(w::ListRuleTypesOutput { rule_types })
}

pub async fn override_stage_condition(
    s: &Sluice,
    caller: &Caller,
    i: w::OverrideStageConditionInput,
) -> R<()> {
    let kind = m::ConditionKind::parse(&i.condition_type).ok_or_else(|| {
        ApiError::client(
            "ValidationException",
            format!("Condition type '{}' is not valid", i.condition_type),
        )
    })?;
    Ok(s.override_stage_condition(
        &i.pipeline_name,
        &i.stage_name,
        &i.pipeline_execution_id,
        kind,
        &caller.arn,
    )
    .await?)
}

pub async fn list_rule_executions(
    s: &Sluice,
    i: w::ListRuleExecutionsInput,
) -> R<w::ListRuleExecutionsOutput> {
    let filter = i.filter.unwrap_or_default();
    let (execution, latest_only) = history_filter(
        filter.pipeline_execution_id,
        filter.latest_in_pipeline_execution,
    )?;
    let page = s
        .list_rule_executions(
            &i.pipeline_name,
            execution.as_deref(),
            latest_only,
            i.max_results.map(|n| n as usize),
            i.next_token.as_deref(),
        )
        .await?;
    let details = page
        .items
        .into_iter()
        .map(|r| {
            let error_details = r.error.map(|(code, message)| w::ErrorDetails {
                code: Some(code),
                message: Some(message),
            });
            w::RuleExecutionDetail {
                pipeline_execution_id: Some(r.execution_id),
                rule_execution_id: Some(r.rule_execution_id),
                pipeline_version: Some(r.pipeline_version),
                stage_name: Some(r.stage),
                rule_name: Some(r.declaration.name.clone()),
                start_time: Some(epoch_seconds(r.start_ms)),
                last_update_time: Some(epoch_seconds(r.last_update_ms)),
                updated_by: r.updated_by,
                status: Some(r.status),
                input: Some(w::RuleExecutionInput {
                    rule_type_id: Some(rule_type_id(r.declaration.rule_type_id)),
                    configuration: Some(r.declaration.configuration),
                    resolved_configuration: Some(r.resolved_configuration),
                    role_arn: r.declaration.role_arn,
                    region: r.declaration.region,
                    input_artifacts: Some(
                        r.input_artifacts
                            .into_iter()
                            .map(|(name, location)| w::ArtifactDetail {
                                name: Some(name),
                                s3location: location.map(|(bucket, key)| w::S3Location {
                                    bucket: Some(bucket),
                                    key: Some(key),
                                }),
                            })
                            .collect(),
                    ),
                }),
                output: Some(w::RuleExecutionOutput {
                    execution_result: Some(w::RuleExecutionResult {
                        external_execution_id: r.external_execution_id,
                        external_execution_summary: r.summary,
                        external_execution_url: None,
                        error_details,
                    }),
                }),
            }
        })
        .collect();
    Ok(w::ListRuleExecutionsOutput {
        rule_execution_details: Some(details),
        next_token: page.next_token,
    })
}

/// The latest check of the condition of `kind`, as `GetPipelineState` shows it.
pub fn condition_state(
    conditions: &[ConditionRun],
    kind: m::ConditionKind,
) -> Option<w::StageConditionState> {
    let c = conditions.iter().find(|c| c.kind == kind)?;
    let rule_states = c
        .rules
        .iter()
        .map(|r| w::RuleState {
            rule_name: Some(r.name.clone()),
            latest_execution: Some(w::RuleExecution {
                rule_execution_id: Some(r.rule_execution_id.clone()),
                status: Some(r.status.as_str().into()),
                summary: r.summary.clone(),
                last_status_change: Some(epoch_seconds(r.updated_ms)),
                token: None,
                last_updated_by: r.last_updated_by.clone(),
                external_execution_id: r.external_execution_id.clone(),
                external_execution_url: None,
                error_details: r.error.as_ref().map(|e| w::ErrorDetails {
                    code: Some(e.code.clone()),
                    message: Some(e.message.clone()),
                }),
            }),
            ..Default::default()
        })
        .collect();
    Some(w::StageConditionState {
        latest_execution: Some(w::StageConditionsExecution {
            status: Some(c.status.as_str().into()),
            summary: c.summary.clone(),
        }),
        condition_states: Some(vec![w::ConditionState {
            latest_execution: Some(w::ConditionExecution {
                status: Some(c.status.as_str().into()),
                summary: c.summary.clone(),
                last_status_change: Some(epoch_seconds(c.updated_ms)),
            }),
            rule_states: Some(rule_states),
        }]),
    })
}
