//! Running untrusted code: the one place that starts a process a pipeline author controls
//! (build commands, CodeBuild phases, and later deploy hooks and functions).
//!
//! A sandboxed command is not started directly. The server starts its own binary as a
//! *launcher* (`sluice sandbox-exec -- PROGRAM ARGS…`, see [`launch`]) with a [`Spec`] in the
//! environment; the launcher, a fresh single-threaded process, makes itself the leader of a new
//! session, applies resource limits, drops to the sandbox user when the server runs as root,
//! confines itself with Landlock (read only system paths, write only the job's own
//! directories, no signals or abstract sockets out of the sandbox, no TCP when the network is
//! off; `no_new_privs` comes with it) and only then executes the program. Doing this in a
//! launcher rather than between `fork` and `exec` keeps the code safe Rust: nothing runs in a
//! forked copy of a multi-threaded server.
//!
//! If the kernel cannot enforce all of it, the launcher refuses to run the program (exit
//! status [`REFUSED_STATUS`]) and says why; the server finds out once at start with
//! [`Sandbox::probe`] and refuses builds with that message unless the operator chose
//! [`Mode::None`] explicitly.

mod launcher;

pub use launcher::{launch, SPEC_ENV};

use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

/// The exit status of a launcher that refused to run its program.
pub const REFUSED_STATUS: i32 = 126;

/// The argument that turns the binary into the launcher.
pub const LAUNCHER_ARG: &str = "sandbox-exec";

/// What can go wrong preparing or checking the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the sandbox is unavailable: {0}")]
    Unavailable(String),
}

/// Whether user code is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every user process runs through the launcher; without kernel support, nothing runs.
    Enforce,
    /// User processes run as the server's user with only a clean environment and their own
    /// process group. Chosen explicitly by the operator and logged loudly at start.
    None,
}

/// A numeric user and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Per-process resource limits (`setrlimit`); `None` leaves the server's own limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Processes of the sandbox user (`RLIMIT_NPROC`): a fork bomb stops here.
    pub max_processes: Option<u64>,
    pub max_open_files: Option<u64>,
    /// CPU seconds of each process (`RLIMIT_CPU`).
    pub max_cpu_secs: Option<u64>,
    /// The largest file a process may write (`RLIMIT_FSIZE`).
    pub max_file_bytes: Option<u64>,
    /// Address space of each process (`RLIMIT_AS`).
    pub max_memory_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_processes: Some(1024),
            max_open_files: Some(4096),
            max_cpu_secs: Some(4 * 3600),
            max_file_bytes: Some(16 << 30),
            max_memory_bytes: Some(16 << 30),
        }
    }
}

/// The system paths a sandboxed process may read and execute by default.
pub const DEFAULT_READ_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/sys",
];

/// Device files a sandboxed process may read and write.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// The `PATH` a sandboxed process gets by default: a build image's, not the server's.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the sandbox is set up on this server.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// The binary that acts as the launcher (the server's own `sluice`).
    pub launcher: PathBuf,
    /// The user sandboxed processes run as, when the server runs as root.
    pub user: Option<Ids>,
    /// Whether sandboxed processes may open TCP connections.
    pub network: bool,
    pub limits: Limits,
    /// Readable and executable paths (system paths; never a parent of the data dir).
    pub read_paths: Vec<PathBuf>,
    /// `PATH` inside the sandbox.
    pub path: String,
    /// A job's log keeps at most this many bytes; the rest is counted and dropped.
    pub max_log_bytes: u64,
}

impl Options {
    /// Sandboxing off: only a clean environment and a process group. For unit tests of what
    /// runs inside, and for servers whose operator chose `mode = "none"`.
    pub fn unconfined() -> Self {
        Self {
            mode: Mode::None,
            launcher: PathBuf::new(),
            user: None,
            network: true,
            limits: Limits::default(),
            read_paths: Vec::new(),
            path: DEFAULT_PATH.into(),
            max_log_bytes: 64 << 20,
        }
    }
}

/// What the launcher applies to itself before it executes the program; travels as JSON in
/// [`SPEC_ENV`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    pub devices: Vec<PathBuf>,
    pub user: Option<Ids>,
    pub network: bool,
    pub limits: Limits,
}

/// One job's directories: where it starts, what it may write, its own home and temp dir.
#[derive(Debug, Clone)]
pub struct Jail {
    pub workdir: PathBuf,
    /// Directories the job may write (and read); `home` and `tmp` are added.
    pub writable: Vec<PathBuf>,
    pub home: PathBuf,
    pub tmp: PathBuf,
}

impl Jail {
    /// A jail of one directory `root` with `root/home` and `root/tmp` made inside it.
    pub fn under(root: &Path, workdir: &Path) -> std::io::Result<Self> {
        let jail = Self {
            workdir: workdir.to_path_buf(),
            writable: vec![root.to_path_buf()],
            home: root.join("home"),
            tmp: root.join("tmp"),
        };
        std::fs::create_dir_all(&jail.home)?;
        std::fs::create_dir_all(&jail.tmp)?;
        Ok(jail)
    }
}

/// What one run of a server tool on user data (git on a pushed or fetched repository) may
/// touch. Such a tool runs as the server's own user, because the repositories are the
/// server's files; Landlock alone confines it to these paths, so a flaw in the tool met by a
/// hostile pack or remote reaches no key, database or other repository.
#[derive(Debug, Clone, Default)]
pub struct ToolAccess {
    pub workdir: PathBuf,
    /// Readable paths besides the system's.
    pub read: Vec<PathBuf>,
    /// Readable and writable paths.
    pub write: Vec<PathBuf>,
    /// Whether it may open TCP connections (a fetch from a remote).
    pub network: bool,
}

/// The sandbox of one server; cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    options: Arc<Options>,
}

impl Sandbox {
    pub fn new(options: Options) -> Self {
        Self {
            options: Arc::new(options),
        }
    }

    pub fn unconfined() -> Self {
        Self::new(Options::unconfined())
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn max_log_bytes(&self) -> u64 {
        self.options.max_log_bytes
    }

    fn spec(&self, jail: &Jail) -> Spec {
        let mut write = jail.writable.clone();
        write.push(jail.home.clone());
        write.push(jail.tmp.clone());
        Spec {
            read: self.options.read_paths.clone(),
            write,
            devices: DEVICES.iter().map(PathBuf::from).collect(),
            user: self.options.user,
            network: self.options.network,
            limits: self.options.limits.clone(),
        }
    }

    /// A command that runs `program` in the jail with a clean environment (`PATH`, `HOME`,
    /// `TMPDIR`, `LANG` only; the caller adds the action's own variables), stdin from
    /// `/dev/null`, stdout and stderr piped, killed when dropped. Its process id is also its
    /// process group id, so the whole group can be killed.
    pub fn command(&self, program: impl AsRef<OsStr>, jail: &Jail) -> tokio::process::Command {
        let mut cmd = self.confined(program, &self.spec(jail), &jail.workdir, &jail.home);
        cmd.env("TMPDIR", &jail.tmp);
        cmd
    }

    /// A command that runs the server's tool `program` (git) as the server's own user,
    /// confined to `access` by Landlock, in its own session, with the resource limits of jobs
    /// and a clean environment (`PATH`, `LANG`, and a `HOME` that does not exist, so no
    /// user's configuration is read). stdin from `/dev/null`, stdout and stderr piped, killed
    /// when dropped. `/proc` and `/sys` are not readable: the tool shares the server's uid, and
    /// the server's `/proc` entries hold its environment.
    pub fn tool_command(
        &self,
        program: impl AsRef<OsStr>,
        access: &ToolAccess,
    ) -> tokio::process::Command {
        let read = self
            .options
            .read_paths
            .iter()
            .filter(|p| !p.starts_with("/proc") && !p.starts_with("/sys"))
            .chain(&access.read)
            .cloned()
            .collect();
        let spec = Spec {
            read,
            write: access.write.clone(),
            devices: DEVICES.iter().map(PathBuf::from).collect(),
            user: None,
            network: access.network,
            limits: self.options.limits.clone(),
        };
        self.confined(program, &spec, &access.workdir, Path::new("/nonexistent"))
    }

    /// `program` started through the launcher with `spec`, or, for `Mode::None`, directly in
    /// its own process group; either way in `workdir` with only `PATH`, `HOME` and `LANG` set,
    /// stdin from `/dev/null`, stdout and stderr piped, killed when dropped.
    fn confined(
        &self,
        program: impl AsRef<OsStr>,
        spec: &Spec,
        workdir: &Path,
        home: &Path,
    ) -> tokio::process::Command {
        let mut cmd = match self.options.mode {
            Mode::Enforce => {
                let spec =
                    serde_json::to_string(spec).expect("a spec of paths and numbers serializes");
                let mut cmd = tokio::process::Command::new(&self.options.launcher);
                cmd.arg(LAUNCHER_ARG).arg("--").arg(program);
                cmd.env_clear().env(SPEC_ENV, spec);
                cmd
            }
            Mode::None => {
                let mut cmd = tokio::process::Command::new(program);
                cmd.env_clear().process_group(0);
                cmd
            }
        };
        cmd.current_dir(workdir)
            .env("PATH", &self.options.path)
            .env("HOME", home)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Gives `dir` and everything under it to the sandbox user (when there is one), so the
    /// job can write what the server unpacked for it. Symbolic links are not followed.
    pub fn hand_over(&self, dir: &Path) -> std::io::Result<()> {
        match (self.options.mode, self.options.user) {
            (Mode::Enforce, Some(ids)) => chown_tree(dir, ids),
            _ => Ok(()),
        }
    }

    /// Lets the sandbox user pass through `dir` to what it was handed below it (mode 0711: it
    /// can neither list nor read what else is there; Landlock refuses it anyway). A no-op when
    /// jobs run as the server's own user.
    pub fn make_traversable(&self, dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        match (self.options.mode, self.options.user) {
            (Mode::Enforce, Some(_)) => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            }
            _ => Ok(()),
        }
    }

    /// Runs a small program in a fresh jail under `work_dir` exactly as a job would, and says
    /// why the sandbox cannot work here if it cannot. `Ok` for `Mode::None`.
    pub async fn probe(&self, work_dir: &Path) -> Result<(), Error> {
        if self.options.mode == Mode::None {
            return Ok(());
        }
        // Another user's directory (or a link planted in /var/tmp) would see every workspace.
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(work_dir)?;
        if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
            return Err(Error::Unavailable(format!(
                "the work dir {} is not a directory of this server's user",
                work_dir.display()
            )));
        }
        let root = work_dir.join(format!(".probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        self.make_traversable(work_dir)?;
        let result = self.probe_in(&root).await;
        let _ = std::fs::remove_dir_all(&root);
        result
    }

    async fn probe_in(&self, root: &Path) -> Result<(), Error> {
        let jail = Jail::under(root, root)?;
        self.hand_over(root)?;
        let mut cmd = self.command("/bin/sh", &jail);
        cmd.args(["-c", "echo ok > \"$HOME/probe\""]);
        let out = cmd
            .output()
            .await
            .map_err(|e| Error::Unavailable(format!("the launcher could not be started: {e}")))?;
        let wrote = std::fs::read_to_string(jail.home.join("probe")).unwrap_or_default();
        if out.status.success() && wrote.trim() == "ok" {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(Error::Unavailable(if said.is_empty() {
            format!(
                "a test command in {} ended with {} without writing its home directory (are the directories above it searchable by the sandbox user?)",
                root.display(),
                out.status
            )
        } else {
            said
        }))
    }
}

fn chown_tree(path: &Path, ids: Ids) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(ids.uid), Some(ids.gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), ids)?;
        }
    }
    Ok(())
}

/// The user and group of `name` in the system's user database, or `uid:gid` given as numbers.
pub fn lookup_user(name: &str) -> Result<Ids, Error> {
    if let Some((uid, gid)) = name.split_once(':') {
        if let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse()) {
            return Ok(Ids { uid, gid });
        }
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(user)) => Ok(Ids {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }),
        Ok(None) => Err(Error::Unavailable(format!(
            "there is no user named {name} on this machine"
        ))),
        Err(e) => Err(Error::Unavailable(format!(
            "the user {name} could not be looked up: {e}"
        ))),
    }
}

/// Whether this process runs as root (and so must not run user code as itself).
pub fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The user a root server runs jobs as when none is configured: `sluice-sandbox` if the
/// machine has it, else `nobody`.
pub fn default_user() -> Result<Ids, Error> {
    lookup_user("sluice-sandbox").or_else(|_| lookup_user("nobody"))
}
