//! The runtime clients and the Runtime API, end to end with real interpreters (unconfined:
//! the sandbox's own tests cover confinement).

use sluice_functions::{Config, FunctionSpec, Invocation, Outcome, Pool};
use sluice_sandbox::Sandbox;
use std::time::Duration;

fn spec(dir: &std::path::Path, runtime: &str, handler: &str, timeout: Duration) -> FunctionSpec {
    FunctionSpec {
        key: format!("{runtime}:{handler}"),
        runtime: runtime.into(),
        handler: handler.into(),
        code_dir: dir.to_path_buf(),
        timeout,
        function_arn: "arn:aws:lambda:us-east-1:111111111111:function:f".into(),
        environment: vec![("GREETING".into(), "hello".into())],
    }
}

/// Whether a program is on `PATH` (looked up, not started).
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn invocation(id: &str, payload: &str) -> Invocation {
    Invocation {
        request_id: id.into(),
        payload: payload.as_bytes().to_vec(),
        client_context: None,
        deadline_ms: i64::MAX,
    }
}

#[tokio::test]
async fn a_python_handler_answers_and_its_warm_process_answers_again() {
    let code = tempfile::tempdir().expect("dir");
    std::fs::write(
        code.path().join("app.py"),
        "import os\ncount = 0\ndef handler(event, context):\n    global count\n    count += 1\n    print('seen', event['n'])\n    return {'n': event['n'], 'count': count, 'greeting': os.environ['GREETING'], 'id': context.aws_request_id}\n",
    )
    .expect("write");
    let work = tempfile::tempdir().expect("work");
    let pool = Pool::new(
        Sandbox::unconfined(),
        work.path().to_path_buf(),
        Config::default(),
    );
    let spec = spec(
        code.path(),
        "python3.12",
        "app.handler",
        Duration::from_secs(30),
    );
    let first = pool
        .invoke(&spec, invocation("r1", r#"{"n": 1}"#))
        .await
        .expect("invoke");
    assert!(first.cold);
    let Outcome::Response(body) = first.outcome else {
        panic!("{:?} {}", first.outcome, first.log)
    };
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["greeting"], "hello");
    assert_eq!(v["id"], "r1");
    assert!(first.log.contains("seen 1"), "{}", first.log);
    let second = pool
        .invoke(&spec, invocation("r2", r#"{"n": 2}"#))
        .await
        .expect("invoke");
    assert!(!second.cold, "the warm process is reused");
    let Outcome::Response(body) = second.outcome else {
        panic!("{:?}", second.outcome)
    };
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["count"], 2);
}

#[tokio::test]
async fn a_raised_error_comes_back_in_aws_shape_and_a_timeout_kills_the_process() {
    let code = tempfile::tempdir().expect("dir");
    std::fs::write(
        code.path().join("app.py"),
        "import time\ndef fail(event, context):\n    raise ValueError('bad input')\ndef slow(event, context):\n    time.sleep(60)\n",
    )
    .expect("write");
    let work = tempfile::tempdir().expect("work");
    let pool = Pool::new(
        Sandbox::unconfined(),
        work.path().to_path_buf(),
        Config::default(),
    );
    let failed = pool
        .invoke(
            &spec(
                code.path(),
                "python3.12",
                "app.fail",
                Duration::from_secs(30),
            ),
            invocation("r1", "{}"),
        )
        .await
        .expect("invoke");
    let Outcome::Error { kind, body } = failed.outcome else {
        panic!("{:?}", failed.outcome)
    };
    assert_eq!(kind, "Unhandled");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["errorType"], "ValueError");
    assert_eq!(v["errorMessage"], "bad input");
    let slow = pool
        .invoke(
            &spec(
                code.path(),
                "python3.12",
                "app.slow",
                Duration::from_millis(500),
            ),
            invocation("r2", "{}"),
        )
        .await
        .expect("invoke");
    assert_eq!(slow.outcome, Outcome::TimedOut);
    let missing = pool
        .invoke(
            &spec(
                code.path(),
                "python3.12",
                "nope.handler",
                Duration::from_secs(30),
            ),
            invocation("r3", "{}"),
        )
        .await
        .expect("invoke");
    assert!(
        matches!(&missing.outcome, Outcome::Error { kind, .. } if kind == "Runtime.ImportModuleError"),
        "{:?}",
        missing.outcome
    );
}

#[tokio::test]
async fn node_handlers_answer_by_promise_callback_or_context() {
    if !on_path("node") {
        eprintln!("node is not installed; skipped");
        return;
    }
    let code = tempfile::tempdir().expect("dir");
    std::fs::write(
        code.path().join("index.js"),
        "exports.asyncHandler = async (event) => ({ via: 'promise', n: event.n });\n\
         exports.callbackHandler = (event, context, callback) => callback(null, { via: 'callback' });\n\
         exports.contextHandler = function(event, context) { context.succeed({ via: 'context' }); };\n\
         exports.failing = function(event, context) { context.fail(new Error('nope')); };\n",
    )
    .expect("write");
    let work = tempfile::tempdir().expect("work");
    let pool = Pool::new(
        Sandbox::unconfined(),
        work.path().to_path_buf(),
        Config::default(),
    );
    for (handler, via) in [
        ("index.asyncHandler", "promise"),
        ("index.callbackHandler", "callback"),
        ("index.contextHandler", "context"),
    ] {
        let done = pool
            .invoke(
                &spec(code.path(), "nodejs20.x", handler, Duration::from_secs(30)),
                invocation("r", r#"{"n":1}"#),
            )
            .await
            .expect("invoke");
        let Outcome::Response(body) = done.outcome else {
            panic!("{handler}: {:?} {}", done.outcome, done.log)
        };
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["via"], via);
    }
    let failed = pool
        .invoke(
            &spec(
                code.path(),
                "nodejs20.x",
                "index.failing",
                Duration::from_secs(30),
            ),
            invocation("r", "{}"),
        )
        .await
        .expect("invoke");
    assert!(
        matches!(failed.outcome, Outcome::Error { .. }),
        "{:?}",
        failed.outcome
    );
}

#[tokio::test]
async fn a_provided_runtime_runs_the_packages_own_bootstrap() {
    if !on_path("curl") {
        eprintln!("curl is not installed; skipped");
        return;
    }
    // AWS's custom-runtime tutorial: a shell bootstrap speaking the Runtime API with curl.
    let code = tempfile::tempdir().expect("dir");
    let bootstrap = code.path().join("bootstrap");
    std::fs::write(
        &bootstrap,
        "#!/bin/sh\nset -eu\nAPI=\"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime\"\n\
         while true; do\n  HEADERS=$(mktemp)\n  EVENT=$(curl -sS -D \"$HEADERS\" \"$API/invocation/next\")\n\
           ID=$(grep -i lambda-runtime-aws-request-id \"$HEADERS\" | tr -d '[:space:]' | cut -d: -f2)\n\
           curl -sS -X POST \"$API/invocation/$ID/response\" -d \"{\\\"echo\\\": $EVENT, \\\"handler\\\": \\\"$_HANDLER\\\"}\" > /dev/null\n\
         done\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let work = tempfile::tempdir().expect("work");
    let pool = Pool::new(
        Sandbox::unconfined(),
        work.path().to_path_buf(),
        Config::default(),
    );
    let done = pool
        .invoke(
            &spec(
                code.path(),
                "provided.al2023",
                "function.handler",
                Duration::from_secs(30),
            ),
            invocation("r1", r#"{"n": 5}"#),
        )
        .await
        .expect("invoke");
    let Outcome::Response(body) = done.outcome else {
        panic!("{:?} {}", done.outcome, done.log)
    };
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["echo"]["n"], 5);
    assert_eq!(v["handler"], "function.handler");
}
