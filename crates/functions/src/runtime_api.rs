//! The Lambda Runtime API, as one function process sees it: `GET
//! /2018-06-01/runtime/invocation/next` waits for the next invocation and answers its event
//! with the `Lambda-Runtime-*` headers; the process posts the result to `…/{id}/response` or
//! `…/{id}/error`, or `…/init/error` when it cannot start. The listener is on loopback, one per
//! process, so a process reaches only its own invocations.

use super::{Invocation, Outcome};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// An invocation offered to the process, with where its outcome goes.
pub(crate) struct Pending {
    pub invocation: Invocation,
    pub reply: oneshot::Sender<Outcome>,
}

/// One process's side of the API.
pub(crate) struct Api {
    offers: mpsc::UnboundedSender<Pending>,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    /// The invocation the process is running: its id and where its outcome goes.
    current: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    init_error: Mutex<Option<Outcome>>,
}

impl Api {
    pub(crate) fn offer(&self, pending: Pending) {
        let _ = self.offers.send(pending);
    }

    /// Forgets the invocation `id` once it has ended.
    pub(crate) fn finish(&self, id: &str) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|(c, _)| c == id) {
            *current = None;
        }
    }

    pub(crate) fn init_error(&self) -> Option<Outcome> {
        self.init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn answer(&self, id: &str, outcome: Outcome) -> bool {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match current.take() {
            Some((c, reply)) if c == id => {
                let _ = reply.send(outcome);
                true
            }
            other => {
                *current = other;
                false
            }
        }
    }
}

/// Starts a listener on a free loopback port.
pub(crate) async fn serve() -> std::io::Result<(Arc<Api>, u16, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (offers, queue) = mpsc::unbounded_channel();
    let api = Arc::new(Api {
        offers,
        next: tokio::sync::Mutex::new(queue),
        current: Mutex::new(None),
        init_error: Mutex::new(None),
    });
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((api, port, server))
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

fn unknown(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!(r#"{{"errorMessage":"invalid request id {id}","errorType":"InvalidRequestID"}}"#),
    )
        .into_response()
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    let pending = api.next.lock().await.recv().await;
    let Some(Pending { invocation, reply }) = pending else {
        return StatusCode::GONE.into_response();
    };
    *api.current.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((invocation.request_id.clone(), reply));
    let mut response = (StatusCode::OK, invocation.payload).into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &invocation.request_id);
    set(
        "lambda-runtime-deadline-ms",
        &invocation.deadline_ms.to_string(),
    );
    set(
        "lambda-runtime-trace-id",
        &format!("Root=1-{}", invocation.request_id),
    );
    set("content-type", "application/json");
    if let Some(context) = &invocation.client_context {
        set("lambda-runtime-client-context", context);
    }
    response
}

async fn response(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> Response {
    if api.answer(&id, Outcome::Response(body.to_vec())) {
        accepted()
    } else {
        unknown(&id)
    }
}

fn error_kind(headers: &HeaderMap) -> String {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string()
}

async fn error(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = Outcome::Error {
        kind: error_kind(&headers),
        body: body.to_vec(),
    };
    if api.answer(&id, outcome) {
        accepted()
    } else {
        unknown(&id)
    }
}

async fn init_error(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    *api.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(Outcome::Error {
        kind: error_kind(&headers),
        body: body.to_vec(),
    });
    accepted()
}
