//! One child process in its own process group, its output copied line by line into the job's
//! log, killed with its whole group at the deadline (and after it exits, so nothing it started
//! in the background outlives the job). Only `PATH`, `HOME`, `LANG` and `TMPDIR` are inherited
//! from the environment of the process that runs jobs; its secrets stay there.

use crate::log::JobLog;
use crate::{Error, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;
use tokio::io::AsyncReadExt;

/// A line longer than this is cut into pieces of this size (a line without a newline must not
/// grow a buffer without bound).
const MAX_LINE_BYTES: usize = 64 * 1024;

const INHERITED: [&str; 4] = ["PATH", "HOME", "LANG", "TMPDIR"];

/// How a child ended.
#[derive(Debug)]
pub enum Exit {
    Finished(ExitStatus),
    TimedOut,
}

/// The variables a job's process inherits from the environment of the process running it.
pub fn inherited_env() -> Vec<(&'static str, std::ffi::OsString)> {
    INHERITED
        .iter()
        .filter_map(|name| Some((*name, std::env::var_os(name)?)))
        .collect()
}

/// A command for `program` in `dir` with a clean environment and its own process group: the
/// standalone worker's own command, chosen by whoever runs the worker, and a deployment's hook
/// scripts, which `sluice agent` runs on the host they deploy to (user code of pipelines on the
/// server goes through `sluice_sandbox`).
pub fn operator_command(program: &str, dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd.envs(inherited_env());
    cmd
}

pub async fn run(
    mut cmd: tokio::process::Command,
    deadline: Instant,
    log: &JobLog,
) -> Result<Exit> {
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Failed(format!("the command could not be started: {e}")))?;
    let group = child.id().map(|id| Pid::from_raw(id as i32));
    // Dropped (the job was stopped or abandoned) or finished, the whole group goes.
    let _guard = group.map(GroupGuard);
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(copy_lines(out, log.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(copy_lines(err, log.clone())));
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let waited = tokio::time::timeout(remaining, child.wait()).await;
    if let Some(pid) = group {
        kill_group(pid).await;
    }
    let exit = match waited {
        Ok(status) => Exit::Finished(status?),
        Err(_) => {
            let _ = child.wait().await;
            Exit::TimedOut
        }
    };
    for r in readers {
        let _ = r.await;
    }
    Ok(exit)
}

/// Copies `stream` into the log line by line, flushing once per read. Reads go on after the
/// log is full, so the process never blocks on a full pipe.
/// Kills every process of the group, again while any is left: a process forking as fast as
/// it can (a fork bomb) may add members while the first kill is delivered.
pub async fn kill_group(group: Pid) {
    for _ in 0..KILL_ROUNDS {
        if killpg(group, Signal::SIGKILL).is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    tracing::warn!(
        group = group.as_raw(),
        "processes of a job's group survived {KILL_ROUNDS} kills"
    );
}

/// Kills a process group when dropped: a job whose future is dropped (stopped, abandoned)
/// leaves nothing running.
struct GroupGuard(Pid);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        for _ in 0..KILL_ROUNDS {
            if killpg(self.0, Signal::SIGKILL).is_err() {
                return;
            }
            std::thread::yield_now();
        }
    }
}

/// How often `kill_group` tries before it gives up.
const KILL_ROUNDS: usize = 1000;

async fn copy_lines(mut stream: impl tokio::io::AsyncRead + Unpin, log: JobLog) {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let read = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if log.is_full() {
            // Nothing more is kept: count it without looking for lines.
            log.drop_bytes(read as u64 + pending.len() as u64);
            pending.clear();
            continue;
        }
        pending.extend_from_slice(&chunk[..read]);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|b| *b == b'\n') {
            log.line(&String::from_utf8_lossy(&pending[start..start + end]));
            start += end + 1;
        }
        pending.drain(..start);
        while pending.len() >= MAX_LINE_BYTES {
            let rest = pending.split_off(MAX_LINE_BYTES);
            log.line(&String::from_utf8_lossy(&pending));
            pending = rest;
        }
        log.flush();
    }
    if !pending.is_empty() {
        log.line(&String::from_utf8_lossy(&pending));
    }
    log.flush();
}
