//! The web console rendered by the real server: sign-in and sessions, every page's HTML, and
//! buttons that are API calls — authorized by IAM and on the audit trail as the signed-in key.

use crate::fixtures;
use serde_json::json;
use sluice_service::PrincipalKind;
use sluice_test_utils::{http, TestServer, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};

/// A browser's view of the console: one session cookie.
struct Browser<'a> {
    server: &'a TestServer,
    cookie: String,
}

fn form_body(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", sluice_console::html::seg(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

async fn sign_in<'a>(server: &'a TestServer, key_id: &str, secret: &str) -> Browser<'a> {
    let body = form_body(&[("access_key_id", key_id), ("secret_access_key", secret)]);
    let (status, headers, _) = http(
        server.addr,
        "POST",
        "/console/signin",
        &[("content-type", "application/x-www-form-urlencoded")],
        body,
    )
    .await;
    assert_eq!(status, 303, "signed in: {key_id} {secret}");
    let set = headers["set-cookie"].to_str().expect("cookie").to_string();
    assert!(
        set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/console"),
        "{set}"
    );
    let cookie = set.split(';').next().expect("pair").to_string();
    Browser { server, cookie }
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = http(
            self.server.addr,
            "GET",
            path,
            &[("cookie", &self.cookie)],
            Vec::new(),
        )
        .await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A page that must render.
    async fn page(&self, path: &str) -> String {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// The session's CSRF token, as every form carries it.
    async fn csrf(&self) -> String {
        let page = self.page("/console/pipelines").await;
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a csrf field")
            .to_string()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let (status, _, body) = http(
            self.server.addr,
            "POST",
            path,
            &[
                ("cookie", &self.cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            form_body(fields),
        )
        .await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

async fn executions(server: &TestServer, name: &str) -> usize {
    server
        .ok("ListPipelineExecutions", json!({ "pipelineName": name }))
        .await["pipelineExecutionSummaries"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A server with the guide's pipeline, named Demo (its first execution fails at once: its
/// source bucket does not exist).
async fn with_demo() -> TestServer {
    let server = TestServer::start().await;
    server
        .ok(
            "CreatePipeline",
            json!({ "pipeline": fixtures::pipeline("Demo") }),
        )
        .await;
    server
}

/// The id of the pipeline's newest execution.
async fn latest_execution(server: &TestServer, name: &str) -> String {
    server
        .ok("ListPipelineExecutions", json!({ "pipelineName": name }))
        .await["pipelineExecutionSummaries"][0]["pipelineExecutionId"]
        .as_str()
        .expect("an execution")
        .to_string()
}

/// The audit events with `attribute`, newest first.
async fn audit_events(
    server: &TestServer,
    attribute: sluice_service::AuditAttribute,
) -> Vec<sluice_service::AuditEventRecord> {
    server
        .sluice
        .lookup_audit(&sluice_service::AuditQuery {
            start_ms: None,
            end_ms: None,
            attribute: Some(attribute),
            before_seq: None,
            limit: 10,
        })
        .await
        .expect("lookup")
}

/// A user with the guide's read-only managed policy, and its key.
async fn read_only_user(server: &TestServer) -> (String, String) {
    let s = &server.sluice;
    s.create_user("viewer", None).await.expect("user");
    s.attach_policy(
        PrincipalKind::User,
        "viewer",
        "arn:aws:iam::aws:policy/AWSCodePipelineReadOnlyAccess",
    )
    .await
    .expect("policy");
    let root_caller = s
        .access_key(TEST_ACCESS_KEY_ID)
        .await
        .expect("read")
        .expect("root")
        .1;
    let (record, _) = s
        .create_access_key(Some("viewer"), &root_caller)
        .await
        .expect("key");
    let secret = record.secret_access_key.expose().to_string();
    (record.access_key_id, secret)
}

#[tokio::test]
async fn a_browser_at_the_root_is_sent_to_sign_in_and_api_clients_are_not() {
    let server = TestServer::start().await;
    let (status, headers, _) =
        http(server.addr, "GET", "/", &[("accept", "text/html")], vec![]).await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/console/");
    let (status, headers, _) = http(server.addr, "GET", "/console/pipelines", &[], vec![]).await;
    assert_eq!(status, 303);
    assert_eq!(
        headers["location"],
        "/console/signin?next=%2Fconsole%2Fpipelines"
    );
    // An unsigned API client asking for XML still gets S3's answer.
    let (status, _, body) = http(server.addr, "GET", "/", &[], vec![]).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let (status, _, page) = http(server.addr, "GET", "/console/signin", &[], vec![]).await;
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page);
    for field in ["Access key ID", "Secret access key", "Sign in"] {
        assert!(page.contains(field), "{field}");
    }
}

#[tokio::test]
async fn only_the_right_secret_signs_in_and_a_forged_cookie_is_not_a_session() {
    let server = TestServer::start().await;
    let body = form_body(&[
        ("access_key_id", TEST_ACCESS_KEY_ID),
        ("secret_access_key", "wrong"),
    ]);
    let (status, headers, page) = http(
        server.addr,
        "POST",
        "/console/signin",
        &[("content-type", "application/x-www-form-urlencoded")],
        body,
    )
    .await;
    assert_eq!(status, 401);
    assert!(!headers.contains_key("set-cookie"));
    assert!(String::from_utf8_lossy(&page).contains("not correct"));

    let browser = sign_in(&server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await;
    assert_eq!(browser.get("/console/pipelines").await.0, 200);
    // Both attempts are on the trail as CloudTrail records sign-ins.
    let logins = audit_events(
        &server,
        sluice_service::AuditAttribute::EventName("ConsoleLogin".into()),
    )
    .await;
    let outcomes: Vec<serde_json::Value> = logins
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.event.document).expect("json"))
        .map(|d| d["responseElements"]["ConsoleLogin"].clone())
        .collect();
    assert_eq!(outcomes, [json!("Success"), json!("Failure")]);
    assert_eq!(logins[0].event.event_source, "signin.amazonaws.com");
    let forged = Browser {
        server: &server,
        cookie: browser
            .cookie
            .replacen(TEST_ACCESS_KEY_ID, "AKIDSOMEONEELSE", 1),
    };
    assert_eq!(forged.get("/console/pipelines").await.0, 303);
    // Sessions expire with time: 12 hours.
    server.clock.advance_ms(12 * 3600 * 1000 + 1);
    assert_eq!(browser.get("/console/pipelines").await.0, 303);
}

#[tokio::test]
async fn every_page_renders_from_the_pipelines_state() {
    let server = with_demo().await;
    let execution = latest_execution(&server, "Demo").await;
    let browser = sign_in(&server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await;

    let list = browser.page("/console/pipelines").await;
    assert!(list.contains("href=\"/console/pipelines/Demo\""));
    assert!(
        list.contains("Failed"),
        "the latest execution's status: {list}"
    );
    assert!(
        list.contains("chip failed") && list.contains("Beta"),
        "per-stage colours"
    );
    let (status, _) = browser.get("/console/pipelines?next=not-a-token").await;
    assert_eq!(status, 400, "a bad page token is the caller's mistake");
    let filtered = browser
        .page("/console/pipelines?filter=nothing-like-it")
        .await;
    assert!(filtered.contains("No pipelines"));

    let view = browser.page("/console/pipelines/Demo").await;
    for part in [
        "Stage Source",
        "Stage Beta",
        "Release change",
        "Disable transition",
        "Edit",
        "View history",
        "Delete pipeline",
        "data-live=\"/console/pipelines/Demo/live\"",
    ] {
        assert!(view.contains(part), "{part}");
    }
    // The source failed (its bucket does not exist): the stage offers a retry.
    assert!(view.contains(">Retry<"), "a failed stage can be retried");

    let history = browser.page("/console/pipelines/Demo/history").await;
    assert!(history.contains(&execution[..8]) && history.contains("CreatePipeline"));
    let run = browser
        .page(&format!("/console/pipelines/Demo/executions/{execution}"))
        .await;
    assert!(run.contains("Timeline") && run.contains("Source"));
    let attempt = server
        .ok("ListActionExecutions", json!({ "pipelineName": "Demo" }))
        .await["actionExecutionDetails"][0]["actionExecutionId"]
        .as_str()
        .expect("the source's attempt")
        .to_string();
    let details = browser
        .page(&format!(
            "/console/pipelines/Demo/executions/{execution}/actions/{attempt}"
        ))
        .await;
    assert!(details.contains("S3ObjectKey") && details.contains("Output artifacts"));
    let edit = browser.page("/console/pipelines/Demo/edit").await;
    assert!(
        edit.contains("Edit as JSON") && edit.contains("Move down") && edit.contains("Add stage")
    );
    let lineage = browser
        .page("/console/pipelines/Demo/lineage?revision=none")
        .await;
    assert!(lineage.contains("No recent execution"));
    let create = browser.page("/console/create").await;
    for part in [
        "Step 1",
        "Source provider",
        "Build provider",
        "Deploy provider",
        "AWS CodeDeploy",
    ] {
        assert!(create.contains(part), "{part}");
    }
    let types = browser.page("/console/action-types").await;
    assert!(types.contains("CodeDeploy") && types.contains("Create custom action"));
    let hooks = browser.page("/console/pipelines/Demo/webhooks").await;
    assert!(hooks.contains("No webhooks"));
    let trail = browser
        .page("/console/audit?attribute=EventName&value=CreatePipeline")
        .await;
    assert!(trail.contains("CreatePipeline") && trail.contains("Verify chain"));
    let review = browser
        .page("/console/pipelines/Demo/stages/Beta/actions/CodePipelineDemoFleet/review")
        .await;
    assert!(review.contains("not waiting for an answer"));
    let (status, _) = browser.get("/console/pipelines/Nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_button_is_the_api_call_audited_as_the_signed_in_key() {
    let server = with_demo().await;
    let browser = sign_in(&server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await;
    let csrf = browser.csrf().await;

    // Without the session's token nothing happens.
    let (status, _) = browser
        .post("/console/pipelines/Demo/release", &[("csrf", "forged")])
        .await;
    assert_eq!(status, 403);
    assert_eq!(executions(&server, "Demo").await, 1);

    let (status, _) = browser
        .post("/console/pipelines/Demo/release", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    assert_eq!(executions(&server, "Demo").await, 2);
    let (status, page) = browser
        .post(
            "/console/pipelines/Demo/stages/Beta/transition",
            &[
                ("csrf", &csrf),
                ("enabled", "false"),
                ("reason", "Holiday freeze"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let state = server
        .ok("GetPipelineState", json!({ "name": "Demo" }))
        .await;
    assert_eq!(
        state["stageStates"][1]["inboundTransitionState"]["disabledReason"],
        "Holiday freeze"
    );
    assert!(browser
        .page("/console/pipelines/Demo")
        .await
        .contains("Enable transition"));

    let found = audit_events(
        &server,
        sluice_service::AuditAttribute::EventName("DisableStageTransition".into()),
    )
    .await;
    assert_eq!(found.len(), 1);
    let event: serde_json::Value = serde_json::from_str(&found[0].event.document).expect("json");
    assert_eq!(event["userIdentity"]["accessKeyId"], TEST_ACCESS_KEY_ID);
    assert_eq!(event["requestParameters"]["reason"], "Holiday freeze");
    assert_eq!(event["eventSource"], "codepipeline.amazonaws.com");

    // Delete asks for the name; a wrong one deletes nothing.
    let (status, _) = browser
        .post(
            "/console/pipelines/Demo/delete",
            &[("csrf", &csrf), ("confirm", "demo")],
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = browser
        .post(
            "/console/pipelines/Demo/delete",
            &[("csrf", &csrf), ("confirm", "Demo")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(server.ok("ListPipelines", json!({})).await["pipelines"]
        .as_array()
        .is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn a_read_only_user_sees_no_buttons_and_is_refused_the_calls_behind_them() {
    let server = with_demo().await;
    let (key_id, secret) = read_only_user(&server).await;
    let browser = sign_in(&server, &key_id, &secret).await;
    let view = browser.page("/console/pipelines/Demo").await;
    assert!(view.contains("Stage Beta") && view.contains("View history"));
    for button in [
        "Release change",
        "Disable transition",
        "Delete pipeline",
        "Stop execution",
        ">Edit<",
    ] {
        assert!(!view.contains(button), "{button}");
    }
    let csrf = browser.csrf().await;
    let (status, page) = browser
        .post("/console/pipelines/Demo/release", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 403);
    assert!(
        page.contains("is not authorized to perform: codepipeline:StartPipelineExecution"),
        "{page}"
    );
    assert_eq!(executions(&server, "Demo").await, 1);
    // The refused call is on the trail under the user's name.
    let found = audit_events(
        &server,
        sluice_service::AuditAttribute::Username("viewer".into()),
    )
    .await;
    assert!(found
        .iter()
        .any(|e| e.event.event_name == "StartPipelineExecution"
            && e.event.document.contains("AccessDenied")));
    let (status, _) = browser.get("/console/create").await;
    assert_eq!(status, 403, "the wizard needs CreatePipeline");

    // Deactivating the key ends its sessions (within the key cache's five seconds).
    let root = server
        .sluice
        .access_key(TEST_ACCESS_KEY_ID)
        .await
        .expect("read")
        .expect("root")
        .1;
    server
        .sluice
        .update_access_key(Some("viewer"), &root, &key_id, "Inactive")
        .await
        .expect("deactivated");
    server.clock.advance_ms(5_001);
    assert_eq!(browser.get("/console/pipelines").await.0, 303);
}

#[tokio::test]
async fn badges_and_cc_xml_show_only_public_pipelines() {
    let server = with_demo().await;
    let (status, _, _) = http(server.addr, "GET", "/console/badge/Demo.svg", &[], vec![]).await;
    assert_eq!(status, 404, "badges are off by default");
    let (_, _, cc) = http(server.addr, "GET", "/console/cc.xml", &[], vec![]).await;
    assert!(!String::from_utf8_lossy(&cc).contains("Demo"));
    server
        .ok(
            "TagResource",
            json!({
                "resourceArn": "arn:aws:codepipeline:us-east-1:111111111111:Demo",
                "tags": [{"key": "sluice:badge", "value": "public"}]
            }),
        )
        .await;
    let (status, headers, svg) =
        http(server.addr, "GET", "/console/badge/Demo.svg", &[], vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8_lossy(&svg);
    assert!(svg.contains("Demo: Failed"), "{svg}");
    let (_, _, cc) = http(server.addr, "GET", "/console/cc.xml", &[], vec![]).await;
    let cc = String::from_utf8_lossy(&cc);
    assert!(
        cc.contains("<Project name=\"Demo\" activity=\"Sleeping\" lastBuildStatus=\"Failure\""),
        "{cc}"
    );
    assert!(cc.contains("/console/pipelines/Demo"));
}

#[tokio::test]
async fn the_wizard_shows_every_problem_beside_its_step_and_creates_nothing() {
    let server = TestServer::start().await;
    let browser = sign_in(&server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await;
    let csrf = browser.csrf().await;
    let (status, page) = browser
        .post(
            "/console/create",
            &[
                ("csrf", &csrf),
                ("name", "Wizard"),
                (
                    "role",
                    "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
                ),
                ("bucket", "codepipeline-us-east-1-111111111111"),
                ("source", "S3"),
                ("s3_bucket", ""),
                ("s3_key", ""),
                ("build", "custom"),
                ("custom_provider", "NoSuchBuilder"),
                ("custom_version", "1"),
                ("deploy", "none"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    let problems: Vec<&str> = page
        .split("<p class=\"problem\" role=\"alert\">")
        .skip(1)
        .filter_map(|rest| rest.split("</p>").next())
        .collect();
    assert!(
        problems.len() >= 2,
        "every problem, not only the first: {problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("NoSuchBuilder")),
        "{problems:?}"
    );
    assert!(page.contains("value=\"Wizard\""), "the answers are kept");
    assert!(server.ok("ListPipelines", json!({})).await["pipelines"]
        .as_array()
        .is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn stop_retry_edit_action_types_and_the_chain_are_buttons_too() {
    let server = with_demo().await;
    let browser = sign_in(&server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await;
    let csrf = browser.csrf().await;
    let first = latest_execution(&server, "Demo").await;

    // Retry the failed source stage: the same execution runs it again (and fails again, its
    // bucket does not exist).
    let (status, page) = browser
        .post(
            "/console/pipelines/Demo/stages/Source/retry",
            &[("csrf", &csrf), ("execution", &first)],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let attempts = server
        .ok(
            "ListActionExecutions",
            json!({ "pipelineName": "Demo", "filter": {"pipelineExecutionId": first} }),
        )
        .await["actionExecutionDetails"]
        .as_array()
        .map_or(0, |a| {
            a.iter().filter(|x| x["stageName"] == "Source").count()
        });
    assert_eq!(attempts, 2, "the source ran twice");

    // Stop a running execution (a custom source waits for its job worker) and abandon it.
    server
        .ok(
            "CreateCustomActionType",
            json!({"category": "Source", "provider": "Mine", "version": "1",
                   "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
                   "outputArtifactDetails": {"minimumCount": 1, "maximumCount": 1}}),
        )
        .await;
    let mut custom = fixtures::pipeline("Custom");
    custom["stages"][0]["actions"][0]["actionTypeId"] =
        json!({"category": "Source", "owner": "Custom", "provider": "Mine", "version": "1"});
    custom["stages"][0]["actions"][0]["configuration"] = json!({});
    server
        .ok("CreatePipeline", json!({ "pipeline": custom }))
        .await;
    let running = latest_execution(&server, "Custom").await;
    assert!(browser
        .page("/console/pipelines/Custom")
        .await
        .contains("Stop and abandon"));
    let (status, page) = browser
        .post(
            "/console/pipelines/Custom/stop",
            &[
                ("csrf", &csrf),
                ("execution", &running),
                ("mode", "abandon"),
                ("reason", "Wrong bucket"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let run = server
        .ok(
            "GetPipelineExecution",
            json!({ "pipelineName": "Custom", "pipelineExecutionId": running }),
        )
        .await;
    assert_eq!(run["pipelineExecution"]["status"], "Stopped");
    // Edit: move the second stage up is refused by the API (a source must come first), and
    // the page says why; editing an action's configuration saves a new version.
    let (status, page) = browser
        .post(
            "/console/pipelines/Demo/edit",
            &[("csrf", &csrf), ("op", "stage_up"), ("stage", "Beta")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        page.contains("InvalidStructureException")
            || page.contains("InvalidActionDeclarationException"),
        "{page}"
    );
    let (status, page) = browser
        .post(
            "/console/pipelines/Demo/edit",
            &[
                ("csrf", &csrf),
                ("op", "save_action"),
                ("stage", "Source"),
                ("action", "Source"),
                (
                    "config",
                    "S3Bucket=awscodepipeline-demo\nS3ObjectKey=other.zip",
                ),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let declared = server.ok("GetPipeline", json!({ "name": "Demo" })).await;
    assert_eq!(declared["pipeline"]["version"], 2);
    assert_eq!(
        declared["pipeline"]["stages"][0]["actions"][0]["configuration"]["S3ObjectKey"],
        "other.zip"
    );

    // Custom action types: create, then delete.
    let (status, page) = browser
        .post(
            "/console/action-types",
            &[
                ("csrf", &csrf),
                ("category", "Test"),
                ("provider", "Lint"),
                ("version", "1"),
                ("in_min", "1"),
                ("in_max", "1"),
                ("out_min", "0"),
                ("out_max", "0"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    assert!(browser
        .page("/console/action-types")
        .await
        .contains(">Lint<"));
    let (status, _) = browser
        .post(
            "/console/action-types/delete",
            &[
                ("csrf", &csrf),
                ("category", "Test"),
                ("provider", "Lint"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(!browser
        .page("/console/action-types")
        .await
        .contains(">Lint<"));

    // The audit trail's chain, checked from the console.
    let (status, page) = browser
        .post("/console/audit/verify", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("The chain is intact"), "{page}");
}

#[tokio::test]
async fn an_open_live_view_does_not_hold_the_server_from_stopping() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = with_demo().await;
    let browser = sign_in(&server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let request = format!(
        "GET /console/pipelines/Demo/live HTTP/1.1\r\nhost: {}\r\ncookie: {}\r\naccept: text/event-stream\r\n\r\n",
        server.addr, browser.cookie
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    // The first update: the stream is open and live.
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("event: update") {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&chunk[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("text/event-stream"));
    // Stopping ends the stream rather than waiting for the page to close.
    tokio::time::timeout(std::time::Duration::from_secs(60), server.stop())
        .await
        .expect("the server stopped with a live view open");
}
