//! Tags on pipelines and custom action types.

use crate::fixtures;
use serde_json::json;
use sluice_test_utils::TestServer;

const ARN: &str = "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline";

#[tokio::test]
async fn pipeline_tags_are_set_on_create_added_listed_and_removed() {
    let s = TestServer::start().await;
    let mut req = fixtures::create_request();
    req["tags"] = json!([{"key": "Project", "value": "ProjectA"}]);
    let created = s.ok("CreatePipeline", req).await;
    assert_eq!(
        created["tags"],
        json!([{"key": "Project", "value": "ProjectA"}])
    );
    s.ok(
        "TagResource",
        json!({"resourceArn": ARN, "tags": [{"key": "IscontainerBased", "value": "true"}]}),
    )
    .await;
    let listed = s
        .ok("ListTagsForResource", json!({"resourceArn": ARN}))
        .await;
    assert_eq!(
        listed["tags"],
        json!([{"key": "IscontainerBased", "value": "true"}, {"key": "Project", "value": "ProjectA"}])
    );
    s.ok(
        "UntagResource",
        json!({"resourceArn": ARN, "tagKeys": ["Project"]}),
    )
    .await;
    let listed = s
        .ok(
            "ListTagsForResource",
            json!({"resourceArn": ARN, "maxResults": 1}),
        )
        .await;
    assert_eq!(
        listed["tags"],
        json!([{"key": "IscontainerBased", "value": "true"}])
    );
}

#[tokio::test]
async fn custom_action_type_tags_use_its_arn() {
    let s = TestServer::start().await;
    let mut t = fixtures::custom_action();
    t["tags"] = json!([{"key": "Team", "value": "Build"}]);
    s.ok("CreateCustomActionType", t).await;
    let arn = "arn:aws:codepipeline:us-east-1:111111111111:actiontype:Custom/Build/My-Build-Provider-Name/1";
    let listed = s
        .ok("ListTagsForResource", json!({"resourceArn": arn}))
        .await;
    assert_eq!(listed["tags"], json!([{"key": "Team", "value": "Build"}]));
}

#[tokio::test]
async fn tags_of_missing_or_malformed_resources_are_refused() {
    let s = TestServer::start().await;
    s.err(
        "ListTagsForResource",
        json!({"resourceArn": ARN}),
        "ResourceNotFoundException",
    )
    .await;
    s.err(
        "TagResource",
        json!({"resourceArn": "arn:aws:codepipeline:us-east-1:111111111111:a/b", "tags": []}),
        "InvalidArnException",
    )
    .await;
}

#[tokio::test]
async fn more_than_fifty_tags_is_too_many_tags_and_nothing_is_kept() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", fixtures::create_request()).await;
    let many: Vec<_> = (0..51)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    s.ok(
        "TagResource",
        json!({"resourceArn": ARN, "tags": many[..50].to_vec()}),
    )
    .await;
    s.err(
        "TagResource",
        json!({"resourceArn": ARN, "tags": [{"key": "one-more", "value": "v"}]}),
        "TooManyTagsException",
    )
    .await;
    let listed = s
        .ok(
            "ListTagsForResource",
            json!({"resourceArn": ARN, "maxResults": 100}),
        )
        .await;
    assert_eq!(listed["tags"].as_array().map(Vec::len), Some(50));
    let mut req = fixtures::create_request();
    req["pipeline"]["name"] = json!("TooMany");
    req["tags"] = serde_json::Value::Array(many);
    s.err("CreatePipeline", req, "TooManyTagsException").await;
    s.err(
        "GetPipeline",
        json!({"name": "TooMany"}),
        "PipelineNotFoundException",
    )
    .await;
}

#[tokio::test]
async fn reserved_or_repeated_tag_keys_are_invalid_tags() {
    let s = TestServer::start().await;
    let mut req = fixtures::create_request();
    req["tags"] = json!([{"key": "aws:owner", "value": "x"}]);
    s.err("CreatePipeline", req, "InvalidTagsException").await;
    let mut req = fixtures::create_request();
    req["tags"] = json!([{"key": "a", "value": "x"}, {"key": "a", "value": "y"}]);
    s.err("CreatePipeline", req, "InvalidTagsException").await;
}
