//! The crash loop: a scripted job worker drives several pipelines while the server is killed
//! with SIGKILL at random moments and restarted. Afterwards every execution has ended, no job
//! had two owners, no action succeeded twice, and nothing acknowledged is missing — in every
//! execution mode (SUPERSEDED, QUEUED, PARALLEL).
//!
//! Runs for `SLUICE_CRASH_LOOP_SECS` seconds (8 by default; set it higher for a longer soak).

use crate::durability::{start_appending_log, Server};
use serde_json::{json, Value};
use sluice_test_utils::{try_signed_post, wall_clock_ms, Reply};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PIPELINES: usize = 4;

/// Calls an operation; a connection broken by a kill is a reply with status 0.
async fn call(addr: SocketAddr, op: &str, body: Value) -> Reply {
    let target = format!("CodePipeline_20150709.{op}");
    let headers = [("x-amz-target", target.as_str())];
    let request = try_signed_post(
        addr,
        wall_clock_ms(),
        &headers,
        body.to_string().into_bytes(),
    );
    match tokio::time::timeout(Duration::from_secs(5), request).await {
        Ok(Ok(reply)) => reply,
        _ => Reply {
            status: 0,
            headers: Default::default(),
            body: Value::Null,
        },
    }
}

/// xorshift64*: enough randomness for kill timing, no dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Self(t | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[derive(Default)]
struct Ledger {
    /// Job id → every nonce whose AcknowledgeJob answered 200.
    owners: HashMap<String, HashSet<String>>,
    /// Action execution id → accepted successes.
    successes: HashMap<String, u32>,
    /// Executions whose start was acknowledged: (pipeline, id).
    started: Vec<(String, String)>,
}

/// A polled job the worker is still seeing through.
#[derive(Clone)]
struct Pending {
    job_id: String,
    nonce: String,
    action_execution_id: String,
    /// A success was sent but its answer was lost; an InvalidJobState now means it landed.
    success_sent: bool,
}

async fn setup(addr: SocketAddr) {
    for (category, provider, inputs, outputs) in
        [("Source", "CrashSrc", 0, 1), ("Build", "CrashBuild", 1, 0)]
    {
        let r = call(
            addr,
            "CreateCustomActionType",
            json!({"category": category, "provider": provider, "version": "1",
                   "inputArtifactDetails": {"minimumCount": inputs, "maximumCount": inputs},
                   "outputArtifactDetails": {"minimumCount": 0, "maximumCount": outputs}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let action = |name: &str, category: &str, provider: &str, inputs: Value, outputs: Value| {
        json!({"name": name, "actionTypeId": {"category": category, "owner": "Custom", "provider": provider, "version": "1"},
               "inputArtifacts": inputs, "outputArtifacts": outputs})
    };
    // Every execution mode: queued lines and parallel lanes survive kills as superseding does.
    let modes = ["SUPERSEDED", "QUEUED", "PARALLEL", "SUPERSEDED"];
    for i in 0..PIPELINES {
        let r = call(
            addr,
            "CreatePipeline",
            json!({"pipeline": {"name": format!("crash-{i}"), "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
                "artifactStore": {"type": "S3", "location": "bucket"},
                "pipelineType": "V2", "executionMode": modes[i % modes.len()],
                "stages": [
                    {"name": "Source", "actions": [action("src", "Source", "CrashSrc", json!([]), json!([{"name": "App"}]))]},
                    {"name": "Build", "actions": [action("build", "Build", "CrashBuild", json!([{"name": "App"}]), json!([]))]},
                    {"name": "Test", "actions": [action("test", "Build", "CrashBuild", json!([{"name": "App"}]), json!([]))]}
                ]}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// One pass of the worker: poll both types, then push every pending job one step further.
async fn work(addr: SocketAddr, pending: &mut Vec<Pending>, ledger: &Mutex<Ledger>) {
    for (category, provider) in [("Source", "CrashSrc"), ("Build", "CrashBuild")] {
        let r = call(
            addr,
            "PollForJobs",
            json!({"actionTypeId": {"category": category, "owner": "Custom", "provider": provider, "version": "1"}, "maxBatchSize": 5}),
        )
        .await;
        if r.status != 200 {
            continue;
        }
        for job in r.body["jobs"].as_array().cloned().unwrap_or_default() {
            pending.push(Pending {
                job_id: job["id"].as_str().unwrap_or_default().into(),
                nonce: job["nonce"].as_str().unwrap_or_default().into(),
                action_execution_id: job["data"]["pipelineContext"]["action"]["actionExecutionId"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                success_sent: false,
            });
        }
    }
    let mut still = Vec::new();
    for mut p in pending.drain(..) {
        let ack = call(
            addr,
            "AcknowledgeJob",
            json!({"jobId": p.job_id, "nonce": p.nonce}),
        )
        .await;
        match (ack.status, ack.error_type()) {
            (200, _) => {
                ledger
                    .lock()
                    .expect("ledger")
                    .owners
                    .entry(p.job_id.clone())
                    .or_default()
                    .insert(p.nonce.clone());
            }
            (400, "InvalidNonceException") | (400, "JobNotFoundException") => continue,
            _ => {
                still.push(p);
                continue;
            }
        }
        let done = call(addr, "PutJobSuccessResult", json!({"jobId": p.job_id})).await;
        match (done.status, done.error_type()) {
            (200, _) => {
                *ledger
                    .lock()
                    .expect("ledger")
                    .successes
                    .entry(p.action_execution_id.clone())
                    .or_default() += 1;
            }
            (400, "InvalidJobStateException") => {
                if p.success_sent {
                    // The earlier success landed before the server died.
                    *ledger
                        .lock()
                        .expect("ledger")
                        .successes
                        .entry(p.action_execution_id.clone())
                        .or_default() += 1;
                }
            }
            _ => {
                p.success_sent = true;
                still.push(p);
            }
        }
    }
    *pending = still;
}

async fn all_ended(addr: SocketAddr) -> Option<Vec<(String, String, String)>> {
    let mut all = Vec::new();
    for i in 0..PIPELINES {
        let name = format!("crash-{i}");
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"pipelineName": name, "maxResults": 100});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let r = call(addr, "ListPipelineExecutions", body).await;
            if r.status != 200 {
                eprintln!("ListPipelineExecutions on {addr}: {} {}", r.status, r.body);
                return None;
            }
            for e in r.body["pipelineExecutionSummaries"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                all.push((
                    name.clone(),
                    e["pipelineExecutionId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    e["status"].as_str().unwrap_or_default().to_string(),
                ));
            }
            match r.body["nextToken"].as_str() {
                Some(t) => token = Some(t.into()),
                None => break,
            }
        }
    }
    Some(all)
}

/// The servers the crash loop kills and starts again: one, or replicas sharing a database.
pub(crate) struct Cluster {
    pub(crate) servers: Vec<Server>,
    data_dirs: Vec<std::path::PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Cluster {
    pub(crate) async fn start(
        data_dirs: Vec<std::path::PathBuf>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut cluster = Self {
            servers: Vec::new(),
            data_dirs,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        for i in 0..cluster.data_dirs.len() {
            let server = cluster.spawn(i).await;
            cluster.servers.push(server);
        }
        cluster
    }

    async fn spawn(&self, i: usize) -> Server {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        start_appending_log(&self.data_dirs[i], &args, &env, &self.log(i)).await
    }

    /// Where server `i` logs, every run of it after the one before.
    fn log(&self, i: usize) -> std::path::PathBuf {
        self.data_dirs[i].with_extension("log")
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|s| s.addr).collect()
    }

    /// SIGKILL to server `i`, then start it again on its data dir.
    async fn kill_and_restart(&mut self, i: usize) {
        self.servers[i].kill_9();
        self.servers[i] = self.spawn(i).await;
    }
}

impl Drop for Cluster {
    /// A failing test shows the end of each server's log: the story of what went wrong.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for i in 0..self.data_dirs.len() {
            let log = std::fs::read_to_string(self.log(i)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("--- the end of server {i}'s log ---\n{tail}");
        }
    }
}

/// Drives the pipelines with a scripted worker through random servers of `cluster` while one
/// server at a time is killed and started again, for `seconds`; then checks that every
/// execution ended, no job had two owners, no action succeeded twice and nothing acknowledged
/// is missing.
pub(crate) async fn crash_loop(mut cluster: Cluster, seconds: u64) {
    setup(cluster.addrs()[0]).await;
    let addrs = Arc::new(Mutex::new(cluster.addrs()));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let chaos = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let worker = {
        let (addrs, ledger, chaos) = (addrs.clone(), ledger.clone(), chaos.clone());
        tokio::spawn(async move {
            let mut pending = Vec::new();
            let mut rng = Rng::seeded();
            let mut passes = 0u64;
            while chaos.load(std::sync::atomic::Ordering::SeqCst) {
                let a = {
                    let addrs = addrs.lock().expect("addrs");
                    addrs[rng.below(addrs.len() as u64) as usize]
                };
                if rng.below(4) == 0 {
                    let name = format!("crash-{}", rng.below(PIPELINES as u64));
                    let r = call(a, "StartPipelineExecution", json!({"name": name})).await;
                    if r.status == 200 {
                        let id = r.body["pipelineExecutionId"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        ledger.lock().expect("ledger").started.push((name, id));
                    }
                }
                work(a, &mut pending, &ledger).await;
                passes += 1;
            }
            (pending, passes)
        })
    };
    let mut rng = Rng::seeded();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut kills = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(150 + rng.below(500))).await;
        let victim = rng.below(cluster.servers.len() as u64) as usize;
        cluster.kill_and_restart(victim).await;
        kills += 1;
        *addrs.lock().expect("addrs") = cluster.addrs();
    }
    chaos.store(false, std::sync::atomic::Ordering::SeqCst);
    let (mut pending, passes) = worker.await.expect("worker");

    // Calm: the worker finishes what is left, including jobs whose pollers died.
    let calm = Instant::now() + Duration::from_secs(60);
    let addr = cluster.addrs()[0];
    let executions = loop {
        work(addr, &mut pending, &ledger).await;
        if let Some(all) = all_ended(addr).await {
            if all
                .iter()
                .all(|(_, _, status)| status != "InProgress" && status != "Stopping")
            {
                break all;
            }
        }
        assert!(
            Instant::now() < calm,
            "executions did not all end: {:?}",
            all_ended(addr).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let ledger = ledger.lock().expect("ledger");
    eprintln!(
        "crash loop: {seconds} s, {} servers, {kills} kills, {passes} worker passes, {} executions, {} jobs owned",
        cluster.servers.len(),
        executions.len(),
        ledger.owners.len()
    );
    assert!(kills > 0);
    for (job, nonces) in &ledger.owners {
        assert_eq!(nonces.len(), 1, "job {job} had two owners: {nonces:?}");
    }
    for (action, n) in &ledger.successes {
        assert!(*n <= 1, "action execution {action} succeeded {n} times");
    }
    for (pipeline, id) in &ledger.started {
        assert!(
            executions.iter().any(|(p, e, _)| p == pipeline && e == id),
            "acknowledged execution {id} of {pipeline} is missing"
        );
    }
    for (pipeline, id, status) in &executions {
        assert!(
            status == "Succeeded" || status == "Superseded",
            "execution {id} of {pipeline} ended {status}"
        );
    }
    for server in &mut cluster.servers {
        server.kill_9();
    }
}

/// How long a crash loop runs: `SLUICE_CRASH_LOOP_SECS`, else 8 s.
pub(crate) fn crash_loop_seconds() -> u64 {
    std::env::var("SLUICE_CRASH_LOOP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_loses_nothing_and_never_double_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sluice.toml");
    std::fs::write(&config, "[jobs]\ndispatch_lease_secs = 1\n").expect("config");
    let config = config.to_string_lossy().to_string();
    let cluster = Cluster::start(vec![dir.path().join("data")], &["--config", &config], &[]).await;
    crash_loop(cluster, crash_loop_seconds()).await;
}
