//! CreatePipeline, GetPipeline (any version), UpdatePipeline, DeletePipeline, ListPipelines.

use crate::fixtures;
use serde_json::json;
use sluice_test_utils::{TestServer, START_MS};

#[tokio::test]
async fn create_returns_the_declaration_and_get_returns_it_with_metadata() {
    let s = TestServer::start().await;
    let created = s.ok("CreatePipeline", fixtures::create_request()).await;
    assert_eq!(created["pipeline"], fixtures::create_request()["pipeline"]);
    assert!(created.get("tags").is_none());
    let got = s
        .ok("GetPipeline", json!({"name": "MyFirstPipeline"}))
        .await;
    assert_eq!(got["pipeline"], fixtures::create_request()["pipeline"]);
    let meta = &got["metadata"];
    assert_eq!(
        meta["pipelineArn"],
        "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"
    );
    assert_eq!(meta["created"].as_f64(), Some(START_MS as f64 / 1000.0));
    assert_eq!(meta["updated"], meta["created"]);
}

#[tokio::test]
async fn omitted_run_order_and_artifacts_are_returned_normalised() {
    let s = TestServer::start().await;
    let mut p = fixtures::pipeline("Sparse");
    let action = p["stages"][1]["actions"][0]
        .as_object_mut()
        .expect("action");
    action.remove("runOrder");
    action.remove("outputArtifacts");
    let out = s.ok("CreatePipeline", json!({"pipeline": p})).await;
    let action = &out["pipeline"]["stages"][1]["actions"][0];
    assert_eq!(action["runOrder"], 1);
    assert_eq!(action["outputArtifacts"], json!([]));
}

/// The model's PipelineNameInUseException, in AWS's words naming the account.
#[tokio::test]
async fn taken_name_is_pipeline_name_in_use_naming_the_account() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    let r = s
        .err(
            "CreatePipeline",
            fixtures::create_request(),
            "PipelineNameInUseException",
        )
        .await;
    assert_eq!(
        r.message(),
        "A pipeline with the name 'MyFirstPipeline' already exists in account '111111111111'"
    );
}

#[tokio::test]
async fn update_increments_the_version_and_keeps_every_earlier_version_readable() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    let mut p = fixtures::pipeline("MyFirstPipeline");
    p["stages"]
        .as_array_mut()
        .expect("stages")
        .push(fixtures::production_stage());
    s.clock.advance_ms(5_000);
    let updated = s.ok("UpdatePipeline", json!({"pipeline": p})).await;
    assert_eq!(updated["pipeline"]["version"], 2);
    assert_eq!(
        updated["pipeline"]["stages"].as_array().map(Vec::len),
        Some(3)
    );
    let latest = s
        .ok("GetPipeline", json!({"name": "MyFirstPipeline"}))
        .await;
    assert_eq!(latest["pipeline"]["version"], 2);
    assert_eq!(
        latest["metadata"]["updated"].as_f64(),
        Some((START_MS + 5_000) as f64 / 1000.0)
    );
    let v1 = s
        .ok(
            "GetPipeline",
            json!({"name": "MyFirstPipeline", "version": 1}),
        )
        .await;
    assert_eq!(v1["pipeline"], fixtures::create_request()["pipeline"]);
    s.err(
        "GetPipeline",
        json!({"name": "MyFirstPipeline", "version": 3}),
        "PipelineVersionNotFoundException",
    )
    .await;
}

#[tokio::test]
async fn update_of_a_missing_pipeline_is_resource_not_found() {
    let s = TestServer::start().await;
    let r = s
        .err(
            "UpdatePipeline",
            json!({"pipeline": fixtures::pipeline("Nope")}),
            "ResourceNotFoundException",
        )
        .await;
    assert_eq!(
        r.message(),
        "The account with id '111111111111' does not include a pipeline with the name 'Nope'"
    );
}

#[tokio::test]
async fn missing_pipeline_is_pipeline_not_found() {
    let s = TestServer::start().await;
    let r = s
        .err(
            "GetPipeline",
            json!({"name": "Nope"}),
            "PipelineNotFoundException",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "Account '111111111111' does not have a pipeline with name 'Nope'"
    );
    s.err(
        "GetPipeline",
        json!({"name": "Nope", "version": 1}),
        "PipelineNotFoundException",
    )
    .await;
    s.err(
        "GetPipelineState",
        json!({"name": "Nope"}),
        "PipelineNotFoundException",
    )
    .await;
}

#[tokio::test]
async fn delete_removes_the_pipeline_and_deleting_a_missing_one_succeeds() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    assert_eq!(
        s.ok("DeletePipeline", json!({"name": "MyFirstPipeline"}))
            .await,
        json!({})
    );
    s.err(
        "GetPipeline",
        json!({"name": "MyFirstPipeline"}),
        "PipelineNotFoundException",
    )
    .await;
    s.ok("DeletePipeline", json!({"name": "MyFirstPipeline"}))
        .await;
    // The name is free again and starts at version 1.
    let again = s.ok("CreatePipeline", fixtures::create_request()).await;
    assert_eq!(again["pipeline"]["version"], 1);
}

#[tokio::test]
async fn list_pages_with_max_results_and_an_opaque_token() {
    let s = TestServer::start().await;
    for name in ["p3", "p1", "p2"] {
        s.ok(
            "CreatePipeline",
            json!({"pipeline": fixtures::pipeline(name)}),
        )
        .await;
    }
    let first = s.ok("ListPipelines", json!({"maxResults": 2})).await;
    let names: Vec<&str> = first["pipelines"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["p1", "p2"]);
    assert_eq!(first["pipelines"][0]["version"], 1);
    assert!(first["pipelines"][0]["created"].is_number());
    let token = first["nextToken"]
        .as_str()
        .expect("a next token")
        .to_string();
    assert!(!token.contains("p2"), "the token is opaque");
    let second = s
        .ok(
            "ListPipelines",
            json!({"maxResults": 2, "nextToken": token}),
        )
        .await;
    assert_eq!(second["pipelines"][0]["name"], "p3");
    assert!(second.get("nextToken").is_none());
    let all = s.ok("ListPipelines", json!({})).await;
    assert_eq!(all["pipelines"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn forged_next_token_is_invalid_next_token() {
    let s = TestServer::start().await;
    s.err(
        "ListPipelines",
        json!({"nextToken": "cDE"}),
        "InvalidNextTokenException",
    )
    .await;
    s.err(
        "ListActionTypes",
        json!({"nextToken": "forged"}),
        "InvalidNextTokenException",
    )
    .await;
}

#[tokio::test]
async fn secret_configuration_is_masked_and_kept_across_an_unchanged_update() {
    let s = TestServer::start().await;
    let mut p = fixtures::pipeline("WithGitHub");
    let mut stage = fixtures::github_source_stage();
    stage["actions"][0]["configuration"]["OAuthToken"] = json!("ghp_real_token_value");
    p["stages"][0] = stage;
    let created = s.ok("CreatePipeline", json!({"pipeline": p})).await;
    assert_eq!(
        created["pipeline"]["stages"][0]["actions"][0]["configuration"]["OAuthToken"],
        "****"
    );
    let got = s.ok("GetPipeline", json!({"name": "WithGitHub"})).await;
    assert!(!got.to_string().contains("ghp_real_token_value"));
    // Sending the mask back keeps the stored value.
    s.ok("UpdatePipeline", json!({"pipeline": got["pipeline"]}))
        .await;
    let v2 = s
        .sluice
        .get_pipeline("WithGitHub", None)
        .await
        .expect("get");
    assert_eq!(v2.declaration.version, 2);
    // A renamed action must supply the secret again.
    let mut renamed = got["pipeline"].clone();
    renamed["stages"][0]["actions"][0]["name"] = json!("GitHubSource");
    let r = s
        .err(
            "UpdatePipeline",
            json!({"pipeline": renamed}),
            "InvalidActionDeclarationException",
        )
        .await;
    assert!(r.message().contains("OAuthToken"), "{}", r.message());
}
