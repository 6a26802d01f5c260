//! `cargo xtask bench`: starts a release `sluice serve` on a fresh data dir, seeds pipelines,
//! and drives `GetPipeline`, `ListPipelines` and `CreatePipeline` with N keep-alive connections
//! for a fixed time each, printing throughput, latency percentiles and the server's peak RSS.
//! Numbers only; nothing asserts on them.

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pipelines present before the read scenarios run.
const SEEDED_PIPELINES: usize = 200;

pub(crate) struct Settings {
    pub(crate) seconds: u64,
    pub(crate) connections: usize,
}

/// What `cargo xtask bench` was asked to measure.
enum Scenario {
    /// The API under load on one server (the default).
    Load,
    /// Growth with the number of pipelines, up to `max`.
    Scale {
        postgres: bool,
        max: usize,
        /// Audit events to reach before the last `LookupEvents` measurement.
        events: Option<u64>,
    },
    /// 1 to `max` replicas on PostgreSQL.
    Replicas { max: usize },
}

fn parse(args: &[String]) -> Result<(Settings, Scenario)> {
    let mut s = Settings {
        seconds: 10,
        connections: 16,
    };
    let (mut scale, mut replicas, mut postgres, mut max, mut events) =
        (false, false, false, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().context("flag without a value");
        match a.as_str() {
            "--seconds" => s.seconds = value()?.parse()?,
            "--connections" => s.connections = value()?.parse()?,
            "--max" => max = Some(value()?.parse::<usize>()?),
            "--events" => events = Some(value()?.parse::<u64>()?),
            "--scale" => scale = true,
            "--replicas" => replicas = true,
            "--postgres" => postgres = true,
            other => bail!("unknown flag {other}"),
        }
    }
    let scenario = match (scale, replicas) {
        (true, true) => bail!("--scale and --replicas are separate runs"),
        (true, false) => {
            // Shorter read scenarios: there are several sizes to measure.
            if !args.iter().any(|a| a == "--seconds") {
                s.seconds = 3;
            }
            Scenario::Scale {
                postgres,
                max: max.unwrap_or(10_000),
                events,
            }
        }
        (false, true) => Scenario::Replicas {
            max: max.unwrap_or(3),
        },
        (false, _) if events.is_some() => bail!("--events goes with --scale"),
        (false, false) if postgres || max.is_some() => {
            bail!("--postgres and --max go with --scale (or --max with --replicas)")
        }
        (false, false) => Scenario::Load,
    };
    Ok((s, scenario))
}

pub(crate) fn pipeline(name: &str) -> serde_json::Value {
    serde_json::json!({"pipeline": {
    "name": name,
    "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
    "artifactStore": {"type": "S3", "location": "bench-bucket"},
    "stages": [
        {"name": "Source", "actions": [{"name": "Source",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"},
            "outputArtifacts": [{"name": "MyApp"}]}]},
        {"name": "Beta", "actions": [{"name": "Deploy",
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
            "configuration": {"ApplicationName": "a", "DeploymentGroupName": "g"},
            "inputArtifacts": [{"name": "MyApp"}]}]}
    ]}})
}

pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub(crate) async fn connect(addr: &str) -> Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

pub(crate) const BENCH_KEY_ID: &str = "AKIDBENCH";
pub(crate) const BENCH_SECRET: &str = "bench-secret";

/// A CodePipeline request signed with the bench key, as every SDK signs.
pub(crate) fn signed(addr: &str, op: &str, body: Bytes) -> Result<hyper::Request<Full<Bytes>>> {
    signed_json(
        addr,
        &format!("CodePipeline_20150709.{op}"),
        "codepipeline",
        body,
    )
}

/// A JSON 1.1 request to `target` of `service`, signed with the bench key.
pub(crate) fn signed_json(
    addr: &str,
    target: &str,
    service: &str,
    body: Bytes,
) -> Result<hyper::Request<Full<Bytes>>> {
    let target = target.to_string();
    let headers = vec![
        ("host".to_string(), addr.to_string()),
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("x-amz-target".to_string(), target),
    ];
    let hash = sluice_sigv4::sha256_hex(&body);
    let request = sluice_sigv4::Request {
        method: "POST",
        path: "/",
        query: "",
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
        service,
        &sluice_model::time::amz_date(now.as_millis() as i64),
        sluice_sigv4::PathStyle::Normalized,
    );
    let mut builder = hyper::Request::post("/");
    for (k, v) in headers.iter().chain(&added) {
        builder = builder.header(k.as_str(), v.as_str());
    }
    Ok(builder.body(Full::new(body))?)
}

pub(crate) async fn call(sender: &mut Sender, addr: &str, op: &str, body: Bytes) -> Result<u16> {
    sender.ready().await?;
    let req = signed(addr, op, body)?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

pub(crate) struct Outcome {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) latencies_us: Vec<u64>,
    pub(crate) elapsed: Duration,
}

pub(crate) async fn load(
    addr: &str,
    op: &'static str,
    settings: &Settings,
    body: impl Fn(u64) -> Bytes + Send + Sync + 'static,
) -> Result<Outcome> {
    let body = Arc::new(body);
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..settings.connections {
        let addr = addr.to_string();
        let body = body.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&addr).await?;
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let status = call(&mut sender, &addr, op, body(n)).await?;
                latencies.push(t.elapsed().as_micros() as u64);
                if status != 200 {
                    errors += 1;
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        latencies_us.extend(l);
        errors += e;
    }
    latencies_us.sort_unstable();
    Ok(Outcome {
        requests: latencies_us.len() as u64,
        errors,
        latencies_us,
        elapsed: start.elapsed(),
    })
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

pub(crate) fn report(name: &str, o: &Outcome) {
    println!(
        "{name:<16} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  ({} requests, {} errors)",
        o.requests as f64 / o.elapsed.as_secs_f64(),
        percentile(&o.latencies_us, 0.50),
        percentile(&o.latencies_us, 0.99),
        percentile(&o.latencies_us, 1.0),
        o.requests,
        o.errors
    );
}

/// A server's memory in MiB, from `/proc/PID/status`.
pub(crate) struct Memory {
    /// Peak resident set (`VmHWM`).
    pub(crate) peak: f64,
    /// Private memory resident now (`RssAnon`): what the server itself holds.
    pub(crate) private: f64,
    /// File pages mapped now (`RssFile`): mostly SQLite's memory-mapped database, which is
    /// the kernel's page cache, shared and reclaimable, not the server's own.
    pub(crate) mapped: f64,
}

pub(crate) fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    Memory {
        peak: field("VmHWM:"),
        private: field("RssAnon:"),
        mapped: field("RssFile:"),
    }
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let (settings, scenario) = parse(args)?;
    match scenario {
        Scenario::Load => {}
        Scenario::Scale {
            postgres,
            max,
            events,
        } => return crate::bench_scale::scale(root, &settings, postgres, max, events),
        Scenario::Replicas { max } => return crate::bench_scale::replicas(root, &settings, max),
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "--locked", "--bin", "sluice"])
        .status()?;
    if !status.success() {
        bail!("building the release binary failed");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let data_dir = std::env::temp_dir().join(format!("sluice-bench-{port}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    // The write scenario creates far more pipelines than an account may hold by default.
    let config = data_dir.join("sluice.toml");
    std::fs::write(&config, "[limits]\nmax_pipelines_per_account = 100000000\n")?;
    let mut child = Command::new(root.join("target/release/sluice"))
        .args(["serve", "--listen", &addr, "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .env("SLUICE_LOG", "warn")
        .env("SLUICE_BOOTSTRAP_ACCESS_KEY_ID", BENCH_KEY_ID)
        .env("SLUICE_BOOTSTRAP_SECRET_ACCESS_KEY", BENCH_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            for _ in 0..400 {
                if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let mut sender = connect(&addr).await?;
            for i in 0..SEEDED_PIPELINES {
                let body = pipeline(&format!("seed-{i:04}")).to_string();
                if call(&mut sender, &addr, "CreatePipeline", body.into()).await? != 200 {
                    bail!("seeding failed");
                }
            }
            println!(
                "sluice bench: {} connections, {} s per scenario, {SEEDED_PIPELINES} pipelines seeded, release build, SQLite (WAL, synchronous=FULL)",
                settings.connections, settings.seconds
            );
            let get = load(&addr, "GetPipeline", &settings, |n| {
                Bytes::from(format!(r#"{{"name":"seed-{:04}"}}"#, n % SEEDED_PIPELINES as u64))
            })
            .await?;
            report("GetPipeline", &get);
            let state = load(&addr, "GetPipelineState", &settings, |n| {
                Bytes::from(format!(r#"{{"name":"seed-{:04}"}}"#, n % SEEDED_PIPELINES as u64))
            })
            .await?;
            report("GetPipelineState", &state);
            let list = load(&addr, "ListPipelines", &settings, |_| Bytes::from_static(b"{}")).await?;
            report("ListPipelines", &list);
            let create = load(&addr, "CreatePipeline", &settings, |n| {
                Bytes::from(pipeline(&format!("load-{n}")).to_string())
            })
            .await?;
            report("CreatePipeline", &create);
            runs(&addr, &settings).await?;
            anyhow::Ok(())
        });
    let memory = memory(pid);
    println!(
        "server memory    {:.1} MiB private, {:.1} MiB of mapped database pages (peak RSS {:.1} MiB, both together)",
        memory.private, memory.mapped, memory.peak
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

/// Stages of the pipeline the run scenarios drive.
pub(crate) const RUN_STAGES: usize = 5;
/// Sequential runs measured for latency.
const LATENCY_RUNS: usize = 100;

pub(crate) async fn op(
    sender: &mut Sender,
    addr: &str,
    op: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    sender.ready().await?;
    let req = signed(addr, op, Bytes::from(body.to_string()))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if status != 200 {
        bail!("{op} failed: {value}");
    }
    Ok(value)
}

pub(crate) fn chain(name: &str) -> serde_json::Value {
    let stages: Vec<serde_json::Value> = (0..RUN_STAGES)
        .map(|i| {
            let (category, provider, inputs, outputs) = if i == 0 {
                ("Source", "BenchSrc", serde_json::json!([]), serde_json::json!([{"name": "App"}]))
            } else {
                ("Build", "BenchStep", serde_json::json!([{"name": "App"}]), serde_json::json!([]))
            };
            serde_json::json!({"name": format!("S{i}"), "actions": [{"name": format!("a{i}"),
                "actionTypeId": {"category": category, "owner": "Custom", "provider": provider, "version": "1"},
                "configuration": {"Pipe": name}, "inputArtifacts": inputs, "outputArtifacts": outputs}]})
        })
        .collect();
    serde_json::json!({"pipeline": {"name": name, "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "artifactStore": {"type": "S3", "location": "bench"}, "stages": stages}})
}

/// Polls (with `queryParam` on this pipeline) until a job shows up; returns it and how long
/// the successful poll took.
async fn next_job(
    sender: &mut Sender,
    addr: &str,
    stage: usize,
    pipe: &str,
) -> Result<(serde_json::Value, Duration)> {
    let provider = if stage == 0 {
        ("Source", "BenchSrc")
    } else {
        ("Build", "BenchStep")
    };
    for _ in 0..10_000 {
        let t = Instant::now();
        let out = op(sender, addr, "PollForJobs", serde_json::json!({
            "actionTypeId": {"category": provider.0, "owner": "Custom", "provider": provider.1, "version": "1"},
            "queryParam": {"Pipe": pipe}})).await?;
        let elapsed = t.elapsed();
        if let Some(job) = out["jobs"].as_array().and_then(|j| j.first()) {
            return Ok((job.clone(), elapsed));
        }
    }
    bail!("no job appeared for stage {stage} of {pipe}")
}

/// Drives one execution of `pipe` through every stage; returns (dispatch, transition) samples.
/// With `start` false it finishes the execution `CreatePipeline` started.
pub(crate) async fn drive(
    sender: &mut Sender,
    addr: &str,
    pipe: &str,
    start: bool,
) -> Result<(Vec<u64>, Vec<u64>)> {
    let mut dispatch = Vec::new();
    let mut transition = Vec::new();
    if start {
        op(
            sender,
            addr,
            "StartPipelineExecution",
            serde_json::json!({"name": pipe}),
        )
        .await?;
    }
    let mut since_success: Option<Instant> = None;
    for stage in 0..RUN_STAGES {
        let (job, polled) = next_job(sender, addr, stage, pipe).await?;
        dispatch.push(polled.as_micros() as u64);
        if let Some(t) = since_success {
            transition.push(t.elapsed().as_micros() as u64);
        }
        op(
            sender,
            addr,
            "AcknowledgeJob",
            serde_json::json!({"jobId": job["id"], "nonce": job["nonce"]}),
        )
        .await?;
        let t = Instant::now();
        op(
            sender,
            addr,
            "PutJobSuccessResult",
            serde_json::json!({"jobId": job["id"]}),
        )
        .await?;
        since_success = Some(t);
    }
    Ok((dispatch, transition))
}

async fn runs(addr: &str, settings: &Settings) -> Result<()> {
    let mut sender = connect(addr).await?;
    for (category, provider, inputs, outputs) in
        [("Source", "BenchSrc", 0, 1), ("Build", "BenchStep", 1, 0)]
    {
        op(&mut sender, addr, "CreateCustomActionType", serde_json::json!({
            "category": category, "provider": provider, "version": "1",
            "configurationProperties": [{"name": "Pipe", "required": true, "key": true, "secret": false, "queryable": true}],
            "inputArtifactDetails": {"minimumCount": inputs, "maximumCount": inputs},
            "outputArtifactDetails": {"minimumCount": 0, "maximumCount": outputs}})).await?;
    }
    // Latency: one worker, one 5-stage pipeline, runs one after another.
    op(&mut sender, addr, "CreatePipeline", chain("latency")).await?;
    let (mut dispatch, mut transition) = (Vec::new(), Vec::new());
    drive(&mut sender, addr, "latency", false).await?;
    for _ in 0..LATENCY_RUNS {
        let (d, t) = drive(&mut sender, addr, "latency", true).await?;
        dispatch.extend(d);
        transition.extend(t);
    }
    dispatch.sort_unstable();
    transition.sort_unstable();
    println!(
        "job dispatch     p50 {:>6.2} ms  p99 {:>6.2} ms   (PollForJobs answering with a queued job; {} samples)",
        percentile(&dispatch, 0.5), percentile(&dispatch, 0.99), dispatch.len()
    );
    println!(
        "transition       p50 {:>6.2} ms  p99 {:>6.2} ms   (PutJobSuccessResult sent → next stage's job polled; {} samples)",
        percentile(&transition, 0.5), percentile(&transition, 0.99), transition.len()
    );
    // Throughput: one worker per pipeline, all at once.
    let pipelines = settings.connections;
    for i in 0..pipelines {
        op(
            &mut sender,
            addr,
            "CreatePipeline",
            chain(&format!("tp-{i}")),
        )
        .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..pipelines {
        let addr = addr.to_string();
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
    println!(
        "transitions/s    {:>9.0}          ({pipelines} pipelines × {RUN_STAGES} stages, one worker each; every transition durable)",
        total as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}
