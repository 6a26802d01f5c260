//! `sluice bench console`: server time of the console's pages against the real server in this
//! process, with N pipelines (each with one execution): the pipelines overview (its first page
//! of 100 rows, and a filtered page), a pipeline's view and its history.

use crate::bench_sources::{call, percentile, BenchServer, ROLE};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request on a fresh connection; the status, headers and body.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").context("an HTTP answer")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("a status")?;
    Ok((status, head.to_string(), body.to_string()))
}

fn report(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what}: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms (n={})",
        percentile(&ms, 0.5),
        percentile(&ms, 0.9),
        ms[ms.len() - 1],
        ms.len()
    );
}

async fn time_page(
    addr: std::net::SocketAddr,
    cookie: &str,
    path: &str,
    rounds: usize,
) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let (status, _, body) = request(addr, "GET", path, &[("cookie", cookie)], "").await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            bail!("{path}: {status} {body}");
        }
    }
    Ok(times)
}

pub async fn console(pipelines: usize) -> Result<()> {
    let bench = BenchServer::start().await?;
    let client = bench.client()?;
    call(
        &client,
        "CreateCustomActionType",
        json!({"category": "Source", "provider": "BenchSource", "version": "1",
               "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
               "outputArtifactDetails": {"minimumCount": 1, "maximumCount": 1}}),
    )
    .await?;
    let created = Instant::now();
    for i in 0..pipelines {
        let pipeline = json!({
            "name": format!("pipeline-{i:05}"), "roleArn": ROLE,
            "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
            "stages": [
                {"name": "Source", "actions": [{"name": "Source",
                    "actionTypeId": {"category": "Source", "owner": "Custom", "provider": "BenchSource", "version": "1"},
                    "outputArtifacts": [{"name": "Src"}]}]},
                {"name": "Approve", "actions": [{"name": "Approve",
                    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]},
            ],
        });
        call(&client, "CreatePipeline", json!({ "pipeline": pipeline })).await?;
    }
    println!(
        "{pipelines} pipelines created in {:.1} s",
        created.elapsed().as_secs_f64()
    );
    let (status, head, _) = request(
        bench.addr,
        "POST",
        "/console/signin",
        &[("content-type", "application/x-www-form-urlencoded")],
        "access_key_id=AKIDBENCH&secret_access_key=bench",
    )
    .await?;
    if status != 303 {
        bail!("sign-in answered {status}");
    }
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .context("a session cookie")?
        .to_string();
    let rounds = 30;
    report(
        &format!("pipelines overview, first 100 rows of {pipelines}"),
        time_page(bench.addr, &cookie, "/console/pipelines", rounds).await?,
    );
    report(
        &format!("pipelines overview, filtered by name across {pipelines}"),
        time_page(
            bench.addr,
            &cookie,
            "/console/pipelines?filter=-0042",
            rounds,
        )
        .await?,
    );
    report(
        "a pipeline's view",
        time_page(
            bench.addr,
            &cookie,
            "/console/pipelines/pipeline-00007",
            rounds,
        )
        .await?,
    );
    report(
        "a pipeline's history",
        time_page(
            bench.addr,
            &cookie,
            "/console/pipelines/pipeline-00007/history",
            rounds,
        )
        .await?,
    );
    bench.stop().await
}
