//! The CodePipeline JSON 1.1 protocol over HTTP: `POST /` with
//! `X-Amz-Target: CodePipeline_20150709.<Operation>`, dispatched once over the generated
//! `Operation` enum, decoded and checked against botocore's shapes, answered with the model's
//! output shapes or an error `{"__type", "message"}` of the operation's documented type.

mod caller;
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

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
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

async fn handle(State(sluice): State<Sluice>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = sluice.new_id();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let result = dispatch::dispatch(&sluice, target, &headers, &body).await;
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
