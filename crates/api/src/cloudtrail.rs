//! CloudTrail's `LookupEvents` over JSON 1.1, so `aws cloudtrail lookup-events` reads the
//! audit trail: one lookup attribute, a time range, pages of at most 50, newest first.

use crate::{trail, ApiError};
use axum::response::Response;
use serde_json::{json, Value};
use sluice_service::{AuditAttribute, AuditQuery, RequestInfo, Sluice};

pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// The most events one page holds, as in CloudTrail.
const MAX_RESULTS: usize = 50;

fn invalid(code: &'static str, message: &str) -> ApiError {
    ApiError::client(code, message)
}

fn attribute(v: &Value) -> Result<Option<AuditAttribute>, ApiError> {
    let Some(list) = v.get("LookupAttributes") else {
        return Ok(None);
    };
    let list = list.as_array().ok_or_else(|| {
        invalid(
            "InvalidLookupAttributesException",
            "LookupAttributes must be a list",
        )
    })?;
    if list.len() > 1 {
        return Err(invalid(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        ));
    }
    let Some(a) = list.first() else {
        return Ok(None);
    };
    let key = a
        .get("AttributeKey")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = a
        .get("AttributeValue")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if value.is_empty() || value.len() > 2000 {
        return Err(invalid(
            "InvalidLookupAttributesException",
            "AttributeValue must be 1 to 2000 characters.",
        ));
    }
    Ok(Some(match key {
        "EventId" => AuditAttribute::EventId(value),
        "EventName" => AuditAttribute::EventName(value),
        "ReadOnly" => AuditAttribute::ReadOnly(value.eq_ignore_ascii_case("true")),
        "Username" => AuditAttribute::Username(value),
        "ResourceType" => AuditAttribute::ResourceType(value),
        "ResourceName" => AuditAttribute::ResourceName(value),
        "EventSource" => AuditAttribute::EventSource(value),
        "AccessKeyId" => AuditAttribute::AccessKeyId(value),
        other => {
            return Err(invalid(
                "InvalidLookupAttributesException",
                &format!("The attribute key '{other}' is not valid."),
            ))
        }
    }))
}

/// Epoch seconds (the CLI sends numbers) or an ISO 8601 string.
fn time_ms(v: Option<&Value>) -> Result<Option<i64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().map(|s| (s * 1000.0) as i64)),
        Some(Value::String(s)) => sluice_model::time::parse_iso8601(s)
            .map(Some)
            .ok_or_else(|| invalid("InvalidTimeRangeException", "The time is not valid.")),
        Some(_) => Err(invalid(
            "InvalidTimeRangeException",
            "The time is not valid.",
        )),
    }
}

async fn lookup(sluice: &Sluice, input: &Value) -> Result<Vec<u8>, ApiError> {
    let start_ms = time_ms(input.get("StartTime"))?;
    let end_ms = time_ms(input.get("EndTime"))?;
    if let (Some(s), Some(e)) = (start_ms, end_ms) {
        if s > e {
            return Err(invalid("InvalidTimeRangeException", "Occurs if the timestamp values are invalid. Either the start time occurs after the end time, or the time range is outside the range of possible values."));
        }
    }
    let limit = match input.get("MaxResults") {
        None | Some(Value::Null) => MAX_RESULTS,
        Some(v) => v
            .as_u64()
            .map(|n| n as usize)
            .filter(|n| (1..=MAX_RESULTS).contains(n))
            .ok_or_else(|| {
                invalid(
                    "InvalidMaxResultsException",
                    "MaxResults must be between 1 and 50.",
                )
            })?,
    };
    let before_seq = match input.get("NextToken").and_then(Value::as_str) {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("InvalidNextTokenException", "The token is not valid."))?,
        ),
    };
    let query = AuditQuery {
        start_ms,
        end_ms,
        attribute: attribute(input)?,
        before_seq,
        limit: limit + 1,
    };
    let mut events = sluice.lookup_audit(&query).await?;
    let next = (events.len() > limit).then(|| {
        events.truncate(limit);
        events.last().map(|e| e.seq.to_string())
    });
    let events: Vec<Value> = events
        .iter()
        .map(|r| {
            let e = &r.event;
            json!({
                "EventId": e.event_id,
                "EventName": e.event_name,
                "ReadOnly": e.read_only.to_string(),
                "AccessKeyId": e.access_key_id,
                "EventTime": e.event_time_ms as f64 / 1000.0,
                "EventSource": e.event_source,
                "Username": e.username,
                "Resources": e.resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
                "CloudTrailEvent": e.document,
            })
        })
        .collect();
    let mut out = json!({ "Events": events });
    if let Some(Some(token)) = next {
        out["NextToken"] = json!(token);
    }
    serde_json::to_vec(&out).map_err(|e| ApiError::internal(e.to_string()))
}

pub async fn handle(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    claim: crate::auth::Claim,
    target: &str,
    body: &[u8],
    info: &RequestInfo,
    request_id: &str,
) -> Response {
    let op = target
        .strip_prefix(TARGET_PREFIX)
        .unwrap_or_default()
        .to_string();
    let mut request: Option<Value> = None;
    let mut caller = None;
    let result = async {
        let c = crate::authenticate_json(claim, parts, body)?;
        caller = Some(c.clone());
        // Parsed only once the signature holds: a refused call's event keeps no body.
        request = serde_json::from_slice(body).ok();
        sluice
            .authorize(&c, &format!("cloudtrail:{op}"), "*", info)
            .await?;
        let input = request.as_ref().ok_or_else(|| {
            ApiError::client("SerializationException", "The request body is not JSON.")
        })?;
        match op.as_str() {
            "LookupEvents" => lookup(sluice, input).await,
            _ => Err(ApiError::client(
                "UnknownOperationException",
                format!("The operation '{target}' is not known to this server's CloudTrail subset"),
            )),
        }
    }
    .await;
    let event = trail::event(
        sluice,
        trail::Call {
            caller: caller.as_ref(),
            access_key_id: trail::claimed_key_id(parts),
            event_source: "cloudtrail.amazonaws.com",
            event_name: op,
            request_parameters: request,
            response_elements: None,
            error: result
                .as_ref()
                .err()
                .map(|e| (e.code.to_string(), e.message.clone())),
            request_id,
            info,
            resources: Vec::new(),
        },
    );
    let result = match sluice.record_audit(&[event]).await {
        Ok(()) => result,
        Err(e) => Err(ApiError::internal(format!(
            "recording the audit event: {e}"
        ))),
    };
    crate::json_response(result, request_id, target)
}
