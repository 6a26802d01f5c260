//! Tidy is a test: repository invariants checked on every `cargo test`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits below the root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc_comment() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    rust_files(&root().join("xtask"), &mut files);
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let first = text.lines().next().unwrap_or_default();
            // Generated code carries its own header naming its source.
            !(first.starts_with("//!") || first.starts_with("// @generated"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` opening: {missing:#?}"
    );
}

/// Our crates a crate depends on, and whether it names any of `forbidden`.
fn dependencies(krate: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml"))
        .expect("crate manifest");
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                if !name.trim().is_empty() {
                    deps.push(name.trim().to_string());
                }
            }
        }
    }
    deps
}

#[test]
fn model_does_no_io_and_knows_no_wire_format() {
    // chrono without its default features has no clock; chrono-tz compiles the time zone
    // database in, so deployment windows read no files.
    let allowed = ["regex", "chrono", "chrono-tz"];
    for dep in dependencies("model") {
        assert!(
            allowed.contains(&dep.as_str()),
            "model may not depend on {dep}"
        );
    }
}

#[test]
fn policy_language_does_no_io_and_reads_no_clock() {
    assert_pure("policy", &["sluice-model", "serde_json", "thiserror"]);
}

/// A pure crate: only the allowed dependencies, and no clock, files, sockets or async.
fn assert_pure(krate: &str, allowed: &[&str]) {
    for dep in dependencies(krate) {
        assert!(
            allowed.contains(&dep.as_str()),
            "{krate} may not depend on {dep}"
        );
    }
    let mut files = Vec::new();
    rust_files(&root().join(format!("crates/{krate}/src")), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        // Address types (`std::net::IpAddr`) are pure; sockets are not.
        for forbidden in [
            "SystemTime",
            "Instant::now",
            "std::fs",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "async fn",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}",
                f.display()
            );
        }
    }
}

#[test]
fn deploy_scheduler_does_no_io_and_reads_no_clock() {
    assert_pure("deploy", &["serde", "serde_yaml", "thiserror"]);
}

#[test]
fn event_matcher_and_documents_do_no_io_and_read_no_clock() {
    assert_pure("events", &["sluice-model", "serde_json", "thiserror"]);
}

#[test]
fn engine_does_no_io_and_reads_no_clock() {
    assert_pure("engine", &["sluice-model", "thiserror"]);
}

#[test]
fn wire_depends_only_on_serde_and_regex() {
    let allowed = ["serde", "serde_json", "regex"];
    for dep in dependencies("wire") {
        assert!(
            allowed.contains(&dep.as_str()),
            "wire may not depend on {dep}"
        );
    }
}

#[test]
fn service_sees_store_traits_never_a_backend_nor_the_wire() {
    for dep in dependencies("service") {
        assert!(
            !dep.starts_with("sluice-store-")
                && dep != "sluice-wire"
                && dep != "sluice-api"
                && dep != "sqlx"
                && dep != "axum",
            "service may not depend on {dep}"
        );
    }
}

#[test]
fn only_the_binary_and_tests_choose_a_backend() {
    for krate in [
        "model", "engine", "wire", "store", "service", "api", "server",
    ] {
        for dep in dependencies(krate) {
            assert!(
                !dep.starts_with("sluice-store-"),
                "{krate} may not depend on the backend {dep}"
            );
        }
    }
}

#[test]
fn domain_types_are_not_serialize() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/model/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let derives = text
            .lines()
            .any(|l| l.trim_start().starts_with("#[derive") && l.contains("Serialize"));
        assert!(
            !derives && !text.contains("serde"),
            "{} uses serde",
            f.display()
        );
    }
}

#[test]
fn only_the_binary_reads_the_environment() {
    let mut files = Vec::new();
    for krate in [
        "model",
        "wire",
        "store",
        "store-sqlite",
        "store-postgres",
        "service",
        "api",
        "console",
        "server",
    ] {
        rust_files(&root().join("crates").join(krate).join("src"), &mut files);
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !text.contains("std::env::var"),
            "{} reads the environment",
            f.display()
        );
    }
}

/// Invariant 21: the console changes nothing through the façade; every button is an API call
/// through `sluice_api::call_as`, authorized and audited as the signed call would be.
#[test]
fn the_console_changes_state_only_through_api_calls() {
    let changes = [
        ".create_pipeline(",
        ".update_pipeline(",
        ".delete_pipeline(",
        ".start_pipeline_execution(",
        ".stop_pipeline_execution(",
        ".retry_stage_execution(",
        ".rollback_stage(",
        ".put_approval_result(",
        ".set_stage_transition(",
        ".create_custom_action_type(",
        ".delete_custom_action_type(",
        ".put_webhook(",
        ".delete_webhook(",
        ".tag_resource(",
        ".record_audit(",
        ".begin_audit(",
        ".complete_audit(",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("crates/console/src"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for change in changes {
            assert!(
                !text.contains(change),
                "{} calls {change} directly; make the API call through call_as",
                f.display()
            );
        }
    }
}

/// Invariant 18: processes start only where they are meant to. A build's process, and git on
/// users' repositories, start in `sandbox`; the others are `git init` of an empty repository,
/// the standalone worker's operator-chosen command (and the agent's hooks, through the same
/// `operator_command`), and the benchmark's git client.
#[test]
fn processes_start_only_in_the_sandbox_and_the_named_tool_runners() {
    let allowed = [
        "crates/sandbox/src/lib.rs",
        "crates/sandbox/src/launcher.rs",
        "crates/worker/src/git.rs",
        "crates/worker/src/process.rs",
        "crates/sluice/src/bench_sources.rs",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    for f in files {
        let relative = f.strip_prefix(root()).expect("under the root");
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        // Only the code a crate ships; its integration tests start what they test.
        if relative.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        if text.contains("Command::new(") {
            assert!(
                allowed.iter().any(|a| relative == Path::new(a)),
                "{} starts a process outside the sandbox and the named tool runners",
                relative.display()
            );
        }
    }
}
