//! One test per structural rule and limit, through the API: a pipeline that breaks the rule is
//! refused with the documented exception type, names the offender, and is never stored.

use crate::fixtures;
use serde_json::{json, Value};
use sluice_test_utils::TestServer;

async fn refused(mutate: impl Fn(&mut Value), error_type: &str, fragment: &str) {
    let s = TestServer::start().await;
    let mut p = fixtures::pipeline("Broken");
    mutate(&mut p);
    let r = s
        .err("CreatePipeline", json!({"pipeline": p.clone()}), error_type)
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains(fragment),
        "message {:?} lacks {fragment:?}",
        r.message()
    );
    s.err(
        "GetPipeline",
        json!({"name": "Broken"}),
        "PipelineNotFoundException",
    )
    .await;
    // The same rule holds for UpdatePipeline, and a refused update leaves the version as it was.
    s.ok(
        "CreatePipeline",
        json!({"pipeline": fixtures::pipeline("Broken")}),
    )
    .await;
    s.err("UpdatePipeline", json!({"pipeline": p}), error_type)
        .await;
    let got = s.ok("GetPipeline", json!({"name": "Broken"})).await;
    assert_eq!(got["pipeline"], fixtures::pipeline("Broken"));
}

fn action(p: &mut Value, stage: usize, action: usize) -> &mut Value {
    &mut p["stages"][stage]["actions"][action]
}

fn approval(name: &str) -> Value {
    json!({"name": name, "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}})
}

fn s3_source(name: &str, output: &str) -> Value {
    json!({"name": name, "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
           "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"}, "outputArtifacts": [{"name": output}]})
}

#[tokio::test]
async fn fewer_than_two_stages_is_invalid_structure() {
    refused(
        |p| {
            p["stages"].as_array_mut().expect("stages").truncate(1);
        },
        "InvalidStructureException",
        "There should be a minimum of 2 stages in a pipeline",
    )
    .await;
}

#[tokio::test]
async fn more_than_fifty_stages_is_invalid_structure() {
    refused(
        |p| {
            let stages = p["stages"].as_array_mut().expect("stages");
            for i in 0..49 {
                stages.push(json!({"name": format!("S{i}"), "actions": [approval("A")]}));
            }
        },
        "InvalidStructureException",
        "the limit is 50",
    )
    .await;
}

#[tokio::test]
async fn stage_without_actions_is_invalid_stage_declaration() {
    refused(
        |p| p["stages"][1]["actions"] = json!([]),
        "InvalidStageDeclarationException",
        "Stage 'Beta' has 0 action(s)",
    )
    .await;
}

#[tokio::test]
async fn more_than_fifty_actions_in_a_stage_is_invalid_stage_declaration() {
    refused(
        |p| {
            p["stages"][1]["actions"] =
                Value::Array((0..51).map(|i| approval(&format!("A{i}"))).collect())
        },
        "InvalidStageDeclarationException",
        "the limit is 50",
    )
    .await;
}

#[tokio::test]
async fn duplicate_stage_names_are_invalid_structure() {
    refused(
        |p| {
            p["stages"]
                .as_array_mut()
                .expect("stages")
                .push(json!({"name": "Beta", "actions": [approval("A")]}))
        },
        "InvalidStructureException",
        "more than one stage named 'Beta'",
    )
    .await;
}

#[tokio::test]
async fn duplicate_action_names_are_invalid_stage_declaration() {
    refused(
        |p| {
            p["stages"][1]["actions"]
                .as_array_mut()
                .expect("actions")
                .push(approval("Deploy-CodeDeploy-Application"))
        },
        "InvalidStageDeclarationException",
        "more than one action named 'Deploy-CodeDeploy-Application'",
    )
    .await;
}

#[tokio::test]
async fn first_stage_without_a_source_action_is_invalid_structure() {
    refused(
        |p| p["stages"][0]["actions"] = json!([approval("Approve")]),
        "InvalidStructureException",
        "must contain at least one source action",
    )
    .await;
}

#[tokio::test]
async fn non_source_action_in_the_first_stage_is_invalid_stage_declaration() {
    refused(
        |p| {
            let deploy = p["stages"][1]["actions"][0].clone();
            p["stages"][0]["actions"]
                .as_array_mut()
                .expect("actions")
                .push(deploy);
        },
        "InvalidStageDeclarationException",
        "can only contain source actions",
    )
    .await;
}

#[tokio::test]
async fn approval_in_the_source_stage_is_invalid_stage_declaration() {
    refused(
        |p| {
            p["stages"][0]["actions"]
                .as_array_mut()
                .expect("actions")
                .push(approval("Approve"))
        },
        "InvalidStageDeclarationException",
        "cannot be in the source stage",
    )
    .await;
}

#[tokio::test]
async fn source_action_outside_the_first_stage_is_invalid_stage_declaration() {
    refused(
        |p| {
            p["stages"][1]["actions"]
                .as_array_mut()
                .expect("actions")
                .push(s3_source("Late", "Other"))
        },
        "InvalidStageDeclarationException",
        "Source action 'Late' is in stage 'Beta'",
    )
    .await;
}

#[tokio::test]
async fn pipeline_of_only_source_actions_is_invalid_structure() {
    refused(
        |p| {
            p["stages"][1]["actions"] = json!([s3_source("Another", "Two")]);
        },
        "InvalidStructureException",
        "not a source action",
    )
    .await;
}

#[tokio::test]
async fn input_artifact_no_earlier_action_produces_is_invalid_structure() {
    refused(
        |p| action(p, 1, 0)["inputArtifacts"] = json!([{"name": "Nowhere"}]),
        "InvalidStructureException",
        "Input artifact 'Nowhere' of action 'Deploy-CodeDeploy-Application'",
    )
    .await;
}

#[tokio::test]
async fn duplicate_output_artifact_names_are_invalid_structure() {
    refused(
        |p| {
            p["stages"][0]["actions"]
                .as_array_mut()
                .expect("actions")
                .push(s3_source("Second", "MyApp"))
        },
        "InvalidStructureException",
        "Output artifact 'MyApp'",
    )
    .await;
}

#[tokio::test]
async fn unknown_action_type_is_invalid_action_declaration() {
    refused(
        |p| action(p, 1, 0)["actionTypeId"]["provider"] = json!("NoSuchProvider"),
        "InvalidActionDeclarationException",
        "AWS/Deploy/NoSuchProvider/1 does not exist",
    )
    .await;
}

#[tokio::test]
async fn missing_required_configuration_is_invalid_action_declaration() {
    refused(
        |p| {
            action(p, 0, 0)["configuration"]
                .as_object_mut()
                .expect("config")
                .remove("S3Bucket");
        },
        "InvalidActionDeclarationException",
        "missing required configuration 'S3Bucket'",
    )
    .await;
}

#[tokio::test]
async fn unknown_configuration_property_is_invalid_action_declaration() {
    refused(
        |p| action(p, 0, 0)["configuration"]["Colour"] = json!("blue"),
        "InvalidActionDeclarationException",
        "unknown configuration 'Colour'",
    )
    .await;
}

#[tokio::test]
async fn wrong_input_artifact_count_is_invalid_action_declaration() {
    refused(
        |p| action(p, 1, 0)["inputArtifacts"] = json!([]),
        "InvalidActionDeclarationException",
        "has 0 input artifact(s)",
    )
    .await;
}

#[tokio::test]
async fn wrong_output_artifact_count_is_invalid_action_declaration() {
    refused(
        |p| action(p, 1, 0)["outputArtifacts"] = json!([{"name": "Extra"}]),
        "InvalidActionDeclarationException",
        "has 1 output artifact(s)",
    )
    .await;
}

#[tokio::test]
async fn run_order_out_of_range_is_a_validation_error() {
    refused(
        |p| action(p, 1, 0)["runOrder"] = json!(1000),
        "ValidationException",
        "Member must have value less than or equal to 999",
    )
    .await;
    refused(
        |p| action(p, 1, 0)["runOrder"] = json!(0),
        "ValidationException",
        "Member must have value greater than or equal to 1",
    )
    .await;
}

#[tokio::test]
async fn names_outside_the_allowed_characters_are_validation_errors() {
    refused(
        |p| p["stages"][1]["name"] = json!("Has space"),
        "ValidationException",
        "Value 'Has space' at 'pipeline.stages.2.member.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+",
    )
    .await;
    refused(
        |p| p["name"] = json!("x".repeat(101)),
        "ValidationException",
        "Member must have length less than or equal to 100",
    )
    .await;
}

#[tokio::test]
async fn unknown_owner_is_a_validation_error() {
    refused(
        |p| action(p, 1, 0)["actionTypeId"]["owner"] = json!("Someone"),
        "ValidationException",
        "Member must satisfy enum value set: [AWS, ThirdParty, Custom]",
    )
    .await;
}

#[tokio::test]
async fn missing_artifact_store_is_invalid_structure() {
    refused(
        |p| {
            p.as_object_mut().expect("pipeline").remove("artifactStore");
        },
        "InvalidStructureException",
        "must declare an artifactStore",
    )
    .await;
}

#[tokio::test]
async fn duplicate_blocker_names_are_invalid_blocker_declaration() {
    refused(
        |p| {
            p["stages"][1]["blockers"] =
                json!([{"name": "b", "type": "Schedule"}, {"name": "b", "type": "Schedule"}])
        },
        "InvalidBlockerDeclarationException",
        "more than one blocker named 'b'",
    )
    .await;
}

#[tokio::test]
async fn missing_required_member_is_a_validation_error() {
    refused(
        |p| {
            p.as_object_mut().expect("pipeline").remove("roleArn");
        },
        "ValidationException",
        "Value null at 'pipeline.roleArn' failed to satisfy constraint: Member must not be null",
    )
    .await;
}

#[tokio::test]
async fn configured_limits_replace_the_defaults() {
    let options = sluice_service::Options {
        limits: sluice_model::Limits {
            max_stages_per_pipeline: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let s = TestServer::start_with(options).await;
    let mut p = fixtures::pipeline("Tight");
    p["stages"]
        .as_array_mut()
        .expect("stages")
        .push(fixtures::production_stage());
    s.err(
        "CreatePipeline",
        json!({"pipeline": p}),
        "InvalidStructureException",
    )
    .await;
}
