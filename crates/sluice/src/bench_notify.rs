//! `sluice bench notifications` and `sluice bench functions`, against the real server in this
//! process.
//!
//! Notifications: an HTTP subscriber on loopback receives (1) `Publish`ed messages and (2) a
//! pipeline's "Execution State Change" events routed by an EventBridge rule to the topic;
//! the latency is from the call's answer to the signed delivery's arrival.
//!
//! Functions: a Python function that returns its own handler time is invoked through the
//! server's sandboxed warm pool: the cold start (first invocation, a new process) and the warm
//! overhead (an invocation's wall time minus the handler's own).

use crate::bench_sources::{call, percentile, BenchServer, ROLE};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback HTTP endpoint that answers 200 and reports each body's arrival.
async fn subscriber() -> Result<(
    String,
    tokio::sync::mpsc::UnboundedReceiver<(Instant, Value)>,
)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let arrived = Instant::now();
                    let body: Value = serde_json::from_slice(&buf[end + 4..end + 4 + length])
                        .unwrap_or(Value::Null);
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = tx.send((arrived, body));
                    return;
                }
            });
        }
    });
    Ok((url, rx))
}

async fn next_of(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(Instant, Value)>,
    want: impl Fn(&Value) -> bool,
) -> Result<Instant> {
    loop {
        let (at, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .context("no delivery within 30 s")?
            .context("the subscriber stopped")?;
        if want(&body) {
            return Ok(at);
        }
    }
}

fn report(what: &str, mut samples: Vec<f64>) {
    samples.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{what}: n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99)
    );
}

pub async fn notifications(rounds: usize) -> Result<()> {
    let bench = BenchServer::start().await?;
    let sluice = bench.sluice.clone();
    let (url, mut rx) = subscriber().await?;
    let topic = sluice
        .create_topic("bench", &Default::default(), Vec::new())
        .await?;
    sluice
        .subscribe(
            &topic,
            "http",
            Some(&url),
            &Default::default(),
            "111111111111",
            false,
        )
        .await?;
    let (_, confirmation) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await?
        .context("no confirmation")?;
    let token = confirmation["Token"].as_str().context("a token")?;
    sluice.confirm_subscription(&topic, token, false).await?;

    let mut publish = Vec::new();
    for i in 0..rounds {
        let started = Instant::now();
        let id = sluice
            .publish(sluice_service::notifications::PublishRequest {
                topic_arn: topic.clone(),
                message: format!("message {i}"),
                ..Default::default()
            })
            .await?;
        let answered = started.elapsed();
        let arrived = next_of(&mut rx, |b| b["MessageId"] == id.as_str()).await?;
        publish.push((arrived - started - answered).as_secs_f64() * 1000.0);
    }
    report("Publish answered -> signed HTTP delivery", publish);

    let pattern = json!({"source": ["aws.codepipeline"], "detail-type": ["CodePipeline Pipeline Execution State Change"], "detail": {"state": ["STARTED"]}});
    sluice
        .put_event_rule("bench", Some(&pattern.to_string()), None, None, None, None)
        .await?;
    let failed = sluice
        .put_event_targets(
            "bench",
            vec![sluice_service::notifications::EventTargetView {
                id: "t".into(),
                arn: topic.clone(),
                role_arn: None,
                input: None,
                input_path: None,
            }],
        )
        .await?;
    if !failed.is_empty() {
        bail!("the rule's target was refused: {failed:?}");
    }
    let client = bench.client()?;
    let approval =
        json!({"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"});
    let source =
        json!({"category": "Source", "owner": "Custom", "provider": "BenchSource", "version": "1"});
    call(&client, "CreateCustomActionType", json!({"category": "Source", "provider": "BenchSource", "version": "1",
        "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 0}, "outputArtifactDetails": {"minimumCount": 1, "maximumCount": 1}})).await?;
    call(&client, "CreatePipeline", json!({"pipeline": {"name": "events", "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
        "stages": [{"name": "Source", "actions": [{"name": "S", "actionTypeId": source, "outputArtifacts": [{"name": "A"}]}]},
                   {"name": "Gate", "actions": [{"name": "G", "actionTypeId": approval}]}]}})).await?;
    // CreatePipeline's own execution.
    next_of(&mut rx, |b| {
        b["Message"].as_str().is_some_and(|m| m.contains("STARTED"))
    })
    .await?;
    let mut changes = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let out = call(&client, "StartPipelineExecution", json!({"name": "events"})).await?;
        let answered = started.elapsed();
        let id = out["pipelineExecutionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let arrived = next_of(&mut rx, |b| {
            b["Message"].as_str().is_some_and(|m| m.contains(&id))
        })
        .await?;
        changes.push((arrived - started - answered).as_secs_f64() * 1000.0);
    }
    report(
        "StartPipelineExecution answered -> STARTED event at the HTTP subscriber",
        changes,
    );
    bench.stop().await
}

pub async fn functions(rounds: usize) -> Result<()> {
    let bench = BenchServer::start().await?;
    let sluice = bench.sluice.clone();
    let sandbox = crate::bench::serve_sandbox(&bench.dir)?;
    let work = bench.dir.join("work");
    std::fs::create_dir_all(&work)?;
    sandbox.make_traversable(&work)?;
    sluice_server::install_functions(&sluice, sandbox, &work, sluice_functions::Config::default());
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    sluice.create_role("bench-fn", None, trust, None).await?;
    let role = "arn:aws:iam::111111111111:role/bench-fn";
    let source = bench.dir.join("function-src");
    std::fs::create_dir_all(&source)?;
    std::fs::write(
        source.join("app.py"),
        "import time\ndef handler(event, context):\n    t = time.perf_counter()\n    return {'ms': (time.perf_counter() - t) * 1000}\n",
    )?;
    let package = bench.dir.join("function.zip");
    sluice_artifacts::pack_dir(&source, std::fs::File::create(&package)?)?;
    let zip = std::fs::read(&package)?;
    let settings = sluice_service::functions::FunctionSettings {
        runtime: Some("python3.11".into()),
        handler: Some("app.handler".into()),
        role: Some(role.into()),
        timeout: Some(30),
        ..Default::default()
    };
    sluice
        .create_function(
            "bench",
            settings,
            sluice_service::functions::CodeSource::Zip(zip),
        )
        .await?;
    let started = Instant::now();
    let first = sluice
        .invoke_function("bench", b"{}".to_vec(), None)
        .await?;
    let cold = started.elapsed().as_secs_f64() * 1000.0;
    if first.function_error.is_some() {
        bail!(
            "the function failed: {}",
            String::from_utf8_lossy(&first.payload)
        );
    }
    println!("cold start (new sandboxed python process, first invocation): {cold:.1} ms");
    let mut overhead = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let result = sluice
            .invoke_function("bench", b"{}".to_vec(), None)
            .await?;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let own: Value = serde_json::from_slice(&result.payload)?;
        overhead.push(wall - own["ms"].as_f64().unwrap_or(0.0));
    }
    report(
        "warm invocation overhead (wall time minus the handler's own)",
        overhead,
    );
    bench.stop().await
}
