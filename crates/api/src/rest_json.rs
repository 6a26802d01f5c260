//! The REST-JSON protocol (Lambda), read and written from a service's generated tables: an
//! operation is found by method and URI template; its input is built from the path's labels,
//! the query string and headers its members are bound to, and the JSON body (or the raw body,
//! for a payload member); its answer puts bound members in headers and the status, and the
//! rest in the body. Errors: `x-amzn-ErrorType` and a JSON body with `Type` and `message`.

use crate::query::Params;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use sluice_wire::{DecodeError, ShapeDef, ShapeTable};
use std::collections::BTreeMap;

/// A service's REST bindings, from its generated module.
pub(crate) struct Bindings {
    pub shapes: ShapeTable,
    pub bindings: &'static [(&'static str, &'static str, &'static str, &'static str)],
    pub payloads: &'static [(&'static str, &'static str)],
}

impl Bindings {
    fn bound(
        &self,
        shape: &str,
    ) -> impl Iterator<Item = &(&'static str, &'static str, &'static str, &'static str)> {
        let shape = shape.to_string();
        self.bindings.iter().filter(move |(s, ..)| *s == shape)
    }

    fn payload(&self, shape: &str) -> Option<&'static str> {
        self.payloads
            .iter()
            .find(|(s, _)| *s == shape)
            .map(|(_, m)| *m)
    }
}

/// Matches `path` against a URI template (`/2015-03-31/functions/{FunctionName}/code`);
/// the labels' values, percent-decoded.
pub(crate) fn match_template(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let template = template.split('?').next().unwrap_or(template);
    let want: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if want.len() != got.len() {
        return None;
    }
    let mut labels = BTreeMap::new();
    for (w, g) in want.iter().zip(&got) {
        match w.strip_prefix('{').and_then(|l| l.strip_suffix('}')) {
            Some(label) => {
                if g.is_empty() {
                    return None;
                }
                labels.insert(
                    label.trim_end_matches('+').to_string(),
                    sluice_sigv4::percent_decode(g),
                );
            }
            None if w == g => {}
            None => return None,
        }
    }
    Some(labels)
}

fn scalar(table: ShapeTable, shape: &str, text: &str) -> Value {
    match sluice_wire::shape_in(table, shape) {
        Some(ShapeDef::Integer { .. }) => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.into())),
        Some(ShapeDef::Boolean) => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.into()),
        },
        _ => Value::String(text.into()),
    }
}

fn member_shape(table: ShapeTable, shape: &str, member: &str) -> Option<&'static str> {
    match sluice_wire::shape_in(table, shape) {
        Some(ShapeDef::Structure { members, .. }) => {
            members.iter().find(|m| m.name == member).map(|m| m.shape)
        }
        _ => None,
    }
}

/// The input value of `shape`: labels, query, headers and body.
pub(crate) fn input_value(
    b: &Bindings,
    shape: &str,
    labels: &BTreeMap<String, String>,
    query: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, DecodeError> {
    let mut object = match b.payload(shape) {
        Some(member) => {
            let mut o = Map::new();
            if !body.is_empty() {
                let text = std::str::from_utf8(body).map_err(|_| {
                    DecodeError::Serialization("the request body is not UTF-8 text".into())
                })?;
                o.insert(member.to_string(), Value::String(text.to_string()));
            }
            o
        }
        None if body.iter().all(u8::is_ascii_whitespace) => Map::new(),
        None => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(DecodeError::Serialization("Expected a JSON object".into())),
            Err(e) => {
                return Err(DecodeError::Serialization(format!(
                    "Could not parse request body into json: {e}"
                )))
            }
        },
    };
    for (_, member, location, wire) in b.bound(shape) {
        let text = match *location {
            "uri" => labels.get(*wire).cloned(),
            "querystring" => query.get(*wire).cloned(),
            "header" => headers
                .get(*wire)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            _ => None,
        };
        // A bound member never comes from the body.
        object.remove(*member);
        if let Some(text) = text {
            let target = member_shape(b.shapes, shape, member).unwrap_or("String");
            object.insert(member.to_string(), scalar(b.shapes, target, &text));
        }
    }
    Ok(Value::Object(object))
}

/// The answer of `shape` with `value`: bound members to the status and headers, a payload
/// member as the raw body, the rest as JSON.
pub(crate) fn output(
    b: &Bindings,
    shape: Option<&str>,
    status: u16,
    value: Value,
    request_id: &str,
) -> Response {
    let mut status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut object = match value {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let mut headers = Vec::new();
    let mut raw: Option<Vec<u8>> = None;
    if let Some(shape) = shape {
        for (_, member, location, wire) in b.bound(shape) {
            let Some(v) = object.remove(*member) else {
                continue;
            };
            match *location {
                "statusCode" => {
                    if let Some(code) = v.as_u64().and_then(|c| StatusCode::from_u16(c as u16).ok())
                    {
                        status = code;
                    }
                }
                "header" => {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    headers.push((*wire, text));
                }
                _ => {}
            }
        }
        if let Some(member) = b.payload(shape) {
            raw = Some(match object.remove(member) {
                Some(Value::String(s)) => s.into_bytes(),
                Some(other) => other.to_string().into_bytes(),
                None => Vec::new(),
            });
        }
    }
    let body = raw.unwrap_or_else(|| {
        if shape.is_none() {
            Vec::new()
        } else {
            Value::Object(object).to_string().into_bytes()
        }
    });
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            h.insert(n, v);
        }
    }
    response
}

/// An error as REST-JSON services answer it.
pub(crate) fn error(e: &crate::ApiError, request_id: &str) -> Response {
    let message = if e.status.is_server_error() {
        tracing::error!(%request_id, cause = %e.message, "internal failure");
        format!("An internal error occurred (request id {request_id})")
    } else {
        e.message.clone()
    };
    let kind = if e.status.is_server_error() {
        "Service"
    } else {
        "User"
    };
    let body = serde_json::json!({"Type": kind, "message": message}).to_string();
    let mut response = (e.status, body).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(e.code) {
        h.insert("x-amzn-errortype", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_labels_and_nothing_else() {
        let labels = match_template(
            "/2015-03-31/functions/{FunctionName}/invocations",
            "/2015-03-31/functions/my%3Afn/invocations",
        )
        .expect("matches");
        assert_eq!(labels["FunctionName"], "my:fn");
        assert!(match_template(
            "/2015-03-31/functions/{FunctionName}",
            "/2015-03-31/functions/f/code"
        )
        .is_none());
        assert!(match_template("/2015-03-31/functions/", "/2015-03-31/functions").is_some());
    }
}
