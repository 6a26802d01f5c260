//! The audit trail is tamper-evident: every call, allowed or refused, is an event chained to
//! the one before; `sluice audit verify` walks the chain and names the first event that was
//! edited or whose predecessor was removed.

use crate::durability::{call, start_with};
use serde_json::json;
use std::process::Command;

fn verify(data_dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .env("SLUICE_LOG", "error")
        .output()
        .expect("run sluice audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn audit_verify_finds_an_edited_or_removed_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_with(dir.path(), &[]).await;
    let pipeline = crate::fixtures::pipeline("audited");
    assert_eq!(
        call(server.addr, "CreatePipeline", json!({"pipeline": pipeline}))
            .await
            .status,
        200
    );
    assert_eq!(
        call(server.addr, "GetPipeline", json!({"name": "audited"}))
            .await
            .status,
        200
    );
    assert_eq!(
        call(server.addr, "UpdatePipeline", json!({"pipeline": pipeline}))
            .await
            .status,
        200
    );
    let (status, _, _) = sluice_test_utils::http(
        server.addr,
        "POST",
        "/",
        &[("x-amz-target", "CodePipeline_20150709.DeletePipeline")],
        b"{\"name\":\"audited\"}".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    server.kill_9();

    let (ok, text) = verify(dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("audit trail intact: 4 events"), "{text}");

    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).expect("open db");
    let original: String = db
        .query_row("SELECT document FROM audit_events WHERE seq = 3", [], |r| {
            r.get(0)
        })
        .expect("event 3");
    assert!(
        original.contains("\"eventName\":\"UpdatePipeline\""),
        "{original}"
    );
    db.execute(
        "UPDATE audit_events SET document = ? WHERE seq = 3",
        [original.replace("UpdatePipeline", "GetPipeline")],
    )
    .expect("edit");
    let (ok, text) = verify(dir.path());
    assert!(!ok, "an edited event went unnoticed: {text}");
    assert!(text.contains("broken at event #3"), "{text}");
    assert!(text.contains("content hashes to"), "{text}");

    db.execute(
        "UPDATE audit_events SET document = ? WHERE seq = 3",
        [&original],
    )
    .expect("restore");
    assert!(verify(dir.path()).0);
    db.execute("DELETE FROM audit_events WHERE seq = 2", [])
        .expect("remove");
    let (ok, text) = verify(dir.path());
    assert!(!ok, "a removed event went unnoticed: {text}");
    assert!(text.contains("broken at event #3"), "{text}");
    assert!(text.contains("previous hash"), "{text}");
}
