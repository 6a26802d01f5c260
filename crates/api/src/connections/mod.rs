//! CodeStar connections (JSON 1.0, `X-Amz-Target:
//! com.amazonaws.codestar.connections.CodeStar_connections_20191201.<Operation>`): the
//! connections `CodeStarSourceConnection` sources read, dispatched once over the generated
//! `Operation` enum. Authorized as `codestar-connections:<Operation>` on the connection's ARN.

use crate::json_service::Request;
use crate::ApiError;
use axum::response::Response;
use serde::de::DeserializeOwned;

use sluice_service::{ConnectionView, Sluice, Tag};
use sluice_wire::connections::{self as w, Operation};

/// The JSON 1.0 content type of this protocol.
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const EVENT_SOURCE: &str = "codestar-connections.amazonaws.com";

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

fn connection(c: ConnectionView) -> w::Connection {
    w::Connection {
        connection_name: Some(c.name),
        connection_arn: Some(c.arn),
        provider_type: Some(c.provider_type),
        owner_account_id: Some(c.owner_account_id),
        connection_status: Some(c.status),
        host_arn: c.host_arn,
    }
}

fn tags_from(tags: Option<Vec<w::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

fn tags_to(tags: Vec<Tag>) -> Vec<w::Tag> {
    tags.into_iter()
        .map(|t| w::Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

/// Runs one operation: the one `match` over the model's operations.
async fn dispatch(s: &Sluice, op: Operation, body: &[u8]) -> R<Vec<u8>> {
    use Operation as O;
    match op {
        O::CreateConnection => {
            let i: w::CreateConnectionInput = input(op, body)?;
            let (arn, tags) = s
                .create_connection(
                    &i.connection_name,
                    i.provider_type.as_deref(),
                    i.host_arn.as_deref(),
                    tags_from(i.tags),
                )
                .await?;
            output(w::CreateConnectionOutput {
                connection_arn: arn,
                tags: (!tags.is_empty()).then(|| tags_to(tags)),
            })
        }
        O::GetConnection => {
            let i: w::GetConnectionInput = input(op, body)?;
            let c = s.get_connection(&i.connection_arn).await?;
            output(w::GetConnectionOutput {
                connection: Some(connection(c)),
            })
        }
        O::ListConnections => {
            let i: w::ListConnectionsInput = input(op, body)?;
            if i.host_arn_filter.is_some() {
                return Err(ApiError::client(
                    "ValidationException",
                    "HostArnFilter is not supported by this Sluice server: it has no hosts",
                ));
            }
            let page = s
                .list_connections(
                    i.provider_type_filter.as_deref(),
                    i.max_results.map(|n| n as usize),
                    i.next_token.as_deref(),
                )
                .await?;
            output(w::ListConnectionsOutput {
                connections: Some(page.items.into_iter().map(connection).collect()),
                next_token: page.next_token,
            })
        }
        O::DeleteConnection => {
            let i: w::DeleteConnectionInput = input(op, body)?;
            s.delete_connection(&i.connection_arn).await?;
            output(w::DeleteConnectionOutput::default())
        }
        O::ListTagsForResource => {
            let i: w::ListTagsForResourceInput = input(op, body)?;
            let tags = s.connection_tags(&i.resource_arn).await?;
            output(w::ListTagsForResourceOutput {
                tags: Some(tags_to(tags)),
            })
        }
        O::TagResource => {
            let i: w::TagResourceInput = input(op, body)?;
            s.tag_connection(&i.resource_arn, tags_from(Some(i.tags)))
                .await?;
            output(w::TagResourceOutput::default())
        }
        O::UntagResource => {
            let i: w::UntagResourceInput = input(op, body)?;
            s.untag_connection(&i.resource_arn, &i.tag_keys).await?;
            output(w::UntagResourceOutput::default())
        }
        O::CreateHost
        | O::CreateRepositoryLink
        | O::CreateSyncConfiguration
        | O::DeleteHost
        | O::DeleteRepositoryLink
        | O::DeleteSyncConfiguration
        | O::GetHost
        | O::GetRepositoryLink
        | O::GetRepositorySyncStatus
        | O::GetResourceSyncStatus
        | O::GetSyncBlockerSummary
        | O::GetSyncConfiguration
        | O::ListHosts
        | O::ListRepositoryLinks
        | O::ListRepositorySyncDefinitions
        | O::ListSyncConfigurations
        | O::UpdateHost
        | O::UpdateRepositoryLink
        | O::UpdateSyncBlocker
        | O::UpdateSyncConfiguration => Err(ApiError::not_implemented_named(op.name())),
    }
}

/// The operations this server answers.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::CreateConnection,
    Operation::GetConnection,
    Operation::ListConnections,
    Operation::DeleteConnection,
    Operation::ListTagsForResource,
    Operation::TagResource,
    Operation::UntagResource,
];

/// The action and resource IAM decides on: the connection's ARN where the request names one.
fn authorization(op: Operation, input: &serde_json::Value) -> (String, String) {
    let resource = input
        .get("ConnectionArn")
        .or(input.get("ResourceArn"))
        .and_then(|v| v.as_str())
        .unwrap_or("*")
        .to_string();
    (format!("codestar-connections:{}", op.name()), resource)
}

fn is_read_only(op: Operation) -> bool {
    matches!(
        op,
        Operation::GetConnection | Operation::ListConnections | Operation::ListTagsForResource
    )
}

const SPEC: crate::json_service::ServiceSpec = crate::json_service::ServiceSpec {
    event_source: EVENT_SOURCE,
    content_type: CONTENT_TYPE,
};

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
        |op, parsed| async move {
            let (action, resource) = authorization(op, &parsed);
            let mut resources = Vec::new();
            if resource != "*" {
                resources.push((
                    "AWS::CodeStarConnections::Connection".to_string(),
                    resource.clone(),
                ));
            }
            Ok(crate::json_service::Plan {
                read_only: is_read_only(op),
                authorize: Some((action, resource)),
                resources,
            })
        },
        |op, _caller| async move { dispatch(sluice, op, body).await },
    )
    .await
}
