//! Hosted repositories over git's smart HTTP protocol, served by `git http-backend` as a CGI
//! program: `http://HOST/_sluice/git/NAME.git`, behind HTTP Basic authentication with an access
//! key id and secret (git cannot sign with SigV4; CodeCommit's HTTPS git credentials work alike). A push that moves a branch starts the
//! pipelines whose CodeCommit source watches it before the push is answered, so the run is
//! already under way when `git push` returns.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use sluice_service::GitRef;
use sluice_service::Sluice;
use sluice_worker::git;
use sluice_worker::git::Refs;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The URL prefix of hosted repositories.
pub const GIT_PREFIX: &str = "/_sluice/git";

#[derive(Clone)]
pub struct GitState {
    pub sluice: Sluice,
    pub repos_dir: PathBuf,
    /// git, confined to the repository of each request.
    pub git: git::Git,
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// CodeCommit's clone URL path, `/v1/repos/NAME`, served beside `GIT_PREFIX/NAME.git`.
pub const CODECOMMIT_PREFIX: &str = "/v1/repos";

/// `NAME.git/rest` (or CodeCommit's `/v1/repos/NAME/rest`) → (`NAME`, `/NAME.git/rest`).
fn repository_of(path: &str) -> Option<(String, String)> {
    if let Some(rest) = path.strip_prefix(CODECOMMIT_PREFIX) {
        let trimmed = rest.strip_prefix('/')?;
        let (name, tail) = trimmed
            .split_once('/')
            .map_or((trimmed, ""), |(n, t)| (n, t));
        git::check_repository_name(name).ok()?;
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("/{tail}")
        };
        return Some((name.to_string(), format!("/{name}.git{tail}")));
    }
    let rest = path.strip_prefix(GIT_PREFIX)?;
    let trimmed = rest.strip_prefix('/')?;
    let (first, _) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let name = first.strip_suffix(".git")?;
    git::check_repository_name(name).ok()?;
    Some((name.to_string(), rest.to_string()))
}

/// HTTP Basic with an access key id and its secret (git's own credential helpers supply them);
/// the caller it names, if the secret matches.
async fn authenticated(
    sluice: &Sluice,
    headers: &axum::http::HeaderMap,
    path: &str,
) -> Option<sluice_service::Caller> {
    use base64::Engine;
    let encoded = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let Ok(Some((expected, caller))) = sluice.access_key(id).await else {
        return None;
    };
    if sluice_sigv4::constant_time_eq(expected.expose(), secret) {
        return Some(caller);
    }
    // The aws CLI's CodeCommit credential helper: a SigV4 signature of the repository's URL,
    // good for a quarter of an hour around its timestamp.
    let (timestamp, _) = secret.split_once('Z')?;
    let signed_ms = sluice_model::time::parse_amz_date(&format!("{timestamp}Z"))?;
    if (sluice.now_ms() - signed_ms).abs() > GIT_PASSWORD_WINDOW_MS {
        return None;
    }
    let host = headers.get("host").and_then(|v| v.to_str().ok())?;
    let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let repository = SMART_HTTP_PATHS
        .iter()
        .find_map(|suffix| path.strip_suffix(suffix))
        .unwrap_or(path);
    let password = sluice_sigv4::git_password(
        expected.expose(),
        &sluice.options().region,
        hostname,
        repository,
        timestamp,
    );
    sluice_sigv4::constant_time_eq(&password, secret).then_some(caller)
}

/// How far a credential helper's password may be from the server's clock.
const GIT_PASSWORD_WINDOW_MS: i64 = 15 * 60 * 1000;

/// The audit event of a pack exchange (or a refused request).
fn exchange_event(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    caller: Option<&sluice_service::Caller>,
    event_name: &str,
    repository: &str,
    error: Option<(String, String)>,
    event_id: Option<String>,
) -> sluice_service::NewAuditEvent {
    let info = sluice_api::trail::request_info(parts);
    let request_id = sluice.new_id();
    let resource = format!(
        "arn:aws:codecommit:{}:{}:{repository}",
        sluice.options().region,
        sluice.options().account_id
    );
    sluice_api::trail::event_with_id(
        sluice,
        sluice_api::trail::Call {
            caller,
            access_key_id: None,
            event_source: "codecommit.amazonaws.com",
            event_name: event_name.to_string(),
            request_parameters: Some(serde_json::json!({ "repositoryName": repository })),
            response_elements: None,
            error,
            request_id: &request_id,
            info: &info,
            resources: vec![("AWS::CodeCommit::Repository".into(), resource)],
        },
        event_id.unwrap_or_else(|| sluice.new_id()),
    )
}

/// Records a pack exchange (or a refused request) in the audit trail.
async fn audit(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    caller: Option<&sluice_service::Caller>,
    event_name: &str,
    repository: &str,
    error: Option<(String, String)>,
) -> Result<(), sluice_service::Error> {
    let event = exchange_event(sluice, parts, caller, event_name, repository, error, None);
    sluice.record_audit(&[event]).await
}

pub async fn handle(State(state): State<GitState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let repository = repository_of(parts.uri.path())
        .map(|(n, _)| n)
        .unwrap_or_default();
    let wants_push = parts.uri.path().ends_with("/git-receive-pack")
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("service=git-receive-pack"));
    let action = if wants_push { "GitPush" } else { "GitPull" };
    // Only the pack exchanges are events; ref advertisements precede them.
    let is_exchange = parts.method == Method::POST;
    let Some(caller) = authenticated(&state.sluice, &parts.headers, parts.uri.path()).await else {
        if is_exchange {
            let refused = Some(("AuthFailure".to_string(), "not signed in".to_string()));
            if let Err(e) = audit(&state.sluice, &parts, None, action, &repository, refused).await {
                tracing::error!(error = %e, "recording the audit event");
            }
        }
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "sign in with an access key id as the user name and its secret as the password",
        );
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Basic realm=\"sluice\""),
        );
        return r;
    };
    if parts.uri.path().contains("..") || parts.uri.path().contains("//") {
        return plain(
            StatusCode::BAD_REQUEST,
            "a repository path has no '..' or '//'",
        );
    }
    let Some((name, path_info)) = repository_of(parts.uri.path()) else {
        return plain(StatusCode::NOT_FOUND, "not a hosted repository path");
    };
    // Only git's smart HTTP protocol is served, nothing else of the repository directory.
    let service = path_info
        .strip_prefix(&format!("/{name}.git"))
        .unwrap_or("");
    if !SMART_HTTP_PATHS.contains(&service) {
        return plain(StatusCode::NOT_FOUND, "not a git smart HTTP path");
    }
    let resource = format!(
        "arn:aws:codecommit:{}:{}:{name}",
        state.sluice.options().region,
        state.sluice.options().account_id
    );
    let info = sluice_api::trail::request_info(&parts);
    let allowed = state
        .sluice
        .authorize(&caller, &format!("codecommit:{action}"), &resource, &info)
        .await;
    let mut pending_push = None;
    if wants_push && is_exchange && allowed.is_ok() {
        // A push changes a repository: it is on record before it acts.
        let event = exchange_event(
            &state.sluice,
            &parts,
            Some(&caller),
            action,
            &name,
            None,
            None,
        );
        if let Err(e) = state.sluice.begin_audit(&event).await {
            tracing::error!(error = %e, "recording the audit event");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the audit trail could not be written",
            );
        }
        pending_push = Some(event);
    } else if is_exchange || allowed.is_err() {
        let error = allowed
            .as_ref()
            .err()
            .map(|e| ("AccessDeniedException".to_string(), e.to_string()));
        if let Err(e) = audit(&state.sluice, &parts, Some(&caller), action, &name, error).await {
            tracing::error!(error = %e, "recording the audit event");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the audit trail could not be written",
            );
        }
    }
    if let Err(e) = allowed {
        return plain(StatusCode::FORBIDDEN, &e.to_string());
    }
    let response = exchange(&state, &parts, body, &name, &path_info).await;
    if let Some(pending) = pending_push {
        let error = (!response.status().is_success()).then(|| {
            (
                "GitError".to_string(),
                format!("git answered {}", response.status()),
            )
        });
        let event = exchange_event(
            &state.sluice,
            &parts,
            Some(&caller),
            action,
            &name,
            error,
            Some(pending.event_id),
        );
        if let Err(e) = state.sluice.complete_audit(&event).await {
            tracing::error!(error = %e, "recording the audit event");
        }
    }
    response
}

/// Serves one request (already authorized) from this server's copy of the repository. Where
/// replicas share repositories the copy is first brought up to the latest push, and a push
/// holds the repository's lock — renewed while it runs — until the refs it moved are published
/// to the others, so pushes through different replicas take turns.
async fn exchange(
    state: &GitState,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
    name: &str,
    path_info: &str,
) -> Response {
    let sluice = &state.sluice;
    let is_push = parts.method == Method::POST && path_info.ends_with("/git-receive-pack");
    if !is_push {
        if let Err(e) = sluice.sync_repository(name).await {
            return out_of_date(name, &e);
        }
        return exchange_copy(state, parts, body, name, path_info).await;
    }
    let repo = state.repos_dir.join(format!("{name}.git"));
    if !sluice.options().shared_repositories {
        let before = state.git.refs(&repo).await.unwrap_or_default();
        let response = exchange_copy(state, parts, body, name, path_info).await;
        if response.status().is_success() {
            announce_pushes(state, &repo, name, before).await;
        }
        return response;
    }
    let waited = std::time::Instant::now();
    loop {
        match sluice.lock_repository_push(name).await {
            Ok(true) => break,
            Ok(false) if waited.elapsed() < PUSH_LOCK_WAIT => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Ok(false) => {
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("another push to {name} is in progress; push again"),
                )
            }
            Err(sluice_service::Error::Named {
                code: "RepositoryDoesNotExistException",
                ..
            }) => {
                return plain(
                    StatusCode::NOT_FOUND,
                    &format!("repository {name} does not exist"),
                )
            }
            Err(e) => return out_of_date(name, &e),
        }
    }
    let turn = PushTurn::start(sluice, name);
    let before = match sluice.prepare_repository_push(name).await {
        Ok(()) => state.git.refs(&repo).await.unwrap_or_default(),
        Err(e) => {
            turn.release().await;
            return out_of_date(name, &e);
        }
    };
    let response = exchange_copy(state, parts, body, name, path_info).await;
    let after = state.git.refs(&repo).await.unwrap_or_default();
    if after == before {
        turn.release().await;
        return response;
    }
    // Published before it is announced: the executions it starts may read it anywhere.
    match turn.publish().await {
        Ok(()) => {
            if response.status().is_success() {
                announce_pushes(state, &repo, name, before).await;
            }
            response
        }
        Err(e) => {
            tracing::error!(repository = name, error = %e, "a push could not be shared with the other replicas");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the push to {name} could not be shared with the other replicas: {e}"),
            )
        }
    }
}

/// A push's turn at a shared repository: its lock is renewed while the turn lasts, and a turn
/// cut short (the client went away, dropping the request) still publishes what the copy
/// holds, so this replica's copy and the shared snapshot agree.
struct PushTurn {
    sluice: sluice_service::Sluice,
    name: String,
    renewing: tokio::task::JoinHandle<()>,
    ended: bool,
}

impl PushTurn {
    fn start(sluice: &sluice_service::Sluice, name: &str) -> Self {
        let renewing = {
            let (sluice, name) = (sluice.clone(), name.to_string());
            tokio::spawn(async move {
                let every =
                    std::time::Duration::from_millis(sluice_service::PUSH_LOCK_MS as u64 / 3);
                loop {
                    tokio::time::sleep(every).await;
                    if !matches!(sluice.renew_repository_push(&name).await, Ok(true)) {
                        tracing::warn!(repository = name, "a push lost its repository's lock");
                        return;
                    }
                }
            })
        };
        Self {
            sluice: sluice.clone(),
            name: name.to_string(),
            renewing,
            ended: false,
        }
    }

    async fn release(mut self) {
        self.ended = true;
        self.renewing.abort();
        self.sluice.release_repository_push(&self.name).await;
    }

    async fn publish(mut self) -> sluice_service::Result<()> {
        self.ended = true;
        self.renewing.abort();
        // A task of its own: a client that goes away does not cut the publication short.
        let (sluice, name) = (self.sluice.clone(), self.name.clone());
        tokio::spawn(async move { sluice.publish_repository(&name).await })
            .await
            .unwrap_or_else(|e| {
                Err(sluice_service::Error::Internal(format!(
                    "publishing the push stopped: {e}"
                )))
            })
    }
}

impl Drop for PushTurn {
    fn drop(&mut self) {
        self.renewing.abort();
        if !self.ended {
            let (sluice, name) = (self.sluice.clone(), self.name.clone());
            tokio::spawn(async move {
                if let Err(e) = sluice.publish_repository(&name).await {
                    tracing::error!(repository = name, error = %e, "a push cut short could not be shared with the other replicas");
                }
            });
        }
    }
}

/// How long a push waits for another replica's push to the same repository.
const PUSH_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

fn out_of_date(name: &str, e: &sluice_service::Error) -> Response {
    tracing::error!(repository = name, error = %e, "the repository could not be brought up to date");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("repository {name} could not be brought up to date with the other replicas"),
    )
}

/// Runs `git http-backend` for one request on this server's copy.
async fn exchange_copy(
    state: &GitState,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
    name: &str,
    path_info: &str,
) -> Response {
    let repo = state.repos_dir.join(format!("{name}.git"));
    if !repo.is_dir() {
        return plain(
            StatusCode::NOT_FOUND,
            &format!("repository {name} does not exist"),
        );
    }
    let is_push = parts.method == Method::POST && path_info.ends_with("/git-receive-pack");
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut cmd = match state.git.http_backend(&state.repos_dir, &repo, is_push) {
        Ok(cmd) => cmd,
        Err(e) => {
            tracing::error!(error = %e, "git http-backend could not be prepared");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "git is not available on this server",
            );
        }
    };
    cmd.env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "sluice")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped());
    let max_push_bytes = state.sluice.options().max_push_bytes;
    let declared: Option<u64> = header("content-length").parse().ok();
    if is_push && declared.is_some_and(|n| n > max_push_bytes) {
        return push_too_large(max_push_bytes);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "git http-backend could not be started");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "git is not available on this server",
            );
        }
    };
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "git http-backend has no pipes",
        );
    };
    // The request streams in (counted against the push limit), stderr drains beside it, so
    // neither pipe can fill and stall git.
    let too_large = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let too_large = too_large.clone();
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            let mut fed = 0u64;
            while let Ok(Some(chunk)) = stream.try_next().await {
                fed += chunk.len() as u64;
                if is_push && fed > max_push_bytes {
                    too_large.store(true, std::sync::atomic::Ordering::SeqCst);
                    break;
                }
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = stdin.shutdown().await;
        })
    };
    let drained = tokio::spawn(drain_stderr(stderr, name.to_string()));
    let head = match tokio::time::timeout(EXCHANGE_TIMEOUT, read_cgi_head(&mut stdout)).await {
        Ok(Ok(head)) => head,
        Ok(Err(message)) => {
            feeder.abort();
            return plain(StatusCode::BAD_GATEWAY, &message);
        }
        Err(_) => {
            feeder.abort();
            return plain(
                StatusCode::GATEWAY_TIMEOUT,
                "git http-backend did not answer",
            );
        }
    };
    if !is_push {
        // A fetch's pack streams out as git writes it; the child is owned by the stream.
        let body = stream_stdout(child, stdout, head.rest, feeder);
        return cgi_response(head.status, head.headers, body);
    }
    // A push is answered after the pushed branches are announced, so its report (small) is
    // read whole, bounded.
    let mut report = head.rest;
    let read = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) if report.len() + n <= MAX_PUSH_REPORT_BYTES => {
                    report.extend_from_slice(&buf[..n])
                }
                Ok(_) => break,
            }
        }
    })
    .await;
    let _ = feeder.await;
    let status = match read {
        Ok(()) => child.wait().await.ok(),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let _ = drained.await;
    if too_large.load(std::sync::atomic::Ordering::SeqCst) {
        let _ = child.kill().await;
        return push_too_large(max_push_bytes);
    }
    if status.is_none() {
        return plain(StatusCode::GATEWAY_TIMEOUT, "the push took too long");
    }
    cgi_response(head.status, head.headers, Body::from(report))
}

/// What a client of git's smart HTTP protocol asks for after `NAME.git`.
const SMART_HTTP_PATHS: [&str; 4] = [
    "/info/refs",
    "/git-upload-pack",
    "/git-receive-pack",
    "/HEAD",
];

/// The longest a pack exchange may take before git is stopped.
const EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);
/// The longest header block git http-backend may write.
const MAX_CGI_HEAD_BYTES: usize = 64 * 1024;
/// The largest report-status a push may answer with.
const MAX_PUSH_REPORT_BYTES: usize = 1 << 20;
/// How much of git's stderr is kept for the log.
const MAX_STDERR_BYTES: usize = 16 * 1024;

fn push_too_large(limit: u64) -> Response {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "the push is larger than this server accepts ({limit} bytes, [git] max_push_bytes)"
        ),
    )
}

/// Reads git's stderr to its end, keeping the start for the log.
async fn drain_stderr(mut stderr: tokio::process::ChildStderr, repository: String) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) if kept.len() < MAX_STDERR_BYTES => kept.extend_from_slice(&buf[..n]),
            Ok(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&kept);
    if !text.trim().is_empty() {
        tracing::debug!(repository, stderr = text.trim(), "git http-backend");
    }
}

/// The CGI header block of git's answer, and the bytes of the body read with it.
struct CgiHead {
    status: StatusCode,
    headers: Vec<(String, String)>,
    rest: Vec<u8>,
}

async fn read_cgi_head(stdout: &mut tokio::process::ChildStdout) -> Result<CgiHead, String> {
    let mut read = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_end, body_start) = loop {
        let split = read
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| (i, i + 4))
            .or_else(|| {
                read.windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|i| (i, i + 2))
            });
        if let Some(split) = split {
            break split;
        }
        if read.len() > MAX_CGI_HEAD_BYTES {
            return Err("git http-backend wrote too long a header".into());
        }
        match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => return Err("git http-backend gave no headers".into()),
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&read[..head_end]).to_string();
    let mut status = StatusCode::OK;
    let mut headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            if let Some(code) = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
            {
                status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            }
        } else {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    Ok(CgiHead {
        status,
        headers,
        rest: read[body_start..].to_vec(),
    })
}

/// The rest of git's output as a streamed body; the stream owns the child (killed if the
/// client goes away) and stops it at the exchange's deadline.
fn stream_stdout(
    child: tokio::process::Child,
    stdout: tokio::process::ChildStdout,
    first: Vec<u8>,
    feeder: tokio::task::JoinHandle<()>,
) -> Body {
    struct Streaming {
        child: tokio::process::Child,
        stdout: tokio::process::ChildStdout,
        first: Option<Vec<u8>>,
        feeder: tokio::task::JoinHandle<()>,
        deadline: tokio::time::Instant,
    }
    impl Drop for Streaming {
        fn drop(&mut self) {
            self.feeder.abort();
            let _ = self.child.start_kill();
        }
    }
    let state = Streaming {
        child,
        stdout,
        first: Some(first).filter(|f| !f.is_empty()),
        feeder,
        deadline: tokio::time::Instant::now() + EXCHANGE_TIMEOUT,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if let Some(first) = s.first.take() {
            return Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(first)), s));
        }
        let mut buf = vec![0u8; 64 * 1024];
        match tokio::time::timeout_at(s.deadline, s.stdout.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => None,
            Ok(Ok(n)) => {
                buf.truncate(n);
                Some((Ok(axum::body::Bytes::from(buf)), s))
            }
        }
    });
    Body::from_stream(stream)
}

/// Tells the service about every branch and tag the push moved; the files a branch's new
/// commits change (what trigger filters on file paths read) are listed only if it asks.
async fn announce_pushes(state: &GitState, repo: &std::path::Path, name: &str, before: Refs) {
    let after = state.git.refs(repo).await.unwrap_or_default();
    if before.branches.is_empty() {
        adopt_default_branch(repo, &after);
    }
    for (branch, commit) in &after.branches {
        let old = before.branches.get(branch);
        if old == Some(commit) {
            continue;
        }
        let changed_files = async || match state
            .git
            .changed_files(repo, old.map(String::as_str), commit)
            .await
        {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(repository = name, branch, error = %e, "the files a push changed could not be listed");
                Vec::new()
            }
        };
        state
            .sluice
            .git_pushed(name, GitRef::Branch(branch), commit, changed_files)
            .await;
    }
    for (tag, commit) in &after.tags {
        if before.tags.get(tag) != Some(commit) {
            state
                .sluice
                .git_pushed(name, GitRef::Tag(tag), commit, async || Vec::new())
                .await;
        }
    }
}

/// An answer from git's CGI header block and a body.
/// The first branch pushed to an empty repository becomes its default (what `HEAD` names), as
/// CodeCommit does, unless `HEAD` already names a branch that now exists.
fn adopt_default_branch(repo: &std::path::Path, after: &Refs) {
    let current = std::fs::read_to_string(repo.join("HEAD")).unwrap_or_default();
    let named = current
        .trim()
        .strip_prefix("ref: refs/heads/")
        .unwrap_or_default();
    if after.branches.contains_key(named) {
        return;
    }
    let Some(first) = after.branches.keys().find(|b| git::check_branch(b).is_ok()) else {
        return;
    };
    if let Err(e) = crate::repositories::set_default_branch(repo, first) {
        tracing::warn!(repository = %repo.display(), error = %e, "the default branch could not be set");
    }
}

fn cgi_response(status: StatusCode, headers: Vec<(String, String)>, body: Body) -> Response {
    let mut response = (status, body).into_response();
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_repository_names_are_served() {
        assert_eq!(
            repository_of("/_sluice/git/app.git/info/refs"),
            Some(("app".into(), "/app.git/info/refs".into()))
        );
        assert_eq!(repository_of("/_sluice/git/../x.git/info/refs"), None);
        assert_eq!(repository_of("/_sluice/git/app/info/refs"), None);
        assert_eq!(repository_of("/other/app.git"), None);
    }
}
