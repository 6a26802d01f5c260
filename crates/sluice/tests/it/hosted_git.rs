//! Hosted git holds its limits (issue 10, finding 4): a push larger than `[git]
//! max_push_bytes` is refused and moves nothing, paths outside git's smart HTTP protocol are
//! client errors, and a clone streams the pack. Where repositories are shared (replicas), a copy
//! a crash left mid-push returns to the published snapshot.

use crate::providers::{git, git_succeeds, head_commit, repository};
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

/// Pseudo-random bytes (xorshift), which do not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
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
    // Noise does not compress: the pack is about two megabytes, sent chunked (above git's
    // http.postBuffer), so the limit is enforced as it streams.
    std::fs::write(work.path().join("noise.bin"), noise(2_000_000)).expect("write");
    git(work.path(), &["add", "."]).await;
    git(work.path(), &["commit", "--quiet", "-m", "big"]).await;
    assert!(
        !git_succeeds(work.path(), &["push", "--quiet", "origin", "main"]).await,
        "the big push was accepted"
    );
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

/// A server whose repositories are shared as replicas share them.
async fn shared_server() -> TestServer {
    let options = Options {
        shared_repositories: true,
        ..Options::default()
    };
    TestServer::start_with(options).await
}

#[tokio::test]
async fn a_copy_a_crash_left_between_push_and_publication_returns_to_the_snapshot() {
    let server = shared_server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let published = head_commit(work.path()).await;
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
    assert_ne!(head_commit(work.path()).await, published);

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

/// The sealed parts of repository snapshots in a test server's blob store: name → size.
fn snapshot_parts(server: &TestServer) -> std::collections::BTreeMap<String, u64> {
    let mut parts = std::collections::BTreeMap::new();
    let root = server.data_dir().join("blobs/repositories");
    for record in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for part in std::fs::read_dir(record.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let size = part.metadata().expect("size").len();
            parts.insert(part.file_name().to_string_lossy().to_string(), size);
        }
    }
    parts
}

/// The sizes of the parts `after` has and `before` had not.
fn new_parts(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> Vec<u64> {
    after
        .iter()
        .filter(|(name, _)| !before.contains_key(*name))
        .map(|(_, size)| *size)
        .collect()
}

#[tokio::test]
async fn a_shared_push_publishes_only_what_it_added_and_a_new_copy_is_built_from_the_parts() {
    let server = shared_server().await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let first = snapshot_parts(&server);
    assert_eq!(first.len(), 1, "the first push is one part: {first:?}");

    // Bytes that do not compress, pushed: a part of about their size.
    std::fs::write(work.path().join("noise.bin"), noise(300_000)).expect("write");
    git(work.path(), &["add", "."]).await;
    git(work.path(), &["commit", "--quiet", "-m", "noise"]).await;
    git(work.path(), &["push", "--quiet", "origin", "main"]).await;
    let second = snapshot_parts(&server);
    let added = new_parts(&first, &second);
    assert!(
        added.len() == 1 && added[0] > 300_000,
        "the noise is one part: {added:?}"
    );

    // Parts after the first now outweigh it: the next push starts the chain again with one
    // bundle of everything, and the old parts go.
    std::fs::write(work.path().join("app.sh"), "echo again\n").expect("write");
    git(work.path(), &["commit", "--quiet", "-am", "restart"]).await;
    git(work.path(), &["push", "--quiet", "origin", "main"]).await;
    let third = snapshot_parts(&server);
    assert_eq!(third.len(), 1, "one bundle of everything: {third:?}");
    assert!(new_parts(&second, &third)[0] > 300_000, "{third:?}");

    // A small change after it adds a small part, however large the repository.
    std::fs::write(work.path().join("app.sh"), "echo changed\n").expect("write");
    git(work.path(), &["commit", "--quiet", "-am", "small change"]).await;
    git(work.path(), &["push", "--quiet", "origin", "main"]).await;
    // A branch made at a known commit adds no objects.
    git(work.path(), &["push", "--quiet", "origin", "main:release"]).await;
    let fourth = snapshot_parts(&server);
    let added = new_parts(&third, &fourth);
    assert!(
        added.len() == 1 && added[0] < 5_000,
        "the change is one small part: {added:?}"
    );
    let changed = head_commit(work.path()).await;

    // A copy made from nothing (a replica that never had it) reads every part in order.
    std::fs::remove_dir_all(server.repos_dir().join("app.git")).expect("remove the copy");
    for branch in ["main", "release"] {
        let commit = server
            .sluice
            .repository_branch("app", branch)
            .await
            .expect("GetBranch");
        assert_eq!(commit, changed, "{branch}");
    }
    let clone = tempfile::tempdir().expect("dir");
    let url = format!(
        "http://{TEST_ACCESS_KEY_ID}:{TEST_SECRET_ACCESS_KEY}@{}/_sluice/git/app.git",
        server.addr
    );
    git(clone.path(), &["clone", "--quiet", &url, "copy"]).await;
    assert_eq!(
        std::fs::read_to_string(clone.path().join("copy/app.sh")).expect("read"),
        "echo changed\n"
    );
    assert!(clone.path().join("copy/assets/blob.bin").exists());

    // A deleted branch is deleted in every copy.
    git(work.path(), &["push", "--quiet", "origin", ":release"]).await;
    std::fs::remove_dir_all(server.repos_dir().join("app.git")).expect("remove the copy");
    let branches = server
        .sluice
        .repository_branches("app", None)
        .await
        .expect("ListBranches");
    assert_eq!(branches.items, ["main"]);
    server.stop().await;
}
