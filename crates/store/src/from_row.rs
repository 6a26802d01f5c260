//! Row → record mapping, written once for both SQL backends: each record's column list and
//! the mapping that reads those columns by position stand together here, so the two cannot
//! drift apart. A backend selects `…_COLUMNS` and hands each row it gets to the mapping.

use crate::{
    AccessKeyRecord, ActionTypeKey, AuditEventRecord, BucketRecord, ConnectionRecord, DeployKind,
    DeployResource, DeploymentRecord, Error, EventRuleRecord, ExecutionRecord, FunctionRecord,
    HostCommandRecord, JobRecord, JobStatus, KmsKeyRecord, ManagedPolicyRecord, NewAuditEvent,
    ObjectVersionRecord, OutboxRecord, PrincipalKind, PrincipalRecord, RepositoryRecord, Result,
    SubscriptionRecord, TopicRecord, WebhookRecord,
};

/// A column of a row read as a `T`. Like `sqlx::Row::get`, it panics when the column is not
/// a `T`: the backends' own migrations define every column these mappings read.
pub trait Column<T> {
    fn get(&self, index: usize) -> T;
}

impl<R, T> Column<T> for R
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    T: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn get(&self, index: usize) -> T {
        sqlx::Row::get(self, index)
    }
}

/// A row of either backend: its columns read as text, integers and flags, each maybe null.
/// (SQLite's integer columns read as flags too.)
pub trait RecordRow:
    Column<String> + Column<Option<String>> + Column<i64> + Column<Option<i64>> + Column<bool>
{
}

impl<R> RecordRow for R where
    R: Column<String> + Column<Option<String>> + Column<i64> + Column<Option<i64>> + Column<bool>
{
}

pub const AUDIT_COLUMNS: &str = "seq, event_id, event_time_ms, event_name, event_source, username, access_key_id, read_only, resources, document, prev_hash, hash";

pub fn audit_event(r: &impl RecordRow) -> AuditEventRecord {
    let resources: String = r.get(8);
    let resources: Vec<(String, String)> = serde_json::from_str(&resources).unwrap_or_default();
    AuditEventRecord {
        seq: r.get(0),
        event: NewAuditEvent {
            event_id: r.get(1),
            event_time_ms: r.get(2),
            event_name: r.get(3),
            event_source: r.get(4),
            username: r.get(5),
            access_key_id: r.get(6),
            read_only: r.get(7),
            resources,
            document: r.get(9),
        },
        prev_hash: r.get(10),
        hash: r.get(11),
    }
}

pub const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, secret_access_key, principal_arn, created_ms, status";

pub fn access_key(r: &impl RecordRow) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: r.get(0),
        secret_access_key: sluice_model::Secret::new(Column::<String>::get(r, 1)),
        principal_arn: r.get(2),
        created_ms: r.get(3),
        status: r.get(4),
    }
}

pub const RESOURCE_COLUMNS: &str = "scope, name, doc, created_ms, owner";

pub fn deploy_resource(kind: DeployKind, r: &impl RecordRow) -> DeployResource {
    DeployResource {
        kind,
        scope: r.get(0),
        name: r.get(1),
        doc: r.get(2),
        created_ms: r.get(3),
        owner: r.get(4),
    }
}

pub const DEPLOYMENT_COLUMNS: &str =
    "id, application, deployment_group, status, create_ms, rev, creator_token, doc";

pub fn deployment(r: &impl RecordRow) -> DeploymentRecord {
    DeploymentRecord {
        id: r.get(0),
        application: r.get(1),
        deployment_group: r.get(2),
        status: r.get(3),
        create_ms: r.get(4),
        rev: r.get(5),
        creator_token: r.get(6),
        doc: r.get(7),
    }
}

pub const COMMAND_COLUMNS: &str =
    "id, host, deployment_id, event, state, created_ms, lease_until_ms";

pub fn host_command(r: &impl RecordRow) -> HostCommandRecord {
    HostCommandRecord {
        id: r.get(0),
        host: r.get(1),
        deployment_id: r.get(2),
        event: r.get(3),
        state: r.get(4),
        created_ms: r.get(5),
        lease_until_ms: r.get(6),
    }
}

pub const PRINCIPAL_COLUMNS: &str =
    "kind, name, id, arn, path, created_ms, trust_policy, description";

pub fn principal(r: &impl RecordRow) -> PrincipalRecord {
    let kind: String = r.get(0);
    PrincipalRecord {
        kind: match kind.as_str() {
            "group" => PrincipalKind::Group,
            "role" => PrincipalKind::Role,
            _ => PrincipalKind::User,
        },
        name: r.get(1),
        id: r.get(2),
        arn: r.get(3),
        path: r.get(4),
        created_ms: r.get(5),
        trust_policy: r.get(6),
        description: r.get(7),
    }
}

pub const POLICY_COLUMNS: &str =
    "arn, name, id, path, description, document, created_ms, updated_ms";

pub fn managed_policy(r: &impl RecordRow) -> ManagedPolicyRecord {
    ManagedPolicyRecord {
        arn: r.get(0),
        name: r.get(1),
        id: r.get(2),
        path: r.get(3),
        description: r.get(4),
        document: r.get(5),
        created_ms: r.get(6),
        updated_ms: r.get(7),
    }
}

pub const OUTBOX_COLUMNS: &str = "id, kind, topic, body, created_ms, attempts, due_ms";

pub fn outbox(r: &impl RecordRow) -> OutboxRecord {
    OutboxRecord {
        id: r.get(0),
        kind: r.get(1),
        topic: r.get(2),
        body: r.get(3),
        created_ms: r.get(4),
        attempts: r.get(5),
        due_ms: r.get(6),
    }
}

pub const TOPIC_COLUMNS: &str = "arn, name, doc, created_ms";

pub fn topic(r: &impl RecordRow) -> TopicRecord {
    TopicRecord {
        arn: r.get(0),
        name: r.get(1),
        doc: r.get(2),
        created_ms: r.get(3),
    }
}

pub const SUBSCRIPTION_COLUMNS: &str = "arn, topic_arn, token, doc, created_ms";

pub fn subscription(r: &impl RecordRow) -> SubscriptionRecord {
    SubscriptionRecord {
        arn: r.get(0),
        topic_arn: r.get(1),
        token: r.get(2),
        doc: r.get(3),
        created_ms: r.get(4),
    }
}

pub const RULE_COLUMNS: &str = "name, doc, created_ms";

pub fn event_rule(r: &impl RecordRow) -> EventRuleRecord {
    EventRuleRecord {
        name: r.get(0),
        doc: r.get(1),
        created_ms: r.get(2),
    }
}

pub const VERSION_COLUMNS: &str =
    "bucket, key, version_id, blob_key, size, etag, sha256, content_type, modified_ms, encryption";

pub fn object_version(r: &impl RecordRow) -> ObjectVersionRecord {
    ObjectVersionRecord {
        bucket: r.get(0),
        key: r.get(1),
        version_id: r.get(2),
        blob_key: r.get(3),
        size: r.get(4),
        etag: r.get(5),
        sha256: r.get(6),
        content_type: r.get(7),
        modified_ms: r.get(8),
        encryption: r.get(9),
    }
}

pub const BUCKET_COLUMNS: &str = "name, created_ms, versioning, encryption_key";

pub fn bucket(r: &impl RecordRow) -> BucketRecord {
    BucketRecord {
        name: r.get(0),
        created_ms: r.get(1),
        versioning: r.get(2),
        encryption_key: r.get(3),
    }
}

pub const KEY_COLUMNS: &str = "key_id, arn, alias, description, state, created_ms";

pub fn kms_key(r: &impl RecordRow) -> KmsKeyRecord {
    KmsKeyRecord {
        key_id: r.get(0),
        arn: r.get(1),
        alias: r.get(2),
        description: r.get(3),
        state: r.get(4),
        created_ms: r.get(5),
    }
}

pub const WEBHOOK_COLUMNS: &str = "name, arn, url_id, doc, created_ms, last_triggered_ms";

pub fn webhook(r: &impl RecordRow) -> WebhookRecord {
    WebhookRecord {
        name: r.get(0),
        arn: r.get(1),
        url_id: r.get(2),
        doc: r.get(3),
        created_ms: r.get(4),
        last_triggered_ms: r.get(5),
    }
}

pub const CONNECTION_COLUMNS: &str =
    "arn, name, provider_type, host_arn, status, url, token, created_ms";

pub fn connection(r: &impl RecordRow) -> ConnectionRecord {
    ConnectionRecord {
        arn: r.get(0),
        name: r.get(1),
        provider_type: r.get(2),
        host_arn: r.get(3),
        status: r.get(4),
        url: r.get(5),
        token: r.get(6),
        created_ms: r.get(7),
    }
}

pub const REPOSITORY_COLUMNS: &str = "name, id, description, created_ms, modified_ms, snapshot";

pub fn repository(r: &impl RecordRow) -> RepositoryRecord {
    RepositoryRecord {
        name: r.get(0),
        id: r.get(1),
        description: r.get(2),
        created_ms: r.get(3),
        modified_ms: r.get(4),
        snapshot: r.get(5),
    }
}

pub const FUNCTION_COLUMNS: &str = "name, revision_id, doc, created_ms, modified_ms";

pub fn function(r: &impl RecordRow) -> FunctionRecord {
    FunctionRecord {
        name: r.get(0),
        revision_id: r.get(1),
        doc: r.get(2),
        created_ms: r.get(3),
        modified_ms: r.get(4),
    }
}

pub const EXECUTION_COLUMNS: &str = "pipeline, execution_id, status, started_ms, updated_ms, doc";

pub fn execution(r: &impl RecordRow) -> ExecutionRecord {
    ExecutionRecord {
        pipeline: r.get(0),
        execution_id: r.get(1),
        status: r.get(2),
        started_ms: r.get(3),
        updated_ms: r.get(4),
        doc: r.get(5),
    }
}

pub const JOB_COLUMNS: &str = "job_id, pipeline, execution_id, category, owner, provider, version, status, nonce, data, created_ms, updated_ms";

pub fn job(r: &impl RecordRow) -> Result<JobRecord> {
    let status: String = r.get(7);
    Ok(JobRecord {
        job_id: r.get(0),
        pipeline: r.get(1),
        execution_id: r.get(2),
        action_type: ActionTypeKey {
            category: r.get(3),
            owner: r.get(4),
            provider: r.get(5),
            version: r.get(6),
        },
        status: JobStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("job status {status}")))?,
        nonce: r.get(8),
        data: r.get(9),
        created_ms: r.get(10),
        updated_ms: r.get(11),
    })
}
