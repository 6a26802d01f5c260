//! `sluice serve --tls-cert --tls-key` (issue 10, finding 9): the API, S3 and hosted git over
//! HTTPS with a certificate the client trusts; plain HTTP to the TLS port gets no answer.

use crate::durability::start_with;
use std::process::Command;

/// A self-signed certificate for 127.0.0.1 and localhost, made with openssl.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

fn curl(cert: &std::path::Path, url: &str) -> (bool, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(cert)
        .arg(url)
        .output()
        .expect("curl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn the_server_speaks_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = certificate(dir.path());
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let server = start_with(
        &dir.path().join("data"),
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    )
    .await;
    let port = server.addr.port();
    let (ok, text) = tokio::task::spawn_blocking({
        let cert = cert.clone();
        move || curl(&cert, &format!("https://127.0.0.1:{port}/healthz"))
    })
    .await
    .expect("curl");
    assert!(ok, "{text}");
    assert_eq!(text.trim(), "ok");
    // Unsigned API calls are refused over TLS as over HTTP: the whole app is behind it.
    let (_, refused) = tokio::task::spawn_blocking({
        let cert = cert.clone();
        move || curl(&cert, &format!("https://localhost:{port}/some-bucket"))
    })
    .await
    .expect("curl");
    assert!(refused.contains("AccessDenied"), "{refused}");
    // Plain HTTP to the TLS port is not served.
    let (plain_ok, plain) = tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["--silent", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/healthz"))
            .output()
            .expect("curl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    })
    .await
    .expect("curl");
    assert!(
        !plain_ok || plain.trim() != "ok",
        "plain HTTP was answered: {plain}"
    );
}
