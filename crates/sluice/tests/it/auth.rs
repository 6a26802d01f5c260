//! SigV4 on every signed route: the JSON API and the S3 endpoint refuse unsigned, unknown-key,
//! wrongly signed, tampered and skewed requests with AWS's error codes; presigned URLs work
//! until they expire. Hosted git takes an access key over HTTP Basic; only `/healthz` and
//! webhook URLs (which have their own authentication) answer without a key.

use sluice_service::Clock;
use sluice_test_utils::{
    http, raw_post, sign, TestServer, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY,
};

const TARGET: &str = "CodePipeline_20150709.ListPipelines";

/// Headers of a ListPipelines request signed at `now_ms` with `secret` for `key_id`.
fn signed_headers(
    server: &TestServer,
    body: &[u8],
    now_ms: i64,
    key_id: &str,
    secret: &str,
) -> Vec<(String, String)> {
    let host = server.addr.to_string();
    let headers = [
        ("x-amz-target", TARGET),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let (path, query) = ("/", "");
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("host".into(), host));
    let hash = sluice_sigv4::sha256_hex(body);
    let request = sluice_sigv4::Request {
        method: "POST",
        path,
        query,
        headers: &all,
        payload_hash: &hash,
    };
    let credentials = sluice_sigv4::Credentials {
        access_key_id: key_id.into(),
        secret_access_key: secret.into(),
        session_token: None,
    };
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.extend(sluice_sigv4::sign(
        &request,
        &credentials,
        "us-east-1",
        "codepipeline",
        &sluice_model::time::amz_date(now_ms),
        sluice_sigv4::PathStyle::Normalized,
    ));
    out
}

async fn post(
    server: &TestServer,
    headers: &[(String, String)],
    body: &[u8],
) -> sluice_test_utils::Reply {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k != "content-type")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    raw_post(server.addr, &h, body.to_vec()).await
}

#[tokio::test]
async fn the_json_api_refuses_every_unauthenticated_or_altered_request() {
    let server = TestServer::start().await;
    let now = server.clock.now_ms();
    let body = b"{}";
    let good = signed_headers(
        &server,
        body,
        now,
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
    );
    assert_eq!(post(&server, &good, body).await.status, 200);

    let r = raw_post(server.addr, &[("x-amz-target", TARGET)], body.to_vec()).await;
    assert_eq!(
        (r.status, r.error_type()),
        (403, "MissingAuthenticationTokenException")
    );

    let unknown = signed_headers(&server, body, now, "AKIDNOBODY", "x");
    let r = post(&server, &unknown, body).await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "UnrecognizedClientException")
    );

    let wrong_secret = signed_headers(&server, body, now, TEST_ACCESS_KEY_ID, "not-it");
    let r = post(&server, &wrong_secret, body).await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "InvalidSignatureException")
    );

    let r = post(&server, &good, b"{\"maxResults\": 1}").await;
    assert_eq!(
        r.error_type(),
        "InvalidSignatureException",
        "a changed body is refused"
    );

    let mut other_target = good.clone();
    for h in other_target.iter_mut().filter(|(k, _)| k == "x-amz-target") {
        h.1 = "CodePipeline_20150709.ListActionTypes".into();
    }
    assert_eq!(
        post(&server, &other_target, body).await.error_type(),
        "InvalidSignatureException"
    );

    let skewed = signed_headers(
        &server,
        body,
        now - 6 * 60 * 1000,
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
    );
    let r = post(&server, &skewed, body).await;
    assert_eq!(r.error_type(), "InvalidSignatureException");
    assert!(
        r.message().starts_with("Signature expired"),
        "{}",
        r.message()
    );

    let mut malformed = good.clone();
    for h in malformed.iter_mut().filter(|(k, _)| k == "authorization") {
        h.1 =
            h.1.split(", Signature=")
                .next()
                .unwrap_or_default()
                .to_string();
    }
    let r = post(&server, &malformed, body).await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "IncompleteSignatureException")
    );
    server.stop().await;
}

/// A presigned GET URL (query form) valid for `expires` seconds from `now_ms`.
fn presigned(server: &TestServer, path: &str, now_ms: i64, expires: i64) -> String {
    let date = sluice_model::time::amz_date(now_ms);
    let credential = format!(
        "{TEST_ACCESS_KEY_ID}/{}/us-east-1/s3/aws4_request",
        &date[..8]
    );
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
        sluice_sigv4::uri_encode(&credential, false)
    );
    let headers = vec![("host".to_string(), server.addr.to_string())];
    let request = sluice_sigv4::Request {
        method: "GET",
        path,
        query: &query,
        headers: &headers,
        payload_hash: sluice_sigv4::UNSIGNED_PAYLOAD,
    };
    let canonical = sluice_sigv4::canonical_request(
        &request,
        &["host".to_string()],
        sluice_sigv4::PathStyle::Verbatim,
    );
    let scope = sluice_sigv4::Scope {
        date: date[..8].into(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    let signature = sluice_sigv4::signature(
        TEST_SECRET_ACCESS_KEY,
        &scope,
        &sluice_sigv4::string_to_sign(&date, &scope, &canonical),
    );
    format!("{path}?{query}&X-Amz-Signature={signature}")
}

#[tokio::test]
async fn the_s3_endpoint_refuses_unsigned_requests_and_honours_presigned_urls() {
    let server = TestServer::start().await;
    assert_eq!(server.s3("PUT", "/private", vec![]).await.0, 200);
    assert_eq!(
        server
            .s3("PUT", "/private/report.txt", b"secret report".to_vec())
            .await
            .0,
        200
    );

    let (status, _, body) = http(server.addr, "GET", "/private/report.txt", &[], vec![]).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("<Code>AccessDenied</Code>"));
    let (status, _, _) = http(server.addr, "GET", "/", &[], vec![]).await;
    assert_eq!(status, 403, "listing buckets needs a signature");

    let now = server.clock.now_ms();
    let mut headers = sign(
        "GET",
        "/private/report.txt",
        &server.addr.to_string(),
        &[],
        b"",
        "s3",
        now,
    );
    for h in headers.iter_mut().filter(|(k, _)| k == "authorization") {
        h.1 = h.1.replace("Signature=", "Signature=0");
    }
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, body) = http(server.addr, "GET", "/private/report.txt", &h, vec![]).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));

    let skewed = sign(
        "GET",
        "/private/report.txt",
        &server.addr.to_string(),
        &[],
        b"",
        "s3",
        now - 16 * 60 * 1000,
    );
    let h: Vec<(&str, &str)> = skewed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (_, _, body) = http(server.addr, "GET", "/private/report.txt", &h, vec![]).await;
    assert!(String::from_utf8_lossy(&body).contains("RequestTimeTooSkewed"));

    let url = presigned(&server, "/private/report.txt", now, 300);
    let (status, _, body) = http(server.addr, "GET", &url, &[], vec![]).await;
    assert_eq!((status, body), (200, b"secret report".to_vec()));
    let tampered = url.replace("report.txt", "other.txt");
    assert_eq!(
        http(server.addr, "GET", &tampered, &[], vec![]).await.0,
        403
    );
    // Dated ten years ahead, a URL would outlive the seven days a signature may last.
    let ahead = presigned(
        &server,
        "/private/report.txt",
        now + 10 * 365 * 24 * 3600 * 1000,
        604_800,
    );
    let (status, _, body) = http(server.addr, "GET", &ahead, &[], vec![]).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("Request is not yet valid"));
    let soon = presigned(&server, "/private/report.txt", now + 10 * 60 * 1000, 300);
    assert_eq!(
        http(server.addr, "GET", &soon, &[], vec![]).await.0,
        200,
        "a few minutes ahead is clock skew, not an attack"
    );
    server.clock.advance_ms(301_000);
    let (status, _, body) = http(server.addr, "GET", &url, &[], vec![]).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("Request has expired"));
    server.stop().await;
}

#[tokio::test]
async fn only_the_documented_routes_answer_without_a_signature() {
    let server = TestServer::start().await;
    // Every route family of the app, unsigned.
    let routes = [
        ("POST", "/", 403),
        ("GET", "/", 403),
        ("PUT", "/some-bucket", 403),
        ("GET", "/some-bucket", 403),
        ("HEAD", "/some-bucket", 403),
        ("GET", "/some-bucket/", 403),
        ("PUT", "/some-bucket/a/key", 403),
        ("GET", "/some-bucket/a/key", 403),
        ("DELETE", "/some-bucket/a/key", 403),
        ("POST", "/some-bucket/a/key?uploads", 403),
        (
            "GET",
            "/_sluice/git/app.git/info/refs?service=git-upload-pack",
            401,
        ),
        ("POST", "/_sluice/git/app.git/git-receive-pack", 401),
        ("GET", "/healthz", 200),
        ("POST", "/_sluice/webhooks/nope", 404),
    ];
    for (method, path, want) in routes {
        let (status, _, _) = http(server.addr, method, path, &[], vec![]).await;
        assert_eq!(status, want, "{method} {path}");
    }
    // SNS's links are unsigned by design; a wrong token or subscription changes nothing.
    let links = [
        "/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:111111111111:t&Token=guess",
        "/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111111111111:t:guess",
    ];
    for path in links {
        let (status, _, body) = http(server.addr, "GET", path, &[], vec![]).await;
        assert!(status == 400 || status == 404, "{path}: {status}");
        assert!(
            String::from_utf8_lossy(&body).contains("<ErrorResponse"),
            "{path}"
        );
    }
    // The protocols that share `POST /`: IAM and STS (form-encoded), CloudTrail (its target).
    let form = ("content-type", "application/x-www-form-urlencoded");
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let shared: [(Headers<'_>, &str, &str); 7] = [
        (
            &[form],
            "Action=Publish&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:111111111111:t&Message=x",
            "MissingAuthenticationToken",
        ),
        (
            &[("x-amz-target", "AWSEvents.PutRule")],
            "{\"Name\":\"r\",\"EventPattern\":\"{}\"}",
            "MissingAuthenticationTokenException",
        ),
        (
            &[form],
            "Action=CreateUser&Version=2010-05-08&UserName=mallory",
            "MissingAuthenticationToken",
        ),
        (
            &[form],
            "Action=GetCallerIdentity&Version=2011-06-15",
            "MissingAuthenticationToken",
        ),
        (
            &[(
                "x-amz-target",
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            )],
            "{}",
            "MissingAuthenticationTokenException",
        ),
        (
            &[("x-amz-target", "CodeDeploy_20141006.ListApplications")],
            "{}",
            "MissingAuthenticationTokenException",
        ),
        (
            &[(
                "x-amz-target",
                "CodeDeployCommandService_v20141006.PollHostCommand",
            )],
            "{\"HostIdentifier\":\"x\"}",
            "MissingAuthenticationTokenException",
        ),
    ];
    for (headers, body, code) in shared {
        let (status, _, answer) =
            http(server.addr, "POST", "/", headers, body.as_bytes().to_vec()).await;
        assert_eq!(status, 403, "{body}");
        assert!(String::from_utf8_lossy(&answer).contains(code), "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn hosted_git_needs_an_access_key_and_its_secret() {
    let server = TestServer::start().await;
    sluice_worker::git::init_bare(&server.repos_dir().join("app.git"))
        .await
        .expect("bare");
    let path = "/_sluice/git/app.git/info/refs?service=git-upload-pack";
    let basic = |user: &str, password: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let wrong = basic(TEST_ACCESS_KEY_ID, "guess");
    let (status, headers, _) = http(
        server.addr,
        "GET",
        path,
        &[("authorization", &wrong)],
        vec![],
    )
    .await;
    assert_eq!(status, 401);
    assert!(headers.get("www-authenticate").is_some());
    let right = basic(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY);
    let (status, _, body) = http(
        server.addr,
        "GET",
        path,
        &[("authorization", &right)],
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("service=git-upload-pack"));
    server.stop().await;
}
