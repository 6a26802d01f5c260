//! Webhooks: defined with PutWebhook, listed with the secret masked, and delivering push events
//! that start the pipeline only when authentication and filters pass.

use crate::fixtures;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sluice_test_utils::{http, TestServer};

async fn pipeline_with_github_source(server: &TestServer) {
    let mut p = fixtures::pipeline("hooked");
    p["stages"][0] = fixtures::github_source_stage();
    p["stages"][0]["actions"][0]["configuration"]["OAuthToken"] = json!("gh-token-value");
    server.ok("CreatePipeline", json!({"pipeline": p})).await;
}

fn webhook(auth: &str, config: Value) -> Value {
    json!({"webhook": {
        "name": "hooked-webhook", "targetPipeline": "hooked", "targetAction": "Source",
        "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
        "authentication": auth, "authenticationConfiguration": config}})
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

async fn runs(server: &TestServer) -> Vec<Value> {
    server
        .ok("ListPipelineExecutions", json!({"pipelineName": "hooked"}))
        .await["pipelineExecutionSummaries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn path_of(url: &str) -> String {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .expect("a URL with a path")
}

#[tokio::test]
async fn a_signed_push_to_the_watched_branch_starts_the_pipeline() {
    let server = TestServer::start().await;
    pipeline_with_github_source(&server).await;
    let out = server
        .ok(
            "PutWebhook",
            webhook("GITHUB_HMAC", json!({"SecretToken": "s3cret-token"})),
        )
        .await;
    let item = &out["webhook"];
    assert_eq!(
        item["definition"]["authenticationConfiguration"]["SecretToken"],
        "****"
    );
    assert!(item["arn"]
        .as_str()
        .expect("arn")
        .ends_with(":webhook:hooked-webhook"));
    let url = item["url"].as_str().expect("url");
    assert!(url.starts_with(&server.url()), "{url}");
    let path = path_of(url);
    let before = runs(&server).await.len();

    let push = json!({"ref": "refs/heads/master", "after": "abc"})
        .to_string()
        .into_bytes();
    let (status, _, body) = http(
        server.addr,
        "POST",
        &path,
        &[("x-hub-signature-256", &sign("s3cret-token", &push))],
        push.clone(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let after = runs(&server).await;
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[0]["trigger"]["triggerType"], "Webhook");

    let (status, _, _) = http(
        server.addr,
        "POST",
        &path,
        &[("x-hub-signature-256", &sign("wrong", &push))],
        push.clone(),
    )
    .await;
    assert_eq!(status, 403, "a bad signature is refused");
    let (status, _, _) = http(server.addr, "POST", &path, &[], push).await;
    assert_eq!(status, 403, "an unsigned event is refused");

    let other = json!({"ref": "refs/heads/feature"})
        .to_string()
        .into_bytes();
    let (status, _, body) = http(
        server.addr,
        "POST",
        &path,
        &[("x-hub-signature-256", &sign("s3cret-token", &other))],
        other,
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("filtered"));
    assert_eq!(
        runs(&server).await.len(),
        before + 1,
        "other branches start nothing"
    );

    // The delivery that started a run is in the trail; the refused ones cost no event.
    let deliveries = server
        .sluice
        .lookup_audit(&sluice_service::AuditQuery {
            attribute: Some(sluice_service::AuditAttribute::EventName(
                "WebhookDelivery".into(),
            )),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("lookup");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert!(
        deliveries[0]
            .event
            .resources
            .iter()
            .any(|(_, arn)| arn.contains(":webhook:")),
        "{:?}",
        deliveries[0].event.resources
    );

    let listed = server.ok("ListWebhooks", json!({})).await;
    let hooks = listed["webhooks"].as_array().expect("list");
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0]["lastTriggered"].is_number());
    assert!(
        !listed.to_string().contains("s3cret-token"),
        "the secret never leaves"
    );

    server
        .ok(
            "RegisterWebhookWithThirdParty",
            json!({"webhookName": "hooked-webhook"}),
        )
        .await;
    server
        .ok("DeleteWebhook", json!({"name": "hooked-webhook"}))
        .await;
    let (status, _, _) = http(server.addr, "POST", &path, &[], b"{}".to_vec()).await;
    assert_eq!(status, 404, "a deleted webhook's URL is gone");
    server
        .ok("DeleteWebhook", json!({"name": "hooked-webhook"}))
        .await;
    server
        .err(
            "DeregisterWebhookWithThirdParty",
            json!({"webhookName": "hooked-webhook"}),
            "WebhookNotFoundException",
        )
        .await;
    server.stop().await;
}

#[tokio::test]
async fn ip_and_unauthenticated_webhooks_check_what_they_say() {
    let server = TestServer::start().await;
    pipeline_with_github_source(&server).await;
    let out = server
        .ok(
            "PutWebhook",
            webhook("IP", json!({"AllowedIPRange": "10.0.0.0/8"})),
        )
        .await;
    let path = path_of(out["webhook"]["url"].as_str().expect("url"));
    let push = json!({"ref": "refs/heads/master"}).to_string().into_bytes();
    let (status, _, _) = http(server.addr, "POST", &path, &[], push.clone()).await;
    assert_eq!(status, 403, "127.0.0.1 is outside 10.0.0.0/8");

    let out = server
        .ok("PutWebhook", webhook("UNAUTHENTICATED", json!({})))
        .await;
    assert_eq!(
        path_of(out["webhook"]["url"].as_str().expect("url")),
        path,
        "the URL is kept on update"
    );
    let before = runs(&server).await.len();
    let (status, _, _) = http(server.addr, "POST", &path, &[], push).await;
    assert_eq!(status, 200);
    assert_eq!(runs(&server).await.len(), before + 1);
    server.stop().await;
}

#[tokio::test]
async fn invalid_webhook_definitions_are_refused_with_their_exceptions() {
    let server = TestServer::start().await;
    pipeline_with_github_source(&server).await;
    server
        .err(
            "PutWebhook",
            webhook("GITHUB_HMAC", json!({})),
            "InvalidWebhookAuthenticationParametersException",
        )
        .await;
    server
        .err(
            "PutWebhook",
            webhook("IP", json!({"AllowedIPRange": "not-a-range"})),
            "InvalidWebhookAuthenticationParametersException",
        )
        .await;
    let mut bad_path = webhook("UNAUTHENTICATED", json!({}));
    bad_path["webhook"]["filters"][0]["jsonPath"] = json!("ref");
    server
        .err(
            "PutWebhook",
            bad_path,
            "InvalidWebhookFilterPatternException",
        )
        .await;
    let mut bad_key = webhook("UNAUTHENTICATED", json!({}));
    bad_key["webhook"]["filters"][0]["matchEquals"] = json!("refs/heads/{Nope}");
    server
        .err(
            "PutWebhook",
            bad_key,
            "InvalidWebhookFilterPatternException",
        )
        .await;
    let mut no_pipeline = webhook("UNAUTHENTICATED", json!({}));
    no_pipeline["webhook"]["targetPipeline"] = json!("missing");
    server
        .err("PutWebhook", no_pipeline, "PipelineNotFoundException")
        .await;
    let listed = server.ok("ListWebhooks", json!({})).await;
    assert_eq!(listed["webhooks"], json!([]), "nothing was stored");
    server.stop().await;
}

#[tokio::test]
async fn put_action_revision_starts_the_pipeline_for_a_new_revision() {
    let server = TestServer::start().await;
    pipeline_with_github_source(&server).await;
    let before = runs(&server).await.len();
    let revision =
        json!({"revisionId": "9f2c1e", "revisionChangeId": "9f2c1e", "created": 1467763200});
    let out = server
        .ok(
            "PutActionRevision",
            json!({"pipelineName": "hooked", "stageName": "Source", "actionName": "Source", "actionRevision": revision}),
        )
        .await;
    assert_eq!(out["newRevision"], true);
    let after = runs(&server).await;
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[0]["pipelineExecutionId"], out["pipelineExecutionId"]);
    assert_eq!(after[0]["trigger"]["triggerType"], "PutActionRevision");
    server
        .err(
            "PutActionRevision",
            json!({"pipelineName": "hooked", "stageName": "Nope", "actionName": "Source", "actionRevision": revision}),
            "StageNotFoundException",
        )
        .await;
    server
        .err(
            "PutActionRevision",
            json!({"pipelineName": "hooked", "stageName": "Source", "actionName": "Nope", "actionRevision": revision}),
            "ActionNotFoundException",
        )
        .await;
    server.stop().await;
}
