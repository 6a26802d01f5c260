//! The conformance suite every backend runs: the behaviour the service relies on, checked
//! through the traits alone.

use crate::*;
use sluice_model as m;

/// A minimal valid two-stage declaration named `name`.
pub fn sample_pipeline(name: &str) -> NewPipeline {
    let declaration = m::PipelineDeclaration {
        name: name.into(),
        role_arn: "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service".into(),
        stages: vec![
            m::StageDeclaration {
                name: "Source".into(),
                ..Default::default()
            },
            m::StageDeclaration {
                name: "Beta".into(),
                ..Default::default()
            },
        ],
        version: 1,
        ..Default::default()
    };
    NewPipeline {
        name: name.into(),
        arn: format!("arn:aws:codepipeline:us-east-1:111111111111:{name}"),
        declaration: DeclarationDoc::from(&declaration),
        created_ms: 1_000,
        tags: vec![Tag {
            key: "team".into(),
            value: "core".into(),
        }],
        buckets: Vec::new(),
    }
}

fn artifact_bucket(name: &str, key: Option<&str>) -> BucketRecord {
    BucketRecord {
        name: name.into(),
        created_ms: 1_000,
        versioning: None,
        encryption_key: key.map(str::to_string),
    }
}

async fn a_pipeline_creates_its_buckets_in_its_own_transaction_and_never_rekeys_one<S: Store>(
    store: &S,
) {
    let mut new = sample_pipeline("keyed");
    new.buckets = vec![artifact_bucket("keyed-artifacts", Some("arn:key/1"))];
    store.create_pipeline(&new, 100).await.expect("create");
    let bucket = store
        .bucket("keyed-artifacts")
        .await
        .expect("read")
        .expect("created with the pipeline");
    assert_eq!(bucket.encryption_key.as_deref(), Some("arn:key/1"));
    // Another pipeline naming the same bucket with another key is refused whole.
    let mut rival = sample_pipeline("rival");
    rival.buckets = vec![
        artifact_bucket("rival-artifacts", None),
        artifact_bucket("keyed-artifacts", Some("arn:key/2")),
    ];
    assert!(matches!(
        store.create_pipeline(&rival, 100).await,
        Err(Error::BucketKeyInUse { .. })
    ));
    assert!(store
        .get_pipeline("rival", None)
        .await
        .expect("get")
        .is_none());
    assert!(
        store
            .bucket("rival-artifacts")
            .await
            .expect("read")
            .is_none(),
        "nothing of the refused pipeline was written"
    );
    let p = sample_pipeline("keyed");
    assert!(matches!(
        store
            .update_pipeline(
                "keyed",
                1,
                &p.declaration,
                &[artifact_bucket("keyed-artifacts", Some("arn:key/3"))],
                2_000
            )
            .await,
        Err(Error::BucketKeyInUse { .. })
    ));
    assert_eq!(
        store
            .get_pipeline("keyed", None)
            .await
            .expect("get")
            .expect("exists")
            .version,
        1,
        "the refused update wrote no version"
    );
    // The same key, or none declared, leaves the bucket as it is.
    store
        .update_pipeline(
            "keyed",
            1,
            &p.declaration,
            &[artifact_bucket("keyed-artifacts", None)],
            2_000,
        )
        .await
        .expect("update");
    assert_eq!(
        store
            .bucket("keyed-artifacts")
            .await
            .expect("read")
            .expect("exists")
            .encryption_key
            .as_deref(),
        Some("arn:key/1")
    );
    store.delete_pipeline("keyed").await.expect("delete");
}

/// Runs every check; panics with the failing rule's name.
/// The chain key every conformance run sets.
fn conformance_chain_key() -> ChainKey {
    ChainKey([7; 32])
}

pub async fn run_all<S: Store>(store: &S) {
    store.set_chain_key(conformance_chain_key());
    pipeline_names_are_unique(store).await;
    a_job_interrupted_by_too_many_restarts_is_not_queued_again(store).await;
    a_pipeline_creates_its_buckets_in_its_own_transaction_and_never_rekeys_one(store).await;
    every_version_stays_readable(store).await;
    update_with_a_stale_version_is_refused(store).await;
    list_is_ordered_and_pages_after_a_name(store).await;
    delete_removes_versions_transitions_and_tags(store).await;
    pipeline_count_limit_is_enforced(store).await;
    transitions_are_upserted(store).await;
    deleted_action_type_identity_is_never_reused(store).await;
    tag_limit_is_enforced_atomically(store).await;
    access_keys_are_inserted_once(store).await;
    steps_commit_atomically_and_conflict_on_a_stale_rev(store).await;
    a_job_is_claimed_by_one_poller_and_acknowledged_with_its_nonce(store).await;
    executions_list_newest_first_and_timers_come_due(store).await;
    object_versions_are_kept_only_in_versioned_buckets(store).await;
    webhooks_are_upserted_found_by_url_and_limited(store).await;
    connections_have_unique_names_a_limit_and_complete_once_set(store).await;
    the_source_index_follows_create_update_and_delete(store).await;
    deploy_resources_are_unique_per_scope_and_an_application_takes_its_own_along(store).await;
    deployment_steps_conflict_on_a_stale_rev_and_commands_lapse(store).await;
    an_owner_finds_its_one_resource(store).await;
    repositories_are_unique_limited_and_described(store).await;
    a_repository_push_lock_has_one_owner_and_publishing_releases_it(store).await;
    access_keys_are_limited_per_principal_and_can_be_deactivated(store).await;
    iam_names_are_unique_per_kind_ignoring_case(store).await;
    policies_attach_to_principals_and_groups_hold_users(store).await;
    audit_events_chain_and_look_up_newest_first(store).await;
    audit_pruning_removes_a_prefix_and_checkpoints_where_the_chain_starts(store).await;
    keys_are_found_by_id_arn_or_alias_and_rotate(store).await;
    topics_are_unique_and_take_their_subscriptions_along(store).await;
    outbox_rows_fan_out_once_retry_later_and_end_delivered_or_undelivered(store).await;
    event_rules_are_upserted_and_limited(store).await;
    functions_are_unique_limited_and_updated_by_revision(store).await;
    only_jobs_that_finished_long_ago_are_pruned(store).await;
    a_job_whose_lease_lapses_is_queued_again_and_a_renewed_one_is_not(store).await;
    only_executions_that_ended_long_ago_and_are_not_the_newest_are_pruned(store).await;
    deployments_page_newest_first_after_a_position_with_every_filter(store).await;
    subscriptions_page_oldest_first_after_a_position(store).await;
}

fn group_query(application: &str, group: &str) -> DeploymentQuery {
    DeploymentQuery {
        application: Some(application.into()),
        group: Some(group.into()),
        ..DeploymentQuery::default()
    }
}

async fn deployments_page_newest_first_after_a_position_with_every_filter<S: Store>(store: &S) {
    // Two applications, two groups of one, three statuses, and two deployments created in
    // the same millisecond (the id orders those).
    let specs = [
        ("d-PAGE00001", "pages", "blue", "Succeeded", 100),
        ("d-PAGE00002", "pages", "green", "Failed", 200),
        ("d-PAGE00003", "pages", "blue", "Failed", 300),
        ("d-PAGE00004", "pages", "blue", "Succeeded", 300),
        ("d-PAGE00005", "other", "blue", "Stopped", 400),
        ("d-PAGE00006", "pages", "green", "Succeeded", 500),
    ];
    for (id, application, group, status, create_ms) in specs {
        let record = DeploymentRecord {
            id: id.into(),
            application: application.into(),
            deployment_group: group.into(),
            status: status.into(),
            create_ms,
            rev: 1,
            creator_token: None,
            doc: "{}".into(),
        };
        store.create_deployment(&record, &[]).await.expect("create");
    }
    let ids = |records: Vec<DeploymentRecord>| -> Vec<String> {
        records.into_iter().map(|d| d.id).collect()
    };
    let everything = DeploymentQuery {
        created_from_ms: Some(100),
        created_to_ms: Some(500),
        ..DeploymentQuery::default()
    };
    let mut pages = Vec::new();
    let mut query = everything.clone();
    loop {
        let page = store.deployments(&query, 2).await.expect("page");
        let Some(last) = page.last() else { break };
        query.after = Some(PagePosition {
            created_ms: last.create_ms,
            name: last.id.clone(),
        });
        pages.push(ids(page));
    }
    assert_eq!(
        pages,
        [
            ["d-PAGE00006", "d-PAGE00005"],
            ["d-PAGE00004", "d-PAGE00003"],
            ["d-PAGE00002", "d-PAGE00001"],
        ],
        "pages walk every deployment newest first, the id breaking a tie, none twice"
    );
    let application = DeploymentQuery {
        application: Some("pages".into()),
        ..DeploymentQuery::default()
    };
    assert_eq!(
        ids(store.deployments(&application, 10).await.expect("read")),
        [
            "d-PAGE00006",
            "d-PAGE00004",
            "d-PAGE00003",
            "d-PAGE00002",
            "d-PAGE00001"
        ]
    );
    let failed_blue = DeploymentQuery {
        statuses: vec!["Failed".into(), "Stopped".into()],
        ..group_query("pages", "blue")
    };
    assert_eq!(
        ids(store.deployments(&failed_blue, 10).await.expect("read")),
        ["d-PAGE00003"]
    );
    let window = DeploymentQuery {
        application: Some("pages".into()),
        created_from_ms: Some(200),
        created_to_ms: Some(300),
        after: Some(PagePosition {
            created_ms: 300,
            name: "d-PAGE00004".into(),
        }),
        ..DeploymentQuery::default()
    };
    assert_eq!(
        ids(store.deployments(&window, 10).await.expect("read")),
        ["d-PAGE00003", "d-PAGE00002"],
        "the range is inclusive at both ends and the page starts after its position"
    );
}

async fn subscriptions_page_oldest_first_after_a_position<S: Store>(store: &S) {
    let topic = |name: &str| TopicRecord {
        arn: format!("arn:aws:sns:us-east-1:111111111111:{name}"),
        name: name.into(),
        doc: "{}".into(),
        created_ms: 1,
    };
    let (paged, other) = (topic("paged"), topic("paged-other"));
    for t in [&paged, &other] {
        store.create_topic(t, 100).await.expect("create topic");
    }
    // Two created in the same millisecond: the ARN orders those.
    let specs = [
        (&paged, "s1", 10),
        (&other, "s2", 20),
        (&paged, "s4", 30),
        (&paged, "s3", 30),
    ];
    for (t, name, created_ms) in specs {
        let subscription = SubscriptionRecord {
            arn: format!("{}:{name}", t.arn),
            topic_arn: t.arn.clone(),
            token: None,
            doc: "{}".into(),
            created_ms,
        };
        store
            .create_subscription(&subscription, &[], 100)
            .await
            .expect("subscribe");
    }
    let names = |records: &[SubscriptionRecord]| -> Vec<String> {
        records
            .iter()
            .map(|s| s.arn.rsplit(':').next().unwrap_or_default().to_string())
            .collect()
    };
    let first = store
        .subscription_page(None, None, 3)
        .await
        .expect("first page");
    assert_eq!(names(&first), ["s1", "s2", "s3"]);
    let last = first.last().expect("a last row");
    let after = PagePosition {
        created_ms: last.created_ms,
        name: last.arn.clone(),
    };
    let rest = store
        .subscription_page(None, Some(&after), 3)
        .await
        .expect("next page");
    assert_eq!(names(&rest), ["s4"]);
    let of_topic = store
        .subscription_page(Some(&paged.arn), None, 10)
        .await
        .expect("a topic's");
    assert_eq!(names(&of_topic), ["s1", "s3", "s4"]);
    assert_eq!(
        names(&store.subscriptions(&paged.arn).await.expect("fan-out")),
        ["s1", "s3", "s4"]
    );
    for t in [&paged, &other] {
        store.delete_topic(&t.arn).await.expect("delete topic");
    }
}

async fn only_executions_that_ended_long_ago_and_are_not_the_newest_are_pruned<S: Store>(
    store: &S,
) {
    store
        .create_pipeline(&sample_pipeline("history"), 1000)
        .await
        .expect("create");
    let ended = |id: &str, status: &str, at: i64| ExecutionRecord {
        status: status.into(),
        updated_ms: at,
        ..execution("history", id, at)
    };
    let step = StepWrite {
        pipeline: "history".into(),
        runtime_doc: "r".into(),
        executions: vec![
            ended("old-ok", "Succeeded", 10),
            ended("old-failed", "Failed", 11),
            ended("old-running", "InProgress", 12),
            ended("old-stopping", "Stopping", 13),
            ended("new-ok", "Succeeded", 1_000),
        ],
        request_token: Some(("token-1".into(), "old-ok".into())),
        ..Default::default()
    };
    store.commit_step(&step).await.expect("step");
    // A pipeline whose only execution is old keeps it.
    store
        .create_pipeline(&sample_pipeline("quiet"), 1000)
        .await
        .expect("create");
    let lone = StepWrite {
        pipeline: "quiet".into(),
        runtime_doc: "r".into(),
        executions: vec![ExecutionRecord {
            status: "Succeeded".into(),
            ..execution("quiet", "only", 5)
        }],
        ..Default::default()
    };
    store.commit_step(&lone).await.expect("step");
    assert_eq!(
        store.prune_executions(500, 1).await.expect("prune"),
        1,
        "bounded"
    );
    assert_eq!(store.prune_executions(500, 100).await.expect("prune"), 1);
    assert_eq!(store.prune_executions(500, 100).await.expect("prune"), 0);
    let left: Vec<String> = store
        .list_executions("history", None, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.execution_id)
        .collect();
    assert_eq!(left, ["new-ok", "old-stopping", "old-running"]);
    assert!(store
        .execution("quiet", "only")
        .await
        .expect("read")
        .is_some());
    assert_eq!(
        store
            .execution_for_request_token("history", "token-1")
            .await
            .expect("read"),
        None,
        "a pruned execution's request token goes with it"
    );
    store.delete_pipeline("history").await.expect("delete");
    store.delete_pipeline("quiet").await.expect("delete");
}

async fn a_job_whose_lease_lapses_is_queued_again_and_a_renewed_one_is_not<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("leases"), 1000)
        .await
        .expect("create");
    let step = StepWrite {
        pipeline: "leases".into(),
        runtime_doc: "r".into(),
        new_jobs: vec![
            job("leases", "l-alive", 1),
            job("leases", "l-dead", 2),
            job("leases", "l-tired", 3),
        ],
        ..Default::default()
    };
    store.commit_step(&step).await.expect("step");
    let key = job("leases", "x", 0).action_type;
    let claimed = store
        .claim_jobs(
            &key,
            &[],
            &["n1".into(), "n2".into(), "n3".into()],
            10,
            i64::MIN,
        )
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    let lease = |owner: &str, until_ms| JobLease {
        owner: owner.into(),
        until_ms,
    };
    for (id, nonce, owner) in [
        ("l-alive", "n1", "a"),
        ("l-dead", "n2", "b"),
        ("l-tired", "n3", "b"),
    ] {
        store
            .acknowledge_job(id, nonce, 11, Some(&lease(owner, 100)))
            .await
            .expect("ack");
    }
    assert_eq!(store.renew_job_leases("a", 1_000).await.expect("renew"), 1);
    // l-tired was interrupted as often as allowed already.
    for _ in 0..2 {
        let requeued = store
            .requeue_lapsed_jobs(50, 5)
            .await
            .expect("nothing lapsed yet");
        assert_eq!(requeued, Requeued::default());
    }
    let requeued = store.requeue_lapsed_jobs(500, 0).await.expect("requeue");
    assert_eq!(requeued.requeued, 0, "no job may be interrupted again");
    assert_eq!(requeued.exhausted, ["l-dead", "l-tired"]);
    let requeued = store.requeue_lapsed_jobs(500, 2).await.expect("requeue");
    assert_eq!(requeued.requeued, 2, "b's jobs lapsed at 100");
    for id in ["l-dead", "l-tired"] {
        let j = store.job(id).await.expect("read").expect("exists");
        assert_eq!((j.status, j.nonce), (JobStatus::Queued, None));
    }
    let alive = store.job("l-alive").await.expect("read").expect("exists");
    assert_eq!(alive.status, JobStatus::InProgress, "a renewed its lease");
    assert_eq!(
        store.requeue_lapsed_jobs(500, 2).await.expect("requeue"),
        Requeued::default(),
        "a queued job holds no lease"
    );
    // Claimed again (by anyone), the old nonce no longer answers.
    let again = store
        .claim_jobs(&key, &[], &["n4".into()], 600, i64::MIN)
        .await
        .expect("claim");
    assert_eq!(again[0].job_id, "l-dead");
    assert!(matches!(
        store.acknowledge_job("l-dead", "n2", 601, None).await,
        Err(Error::InvalidNonce(_))
    ));
    store.delete_pipeline("leases").await.expect("delete");
}

async fn only_jobs_that_finished_long_ago_are_pruned<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("retention"), 1000)
        .await
        .expect("create");
    let done = |id: &str, status: JobStatus, at: i64| JobRecord {
        status,
        updated_ms: at,
        ..job("retention", id, at)
    };
    let step = StepWrite {
        pipeline: "retention".into(),
        runtime_doc: "r".into(),
        new_jobs: vec![
            done("old-ok", JobStatus::Succeeded, 10),
            done("old-failed", JobStatus::Failed, 11),
            done("old-open", JobStatus::InProgress, 12),
            done("new-ok", JobStatus::Succeeded, 1_000),
        ],
        ..Default::default()
    };
    store.commit_step(&step).await.expect("step");
    assert_eq!(
        store.prune_finished_jobs(500, 1).await.expect("prune"),
        1,
        "bounded by the limit"
    );
    assert_eq!(store.prune_finished_jobs(500, 100).await.expect("prune"), 1);
    assert_eq!(store.prune_finished_jobs(500, 100).await.expect("again"), 0);
    for (id, kept) in [
        ("old-ok", false),
        ("old-failed", false),
        ("old-open", true),
        ("new-ok", true),
    ] {
        assert_eq!(store.job(id).await.expect("read").is_some(), kept, "{id}");
    }
    // The undelivered record of an earlier scenario failed at 6,000 ms.
    assert_eq!(
        store.prune_undelivered(6_000).await.expect("prune"),
        0,
        "not before"
    );
    assert_eq!(store.prune_undelivered(6_001).await.expect("prune"), 1);
    assert!(store.undelivered(10).await.expect("read").is_empty());
}

async fn functions_are_unique_limited_and_updated_by_revision<S: Store>(store: &S) {
    let f = FunctionRecord {
        name: "f1".into(),
        revision_id: "r1".into(),
        doc: "{}".into(),
        created_ms: 1,
        modified_ms: 1,
    };
    store.create_function(&f, 1).await.expect("create");
    assert!(matches!(
        store.create_function(&f, 5).await,
        Err(Error::AlreadyExists(_))
    ));
    let other = FunctionRecord {
        name: "f2".into(),
        ..f.clone()
    };
    assert!(matches!(
        store.create_function(&other, 1).await,
        Err(Error::LimitExceeded(_))
    ));
    let updated = FunctionRecord {
        revision_id: "r2".into(),
        doc: r#"{"timeout":9}"#.into(),
        modified_ms: 2,
        ..f.clone()
    };
    store
        .replace_function(&updated, "r1")
        .await
        .expect("update");
    assert!(matches!(
        store.replace_function(&updated, "r1").await,
        Err(Error::VersionConflict { .. })
    ));
    assert_eq!(
        store.function("f1").await.expect("read"),
        Some(updated.clone())
    );
    assert_eq!(store.functions().await.expect("list").len(), 1);
    assert_eq!(
        store.delete_function("f1").await.expect("delete"),
        Some(updated)
    );
    assert_eq!(store.delete_function("f1").await.expect("again"), None);
    assert!(matches!(
        store.replace_function(&f, "r1").await,
        Err(Error::NotFound(_))
    ));
}

async fn topics_are_unique_and_take_their_subscriptions_along<S: Store>(store: &S) {
    let topic = TopicRecord {
        arn: "arn:aws:sns:us-east-1:111111111111:t1".into(),
        name: "t1".into(),
        doc: "{}".into(),
        created_ms: 1,
    };
    store.create_topic(&topic, 10).await.expect("create");
    assert!(matches!(
        store.create_topic(&topic, 10).await,
        Err(Error::AlreadyExists(_))
    ));
    let other = TopicRecord {
        arn: "arn:aws:sns:us-east-1:111111111111:t2".into(),
        name: "t2".into(),
        ..topic.clone()
    };
    assert!(matches!(
        store.create_topic(&other, 1).await,
        Err(Error::LimitExceeded(_))
    ));
    let subscription = SubscriptionRecord {
        arn: format!("{}:s1", topic.arn),
        topic_arn: topic.arn.clone(),
        token: Some("tok1".into()),
        doc: "{}".into(),
        created_ms: 2,
    };
    let confirm = OutboxRecord::new("c1".into(), "http", "http://x".into(), "{}".into(), 2);
    store
        .create_subscription(&subscription, std::slice::from_ref(&confirm), 5)
        .await
        .expect("subscribe");
    assert_eq!(
        store.subscription_by_token("tok1").await.expect("by token"),
        Some(subscription.clone())
    );
    let ids: Vec<String> = store
        .due_outbox(i64::MAX, 100)
        .await
        .expect("due")
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert!(
        ids.contains(&"c1".to_string()),
        "the confirmation is queued with it"
    );
    let orphan = SubscriptionRecord {
        arn: "arn:aws:sns:us-east-1:111111111111:gone:s".into(),
        topic_arn: "arn:aws:sns:us-east-1:111111111111:gone".into(),
        ..subscription.clone()
    };
    assert!(matches!(
        store.create_subscription(&orphan, &[], 5).await,
        Err(Error::NotFound(_))
    ));
    let confirmed = SubscriptionRecord {
        token: None,
        doc: r#"{"confirmed":true}"#.into(),
        ..subscription.clone()
    };
    assert!(store
        .replace_subscription(&confirmed)
        .await
        .expect("replace"));
    assert_eq!(
        store.subscription_by_token("tok1").await.expect("gone"),
        None
    );
    assert_eq!(
        store.subscriptions(&topic.arn).await.expect("list").len(),
        1
    );
    assert!(store.delete_topic(&topic.arn).await.expect("delete"));
    assert_eq!(
        store.subscription(&subscription.arn).await.expect("read"),
        None
    );
    assert!(!store.delete_topic(&topic.arn).await.expect("again"));
    store.outbox_delivered("c1").await.expect("delivered");
}

async fn outbox_rows_fan_out_once_retry_later_and_end_delivered_or_undelivered<S: Store>(
    store: &S,
) {
    // Start from an empty queue: earlier scenarios leave rows behind.
    for row in store.due_outbox(i64::MAX, 1_000).await.expect("due") {
        store.outbox_delivered(&row.id).await.expect("clear");
    }
    let publish = OutboxRecord::new("p1".into(), "publish", "arn:t".into(), "{}".into(), 100);
    store
        .enqueue(std::slice::from_ref(&publish))
        .await
        .expect("enqueue");
    let a = OutboxRecord::new("h1".into(), "http", "http://a".into(), "{}".into(), 100);
    let b = OutboxRecord::new("h2".into(), "http", "http://b".into(), "{}".into(), 100);
    assert!(store
        .expand_outbox("p1", &[a.clone(), b.clone()])
        .await
        .expect("expand"));
    assert!(
        !store
            .expand_outbox("p1", &[a.clone(), b.clone()])
            .await
            .expect("again"),
        "a row fans out once"
    );
    store.outbox_retry("h1", 1, 5_000).await.expect("retry");
    let due: Vec<String> = store
        .due_outbox(1_000, 10)
        .await
        .expect("due")
        .into_iter()
        .filter(|o| o.id.starts_with('h'))
        .map(|o| o.id)
        .collect();
    assert_eq!(due, vec!["h2".to_string()], "a retry waits for its time");
    assert_eq!(store.next_outbox_due().await.expect("next"), Some(0));
    store.outbox_delivered("h2").await.expect("delivered");
    assert_eq!(store.next_outbox_due().await.expect("next"), Some(5_000));
    store
        .outbox_undeliverable("h1", "connection refused", 6_000)
        .await
        .expect("give up");
    assert!(store
        .due_outbox(i64::MAX, 10)
        .await
        .expect("due")
        .is_empty());
    let undelivered = store.undelivered(10).await.expect("undelivered");
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0].id, "h1");
    assert_eq!(undelivered[0].attempts, 1);
    assert_eq!(undelivered[0].error, "connection refused");
}

async fn event_rules_are_upserted_and_limited<S: Store>(store: &S) {
    let rule = EventRuleRecord {
        name: "r1".into(),
        doc: "{}".into(),
        created_ms: 1,
    };
    store.put_event_rule(&rule, 1).await.expect("put");
    let changed = EventRuleRecord {
        doc: r#"{"state":"DISABLED"}"#.into(),
        ..rule.clone()
    };
    store
        .put_event_rule(&changed, 1)
        .await
        .expect("replace at the limit");
    assert_eq!(store.event_rule("r1").await.expect("read"), Some(changed));
    let second = EventRuleRecord {
        name: "r2".into(),
        ..rule.clone()
    };
    assert!(matches!(
        store.put_event_rule(&second, 1).await,
        Err(Error::LimitExceeded(_))
    ));
    assert_eq!(store.event_rules().await.expect("list").len(), 1);
    assert!(store.delete_event_rule("r1").await.expect("delete"));
    assert!(!store.delete_event_rule("r1").await.expect("again"));
    assert_eq!(store.signing_key().await.expect("none yet"), None);
    assert_eq!(store.signing_key_or_init("k1").await.expect("init"), "k1");
    assert_eq!(
        store.signing_key_or_init("k2").await.expect("second"),
        "k1",
        "the first stored key wins"
    );
}

async fn keys_are_found_by_id_arn_or_alias_and_rotate<S: Store>(store: &S) {
    let key = KmsKeyRecord {
        key_id: "k1".into(),
        arn: "arn:aws:kms:us-east-1:111111111111:key/k1".into(),
        alias: Some("alias/aws/s3".into()),
        description: "default".into(),
        state: "Enabled".into(),
        created_ms: 1,
    };
    store.create_kms_key(&key, "m1").await.expect("create");
    let clash = KmsKeyRecord {
        key_id: "k2".into(),
        arn: "arn:k2".into(),
        ..key.clone()
    };
    assert!(matches!(
        store.create_kms_key(&clash, "m").await,
        Err(Error::AlreadyExists(_))
    ));
    for name in [
        "k1",
        "arn:aws:kms:us-east-1:111111111111:key/k1",
        "alias/aws/s3",
    ] {
        assert_eq!(
            store.kms_key(name).await.expect("get"),
            Some(key.clone()),
            "{name}"
        );
    }
    assert_eq!(
        store
            .add_kms_key_version("k1", "m2", 2)
            .await
            .expect("rotate"),
        2
    );
    assert_eq!(
        store.kms_key_versions("k1").await.expect("versions"),
        [(1, "m1".to_string()), (2, "m2".to_string())]
    );
    assert!(store
        .set_kms_key_state("k1", "Disabled")
        .await
        .expect("disable"));
    assert_eq!(
        store.list_kms_keys().await.expect("list")[0].state,
        "Disabled"
    );
    store
        .create_bucket(&BucketRecord {
            name: "enc".into(),
            created_ms: 1,
            versioning: None,
            encryption_key: None,
        })
        .await
        .expect("bucket");
    store
        .set_bucket_encryption("enc", Some(&key.arn))
        .await
        .expect("set");
    assert_eq!(
        store
            .bucket("enc")
            .await
            .expect("bucket")
            .and_then(|b| b.encryption_key),
        Some(key.arn.clone())
    );
    assert!(matches!(
        store.set_bucket_encryption("nope", None).await,
        Err(Error::NotFound(_))
    ));
}

async fn access_keys_are_limited_per_principal_and_can_be_deactivated<S: Store>(store: &S) {
    let key = |id: &str, at: i64| AccessKeyRecord {
        access_key_id: id.into(),
        secret_access_key: sluice_model::Secret::new("s"),
        principal_arn: "arn:aws:iam::111111111111:user/Kim".into(),
        created_ms: at,
        status: "Active".into(),
    };
    store
        .create_access_key(&key("AKIA1", 1), 2)
        .await
        .expect("first");
    store
        .create_access_key(&key("AKIA2", 2), 2)
        .await
        .expect("second");
    assert!(matches!(
        store.create_access_key(&key("AKIA3", 3), 2).await,
        Err(Error::LimitExceeded(_))
    ));
    assert!(store
        .set_access_key_status("AKIA1", "Inactive")
        .await
        .expect("status"));
    let keys = store
        .list_access_keys("arn:aws:iam::111111111111:user/Kim")
        .await
        .expect("list");
    assert_eq!(
        keys.iter()
            .map(|k| (k.access_key_id.as_str(), k.status.as_str()))
            .collect::<Vec<_>>(),
        [("AKIA1", "Inactive"), ("AKIA2", "Active")]
    );
    assert!(store.delete_access_key("AKIA1").await.expect("delete"));
    assert!(!store.delete_access_key("AKIA1").await.expect("again"));
    assert_eq!(store.find_access_key("AKIA1").await.expect("find"), None);
}

fn principal(kind: PrincipalKind, name: &str, id: &str) -> PrincipalRecord {
    PrincipalRecord {
        kind,
        name: name.into(),
        id: id.into(),
        arn: format!("arn:aws:iam::111111111111:{}/{name}", kind.as_str()),
        path: "/".into(),
        created_ms: 1,
        trust_policy: None,
        description: None,
    }
}

async fn iam_names_are_unique_per_kind_ignoring_case<S: Store>(store: &S) {
    store
        .create_principal(&principal(PrincipalKind::User, "Alice", "AIDA1"))
        .await
        .expect("user");
    assert!(matches!(
        store
            .create_principal(&principal(PrincipalKind::User, "alice", "AIDA2"))
            .await,
        Err(Error::AlreadyExists(_))
    ));
    store
        .create_principal(&principal(PrincipalKind::Group, "Alice", "AGPA1"))
        .await
        .expect("a group may share a user's name");
    let found = store
        .principal(PrincipalKind::User, "ALICE")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(found.name, "Alice");
    assert_eq!(
        store
            .list_principals(PrincipalKind::User)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(store
        .delete_principal(PrincipalKind::Group, "Alice")
        .await
        .expect("delete"));
    let mut role = principal(PrincipalKind::Role, "Deployer", "AROA1");
    role.trust_policy = Some("{}".into());
    store.create_principal(&role).await.expect("role");
    assert!(store
        .set_trust_policy("Deployer", "{\"x\":1}")
        .await
        .expect("trust"));
    assert_eq!(
        store
            .principal(PrincipalKind::Role, "Deployer")
            .await
            .expect("get")
            .and_then(|r| r.trust_policy),
        Some("{\"x\":1}".into())
    );
}

async fn policies_attach_to_principals_and_groups_hold_users<S: Store>(store: &S) {
    let user = PrincipalKind::User;
    store
        .put_inline_policy(user, "Alice", "p1", "{\"v\":1}")
        .await
        .expect("put");
    store
        .put_inline_policy(user, "Alice", "p1", "{\"v\":2}")
        .await
        .expect("replace");
    assert_eq!(
        store.inline_policies(user, "alice").await.expect("list"),
        [("p1".to_string(), "{\"v\":2}".to_string())]
    );
    assert!(store
        .delete_inline_policy(user, "Alice", "p1")
        .await
        .expect("delete"));
    assert!(store
        .inline_policies(user, "Alice")
        .await
        .expect("list")
        .is_empty());

    let policy = ManagedPolicyRecord {
        arn: "arn:aws:iam::111111111111:policy/Mine".into(),
        name: "Mine".into(),
        id: "ANPA1".into(),
        path: "/".into(),
        description: None,
        document: "{}".into(),
        created_ms: 1,
        updated_ms: 1,
    };
    store.create_managed_policy(&policy).await.expect("create");
    assert!(matches!(
        store.create_managed_policy(&policy).await,
        Err(Error::AlreadyExists(_))
    ));
    store
        .attach_policy(user, "Alice", &policy.arn)
        .await
        .expect("attach");
    store
        .attach_policy(user, "Alice", &policy.arn)
        .await
        .expect("attach twice");
    assert_eq!(
        store
            .policy_attachment_count(&policy.arn)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        store
            .attached_policies(user, "Alice")
            .await
            .expect("attached"),
        std::slice::from_ref(&policy.arn)
    );
    assert!(store
        .detach_policy(user, "Alice", &policy.arn)
        .await
        .expect("detach"));
    assert!(store
        .delete_managed_policy(&policy.arn)
        .await
        .expect("delete"));
    assert_eq!(store.managed_policy(&policy.arn).await.expect("get"), None);

    store.add_group_member("Ops", "Alice").await.expect("add");
    store
        .add_group_member("Ops", "Alice")
        .await
        .expect("add twice");
    assert_eq!(
        store.group_members("Ops").await.expect("members"),
        ["Alice"]
    );
    assert_eq!(store.user_groups("Alice").await.expect("groups"), ["Ops"]);
    assert!(store
        .remove_group_member("Ops", "Alice")
        .await
        .expect("remove"));
    assert!(store.user_groups("Alice").await.expect("groups").is_empty());
}

async fn audit_events_chain_and_look_up_newest_first<S: Store>(store: &S) {
    let event = |n: i64, name: &str, user: &str| NewAuditEvent {
        event_id: format!("e{n}"),
        event_time_ms: n * 1000,
        event_name: name.into(),
        event_source: "codepipeline.amazonaws.com".into(),
        username: Some(user.into()),
        access_key_id: Some("AKIA1".into()),
        read_only: name.starts_with("Get"),
        resources: vec![("AWS::CodePipeline::Pipeline".into(), format!("p{n}"))],
        document: format!("{{\"n\":{n}}}"),
    };
    store
        .append_audit_events(
            &[
                event(1, "CreatePipeline", "a"),
                event(2, "GetPipeline", "b"),
            ],
            &[],
        )
        .await
        .expect("append");
    store
        .put_pending_audit(&event(3, "UpdatePipeline", "a"))
        .await
        .expect("pending");
    store
        .put_pending_audit(&event(4, "DeletePipeline", "a"))
        .await
        .expect("pending");
    let pending = store.pending_audits().await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e3", "e4"]
    );
    store
        .append_audit_events(&[event(3, "UpdatePipeline", "a")], &["e3".to_string()])
        .await
        .expect("append and complete");
    assert_eq!(
        store.pending_audits().await.expect("pending"),
        vec![event(4, "DeletePipeline", "a")]
    );
    store
        .append_audit_events(&[], &["e4".to_string()])
        .await
        .expect("drop pending");
    assert!(store.pending_audits().await.expect("pending").is_empty());
    let chain = store.audit_chain(0, 10).await.expect("chain");
    assert_eq!(chain.len(), 3);
    let mut prev = GENESIS_HASH.to_string();
    for e in &chain {
        assert_eq!(e.prev_hash, prev);
        assert_eq!(
            e.hash,
            audit_hash(&conformance_chain_key(), &prev, &e.event.document)
        );
        prev = e.hash.clone();
    }
    let q = |attribute, before_seq, limit| AuditQuery {
        attribute,
        before_seq,
        limit,
        ..Default::default()
    };
    let names =
        |v: Vec<AuditEventRecord>| v.into_iter().map(|e| e.event.event_id).collect::<Vec<_>>();
    assert_eq!(
        names(
            store
                .lookup_audit_events(&q(None, None, 10))
                .await
                .expect("all")
        ),
        ["e3", "e2", "e1"]
    );
    let first = store
        .lookup_audit_events(&q(None, None, 2))
        .await
        .expect("page");
    let after = first.last().map(|e| e.seq);
    assert_eq!(
        names(
            store
                .lookup_audit_events(&q(None, after, 2))
                .await
                .expect("page 2")
        ),
        ["e1"]
    );
    for (attribute, want) in [
        (AuditAttribute::Username("a".into()), vec!["e3", "e1"]),
        (AuditAttribute::EventName("GetPipeline".into()), vec!["e2"]),
        (AuditAttribute::ReadOnly(false), vec!["e3", "e1"]),
        (AuditAttribute::ResourceName("p3".into()), vec!["e3"]),
        (
            AuditAttribute::ResourceType("AWS::CodePipeline::Pipeline".into()),
            vec!["e3", "e2", "e1"],
        ),
        (AuditAttribute::EventId("e2".into()), vec!["e2"]),
    ] {
        assert_eq!(
            names(
                store
                    .lookup_audit_events(&q(Some(attribute.clone()), None, 10))
                    .await
                    .expect("lookup")
            ),
            want,
            "{attribute:?}"
        );
    }
    let window = AuditQuery {
        start_ms: Some(1500),
        end_ms: Some(2500),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        names(store.lookup_audit_events(&window).await.expect("window")),
        ["e2"]
    );
    // A queued append is durable behind any later write.
    store
        .queue_audit_events(&[event(5, "GetPipeline", "q")], &[])
        .await
        .expect("queue");
    store.append_audit_events(&[], &[]).await.expect("barrier");
    assert_eq!(store.audit_chain(3, 10).await.expect("chain").len(), 1);
    // An event naming two resources of a type is one answer, and either name finds it.
    let mut two = event(6, "PutJobSuccessResult", "c");
    two.resources
        .push(("AWS::CodePipeline::Pipeline".into(), "p6b".into()));
    store
        .append_audit_events(&[two], &[])
        .await
        .expect("append");
    let pipeline = AuditAttribute::ResourceType("AWS::CodePipeline::Pipeline".into());
    let typed = store
        .lookup_audit_events(&q(Some(pipeline), None, 2))
        .await
        .expect("lookup");
    assert_eq!(names(typed), ["e6", "e5"]);
    let named = store
        .lookup_audit_events(&q(
            Some(AuditAttribute::ResourceName("p6b".into())),
            None,
            5,
        ))
        .await
        .expect("lookup");
    assert_eq!(names(named), ["e6"]);
}

/// Runs after `audit_events_chain_and_look_up_newest_first`: the chain holds e1, e2, e3, e5, e6
/// (written at 1 s, 2 s, 3 s, 5 s, 6 s).
async fn audit_pruning_removes_a_prefix_and_checkpoints_where_the_chain_starts<S: Store>(
    store: &S,
) {
    let key = conformance_chain_key();
    assert_eq!(store.audit_checkpoint().await.expect("none yet"), None);
    let ids = |chain: &[AuditEventRecord]| -> Vec<String> {
        chain.iter().map(|e| e.event.event_id.clone()).collect()
    };
    // At most `limit` at a time, oldest first.
    assert_eq!(store.prune_audit_events(3_500, 1).await.expect("prune"), 1);
    let checkpoint = store.audit_checkpoint().await.expect("read").expect("set");
    assert_eq!((checkpoint.seq, checkpoint.pruned), (1, 1));
    assert!(checkpoint.is_genuine(&key));
    assert_eq!(
        store.prune_audit_events(3_500, 100).await.expect("prune"),
        2
    );
    let checkpoint = store.audit_checkpoint().await.expect("read").expect("set");
    assert_eq!(checkpoint.pruned, 3);
    let chain = store.audit_chain(0, 10).await.expect("chain");
    assert_eq!(ids(&chain), ["e5", "e6"]);
    assert_eq!(
        chain[0].prev_hash, checkpoint.hash,
        "the chain goes on from the checkpoint"
    );
    assert_eq!(
        store.prune_audit_events(3_500, 100).await.expect("again"),
        0
    );
    // Never the newest event: the next one links to it.
    assert_eq!(
        store.prune_audit_events(i64::MAX, 100).await.expect("all"),
        1
    );
    assert_eq!(ids(&store.audit_chain(0, 10).await.expect("chain")), ["e6"]);
    let checkpoint = store.audit_checkpoint().await.expect("read").expect("set");
    assert_eq!(checkpoint.pruned, 4);
    assert!(checkpoint.is_genuine(&key));
    let moved = AuditCheckpoint {
        seq: checkpoint.seq - 1,
        ..checkpoint.clone()
    };
    assert!(!moved.is_genuine(&key), "a moved checkpoint shows");
    // Pruned events are gone from lookups too, by any attribute.
    let gone = store
        .lookup_audit_events(&AuditQuery {
            start_ms: None,
            end_ms: None,
            attribute: Some(AuditAttribute::ResourceName("p1".into())),
            before_seq: None,
            limit: 10,
        })
        .await
        .expect("lookup");
    assert!(gone.is_empty());
    // Appending goes on from the newest event.
    let next = NewAuditEvent {
        event_id: "e7".into(),
        event_time_ms: 7_000,
        event_name: "GetPipeline".into(),
        event_source: "codepipeline.amazonaws.com".into(),
        username: None,
        access_key_id: None,
        read_only: true,
        resources: Vec::new(),
        document: "{\"n\":7}".into(),
    };
    store
        .append_audit_events(&[next], &[])
        .await
        .expect("append");
    let chain = store.audit_chain(0, 10).await.expect("chain");
    assert_eq!(chain[1].prev_hash, chain[0].hash);
}

/// A declaration named `name` whose first stage has one source action per `(provider, configuration)`.
pub fn with_sources(name: &str, sources: &[(&str, &[(&str, &str)])]) -> DeclarationDoc {
    let mut declaration = sample_pipeline(name).declaration.to_model();
    declaration.stages[0].actions = sources
        .iter()
        .enumerate()
        .map(|(i, (provider, config))| m::ActionDeclaration {
            name: format!("Src{i}"),
            action_type_id: m::ActionTypeId::new("Source", "AWS", provider, "1"),
            run_order: 1,
            configuration: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        })
        .collect();
    DeclarationDoc::from(&declaration)
}

async fn the_source_index_follows_create_update_and_delete<S: Store>(store: &S) {
    let s3: &[(&str, &str)] = &[("S3Bucket", "in"), ("S3ObjectKey", "app.zip")];
    let repo: &[(&str, &str)] = &[("RepositoryName", "app"), ("BranchName", "main")];
    let mut new = sample_pipeline("indexed");
    new.declaration = with_sources("indexed", &[("S3", s3), ("CodeCommit", repo)]);
    store.create_pipeline(&new, 100).await.expect("create");
    let at = |provider: &'static str, location: Option<&'static str>| async move {
        store.sources_at(provider, location).await.expect("index")
    };
    let pair = |action: &str| ("indexed".to_string(), action.to_string());
    assert_eq!(at("S3", Some("in/app.zip")).await, [pair("Src0")]);
    assert!(at("S3", Some("in/other.zip")).await.is_empty());
    assert_eq!(at("CodeCommit", Some("app")).await, [pair("Src1")]);
    assert_eq!(at("CodeCommit", None).await, [pair("Src1")]);
    // An update replaces what the pipeline watches.
    let moved: &[(&str, &str)] = &[("RepositoryName", "site"), ("BranchName", "main")];
    store
        .update_pipeline(
            "indexed",
            1,
            &with_sources("indexed", &[("CodeCommit", moved)]),
            &[],
            2,
        )
        .await
        .expect("update");
    assert!(at("S3", Some("in/app.zip")).await.is_empty());
    assert!(at("CodeCommit", Some("app")).await.is_empty());
    assert_eq!(at("CodeCommit", Some("site")).await, [pair("Src0")]);
    assert!(store.delete_pipeline("indexed").await.expect("delete"));
    assert!(at("CodeCommit", None).await.is_empty());
}

async fn connections_have_unique_names_a_limit_and_complete_once_set<S: Store>(store: &S) {
    let connection = |name: &str, created_ms| ConnectionRecord {
        arn: format!("arn:connection/{name}"),
        name: name.into(),
        provider_type: "GitHub".into(),
        host_arn: None,
        status: "PENDING".into(),
        url: None,
        token: None,
        created_ms,
    };
    store
        .create_connection(&connection("a", 1), 2)
        .await
        .expect("create");
    assert!(matches!(
        store.create_connection(&connection("a", 2), 2).await,
        Err(Error::NameInUse(_))
    ));
    store
        .create_connection(&connection("b", 3), 2)
        .await
        .expect("create");
    assert!(matches!(
        store.create_connection(&connection("c", 4), 2).await,
        Err(Error::LimitExceeded(_))
    ));
    assert!(store
        .complete_connection("arn:connection/a", "AVAILABLE", Some("hosted"), None)
        .await
        .expect("complete"));
    assert!(!store
        .complete_connection("arn:connection/zzz", "AVAILABLE", Some("hosted"), None)
        .await
        .expect("complete a missing one"));
    let a = store
        .connection("arn:connection/a")
        .await
        .expect("read")
        .expect("a");
    assert_eq!(
        (a.status.as_str(), a.url.as_deref()),
        ("AVAILABLE", Some("hosted"))
    );
    let listed: Vec<String> = store
        .list_connections()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(listed, ["a", "b"]);
    assert!(store
        .delete_connection("arn:connection/a")
        .await
        .expect("delete"));
    assert!(!store
        .delete_connection("arn:connection/a")
        .await
        .expect("again"));
}

async fn webhooks_are_upserted_found_by_url_and_limited<S: Store>(store: &S) {
    let hook = |name: &str, url: &str| WebhookRecord {
        name: name.into(),
        arn: format!("arn:webhook:{name}"),
        url_id: url.into(),
        doc: "{}".into(),
        created_ms: 1,
        last_triggered_ms: None,
    };
    store.put_webhook(&hook("a", "u1"), 2).await.expect("put");
    store
        .put_webhook(&hook("a", "u2"), 2)
        .await
        .expect("replace");
    store.put_webhook(&hook("b", "u3"), 2).await.expect("put");
    assert!(matches!(
        store.put_webhook(&hook("c", "u4"), 2).await,
        Err(Error::LimitExceeded(_))
    ));
    assert!(
        store.webhook("c").await.expect("read").is_none(),
        "nothing half-written"
    );
    assert_eq!(
        store
            .webhook_by_url("u2")
            .await
            .expect("read")
            .map(|w| w.name),
        Some("a".into())
    );
    assert!(store.webhook_by_url("u1").await.expect("read").is_none());
    store.webhook_triggered("a", 99).await.expect("trigger");
    let listed = store.list_webhooks().await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].last_triggered_ms, Some(99));
    assert!(store.delete_webhook("a").await.expect("delete"));
    assert!(!store.delete_webhook("a").await.expect("delete again"));
}

fn object(bucket: &str, key: &str, version: &str, blob: Option<&str>) -> ObjectVersionRecord {
    ObjectVersionRecord {
        bucket: bucket.into(),
        key: key.into(),
        version_id: version.into(),
        blob_key: blob.map(Into::into),
        size: 3,
        etag: "e".into(),
        sha256: "s".into(),
        content_type: None,
        modified_ms: 1,
        encryption: None,
    }
}

async fn object_versions_are_kept_only_in_versioned_buckets<S: Store>(store: &S) {
    let bucket = |name: &str| BucketRecord {
        name: name.into(),
        created_ms: 1,
        versioning: None,
        encryption_key: None,
    };
    store.create_bucket(&bucket("plain")).await.expect("create");
    assert!(matches!(
        store.create_bucket(&bucket("plain")).await,
        Err(Error::AlreadyExists(_))
    ));
    let (first, orphaned) = store
        .put_object_version(&object("plain", "a", "v1", Some("b1")))
        .await
        .expect("put");
    assert_eq!((first.version_id.as_str(), orphaned.len()), ("null", 0));
    let (_, orphaned) = store
        .put_object_version(&object("plain", "a", "v2", Some("b2")))
        .await
        .expect("put");
    assert_eq!(
        orphaned,
        vec!["b1".to_string()],
        "the null version is replaced"
    );

    store.create_bucket(&bucket("kept")).await.expect("create");
    store
        .set_versioning("kept", "Enabled")
        .await
        .expect("enable");
    for (key, v) in [("a", "1"), ("a", "2"), ("b", "3"), ("c", "4")] {
        store
            .put_object_version(&object("kept", key, v, Some(v)))
            .await
            .expect("put");
    }
    store
        .put_object_version(&object("kept", "c", "5", None))
        .await
        .expect("delete marker");
    let latest = store
        .object_version("kept", "a", None)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(latest.version_id, "2");
    let listed = store
        .list_objects("kept", "", None, 10)
        .await
        .expect("list");
    let keys: Vec<_> = listed
        .iter()
        .map(|o| (o.key.as_str(), o.version_id.as_str()))
        .collect();
    assert_eq!(
        keys,
        [("a", "2"), ("b", "3")],
        "a deleted key is not listed"
    );
    let versions = store
        .list_object_versions("kept", "", Some(("a", Some("2"))), 10)
        .await
        .expect("versions");
    let ids: Vec<_> = versions.iter().map(|o| o.version_id.as_str()).collect();
    assert_eq!(
        ids,
        ["1", "3", "5", "4"],
        "newest first within a key, after the marker"
    );
    let removed = store
        .delete_object_version("kept", "a", "2")
        .await
        .expect("delete");
    assert_eq!(removed.and_then(|r| r.blob_key), Some("2".into()));
    assert_eq!(
        store
            .object_version("kept", "a", None)
            .await
            .expect("read")
            .map(|o| o.version_id),
        Some("1".into())
    );
    assert!(matches!(
        store.set_versioning("missing", "Enabled").await,
        Err(Error::NotFound(_))
    ));
}

fn job(pipeline: &str, id: &str, created_ms: i64) -> JobRecord {
    JobRecord {
        job_id: id.into(),
        pipeline: pipeline.into(),
        execution_id: "e1".into(),
        action_type: ActionTypeKey {
            category: "Build".into(),
            owner: "Custom".into(),
            provider: "W".into(),
            version: "1".into(),
        },
        status: JobStatus::Queued,
        nonce: None,
        data: format!("{{\"configuration\":{{\"Project\":\"{id}\"}}}}"),
        created_ms,
        updated_ms: created_ms,
    }
}

fn execution(pipeline: &str, id: &str, started_ms: i64) -> ExecutionRecord {
    ExecutionRecord {
        pipeline: pipeline.into(),
        execution_id: id.into(),
        status: "InProgress".into(),
        started_ms,
        updated_ms: started_ms,
        doc: format!("{{\"id\":\"{id}\"}}"),
    }
}

async fn steps_commit_atomically_and_conflict_on_a_stale_rev<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("runs"), 1000)
        .await
        .expect("create");
    assert!(store.runtime("runs").await.expect("runtime").is_none());
    let step = StepWrite {
        pipeline: "runs".into(),
        expected_rev: 0,
        runtime_doc: "r1".into(),
        executions: vec![execution("runs", "e1", 10)],
        new_jobs: vec![job("runs", "j1", 10)],
        new_timers: vec![TimerRecord {
            pipeline: "runs".into(),
            key: "job:j1".into(),
            due_ms: 100,
        }],
        outbox: vec![OutboxRecord::new(
            "o1".into(),
            "publish",
            "arn:aws:sns:us-east-1:111111111111:approvals".into(),
            "{}".into(),
            10,
        )],
        request_token: Some(("tok".into(), "e1".into())),
        ..Default::default()
    };
    store.commit_step(&step).await.expect("first step");
    let rt = store
        .runtime("runs")
        .await
        .expect("runtime")
        .expect("exists");
    assert_eq!((rt.rev, rt.doc.as_str()), (1, "r1"));
    // A step computed from the old rev loses and writes nothing.
    let stale = StepWrite {
        runtime_doc: "lost".into(),
        new_jobs: vec![job("runs", "j2", 11)],
        ..step.clone()
    };
    assert!(matches!(
        store.commit_step(&stale).await,
        Err(Error::VersionConflict { .. })
    ));
    assert!(store.job("j2").await.expect("job").is_none());
    assert_eq!(
        store.runtime("runs").await.expect("rt").expect("rt").doc,
        "r1"
    );
    assert_eq!(
        store
            .execution_for_request_token("runs", "tok")
            .await
            .expect("token")
            .as_deref(),
        Some("e1")
    );
    assert_eq!(store.due_outbox(10, 10).await.expect("outbox").len(), 1);
    let finish = StepWrite {
        pipeline: "runs".into(),
        expected_rev: 1,
        runtime_doc: "r2".into(),
        finished_jobs: vec![("j1".into(), JobStatus::Succeeded)],
        fired_timers: vec![TimerRecord {
            pipeline: "runs".into(),
            key: "job:j1".into(),
            due_ms: 100,
        }],
        ..Default::default()
    };
    store.commit_step(&finish).await.expect("second step");
    assert_eq!(
        store.job("j1").await.expect("job").expect("j1").status,
        JobStatus::Succeeded
    );
    assert!(store
        .due_timers(1_000, 10)
        .await
        .expect("timers")
        .is_empty());
    // Deleting the pipeline takes its runs with it.
    store.delete_pipeline("runs").await.expect("delete");
    assert!(store.runtime("runs").await.expect("runtime").is_none());
    assert!(store.job("j1").await.expect("job").is_none());
    assert!(store
        .execution("runs", "e1")
        .await
        .expect("execution")
        .is_none());
    let orphan = StepWrite {
        pipeline: "runs".into(),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_step(&orphan).await,
        Err(Error::NotFound(_))
    ));
}

async fn a_job_interrupted_by_too_many_restarts_is_not_queued_again<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("restarts"), 1000)
        .await
        .expect("create");
    let step = StepWrite {
        pipeline: "restarts".into(),
        runtime_doc: "r".into(),
        new_jobs: vec![job("restarts", "looping", 1)],
        ..Default::default()
    };
    store.commit_step(&step).await.expect("step");
    let key = ActionTypeKey {
        category: "Build".into(),
        owner: "Custom".into(),
        provider: "W".into(),
        version: "1".into(),
    };
    for restart in 1..=2 {
        let claimed = store
            .claim_jobs(&key, &[], &[format!("n{restart}")], 10 + restart, i64::MIN)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1, "queued again after restart {restart}");
        let outcome = store
            .requeue_open_jobs(std::slice::from_ref(&key), 20 + restart, 2)
            .await
            .expect("requeue");
        assert_eq!(outcome.requeued, 1);
        assert!(outcome.exhausted.is_empty());
    }
    store
        .claim_jobs(&key, &[], &["n3".into()], 30, i64::MIN)
        .await
        .expect("claim");
    let outcome = store
        .requeue_open_jobs(std::slice::from_ref(&key), 31, 2)
        .await
        .expect("requeue");
    assert_eq!(outcome.requeued, 0);
    assert_eq!(outcome.exhausted, ["looping"]);
    assert_eq!(
        store
            .job("looping")
            .await
            .expect("job")
            .expect("exists")
            .status,
        JobStatus::Dispatched,
        "left for the caller to fail"
    );
    store.delete_pipeline("restarts").await.expect("delete");
}

async fn a_job_is_claimed_by_one_poller_and_acknowledged_with_its_nonce<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("jobs"), 1000)
        .await
        .expect("create");
    let step = StepWrite {
        pipeline: "jobs".into(),
        runtime_doc: "r".into(),
        new_jobs: vec![
            job("jobs", "a", 1),
            job("jobs", "b", 2),
            job("jobs", "c", 3),
        ],
        ..Default::default()
    };
    store.commit_step(&step).await.expect("step");
    let key = ActionTypeKey {
        category: "Build".into(),
        owner: "Custom".into(),
        provider: "W".into(),
        version: "1".into(),
    };
    let first = store
        .claim_jobs(&key, &[], &["n1".into(), "n2".into()], 5, i64::MIN)
        .await
        .expect("claim");
    assert_eq!(
        first.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "oldest first, bounded"
    );
    assert!(first.iter().all(|j| j.status == JobStatus::Dispatched));
    let second = store
        .claim_jobs(&key, &[], &["n3".into(), "n4".into()], 6, i64::MIN)
        .await
        .expect("claim");
    assert_eq!(
        second.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(),
        ["c"],
        "a claimed job is never handed out again"
    );
    assert!(matches!(
        store.acknowledge_job("a", "n2", 7, None).await,
        Err(Error::InvalidNonce(_))
    ));
    assert_eq!(
        store
            .acknowledge_job("a", "n1", 7, None)
            .await
            .expect("ack")
            .status,
        JobStatus::InProgress
    );
    let filtered = store
        .claim_jobs(
            &key,
            &[("Project".into(), "c".into())],
            &["n6".into()],
            8,
            i64::MIN,
        )
        .await
        .expect("claim");
    assert!(filtered.is_empty(), "c is already claimed");
    store
        .commit_step(&StepWrite {
            pipeline: "jobs".into(),
            expected_rev: 1,
            runtime_doc: "r".into(),
            new_jobs: vec![job("jobs", "d", 9), job("jobs", "e", 10)],
            ..Default::default()
        })
        .await
        .expect("step");
    let by_config = store
        .claim_jobs(
            &key,
            &[("Project".into(), "e".into())],
            &["n7".into()],
            11,
            i64::MIN,
        )
        .await
        .expect("claim");
    assert_eq!(
        by_config
            .iter()
            .map(|j| j.job_id.as_str())
            .collect::<Vec<_>>(),
        ["e"],
        "queryParam matches the configuration"
    );
    store
        .bind_client_token("a", "client-1")
        .await
        .expect("first call binds");
    store
        .bind_client_token("a", "client-1")
        .await
        .expect("same token again");
    assert!(matches!(
        store.bind_client_token("a", "client-2").await,
        Err(Error::InvalidClientToken(_))
    ));
    assert!(matches!(
        store.bind_client_token("zzz", "client-1").await,
        Err(Error::NotFound(_))
    ));
    let other = ActionTypeKey {
        provider: "Other".into(),
        ..key
    };
    assert!(store
        .claim_jobs(&other, &[], &["n5".into()], 8, i64::MIN)
        .await
        .expect("claim")
        .is_empty());
    store.delete_pipeline("jobs").await.expect("delete");
}

async fn executions_list_newest_first_and_timers_come_due<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("hist"), 1000)
        .await
        .expect("create");
    let step = StepWrite {
        pipeline: "hist".into(),
        runtime_doc: "r".into(),
        executions: vec![
            execution("hist", "x1", 10),
            execution("hist", "x2", 20),
            execution("hist", "x3", 30),
            execution("hist", "z-first", 40),
        ],
        new_timers: vec![
            TimerRecord {
                pipeline: "hist".into(),
                key: "late".into(),
                due_ms: 500,
            },
            TimerRecord {
                pipeline: "hist".into(),
                key: "early".into(),
                due_ms: 50,
            },
        ],
        ..Default::default()
    };
    store.commit_step(&step).await.expect("step");
    let ids = |v: Vec<ExecutionRecord>| v.into_iter().map(|e| e.execution_id).collect::<Vec<_>>();
    // Same millisecond: the execution recorded later is the newer one, whatever its id.
    store
        .commit_step(&StepWrite {
            pipeline: "hist".into(),
            expected_rev: 1,
            runtime_doc: "r".into(),
            executions: vec![execution("hist", "a-later", 40)],
            ..Default::default()
        })
        .await
        .expect("step");
    assert_eq!(
        ids(store.list_executions("hist", None, 3).await.expect("list")),
        ["a-later", "z-first", "x3"]
    );
    assert_eq!(
        ids(store
            .list_executions("hist", Some((40, "z-first".into())), 2)
            .await
            .expect("list")),
        ["x3", "x2"]
    );
    assert_eq!(
        ids(store
            .list_executions("hist", Some((20, "x2".into())), 2)
            .await
            .expect("list")),
        ["x1"]
    );
    let due: Vec<String> = store
        .due_timers(100, 10)
        .await
        .expect("due")
        .into_iter()
        .map(|t| t.key)
        .collect();
    assert_eq!(due, ["early"]);
    store.delete_pipeline("hist").await.expect("delete");
}

async fn pipeline_names_are_unique<S: Store>(store: &S) {
    let p = sample_pipeline("unique");
    store.create_pipeline(&p, 1000).await.expect("create");
    let again = store.create_pipeline(&p, 1000).await;
    assert!(
        matches!(again, Err(Error::NameInUse(_))),
        "pipeline_names_are_unique: {again:?}"
    );
    store.delete_pipeline("unique").await.expect("delete");
}

async fn every_version_stays_readable<S: Store>(store: &S) {
    let p = sample_pipeline("versions");
    store.create_pipeline(&p, 1000).await.expect("create");
    let v2 = store
        .update_pipeline("versions", 1, &p.declaration, &[], 2_000)
        .await
        .expect("update");
    assert_eq!(v2.version, 2);
    assert_eq!(v2.declaration.version(), 2);
    let latest = store
        .get_pipeline("versions", None)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (latest.version, latest.updated_ms, latest.created_ms),
        (2, 2_000, 1_000)
    );
    let first = store
        .get_pipeline("versions", Some(1))
        .await
        .expect("get")
        .expect("v1");
    assert_eq!((first.version, first.updated_ms), (1, 1_000));
    assert!(store
        .get_pipeline("versions", Some(3))
        .await
        .expect("get")
        .is_none());
    store.delete_pipeline("versions").await.expect("delete");
}

async fn update_with_a_stale_version_is_refused<S: Store>(store: &S) {
    let p = sample_pipeline("stale");
    store.create_pipeline(&p, 1000).await.expect("create");
    store
        .update_pipeline("stale", 1, &p.declaration, &[], 2)
        .await
        .expect("update");
    let stale = store
        .update_pipeline("stale", 1, &p.declaration, &[], 3)
        .await;
    assert!(
        matches!(stale, Err(Error::VersionConflict { .. })),
        "{stale:?}"
    );
    let missing = store
        .update_pipeline("missing", 1, &p.declaration, &[], 3)
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    store.delete_pipeline("stale").await.expect("delete");
}

async fn list_is_ordered_and_pages_after_a_name<S: Store>(store: &S) {
    for name in ["c", "a", "b"] {
        store
            .create_pipeline(&sample_pipeline(name), 1000)
            .await
            .expect("create");
    }
    let all: Vec<String> = store
        .list_pipelines(None, 10)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(all, ["a", "b", "c"]);
    let page: Vec<String> = store
        .list_pipelines(Some("a"), 1)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(page, ["b"]);
    for name in ["a", "b", "c"] {
        store.delete_pipeline(name).await.expect("delete");
    }
}

async fn delete_removes_versions_transitions_and_tags<S: Store>(store: &S) {
    let p = sample_pipeline("gone");
    store.create_pipeline(&p, 1000).await.expect("create");
    assert_eq!(store.tags(&p.arn).await.expect("tags").len(), 1);
    store
        .set_transition(&TransitionRecord {
            pipeline: "gone".into(),
            stage: "Beta".into(),
            direction: TransitionDirection::Inbound,
            enabled: false,
            reason: Some("r".into()),
            changed_by: "me".into(),
            changed_ms: 5,
        })
        .await
        .expect("transition");
    assert!(store.delete_pipeline("gone").await.expect("delete"));
    assert!(!store.delete_pipeline("gone").await.expect("delete twice"));
    assert!(store
        .get_pipeline("gone", Some(1))
        .await
        .expect("get")
        .is_none());
    assert!(store.tags(&p.arn).await.expect("tags").is_empty());
    // A new pipeline of the same name starts afresh at version 1 with no transitions.
    store.create_pipeline(&p, 1000).await.expect("recreate");
    assert!(store
        .transitions("gone")
        .await
        .expect("transitions")
        .is_empty());
    assert_eq!(
        store
            .get_pipeline("gone", None)
            .await
            .expect("get")
            .expect("exists")
            .version,
        1
    );
    store.delete_pipeline("gone").await.expect("delete");
}

async fn pipeline_count_limit_is_enforced<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("one"), 1)
        .await
        .expect("create");
    let second = store.create_pipeline(&sample_pipeline("two"), 1).await;
    assert!(matches!(second, Err(Error::LimitExceeded(_))), "{second:?}");
    store.delete_pipeline("one").await.expect("delete");
}

async fn transitions_are_upserted<S: Store>(store: &S) {
    store
        .create_pipeline(&sample_pipeline("t"), 1000)
        .await
        .expect("create");
    let mut t = TransitionRecord {
        pipeline: "t".into(),
        stage: "Beta".into(),
        direction: TransitionDirection::Inbound,
        enabled: false,
        reason: Some("maintenance".into()),
        changed_by: "arn:aws:iam::111111111111:root".into(),
        changed_ms: 10,
    };
    store.set_transition(&t).await.expect("disable");
    t.enabled = true;
    t.reason = None;
    store.set_transition(&t).await.expect("enable");
    let all = store.transitions("t").await.expect("transitions");
    assert_eq!(all, vec![t.clone()]);
    t.pipeline = "absent".into();
    assert!(matches!(
        store.set_transition(&t).await,
        Err(Error::NotFound(_))
    ));
    store.delete_pipeline("t").await.expect("delete");
}

async fn deleted_action_type_identity_is_never_reused<S: Store>(store: &S) {
    let t = m::ActionType {
        id: m::ActionTypeId::new("Build", "Custom", "Jenkins", "1"),
        settings: None,
        configuration_properties: vec![m::ConfigurationProperty::plain("ProjectName", true)],
        input_artifact_details: m::ArtifactDetails::between(0, 5),
        output_artifact_details: m::ArtifactDetails::between(0, 5),
    };
    let record = ActionTypeRecord {
        key: ActionTypeKey::from(&t.id),
        definition: ActionTypeDoc::from(&t),
        created_ms: 1,
    };
    let tags = [Tag {
        key: "k".into(),
        value: "v".into(),
    }];
    store
        .create_action_type(&record, &tags, 10)
        .await
        .expect("create");
    let read = store
        .get_action_type(&record.key)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(read.definition.to_model(&read.key), t);
    assert!(matches!(
        store.create_action_type(&record, &[], 10).await,
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(store.list_action_types().await.expect("list").len(), 1);
    assert!(store.delete_action_type(&record.key).await.expect("delete"));
    assert!(store
        .get_action_type(&record.key)
        .await
        .expect("get")
        .is_none());
    assert!(matches!(
        store.create_action_type(&record, &[], 10).await,
        Err(Error::Deleted(_))
    ));
    assert!(store.list_action_types().await.expect("list").is_empty());
}

async fn tag_limit_is_enforced_atomically<S: Store>(store: &S) {
    let p = sample_pipeline("tags");
    store.create_pipeline(&p, 1000).await.expect("create");
    let many: Vec<Tag> = (0..3)
        .map(|i| Tag {
            key: format!("k{i}"),
            value: "v".into(),
        })
        .collect();
    let over = store.tag_resource(&p.arn, &many, 3).await;
    assert!(matches!(over, Err(Error::LimitExceeded(_))), "{over:?}");
    assert_eq!(
        store.tags(&p.arn).await.expect("tags").len(),
        1,
        "nothing of a refused call is kept"
    );
    store
        .tag_resource(&p.arn, &many[..2], 3)
        .await
        .expect("tag");
    store
        .untag_resource(&p.arn, &["team".into(), "k0".into()])
        .await
        .expect("untag");
    let left: Vec<String> = store
        .tags(&p.arn)
        .await
        .expect("tags")
        .into_iter()
        .map(|t| t.key)
        .collect();
    assert_eq!(left, ["k1"]);
    store.delete_pipeline("tags").await.expect("delete");
}

async fn access_keys_are_inserted_once<S: Store>(store: &S) {
    let key = AccessKeyRecord {
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: sluice_model::Secret::new("first"),
        principal_arn: "arn:aws:iam::111111111111:root".into(),
        created_ms: 1,
        status: "Active".into(),
    };
    store.ensure_access_key(&key).await.expect("insert");
    let second = AccessKeyRecord {
        secret_access_key: sluice_model::Secret::new("second"),
        ..key.clone()
    };
    assert_eq!(store.ensure_access_key(&second).await.expect("again"), key);
    assert_eq!(
        store.find_access_key("AKIAEXAMPLE").await.expect("find"),
        Some(key)
    );
    assert_eq!(store.find_access_key("nope").await.expect("find"), None);
}

fn deploy_resource(kind: DeployKind, scope: &str, name: &str) -> DeployResource {
    DeployResource {
        kind,
        scope: scope.into(),
        name: name.into(),
        doc: format!("{{\"name\":\"{name}\"}}"),
        created_ms: 1,
        owner: None,
    }
}

async fn deploy_resources_are_unique_per_scope_and_an_application_takes_its_own_along<S: Store>(
    store: &S,
) {
    let app = deploy_resource(DeployKind::Application, "", "web");
    store
        .create_deploy_resource(&app, 10)
        .await
        .expect("create");
    assert!(matches!(
        store.create_deploy_resource(&app, 10).await,
        Err(Error::AlreadyExists(_))
    ));
    let group = deploy_resource(DeployKind::DeploymentGroup, "web", "beta");
    store
        .create_deploy_resource(&group, 10)
        .await
        .expect("group");
    // The same group name under another application is another group.
    let other = deploy_resource(DeployKind::DeploymentGroup, "api", "beta");
    store
        .create_deploy_resource(&other, 10)
        .await
        .expect("other app's group");
    let limited = deploy_resource(DeployKind::DeploymentGroup, "web", "gamma");
    assert!(matches!(
        store.create_deploy_resource(&limited, 1).await,
        Err(Error::LimitExceeded(_))
    ));
    let deployment = DeploymentRecord {
        id: "d-WEB000001".into(),
        application: "web".into(),
        deployment_group: "beta".into(),
        status: "Created".into(),
        create_ms: 5,
        rev: 1,
        creator_token: None,
        doc: "{}".into(),
    };
    store
        .create_deployment(&deployment, &[])
        .await
        .expect("deployment");
    // Renaming the application moves its groups and deployments.
    let renamed = deploy_resource(DeployKind::Application, "", "site");
    store
        .replace_deploy_resource("web", &renamed)
        .await
        .expect("rename");
    let groups = store
        .deploy_resources(DeployKind::DeploymentGroup, "site")
        .await
        .expect("groups");
    assert_eq!(groups.len(), 1);
    let moved = store
        .deployment("d-WEB000001")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(moved.application, "site");
    assert!(matches!(
        store.replace_deploy_resource("web", &renamed).await,
        Err(Error::NotFound(_))
    ));
    assert!(store
        .delete_deploy_resource(DeployKind::Application, "", "site")
        .await
        .expect("delete"));
    assert!(store
        .deploy_resources(DeployKind::DeploymentGroup, "site")
        .await
        .expect("groups")
        .is_empty());
    assert!(store
        .deployment("d-WEB000001")
        .await
        .expect("read")
        .is_none());
    assert!(store
        .deploy_resource(DeployKind::DeploymentGroup, "api", "beta")
        .await
        .expect("read")
        .is_some());
}

async fn an_owner_finds_its_one_resource<S: Store>(store: &S) {
    let owned = |name: &str, owner: Option<&str>| DeployResource {
        owner: owner.map(str::to_string),
        ..deploy_resource(DeployKind::OnPremisesInstance, "", name)
    };
    store
        .create_deploy_resource(&owned("web-1", Some("arn:user/web-1")), 10)
        .await
        .expect("create");
    let found = store
        .deploy_resource_by_owner(DeployKind::OnPremisesInstance, "arn:user/web-1")
        .await
        .expect("read");
    assert_eq!(found.map(|r| r.name).as_deref(), Some("web-1"));
    assert!(matches!(
        store
            .create_deploy_resource(&owned("web-2", Some("arn:user/web-1")), 10)
            .await,
        Err(Error::AlreadyExists(_))
    ));
    // Giving the owner up (deregistering) frees it.
    store
        .replace_deploy_resource("web-1", &owned("web-1", None))
        .await
        .expect("release");
    store
        .create_deploy_resource(&owned("web-2", Some("arn:user/web-1")), 10)
        .await
        .expect("the owner is free again");
}

async fn deployment_steps_conflict_on_a_stale_rev_and_commands_lapse<S: Store>(store: &S) {
    let deployment = DeploymentRecord {
        id: "d-STEP00001".into(),
        application: "app".into(),
        deployment_group: "g".into(),
        status: "InProgress".into(),
        create_ms: 10,
        rev: 1,
        creator_token: Some("job-1".into()),
        doc: "{}".into(),
    };
    let first = HostCommandRecord {
        id: "c1".into(),
        host: "host-a".into(),
        deployment_id: deployment.id.clone(),
        event: "ApplicationStop".into(),
        state: "Pending".into(),
        created_ms: 10,
        lease_until_ms: None,
    };
    store
        .create_deployment(&deployment, std::slice::from_ref(&first))
        .await
        .expect("create");
    let again = DeploymentRecord {
        id: "d-STEP00002".into(),
        ..deployment.clone()
    };
    match store.create_deployment(&again, &[]).await {
        Err(Error::AlreadyExists(id)) => assert_eq!(id, "d-STEP00001"),
        other => panic!("a reused creator token is refused with the first id: {other:?}"),
    }
    let by_token = store.deployment_by_token("job-1").await.expect("read");
    assert_eq!(by_token.map(|d| d.id), Some(deployment.id.clone()));
    assert_eq!(store.host_commands("host-a").await.expect("read").len(), 1);
    assert!(store
        .set_host_command("c1", "Dispatched", 100)
        .await
        .expect("dispatch"));
    store.renew_host_leases("host-a", 200).await.expect("renew");
    assert!(store
        .lapsed_host_commands(150)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(
        store.lapsed_host_commands(250).await.expect("read").len(),
        1
    );
    let next = HostCommandRecord {
        id: "c2".into(),
        event: "DownloadBundle".into(),
        created_ms: 20,
        ..first.clone()
    };
    let stepped = DeploymentRecord {
        rev: 2,
        doc: "{\"step\":1}".into(),
        ..deployment.clone()
    };
    store
        .step_deployment(
            &stepped,
            1,
            std::slice::from_ref(&next),
            &["c1".into()],
            None,
        )
        .await
        .expect("step");
    let open = store.host_commands("host-a").await.expect("read");
    assert_eq!(
        open.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c2"]
    );
    // A step that read an older revision changes nothing.
    let stale = DeploymentRecord {
        rev: 2,
        doc: "{\"stale\":true}".into(),
        ..deployment.clone()
    };
    assert!(matches!(
        store
            .step_deployment(&stale, 1, &[], &["c2".into()], None)
            .await,
        Err(Error::VersionConflict { .. })
    ));
    assert_eq!(store.host_commands("host-a").await.expect("read").len(), 1);
    let listed = store
        .deployments(&group_query("app", "g"), 100)
        .await
        .expect("list");
    assert_eq!(listed[0].doc, "{\"step\":1}");
    // A step that starts a rollback inserts it in the same transaction.
    let rollback = DeploymentRecord {
        id: "d-STEP00003".into(),
        create_ms: 30,
        creator_token: None,
        ..deployment.clone()
    };
    let finished = DeploymentRecord {
        rev: 3,
        status: "Failed".into(),
        ..stepped.clone()
    };
    store
        .step_deployment(&finished, 2, &[], &["c2".into()], Some(&rollback))
        .await
        .expect("step with rollback");
    let listed = store
        .deployments(&group_query("app", "g"), 100)
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d-STEP00003", "d-STEP00001"]
    );
    assert!(store
        .host_commands("host-a")
        .await
        .expect("read")
        .is_empty());
    let latest = |status| store.latest_deployment("app", "g", status);
    let id = |d: Option<DeploymentRecord>| d.map(|d| d.id);
    assert_eq!(
        id(latest(None).await.expect("read")).as_deref(),
        Some("d-STEP00003")
    );
    assert_eq!(
        id(latest(Some("Failed")).await.expect("read")).as_deref(),
        Some("d-STEP00001")
    );
    assert!(latest(Some("Succeeded")).await.expect("read").is_none());
}

async fn repositories_are_unique_limited_and_described<S: Store>(store: &S) {
    let record = |name: &str| RepositoryRecord {
        name: name.into(),
        id: format!("id-{name}"),
        description: None,
        created_ms: 1,
        modified_ms: 1,
        snapshot: None,
    };
    store
        .create_repository(&record("app"), 2)
        .await
        .expect("create");
    assert!(matches!(
        store.create_repository(&record("app"), 2).await,
        Err(Error::AlreadyExists(_))
    ));
    store
        .create_repository(&record("lib"), 2)
        .await
        .expect("second");
    assert!(matches!(
        store.create_repository(&record("third"), 2).await,
        Err(Error::LimitExceeded(_))
    ));
    assert!(store
        .describe_repository("app", Some("the app"), 5)
        .await
        .expect("describe"));
    let app = store.repository("app").await.expect("read").expect("there");
    assert_eq!(
        (app.description.as_deref(), app.modified_ms),
        (Some("the app"), 5)
    );
    let names: Vec<String> = store
        .repositories()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["app", "lib"]);
    assert!(store.delete_repository("app").await.expect("delete"));
    assert!(!store.delete_repository("app").await.expect("again"));
}

async fn a_repository_push_lock_has_one_owner_and_publishing_releases_it<S: Store>(store: &S) {
    assert!(matches!(
        store.lock_repository("nowhere", "a", 0, 10).await,
        Err(Error::NotFound(_))
    ));
    let record = RepositoryRecord {
        name: "shared".into(),
        id: "id-shared".into(),
        description: None,
        created_ms: 1,
        modified_ms: 1,
        snapshot: None,
    };
    store.create_repository(&record, 10).await.expect("create");
    async fn snapshot<S: Store>(store: &S) -> Option<String> {
        store
            .repository("shared")
            .await
            .expect("read")
            .expect("there")
            .snapshot
    }
    // One owner at a time; the holder renews; another waits until the lease lapses.
    assert!(store
        .lock_repository("shared", "a", 100, 200)
        .await
        .expect("lock"));
    assert!(store
        .lock_repository("shared", "a", 150, 250)
        .await
        .expect("renew"));
    assert!(!store
        .lock_repository("shared", "b", 240, 300)
        .await
        .expect("held"));
    assert_eq!(
        store
            .publish_repository("shared", "b", Some("s-b"))
            .await
            .expect("publish"),
        Publication::LockLost,
        "only the holder publishes"
    );
    assert_eq!(
        store
            .publish_repository("shared", "a", Some("s-1"))
            .await
            .expect("publish"),
        Publication::Published { replaced: None }
    );
    assert_eq!(snapshot(store).await.as_deref(), Some("s-1"));
    // Publishing released the lock: another owner takes it at once.
    assert!(store
        .lock_repository("shared", "b", 260, 360)
        .await
        .expect("lock"));
    assert_eq!(
        store
            .publish_repository("shared", "a", Some("s-a"))
            .await
            .expect("publish"),
        Publication::LockLost
    );
    store
        .unlock_repository("shared", "a")
        .await
        .expect("not held");
    assert!(!store
        .lock_repository("shared", "a", 300, 400)
        .await
        .expect("b holds"));
    store
        .unlock_repository("shared", "b")
        .await
        .expect("unlock");
    assert_eq!(
        snapshot(store).await.as_deref(),
        Some("s-1"),
        "an unlock changes nothing"
    );
    // A lapsed lock goes to the next owner, and its old holder can no longer publish.
    assert!(store
        .lock_repository("shared", "a", 400, 500)
        .await
        .expect("lock"));
    assert!(store
        .lock_repository("shared", "c", 501, 600)
        .await
        .expect("lapsed"));
    assert_eq!(
        store
            .publish_repository("shared", "a", Some("s-late"))
            .await
            .expect("publish"),
        Publication::LockLost
    );
    assert_eq!(
        store
            .publish_repository("shared", "c", Some("s-2"))
            .await
            .expect("publish"),
        Publication::Published {
            replaced: Some("s-1".into())
        }
    );
    assert_eq!(snapshot(store).await.as_deref(), Some("s-2"));
    assert!(store.delete_repository("shared").await.expect("delete"));
}
