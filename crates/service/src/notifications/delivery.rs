//! The dispatcher's side of the outbox: a publication fans out to one row per confirmed
//! subscriber, an event to one row per matching rule's target, a rule's pipeline target starts
//! its pipeline; HTTP rows go to the server, which posts them and reports back here. Each step
//! replaces its row with what it caused in one transaction, so a crash repeats at most the
//! delivery in flight (at-least-once) and never loses one.

use super::{named, Publication, SubscriptionDoc};
use crate::{Error, Result, Sluice};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sluice_events::sns::{confirmation_text, Message, MessageType};
use sluice_store::{OutboxRecord, SubscriptionRecord};

/// When a failed HTTP delivery is tried again, after each failure in turn; after the last it
/// is recorded as undelivered. About 26 minutes in all.
pub const RETRY_DELAYS_MS: [i64; 5] = [1_000, 10_000, 60_000, 300_000, 1_200_000];

/// `EffectiveDeliveryPolicy`, as SNS reports it, describing the retries above.
pub fn effective_delivery_policy() -> Value {
    json!({"http": {
        "defaultHealthyRetryPolicy": {
            "minDelayTarget": 1, "maxDelayTarget": 1200, "numRetries": RETRY_DELAYS_MS.len(),
            "numMaxDelayRetries": 1, "numNoDelayRetries": 0, "numMinDelayRetries": 1,
            "backoffFunction": "exponential"
        },
        "disableSubscriptionOverrides": false,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}
    }})
}

/// One HTTP/S delivery to one endpoint: the body of an `http` outbox row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HttpDelivery {
    /// `Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    #[serde(default)]
    pub subscription_arn: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    pub message: String,
    pub timestamp_ms: i64,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub subscribe_url: Option<String>,
    #[serde(default)]
    pub unsubscribe_url: Option<String>,
    #[serde(default)]
    pub attributes: Option<Value>,
    pub signature_version: String,
    /// `RawMessageDelivery`: the body is the message alone.
    #[serde(default)]
    pub raw: bool,
    pub endpoint: String,
}

/// One email to one address: the body of an `email` outbox row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmailDelivery {
    pub to: String,
    /// The topic's `DisplayName`, shown as the sender's name.
    #[serde(default)]
    pub sender_name: String,
    pub subject: String,
    pub text: String,
    pub message_id: String,
}

impl EmailDelivery {
    pub(crate) fn row(&self, id: String, now_ms: i64) -> OutboxRecord {
        OutboxRecord::new(
            id,
            "email",
            self.to.clone(),
            serde_json::to_string(self).unwrap_or_default(),
            now_ms,
        )
    }
}

/// What a due delivery is.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Http(HttpDelivery),
    Email(EmailDelivery),
}

impl Delivery {
    /// Where it goes (a URL or an address), for logs and the undelivered record.
    pub fn destination(&self) -> &str {
        match self {
            Delivery::Http(h) => &h.endpoint,
            Delivery::Email(e) => &e.to,
        }
    }
}

/// A delivery due now, handed to the server.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub id: String,
    pub attempts: i64,
    pub delivery: Delivery,
}

impl HttpDelivery {
    fn message_type(&self) -> MessageType {
        match self.kind.as_str() {
            "SubscriptionConfirmation" => MessageType::SubscriptionConfirmation,
            "UnsubscribeConfirmation" => MessageType::UnsubscribeConfirmation,
            _ => MessageType::Notification,
        }
    }

    fn document(&self) -> Message {
        Message {
            kind: self.message_type(),
            message_id: self.message_id.clone(),
            topic_arn: self.topic_arn.clone(),
            subject: self.subject.clone(),
            message: self.message.clone(),
            timestamp_ms: self.timestamp_ms,
            token: self.token.clone(),
            subscribe_url: self.subscribe_url.clone(),
            unsubscribe_url: self.unsubscribe_url.clone(),
            attributes: self.attributes.clone(),
        }
    }

    /// The request body, signed with `signer` unless it is a raw delivery.
    pub fn body(&self, signer: &super::Signer, signing_cert_url: &str) -> String {
        if self.raw && self.message_type() == MessageType::Notification {
            return self.message.clone();
        }
        let document = self.document();
        let signature = signer.sign(&self.signature_version, &document.string_to_sign());
        document
            .document(&self.signature_version, &signature, signing_cert_url)
            .to_string()
    }

    /// The headers SNS sends with it.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("x-amz-sns-message-type", self.kind.clone()),
            ("x-amz-sns-message-id", self.message_id.clone()),
            ("x-amz-sns-topic-arn", self.topic_arn.clone()),
            ("content-type", "text/plain; charset=UTF-8".to_string()),
            (
                "user-agent",
                "Amazon Simple Notification Service Agent".to_string(),
            ),
        ];
        if let Some(arn) = &self.subscription_arn {
            headers.push(("x-amz-sns-subscription-arn", arn.clone()));
        }
        if self.raw {
            headers.push(("x-amz-sns-rawdelivery", "true".to_string()));
        }
        headers
    }

    pub(crate) fn row(&self, id: String, now_ms: i64) -> OutboxRecord {
        OutboxRecord::new(
            id,
            "http",
            self.endpoint.clone(),
            serde_json::to_string(self).unwrap_or_default(),
            now_ms,
        )
    }

    pub(crate) fn confirmation(
        sl: &Sluice,
        topic_arn: &str,
        doc: &SubscriptionDoc,
        token: &str,
        signature_version: &str,
        now_ms: i64,
    ) -> Self {
        HttpDelivery {
            kind: "SubscriptionConfirmation".into(),
            message_id: sl.new_id(),
            topic_arn: topic_arn.to_string(),
            subscription_arn: None,
            subject: None,
            message: confirmation_text(topic_arn),
            timestamp_ms: now_ms,
            token: Some(token.to_string()),
            subscribe_url: Some(format!(
                "{}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
                sl.public_base()
            )),
            unsubscribe_url: None,
            attributes: None,
            signature_version: signature_version.to_string(),
            raw: false,
            endpoint: doc.endpoint.clone(),
        }
    }

    pub(crate) fn unsubscribed(
        sl: &Sluice,
        record: &SubscriptionRecord,
        doc: &SubscriptionDoc,
        signature_version: &str,
        now_ms: i64,
    ) -> Self {
        let token = sl.confirmation_token();
        HttpDelivery {
            kind: "UnsubscribeConfirmation".into(),
            message_id: sl.new_id(),
            topic_arn: record.topic_arn.clone(),
            subscription_arn: Some(record.arn.clone()),
            subject: None,
            message: format!(
                "You have chosen to deactivate subscription {}.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.",
                record.arn
            ),
            timestamp_ms: now_ms,
            subscribe_url: Some(format!(
                "{}/?Action=ConfirmSubscription&TopicArn={}&Token={token}",
                sl.public_base(),
                record.topic_arn
            )),
            token: Some(token),
            unsubscribe_url: None,
            attributes: None,
            signature_version: signature_version.to_string(),
            raw: false,
            endpoint: doc.endpoint.clone(),
        }
    }
}

/// `MessageAttributes` as SNS posts them to HTTP endpoints.
fn attributes_document(publication: &Publication) -> Option<Value> {
    if publication.attributes.is_empty() {
        return None;
    }
    let mut out = Map::new();
    for (name, (data_type, value)) in &publication.attributes {
        out.insert(name.clone(), json!({"Type": data_type, "Value": value}));
    }
    Some(Value::Object(out))
}

impl Sluice {
    /// Installs what is told that outbox rows were committed (the server wakes its
    /// dispatcher), replacing the one before: a server that stops leading and leads again
    /// starts a new dispatcher.
    pub fn set_outbox_listener(&self, listener: std::sync::Arc<dyn Fn() + Send + Sync>) {
        *self
            .inner
            .outbox_listener
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    pub(crate) fn wake_outbox(&self) {
        let listener = self
            .inner
            .outbox_listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(listener) = listener {
            listener();
        }
    }

    /// One pass of the dispatcher: fans out the due publications and events, starts the
    /// pipelines rules target, and returns the HTTP deliveries due now (at most `limit` rows
    /// are read). `more` is true when the pass changed the queue and another is worth making.
    pub async fn outbox_pass(&self, limit: usize) -> Result<(Vec<PendingDelivery>, bool)> {
        let now = self.now_ms();
        let rows = self.store().due_outbox(now, limit).await?;
        let mut more = rows.len() >= limit;
        let mut deliveries = Vec::new();
        for row in rows {
            match row.kind.as_str() {
                "publish" => {
                    match self.fan_out(&row, now).await {
                        Ok(into) => {
                            self.store().expand_outbox(&row.id, &into).await?;
                        }
                        Err(e) => self.undeliverable(&row, &e.to_string()).await?,
                    }
                    more = true;
                }
                "event" => {
                    let into = self.route_event(&row, now).await?;
                    self.store().expand_outbox(&row.id, &into).await?;
                    more = true;
                }
                "invoke" => {
                    match self.run_queued_invocation(&row.topic, &row.body).await {
                        Ok(_) => self.store().outbox_delivered(&row.id).await?,
                        Err(e) => self.undeliverable(&row, &e.to_string()).await?,
                    }
                    more = true;
                }
                "start" => {
                    match self.start_from_rule(&row).await {
                        Ok(()) => self.store().outbox_delivered(&row.id).await?,
                        Err(e) => self.undeliverable(&row, &e.to_string()).await?,
                    }
                    more = true;
                }
                "email" => match serde_json::from_str::<EmailDelivery>(&row.body) {
                    Ok(email) => deliveries.push(PendingDelivery {
                        id: row.id.clone(),
                        attempts: row.attempts,
                        delivery: Delivery::Email(email),
                    }),
                    Err(e) => {
                        self.undeliverable(&row, &format!("unreadable delivery: {e}"))
                            .await?
                    }
                },
                "http" => match serde_json::from_str::<HttpDelivery>(&row.body) {
                    Ok(delivery) => deliveries.push(PendingDelivery {
                        id: row.id.clone(),
                        attempts: row.attempts,
                        delivery: Delivery::Http(delivery),
                    }),
                    Err(e) => {
                        self.undeliverable(&row, &format!("unreadable delivery: {e}"))
                            .await?
                    }
                },
                other => {
                    self.undeliverable(&row, &format!("unknown outbox row kind {other}"))
                        .await?
                }
            }
        }
        Ok((deliveries, more))
    }

    async fn undeliverable(&self, row: &OutboxRecord, error: &str) -> Result<()> {
        tracing::warn!(id = %row.id, kind = %row.kind, to = %row.topic, error, "a message could not be delivered");
        self.store()
            .outbox_undeliverable(&row.id, error, self.now_ms())
            .await?;
        Ok(())
    }

    /// A delivery the endpoint accepted (a 2xx answer).
    pub async fn delivery_succeeded(&self, id: &str) -> Result<()> {
        Ok(self.store().outbox_delivered(id).await?)
    }

    /// A delivery that failed: tried again later, or recorded as undelivered after the last
    /// retry.
    pub async fn delivery_failed(&self, pending: &PendingDelivery, error: &str) -> Result<()> {
        let attempts = pending.attempts + 1;
        match RETRY_DELAYS_MS.get(attempts as usize - 1) {
            Some(delay) => {
                tracing::info!(id = %pending.id, to = %pending.delivery.destination(), attempts, error, "delivery failed; retrying");
                self.store()
                    .outbox_retry(&pending.id, attempts, self.now_ms() + delay)
                    .await?;
            }
            None => {
                let kind = match pending.delivery {
                    Delivery::Http(_) => "http",
                    Delivery::Email(_) => "email",
                };
                let row = OutboxRecord {
                    id: pending.id.clone(),
                    kind: kind.into(),
                    topic: pending.delivery.destination().to_string(),
                    body: String::new(),
                    created_ms: 0,
                    attempts,
                    due_ms: 0,
                };
                self.store().outbox_retry(&pending.id, attempts, 0).await?;
                self.undeliverable(&row, &format!("after {attempts} attempts: {error}"))
                    .await?;
            }
        }
        Ok(())
    }

    /// When the next retry comes due, if one waits.
    pub async fn next_outbox_due(&self) -> Result<Option<i64>> {
        Ok(self.store().next_outbox_due().await?)
    }

    /// The messages that could not be delivered, newest first.
    pub async fn undelivered(&self, limit: usize) -> Result<Vec<sluice_store::UndeliveredRecord>> {
        Ok(self.store().undelivered(limit).await?)
    }

    /// The event SNS invokes a function with (`Records[0].Sns`), signed like an HTTP delivery.
    async fn sns_lambda_event(
        &self,
        topic_arn: &str,
        subscription_arn: &str,
        publication: &Publication,
        message: &str,
        signature_version: &str,
    ) -> Result<Value> {
        let document = Message {
            kind: MessageType::Notification,
            message_id: publication.message_id.clone(),
            topic_arn: topic_arn.to_string(),
            subject: publication.subject.clone(),
            message: message.to_string(),
            timestamp_ms: publication.timestamp_ms,
            token: None,
            subscribe_url: None,
            unsubscribe_url: None,
            attributes: None,
        };
        let signer = self.notification_signer().await?;
        let signature = signer.sign(signature_version, &document.string_to_sign());
        Ok(json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": {
                "Type": "Notification",
                "MessageId": publication.message_id,
                "TopicArn": topic_arn,
                "Subject": publication.subject,
                "Message": message,
                "Timestamp": sluice_model::time::iso_millis(publication.timestamp_ms),
                "SignatureVersion": signature_version,
                "Signature": signature,
                "SigningCertUrl": self.signing_cert_url(),
                "UnsubscribeUrl": format!("{}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}", self.public_base()),
                "MessageAttributes": attributes_document(publication).unwrap_or_else(|| json!({})),
            }
        }]}))
    }

    /// One row per confirmed subscriber of the publication's topic.
    async fn fan_out(&self, row: &OutboxRecord, now: i64) -> Result<Vec<OutboxRecord>> {
        let topic = self
            .store()
            .topic(&row.topic)
            .await?
            .ok_or_else(|| named("NotFound", format!("topic {} does not exist", row.topic)))?;
        let signature_version = super::topic_doc(&topic).signature_version;
        let publication: Publication = serde_json::from_str(&row.body)
            .map_err(|e| Error::Internal(format!("unreadable publication: {e}")))?;
        let per_protocol: Option<Value> = publication
            .per_protocol
            .then(|| serde_json::from_str(&publication.message).ok())
            .flatten();
        let mut into = Vec::new();
        for subscription in self.store().subscriptions(&row.topic).await? {
            let doc = super::subscription_doc(&subscription)?;
            if !doc.confirmed {
                continue;
            }
            let message = per_protocol
                .as_ref()
                .and_then(|m| m.get(&doc.protocol).or_else(|| m.get("default")))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| publication.message.clone());
            if doc.protocol == "email" || doc.protocol == "email-json" {
                let unsubscribe = format!(
                    "{}/?Action=Unsubscribe&SubscriptionArn={}",
                    self.public_base(),
                    subscription.arn
                );
                let text = if doc.protocol == "email-json" {
                    let document = Message {
                        kind: MessageType::Notification,
                        message_id: publication.message_id.clone(),
                        topic_arn: row.topic.clone(),
                        subject: publication.subject.clone(),
                        message: message.clone(),
                        timestamp_ms: publication.timestamp_ms,
                        token: None,
                        subscribe_url: None,
                        unsubscribe_url: Some(unsubscribe),
                        attributes: attributes_document(&publication),
                    };
                    let signer = self.notification_signer().await?;
                    let signature = signer.sign(&signature_version, &document.string_to_sign());
                    document
                        .document(&signature_version, &signature, &self.signing_cert_url())
                        .to_string()
                } else {
                    format!(
                        "{message}\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n{unsubscribe}\n"
                    )
                };
                let email = EmailDelivery {
                    to: doc.endpoint.clone(),
                    sender_name: super::topic_doc(&topic).display_name,
                    subject: publication
                        .subject
                        .clone()
                        .unwrap_or_else(|| "AWS Notification Message".into()),
                    text,
                    message_id: publication.message_id.clone(),
                };
                into.push(email.row(self.new_id(), now));
                continue;
            }
            if doc.protocol == "lambda" {
                let event = self
                    .sns_lambda_event(
                        &row.topic,
                        &subscription.arn,
                        &publication,
                        &message,
                        &signature_version,
                    )
                    .await?;
                let function = doc.endpoint.rsplit(':').next().unwrap_or_default();
                let queued = crate::functions::QueuedInvocation {
                    payload: event.to_string(),
                    by: Some(crate::functions::InvokedBy {
                        service: "sns.amazonaws.com".into(),
                        source_arn: row.topic.clone(),
                    }),
                };
                into.push(queued.row(self.new_id(), function, now));
                continue;
            }
            let delivery = HttpDelivery {
                kind: "Notification".into(),
                message_id: publication.message_id.clone(),
                topic_arn: row.topic.clone(),
                subscription_arn: Some(subscription.arn.clone()),
                subject: publication.subject.clone(),
                message,
                timestamp_ms: publication.timestamp_ms,
                token: None,
                subscribe_url: None,
                unsubscribe_url: Some(format!(
                    "{}/?Action=Unsubscribe&SubscriptionArn={}",
                    self.public_base(),
                    subscription.arn
                )),
                attributes: attributes_document(&publication),
                signature_version: signature_version.clone(),
                raw: doc.raw,
                endpoint: doc.endpoint.clone(),
            };
            into.push(delivery.row(self.new_id(), now));
        }
        Ok(into)
    }
}
