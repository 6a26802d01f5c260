//! The first hour (issue 11): the real binary started the way a newcomer starts it, from a
//! working directory with relative paths, builds the code that was pushed to it — and never
//! passes a build on an empty workspace.

use crate::providers::git;
use serde_json::json;
use sluice_test_utils::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sluice(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(cwd)
        .args(args)
        .env("SLUICE_LOG", "warn")
        .output()
        .expect("run sluice")
}

/// `sluice serve --data-dir data --config sluice.toml`, run from `cwd`.
async fn serve_relative(cwd: &Path) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(cwd)
        .args(["serve", "--listen", &addr.to_string()])
        .args(["--data-dir", "data", "--config", "sluice.toml"])
        .env("SLUICE_LOG", "warn")
        .env("SLUICE_BOOTSTRAP_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
        .env("SLUICE_BOOTSTRAP_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sluice");
    let serve = Serve { child, addr };
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok()
            && sluice_test_utils::http(addr, "GET", "/healthz", &[], Vec::new())
                .await
                .0
                == 200
        {
            return serve;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("sluice did not become healthy on {addr}");
}

#[tokio::test]
async fn a_relative_data_dir_builds_the_pushed_code_with_commands_and_codebuild() {
    let cwd = tempfile::tempdir().expect("dir");
    std::fs::write(
        cwd.path().join("sluice.toml"),
        "[codebuild.projects.unit]\nbuildspec = \"buildspec.yml\"\n",
    )
    .expect("config");
    // The admin commands refuse a directory that is not a data dir, instead of making one.
    let refused = sluice(cwd.path(), &["repo", "create", "app", "--data-dir", "data"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not a Sluice data dir"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!cwd.path().join("data").exists(), "no stray data dir");

    let server = serve_relative(cwd.path()).await;
    let created = sluice(
        cwd.path(),
        &[
            "repo",
            "create",
            "app",
            "--data-dir",
            "data",
            "--listen",
            &server.addr.to_string(),
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let url = String::from_utf8_lossy(&created.stdout).trim().to_string();
    assert_eq!(url, format!("http://{}/_sluice/git/app.git", server.addr));

    let work = cwd.path().join("app");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::write(work.join("app.sh"), "echo hello from the pushed code\n").expect("write");
    std::fs::write(
        work.join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - test -f app.sh\n      - sh app.sh\n",
    )
    .expect("write");
    git(&work, &["init", "--quiet", "--initial-branch=main"]).await;
    git(&work, &["add", "."]).await;
    git(&work, &["commit", "--quiet", "-m", "first"]).await;
    let authenticated = url.replace(
        "http://",
        &format!("http://{TEST_ACCESS_KEY_ID}:{TEST_SECRET_ACCESS_KEY}@"),
    );
    git(&work, &["push", "--quiet", &authenticated, "main"]).await;

    let pipeline = json!({"pipeline": {"name": "relative", "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
        "stages": [
            {"name": "Source", "actions": [{"name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": {"RepositoryName": "app", "BranchName": "main"},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [
                {"name": "Commands",
                 "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                 "commands": ["test -f app.sh", "test -f \"$CODEBUILD_SRC_DIR/app.sh\"", "sh app.sh"],
                 "inputArtifacts": [{"name": "Src"}]},
                {"name": "CodeBuild",
                 "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                 "configuration": {"ProjectName": "unit"},
                 "inputArtifacts": [{"name": "Src"}]}]}]}});
    let reply = crate::durability::call(server.addr, "CreatePipeline", pipeline).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let mut last = serde_json::Value::Null;
    for _ in 0..1200 {
        last = crate::durability::call(
            server.addr,
            "ListPipelineExecutions",
            json!({"pipelineName": "relative"}),
        )
        .await
        .body;
        let status = &last["pipelineExecutionSummaries"][0]["status"];
        if status.is_string() && status != "InProgress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state =
        crate::durability::call(server.addr, "GetPipelineState", json!({"name": "relative"}))
            .await
            .body;
    assert_eq!(
        last["pipelineExecutionSummaries"][0]["status"], "Succeeded",
        "{last}\n{state}"
    );
}

/// Whether any process's command line contains `needle`.
fn running(needle: &str) -> bool {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| {
            String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(needle)
        })
}

/// Waits for a condition, for at most 90 s: the end-to-end suite loads the machine's two cores.
async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test]
async fn a_running_action_shows_its_log_live_and_abandoning_it_kills_its_processes() {
    use crate::providers::{codecommit_source, commands, create, repository};
    let server = sluice_test_utils::TestServer::start_with_providers(
        sluice_service::Options::default(),
        Default::default(),
    )
    .await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    // A marker no other process has, on a child left in the background and on the command.
    create(
        &server,
        "long",
        vec![
            codecommit_source("main"),
            commands(&[
                "echo the build is running",
                "(sleep 3171; echo survived) & sleep 3172",
            ]),
        ],
    )
    .await;
    let mut job = String::new();
    wait_for("the build's externalExecutionId", async || {
        let state = server.ok("GetPipelineState", json!({"name": "long"})).await;
        let latest = &state["stageStates"][1]["actionStates"][0]["latestExecution"];
        if latest["status"] == "InProgress" && latest["externalExecutionUrl"].is_string() {
            job = latest["externalExecutionId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        !job.is_empty()
    })
    .await;
    wait_for("both processes", async || {
        running("sleep 3171") && running("sleep 3172")
    })
    .await;
    wait_for("the live log", async || {
        let (status, _, log) = server
            .s3("GET", &format!("/sluice-logs/jobs/{job}.log"), vec![])
            .await;
        status == 200 && String::from_utf8_lossy(&log).contains("the build is running")
    })
    .await;
    let executions = server
        .ok("ListPipelineExecutions", json!({"pipelineName": "long"}))
        .await;
    let id = executions["pipelineExecutionSummaries"][0]["pipelineExecutionId"].clone();
    server
        .ok(
            "StopPipelineExecution",
            json!({"pipelineName": "long", "pipelineExecutionId": id, "abandon": true}),
        )
        .await;
    wait_for("every process of the build to end", async || {
        !running("sleep 3171") && !running("sleep 3172")
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_backup_of_a_live_server_restores_its_pipelines_objects_keys_and_trail() {
    use crate::durability::{call, start_with};
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut server = start_with(&data, &[]).await;
    let pipeline = crate::fixtures::pipeline("kept");
    assert_eq!(
        call(server.addr, "CreatePipeline", json!({"pipeline": pipeline}))
            .await
            .status,
        200
    );
    let github = json!({"pipeline": {"name": "secretive", "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
        "stages": [
            {"name": "Source", "actions": [{"name": "Source",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
                "configuration": {"Owner": "me", "Repo": "app", "Branch": "main", "OAuthToken": "kept-secret-token"},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [{"name": "Build",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["true"], "inputArtifacts": [{"name": "Src"}]}]}]}});
    assert_eq!(
        call(server.addr, "CreatePipeline", github).await.status,
        200
    );
    // Taken while the server runs.
    let backup = dir.path().join("backup");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["admin", "backup"])
        .arg(&backup)
        .arg("--data-dir")
        .arg(&data)
        .env("SLUICE_LOG", "warn")
        .output()
        .expect("backup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.terminate();
    std::fs::remove_dir_all(&data).expect("the original is gone");

    let restored = start_with(&backup, &[]).await;
    let kept = call(restored.addr, "GetPipeline", json!({"name": "kept"})).await;
    assert_eq!(kept.status, 200, "{:?}", kept.body);
    let secretive = call(restored.addr, "GetPipeline", json!({"name": "secretive"})).await;
    assert_eq!(secretive.status, 200);
    drop(restored);
    // The trail and the sealed secret open with the restored master key.
    let verify = sluice(dir.path(), &["audit", "verify", "--data-dir", "backup"]);
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
