//! The PostgreSQL backend against the PostgreSQL at `SLUICE_TEST_POSTGRES_URL` (default: the
//! machine's own); each test makes a database of its own.

use sluice_store::Error;
use sluice_store_postgres::{PgStore, SCHEMA_VERSION};
use sluice_test_utils::ScratchDatabase as TestDatabase;

#[tokio::test]
async fn postgres_passes_the_store_conformance_suite() {
    let db = TestDatabase::new().await;
    let store = PgStore::connect(&db.url).await.expect("connect");
    sluice_store::conformance::run_all(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_of_one_name_leave_one_winner_and_a_failed_write_leaves_nothing() {
    let db = TestDatabase::new().await;
    let store = PgStore::connect(&db.url).await.expect("connect");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        // Every name is created twice at once: one of each pair must lose.
        let new = sluice_store::conformance::sample_pipeline(&format!("p{}", i / 2));
        tasks.push(tokio::spawn(async move {
            sluice_store::PipelineStore::create_pipeline(&store, &new, 1000).await
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        match t.await.expect("task") {
            Ok(()) => created += 1,
            Err(Error::NameInUse(_)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((created, refused), (20, 20));
    use sluice_store::{PipelineStore, Tag, TagStore};
    assert_eq!(
        store.list_pipelines(None, 100).await.expect("list").len(),
        20
    );
    // A write that fails part-way (the tag limit, checked after its inserts) leaves nothing.
    let p0 = store
        .get_pipeline("p0", None)
        .await
        .expect("get")
        .expect("exists");
    let too_many: Vec<Tag> = (0..5)
        .map(|i| Tag {
            key: format!("k{i}"),
            value: "v".into(),
        })
        .collect();
    let refused = store.tag_resource(&p0.arn, &too_many, 3).await;
    assert!(
        matches!(refused, Err(Error::LimitExceeded(_))),
        "{refused:?}"
    );
    assert_eq!(store.tags(&p0.arn).await.expect("tags").len(), 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_appending_at_once_make_one_unbroken_chain() {
    use sluice_store::{audit_hash, AuditStore, ChainKey, NewAuditEvent, GENESIS_HASH};
    let db = TestDatabase::new().await;
    let key = ChainKey([9; 32]);
    let servers = [
        PgStore::connect(&db.url).await.expect("connect"),
        PgStore::connect(&db.url).await.expect("connect"),
    ];
    for s in &servers {
        s.set_chain_key(key.clone());
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = servers[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let event = NewAuditEvent {
                event_id: format!("e{i}"),
                event_time_ms: i as i64,
                event_name: "GetPipeline".into(),
                event_source: "codepipeline.amazonaws.com".into(),
                username: Some(format!("server{}", i % 2)),
                access_key_id: None,
                read_only: true,
                resources: vec![("AWS::CodePipeline::Pipeline".into(), format!("p{i}"))],
                document: format!("{{\"eventID\":\"e{i}\"}}"),
            };
            store.queue_audit_events(&[event], &[]).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("append");
    }
    let chain = servers[0].audit_chain(0, 1000).await.expect("chain");
    assert_eq!(chain.len(), 200);
    let mut prev = GENESIS_HASH.to_string();
    for (n, e) in chain.iter().enumerate() {
        assert_eq!(e.seq, n as i64 + 1, "no gaps in the chain's order");
        assert_eq!(e.prev_hash, prev);
        assert_eq!(e.hash, audit_hash(&key, &prev, &e.event.document));
        prev = e.hash.clone();
    }
    for s in &servers {
        s.close().await;
    }
}

#[tokio::test]
async fn the_leader_lease_has_one_holder_until_released_or_lapsed() {
    let db = TestDatabase::new().await;
    let store = PgStore::connect(&db.url).await.expect("connect");
    assert_eq!(
        store
            .acquire_leader_lease("a", 60_000, None)
            .await
            .expect("a"),
        None
    );
    let held = store
        .acquire_leader_lease("b", 60_000, None)
        .await
        .expect("b")
        .expect("held by a");
    assert_eq!(held.holder, "a");
    assert!(held.lapses_in_ms > 0 && held.lapses_in_ms <= 60_000);
    assert!(store.renew_leader_lease("a", 60_000).await.expect("renew"));
    assert!(!store.renew_leader_lease("b", 60_000).await.expect("renew"));
    store.release_leader_lease("a").await.expect("release");
    assert_eq!(
        store.acquire_leader_lease("b", 1, None).await.expect("b"),
        None
    );
    // b's lease of 1 ms lapses: a takes it over, and b learns it lost it.
    let mut taken = store
        .acquire_leader_lease("a", 60_000, None)
        .await
        .expect("a");
    while taken.is_some() {
        tokio::task::yield_now().await;
        taken = store
            .acquire_leader_lease("a", 60_000, None)
            .await
            .expect("a");
    }
    assert!(!store.renew_leader_lease("b", 60_000).await.expect("renew"));
    // A holder known to be dead is replaced at once, however long its lease would last.
    assert!(store
        .acquire_leader_lease("c", 60_000, Some("b"))
        .await
        .expect("c")
        .is_some());
    assert_eq!(
        store
            .acquire_leader_lease("c", 60_000, Some("a"))
            .await
            .expect("c"),
        None
    );
    store.close().await;
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused() {
    let db = TestDatabase::new().await;
    let store = PgStore::connect(&db.url).await.expect("connect");
    {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, 0)")
            .bind(SCHEMA_VERSION + 1)
            .execute(&mut c)
            .await
            .expect("insert");
    }
    store.close().await;
    let err = PgStore::connect(&db.url).await.err().expect("refused");
    assert!(matches!(err, Error::SchemaTooNew { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_servers_jobs_state_and_outbox_wake_this_one_and_not_itself() {
    use sluice_store::{
        ActionTypeKey, JobRecord, JobStatus, OutboxRecord, PipelineStore, RemoteChange, RunStore,
        StepWrite,
    };
    use std::collections::HashSet;
    let db = TestDatabase::new().await;
    let (a, b) = (
        PgStore::connect(&db.url).await.expect("connect"),
        PgStore::connect(&db.url).await.expect("connect"),
    );
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    b.listen_for_changes(std::sync::Arc::new(move |change| {
        let _ = heard_tx.send(change);
    }));
    let (own_tx, mut own) = tokio::sync::mpsc::unbounded_channel();
    a.listen_for_changes(std::sync::Arc::new(move |change| {
        let _ = own_tx.send(change);
    }));
    a.create_pipeline(&sluice_store::conformance::sample_pipeline("woken"), 10)
        .await
        .expect("create");
    let kind = ActionTypeKey {
        category: "Compute".into(),
        owner: "AWS".into(),
        provider: "Commands".into(),
        version: "1".into(),
    };
    let mut want: HashSet<RemoteChange> = HashSet::new();
    // B's LISTEN connects on its own time: A commits steps until B has heard all three.
    for rev in 0..100 {
        let step = StepWrite {
            pipeline: "woken".into(),
            expected_rev: rev,
            runtime_doc: "r".into(),
            new_jobs: vec![JobRecord {
                job_id: format!("j{rev}"),
                pipeline: "woken".into(),
                execution_id: "e".into(),
                action_type: kind.clone(),
                status: JobStatus::Queued,
                nonce: None,
                data: "{}".into(),
                created_ms: rev,
                updated_ms: rev,
            }],
            outbox: vec![OutboxRecord {
                id: format!("o{rev}"),
                kind: "publish".into(),
                topic: "arn:topic".into(),
                body: "{}".into(),
                created_ms: rev,
                attempts: 0,
                due_ms: 0,
            }],
            ..Default::default()
        };
        a.commit_step(&step).await.expect("step");
        if let Ok(Some(change)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), heard.recv()).await
        {
            want.insert(change);
            while let Ok(change) = heard.try_recv() {
                want.insert(change);
            }
        }
        if want.len() == 3 {
            break;
        }
    }
    let expected: HashSet<RemoteChange> = [
        RemoteChange::JobsQueued(kind),
        RemoteChange::PipelineState,
        RemoteChange::Outbox,
    ]
    .into_iter()
    .collect();
    assert_eq!(want, expected);
    while let Ok(change) = own.try_recv() {
        assert!(
            !matches!(change, RemoteChange::JobsQueued(_)),
            "A woke itself: {change:?}"
        );
    }
}
