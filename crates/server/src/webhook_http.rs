//! The URL a webhook gives out: `POST /_sluice/webhooks/{id}` with a push event as JSON. It has
//! its own authentication (GitHub's HMAC signature, an IP range, or none) instead of SigV4.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sluice_service::{Error, Sluice, WebhookDelivery};
use std::net::SocketAddr;

/// The webhook URL's id is its secret of sorts: the trail keeps a prefix.
fn id_for_trail(id: &str) -> String {
    format!("{}…", id.chars().take(6).collect::<String>())
}

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
    let github_event = headers.get("x-github-event").and_then(|v| v.to_str().ok());
    let json = |status: StatusCode, v: serde_json::Value| {
        let mut r = (status, v.to_string()).into_response();
        r.headers_mut().insert(
            "content-type",
            axum::http::HeaderValue::from_static("application/json"),
        );
        r
    };
    // A delivery that passed the webhook's authentication and filters is on record (pending)
    // before it starts a run; refused ones are not recorded, so they cost nothing but the
    // refusal.
    let info = sluice_service::RequestInfo {
        source_ip: peer.ip().to_string(),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        secure_transport: false,
    };
    let request_id = sluice.new_id();
    let url_id = id_for_trail(&id);
    let event = |arn: &str, error: Option<(String, String)>, event_id: String| {
        sluice_api::trail::event_with_id(
            &sluice,
            sluice_api::trail::Call {
                caller: None,
                access_key_id: None,
                event_source: "codepipeline.amazonaws.com",
                event_name: "WebhookDelivery".into(),
                request_parameters: Some(serde_json::json!({ "webhookUrlId": url_id })),
                response_elements: None,
                error,
                request_id: &request_id,
                info: &info,
                resources: vec![("AWS::CodePipeline::Webhook".into(), arn.to_string())],
            },
            event_id,
        )
    };
    let mut pending: Option<(String, String)> = None;
    let delivered = sluice
        .deliver_webhook(
            &id,
            &body,
            signature,
            github_event,
            Some(peer.ip()),
            async |arn: &str| {
                let stub = event(arn, None, sluice.new_id());
                sluice.begin_audit(&stub).await?;
                pending = Some((arn.to_string(), stub.event_id));
                Ok(())
            },
        )
        .await;
    if let Some((arn, event_id)) = pending {
        let error = delivered
            .as_ref()
            .err()
            .map(|e| ("DeliveryFailed".to_string(), e.to_string()));
        if let Err(e) = sluice.complete_audit(&event(&arn, error, event_id)).await {
            tracing::error!(error = %e, "recording the audit event");
        }
    }
    match delivered {
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
