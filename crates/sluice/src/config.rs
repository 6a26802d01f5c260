//! `sluice serve` options: flags, then `SLUICE_*` environment variables, then the TOML config
//! file, then the defaults below. `docs/config.md` documents each field.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use sluice_model::Limits;
use std::path::PathBuf;

/// The address `sluice serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8240";
/// Where state lives by default, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./sluice-data";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT_ID: &str = "111111111111";

/// Flags of `sluice serve`; each may also come from the environment.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8240].
    #[arg(long, env = "SLUICE_LISTEN")]
    listen: Option<String>,
    /// Directory holding the database, credentials and artifacts [default: ./sluice-data].
    #[arg(long, env = "SLUICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Region named in ARNs [default: us-east-1].
    #[arg(long, env = "SLUICE_REGION")]
    region: Option<String>,
    /// Twelve-digit account id named in ARNs [default: 111111111111].
    #[arg(long, env = "SLUICE_ACCOUNT_ID")]
    account_id: Option<String>,
    /// PostgreSQL to keep state in (postgres://USER@HOST:PORT/DB) instead of SQLite in the
    /// data dir.
    #[arg(long, env = "SLUICE_DATABASE_URL")]
    database_url: Option<String>,
    /// A TOML file with any of the keys listen, data_dir, region, account_id.
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "SLUICE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "SLUICE_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

/// The config file's keys, all optional.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    /// The address clients use to reach the server (webhook URLs); default `http://LISTEN`.
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    /// PostgreSQL instead of SQLite in the data dir.
    database_url: Option<String>,
    region: Option<String>,
    account_id: Option<String>,
    /// HTTPS: the certificate chain and its key (PEM files).
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    jobs: JobsConfig,
    #[serde(default)]
    providers: ProvidersConfig,
    #[serde(default)]
    sources: SourcesConfig,
    #[serde(default)]
    codebuild: CodeBuildConfig,
    #[serde(default)]
    blobs: BlobsConfig,
    #[serde(default)]
    sandbox: SandboxConfig,
    #[serde(default)]
    git: GitConfig,
    #[serde(default)]
    deploy: DeployConfig,
    #[serde(default)]
    functions: FunctionsConfig,
    #[serde(default)]
    notifications: NotificationsConfig,
    #[serde(default)]
    console: ConsoleConfig,
    #[serde(default)]
    replicas: ReplicasConfig,
    #[serde(default)]
    audit: AuditConfig,
    #[serde(default)]
    executions: ExecutionsConfig,
}

/// The `[executions]` table: how long execution history is kept.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ExecutionsConfig {
    /// Executions that ended are forgotten this many days after (default 365, as
    /// CodePipeline's 12 months; 0 keeps them forever). A pipeline's newest is always kept.
    retain_days: Option<i64>,
}

/// The `[audit]` table: how long the audit trail keeps events.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct AuditConfig {
    /// Events are pruned this many days after they were written (default 90, as CloudTrail's
    /// event history; 0 keeps them forever). The chain stays verifiable from a checkpoint.
    retain_days: Option<i64>,
}

/// The `[console]` table: the web console.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ConsoleConfig {
    /// Every pipeline's status badge and `cc.xml` entry are public (default: only pipelines
    /// tagged `sluice:badge` = `public`).
    public_badges: Option<bool>,
}

/// The `[notifications]` table: SNS email delivery.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct NotificationsConfig {
    /// The SMTP relay (`host:port`) email subscriptions are sent through; none: email
    /// subscriptions are refused.
    smtp_relay: Option<String>,
    /// The sender address.
    smtp_from: Option<String>,
    /// Undelivered messages are forgotten this many days after their last attempt (default 14).
    retain_undelivered_days: Option<i64>,
}

/// The `[functions]` table: how Lambda functions run.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FunctionsConfig {
    /// The interpreter of `python3.x` functions (default `python3` on the sandbox's `PATH`).
    python: Option<PathBuf>,
    /// The interpreter of `nodejs*` functions (default `node`).
    node: Option<PathBuf>,
    /// Invocations running at once (default 8).
    max_concurrent: Option<usize>,
    /// How long an idle function process is kept warm (seconds; default 300).
    idle_secs: Option<u64>,
}

/// The `[deploy]` table: CodeDeploy deployments to hosts running `sluice agent`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct DeployConfig {
    /// A host holding a deployment's command that is not heard from for this long fails its
    /// lifecycle event (seconds; default 300).
    host_lease_secs: Option<i64>,
}

/// The `[git] table`: hosted repositories.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct GitConfig {
    /// The largest pack one push may send (bytes; default 1 GiB).
    max_push_bytes: Option<u64>,
}

/// The `[sandbox]` table: how build commands are confined (see docs/security.md).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct SandboxConfig {
    /// `enforce` (the default) or `none` (builds run unconfined as the server's user).
    mode: Option<sluice_sandbox::Mode>,
    /// The user builds run as when the server runs as root: a name or `uid:gid`; default
    /// `sluice-sandbox` if the machine has it, else `nobody`.
    user: Option<String>,
    /// Whether builds may open TCP connections (default true).
    network: Option<bool>,
    /// Paths builds may read and execute, instead of the system paths.
    read_paths: Option<Vec<PathBuf>>,
    /// `PATH` inside the sandbox.
    path: Option<String>,
    max_processes: Option<u64>,
    max_open_files: Option<u64>,
    max_cpu_secs: Option<u64>,
    max_file_bytes: Option<u64>,
    max_memory_bytes: Option<u64>,
    /// A job's log keeps at most this many bytes (default 64 MiB).
    max_log_bytes: Option<u64>,
    /// Where job workspaces are made (default: `DATA_DIR/work`, see `work_dir`).
    work_dir: Option<PathBuf>,
}

impl SandboxConfig {
    /// `0` turns a limit off.
    fn limit(value: Option<u64>, default: Option<u64>) -> Option<u64> {
        match value {
            Some(0) => None,
            Some(v) => Some(v),
            None => default,
        }
    }

    fn resolve(self, data_dir: &std::path::Path) -> Result<sluice_sandbox::Options> {
        let defaults = sluice_sandbox::Limits::default();
        let mode = self.mode.unwrap_or(sluice_sandbox::Mode::Enforce);
        let user = match (&self.user, sluice_sandbox::running_as_root()) {
            (Some(name), _) => Some(sluice_sandbox::lookup_user(name)?),
            (None, true) => Some(sluice_sandbox::default_user()?),
            (None, false) => None,
        };
        if user.is_some_and(|ids| ids.uid == 0) {
            bail!("[sandbox] user must not be root");
        }
        let read_paths: Vec<PathBuf> = match self.read_paths {
            Some(paths) => paths.into_iter().map(absolute).collect::<Result<_>>()?,
            None => sluice_sandbox::DEFAULT_READ_PATHS
                .iter()
                .map(PathBuf::from)
                .collect(),
        };
        let real_data_dir = data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf());
        for path in &read_paths {
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            if real_data_dir.starts_with(&real) {
                bail!(
                    "[sandbox] read_paths: {} contains the data dir {}; builds could read the keys and the database (move the data dir or name narrower paths)",
                    path.display(),
                    data_dir.display()
                );
            }
        }
        Ok(sluice_sandbox::Options {
            mode,
            launcher: std::env::current_exe()
                .context("finding this binary (the sandbox launcher)")?,
            user,
            network: self.network.unwrap_or(true),
            limits: sluice_sandbox::Limits {
                max_processes: Self::limit(self.max_processes, defaults.max_processes),
                max_open_files: Self::limit(self.max_open_files, defaults.max_open_files),
                max_cpu_secs: Self::limit(self.max_cpu_secs, defaults.max_cpu_secs),
                max_file_bytes: Self::limit(self.max_file_bytes, defaults.max_file_bytes),
                max_memory_bytes: Self::limit(self.max_memory_bytes, defaults.max_memory_bytes),
            },
            read_paths,
            path: self
                .path
                .unwrap_or_else(|| sluice_sandbox::DEFAULT_PATH.into()),
            max_log_bytes: self.max_log_bytes.unwrap_or(64 << 20).max(1024),
        })
    }
}

/// `path` made absolute against the working directory, so that nothing depends on where a
/// later step happens to be (git and the shell state once did).
pub fn absolute(path: PathBuf) -> Result<PathBuf> {
    std::path::absolute(&path).with_context(|| format!("making {} absolute", path.display()))
}

/// Where object and artifact bytes live: the data dir unless an S3-compatible store is named.
/// Its keys come from `SLUICE_BLOBS_ACCESS_KEY_ID` / `SLUICE_BLOBS_SECRET_ACCESS_KEY`, never the file.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct BlobsConfig {
    s3_endpoint: Option<String>,
    s3_bucket: Option<String>,
    s3_region: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ProvidersConfig {
    /// `false` leaves every AWS-owned job to fail with "no provider" (a server of workers only).
    enabled: Option<bool>,
    max_concurrent_jobs: Option<usize>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct SourcesConfig {
    github_base_url: Option<String>,
    poll_interval_secs: Option<u64>,
    /// An S3-compatible endpoint for S3 sources whose bucket is not this server's; keys from
    /// `SLUICE_SOURCES_S3_ACCESS_KEY_ID` / `SLUICE_SOURCES_S3_SECRET_ACCESS_KEY`.
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct CodeBuildConfig {
    #[serde(default)]
    projects: std::collections::BTreeMap<String, sluice_worker::runners::Project>,
}

/// The built-in providers' settings.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub enabled: bool,
    pub max_concurrent_jobs: usize,
    pub github_base_url: String,
    pub poll_interval_secs: u64,
    pub external_s3: Option<sluice_artifacts::S3BlobConfig>,
    pub projects: std::collections::BTreeMap<String, sluice_worker::runners::Project>,
}

/// The `[jobs]` table: timeouts of the job protocol.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct JobsConfig {
    /// A job with no result after this long fails its action (an action's `timeoutInMinutes` wins).
    job_timeout_secs: Option<i64>,
    /// An approval with no answer after this long fails (an action's `timeoutInMinutes` wins).
    approval_timeout_secs: Option<i64>,
    /// A polled job not acknowledged after this long goes to the next poller.
    dispatch_lease_secs: Option<i64>,
    /// Finished jobs are forgotten this many days after they ended (default 30).
    retain_finished_days: Option<i64>,
    /// A built-in job whose server stops renewing its lease (it died) is run by another
    /// server after this long (default 30).
    lease_secs: Option<i64>,
}

/// The `[replicas]` table: servers that share a PostgreSQL database.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ReplicasConfig {
    /// When the leading server stops renewing its lease (it died), another leads after this
    /// long (default 15).
    leader_lease_secs: Option<i64>,
}

/// Resolved `[jobs]` settings.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub engine: sluice_service::EngineOptions,
    pub dispatch_lease_ms: i64,
    pub retention_ms: i64,
    pub lease_ms: i64,
}

impl JobsConfig {
    fn resolve(self) -> JobSettings {
        let d = sluice_service::EngineOptions::default();
        JobSettings {
            engine: sluice_service::EngineOptions {
                job_timeout_ms: self.job_timeout_secs.map_or(d.job_timeout_ms, |s| s * 1000),
                approval_timeout_ms: self
                    .approval_timeout_secs
                    .map_or(d.approval_timeout_ms, |s| s * 1000),
            },
            dispatch_lease_ms: self
                .dispatch_lease_secs
                .map_or(sluice_service::DEFAULT_DISPATCH_LEASE_MS, |s| s * 1000),
            retention_ms: self
                .retain_finished_days
                .map_or(sluice_service::DEFAULT_JOB_RETENTION_MS, |d| {
                    d.max(1) * 24 * 3600 * 1000
                }),
            lease_ms: self
                .lease_secs
                .map_or(sluice_service::DEFAULT_JOB_LEASE_MS, |s| s.max(1) * 1000),
        }
    }
}

/// The `[limits]` table: any structural limit may be raised or lowered.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct LimitsConfig {
    min_stages_per_pipeline: Option<usize>,
    max_stages_per_pipeline: Option<usize>,
    min_actions_per_stage: Option<usize>,
    max_actions_per_stage: Option<usize>,
    max_run_order: Option<i64>,
    max_pipelines_per_account: Option<usize>,
    max_custom_action_types_per_account: Option<usize>,
    max_tags_per_resource: Option<usize>,
    /// The largest JSON or Query request body read (bytes; default 2 MiB).
    max_request_bytes: Option<usize>,
}

impl LimitsConfig {
    fn resolve(self) -> Limits {
        let d = Limits::default();
        Limits {
            min_stages_per_pipeline: self
                .min_stages_per_pipeline
                .unwrap_or(d.min_stages_per_pipeline),
            max_stages_per_pipeline: self
                .max_stages_per_pipeline
                .unwrap_or(d.max_stages_per_pipeline),
            min_actions_per_stage: self
                .min_actions_per_stage
                .unwrap_or(d.min_actions_per_stage),
            max_actions_per_stage: self
                .max_actions_per_stage
                .unwrap_or(d.max_actions_per_stage),
            max_run_order: self.max_run_order.unwrap_or(d.max_run_order),
            max_pipelines_per_account: self
                .max_pipelines_per_account
                .unwrap_or(d.max_pipelines_per_account),
            max_custom_action_types_per_account: self
                .max_custom_action_types_per_account
                .unwrap_or(d.max_custom_action_types_per_account),
            max_tags_per_resource: self
                .max_tags_per_resource
                .unwrap_or(d.max_tags_per_resource),
        }
    }
}

/// The resolved options of `sluice serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: String,
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    /// PostgreSQL's URL; SQLite in the data dir when `None`.
    pub database_url: Option<String>,
    pub region: String,
    pub account_id: String,
    pub limits: Limits,
    pub jobs: JobSettings,
    pub providers: ProviderSettings,
    pub blobs: Option<sluice_artifacts::S3BlobConfig>,
    pub sandbox: sluice_sandbox::Options,
    /// Where job workspaces are made.
    pub work_dir: PathBuf,
    /// HTTPS: the certificate chain and key files, when set.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_request_bytes: usize,
    pub max_push_bytes: u64,
    pub host_lease_ms: i64,
    pub functions: sluice_functions::Config,
    pub smtp_relay: Option<String>,
    pub smtp_from: String,
    pub undelivered_retention_ms: i64,
    pub public_badges: bool,
    pub audit_retention_ms: Option<i64>,
    pub execution_retention_ms: Option<i64>,
    /// How long the leader lease lasts unless renewed.
    pub leader_lease_ms: i64,
}

/// Where job workspaces go. Under the data dir, unless builds run as another user that could
/// not pass through the directories above it (a data dir under `/root`): then a directory of
/// this data dir's own under `/var/tmp`, which is searchable by everyone.
fn work_dir(
    configured: Option<PathBuf>,
    data_dir: &std::path::Path,
    user: bool,
) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = configured {
        return absolute(dir);
    }
    let searchable = data_dir
        .ancestors()
        .skip(1)
        .all(|dir| std::fs::metadata(dir).map_or(true, |m| m.permissions().mode() & 0o001 != 0));
    if !user || searchable {
        return Ok(data_dir.join("work"));
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let tag: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Ok(PathBuf::from(format!("/var/tmp/sluice-work-{tag}")))
}

pub fn resolve(args: ServeArgs) -> Result<ServeOptions> {
    let config_path = args.config.clone().map(absolute).transpose()?;
    let file = match &config_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the config file {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("parsing the config file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let options = ServeOptions {
        public_url: file.public_url.clone(),
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into()),
        data_dir: absolute(
            args.data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
        )?,
        database_url: args
            .database_url
            .or(file.database_url)
            .filter(|url| !url.is_empty()),
        region: args
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.into()),
        account_id: args
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| DEFAULT_ACCOUNT_ID.into()),
        max_request_bytes: file
            .limits
            .max_request_bytes
            .unwrap_or(sluice_service::DEFAULT_MAX_REQUEST_BYTES)
            .max(1024),
        max_push_bytes: file
            .git
            .max_push_bytes
            .unwrap_or(sluice_service::DEFAULT_MAX_PUSH_BYTES),
        host_lease_ms: file
            .deploy
            .host_lease_secs
            .map_or(sluice_service::DEFAULT_HOST_LEASE_MS, |s| s.max(1) * 1000),
        smtp_relay: file.notifications.smtp_relay.clone(),
        public_badges: file.console.public_badges.unwrap_or(false),
        leader_lease_ms: file
            .replicas
            .leader_lease_secs
            .map_or(crate::database::DEFAULT_LEADER_LEASE_MS, |s| {
                s.max(1) * 1000
            }),
        execution_retention_ms: match file.executions.retain_days {
            None => Some(sluice_service::DEFAULT_EXECUTION_RETENTION_MS),
            Some(days) if days <= 0 => None,
            Some(days) => Some(days * 24 * 3600 * 1000),
        },
        audit_retention_ms: match file.audit.retain_days {
            None => Some(sluice_service::DEFAULT_AUDIT_RETENTION_MS),
            Some(days) if days <= 0 => None,
            Some(days) => Some(days * 24 * 3600 * 1000),
        },
        undelivered_retention_ms: file
            .notifications
            .retain_undelivered_days
            .map_or(sluice_service::DEFAULT_UNDELIVERED_RETENTION_MS, |d| {
                d.max(1) * 24 * 3600 * 1000
            }),
        smtp_from: file
            .notifications
            .smtp_from
            .clone()
            .unwrap_or_else(|| sluice_service::DEFAULT_SMTP_FROM.into()),
        functions: {
            let defaults = sluice_functions::Config::default();
            sluice_functions::Config {
                python: file.functions.python.clone().unwrap_or(defaults.python),
                node: file.functions.node.clone().unwrap_or(defaults.node),
                max_busy: file
                    .functions
                    .max_concurrent
                    .unwrap_or(defaults.max_busy)
                    .max(1),
                idle: file
                    .functions
                    .idle_secs
                    .map_or(defaults.idle, std::time::Duration::from_secs),
                ..defaults
            }
        },
        limits: file.limits.resolve(),
        jobs: file.jobs.resolve(),
        blobs: match (file.blobs.s3_endpoint, file.blobs.s3_bucket) {
            (Some(endpoint), Some(bucket)) => Some(sluice_artifacts::S3BlobConfig {
                endpoint,
                bucket,
                region: file
                    .blobs
                    .s3_region
                    .unwrap_or_else(|| DEFAULT_REGION.into()),
                access_key_id: std::env::var("SLUICE_BLOBS_ACCESS_KEY_ID")
                    .context("[blobs] needs SLUICE_BLOBS_ACCESS_KEY_ID")?,
                secret_access_key: std::env::var("SLUICE_BLOBS_SECRET_ACCESS_KEY")
                    .context("[blobs] needs SLUICE_BLOBS_SECRET_ACCESS_KEY")?,
            }),
            (None, None) => None,
            _ => bail!("[blobs] needs both s3_endpoint and s3_bucket"),
        },
        providers: ProviderSettings {
            enabled: file.providers.enabled.unwrap_or(true),
            max_concurrent_jobs: file.providers.max_concurrent_jobs.unwrap_or(2),
            poll_interval_secs: file.sources.poll_interval_secs.unwrap_or(60),
            external_s3: match file.sources.s3_endpoint.clone() {
                Some(endpoint) => Some(sluice_artifacts::S3BlobConfig {
                    endpoint,
                    bucket: String::new(),
                    region: file
                        .sources
                        .s3_region
                        .clone()
                        .unwrap_or_else(|| DEFAULT_REGION.into()),
                    access_key_id: std::env::var("SLUICE_SOURCES_S3_ACCESS_KEY_ID")
                        .context("[sources] s3_endpoint needs SLUICE_SOURCES_S3_ACCESS_KEY_ID")?,
                    secret_access_key: std::env::var("SLUICE_SOURCES_S3_SECRET_ACCESS_KEY")
                        .context(
                            "[sources] s3_endpoint needs SLUICE_SOURCES_S3_SECRET_ACCESS_KEY",
                        )?,
                }),
                None => None,
            },
            github_base_url: file
                .sources
                .github_base_url
                .unwrap_or_else(|| "https://github.com".into()),
            projects: file.codebuild.projects,
        },
        sandbox: sluice_sandbox::Options::unconfined(),
        work_dir: PathBuf::new(),
        tls: match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((absolute(cert)?, absolute(key)?)),
            (None, None) => None,
            _ => bail!("TLS needs both --tls-cert and --tls-key (or tls_cert and tls_key)"),
        },
    };
    let mut options = options;
    let configured_work_dir = file.sandbox.work_dir.clone();
    options.sandbox = file.sandbox.resolve(&options.data_dir)?;
    options.work_dir = work_dir(
        configured_work_dir,
        &options.data_dir,
        options.sandbox.user.is_some(),
    )?;
    if options.account_id.len() != 12 || !options.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("account id '{}' must be twelve digits", options.account_id);
    }
    if options.region.is_empty()
        || !options
            .region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        bail!("region '{}' is not valid", options.region);
    }
    let l = &options.limits;
    if l.min_stages_per_pipeline > l.max_stages_per_pipeline
        || l.min_actions_per_stage > l.max_actions_per_stage
    {
        bail!("[limits]: a minimum is greater than its maximum");
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_limits_override_only_what_they_name() {
        let file: FileConfig =
            toml::from_str("region = \"eu-west-1\"\n[limits]\nmax_stages_per_pipeline = 10\n")
                .expect("parses");
        let limits = file.limits.resolve();
        assert_eq!(limits.max_stages_per_pipeline, 10);
        assert_eq!(
            limits.max_actions_per_stage,
            Limits::default().max_actions_per_stage
        );
        assert!(
            toml::from_str::<FileConfig>("colour = 1").is_err(),
            "unknown keys are refused"
        );
    }
}
