//! `sluice bench sources`: the real server (HTTP, providers, SQLite, blob store) on a loopback
//! port in this process. Measures push-to-start latency (from `git push` starting to the new
//! execution being visible through the API) and the throughput of a large source bundle through
//! the S3 endpoint and a pipeline (upload, S3 source copy, download and safe unpack by Commands),
//! and how long a backlog of built-in jobs takes to drain.

use crate::bench::{tempfile_dir, write_bundle_files};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sluice_service::{Options, RandomIds, Sluice, SystemClock};
use sluice_sigv4::Credentials;
use sluice_worker::client::Client;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const ROLE: &str = "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service";
/// Pipelines whose first executions make the job backlog.
const BACKLOG_PIPELINES: usize = 40;

pub(crate) async fn call(client: &Client, op: &str, input: Value) -> Result<Value> {
    match client.call::<Value, Value>(op, &input).await? {
        Ok(v) => Ok(v),
        Err(e) => bail!("{op}: {} {}", e.code, e.message),
    }
}

async fn executions(client: &Client, pipeline: &str) -> Result<Vec<Value>> {
    let out = call(
        client,
        "ListPipelineExecutions",
        json!({"pipelineName": pipeline}),
    )
    .await?;
    Ok(out["pipelineExecutionSummaries"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

async fn wait_settled(client: &Client, pipeline: &str, count: usize) -> Result<Value> {
    for _ in 0..12_000 {
        let runs = executions(client, pipeline).await?;
        if runs.len() >= count && runs[0]["status"] != "InProgress" {
            return Ok(runs[0].clone());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{pipeline} did not finish")
}

async fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .await?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The real server on a loopback port in this process, with its providers, over a fresh data
/// dir; the root key is `AKIDBENCH` / `bench`.
pub(crate) struct BenchServer {
    pub dir: std::path::PathBuf,
    pub store: sluice_store_sqlite::SqliteStore,
    pub sluice: Sluice,
    pub addr: std::net::SocketAddr,
    pub repos: std::path::PathBuf,
    stop_tx: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    providers: tokio::task::JoinHandle<()>,
    timers: tokio::task::JoinHandle<()>,
}

impl BenchServer {
    pub async fn start() -> Result<BenchServer> {
        let dir = tempfile_dir()?;
        let store = sluice_store_sqlite::SqliteStore::open(&dir.join("sluice.db")).await?;
        let options = Options {
            providers: sluice_server::provider_types(),
            ..Options::default()
        };
        let sluice = Sluice::new(
            Arc::new(store.clone()),
            Arc::new(sluice_artifacts::ObjectBlobStore::local(
                &dir.join("blobs"),
            )?),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
            options,
        );
        sluice.ensure_root_access_key("AKIDBENCH", "bench").await?;
        let repos = dir.join("repos");
        std::fs::create_dir_all(&repos)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut server_stop = stop_rx.clone();
        let sandbox = crate::bench::serve_sandbox(&dir)?;
        let server = tokio::spawn(sluice_server::run(
            listener,
            async move {
                let _ = server_stop.changed().await;
            },
            sluice.clone(),
            Some(sluice_server::HostedRepos {
                dir: repos.clone(),
                sandbox: sandbox.clone(),
            }),
        ));
        let providers = tokio::spawn(sluice_server::run_providers(
            sluice.clone(),
            sluice_server::ProviderConfig {
                work_dir: dir.join("work"),
                repos_dir: repos.clone(),
                mirrors_dir: dir.join("mirrors"),
                github_base_url: "https://github.com".into(),
                projects: Default::default(),
                max_concurrent_jobs: 2,
                job_timeout: Duration::from_secs(600),
                poll_interval: Duration::from_secs(60),
                external_s3: None,
                sandbox,
                poll_sources: true,
                requeue_at_start: true,
            },
            stop_rx.clone(),
        ));
        let timers = tokio::spawn(sluice_server::run_timers(sluice.clone(), stop_rx));
        Ok(BenchServer {
            dir,
            store,
            sluice,
            addr,
            repos,
            stop_tx,
            server,
            providers,
            timers,
        })
    }

    /// A client signing with the root key.
    pub fn client(&self) -> Result<Client> {
        Ok(Client::new(
            &format!("http://{}", self.addr),
            "us-east-1",
            root_credentials(),
        )?)
    }

    pub async fn stop(self) -> Result<()> {
        let _ = self.stop_tx.send(true);
        let _ = self.providers.await;
        let _ = self.timers.await;
        let _ = self.server.await.context("server task")?;
        self.store.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

pub(crate) fn root_credentials() -> Credentials {
    Credentials {
        access_key_id: "AKIDBENCH".into(),
        secret_access_key: "bench".into(),
        session_token: None,
    }
}

pub async fn sources(megabytes: usize, pushes: usize) -> Result<()> {
    let bench = BenchServer::start().await?;
    let (dir, sluice, addr, repos) = (
        bench.dir.clone(),
        bench.sluice.clone(),
        bench.addr,
        bench.repos.clone(),
    );
    let creds = root_credentials();
    let client = bench.client()?;

    // Push to start.
    sluice_worker::git::init_bare(&repos.join("app.git")).await?;
    let work = dir.join("checkout");
    std::fs::create_dir_all(&work)?;
    std::fs::write(work.join("README"), "0\n")?;
    git(&work, &["init", "--quiet", "--initial-branch=main"]).await?;
    git(&work, &["add", "."]).await?;
    git(&work, &["commit", "--quiet", "-m", "c0"]).await?;
    let url = format!("http://AKIDBENCH:bench@{addr}/_sluice/git/app.git");
    git(&work, &["remote", "add", "origin", &url]).await?;
    git(&work, &["push", "--quiet", "origin", "main"]).await?;
    let source = json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
        "configuration": {"RepositoryName": "app", "BranchName": "main"}, "outputArtifacts": [{"name": "Src"}]});
    let build = json!({"name": "Build", "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["ls > /dev/null"], "inputArtifacts": [{"name": "Src"}]});
    let pipeline = |name: &str, source: Value| {
        json!({"pipeline": {"name": name, "roleArn": ROLE,
            "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
            "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build.clone()]}]}})
    };
    call(&client, "CreatePipeline", pipeline("pushes", source)).await?;
    wait_settled(&client, "pushes", 1).await?;
    let mut latencies = Vec::new();
    for i in 1..=pushes {
        std::fs::write(work.join("README"), format!("{i}\n"))?;
        git(&work, &["commit", "--quiet", "-am", &format!("c{i}")]).await?;
        let before = executions(&client, "pushes").await?.len();
        let started = Instant::now();
        git(&work, &["push", "--quiet", "origin", "main"]).await?;
        let push_ms = started.elapsed().as_secs_f64() * 1000.0;
        loop {
            if executions(&client, "pushes").await?.len() > before {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("push {i} started nothing");
            }
        }
        let seen_ms = started.elapsed().as_secs_f64() * 1000.0;
        latencies.push((seen_ms, push_ms));
        wait_settled(&client, "pushes", before + 1).await?;
    }
    let mut seen: Vec<f64> = latencies.iter().map(|l| l.0).collect();
    seen.sort_by(f64::total_cmp);
    let mut push: Vec<f64> = latencies.iter().map(|l| l.1).collect();
    push.sort_by(f64::total_cmp);
    println!(
        "push to start    p50 {:>6.1} ms   max {:>6.1} ms   ({pushes} pushes; the git push itself p50 {:.1} ms — the run starts before the push is answered)",
        percentile(&seen, 0.5),
        percentile(&seen, 1.0),
        percentile(&push, 0.5)
    );

    // A large source bundle through the S3 endpoint and a pipeline.
    let src = dir.join("bundle");
    write_bundle_files(&src, megabytes)?;
    let zip = dir.join("bundle.zip");
    sluice_artifacts::pack_dir(&src, std::fs::File::create(&zip)?)?;
    let size_mb = std::fs::metadata(&zip)?.len() as f64 / (1024.0 * 1024.0);
    sluice.create_bucket("bench-source").await?;
    sluice
        .set_bucket_versioning("bench-source", "Enabled")
        .await?;
    let s3_source = json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "bench-source", "S3ObjectKey": "bundle.zip", "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "Src"}]});
    let started = Instant::now();
    client
        .s3_put(&creds, "bench-source", "bundle.zip", &zip)
        .await?;
    let put_secs = started.elapsed().as_secs_f64();
    let back = dir.join("back.zip");
    let started = Instant::now();
    client
        .s3_get(&creds, "bench-source", "bundle.zip", &back)
        .await?;
    let get_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    call(&client, "CreatePipeline", pipeline("bundle", s3_source)).await?;
    let run = wait_settled(&client, "bundle", 1).await?;
    let run_secs = started.elapsed().as_secs_f64();
    if run["status"] != "Succeeded" {
        bail!("the bundle pipeline ended {}", run["status"]);
    }
    println!(
        "S3 PUT           {:>7.1} MB/s   ({size_mb:.0} MB zip of {megabytes} MB)",
        size_mb / put_secs
    );
    println!("S3 GET           {:>7.1} MB/s", size_mb / get_secs);
    println!(
        "source → build   {:>7.1} MB/s   ({run_secs:.2} s: S3 source copies the bundle, Commands downloads and unpacks it)",
        size_mb / run_secs
    );

    // A backlog of built-in jobs: pipelines created at once, each an S3 source and a Commands
    // build, drained by the providers' two slots.
    let small = dir.join("small");
    std::fs::create_dir_all(&small)?;
    std::fs::write(small.join("app.sh"), "echo hi\n")?;
    let small_zip = dir.join("small.zip");
    sluice_artifacts::pack_dir(&small, std::fs::File::create(&small_zip)?)?;
    client
        .s3_put(&creds, "bench-source", "small.zip", &small_zip)
        .await?;
    let small_source = json!({"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "bench-source", "S3ObjectKey": "small.zip", "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "Src"}]});
    let started = Instant::now();
    for i in 0..BACKLOG_PIPELINES {
        call(
            &client,
            "CreatePipeline",
            pipeline(&format!("backlog-{i}"), small_source.clone()),
        )
        .await?;
    }
    for i in 0..BACKLOG_PIPELINES {
        wait_settled(&client, &format!("backlog-{i}"), 1).await?;
    }
    println!(
        "job backlog      {:>7.2} s      ({} built-in jobs of {BACKLOG_PIPELINES} pipelines created at once, 2 at a time)",
        started.elapsed().as_secs_f64(),
        BACKLOG_PIPELINES * 2
    );
    bench.stop().await
}
