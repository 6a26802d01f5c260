//! The create-pipeline wizard and the pipeline editor. Both build a declaration and make the
//! API call (`CreatePipeline`, `UpdatePipeline`), so the API's validation judges it and its
//! answer is shown next to the fields it names.

use crate::html::{self, csrf, seg};
use crate::{back, pipeline_arn, Console, Ctx, Form};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::{json, Value};
use std::collections::HashMap;

type FormMap = axum::Form<HashMap<String, String>>;

/// `KEY=VALUE` lines as a configuration map (blank lines skipped).
fn config_lines(text: &str) -> Result<serde_json::Map<String, Value>, String> {
    let mut map = serde_json::Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("“{line}” is not KEY=VALUE"))?;
        map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    Ok(map)
}

fn lines_of(config: &serde_json::Map<String, Value>) -> String {
    config
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn names(text: &str) -> Vec<Value> {
    text.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| json!({ "name": n }))
        .collect()
}

/// The problems an API error names, by the wizard section they belong to.
fn section_of(message: &str) -> &'static str {
    let m = message.to_lowercase();
    if m.contains("stage 'source'")
        || m.contains("s3bucket")
        || m.contains("repositoryname")
        || m.contains("source")
    {
        "source"
    } else if m.contains("stage 'build'") || m.contains("projectname") || m.contains("commands") {
        "build"
    } else if m.contains("stage 'deploy'")
        || m.contains("applicationname")
        || m.contains("deploymentgroup")
    {
        "deploy"
    } else if m.contains("role") {
        "role"
    } else {
        "name"
    }
}

fn problem(problems: &[String], section: &str) -> Markup {
    html! {
        @for message in problems.iter().filter(|m| section_of(m) == section) {
            p.problem role="alert" { (message) }
        }
    }
}

fn field(form: &Form, id: &str, label: &str, hint: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(id) value=(form.get(id)) placeholder=(hint);
    }
}

/// The wizard, with the API's answer to a failed attempt on top and every problem of the
/// declaration beside the step it concerns.
fn wizard(
    console: &Console,
    ctx: &Ctx,
    form: &Form,
    error: Option<&(String, String)>,
    problems: &[String],
) -> Markup {
    let o = console.sluice.options();
    let default_bucket = format!("codepipeline-{}-{}", o.region, o.account_id);
    let picked = |name: &str, value: &str, default: bool| {
        let v = form.get(name);
        v == value || (v.is_empty() && default)
    };
    html! {
        h1 { "Create pipeline" }
        @if let Some((code, message)) = error { (html::message("error", &format!("{code}: {message}"))) }
        form.wizard method="post" action="/console/create" {
            (csrf(&ctx.session))
            fieldset {
                legend { "Step 1: Choose pipeline settings" }
                label for="name" { "Pipeline name" }
                input #name name="name" value=(form.get("name")) required maxlength="100" pattern="[A-Za-z0-9.@\\-_]+";
                (problem(problems, "name"))
                label for="role" { "Service role" }
                input #role name="role" value=(if form.get("role").is_empty() { console.sluice.default_service_role_arn() } else { form.get("role").to_string() }) required;
                (problem(problems, "role"))
                label for="bucket" { "Artifact store (S3 bucket)" }
                input #bucket name="bucket" value=(if form.get("bucket").is_empty() { default_bucket } else { form.get("bucket").to_string() }) required;
            }
            fieldset {
                legend { "Step 2: Add source stage" }
                label for="source" { "Source provider" }
                select #source name="source" {
                    option value="S3" selected[picked("source", "S3", true)] { "Amazon S3" }
                    option value="CodeCommit" selected[picked("source", "CodeCommit", false)] { "AWS CodeCommit" }
                    option value="GitHub" selected[picked("source", "GitHub", false)] { "GitHub" }
                }
                div data-when="source=S3" { (field(form, "s3_bucket", "Bucket", "my-bucket")) (field(form, "s3_key", "S3 object key", "app.zip")) }
                div data-when="source=CodeCommit" { (field(form, "repository", "Repository name", "MyDemoRepo")) (field(form, "branch", "Branch name", "main")) }
                div data-when="source=GitHub" {
                    (field(form, "owner", "Owner", "octocat")) (field(form, "repo", "Repository", "hello-world")) (field(form, "gh_branch", "Branch", "main"))
                    label for="token" { "Personal access token" }
                    input #token type="password" name="token" autocomplete="off";
                }
                (problem(problems, "source"))
            }
            fieldset {
                legend { "Step 3: Add build stage" }
                label for="build" { "Build provider" }
                select #build name="build" {
                    option value="none" selected[picked("build", "none", true)] { "Skip build stage" }
                    option value="Commands" selected[picked("build", "Commands", false)] { "Commands" }
                    option value="CodeBuild" selected[picked("build", "CodeBuild", false)] { "AWS CodeBuild" }
                    option value="custom" selected[picked("build", "custom", false)] { "Custom action" }
                }
                div data-when="build=Commands" {
                    label for="commands" { "Commands (one per line)" }
                    textarea #commands name="commands" rows="4" { (form.get("commands")) }
                }
                div data-when="build=CodeBuild" { (field(form, "project", "Project name", "MyBuildProject")) }
                div data-when="build=custom" { (field(form, "custom_provider", "Provider", "MyBuilder")) (field(form, "custom_version", "Version", "1")) }
                (problem(problems, "build"))
            }
            fieldset {
                legend { "Step 4: Add deploy stage" }
                label for="deploy" { "Deploy provider" }
                select #deploy name="deploy" {
                    option value="none" selected[picked("deploy", "none", true)] { "Skip deploy stage" }
                    option value="CodeDeploy" selected[picked("deploy", "CodeDeploy", false)] { "AWS CodeDeploy" }
                }
                div data-when="deploy=CodeDeploy" { (field(form, "application", "Application name", "MyApp")) (field(form, "group", "Deployment group", "MyGroup")) }
                (problem(problems, "deploy"))
            }
            div.buttons {
                a.button href="/console/pipelines" { "Cancel" }
                button.primary type="submit" { "Create pipeline" }
            }
        }
    }
}

/// The declaration the wizard's answers describe.
fn declaration(form: &Form) -> Value {
    let mut stages = Vec::new();
    let (source_type, source_config) = match form.get("source") {
        "CodeCommit" => (
            json!({"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"}),
            json!({"RepositoryName": form.get("repository"), "BranchName": form.get("branch")}),
        ),
        "GitHub" => (
            json!({"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}),
            json!({"Owner": form.get("owner"), "Repo": form.get("repo"), "Branch": form.get("gh_branch"), "OAuthToken": form.get("token")}),
        ),
        _ => (
            json!({"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}),
            json!({"S3Bucket": form.get("s3_bucket"), "S3ObjectKey": form.get("s3_key")}),
        ),
    };
    stages.push(json!({"name": "Source", "actions": [{
        "name": "Source", "actionTypeId": source_type, "configuration": source_config,
        "outputArtifacts": [{"name": "SourceArtifact"}], "runOrder": 1
    }]}));
    let mut deploy_input = "SourceArtifact";
    let build = match form.get("build") {
        "Commands" => Some(json!({
            "name": "Build", "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": form.get("commands").lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>(),
            "inputArtifacts": [{"name": "SourceArtifact"}], "runOrder": 1
        })),
        "CodeBuild" => Some(json!({
            "name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
            "configuration": {"ProjectName": form.get("project")},
            "inputArtifacts": [{"name": "SourceArtifact"}], "outputArtifacts": [{"name": "BuildArtifact"}], "runOrder": 1
        })),
        "custom" => Some(json!({
            "name": "Build", "actionTypeId": {"category": "Build", "owner": "Custom", "provider": form.get("custom_provider"), "version": form.get("custom_version")},
            "inputArtifacts": [{"name": "SourceArtifact"}], "outputArtifacts": [{"name": "BuildArtifact"}], "runOrder": 1
        })),
        _ => None,
    };
    if let Some(action) = build {
        // A Commands action's workspace is not an artifact unless it names one.
        if action.get("outputArtifacts").is_some() {
            deploy_input = "BuildArtifact";
        }
        stages.push(json!({"name": "Build", "actions": [action]}));
    }
    if form.get("deploy") == "CodeDeploy" {
        stages.push(json!({"name": "Deploy", "actions": [{
            "name": "Deploy", "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
            "configuration": {"ApplicationName": form.get("application"), "DeploymentGroupName": form.get("group")},
            "inputArtifacts": [{"name": deploy_input}], "runOrder": 1
        }]}));
    }
    // An answer left empty is left out, so the API says the property is missing (and where).
    for stage in &mut stages {
        for action in stage["actions"].as_array_mut().into_iter().flatten() {
            if let Some(config) = action["configuration"].as_object_mut() {
                config.retain(|_, v| v.as_str().is_some_and(|v| !v.is_empty()));
            }
        }
    }
    let mut pipeline = json!({
        "name": form.get("name"),
        "roleArn": form.get("role"),
        "artifactStore": {"type": "S3", "location": form.get("bucket")},
        "stages": stages,
    });
    // Commands actions exist only in V2 pipelines.
    if form.get("build") == "Commands" {
        pipeline["pipelineType"] = json!("V2");
    }
    pipeline
}

pub async fn create_page(State(console): State<Console>, ctx: Ctx) -> Response {
    if let Err(r) = ctx
        .check(
            &console,
            "codepipeline:CreatePipeline",
            &pipeline_arn(&console, "*"),
        )
        .await
    {
        return r;
    }
    let empty = Form(HashMap::new());
    html::page(
        "Create pipeline",
        Some(&ctx.session),
        wizard(&console, &ctx, &empty, None, &[]),
    )
    .into_response()
}

pub async fn create(
    State(console): State<Console>,
    ctx: Ctx,
    axum::Form(form): FormMap,
) -> Response {
    let form = match ctx.form(form) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let pipeline = declaration(&form);
    let input = json!({ "pipeline": pipeline });
    let caller = &ctx.session.caller;
    let e = match sluice_api::call_as(&console.sluice, caller, "CreatePipeline", &input, &ctx.info)
        .await
    {
        Ok(_) => return back(&format!("/console/pipelines/{}", seg(form.get("name")))),
        Err(e) => e,
    };
    let status = if e.code == "AccessDeniedException" {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    // The API names the first problem; the form shows each one beside its step.
    let mut problems = sluice_api::pipeline_problems(&console.sluice, &pipeline)
        .await
        .unwrap_or_default();
    if problems.is_empty() {
        problems.push(e.message.clone());
    }
    let error = (e.code.to_string(), e.message);
    let page = wizard(&console, &ctx, &form, Some(&error), &problems);
    (
        status,
        html::page("Create pipeline", Some(&ctx.session), page),
    )
        .into_response()
}

/// The editor: stages in order with their actions, each change one `UpdatePipeline`; and the
/// whole declaration as JSON.
fn editor(
    ctx: &Ctx,
    name: &str,
    pipeline: &Value,
    json_text: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let s = &ctx.session;
    let action_url = format!("/console/pipelines/{}/edit", seg(name));
    let empty = Vec::new();
    let stages = pipeline["stages"].as_array().unwrap_or(&empty);
    let op_form = |op: &str, fields: &[(&str, String)], label: &str, class: &str| {
        html! {
            form.inline method="post" action=(action_url) {
                (csrf(s))
                input type="hidden" name="op" value=(op);
                @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
                button type="submit" class=(class) { (label) }
            }
        }
    };
    let action_fields = |prefix: &str| {
        html! {
            div.grid {
                label { "Action name" input name="action_name" required; }
                label { "Category" select name="category" { @for c in ["Source", "Build", "Test", "Deploy", "Approval", "Invoke", "Compute"] { option { (c) } } } }
                label { "Owner" select name="owner" { option { "AWS" } option { "ThirdParty" } option { "Custom" } } }
                label { "Provider" input name="provider" required placeholder="Manual"; }
                label { "Version" input name="version" value="1" required; }
                label { "Run order" input name="run_order" type="number" min="1" max="999" value="1"; }
                label { "Input artifacts (comma-separated)" input name="inputs"; }
                label { "Output artifacts (comma-separated)" input name="outputs"; }
            }
            label for=(format!("{prefix}-config")) { "Configuration (KEY=VALUE per line)" }
            textarea id=(format!("{prefix}-config")) name="config" rows="3" {}
        }
    };
    html! {
        p.crumbs { a href=(format!("/console/pipelines/{}", seg(name))) { (name) } " › Edit" }
        h1 { "Editing: " (name) }
        @if let Some(e) = error { (html::message("error", e)) }
        @for (i, stage) in stages.iter().enumerate() {
            @let stage_name = stage["name"].as_str().unwrap_or_default();
            section.edit-stage {
                header {
                    h2 { "Stage: " (stage_name) }
                    div.buttons {
                        @if i > 0 { (op_form("stage_up", &[("stage", stage_name.to_string())], "Move up", "small")) }
                        @if i + 1 < stages.len() { (op_form("stage_down", &[("stage", stage_name.to_string())], "Move down", "small")) }
                        (op_form("delete_stage", &[("stage", stage_name.to_string())], "Delete stage", "small danger"))
                    }
                }
                @for action in stage["actions"].as_array().unwrap_or(&empty) {
                    @let action_name = action["name"].as_str().unwrap_or_default();
                    @let t = &action["actionTypeId"];
                    details.edit-action {
                        summary { (action_name) " · " (t["provider"].as_str().unwrap_or_default()) " (" (t["category"].as_str().unwrap_or_default()) ")" }
                        form method="post" action=(action_url) {
                            (csrf(s))
                            input type="hidden" name="op" value="save_action";
                            input type="hidden" name="stage" value=(stage_name);
                            input type="hidden" name="action" value=(action_name);
                            label { "Run order (actions with the same number run together)"
                                input name="run_order" type="number" min="1" max="999" value=(action["runOrder"].as_i64().unwrap_or(1));
                            }
                            label { "Configuration (KEY=VALUE per line)"
                                textarea name="config" rows="4" { (lines_of(action["configuration"].as_object().unwrap_or(&serde_json::Map::new()))) }
                            }
                            div.buttons { button.primary type="submit" { "Save action" } }
                        }
                        (op_form("delete_action", &[("stage", stage_name.to_string()), ("action", action_name.to_string())], "Delete action", "small danger"))
                    }
                }
                details.add {
                    summary { "Add action" }
                    form method="post" action=(action_url) {
                        (csrf(s))
                        input type="hidden" name="op" value="add_action";
                        input type="hidden" name="stage" value=(stage_name);
                        (action_fields(&format!("add-{i}")))
                        div.buttons { button.primary type="submit" { "Add action" } }
                    }
                }
            }
        }
        details.add {
            summary { "Add stage" }
            form method="post" action=(action_url) {
                (csrf(s))
                input type="hidden" name="op" value="add_stage";
                label { "Stage name" input name="stage" required; }
                label { "Insert after stage" select name="after" { @for stage in stages { @let n = stage["name"].as_str().unwrap_or_default(); option selected[Some(stage) == stages.last()] { (n) } } } }
                p.hint { "A stage needs at least one action:" }
                (action_fields("new-stage"))
                div.buttons { button.primary type="submit" { "Add stage" } }
            }
        }
        h2 { "Edit as JSON" }
        form method="post" action=(action_url) {
            (csrf(s))
            input type="hidden" name="op" value="json";
            label for="declaration" { "Pipeline declaration" }
            textarea #declaration.code name="declaration" rows="24" spellcheck="false" {
                (json_text.map(str::to_string).unwrap_or_else(|| serde_json::to_string_pretty(pipeline).unwrap_or_default()))
            }
            div.buttons {
                a.button href=(format!("/console/pipelines/{}", seg(name))) { "Cancel" }
                button.primary type="submit" { "Save" }
            }
        }
    }
}

async fn current(console: &Console, ctx: &Ctx, name: &str) -> Result<Value, Response> {
    let answer = ctx
        .call(console, "GetPipeline", json!({ "name": name }))
        .await?;
    Ok(answer["pipeline"].clone())
}

pub async fn edit_page(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = ctx
        .check(
            &console,
            "codepipeline:UpdatePipeline",
            &pipeline_arn(&console, &name),
        )
        .await
    {
        return r;
    }
    match current(&console, &ctx, &name).await {
        Ok(pipeline) => html::page(
            "Edit",
            Some(&ctx.session),
            editor(&ctx, &name, &pipeline, None, None),
        )
        .into_response(),
        Err(r) => r,
    }
}

fn stage_index(pipeline: &Value, stage: &str) -> Result<usize, String> {
    pipeline["stages"]
        .as_array()
        .and_then(|s| s.iter().position(|x| x["name"] == stage))
        .ok_or_else(|| format!("The pipeline has no stage {stage}."))
}

fn new_action(form: &Form) -> Result<Value, String> {
    let mut action = json!({
        "name": form.get("action_name"),
        "actionTypeId": {"category": form.get("category"), "owner": form.get("owner"), "provider": form.get("provider"), "version": form.get("version")},
        "runOrder": form.get("run_order").parse::<i64>().unwrap_or(1),
        "configuration": config_lines(form.get("config"))?,
    });
    let (inputs, outputs) = (names(form.get("inputs")), names(form.get("outputs")));
    if !inputs.is_empty() {
        action["inputArtifacts"] = json!(inputs);
    }
    if !outputs.is_empty() {
        action["outputArtifacts"] = json!(outputs);
    }
    Ok(action)
}

/// Applies one structured change to the declaration.
fn apply(pipeline: &mut Value, form: &Form) -> Result<(), String> {
    let stage = form.get("stage");
    match form.get("op") {
        "stage_up" | "stage_down" => {
            let i = stage_index(pipeline, stage)?;
            let stages = pipeline["stages"].as_array_mut().ok_or("no stages")?;
            let j = if form.get("op") == "stage_up" {
                i.checked_sub(1)
            } else {
                Some(i + 1)
            };
            match j.filter(|j| *j < stages.len()) {
                Some(j) => stages.swap(i, j),
                None => return Err(format!("Stage {stage} cannot move that way.")),
            }
        }
        "delete_stage" => {
            let i = stage_index(pipeline, stage)?;
            if let Some(stages) = pipeline["stages"].as_array_mut() {
                stages.remove(i);
            }
        }
        "delete_action" | "save_action" => {
            let i = stage_index(pipeline, stage)?;
            let actions = pipeline["stages"][i]["actions"]
                .as_array_mut()
                .ok_or("no actions")?;
            let j = actions
                .iter()
                .position(|a| a["name"] == form.get("action"))
                .ok_or_else(|| format!("Stage {stage} has no action {}.", form.get("action")))?;
            if form.get("op") == "delete_action" {
                actions.remove(j);
            } else {
                actions[j]["configuration"] = Value::Object(config_lines(form.get("config"))?);
                // Actions run in the order of their runOrder: this is how they are reordered.
                if let Some(order) = form.opt("run_order") {
                    let order: i64 = order
                        .parse()
                        .map_err(|_| format!("The run order “{order}” is not a number."))?;
                    actions[j]["runOrder"] = json!(order);
                }
            }
        }
        "add_action" => {
            let i = stage_index(pipeline, stage)?;
            let action = new_action(form)?;
            pipeline["stages"][i]["actions"]
                .as_array_mut()
                .ok_or("no actions")?
                .push(action);
        }
        "add_stage" => {
            let after = stage_index(pipeline, form.get("after"))?;
            let action = new_action(form)?;
            pipeline["stages"]
                .as_array_mut()
                .ok_or("no stages")?
                .insert(after + 1, json!({"name": stage, "actions": [action]}));
        }
        other => return Err(format!("Unknown change {other}.")),
    }
    Ok(())
}

/// The name of a configuration value that is still the mask `GetPipeline` shows for secrets.
fn masked_value(pipeline: &Value) -> Option<String> {
    pipeline["stages"]
        .as_array()?
        .iter()
        .flat_map(|s| s["actions"].as_array().into_iter().flatten())
        .find_map(|a| {
            a["configuration"].as_object()?.iter().find_map(|(k, v)| {
                (v.as_str() == Some(sluice_model::SECRET_MASK))
                    .then(|| format!("{k} of action {}", a["name"].as_str().unwrap_or_default()))
            })
        })
}

pub async fn edit(
    State(console): State<Console>,
    ctx: Ctx,
    Path(name): Path<String>,
    axum::Form(form): FormMap,
) -> Response {
    let form = match ctx.form(form) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut pipeline = match current(&console, &ctx, &name).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let json_text =
        (form.get("op") == "json").then(|| form.0.get("declaration").cloned().unwrap_or_default());
    let changed = match &json_text {
        Some(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("The declaration is not valid JSON: {e}"))
            .map(|v| {
                // The page may show the declaration alone or as GetPipeline's answer.
                if v.get("pipeline").is_some() {
                    v["pipeline"].clone()
                } else {
                    v
                }
            }),
        None => apply(&mut pipeline, &form).map(|()| pipeline.clone()),
    };
    let refuse = |message: String, shown: &Value| {
        (
            StatusCode::BAD_REQUEST,
            html::page(
                "Edit",
                Some(&ctx.session),
                editor(&ctx, &name, shown, json_text.as_deref(), Some(&message)),
            ),
        )
            .into_response()
    };
    let changed = match changed {
        Ok(c) => c,
        Err(message) => return refuse(message, &pipeline),
    };
    if let Some(field) = masked_value(&changed) {
        return refuse(
            format!("The secret {field} is shown masked; enter its value again to save."),
            &changed,
        );
    }
    let mut update = changed.clone();
    if let Some(obj) = update.as_object_mut() {
        // GetPipeline's answer carries the version; UpdatePipeline assigns the next one.
        obj.remove("version");
    }
    match sluice_api::call_as(
        &console.sluice,
        &ctx.session.caller,
        "UpdatePipeline",
        &json!({ "pipeline": update }),
        &ctx.info,
    )
    .await
    {
        Ok(_) => back(&format!("/console/pipelines/{}", seg(&name))),
        Err(e) => {
            // The API names the first problem; the editor lists every one.
            let others: Vec<String> = sluice_api::pipeline_problems(&console.sluice, &update)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|p| *p != e.message)
                .collect();
            let mut message = format!("{}: {}", e.code, e.message);
            for problem in others {
                message.push_str(&format!("\n{problem}"));
            }
            refuse(message, &changed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_wizard_builds_the_guides_pipeline_shapes() {
        let p = declaration(&form(&[
            ("name", "MyFirstPipeline"),
            ("role", "arn:aws:iam::1:role/R"),
            ("bucket", "b"),
            ("source", "S3"),
            ("s3_bucket", "awscodepipeline-demo"),
            ("s3_key", "aws-codepipeline-s3-aws-codedeploy_linux.zip"),
            ("build", "none"),
            ("deploy", "CodeDeploy"),
            ("application", "CodePipelineDemoApplication"),
            ("group", "CodePipelineDemoFleet"),
        ]));
        assert_eq!(p["stages"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            p["stages"][1]["actions"][0]["inputArtifacts"][0]["name"],
            "SourceArtifact"
        );
        assert!(p.get("pipelineType").is_none());
        let v2 = declaration(&form(&[
            ("name", "P"),
            ("build", "Commands"),
            ("commands", "make\n\nmake test"),
        ]));
        assert_eq!(v2["pipelineType"], "V2");
        assert_eq!(
            v2["stages"][1]["actions"][0]["commands"],
            json!(["make", "make test"])
        );
    }

    #[test]
    fn stages_move_and_actions_change_in_place() {
        let mut p = json!({"stages": [
            {"name": "A", "actions": [{"name": "a", "configuration": {}}]},
            {"name": "B", "actions": [{"name": "b", "configuration": {"K": "1"}}]},
        ]});
        apply(&mut p, &form(&[("op", "stage_up"), ("stage", "B")])).expect("moved");
        assert_eq!(p["stages"][0]["name"], "B");
        assert!(apply(&mut p, &form(&[("op", "stage_up"), ("stage", "B")])).is_err());
        apply(
            &mut p,
            &form(&[
                ("op", "save_action"),
                ("stage", "B"),
                ("action", "b"),
                ("config", "K=2\nL = x=y"),
            ]),
        )
        .expect("saved");
        assert_eq!(
            p["stages"][0]["actions"][0]["configuration"],
            json!({"K": "2", "L": "x=y"})
        );
        assert!(apply(
            &mut p,
            &form(&[
                ("op", "save_action"),
                ("stage", "B"),
                ("action", "b"),
                ("config", "nonsense")
            ])
        )
        .is_err());
        apply(
            &mut p,
            &form(&[
                ("op", "save_action"),
                ("stage", "B"),
                ("action", "b"),
                ("config", "K=2"),
                ("run_order", "3"),
            ]),
        )
        .expect("reordered");
        assert_eq!(p["stages"][0]["actions"][0]["runOrder"], 3);
        apply(&mut p, &form(&[("op", "delete_stage"), ("stage", "A")])).expect("deleted");
        assert_eq!(p["stages"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn a_masked_secret_is_found_before_it_could_be_saved() {
        let p = json!({"stages": [{"actions": [{"name": "Src", "configuration": {"OAuthToken": "****"}}]}]});
        assert_eq!(
            masked_value(&p).as_deref(),
            Some("OAuthToken of action Src")
        );
    }
}
