//! The audit trail is tamper-evident: every call, allowed or refused, is an event chained to
//! the one before; `sluice audit verify` walks the chain and names the first event that was
//! edited or whose predecessor was removed.

use crate::durability::{call, start_with};
use serde_json::json;
use std::process::Command;

fn verify(data_dir: &std::path::Path) -> (bool, String) {
    verify_with(data_dir, &[])
}

fn verify_with(data_dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .args(args)
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
    // Written now (an event from 1970 would be past the trail's retention and pruned at start).
    db.execute(
        "INSERT INTO audit_pending (event_id, event_time_ms, event_name, event_source, username, access_key_id, read_only, resources, document)
         VALUES ('cut-1', ?, 'DeletePipeline', 'codepipeline.amazonaws.com', 'root', 'AKID', 0, '[]', '{\"eventName\":\"DeletePipeline\",\"eventID\":\"cut-1\"}')",
        [sluice_test_utils::wall_clock_ms()],
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

/// What an attacker with write access to the database alone can do: relink the whole chain
/// with plain SHA-256, as the chain was before it was keyed.
fn relink_unkeyed(db: &rusqlite::Connection) {
    use sha2::Digest;
    let rows: Vec<(i64, String)> = db
        .prepare("SELECT seq, document FROM audit_events ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let mut prev = "0".repeat(64);
    for (seq, document) in rows {
        let mut h = sha2::Sha256::new();
        h.update(prev.as_bytes());
        h.update(b"\n");
        h.update(document.as_bytes());
        let hash: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        db.execute(
            "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?",
            rusqlite::params![prev, hash, seq],
        )
        .expect("relink");
        prev = hash;
    }
}

async fn audited_data_dir(dir: &std::path::Path) {
    let mut server = start_with(dir, &[]).await;
    let pipeline = crate::fixtures::pipeline("audited");
    for (operation, body) in [
        ("CreatePipeline", json!({"pipeline": pipeline})),
        ("GetPipeline", json!({"name": "audited"})),
        ("DeletePipeline", json!({"name": "audited"})),
    ] {
        assert_eq!(call(server.addr, operation, body).await.status, 200);
    }
    server.terminate();
}

#[tokio::test]
async fn deleting_an_event_and_recomputing_the_chain_is_detected_without_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    audited_data_dir(dir.path()).await;
    assert!(verify(dir.path()).0);
    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).expect("open db");
    db.execute(
        "DELETE FROM audit_events WHERE document LIKE '%\"eventName\":\"DeletePipeline\"%'",
        [],
    )
    .expect("remove the attacker's own event");
    relink_unkeyed(&db);
    let (ok, text) = verify(dir.path());
    assert!(!ok, "a recomputed chain passed: {text}");
    assert!(text.contains("broken at event #1"), "{text}");
    // A restart does not bless it either: the chain was keyed from the start.
    let server = start_with(dir.path(), &[]).await;
    drop(server);
    assert!(!verify(dir.path()).0);
}

#[tokio::test]
async fn a_chain_written_before_links_were_keyed_is_keyed_once_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    audited_data_dir(dir.path()).await;
    // As an earlier release left it: plain links, and no mark beside the master key.
    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).expect("open db");
    relink_unkeyed(&db);
    std::fs::remove_file(dir.path().join("audit-chain.keyed")).expect("mark");
    assert!(!verify(dir.path()).0, "plain links do not verify");
    assert!(
        !dir.path().join("audit-chain.keyed").exists(),
        "verifying relinks nothing"
    );
    let mut server = start_with(dir.path(), &[]).await;
    // Answering means started: the relink at start is done.
    assert_eq!(
        call(server.addr, "ListPipelines", json!({})).await.status,
        200
    );
    server.terminate();
    let (ok, text) = verify(dir.path());
    assert!(ok, "{text}");
    assert!(dir.path().join("audit-chain.keyed").exists());
}

#[tokio::test]
async fn events_cut_from_the_end_of_the_chain_are_detected_by_the_anchor() {
    let dir = tempfile::tempdir().expect("tempdir");
    audited_data_dir(dir.path()).await;
    assert!(
        dir.path().join("audit-anchor").exists(),
        "the server anchors its chain"
    );
    let (ok, text) = verify(dir.path());
    assert!(ok, "{text}");
    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).expect("open db");
    db.execute(
        "DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)",
        [],
    )
    .expect("cut the last event");
    let (ok, text) = verify(dir.path());
    assert!(!ok, "a chain cut short passed: {text}");
    assert!(text.contains("removed from its end"), "{text}");
    // A forged anchor is refused, not trusted.
    std::fs::write(dir.path().join("audit-anchor"), "1 00 00\n").expect("forge");
    let (ok, text) = verify(dir.path());
    assert!(!ok && text.contains("master key"), "{text}");
}

/// Whoever can write the data dir can cut events and put back an older anchor; a copy of the
/// anchor kept elsewhere still names the cut events.
#[tokio::test]
async fn an_anchor_copied_off_the_machine_detects_a_cut_hidden_by_an_older_local_anchor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    let mut server = start_with(dir.path(), &[]).await;
    assert_eq!(
        call(server.addr, "ListPipelines", json!({})).await.status,
        200
    );
    server.terminate();
    let older = std::fs::read(dir.path().join("audit-anchor")).expect("first anchor");
    audited_data_dir(dir.path()).await;
    let copy = elsewhere.path().join("audit-anchor");
    std::fs::copy(dir.path().join("audit-anchor"), &copy).expect("copy off the machine");
    let older_seq: i64 = String::from_utf8_lossy(&older)
        .split_whitespace()
        .next()
        .and_then(|seq| seq.parse().ok())
        .expect("the anchor starts with its event's number");

    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).expect("open db");
    db.execute("DELETE FROM audit_events WHERE seq > ?1", [older_seq])
        .expect("cut every later event");
    std::fs::write(dir.path().join("audit-anchor"), &older).expect("put the older anchor back");
    let (ok, text) = verify(dir.path());
    assert!(
        ok,
        "the local anchor was rolled back with the chain: {text}"
    );
    let (ok, text) = verify_with(dir.path(), &["--anchor".as_ref(), copy.as_os_str()]);
    assert!(!ok, "the copy did not see the cut: {text}");
    assert!(text.contains("removed from its end"), "{text}");
    let missing = elsewhere.path().join("nothing-here");
    let (ok, text) = verify_with(dir.path(), &["--anchor".as_ref(), missing.as_os_str()]);
    assert!(!ok && text.contains("does not exist"), "{text}");
}

#[tokio::test]
async fn retention_prunes_old_events_and_the_chain_stays_verifiable_from_its_checkpoint() {
    use sluice_service::ChainCheck;
    let server = sluice_test_utils::TestServer::start().await;
    for name in ["old-1", "old-2"] {
        server
            .ok(
                "CreatePipeline",
                json!({"pipeline": crate::fixtures::pipeline(name)}),
            )
            .await;
    }
    server.sluice.flush_audit().await.expect("flush");
    // 91 days later (retention is 90 by default), one more call.
    server.clock.advance_ms(91 * 24 * 3600 * 1000);
    server
        .ok(
            "CreatePipeline",
            json!({"pipeline": crate::fixtures::pipeline("new")}),
        )
        .await;
    server.sluice.flush_audit().await.expect("flush");
    let pruned = server.sluice.prune_history().await.expect("prune");
    assert!(pruned.audit_events >= 2, "{pruned:?}");
    let check = server
        .sluice
        .verify_audit_chain(None)
        .await
        .expect("verify");
    let ChainCheck::Intact {
        events,
        pruned: gone,
        ..
    } = check
    else {
        panic!("{check:?}");
    };
    assert!(
        events >= 1 && gone as usize == pruned.audit_events,
        "{events} {gone}"
    );
    let left = server
        .sluice
        .lookup_audit(&sluice_service::AuditQuery {
            start_ms: None,
            end_ms: None,
            attribute: Some(sluice_service::AuditAttribute::EventName(
                "CreatePipeline".into(),
            )),
            before_seq: None,
            limit: 10,
        })
        .await
        .expect("lookup");
    assert_eq!(left.len(), 1, "only the recent call is kept");

    // The checkpoint cannot be moved or dropped without it showing.
    server
        .tamper("UPDATE audit_checkpoint SET pruned = pruned + 1")
        .await;
    let check = server
        .sluice
        .verify_audit_chain(None)
        .await
        .expect("verify");
    assert!(
        matches!(&check, ChainCheck::Broken { reason, .. } if reason.contains("checkpoint")),
        "{check:?}"
    );
    server.tamper("DELETE FROM audit_checkpoint").await;
    let check = server
        .sluice
        .verify_audit_chain(None)
        .await
        .expect("verify");
    assert!(
        matches!(&check, ChainCheck::Broken { reason, .. } if reason.contains("previous hash")),
        "{check:?}"
    );
}
