//! The one binary: `sluice serve` runs everything on the embedded default. This is the only
//! place that reads the environment and config files and chooses a store backend.

mod admin;
mod bench;
mod bench_console;
mod bench_deploy;
mod bench_notify;
mod bench_sources;
mod bootstrap;
mod config;
mod database;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use database::Database;
use sluice_service::{RandomIds, Sluice, SystemClock};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Self-hosted continuous delivery that speaks the CodePipeline API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server on the embedded default (SQLite and artifacts in the data dir).
    Serve(config::ServeArgs),
    /// Poll a Sluice server for jobs of one action type and run each with a command:
    /// `sluice worker --endpoint URL --action-type Custom/Build/MyBuild/1 -- ./build.sh`.
    Worker(WorkerArgs),
    /// The CodeDeploy agent of this host: `sluice agent --endpoint URL`, signing with the key
    /// of the IAM user its on-premises instance was registered with.
    Agent(AgentArgs),
    /// Every pipeline, its latest execution and each stage's state, on one screen.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Start an execution of a pipeline and print its id.
    Start {
        pipeline: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Follow an execution (the latest, or the one named) until it ends; the exit code is 0
    /// when it succeeded.
    Watch {
        pipeline: String,
        execution_id: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print an action's log: `sluice logs PIPELINE/STAGE/ACTION` or `sluice logs JOB_ID`;
    /// `--follow` keeps printing while it runs.
    Logs {
        target: String,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// git's credential helper: `git config credential.helper '!sluice git-credential'` signs
    /// pushes to hosted repositories in with your AWS credentials.
    GitCredential {
        /// get, store or erase (as git calls it).
        operation: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Manage repositories hosted by this server: `sluice repo create NAME`.
    Repo {
        #[command(subcommand)]
        command: RepoCommand,
    },
    /// Bootstrap and recovery on the data dir, without the API: `sluice admin create-user`,
    /// `list-users`, `deactivate-key`.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// The audit trail: `sluice audit verify` checks the hash chain end to end.
    Audit {
        #[command(subcommand)]
        command: admin::AuditCommand,
    },
    /// Measure in process: `sluice bench transitions` (engine and store) or
    /// `sluice bench artifacts` (zip pack and safe unpack).
    Bench {
        /// What to measure.
        #[arg(value_parser = ["transitions", "artifacts", "sources", "sandbox", "deploy", "notifications", "functions", "console"])]
        what: String,
        /// Size of the generated bundle for `artifacts`, in MB.
        #[arg(long, default_value_t = 200)]
        megabytes: usize,
        /// How long to drive pipelines, in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// How many pipelines: for `transitions`, how many (each with its own worker) run at
        /// once (default 16); for `console`, how many exist (default 1,000).
        #[arg(long)]
        pipelines: Option<usize>,
        /// How many pushes `sources` times (and deployments `deploy` times).
        #[arg(long, default_value_t = 20)]
        pushes: usize,
    },
}

/// How client commands reach the server: the endpoint and the AWS credential chain.
#[derive(clap::Args, Clone)]
struct ClientArgs {
    /// The server [default: AWS_ENDPOINT_URL, SLUICE_ENDPOINT, or http://127.0.0.1:8240].
    #[arg(long)]
    endpoint_url: Option<String>,
    /// A profile of the shared credentials file (else AWS_PROFILE, else default).
    #[arg(long)]
    profile: Option<String>,
    /// text (for people) or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

impl ClientArgs {
    fn output(&self) -> sluice_cli::Output {
        if self.output == "json" {
            sluice_cli::Output::Json
        } else {
            sluice_cli::Output::Text
        }
    }

    fn endpoint(&self) -> String {
        self.endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .or_else(|| std::env::var("SLUICE_ENDPOINT").ok())
            .unwrap_or_else(|| format!("http://{}", config::DEFAULT_LISTEN))
    }

    fn credentials(&self) -> Result<sluice_sigv4::Credentials> {
        credential_chain(self.profile.as_deref())
    }

    fn client(&self) -> Result<sluice_worker::client::Client> {
        let region = environment().region();
        Ok(sluice_worker::client::Client::new(
            &self.endpoint(),
            &region,
            self.credentials()?,
        )?)
    }
}

/// The process environment, for the credential chain.
fn environment() -> sluice_cli::credentials::Environment {
    sluice_cli::credentials::Environment {
        vars: std::env::vars().collect(),
        home: std::env::var_os("HOME").map(std::path::PathBuf::from),
    }
}

/// The standard AWS credential chain: environment, shared credentials file, config file.
fn credential_chain(profile: Option<&str>) -> Result<sluice_sigv4::Credentials> {
    Ok(sluice_cli::credentials::resolve(
        &environment(),
        profile,
        |path| std::fs::read_to_string(path).ok(),
    )?)
}

#[derive(clap::Args)]
struct WorkerArgs {
    /// The server, e.g. http://127.0.0.1:8240.
    #[arg(long, env = "SLUICE_ENDPOINT")]
    endpoint: String,
    /// Owner/Category/Provider/Version, e.g. Custom/Build/MyBuild/1.
    #[arg(long)]
    action_type: String,
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    region: String,
    /// A profile of the shared credentials file (else the standard chain: environment,
    /// AWS_PROFILE, default).
    #[arg(long)]
    profile: Option<String>,
    /// Where job workspaces are made (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 1000)]
    poll_interval_ms: u64,
    #[arg(long, default_value_t = 3600)]
    job_timeout_secs: u64,
    /// A job whose command runs longer is continued with a continuation token.
    #[arg(long, default_value_t = 600)]
    continue_after_secs: u64,
    /// Exit after this many jobs.
    #[arg(long)]
    max_jobs: Option<usize>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
struct AgentArgs {
    /// The server, e.g. http://127.0.0.1:8240.
    #[arg(long, env = "SLUICE_ENDPOINT")]
    endpoint: String,
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    region: String,
    /// A profile of the shared credentials file (else the standard chain: environment,
    /// AWS_PROFILE, default).
    #[arg(long)]
    profile: Option<String>,
    /// Where deployments are unpacked and the agent's records kept.
    #[arg(long, default_value = "/var/lib/sluice-agent")]
    data_dir: std::path::PathBuf,
    /// The instance's IAM user ARN (default: asked of the server with GetCallerIdentity).
    #[arg(long)]
    host_identifier: Option<String>,
}

#[derive(Subcommand)]
enum RepoCommand {
    /// Create a bare repository in the data dir and print its clone URL.
    Create {
        name: String,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
}

fn main() -> Result<()> {
    // The sandbox launcher must do nothing but confine itself and become the program: it
    // runs before logging or argument parsing.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(sluice_sandbox::LAUNCHER_ARG))
    {
        sandbox_exec();
    }
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let options = config::resolve(args)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(options))
        }
        Command::Status { client } => client_runtime()?
            .block_on(async { Ok(sluice_cli::status(&client.client()?, client.output()).await?) }),
        Command::Start { pipeline, client } => client_runtime()?.block_on(async {
            sluice_cli::start(&client.client()?, &pipeline, client.output()).await?;
            Ok(())
        }),
        Command::Watch {
            pipeline,
            execution_id,
            client,
        } => {
            let succeeded = client_runtime()?.block_on(async {
                Ok::<_, anyhow::Error>(
                    sluice_cli::watch(
                        &client.client()?,
                        &pipeline,
                        execution_id.as_deref(),
                        client.output(),
                    )
                    .await?,
                )
            })?;
            if !succeeded {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Logs {
            target,
            follow,
            client,
        } => client_runtime()?
            .block_on(async { Ok(sluice_cli::logs(&client.client()?, &target, follow).await?) }),
        Command::GitCredential { operation, client } => Ok(sluice_cli::git_credential(
            &operation,
            &client.credentials()?,
        )?),
        Command::Worker(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(worker(args)),
        Command::Agent(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(agent(args)),
        Command::Repo {
            command: RepoCommand::Create { name, serve },
        } => {
            let options = config::resolve(serve)?;
            require_existing_data_dir(&options)?;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(repo_create(&options, &name))
        }
        Command::Admin { command } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(admin::admin(command)),
        Command::Audit { command } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(admin::audit(command)),
        Command::Bench {
            what, megabytes, ..
        } if what == "artifacts" => bench::artifacts(megabytes),
        Command::Bench { what, pushes, .. } if what == "sandbox" => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(bench::sandbox(pushes.max(1) * 10))
        }
        Command::Bench {
            what,
            megabytes,
            pushes,
            ..
        } if what == "sources" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(bench_sources::sources(megabytes, pushes)),
        Command::Bench { what, pushes, .. } if what == "notifications" => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(bench_notify::notifications(pushes.max(1) * 10))
        }
        Command::Bench { what, pushes, .. } if what == "functions" => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(bench_notify::functions(pushes.max(1) * 10))
        }
        Command::Bench {
            what, pipelines, ..
        } if what == "console" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(bench_console::console(pipelines.unwrap_or(1000))),
        Command::Bench { what, pushes, .. } if what == "deploy" => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(bench_deploy::deploy_bench(pushes.max(1)))
        }
        Command::Bench {
            seconds, pipelines, ..
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(bench::transitions(seconds, pipelines.unwrap_or(16))),
    }
}

/// The name of the file that says the data dir's audit chain is keyed: without it, a chain an
/// earlier release wrote is relinked under the key at start, once. It lives beside the master
/// key, outside the database, so rewriting the database cannot ask for a second relink.
const CHAIN_KEYED_MARK: &str = "audit-chain.keyed";

/// The file beside the master key that anchors the audit chain: its newest event as the
/// server saw it, with a MAC under the chain key, so events cut from the chain's end show.
pub(crate) const AUDIT_ANCHOR: &str = "audit-anchor";

/// How often the server writes the anchor when the chain has grown: events of the last
/// interval before a cut are what the anchor cannot vouch for. One indexed read a second.
const ANCHOR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The audit anchor at `path` (the data dir's, or a copy), if there is one, checked; a forged
/// one is an error.
fn read_anchor(
    sluice: &Sluice,
    path: &std::path::Path,
) -> Result<Option<sluice_service::AuditAnchor>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let anchor = sluice_service::AuditAnchor::from_line(&text)
        .with_context(|| format!("{} is not an audit anchor", path.display()))?;
    if !sluice.anchor_is_genuine(&anchor) {
        anyhow::bail!(
            "{} was not written with this data dir's master key",
            path.display()
        );
    }
    Ok(Some(anchor))
}

/// Writes the anchor whenever the chain has grown, and once more at shutdown.
async fn keep_audit_anchor(
    sluice: Sluice,
    path: std::path::PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut written = None;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(ANCHOR_INTERVAL) => false,
            _ = stop.changed() => true,
        };
        if stopping {
            if let Err(e) = sluice.flush_audit().await {
                tracing::warn!(error = %e, "the last audit events could not be chained");
            }
        }
        match sluice.audit_anchor().await {
            Ok(Some(anchor)) if written.as_ref() != Some(&anchor) => {
                let temporary = path.with_extension("new");
                let saved = std::fs::write(&temporary, anchor.to_line())
                    .and_then(|()| std::fs::rename(&temporary, &path));
                match saved {
                    Ok(()) => written = Some(anchor),
                    Err(e) => tracing::warn!(error = %e, "the audit anchor could not be written"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the audit chain's head could not be read"),
        }
        if stopping {
            return;
        }
    }
}

/// Commands that work on an existing data dir refuse a directory that has none, instead of
/// making a stray one.
fn require_existing_data_dir(options: &config::ServeOptions) -> Result<()> {
    if options.database_url.is_some() {
        // The state is in PostgreSQL; the data dir holds the keys, unless they come from the
        // environment (a new master key would not open the database's secrets).
        if std::env::var_os("SLUICE_MASTER_KEY").is_none()
            && !options.data_dir.join("master.key").exists()
        {
            anyhow::bail!(
                "{} holds no master.key and SLUICE_MASTER_KEY is not set: name the data dir (or the keys) of the server that uses this database",
                options.data_dir.display()
            );
        }
        return Ok(());
    }
    let db = options.data_dir.join("sluice.db");
    if !db.exists() {
        anyhow::bail!(
            "{} is not a Sluice data dir (it has no sluice.db); pass --data-dir (or SLUICE_DATA_DIR) naming the directory `sluice serve` uses",
            options.data_dir.display()
        );
    }
    Ok(())
}

/// Whether `open` may relink an audit chain an earlier release wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    KeyLegacy,
    AsItIs,
}

/// Opens the data dir's store and blobs as the façade; `public_url` defaults to `listen`.
async fn open(
    options: &config::ServeOptions,
    public_url: Option<String>,
    chain: Chain,
) -> Result<(Database, Sluice)> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating the data dir {}", options.data_dir.display()))?;
    let database = Database::open(options).await?;
    let server_id = database::server_id()?;
    database
        .identify(&server_id, options.leader_lease_ms)
        .await?;
    let token_key = bootstrap::token_key(&options.data_dir)?;
    let master_key = bootstrap::master_key(&options.data_dir)?;
    database.check_keys(&master_key.0, &token_key).await?;
    let service_options = sluice_service::Options {
        max_request_bytes: options.max_request_bytes,
        max_push_bytes: options.max_push_bytes,
        host_lease_ms: options.host_lease_ms,
        smtp_relay: options.smtp_relay.clone(),
        smtp_from: options.smtp_from.clone(),
        job_retention_ms: options.jobs.retention_ms,
        undelivered_retention_ms: options.undelivered_retention_ms,
        public_badges: options.public_badges,
        audit_retention_ms: options.audit_retention_ms,
        execution_retention_ms: options.execution_retention_ms,
        region: options.region.clone(),
        account_id: options.account_id.clone(),
        limits: options.limits.clone(),
        token_key,
        master_key,
        job_owner: server_id,
        job_lease_ms: options.jobs.lease_ms,
        // On PostgreSQL, replicas may share the database: every push is published to all.
        shared_repositories: matches!(database, Database::Postgres(_)),
        engine: options.jobs.engine.clone(),
        dispatch_lease_ms: options.jobs.dispatch_lease_ms,
        public_url: options
            .public_url
            .clone()
            .or(public_url)
            .unwrap_or_else(|| format!("http://{}", options.listen)),
        providers: if options.providers.enabled {
            sluice_server::provider_types()
        } else {
            Vec::new()
        },
    };
    let blobs = match &options.blobs {
        Some(s3) => {
            tracing::info!(
                endpoint = s3.endpoint,
                bucket = s3.bucket,
                "blobs are kept in an S3-compatible store"
            );
            sluice_artifacts::ObjectBlobStore::s3(s3)?
        }
        None => sluice_artifacts::ObjectBlobStore::local(&options.data_dir.join("blobs"))?,
    };
    let sluice = Sluice::new(
        database.store(),
        Arc::new(blobs),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        service_options,
    );
    let mark = options.data_dir.join(CHAIN_KEYED_MARK);
    if chain == Chain::KeyLegacy && !mark.exists() {
        let relinked = sluice.key_legacy_audit_chain().await?;
        if relinked > 0 {
            tracing::info!(
                events = relinked,
                "the audit chain written by an earlier release is now keyed"
            );
        }
        std::fs::write(&mark, "the audit chain of this data dir is keyed\n")
            .with_context(|| format!("writing {}", mark.display()))?;
    }
    Ok((database, sluice))
}

async fn serve(options: config::ServeOptions) -> Result<()> {
    // Everything the server creates is its own: the database, keys, blobs and repositories
    // are 0600/0700 whatever the operator's umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .with_context(|| format!("binding {}", options.listen))?;
    let addr = listener.local_addr()?;
    let tls = match &options.tls {
        Some((cert, key)) => {
            Some(sluice_server::tls::acceptor(cert, key).context("setting up TLS")?)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (database, sluice) = open(
        &options,
        Some(format!("{scheme}://{addr}")),
        Chain::KeyLegacy,
    )
    .await?;
    let leadership = database
        .lead(&sluice.options().job_owner, options.leader_lease_ms)
        .await?;
    bootstrap::root_credentials(&sluice, &options).await?;
    let interrupted = sluice
        .recover_pending_audit(sluice_api::trail::mark_interrupted)
        .await?;
    if interrupted > 0 {
        tracing::warn!(
            calls = interrupted,
            "calls the last run did not answer are in the audit trail as ServerInterrupted"
        );
    }
    tracing::info!(%addr, data_dir = %options.data_dir.display(), database = %database.describe(&options), "sluice is serving; GET /healthz answers once ready");
    eprintln!("sluice listening on {scheme}://{addr}");
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback without TLS: access keys (hosted git's Basic authentication) cross the network in clear; set --tls-cert and --tls-key or put a TLS proxy in front (docs/operations.md)");
    }
    sluice.ensure_bucket(sluice_service::LOG_BUCKET).await?;
    let repos_dir = options.data_dir.join("repos");
    std::fs::create_dir_all(&repos_dir)?;
    secure_data_dir(&options)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let anchoring = tokio::spawn(keep_audit_anchor(
        sluice.clone(),
        options.data_dir.join(AUDIT_ANCHOR),
        stop_rx.clone(),
    ));
    let provider_config = options
        .providers
        .enabled
        .then(|| sluice_server::ProviderConfig {
            work_dir: options.work_dir.clone(),
            repos_dir: repos_dir.clone(),
            mirrors_dir: options.data_dir.join("mirrors"),
            github_base_url: options.providers.github_base_url.clone(),
            projects: options.providers.projects.clone(),
            max_concurrent_jobs: options.providers.max_concurrent_jobs,
            job_timeout: std::time::Duration::from_millis(
                options.jobs.engine.job_timeout_ms.max(1000) as u64,
            ),
            poll_interval: std::time::Duration::from_secs(
                options.providers.poll_interval_secs.max(1),
            ),
            external_s3: options.providers.external_s3.clone(),
            sandbox: sluice_sandbox::Sandbox::new(options.sandbox.clone()),
            // The leader polls sources, for every server on the database.
            poll_sources: false,
            // Alone on its database, a server's restart interrupted only its own jobs; servers
            // that share one leave each other's jobs to their leases.
            requeue_at_start: matches!(database, Database::Sqlite(_)),
        });
    let leading = tokio::spawn(lead(
        sluice.clone(),
        leadership.watch(),
        provider_config.clone(),
        stop_rx.clone(),
        // Alone on its database, a server recovered the last run's calls above, and every
        // pending record from here on is a call of its own still being answered.
        !matches!(database, Database::Sqlite(_)),
    ));
    let providers = provider_config.map(|config| {
        tokio::spawn(sluice_server::run_providers(
            sluice.clone(),
            config,
            stop_rx,
        ))
    });
    sluice_server::install_functions(
        &sluice,
        sluice_sandbox::Sandbox::new(options.sandbox.clone()),
        &options.work_dir,
        options.functions.clone(),
    );
    let hosted = sluice_server::HostedRepos {
        dir: repos_dir,
        sandbox: sluice_sandbox::Sandbox::new(options.sandbox.clone()),
    };
    match tls {
        Some(acceptor) => {
            sluice_server::run_tls(listener, acceptor, shutdown_signal(), sluice, Some(hosted))
                .await?
        }
        None => sluice_server::run(listener, shutdown_signal(), sluice, Some(hosted)).await?,
    }
    let _ = stop_tx.send(true);
    let _ = leading.await;
    let _ = anchoring.await;
    if let Some(p) = providers {
        let _ = p.await;
    }
    leadership.release().await;
    database.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Runs what the leading server runs for all (timers, deliveries, sweeps, source polling, and
/// on a shared database the calls of servers that stopped) whenever this server leads, and
/// stops it when it no longer does or the server stops.
async fn lead(
    sluice: Sluice,
    mut leading: tokio::sync::watch::Receiver<bool>,
    providers: Option<sluice_server::ProviderConfig>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    shared_database: bool,
) {
    let providers = providers.map(Arc::new);
    loop {
        tokio::select! {
            changed = leading.wait_for(|leads| *leads) => {
                if changed.is_err() {
                    return;
                }
            }
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let (duties_tx, duties_rx) = tokio::sync::watch::channel(false);
        let timers = tokio::spawn(sluice_server::run_timers(sluice.clone(), duties_rx.clone()));
        let recovering = shared_database
            .then(|| tokio::spawn(recover_interrupted_calls(sluice.clone(), duties_rx.clone())));
        let polling = providers.clone().map(|config| {
            tokio::spawn(sluice_server::run_source_polling(
                sluice.clone(),
                config,
                duties_rx,
            ))
        });
        let stopping = tokio::select! {
            _ = leading.wait_for(|leads| !*leads) => false,
            _ = stop.wait_for(|stop| *stop) => true,
        };
        let _ = duties_tx.send(true);
        let _ = timers.await;
        if let Some(recovering) = recovering {
            let _ = recovering.await;
        }
        if let Some(polling) = polling {
            let _ = polling.await;
        }
        if stopping {
            return;
        }
    }
}

/// Completes, as interrupted, the calls recorded as pending by servers that stopped (on a
/// shared database; alone, a server does this once at start, before it serves), every few
/// seconds until `stop`.
async fn recover_interrupted_calls(sluice: Sluice, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match sluice.recover_pending_audit(sluice_api::trail::mark_interrupted).await {
                    Ok(0) => {}
                    Ok(calls) => tracing::warn!(calls, "calls a stopped server did not answer are in the audit trail as ServerInterrupted"),
                    Err(e) => tracing::warn!(error = %e, "recording interrupted calls failed"),
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// The data dir is 0700, or 0711 when builds run as another user and must pass through it to
/// their workspace under `work/` (they can list nothing; every file in it is 0600 and Landlock
/// refuses them anything but their own workspace).
fn secure_data_dir(options: &config::ServeOptions) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&options.data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", options.data_dir.display()))?;
    let sandbox = sluice_sandbox::Sandbox::new(options.sandbox.clone());
    sandbox.make_traversable(&options.data_dir)?;
    for name in ["sluice.db", "sluice.db-wal", "sluice.db-shm", "credentials"] {
        let path = options.data_dir.join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

async fn agent(args: AgentArgs) -> Result<()> {
    let credentials = credential_chain(args.profile.as_deref())?;
    let client = sluice_worker::client::Client::new(&args.endpoint, &args.region, credentials)?;
    let host_identifier = match args.host_identifier {
        Some(arn) => arn,
        None => sluice_agent::caller_arn(&client).await?,
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the agent's data dir {}", args.data_dir.display()))?;
    let agent = sluice_agent::Agent::new(
        client,
        sluice_agent::AgentOptions {
            host_identifier,
            data_dir: args.data_dir,
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    agent.run(stop_rx).await?;
    Ok(())
}

async fn worker(args: WorkerArgs) -> Result<()> {
    let parts: Vec<&str> = args.action_type.split('/').collect();
    let [owner, category, provider, version] = parts.as_slice() else {
        anyhow::bail!(
            "--action-type must be Owner/Category/Provider/Version, e.g. Custom/Build/MyBuild/1"
        );
    };
    let credentials = credential_chain(args.profile.as_deref())?;
    let client = sluice_worker::client::Client::new(&args.endpoint, &args.region, credentials)?;
    let scratch = tempfile::TempDir::new()?;
    let options = sluice_worker::poller::WorkerOptions {
        action_type: sluice_wire::ActionTypeId {
            category: category.to_string(),
            owner: owner.to_string(),
            provider: provider.to_string(),
            version: version.to_string(),
        },
        command: args.command,
        work_dir: args
            .work_dir
            .unwrap_or_else(|| scratch.path().to_path_buf()),
        poll_interval: std::time::Duration::from_millis(args.poll_interval_ms),
        job_timeout: std::time::Duration::from_secs(args.job_timeout_secs),
        continue_after: std::time::Duration::from_secs(args.continue_after_secs.max(1)),
        max_jobs: args.max_jobs,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    eprintln!(
        "sluice worker polling {} for {}",
        args.endpoint, args.action_type
    );
    sluice_worker::poller::run(client, options, stop_rx).await?;
    Ok(())
}

async fn repo_create(options: &config::ServeOptions, name: &str) -> Result<()> {
    sluice_worker::git::check_repository_name(name)?;
    let dir = options.data_dir.join("repos").join(format!("{name}.git"));
    if dir.exists() {
        anyhow::bail!("repository {name} already exists at {}", dir.display());
    }
    std::fs::create_dir_all(options.data_dir.join("repos"))?;
    sluice_worker::git::init_bare(&dir).await?;
    eprintln!("created {}", dir.display());
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "{scheme}://{}{}/{name}.git",
        options.listen,
        sluice_server::GIT_PREFIX
    );
    Ok(())
}

fn client_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Logs go to stderr: plain text, coloured only on a terminal, or one JSON object a line with
/// `SLUICE_LOG_FORMAT=json`; `SLUICE_LOG` filters (default `info`).
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("SLUICE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().with_ansi(false).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// `sluice sandbox-exec -- PROGRAM ARGS…` with the spec in `SLUICE_SANDBOX_SPEC`: only the
/// server starts it (see the sandbox crate).
fn sandbox_exec() -> ! {
    let argv: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(2)
        .skip_while(|a| a != "--")
        .skip(1)
        .collect();
    let spec = std::env::var(sluice_sandbox::SPEC_ENV).unwrap_or_default();
    let message = sluice_sandbox::launch(&spec, &argv);
    eprintln!("{message}");
    std::process::exit(sluice_sandbox::REFUSED_STATUS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
