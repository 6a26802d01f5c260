//! ListActionTypes and the custom action type lifecycle.

use crate::fixtures;
use serde_json::{json, Value};
use sluice_test_utils::TestServer;

fn ids(list: &Value) -> Vec<String> {
    list["actionTypes"]
        .as_array()
        .expect("actionTypes")
        .iter()
        .map(|t| {
            let id = &t["id"];
            format!(
                "{}/{}/{}/{}",
                id["owner"].as_str().unwrap_or(""),
                id["category"].as_str().unwrap_or(""),
                id["provider"].as_str().unwrap_or(""),
                id["version"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn the_built_in_catalog_is_listed_with_configuration_properties() {
    let s = TestServer::start().await;
    let all = s.ok("ListActionTypes", json!({})).await;
    let ids = ids(&all);
    for expected in [
        "AWS/Source/S3/1",
        "AWS/Source/CodeCommit/1",
        "ThirdParty/Source/GitHub/1",
        "AWS/Approval/Manual/1",
        "AWS/Deploy/CodeDeploy/1",
        "AWS/Deploy/ElasticBeanstalk/1",
        "AWS/Deploy/OpsWorks/1",
        "AWS/Invoke/Lambda/1",
    ] {
        assert!(
            ids.contains(&expected.to_string()),
            "{expected} missing from {ids:?}"
        );
    }
    let github = all["actionTypes"]
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["id"]["provider"] == "GitHub")
        .expect("GitHub");
    let token = github["actionConfigurationProperties"]
        .as_array()
        .expect("properties")
        .iter()
        .find(|p| p["name"] == "OAuthToken")
        .expect("OAuthToken");
    assert_eq!(token["secret"], true);
    assert_eq!(
        github["outputArtifactDetails"],
        json!({"minimumCount": 1, "maximumCount": 1})
    );
}

#[tokio::test]
async fn owner_filter_lists_only_that_owner() {
    let s = TestServer::start().await;
    let third = s
        .ok(
            "ListActionTypes",
            json!({"actionOwnerFilter": "ThirdParty"}),
        )
        .await;
    assert_eq!(ids(&third), ["ThirdParty/Source/GitHub/1"]);
    let custom = s
        .ok("ListActionTypes", json!({"actionOwnerFilter": "Custom"}))
        .await;
    assert!(ids(&custom).is_empty());
    s.err(
        "ListActionTypes",
        json!({"actionOwnerFilter": "Nobody"}),
        "ValidationException",
    )
    .await;
}

#[tokio::test]
async fn custom_action_type_is_created_listed_used_and_deleted() {
    let s = TestServer::start().await;
    let created = s
        .ok("CreateCustomActionType", fixtures::custom_action())
        .await;
    let t = &created["actionType"];
    assert_eq!(
        t["id"],
        json!({"category": "Build", "owner": "Custom", "provider": "My-Build-Provider-Name", "version": "1"})
    );
    assert_eq!(
        t["settings"]["entityUrlTemplate"],
        "https://my-build-instance/job/{Config:ProjectName}/"
    );
    assert_eq!(t["actionConfigurationProperties"][0]["name"], "ProjectName");
    assert_eq!(
        t["inputArtifactDetails"],
        json!({"minimumCount": 1, "maximumCount": 1})
    );
    let custom = s
        .ok("ListActionTypes", json!({"actionOwnerFilter": "Custom"}))
        .await;
    assert_eq!(ids(&custom), ["Custom/Build/My-Build-Provider-Name/1"]);

    // A pipeline may now use it, with its required property.
    let mut p = fixtures::pipeline("UsesCustom");
    p["stages"][1]["actions"][0] = json!({
        "name": "Build",
        "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "My-Build-Provider-Name", "version": "1"},
        "configuration": {"ProjectName": "MyProject"},
        "inputArtifacts": [{"name": "MyApp"}]
    });
    s.ok("CreatePipeline", json!({"pipeline": p.clone()})).await;

    s.ok(
        "DeleteCustomActionType",
        json!({"category": "Build", "provider": "My-Build-Provider-Name", "version": "1"}),
    )
    .await;
    let custom = s
        .ok("ListActionTypes", json!({"actionOwnerFilter": "Custom"}))
        .await;
    assert!(ids(&custom).is_empty());
    // Its identity cannot be reused, and new pipelines cannot use it.
    let r = s
        .err(
            "CreateCustomActionType",
            fixtures::custom_action(),
            "ValidationException",
        )
        .await;
    assert!(r.message().contains("never been used"), "{}", r.message());
    p["name"] = json!("UsesDeleted");
    s.err(
        "CreatePipeline",
        json!({"pipeline": p}),
        "InvalidActionDeclarationException",
    )
    .await;
    s.err(
        "DeleteCustomActionType",
        json!({"category": "Build", "provider": "My-Build-Provider-Name", "version": "1"}),
        "ActionTypeNotFoundException",
    )
    .await;
}

#[tokio::test]
async fn secret_custom_properties_are_masked() {
    let s = TestServer::start().await;
    let mut t = fixtures::custom_action();
    t["configurationProperties"]
        .as_array_mut()
        .expect("props")
        .push(json!({"name": "ApiKey", "required": true, "key": false, "secret": true}));
    t["inputArtifactDetails"] = json!({"minimumCount": 0, "maximumCount": 1});
    s.ok("CreateCustomActionType", t).await;
    let mut p = fixtures::pipeline("SecretCustom");
    p["stages"][1]["actions"][0] = json!({
        "name": "Build",
        "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "My-Build-Provider-Name", "version": "1"},
        "configuration": {"ProjectName": "MyProject", "ApiKey": "key-material-123"}
    });
    let out = s.ok("CreatePipeline", json!({"pipeline": p})).await;
    assert_eq!(
        out["pipeline"]["stages"][1]["actions"][0]["configuration"]["ApiKey"],
        "****"
    );
    assert!(!s
        .ok("GetPipeline", json!({"name": "SecretCustom"}))
        .await
        .to_string()
        .contains("key-material-123"));
}

#[tokio::test]
async fn inverted_artifact_counts_are_a_validation_error() {
    let s = TestServer::start().await;
    let mut t = fixtures::custom_action();
    t["inputArtifactDetails"] = json!({"minimumCount": 3, "maximumCount": 1});
    s.err("CreateCustomActionType", t, "ValidationException")
        .await;
    let mut t = fixtures::custom_action();
    t["outputArtifactDetails"] = json!({"minimumCount": 0, "maximumCount": 6});
    s.err("CreateCustomActionType", t, "ValidationException")
        .await;
}

/// `GetActionType` (owners AWS and ThirdParty, as the model allows) describes a type as an
/// action type declaration: the server's own providers poll for S3 jobs; an unknown type is
/// ActionTypeNotFoundException, and a custom type cannot be named.
#[tokio::test]
async fn get_action_type_describes_built_in_and_third_party_types() {
    let s = TestServer::start_with_providers(Default::default(), Default::default()).await;
    let got = s
        .ok(
            "GetActionType",
            json!({"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}),
        )
        .await;
    let t = &got["actionType"];
    assert_eq!(t["executor"]["type"], "JobWorker");
    assert_eq!(
        t["executor"]["configuration"]["jobWorkerExecutorConfiguration"]
            ["pollingServicePrincipals"],
        json!(["codepipeline.amazonaws.com"])
    );
    assert_eq!(t["id"]["provider"], "S3");
    assert_eq!(
        t["outputArtifactDetails"],
        json!({"minimumCount": 1, "maximumCount": 1})
    );
    let bucket = t["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .find(|p| p["name"] == "S3Bucket")
        .expect("S3Bucket")
        .clone();
    assert_eq!(bucket["optional"], false);
    s.err(
        "GetActionType",
        json!({"category": "Build", "owner": "ThirdParty", "provider": "Nope", "version": "1"}),
        "ActionTypeNotFoundException",
    )
    .await;
    s.err(
        "GetActionType",
        json!({"category": "Build", "owner": "Custom", "provider": "Mine", "version": "1"}),
        "ValidationException",
    )
    .await;
}
