//! `sluice bench transitions`: durable transitions per second of the engine and store alone,
//! in process (no HTTP), on a fresh SQLite database in a temporary directory. `cargo xtask
//! bench` measures the same path through the HTTP API.

use anyhow::{bail, Context, Result};
use sluice_model::{
    ActionDeclaration, ActionTypeId, ArtifactDetails, ArtifactStore, ConfigurationProperty,
    PipelineDeclaration, StageDeclaration,
};
use sluice_service::{JobOutcome, Options, RandomIds, Sluice, SystemClock, Trigger};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const STAGES: usize = 5;

fn action_type(
    category: &str,
    provider: &str,
    inputs: i64,
    outputs: i64,
) -> sluice_model::ActionType {
    sluice_model::ActionType {
        id: ActionTypeId::new(category, "Custom", provider, "1"),
        settings: None,
        configuration_properties: vec![ConfigurationProperty {
            queryable: true,
            key: true,
            ..ConfigurationProperty::plain("Pipe", true)
        }],
        input_artifact_details: ArtifactDetails::exactly(inputs),
        output_artifact_details: ArtifactDetails::between(0, outputs),
    }
}

fn pipeline(name: &str) -> PipelineDeclaration {
    let stages = (0..STAGES)
        .map(|i| {
            let (category, provider, inputs, outputs) = if i == 0 {
                ("Source", "BenchSrc", vec![], vec!["App".to_string()])
            } else {
                ("Build", "BenchStep", vec!["App".to_string()], vec![])
            };
            StageDeclaration {
                name: format!("S{i}"),
                blockers: vec![],
                actions: vec![ActionDeclaration {
                    name: format!("a{i}"),
                    action_type_id: ActionTypeId::new(category, "Custom", provider, "1"),
                    run_order: 1,
                    configuration: [("Pipe".to_string(), name.to_string())].into(),
                    input_artifacts: inputs,
                    output_artifacts: outputs,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    PipelineDeclaration {
        name: name.into(),
        role_arn: "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service".into(),
        artifact_store: Some(ArtifactStore {
            kind: "S3".into(),
            location: "bench".into(),
            encryption_key: None,
        }),
        stages,
        version: 1,
        ..Default::default()
    }
}

/// Drives one execution of `pipe` through every stage as a worker would.
async fn drive(sluice: &Sluice, pipe: &str, start: bool) -> Result<()> {
    if start {
        let trigger = Trigger {
            kind: "StartPipelineExecution".into(),
            detail: String::new(),
        };
        sluice
            .start_pipeline_execution(pipe, trigger, Default::default(), None)
            .await?;
    }
    let query: BTreeMap<String, String> = [("Pipe".to_string(), pipe.to_string())].into();
    for stage in 0..STAGES {
        let id = if stage == 0 {
            ActionTypeId::new("Source", "Custom", "BenchSrc", "1")
        } else {
            ActionTypeId::new("Build", "Custom", "BenchStep", "1")
        };
        let mut job = None;
        for _ in 0..1000 {
            if let Some(j) = sluice.poll_for_jobs(&id, 1, query.clone()).await?.pop() {
                job = Some(j);
                break;
            }
        }
        let job = job.context("no job appeared")?;
        sluice
            .acknowledge_job(&job.id, job.nonce.as_deref().unwrap_or_default())
            .await?;
        sluice
            .put_job_success(&job.id, JobOutcome::default(), None)
            .await?;
    }
    Ok(())
}

pub async fn transitions(seconds: u64, pipelines: usize) -> Result<()> {
    let dir = tempfile_dir()?;
    let store = sluice_store_sqlite::SqliteStore::open(&dir.join("sluice.db")).await?;
    let sluice = Sluice::new(
        Arc::new(store.clone()),
        Arc::new(sluice_artifacts::ObjectBlobStore::local(
            &dir.join("blobs"),
        )?),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        Options::default(),
    );
    sluice.ensure_default_service_role().await?;
    sluice
        .create_custom_action_type(action_type("Source", "BenchSrc", 0, 1), vec![])
        .await?;
    sluice
        .create_custom_action_type(action_type("Build", "BenchStep", 1, 0), vec![])
        .await?;
    for i in 0..pipelines {
        sluice
            .create_pipeline(pipeline(&format!("p{i}")), vec![])
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..pipelines {
        let sluice = sluice.clone();
        tasks.push(tokio::spawn(async move {
            let pipe = format!("p{i}");
            drive(&sluice, &pipe, false).await?;
            let mut transitions = 0u64;
            while Instant::now() < deadline {
                drive(&sluice, &pipe, true).await?;
                transitions += STAGES as u64;
            }
            anyhow::Ok(transitions)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "in-process durable transitions/s {:>8.0}   ({pipelines} pipelines × {STAGES} stages, poll + acknowledge + result per transition, SQLite synchronous=FULL, group commit)",
        total as f64 / elapsed
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if total == 0 {
        bail!("no transition completed");
    }
    Ok(())
}

pub(crate) fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("sluice-bench-{name}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Packs and unpacks a generated source bundle of `megabytes` (half text, half incompressible)
/// and prints the throughput of each.
/// Writes `megabytes` of files (half text, half incompressible) under `src`.
pub(crate) fn write_bundle_files(src: &std::path::Path, megabytes: usize) -> Result<()> {
    std::fs::create_dir_all(src)?;
    let file_bytes = 1024 * 1024;
    let mut seed = 0x9e37_79b9_u32;
    for i in 0..megabytes {
        let body: Vec<u8> = if i % 2 == 0 {
            "fn main() { println!(\"hello, sluice\"); }\n"
                .bytes()
                .cycle()
                .take(file_bytes)
                .collect()
        } else {
            (0..file_bytes)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect()
        };
        std::fs::create_dir_all(src.join(format!("d{}", i / 32)))?;
        std::fs::write(src.join(format!("d{}/f{i}", i / 32)), body)?;
    }
    Ok(())
}

pub fn artifacts(megabytes: usize) -> Result<()> {
    let dir = tempfile_dir()?;
    let src = dir.join("src");
    write_bundle_files(&src, megabytes)?;
    let zip_path = dir.join("bundle.zip");
    let started = Instant::now();
    let packed = sluice_artifacts::pack_dir(&src, std::fs::File::create(&zip_path)?)?;
    let pack_secs = started.elapsed().as_secs_f64();
    let zipped = std::fs::metadata(&zip_path)?.len();
    let dest = dir.join("out");
    std::fs::create_dir_all(&dest)?;
    let started = Instant::now();
    let unpacked =
        sluice_artifacts::unpack(std::fs::File::open(&zip_path)?, &dest, &Default::default())?;
    let unpack_secs = started.elapsed().as_secs_f64();
    let mb = packed.bytes as f64 / (1024.0 * 1024.0);
    println!(
        "artifact pack    {:>7.1} MB/s   ({mb:.0} MB in {} files → {:.0} MB zip)",
        mb / pack_secs,
        packed.files,
        zipped as f64 / (1024.0 * 1024.0)
    );
    println!(
        "artifact unpack  {:>7.1} MB/s   ({} files, every entry checked)",
        mb / unpack_secs,
        unpacked.files
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The sandbox `sluice serve` uses by default, for a benchmark's own data dir `dir` (made
/// passable for the sandbox user), so benchmarks measure builds as they really run.
pub(crate) fn serve_sandbox(dir: &std::path::Path) -> Result<sluice_sandbox::Sandbox> {
    let sandbox = sluice_sandbox::Sandbox::new(sluice_sandbox::Options {
        mode: sluice_sandbox::Mode::Enforce,
        launcher: std::env::current_exe()?,
        user: if sluice_sandbox::running_as_root() {
            Some(sluice_sandbox::default_user()?)
        } else {
            None
        },
        read_paths: sluice_sandbox::DEFAULT_READ_PATHS
            .iter()
            .map(std::path::PathBuf::from)
            .collect(),
        ..sluice_sandbox::Options::unconfined()
    });
    sandbox.make_traversable(dir)?;
    Ok(sandbox)
}

/// `sluice bench sandbox`: what the sandbox costs a command. Runs `true` `runs` times through
/// the launcher (new session, limits, the sandbox user when root, Landlock) and as many times
/// unconfined, and prints the time per command of each.
pub async fn sandbox(runs: usize) -> Result<()> {
    let dir = tempfile_dir()?;
    let work = dir.join("work");
    std::fs::create_dir_all(&work)?;
    let enforced = serve_sandbox(&dir)?;
    enforced.probe(&work).await?;
    let unconfined = sluice_sandbox::Sandbox::unconfined();
    let jail = sluice_sandbox::Jail::under(&work, &work)?;
    enforced.hand_over(&work)?;
    for (name, sandbox) in [("sandboxed", &enforced), ("unconfined", &unconfined)] {
        let started = Instant::now();
        for _ in 0..runs {
            let status = sandbox.command("true", &jail).status().await?;
            anyhow::ensure!(status.success(), "true failed {name}: {status}");
        }
        let per = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!("{name:10} {runs} commands: {per:.2} ms per command");
    }
    Ok(())
}
