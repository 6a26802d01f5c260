//! The URL a webhook gives out: `POST /_sluice/webhooks/{id}` with a push event as JSON. It has
//! its own authentication (GitHub's HMAC signature, an IP range, or none) instead of SigV4.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sluice_service::{Error, Sluice, WebhookDelivery};
use std::net::SocketAddr;

pub async fn deliver(
    State(sluice): State<Sluice>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let json = |status: StatusCode, v: serde_json::Value| {
        let mut r = (status, v.to_string()).into_response();
        r.headers_mut().insert(
            "content-type",
            axum::http::HeaderValue::from_static("application/json"),
        );
        r
    };
    match sluice
        .deliver_webhook(&id, &body, signature, Some(peer.ip()))
        .await
    {
        Ok(WebhookDelivery::Started(execution)) => json(
            StatusCode::OK,
            serde_json::json!({"status": "started", "pipelineExecutionId": execution}),
        ),
        Ok(WebhookDelivery::Filtered) => json(
            StatusCode::OK,
            serde_json::json!({"status": "filtered", "message": "the event did not match the webhook's filters"}),
        ),
        Err(Error::WebhookNotFound(_)) => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"message": "no webhook has this URL"}),
        ),
        Err(Error::AccessDenied(m)) => {
            json(StatusCode::FORBIDDEN, serde_json::json!({"message": m}))
        }
        Err(Error::Validation(m)) => {
            json(StatusCode::BAD_REQUEST, serde_json::json!({"message": m}))
        }
        Err(e) => {
            tracing::error!(error = %e, "a webhook delivery failed");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"message": "the event could not be processed"}),
            )
        }
    }
}
