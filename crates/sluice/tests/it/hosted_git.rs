//! Hosted git holds its limits (issue 10, finding 4): a push larger than `[git]
//! max_push_bytes` is refused and moves nothing, paths outside git's smart HTTP protocol are
//! client errors, and a clone streams the pack.

use crate::providers::{git, repository};
use sluice_service::Options;
use sluice_test_utils::{http, TestServer, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};

fn basic() -> String {
    use base64::Engine;
    let pair = format!("{TEST_ACCESS_KEY_ID}:{TEST_SECRET_ACCESS_KEY}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[tokio::test]
async fn a_push_over_the_limit_is_refused_and_moves_no_branch() {
    let options = Options {
        max_push_bytes: 200_000,
        ..Options::default()
    };
    let server = TestServer::start_with(options).await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    // Pseudo-random bytes (xorshift) do not compress: the pack is about two megabytes, sent
    // chunked (above git's http.postBuffer), so the limit is enforced as it streams.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..2_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(work.path().join("noise.bin"), noise).expect("write");
    git(work.path(), &["add", "."]).await;
    git(work.path(), &["commit", "--quiet", "-m", "big"]).await;
    let pushed = tokio::process::Command::new("git")
        .args(["push", "--quiet", "origin", "main"])
        .current_dir(work.path())
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git push");
    assert!(!pushed.status.success(), "the big push was accepted");
    let branches = sluice_worker::git::Git::new(sluice_sandbox::Sandbox::unconfined())
        .branches(&server.repos_dir().join("app.git"))
        .await
        .expect("branches");
    let head = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD~1"])
            .current_dir(work.path())
            .output()
            .expect("rev-parse")
            .stdout,
    )
    .expect("utf-8");
    assert_eq!(
        branches,
        vec![("main".to_string(), head.trim().to_string())],
        "main still names the commit before the big one"
    );
    server.stop().await;
}

#[tokio::test]
async fn paths_outside_smart_http_are_client_errors_and_a_clone_streams() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let auth = basic();
    for (path, status) in [
        ("/_sluice/git/app.git/../app.git/info/refs", 400),
        ("/_sluice/git//app.git/info/refs", 400),
        ("/_sluice/git/app.git/config", 404),
        ("/_sluice/git/app.git/hooks/post-receive", 404),
        (
            "/_sluice/git/app.git/info/refs?service=git-upload-pack",
            200,
        ),
    ] {
        let (got, _, _) = http(
            server.addr,
            "GET",
            path,
            &[("authorization", auth.as_str())],
            Vec::new(),
        )
        .await;
        assert_eq!(got, status, "{path}");
    }
    let clone = tempfile::tempdir().expect("dir");
    let url = format!(
        "http://{TEST_ACCESS_KEY_ID}:{TEST_SECRET_ACCESS_KEY}@{}/_sluice/git/app.git",
        server.addr
    );
    git(clone.path(), &["clone", "--quiet", &url, "copy"]).await;
    assert!(clone.path().join("copy/assets/blob.bin").exists());
    server.stop().await;
}
