//! Execution history, one execution's timeline, an action's details with its log (streamed while
//! the action runs), artifact downloads, and a revision's lineage through the pipeline.

use crate::html::{self, seg, short, status, time};
use crate::{pipeline_arn, Console, Ctx};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use sluice_service::{ActionAttemptView, ExecutionView};
use std::time::Duration;

/// Executions on one page of the history.
const HISTORY_PAGE: usize = 50;
/// Executions the lineage of a revision looks through.
const LINEAGE_SCOPE: usize = 100;
/// How often a running action's log is read again.
const LOG_POLL: Duration = Duration::from_millis(1000);

fn base(name: &str) -> String {
    format!("/console/pipelines/{}", seg(name))
}

fn not_found(ctx: &Ctx, what: &str) -> Response {
    ctx.error_page(StatusCode::NOT_FOUND, "Not found", what)
}

fn revisions(name: &str, e: &ExecutionView) -> Markup {
    html! {
        @for r in &e.artifact_revisions {
            div.revision {
                span.artifact { (r.name) } " "
                a href=(format!("{}/lineage?revision={}", base(name), html::seg(&r.revision_id))) { (short(&r.revision_id)) }
                @if let Some(s) = &r.summary { " " span.summary { (s.lines().next().unwrap_or_default()) } }
            }
        }
    }
}

fn elapsed(console: &Console, e: &ExecutionView) -> String {
    let end = if matches!(e.status.as_str(), "InProgress" | "Stopping") {
        console.sluice.now_ms()
    } else {
        e.updated_ms
    };
    html::duration(end - e.started_ms)
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    next: Option<String>,
}

pub async fn history(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let arn = pipeline_arn(&console, &name);
    if let Err(r) = ctx
        .check(&console, "codepipeline:ListPipelineExecutions", &arn)
        .await
    {
        return r;
    }
    let page = match console
        .sluice
        .list_pipeline_executions(&name, Some(HISTORY_PAGE), q.next.as_deref())
        .await
    {
        Ok(p) => p,
        Err(e) => return not_found(&ctx, &e.to_string()),
    };
    let b = base(&name);
    let body = html! {
        p.crumbs { a href=(b) { (name) } " › History" }
        h1 { "Execution history" }
        @if page.items.is_empty() {
            p.empty { "This pipeline has not run yet." }
        } @else {
            table.history {
                thead { tr { th { "Execution ID" } th { "Status" } th { "Trigger" } th { "Source revisions" } th { "Started" } th { "Duration" } } }
                tbody {
                    @for e in &page.items {
                        tr {
                            td { a href=(format!("{b}/executions/{}", seg(&e.id))) { (short(&e.id)) } }
                            td { (status(&e.status)) }
                            td { (e.trigger.kind) @if !e.trigger.detail.is_empty() { br; span.detail { (e.trigger.detail) } } }
                            td { (revisions(&name, e)) }
                            td { (time(e.started_ms)) }
                            td { (elapsed(&console, e)) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next_token {
            p { a href=(format!("{b}/history?next={}", html::seg(next))) { "Older executions" } }
        }
    };
    html::page("Execution history", Some(&ctx.session), body).into_response()
}

/// Every attempt of every action of execution `id`, oldest first; a failure to read them is
/// the page's answer.
async fn attempts(
    console: &Console,
    ctx: &Ctx,
    name: &str,
    id: &str,
) -> Result<Vec<ActionAttemptView>, Response> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = console
            .sluice
            .list_action_executions(name, Some(id), false, Some(100), token.as_deref())
            .await
            .map_err(|e| failure(ctx, e))?;
        all.extend(page.items);
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    all.sort_by_key(|a| a.start_ms);
    Ok(all)
}

/// A read that failed: not found for what does not exist, an internal failure otherwise.
fn failure(ctx: &Ctx, e: sluice_service::Error) -> Response {
    match e {
        sluice_service::Error::Internal(cause) => {
            tracing::error!(cause, "a console page could not be read");
            ctx.error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal failure",
                "The page could not be read; the cause is in the server's log.",
            )
        }
        other => not_found(ctx, &other.to_string()),
    }
}

pub async fn execution(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let arn = pipeline_arn(&console, &name);
    if let Err(r) = ctx
        .check(&console, "codepipeline:GetPipelineExecution", &arn)
        .await
    {
        return r;
    }
    let Ok(e) = console.sluice.get_pipeline_execution(&name, &id).await else {
        return not_found(&ctx, &format!("Pipeline {name} has no execution {id}."));
    };
    let see_actions = ctx
        .may(&console, "codepipeline:ListActionExecutions", &arn)
        .await;
    let all = if see_actions {
        match attempts(&console, &ctx, &name, &id).await {
            Ok(all) => all,
            Err(page) => return page,
        }
    } else {
        Vec::new()
    };
    let mut stages: Vec<&str> = Vec::new();
    for a in &all {
        if !stages.contains(&a.stage.as_str()) {
            stages.push(&a.stage);
        }
    }
    let b = base(&name);
    let body = html! {
        p.crumbs { a href=(b) { (name) } " › " a href=(format!("{b}/history")) { "History" } " › " (short(&id)) }
        h1 { "Execution " code { (id) } }
        dl.facts {
            dt { "Status" } dd { (status(&e.status)) @if let Some(s) = &e.status_summary { " " span.summary { (s) } } }
            dt { "Trigger" } dd { (e.trigger.kind) " " span.detail { (e.trigger.detail) } }
            dt { "Mode" } dd { (e.mode) }
            dt { "Started" } dd { (time(e.started_ms)) }
            dt { "Duration" } dd { (elapsed(&console, &e)) }
            dt { "Pipeline version" } dd { (e.pipeline_version) }
            @if let Some(target) = &e.rollback_target { dt { "Rolls back to" } dd { (short(target)) } }
            dt { "Source revisions" } dd { (revisions(&name, &e)) }
        }
        @if !e.variables.is_empty() {
            h2 { "Variables" }
            table { tbody { @for (k, v) in &e.variables { tr { th { (k) } td { (v) } } } } }
        }
        h2 { "Timeline" }
        @if !see_actions {
            (html::message("note", "You are not authorized to list this pipeline's action executions."))
        }
        ol.timeline {
            @for stage in &stages {
                li {
                    h3 { (stage) }
                    table {
                        thead { tr { th { "Action" } th { "Status" } th { "Started" } th { "Duration" } th { "Summary" } } }
                        tbody {
                            @for a in all.iter().filter(|a| a.stage == *stage) {
                                tr {
                                    td { a href=(format!("{b}/executions/{}/actions/{}", seg(&id), seg(&a.action_execution_id))) { (a.action) } }
                                    td { (status(&a.status)) }
                                    td { (time(a.start_ms)) }
                                    td { (html::duration(a.last_update_ms - a.start_ms)) }
                                    td { @if let Some((code, msg)) = &a.error { span.error { (code) ": " (msg) } } @else if let Some(s) = &a.summary { (s) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html::page("Execution", Some(&ctx.session), body).into_response()
}

/// The attempt `action_execution` of execution `id`, if the caller may see it.
async fn attempt(
    console: &Console,
    ctx: &Ctx,
    name: &str,
    id: &str,
    action_execution: &str,
) -> Result<ActionAttemptView, Response> {
    let arn = pipeline_arn(console, name);
    ctx.check(console, "codepipeline:ListActionExecutions", &arn)
        .await?;
    attempts(console, ctx, name, id)
        .await?
        .into_iter()
        .find(|a| a.action_execution_id == action_execution)
        .ok_or_else(|| {
            not_found(
                ctx,
                &format!("Execution {id} of {name} has no action execution {action_execution}."),
            )
        })
}

/// A built-in action's `externalExecutionUrl`: its job's action page.
pub async fn job(State(console): State<Console>, ctx: Ctx, Path(job): Path<String>) -> Response {
    match console.sluice.job_details(&job).await {
        Ok(j) => crate::back(&format!(
            "{}/executions/{}/actions/{}",
            base(&j.pipeline),
            seg(&j.execution_id),
            seg(&j.action_execution_id)
        )),
        Err(_) => not_found(
            &ctx,
            &format!("Job {job} is not known here (finished jobs are forgotten after [jobs] retain_finished_days); its log may still be at sluice-logs/jobs/{job}.log."),
        ),
    }
}

/// The stored log of a built-in action's job, if it has one.
async fn log_text(console: &Console, a: &ActionAttemptView) -> Option<String> {
    let job = a.external_execution_id.as_deref()?;
    let bytes = console
        .sluice
        .read_object(
            sluice_service::LOG_BUCKET,
            &sluice_service::job_log_key(job),
        )
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn running(status: &str) -> bool {
    status == "InProgress"
}

pub async fn action(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, id, action_execution)): Path<(String, String, String)>,
) -> Response {
    let a = match attempt(&console, &ctx, &name, &id, &action_execution).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let log = log_text(&console, &a).await;
    let b = base(&name);
    let log_url = format!(
        "{b}/executions/{}/actions/{}/log",
        seg(&id),
        seg(&action_execution)
    );
    let body = html! {
        p.crumbs { a href=(b) { (name) } " › " a href=(format!("{b}/executions/{}", seg(&id))) { "Execution " (short(&id)) } " › " (a.stage) " › " (a.action) }
        h1 { (a.action) }
        dl.facts {
            dt { "Status" } dd #action-status { (status(&a.status)) }
            @if let Some(d) = &a.declaration {
                dt { "Provider" } dd { (d.action_type_id.provider) " (" (d.action_type_id.category) ", " (d.action_type_id.owner) ", version " (d.action_type_id.version) ")" }
            }
            dt { "Started" } dd { (time(a.start_ms)) }
            dt { "Last updated" } dd { (time(a.last_update_ms)) }
            @if let Some(by) = &a.updated_by { dt { "Updated by" } dd { (by) } }
            @if let Some(s) = &a.summary { dt { "Summary" } dd { (s) } }
            @if let Some((code, msg)) = &a.error { dt { "Error" } dd.error { (code) ": " (msg) } }
            @if let Some(x) = &a.external_execution_id { dt { "External execution ID" } dd { code { (x) } } }
        }
        @if let Some(commands) = a.declaration.as_ref().map(|d| &d.commands).filter(|c| !c.is_empty()) {
            h2 { "Commands" }
            pre.commands { @for c in commands { (c) "\n" } }
        }
        h2 { "Configuration" }
        @if a.resolved_configuration.is_empty() { p.empty { "None" } }
        @else { table.config { tbody { @for (k, v) in &a.resolved_configuration { tr { th { (k) } td { code { (v) } } } } } } }
        div.columns {
            div {
                h2 { "Input artifacts" }
                (artifacts(&b, &id, &a.input_artifacts))
            }
            div {
                h2 { "Output artifacts" }
                (artifacts(&b, &id, &a.output_artifacts))
            }
        }
        @if !a.output_variables.is_empty() {
            h2 { "Output variables" }
            table { tbody { @for (k, v) in &a.output_variables { tr { th { (k) } td { code { (v) } } } } } }
        }
        h2 { "Log" }
        @if log.is_none() && !running(&a.status) {
            p.empty { "This action has no log." }
        } @else {
            pre.log #log data-log=(if running(&a.status) { log_url.as_str() } else { "" }) aria-live="polite" { (log.unwrap_or_default()) }
        }
    };
    html::page(&a.action, Some(&ctx.session), body).into_response()
}

fn artifacts(base: &str, id: &str, list: &[(String, Option<(String, String)>)]) -> Markup {
    html! {
        @if list.is_empty() { p.empty { "None" } }
        ul {
            @for (artifact, location) in list {
                li {
                    @if location.is_some() {
                        a href=(format!("{base}/executions/{}/artifacts/{}", seg(id), seg(artifact))) download { (artifact) }
                    } @else { (artifact) }
                }
            }
        }
    }
}

/// A running action's log as it grows: `append` events with the new text, then `end` once the
/// action has finished and the whole log was sent.
pub async fn log_live(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, id, action_execution)): Path<(String, String, String)>,
) -> Response {
    if let Err(r) = attempt(&console, &ctx, &name, &id, &action_execution).await {
        return r;
    }
    struct Follow {
        console: Console,
        ctx: Ctx,
        name: String,
        id: String,
        action_execution: String,
        sent: usize,
        done: bool,
    }
    let follow = Follow {
        console,
        ctx,
        name,
        id,
        action_execution,
        sent: 0,
        done: false,
    };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            let a = attempt(&f.console, &f.ctx, &f.name, &f.id, &f.action_execution)
                .await
                .ok()?;
            // The key must still work for the log to keep coming.
            if !matches!(
                f.console
                    .sluice
                    .access_key(&f.ctx.session.caller.access_key_id)
                    .await,
                Ok(Some(_))
            ) {
                return None;
            }
            let finished = !running(&a.status);
            let text = log_text(&f.console, &a).await.unwrap_or_default();
            // A log is only ever appended to while its job runs.
            let new = text.get(f.sent..).unwrap_or_default();
            if !new.is_empty() {
                f.sent = text.len();
                let data = serde_json::json!({ "text": new }).to_string();
                return Some((
                    Ok::<_, std::convert::Infallible>(Event::default().event("append").data(data)),
                    f,
                ));
            }
            if finished {
                f.done = true;
                return Some((Ok(Event::default().event("end").data(a.status)), f));
            }
            tokio::select! {
                () = tokio::time::sleep(LOG_POLL) => {}
                () = f.console.live.closing() => return None,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

pub async fn artifact(
    State(console): State<Console>,
    ctx: Ctx,
    Path((name, id, artifact)): Path<(String, String, String)>,
) -> Response {
    let arn = pipeline_arn(&console, &name);
    if let Err(r) = ctx
        .check(&console, "codepipeline:ListActionExecutions", &arn)
        .await
    {
        return r;
    }
    let all = match attempts(&console, &ctx, &name, &id).await {
        Ok(all) => all,
        Err(page) => return page,
    };
    let location = all
        .into_iter()
        .flat_map(|a| a.input_artifacts.into_iter().chain(a.output_artifacts))
        .find(|(n, l)| *n == artifact && l.is_some())
        .and_then(|(_, l)| l);
    let Some((bucket, key)) = location else {
        return not_found(&ctx, &format!("Execution {id} has no artifact {artifact}."));
    };
    // Reading an artifact is reading its object: the same decision as S3's GetObject.
    if let Err(r) = ctx
        .check(
            &console,
            "s3:GetObject",
            &format!("arn:aws:s3:::{bucket}/{key}"),
        )
        .await
    {
        return r;
    }
    match console.sluice.get_object(&bucket, &key, None).await {
        Ok((_, body)) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.zip\"", seg(&artifact)),
                ),
            ],
            axum::body::Body::from_stream(body),
        )
            .into_response(),
        Err(e) => not_found(&ctx, &e.to_string()),
    }
}

#[derive(serde::Deserialize)]
pub struct LineageQuery {
    revision: Option<String>,
}

/// Which executions a source revision started or rode along in, and how far each got: the
/// stages it passed, failed in or is in now.
pub async fn lineage(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(q): Query<LineageQuery>,
) -> Response {
    let arn = pipeline_arn(&console, &name);
    if let Err(r) = ctx
        .check(&console, "codepipeline:ListPipelineExecutions", &arn)
        .await
    {
        return r;
    }
    let revision = q.revision.unwrap_or_default();
    let executions: Vec<ExecutionView> = match console
        .sluice
        .list_pipeline_executions(&name, Some(LINEAGE_SCOPE), None)
        .await
    {
        Ok(p) => p
            .items
            .into_iter()
            .filter(|e| {
                e.artifact_revisions
                    .iter()
                    .any(|r| r.revision_id == revision)
            })
            .collect(),
        Err(e) => return not_found(&ctx, &e.to_string()),
    };
    let see_actions = ctx
        .may(&console, "codepipeline:ListActionExecutions", &arn)
        .await;
    let declaration = console
        .sluice
        .get_pipeline(&name, None)
        .await
        .ok()
        .map(|v| v.declaration);
    let stage_names: Vec<String> = declaration
        .map(|d| d.stages.into_iter().map(|s| s.name).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for e in &executions {
        let per_stage: Vec<(String, String)> = if see_actions {
            let all = match attempts(&console, &ctx, &name, &e.id).await {
                Ok(all) => all,
                Err(page) => return page,
            };
            stage_names
                .iter()
                .map(|stage| {
                    let statuses: Vec<&str> = all
                        .iter()
                        .filter(|a| &a.stage == stage)
                        .map(|a| a.status.as_str())
                        .collect();
                    let s = if statuses.is_empty() {
                        ""
                    } else if statuses.contains(&"Failed") {
                        "Failed"
                    } else if statuses.contains(&"InProgress") {
                        "InProgress"
                    } else if statuses.iter().all(|s| *s == "Succeeded") {
                        "Succeeded"
                    } else {
                        statuses[statuses.len() - 1]
                    };
                    (stage.clone(), s.to_string())
                })
                .collect()
        } else {
            Vec::new()
        };
        rows.push((e, per_stage));
    }
    let b = base(&name);
    let summary = executions
        .iter()
        .flat_map(|e| e.artifact_revisions.iter())
        .find(|r| r.revision_id == revision)
        .and_then(|r| r.summary.clone());
    let body = html! {
        p.crumbs { a href=(b) { (name) } " › Lineage" }
        h1 { "Revision " code { (revision) } }
        @if let Some(s) = summary { p.summary { (s) } }
        @if rows.is_empty() {
            p.empty { "No recent execution of this pipeline carried this revision." }
        } @else {
            table.lineage {
                thead { tr { th { "Execution" } th { "Status" } th { "Started" } @for s in &stage_names { th { (s) } } } }
                tbody {
                    @for (e, per_stage) in &rows {
                        tr {
                            td { a href=(format!("{b}/executions/{}", seg(&e.id))) { (short(&e.id)) } }
                            td { (status(&e.status)) }
                            td { (time(e.started_ms)) }
                            @for (_, s) in per_stage { td { (status(s)) } }
                        }
                    }
                }
            }
        }
    };
    html::page("Lineage", Some(&ctx.session), body).into_response()
}
