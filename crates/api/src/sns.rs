//! SNS (the Query protocol, `Version=2010-03-31`, signing name `sns`): topics, HTTP/S
//! subscriptions and publishing, dispatched once over the generated `Operation` enum; inputs
//! read and answers written from the model's shapes (`sluice_wire::query`). Authorized as
//! `sns:<Operation>` on the topic's (or the subscription's topic's) ARN; the request flow
//! (authentication, the trail) is the Query protocol's, shared with IAM in `query.rs`.
//!
//! The links in a delivered message (`SubscribeURL`, `UnsubscribeURL`) are answered without a
//! signature, as SNS answers them: the token or the subscription ARN is the credential.

use crate::iam_handlers::IamError;
use crate::query::Params;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_service::notifications::PublishRequest;
use sluice_service::{Sluice, Tag};
use sluice_wire::sns::{self as w, Operation};
use std::collections::BTreeMap;

pub use w::API_VERSION;
pub const EVENT_SOURCE: &str = "sns.amazonaws.com";

type R<T> = Result<T, IamError>;

impl From<sluice_wire::DecodeError> for IamError {
    fn from(e: sluice_wire::DecodeError) -> Self {
        let message = match e {
            sluice_wire::DecodeError::Serialization(m)
            | sluice_wire::DecodeError::Validation(m) => m,
        };
        IamError {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationError",
            message,
        }
    }
}

/// An error of the service in SNS's words and statuses.
pub fn error(e: sluice_service::Error) -> IamError {
    match e {
        sluice_service::Error::Named { code, message } => {
            let status = match code {
                "NotFound" | "ResourceNotFound" => StatusCode::NOT_FOUND,
                "AuthorizationError" => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            IamError {
                status,
                code,
                message,
            }
        }
        sluice_service::Error::AccessDenied(message) => IamError {
            status: StatusCode::FORBIDDEN,
            code: "AuthorizationError",
            message,
        },
        sluice_service::Error::Internal(m) => IamError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalError",
            message: m,
        },
        other => IamError::from(other),
    }
}

fn input<T: DeserializeOwned>(op: Operation, params: &Params) -> R<T> {
    let shape = op
        .input_shape()
        .ok_or_else(|| IamError::internal(format!("{} has no input shape", op.name())))?;
    Ok(w::decode_params(shape, params)?)
}

/// The answer's XML (the inside of its result element) and the JSON the trail keeps.
fn output<T: serde::Serialize>(op: Operation, value: T) -> R<(String, Value)> {
    let json = serde_json::to_value(value)
        .map_err(|e| IamError::internal(format!("encoding a response: {e}")))?;
    let xml = match op.output_shape() {
        Some(shape) => sluice_wire::query::to_xml(w::SHAPES, shape, &json),
        None => String::new(),
    };
    Ok((xml, json))
}

fn not_implemented(op: Operation) -> IamError {
    IamError {
        status: StatusCode::BAD_REQUEST,
        code: "InvalidAction",
        message: format!(
            "{} is not implemented by this Sluice server: it serves topics, HTTP/S subscriptions and publishing",
            op.name()
        ),
    }
}

fn invalid(message: &str) -> IamError {
    IamError {
        status: StatusCode::BAD_REQUEST,
        code: "InvalidParameter",
        message: format!("Invalid parameter: {message}"),
    }
}

/// The topic a subscription ARN belongs to (`TOPIC_ARN:ID`).
fn topic_of_subscription(arn: &str) -> &str {
    arn.rsplit_once(':').map_or(arn, |(topic, _)| topic)
}

/// The resource a call is authorized on and recorded against.
pub fn resource(sluice: &Sluice, action: &str, params: &Params) -> String {
    if action == "CreateTopic" {
        if let Some(name) = params.get("Name") {
            return sluice.topic_arn(name);
        }
    }
    if let Some(topic) = params.get("TopicArn") {
        return topic.clone();
    }
    if let Some(resource) = params.get("ResourceArn") {
        return resource.clone();
    }
    if let Some(subscription) = params.get("SubscriptionArn") {
        return topic_of_subscription(subscription).to_string();
    }
    "*".into()
}

fn subscriptions(
    views: Vec<sluice_service::notifications::SubscriptionView>,
) -> Vec<w::Subscription> {
    views
        .into_iter()
        .map(|s| w::Subscription {
            subscription_arn: Some(s.arn),
            owner: Some(s.owner),
            protocol: Some(s.protocol),
            endpoint: Some(s.endpoint),
            topic_arn: Some(s.topic_arn),
        })
        .collect()
}

/// Runs one operation: the one `match` over the model's operations.
pub async fn call(sl: &Sluice, action: &str, params: &Params) -> R<(String, Value)> {
    let Some(op) = Operation::from_name(action) else {
        return Err(IamError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {action} for version {API_VERSION}"),
        ));
    };
    use Operation as O;
    match op {
        O::CreateTopic => {
            let i: w::CreateTopicInput = input(op, params)?;
            if i.data_protection_policy.is_some() {
                return Err(invalid(
                    "DataProtectionPolicy is not supported by this Sluice server",
                ));
            }
            let tags = i
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| Tag {
                    key: t.key,
                    value: t.value,
                })
                .collect();
            let arn = sl
                .create_topic(&i.name, &i.attributes.unwrap_or_default(), tags)
                .await
                .map_err(error)?;
            output(
                op,
                w::CreateTopicResponse {
                    topic_arn: Some(arn),
                },
            )
        }
        O::DeleteTopic => {
            let i: w::DeleteTopicInput = input(op, params)?;
            sl.delete_topic(&i.topic_arn).await.map_err(error)?;
            output(op, ())
        }
        O::ListTopics => {
            let i: w::ListTopicsInput = input(op, params)?;
            let page = sl
                .list_topics(i.next_token.as_deref())
                .await
                .map_err(error)?;
            output(
                op,
                w::ListTopicsResponse {
                    topics: Some(
                        page.items
                            .into_iter()
                            .map(|arn| w::Topic {
                                topic_arn: Some(arn),
                            })
                            .collect(),
                    ),
                    next_token: page.next_token,
                },
            )
        }
        O::GetTopicAttributes => {
            let i: w::GetTopicAttributesInput = input(op, params)?;
            let attributes = sl.topic_attributes(&i.topic_arn).await.map_err(error)?;
            output(
                op,
                w::GetTopicAttributesResponse {
                    attributes: Some(attributes),
                },
            )
        }
        O::SetTopicAttributes => {
            let i: w::SetTopicAttributesInput = input(op, params)?;
            sl.set_topic_attribute(
                &i.topic_arn,
                &i.attribute_name,
                i.attribute_value.as_deref().unwrap_or_default(),
            )
            .await
            .map_err(error)?;
            output(op, ())
        }
        O::Subscribe => {
            let i: w::SubscribeInput = input(op, params)?;
            let arn = sl
                .subscribe(
                    &i.topic_arn,
                    &i.protocol,
                    i.endpoint.as_deref(),
                    &i.attributes.unwrap_or_default(),
                    &sl.options().account_id,
                    i.return_subscription_arn.unwrap_or(false),
                )
                .await
                .map_err(error)?;
            output(
                op,
                w::SubscribeResponse {
                    subscription_arn: Some(arn),
                },
            )
        }
        O::ConfirmSubscription => {
            let i: w::ConfirmSubscriptionInput = input(op, params)?;
            let authenticate = i
                .authenticate_on_unsubscribe
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let arn = sl
                .confirm_subscription(&i.topic_arn, &i.token, authenticate)
                .await
                .map_err(error)?;
            output(
                op,
                w::ConfirmSubscriptionResponse {
                    subscription_arn: Some(arn),
                },
            )
        }
        O::Unsubscribe => {
            let i: w::UnsubscribeInput = input(op, params)?;
            sl.unsubscribe(&i.subscription_arn, true)
                .await
                .map_err(error)?;
            output(op, ())
        }
        O::ListSubscriptions => {
            let i: w::ListSubscriptionsInput = input(op, params)?;
            let page = sl
                .list_subscriptions(None, i.next_token.as_deref())
                .await
                .map_err(error)?;
            output(
                op,
                w::ListSubscriptionsResponse {
                    subscriptions: Some(subscriptions(page.items)),
                    next_token: page.next_token,
                },
            )
        }
        O::ListSubscriptionsByTopic => {
            let i: w::ListSubscriptionsByTopicInput = input(op, params)?;
            let page = sl
                .list_subscriptions(Some(&i.topic_arn), i.next_token.as_deref())
                .await
                .map_err(error)?;
            output(
                op,
                w::ListSubscriptionsByTopicResponse {
                    subscriptions: Some(subscriptions(page.items)),
                    next_token: page.next_token,
                },
            )
        }
        O::GetSubscriptionAttributes => {
            let i: w::GetSubscriptionAttributesInput = input(op, params)?;
            let attributes = sl
                .subscription_attributes(&i.subscription_arn)
                .await
                .map_err(error)?;
            output(
                op,
                w::GetSubscriptionAttributesResponse {
                    attributes: Some(attributes),
                },
            )
        }
        O::SetSubscriptionAttributes => {
            let i: w::SetSubscriptionAttributesInput = input(op, params)?;
            sl.set_subscription_attribute(
                &i.subscription_arn,
                &i.attribute_name,
                i.attribute_value.as_deref().unwrap_or_default(),
            )
            .await
            .map_err(error)?;
            output(op, ())
        }
        O::ListTagsForResource => {
            let i: w::ListTagsForResourceRequest = input(op, params)?;
            let tags = sl.topic_tags(&i.resource_arn).await.map_err(error)?;
            output(
                op,
                w::ListTagsForResourceResponse {
                    tags: Some(
                        tags.into_iter()
                            .map(|t| w::Tag {
                                key: t.key,
                                value: t.value,
                            })
                            .collect(),
                    ),
                },
            )
        }
        O::Publish => {
            let i: w::PublishInput = input(op, params)?;
            if i.phone_number.is_some() {
                return Err(invalid(
                    "PhoneNumber: SMS has no self-hosted counterpart on this Sluice server",
                ));
            }
            if i.message_group_id.is_some() || i.message_deduplication_id.is_some() {
                return Err(invalid(
                    "MessageGroupId and MessageDeduplicationId are for FIFO topics, which this Sluice server does not serve",
                ));
            }
            let topic_arn = match (i.topic_arn, i.target_arn) {
                (Some(topic), None) => topic,
                (None, Some(target)) if target.starts_with("arn:aws:sns:") => target,
                _ => {
                    return Err(invalid(
                        "TopicArn or TargetArn Reason: exactly one topic ARN must be given",
                    ))
                }
            };
            let per_protocol = match i.message_structure.as_deref() {
                None => false,
                Some("json") => true,
                Some(other) => {
                    return Err(invalid(&format!("MessageStructure: {other} (only json)")))
                }
            };
            let mut attributes = BTreeMap::new();
            for (name, value) in i.message_attributes.unwrap_or_default() {
                let text = value
                    .string_value
                    .or(value.binary_value)
                    .unwrap_or_default();
                attributes.insert(name, (value.data_type, text));
            }
            let id = sl
                .publish(PublishRequest {
                    topic_arn,
                    subject: i.subject,
                    message: i.message,
                    per_protocol,
                    attributes,
                })
                .await
                .map_err(error)?;
            output(
                op,
                w::PublishResponse {
                    message_id: Some(id),
                    sequence_number: None,
                },
            )
        }
        O::AddPermission
        | O::CheckIfPhoneNumberIsOptedOut
        | O::CreatePlatformApplication
        | O::CreatePlatformEndpoint
        | O::CreateSMSSandboxPhoneNumber
        | O::DeleteEndpoint
        | O::DeletePlatformApplication
        | O::DeleteSMSSandboxPhoneNumber
        | O::GetDataProtectionPolicy
        | O::GetEndpointAttributes
        | O::GetPlatformApplicationAttributes
        | O::GetSMSAttributes
        | O::GetSMSSandboxAccountStatus
        | O::ListEndpointsByPlatformApplication
        | O::ListOriginationNumbers
        | O::ListPhoneNumbersOptedOut
        | O::ListPlatformApplications
        | O::ListSMSSandboxPhoneNumbers
        | O::OptInPhoneNumber
        | O::PublishBatch
        | O::PutDataProtectionPolicy
        | O::RemovePermission
        | O::SetEndpointAttributes
        | O::SetPlatformApplicationAttributes
        | O::SetSMSAttributes
        | O::TagResource
        | O::UntagResource
        | O::VerifySMSSandboxPhoneNumber => Err(not_implemented(op)),
    }
}

/// The operations this server answers.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::CreateTopic,
    Operation::DeleteTopic,
    Operation::ListTopics,
    Operation::GetTopicAttributes,
    Operation::SetTopicAttributes,
    Operation::Subscribe,
    Operation::ConfirmSubscription,
    Operation::Unsubscribe,
    Operation::ListSubscriptions,
    Operation::ListSubscriptionsByTopic,
    Operation::GetSubscriptionAttributes,
    Operation::SetSubscriptionAttributes,
    Operation::Publish,
    Operation::ListTagsForResource,
];

/// Whether a `GET /` is a link from a delivered message (`?Action=ConfirmSubscription…` or
/// `?Action=Unsubscribe…`).
pub fn is_link(query: &Params) -> bool {
    matches!(
        query.get("Action").map(String::as_str),
        Some("ConfirmSubscription" | "Unsubscribe")
    ) && (query.contains_key("Token") || query.contains_key("SubscriptionArn"))
}

/// Answers a link from a delivered message, unsigned: `(action, XML inside the result, JSON
/// for the trail)`.
pub async fn follow_link(sl: &Sluice, query: &Params) -> (String, R<(String, Value)>) {
    let action = query.get("Action").cloned().unwrap_or_default();
    let result = async {
        match action.as_str() {
            "ConfirmSubscription" => {
                let topic = query
                    .get("TopicArn")
                    .map(String::as_str)
                    .unwrap_or_default();
                let token = query.get("Token").map(String::as_str).unwrap_or_default();
                let arn = sl
                    .confirm_subscription(topic, token, false)
                    .await
                    .map_err(error)?;
                output(
                    Operation::ConfirmSubscription,
                    w::ConfirmSubscriptionResponse {
                        subscription_arn: Some(arn),
                    },
                )
            }
            _ => {
                let arn = query
                    .get("SubscriptionArn")
                    .map(String::as_str)
                    .unwrap_or_default();
                sl.unsubscribe(arn, false).await.map_err(error)?;
                output(Operation::Unsubscribe, ())
            }
        }
    }
    .await;
    (action, result)
}
