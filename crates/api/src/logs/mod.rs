//! CloudWatch Logs, the read side (JSON 1.1, `X-Amz-Target: Logs_20140328.<Operation>`, signing
//! name `logs`) over the functions' invocation logs: `DescribeLogGroups` (`/aws/lambda/NAME`),
//! `DescribeLogStreams` (one per invocation), `GetLogEvents` and `FilterLogEvents` (what
//! `aws logs tail` reads), dispatched over the generated `Operation` enum. Authorized as
//! `logs:<Operation>` on the group's ARN (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`).

use crate::json_service::{output, Plan, Request, ServiceSpec};
use crate::ApiError;
use axum::response::Response;
use serde::de::DeserializeOwned;
use sluice_service::Sluice;
use sluice_wire::logs::{self as w, Operation};

const SPEC: ServiceSpec = ServiceSpec {
    event_source: "logs.amazonaws.com",
    content_type: "application/x-amz-json-1.1",
};

/// Most events one answer holds (AWS: 10,000 or 1 MB).
const MOST_EVENTS: usize = 10_000;

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

fn group_of(name: Option<String>, identifier: Option<String>) -> R<String> {
    name.or_else(|| {
        identifier.map(|i| {
            i.split(":log-group:")
                .last()
                .unwrap_or(&i)
                .trim_end_matches(":*")
                .to_string()
        })
    })
    .ok_or_else(|| {
        ApiError::client(
            "InvalidParameterException",
            "logGroupName or logGroupIdentifier is required",
        )
    })
}

fn limit(requested: Option<i64>, most: usize) -> usize {
    requested.map_or(most, |l| (l.max(1) as usize).min(most))
}

/// Runs one operation: the one `match` over the model's operations.
async fn dispatch(sl: &Sluice, op: Operation, body: &[u8]) -> R<Vec<u8>> {
    use Operation as O;
    match op {
        O::DescribeLogGroups => {
            let i: w::DescribeLogGroupsRequest = input(op, body)?;
            let groups = sl.log_groups(i.log_group_name_prefix.as_deref()).await?;
            let page = sl.page_of(
                "log-groups",
                &groups,
                limit(i.limit, 50),
                i.next_token.as_deref(),
            )?;
            output(w::DescribeLogGroupsResponse {
                log_groups: Some(
                    page.items
                        .into_iter()
                        .map(|g| w::LogGroup {
                            log_group_name: Some(g.name),
                            arn: Some(g.arn.clone()),
                            log_group_arn: Some(g.arn.trim_end_matches(":*").to_string()),
                            creation_time: Some(g.created_ms),
                            stored_bytes: Some(0),
                            log_group_class: Some("STANDARD".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                next_token: page.next_token,
            })
        }
        O::DescribeLogStreams => {
            let i: w::DescribeLogStreamsRequest = input(op, body)?;
            let group = group_of(i.log_group_name, i.log_group_identifier)?;
            let mut streams = sl.log_streams(&group).await?;
            if let Some(prefix) = &i.log_stream_name_prefix {
                streams.retain(|s| s.name.starts_with(prefix.as_str()));
            }
            if i.order_by.as_deref() != Some("LastEventTime") {
                streams.sort_by(|a, b| a.name.cmp(&b.name));
            }
            if i.descending == Some(true) {
                streams.reverse();
            }
            let scope = format!("log-streams:{group}");
            let page = sl.page_of(
                &scope,
                &streams,
                limit(i.limit, 50),
                i.next_token.as_deref(),
            )?;
            output(w::DescribeLogStreamsResponse {
                log_streams: Some(
                    page.items
                        .into_iter()
                        .map(|s| w::LogStream {
                            log_stream_name: Some(s.name),
                            creation_time: Some(s.created_ms),
                            first_event_timestamp: Some(s.created_ms),
                            last_event_timestamp: Some(s.created_ms),
                            last_ingestion_time: Some(s.created_ms),
                            stored_bytes: Some(s.stored_bytes),
                            ..Default::default()
                        })
                        .collect(),
                ),
                next_token: page.next_token,
            })
        }
        O::GetLogEvents => {
            let i: w::GetLogEventsRequest = input(op, body)?;
            let group = group_of(i.log_group_name, i.log_group_identifier)?;
            let names = vec![i.log_stream_name.clone()];
            let events = sl
                .log_events(&group, Some(&names), None, i.start_time, i.end_time)
                .await?;
            let most = limit(i.limit, MOST_EVENTS);
            let from = match i.next_token.as_deref() {
                Some(t) => t
                    .strip_prefix("f/")
                    .or_else(|| t.strip_prefix("b/"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| {
                        ApiError::client(
                            "InvalidParameterException",
                            "The specified nextToken is invalid.",
                        )
                    })?,
                None if i.start_from_head == Some(true) => 0,
                None => events.len().saturating_sub(most),
            };
            let end = from.saturating_add(most).min(events.len());
            let slice = events.get(from..end).unwrap_or_default();
            output(w::GetLogEventsResponse {
                events: Some(
                    slice
                        .iter()
                        .map(|e| w::OutputLogEvent {
                            timestamp: Some(e.timestamp_ms),
                            ingestion_time: Some(e.timestamp_ms),
                            message: Some(e.message.clone()),
                        })
                        .collect(),
                ),
                next_forward_token: Some(format!("f/{end}")),
                next_backward_token: Some(format!("b/{}", from.saturating_sub(most))),
            })
        }
        O::FilterLogEvents => {
            let i: w::FilterLogEventsRequest = input(op, body)?;
            if i.filter_pattern
                .as_deref()
                .is_some_and(|p| p.trim_start().starts_with('{') || p.trim_start().starts_with('['))
            {
                return Err(ApiError::client(
                    "InvalidParameterException",
                    "JSON and space-delimited filter patterns are not supported by this Sluice server; use terms and \"quoted phrases\"",
                ));
            }
            let group = group_of(i.log_group_name, i.log_group_identifier)?;
            let mut events = sl
                .log_events(
                    &group,
                    i.log_stream_names.as_deref(),
                    i.filter_pattern.as_deref(),
                    i.start_time,
                    i.end_time,
                )
                .await?;
            if let Some(prefix) = &i.log_stream_name_prefix {
                events.retain(|e| e.stream.starts_with(prefix.as_str()));
            }
            let streams: std::collections::BTreeSet<String> =
                events.iter().map(|e| e.stream.clone()).collect();
            let scope = format!("log-filter:{group}");
            let page = sl.page_of(
                &scope,
                &events,
                limit(i.limit, MOST_EVENTS),
                i.next_token.as_deref(),
            )?;
            output(w::FilterLogEventsResponse {
                events: Some(
                    page.items
                        .into_iter()
                        .map(|e| w::FilteredLogEvent {
                            log_stream_name: Some(e.stream),
                            timestamp: Some(e.timestamp_ms),
                            ingestion_time: Some(e.timestamp_ms),
                            message: Some(e.message),
                            event_id: Some(e.event_id),
                        })
                        .collect(),
                ),
                next_token: page.next_token,
                searched_log_streams: Some(
                    streams
                        .into_iter()
                        .map(|name| w::SearchedLogStream {
                            log_stream_name: Some(name),
                            searched_completely: Some(true),
                        })
                        .collect(),
                ),
            })
        }
        _ => Err(ApiError::not_implemented_named(op.name())),
    }
}

/// The operations this server answers.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::DescribeLogGroups,
    Operation::DescribeLogStreams,
    Operation::GetLogEvents,
    Operation::FilterLogEvents,
];

/// The action and resource IAM decides on: the group's ARN where the request names one.
fn plan(sl: &Sluice, op: Operation, input: &serde_json::Value) -> Plan {
    let group = input
        .get("logGroupName")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| "*".into());
    let resource = format!(
        "arn:aws:logs:{}:{}:log-group:{group}",
        sl.options().region,
        sl.options().account_id
    );
    Plan {
        read_only: true,
        authorize: Some((format!("logs:{}", op.name()), resource.clone())),
        resources: vec![("AWS::Logs::LogGroup".to_string(), resource)],
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
