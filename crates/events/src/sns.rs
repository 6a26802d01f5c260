//! SNS's message documents: what an HTTP/S subscriber receives (`Notification`,
//! `SubscriptionConfirmation`, `UnsubscribeConfirmation`), the exact string its signature covers
//! (AWS's "Verifying the signatures of Amazon SNS messages"), and CodePipeline's approval request.

use serde_json::{json, Map, Value};
use sluice_model::time::{iso_millis, iso_minutes};

/// The kinds of message SNS posts to an HTTP/S endpoint (`x-amz-sns-message-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Notification => "Notification",
            MessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// One message to one endpoint, before it is signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: MessageType,
    pub message_id: String,
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    pub timestamp_ms: i64,
    /// Confirmation messages: the token and the URL that confirms with it.
    pub token: Option<String>,
    pub subscribe_url: Option<String>,
    /// Notifications: the URL that ends the subscription.
    pub unsubscribe_url: Option<String>,
    /// Notifications: `MessageAttributes` as SNS posts them (`{"Type": …, "Value": …}`).
    pub attributes: Option<Value>,
}

impl Message {
    /// The string the signature covers: `Name\nvalue\n` for each signed field, in AWS's order.
    pub fn string_to_sign(&self) -> String {
        let timestamp = iso_millis(self.timestamp_ms);
        let mut fields: Vec<(&str, &str)> =
            vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.kind {
            MessageType::Notification => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
                fields.push(("Timestamp", &timestamp));
                fields.push(("TopicArn", &self.topic_arn));
            }
            MessageType::SubscriptionConfirmation | MessageType::UnsubscribeConfirmation => {
                fields.push(("SubscribeURL", self.subscribe_url.as_deref().unwrap_or("")));
                fields.push(("Timestamp", &timestamp));
                fields.push(("Token", self.token.as_deref().unwrap_or("")));
                fields.push(("TopicArn", &self.topic_arn));
            }
        }
        fields.push(("Type", self.kind.as_str()));
        let mut out = String::new();
        for (name, value) in fields {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        }
        out
    }

    /// The JSON document posted to the endpoint, with its signature.
    pub fn document(
        &self,
        signature_version: &str,
        signature: &str,
        signing_cert_url: &str,
    ) -> Value {
        let mut doc = Map::new();
        let mut put = |name: &str, value: Value| {
            doc.insert(name.to_string(), value);
        };
        put("Type", json!(self.kind.as_str()));
        put("MessageId", json!(self.message_id));
        if let Some(token) = &self.token {
            put("Token", json!(token));
        }
        put("TopicArn", json!(self.topic_arn));
        if let Some(subject) = &self.subject {
            put("Subject", json!(subject));
        }
        put("Message", json!(self.message));
        if let Some(url) = &self.subscribe_url {
            put("SubscribeURL", json!(url));
        }
        put("Timestamp", json!(iso_millis(self.timestamp_ms)));
        put("SignatureVersion", json!(signature_version));
        put("Signature", json!(signature));
        put("SigningCertURL", json!(signing_cert_url));
        if let Some(url) = &self.unsubscribe_url {
            put("UnsubscribeURL", json!(url));
        }
        if let Some(attributes) = &self.attributes {
            put("MessageAttributes", attributes.clone());
        }
        Value::Object(doc)
    }
}

/// The text of a subscription confirmation request, as SNS words it.
pub fn confirmation_text(topic_arn: &str) -> String {
    format!(
        "You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."
    )
}

/// A manual approval's request, as the guide's "JSON Data Format for Manual Approval
/// Notifications" shapes it.
#[derive(Debug, Clone)]
pub struct ApprovalRequest<'a> {
    pub region: &'a str,
    pub console_link: &'a str,
    pub pipeline: &'a str,
    pub stage: &'a str,
    pub action: &'a str,
    pub token: &'a str,
    pub expires_ms: i64,
    pub external_entity_link: Option<&'a str>,
    pub approval_review_link: &'a str,
    pub custom_data: Option<&'a str>,
}

impl ApprovalRequest<'_> {
    /// The notification's subject.
    pub fn subject(&self) -> String {
        format!(
            "APPROVAL NEEDED: AWS CodePipeline {} for action {}",
            self.pipeline, self.action
        )
    }

    /// The notification's message: the guide's JSON document.
    pub fn message(&self) -> Value {
        let mut approval = Map::new();
        approval.insert("pipelineName".into(), json!(self.pipeline));
        approval.insert("stageName".into(), json!(self.stage));
        approval.insert("actionName".into(), json!(self.action));
        approval.insert("token".into(), json!(self.token));
        approval.insert("expires".into(), json!(iso_minutes(self.expires_ms)));
        if let Some(link) = self.external_entity_link {
            approval.insert("externalEntityLink".into(), json!(link));
        }
        approval.insert(
            "approvalReviewLink".into(),
            json!(self.approval_review_link),
        );
        if let Some(data) = self.custom_data {
            approval.insert("customData".into(), json!(data));
        }
        json!({"region": self.region, "consoleLink": self.console_link, "approval": approval})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification() -> Message {
        Message {
            kind: MessageType::Notification,
            message_id: "m1".into(),
            topic_arn: "arn:aws:sns:us-east-1:111122223333:T".into(),
            subject: Some("Hi".into()),
            message: "body".into(),
            timestamp_ms: 1_700_000_000_655,
            token: None,
            subscribe_url: None,
            unsubscribe_url: Some("http://x/?Action=Unsubscribe".into()),
            attributes: None,
        }
    }

    #[test]
    fn a_notification_signs_message_id_subject_timestamp_topic_and_type_in_order() {
        assert_eq!(
            notification().string_to_sign(),
            "Message\nbody\nMessageId\nm1\nSubject\nHi\nTimestamp\n2023-11-14T22:13:20.655Z\n\
             TopicArn\narn:aws:sns:us-east-1:111122223333:T\nType\nNotification\n"
        );
        let mut no_subject = notification();
        no_subject.subject = None;
        assert!(!no_subject.string_to_sign().contains("Subject"));
    }

    #[test]
    fn a_confirmation_signs_its_subscribe_url_and_token() {
        let m = Message {
            kind: MessageType::SubscriptionConfirmation,
            token: Some("tok".into()),
            subscribe_url: Some("http://x/?Action=ConfirmSubscription".into()),
            subject: None,
            unsubscribe_url: None,
            ..notification()
        };
        assert_eq!(
            m.string_to_sign(),
            "Message\nbody\nMessageId\nm1\nSubscribeURL\nhttp://x/?Action=ConfirmSubscription\n\
             Timestamp\n2023-11-14T22:13:20.655Z\nToken\ntok\nTopicArn\narn:aws:sns:us-east-1:111122223333:T\n\
             Type\nSubscriptionConfirmation\n"
        );
        let doc = m.document("1", "c2ln", "http://x/cert.pem");
        assert_eq!(doc["Token"], "tok");
        assert_eq!(doc["SigningCertURL"], "http://x/cert.pem");
        assert!(doc.get("UnsubscribeURL").is_none());
    }

    #[test]
    fn the_approval_request_is_the_guides_document() {
        let r = ApprovalRequest {
            region: "us-east-1",
            console_link: "http://s/console/pipelines/P",
            pipeline: "P",
            stage: "Approve",
            action: "Manual",
            token: "t",
            expires_ms: 1_700_000_000_000,
            external_entity_link: Some("http://example.com"),
            approval_review_link: "http://s/console/review",
            custom_data: None,
        };
        let m = r.message();
        assert_eq!(m["approval"]["expires"], "2023-11-14T22:13Z");
        assert_eq!(m["approval"]["externalEntityLink"], "http://example.com");
        assert!(m["approval"].get("customData").is_none());
        assert_eq!(
            r.subject(),
            "APPROVAL NEEDED: AWS CodePipeline P for action Manual"
        );
    }
}
