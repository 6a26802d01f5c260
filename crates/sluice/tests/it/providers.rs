//! The built-in providers end to end: a push to a hosted repository or an upload to a bucket
//! starts the pipeline; Commands and CodeBuild run for real; artifacts and logs are kept.

use serde_json::{json, Value};
use sluice_service::Options;
use sluice_test_utils::{http, TestServer};
use sluice_worker::runners::Project;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const ROLE: &str = "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service";
const BUCKET: &str = "codepipeline-us-east-1-111111111111";

async fn server() -> TestServer {
    let mut projects = BTreeMap::new();
    projects.insert(
        "unit".to_string(),
        Project {
            buildspec: Some("buildspec-test.yml".into()),
            ..Default::default()
        },
    );
    TestServer::start_with_providers(Options::default(), projects).await
}

/// Git runs as a child process awaited on the runtime: the server answers on the same runtime.
pub(crate) async fn git(dir: &Path, args: &[&str]) {
    let out = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `git ARGS` succeeds in `dir`: the test's git client, for a command it expects the
/// server to refuse.
pub(crate) async fn git_succeeds(dir: &Path, args: &[&str]) -> bool {
    tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git runs")
        .status
        .success()
}

/// A working copy with a commit, its origin the server's hosted repository `name`.
pub(crate) async fn repository(server: &TestServer, name: &str, work: &Path) {
    sluice_worker::git::init_bare(&server.repos_dir().join(format!("{name}.git")))
        .await
        .expect("bare repository");
    std::fs::create_dir_all(work.join("assets")).expect("mkdir");
    std::fs::write(work.join("app.sh"), "echo hello\n").expect("write");
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    std::fs::write(work.join("assets/blob.bin"), binary).expect("write");
    std::fs::write(
        work.join("buildspec-test.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - test -f dist/app.sh\n      - echo tests pass\n",
    )
    .expect("write");
    git(work, &["init", "--quiet", "--initial-branch=main"]).await;
    git(work, &["add", "."]).await;
    git(work, &["commit", "--quiet", "-m", "first version"]).await;
    let url = format!(
        "http://{}:{}@{}/_sluice/git/{name}.git",
        sluice_test_utils::TEST_ACCESS_KEY_ID,
        sluice_test_utils::TEST_SECRET_ACCESS_KEY,
        server.addr
    );
    git(work, &["remote", "add", "origin", &url]).await;
    git(work, &["push", "--quiet", "origin", "main"]).await;
}

pub(crate) fn stage(name: &str, action: Value) -> Value {
    json!({"name": name, "actions": [action]})
}

pub(crate) fn codecommit_source(branch: &str) -> Value {
    stage(
        "Source",
        json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
               "configuration": {"RepositoryName": "app", "BranchName": branch},
               "outputArtifacts": [{"name": "Src"}]}),
    )
}

pub(crate) fn commands(list: &[&str]) -> Value {
    stage(
        "Build",
        json!({"name": "Build", "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
               "commands": list, "outputVariables": ["BUILT"],
               "inputArtifacts": [{"name": "Src"}], "outputArtifacts": [{"name": "Built"}]}),
    )
}

fn codebuild_test() -> Value {
    stage(
        "Test",
        json!({"name": "Test", "actionTypeId": {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
               "configuration": {"ProjectName": "unit"}, "inputArtifacts": [{"name": "Built"}]}),
    )
}

pub(crate) async fn create(server: &TestServer, name: &str, stages: Vec<Value>) {
    create_with_role(server, name, ROLE, stages).await;
}

pub(crate) async fn create_with_role(
    server: &TestServer,
    name: &str,
    role: &str,
    stages: Vec<Value>,
) {
    server
        .ok(
            "CreatePipeline",
            json!({"pipeline": {"name": name, "roleArn": role,
                "artifactStore": {"type": "S3", "location": BUCKET}, "stages": stages}}),
        )
        .await;
}

/// Waits until the pipeline has `count` executions and the newest has finished. The bound is
/// generous: the end-to-end suite runs many servers, workers and builds at once on two cores.
pub(crate) async fn settled(server: &TestServer, name: &str, count: usize) -> Vec<Value> {
    settled_within(server, name, count, 90).await
}

/// As `settled`, for runs that take long (waiting at most `secs`).
pub(crate) async fn settled_within(
    server: &TestServer,
    name: &str,
    count: usize,
    secs: u64,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        let list = server
            .ok("ListPipelineExecutions", json!({"pipelineName": name}))
            .await;
        let items = list["pipelineExecutionSummaries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if items.len() >= count && items[0]["status"] != "InProgress" {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pipeline {name} did not settle with {count} executions");
}

pub(crate) async fn action_state(server: &TestServer, pipeline: &str, stage: usize) -> Value {
    let state = server
        .ok("GetPipelineState", json!({"name": pipeline}))
        .await;
    state["stageStates"][stage]["actionStates"][0]["latestExecution"].clone()
}

/// The files of a zip artifact stored at `bucket/key`.
async fn artifact_files(server: &TestServer, bucket: &str, key: &str) -> BTreeMap<String, Vec<u8>> {
    let (status, _, zip) = server.s3("GET", &format!("/{bucket}/{key}"), vec![]).await;
    assert_eq!(status, 200, "artifact {bucket}/{key} is readable");
    let dir = tempfile::tempdir().expect("dir");
    sluice_artifacts::unpack(std::io::Cursor::new(zip), dir.path(), &Default::default())
        .expect("a valid artifact");
    let mut files = BTreeMap::new();
    collect(dir.path(), dir.path(), &mut files);
    files
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .to_string();
            out.insert(rel, std::fs::read(&path).expect("read"));
        }
    }
}

#[tokio::test]
async fn a_push_runs_source_commands_and_codebuild_with_artifacts_kept_byte_for_byte() {
    let server = server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    create(
        &server,
        "app-pipeline",
        vec![
            codecommit_source("main"),
            commands(&[
                "mkdir -p dist",
                "cp app.sh dist/",
                "export BUILT=\"$(ls dist)\"",
            ]),
            codebuild_test(),
        ],
    )
    .await;
    let runs = settled(&server, "app-pipeline", 1).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");

    std::fs::write(work.path().join("app.sh"), "echo hello again\n").expect("write");
    git(work.path(), &["commit", "--quiet", "-am", "second version"]).await;
    git(work.path(), &["push", "--quiet", "origin", "main"]).await;
    let runs = settled(&server, "app-pipeline", 2).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    assert_eq!(runs[0]["trigger"]["triggerType"], "PollForSourceChanges");
    assert_eq!(
        runs[0]["sourceRevisions"][0]["revisionSummary"],
        "second version"
    );

    let source = action_state(&server, "app-pipeline", 0).await;
    assert_eq!(source["summary"], "second version");
    let actions = server
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "app-pipeline", "filter": {"pipelineExecutionId": runs[0]["pipelineExecutionId"]}}),
        )
        .await;
    let details = actions["actionExecutionDetails"].as_array().expect("list");
    let build = details
        .iter()
        .find(|d| d["actionName"] == "Build")
        .expect("build ran");
    assert_eq!(build["output"]["outputVariables"]["BUILT"], "app.sh");
    let location = &build["output"]["outputArtifacts"][0]["s3location"];
    let files = artifact_files(
        &server,
        location["bucket"].as_str().expect("bucket"),
        location["key"].as_str().expect("key"),
    )
    .await;
    for rel in ["app.sh", "assets/blob.bin", "buildspec-test.yml"] {
        assert_eq!(
            files.get(rel),
            Some(&std::fs::read(work.path().join(rel)).expect("read")),
            "{rel} is carried byte for byte"
        );
    }
    assert_eq!(
        files.get("dist/app.sh").map(Vec::as_slice),
        Some(&b"echo hello again\n"[..])
    );
    assert!(
        !files.keys().any(|k| k.starts_with(".git")),
        "no git metadata in the artifact"
    );

    let test = action_state(&server, "app-pipeline", 2).await;
    let url = test["externalExecutionUrl"].as_str().expect("console url");
    let job = test["externalExecutionId"].as_str().expect("job id");
    assert_eq!(url, format!("{}/console/jobs/{job}", server.url()));
    let (status, _, log) = server
        .s3("GET", &format!("/sluice-logs/jobs/{job}.log"), vec![])
        .await;
    assert_eq!(status, 200);
    let log = String::from_utf8(log).expect("text");
    assert!(log.contains("Running command test -f dist/app.sh"), "{log}");
    assert!(log.contains("tests pass"), "{log}");
    server.stop().await;
}

#[tokio::test]
async fn a_failing_command_fails_the_action_naming_the_command_and_its_exit_code() {
    let server = server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    create(
        &server,
        "failing",
        vec![
            codecommit_source("main"),
            commands(&["echo building", "exit 7"]),
            codebuild_test(),
        ],
    )
    .await;
    let runs = settled(&server, "failing", 1).await;
    assert_eq!(runs[0]["status"], "Failed");
    let build = action_state(&server, "failing", 1).await;
    assert_eq!(build["status"], "Failed");
    assert_eq!(
        build["errorDetails"]["message"],
        "Command did not exit successfully exit 7 exit status 7"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_option_like_branch_name_never_reaches_git() {
    let server = server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let marker = work.path().join("pwned");
    let branch = format!("--upload-pack=touch {}", marker.display());
    create(
        &server,
        "hostile",
        vec![codecommit_source(&branch), commands(&["true"])],
    )
    .await;
    let runs = settled(&server, "hostile", 1).await;
    assert_eq!(runs[0]["status"], "Failed");
    let source = action_state(&server, "hostile", 0).await;
    let message = source["errorDetails"]["message"].as_str().expect("message");
    assert!(message.contains("is not a valid branch name"), "{message}");
    assert!(!marker.exists());
    server.stop().await;
}

#[tokio::test]
async fn a_new_object_version_starts_the_pipeline_watching_that_key() {
    let server = server().await;
    let put = |path: &'static str, body: Vec<u8>| {
        let server = &server;
        async move { server.s3("PUT", path, body).await.0 }
    };
    assert_eq!(put("/source-bucket", vec![]).await, 200);
    assert_eq!(
        put(
            "/source-bucket?versioning",
            b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".to_vec()
        )
        .await,
        200
    );
    let bundle = |text: &str| {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("index.html"), text).expect("write");
        let mut zip = std::io::Cursor::new(Vec::new());
        sluice_artifacts::pack_dir(dir.path(), &mut zip).expect("pack");
        zip.into_inner()
    };
    assert_eq!(put("/source-bucket/app.zip", bundle("v1")).await, 200);
    let source = stage(
        "Source",
        json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
               "configuration": {"S3Bucket": "source-bucket", "S3ObjectKey": "app.zip"},
               "outputArtifacts": [{"name": "Src"}]}),
    );
    create(
        &server,
        "s3-pipeline",
        vec![
            source,
            commands(&["grep -q v2 index.html || grep -q v1 index.html"]),
        ],
    )
    .await;
    let runs = settled(&server, "s3-pipeline", 1).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    assert_eq!(put("/source-bucket/app.zip", bundle("v2")).await, 200);
    assert_eq!(put("/source-bucket/other.zip", bundle("v3")).await, 200);
    let runs = settled(&server, "s3-pipeline", 2).await;
    assert_eq!(runs.len(), 2, "only the watched key starts a run");
    assert_eq!(runs[0]["status"], "Succeeded");
    let source = action_state(&server, "s3-pipeline", 0).await;
    let (_, headers, _) = server.s3("HEAD", "/source-bucket/app.zip", vec![]).await;
    assert_eq!(
        source["summary"],
        format!(
            "s3://source-bucket/app.zip version {}",
            headers["x-amz-version-id"].to_str().expect("version")
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn a_custom_test_action_runs_in_sluice_worker_with_continuation_and_artifacts() {
    let server = server().await;
    // The worker signs with the real time; the server's clock has to agree within 15 minutes.
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    server
        .clock
        .advance_ms(real_now - sluice_test_utils::START_MS);
    let work = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(work.path()).expect("dir");
    std::fs::write(
        work.path().join("run-tests.sh"),
        "#!/bin/sh\nset -e\ntest -f dist/app.sh\nsleep 2\necho \"tested $(cat dist/app.sh) for $SLUICE_CONFIG_SUITE\" > \"$SLUICE_OUTPUT_DIR/report.txt\"\n",
    )
    .expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            work.path().join("run-tests.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    repository(&server, "app", work.path()).await;
    server
        .ok(
            "CreateCustomActionType",
            json!({"category": "Test", "provider": "UnitRunner", "version": "1",
                   "configurationProperties": [{"name": "Suite", "required": true, "key": true, "secret": false}],
                   "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 1},
                   "outputArtifactDetails": {"minimumCount": 1, "maximumCount": 1}}),
        )
        .await;
    let test_stage = stage(
        "Test",
        json!({"name": "Unit", "actionTypeId": {"category": "Test", "owner": "Custom", "provider": "UnitRunner", "version": "1"},
               "configuration": {"Suite": "smoke"},
               "inputArtifacts": [{"name": "Built"}], "outputArtifacts": [{"name": "Report"}]}),
    );
    create(
        &server,
        "worker-flow",
        vec![
            codecommit_source("main"),
            commands(&["mkdir -p dist", "cp app.sh dist/"]),
            test_stage,
        ],
    )
    .await;
    let worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "worker",
            "--endpoint",
            &server.url(),
            "--action-type",
            "Custom/Test/UnitRunner/1",
            "--poll-interval-ms",
            "100",
            "--continue-after-secs",
            "1",
            "--max-jobs",
            "1",
            "--",
            "./run-tests.sh",
        ])
        .env("AWS_ACCESS_KEY_ID", sluice_test_utils::TEST_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            sluice_test_utils::TEST_SECRET_ACCESS_KEY,
        )
        .env("SLUICE_LOG", "warn")
        .kill_on_drop(true)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("worker starts");
    let runs = settled(&server, "worker-flow", 1).await;
    let worker = tokio::time::timeout(Duration::from_secs(30), worker.wait_with_output())
        .await
        .expect("the worker exits after its job")
        .expect("worker ran");
    assert!(
        worker.status.success(),
        "{}",
        String::from_utf8_lossy(&worker.stderr)
    );
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    let actions = server
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "worker-flow", "filter": {"pipelineExecutionId": runs[0]["pipelineExecutionId"]}}),
        )
        .await;
    let unit = actions["actionExecutionDetails"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["actionName"] == "Unit")
        .cloned()
        .expect("unit ran");
    let location = &unit["output"]["outputArtifacts"][0]["s3location"];
    let files = artifact_files(
        &server,
        location["bucket"].as_str().expect("bucket"),
        location["key"].as_str().expect("key"),
    )
    .await;
    assert_eq!(
        files.get("report.txt").map(Vec::as_slice),
        Some(&b"tested echo hello for smoke\n"[..])
    );
    let job = unit["output"]["executionResult"]["externalExecutionId"]
        .as_str()
        .expect("job id");
    let (status, _, log) = server
        .s3("GET", &format!("/sluice-logs/jobs/{job}.log"), vec![])
        .await;
    assert_eq!(status, 200, "the worker uploaded its log");
    assert!(String::from_utf8_lossy(&log).contains("running [\"./run-tests.sh\"]"));
    server.stop().await;
}

#[tokio::test]
async fn a_github_source_is_fetched_and_polled_for_new_commits() {
    let server = server().await;
    let remote = server.github_dir().join("acme/site");
    sluice_worker::git::init_bare(&remote).await.expect("bare");
    let work = tempfile::tempdir().expect("dir");
    std::fs::write(work.path().join("index.html"), "v1").expect("write");
    git(work.path(), &["init", "--quiet", "--initial-branch=main"]).await;
    git(work.path(), &["add", "."]).await;
    git(work.path(), &["commit", "--quiet", "-m", "site v1"]).await;
    let remote_path = remote.to_str().expect("utf8").to_string();
    git(work.path(), &["push", "--quiet", &remote_path, "main"]).await;
    let source = stage(
        "Source",
        json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
               "configuration": {"Owner": "acme", "Repo": "site", "Branch": "main", "OAuthToken": "gh-secret-token"},
               "outputArtifacts": [{"name": "Src"}]}),
    );
    create(
        &server,
        "site",
        vec![source, commands(&["grep -q v index.html"])],
    )
    .await;
    let runs = settled(&server, "site", 1).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    assert_eq!(runs[0]["sourceRevisions"][0]["revisionSummary"], "site v1");

    std::fs::write(work.path().join("index.html"), "v2").expect("write");
    git(work.path(), &["commit", "--quiet", "-am", "site v2"]).await;
    git(work.path(), &["push", "--quiet", &remote_path, "main"]).await;
    let runs = settled(&server, "site", 2).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    assert_eq!(runs[0]["trigger"]["triggerType"], "PollForSourceChanges");
    assert_eq!(runs[0]["sourceRevisions"][0]["revisionSummary"], "site v2");
    // Polling again finds nothing new.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(settled(&server, "site", 2).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn blobs_can_live_in_another_s3_compatible_store() {
    // Server A is only an S3 store; server B keeps its bytes in A's bucket.
    let a = TestServer::start().await;
    // B's S3 client signs with the real time; A's clock has to agree.
    a.clock
        .advance_ms(sluice_test_utils::wall_clock_ms() - sluice_test_utils::START_MS);
    a.sluice.create_bucket("b-blobs").await.expect("bucket");
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("sluice.toml");
    std::fs::write(
        &config,
        format!(
            "[blobs]\ns3_endpoint = \"{}\"\ns3_bucket = \"b-blobs\"\n",
            a.url()
        ),
    )
    .expect("config");
    let b = crate::durability::start_with_env(
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf8")],
        &[
            (
                "SLUICE_BLOBS_ACCESS_KEY_ID",
                sluice_test_utils::TEST_ACCESS_KEY_ID,
            ),
            (
                "SLUICE_BLOBS_SECRET_ACCESS_KEY",
                sluice_test_utils::TEST_SECRET_ACCESS_KEY,
            ),
        ],
    )
    .await;
    let (status, _, _) = s3_wall(b.addr, "PUT", "/bundles", vec![]).await;
    assert_eq!(status, 200);
    let dir_src = tempfile::tempdir().expect("dir");
    std::fs::write(dir_src.path().join("index.html"), "hello from B").expect("write");
    let mut zip = std::io::Cursor::new(Vec::new());
    sluice_artifacts::pack_dir(dir_src.path(), &mut zip).expect("pack");
    let zip = zip.into_inner();
    let (status, _, body) = s3_wall(b.addr, "PUT", "/bundles/app.zip", zip.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, back) = s3_wall(b.addr, "GET", "/bundles/app.zip", vec![]).await;
    assert_eq!((status, back), (200, zip));
    let pipeline = json!({"pipeline": {"name": "on-b", "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": BUCKET},
        "stages": [stage("Source", json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                       "configuration": {"S3Bucket": "bundles", "S3ObjectKey": "app.zip"}, "outputArtifacts": [{"name": "Src"}]})),
                   commands(&["grep -q 'hello from B' index.html"])]}});
    assert_eq!(
        crate::durability::call(b.addr, "CreatePipeline", pipeline)
            .await
            .status,
        200
    );
    let mut status = String::new();
    for _ in 0..400 {
        let list = crate::durability::call(
            b.addr,
            "ListPipelineExecutions",
            json!({"pipelineName": "on-b"}),
        )
        .await;
        status = list.body["pipelineExecutionSummaries"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .into();
        if status != "InProgress" && !status.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "Succeeded");
    let listing = a
        .sluice
        .list_objects("b-blobs", "objects/", None, None, 1000)
        .await
        .expect("list");
    assert!(
        listing.objects.len() >= 3,
        "B's bundle, artifact and log are in A: {:?}",
        listing.objects.len()
    );
    a.stop().await;
}

#[tokio::test]
async fn an_s3_source_on_an_external_endpoint_is_fetched_and_polled() {
    let external = TestServer::start().await;
    // The S3 client signs with the real time; the store's clock has to agree.
    external
        .clock
        .advance_ms(sluice_test_utils::wall_clock_ms() - sluice_test_utils::START_MS);
    external
        .sluice
        .create_bucket("ext-bundles")
        .await
        .expect("bucket");
    external
        .sluice
        .set_bucket_versioning("ext-bundles", "Enabled")
        .await
        .expect("versioning");
    let bundle = |text: &str| {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("index.html"), text).expect("write");
        let mut zip = std::io::Cursor::new(Vec::new());
        sluice_artifacts::pack_dir(dir.path(), &mut zip).expect("pack");
        zip.into_inner()
    };
    let put = |text: &str| {
        let body = bundle(text);
        let external = &external;
        async move { external.s3("PUT", "/ext-bundles/site.zip", body).await.0 }
    };
    assert_eq!(put("external v1").await, 200);
    let server = TestServer::start_with_external_s3(
        Options::default(),
        BTreeMap::new(),
        Some(sluice_artifacts::S3BlobConfig {
            endpoint: external.url(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: sluice_test_utils::TEST_ACCESS_KEY_ID.into(),
            secret_access_key: sluice_test_utils::TEST_SECRET_ACCESS_KEY.into(),
        }),
    )
    .await;
    let source = stage(
        "Source",
        json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
               "configuration": {"S3Bucket": "ext-bundles", "S3ObjectKey": "site.zip"},
               "outputArtifacts": [{"name": "Src"}]}),
    );
    create(
        &server,
        "external",
        vec![source, commands(&["grep -q external index.html"])],
    )
    .await;
    let runs = settled(&server, "external", 1).await;
    let source_state = action_state(&server, "external", 0).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{source_state}");
    let first = runs[0]["sourceRevisions"][0]["revisionId"].clone();
    assert!(first.as_str().is_some_and(|v| !v.is_empty()), "{runs:?}");
    assert_eq!(put("external v2").await, 200);
    let runs = settled(&server, "external", 2).await;
    assert_eq!(runs[0]["status"], "Succeeded");
    assert_eq!(runs[0]["trigger"]["triggerType"], "PollForSourceChanges");
    assert_ne!(runs[0]["sourceRevisions"][0]["revisionId"], first);
    server.stop().await;
    external.stop().await;
}

/// An S3 request to a server on the system clock, signed with the test key.
pub(crate) async fn s3_wall(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    let signed = sluice_test_utils::sign(
        method,
        path,
        &addr.to_string(),
        &[],
        &body,
        "s3",
        sluice_test_utils::wall_clock_ms(),
    );
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http(addr, method, path, &headers, body).await
}

/// A zip whose one entry is named `name` (built by hand: no packer would write these).
pub(crate) fn zip_with_entry(name: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        zip.write_all(body).expect("body");
        zip.finish().expect("finish");
    }
    out.into_inner()
}

#[tokio::test]
async fn a_hostile_source_bundle_fails_the_action_and_writes_nothing_outside() {
    let server = server().await;
    for (path, body) in [
        ("/evil", vec![]),
        (
            "/evil?versioning",
            b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".to_vec(),
        ),
    ] {
        assert_eq!(server.s3("PUT", path, body).await.0, 200);
    }
    let escape = format!(
        "../../../../../../tmp/sluice-zip-slip-{}",
        std::process::id()
    );
    let (status, _, _) = server
        .s3("PUT", "/evil/app.zip", zip_with_entry(&escape, b"pwned"))
        .await;
    assert_eq!(status, 200);
    let source = stage(
        "Source",
        json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
               "configuration": {"S3Bucket": "evil", "S3ObjectKey": "app.zip"}, "outputArtifacts": [{"name": "Src"}]}),
    );
    create(&server, "hostile-zip", vec![source, commands(&["true"])]).await;
    let runs = settled(&server, "hostile-zip", 1).await;
    assert_eq!(runs[0]["status"], "Failed");
    let build = action_state(&server, "hostile-zip", 1).await;
    let message = build["errorDetails"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("input artifact Src could not be unpacked: archive entry '../"),
        "{message}"
    );
    assert!(
        !std::path::Path::new(&format!("/tmp/sluice-zip-slip-{}", std::process::id())).exists()
    );
    server.stop().await;
}

/// Variables end to end: the source's output variables (its namespace), the pipeline's own
/// variables (a default, then a value given at start) and the execution id reach a Commands
/// action's commands and environment, and the file it writes is in its output artifact.
#[tokio::test]
async fn variables_reach_a_commands_action_from_the_source_the_pipeline_and_the_start() {
    let server = server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let mut source = codecommit_source("main");
    source["actions"][0]["namespace"] = json!("SourceVariables");
    let mut build = commands(&[
        "echo \"#{SourceVariables.CommitId} #{SourceVariables.BranchName} #{SourceVariables.CommitMessage}\" > vars.txt",
        "echo \"$STAGE #{codepipeline.PipelineExecutionId}\" >> vars.txt",
        "export BUILT=done",
    ]);
    build["actions"][0]["environmentVariables"] =
        json!([{"name": "STAGE", "value": "#{variables.stage}"}]);
    build["actions"][0]["namespace"] = json!("BuildVariables");
    build["actions"][0]["outputArtifacts"] = json!([{"name": "Built", "files": ["*.txt"]}]);
    server
        .ok(
            "CreatePipeline",
            json!({"pipeline": {"name": "vars", "roleArn": ROLE, "pipelineType": "V2",
                "artifactStore": {"type": "S3", "location": BUCKET},
                "variables": [{"name": "stage", "defaultValue": "beta"}],
                "stages": [source, build]}}),
        )
        .await;
    let runs = settled(&server, "vars", 1).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    let declared = server.ok("GetPipeline", json!({"name": "vars"})).await;
    assert_eq!(
        declared["pipeline"]["stages"][1]["actions"][0]["outputArtifacts"],
        json!([{"name": "Built", "files": ["*.txt"]}])
    );
    let commit = head_commit(work.path()).await;

    let first = runs[0]["pipelineExecutionId"].clone();
    assert_eq!(
        built_file(&server, &first, &commit).await,
        format!(
            "{commit} main first version\nbeta {}\n",
            first.as_str().expect("id")
        )
    );
    let execution = server
        .ok(
            "GetPipelineExecution",
            json!({"pipelineName": "vars", "pipelineExecutionId": first}),
        )
        .await;
    assert_eq!(
        execution["pipelineExecution"]["variables"],
        json!([{"name": "stage", "resolvedValue": "beta"}])
    );

    let started = server
        .ok(
            "StartPipelineExecution",
            json!({"name": "vars", "variables": [{"name": "stage", "value": "prod"}]}),
        )
        .await;
    let runs = settled(&server, "vars", 2).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    let second = started["pipelineExecutionId"].clone();
    assert_eq!(
        built_file(&server, &second, &commit).await,
        format!(
            "{commit} main first version\nprod {}\n",
            second.as_str().expect("id")
        )
    );
    let refused = server
        .call(
            "StartPipelineExecution",
            json!({"name": "vars", "variables": [{"name": "region", "value": "x"}]}),
        )
        .await;
    assert_eq!(refused.status, 400);
    let body = refused.body;
    assert_eq!(body["__type"], "ValidationException", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("region"),
        "{body}"
    );
    server.stop().await;
}

/// The `vars.txt` the Build action of `execution` of pipeline `vars` wrote into its output
/// artifact, after checking the source's output variables.
async fn built_file(server: &TestServer, execution: &Value, commit: &str) -> String {
    let source = action_detail(server, "vars", execution, "Source").await;
    assert_eq!(
        source["output"]["outputVariables"]["CommitId"],
        json!(commit)
    );
    assert_eq!(source["output"]["outputVariables"]["RepositoryName"], "app");
    let files = output_files(server, "vars", execution, "Build").await;
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["vars.txt"],
        "outputArtifacts[].files selects what goes in"
    );
    String::from_utf8(files["vars.txt"].clone()).expect("text")
}

/// `sourceRevisions`: a start can name the commit a source fetches instead of the branch head;
/// a revision type the source does not take is refused.
#[tokio::test]
async fn a_start_can_pin_the_commit_a_source_fetches() {
    let server = server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let first = head_commit(work.path()).await;
    create(
        &server,
        "pinned",
        vec![
            codecommit_source("main"),
            commands(&["cat app.sh > seen.txt", "export BUILT=yes"]),
        ],
    )
    .await;
    settled(&server, "pinned", 1).await;
    std::fs::write(work.path().join("app.sh"), "echo newer\n").expect("write");
    git(work.path(), &["commit", "--quiet", "-am", "second version"]).await;
    git(work.path(), &["push", "--quiet", "origin", "main"]).await;
    settled(&server, "pinned", 2).await;

    let started = server
        .ok(
            "StartPipelineExecution",
            json!({"name": "pinned", "sourceRevisions": [{"actionName": "Source",
                "revisionType": "COMMIT_ID", "revisionValue": first}]}),
        )
        .await;
    let runs = settled(&server, "pinned", 3).await;
    let run = runs
        .iter()
        .find(|r| r["pipelineExecutionId"] == started["pipelineExecutionId"])
        .expect("the pinned run");
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(run["sourceRevisions"][0]["revisionId"], json!(first));
    let files = output_files(&server, "pinned", &started["pipelineExecutionId"], "Build").await;
    assert_eq!(
        files.get("seen.txt").map(Vec::as_slice),
        Some(&b"echo hello\n"[..]),
        "the first version was built, not the branch head"
    );

    for (action, kind) in [("Source", "S3_OBJECT_VERSION_ID"), ("Build", "COMMIT_ID")] {
        let refused = server
            .call(
                "StartPipelineExecution",
                json!({"name": "pinned", "sourceRevisions": [{"actionName": action,
                    "revisionType": kind, "revisionValue": "abc"}]}),
            )
            .await;
        assert_eq!(refused.status, 400, "{action} {kind}");
        assert_eq!(refused.body["__type"], "ValidationException");
    }
    server.stop().await;
}

/// The commit the working copy `work` is at.
pub(crate) async fn head_commit(work: &Path) -> String {
    let out = tokio::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(work)
        .output()
        .await
        .expect("rev-parse");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

/// `ListActionExecutions`' detail of `action` in `execution` of `pipeline`.
async fn action_detail(
    server: &TestServer,
    pipeline: &str,
    execution: &Value,
    action: &str,
) -> Value {
    let actions = server
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": pipeline, "filter": {"pipelineExecutionId": execution}}),
        )
        .await;
    actions["actionExecutionDetails"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["actionName"] == action)
        .unwrap_or_else(|| panic!("{action} ran"))
        .clone()
}

/// The files of the first output artifact of `action` in `execution`.
async fn output_files(
    server: &TestServer,
    pipeline: &str,
    execution: &Value,
    action: &str,
) -> BTreeMap<String, Vec<u8>> {
    let detail = action_detail(server, pipeline, execution, action).await;
    let location = &detail["output"]["outputArtifacts"][0]["s3location"];
    artifact_files(
        server,
        location["bucket"].as_str().expect("bucket"),
        location["key"].as_str().expect("key"),
    )
    .await
}

#[tokio::test]
async fn a_commands_rule_runs_in_the_sandbox_and_its_exit_status_decides_the_success_condition() {
    let server = server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let mut build = commands(&["echo built > out.txt"]);
    // The check reads the source: it passes only while the repository has app.sh.
    build["onSuccess"] = json!({"conditions": [{"result": "FAIL", "rules": [{
        "name": "HasScript",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["test -f app.sh", "echo checked"],
        "inputArtifacts": [{"name": "Src"}]}]}]});
    server
        .ok(
            "CreatePipeline",
            json!({"pipeline": {"name": "gated", "roleArn": ROLE, "pipelineType": "V2",
                "artifactStore": {"type": "S3", "location": BUCKET},
                "stages": [codecommit_source("main"), build]}}),
        )
        .await;
    let runs = settled(&server, "gated", 1).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    let rules = server
        .ok("ListRuleExecutions", json!({"pipelineName": "gated"}))
        .await;
    let detail = &rules["ruleExecutionDetails"][0];
    assert_eq!(detail["ruleName"], "HasScript", "{rules}");
    assert_eq!(detail["status"], "Succeeded", "{rules}");
    assert_eq!(detail["stageName"], "Build");

    std::fs::remove_file(work.path().join("app.sh")).expect("remove");
    git(
        work.path(),
        &["commit", "--quiet", "-am", "drop the script"],
    )
    .await;
    git(work.path(), &["push", "--quiet", "origin", "main"]).await;
    let runs = settled(&server, "gated", 2).await;
    assert_eq!(runs[0]["status"], "Failed", "{runs:?}");
    let execution = server
        .ok(
            "GetPipelineExecution",
            json!({"pipelineName": "gated", "pipelineExecutionId": runs[0]["pipelineExecutionId"]}),
        )
        .await;
    let summary = execution["pipelineExecution"]["statusSummary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.contains("onSuccess") && summary.contains("HasScript"),
        "{summary}"
    );
    let state = server
        .ok("GetPipelineState", json!({"name": "gated"}))
        .await;
    let on_success = &state["stageStates"][1]["onSuccessConditionState"];
    assert_eq!(on_success["latestExecution"]["status"], "Failed", "{state}");
    assert_eq!(
        on_success["conditionStates"][0]["ruleStates"][0]["latestExecution"]["status"],
        "Failed"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_push_trigger_starts_only_for_the_branches_and_paths_its_filters_admit() {
    let server = server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let trigger = json!([{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
        "sourceActionName": "Source",
        "push": [
            {"branches": {"includes": ["feature/**"]},
             "filePaths": {"includes": ["src/**"], "excludes": ["**/README.md"]}},
            {"tags": {"includes": ["v*"]}}]}}]);
    server
        .ok(
            "CreatePipeline",
            json!({"pipeline": {"name": "mono", "roleArn": ROLE, "pipelineType": "V2",
                "artifactStore": {"type": "S3", "location": BUCKET}, "triggers": trigger,
                "stages": [codecommit_source("main"), commands(&["cat src/lib.txt"])]}}),
        )
        .await;
    let declared = server.ok("GetPipeline", json!({"name": "mono"})).await;
    assert_eq!(declared["pipeline"]["triggers"], trigger);
    settled(&server, "mono", 1).await;

    let push = |branch: &'static str| {
        let dir = work.path().to_path_buf();
        async move {
            git(
                &dir,
                &[
                    "push",
                    "--quiet",
                    "origin",
                    &format!("HEAD:refs/heads/{branch}"),
                ],
            )
            .await
        }
    };
    let commit = |path: &'static str, text: &'static str| {
        let dir = work.path().to_path_buf();
        async move {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(&file, text).expect("write");
            git(&dir, &["add", "."]).await;
            git(&dir, &["commit", "--quiet", "-m", path]).await;
        }
    };
    // Filtered out: main is not a feature branch, and a README under src/ is excluded.
    commit("src/lib.txt", "one\n").await;
    push("main").await;
    commit("src/README.md", "docs\n").await;
    push("feature/login").await;
    commit("docs/guide.txt", "docs\n").await;
    push("feature/login").await;
    // Admitted: a change under src/ on a feature branch, on exactly its commit.
    commit("src/lib.txt", "two\n").await;
    let admitted = head_commit(work.path()).await;
    push("feature/login").await;
    let runs = settled(&server, "mono", 2).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    assert_eq!(runs[0]["trigger"]["triggerType"], "WebhookV2");
    let detail = runs[0]["trigger"]["triggerDetail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("push filter 1") && detail.contains("feature/login"),
        "{detail}"
    );
    assert_eq!(
        runs[0]["sourceRevisions"][0]["revisionId"], admitted,
        "{runs:?}"
    );

    // A tag admitted by the second filter.
    git(work.path(), &["tag", "v1.0"]).await;
    git(work.path(), &["push", "--quiet", "origin", "v1.0"]).await;
    let runs = settled(&server, "mono", 3).await;
    let detail = runs[0]["trigger"]["triggerDetail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("push filter 2") && detail.contains("tag v1.0"),
        "{detail}"
    );
    server.stop().await;
}

#[tokio::test]
async fn github_push_and_pull_request_events_start_runs_only_through_the_triggers_filters() {
    let server = server().await;
    let remote = server.github_dir().join("acme/mono");
    sluice_worker::git::init_bare(&remote).await.expect("bare");
    let remote_path = remote.to_str().expect("utf8").to_string();
    let work = tempfile::tempdir().expect("dir");
    let dir = work.path();
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(dir.join("src/lib.txt"), "main\n").expect("write");
    git(dir, &["init", "--quiet", "--initial-branch=main"]).await;
    git(dir, &["add", "."]).await;
    git(dir, &["commit", "--quiet", "-m", "main"]).await;
    git(dir, &["push", "--quiet", &remote_path, "main"]).await;
    // A commit only a feature branch holds: a triggered run must fetch it.
    git(dir, &["checkout", "--quiet", "-b", "feature/login"]).await;
    std::fs::write(dir.join("src/lib.txt"), "feature\n").expect("write");
    git(dir, &["commit", "--quiet", "-am", "login"]).await;
    git(dir, &["push", "--quiet", &remote_path, "feature/login"]).await;
    let feature = head_commit(dir).await;

    let source = stage(
        "Source",
        json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
               "configuration": {"Owner": "acme", "Repo": "mono", "Branch": "main", "OAuthToken": "gh-token",
                                 "PollForSourceChanges": "false"},
               "outputArtifacts": [{"name": "Src"}]}),
    );
    let triggers = json!([{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
        "sourceActionName": "Source",
        "push": [{"branches": {"includes": ["feature/*"]}, "filePaths": {"includes": ["src/**"]}}],
        "pullRequest": [{"events": ["OPEN", "CLOSED"], "branches": {"includes": ["main"]}}]}}]);
    server
        .ok(
            "CreatePipeline",
            json!({"pipeline": {"name": "mono", "roleArn": ROLE, "pipelineType": "V2",
                "artifactStore": {"type": "S3", "location": BUCKET}, "triggers": triggers,
                "stages": [source, commands(&["cat src/lib.txt > seen.txt"])]}}),
        )
        .await;
    settled(&server, "mono", 1).await;
    let hook = server
        .ok(
            "PutWebhook",
            json!({"webhook": {"name": "mono-hook", "targetPipeline": "mono", "targetAction": "Source",
                "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
                "authentication": "UNAUTHENTICATED", "authenticationConfiguration": {}}}),
        )
        .await;
    let url = hook["webhook"]["url"].as_str().expect("url");
    let path = format!("/{}", url.splitn(4, '/').nth(3).expect("path"));
    let deliver = |event: &'static str, body: Value| {
        let path = path.clone();
        let addr = server.addr;
        async move {
            let (status, _, reply) = http(
                addr,
                "POST",
                &path,
                &[("x-github-event", event)],
                body.to_string().into_bytes(),
            )
            .await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
            String::from_utf8_lossy(&reply).to_string()
        }
    };
    let push = |branch: &str, files: &[&str]| {
        json!({"ref": format!("refs/heads/{branch}"), "after": feature,
               "commits": [{"id": feature, "modified": files}]})
    };
    // Filtered out: no file under src/, the watched branch itself, a closed unmerged pull request.
    assert!(deliver("push", push("feature/login", &["docs/a.md"]))
        .await
        .contains("filtered"));
    assert!(deliver("push", push("main", &["src/lib.txt"]))
        .await
        .contains("filtered"));
    let pull_request = |action: &str, merged: bool| {
        json!({"action": action, "number": 7, "pull_request": {"merged": merged,
               "base": {"ref": "main"}, "head": {"ref": "feature/login", "sha": feature}}})
    };
    assert!(deliver("pull_request", pull_request("closed", false))
        .await
        .contains("filtered"));
    assert!(deliver("pull_request", pull_request("synchronize", false))
        .await
        .contains("filtered"));
    assert_eq!(settled(&server, "mono", 1).await.len(), 1);

    // Admitted: a push changing src/ on a feature branch runs exactly that commit.
    deliver("push", push("feature/login", &["src/lib.txt"])).await;
    let runs = settled(&server, "mono", 2).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    assert_eq!(runs[0]["trigger"]["triggerType"], "WebhookV2");
    let detail = runs[0]["trigger"]["triggerDetail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("push filter 1"), "{detail}");
    assert_eq!(
        runs[0]["sourceRevisions"][0]["revisionId"],
        feature.as_str()
    );

    deliver("pull_request", pull_request("opened", false)).await;
    let runs = settled(&server, "mono", 3).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    let detail = runs[0]["trigger"]["triggerDetail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("pull request #7 OPEN into main")
            && detail.contains("pull request filter 1"),
        "{detail}"
    );
    server.stop().await;
}
