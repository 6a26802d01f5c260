//! The web console under `/console/`: server-rendered pages over the `service` façade, live
//! over server-sent events, for every console task of the guide.
//!
//! Every page is authorized by the IAM decision of the read call it shows, and every button is
//! the API call it stands for, made as the signed-in person through `sluice_api::call_as` — the
//! same authorization, the same audit event and the same validation as a signed call.

// Handlers return a finished page as their error (an axum `Response`, 128 bytes), which is
// what they answer with anyway.
#![allow(clippy::result_large_err)]

mod admin;
mod badge;
mod edit;
mod executions;
pub mod html;
mod live;
mod pipelines;
pub mod session;

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde_json::Value;
use session::{Keys, Session};
use sluice_service::{RequestInfo, Sluice};
use std::collections::HashMap;

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    pub sluice: Sluice,
    pub keys: Keys,
    /// Sign-in attempts are unauthenticated: each costs its source one unit of this budget.
    pub signins: std::sync::Arc<sluice_api::RefusalBudget>,
    /// Ends the live streams at shutdown.
    pub live: LiveStreams,
    /// The last `cc.xml` document.
    pub cc_cache: std::sync::Arc<badge::CcCache>,
}

/// Ends the console's live streams when the server stops, so an open page does not hold the
/// server's drain back.
#[derive(Clone, Debug)]
pub struct LiveStreams {
    closed: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl LiveStreams {
    fn new() -> Self {
        Self {
            closed: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Ends every live stream, now and for good.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Completes once the streams are to end.
    pub async fn closing(&self) {
        let mut closed = self.closed.subscribe();
        // An error means the sender is gone: nothing can close the streams any more.
        if closed.wait_for(|closed| *closed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The console's routes, all under `/console`, and the handle that ends their live streams.
pub fn routes(sluice: Sluice) -> (Router, LiveStreams) {
    let keys = Keys::new(&sluice.options().token_key);
    let live = LiveStreams::new();
    let state = Console {
        sluice,
        keys,
        signins: Default::default(),
        live: live.clone(),
        cc_cache: Default::default(),
    };
    let router = Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/pipelines") }),
        )
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route("/console/signin", get(signin_page).post(signin))
        .route("/console/signout", post(signout))
        .route("/console/pipelines", get(pipelines::list))
        .route("/console/pipelines/live", get(pipelines::list_live))
        .route("/console/pipelines/{name}", get(pipelines::view))
        .route("/console/pipelines/{name}/live", get(pipelines::view_live))
        .route(
            "/console/pipelines/{name}/release",
            post(pipelines::release),
        )
        .route("/console/pipelines/{name}/stop", post(pipelines::stop))
        .route("/console/pipelines/{name}/delete", post(pipelines::delete))
        .route(
            "/console/pipelines/{name}/stages/{stage}/transition",
            post(pipelines::transition),
        )
        .route(
            "/console/pipelines/{name}/stages/{stage}/retry",
            post(pipelines::retry),
        )
        .route(
            "/console/pipelines/{name}/stages/{stage}/actions/{action}/review",
            get(pipelines::review_page).post(pipelines::review),
        )
        .route(
            "/console/pipelines/{name}/history",
            get(executions::history),
        )
        .route(
            "/console/pipelines/{name}/executions/{id}",
            get(executions::execution),
        )
        .route(
            "/console/pipelines/{name}/executions/{id}/actions/{action_execution}",
            get(executions::action),
        )
        .route(
            "/console/pipelines/{name}/executions/{id}/actions/{action_execution}/log",
            get(executions::log_live),
        )
        .route(
            "/console/pipelines/{name}/executions/{id}/artifacts/{artifact}",
            get(executions::artifact),
        )
        .route(
            "/console/pipelines/{name}/lineage",
            get(executions::lineage),
        )
        .route("/console/pipelines/{name}/webhooks", get(admin::webhooks))
        .route(
            "/console/pipelines/{name}/edit",
            get(edit::edit_page).post(edit::edit),
        )
        .route("/console/create", get(edit::create_page).post(edit::create))
        .route(
            "/console/action-types",
            get(admin::action_types).post(admin::create_action_type),
        )
        .route(
            "/console/action-types/delete",
            post(admin::delete_action_type),
        )
        .route("/console/audit", get(admin::audit))
        .route("/console/audit/verify", post(admin::verify_chain))
        .route("/console/jobs/{job}", get(executions::job))
        .route("/console/badge/{file}", get(badge::badge))
        .route("/console/cc.xml", get(badge::cc_xml))
        .with_state(state);
    (router, live)
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../assets/console.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// A request from someone signed in: who, the request's details for IAM conditions and the
/// trail, and the page's own address (to come back to).
pub struct Ctx {
    pub session: Session,
    pub info: RequestInfo,
    pub here: String,
}

impl<S> FromRequestParts<S> for Ctx
where
    Console: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let console = Console::from_ref(state);
        let here = parts
            .uri
            .path_and_query()
            .map_or("/console/", |p| p.as_str())
            .to_string();
        let cookies = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok());
        match console.keys.session(&console.sluice, cookies).await {
            Some(session) => Ok(Ctx {
                session,
                info: sluice_api::trail::request_info(parts),
                here,
            }),
            None if parts.method == axum::http::Method::GET => Err(Redirect::to(&format!(
                "/console/signin?next={}",
                html::seg(&here)
            ))
            .into_response()),
            None => Err(refused(
                StatusCode::FORBIDDEN,
                "You are not signed in, or your session has ended. Sign in and try again.",
            )),
        }
    }
}

impl Ctx {
    /// Whether the signed-in person may call `action` on `resource` (the IAM decision of the
    /// API call a page or button stands for).
    pub async fn may(&self, console: &Console, action: &str, resource: &str) -> bool {
        console
            .sluice
            .authorize(&self.session.caller, action, resource, &self.info)
            .await
            .is_ok()
    }

    /// As `may`, as a refusal page in AWS's words when not.
    pub async fn check(
        &self,
        console: &Console,
        action: &str,
        resource: &str,
    ) -> Result<(), Response> {
        console
            .sluice
            .authorize(&self.session.caller, action, resource, &self.info)
            .await
            .map_err(|e| self.error_page(StatusCode::FORBIDDEN, "Access denied", &e.to_string()))
    }

    /// A page that says what went wrong, with the way back.
    pub fn error_page(&self, status: StatusCode, title: &str, text: &str) -> Response {
        let body = html! {
            h1 { (title) }
            (html::message("error", text))
            p { a href="/console/pipelines" { "Back to pipelines" } }
        };
        (status, html::page(title, Some(&self.session), body)).into_response()
    }

    /// The form's fields, if it carries this session's CSRF token.
    pub fn form(&self, form: HashMap<String, String>) -> Result<Form, Response> {
        let token = form.get("csrf").map(String::as_bytes).unwrap_or_default();
        if !session::same(token, self.session.csrf.as_bytes()) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "This form did not come from your console session (its CSRF token is missing or wrong). Reload the page and try again.",
            ));
        }
        Ok(Form(form))
    }

    /// A button: the form's CSRF token is checked, then the API call `call` makes of the form
    /// (operation and input) is made, then the browser goes back to `to`, or is shown the
    /// call's error.
    pub async fn button(
        &self,
        console: &Console,
        form: HashMap<String, String>,
        to: &str,
        call: impl FnOnce(&Form) -> (&'static str, Value),
    ) -> Response {
        let form = match self.form(form) {
            Ok(f) => f,
            Err(refusal) => return refusal,
        };
        let (operation, input) = call(&form);
        match self.call(console, operation, input).await {
            Ok(_) => back(to),
            Err(page) => page,
        }
    }

    /// Makes the API call `operation` as the signed-in person and answers with its result, or
    /// with a page that shows the call's error.
    pub async fn call(
        &self,
        console: &Console,
        operation: &str,
        input: Value,
    ) -> Result<Value, Response> {
        sluice_api::call_as(
            &console.sluice,
            &self.session.caller,
            operation,
            &input,
            &self.info,
        )
        .await
        .map_err(|e| {
            let status = if e.status.is_server_error() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else if e.code == "AccessDeniedException" {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            self.error_page(
                status,
                &format!("{operation} failed"),
                &format!("{}: {}", e.code, e.message),
            )
        })
    }
}

/// A posted form's fields.
pub struct Form(pub HashMap<String, String>);

impl Form {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    /// The field, or nothing when it is empty.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }
}

/// A bare refusal (no session to show a page frame for).
fn refused(status: StatusCode, text: &str) -> Response {
    (
        status,
        html::page(
            "Refused",
            None,
            html! { h1 { "Refused" } (html::message("error", text)) },
        ),
    )
        .into_response()
}

/// Back to `to` after a button did its work.
pub fn back(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The ARN of a pipeline, as IAM decisions name it.
pub fn pipeline_arn(console: &Console, name: &str) -> String {
    let o = console.sluice.options();
    format!("arn:aws:codepipeline:{}:{}:{name}", o.region, o.account_id)
}

#[derive(serde::Deserialize)]
struct SigninQuery {
    next: Option<String>,
}

/// Only the console's own pages are places to go back to after signing in.
fn next_page(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/console/") && !n.starts_with("/console//"))
        .unwrap_or("/console/pipelines")
}

fn signin_form(next: &str, error: Option<&str>) -> maud::Markup {
    html::page(
        "Sign in",
        None,
        html! {
            section.signin {
                h1 { "Sign in" }
                p.hint { "Use an IAM user's access key, or the account's root key." }
                @if let Some(e) = error { (html::message("error", e)) }
                form method="post" action="/console/signin" {
                    input type="hidden" name="next" value=(next);
                    label for="access_key_id" { "Access key ID" }
                    input #access_key_id name="access_key_id" autocomplete="username" required autofocus;
                    label for="secret_access_key" { "Secret access key" }
                    input #secret_access_key type="password" name="secret_access_key" autocomplete="current-password" required;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

async fn signin_page(axum::extract::Query(q): axum::extract::Query<SigninQuery>) -> maud::Markup {
    signin_form(next_page(q.next.as_deref()), None)
}

async fn signin(
    State(console): State<Console>,
    parts: Parts,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map_or("", |v| v.trim());
    let next = next_page(form.get("next").map(String::as_str)).to_string();
    let key_id = field("access_key_id");
    let info = sluice_api::trail::request_info(&parts);
    if !console
        .signins
        .spend(&[&info.source_ip, key_id], console.sluice.now_ms())
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            signin_form(
                &next,
                Some("Too many sign-in attempts. Wait a little and try again."),
            ),
        )
            .into_response();
    }
    let found = match console.sluice.access_key(key_id).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "reading an access key for sign-in failed");
            None
        }
    };
    let genuine = found.as_ref().is_some_and(|(secret, _)| {
        session::same(
            secret.expose().as_bytes(),
            field("secret_access_key").as_bytes(),
        )
    });
    let caller = found.filter(|_| genuine).map(|(_, caller)| caller);
    if let Err(e) =
        sluice_api::record_console_login(&console.sluice, caller.as_ref(), key_id, &info).await
    {
        tracing::error!(error = %e.message, "a sign-in could not be recorded");
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The sign-in could not be recorded; try again.",
        );
    }
    if !genuine {
        return (
            StatusCode::UNAUTHORIZED,
            signin_form(
                &next,
                Some("The access key ID or secret access key is not correct, or the key is inactive."),
            ),
        )
            .into_response();
    }
    let now = console.sluice.now_ms();
    let value = console.keys.issue(key_id, now + session::SESSION_MS);
    let secure = info.secure_transport;
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, next),
            (
                header::SET_COOKIE,
                session::set_cookie(&value, session::SESSION_MS / 1000, secure),
            ),
        ],
    )
        .into_response()
}

async fn signout(ctx: Ctx, axum::Form(form): axum::Form<HashMap<String, String>>) -> Response {
    if let Err(refusal) = ctx.form(form) {
        return refusal;
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console/signin".to_string()),
            (
                header::SET_COOKIE,
                session::set_cookie("", 0, ctx.info.secure_transport),
            ),
        ],
    )
        .into_response()
}
