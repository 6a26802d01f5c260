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
use sluice_service::Sluice;
use sluice_worker::git;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The URL prefix of hosted repositories.
pub const GIT_PREFIX: &str = "/_sluice/git";

#[derive(Clone)]
pub struct GitState {
    pub sluice: Sluice,
    pub repos_dir: PathBuf,
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// `NAME.git/rest` → (`NAME`, `/NAME.git/rest`).
fn repository_of(path: &str) -> Option<(String, String)> {
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
    match sluice.access_key(id).await {
        Ok(Some((expected, caller)))
            if sluice_sigv4::constant_time_eq(expected.expose(), secret) =>
        {
            Some(caller)
        }
        _ => None,
    }
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
    let info = sluice_api::trail::request_info(parts);
    let request_id = sluice.new_id();
    let resource = format!(
        "arn:aws:codecommit:{}:{}:{repository}",
        sluice.options().region,
        sluice.options().account_id
    );
    let event = sluice_api::trail::event(
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
    );
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
    let Some(caller) = authenticated(&state.sluice, &parts.headers).await else {
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
    let Some((name, path_info)) = repository_of(parts.uri.path()) else {
        return plain(StatusCode::NOT_FOUND, "not a hosted repository path");
    };
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
    if is_exchange || allowed.is_err() {
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
    let repo = state.repos_dir.join(format!("{name}.git"));
    if !repo.is_dir() {
        return plain(
            StatusCode::NOT_FOUND,
            &format!("repository {name} does not exist"),
        );
    }
    let is_push = parts.method == Method::POST && path_info.ends_with("/git-receive-pack");
    let before = if is_push {
        git::branches(&repo).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .envs(sluice_worker::process::inherited_env())
        .env("GIT_PROJECT_ROOT", &state.repos_dir)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PATH_INFO", &path_info)
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "sluice")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
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
    let Some(mut stdin) = child.stdin.take() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "git http-backend has no input",
        );
    };
    let feeder = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Ok(Some(chunk)) = stream.try_next().await {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = stdin.shutdown().await;
    });
    let Some(mut stdout) = child.stdout.take() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "git http-backend has no output",
        );
    };
    let mut output = Vec::new();
    if let Err(e) = stdout.read_to_end(&mut output).await {
        tracing::error!(error = %e, "reading git http-backend failed");
    }
    let _ = feeder.await;
    let status = child.wait().await;
    if let Some(mut err) = child.stderr.take() {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text).await;
        if !text.trim().is_empty() {
            tracing::debug!(repository = name, stderr = text.trim(), "git http-backend");
        }
    }
    if !status.is_ok_and(|s| s.success()) && output.is_empty() {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed");
    }
    if is_push {
        announce_pushes(&state, &repo, &name, before).await;
    }
    cgi_response(output)
}

async fn announce_pushes(
    state: &GitState,
    repo: &std::path::Path,
    name: &str,
    before: Vec<(String, String)>,
) {
    let before: BTreeMap<String, String> = before.into_iter().collect();
    let after = git::branches(repo).await.unwrap_or_default();
    for (branch, commit) in after {
        if before.get(&branch) != Some(&commit) {
            state.sluice.branch_pushed(name, &branch, &commit).await;
        }
    }
}

/// A CGI answer: header lines (`Status: 200 OK`, ...), a blank line, the body.
fn cgi_response(output: Vec<u8>) -> Response {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            output
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        });
    let Some((head_end, body_start)) = split else {
        return plain(StatusCode::BAD_GATEWAY, "git http-backend gave no headers");
    };
    let head = String::from_utf8_lossy(&output[..head_end]).to_string();
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
    let mut response = (status, Body::from(output[body_start..].to_vec())).into_response();
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
