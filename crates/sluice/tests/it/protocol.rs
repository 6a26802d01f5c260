//! The AWS JSON 1.1 protocol itself: targets, bodies, error shapes, status codes.

use serde_json::json;
use sluice_service::Clock;
use sluice_test_utils::{raw_post, signed_post, TestServer};
use sluice_wire::Operation;

#[tokio::test]
async fn unknown_target_is_unknown_operation() {
    let s = TestServer::start().await;
    let r = s
        .err("FlyToTheMoon", json!({}), "UnknownOperationException")
        .await;
    assert_eq!(r.status, 400);
    let r = signed_post(
        s.addr,
        s.clock.now_ms(),
        &[("x-amz-target", "SomethingElse_2015.ListPipelines")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(r.error_type(), "UnknownOperationException");
    let r = signed_post(s.addr, s.clock.now_ms(), &[], b"{}".to_vec()).await;
    assert_eq!(r.error_type(), "UnknownOperationException");
    let r = raw_post(
        s.addr,
        &[("x-amz-target", "CodePipeline_20150709.ListPipelines")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (403, "MissingAuthenticationTokenException")
    );
}

#[tokio::test]
async fn malformed_json_or_wrong_types_are_serialization_errors() {
    let s = TestServer::start().await;
    let target = [("x-amz-target", "CodePipeline_20150709.GetPipeline")];
    let r = signed_post(s.addr, s.clock.now_ms(), &target, b"{\"name\":".to_vec()).await;
    assert_eq!((r.status, r.error_type()), (400, "SerializationException"));
    let r = s.call("GetPipeline", json!({"name": ["list"]})).await;
    assert_eq!(r.error_type(), "SerializationException");
    let r = s.call("ListPipelines", json!({"maxResults": "ten"})).await;
    assert_eq!(r.error_type(), "SerializationException");
    let r = s.call("CreatePipeline", json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::111111111111:role/r", "stages": "none"}})).await;
    assert_eq!(r.error_type(), "SerializationException");
}

#[tokio::test]
async fn shape_violations_are_worded_like_aws() {
    let s = TestServer::start().await;
    let r = s.err("GetPipeline", json!({}), "ValidationException").await;
    assert_eq!(
        r.message(),
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    );
    let r = s
        .err(
            "ListPipelines",
            json!({"maxResults": 0}),
            "ValidationException",
        )
        .await;
    assert!(r.message().contains("Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"), "{}", r.message());
}

#[tokio::test]
async fn every_response_has_the_json_content_type_and_a_request_id() {
    let s = TestServer::start().await;
    for op in ["ListPipelines", "Nope"] {
        let r = s.call(op, json!({})).await;
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/x-amz-json-1.1")
        );
        assert!(r.headers.get("x-amzn-requestid").is_some());
    }
}

#[tokio::test]
async fn every_operation_not_built_yet_names_itself_as_not_implemented() {
    let s = TestServer::start().await;
    for op in Operation::ALL {
        if sluice_api_implemented().contains(&op.name()) {
            continue;
        }
        let r = s.call(op.name(), json!({})).await;
        // Either the input is refused first (a required member is missing), or the operation
        // answers that it is not implemented; never a 500, never a hang.
        assert!(
            r.status == 400 || r.status == 501,
            "{}: {}",
            op.name(),
            r.body
        );
        if r.status == 501 {
            assert_eq!(r.error_type(), "NotImplementedException");
            assert!(r.message().contains(op.name()));
        }
    }
}

fn sluice_api_implemented() -> Vec<&'static str> {
    sluice_api::IMPLEMENTED.iter().map(|o| o.name()).collect()
}

#[tokio::test]
async fn healthz_answers_ok() {
    let s = TestServer::start().await;
    let stream = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = stream;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}
