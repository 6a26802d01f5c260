//! The trust boundary around builds: the attack of issue 10, step by step, from inside a
//! `Commands` action of a pipeline whose author has nothing but pipeline rights; a fork bomb
//! and an endless log are contained. The server runs in this test process, so a build that
//! could signal its parent would kill the test.

use crate::providers::{
    action_state, codecommit_source, commands, create, repository, settled, settled_within,
};
use serde_json::Value;
use sluice_service::Options;
use sluice_test_utils::{test_sandbox, TestServer};
use std::collections::BTreeMap;
use std::path::Path;

/// The text of the log of the action in stage `stage` of the latest execution.
async fn build_log(server: &TestServer, pipeline: &str, stage: usize) -> String {
    let state = action_state(server, pipeline, stage).await;
    let job = state["externalExecutionId"].as_str().expect("job id");
    let (status, _, log) = server
        .s3("GET", &format!("/sluice-logs/jobs/{job}.log"), vec![])
        .await;
    assert_eq!(status, 200, "the log is stored");
    String::from_utf8_lossy(&log).into_owned()
}

fn attempt(what: &str, command: &str) -> String {
    // Spelled apart so that the logged command line itself never contains the marker.
    format!("if {command}; then echo \"LE\"AK-{what}; fi")
}

/// Files as `sluice serve` keeps them in its data dir.
fn plant_secrets(data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in [
        (
            "credentials",
            "[default]\naws_secret_access_key = CANARY-ROOT-SECRET\n",
        ),
        ("master.key", "CANARY-MASTER-KEY"),
        ("token.key", "CANARY-TOKEN-KEY"),
    ] {
        let path = data.join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
    }
    // Another job's workspace, as the providers leave one while it runs.
    let other = data.join("work/other-job/ws/src/0");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("secret.txt"), "CANARY-OTHER-WORKSPACE").expect("write");
    test_sandbox()
        .hand_over(&data.join("work/other-job"))
        .expect("hand over");
}

#[tokio::test]
async fn a_build_cannot_read_the_keys_the_database_or_another_workspace_nor_touch_the_server() {
    let server = TestServer::start_with_providers(Options::default(), BTreeMap::new()).await;
    let data = server.data_dir().to_path_buf();
    plant_secrets(&data);
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    let d = data.display();
    let steps = [
        attempt("relative-credentials", "cat ../../../../../credentials"),
        attempt("credentials", &format!("cat {d}/credentials")),
        attempt("master-key", &format!("cat {d}/master.key")),
        attempt("token-key", &format!("cat {d}/token.key")),
        attempt("database", &format!("head -c 16 {d}/sluice.db")),
        attempt("data-dir-listing", &format!("ls {d}")),
        attempt(
            "other-workspace",
            &format!("cat {d}/work/other-job/ws/src/0/secret.txt"),
        ),
        attempt(
            "repository-hook",
            &format!("echo 'echo pwned' > {d}/repos/app.git/hooks/post-receive"),
        ),
        attempt("server-environment", "head -c 1 /proc/$PPID/environ"),
        attempt("signal-server", "kill -0 $PPID"),
        attempt("kill-server", "kill -9 $PPID"),
        attempt("server-home", "ls /root"),
        attempt("tmp-of-others", "ls /tmp"),
        // The job's own workspace, home and temp dir stay usable.
        "echo built > result.txt && cat result.txt".into(),
        "echo cached > \"$HOME/cache\" && cat \"$HOME/cache\"".into(),
        "mktemp > /dev/null".into(),
    ];
    let list: Vec<&str> = steps.iter().map(String::as_str).collect();
    create(
        &server,
        "attack",
        vec![codecommit_source("main"), commands(&list)],
    )
    .await;
    let runs = settled(&server, "attack", 1).await;
    let log = build_log(&server, "attack", 1).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}\n{log}");
    assert!(!log.contains("LEAK-"), "a step got through:\n{log}");
    for canary in [
        "CANARY-ROOT-SECRET",
        "CANARY-MASTER-KEY",
        "CANARY-TOKEN-KEY",
        "CANARY-OTHER-WORKSPACE",
        "SQLite format",
    ] {
        assert!(!log.contains(canary), "{canary} reached the log:\n{log}");
    }
    assert!(log.contains("built") && log.contains("cached"), "{log}");
    assert!(
        !data.join("repos/app.git/hooks/post-receive").exists(),
        "no hook was written"
    );
    // The server still answers and still runs builds.
    let again = server
        .ok(
            "StartPipelineExecution",
            serde_json::json!({"name": "attack"}),
        )
        .await;
    assert!(again["pipelineExecutionId"].is_string());
    let runs = settled(&server, "attack", 2).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    server.stop().await;
}

fn sandbox_with(limits: impl FnOnce(&mut sluice_sandbox::Options)) -> sluice_sandbox::Sandbox {
    let mut options = test_sandbox().options().clone();
    limits(&mut options);
    sluice_sandbox::Sandbox::new(options)
}

/// The user the fork bomb runs as when the tests run as root (no other process has it).
const BOMB_UID: u32 = 64_999;

/// Whether any process runs as `uid`.
fn user_has_processes(uid: u32) -> bool {
    if !sluice_sandbox::running_as_root() {
        return false;
    }
    let needle = format!("\t{uid}\t");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .any(|status| {
            status
                .lines()
                .any(|l| l.starts_with("Uid:") && l.contains(&needle))
        })
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_the_server_keeps_running_builds() {
    // A user of its own (when root): RLIMIT_NPROC counts every process of the user, and other
    // tests run their builds as the default sandbox user meanwhile.
    let sandbox = sandbox_with(|o| {
        o.limits.max_processes = Some(64);
        o.limits.max_cpu_secs = Some(20);
        if o.user.is_some() {
            o.user = Some(sluice_sandbox::Ids {
                uid: BOMB_UID,
                gid: BOMB_UID,
            });
        }
    });
    let server = TestServer::start_with_sandbox(Options::default(), BTreeMap::new(), sandbox).await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    create(
        &server,
        "bomb",
        vec![
            codecommit_source("main"),
            commands(&["bomb() { bomb | bomb & }; bomb; sleep 2; echo the bomb went off"]),
        ],
    )
    .await;
    let runs = settled(&server, "bomb", 1).await;
    let log = build_log(&server, "bomb", 1).await;
    assert!(
        log.contains("the bomb went off") || runs[0]["status"] == "Failed",
        "{log}"
    );
    let state: Value = server
        .ok("GetPipelineState", serde_json::json!({"name": "bomb"}))
        .await;
    assert_eq!(state["pipelineName"], "bomb", "the server answers");
    // A second build runs: the bomb's processes are gone and the sandbox user can fork again.
    for _ in 0..600 {
        if !user_has_processes(BOMB_UID) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        !user_has_processes(BOMB_UID),
        "the bomb's processes outlived its job"
    );
    std::fs::write(work.path().join("app.sh"), "echo v2\n").expect("write");
    crate::providers::git(work.path(), &["commit", "--quiet", "-am", "v2"]).await;
    create(
        &server,
        "after-bomb",
        vec![
            codecommit_source("main"),
            commands(&["sh app.sh", "true | true"]),
        ],
    )
    .await;
    let runs = settled(&server, "after-bomb", 1).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_ten_gigabyte_log_is_cut_at_the_limit_and_the_build_goes_on() {
    let sandbox = sandbox_with(|o| o.max_log_bytes = 1 << 20);
    let server = TestServer::start_with_sandbox(Options::default(), BTreeMap::new(), sandbox).await;
    let work = tempfile::tempdir().expect("dir");
    repository(&server, "app", work.path()).await;
    create(
        &server,
        "chatty",
        vec![
            codecommit_source("main"),
            commands(&[
                "yes 'a line of a very chatty build' | head -c 10000000000",
                "true",
            ]),
        ],
    )
    .await;
    // Ten gigabytes through a pipe take a while on a loaded machine.
    let runs = settled_within(&server, "chatty", 1, 600).await;
    assert_eq!(runs[0]["status"], "Succeeded", "{runs:?}");
    let log = build_log(&server, "chatty", 1).await;
    assert!(
        log.len() < (1 << 20) + 4096,
        "the stored log is {} bytes",
        log.len()
    );
    assert!(
        log.contains("reached its limit of 1048576 bytes"),
        "{}",
        &log[log.len() - 500..]
    );
    assert!(
        log.contains("bytes of output were dropped"),
        "{}",
        &log[log.len() - 500..]
    );
    server.stop().await;
}

/// git reads what users pushed or a remote served; a flaw in it met by a hostile pack must
/// reach nothing but the repository at hand. Each git run gets the repository it reads and the
/// directory it writes, and nothing else of the server's.
#[tokio::test]
async fn git_on_user_repositories_reaches_only_its_repository_and_destination() {
    use sluice_sandbox::ToolAccess;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    plant_secrets(&data);
    let repo = data.join("repos/app.git");
    let other = data.join("repos/other.git");
    sluice_worker::git::init_bare(&repo).await.expect("init");
    sluice_worker::git::init_bare(&other)
        .await
        .expect("init other");
    let work = dir.path().join("checkout");
    std::fs::create_dir_all(&work).expect("checkout");
    std::fs::write(work.join("app.sh"), "echo hi\n").expect("write");
    let push_to = repo.to_str().expect("utf8");
    for args in [
        &["init", "--quiet", "--initial-branch=main"][..],
        &["add", "."],
        &["commit", "--quiet", "-m", "first"],
        &["push", "--quiet", push_to, "main"],
    ] {
        crate::providers::git(&work, args).await;
    }

    let sandbox = test_sandbox();
    let git = sluice_worker::git::Git::new(sandbox.clone());
    let commit = git
        .branch_commit(&repo, "main")
        .await
        .expect("rev-parse")
        .expect("main exists");
    let scratch = data.join("work/job");
    std::fs::create_dir_all(&scratch).expect("scratch");
    git.export_tree(&repo, &commit, &scratch.join("tree"), &scratch)
        .await
        .expect("export");
    assert_eq!(
        std::fs::read_to_string(scratch.join("tree/app.sh")).expect("exported"),
        "echo hi\n"
    );

    // The same confinement, tried with a shell in git's place.
    let access = ToolAccess {
        workdir: repo.clone(),
        read: vec![repo.clone()],
        write: vec![scratch.clone()],
        network: false,
    };
    let server = std::process::id();
    let script = [
        attempt("KEY", &format!("cat {}/master.key", data.display())),
        attempt(
            "CREDENTIALS",
            &format!("cat {}/credentials", data.display()),
        ),
        attempt("OTHER-REPO", &format!("ls {}/refs", other.display())),
        attempt(
            "HOOK",
            &format!("echo x > {}/hooks/post-update", repo.display()),
        ),
        attempt("ENVIRON", &format!("cat /proc/{server}/environ")),
        attempt("SIGNAL", &format!("kill -0 {server}")),
        attempt("REPO", &format!("cat {}/HEAD > /dev/null", repo.display())),
        attempt("WRITE", &format!("echo x > {}/new", scratch.display())),
    ]
    .join("\n");
    let out = sandbox
        .tool_command("/bin/sh", &access)
        .args(["-c", &script])
        .output()
        .await
        .expect("shell");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("CANARY"), "a key was read: {said}");
    for refused in [
        "KEY",
        "CREDENTIALS",
        "OTHER-REPO",
        "HOOK",
        "ENVIRON",
        "SIGNAL",
    ] {
        assert!(
            !said.contains(&format!("LEAK-{refused}")),
            "{refused} was allowed: {said}"
        );
    }
    for allowed in ["REPO", "WRITE"] {
        assert!(
            said.contains(&format!("LEAK-{allowed}")),
            "{allowed} was refused, so the test proves nothing: {said} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
