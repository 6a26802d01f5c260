//! The pipelines overview and a pipeline's view, with its buttons: release a change, stop an
//! execution, disable and enable transitions, retry a failed stage, review an approval, delete.

use crate::html::{self, button_form, csrf, dialog, dialog_button, seg, short, status, time};
use crate::{back, live, pipeline_arn, Console, Ctx};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::json;
use sluice_service::{ExecutionView, PipelineOverview, PipelineView};
use std::collections::HashMap;

/// Rows on one page of the overview.
const PAGE_ROWS: usize = 100;
/// Pipelines read per listing call while filtering by name.
const FILTER_SCAN: usize = 1000;

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    filter: Option<String>,
    next: Option<String>,
}

/// One row of the overview: the pipeline at a glance, when the caller may see its state.
struct Row {
    name: String,
    updated_ms: i64,
    detail: Option<PipelineOverview>,
}

async fn rows(
    console: &Console,
    ctx: &Ctx,
    q: &ListQuery,
) -> Result<(Vec<Row>, Option<String>), sluice_service::Error> {
    let sluice = &console.sluice;
    let filter = q.filter.as_deref().unwrap_or("").trim().to_lowercase();
    let mut names = Vec::new();
    let mut token = q.next.clone().filter(|t| !t.is_empty());
    // Without a filter a page is one listing call; with one, listings are read until a page
    // of matches is found.
    loop {
        let size = if filter.is_empty() {
            PAGE_ROWS
        } else {
            FILTER_SCAN
        };
        let page = sluice.list_pipelines(Some(size), token.as_deref()).await?;
        names.extend(
            page.items
                .into_iter()
                .filter(|p| filter.is_empty() || p.name.to_lowercase().contains(&filter))
                .map(|p| (p.name, p.updated_ms)),
        );
        token = page.next_token;
        if filter.is_empty() || token.is_none() || names.len() >= PAGE_ROWS {
            break;
        }
    }
    let mut rows = Vec::with_capacity(names.len());
    for (name, updated_ms) in names.into_iter().take(PAGE_ROWS) {
        let arn = pipeline_arn(console, &name);
        let detail = if ctx
            .may(console, "codepipeline:GetPipelineState", &arn)
            .await
        {
            match sluice.pipeline_overview(&name).await {
                Ok(overview) => Some(overview),
                // Deleted since it was listed.
                Err(_) => continue,
            }
        } else {
            None
        };
        rows.push(Row {
            name,
            updated_ms,
            detail,
        });
    }
    Ok((rows, token))
}

fn revision_cell(pipeline: &str, e: &ExecutionView) -> Markup {
    html! {
        @for r in e.artifact_revisions.iter().take(1) {
            a.revision href=(format!("/console/pipelines/{}/lineage?revision={}", seg(pipeline), html::seg(&r.revision_id))) {
                (short(&r.revision_id))
            }
            @if let Some(summary) = &r.summary {
                " " span.summary { (summary.lines().next().unwrap_or_default()) }
            }
        }
    }
}

fn rows_table(rows: &[Row]) -> Markup {
    html! {
        table.pipelines {
            thead { tr { th { "Name" } th { "Latest execution" } th { "Stages" } th { "Source revision" } th { "Last change" } } }
            tbody {
                @for row in rows {
                    tr {
                        td { a href=(format!("/console/pipelines/{}", seg(&row.name))) { (row.name) } }
                        @match &row.detail {
                            Some(overview) => {
                                @let latest = overview.latest.as_ref();
                                td { (status(latest.map_or("", |e| e.status.as_str()))) }
                                td.stages {
                                    @for (stage, stage_status) in &overview.stages {
                                        @let s = stage_status.as_deref().unwrap_or("");
                                        span class={"chip " (html::status_class(s))} title=(format!("{stage}: {}", if s.is_empty() { "Didn't run" } else { s })) { (stage) }
                                    }
                                }
                                td { @if let Some(e) = latest { (revision_cell(&row.name, e)) } }
                                td { (time(latest.map_or(row.updated_ms, |e| e.updated_ms.max(overview.updated_ms)))) }
                            }
                            None => {
                                td colspan="3" { span.muted { "Not authorized to view its state" } }
                                td { (time(row.updated_ms)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn list(
    State(console): State<Console>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = ctx.check(&console, "codepipeline:ListPipelines", "*").await {
        return r;
    }
    let (rows, next) = match rows(&console, &ctx, &q).await {
        Ok(found) => found,
        Err(e @ sluice_service::Error::InvalidNextToken) => {
            return ctx.error_page(StatusCode::BAD_REQUEST, "Pipelines", &e.to_string())
        }
        Err(e) => {
            return ctx.error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Pipelines",
                &e.to_string(),
            )
        }
    };
    let filter = q.filter.clone().unwrap_or_default();
    let live_url = format!(
        "/console/pipelines/live?filter={}&next={}",
        html::seg(&filter),
        html::seg(q.next.as_deref().unwrap_or(""))
    );
    let may_create = ctx
        .may(
            &console,
            "codepipeline:CreatePipeline",
            &pipeline_arn(&console, "*"),
        )
        .await;
    let body = html! {
        div.titlebar {
            h1 { "Pipelines" }
            @if may_create { a.button.primary href="/console/create" { "Create pipeline" } }
        }
        form.filter method="get" action="/console/pipelines" role="search" {
            label for="filter" { "Filter by name" }
            input #filter type="search" name="filter" value=(filter) placeholder="Pipeline name";
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            p.empty { "No pipelines" @if !filter.is_empty() { " match “" (filter) "”" } "." }
        } @else {
            div #pipelines data-live=(live_url) { (rows_table(&rows)) }
        }
        @if let Some(next) = next {
            p { a href=(format!("/console/pipelines?filter={}&next={}", html::seg(&filter), html::seg(&next))) { "Next page" } }
        }
    };
    html::page("Pipelines", Some(&ctx.session), body).into_response()
}

pub async fn list_live(
    State(console): State<Console>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = ctx.check(&console, "codepipeline:ListPipelines", "*").await {
        return r;
    }
    let key = ctx.session.caller.access_key_id.clone();
    let q = std::sync::Arc::new(ListQuery {
        filter: q.filter,
        next: q.next.filter(|n| !n.is_empty()),
    });
    let ctx = std::sync::Arc::new(ctx);
    let c = console.clone();
    live::updates(console, key, move || {
        let (console, ctx, q) = (c.clone(), ctx.clone(), q.clone());
        async move {
            // A permission taken away ends the stream.
            if !ctx.may(&console, "codepipeline:ListPipelines", "*").await {
                return None;
            }
            let (rows, _) = rows(&console, &ctx, &q).await.ok()?;
            Some(rows_table(&rows).into_string())
        }
    })
    .into_response()
}

/// What the signed-in person may do on the pipeline's view, by the IAM decision of each call.
struct Allowed {
    release: bool,
    stop: bool,
    edit: bool,
    delete: bool,
    /// Per stage: transitions, retry; per action: approve.
    transitions: HashMap<String, bool>,
    retry: HashMap<String, bool>,
    approve: HashMap<(String, String), bool>,
}

async fn allowed(console: &Console, ctx: &Ctx, view: &PipelineView) -> Allowed {
    let arn = pipeline_arn(console, &view.declaration.name);
    let mut a = Allowed {
        release: ctx
            .may(console, "codepipeline:StartPipelineExecution", &arn)
            .await,
        stop: ctx
            .may(console, "codepipeline:StopPipelineExecution", &arn)
            .await,
        edit: ctx.may(console, "codepipeline:UpdatePipeline", &arn).await,
        delete: ctx.may(console, "codepipeline:DeletePipeline", &arn).await,
        transitions: HashMap::new(),
        retry: HashMap::new(),
        approve: HashMap::new(),
    };
    for stage in &view.declaration.stages {
        let stage_arn = format!("{arn}/{}", stage.name);
        let transitions = ctx
            .may(console, "codepipeline:DisableStageTransition", &stage_arn)
            .await
            && ctx
                .may(console, "codepipeline:EnableStageTransition", &stage_arn)
                .await;
        a.transitions.insert(stage.name.clone(), transitions);
        a.retry.insert(
            stage.name.clone(),
            ctx.may(console, "codepipeline:RetryStageExecution", &stage_arn)
                .await,
        );
        for action in stage
            .actions
            .iter()
            .filter(|x| x.action_type_id.category == "Approval")
        {
            let may = ctx
                .may(
                    console,
                    "codepipeline:PutApprovalResult",
                    &format!("{stage_arn}/{}", action.name),
                )
                .await;
            a.approve
                .insert((stage.name.clone(), action.name.clone()), may);
        }
    }
    a
}

/// The stages, their actions and the transitions between them: the live part of the view.
async fn stages(console: &Console, ctx: &Ctx, name: &str) -> Option<Markup> {
    let sluice = &console.sluice;
    let view = sluice.get_pipeline(name, None).await.ok()?;
    let state = sluice.get_pipeline_state(name).await.ok()?;
    let recent = sluice
        .list_pipeline_executions(name, Some(20), None)
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let allowed = allowed(console, ctx, &view).await;
    let s = &ctx.session;
    let base = format!("/console/pipelines/{}", seg(name));
    let running: Vec<&ExecutionView> = recent
        .iter()
        .filter(|e| e.status == "InProgress" || e.status == "Stopping")
        .collect();
    Some(html! {
        div.live-actions {
            @if allowed.stop && !running.is_empty() { (dialog_button("stop", "Stop execution", "")) }
        }
        div.stages {
            @for (i, stage) in state.stages.iter().enumerate() {
                @if let Some(t) = &stage.inbound {
                    div class={"transition" @if !t.enabled { " disabled" }} {
                        span.arrow aria-hidden="true" { "→" }
                        @if allowed.transitions.get(&stage.name).copied().unwrap_or(false) {
                            @let id = format!("transition-{i}");
                            @if t.enabled {
                                (dialog_button(&id, "Disable transition", "small"))
                                (dialog(&id, "Disable transition", html! {
                                    form method="post" action=(format!("{base}/stages/{}/transition", seg(&stage.name))) {
                                        (csrf(s))
                                        input type="hidden" name="enabled" value="false";
                                        label for=(format!("{id}-reason")) { "Reason" }
                                        textarea id=(format!("{id}-reason")) name="reason" required maxlength="300" {}
                                        div.buttons {
                                            button type="button" data-close { "Cancel" }
                                            button.primary type="submit" { "Disable" }
                                        }
                                    }
                                }))
                            } @else {
                                (button_form(s, &format!("{base}/stages/{}/transition", seg(&stage.name)), "Enable transition", "small"))
                            }
                        } @else {
                            span.note { @if t.enabled { "Transition enabled" } @else { "Transition disabled" } }
                        }
                        @if let Some(reason) = t.disabled_reason.as_ref().filter(|_| !t.enabled) {
                            span.reason title="Why it was disabled" { (reason) }
                        }
                    }
                }
                section.stage aria-label=(format!("Stage {}", stage.name)) {
                    @let stage_status = stage.latest_execution.as_ref().map_or("", |e| e.status.as_str());
                    header {
                        h2 { (stage.name) }
                        (status(stage_status))
                    }
                    @if let Some(e) = &stage.latest_execution {
                        p.execution {
                            "Execution "
                            a href=(format!("{base}/executions/{}", seg(&e.execution_id))) { (short(&e.execution_id)) }
                            @if let Some(run) = recent.iter().find(|r| r.id == e.execution_id) {
                                " " (revision_cell(name, run))
                            }
                        }
                    }
                    @if !stage.inbound_executions.is_empty() {
                        p.note { (stage.inbound_executions.len()) " waiting to enter" }
                    }
                    @for action in &stage.actions {
                        @let declared = view.declaration.stage(&stage.name).and_then(|d| d.actions.iter().find(|a| a.name == action.name));
                        @let latest = action.latest.as_ref();
                        @let a_status = latest.map_or("", |l| l.status.as_str());
                        article class={"action " (html::status_class(a_status))} {
                            h3 { (action.name) }
                            @if let Some(d) = declared {
                                p.provider { (d.action_type_id.provider) " · " (d.action_type_id.category) }
                            }
                            (status(a_status))
                            @if let Some(l) = latest {
                                p.when { (time(l.last_status_change_ms)) }
                                @if let Some(summary) = &l.summary { p.summary { (summary) } }
                                @if let Some((code, message)) = &l.error { p.error { (code) ": " (message) } }
                                @if let Some(rev) = &l.current_revision { p { "Revision " (short(rev)) } }
                                @if let (Some(id), Some(e)) = (&l.action_execution_id, &stage.latest_execution) {
                                    a.details href=(format!("{base}/executions/{}/actions/{}", seg(&e.execution_id), seg(id))) { "Details" }
                                }
                                @if let Some(token) = l.token.as_deref().filter(|_| l.status == "InProgress" && allowed.approve.get(&(stage.name.clone(), action.name.clone())).copied().unwrap_or(false)) {
                                    @let id = format!("review-{}-{}", seg(&stage.name), seg(&action.name));
                                    (dialog_button(&id, "Review", "primary"))
                                    (dialog(&id, &format!("Review: {}", action.name), review_form(
                                        s,
                                        &format!("{base}/stages/{}/actions/{}/review", seg(&stage.name), seg(&action.name)),
                                        declared,
                                        token,
                                        html! { button type="button" data-close { "Cancel" } },
                                    )))
                                }
                            }
                        }
                    }
                    @if let Some(e) = stage.latest_execution.as_ref().filter(|e| e.status == "Failed") {
                        @if allowed.retry.get(&stage.name).copied().unwrap_or(false) {
                            form.inline method="post" action=(format!("{base}/stages/{}/retry", seg(&stage.name))) {
                                (csrf(s))
                                input type="hidden" name="execution" value=(e.execution_id);
                                button type="submit" { "Retry" }
                            }
                        }
                    }
                }
            }
        }
        @if allowed.stop && !running.is_empty() {
            (dialog("stop", "Stop execution", html! {
                form method="post" action=(format!("{base}/stop")) {
                    (csrf(s))
                    label for="stop-execution" { "Execution" }
                    select #stop-execution name="execution" {
                        @for e in &running { option value=(e.id) { (e.id) " (" (e.status) ")" } }
                    }
                    fieldset {
                        legend { "How" }
                        label { input type="radio" name="mode" value="wait" checked; " Stop and wait: in-progress actions finish" }
                        label { input type="radio" name="mode" value="abandon"; " Stop and abandon: in-progress actions are abandoned" }
                    }
                    label for="stop-reason" { "Comments (optional)" }
                    textarea #stop-reason name="reason" maxlength="200" {}
                    div.buttons {
                        button type="button" data-close { "Cancel" }
                        button.danger type="submit" { "Stop" }
                    }
                }
            }))
        }
    })
}

pub async fn view(State(console): State<Console>, ctx: Ctx, Path(name): Path<String>) -> Response {
    let arn = pipeline_arn(&console, &name);
    if let Err(r) = ctx
        .check(&console, "codepipeline:GetPipelineState", &arn)
        .await
    {
        return r;
    }
    let Ok(view) = console.sluice.get_pipeline(&name, None).await else {
        return ctx.error_page(
            StatusCode::NOT_FOUND,
            "Pipeline not found",
            &format!("There is no pipeline named {name}."),
        );
    };
    let Some(stages) = stages(&console, &ctx, &name).await else {
        return ctx.error_page(
            StatusCode::NOT_FOUND,
            "Pipeline not found",
            &format!("There is no pipeline named {name}."),
        );
    };
    let allowed = allowed(&console, &ctx, &view).await;
    let base = format!("/console/pipelines/{}", seg(&name));
    let s = &ctx.session;
    let body = html! {
        div.titlebar {
            h1 { (name) }
            div.actions {
                @if allowed.edit { a.button href=(format!("{base}/edit")) { "Edit" } }
                a.button href=(format!("{base}/history")) { "View history" }
                @if allowed.release { (button_form(s, &format!("{base}/release"), "Release change", "primary")) }
            }
        }
        p.meta {
            "Version " (view.declaration.version)
            " · " (view.declaration.pipeline_type.as_deref().unwrap_or("V1"))
            " · " (view.declaration.execution_mode.as_deref().unwrap_or("SUPERSEDED"))
            " · " a href=(format!("{base}/webhooks")) { "Webhooks" }
        }
        div #stages data-live=(format!("{base}/live")) { (stages) }
        @if allowed.delete {
            section.danger-zone {
                (dialog_button("delete", "Delete pipeline", "danger"))
                (dialog("delete", "Delete pipeline", html! {
                    form method="post" action=(format!("{base}/delete")) {
                        (csrf(s))
                        p { "This deletes the pipeline and its history. Type the pipeline's name to confirm." }
                        label for="delete-name" { "Pipeline name" }
                        input #delete-name name="confirm" required autocomplete="off";
                        div.buttons {
                            button type="button" data-close { "Cancel" }
                            button.danger type="submit" { "Delete" }
                        }
                    }
                }))
            }
        }
    };
    html::page(&name, Some(s), body).into_response()
}

pub async fn view_live(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Response {
    let arn = pipeline_arn(&console, &name);
    if let Err(r) = ctx
        .check(&console, "codepipeline:GetPipelineState", &arn)
        .await
    {
        return r;
    }
    let key = ctx.session.caller.access_key_id.clone();
    let ctx = std::sync::Arc::new(ctx);
    let c = console.clone();
    live::updates(console, key, move || {
        let (console, ctx, name) = (c.clone(), ctx.clone(), name.clone());
        async move {
            // A permission taken away ends the stream.
            let arn = pipeline_arn(&console, &name);
            if !ctx
                .may(&console, "codepipeline:GetPipelineState", &arn)
                .await
            {
                return None;
            }
            Some(stages(&console, &ctx, &name).await?.into_string())
        }
    })
    .into_response()
}

type FormMap = axum::Form<HashMap<String, String>>;

fn view_url(name: &str) -> String {
    format!("/console/pipelines/{}", seg(name))
}

pub async fn release(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
    axum::Form(form): FormMap,
) -> Response {
    let to = view_url(&name);
    ctx.button(&console, form, &to, |_| {
        ("StartPipelineExecution", json!({ "name": name }))
    })
    .await
}

pub async fn stop(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
    axum::Form(form): FormMap,
) -> Response {
    let to = view_url(&name);
    ctx.button(&console, form, &to, |form| {
        let mut input = json!({
            "pipelineName": name,
            "pipelineExecutionId": form.get("execution"),
            "abandon": form.get("mode") == "abandon",
        });
        if let Some(reason) = form.opt("reason") {
            input["reason"] = json!(reason);
        }
        ("StopPipelineExecution", input)
    })
    .await
}

pub async fn delete(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
    axum::Form(form): FormMap,
) -> Response {
    let form = match ctx.form(form) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if form.get("confirm") != name {
        return ctx.error_page(
            StatusCode::BAD_REQUEST,
            "Pipeline not deleted",
            "The name typed does not match the pipeline's name.",
        );
    }
    match ctx
        .call(&console, "DeletePipeline", json!({ "name": name }))
        .await
    {
        Ok(_) => back("/console/pipelines"),
        Err(r) => r,
    }
}

pub async fn transition(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, stage)): Path<(String, String)>,
    axum::Form(form): FormMap,
) -> Response {
    let to = view_url(&name);
    ctx.button(&console, form, &to, |form| {
        let mut input =
            json!({"pipelineName": name, "stageName": stage, "transitionType": "Inbound"});
        if form.get("enabled") == "false" {
            input["reason"] = json!(form.get("reason"));
            ("DisableStageTransition", input)
        } else {
            ("EnableStageTransition", input)
        }
    })
    .await
}

pub async fn retry(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, stage)): Path<(String, String)>,
    axum::Form(form): FormMap,
) -> Response {
    let to = view_url(&name);
    ctx.button(&console, form, &to, |form| {
        let input = json!({
            "pipelineName": name,
            "stageName": stage,
            "pipelineExecutionId": form.get("execution"),
            "retryMode": "FAILED_ACTIONS",
        });
        ("RetryStageExecution", input)
    })
    .await
}

/// What an approval asks (its custom data and link) and the answer: "Approve" or "Reject",
/// comments, "Submit"; posted to `action`.
fn review_form(
    session: &crate::session::Session,
    action: &str,
    declared: Option<&sluice_model::ActionDeclaration>,
    token: &str,
    cancel: Markup,
) -> Markup {
    html! {
        @if let Some(d) = declared {
            @if let Some(data) = d.configuration.get("CustomData") { p.custom { (data) } }
            @if let Some(link) = d.configuration.get("ExternalEntityLink") {
                p { "Review: " a href=(link) rel="noopener noreferrer" { (link) } }
            }
        }
        form.review method="post" action=(action) {
            (csrf(session))
            input type="hidden" name="token" value=(token);
            fieldset {
                legend { "Your decision" }
                label { input type="radio" name="result" value="Approved" required; " Approve" }
                label { input type="radio" name="result" value="Rejected"; " Reject" }
            }
            label { "Comments" textarea name="comments" maxlength="512" {} }
            div.buttons {
                (cancel)
                button.primary type="submit" { "Submit" }
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ReviewQuery {
    token: Option<String>,
}

/// The review page: what the approval asks (its custom data and link) and the answer form.
/// The approval notification's `approvalReviewLink` opens it.
pub async fn review_page(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, stage, action)): Path<(String, String, String)>,
    Query(q): Query<ReviewQuery>,
) -> Response {
    let arn = format!("{}/{stage}/{action}", pipeline_arn(&console, &name));
    if let Err(r) = ctx
        .check(&console, "codepipeline:PutApprovalResult", &arn)
        .await
    {
        return r;
    }
    let (Ok(view), Ok(state)) = (
        console.sluice.get_pipeline(&name, None).await,
        console.sluice.get_pipeline_state(&name).await,
    ) else {
        return ctx.error_page(
            StatusCode::NOT_FOUND,
            "Pipeline not found",
            &format!("There is no pipeline named {name}."),
        );
    };
    let declared = view
        .declaration
        .stage(&stage)
        .and_then(|s| s.actions.iter().find(|a| a.name == action));
    let latest = state
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.actions.iter().find(|a| a.name == action))
        .and_then(|a| a.latest.clone());
    let token = q
        .token
        .or_else(|| latest.as_ref().and_then(|l| l.token.clone()));
    let pending = latest.as_ref().is_some_and(|l| l.status == "InProgress");
    let s = &ctx.session;
    let body = html! {
        p.crumbs { a href=(view_url(&name)) { (name) } " › " (stage) " › " (action) }
        h1 { "Review" }
        @match token.filter(|_| pending) {
            None => (html::message("note", "This approval is not waiting for an answer.")),
            Some(token) => (review_form(s, &format!("{}/stages/{}/actions/{}/review", view_url(&name), seg(&stage), seg(&action)), declared, &token, html! { a.button href=(view_url(&name)) { "Cancel" } })),
        }
    };
    html::page("Review", Some(s), body).into_response()
}

pub async fn review(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, stage, action)): Path<(String, String, String)>,
    axum::Form(form): FormMap,
) -> Response {
    let to = view_url(&name);
    ctx.button(&console, form, &to, |form| {
        let input = json!({
            "pipelineName": name,
            "stageName": stage,
            "actionName": action,
            "result": {"summary": form.get("comments"), "status": form.get("result")},
            "token": form.get("token"),
        });
        ("PutApprovalResult", input)
    })
    .await
}
