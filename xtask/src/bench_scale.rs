//! `cargo xtask bench --scale`: how each cost grows with the number of pipelines. At 100, 1,000
//! and 10,000 pipelines (and 100,000 with `--max 100000`), on SQLite and, with `--postgres`, on
//! PostgreSQL: the create rate, `GetPipeline`, `GetPipelineState` and `ListPipelines` req/s and
//! p99, an S3 PUT to a watched and to an unwatched key, memory (private, and database pages
//! mapped) and the time a restart takes; then git push to the run it starts, `PollForJobs` with
//! as many jobs queued as there are pipelines, and `LookupEvents` by event name. Each creation
//! starts a first run; the figures are taken once those have run their course ("settled"),
//! and on PostgreSQL once the database is vacuumed and checkpointed, as pgbench does.
//!
//! `cargo xtask bench --replicas`: durable transitions/s and `GetPipeline` req/s with 1, 2 and 3
//! replicas on one PostgreSQL database, the load spread over them.
//!
//! PostgreSQL is `SLUICE_BENCH_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/postgres`);
//! each run makes a database of its own there (with `psql`) and drops it after. Numbers only.

use crate::bench::{
    call, chain, connect, drive, load, percentile, signed_json, Outcome, Sender, Settings,
    BENCH_KEY_ID, BENCH_SECRET, RUN_STAGES,
};
use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_POSTGRES: &str = "postgres://root@127.0.0.1:5432/postgres";

/// A database made for one run, dropped when the run ends.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn fresh(name: &str) -> Result<Self> {
        let admin =
            std::env::var("SLUICE_BENCH_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        psql(&admin, &format!("CREATE DATABASE {name}"))?;
        let (base, _) = admin
            .rsplit_once('/')
            .context("a database URL ends in /NAME")?;
        Ok(Self {
            url: format!("{base}/{name}"),
            admin,
            name: name.into(),
        })
    }

    /// What pgbench does before it times (unless `-n`): `VACUUM (ANALYZE)`, so the reads timed
    /// are not also the first to set the hint bits of, and write back, the rows a bulk
    /// creation just made (nor run beside the autovacuum that creation sets off), then a
    /// checkpoint, so its writes are not in the timed window either.
    fn settle(&self) -> Result<()> {
        psql(&self.url, "VACUUM (ANALYZE)")?;
        psql(&self.url, "CHECKPOINT")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) -> Result<()> {
    let status = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .env("PGOPTIONS", "--client-min-messages=warning")
        .stdout(Stdio::null())
        .status()
        .context("running psql")?;
    if !status.success() {
        bail!("psql {sql} failed");
    }
    Ok(())
}

/// A release `sluice serve` the bench started.
struct Server {
    child: Child,
    addr: String,
    data_dir: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Server {
    fn spawn(
        root: &Path,
        data_dir: PathBuf,
        config: PathBuf,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        // Warnings and errors go to DATA_DIR.log, for a failed run's story.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))?;
        let child = Command::new(root.join("target/release/sluice"))
            .args(["serve", "--listen", &addr, "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data_dir)
            .env("SLUICE_LOG", "warn")
            .env("SLUICE_BOOTSTRAP_ACCESS_KEY_ID", BENCH_KEY_ID)
            .env("SLUICE_BOOTSTRAP_SECRET_ACCESS_KEY", BENCH_SECRET)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()?;
        Ok(Self {
            child,
            addr,
            data_dir,
            config,
            env,
        })
    }

    /// Waits until the server answers a signed call; how long that took.
    async fn ready(&self) -> Result<Duration> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(600) {
            if let Ok(mut sender) = connect(&self.addr).await {
                if let Ok(200) = call(&mut sender, &self.addr, "ListPipelines", "{}".into()).await {
                    return Ok(start.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("the server at {} did not become ready", self.addr)
    }

    /// SIGKILL, then the same server again; how long until it answers.
    async fn restart(&mut self, root: &Path) -> Result<Duration> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let start = Instant::now();
        *self = Self::spawn(
            root,
            self.data_dir.clone(),
            self.config.clone(),
            self.env.clone(),
        )?;
        self.ready().await?;
        Ok(start.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn build(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "--locked", "--bin", "sluice"])
        .status()?;
    if !status.success() {
        bail!("building the release binary failed");
    }
    Ok(())
}

/// A pipeline whose source is the object `k-I.zip` of `bench-src`: one watcher per key.
fn watching(i: usize) -> serde_json::Value {
    serde_json::json!({"pipeline": {
    "name": format!("p-{i:06}"),
    "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
    "artifactStore": {"type": "S3", "location": "bench-artifacts"},
    "stages": [
        {"name": "Source", "actions": [{"name": "Source",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": "bench-src", "S3ObjectKey": format!("k-{i}.zip")},
            "outputArtifacts": [{"name": "App"}]}]},
        {"name": "Hold", "actions": [{"name": "Approve",
            "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}
    ]}})
}

/// The custom source action of `queueing`'s pipeline, whose jobs wait for a worker.
const QUEUE_TYPE: &str =
    r#"{"category":"Source","owner":"Custom","provider":"BenchQueue","version":"1"}"#;

/// Source actions in each of `queueing`'s pipelines: a stage's most, so seeding 100,000 queued
/// jobs takes 2,000 pipelines.
const JOBS_PER_QUEUEING: usize = 50;

/// A pipeline whose sources are `JOBS_PER_QUEUEING` custom actions nobody works: creating it
/// starts an execution, which leaves that many jobs queued.
fn queueing(i: usize) -> serde_json::Value {
    let type_id: serde_json::Value = serde_json::from_str(QUEUE_TYPE).unwrap_or_default();
    let sources: Vec<serde_json::Value> = (0..JOBS_PER_QUEUEING)
        .map(|k| {
            serde_json::json!({"name": format!("Source{k}"), "actionTypeId": type_id,
                "outputArtifacts": [{"name": format!("App{k}")}]})
        })
        .collect();
    serde_json::json!({"pipeline": {
    "name": format!("q-{i:06}"),
    "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
    "artifactStore": {"type": "S3", "location": "bench-artifacts"},
    "stages": [
        {"name": "Source", "actions": sources},
        {"name": "Hold", "actions": [{"name": "Approve",
            "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}
    ]}})
}

/// A JSON 1.1 call to `target` of `service`: its latency and its answer, or an error for a
/// status not 200.
async fn json_call(
    sender: &mut Sender,
    addr: &str,
    target: &str,
    service: &str,
    body: String,
) -> Result<(Duration, serde_json::Value)> {
    let start = Instant::now();
    sender.ready().await?;
    let resp = sender
        .send_request(signed_json(addr, target, service, body.into())?)
        .await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    if status != 200 {
        bail!("{target}: {status} {}", String::from_utf8_lossy(&bytes));
    }
    Ok((
        start.elapsed(),
        serde_json::from_slice(&bytes).unwrap_or_default(),
    ))
}

/// `PollForJobs` samples taken at each size; each claims one of the queued jobs.
const POLLS: usize = 20;

/// The median latency of `POLLS` polls for one job each, and how many of them got one.
async fn poll_jobs(sender: &mut Sender, addr: &str) -> Result<(f64, usize)> {
    let body = format!(r#"{{"actionTypeId":{QUEUE_TYPE},"maxBatchSize":1}}"#);
    let (mut samples, mut got) = (Vec::new(), 0);
    for _ in 0..POLLS {
        let (took, answer) = json_call(
            sender,
            addr,
            "CodePipeline_20150709.PollForJobs",
            "codepipeline",
            body.clone(),
        )
        .await?;
        samples.push(took);
        got += answer["jobs"].as_array().map_or(0, Vec::len);
    }
    Ok((median_ms(samples), got))
}

/// The median latency of 10 `LookupEvents` by event name (a page of 50, newest first).
async fn lookup_events(sender: &mut Sender, addr: &str, event_name: &str) -> Result<f64> {
    let body = format!(
        r#"{{"LookupAttributes":[{{"AttributeKey":"EventName","AttributeValue":"{event_name}"}}],"MaxResults":50}}"#
    );
    let mut samples = Vec::new();
    for _ in 0..10 {
        let (took, answer) = json_call(
            sender,
            addr,
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            "cloudtrail",
            body.clone(),
        )
        .await?;
        if answer["Events"].as_array().is_none_or(Vec::is_empty) {
            bail!("LookupEvents found no {event_name} events");
        }
        samples.push(took);
    }
    Ok(median_ms(samples))
}

/// A pipeline whose source is the hosted repository `app`, branch `main`.
fn pushed() -> serde_json::Value {
    serde_json::json!({"pipeline": {
    "name": "pushed",
    "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
    "artifactStore": {"type": "S3", "location": "bench-artifacts"},
    "stages": [
        {"name": "Source", "actions": [{"name": "Source",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
            "configuration": {"RepositoryName": "app", "BranchName": "main"},
            "outputArtifacts": [{"name": "App"}]}]},
        {"name": "Hold", "actions": [{"name": "Approve",
            "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}
    ]}})
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The newest execution of `pushed`, if any.
async fn newest_pushed(sender: &mut Sender, addr: &str) -> Result<Option<String>> {
    let (_, answer) = json_call(
        sender,
        addr,
        "CodePipeline_20150709.ListPipelineExecutions",
        "codepipeline",
        r#"{"pipelineName":"pushed","maxResults":1}"#.into(),
    )
    .await?;
    Ok(
        answer["pipelineExecutionSummaries"][0]["pipelineExecutionId"]
            .as_str()
            .map(str::to_string),
    )
}

/// Pushes timed at each size.
const PUSHES: usize = 5;

/// The median time from the start of a `git push` until `pushed` has a new execution.
async fn push_to_start(
    sender: &mut Sender,
    addr: &str,
    checkout: &Path,
    round: usize,
) -> Result<f64> {
    // The server listens on another port after each restart.
    let remote = format!("http://{BENCH_KEY_ID}:{BENCH_SECRET}@{addr}/_sluice/git/app.git");
    git(checkout, &["remote", "set-url", "origin", &remote])?;
    let mut samples = Vec::new();
    for i in 0..PUSHES {
        std::fs::write(checkout.join("README"), format!("{round}-{i}\n"))?;
        git(
            checkout,
            &["commit", "--quiet", "-am", &format!("c{round}-{i}")],
        )?;
        let before = newest_pushed(sender, addr).await?;
        let start = Instant::now();
        git(checkout, &["push", "--quiet", "origin", "main"])?;
        while newest_pushed(sender, addr).await? == before {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("a push to app started nothing");
            }
        }
        samples.push(start.elapsed());
    }
    Ok(median_ms(samples))
}

/// An S3 request signed with the bench key; its latency, or an error for a status not 200.
async fn s3(
    sender: &mut Sender,
    addr: &str,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Duration> {
    let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
    let hash = sluice_sigv4::sha256_hex(&body);
    let headers = vec![
        ("host".to_string(), addr.to_string()),
        ("x-amz-content-sha256".to_string(), hash.clone()),
    ];
    let request = sluice_sigv4::Request {
        method,
        path: path_only,
        query,
        headers: &headers,
        payload_hash: &hash,
    };
    let credentials = sluice_sigv4::Credentials {
        access_key_id: BENCH_KEY_ID.into(),
        secret_access_key: BENCH_SECRET.into(),
        session_token: None,
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let added = sluice_sigv4::sign(
        &request,
        &credentials,
        "us-east-1",
        "s3",
        &sluice_model::time::amz_date(now.as_millis() as i64),
        sluice_sigv4::PathStyle::Verbatim,
    );
    let mut builder = hyper::Request::builder().method(method).uri(path);
    for (k, v) in headers.iter().chain(&added) {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let start = Instant::now();
    sender.ready().await?;
    let resp = sender
        .send_request(builder.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = resp.status();
    resp.into_body().collect().await?;
    if status != 200 {
        bail!("{method} {path}: {status}");
    }
    Ok(start.elapsed())
}

/// Creates pipelines `declare(from..to)` over `connections` connections; pipelines/s.
async fn create(
    addr: &str,
    from: usize,
    to: usize,
    connections: usize,
    declare: fn(usize) -> serde_json::Value,
) -> Result<f64> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&addr).await?;
            for i in (from + c..to).step_by(connections) {
                let body = declare(i).to_string();
                let status = call(&mut sender, &addr, "CreatePipeline", body.into()).await?;
                if status != 200 {
                    bail!("creating pipeline {i}: {status}");
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((to - from) as f64 / start.elapsed().as_secs_f64())
}

/// The CPU time `pid` has used (user and system), in clock ticks: USER_HZ, 100 a second on
/// Linux.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): state is the first, utime the 12th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (field(11), field(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => bail!("/proc/{pid}/stat has no CPU times"),
    }
}

/// Waits until the server `pid` is idle (under a tenth of a core for three seconds running; one
/// quiet second can be a pause for the disk): the executions that creating pipelines started
/// have run their course, so what is measured next is the cost of a request, not of a backlog it
/// waits behind. How long that took.
async fn settle(pid: u32) -> Result<Duration> {
    let start = Instant::now();
    let mut quiet = 0;
    loop {
        let before = cpu_ticks(pid)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        quiet = if cpu_ticks(pid)? - before < 10 {
            quiet + 1
        } else {
            0
        };
        if quiet == 3 {
            return Ok(start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(3600) {
            bail!("the server was still busy an hour after the pipelines were created");
        }
    }
}

fn rate(o: &Outcome) -> f64 {
    o.requests as f64 / o.elapsed.as_secs_f64()
}

/// Median of a handful of samples, in ms.
fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub fn scale(
    root: &Path,
    settings: &Settings,
    postgres: bool,
    max: usize,
    events: Option<u64>,
) -> Result<()> {
    build(root)?;
    let sizes: Vec<usize> = [100, 1_000, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    let work = std::env::temp_dir().join(format!("sluice-bench-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let config = work.join("sluice.toml");
    // Sixteen build slots: the first run each creation starts (an S3 source with no object
    // yet) fails in a job of its own, and two slots would take minutes over 100,000 of them.
    std::fs::write(
        &config,
        "[limits]\nmax_pipelines_per_account = 100000000\n\n[providers]\nmax_concurrent_jobs = 16\n",
    )?;
    let database = postgres
        .then(|| Database::fresh(&format!("sluice_bench_{}", std::process::id())))
        .transpose()?;
    let env: Vec<(String, String)> = database
        .iter()
        .map(|d| ("SLUICE_DATABASE_URL".to_string(), d.url.clone()))
        .collect();
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let mut server = Server::spawn(root, work.join("data"), config.clone(), env)?;
            server.ready().await?;
            let addr = server.addr.clone();
            let mut sender = connect(&addr).await?;
            s3(&mut sender, &addr, "PUT", "/bench-src", vec![]).await?;
            let versioning = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".to_vec();
            s3(&mut sender, &addr, "PUT", "/bench-src?versioning", versioning).await?;
            println!(
                "sluice bench --scale: {backend}, release build, {} connections, {} s per read scenario",
                settings.connections, settings.seconds
            );
            println!(
                "{:>9} {:>10} {:>9} {:>20} {:>20} {:>20} {:>10} {:>10} {:>9} {:>9} {:>9}",
                "pipelines", "create/s", "settled", "GetPipeline/s (p99)", "GetState/s (p99)", "ListPipelines/s (p99)",
                "PUT watch", "PUT other", "priv MiB", "mapped", "restart"
            );
            let created_type = r#"{"category":"Source","provider":"BenchQueue","version":"1","inputArtifactDetails":{"minimumCount":0,"maximumCount":0},"outputArtifactDetails":{"minimumCount":1,"maximumCount":1}}"#;
            if call(&mut sender, &addr, "CreateCustomActionType", created_type.into()).await? != 200 {
                bail!("creating the BenchQueue action type failed");
            }
            // A hosted repository and a pipeline on it, for push-to-start.
            let repo = Command::new(root.join("target/release/sluice"))
                .args(["repo", "create", "app", "--config"])
                .arg(&config)
                .arg("--data-dir")
                .arg(&server.data_dir)
                .envs(server.env.iter().map(|(k, v)| (k, v)))
                .output()?;
            if !repo.status.success() {
                bail!("sluice repo create: {}", String::from_utf8_lossy(&repo.stderr));
            }
            let checkout = work.join("checkout");
            std::fs::create_dir_all(&checkout)?;
            std::fs::write(checkout.join("README"), "0\n")?;
            git(&checkout, &["init", "--quiet", "--initial-branch=main"])?;
            git(&checkout, &["add", "."])?;
            git(&checkout, &["commit", "--quiet", "-m", "c0"])?;
            let remote = format!("http://{BENCH_KEY_ID}:{BENCH_SECRET}@{addr}/_sluice/git/app.git");
            git(&checkout, &["remote", "add", "origin", &remote])?;
            // The first push makes the branch; those timed are pushes to it.
            git(&checkout, &["push", "--quiet", "origin", "main"])?;
            if call(&mut sender, &addr, "CreatePipeline", pushed().to_string().into()).await? != 200 {
                bail!("creating the pushed pipeline failed");
            }
            // Every call is an audit event: the calls made so far count them.
            let mut calls: u64 = 5;
            let (mut queueing_pipelines, mut claimed_jobs) = (0, 0);
            let mut trail_rows = Vec::new();
            let mut have = 0;
            let started = Instant::now();
            // Progress on stderr: a run to 100,000 takes half an hour.
            let progress = |what: &str| eprintln!("[{:>5.0} s] {what}", started.elapsed().as_secs_f64());
            for size in sizes {
                progress(&format!("creating up to {size} pipelines"));
                let created = create(&server.addr, have, size, settings.connections, watching).await?;
                let settled = settle(server.child.id()).await?;
                if let Some(database) = &database {
                    progress("VACUUM (ANALYZE) and CHECKPOINT");
                    database.settle()?;
                }
                progress(&format!("settled at {size}; reads"));
                calls += (size - have) as u64;
                have = size;
                let n = size as u64;
                let get = load(&server.addr, "GetPipeline", settings, move |i| {
                    Bytes::from(format!(r#"{{"name":"p-{:06}"}}"#, (i * 7919) % n))
                })
                .await?;
                let state = load(&server.addr, "GetPipelineState", settings, move |i| {
                    Bytes::from(format!(r#"{{"name":"p-{:06}"}}"#, (i * 7919) % n))
                })
                .await?;
                progress("ListPipelines");
                let list = load(&server.addr, "ListPipelines", settings, |_| Bytes::from_static(b"{}")).await?;
                progress("S3 PUTs");
                let addr = server.addr.clone();
                let mut sender = connect(&addr).await?;
                let (mut watched, mut unwatched) = (Vec::new(), Vec::new());
                for j in 0..20 {
                    let body = format!("bundle {j}").into_bytes();
                    unwatched.push(s3(&mut sender, &addr, "PUT", &format!("/bench-src/nobody-{size}-{j}.zip"), body).await?);
                }
                for j in 0..20 {
                    let body = format!("bundle {j}").into_bytes();
                    // Pipelines spread over the whole range: each PUT starts one execution, which
                    // runs its course before the next PUT, so each is timed on a quiet server.
                    let key = (j * 7919) % size;
                    watched.push(s3(&mut sender, &addr, "PUT", &format!("/bench-src/k-{key}.zip"), body).await?);
                    settle(server.child.id()).await?;
                }
                calls += get.requests + state.requests + list.requests + 40;
                let memory = crate::bench::memory(server.child.id());
                // Before the queueing pipelines below are made: their CreatePipeline events
                // (50 actions each) are ten times the size of the others', and would make the
                // newest events looked up here a different mix at each size.
                let create_ms = lookup_events(&mut sender, &addr, "CreatePipeline").await?;
                let get_ms = lookup_events(&mut sender, &addr, "GetPipeline").await?;
                progress("queueing jobs");
                // As many jobs queued for one action type, in pipelines apart from those the
                // reads above saw, then polls that claim one each.
                let pipelines_needed = size / JOBS_PER_QUEUEING;
                create(&addr, queueing_pipelines, pipelines_needed, settings.connections, queueing).await?;
                calls += (pipelines_needed - queueing_pipelines) as u64;
                queueing_pipelines = pipelines_needed;
                settle(server.child.id()).await?;
                let queued = queueing_pipelines * JOBS_PER_QUEUEING - claimed_jobs;
                let (poll_ms, claimed) = poll_jobs(&mut sender, &addr).await?;
                claimed_jobs += claimed;
                let push_ms = push_to_start(&mut sender, &addr, &checkout, size).await?;
                calls += (POLLS + 20) as u64;
                trail_rows.push((size, queued, poll_ms, claimed, calls, create_ms, get_ms, Some(push_ms)));
                let restart = server.restart(root).await?;
                let cell = |o: &Outcome| format!("{:.0} ({:.1} ms)", rate(o), percentile(&o.latencies_us, 0.99));
                println!(
                    "{:>9} {:>10.0} {:>7.0} s {:>20} {:>20} {:>20} {:>7.2} ms {:>7.2} ms {:>9.1} {:>9.1} {:>6.2} s",
                    size, created, settled.as_secs_f64(), cell(&get), cell(&state), cell(&list),
                    median_ms(watched), median_ms(unwatched), memory.private, memory.mapped, restart.as_secs_f64()
                );
            }
            if let Some(target) = events {
                // Reads until the trail holds `target` events, then the same lookups.
                let mut sender = connect(&server.addr).await?;
                let filler = Settings { seconds: 10, connections: settings.connections };
                let n = have as u64;
                while calls < target {
                    let get = load(&server.addr, "GetPipeline", &filler, move |i| {
                        Bytes::from(format!(r#"{{"name":"p-{:06}"}}"#, (i * 7919) % n))
                    })
                    .await?;
                    calls += get.requests;
                }
                let create_ms = lookup_events(&mut sender, &server.addr, "CreatePipeline").await?;
                let get_ms = lookup_events(&mut sender, &server.addr, "GetPipeline").await?;
                trail_rows.push((have, 0, f64::NAN, 0, calls, create_ms, get_ms, None));
            }
            println!();
            println!(
                "{:>9} {:>12} {:>13} {:>22} {:>12} {:>26} {:>24}",
                "pipelines", "git push→run", "queued jobs", "PollForJobs (median)", "events (≈)", "LookupEvents CreatePipeline", "LookupEvents GetPipeline"
            );
            for (size, queued, poll_ms, claimed, events, create_ms, get_ms, push_ms) in trail_rows {
                let push = push_ms.map_or("-".to_string(), |ms| format!("{ms:.1} ms"));
                let (queued, poll) = if poll_ms.is_nan() {
                    ("-".to_string(), "-".to_string())
                } else {
                    (queued.to_string(), format!("{poll_ms:.2} ms ({claimed}/{POLLS} jobs)"))
                };
                println!(
                    "{size:>9} {push:>12} {queued:>13} {poll:>22} {events:>12} {create_ms:>23.2} ms {get_ms:>21.2} ms"
                );
            }
            anyhow::Ok(())
        });
    drop(database);
    if result.is_err() {
        let log = std::fs::read_to_string(work.join("data.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with("  ")).collect();
        eprintln!(
            "the server's log ends:\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Replicas share a blob store: another Sluice (on SQLite) whose S3 endpoint keeps their bytes.
pub fn replicas(root: &Path, settings: &Settings, max: usize) -> Result<()> {
    build(root)?;
    let work = std::env::temp_dir().join(format!("sluice-bench-replicas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let blob_config = work.join("blobs.toml");
    std::fs::write(&blob_config, "")?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let blobs = Server::spawn(root, work.join("blob-store"), blob_config, Vec::new())?;
            blobs.ready().await?;
            let mut sender = connect(&blobs.addr).await?;
            s3(&mut sender, &blobs.addr, "PUT", "/blobs", vec![]).await?;
            let config = work.join("replica.toml");
            std::fs::write(
                &config,
                format!(
                    "[limits]\nmax_pipelines_per_account = 100000000\n\n[blobs]\ns3_endpoint = \"http://{}\"\ns3_bucket = \"blobs\"\n",
                    blobs.addr
                ),
            )?;
            println!(
                "sluice bench --replicas: PostgreSQL, release build, {} connections / pipelines, {} s per scenario, blobs in another Sluice; all on this machine's cores",
                settings.connections, settings.seconds
            );
            println!("{:>8} {:>16} {:>22}", "replicas", "transitions/s", "GetPipeline/s (p99)");
            for count in 1..=max {
                let database = Database::fresh(&format!("sluice_bench_replicas_{}_{count}", std::process::id()))?;
                let env = vec![
                    ("SLUICE_DATABASE_URL".to_string(), database.url.clone()),
                    ("SLUICE_MASTER_KEY".to_string(), "6b".repeat(32)),
                    ("SLUICE_TOKEN_KEY".to_string(), "74".repeat(32)),
                    ("SLUICE_BLOBS_ACCESS_KEY_ID".to_string(), BENCH_KEY_ID.to_string()),
                    ("SLUICE_BLOBS_SECRET_ACCESS_KEY".to_string(), BENCH_SECRET.to_string()),
                ];
                let mut servers = Vec::new();
                for r in 0..count {
                    let server = Server::spawn(
                        root,
                        work.join(format!("replica-{count}-{r}")),
                        config.clone(),
                        env.clone(),
                    )?;
                    server.ready().await?;
                    servers.push(server);
                }
                let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
                let transitions = transitions_per_second(&addrs, settings).await?;
                let get = spread_reads(&addrs, settings).await?;
                println!(
                    "{:>8} {:>16.0} {:>22}",
                    count,
                    transitions,
                    format!("{:.0} ({:.1} ms)", rate(&get), percentile(&get.latencies_us, 0.99))
                );
                drop(servers);
                drop(database);
            }
            anyhow::Ok(())
        });
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// One worker per pipeline, the pipelines' workers spread over `addrs`: durable transitions/s.
async fn transitions_per_second(addrs: &[String], settings: &Settings) -> Result<f64> {
    let first = &addrs[0];
    let mut sender = connect(first).await?;
    for (category, provider, inputs, outputs) in
        [("Source", "BenchSrc", 0, 1), ("Build", "BenchStep", 1, 0)]
    {
        crate::bench::op(&mut sender, first, "CreateCustomActionType", serde_json::json!({
            "category": category, "provider": provider, "version": "1",
            "configurationProperties": [{"name": "Pipe", "required": true, "key": true, "secret": false, "queryable": true}],
            "inputArtifactDetails": {"minimumCount": inputs, "maximumCount": inputs},
            "outputArtifactDetails": {"minimumCount": 0, "maximumCount": outputs}})).await?;
    }
    let pipelines = settings.connections;
    for i in 0..pipelines {
        crate::bench::op(
            &mut sender,
            first,
            "CreatePipeline",
            chain(&format!("tp-{i}")),
        )
        .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..pipelines {
        let addr = addrs[i % addrs.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&addr).await?;
            let pipe = format!("tp-{i}");
            drive(&mut sender, &addr, &pipe, false).await?;
            let mut transitions = 0u64;
            while Instant::now() < deadline {
                drive(&mut sender, &addr, &pipe, true).await?;
                transitions += RUN_STAGES as u64;
            }
            anyhow::Ok(transitions)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// `GetPipeline` with the connections spread over `addrs`.
async fn spread_reads(addrs: &[String], settings: &Settings) -> Result<Outcome> {
    let per = Settings {
        seconds: settings.seconds,
        connections: (settings.connections / addrs.len()).max(1),
    };
    let pipelines = settings.connections as u64;
    let mut loads = Vec::new();
    for addr in addrs {
        let addr = addr.clone();
        let per = Settings {
            seconds: per.seconds,
            connections: per.connections,
        };
        loads.push(tokio::spawn(async move {
            load(&addr, "GetPipeline", &per, move |i| {
                Bytes::from(format!(r#"{{"name":"tp-{}"}}"#, i % pipelines))
            })
            .await
        }));
    }
    let mut all = Outcome {
        requests: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for l in loads {
        let o = l.await??;
        all.requests += o.requests;
        all.errors += o.errors;
        all.latencies_us.extend(o.latencies_us);
        all.elapsed = all.elapsed.max(o.elapsed);
    }
    all.latencies_us.sort_unstable();
    Ok(all)
}
