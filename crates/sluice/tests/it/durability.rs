//! `kill -9` and restart lose nothing that was acknowledged: the real binary, killed with
//! SIGKILL right after its answers, then started again on the same data dir.

use serde_json::json;
use sluice_test_utils::{signed_post, wall_clock_ms, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait for the server to finish what it queued and exit.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.child.wait().expect("reap");
    }

    /// SIGKILL, as `kill -9` sends, then reap.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start(data_dir: &std::path::Path) -> Server {
    start_with(data_dir, &[]).await
}

/// Starts `sluice serve` on a free port over `data_dir` with extra flags.
pub async fn start_with(data_dir: &std::path::Path, extra: &[&str]) -> Server {
    start_with_env(data_dir, extra, &[]).await
}

/// As `start_with`, with extra environment variables.
pub async fn start_with_env(
    data_dir: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Server {
    // SLUICE_TEST_SERVER_LOG=FILE keeps every spawned server's log, for a failure's story.
    let stderr = match std::env::var_os("SLUICE_TEST_SERVER_LOG") {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("server log"),
        ),
        None => Stdio::null(),
    };
    spawn(data_dir, extra, env, stderr).await
}

/// Starts `sluice serve` logging at debug level into `log`.
pub async fn start_logged(data_dir: &std::path::Path, log: &std::path::Path) -> Server {
    let file = std::fs::File::create(log).expect("log file");
    spawn(data_dir, &[], &[("SLUICE_LOG", "debug")], Stdio::from(file)).await
}

/// As `start_with_env`, appending the server's log (at `info`) to `log`.
pub async fn start_appending_log(
    data_dir: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
    log: &std::path::Path,
) -> Server {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut env = env.to_vec();
    env.push(("SLUICE_LOG", "info"));
    spawn(data_dir, extra, &env, Stdio::from(file)).await
}

async fn spawn(
    data_dir: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
    stderr: Stdio,
) -> Server {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("SLUICE_LOG", "warn")
        .envs(env.iter().copied())
        .env("SLUICE_BOOTSTRAP_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
        .env("SLUICE_BOOTSTRAP_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn sluice");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Server { child, addr };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("sluice did not start listening on {addr}");
}

pub async fn call(addr: SocketAddr, op: &str, body: serde_json::Value) -> sluice_test_utils::Reply {
    call_target(addr, &format!("CodePipeline_20150709.{op}"), body).await
}

/// A signed JSON 1.1 call with any `X-Amz-Target`.
pub async fn call_target(
    addr: SocketAddr,
    target: &str,
    body: serde_json::Value,
) -> sluice_test_utils::Reply {
    signed_post(
        addr,
        wall_clock_ms(),
        &[("x-amz-target", target)],
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test]
async fn kill_9_and_restart_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start(dir.path()).await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let name = format!("durable-{i}");
        let r = call(
            server.addr,
            "CreatePipeline",
            json!({"pipeline": crate::fixtures::pipeline(&name)}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        acknowledged.push(name);
    }
    let mut p = crate::fixtures::pipeline("durable-0");
    p["stages"]
        .as_array_mut()
        .expect("stages")
        .push(crate::fixtures::production_stage());
    assert_eq!(
        call(server.addr, "UpdatePipeline", json!({"pipeline": p}))
            .await
            .status,
        200
    );
    let r = call(
        server.addr,
        "DisableStageTransition",
        json!({"pipelineName": "durable-1", "stageName": "Beta", "transitionType": "Inbound", "reason": "kept"}),
    )
    .await;
    assert_eq!(r.status, 200);
    server.kill_9();

    let mut server = start(dir.path()).await;
    let listed = call(server.addr, "ListPipelines", json!({})).await;
    let names: Vec<&str> = listed.body["pipelines"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in &acknowledged {
        assert!(names.contains(&name.as_str()), "{name} was lost");
    }
    let v = call(server.addr, "GetPipeline", json!({"name": "durable-0"})).await;
    assert_eq!(v.body["pipeline"]["version"], 2);
    let v1 = call(
        server.addr,
        "GetPipeline",
        json!({"name": "durable-0", "version": 1}),
    )
    .await;
    assert_eq!(v1.body["pipeline"]["version"], 1);
    let state = call(
        server.addr,
        "GetPipelineState",
        json!({"name": "durable-1"}),
    )
    .await;
    assert_eq!(
        state.body["stageStates"][1]["inboundTransitionState"]["disabledReason"],
        "kept"
    );
    let credentials =
        std::fs::read_to_string(dir.path().join("credentials")).expect("credentials file");
    assert!(credentials.starts_with(&format!(
        "[default]\naws_access_key_id = {TEST_ACCESS_KEY_ID}\n"
    )));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("credentials"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    server.kill_9();
}

#[tokio::test]
async fn a_build_interrupted_by_kill_9_runs_again_after_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let bare = dir.path().join("repos/app.git");
    std::fs::create_dir_all(dir.path().join("repos")).expect("repos");
    sluice_worker::git::init_bare(&bare).await.expect("bare");
    let work = tempfile::tempdir().expect("dir");
    std::fs::write(work.path().join("app.sh"), "echo hi\n").expect("write");
    for args in [
        vec!["init", "--quiet", "--initial-branch=main"],
        vec!["add", "."],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "--quiet",
            "-m",
            "one",
        ],
        vec!["push", "--quiet", bare.to_str().expect("utf8"), "main"],
    ] {
        let ok = tokio::process::Command::new("git")
            .args(&args)
            .current_dir(work.path())
            .status()
            .await
            .expect("git");
        assert!(ok.success(), "git {args:?}");
    }
    let mut server = start(dir.path()).await;
    let pipeline = json!({"pipeline": {"name": "slow", "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
        "stages": [
          {"name": "Source", "actions": [{"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
            "configuration": {"RepositoryName": "app", "BranchName": "main"}, "outputArtifacts": [{"name": "Src"}]}]},
          {"name": "Build", "actions": [{"name": "Build", "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": ["sleep 2", "sh app.sh"], "inputArtifacts": [{"name": "Src"}]}]}]}});
    assert_eq!(
        call(server.addr, "CreatePipeline", pipeline).await.status,
        200
    );
    let build_status = |addr| async move {
        let state = call(addr, "GetPipelineState", json!({"name": "slow"})).await;
        state.body["stageStates"][1]["actionStates"][0]["latestExecution"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let mut running = false;
    for _ in 0..400 {
        if build_status(server.addr).await == "InProgress" {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(running, "the build started");
    server.kill_9();
    let server = start(dir.path()).await;
    let mut last = String::new();
    for _ in 0..600 {
        last = build_status(server.addr).await;
        if last == "Succeeded" || last == "Failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        last, "Succeeded",
        "the interrupted build ran again and finished"
    );
}

/// A V2 pipeline of a custom source and a custom build: nothing runs its jobs here, so its
/// executions stay where the execution mode puts them.
fn custom_v2_pipeline(name: &str, mode: &str) -> serde_json::Value {
    let source =
        json!({"category": "Source", "owner": "Custom", "provider": "HeldSource", "version": "1"});
    let build =
        json!({"category": "Build", "owner": "Custom", "provider": "HeldBuild", "version": "1"});
    let mut p = crate::fixtures::pipeline(name);
    p["pipelineType"] = json!("V2");
    p["executionMode"] = json!(mode);
    p["stages"] = json!([
        {"name": "Source", "actions": [{"name": "Source", "actionTypeId": source,
            "outputArtifacts": [{"name": "App"}]}]},
        {"name": "Build", "actions": [{"name": "Build", "actionTypeId": build,
            "inputArtifacts": [{"name": "App"}]}]},
    ]);
    p
}

#[tokio::test]
async fn queued_lines_and_parallel_executions_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start(dir.path()).await;
    for (category, provider, inputs, outputs) in
        [("Source", "HeldSource", 0, 1), ("Build", "HeldBuild", 1, 0)]
    {
        let r = call(
            server.addr,
            "CreateCustomActionType",
            json!({"category": category, "provider": provider, "version": "1",
                "inputArtifactDetails": {"minimumCount": inputs, "maximumCount": inputs},
                "outputArtifactDetails": {"minimumCount": outputs, "maximumCount": outputs}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut started = BTreeMap::<&str, Vec<String>>::new();
    for (name, mode) in [("queued", "QUEUED"), ("parallel", "PARALLEL")] {
        let r = call(
            server.addr,
            "CreatePipeline",
            json!({"pipeline": custom_v2_pipeline(name, mode)}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        for _ in 0..2 {
            let r = call(server.addr, "StartPipelineExecution", json!({"name": name})).await;
            assert_eq!(r.status, 200, "{}", r.body);
            started
                .entry(name)
                .or_default()
                .push(r.body["pipelineExecutionId"].as_str().expect("id").into());
        }
    }
    let queued_before = call(server.addr, "GetPipelineState", json!({"name": "queued"})).await;
    server.kill_9();

    let mut server = start(dir.path()).await;
    let queued = call(server.addr, "GetPipelineState", json!({"name": "queued"})).await;
    assert_eq!(
        queued.body["stageStates"][0]["inboundExecutions"],
        queued_before.body["stageStates"][0]["inboundExecutions"]
    );
    let in_line: Vec<&str> = queued.body["stageStates"][0]["inboundExecutions"]
        .as_array()
        .expect("a line")
        .iter()
        .filter_map(|x| x["pipelineExecutionId"].as_str())
        .collect();
    assert_eq!(in_line, started["queued"], "the line keeps its order");
    for (name, mode) in [("queued", "QUEUED"), ("parallel", "PARALLEL")] {
        let listed = call(
            server.addr,
            "ListPipelineExecutions",
            json!({"pipelineName": name}),
        )
        .await;
        let summaries = listed.body["pipelineExecutionSummaries"]
            .as_array()
            .expect("summaries");
        assert_eq!(summaries.len(), 3, "{name}: {summaries:?}");
        for summary in summaries {
            assert_eq!(summary["status"], "InProgress", "{name}: {summary}");
            assert_eq!(summary["executionMode"], mode);
        }
    }
    let parallel = call(server.addr, "GetPipelineState", json!({"name": "parallel"})).await;
    assert!(
        parallel.body["stageStates"][0]
            .get("inboundExecutions")
            .is_none(),
        "nobody waits under PARALLEL: {}",
        parallel.body
    );
    server.kill_9();
}
