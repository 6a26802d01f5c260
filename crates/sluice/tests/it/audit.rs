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
    // A clean stop commits what was queued (a kill -9 may lose the last reads' events).
    server.terminate();

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

#[tokio::test]
async fn a_call_cut_off_by_a_crash_is_in_the_trail_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_with(dir.path(), &[]).await;
    let pipeline = crate::fixtures::pipeline("cut-off");
    assert_eq!(
        call(server.addr, "CreatePipeline", json!({"pipeline": pipeline}))
            .await
            .status,
        200
    );
    server.kill_9();
    // The state a kill -9 leaves between "recorded as pending" and "answered": a pending row.
    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).expect("open db");
    db.execute(
        "INSERT INTO audit_pending (event_id, event_time_ms, event_name, event_source, username, access_key_id, read_only, resources, document)
         VALUES ('cut-1', 1, 'DeletePipeline', 'codepipeline.amazonaws.com', 'root', 'AKID', 0, '[]', '{\"eventName\":\"DeletePipeline\",\"eventID\":\"cut-1\"}')",
        [],
    )
    .expect("pending row");
    drop(db);

    let server = start_with(dir.path(), &[]).await;
    let events = crate::durability::call_target(
        server.addr,
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
        json!({"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": "cut-1"}]}),
    )
    .await;
    assert_eq!(events.status, 200, "{}", events.body);
    let found = &events.body["Events"][0];
    assert_eq!(found["EventName"], "DeletePipeline");
    let doc: serde_json::Value =
        serde_json::from_str(found["CloudTrailEvent"].as_str().expect("event")).expect("json");
    assert_eq!(doc["errorCode"], "ServerInterrupted");
    // The answered CreatePipeline is in the trail once: completed, or (if the kill came
    // before its completion committed) as recorded before it acted.
    let created = crate::durability::call_target(
        server.addr,
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
        json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreatePipeline"}]}),
    )
    .await;
    assert_eq!(
        created.body["Events"].as_array().map(Vec::len),
        Some(1),
        "{}",
        created.body
    );
    let mut server = server;
    server.terminate();
    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).expect("open db");
    let pending: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_pending", [], |r| r.get(0))
        .expect("count");
    assert_eq!(pending, 0, "recovered calls leave nothing pending");
    let (ok, text) = verify(dir.path());
    assert!(ok, "{text}");
}
