//! Function runtimes: each function process speaks the **Lambda Runtime API**
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`, `…/init/error`)
//! to a listener of its own on loopback, the protocol AWS's runtime clients speak. Python and
//! Node.js handlers run under Sluice's small runtime clients (`bootstrap/`); `provided.*`
//! functions run the bundle's own `bootstrap` (a Rust or Go function built for Lambda).
//!
//! Processes stay warm for a while and are reused for the same function revision, one
//! invocation at a time each; at most `max_busy` invocations run at once. Every process runs
//! through the `sandbox` (Landlock, the sandbox user, limits, its own process group), and a
//! timeout kills its whole group.

mod runtime_api;

use runtime_api::{Api, Pending};
use sluice_sandbox::{Jail, Sandbox};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::{oneshot, Semaphore};

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
/// What Sluice's runtime clients write to stdout and stderr after an invocation's output and
/// before its result: once the pool has read it on both, the log holds everything the
/// invocation wrote (a pipe's bytes can arrive after the result on the Runtime API).
const END_MARK: &[u8] = b"\x1esluice-invocation-end\n";
/// How long the pool waits for the marks once the result is in.
const LOG_SETTLE: Duration = Duration::from_secs(2);
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.js");

/// Why an invocation could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the function's runtime {0} is not supported by this Sluice server (python3.x, nodejs*, provided.al2, provided.al2023)")]
    Runtime(String),
    #[error("the function process could not start: {0}")]
    Spawn(String),
}

/// How the pool runs processes.
#[derive(Debug, Clone)]
pub struct Config {
    /// The interpreter of `python3.x` functions.
    pub python: PathBuf,
    /// The interpreter of `nodejs*` functions.
    pub node: PathBuf,
    /// Invocations running at once; more wait for a slot.
    pub max_busy: usize,
    /// Idle processes kept, across functions; the longest idle goes first.
    pub max_idle: usize,
    /// How long an idle process is kept warm.
    pub idle: Duration,
    /// Log bytes kept per invocation; the rest is counted and dropped.
    pub max_log_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            python: "python3".into(),
            node: "node".into(),
            max_busy: 8,
            max_idle: 16,
            idle: Duration::from_secs(300),
            max_log_bytes: 256 * 1024,
        }
    }
}

/// One function revision, as it runs.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Processes are reused only for the same key (the function and its code and
    /// configuration revision).
    pub key: String,
    pub runtime: String,
    pub handler: String,
    /// The unpacked code (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    pub timeout: Duration,
    pub function_arn: String,
    /// The environment: the function's own variables and AWS's (`AWS_LAMBDA_FUNCTION_NAME`,
    /// credentials, region, endpoint…). The runtime adds `_HANDLER`, `LAMBDA_TASK_ROOT` and
    /// `AWS_LAMBDA_RUNTIME_API`.
    pub environment: Vec<(String, String)>,
}

/// One invocation's input.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Deadline-Ms`: when the invocation times out, in ms since the epoch.
    pub deadline_ms: i64,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler's result.
    Response(Vec<u8>),
    /// The handler (or the runtime's start) failed: `errorType` kind and the error document.
    Error { kind: String, body: Vec<u8> },
    /// The timeout passed; the process group was killed.
    TimedOut,
    /// The process ended without answering.
    Exited(String),
}

/// What an invocation did.
#[derive(Debug, Clone)]
pub struct Invoked {
    pub outcome: Outcome,
    /// What the process wrote while it ran the invocation (stdout and stderr).
    pub log: String,
    /// Whether a new process was started for it.
    pub cold: bool,
    pub duration: Duration,
}

struct Process {
    key: String,
    child: tokio::process::Child,
    api: Arc<Api>,
    log: Arc<Mutex<Vec<u8>>>,
    /// End marks read so far, per stream, and a wake-up when one is.
    marks: Arc<(
        std::sync::atomic::AtomicU64,
        std::sync::atomic::AtomicU64,
        tokio::sync::Notify,
    )>,
    /// Whether the process writes end marks (Sluice's own runtime clients do).
    marked: bool,
    last_used: Instant,
    _server: AbortOnDrop,
    jail_root: PathBuf,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        kill_group(&self.child);
        let _ = std::fs::remove_dir_all(&self.jail_root);
    }
}

fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The warm processes of this server's functions.
pub struct Pool {
    sandbox: Sandbox,
    root: PathBuf,
    config: Config,
    idle: Mutex<Vec<Process>>,
    busy: Semaphore,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

enum Program {
    Interpreter(PathBuf, &'static str, &'static str),
    Bootstrap,
}

fn program(config: &Config, runtime: &str) -> Result<Program, Error> {
    if runtime.starts_with("python3") {
        Ok(Program::Interpreter(
            config.python.clone(),
            "bootstrap.py",
            PYTHON_BOOTSTRAP,
        ))
    } else if runtime.starts_with("nodejs") {
        Ok(Program::Interpreter(
            config.node.clone(),
            "bootstrap.js",
            NODE_BOOTSTRAP,
        ))
    } else if runtime == "provided.al2" || runtime == "provided.al2023" || runtime == "provided" {
        Ok(Program::Bootstrap)
    } else {
        Err(Error::Runtime(runtime.to_string()))
    }
}

impl Pool {
    /// A pool whose processes' directories live under `root` (in the work dir, never the data
    /// dir).
    pub fn new(sandbox: Sandbox, root: PathBuf, config: Config) -> Arc<Self> {
        Arc::new(Self {
            busy: Semaphore::new(config.max_busy.max(1)),
            sandbox,
            root,
            config,
            idle: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Process>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the idle processes of keys starting with `prefix` (a function updated or deleted).
    pub fn forget(&self, prefix: &str) {
        self.idle().retain(|p| !p.key.starts_with(prefix));
    }

    /// Ends processes idle for longer than the configured time.
    pub fn reap(&self) {
        let idle = self.config.idle;
        self.idle().retain(|p| p.last_used.elapsed() < idle);
    }

    /// Runs one invocation on a warm process of the spec's key, or a new one.
    pub async fn invoke(
        &self,
        spec: &FunctionSpec,
        invocation: Invocation,
    ) -> Result<Invoked, Error> {
        let _slot = self
            .busy
            .acquire()
            .await
            .map_err(|_| Error::Spawn("the pool is closed".into()))?;
        let started = Instant::now();
        let warm = {
            let mut idle = self.idle();
            let position = idle.iter().rposition(|p| p.key == spec.key);
            position.map(|i| idle.remove(i))
        };
        let warm = warm.and_then(|mut p| matches!(p.child.try_wait(), Ok(None)).then_some(p));
        let (mut process, cold) = match warm {
            Some(p) => (p, false),
            None => (self.spawn(spec).await?, true),
        };
        let log_start = process.log.lock().map(|l| l.len()).unwrap_or(0);
        let marks_before = process.marks_seen();
        let (reply, answer) = oneshot::channel();
        let request_id = invocation.request_id.clone();
        process.api.offer(Pending { invocation, reply });
        let mut answered_by_runtime = false;
        let outcome = tokio::select! {
            answered = answer => {
                answered_by_runtime = answered.is_ok();
                answered.unwrap_or(Outcome::Exited("the runtime dropped the invocation".into()))
            }
            status = process.child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                // An init error arrives just before the process exits.
                process.api.init_error().unwrap_or(Outcome::Exited(format!("the function process exited ({status}) before answering")))
            }
            _ = tokio::time::sleep(spec.timeout) => Outcome::TimedOut,
        };
        if process.marked && answered_by_runtime {
            // Wait, without a fixed sleep, for the output written before the result.
            let marks = process.marks.clone();
            let settled = async {
                loop {
                    let notified = marks.2.notified();
                    let (out, err) = process.marks_seen();
                    if out > marks_before.0 && err > marks_before.1 {
                        return;
                    }
                    notified.await;
                }
            };
            let _ = tokio::time::timeout(LOG_SETTLE, settled).await;
        }
        let log = {
            let log = process.log.lock().map(|l| l.clone()).unwrap_or_default();
            let end = log.len().min(log_start + self.config.max_log_bytes);
            String::from_utf8_lossy(log.get(log_start..end).unwrap_or_default()).into_owned()
        };
        let reusable = matches!(outcome, Outcome::Response(_) | Outcome::Error { .. })
            && matches!(process.child.try_wait(), Ok(None));
        if reusable {
            process.api.finish(&request_id);
            process.last_used = Instant::now();
            let mut idle = self.idle();
            idle.push(process);
            if idle.len() > self.config.max_idle {
                idle.remove(0);
            }
        }
        Ok(Invoked {
            outcome,
            log,
            cold,
            duration: started.elapsed(),
        })
    }

    async fn spawn(&self, spec: &FunctionSpec) -> Result<Process, Error> {
        let spawn_error =
            |what: &str, e: &dyn std::fmt::Display| Error::Spawn(format!("{what}: {e}"));
        let program = program(&self.config, &spec.runtime)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let jail_root = self.root.join(format!("p{id}-{}", std::process::id()));
        let jail = Jail {
            workdir: spec.code_dir.clone(),
            writable: vec![jail_root.clone(), spec.code_dir.clone()],
            home: jail_root.join("home"),
            tmp: jail_root.join("tmp"),
        };
        for dir in [&jail.home, &jail.tmp] {
            std::fs::create_dir_all(dir).map_err(|e| spawn_error("making its directories", &e))?;
        }
        let (api, port, server) = runtime_api::serve()
            .await
            .map_err(|e| spawn_error("listening for its runtime", &e))?;
        let mut command = match &program {
            Program::Interpreter(interpreter, file, text) => {
                let path = jail_root.join(file);
                std::fs::write(&path, text)
                    .map_err(|e| spawn_error("writing its runtime client", &e))?;
                let mut c = self.sandbox.command(interpreter, &jail);
                c.arg(path);
                c
            }
            Program::Bootstrap => self.sandbox.command(spec.code_dir.join("bootstrap"), &jail),
        };
        self.sandbox
            .hand_over(&jail_root)
            .map_err(|e| spawn_error("handing its directory to the sandbox user", &e))?;
        command
            .envs(
                spec.environment
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env("_HANDLER", &spec.handler)
            .env("LAMBDA_TASK_ROOT", &spec.code_dir)
            .env("LAMBDA_RUNTIME_DIR", &jail_root)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let mut child = command
            .spawn()
            .map_err(|e| spawn_error("starting it", &e))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let marks = Arc::new((
            std::sync::atomic::AtomicU64::new(0),
            std::sync::atomic::AtomicU64::new(0),
            tokio::sync::Notify::new(),
        ));
        let cap = self.config.max_log_bytes * 4;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, log.clone(), cap, marks.clone(), true));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, log.clone(), cap, marks.clone(), false));
        }
        Ok(Process {
            key: spec.key.clone(),
            child,
            api,
            log,
            marks,
            marked: matches!(program, Program::Interpreter(..)),
            last_used: Instant::now(),
            _server: AbortOnDrop(server),
            jail_root,
        })
    }
}

impl Process {
    /// End marks read on (stdout, stderr).
    fn marks_seen(&self) -> (u64, u64) {
        (
            self.marks.0.load(Ordering::Acquire),
            self.marks.1.load(Ordering::Acquire),
        )
    }
}

/// Appends what a process writes to its log, keeping the newest `cap` bytes; end marks are
/// counted (on stdout's counter or stderr's) and left out.
async fn collect(
    mut from: impl tokio::io::AsyncRead + Unpin,
    log: Arc<Mutex<Vec<u8>>>,
    cap: usize,
    marks: Arc<(
        std::sync::atomic::AtomicU64,
        std::sync::atomic::AtomicU64,
        tokio::sync::Notify,
    )>,
    stdout: bool,
) {
    let mut buf = [0u8; 8192];
    // Bytes read but not yet logged: a mark may arrive split across reads.
    let mut pending: Vec<u8> = Vec::new();
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let mut found = 0;
        while let Some(at) = pending.windows(END_MARK.len()).position(|w| w == END_MARK) {
            pending.drain(at..at + END_MARK.len());
            found += 1;
        }
        // Keep back what could be the start of a mark.
        let keep = (1..END_MARK.len())
            .rev()
            .find(|k| pending.len() >= *k && pending.ends_with(&END_MARK[..*k]))
            .unwrap_or(0);
        let ready: Vec<u8> = pending.drain(..pending.len() - keep).collect();
        if let Ok(mut log) = log.lock() {
            if log.len() + ready.len() > cap {
                // Old output of earlier invocations goes; the current one's stays.
                let drop = (log.len() + ready.len() - cap).min(log.len());
                log.drain(..drop);
            }
            log.extend_from_slice(&ready);
        }
        if found > 0 {
            let counter = if stdout { &marks.0 } else { &marks.1 };
            counter.fetch_add(found, Ordering::AcqRel);
            marks.2.notify_waiters();
        }
    }
}

/// Where the pool keeps its processes' directories.
pub fn pool_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("functions")
}
