//! Wire shapes ↔ domain types. The only place that knows both.

use crate::ApiError;
use sluice_model as m;
use sluice_service::Tag;
use sluice_wire as w;
use std::collections::BTreeMap;

/// Epoch seconds with millisecond precision, as CodePipeline's timestamps are.
pub fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn unsupported(what: &str) -> ApiError {
    ApiError::client(
        "ValidationException",
        format!("{what} is not supported by this Sluice server yet"),
    )
}

fn store_from_wire(s: w::ArtifactStore) -> m::ArtifactStore {
    m::ArtifactStore {
        kind: s.r#type,
        location: s.location,
        encryption_key: s.encryption_key.map(|k| m::EncryptionKey {
            id: k.id,
            kind: k.r#type,
        }),
    }
}

fn store_to_wire(s: m::ArtifactStore) -> w::ArtifactStore {
    w::ArtifactStore {
        r#type: s.kind,
        location: s.location,
        encryption_key: s.encryption_key.map(|k| w::EncryptionKey {
            id: k.id,
            r#type: k.kind,
        }),
    }
}

pub fn type_id_from_wire(t: w::ActionTypeId) -> m::ActionTypeId {
    m::ActionTypeId {
        category: t.category,
        owner: t.owner,
        provider: t.provider,
        version: t.version,
    }
}

fn type_id_to_wire(t: m::ActionTypeId) -> w::ActionTypeId {
    w::ActionTypeId {
        category: t.category,
        owner: t.owner,
        provider: t.provider,
        version: t.version,
    }
}

fn action_from_wire(
    stage: &str,
    a: w::ActionDeclaration,
) -> Result<m::ActionDeclaration, ApiError> {
    let mut output_artifacts = Vec::new();
    let mut output_files = BTreeMap::new();
    for o in a.output_artifacts.unwrap_or_default() {
        if let Some(files) = o.files {
            if a.action_type_id.provider != "Commands" {
                return Err(unsupported(&format!(
                    "outputArtifacts.files on a {} action (action '{}' in stage '{stage}'; only Commands actions take it)",
                    a.action_type_id.provider, a.name
                )));
            }
            output_files.insert(o.name.clone(), files);
        }
        output_artifacts.push(o.name);
    }
    Ok(m::ActionDeclaration {
        name: a.name,
        action_type_id: type_id_from_wire(a.action_type_id),
        run_order: a.run_order.unwrap_or(1),
        configuration: a.configuration.unwrap_or_default(),
        output_artifacts,
        output_files,
        input_artifacts: a
            .input_artifacts
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.name)
            .collect(),
        role_arn: a.role_arn,
        region: a.region,
        namespace: a.namespace,
        timeout_in_minutes: a.timeout_in_minutes,
        commands: a.commands.unwrap_or_default(),
        output_variables: a.output_variables.unwrap_or_default(),
        environment_variables: a
            .environment_variables
            .unwrap_or_default()
            .into_iter()
            .map(|e| m::EnvironmentVariable {
                name: e.name,
                value: e.value,
                kind: e.r#type,
            })
            .collect(),
    })
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn action_to_wire(a: m::ActionDeclaration) -> w::ActionDeclaration {
    w::ActionDeclaration {
        name: a.name,
        action_type_id: type_id_to_wire(a.action_type_id),
        run_order: Some(a.run_order),
        // AWS echoes `configuration`, `inputArtifacts` and `outputArtifacts` even when empty.
        configuration: Some(a.configuration),
        output_artifacts: Some(
            a.output_artifacts
                .into_iter()
                .map(|name| w::OutputArtifact {
                    files: a.output_files.get(&name).cloned(),
                    name,
                })
                .collect(),
        ),
        input_artifacts: Some(
            a.input_artifacts
                .into_iter()
                .map(|name| w::InputArtifact { name })
                .collect(),
        ),
        role_arn: a.role_arn,
        region: a.region,
        namespace: a.namespace,
        timeout_in_minutes: a.timeout_in_minutes,
        commands: non_empty(a.commands),
        output_variables: non_empty(a.output_variables),
        environment_variables: non_empty(
            a.environment_variables
                .into_iter()
                .map(|e| w::EnvironmentVariable {
                    name: e.name,
                    value: e.value,
                    r#type: e.kind,
                })
                .collect(),
        ),
    }
}

/// A stage condition from a request: its result (FAIL when left out, except on failure where
/// it must be given) and its rules.
fn condition_from_wire(
    stage: &str,
    kind: m::ConditionKind,
    conditions: Vec<w::Condition>,
) -> Result<Option<m::Condition>, ApiError> {
    let invalid = |message: String| ApiError::client("ValidationException", message);
    let member = kind.member();
    let mut conditions = conditions.into_iter();
    let Some(condition) = conditions.next() else {
        return Ok(None);
    };
    if conditions.next().is_some() {
        return Err(invalid(format!(
            "The {member} of stage '{stage}' takes exactly one condition"
        )));
    }
    let result = match condition.result.as_deref() {
        None if kind != m::ConditionKind::OnFailure => m::ConditionResult::Fail,
        None => {
            return Err(invalid(format!(
                "The onFailure condition of stage '{stage}' needs a result: ROLLBACK"
            )))
        }
        Some(result) => m::ConditionResult::parse(result).ok_or_else(|| {
            invalid(format!(
                "The {member} condition of stage '{stage}' has an invalid result '{result}'"
            ))
        })?,
    };
    let rules = condition.rules.unwrap_or_default();
    if rules.is_empty() {
        return Err(invalid(format!(
            "The {member} condition of stage '{stage}' needs at least one rule"
        )));
    }
    Ok(Some(m::Condition {
        result,
        rules: rules
            .into_iter()
            .map(|r| m::RuleDeclaration {
                name: r.name,
                rule_type_id: m::RuleTypeId {
                    category: r.rule_type_id.category,
                    owner: r.rule_type_id.owner.unwrap_or_else(|| "AWS".into()),
                    provider: r.rule_type_id.provider,
                    version: r.rule_type_id.version.unwrap_or_else(|| "1".into()),
                },
                configuration: r.configuration.unwrap_or_default(),
                commands: r.commands.unwrap_or_default(),
                input_artifacts: r
                    .input_artifacts
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| i.name)
                    .collect(),
                role_arn: r.role_arn,
                region: r.region,
                timeout_in_minutes: r.timeout_in_minutes,
            })
            .collect(),
    }))
}

fn condition_to_wire(c: m::Condition) -> Vec<w::Condition> {
    vec![w::Condition {
        result: Some(c.result.as_str().into()),
        rules: Some(
            c.rules
                .into_iter()
                .map(|r| w::RuleDeclaration {
                    name: r.name,
                    rule_type_id: w::RuleTypeId {
                        category: r.rule_type_id.category,
                        owner: Some(r.rule_type_id.owner),
                        provider: r.rule_type_id.provider,
                        version: Some(r.rule_type_id.version),
                    },
                    configuration: Some(r.configuration),
                    commands: non_empty(r.commands),
                    input_artifacts: non_empty(
                        r.input_artifacts
                            .into_iter()
                            .map(|name| w::InputArtifact { name })
                            .collect(),
                    ),
                    role_arn: r.role_arn,
                    region: r.region,
                    timeout_in_minutes: r.timeout_in_minutes,
                })
                .collect(),
        ),
    }]
}

/// A stage's `onFailure`: the result for a failed stage, and the condition checked first.
fn on_failure_from_wire(
    stage: &str,
    f: w::FailureConditions,
) -> Result<(Option<m::OnFailure>, Option<m::Condition>), ApiError> {
    let condition = condition_from_wire(
        stage,
        m::ConditionKind::OnFailure,
        f.conditions.unwrap_or_default(),
    )?;
    let retry_mode = f.retry_configuration.and_then(|r| r.retry_mode);
    let invalid = |message: String| ApiError::client("ValidationException", message);
    let on_failure = match f.result.as_deref() {
        Some("FAIL") => m::OnFailure::Fail,
        Some("ROLLBACK") => m::OnFailure::Rollback,
        Some("RETRY") => {
            return Ok((
                Some(m::OnFailure::Retry {
                    all_actions: retry_mode.as_deref() == Some("ALL_ACTIONS"),
                }),
                condition,
            ))
        }
        Some("SKIP") => {
            return Err(invalid(format!(
                "onFailure of stage '{stage}' cannot be SKIP: a failed stage can be failed, retried or rolled back"
            )))
        }
        None if condition.is_some() && retry_mode.is_none() => return Ok((None, condition)),
        _ => {
            return Err(invalid(format!(
                "onFailure of stage '{stage}' needs a result: FAIL, RETRY or ROLLBACK"
            )))
        }
    };
    if retry_mode.is_some() {
        return Err(invalid(format!(
            "onFailure of stage '{stage}': retryConfiguration applies only to the result RETRY"
        )));
    }
    Ok((Some(on_failure), condition))
}

fn on_failure_to_wire(
    on_failure: Option<m::OnFailure>,
    condition: Option<m::Condition>,
) -> Option<w::FailureConditions> {
    if on_failure.is_none() && condition.is_none() {
        return None;
    }
    let (result, retry_mode) = match on_failure {
        None => (None, None),
        Some(m::OnFailure::Fail) => (Some("FAIL"), None),
        Some(m::OnFailure::Rollback) => (Some("ROLLBACK"), None),
        Some(m::OnFailure::Retry { all_actions }) => (
            Some("RETRY"),
            Some(if all_actions {
                "ALL_ACTIONS"
            } else {
                "FAILED_ACTIONS"
            }),
        ),
    };
    Some(w::FailureConditions {
        result: result.map(Into::into),
        retry_configuration: retry_mode.map(|mode| w::RetryConfiguration {
            retry_mode: Some(mode.into()),
        }),
        conditions: condition.map(condition_to_wire),
    })
}

/// A declaration from a request. Parts of the current API that Sluice cannot honour yet are
/// refused rather than silently dropped.
pub fn pipeline_from_wire(p: w::PipelineDeclaration) -> Result<m::PipelineDeclaration, ApiError> {
    let mut stages = Vec::with_capacity(p.stages.len());
    for s in p.stages {
        let (on_failure, on_failure_condition) = match s.on_failure {
            Some(f) => on_failure_from_wire(&s.name, f)?,
            None => (None, None),
        };
        let before_entry = match s.before_entry {
            Some(b) => condition_from_wire(&s.name, m::ConditionKind::BeforeEntry, b.conditions)?,
            None => None,
        };
        let on_success = match s.on_success {
            Some(c) => condition_from_wire(&s.name, m::ConditionKind::OnSuccess, c.conditions)?,
            None => None,
        };
        let actions = s
            .actions
            .into_iter()
            .map(|a| action_from_wire(&s.name, a))
            .collect::<Result<_, _>>()?;
        stages.push(m::StageDeclaration {
            blockers: s
                .blockers
                .unwrap_or_default()
                .into_iter()
                .map(|b| m::BlockerDeclaration {
                    name: b.name,
                    kind: b.r#type,
                })
                .collect(),
            name: s.name,
            actions,
            on_failure,
            before_entry,
            on_success,
            on_failure_condition,
        });
    }
    Ok(m::PipelineDeclaration {
        triggers: p
            .triggers
            .unwrap_or_default()
            .into_iter()
            .map(trigger_from_wire)
            .collect::<Result<_, _>>()?,
        name: p.name,
        role_arn: p.role_arn,
        artifact_store: p.artifact_store.map(store_from_wire),
        artifact_stores: p
            .artifact_stores
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, store_from_wire(v)))
            .collect(),
        stages,
        version: p.version.unwrap_or(1),
        execution_mode: p.execution_mode,
        pipeline_type: p.pipeline_type,
        variables: p
            .variables
            .unwrap_or_default()
            .into_iter()
            .map(|v| m::PipelineVariable {
                name: v.name,
                default_value: v.default_value,
                description: v.description,
            })
            .collect(),
    })
}

/// A declaration for a response.
pub fn pipeline_to_wire(p: m::PipelineDeclaration) -> w::PipelineDeclaration {
    w::PipelineDeclaration {
        name: p.name,
        role_arn: p.role_arn,
        artifact_store: p.artifact_store.map(store_to_wire),
        artifact_stores: (!p.artifact_stores.is_empty()).then(|| {
            p.artifact_stores
                .into_iter()
                .map(|(k, v)| (k, store_to_wire(v)))
                .collect()
        }),
        stages: p
            .stages
            .into_iter()
            .map(|s| w::StageDeclaration {
                name: s.name,
                blockers: non_empty(
                    s.blockers
                        .into_iter()
                        .map(|b| w::BlockerDeclaration {
                            name: b.name,
                            r#type: b.kind,
                        })
                        .collect(),
                ),
                actions: s.actions.into_iter().map(action_to_wire).collect(),
                before_entry: s.before_entry.map(|c| w::BeforeEntryConditions {
                    conditions: condition_to_wire(c),
                }),
                on_failure: on_failure_to_wire(s.on_failure, s.on_failure_condition),
                on_success: s.on_success.map(|c| w::SuccessConditions {
                    conditions: condition_to_wire(c),
                }),
            })
            .collect(),
        version: Some(p.version),
        execution_mode: p.execution_mode,
        pipeline_type: p.pipeline_type,
        variables: non_empty(
            p.variables
                .into_iter()
                .map(|v| w::PipelineVariableDeclaration {
                    name: v.name,
                    default_value: v.default_value,
                    description: v.description,
                })
                .collect(),
        ),
        triggers: non_empty(p.triggers.into_iter().map(trigger_to_wire).collect()),
    }
}

/// Both kinds of criteria (branch, tag, file path) have the same includes and excludes.
macro_rules! patterns_from_wire {
    ($criteria:expr) => {
        $criteria.map(|c| m::triggers::Patterns {
            includes: c.includes.unwrap_or_default(),
            excludes: c.excludes.unwrap_or_default(),
        })
    };
}

macro_rules! patterns_to_wire {
    ($shape:ident, $patterns:expr) => {
        $patterns.map(|p| w::$shape {
            includes: non_empty(p.includes),
            excludes: non_empty(p.excludes),
        })
    };
}

fn trigger_from_wire(
    t: w::PipelineTriggerDeclaration,
) -> Result<m::triggers::PipelineTrigger, ApiError> {
    let git = t.git_configuration;
    let pull_requests = git.pull_request.as_deref().unwrap_or_default();
    if pull_requests.iter().any(|f| f.file_paths.is_some()) {
        return Err(unsupported(&format!(
            "pipeline.triggers[].gitConfiguration.pullRequest[].filePaths (on '{}': a pull request event names no changed files)",
            git.source_action_name
        )));
    }
    Ok(m::triggers::PipelineTrigger {
        provider_type: t.provider_type,
        source_action: git.source_action_name,
        push: git
            .push
            .unwrap_or_default()
            .into_iter()
            .map(|f| m::triggers::PushFilter {
                branches: patterns_from_wire!(f.branches),
                tags: patterns_from_wire!(f.tags),
                file_paths: patterns_from_wire!(f.file_paths),
            })
            .collect(),
        pull_request: git
            .pull_request
            .unwrap_or_default()
            .into_iter()
            .map(|f| m::triggers::PullRequestFilter {
                events: f.events.unwrap_or_default(),
                branches: patterns_from_wire!(f.branches),
                file_paths: patterns_from_wire!(f.file_paths),
            })
            .collect(),
    })
}

fn trigger_to_wire(t: m::triggers::PipelineTrigger) -> w::PipelineTriggerDeclaration {
    w::PipelineTriggerDeclaration {
        provider_type: t.provider_type,
        git_configuration: w::GitConfiguration {
            source_action_name: t.source_action,
            push: non_empty(
                t.push
                    .into_iter()
                    .map(|f| w::GitPushFilter {
                        branches: patterns_to_wire!(GitBranchFilterCriteria, f.branches),
                        tags: patterns_to_wire!(GitTagFilterCriteria, f.tags),
                        file_paths: patterns_to_wire!(GitFilePathFilterCriteria, f.file_paths),
                    })
                    .collect(),
            ),
            pull_request: non_empty(
                t.pull_request
                    .into_iter()
                    .map(|f| w::GitPullRequestFilter {
                        events: non_empty(f.events),
                        branches: patterns_to_wire!(GitBranchFilterCriteria, f.branches),
                        file_paths: patterns_to_wire!(GitFilePathFilterCriteria, f.file_paths),
                    })
                    .collect(),
            ),
        },
    }
}

pub fn tags_from_wire(tags: Option<Vec<w::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

pub fn tags_to_wire(tags: Vec<Tag>) -> Vec<w::Tag> {
    tags.into_iter()
        .map(|t| w::Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

fn details_from_wire(d: w::ArtifactDetails) -> m::ArtifactDetails {
    m::ArtifactDetails::between(d.minimum_count, d.maximum_count)
}

fn details_to_wire(d: m::ArtifactDetails) -> w::ArtifactDetails {
    w::ArtifactDetails {
        minimum_count: d.minimum_count,
        maximum_count: d.maximum_count,
    }
}

/// The custom action type a `CreateCustomActionType` request describes.
pub fn custom_action_type_from_wire(
    i: w::CreateCustomActionTypeInput,
) -> Result<m::ActionType, ApiError> {
    let mut properties = Vec::new();
    for p in i.configuration_properties.unwrap_or_default() {
        let kind = match p.r#type.as_deref() {
            None => None,
            Some(t) => Some(m::ConfigurationPropertyType::parse(t).ok_or_else(|| {
                ApiError::client(
                    "ValidationException",
                    format!("Configuration property type '{t}' is not valid"),
                )
            })?),
        };
        properties.push(m::ConfigurationProperty {
            name: p.name,
            required: p.required,
            key: p.key,
            secret: p.secret,
            queryable: p.queryable.unwrap_or(false),
            description: p.description,
            kind,
        });
    }
    Ok(m::ActionType {
        id: m::ActionTypeId::new(
            &i.category,
            m::ActionOwner::Custom.as_str(),
            &i.provider,
            &i.version,
        ),
        settings: i.settings.map(|s| m::ActionTypeSettings {
            third_party_configuration_url: s.third_party_configuration_url,
            entity_url_template: s.entity_url_template,
            execution_url_template: s.execution_url_template,
            revision_url_template: s.revision_url_template,
        }),
        configuration_properties: properties,
        input_artifact_details: details_from_wire(i.input_artifact_details),
        output_artifact_details: details_from_wire(i.output_artifact_details),
    })
}

pub fn action_type_to_wire(t: m::ActionType) -> w::ActionType {
    w::ActionType {
        id: type_id_to_wire(t.id),
        settings: t.settings.map(|s| w::ActionTypeSettings {
            third_party_configuration_url: s.third_party_configuration_url,
            entity_url_template: s.entity_url_template,
            execution_url_template: s.execution_url_template,
            revision_url_template: s.revision_url_template,
        }),
        action_configuration_properties: Some(
            t.configuration_properties
                .into_iter()
                .map(|p| w::ActionConfigurationProperty {
                    name: p.name,
                    required: p.required,
                    key: p.key,
                    secret: p.secret,
                    queryable: Some(p.queryable),
                    description: p.description,
                    r#type: p.kind.map(|k| k.as_str().to_string()),
                })
                .collect(),
        ),
        input_artifact_details: details_to_wire(t.input_artifact_details),
        output_artifact_details: details_to_wire(t.output_artifact_details),
    }
}

/// An execution history filter: the execution it names, and whether only the latest attempts
/// in it are wanted (`latestInPipelineExecution` with `Latest`).
pub fn history_filter(
    pipeline_execution_id: Option<String>,
    latest: Option<w::LatestInPipelineExecutionFilter>,
) -> Result<(Option<String>, bool), ApiError> {
    let Some(latest) = latest else {
        return Ok((pipeline_execution_id, false));
    };
    if pipeline_execution_id
        .as_ref()
        .is_some_and(|id| id != &latest.pipeline_execution_id)
    {
        return Err(ApiError::client(
            "ValidationException",
            "filter.pipelineExecutionId and filter.latestInPipelineExecution.pipelineExecutionId name different executions",
        ));
    }
    Ok((
        Some(latest.pipeline_execution_id),
        latest.start_time_range == "Latest",
    ))
}
