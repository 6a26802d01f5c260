//! The HTTP server: mounts the API (and later the console) and serves until told to stop.
//! The listener and the shutdown signal are parameters so tests bind port 0 and stop at will.

use axum::routing::get;
use axum::Router;
use sluice_service::Sluice;
use std::future::Future;
use tokio::net::TcpListener;

/// The whole application: `/healthz` plus the CodePipeline API.
pub fn app(sluice: Sluice) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(sluice_api::routes(sluice))
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
) -> std::io::Result<()> {
    axum::serve(listener, app(sluice))
        .with_graceful_shutdown(shutdown)
        .await
}
