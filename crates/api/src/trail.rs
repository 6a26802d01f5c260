//! CloudTrail-format events of API calls, as the guide's "Understanding AWS CodePipeline Log
//! File Entries" shows them, with secrets hidden before anything is written.

use serde_json::{json, Value};
use sluice_service::{Caller, NewAuditEvent, PrincipalKind, RequestInfo, Sluice};

/// What CloudTrail writes in place of a sensitive value.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Field names whose values never reach the trail, in any service's request or response.
const SENSITIVE_FIELDS: &[&str] = &[
    "secretaccesskey",
    "sessiontoken",
    "secrettoken",
    "password",
    "oauthtoken",
    "approvaltoken",
    "x-amz-security-token",
];

/// Hides every sensitive field, at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if SENSITIVE_FIELDS.contains(&k.to_ascii_lowercase().as_str()) && !v.is_null() {
                    *v = Value::String(HIDDEN.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Masks the secret configuration properties of every action of a pipeline declaration in
/// place (`pipeline.stages[].actions[].configuration`), by the action types' own definitions.
pub async fn mask_pipeline_secrets(sluice: &Sluice, value: &mut Value) {
    let Some(stages) = value
        .get_mut("pipeline")
        .and_then(|p| p.get_mut("stages"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let types = sluice.action_types_known().await.unwrap_or_default();
    for action in stages
        .iter_mut()
        .filter_map(|s| s.get_mut("actions").and_then(Value::as_array_mut))
        .flatten()
    {
        let id = &action["actionTypeId"];
        let field = |k: &str| {
            id.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (category, owner, provider, version) = (
            field("category"),
            field("owner"),
            field("provider"),
            field("version"),
        );
        let found = types.iter().find(|t| {
            t.id.category == category
                && t.id.owner == owner
                && t.id.provider == provider
                && t.id.version == version
        });
        let Some(config) = action
            .get_mut("configuration")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (k, v) in config.iter_mut() {
            // An unknown type's values are all treated as secret: nothing proves they are not.
            if found.is_none_or(|t| t.is_secret(k)) {
                *v = Value::String(sluice_model::SECRET_MASK.into());
            }
        }
    }
}

/// Reads that change nothing; CloudTrail leaves their `responseElements` out.
pub fn is_read_only(event_name: &str) -> bool {
    ["Get", "List", "Describe", "Lookup", "Head"]
        .iter()
        .any(|p| event_name.starts_with(p))
}

/// One call, as the trail records it.
pub struct Call<'a> {
    pub caller: Option<&'a Caller>,
    /// The key id the request named, even when it did not authenticate.
    pub access_key_id: Option<String>,
    pub event_source: &'static str,
    pub event_name: String,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    pub error: Option<(String, String)>,
    pub request_id: &'a str,
    pub info: &'a RequestInfo,
    pub resources: Vec<(String, String)>,
}

fn user_identity(sluice: &Sluice, call: &Call<'_>) -> Value {
    let account = &sluice.options().account_id;
    match call.caller {
        None => json!({
            "type": "Unknown",
            "accessKeyId": call.access_key_id,
        }),
        Some(c) => match &c.principal {
            None => json!({
                "type": "Root",
                "principalId": account,
                "arn": c.arn,
                "accountId": account,
                "accessKeyId": c.access_key_id,
            }),
            Some((PrincipalKind::User, name)) => json!({
                "type": "IAMUser",
                "principalId": c.principal_id,
                "arn": c.arn,
                "accountId": account,
                "accessKeyId": c.access_key_id,
                "userName": name,
            }),
            Some((_, name)) => json!({
                "type": "AssumedRole",
                "principalId": c.principal_id,
                "arn": c.arn,
                "accountId": account,
                "accessKeyId": c.access_key_id,
                "sessionContext": {"sessionIssuer": {"type": "Role", "userName": name}},
            }),
        },
    }
}

/// The event for a call, ready to append to the chain.
pub fn event(sluice: &Sluice, call: Call<'_>) -> NewAuditEvent {
    event_with_id(sluice, call, sluice.new_id())
}

/// The event for a call whose pending record (`begin_audit`) has this id.
pub fn event_with_id(sluice: &Sluice, mut call: Call<'_>, event_id: String) -> NewAuditEvent {
    let now = sluice.now_ms();
    let read_only = is_read_only(&call.event_name);
    if let Some(v) = call.request_parameters.as_mut() {
        redact(v);
    }
    let mut response = if read_only || call.error.is_some() {
        None
    } else {
        call.response_elements.take()
    };
    if let Some(v) = response.as_mut() {
        redact(v);
    }
    let mut doc = json!({
        "eventVersion": "1.08",
        "userIdentity": user_identity(sluice, &call),
        "eventTime": sluice_model::time::iso_seconds(now),
        "eventSource": call.event_source,
        "eventName": call.event_name,
        "awsRegion": sluice.options().region,
        "sourceIPAddress": call.info.source_ip,
        "userAgent": call.info.user_agent,
        "requestParameters": call.request_parameters,
        "responseElements": response,
        "requestID": call.request_id,
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": sluice.options().account_id,
    });
    if let Some((code, message)) = &call.error {
        doc["errorCode"] = json!(code);
        doc["errorMessage"] = json!(message);
    }
    NewAuditEvent {
        event_id,
        event_time_ms: now,
        event_name: call.event_name.clone(),
        event_source: call.event_source.to_string(),
        username: call.caller.map(|c| match &c.principal {
            Some((_, name)) => name.clone(),
            None => "root".to_string(),
        }),
        access_key_id: call
            .caller
            .map(|c| c.access_key_id.clone())
            .or(call.access_key_id.clone()),
        read_only,
        resources: call.resources,
        document: doc.to_string(),
    }
}

/// Marks the event of a call the server never answered (it stopped): `errorCode`
/// `ServerInterrupted` — whether its change took effect is for the resources to tell.
pub fn mark_interrupted(event: &mut NewAuditEvent) {
    if let Ok(mut doc) = serde_json::from_str::<Value>(&event.document) {
        doc["errorCode"] = json!("ServerInterrupted");
        doc["errorMessage"] = json!(
            "The server stopped before it answered; the call may or may not have taken effect."
        );
        event.document = doc.to_string();
    }
}

/// The request's origin, for condition keys and the trail.
/// Marks a request that arrived over TLS (`aws:SecureTransport`); the TLS server adds it.
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport;

pub fn request_info(parts: &axum::http::request::Parts) -> RequestInfo {
    let source_ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let user_agent = parts
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    RequestInfo {
        source_ip,
        user_agent,
        secure_transport: parts.extensions.get::<SecureTransport>().is_some(),
    }
}

/// The access key id a request names (header or presigned), for events of failed sign-ins.
pub fn claimed_key_id(parts: &axum::http::request::Parts) -> Option<String> {
    let from_header = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next());
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|p| p.strip_prefix("X-Amz-Credential="))
            .and_then(|v| {
                sluice_sigv4::percent_decode(v)
                    .split('/')
                    .next()
                    .map(str::to_string)
            })
    });
    from_header
        .map(str::to_string)
        .or(from_query)
        .filter(|k| k.len() <= 128 && k.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_fields_are_hidden_at_any_depth() {
        let mut v = json!({
            "jobs": [{"data": {"artifactCredentials": {"accessKeyId": "ASIA1", "secretAccessKey": "s3cr3t", "sessionToken": "tok"}}}],
            "webhook": {"authenticationConfiguration": {"SecretToken": "hook-secret"}},
            "AccessKey": {"SecretAccessKey": "k"}
        });
        redact(&mut v);
        let text = v.to_string();
        for secret in ["s3cr3t", "tok", "hook-secret", "\"k\""] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert!(text.contains("ASIA1"));
    }

    #[test]
    fn gets_and_lists_are_read_only() {
        assert!(is_read_only("GetPipeline"));
        assert!(is_read_only("ListPipelines"));
        assert!(!is_read_only("UpdatePipeline"));
        assert!(!is_read_only("PutApprovalResult"));
    }
}
