//! The host command protocol's trust boundary: an agent is its instance's IAM user, reaches
//! only its own commands, and reads only its own deployment's bundle — with no IAM policy of
//! its own and nothing beyond that.

use serde_json::{json, Value};
use sluice_service::Clock;
use sluice_test_utils::{http, sign_as, TestServer, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};

struct Caller<'a> {
    server: &'a TestServer,
    credentials: sluice_sigv4::Credentials,
}

impl<'a> Caller<'a> {
    /// The account's root, with the test server's key.
    fn root(server: &'a TestServer) -> Self {
        Caller {
            server,
            credentials: sluice_sigv4::Credentials {
                access_key_id: TEST_ACCESS_KEY_ID.into(),
                secret_access_key: TEST_SECRET_ACCESS_KEY.into(),
                session_token: None,
            },
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        service: &str,
    ) -> (u16, Vec<u8>) {
        let host = self.server.addr.to_string();
        let signed = sign_as(
            &self.credentials,
            method,
            path,
            &host,
            headers,
            &body,
            service,
            self.server.clock.now_ms(),
        );
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let (status, _, answer) = http(self.server.addr, method, path, &all, body).await;
        (status, answer)
    }

    async fn json(&self, target: &str, service: &str, body: Value) -> (u16, Value) {
        let headers = [
            ("x-amz-target", target),
            ("content-type", "application/x-amz-json-1.1"),
        ];
        let (status, answer) = self
            .send(
                "POST",
                "/",
                &headers,
                body.to_string().into_bytes(),
                service,
            )
            .await;
        (
            status,
            serde_json::from_slice(&answer).unwrap_or(Value::Null),
        )
    }

    async fn deploy(&self, op: &str, body: Value) -> Value {
        let (status, answer) = self
            .json(&format!("CodeDeploy_20141006.{op}"), "codedeploy", body)
            .await;
        assert_eq!(status, 200, "{op}: {answer}");
        answer
    }

    async fn host(&self, op: &str, body: Value) -> (u16, Value) {
        self.json(
            &format!("CodeDeployCommandService_v20141006.{op}"),
            "codedeploy-commands",
            body,
        )
        .await
    }

    async fn iam(&self, form: &str) -> String {
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let (status, answer) = self
            .send("POST", "/", &headers, form.as_bytes().to_vec(), "iam")
            .await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        assert_eq!(status, 200, "{form}: {text}");
        text
    }

    /// A new IAM user with a key: its ARN and a caller signing with that key.
    async fn user(&self, name: &str) -> (String, Caller<'_>) {
        self.iam(&format!(
            "Action=CreateUser&Version=2010-05-08&UserName={name}"
        ))
        .await;
        let key = self
            .iam(&format!(
                "Action=CreateAccessKey&Version=2010-05-08&UserName={name}"
            ))
            .await;
        let field = |tag: &str| {
            key.split(&format!("<{tag}>"))
                .nth(1)
                .and_then(|r| r.split(&format!("</{tag}>")).next())
                .expect("field")
                .to_string()
        };
        let credentials = sluice_sigv4::Credentials {
            access_key_id: field("AccessKeyId"),
            secret_access_key: field("SecretAccessKey"),
            session_token: None,
        };
        (
            format!("arn:aws:iam::111111111111:user/{name}"),
            Caller {
                server: self.server,
                credentials,
            },
        )
    }
}

#[tokio::test]
async fn an_agent_reaches_only_its_own_commands_and_its_own_bundle() {
    let server = TestServer::start().await;
    let root = Caller::root(&server);
    let (host_arn, host) = root.user("host-a").await;
    let (mallory_arn, mallory) = root.user("mallory").await;
    root.deploy(
        "RegisterOnPremisesInstance",
        json!({"instanceName": "host-a", "iamUserArn": host_arn}),
    )
    .await;
    root.deploy(
        "AddTagsToOnPremisesInstances",
        json!({"instanceNames": ["host-a"], "tags": [{"Key": "role", "Value": "web"}]}),
    )
    .await;
    for (method, path) in [
        ("PUT", "/bundles"),
        ("PUT", "/bundles/app.zip"),
        ("PUT", "/bundles/secret.txt"),
    ] {
        let (status, _) = root.send(method, path, &[], b"bytes".to_vec(), "s3").await;
        assert_eq!(status, 200, "{path}");
    }
    root.deploy("CreateApplication", json!({"applicationName": "web"}))
        .await;
    root.deploy("CreateDeploymentGroup", json!({
        "applicationName": "web", "deploymentGroupName": "fleet",
        "serviceRoleArn": "arn:aws:iam::111111111111:role/CodeDeploy",
        "onPremisesInstanceTagFilters": [{"Key": "role", "Value": "web", "Type": "KEY_AND_VALUE"}],
    })).await;
    let created = root.deploy("CreateDeployment", json!({
        "applicationName": "web", "deploymentGroupName": "fleet",
        "revision": {"revisionType": "S3", "s3Location": {"bucket": "bundles", "key": "app.zip", "bundleType": "zip"}},
    })).await;
    let deployment = created["deploymentId"].as_str().expect("id").to_string();

    // Another user cannot speak for the host, nor poll as itself (it is no instance).
    for identifier in [&host_arn, &mallory_arn] {
        let (status, answer) = mallory
            .host("PollHostCommand", json!({"HostIdentifier": identifier}))
            .await;
        assert_eq!(
            (status, answer["__type"].as_str()),
            (400, Some("ClientException")),
            "{answer}"
        );
    }
    let (status, answer) = host
        .host("PollHostCommand", json!({"HostIdentifier": host_arn}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let command = answer["HostCommand"].clone();
    assert_eq!(command["CommandName"], "ApplicationStop");
    let id = command["HostCommandIdentifier"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, answer) = mallory
        .host(
            "PutHostCommandAcknowledgement",
            json!({"HostCommandIdentifier": id}),
        )
        .await;
    assert_eq!(
        status, 400,
        "another user cannot acknowledge the host's command: {answer}"
    );
    let (status, spec) = host.host("GetDeploymentSpecification", json!({
        "DeploymentExecutionId": command["DeploymentExecutionId"], "HostIdentifier": host_arn,
    })).await;
    assert_eq!(status, 200);
    assert_eq!(spec["DeploymentSystem"], "CodeDeploy");
    let envelope = &spec["DeploymentSpecification"]["GenericEnvelope"];
    assert_eq!(envelope["Format"], "TEXT/JSON");
    let payload: Value =
        serde_json::from_str(envelope["Payload"].as_str().expect("payload")).expect("json");
    assert_eq!(payload["DeploymentId"], deployment.as_str());
    assert_eq!(payload["Revision"]["S3Revision"]["Key"], "app.zip");

    // The host's key reads its deployment's bundle and nothing else; mallory reads neither.
    let (status, body) = host
        .send("GET", "/bundles/app.zip", &[], vec![], "s3")
        .await;
    assert_eq!((status, body.as_slice()), (200, &b"bytes"[..]));
    let (status, _) = host
        .send("GET", "/bundles/secret.txt", &[], vec![], "s3")
        .await;
    assert_eq!(status, 403);
    let (status, _) = mallory
        .send("GET", "/bundles/app.zip", &[], vec![], "s3")
        .await;
    assert_eq!(status, 403);
    let (status, answer) = host
        .json(
            "CodeDeploy_20141006.ListApplications",
            "codedeploy",
            json!({}),
        )
        .await;
    assert_eq!(
        status, 400,
        "the host's identity is no IAM permission: {answer}"
    );

    let (status, answer) = host
        .host(
            "PutHostCommandAcknowledgement",
            json!({"HostCommandIdentifier": id}),
        )
        .await;
    assert_eq!(
        (status, answer["CommandStatus"].as_str()),
        (200, Some("InProgress"))
    );
    let (status, _) = host.host("PutHostCommandComplete", json!({
        "HostCommandIdentifier": id, "CommandStatus": "Succeeded",
        "Diagnostics": {"Format": "JSON", "Payload": "{\"error_code\":0,\"script_name\":\"\",\"message\":\"Succeeded\",\"log\":\"\"}"},
    })).await;
    assert_eq!(status, 200);
    let (_, answer) = host
        .host("PollHostCommand", json!({"HostIdentifier": host_arn}))
        .await;
    assert_eq!(
        answer["HostCommand"]["CommandName"], "DownloadBundle",
        "the next event follows at once"
    );

    // Stopped: the open command is withdrawn, and the host is told so.
    root.deploy(
        "StopDeployment",
        json!({"deploymentId": deployment, "autoRollbackEnabled": true}),
    )
    .await;
    let next = answer["HostCommand"]["HostCommandIdentifier"].clone();
    let (_, answer) = host
        .host(
            "PutHostCommandAcknowledgement",
            json!({"HostCommandIdentifier": next}),
        )
        .await;
    assert_eq!(answer["CommandStatus"], "Failed");
    let got = root
        .deploy("GetDeployment", json!({"deploymentId": deployment}))
        .await;
    assert_eq!(got["deploymentInfo"]["status"], "Stopped");
    assert_eq!(
        got["deploymentInfo"]["errorInformation"]["code"],
        "MANUAL_STOP"
    );
    // Asked to roll back, with no earlier success to go back to: it says so.
    let message = got["deploymentInfo"]["rollbackInfo"]["rollbackMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("no previous successful revision"), "{got}");
    server.stop().await;
}

#[tokio::test]
async fn deployments_list_newest_first_a_page_at_a_time_from_the_store() {
    let server = TestServer::start().await;
    let root = Caller::root(&server);
    for path in ["/bundles", "/bundles/app.zip"] {
        let (status, _) = root.send("PUT", path, &[], b"bytes".to_vec(), "s3").await;
        assert_eq!(status, 200, "{path}");
    }
    root.deploy("CreateApplication", json!({"applicationName": "pages"}))
        .await;
    for group in ["blue", "green"] {
        root.deploy("CreateDeploymentGroup", json!({
            "applicationName": "pages", "deploymentGroupName": group,
            "serviceRoleArn": "arn:aws:iam::111111111111:role/CodeDeploy",
            "onPremisesInstanceTagFilters": [{"Key": "role", "Value": group, "Type": "KEY_AND_VALUE"}],
        })).await;
    }
    // 130 deployments, one a millisecond, alternating groups; two more in one millisecond.
    let mut created = Vec::new();
    for n in 0..132 {
        if n < 131 {
            server.clock.advance_ms(1);
        }
        let group = if n % 2 == 0 { "blue" } else { "green" };
        let answer = root.deploy("CreateDeployment", json!({
            "applicationName": "pages", "deploymentGroupName": group,
            "revision": {"revisionType": "S3", "s3Location": {"bucket": "bundles", "key": "app.zip", "bundleType": "zip"}},
        })).await;
        created.push((
            group,
            answer["deploymentId"].as_str().expect("id").to_string(),
        ));
    }
    // Newest first; the two of one millisecond by id, highest first.
    created.reverse();
    if created[0].1 < created[1].1 {
        created.swap(0, 1);
    }
    let list = |filter: Value| {
        let root = &root;
        async move {
            let mut pages = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut body = filter.clone();
                if let Some(t) = &token {
                    body["nextToken"] = json!(t);
                }
                let answer = root.deploy("ListDeployments", body).await;
                let ids: Vec<String> = answer["deployments"]
                    .as_array()
                    .expect("deployments")
                    .iter()
                    .map(|d| d.as_str().expect("id").to_string())
                    .collect();
                pages.push(ids);
                match answer["nextToken"].as_str() {
                    Some(t) => token = Some(t.to_string()),
                    None => return pages,
                }
            }
        }
    };
    let pages = list(json!({"applicationName": "pages"})).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 32],
        "CodeDeploy's page is 100 ids"
    );
    let ids = |of: &[(&str, String)]| of.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>();
    assert_eq!(pages.concat(), ids(&created));
    let green: Vec<_> = created
        .iter()
        .filter(|(g, _)| *g == "green")
        .cloned()
        .collect();
    let pages = list(json!({"applicationName": "pages", "deploymentGroupName": "green"})).await;
    assert_eq!(pages.concat(), ids(&green));

    // A token answers only the listing it came from, and only as issued.
    let first = root
        .deploy("ListDeployments", json!({"applicationName": "pages"}))
        .await;
    let token = first["nextToken"].as_str().expect("a next page");
    for body in [
        json!({"applicationName": "pages", "deploymentGroupName": "blue", "nextToken": token}),
        json!({"applicationName": "pages", "nextToken": format!("{token}x")}),
    ] {
        let (status, answer) = root
            .json("CodeDeploy_20141006.ListDeployments", "codedeploy", body)
            .await;
        assert_eq!(
            (status, answer["__type"].as_str()),
            (400, Some("InvalidNextTokenException")),
            "{answer}"
        );
    }
}
