//! `cargo xtask test`: the whole test suite — every Rust test, the end-to-end tests again on
//! PostgreSQL (at `SLUICE_TEST_POSTGRES_URL`, default this machine's own), then the conformance
//! suite with the real aws CLI and boto3 from PyPI (installed into `.venv` from
//! `conformance/requirements.txt`), on SQLite and again on PostgreSQL.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs one step of the suite and says how long it took (CI's budget is spent here).
fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let started = Instant::now();
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    eprintln!("({:.0} s)", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

pub fn run_all(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo)
        .current_dir(root)
        .args(["test", "--workspace", "--locked"]))?;
    // The end-to-end tests again with every test server's state in PostgreSQL (the store
    // conformance suite already ran on both backends above).
    run(Command::new(&cargo)
        .current_dir(root)
        .env("SLUICE_TEST_BACKEND", "postgres")
        .args(["test", "--locked", "-p", "sluice", "--test", "it"]))?;
    // The conformance suite starts the binary the Rust tests just built.
    run(Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--locked", "--bin", "sluice"]))?;
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(root.join("conformance/requirements.txt")))?;
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new(&python)
        .current_dir(root)
        .env("PATH", &path)
        .env("SLUICE_BIN", root.join("target/debug/sluice"))
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "conformance",
        ]))?;
    // Again with every server's state in PostgreSQL (a database of its own per server).
    let postgres = std::env::var("SLUICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into());
    run(Command::new(&python)
        .current_dir(root)
        .env("PATH", &path)
        .env("SLUICE_BIN", root.join("target/debug/sluice"))
        .env("SLUICE_CONFORMANCE_POSTGRES", postgres)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "conformance",
        ]))?;
    // A peer's suite: moto's CodePipeline tests, pinned, against a fresh server per test.
    run(Command::new(&python)
        .current_dir(root)
        .env("PATH", &path)
        .env("SLUICE_BIN", root.join("target/debug/sluice"))
        .arg(root.join("conformance/peer/run_moto.py")))
}
