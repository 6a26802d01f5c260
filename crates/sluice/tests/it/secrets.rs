//! Sealed secrets hold against pipeline authors (issue 10, finding 2): a sealed value is never
//! shown, cannot be supplied back in any property, opens only in its own place, and jobs of
//! the server's own providers (which carry the plain secret) can be neither polled nor
//! answered by a user's worker.

use serde_json::{json, Value};
use sluice_service::Options;
use sluice_test_utils::TestServer;
use std::collections::BTreeMap;

const ROLE: &str = "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service";
const BUCKET: &str = "codepipeline-us-east-1-111111111111";
const TOKEN: &str = "ghp-secret-token-never-shown-42";

fn github_pipeline(name: &str) -> Value {
    json!({"pipeline": {"name": name, "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": BUCKET},
        "stages": [
            {"name": "Source", "actions": [{"name": "Source",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
                "configuration": {"Owner": "me", "Repo": "app", "Branch": "main", "OAuthToken": TOKEN},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [{"name": "Build",
                "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "Thief", "version": "1"},
                "configuration": {"Loot": "nothing yet"},
                "inputArtifacts": [{"name": "Src"}]}]}]}})
}

async fn custom_type(server: &TestServer) {
    server
        .ok(
            "CreateCustomActionType",
            json!({"category": "Build", "provider": "Thief", "version": "1",
                "configurationProperties": [{"name": "Loot", "required": true, "key": false, "secret": false}],
                "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
                "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1}}),
        )
        .await;
}

/// The stored (sealed) OAuth token, read from the database as only the server can.
async fn stored_token(server: &TestServer) -> String {
    let doc = server
        .store
        .get_pipeline("stolen", None)
        .await
        .expect("read")
        .expect("stored declaration")
        .declaration
        .to_json();
    let at = doc
        .find("sluice-sealed:")
        .expect("the token is sealed at rest");
    doc[at..]
        .split('"')
        .next()
        .expect("a JSON string")
        .to_string()
}

#[tokio::test]
async fn a_sealed_secret_is_never_shown_and_cannot_be_moved_into_another_property() {
    let server = TestServer::start_with_providers(Options::default(), BTreeMap::new()).await;
    custom_type(&server).await;
    server.ok("CreatePipeline", github_pipeline("stolen")).await;
    let sealed = stored_token(&server).await;
    assert!(!sealed.contains(TOKEN));

    // Every answer that shows configuration shows the mask.
    let pipeline = server.ok("GetPipeline", json!({"name": "stolen"})).await;
    assert_eq!(
        pipeline["pipeline"]["stages"][0]["actions"][0]["configuration"]["OAuthToken"],
        "****"
    );
    let mut actions = Value::Null;
    for _ in 0..200 {
        actions = server
            .ok("ListActionExecutions", json!({"pipelineName": "stolen"}))
            .await;
        if !actions["actionExecutionDetails"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let text = actions.to_string();
    assert!(text.contains("\"OAuthToken\":\"****\""), "{text}");
    assert!(
        !text.contains("sluice-sealed:") && !text.contains(TOKEN),
        "{text}"
    );

    // The sealed string, pasted into a property of the author's own action, is refused.
    let mut theft = github_pipeline("theft");
    theft["pipeline"]["stages"][1]["actions"][0]["configuration"]["Loot"] = json!(sealed);
    let refused = server
        .err(
            "CreatePipeline",
            theft.clone(),
            "InvalidActionDeclarationException",
        )
        .await;
    assert!(
        refused
            .message()
            .contains("may not begin with 'sluice-sealed:'"),
        "{}",
        refused.message()
    );
    let mut update = github_pipeline("stolen");
    update["pipeline"]["stages"][1]["actions"][0]["configuration"]["Loot"] = json!(sealed);
    update["pipeline"]["version"] = json!(1);
    server
        .err(
            "UpdatePipeline",
            update,
            "InvalidActionDeclarationException",
        )
        .await;
    // As a webhook's secret token too.
    server
        .err(
            "PutWebhook",
            json!({"webhook": {"name": "hook", "targetPipeline": "stolen", "targetAction": "Source",
                "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/main"}],
                "authentication": "GITHUB_HMAC",
                "authenticationConfiguration": {"SecretToken": sealed}}}),
            "ValidationException",
        )
        .await;
    server.stop().await;
}

#[tokio::test]
async fn jobs_of_the_servers_own_providers_cannot_be_polled_or_answered_by_a_worker() {
    let server = TestServer::start_with_providers(Options::default(), BTreeMap::new()).await;
    custom_type(&server).await;
    server.ok("CreatePipeline", github_pipeline("stolen")).await;
    for operation in ["PollForJobs", "PollForThirdPartyJobs"] {
        let refused = server
            .err(
                operation,
                json!({"actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}}),
                "ValidationException",
            )
            .await;
        assert!(
            refused
                .message()
                .contains("run by this server's own providers"),
            "{}",
            refused.message()
        );
    }
    // The source job's id is public (externalExecutionId); its details and result are not.
    let mut job_id = None;
    for _ in 0..200 {
        let state = server
            .ok("GetPipelineState", json!({"name": "stolen"}))
            .await;
        if let Some(id) = state["stageStates"][0]["actionStates"][0]["latestExecution"]
            ["externalExecutionId"]
            .as_str()
        {
            job_id = Some(id.to_string());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let job_id = job_id.expect("the source job ran");
    server
        .err(
            "GetJobDetails",
            json!({"jobId": job_id}),
            "JobNotFoundException",
        )
        .await;
    server
        .err(
            "PutJobSuccessResult",
            json!({"jobId": job_id}),
            "JobNotFoundException",
        )
        .await;
    server
        .err(
            "GetThirdPartyJobDetails",
            json!({"jobId": job_id, "clientToken": "attacker"}),
            "JobNotFoundException",
        )
        .await;
    server.stop().await;
}
