//! EventBridge (JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`, signing name `events`) on the
//! default event bus: rules with event patterns, SNS-topic and pipeline targets, `PutEvents`
//! and `TestEventPattern`, dispatched once over the generated `Operation` enum. Authorized as
//! `events:<Operation>` on the rule's ARN (`arn:aws:events:REGION:ACCOUNT:rule/NAME`).

use crate::json_service::{output, Plan, Request, ServiceSpec};
use crate::ApiError;
use axum::response::Response;
use serde::de::DeserializeOwned;
use sluice_service::notifications::{
    EventRuleView, EventTargetView, PutEventEntry, PutEventResult,
};
use sluice_service::Sluice;
use sluice_wire::events::{self as w, Operation};

const SPEC: ServiceSpec = ServiceSpec {
    event_source: "events.amazonaws.com",
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

/// Only the default bus exists here.
fn default_bus(name: Option<&str>) -> R<()> {
    match name {
        None | Some("default") => Ok(()),
        Some(arn) if arn.ends_with(":event-bus/default") => Ok(()),
        Some(other) => Err(ApiError::client(
            "ResourceNotFoundException",
            format!("Event bus {other} does not exist."),
        )),
    }
}

fn rule(view: EventRuleView) -> w::Rule {
    w::Rule {
        arn: Some(view.arn),
        description: view.description,
        event_bus_name: Some("default".into()),
        event_pattern: Some(view.event_pattern),
        managed_by: None,
        name: Some(view.name),
        role_arn: view.role_arn,
        schedule_expression: None,
        state: Some(view.state),
    }
}

fn target(view: EventTargetView) -> w::Target {
    w::Target {
        id: view.id,
        arn: view.arn,
        role_arn: view.role_arn,
        input: view.input,
        input_path: view.input_path,
        ..Default::default()
    }
}

/// A target this server can deliver to, or why not.
fn accepted_target(t: w::Target) -> Result<EventTargetView, (String, String)> {
    let unsupported = [
        ("InputTransformer", t.input_transformer.is_some()),
        ("HttpParameters", t.http_parameters.is_some()),
        ("RetryPolicy", t.retry_policy.is_some()),
        ("DeadLetterConfig", t.dead_letter_config.is_some()),
        ("EcsParameters", t.ecs_parameters.is_some()),
        ("BatchParameters", t.batch_parameters.is_some()),
        ("KinesisParameters", t.kinesis_parameters.is_some()),
        ("SqsParameters", t.sqs_parameters.is_some()),
        ("RunCommandParameters", t.run_command_parameters.is_some()),
        (
            "RedshiftDataParameters",
            t.redshift_data_parameters.is_some(),
        ),
        (
            "SageMakerPipelineParameters",
            t.sage_maker_pipeline_parameters.is_some(),
        ),
        ("AppSyncParameters", t.app_sync_parameters.is_some()),
    ];
    if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err((
            t.id,
            format!(
                "{name} is not supported by this Sluice server; targets take Input or InputPath"
            ),
        ));
    }
    if t.input.is_some() && t.input_path.is_some() {
        return Err((
            t.id,
            "Only one of Input, InputPath, or InputTransformer can be provided.".into(),
        ));
    }
    Ok(EventTargetView {
        id: t.id,
        arn: t.arn,
        role_arn: t.role_arn,
        input: t.input,
        input_path: t.input_path,
    })
}

/// Runs one operation: the one `match` over the model's operations.
async fn dispatch(sl: &Sluice, op: Operation, body: &[u8]) -> R<Vec<u8>> {
    use Operation as O;
    match op {
        O::PutRule => {
            let i: w::PutRuleRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            if i.tags.as_ref().is_some_and(|t| !t.is_empty()) {
                return Err(ApiError::client(
                    "ValidationException",
                    "Tags on rules are not supported by this Sluice server",
                ));
            }
            let arn = sl
                .put_event_rule(
                    &i.name,
                    i.event_pattern.as_deref(),
                    i.schedule_expression.as_deref(),
                    i.state.as_deref(),
                    i.description.as_deref(),
                    i.role_arn.as_deref(),
                )
                .await?;
            output(w::PutRuleResponse {
                rule_arn: Some(arn),
            })
        }
        O::DescribeRule => {
            let i: w::DescribeRuleRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            let view = sl.describe_event_rule(&i.name).await?;
            output(w::DescribeRuleResponse {
                arn: Some(view.arn),
                created_by: Some(view.created_by),
                description: view.description,
                event_bus_name: Some("default".into()),
                event_pattern: Some(view.event_pattern),
                managed_by: None,
                name: Some(view.name),
                role_arn: view.role_arn,
                schedule_expression: None,
                state: Some(view.state),
            })
        }
        O::ListRules => {
            let i: w::ListRulesRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            let page = sl
                .list_event_rules(
                    i.name_prefix.as_deref(),
                    i.next_token.as_deref(),
                    i.limit.map(|l| l.max(1) as usize),
                )
                .await?;
            output(w::ListRulesResponse {
                rules: Some(page.items.into_iter().map(rule).collect()),
                next_token: page.next_token,
            })
        }
        O::EnableRule | O::DisableRule => {
            let i: w::EnableRuleRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            sl.set_event_rule_state(&i.name, op == O::EnableRule)
                .await?;
            Ok(b"{}".to_vec())
        }
        O::DeleteRule => {
            let i: w::DeleteRuleRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            sl.delete_event_rule(&i.name, i.force.unwrap_or(false))
                .await?;
            Ok(b"{}".to_vec())
        }
        O::PutTargets => {
            let i: w::PutTargetsRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            let mut accepted = Vec::new();
            let mut failed = Vec::new();
            for t in i.targets {
                match accepted_target(t) {
                    Ok(view) => accepted.push(view),
                    Err((id, message)) => failed.push((id, "ValidationException", message)),
                }
            }
            failed.extend(sl.put_event_targets(&i.rule, accepted).await?);
            output(w::PutTargetsResponse {
                failed_entry_count: Some(failed.len() as i64),
                failed_entries: Some(
                    failed
                        .into_iter()
                        .map(|(id, code, message)| w::PutTargetsResultEntry {
                            target_id: Some(id),
                            error_code: Some(code.into()),
                            error_message: Some(message),
                        })
                        .collect(),
                ),
            })
        }
        O::ListTargetsByRule => {
            let i: w::ListTargetsByRuleRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            let targets = sl.list_event_targets(&i.rule).await?;
            output(w::ListTargetsByRuleResponse {
                targets: Some(targets.into_iter().map(target).collect()),
                next_token: None,
            })
        }
        O::RemoveTargets => {
            let i: w::RemoveTargetsRequest = input(op, body)?;
            default_bus(i.event_bus_name.as_deref())?;
            let failed = sl.remove_event_targets(&i.rule, &i.ids).await?;
            output(w::RemoveTargetsResponse {
                failed_entry_count: Some(failed.len() as i64),
                failed_entries: Some(
                    failed
                        .into_iter()
                        .map(|(id, code, message)| w::RemoveTargetsResultEntry {
                            target_id: Some(id),
                            error_code: Some(code.into()),
                            error_message: Some(message),
                        })
                        .collect(),
                ),
            })
        }
        O::PutEvents => {
            let i: w::PutEventsRequest = input(op, body)?;
            if i.endpoint_id.is_some() {
                return Err(ApiError::client(
                    "ValidationException",
                    "Global endpoints are not supported by this Sluice server",
                ));
            }
            let entries = i
                .entries
                .into_iter()
                .map(|e| PutEventEntry {
                    source: e.source,
                    detail_type: e.detail_type,
                    detail: e.detail,
                    resources: e.resources.unwrap_or_default(),
                    time_ms: e.time.map(|t| (t * 1000.0) as i64),
                    event_bus_name: e.event_bus_name,
                })
                .collect();
            let results = sl.put_events(entries).await?;
            let failed = results
                .iter()
                .filter(|r| matches!(r, PutEventResult::Failed(..)))
                .count();
            output(w::PutEventsResponse {
                failed_entry_count: Some(failed as i64),
                entries: Some(
                    results
                        .into_iter()
                        .map(|r| match r {
                            PutEventResult::Accepted(id) => w::PutEventsResultEntry {
                                event_id: Some(id),
                                ..Default::default()
                            },
                            PutEventResult::Failed(code, message) => w::PutEventsResultEntry {
                                error_code: Some(code.into()),
                                error_message: Some(message),
                                event_id: None,
                            },
                        })
                        .collect(),
                ),
            })
        }
        O::TestEventPattern => {
            let i: w::TestEventPatternRequest = input(op, body)?;
            let result = sl.test_event_pattern(&i.event_pattern, &i.event)?;
            output(w::TestEventPatternResponse {
                result: Some(result),
            })
        }
        O::ActivateEventSource
        | O::CancelReplay
        | O::CreateApiDestination
        | O::CreateArchive
        | O::CreateConnection
        | O::CreateEndpoint
        | O::CreateEventBus
        | O::CreatePartnerEventSource
        | O::DeactivateEventSource
        | O::DeauthorizeConnection
        | O::DeleteApiDestination
        | O::DeleteArchive
        | O::DeleteConnection
        | O::DeleteEndpoint
        | O::DeleteEventBus
        | O::DeletePartnerEventSource
        | O::DescribeApiDestination
        | O::DescribeArchive
        | O::DescribeConnection
        | O::DescribeEndpoint
        | O::DescribeEventBus
        | O::DescribeEventSource
        | O::DescribePartnerEventSource
        | O::DescribeReplay
        | O::ListApiDestinations
        | O::ListArchives
        | O::ListConnections
        | O::ListEndpoints
        | O::ListEventBuses
        | O::ListEventSources
        | O::ListPartnerEventSourceAccounts
        | O::ListPartnerEventSources
        | O::ListReplays
        | O::ListRuleNamesByTarget
        | O::ListTagsForResource
        | O::PutPartnerEvents
        | O::PutPermission
        | O::RemovePermission
        | O::StartReplay
        | O::TagResource
        | O::UntagResource
        | O::UpdateApiDestination
        | O::UpdateArchive
        | O::UpdateConnection
        | O::UpdateEndpoint
        | O::UpdateEventBus => Err(ApiError::not_implemented_named(op.name())),
    }
}

/// The operations this server answers.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::PutRule,
    Operation::DescribeRule,
    Operation::ListRules,
    Operation::EnableRule,
    Operation::DisableRule,
    Operation::DeleteRule,
    Operation::PutTargets,
    Operation::ListTargetsByRule,
    Operation::RemoveTargets,
    Operation::PutEvents,
    Operation::TestEventPattern,
];

fn is_read_only(op: Operation) -> bool {
    let name = op.name();
    name.starts_with("Describe") || name.starts_with("List") || name.starts_with("Test")
}

/// The action and resource IAM decides on: the rule's ARN where the request names one.
fn plan(sl: &Sluice, op: Operation, input: &serde_json::Value) -> Plan {
    let rule = input
        .get("Name")
        .or_else(|| input.get("Rule"))
        .and_then(|v| v.as_str())
        .filter(|_| op != Operation::ListRules);
    let resource = match (op, rule) {
        (Operation::PutEvents, _) => format!(
            "arn:aws:events:{}:{}:event-bus/default",
            sl.options().region,
            sl.options().account_id
        ),
        (_, Some(name)) => sl.event_rule_arn(name),
        _ => "*".to_string(),
    };
    let resources = if resource == "*" {
        Vec::new()
    } else {
        vec![("AWS::Events::Rule".to_string(), resource.clone())]
    };
    Plan {
        read_only: is_read_only(op),
        authorize: Some((format!("events:{}", op.name()), resource)),
        resources,
    }
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
        |op, parsed| async move { Ok(plan(sluice, op, &parsed)) },
        |op, _caller| async move { dispatch(sluice, op, body).await },
    )
    .await
}
