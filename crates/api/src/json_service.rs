//! The request flow every JSON-protocol service other than CodePipeline shares (CodeStar
//! connections, CodeDeploy, CodeDeploy's host command protocol): authenticate, parse the body
//! only once the signature holds, authorize (IAM, or the service's own identity check), record
//! a changing call as pending before it acts, run it, and finish its audit event.

use crate::{trail, ApiError};
use axum::response::Response;
use sluice_service::{Caller, RequestInfo, Sluice};
use std::future::Future;

/// What a service is on the wire and in the trail.
pub(crate) struct ServiceSpec {
    /// The trail's `eventSource`, e.g. `codedeploy.amazonaws.com`.
    pub event_source: &'static str,
    /// `application/x-amz-json-1.0` or `-1.1`.
    pub content_type: &'static str,
}

/// How one call is authorized and recorded, decided from its operation and parsed body.
pub(crate) struct Plan {
    pub read_only: bool,
    /// The IAM action and resource to decide on; `None` when the service checks the caller's
    /// identity itself (a host agent reaches only its own commands).
    pub authorize: Option<(String, String)>,
    /// The trail's `resources`: (type, ARN).
    pub resources: Vec<(String, String)>,
}

/// Whether `target` (`X-Amz-Target`) names an operation of the service whose prefix is
/// `prefix`.
pub(crate) fn is_target(prefix: &str, target: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// A response body.
pub(crate) fn output<T: serde::Serialize>(value: T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&value).map_err(|e| ApiError::internal(format!("encoding a response: {e}")))
}

/// The request at hand.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    pub parts: &'a axum::http::request::Parts,
    pub target: &'a str,
    pub body: &'a [u8],
    pub info: &'a RequestInfo,
    pub request_id: &'a str,
}

impl Request<'_> {
    /// The operation the target names (what follows its last `.`).
    pub fn operation_name(&self) -> &str {
        self.target.rsplit('.').next().unwrap_or(self.target)
    }
}

/// Runs one call of a service whose operation `op` the target named (`None`: none of its
/// operations): `plan` decides its authorization, `run` performs it.
pub(crate) async fn handle_operation<O, P, PF, F, FF>(
    sluice: &Sluice,
    spec: &ServiceSpec,
    request: Request<'_>,
    claim: crate::auth::Claim,
    op: Option<O>,
    plan: P,
    run: F,
) -> Response
where
    O: Copy,
    P: FnOnce(O, serde_json::Value) -> PF,
    PF: Future<Output = Result<Plan, ApiError>>,
    F: FnOnce(O, Caller) -> FF,
    FF: Future<Output = Result<Vec<u8>, ApiError>>,
{
    let target = request.target;
    let unknown = move || ApiError::unknown_operation(target);
    let planner = |_name: String, parsed: serde_json::Value| async move {
        plan(op.ok_or_else(unknown)?, parsed).await
    };
    let runner = |caller: Caller| async move { run(op.ok_or_else(unknown)?, caller).await };
    handle(sluice, spec, request, claim, planner, runner).await
}

/// The authenticated, authorized and audited run of one call, whatever its protocol: the
/// signature is checked first (a refused call's event keeps no body), then `parameters` gives
/// the trail's `requestParameters`, `plan` the authorization, and a changing call is on
/// record as pending before `run` acts.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audited<T, Q, P, PFut, F, Fut>(
    sluice: &Sluice,
    spec: &ServiceSpec,
    request: Request<'_>,
    claim: crate::auth::Claim,
    name: String,
    parameters_of: Q,
    plan: P,
    run: F,
) -> Result<T, ApiError>
where
    Q: FnOnce() -> Option<serde_json::Value>,
    P: FnOnce(String, serde_json::Value) -> PFut,
    PFut: Future<Output = Result<Plan, ApiError>>,
    F: FnOnce(Caller) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut parameters: Option<serde_json::Value> = None;
    let mut caller: Option<Caller> = None;
    let mut resources = Vec::new();
    let mut pending: Option<String> = None;
    let result = async {
        let authenticated = crate::authenticate_json(claim, request.parts, request.body)?;
        caller = Some(authenticated.clone());
        parameters = parameters_of();
        let parsed = parameters.clone().unwrap_or_default();
        let plan = plan(name.clone(), parsed).await?;
        resources = plan.resources.clone();
        if let Some((action, resource)) = &plan.authorize {
            sluice
                .authorize(&authenticated, action, resource, request.info)
                .await?;
        }
        if !plan.read_only {
            let stub = call(
                spec,
                &request,
                &name,
                Some(&authenticated),
                parameters.clone(),
                resources.clone(),
                None,
            );
            let stub = trail::event(sluice, stub);
            sluice
                .begin_audit(&stub)
                .await
                .map_err(|e| ApiError::internal(format!("recording the audit event: {e}")))?;
            pending = Some(stub.event_id);
        }
        run(authenticated).await
    }
    .await;
    let error = result
        .as_ref()
        .err()
        .map(|e| (e.code.to_string(), e.message.clone()));
    let event_call = call(
        spec,
        &request,
        &name,
        caller.as_ref(),
        parameters,
        resources,
        error,
    );
    let recorded = match pending {
        Some(id) => {
            sluice
                .complete_audit(&trail::event_with_id(sluice, event_call, id))
                .await
        }
        None => {
            sluice
                .record_audit(&[trail::event(sluice, event_call)])
                .await
        }
    };
    match recorded {
        Ok(()) => result,
        Err(e) => Err(ApiError::internal(format!(
            "recording the audit event: {e}"
        ))),
    }
}

fn call<'a>(
    spec: &ServiceSpec,
    request: &Request<'a>,
    name: &str,
    caller: Option<&'a Caller>,
    parameters: Option<serde_json::Value>,
    resources: Vec<(String, String)>,
    error: Option<(String, String)>,
) -> trail::Call<'a> {
    trail::Call {
        caller,
        access_key_id: trail::claimed_key_id(request.parts),
        event_source: spec.event_source,
        event_name: name.to_string(),
        request_parameters: parameters,
        response_elements: None,
        error,
        request_id: request.request_id,
        info: request.info,
        resources,
    }
}

/// Runs one call: `plan` decides authorization from the operation name and body (an unknown
/// operation is its error), `run` performs it for the authenticated caller.
async fn handle<P, PFut, F, Fut>(
    sluice: &Sluice,
    spec: &ServiceSpec,
    request: Request<'_>,
    claim: crate::auth::Claim,
    plan: P,
    run: F,
) -> Response
where
    P: FnOnce(String, serde_json::Value) -> PFut,
    PFut: Future<Output = Result<Plan, ApiError>>,
    F: FnOnce(Caller) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, ApiError>>,
{
    let name = request
        .target
        .rsplit('.')
        .next()
        .unwrap_or(request.target)
        .to_string();
    let body = request.body;
    let result = audited(
        sluice,
        spec,
        request,
        claim,
        name,
        || serde_json::from_slice(body).ok(),
        plan,
        run,
    )
    .await;
    crate::json_response_as(
        result,
        request.request_id,
        request.target,
        spec.content_type,
    )
}
