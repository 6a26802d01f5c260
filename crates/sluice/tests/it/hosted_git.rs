//! Hosted git holds its limits (issue 10, finding 4): a push larger than `[git]
//! max_push_bytes` is refused and moves nothing, paths outside git's smart HTTP protocol are
//! client errors, and a clone streams the pack. Where repositories are shared (replicas), a copy
//! a crash left mid-push returns to the published snapshot.

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

async fn head_of(work: &std::path::Path) -> String {
    let out = tokio::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(work)
        .output()
        .await
        .expect("git rev-parse");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

#[tokio::test]
async fn a_copy_a_crash_left_between_push_and_publication_returns_to_the_snapshot() {
    let options = Options {
        shared_repositories: true,
        ..Options::default()
    };
    let server = TestServer::start_with(options).await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let published = head_of(work.path()).await;
    let repo = server.repos_dir().join("app.git");
    let mark = std::fs::read_to_string(repo.join("sluice-copy")).expect("the copy is marked");
    let (record_id, snapshot) = mark.trim().split_once(' ').expect("RECORD SNAPSHOT");
    assert_ne!(snapshot, "-", "the push was published: {mark}");

    // As a crash between a push and its publication leaves the copy: marked as changing, with
    // a branch moved that no snapshot holds.
    std::fs::write(
        repo.join("sluice-copy"),
        format!("{record_id} unpublished\n"),
    )
    .expect("mark");
    std::fs::write(work.path().join("app.sh"), "echo never shared\n").expect("write");
    git(work.path(), &["commit", "--quiet", "-am", "never shared"]).await;
    let direct = format!("file://{}", repo.display());
    git(work.path(), &["push", "--quiet", &direct, "main"]).await;
    assert_ne!(head_of(work.path()).await, published);

    // The next read brings it back to what was published.
    let branch = server
        .sluice
        .repository_branch("app", "main")
        .await
        .expect("GetBranch");
    assert_eq!(branch, published);
    let mark = std::fs::read_to_string(repo.join("sluice-copy")).expect("mark");
    assert_eq!(mark.trim(), format!("{record_id} {snapshot}"));
    server.stop().await;
}
