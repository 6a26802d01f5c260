//! The built-in providers act as the pipeline's role (issue 10, finding 7): a source the role
//! may not read fails its action with AWS's wording naming the role; one it may read runs.

use crate::providers::{action_state, commands, create_with_role, settled, stage, zip_with_entry};
use serde_json::json;
use sluice_service::{Options, PrincipalKind};
use sluice_test_utils::TestServer;
use std::collections::BTreeMap;

const TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;

/// Reads only the bucket `allowed` and the artifact store; writes only the artifact store.
const NARROW: &str = r#"{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::allowed/*", "arn:aws:s3:::codepipeline*"]},
    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::codepipeline*"}]}"#;

fn s3_source(bucket: &str) -> serde_json::Value {
    stage(
        "Source",
        json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
               "configuration": {"S3Bucket": bucket, "S3ObjectKey": "app.zip"}, "outputArtifacts": [{"name": "Src"}]}),
    )
}

#[tokio::test]
async fn a_source_the_pipeline_role_may_not_read_fails_naming_the_role() {
    let server = TestServer::start_with_providers(Options::default(), BTreeMap::new()).await;
    server
        .sluice
        .create_role("narrow", None, TRUST, None)
        .await
        .expect("role");
    server
        .sluice
        .put_inline_policy(PrincipalKind::Role, "narrow", "narrow", NARROW)
        .await
        .expect("policy");
    for bucket in ["allowed", "forbidden"] {
        for (path, body) in [
            (format!("/{bucket}"), vec![]),
            (
                format!("/{bucket}?versioning"),
                b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
                    .to_vec(),
            ),
            (
                format!("/{bucket}/app.zip"),
                zip_with_entry("app.sh", b"echo hi\n"),
            ),
        ] {
            assert_eq!(server.s3("PUT", &path, body).await.0, 200, "{path}");
        }
    }
    let role = "arn:aws:iam::111111111111:role/narrow";
    create_with_role(
        &server,
        "denied",
        role,
        vec![s3_source("forbidden"), commands(&["true"])],
    )
    .await;
    create_with_role(
        &server,
        "allowed",
        role,
        vec![s3_source("allowed"), commands(&["sh app.sh"])],
    )
    .await;
    let denied = settled(&server, "denied", 1).await;
    assert_eq!(denied[0]["status"], "Failed");
    let source = action_state(&server, "denied", 0).await;
    let message = source["errorDetails"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("Insufficient permissions: User: arn:aws:sts::111111111111:assumed-role/narrow/denied is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::forbidden/app.zip"),
        "{message}"
    );
    let allowed = settled(&server, "allowed", 1).await;
    assert_eq!(allowed[0]["status"], "Succeeded", "{allowed:?}");
    server.stop().await;
}
