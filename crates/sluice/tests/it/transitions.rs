//! GetPipelineState's stages and DisableStageTransition / EnableStageTransition.

use crate::fixtures;
use serde_json::json;
use sluice_test_utils::{TestServer, START_MS};

#[tokio::test]
async fn state_lists_every_stage_with_inbound_transitions_after_the_first() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    let state = s
        .ok("GetPipelineState", json!({"name": "MyFirstPipeline"}))
        .await;
    assert_eq!(state["pipelineName"], "MyFirstPipeline");
    assert_eq!(state["pipelineVersion"], 1);
    let stages = state["stageStates"].as_array().expect("stages");
    assert_eq!(stages[0]["stageName"], "Source");
    assert!(stages[0].get("inboundTransitionState").is_none());
    assert_eq!(
        stages[1]["inboundTransitionState"],
        json!({"enabled": true})
    );
    assert_eq!(
        stages[1]["actionStates"][0]["actionName"],
        "Deploy-CodeDeploy-Application"
    );
}

#[tokio::test]
async fn disabling_records_reason_who_and_when_and_enabling_clears_the_reason() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    let disabled = s
        .ok(
            "DisableStageTransition",
            json!({"pipelineName": "MyFirstPipeline", "stageName": "Beta", "transitionType": "Inbound", "reason": "My Reason"}),
        )
        .await;
    assert_eq!(disabled, json!({}));
    let state = s
        .ok("GetPipelineState", json!({"name": "MyFirstPipeline"}))
        .await;
    let t = &state["stageStates"][1]["inboundTransitionState"];
    assert_eq!(t["enabled"], false);
    assert_eq!(t["disabledReason"], "My Reason");
    assert_eq!(t["lastChangedBy"], "arn:aws:iam::111111111111:root");
    assert_eq!(t["lastChangedAt"].as_f64(), Some(START_MS as f64 / 1000.0));
    s.ok(
        "EnableStageTransition",
        json!({"pipelineName": "MyFirstPipeline", "stageName": "Beta", "transitionType": "Inbound"}),
    )
    .await;
    let state = s
        .ok("GetPipelineState", json!({"name": "MyFirstPipeline"}))
        .await;
    let t = &state["stageStates"][1]["inboundTransitionState"];
    assert_eq!(t["enabled"], true);
    assert!(t.get("disabledReason").is_none());
}

#[tokio::test]
async fn outbound_transitions_are_accepted_and_do_not_change_the_inbound_state() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    s.ok(
        "DisableStageTransition",
        json!({"pipelineName": "MyFirstPipeline", "stageName": "Source", "transitionType": "Outbound", "reason": "hold"}),
    )
    .await;
    let state = s
        .ok("GetPipelineState", json!({"name": "MyFirstPipeline"}))
        .await;
    assert_eq!(
        state["stageStates"][1]["inboundTransitionState"]["enabled"],
        true
    );
}

#[tokio::test]
async fn unknown_stage_or_pipeline_is_refused() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    s.err(
        "DisableStageTransition",
        json!({"pipelineName": "MyFirstPipeline", "stageName": "Nope", "transitionType": "Inbound", "reason": "r"}),
        "StageNotFoundException",
    )
    .await;
    s.err(
        "EnableStageTransition",
        json!({"pipelineName": "Nope", "stageName": "Beta", "transitionType": "Inbound"}),
        "PipelineNotFoundException",
    )
    .await;
    s.err(
        "EnableStageTransition",
        json!({"pipelineName": "MyFirstPipeline", "stageName": "Beta", "transitionType": "Sideways"}),
        "ValidationException",
    )
    .await;
}
