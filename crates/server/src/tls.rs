//! `sluice serve --tls-cert FILE --tls-key FILE`: HTTPS with rustls, so that hosted git's Basic
//! authentication and presigned URLs never cross a network in clear. Handshakes run in their
//! own tasks with a deadline (a client that stalls one holds up no one else); each connection
//! is served by hyper with the same router as plain HTTP, and told of its peer address and of
//! the secure transport (`aws:SecureTransport`). Shutdown stops accepting, lets requests in
//! flight finish, then closes.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS configuration from PEM files: the certificate chain and its private key.
pub fn acceptor(cert: &Path, key: &Path) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| invalid(&format!("reading {}", cert.display()), &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&format!("reading {}", cert.display()), &e))?;
    if chain.is_empty() {
        return Err(invalid(
            &format!("{}", cert.display()),
            &"no certificate in it",
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(&format!("reading {}", key.display()), &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| invalid("the certificate and key", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` over TLS on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let (acceptor, app, mut stop) = (acceptor.clone(), app.clone(), stop_rx.clone());
        connections.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let app = app
                .layer(axum::Extension(ConnectInfo(peer)))
                .layer(axum::Extension(sluice_api::trail::SecureTransport));
            let service = TowerToHyperService::new(app);
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}
