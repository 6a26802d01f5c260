//! The CodePipeline JSON 1.1 protocol over HTTP: `POST /` with
//! `X-Amz-Target: CodePipeline_20150709.<Operation>`, dispatched once over the generated
//! `Operation` enum, decoded and checked against botocore's shapes, answered with the model's
//! output shapes or an error `{"__type", "message"}` of the operation's documented type.

mod auth;
mod convert;
mod dispatch;
pub use dispatch::IMPLEMENTED;
mod error;
mod handlers;
pub mod s3;
mod s3_auth;
mod webhook_handlers;
mod xml;

pub use error::ApiError;

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
    Router::new()
        .route("/", post(handle).get(s3::handle))
        .route("/{bucket}", any(s3::handle))
        .route("/{bucket}/", any(s3::handle))
        .route("/{bucket}/{*key}", any(s3::handle))
        .with_state(sluice)
}

/// The JSON API's clock-skew window.
const SKEW_MS: i64 = 5 * 60 * 1000;

async fn authenticate_json(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<sluice_service::Caller, ApiError> {
    let hash = sluice_sigv4::sha256_hex(body);
    let failure = |status: StatusCode, code: &'static str, message: String| ApiError {
        status,
        code,
        message,
    };
    match auth::authenticate(sluice, parts, &hash, sluice_sigv4::PathStyle::Normalized, SKEW_MS).await {
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
    }
}

async fn handle(State(sluice): State<Sluice>, request: axum::extract::Request) -> Response {
    let request_id = sluice.new_id();
    let (parts, body) = request.into_parts();
    // JSON requests are small; 16 MiB bounds them.
    let body = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(b) => b,
        Err(_) => {
            let err = ApiError::client(
                "SerializationException",
                "The request body is too large or was cut off.",
            );
            return (err.status, err.body(&request_id)).into_response();
        }
    };
    let headers = parts.headers.clone();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let result = match authenticate_json(&sluice, &parts, &body).await {
        Ok(caller) => dispatch::dispatch(&sluice, target, &caller, &body).await,
        Err(e) => Err(e),
    };
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(err) => {
            if err.status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(%request_id, target, cause = %err.message, "internal failure");
            } else {
                tracing::debug!(%request_id, target, code = err.code, "request refused");
            }
            (err.status, err.body(&request_id).into_bytes())
        }
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    response
}
