//! The AWS Query protocol that `aws iam`, `aws sts` and `aws sns` speak: `POST /` with a
//! form-encoded body (`Action=CreateUser&Version=2010-05-08&UserName=…`), answered in XML. Signed
//! with SigV4 like every other route, authorized against IAM policies, recorded in the trail.
//! `Version` picks the service: IAM's and STS's operations are in `iam_handlers`, SNS's in `sns`.

use crate::iam_handlers::{self, IamError};
use crate::{auth, sns, trail, xml};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sluice_service::{Caller, RequestInfo, Sluice};
use std::collections::BTreeMap;

pub const IAM_VERSION: &str = "2010-05-08";
pub const STS_VERSION: &str = "2011-06-15";
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Form parameters, in name order.
pub type Params = BTreeMap<String, String>;

pub fn parse_form(body: &[u8]) -> Params {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| sluice_sigv4::percent_decode(&s.replace('+', " "));
            (decode(k), decode(v))
        })
        .collect()
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    response
}

fn error_xml(ns: &str, e: &IamError, request_id: &str) -> String {
    let kind = if e.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let message = if e.status.is_server_error() {
        format!("An internal error occurred (request id {request_id})")
    } else {
        e.message.clone()
    };
    format!(
        r#"<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type>{}{}</Error><RequestId>{request_id}</RequestId></ErrorResponse>"#,
        xml::element("Code", e.code),
        xml::element("Message", &message)
    )
}

/// The answer to a caller refused too often.
pub fn throttled(request_id: &str) -> Response {
    let e = IamError::new(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded");
    xml_response(e.status, error_xml(IAM_NS, &e, request_id), request_id)
}

fn authenticate(
    claim: auth::Claim,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Caller, IamError> {
    let forbidden =
        |code: &'static str, message: &str| IamError::new(StatusCode::FORBIDDEN, code, message);
    match claim.and_then(|c| auth::verify(c, parts, &sluice_sigv4::sha256_hex(body))) {
        Ok(auth::Identity::Key(caller)) => Ok(caller),
        Ok(auth::Identity::Job(_)) => Err(forbidden(
            "AccessDenied",
            "A job's artifact credentials can only be used for its artifacts.",
        )),
        Err(auth::AuthFailure::Missing) => Err(forbidden(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )),
        Err(auth::AuthFailure::Incomplete(m)) => Err(IamError::new(StatusCode::BAD_REQUEST, "IncompleteSignature", &m)),
        Err(auth::AuthFailure::UnknownKey) => Err(forbidden(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )),
        Err(auth::AuthFailure::BadSignature) => Err(forbidden(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )),
        Err(auth::AuthFailure::Expired(m)) => Err(forbidden("SignatureDoesNotMatch", &m)),
        Err(auth::AuthFailure::ExpiredToken) => Err(forbidden(
            "ExpiredToken",
            "The security token included in the request is expired",
        )),
    }
}

/// `requestParameters` as CloudTrail writes them: the call's fields in lowerCamelCase.
fn request_parameters(params: &Params) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in params {
        if k == "Action" || k == "Version" {
            continue;
        }
        let mut key = k.clone();
        if let Some(first) = key.get(..1) {
            key = first.to_lowercase() + &key[1..];
        }
        map.insert(key, Value::String(v.clone()));
    }
    Value::Object(map)
}

/// What every event of one Query call shares.
struct CallBase<'a> {
    parts: &'a axum::http::request::Parts,
    source: &'static str,
    action: &'a str,
    params: &'a Params,
    request_id: &'a str,
    info: &'a RequestInfo,
}

impl CallBase<'_> {
    fn call<'c>(
        &'c self,
        caller: Option<&'c Caller>,
        resources: Vec<(String, String)>,
        response: Option<Value>,
        error: Option<(String, String)>,
    ) -> trail::Call<'c> {
        trail::Call {
            caller,
            access_key_id: trail::claimed_key_id(self.parts),
            event_source: self.source,
            event_name: self.action.to_string(),
            // A refused call's event keeps no part of its body.
            request_parameters: caller.map(|_| request_parameters(self.params)),
            response_elements: response,
            error,
            request_id: self.request_id,
            info: self.info,
            resources,
        }
    }
}

pub async fn handle(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    claim: auth::Claim,
    body: &[u8],
    info: &RequestInfo,
    request_id: &str,
) -> Response {
    let params = parse_form(body);
    let action = params.get("Action").cloned().unwrap_or_default();
    let version = params.get("Version").cloned().unwrap_or_default();
    let is_sns = version == sns::API_VERSION;
    let (ns, source) = match version.as_str() {
        STS_VERSION => (STS_NS, "sts.amazonaws.com"),
        sns::API_VERSION => (sluice_wire::sns::XML_NAMESPACE, sns::EVENT_SOURCE),
        _ => (IAM_NS, "iam.amazonaws.com"),
    };
    let mut caller = None;
    let mut resources = Vec::new();
    let mut pending = None;
    let base = CallBase {
        parts,
        source,
        action: &action,
        params: &params,
        request_id,
        info,
    };
    let result = async {
        let c = authenticate(claim, parts, body)?;
        caller = Some(c.clone());
        if version != IAM_VERSION && version != STS_VERSION && !is_sns {
            return Err(IamError::new(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                &format!("Could not find operation {action} for version {version}"),
            ));
        }
        let service = match version.as_str() {
            STS_VERSION => "sts",
            sns::API_VERSION => "sns",
            _ => "iam",
        };
        let resource = if is_sns {
            sns::resource(sluice, &action, &params)
        } else {
            iam_handlers::resource(sluice, &c, &action, &params).await
        };
        if resource != "*" {
            let kind = if is_sns {
                "AWS::SNS::Topic".to_string()
            } else {
                format!("AWS::{}::Resource", service.to_uppercase())
            };
            resources.push((kind, resource.clone()));
        }
        // STS's GetCallerIdentity needs no permission, as in AWS.
        if action != "GetCallerIdentity" {
            sluice
                .authorize(&c, &format!("{service}:{action}"), &resource, info)
                .await
                .map_err(IamError::from)?;
        }
        // A call that may change something is on record before it acts.
        if !trail::is_read_only(&action) && action != "AssumeRole" {
            let stub = trail::event(sluice, base.call(Some(&c), resources.clone(), None, None));
            sluice
                .begin_audit(&stub)
                .await
                .map_err(|e| IamError::internal(format!("recording the audit event: {e}")))?;
            pending = Some(stub.event_id);
        }
        if is_sns {
            sns::call(sluice, &action, &params).await
        } else {
            iam_handlers::call(sluice, &c, &action, &params).await
        }
    }
    .await;
    let mut response_elements = result.as_ref().ok().map(|(_, json)| json.clone());
    if let Some(v) = response_elements.as_mut() {
        trail::redact(v);
    }
    let error = result
        .as_ref()
        .err()
        .map(|e| (e.code.to_string(), e.message.clone()));
    let finished = base.call(caller.as_ref(), resources, response_elements, error);
    let recorded = match pending {
        Some(id) => {
            sluice
                .complete_audit(&trail::event_with_id(sluice, finished, id))
                .await
        }
        None => sluice.record_audit(&[trail::event(sluice, finished)]).await,
    };
    let result = match recorded {
        Ok(()) => result,
        Err(e) => Err(IamError::internal(format!(
            "recording the audit event: {e}"
        ))),
    };
    render(ns, &action, result, request_id)
}

/// The XML answer to a call: `<ActionResponse><ActionResult>…` or an `<ErrorResponse>`.
fn render(
    ns: &str,
    action: &str,
    result: Result<(String, Value), IamError>,
    request_id: &str,
) -> Response {
    match result {
        Ok((inner, _)) => {
            let result = if inner.is_empty() {
                String::new()
            } else {
                format!("<{action}Result>{inner}</{action}Result>")
            };
            xml_response(
                StatusCode::OK,
                format!(
                    r#"<{action}Response xmlns="{ns}">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"#
                ),
                request_id,
            )
        }
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(%request_id, action, cause = %e.message, "internal failure");
            }
            xml_response(e.status, error_xml(ns, &e, request_id), request_id)
        }
    }
}

/// A link from a delivered SNS message (`SubscribeURL`, `UnsubscribeURL`), followed without a
/// signature: the token or subscription ARN it carries is the credential. On the trail as a
/// call of an unknown identity.
pub async fn follow_sns_link(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    query: &Params,
    info: &RequestInfo,
    request_id: &str,
) -> Response {
    let (action, result) = sns::follow_link(sluice, query).await;
    let mut resources = Vec::new();
    let resource = sns::resource(sluice, &action, query);
    if resource != "*" {
        resources.push(("AWS::SNS::Topic".to_string(), resource));
    }
    let mut parameters = query.clone();
    // The token is the credential: it stays out of the trail.
    if parameters.contains_key("Token") {
        parameters.insert("Token".into(), "HIDDEN_DUE_TO_SECURITY_REASONS".into());
    }
    let base = CallBase {
        parts,
        source: sns::EVENT_SOURCE,
        action: &action,
        params: &parameters,
        request_id,
        info,
    };
    let mut call = base.call(
        None,
        resources,
        result.as_ref().ok().map(|(_, json)| json.clone()),
        result
            .as_ref()
            .err()
            .map(|e| (e.code.to_string(), e.message.clone())),
    );
    call.request_parameters = Some(request_parameters(&parameters));
    let result = match sluice.record_audit(&[trail::event(sluice, call)]).await {
        Ok(()) => result,
        Err(e) => Err(IamError::internal(format!(
            "recording the audit event: {e}"
        ))),
    };
    render(sluice_wire::sns::XML_NAMESPACE, &action, result, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_plus_and_percent_escapes() {
        let p = parse_form(b"Action=PutUserPolicy&PolicyDocument=%7B%22a%22%3A+1%7D&UserName=Bob");
        assert_eq!(p["Action"], "PutUserPolicy");
        assert_eq!(p["PolicyDocument"], "{\"a\": 1}");
        assert_eq!(p["UserName"], "Bob");
    }
}
