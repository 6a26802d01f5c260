//! Custom action types (list, create, delete), a pipeline's webhooks, and the audit trail
//! (`LookupEvents` with its filters, and a check of the chain).

use crate::html::{self, csrf, seg, time};
use crate::{Console, Ctx};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::json;
use sluice_service::{AuditAttribute, AuditQuery, ChainCheck};
use std::collections::HashMap;

type FormMap = axum::Form<HashMap<String, String>>;

/// Events on one page of the trail.
const AUDIT_PAGE: usize = 50;

pub async fn action_types(State(console): State<Console>, ctx: Ctx) -> Response {
    let o = console.sluice.options();
    let all_types = format!(
        "arn:aws:codepipeline:{}:{}:actiontype:*",
        o.region, o.account_id
    );
    if let Err(r) = ctx
        .check(&console, "codepipeline:ListActionTypes", &all_types)
        .await
    {
        return r;
    }
    let types = match console.sluice.action_types_known().await {
        Ok(t) => t,
        Err(e) => {
            return ctx.error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Action types",
                &e.to_string(),
            )
        }
    };
    let custom_arn = |t: &sluice_model::ActionTypeId| {
        format!(
            "arn:aws:codepipeline:{}:{}:actiontype:Custom/{}/{}/{}",
            o.region, o.account_id, t.category, t.provider, t.version
        )
    };
    let may_create = ctx
        .may(
            &console,
            "codepipeline:CreateCustomActionType",
            &custom_arn(&sluice_model::ActionTypeId::new(
                "Build", "Custom", "*", "*",
            )),
        )
        .await;
    let mut rows = Vec::new();
    for t in types.iter() {
        let deletable = t.id.owner == "Custom"
            && ctx
                .may(
                    &console,
                    "codepipeline:DeleteCustomActionType",
                    &custom_arn(&t.id),
                )
                .await;
        rows.push((t, deletable));
    }
    let s = &ctx.session;
    let body = html! {
        h1 { "Action types" }
        table.types {
            thead { tr { th { "Category" } th { "Owner" } th { "Provider" } th { "Version" } th { "Input artifacts" } th { "Output artifacts" } th {} } }
            tbody {
                @for (t, deletable) in &rows {
                    tr {
                        td { (t.id.category) } td { (t.id.owner) } td { (t.id.provider) } td { (t.id.version) }
                        td { (t.input_artifact_details.minimum_count) "–" (t.input_artifact_details.maximum_count) }
                        td { (t.output_artifact_details.minimum_count) "–" (t.output_artifact_details.maximum_count) }
                        td {
                            @if *deletable {
                                form.inline method="post" action="/console/action-types/delete" {
                                    (csrf(s))
                                    input type="hidden" name="category" value=(t.id.category);
                                    input type="hidden" name="provider" value=(t.id.provider);
                                    input type="hidden" name="version" value=(t.id.version);
                                    button.small.danger type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if may_create {
            h2 { "Create custom action" }
            form.grid method="post" action="/console/action-types" {
                (csrf(s))
                label { "Category" select name="category" { @for c in ["Build", "Test", "Deploy", "Source", "Approval", "Invoke"] { option { (c) } } } }
                label { "Provider" input name="provider" required maxlength="35"; }
                label { "Version" input name="version" required maxlength="9" value="1"; }
                label { "Input artifacts (min)" input name="in_min" type="number" min="0" max="5" value="0"; }
                label { "Input artifacts (max)" input name="in_max" type="number" min="0" max="5" value="1"; }
                label { "Output artifacts (min)" input name="out_min" type="number" min="0" max="5" value="0"; }
                label { "Output artifacts (max)" input name="out_max" type="number" min="0" max="5" value="1"; }
                label { "Execution URL template" input name="execution_url" placeholder="https://ci.example.com/jobs/{ExternalExecutionId}"; }
                div.buttons { button.primary type="submit" { "Create" } }
            }
        }
    };
    html::page("Action types", Some(s), body).into_response()
}

fn count(form: &crate::Form, name: &str) -> i64 {
    form.get(name).parse().unwrap_or(0)
}

pub async fn create_action_type(
    State(console): State<Console>,
    ctx: Ctx,
    axum::Form(form): FormMap,
) -> Response {
    ctx.button(&console, form, "/console/action-types", |form| {
        let details = |min: &str, max: &str| {
            json!({"minimumCount": count(form, min), "maximumCount": count(form, max)})
        };
        let mut input = json!({
            "category": form.get("category"),
            "provider": form.get("provider"),
            "version": form.get("version"),
            "inputArtifactDetails": details("in_min", "in_max"),
            "outputArtifactDetails": details("out_min", "out_max"),
        });
        if let Some(url) = form.opt("execution_url") {
            input["settings"] = json!({ "executionUrlTemplate": url });
        }
        ("CreateCustomActionType", input)
    })
    .await
}

pub async fn delete_action_type(
    State(console): State<Console>,
    ctx: Ctx,
    axum::Form(form): FormMap,
) -> Response {
    ctx.button(&console, form, "/console/action-types", |form| {
        let id = json!({"category": form.get("category"), "provider": form.get("provider"), "version": form.get("version")});
        ("DeleteCustomActionType", id)
    })
    .await
}

pub async fn webhooks(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = ctx.check(&console, "codepipeline:ListWebhooks", "*").await {
        return r;
    }
    let mut hooks = Vec::new();
    let mut token: Option<String> = None;
    loop {
        match console
            .sluice
            .list_webhooks(Some(100), token.as_deref())
            .await
        {
            Ok(page) => {
                hooks.extend(
                    page.items
                        .into_iter()
                        .filter(|w| w.definition.target_pipeline == name),
                );
                match page.next_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            Err(e) => {
                return ctx.error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Webhooks",
                    &e.to_string(),
                )
            }
        }
    }
    let body = html! {
        p.crumbs { a href=(format!("/console/pipelines/{}", seg(&name))) { (name) } " › Webhooks" }
        h1 { "Webhooks" }
        @if hooks.is_empty() {
            p.empty { "No webhooks start this pipeline. Create one with " code { "aws codepipeline put-webhook" } "." }
        } @else {
            table {
                thead { tr { th { "Name" } th { "Target action" } th { "Authentication" } th { "Filters" } th { "URL" } th { "Last triggered" } } }
                tbody {
                    @for w in &hooks {
                        tr {
                            td { (w.definition.name) }
                            td { (w.definition.target_action) }
                            td { (w.definition.authentication) }
                            td { @for f in &w.definition.filters { div { code { (f.json_path) } @if let Some(m) = &f.match_equals { " = " code { (m) } } } } }
                            td { code.url { (w.url) } }
                            td { @if let Some(at) = w.last_triggered_ms { (time(at)) } @else { "Never" } }
                        }
                    }
                }
            }
        }
    };
    html::page("Webhooks", Some(&ctx.session), body).into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct AuditFilter {
    attribute: Option<String>,
    value: Option<String>,
    before: Option<i64>,
}

const ATTRIBUTES: &[&str] = &[
    "EventName",
    "Username",
    "ResourceName",
    "ResourceType",
    "EventSource",
    "AccessKeyId",
    "ReadOnly",
    "EventId",
];

fn attribute(name: &str, value: &str) -> Option<AuditAttribute> {
    let v = value.to_string();
    Some(match name {
        "EventName" => AuditAttribute::EventName(v),
        "Username" => AuditAttribute::Username(v),
        "ResourceName" => AuditAttribute::ResourceName(v),
        "ResourceType" => AuditAttribute::ResourceType(v),
        "EventSource" => AuditAttribute::EventSource(v),
        "AccessKeyId" => AuditAttribute::AccessKeyId(v),
        "ReadOnly" => AuditAttribute::ReadOnly(value == "true"),
        "EventId" => AuditAttribute::EventId(v),
        _ => return None,
    })
}

pub async fn audit(
    State(console): State<Console>,
    ctx: Ctx,
    Query(q): Query<AuditFilter>,
) -> Response {
    audit_page(console, ctx, q, None).await
}

async fn audit_page(
    console: Console,
    ctx: Ctx,
    q: AuditFilter,
    check: Option<ChainCheck>,
) -> Response {
    if let Err(r) = ctx.check(&console, "cloudtrail:LookupEvents", "*").await {
        return r;
    }
    let name = q.attribute.clone().unwrap_or_default();
    let value = q.value.clone().unwrap_or_default();
    let query = AuditQuery {
        start_ms: None,
        end_ms: None,
        attribute: if value.is_empty() {
            None
        } else {
            attribute(&name, &value)
        },
        before_seq: q.before,
        limit: AUDIT_PAGE,
    };
    let events = match console.sluice.lookup_audit(&query).await {
        Ok(e) => e,
        Err(e) => {
            return ctx.error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Audit trail",
                &e.to_string(),
            )
        }
    };
    let older = (events.len() == AUDIT_PAGE)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let s = &ctx.session;
    let body = html! {
        h1 { "Audit trail" }
        form.filter method="get" action="/console/audit" role="search" {
            label for="attribute" { "Lookup attribute" }
            select #attribute name="attribute" {
                @for a in ATTRIBUTES { option selected[*a == name] { (a) } }
            }
            label for="value" { "Value" }
            input #value name="value" value=(value);
            button type="submit" { "Look up" }
        }
        form.inline method="post" action="/console/audit/verify" {
            (csrf(s))
            button type="submit" { "Verify chain" }
        }
        @match &check {
            Some(ChainCheck::Intact { events, pruned, last_hash }) => {
                (html::message("note", &format!("The chain is intact: {events} events (after {pruned} pruned by retention), the last hash {last_hash}. Compare with an anchor kept off the machine: sluice audit verify --anchor.")))
            }
            Some(ChainCheck::Broken { seq, event_id, reason }) => {
                (html::message("error", &format!("The chain is broken at event #{seq} {event_id}: {reason}")))
            }
            None => {}
        }
        @if events.is_empty() {
            p.empty { "No events." }
        } @else {
            table.audit {
                thead { tr { th { "Event time" } th { "User name" } th { "Event name" } th { "Event source" } th { "Resources" } th { "Access key" } } }
                tbody {
                    @for e in &events {
                        tr {
                            td { (time(e.event.event_time_ms)) }
                            td { (e.event.username.as_deref().unwrap_or("")) }
                            td {
                                details {
                                    summary { (e.event.event_name) }
                                    pre.event { (serde_json::from_str::<serde_json::Value>(&e.event.document).ok().and_then(|v| serde_json::to_string_pretty(&v).ok()).unwrap_or_default()) }
                                }
                            }
                            td { (e.event.event_source) }
                            td { @for (_, r) in &e.event.resources { div { code { (r) } } } }
                            td { code { (e.event.access_key_id.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        }
        @if let Some(seq) = older {
            p { a href=(format!("/console/audit?attribute={}&value={}&before={seq}", html::seg(&name), html::seg(&value))) { "Older events" } }
        }
    };
    html::page("Audit trail", Some(s), body).into_response()
}

pub async fn verify_chain(
    State(console): State<Console>,
    ctx: Ctx,
    axum::Form(form): FormMap,
) -> Response {
    if let Err(r) = ctx.form(form) {
        return r;
    }
    if let Err(r) = ctx.check(&console, "cloudtrail:LookupEvents", "*").await {
        return r;
    }
    match console.sluice.verify_audit_chain(None).await {
        Ok(check) => audit_page(console, ctx, AuditFilter::default(), Some(check)).await,
        Err(e) => ctx.error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Audit trail",
            &e.to_string(),
        ),
    }
}
