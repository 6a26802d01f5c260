//! The outbox dispatcher: woken after any commit that queued messages (and when a retry comes
//! due), it lets the façade fan publications and events out, then posts the HTTP/S deliveries
//! — signed as SNS signs them — and reports each outcome back. A delivery is removed only
//! after its endpoint answered 2xx, so a crash or `kill -9` repeats it rather than losing it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sluice_service::notifications::{Delivery, PendingDelivery, Signer};
use sluice_service::Sluice;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Rows read per pass.
const BATCH: usize = 64;
/// Deliveries in flight at once.
const MOST_IN_FLIGHT: usize = 16;
/// The longest one delivery may take (SNS waits 15 s for an HTTP endpoint).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the queue is looked at without a wake-up (a row queued by another replica).
const IDLE_POLL: Duration = Duration::from_secs(5);

/// Runs until `shutdown` turns true.
pub async fn run_dispatcher(sluice: Sluice, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let wake = Arc::new(Notify::new());
    {
        let wake = wake.clone();
        sluice.set_outbox_listener(Arc::new(move || wake.notify_one()));
    }
    let smtp = sluice
        .options()
        .smtp_relay
        .clone()
        .map(|relay| (relay, sluice.options().smtp_from.clone()));
    let client = Client::new(smtp);
    loop {
        drain(&sluice, &client).await;
        let wait = match sluice.next_outbox_due().await {
            Ok(Some(due)) => Duration::from_millis(
                (due - sluice.now_ms()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
            ),
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// Passes over the queue until one finds nothing to do.
async fn drain(sluice: &Sluice, client: &Client) {
    loop {
        let (deliveries, more) = match sluice.outbox_pass(BATCH).await {
            Ok(pass) => pass,
            Err(e) => {
                tracing::error!(error = %e, "the outbox could not be read");
                return;
            }
        };
        if !deliveries.is_empty() {
            let signer = match sluice.notification_signer().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "the notification signing key could not be loaded");
                    return;
                }
            };
            let cert_url = sluice.signing_cert_url();
            let outcomes = futures_util::stream::iter(deliveries)
                .map(|pending| {
                    let (signer, cert_url) = (signer.clone(), cert_url.clone());
                    async move {
                        let result = client.deliver(&pending, &signer, &cert_url).await;
                        (pending, result)
                    }
                })
                .buffer_unordered(MOST_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await;
            for (pending, result) in outcomes {
                let recorded = match result {
                    Ok(()) => sluice.delivery_succeeded(&pending.id).await,
                    Err(why) => sluice.delivery_failed(&pending, &why).await,
                };
                if let Err(e) = recorded {
                    tracing::error!(error = %e, id = %pending.id, "a delivery's outcome could not be recorded");
                }
            }
        } else if !more {
            return;
        }
    }
}

use futures_util::StreamExt as _;

/// Posts deliveries over HTTP/1.1, with TLS for `https` endpoints (the system's roots), and
/// sends emails through the SMTP relay.
struct Client {
    tls: tokio_rustls::TlsConnector,
    /// The relay and the sender address.
    smtp: Option<(String, String)>,
}

impl Client {
    fn new(smtp: Option<(String, String)>) -> Self {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                tokio_rustls::rustls::ClientConfig::builder()
                    .with_root_certificates(tokio_rustls::rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            smtp,
        }
    }

    async fn deliver(
        &self,
        pending: &PendingDelivery,
        signer: &Signer,
        cert_url: &str,
    ) -> Result<(), String> {
        let sending = async {
            match &pending.delivery {
                Delivery::Http(http) => {
                    let body = http.body(signer, cert_url);
                    self.post(&http.endpoint, http.headers(), body).await
                }
                Delivery::Email(email) => match &self.smtp {
                    Some((relay, from)) => crate::smtp::send(relay, from, email).await,
                    None => Err("no SMTP relay is configured ([notifications] smtp_relay)".into()),
                },
            }
        };
        match tokio::time::timeout(DELIVERY_TIMEOUT, sending).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())),
        }
    }

    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<(), String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("the endpoint {url} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("the endpoint {url} is neither http nor https")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("the endpoint {url} has no host"))?
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let stream =
            tokio::net::TcpStream::connect((host.trim_matches(|c| c == '[' || c == ']'), port))
                .await
                .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        let mut request = hyper::Request::post(path).header("host", authority);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("building the request: {e}"))?;
        let status = if https {
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("the host {host}: {e}"))?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            send(TokioIo::new(tls), request).await?
        } else {
            send(TokioIo::new(stream), request).await?
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {status}"))
        }
    }
}

async fn send<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<hyper::StatusCode, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let status = response.status();
    // Read (and drop) the answer so the connection ends cleanly.
    let _ = response.into_body().collect().await;
    Ok(status)
}
