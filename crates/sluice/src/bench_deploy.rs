//! `sluice bench deploy`: the real server and two `sluice agent`s in this process. Measures
//! command-to-agent latency (from `CreateDeployment` being answered to an agent's parked long
//! poll returning its first command) and the overhead of a 2-host AllAtOnce deployment of a
//! small bundle: its wall time minus the time its hook scripts take to run.

use crate::bench_sources::{percentile, BenchServer};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use sluice_sigv4::Credentials;
use sluice_worker::client::Client;
use std::time::{Duration, Instant};

const HOOKS: [&str; 4] = [
    "BeforeInstall",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
];

async fn deploy(client: &Client, op: &str, input: Value) -> Result<Value> {
    match client
        .call_service::<Value, Value>("CodeDeploy_20141006", "codedeploy", op, &input)
        .await?
    {
        Ok(v) => Ok(v),
        Err(e) => bail!("{op}: {} {}", e.code, e.message),
    }
}

async fn iam(client: &Client, form: &str) -> Result<String> {
    let (status, xml) = client.query("iam", form).await?;
    if status != 200 {
        bail!("{form}: HTTP {status} {xml}");
    }
    Ok(xml)
}

fn field(xml: &str, tag: &str) -> String {
    xml.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|r| r.split(&format!("</{tag}>")).next())
        .unwrap_or_default()
        .to_string()
}

/// A registered, tagged instance and a client signing as its IAM user.
async fn host(bench: &BenchServer, root: &Client, name: &str) -> Result<(String, Client)> {
    iam(
        root,
        &format!("Action=CreateUser&Version=2010-05-08&UserName={name}"),
    )
    .await?;
    let key = iam(
        root,
        &format!("Action=CreateAccessKey&Version=2010-05-08&UserName={name}"),
    )
    .await?;
    let arn = format!("arn:aws:iam::111111111111:user/{name}");
    deploy(
        root,
        "RegisterOnPremisesInstance",
        json!({"instanceName": name, "iamUserArn": arn}),
    )
    .await?;
    deploy(
        root,
        "AddTagsToOnPremisesInstances",
        json!({"instanceNames": [name], "tags": [{"Key": "fleet", "Value": "bench"}]}),
    )
    .await?;
    let credentials = Credentials {
        access_key_id: field(&key, "AccessKeyId"),
        secret_access_key: field(&key, "SecretAccessKey"),
        session_token: None,
    };
    Ok((
        arn,
        Client::new(&format!("http://{}", bench.addr), "us-east-1", credentials)?,
    ))
}

/// A bundle of an appspec and one trivial script per hook.
fn bundle(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let src = dir.join("bundle-src");
    std::fs::create_dir_all(src.join("scripts"))?;
    let mut appspec = String::from("version: 0.0\nos: linux\nhooks:\n");
    for hook in HOOKS {
        appspec += &format!("  {hook}:\n    - location: scripts/hook\n      timeout: 60\n");
    }
    std::fs::write(src.join("appspec.yml"), appspec)?;
    let script = src.join("scripts/hook");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    let zip = dir.join("bundle.zip");
    sluice_artifacts::pack_dir(&src, std::fs::File::create(&zip)?)?;
    Ok(script)
}

async fn until_done(root: &Client, id: &str) -> Result<Value> {
    for _ in 0..60_000 {
        let got = deploy(root, "GetDeployment", json!({"deploymentId": id})).await?;
        let info = got["deploymentInfo"].clone();
        if matches!(
            info["status"].as_str(),
            Some("Succeeded" | "Failed" | "Stopped")
        ) {
            return Ok(info);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!("deployment {id} did not finish")
}

pub async fn deploy_bench(rounds: usize) -> Result<()> {
    let bench = BenchServer::start().await?;
    let root = bench.client()?;
    let script = bundle(&bench.dir)?;
    bench.sluice.create_bucket("bench-bundles").await?;
    bench
        .sluice
        .set_bucket_versioning("bench-bundles", "Enabled")
        .await?;
    root.s3_put(
        &crate::bench_sources::root_credentials(),
        "bench-bundles",
        "app.zip",
        &bench.dir.join("bundle.zip"),
    )
    .await?;
    deploy(
        &root,
        "CreateApplication",
        json!({"applicationName": "bench"}),
    )
    .await?;
    let group = |name: &str, config: &str| {
        json!({
            "applicationName": "bench", "deploymentGroupName": name, "deploymentConfigName": config,
            "serviceRoleArn": "arn:aws:iam::111111111111:role/CodeDeploy",
            "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": "bench", "Type": "KEY_AND_VALUE"}],
        })
    };
    deploy(
        &root,
        "CreateDeploymentGroup",
        group("fleet", "CodeDeployDefault.AllAtOnce"),
    )
    .await?;
    let revision = json!({"revisionType": "S3", "s3Location": {"bucket": "bench-bundles", "key": "app.zip", "bundleType": "zip"}});
    let (arn_a, client_a) = host(&bench, &root, "bench-a").await?;
    let (_, client_b) = host(&bench, &root, "bench-b").await?;

    // Command to agent: a poll parked on the server, then a deployment; the poll's answer is
    // timed from the deployment's creation being answered. The deployment is stopped after.
    let mut latencies = Vec::new();
    for _ in 0..rounds {
        let poller = client_a.clone();
        let arn = arn_a.clone();
        let poll = tokio::spawn(async move {
            let answer = poller
                .call_service::<Value, Value>(
                    "CodeDeployCommandService_v20141006",
                    "codedeploy-commands",
                    "PollHostCommand",
                    &json!({"HostIdentifier": arn}),
                )
                .await;
            (Instant::now(), answer)
        });
        // Parked: long enough for the poll to be waiting on the server.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let created = deploy(&root, "CreateDeployment", json!({"applicationName": "bench", "deploymentGroupName": "fleet", "revision": revision})).await?;
        let answered = Instant::now();
        let (received, answer) = poll.await?;
        let answer =
            answer?.map_err(|e| anyhow::anyhow!("PollHostCommand: {} {}", e.code, e.message))?;
        if answer["HostCommand"].is_null() {
            bail!("the parked poll returned no command");
        }
        latencies.push(received.saturating_duration_since(answered).as_secs_f64() * 1000.0);
        deploy(
            &root,
            "StopDeployment",
            json!({"deploymentId": created["deploymentId"]}),
        )
        .await?;
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "command to agent p50 {:>6.2} ms   max {:>6.2} ms   ({rounds} deployments, each to a parked long poll)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 1.0)
    );

    // Two real agents and a 2-host AllAtOnce deployment; the hooks' own time measured apart.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut agents = Vec::new();
    for (name, client) in [("bench-a", client_a), ("bench-b", client_b)] {
        let agent = sluice_agent::Agent::new(
            client,
            sluice_agent::AgentOptions {
                host_identifier: format!("arn:aws:iam::111111111111:user/{name}"),
                data_dir: bench.dir.join(format!("agent-{name}")),
            },
        );
        let stop = stop_rx.clone();
        agents.push(tokio::spawn(async move { agent.run(stop).await }));
    }
    let mut overheads = Vec::new();
    let mut totals = Vec::new();
    let mut hook_ms = 0.0;
    for round in 0..rounds.clamp(1, 20) {
        let started = Instant::now();
        let created = deploy(&root, "CreateDeployment", json!({"applicationName": "bench", "deploymentGroupName": "fleet", "revision": revision})).await?;
        let info = until_done(&root, created["deploymentId"].as_str().unwrap_or_default()).await?;
        let total = started.elapsed().as_secs_f64() * 1000.0;
        if info["status"] != "Succeeded" {
            bail!(
                "the benchmark deployment ended {}: {}",
                info["status"],
                info["errorInformation"]
            );
        }
        // The scripts one host runs, in a row: four hooks, and ApplicationStop after the first.
        let runs = HOOKS.len() + usize::from(round > 0);
        // Run the way the agent runs a hook (its own process group, output to a log), so the
        // difference is the deployment's overhead alone.
        let log = sluice_worker::log::JobLog::create(&bench.dir.join("hooks.log"), Vec::new())?;
        let hooks_started = Instant::now();
        for _ in 0..runs {
            let command =
                sluice_worker::process::operator_command(&script.to_string_lossy(), &bench.dir);
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let exit = sluice_worker::process::run(command, deadline, &log).await?;
            if !matches!(exit, sluice_worker::process::Exit::Finished(s) if s.success()) {
                bail!("the hook script failed: {exit:?}");
            }
        }
        hook_ms = hooks_started.elapsed().as_secs_f64() * 1000.0;
        totals.push(total);
        overheads.push(total - hook_ms);
    }
    let _ = stop_tx.send(true);
    for agent in agents {
        let _ = agent.await;
    }
    totals.sort_by(f64::total_cmp);
    overheads.sort_by(f64::total_cmp);
    println!(
        "2-host AllAtOnce p50 {:>6.1} ms   of which hooks {:>5.1} ms   overhead p50 {:>6.1} ms   max {:>6.1} ms   ({} deployments)",
        percentile(&totals, 0.5),
        hook_ms,
        percentile(&overheads, 0.5),
        percentile(&overheads, 1.0),
        overheads.len()
    );
    bench.stop().await
}
