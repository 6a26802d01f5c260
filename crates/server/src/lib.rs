//! The HTTP server: mounts the API and the console and serves until told to stop.
//! The listener and the shutdown signal are parameters so tests bind port 0 and stop at will.

mod deploy;
mod functions;
mod git_http;
mod lambda;
mod notifications;
mod providers;
mod repositories;
mod smtp;
mod sources;
pub mod tls;
pub use functions::install_functions;
mod webhook_http;

pub use git_http::GIT_PREFIX;
pub use providers::{provider_types, run_providers, ProviderConfig};
pub use sources::run_source_polling;

use axum::routing::get;
use axum::Router;
use sluice_service::Sluice;
use std::future::Future;
use tokio::net::TcpListener;

/// Hosted git repositories: where they live and the sandbox git runs in.
#[derive(Debug, Clone)]
pub struct HostedRepos {
    pub dir: std::path::PathBuf,
    pub sandbox: sluice_sandbox::Sandbox,
}

/// The whole application: `/healthz`, hosted git repositories (when `repos` is given), the
/// web console (`/console/`), the CodePipeline API and the S3-compatible endpoint.
pub fn app(sluice: Sluice, repos: Option<HostedRepos>) -> Router {
    app_and_wake(sluice, repos).0
}

/// What holds a request open until it is told the server is stopping: the hosts' long polls
/// and the console's live streams.
struct Closers {
    hosts: std::sync::Arc<sluice_api::codedeploy::HostWake>,
    live: sluice_console::LiveStreams,
}

/// `app`, and what to close at shutdown.
fn app_and_wake(sluice: Sluice, repos: Option<HostedRepos>) -> (Router, Closers) {
    let mut router = Router::new().route("/healthz", get(healthz)).merge(
        Router::new()
            .route(
                "/_sluice/webhooks/{id}",
                axum::routing::post(webhook_http::deliver),
            )
            .with_state(sluice.clone()),
    );
    if let Some(repos) = repos {
        sluice.set_repository_host(std::sync::Arc::new(repositories::HostedRepositories::new(
            repos.dir.clone(),
            sluice_worker::git::Git::new(repos.sandbox.clone()),
        )));
        let git = Router::new()
            .route(
                &format!("{GIT_PREFIX}/{{*path}}"),
                axum::routing::any(git_http::handle),
            )
            .route(
                &format!("{}/{{*path}}", git_http::CODECOMMIT_PREFIX),
                axum::routing::any(git_http::handle),
            )
            .with_state(git_http::GitState {
                sluice: sluice.clone(),
                repos_dir: repos.dir,
                git: sluice_worker::git::Git::new(repos.sandbox),
            });
        router = router.merge(git);
    }
    let (console, live) = sluice_console::routes(sluice.clone());
    let (api, hosts) = sluice_api::routes_and_wake(sluice);
    (router.merge(console).merge(api), Closers { hosts, live })
}

/// `shutdown`, then the hosts' long polls answered and the console's live streams ended, so
/// they do not hold the drain back.
async fn closing_polls(shutdown: impl Future<Output = ()> + Send + 'static, closers: Closers) {
    shutdown.await;
    closers.hosts.close();
    closers.live.close();
}

/// Only reached once the store is open and the listener bound, so 200 means ready.
async fn healthz() -> &'static str {
    "ok"
}

/// Serves `sluice` on `listener` until `shutdown` completes, then drains open requests.
pub async fn run(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    sluice: Sluice,
    repos: Option<HostedRepos>,
) -> std::io::Result<()> {
    let (app, wake) = app_and_wake(sluice, repos);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(closing_polls(shutdown, wake))
    .await
}

/// As `run`, over TLS with `acceptor` (`tls::acceptor` reads the certificate and key).
pub async fn run_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
    sluice: Sluice,
    repos: Option<HostedRepos>,
) -> std::io::Result<()> {
    let (app, wake) = app_and_wake(sluice, repos);
    tls::serve(listener, acceptor, app, closing_polls(shutdown, wake)).await
}

/// How often multipart uploads left unfinished for a week are removed.
const UPLOAD_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often persisted timers (job timeouts, approval expiry) are checked.
pub const TIMER_SWEEP_INTERVAL_MS: u64 = 1_000;

/// How often finished jobs, undelivered messages and audit events past their retention are
/// forgotten.
const RETENTION_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Fires due timers every `TIMER_SWEEP_INTERVAL_MS` until `shutdown` turns true. The caller
/// owns the task and joins it on shutdown.
pub async fn run_timers(sluice: Sluice, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let dispatcher = tokio::spawn(notifications::run_dispatcher(
        sluice.clone(),
        shutdown.clone(),
    ));
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(TIMER_SWEEP_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut uploads = tokio::time::interval(UPLOAD_SWEEP_INTERVAL);
    uploads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retention = tokio::time::interval(RETENTION_SWEEP_INTERVAL);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = retention.tick() => {
                match sluice.prune_history().await {
                    Ok(p) if p == sluice_service::Pruned::default() => {}
                    Ok(p) => tracing::info!(jobs = p.jobs, executions = p.executions, messages = p.messages, audit_events = p.audit_events, "finished jobs, executions, undelivered messages and audit events past retention forgotten"),
                    Err(e) => tracing::warn!(error = %e, "retention could not run"),
                }
            }
            _ = uploads.tick() => {
                match sluice.expire_stale_uploads().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(uploads = n, "stale multipart uploads removed"),
                    Err(e) => tracing::warn!(error = %e, "stale multipart uploads could not be removed"),
                }
            }
            _ = tick.tick() => {
                // Keep sweeping while whole batches come due, so a backlog drains quickly.
                loop {
                    match sluice.fire_due_timers().await {
                        Ok(n) if n >= sluice_service::TIMER_BATCH => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::error!(error = %e, "firing timers failed");
                            break;
                        }
                    }
                }
                match sluice.requeue_lapsed_jobs().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(jobs = n, "jobs whose server stopped renewing their lease are queued again"),
                    Err(e) => tracing::error!(error = %e, "queueing jobs with lapsed leases failed"),
                }
                match sluice.sweep_host_leases().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(hosts = n, "deployment hosts failed: their agents stopped answering"),
                    Err(e) => tracing::error!(error = %e, "sweeping host leases failed"),
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    let _ = dispatcher.await;
                    return;
                }
            }
        }
    }
}
