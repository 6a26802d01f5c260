//! SNS: topics, subscriptions and publishing; EventBridge rules (`event_rules`); and the
//! dispatcher's side of the outbox (`delivery`). Every message a call or an engine step causes
//! is an outbox row written in the same transaction; the dispatcher fans rows out and the
//! server delivers the HTTP ones.
//!
//! Built: topics (standard, not FIFO) with `DisplayName` and `SignatureVersion`; `http` and
//! `https` subscriptions with SNS's confirmation flow and `RawMessageDelivery`; `lambda`
//! subscriptions (the function's policy must let `sns.amazonaws.com` in); `email` and
//! `email-json` through the configured SMTP relay; `Publish` with
//! a subject, `MessageStructure=json` and message attributes. Refused with a message: other
//! protocols (and email without a relay), FIFO topics, topic and delivery policies, filter policies, KMS encryption.

pub(crate) mod delivery;
pub(crate) mod event_rules;
pub(crate) mod signing;
pub(crate) mod state_events;

pub use delivery::{Delivery, EmailDelivery, HttpDelivery, PendingDelivery, RETRY_DELAYS_MS};
pub use event_rules::{EventRuleView, EventTargetView, PutEventEntry, PutEventResult};
pub use signing::Signer;

use crate::{Error, Page, Result, Sluice, Tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_store::{OutboxRecord, PagePosition, SubscriptionRecord, TopicRecord};
use std::collections::BTreeMap;

/// Most topics in the account (AWS's default quota is 100,000; this server keeps fewer).
pub const MAX_TOPICS: usize = 10_000;
/// Most subscriptions per topic.
pub const MAX_SUBSCRIPTIONS_PER_TOPIC: usize = 1_000;
/// Topics and subscriptions per page, as SNS pages them.
const PAGE: usize = 100;
/// Largest message, as SNS limits it.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// How long a confirmation token stays good (SNS: three days).
const CONFIRMATION_MS: i64 = 3 * 24 * 3600 * 1000;
/// The path the signing certificate is served at.
pub const SIGNING_CERT_PATH: &str = "/SimpleNotificationService-sluice.pem";

pub(crate) fn named(code: &'static str, message: impl Into<String>) -> Error {
    Error::Named {
        code,
        message: message.into(),
    }
}

fn invalid(message: impl Into<String>) -> Error {
    named(
        "InvalidParameter",
        format!("Invalid parameter: {}", message.into()),
    )
}

fn not_found(what: &str) -> Error {
    named("NotFound", format!("{what} does not exist"))
}

/// What a topic keeps besides its name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TopicDoc {
    #[serde(default)]
    display_name: String,
    /// "1" (SHA1withRSA, SNS's default) or "2" (SHA256withRSA).
    #[serde(default = "default_signature_version")]
    signature_version: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

fn default_signature_version() -> String {
    "1".into()
}

/// What a subscription keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SubscriptionDoc {
    pub(crate) protocol: String,
    pub(crate) endpoint: String,
    pub(crate) owner: String,
    pub(crate) confirmed: bool,
    #[serde(default)]
    pub(crate) raw: bool,
    #[serde(default)]
    pub(crate) authenticate_on_unsubscribe: bool,
}

/// A subscription as `ListSubscriptions` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    /// `PendingConfirmation` until confirmed.
    pub arn: String,
    pub owner: String,
    pub protocol: String,
    pub endpoint: String,
    pub topic_arn: String,
}

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    /// `MessageStructure=json`: `message` holds a message per protocol and a `default`.
    pub per_protocol: bool,
    /// `MessageAttributes`: name → (data type, string value).
    pub attributes: BTreeMap<String, (String, String)>,
}

/// A publication waiting in the outbox: what fans out to each subscriber.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Publication {
    pub message_id: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub message: String,
    #[serde(default)]
    pub per_protocol: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, (String, String)>,
    pub timestamp_ms: i64,
}

impl Publication {
    /// The outbox row that publishes this to `topic_arn`.
    pub(crate) fn row(&self, id: String, topic_arn: &str, now_ms: i64) -> OutboxRecord {
        OutboxRecord::new(
            id,
            "publish",
            topic_arn.to_string(),
            serde_json::to_string(self).unwrap_or_default(),
            now_ms,
        )
    }
}

/// Where the console shows a pipeline and an approval (the console's pages: `/console/…`).
#[derive(Debug, Clone)]
pub struct ConsoleLinks {
    pub pipeline: String,
}

impl ConsoleLinks {
    pub fn new(sl: &Sluice, pipeline: &str) -> Self {
        Self {
            pipeline: format!("{}/console/pipelines/{pipeline}", sl.public_base()),
        }
    }

    /// The page where an approval is reviewed.
    pub fn approval(&self, stage: &str, action: &str, token: &str) -> String {
        format!(
            "{}/stages/{stage}/actions/{action}/review?token={token}",
            self.pipeline
        )
    }
}

fn valid_topic_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn topic_doc(record: &TopicRecord) -> TopicDoc {
    serde_json::from_str(&record.doc).unwrap_or_default()
}

fn subscription_doc(record: &SubscriptionRecord) -> Result<SubscriptionDoc> {
    serde_json::from_str(&record.doc)
        .map_err(|e| Error::Internal(format!("subscription {}: {e}", record.arn)))
}

impl Sluice {
    pub fn topic_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:sns:{}:{}:{name}",
            self.options().region,
            self.options().account_id
        )
    }

    /// A fresh confirmation token: long, random, hex like SNS's.
    fn confirmation_token(&self) -> String {
        (0..4).map(|_| self.new_id().replace('-', "")).collect()
    }

    /// The base URL subscribers reach this server at.
    fn public_base(&self) -> &str {
        self.options().public_url.trim_end_matches('/')
    }

    pub fn signing_cert_url(&self) -> String {
        format!("{}{SIGNING_CERT_PATH}", self.public_base())
    }

    async fn subscription_record(&self, arn: &str) -> Result<SubscriptionRecord> {
        self.store()
            .subscription(arn)
            .await?
            .ok_or_else(|| not_found("Subscription"))
    }

    async fn topic_record(&self, arn: &str) -> Result<TopicRecord> {
        self.store()
            .topic(arn)
            .await?
            .ok_or_else(|| not_found("Topic"))
    }

    /// `CreateTopic`: idempotent for a name that exists.
    pub async fn create_topic(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: Vec<Tag>,
    ) -> Result<String> {
        if name.ends_with(".fifo") || attributes.get("FifoTopic").is_some_and(|v| v == "true") {
            return Err(invalid(
                "FIFO topics are not supported by this Sluice server; use a standard topic",
            ));
        }
        if !valid_topic_name(name) {
            return Err(invalid(
                "Topic Name: topic names must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
            ));
        }
        let arn = self.topic_arn(name);
        let mut doc = TopicDoc {
            signature_version: default_signature_version(),
            tags,
            ..Default::default()
        };
        for (attribute, value) in attributes {
            apply_topic_attribute(&mut doc, attribute, value)?;
        }
        let record = TopicRecord {
            arn: arn.clone(),
            name: name.to_string(),
            doc: serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?,
            created_ms: self.now_ms(),
        };
        match self.store().create_topic(&record, MAX_TOPICS).await {
            Ok(()) => Ok(arn),
            Err(sluice_store::Error::AlreadyExists(_)) => Ok(arn),
            Err(sluice_store::Error::LimitExceeded(m)) => Err(named(
                "TopicLimitExceeded",
                format!("Topic limit exceeded: {m}"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_topic(&self, arn: &str) -> Result<()> {
        if !self.store().delete_topic(arn).await? {
            return Err(not_found("Topic"));
        }
        Ok(())
    }

    pub async fn list_topics(&self, next_token: Option<&str>) -> Result<Page<String>> {
        let arns: Vec<String> = self
            .store()
            .topics()
            .await?
            .into_iter()
            .map(|t| t.arn)
            .collect();
        crate::pagination::offset_page(&self.inner.tokens, "sns-topics", &arns, PAGE, next_token)
            .map_err(|_| invalid("NextToken"))
    }

    /// `ListTagsForResource`: the tags a topic was created with.
    pub async fn topic_tags(&self, arn: &str) -> Result<Vec<Tag>> {
        Ok(topic_doc(&self.topic_record(arn).await?).tags)
    }

    /// `GetTopicAttributes`: the attributes SNS reports for a standard topic.
    pub async fn topic_attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let record = self.topic_record(arn).await?;
        let doc = topic_doc(&record);
        let subscriptions = self.store().subscriptions(arn).await?;
        let mut confirmed = 0;
        let mut pending = 0;
        for s in &subscriptions {
            if subscription_doc(s)?.confirmed {
                confirmed += 1;
            } else {
                pending += 1;
            }
        }
        let mut out = BTreeMap::new();
        out.insert("TopicArn".into(), record.arn.clone());
        out.insert("Owner".into(), self.options().account_id.clone());
        out.insert("DisplayName".into(), doc.display_name.clone());
        out.insert("SubscriptionsConfirmed".into(), confirmed.to_string());
        out.insert("SubscriptionsPending".into(), pending.to_string());
        out.insert("SubscriptionsDeleted".into(), "0".into());
        out.insert("SignatureVersion".into(), doc.signature_version.clone());
        out.insert(
            "EffectiveDeliveryPolicy".into(),
            delivery::effective_delivery_policy().to_string(),
        );
        Ok(out)
    }

    pub async fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<()> {
        let mut record = self.topic_record(arn).await?;
        let mut doc = topic_doc(&record);
        apply_topic_attribute(&mut doc, name, value)?;
        record.doc = serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        if !self.store().replace_topic(&record).await? {
            return Err(not_found("Topic"));
        }
        Ok(())
    }

    /// `Subscribe`: an HTTP/S endpoint is sent a confirmation request (in the same transaction
    /// as the subscription) and answers `PendingConfirmation` until it confirms.
    pub async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: Option<&str>,
        attributes: &BTreeMap<String, String>,
        owner: &str,
        return_arn: bool,
    ) -> Result<String> {
        let topic = topic_doc(&self.topic_record(topic_arn).await?);
        let endpoint = endpoint.unwrap_or_default();
        match protocol {
            "http" | "https" => {
                let scheme = format!("{protocol}://");
                if !endpoint.starts_with(&scheme) || endpoint.len() <= scheme.len() {
                    return Err(invalid(format!(
                        "Endpoint must match the specified protocol ({protocol})"
                    )));
                }
            }
            "email" | "email-json" => {
                if self.options().smtp_relay.is_none() {
                    return Err(invalid(
                        "Unsupported protocol: this Sluice server has no SMTP relay for email ([notifications] smtp_relay); subscribe an http or https endpoint",
                    ));
                }
                let valid = endpoint.split_once('@').is_some_and(|(user, host)| {
                    !user.is_empty() && (host.contains('.') || host == "localhost")
                }) && !endpoint.chars().any(|c| c.is_whitespace() || c == '<' || c == '>');
                if !valid {
                    return Err(invalid("Invalid email address"));
                }
            }
            "lambda" => {
                let name = self
                    .function_name_of(endpoint, None)
                    .map_err(|_| invalid("Endpoint must be a function ARN for the lambda protocol"))?;
                self.function(&name).await.map_err(|_| {
                    invalid(format!("Endpoint: the function {endpoint} does not exist"))
                })?;
            }
            "sqs" | "sms" | "application" | "firehose" => {
                return Err(invalid(format!(
                    "Unsupported protocol: {protocol} has no self-hosted counterpart on this Sluice server; subscribe an http or https endpoint"
                )))
            }
            other => return Err(invalid(format!("Invalid protocol type: {other}"))),
        }
        let mut doc = SubscriptionDoc {
            protocol: protocol.to_string(),
            endpoint: endpoint.to_string(),
            owner: owner.to_string(),
            confirmed: false,
            raw: false,
            authenticate_on_unsubscribe: false,
        };
        for (name, value) in attributes {
            apply_subscription_attribute(&mut doc, name, value)?;
        }
        // An endpoint already subscribed keeps its subscription, as in SNS.
        for existing in self.store().subscriptions(topic_arn).await? {
            let d = subscription_doc(&existing)?;
            if d.protocol == doc.protocol && d.endpoint == doc.endpoint {
                return Ok(if d.confirmed || return_arn {
                    existing.arn
                } else {
                    "pending confirmation".into()
                });
            }
        }
        let now = self.now_ms();
        let arn = format!("{topic_arn}:{}", self.new_id());
        if protocol == "lambda" {
            // A function subscription needs no confirmation, as in SNS; the function's policy
            // decides whether SNS may invoke it.
            doc.confirmed = true;
            let record = SubscriptionRecord {
                arn: arn.clone(),
                topic_arn: topic_arn.to_string(),
                token: None,
                doc: serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?,
                created_ms: now,
            };
            return match self
                .store()
                .create_subscription(&record, &[], MAX_SUBSCRIPTIONS_PER_TOPIC)
                .await
            {
                Ok(()) => Ok(arn),
                Err(sluice_store::Error::NotFound(_)) => Err(not_found("Topic")),
                Err(sluice_store::Error::LimitExceeded(m)) => Err(named(
                    "SubscriptionLimitExceeded",
                    format!("Subscription limit exceeded: {m}"),
                )),
                Err(e) => Err(e.into()),
            };
        }
        let token = self.confirmation_token();
        let confirmation = HttpDelivery::confirmation(
            self,
            topic_arn,
            &doc,
            &token,
            &topic.signature_version,
            now,
        );
        let record = SubscriptionRecord {
            arn: arn.clone(),
            topic_arn: topic_arn.to_string(),
            token: Some(token),
            doc: serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?,
            created_ms: now,
        };
        let row = if protocol.starts_with("email") {
            let subscribe_url = confirmation.subscribe_url.clone().unwrap_or_default();
            delivery::EmailDelivery {
                to: doc.endpoint.clone(),
                sender_name: topic.display_name.clone(),
                subject: "AWS Notification - Subscription Confirmation".into(),
                text: format!(
                    "You have chosen to subscribe to the topic: \n{topic_arn}\n\nTo confirm this subscription, click or visit the link below (If this was in error no action is necessary): \nConfirm subscription\n{subscribe_url}\n"
                ),
                message_id: confirmation.message_id.clone(),
            }
            .row(self.new_id(), now)
        } else {
            confirmation.row(self.new_id(), now)
        };
        match self
            .store()
            .create_subscription(&record, &[row], MAX_SUBSCRIPTIONS_PER_TOPIC)
            .await
        {
            Ok(()) => {}
            Err(sluice_store::Error::NotFound(_)) => return Err(not_found("Topic")),
            Err(sluice_store::Error::LimitExceeded(m)) => {
                return Err(named(
                    "SubscriptionLimitExceeded",
                    format!("Subscription limit exceeded: {m}"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        self.wake_outbox();
        Ok(if return_arn {
            arn
        } else {
            "pending confirmation".into()
        })
    }

    /// `ConfirmSubscription`, from the API or the `SubscribeURL` a subscriber visits.
    pub async fn confirm_subscription(
        &self,
        topic_arn: &str,
        token: &str,
        authenticate_on_unsubscribe: bool,
    ) -> Result<String> {
        let invalid_token = || invalid("Token");
        let mut record = self
            .store()
            .subscription_by_token(token)
            .await?
            .ok_or_else(invalid_token)?;
        if record.topic_arn != topic_arn {
            return Err(invalid_token());
        }
        if self.now_ms() - record.created_ms > CONFIRMATION_MS {
            return Err(invalid("Token: the confirmation token has expired"));
        }
        let mut doc = subscription_doc(&record)?;
        doc.confirmed = true;
        doc.authenticate_on_unsubscribe = authenticate_on_unsubscribe;
        record.token = None;
        record.doc = serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        if !self.store().replace_subscription(&record).await? {
            return Err(not_found("Subscription"));
        }
        Ok(record.arn)
    }

    /// `Unsubscribe`; `signed` is false for a visit to a message's `UnsubscribeURL`, which a
    /// subscription confirmed with `AuthenticateOnUnsubscribe` refuses.
    pub async fn unsubscribe(&self, arn: &str, signed: bool) -> Result<()> {
        let record = self.subscription_record(arn).await?;
        let doc = subscription_doc(&record)?;
        if !signed && doc.authenticate_on_unsubscribe {
            return Err(named(
                "AuthorizationError",
                "This subscription requires an authenticated Unsubscribe call",
            ));
        }
        let now = self.now_ms();
        // SNS tells an HTTP/S endpoint that its subscription ended; nobody else.
        let signature_version = match self.store().topic(&record.topic_arn).await? {
            Some(topic) => topic_doc(&topic).signature_version,
            None => default_signature_version(),
        };
        let goodbye = (doc.confirmed && doc.protocol.starts_with("http")).then(|| {
            HttpDelivery::unsubscribed(self, &record, &doc, &signature_version, now)
                .row(self.new_id(), now)
        });
        self.store()
            .delete_subscription(arn, goodbye.as_slice())
            .await?;
        self.wake_outbox();
        Ok(())
    }

    pub async fn list_subscriptions(
        &self,
        topic_arn: Option<&str>,
        next_token: Option<&str>,
    ) -> Result<Page<SubscriptionView>> {
        if let Some(topic) = topic_arn {
            self.topic_record(topic).await?;
        }
        let scope = format!("sns-subscriptions:{}", topic_arn.unwrap_or("*"));
        let after = next_token
            .map(|t| crate::pagination::position_of(&self.inner.tokens, &scope, t))
            .transpose()
            .map_err(|_| invalid("NextToken"))?;
        let mut records = self
            .store()
            .subscription_page(topic_arn, after.as_ref(), PAGE + 1)
            .await?;
        let next_token = crate::pagination::next_page_token(
            &self.inner.tokens,
            &scope,
            &mut records,
            PAGE,
            |record| PagePosition {
                created_ms: record.created_ms,
                name: record.arn.clone(),
            },
        );
        let mut items = Vec::with_capacity(records.len());
        for record in records {
            let doc = subscription_doc(&record)?;
            items.push(SubscriptionView {
                arn: if doc.confirmed {
                    record.arn.clone()
                } else {
                    "PendingConfirmation".into()
                },
                owner: doc.owner,
                protocol: doc.protocol,
                endpoint: doc.endpoint,
                topic_arn: record.topic_arn,
            });
        }
        Ok(Page { items, next_token })
    }

    /// `GetSubscriptionAttributes`.
    pub async fn subscription_attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let record = self.subscription_record(arn).await?;
        let doc = subscription_doc(&record)?;
        let mut out = BTreeMap::new();
        out.insert("SubscriptionArn".into(), record.arn.clone());
        out.insert("TopicArn".into(), record.topic_arn.clone());
        out.insert("Owner".into(), doc.owner.clone());
        out.insert("Protocol".into(), doc.protocol.clone());
        out.insert("Endpoint".into(), doc.endpoint.clone());
        out.insert("PendingConfirmation".into(), (!doc.confirmed).to_string());
        out.insert(
            "ConfirmationWasAuthenticated".into(),
            doc.authenticate_on_unsubscribe.to_string(),
        );
        out.insert("RawMessageDelivery".into(), doc.raw.to_string());
        out.insert(
            "EffectiveDeliveryPolicy".into(),
            delivery::effective_delivery_policy().to_string(),
        );
        Ok(out)
    }

    /// `SetSubscriptionAttributes`.
    pub async fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: &str,
    ) -> Result<()> {
        let mut record = self.subscription_record(arn).await?;
        let mut doc = subscription_doc(&record)?;
        apply_subscription_attribute(&mut doc, name, value)?;
        record.doc = serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        if !self.store().replace_subscription(&record).await? {
            return Err(not_found("Subscription"));
        }
        Ok(())
    }

    /// `Publish`: the message is in the outbox when this returns its id.
    pub async fn publish(&self, request: PublishRequest) -> Result<String> {
        self.topic_record(&request.topic_arn).await?;
        if request.message.is_empty() {
            return Err(invalid("Empty message"));
        }
        if request.message.len() > MAX_MESSAGE_BYTES {
            return Err(invalid("Message too long"));
        }
        if let Some(subject) = &request.subject {
            let printable = subject.chars().all(|c| !c.is_control());
            if subject.is_empty() || subject.chars().count() > 100 || !printable {
                return Err(invalid("Subject"));
            }
        }
        if request.per_protocol {
            let parsed: Value = serde_json::from_str(&request.message)
                .map_err(|_| invalid("Message Structure - JSON message body failed to parse"))?;
            if !parsed.get("default").is_some_and(Value::is_string) {
                return Err(invalid(
                    "Message Structure - No default entry in JSON message body",
                ));
            }
        }
        for (name, (data_type, _)) in &request.attributes {
            let known = ["String", "Number", "Binary", "String.Array"];
            if !known
                .iter()
                .any(|k| data_type == k || data_type.starts_with(&format!("{k}.")))
            {
                return Err(invalid(format!(
                    "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
                )));
            }
        }
        let now = self.now_ms();
        let message_id = self.new_id();
        let publication = Publication {
            message_id: message_id.clone(),
            subject: request.subject,
            message: request.message,
            per_protocol: request.per_protocol,
            attributes: request.attributes,
            timestamp_ms: now,
        };
        self.store()
            .enqueue(&[publication.row(self.new_id(), &request.topic_arn, now)])
            .await?;
        self.wake_outbox();
        Ok(message_id)
    }
}

fn apply_topic_attribute(doc: &mut TopicDoc, name: &str, value: &str) -> Result<()> {
    match name {
        "DisplayName" => {
            if value.chars().count() > 100 {
                return Err(invalid("DisplayName: at most 100 characters"));
            }
            doc.display_name = value.to_string();
        }
        "SignatureVersion" => {
            if value != "1" && value != "2" {
                return Err(invalid("Attribute Name: SignatureVersion must be 1 or 2"));
            }
            doc.signature_version = value.to_string();
        }
        "FifoTopic" if value == "false" => {}
        "Policy" | "DeliveryPolicy" | "KmsMasterKeyId" | "TracingConfig" | "ArchivePolicy"
        | "DataProtectionPolicy" | "ContentBasedDeduplication" | "FifoTopic"
        | "FifoThroughputScope" => {
            return Err(invalid(format!(
                "Attribute Name: {name} is not supported by this Sluice server (access is decided by IAM policies; delivery retries follow the server's fixed policy)"
            )))
        }
        other => return Err(invalid(format!("Attribute Name: {other}"))),
    }
    Ok(())
}

fn apply_subscription_attribute(doc: &mut SubscriptionDoc, name: &str, value: &str) -> Result<()> {
    match name {
        "RawMessageDelivery" => match value.to_ascii_lowercase().as_str() {
            "true" => doc.raw = true,
            "false" => doc.raw = false,
            _ => return Err(invalid("RawMessageDelivery: must be true or false")),
        },
        "FilterPolicy"
        | "FilterPolicyScope"
        | "DeliveryPolicy"
        | "RedrivePolicy"
        | "SubscriptionRoleArn"
        | "ReplayPolicy" => {
            return Err(invalid(format!(
                "Attribute Name: {name} is not supported by this Sluice server"
            )))
        }
        other => return Err(invalid(format!("Attribute Name: {other}"))),
    }
    Ok(())
}
