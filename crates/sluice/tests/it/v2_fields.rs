//! No field of a pipeline declaration is silently ignored: every member of the model's
//! `PipelineDeclaration`, walked recursively, is either honoured (listed here with where) or
//! refused with a `ValidationException` saying so. A botocore update that adds a member fails
//! the first test until the member is classified.

use serde_json::{json, Value};
use sluice_test_utils::TestServer;
use sluice_wire::ShapeDef;

/// Every member path below `shape_name`, as `pipeline.stages[].actions[].name`.
fn member_paths(shape_name: &str, path: &str, seen: &mut Vec<String>, out: &mut Vec<String>) {
    match sluice_wire::shape(shape_name) {
        Some(ShapeDef::Structure { members, .. }) => {
            if seen.iter().any(|s| s == shape_name) {
                return;
            }
            seen.push(shape_name.to_string());
            for member in *members {
                let member_path = format!("{path}.{}", member.name);
                out.push(member_path.clone());
                member_paths(member.shape, &member_path, seen, out);
            }
            seen.pop();
        }
        Some(ShapeDef::List { member, .. }) => {
            member_paths(member, &format!("{path}[]"), seen, out)
        }
        _ => {}
    }
}

/// Members that only hold others, each of which is classified on its own.
const CONTAINERS: &[&str] = &[
    "pipeline.triggers",
    "pipeline.triggers[].gitConfiguration",
    "pipeline.triggers[].gitConfiguration.pullRequest",
    "pipeline.stages",
    "pipeline.stages[].actions",
    "pipeline.stages[].actions[].outputArtifacts",
    "pipeline.stages[].onFailure",
];

/// Members the server acts on (a prefix covers what is below it).
const HONOURED: &[&str] = &[
    "pipeline.name",
    "pipeline.roleArn",
    "pipeline.artifactStore",
    "pipeline.artifactStores",
    "pipeline.version",
    "pipeline.executionMode",
    "pipeline.pipelineType",
    "pipeline.variables",
    "pipeline.triggers[].providerType",
    "pipeline.triggers[].gitConfiguration.sourceActionName",
    "pipeline.triggers[].gitConfiguration.push",
    "pipeline.triggers[].gitConfiguration.pullRequest[].events",
    "pipeline.triggers[].gitConfiguration.pullRequest[].branches",
    "pipeline.stages[].name",
    "pipeline.stages[].blockers",
    "pipeline.stages[].onFailure.result",
    "pipeline.stages[].onFailure.retryConfiguration",
    "pipeline.stages[].onFailure.conditions",
    "pipeline.stages[].beforeEntry",
    "pipeline.stages[].onSuccess",
    "pipeline.stages[].actions[].name",
    "pipeline.stages[].actions[].actionTypeId",
    "pipeline.stages[].actions[].runOrder",
    "pipeline.stages[].actions[].configuration",
    "pipeline.stages[].actions[].outputArtifacts[].name",
    "pipeline.stages[].actions[].outputArtifacts[].files",
    "pipeline.stages[].actions[].inputArtifacts",
    "pipeline.stages[].actions[].roleArn",
    "pipeline.stages[].actions[].region",
    "pipeline.stages[].actions[].namespace",
    "pipeline.stages[].actions[].timeoutInMinutes",
    "pipeline.stages[].actions[].commands",
    "pipeline.stages[].actions[].outputVariables",
    "pipeline.stages[].actions[].environmentVariables",
];

/// Members refused with a `ValidationException`, each with a declaration that sets it.
fn refused() -> Vec<(&'static str, Value)> {
    vec![(
        "pipeline.triggers[].gitConfiguration.pullRequest[].filePaths",
        json!({"triggers": [{"providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "Source",
                "pullRequest": [{"events": ["OPEN"], "branches": {"includes": ["main"]},
                    "filePaths": {"includes": ["src/**"]}}]}}]}),
    )]
}

fn covered(path: &str, by: &str) -> bool {
    path == by || path.starts_with(&format!("{by}.")) || path.starts_with(&format!("{by}["))
}

#[test]
fn every_member_of_a_pipeline_declaration_is_honoured_or_refused() {
    let mut all = Vec::new();
    member_paths("PipelineDeclaration", "pipeline", &mut Vec::new(), &mut all);
    assert!(all.len() > 30, "the model was walked: {all:?}");
    let refused: Vec<&str> = refused().iter().map(|(p, _)| *p).collect();
    let unclassified: Vec<&String> = all
        .iter()
        .filter(|p| !CONTAINERS.contains(&p.as_str()))
        .filter(|p| !HONOURED.iter().chain(&refused).any(|by| covered(p, by)))
        .collect();
    assert!(
        unclassified.is_empty(),
        "members neither honoured nor refused: {unclassified:?}"
    );
}

#[tokio::test]
async fn refused_members_are_answered_with_a_validation_exception_naming_them() {
    let s = TestServer::start().await;
    for (path, patch) in refused() {
        let mut pipeline = crate::fixtures::pipeline("Refused");
        pipeline["pipelineType"] = json!("V2");
        if let Some(stage) = patch.get("stage") {
            let target = &mut pipeline["stages"][1];
            for (key, value) in stage.as_object().expect("a stage patch") {
                target[key] = value.clone();
            }
        } else {
            for (key, value) in patch.as_object().expect("a pipeline patch") {
                pipeline[key] = value.clone();
            }
        }
        let reply = s
            .call("CreatePipeline", json!({"pipeline": pipeline}))
            .await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert_eq!(
            reply.body["__type"], "ValidationException",
            "{path}: {}",
            reply.body
        );
        assert!(
            reply
                .message()
                .contains("not supported by this Sluice server"),
            "{path}: {}",
            reply.body
        );
    }
}
