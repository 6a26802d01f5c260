//! Canary: known secrets — an IAM user's secret key, a GitHub OAuth token in a pipeline's
//! configuration, a webhook's secret token, the root key's secret — are sent through every
//! path that takes them, and then searched for in every answer (but the one that hands out
//! the new key), in the server's debug log, in the audit trail, and in the bytes of the data
//! dir (database, WAL, blobs). None may be found: masked on read, sealed at rest, hidden in
//! the trail, never logged.

use crate::durability::start_logged;
use serde_json::{json, Value};
use sluice_test_utils::{http, sign, sign_as, wall_clock_ms, TEST_SECRET_ACCESS_KEY};
use std::net::SocketAddr;

const OAUTH_CANARY: &str = "canary-oauth-7f3a9c41d2";
const HOOK_CANARY: &str = "canary-webhook-5e1d2b88aa";

struct Client {
    addr: SocketAddr,
    credentials: Option<sluice_sigv4::Credentials>,
    /// Every answer body, to search afterwards.
    answers: Vec<String>,
}

impl Client {
    async fn send(&mut self, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        let host = self.addr.to_string();
        let signed = match &self.credentials {
            Some(c) => sign_as(
                c,
                "POST",
                "/",
                &host,
                headers,
                body,
                "codepipeline",
                wall_clock_ms(),
            ),
            None => sign(
                "POST",
                "/",
                &host,
                headers,
                body,
                "codepipeline",
                wall_clock_ms(),
            ),
        };
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let (status, _, answer) = http(self.addr, "POST", "/", &all, body.to_vec()).await;
        let text = String::from_utf8_lossy(&answer).to_string();
        self.answers.push(text.clone());
        (status, text)
    }

    async fn call(&mut self, op: &str, body: Value) -> Value {
        let target = format!("CodePipeline_20150709.{op}");
        let headers = [
            ("x-amz-target", target.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
        ];
        let (status, text) = self.send(&headers, body.to_string().as_bytes()).await;
        assert_eq!(status, 200, "{op}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn iam(&mut self, form: &str) -> String {
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let (status, text) = self
            .send(&headers, format!("{form}&Version=2010-05-08").as_bytes())
            .await;
        assert_eq!(status, 200, "{form}: {text}");
        text
    }
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn canary_secrets_never_reach_answers_logs_the_trail_or_the_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = start_logged(&data, &log).await;
    let mut root = Client {
        addr: server.addr,
        credentials: None,
        answers: Vec::new(),
    };

    root.iam("Action=CreateUser&UserName=canary").await;
    root.iam("Action=AttachUserPolicy&UserName=canary&PolicyArn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FAWSCodePipelineFullAccess").await;
    let created = root.iam("Action=CreateAccessKey&UserName=canary").await;
    // The one answer that carries the new secret.
    root.answers.pop();
    let field = |name: &str| {
        created
            .split(&format!("<{name}>"))
            .nth(1)
            .and_then(|r| r.split('<').next())
            .expect(name)
            .to_string()
    };
    let key_canary = field("SecretAccessKey");
    let mut user = Client {
        addr: server.addr,
        credentials: Some(sluice_sigv4::Credentials {
            access_key_id: field("AccessKeyId"),
            secret_access_key: key_canary.clone(),
            session_token: None,
        }),
        answers: Vec::new(),
    };

    let mut pipeline = crate::fixtures::pipeline("canary");
    pipeline["stages"][0] = crate::fixtures::github_source_stage();
    pipeline["stages"][0]["actions"][0]["configuration"]["OAuthToken"] = json!(OAUTH_CANARY);
    let made = user
        .call("CreatePipeline", json!({ "pipeline": pipeline }))
        .await;
    assert_eq!(
        made["pipeline"]["stages"][0]["actions"][0]["configuration"]["OAuthToken"],
        "****"
    );
    let mut got = user.call("GetPipeline", json!({"name": "canary"})).await;
    got["pipeline"]["stages"][1]["name"] = json!("Beta");
    user.call("UpdatePipeline", json!({"pipeline": got["pipeline"]}))
        .await;
    user.call("ListPipelines", json!({})).await;
    user.call("GetPipelineState", json!({"name": "canary"}))
        .await;

    root.call(
        "PutWebhook",
        json!({"webhook": {
            "name": "canary-hook", "targetPipeline": "canary", "targetAction": "Source",
            "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
            "authentication": "GITHUB_HMAC",
            "authenticationConfiguration": {"SecretToken": HOOK_CANARY}
        }}),
    )
    .await;
    let hooks = root.call("ListWebhooks", json!({})).await;
    let url = hooks["webhooks"][0]["url"]
        .as_str()
        .expect("url")
        .to_string();
    // The sealed secret still signs: a correctly signed delivery is accepted.
    let payload = br#"{"ref":"refs/heads/master"}"#;
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HOOK_CANARY.as_bytes()).expect("hmac");
        mac.update(payload);
        let bytes = mac.finalize().into_bytes();
        format!(
            "sha256={}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let path = url
        .split_once("/_sluice/")
        .map(|(_, p)| format!("/_sluice/{p}"))
        .expect("path");
    let (status, _, _) = http(
        server.addr,
        "POST",
        &path,
        &[
            ("x-hub-signature-256", &signature),
            ("content-type", "application/json"),
        ],
        payload.to_vec(),
    )
    .await;
    assert_eq!(status, 200);

    let events = root
        .send(
            &[
                (
                    "x-amz-target",
                    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                ),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            b"{\"MaxResults\": 50}",
        )
        .await
        .1;
    assert!(
        events.contains("CreateAccessKey") && events.contains("PutWebhook"),
        "{events}"
    );
    // Give the source job a moment to run, so its log is written too.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    server.kill_9();

    let canaries = [key_canary.as_str(), OAUTH_CANARY, HOOK_CANARY];
    for answer in root.answers.iter().chain(&user.answers) {
        for c in canaries {
            assert!(!answer.contains(c), "an answer holds a secret: {answer}");
        }
    }
    let log_text = std::fs::read_to_string(&log).expect("log");
    assert!(
        log_text.contains("DEBUG") || log_text.contains("sluice"),
        "the log was written"
    );
    let mut files = Vec::new();
    files_under(&data, &mut files);
    assert!(files.iter().any(|f| f.ends_with("sluice.db")));
    files.push(log.clone());
    for file in files {
        if file.ends_with("credentials") {
            continue; // the root key's own file, by design
        }
        let bytes = std::fs::read(&file).expect("read");
        for c in canaries.iter().copied().chain([TEST_SECRET_ACCESS_KEY]) {
            assert!(
                !bytes.windows(c.len()).any(|w| w == c.as_bytes()),
                "{} holds a secret in the clear",
                file.display()
            );
        }
    }
}
