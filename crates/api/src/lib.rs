//! The CodePipeline JSON 1.1 protocol over HTTP: `POST /` with
//! `X-Amz-Target: CodePipeline_20150709.<Operation>`, dispatched once over the generated
//! `Operation` enum, decoded and checked against botocore's shapes, answered with the model's
//! output shapes or an error `{"__type", "message"}` of the operation's documented type.

mod auth;
mod authz;
mod aws_chunked;
mod cloudtrail;
mod codecommit;
pub mod codedeploy;
mod connections;
mod convert;
mod dispatch;
mod events;
mod iam_handlers;
mod json_service;
mod lambda;
mod logs;
#[cfg(test)]
mod properties;
mod query;
mod refusals;
mod rest_json;
mod rule_handlers;
pub mod trail;
pub use codecommit::IMPLEMENTED as CODECOMMIT_IMPLEMENTED;
pub use codedeploy::IMPLEMENTED as CODEDEPLOY_IMPLEMENTED;
pub use connections::IMPLEMENTED as CONNECTIONS_IMPLEMENTED;
pub use dispatch::IMPLEMENTED;
pub use events::IMPLEMENTED as EVENTS_IMPLEMENTED;
pub use iam_handlers::{IAM_OPERATIONS, STS_OPERATIONS};
pub use lambda::IMPLEMENTED as LAMBDA_IMPLEMENTED;
pub use logs::IMPLEMENTED as LOGS_IMPLEMENTED;
pub use sns::IMPLEMENTED as SNS_IMPLEMENTED;
mod error;
mod handlers;
pub mod s3;
mod s3_auth;
mod sns;
mod webhook_handlers;
mod xml;

pub use error::ApiError;
pub use refusals::RefusalBudget;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use sluice_service::Sluice;

/// The media type of every request and response body.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The routes of the CodePipeline API (`POST /`) and the S3-compatible endpoint (the rest).
/// Names that S3 cannot use as buckets (they contain `_`) are left for the server's own pages.
pub fn routes(sluice: Sluice) -> Router {
    routes_and_wake(sluice).0
}

/// `routes`, and the wake-up of the hosts' long polls, which the server closes when it shuts
/// down so that no poll holds the shutdown back.
pub fn routes_and_wake(sluice: Sluice) -> (Router, std::sync::Arc<codedeploy::HostWake>) {
    let wake = codedeploy::HostWake::install(&sluice);
    let router = Router::new()
        .route("/", post(handle).get(root_get))
        .route(
            sluice_service::notifications::SIGNING_CERT_PATH,
            axum::routing::get(signing_certificate),
        )
        .route(lambda::PREFIX, any(lambda_entry))
        .route("/2015-03-31/functions/{*rest}", any(lambda_entry))
        .route("/{bucket}", any(s3::handle))
        .route("/{bucket}/", any(s3::handle))
        .route("/{bucket}/{*key}", any(s3::handle))
        .layer(axum::Extension(std::sync::Arc::new(
            refusals::RefusalBudget::default(),
        )))
        .layer(axum::Extension(wake.clone()))
        .with_state(sluice);
    (router, wake)
}

/// Lambda's REST routes (a bucket called `2015-03-31` signed for S3 stays S3's).
async fn lambda_entry(
    state: State<Sluice>,
    axum::Extension(budget): axum::Extension<std::sync::Arc<refusals::RefusalBudget>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if !lambda::is_lambda(&parts) {
        return s3::handle(state, axum::extract::Request::from_parts(parts, body)).await;
    }
    let State(sluice) = state;
    let request_id = sluice.new_id();
    let info = trail::request_info(&parts);
    let claim = auth::claim(
        &sluice,
        &parts,
        sluice_sigv4::PathStyle::Normalized,
        SKEW_MS,
    )
    .await;
    let body = if claim.is_ok() {
        // A deployment package travels base64-encoded in the body.
        let limit = sluice
            .options()
            .max_request_bytes
            .max(sluice_service::functions::MAX_CODE_BYTES / 3 * 4 + (1 << 20));
        match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            Err(_) => {
                let err = ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "RequestTooLargeException",
                    message: format!("Request must be smaller than {limit} bytes"),
                };
                return rest_json::error(&err, &request_id);
            }
        }
    } else {
        let claimed_key = trail::claimed_key_id(&parts).unwrap_or_default();
        if !budget.spend(&[&info.source_ip, &claimed_key], sluice.now_ms()) {
            let err = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "TooManyRequestsException",
                message: "Rate exceeded".into(),
            };
            return rest_json::error(&err, &request_id);
        }
        axum::body::Bytes::new()
    };
    lambda::handle(&sluice, &parts, claim, &body, &info, &request_id).await
}

/// `GET /`: a link from a delivered SNS message, or S3's `ListBuckets`.
async fn root_get(
    state: State<Sluice>,
    axum::Extension(budget): axum::Extension<std::sync::Arc<refusals::RefusalBudget>>,
    request: axum::extract::Request,
) -> Response {
    if is_browser_visit(&request) {
        return axum::response::Redirect::to("/console/").into_response();
    }
    let params = query::parse_form(request.uri().query().unwrap_or_default().as_bytes());
    if !sns::is_link(&params) {
        return s3::handle(state, request).await;
    }
    let State(sluice) = state;
    let request_id = sluice.new_id();
    let (parts, _) = request.into_parts();
    let info = trail::request_info(&parts);
    // Links are unsigned: each costs its caller one refusal's worth of budget.
    if !budget.spend(&[&info.source_ip], sluice.now_ms()) {
        return query::throttled(&request_id);
    }
    query::follow_sns_link(&sluice, &parts, &params, &info, &request_id).await
}

/// A person opening the server's address in a browser: unsigned, no query, and asking for
/// HTML. They are sent to the console; API clients (which sign, or never ask for HTML) are not.
fn is_browser_visit(request: &axum::extract::Request) -> bool {
    let headers = request.headers();
    request.uri().query().is_none()
        && !headers.contains_key("authorization")
        && headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// The certificate SNS deliveries are signed with (`SigningCertURL`).
async fn signing_certificate(State(sluice): State<Sluice>) -> Response {
    match sluice.notification_signer().await {
        Ok(signer) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/x-x509-ca-cert",
            )],
            signer.certificate_pem.clone(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the notification signing key could not be loaded");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The JSON API's clock-skew window.
const SKEW_MS: i64 = 5 * 60 * 1000;

/// Finishes authenticating a JSON call whose headers were `claim`ed: the signature over the
/// body, or the claim's own failure, in the JSON protocol's words.
fn authenticate_json(
    claim: auth::Claim,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<sluice_service::Caller, ApiError> {
    let failure = |status: StatusCode, code: &'static str, message: String| ApiError {
        status,
        code,
        message,
    };
    match claim.and_then(|c| auth::verify(c, parts, &sluice_sigv4::sha256_hex(body))) {
        Ok(auth::Identity::Key(caller)) => Ok(caller),
        Ok(auth::Identity::Job(_)) => Err(failure(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            "A job's artifact credentials can only be used for its artifacts.".into(),
        )),
        Err(auth::AuthFailure::Missing) => Err(failure(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".into(),
        )),
        Err(auth::AuthFailure::Incomplete(m)) => {
            Err(failure(StatusCode::BAD_REQUEST, "IncompleteSignatureException", m))
        }
        Err(auth::AuthFailure::UnknownKey) => Err(failure(
            StatusCode::BAD_REQUEST,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".into(),
        )),
        Err(auth::AuthFailure::BadSignature) => Err(failure(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        )),
        Err(auth::AuthFailure::Expired(m)) => {
            Err(failure(StatusCode::BAD_REQUEST, "InvalidSignatureException", m))
        }
        Err(auth::AuthFailure::ExpiredToken) => Err(failure(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            "The security token included in the request is expired".into(),
        )),
    }
}

/// What one JSON call came to: the answer, and what the trail records about it.
struct Outcome {
    result: Result<Vec<u8>, ApiError>,
    caller: Option<sluice_service::Caller>,
    event_name: String,
    /// The request as the trail shows it (secrets masked).
    request: Option<serde_json::Value>,
    resources: Vec<(String, String)>,
    /// The id of the pending record of a call that may change something.
    pending: Option<String>,
    /// The key id the request named, even when it did not authenticate.
    access_key_id: Option<String>,
}

/// Runs one CodePipeline operation for an already authenticated `caller`, exactly as a signed
/// call runs: the same IAM decision, the same audit event (pending first when it may change
/// something) and the same dispatch. The console's buttons are calls made this way.
pub async fn call_as(
    sluice: &Sluice,
    caller: &sluice_service::Caller,
    operation: &str,
    input: &serde_json::Value,
    info: &sluice_service::RequestInfo,
) -> Result<serde_json::Value, ApiError> {
    let request_id = sluice.new_id();
    let target = format!("{}.{operation}", sluice_wire::TARGET_PREFIX);
    let body = serde_json::to_vec(input)
        .map_err(|e| ApiError::internal(format!("encoding a request: {e}")))?;
    let mut outcome = Outcome::new(&target, Some(caller.access_key_id.clone()));
    outcome.caller = Some(caller.clone());
    run_authenticated(sluice, &mut outcome, &target, &body, info, &request_id).await;
    let answer = finish_call(sluice, outcome, info, &request_id).await?;
    serde_json::from_slice(&answer)
        .map_err(|e| ApiError::internal(format!("reading {operation}'s answer: {e}")))
}

/// Records a sign-in to the console as CloudTrail records one (`ConsoleLogin` from
/// `signin.amazonaws.com`): who, with which key, and whether it succeeded.
pub async fn record_console_login(
    sluice: &Sluice,
    caller: Option<&sluice_service::Caller>,
    access_key_id: &str,
    info: &sluice_service::RequestInfo,
) -> Result<(), ApiError> {
    let request_id = sluice.new_id();
    let outcome = if caller.is_some() {
        "Success"
    } else {
        "Failure"
    };
    let call = trail::Call {
        caller,
        access_key_id: Some(access_key_id.to_string()),
        event_source: "signin.amazonaws.com",
        event_name: "ConsoleLogin".into(),
        request_parameters: None,
        response_elements: Some(serde_json::json!({ "ConsoleLogin": outcome })),
        error: None,
        request_id: &request_id,
        info,
        resources: Vec::new(),
    };
    let mut event = trail::event(sluice, call);
    // CloudTrail's sign-in events: their own type, and a message (no code) when they fail.
    if let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&event.document) {
        doc["eventType"] = serde_json::json!("AwsConsoleSignIn");
        if caller.is_none() {
            doc["errorMessage"] = serde_json::json!("Failed authentication");
        }
        event.document = doc.to_string();
    }
    sluice
        .record_audit(&[event])
        .await
        .map_err(|e| ApiError::internal(format!("recording the audit event: {e}")))
}

/// Every problem of a pipeline declaration (the JSON of `CreatePipeline`'s `pipeline`), as the
/// API would judge it, where the API itself answers with the first only. A declaration that does
/// not even decode has that one problem.
pub async fn pipeline_problems(
    sluice: &Sluice,
    pipeline: &serde_json::Value,
) -> Result<Vec<String>, ApiError> {
    let op = sluice_wire::Operation::CreatePipeline;
    let shape = op
        .input_shape()
        .ok_or_else(|| ApiError::internal("CreatePipeline has no input shape"))?;
    let body = serde_json::to_vec(&serde_json::json!({ "pipeline": pipeline }))
        .map_err(|e| ApiError::internal(format!("encoding a declaration: {e}")))?;
    let input: sluice_wire::CreatePipelineInput = match sluice_wire::decode(shape, &body) {
        Ok(input) => input,
        Err(e) => return Ok(vec![ApiError::from(e).message]),
    };
    let declaration = match convert::pipeline_from_wire(input.pipeline) {
        Ok(d) => d,
        Err(e) => return Ok(vec![e.message]),
    };
    Ok(sluice
        .pipeline_problems(&declaration)
        .await?
        .into_iter()
        .map(|p| p.message)
        .collect())
}

/// Authenticates, authorizes and runs one CodePipeline call. A call that may change something
/// is recorded as pending before it acts (`begin_audit`).
async fn run_call(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    claim: auth::Claim,
    target: &str,
    body: &[u8],
    info: &sluice_service::RequestInfo,
    request_id: &str,
) -> Outcome {
    let mut outcome = Outcome::new(target, trail::claimed_key_id(parts));
    match authenticate_json(claim, parts, body) {
        Ok(caller) => outcome.caller = Some(caller),
        Err(e) => {
            // A refused call's event keeps no part of its body.
            outcome.result = Err(e);
            return outcome;
        }
    };
    run_authenticated(sluice, &mut outcome, target, body, info, request_id).await;
    outcome
}

/// The rest of a call once its caller is known: authorization, the pending audit record of a
/// call that may change something, and the operation itself.
async fn run_authenticated(
    sluice: &Sluice,
    outcome: &mut Outcome,
    target: &str,
    body: &[u8],
    info: &sluice_service::RequestInfo,
    request_id: &str,
) {
    let Some(caller) = outcome.caller.clone() else {
        return;
    };
    let op = target
        .strip_prefix(sluice_wire::TARGET_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(sluice_wire::Operation::from_name);
    // The body is parsed only once its signature holds.
    let input: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    outcome.request = input.clone();
    if let Some(v) = outcome.request.as_mut() {
        if matches!(
            outcome.event_name.as_str(),
            "CreatePipeline" | "UpdatePipeline"
        ) {
            trail::mask_pipeline_secrets(sluice, v).await;
        }
    }
    let (Some(op), Some(input)) = (op, input) else {
        // Not an operation or not JSON: dispatch answers with the right error; nothing runs.
        outcome.result = dispatch::dispatch(sluice, target, &caller, body).await;
        return;
    };
    let o = sluice.options();
    let (action, resource) = authz::codepipeline_request(op, &input, &o.region, &o.account_id);
    outcome.resources = authz::event_resources(&resource);
    let mut checks = vec![(action.as_str(), resource.as_str())];
    // Handing a role to a pipeline needs iam:PassRole on it, as in AWS.
    checks.extend(
        authz::passed_roles(op, &input)
            .into_iter()
            .map(|r| ("iam:PassRole", r)),
    );
    for (action, resource) in checks {
        if let Err(e) = sluice.authorize(&caller, action, resource, info).await {
            outcome.result = Err(e.into());
            return;
        }
    }
    if !trail::is_read_only(op.name()) {
        let stub = trail::event(sluice, outcome.trail_call(request_id, info, None));
        if let Err(e) = sluice.begin_audit(&stub).await {
            outcome.result = Err(ApiError::internal(format!(
                "recording the audit event: {e}"
            )));
            return;
        }
        outcome.pending = Some(stub.event_id);
    }
    outcome.result = dispatch::dispatch(sluice, target, &caller, body).await;
}

/// Records a finished call on the trail (completing its pending record, if any) and gives
/// its answer; a call whose event cannot be recorded fails.
async fn finish_call(
    sluice: &Sluice,
    outcome: Outcome,
    info: &sluice_service::RequestInfo,
    request_id: &str,
) -> Result<Vec<u8>, ApiError> {
    // CloudTrail keeps no answer of a read, so a read's answer is not parsed again.
    let mut response = outcome
        .result
        .as_ref()
        .ok()
        .filter(|_| !trail::is_read_only(&outcome.event_name))
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
    if let Some(v) = response.as_mut() {
        if matches!(
            outcome.event_name.as_str(),
            "CreatePipeline" | "UpdatePipeline"
        ) {
            trail::mask_pipeline_secrets(sluice, v).await;
        }
    }
    let call = outcome.trail_call(request_id, info, response);
    let recorded = match &outcome.pending {
        Some(id) => {
            let event = trail::event_with_id(sluice, call, id.clone());
            sluice.complete_audit(&event).await
        }
        None => sluice.record_audit(&[trail::event(sluice, call)]).await,
    };
    match recorded {
        Ok(()) => outcome.result,
        Err(e) => Err(ApiError::internal(format!(
            "recording the audit event: {e}"
        ))),
    }
}

impl Outcome {
    fn new(target: &str, access_key_id: Option<String>) -> Self {
        let event_name = target
            .strip_prefix(sluice_wire::TARGET_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(sluice_wire::Operation::from_name)
            .map_or_else(
                || target.rsplit('.').next().unwrap_or(target).to_string(),
                |o| o.name().to_string(),
            );
        Self {
            result: Ok(Vec::new()),
            caller: None,
            event_name,
            request: None,
            resources: Vec::new(),
            pending: None,
            access_key_id,
        }
    }

    fn trail_call<'a>(
        &'a self,
        request_id: &'a str,
        info: &'a sluice_service::RequestInfo,
        response: Option<serde_json::Value>,
    ) -> trail::Call<'a> {
        trail::Call {
            caller: self.caller.as_ref(),
            access_key_id: self.access_key_id.clone(),
            event_source: "codepipeline.amazonaws.com",
            event_name: self.event_name.clone(),
            request_parameters: self.request.clone(),
            response_elements: response,
            error: self
                .result
                .as_ref()
                .err()
                .map(|e| (e.code.to_string(), e.message.clone())),
            request_id,
            info,
            resources: self.resources.clone(),
        }
    }
}

async fn handle(
    State(sluice): State<Sluice>,
    axum::Extension(budget): axum::Extension<std::sync::Arc<refusals::RefusalBudget>>,
    axum::Extension(wake): axum::Extension<std::sync::Arc<codedeploy::HostWake>>,
    request: axum::extract::Request,
) -> Response {
    let request_id = sluice.new_id();
    let (parts, body) = request.into_parts();
    let info = trail::request_info(&parts);
    let is_query = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .starts_with("application/x-www-form-urlencoded");
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // Authentication starts on the headers alone: a request with no key, an unknown key or a
    // stale date is refused without its body ever being read, and a caller refused too often
    // is throttled without an event.
    let claim = auth::claim(
        &sluice,
        &parts,
        sluice_sigv4::PathStyle::Normalized,
        SKEW_MS,
    )
    .await;
    let body = if claim.is_ok() {
        let limit = sluice.options().max_request_bytes;
        match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            Err(_) => {
                let err = ApiError::client(
                    "SerializationException",
                    format!("The request body is larger than {limit} bytes or was cut off."),
                );
                return (err.status, err.body(&request_id)).into_response();
            }
        }
    } else {
        let claimed_key = trail::claimed_key_id(&parts).unwrap_or_default();
        if !budget.spend(&[&info.source_ip, &claimed_key], sluice.now_ms()) {
            tracing::warn!(
                source = info.source_ip,
                key = claimed_key,
                "refused calls throttled"
            );
            return throttled(is_query, &request_id, &target);
        }
        axum::body::Bytes::new()
    };
    if is_query {
        return query::handle(&sluice, &parts, claim, &body, &info, &request_id).await;
    }
    if target.starts_with(cloudtrail::TARGET_PREFIX) {
        return cloudtrail::handle(&sluice, &parts, claim, &target, &body, &info, &request_id)
            .await;
    }
    let request = json_service::Request {
        parts: &parts,
        target: &target,
        body: &body,
        info: &info,
        request_id: &request_id,
    };
    if connections::is_target(&target) {
        return connections::handle(&sluice, request, claim).await;
    }
    if codecommit::is_target(&target) {
        return codecommit::handle(&sluice, request, claim).await;
    }
    if events::is_target(&target) {
        return events::handle(&sluice, request, claim).await;
    }
    if logs::is_target(&target) {
        return logs::handle(&sluice, request, claim).await;
    }
    if codedeploy::is_target(&target) {
        return codedeploy::handle(&sluice, request, claim).await;
    }
    if codedeploy::is_commands_target(&target) {
        return codedeploy::handle_commands(&sluice, &wake, request, claim).await;
    }
    let outcome = run_call(&sluice, &parts, claim, &target, &body, &info, &request_id).await;
    let result = finish_call(&sluice, outcome, &info, &request_id).await;
    json_response(result, &request_id, &target)
}

/// The answer to a caller refused too often: AWS's throttling error, in the protocol's form.
fn throttled(is_query: bool, request_id: &str, target: &str) -> Response {
    if is_query {
        return query::throttled(request_id);
    }
    json_response(
        Err(ApiError::client("ThrottlingException", "Rate exceeded")),
        request_id,
        target,
    )
}

/// A JSON 1.1 answer: the body or the error, with the request id header.
pub(crate) fn json_response(
    result: Result<Vec<u8>, ApiError>,
    request_id: &str,
    target: &str,
) -> Response {
    json_response_as(result, request_id, target, CONTENT_TYPE)
}

/// A JSON answer of the protocol version `content_type` names.
pub(crate) fn json_response_as(
    result: Result<Vec<u8>, ApiError>,
    request_id: &str,
    target: &str,
    content_type: &'static str,
) -> Response {
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(err) => {
            if err.status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(%request_id, target, cause = %err.message, "internal failure");
            } else {
                tracing::debug!(%request_id, target, code = err.code, "request refused");
            }
            (err.status, err.body(request_id).into_bytes())
        }
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    response
}
