//! Several `sluice serve` processes on one PostgreSQL database and one S3-compatible blob store:
//! each answers any request, one leads, a built-in job whose server is killed with SIGKILL
//! finishes on another, and a push through any of them is seen by all.

use crate::crash_loop::{crash_loop, Cluster};
use crate::durability::{call, call_target};
use crate::providers::{codecommit_source, commands, git, git_succeeds, head_commit, stage};
use serde_json::{json, Value};
use sluice_test_utils::{ScratchDatabase, TestServer, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};
use std::time::Duration;

const MASTER_KEY: &str = "6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d";
const TOKEN_KEY: &str = "7474747474747474747474747474747474747474747474747474747474747474";

/// Three replicas sharing the database at `database_url` and the bucket `blobs` of `store`,
/// with short leases so a death is noticed in seconds.
async fn replicas(dir: &std::path::Path, database_url: &str, store: &TestServer) -> Cluster {
    let config = dir.join("sluice.toml");
    std::fs::write(
        &config,
        format!(
            "[blobs]\ns3_endpoint = \"{}\"\ns3_bucket = \"blobs\"\n\n[jobs]\nlease_secs = 2\ndispatch_lease_secs = 1\n\n[replicas]\nleader_lease_secs = 2\n",
            store.url()
        ),
    )
    .expect("config");
    Cluster::start(
        (0..3).map(|n| dir.join(format!("replica-{n}"))).collect(),
        &["--config", config.to_str().expect("utf8")],
        &[
            ("SLUICE_DATABASE_URL", database_url),
            ("SLUICE_MASTER_KEY", MASTER_KEY),
            ("SLUICE_TOKEN_KEY", TOKEN_KEY),
            ("SLUICE_BLOBS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID),
            ("SLUICE_BLOBS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY),
        ],
    )
    .await
}

/// A blob store for replicas: another Sluice, whose S3 endpoint they keep their bytes in.
async fn blob_store() -> TestServer {
    let store = TestServer::start().await;
    // The replicas sign with the real time; the store's clock has to agree.
    store
        .clock
        .advance_ms(sluice_test_utils::wall_clock_ms() - sluice_test_utils::START_MS);
    store.sluice.create_bucket("blobs").await.expect("bucket");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_at_random_lose_nothing_and_never_double_run() {
    let database = ScratchDatabase::new().await;
    let store = blob_store().await;
    let dir = tempfile::tempdir().expect("dir");
    let cluster = replicas(dir.path(), &database.url, &store).await;
    crash_loop(cluster, crate::crash_loop::crash_loop_seconds()).await;
}

/// An S3 request signed with the test key at the system clock; its status.
async fn s3(addr: std::net::SocketAddr, method: &str, path: &str, body: Vec<u8>) -> u16 {
    crate::providers::s3_wall(addr, method, path, body).await.0
}

/// The servers' names on the database: `HOST:PID:NONCE` for the running Commands job.
async fn job_owner(database: &ScratchDatabase) -> Option<String> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&database.url)
        .await
        .expect("connect");
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT lease_owner FROM jobs
         WHERE provider = 'Commands' AND status = 'InProgress' AND lease_owner IS NOT NULL",
    )
    .fetch_optional(&mut c)
    .await
    .expect("query");
    row.map(|(owner,)| owner)
}

async fn executions(addr: std::net::SocketAddr, pipeline: &str) -> Value {
    call(
        addr,
        "ListPipelineExecutions",
        json!({"pipelineName": pipeline}),
    )
    .await
    .body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_database_and_a_job_whose_server_dies_finishes_on_another() {
    let database = ScratchDatabase::new().await;
    let store = blob_store().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut cluster = replicas(dir.path(), &database.url, &store).await;
    let servers = &mut cluster.servers;

    // A bucket made through one replica, its bundle written through another.
    let (a, b, c) = (servers[0].addr, servers[1].addr, servers[2].addr);
    assert_eq!(s3(a, "PUT", "/bundles", vec![]).await, 200);
    let pipeline = json!({"pipeline": {"name": "shared",
        "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
        "stages": [stage("Source", json!({"name": "Source",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                        "configuration": {"S3Bucket": "bundles", "S3ObjectKey": "app.zip"},
                        "outputArtifacts": [{"name": "Src"}]})),
                   commands(&["grep -q 'hello from a replica' index.html", "sleep 4"])]}});
    assert_eq!(
        s3(c, "PUT", "/bundles/app.zip", bundle("hello from a replica")).await,
        200
    );
    // Created through another replica, which starts its first execution, and read through a
    // third.
    let created = call(b, "CreatePipeline", pipeline).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let got = call(c, "GetPipeline", json!({"name": "shared"})).await;
    assert_eq!(got.body["pipeline"]["name"], "shared");

    // The build runs on one of the three; kill that one.
    let mut owner = None;
    for _ in 0..400 {
        owner = job_owner(&database).await;
        if owner.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let Some(owner) = owner else {
        let state = call(a, "GetPipelineState", json!({"name": "shared"})).await;
        panic!("the build did not start on any replica: {}", state.body);
    };
    let pid: u32 = owner
        .split(':')
        .nth(1)
        .expect("HOST:PID:NONCE")
        .parse()
        .expect("pid");
    let victim = servers
        .iter()
        .position(|s| s.pid() == pid)
        .expect("the owner is one of the replicas");
    servers[victim].kill_9();
    let survivor = servers[(victim + 1) % 3].addr;

    // Another replica takes the job once its lease lapses, runs it again, and the execution
    // ends well; the build succeeded once.
    let mut last = Value::Null;
    for _ in 0..1200 {
        last = executions(survivor, "shared").await;
        let status = &last["pipelineExecutionSummaries"][0]["status"];
        if status.is_string() && status != "InProgress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = call(survivor, "GetPipelineState", json!({"name": "shared"})).await;
    assert_eq!(
        last["pipelineExecutionSummaries"][0]["status"], "Succeeded",
        "{last}\n{}",
        state.body
    );
    let actions = call(
        survivor,
        "ListActionExecutions",
        json!({"pipelineName": "shared", "filter": {"pipelineExecutionId":
            last["pipelineExecutionSummaries"][0]["pipelineExecutionId"]}}),
    )
    .await;
    let builds: Vec<&Value> = actions.body["actionExecutionDetails"]
        .as_array()
        .expect("details")
        .iter()
        .filter(|d| d["actionName"] == "Build")
        .collect();
    assert_eq!(builds.len(), 1, "{}", actions.body);
    assert_eq!(builds[0]["status"], "Succeeded");
    assert!(
        job_owner(&database).await.is_none(),
        "no job is left running"
    );
}

/// The hosted repository `app` through replica `addr`, signed in with the test key.
fn app_url(addr: std::net::SocketAddr) -> String {
    format!("http://{TEST_ACCESS_KEY_ID}:{TEST_SECRET_ACCESS_KEY}@{addr}/_sluice/git/app.git")
}

async fn codecommit(addr: std::net::SocketAddr, op: &str, body: Value) -> sluice_test_utils::Reply {
    call_target(addr, &format!("CodeCommit_20150413.{op}"), body).await
}

/// The commit `branch` of `app` names, read through replica `addr`.
async fn branch_commit(addr: std::net::SocketAddr, branch: &str) -> Value {
    let got = codecommit(
        addr,
        "GetBranch",
        json!({"repositoryName": "app", "branchName": branch}),
    )
    .await;
    got.body["branch"]["commitId"].clone()
}

async fn commit_file(work: &std::path::Path, text: &str) -> String {
    std::fs::write(work.join("app.txt"), text).expect("write");
    git(work, &["add", "."]).await;
    git(work, &["commit", "--quiet", "-m", text]).await;
    head_commit(work).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_through_any_replica_is_seen_by_every_replica() {
    let database = ScratchDatabase::new().await;
    let store = blob_store().await;
    let dir = tempfile::tempdir().expect("dir");
    let cluster = replicas(dir.path(), &database.url, &store).await;
    let (a, b, c) = (
        cluster.servers[0].addr,
        cluster.servers[1].addr,
        cluster.servers[2].addr,
    );

    // Made through one replica; its pipeline, through another, builds what was pushed.
    let made = codecommit(a, "CreateRepository", json!({"repositoryName": "app"})).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let taken = codecommit(b, "CreateRepository", json!({"repositoryName": "app"})).await;
    assert_eq!(
        taken.body["__type"], "RepositoryNameExistsException",
        "the name is taken on every replica: {}",
        taken.body
    );
    let pipeline = json!({"pipeline": {"name": "pushed",
        "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
        "stages": [codecommit_source("main"), commands(&["grep -q 'second push' app.txt"])]}});
    let created = call(c, "CreatePipeline", pipeline).await;
    assert_eq!(created.status, 200, "{}", created.body);

    // Pushed through the second replica, cloned through the third, read through the first.
    let work = tempfile::tempdir().expect("dir");
    let work = work.path();
    git(work, &["init", "--quiet", "--initial-branch=main"]).await;
    let first = commit_file(work, "first push").await;
    git(work, &["remote", "add", "origin", &app_url(b)]).await;
    git(work, &["push", "--quiet", "origin", "main"]).await;
    let clones = tempfile::tempdir().expect("dir");
    git(clones.path(), &["clone", "--quiet", &app_url(c), "stale"]).await;
    let stale = clones.path().join("stale");
    assert_eq!(
        head_commit(&stale).await,
        first,
        "the third replica serves the push"
    );
    assert_eq!(branch_commit(a, "main").await, first.as_str());

    // A second push, through the third replica, builds on the first; the execution it starts
    // reads it on whichever replica runs its source action (it is shared before it starts
    // anything).
    let second = commit_file(work, "second push").await;
    git(work, &["remote", "set-url", "origin", &app_url(c)]).await;
    git(work, &["push", "--quiet", "origin", "main"]).await;
    let mut started = Value::Null;
    for _ in 0..1200 {
        let runs = executions(a, "pushed").await;
        let found = runs["pipelineExecutionSummaries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| {
                r["trigger"]["triggerDetail"]
                    .as_str()
                    .is_some_and(|d| d.contains(&second))
            })
            .cloned();
        if let Some(run) = found.filter(|r| r["status"] != "InProgress") {
            started = run;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = call(a, "GetPipelineState", json!({"name": "pushed"})).await;
    assert_eq!(
        (
            started["sourceRevisions"][0]["revisionId"].as_str(),
            started["status"].as_str()
        ),
        (Some(second.as_str()), Some("Succeeded")),
        "{started}\n{}",
        state.body
    );

    // A push that does not start from the latest is refused, through any replica: the first
    // replica's copy is brought up to date before it takes the push.
    commit_file(&stale, "a stale change").await;
    git(&stale, &["remote", "set-url", "origin", &app_url(a)]).await;
    assert!(
        !git_succeeds(&stale, &["push", "--quiet", "origin", "main"]).await,
        "a stale push was taken"
    );
    assert_eq!(branch_commit(b, "main").await, second.as_str());

    // Two pushes at once, of two branches through two replicas, take turns: both branches
    // are on every replica afterwards (neither publication replaced the other's).
    let (one, two) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let mut pushes = Vec::new();
    for (copy, branch, addr) in [(one.path(), "feature-a", a), (two.path(), "feature-b", b)] {
        git(copy, &["clone", "--quiet", &app_url(addr), "app"]).await;
        let copy = copy.join("app");
        git(&copy, &["checkout", "--quiet", "-b", branch]).await;
        let commit = commit_file(&copy, branch).await;
        pushes.push((copy, branch, commit));
    }
    let push = |copy: std::path::PathBuf, branch: &'static str| async move {
        git(&copy, &["push", "--quiet", "origin", branch]).await
    };
    tokio::join!(
        push(pushes[0].0.clone(), pushes[0].1),
        push(pushes[1].0.clone(), pushes[1].1)
    );
    let listed = codecommit(c, "ListBranches", json!({"repositoryName": "app"})).await;
    let mut branches: Vec<&str> = listed.body["branches"]
        .as_array()
        .expect("branches")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    branches.sort();
    assert_eq!(
        branches,
        ["feature-a", "feature-b", "main"],
        "{}",
        listed.body
    );
    for (_, branch, commit) in &pushes {
        assert_eq!(branch_commit(c, branch).await, commit.as_str(), "{branch}");
    }

    // Deleted through one replica, gone from all.
    let deleted = codecommit(b, "DeleteRepository", json!({"repositoryName": "app"})).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    for addr in [a, c] {
        let gone = codecommit(addr, "GetRepository", json!({"repositoryName": "app"})).await;
        assert_eq!(
            gone.body["__type"], "RepositoryDoesNotExistException",
            "{}",
            gone.body
        );
        assert!(
            !git_succeeds(work, &["ls-remote", &app_url(addr)]).await,
            "a deleted repository is served by {addr}"
        );
    }
}

/// A PostgreSQL server of the test's own, made with the machine's binaries in a temporary
/// directory, so restarting it disturbs none of the tests that share the machine's.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

/// Runs a PostgreSQL program as the `postgres` user (PostgreSQL refuses to run as root).
fn as_postgres(program: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PrivatePostgres {
    fn start() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's programs under /usr/lib/postgresql")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let postgres = Self {
            dir,
            bin,
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port"),
        };
        let data = postgres.data();
        std::fs::create_dir(&data).expect("mkdir");
        let chown = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&data)
            .status()
            .expect("chown");
        assert!(chown.success());
        as_postgres(
            &postgres.bin.join("initdb"),
            &[
                "-D",
                &postgres.data_arg(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        postgres.pg_ctl(&["start"]);
        postgres
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("pgdata")
    }

    fn data_arg(&self) -> String {
        self.data().to_string_lossy().into_owned()
    }

    fn pg_ctl(&self, action: &[&str]) {
        let data = self.data_arg();
        let options = format!("-p {} -k {data} -h 127.0.0.1", self.port);
        let log = format!("{data}/server.log");
        let mut args = vec!["-D", &data, "-o", &options, "-l", &log, "-w"];
        args.extend_from_slice(action);
        as_postgres(&self.bin.join("pg_ctl"), &args);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_arg();
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// Zips a directory holding `index.html` with `text`.
fn bundle(text: &str) -> Vec<u8> {
    let src = tempfile::tempdir().expect("dir");
    std::fs::write(src.path().join("index.html"), text).expect("write");
    let mut zip = std::io::Cursor::new(Vec::new());
    sluice_artifacts::pack_dir(src.path(), &mut zip).expect("pack");
    zip.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_carry_on_when_postgresql_restarts_under_them() {
    let postgres = PrivatePostgres::start();
    let store = blob_store().await;
    let dir = tempfile::tempdir().expect("dir");
    let cluster = replicas(dir.path(), &postgres.url(), &store).await;
    let addrs: Vec<std::net::SocketAddr> = cluster.servers.iter().map(|s| s.addr).collect();
    assert_eq!(s3(addrs[0], "PUT", "/bundles", vec![]).await, 200);
    let pipeline = |name: &str| {
        json!({"pipeline": {"name": name,
            "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
            "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
            "stages": [stage("Source", json!({"name": "Source",
                            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                            "configuration": {"S3Bucket": "bundles", "S3ObjectKey": format!("{name}.zip")},
                            "outputArtifacts": [{"name": "Src"}]})),
                       commands(&[&format!("grep -q 'made for {name}' index.html")])]}})
    };
    let before = call(addrs[0], "CreatePipeline", pipeline("before")).await;
    assert_eq!(before.status, 200, "{}", before.body);

    // A fast restart ends every connection of every replica at once.
    postgres.pg_ctl(&["-m", "fast", "restart"]);

    // Each replica answers again once its pool has connected anew.
    for addr in &addrs {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let got = call(*addr, "GetPipeline", json!({"name": "before"})).await;
            if got.status == 200 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{addr} still answers {} {} after PostgreSQL restarted",
                got.status,
                got.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // And the work goes on: a bundle written through one replica, a pipeline created through
    // another, its build claimed by a provider and its execution ended by the leader's steps,
    // all on new connections.
    assert_eq!(
        s3(
            addrs[1],
            "PUT",
            "/bundles/after.zip",
            bundle("made for after")
        )
        .await,
        200
    );
    let after = call(addrs[1], "CreatePipeline", pipeline("after")).await;
    assert_eq!(after.status, 200, "{}", after.body);
    let mut last = Value::Null;
    for _ in 0..1200 {
        last = executions(addrs[2], "after").await;
        let status = &last["pipelineExecutionSummaries"][0]["status"];
        if status.is_string() && status != "InProgress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        last["pipelineExecutionSummaries"][0]["status"], "Succeeded",
        "{last}"
    );
}
