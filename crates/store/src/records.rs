//! What the store persists. These are persistence types, separate from the domain types of
//! `model`; conversions live next to them.

use crate::DeclarationDoc;

/// A key/value tag of a resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A pipeline to create.
#[derive(Debug, Clone)]
pub struct NewPipeline {
    pub name: String,
    pub arn: String,
    pub declaration: DeclarationDoc,
    pub created_ms: i64,
    pub tags: Vec<Tag>,
    /// The artifact stores' buckets, created in the same transaction when missing (with the
    /// declared key); an existing bucket keeps its key, and one keyed otherwise than declared
    /// refuses the change.
    pub buckets: Vec<BucketRecord>,
}

/// One stored version of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRecord {
    pub name: String,
    pub arn: String,
    pub version: i64,
    pub declaration: DeclarationDoc,
    pub created_ms: i64,
    /// When this version was written.
    pub updated_ms: i64,
}

/// A row of `ListPipelines`.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSummary {
    pub name: String,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub execution_mode: Option<String>,
    pub pipeline_type: Option<String>,
}

/// Which side of a stage a transition guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionDirection {
    Inbound,
    Outbound,
}

impl TransitionDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "Inbound",
            Self::Outbound => "Outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Inbound" => Some(Self::Inbound),
            "Outbound" => Some(Self::Outbound),
            _ => None,
        }
    }
}

/// The state of one transition, as last changed.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRecord {
    pub pipeline: String,
    pub stage: String,
    pub direction: TransitionDirection,
    pub enabled: bool,
    pub reason: Option<String>,
    pub changed_by: String,
    pub changed_ms: i64,
}

/// The identity of a custom action type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionTypeKey {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

impl From<&sluice_model::ActionTypeId> for ActionTypeKey {
    fn from(id: &sluice_model::ActionTypeId) -> Self {
        Self {
            category: id.category.clone(),
            owner: id.owner.clone(),
            provider: id.provider.clone(),
            version: id.version.clone(),
        }
    }
}

/// A stored custom action type; `definition` is the versioned JSON document of the type.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionTypeRecord {
    pub key: ActionTypeKey,
    pub definition: crate::declaration_doc::ActionTypeDoc,
    pub created_ms: i64,
}

/// An access key and whom it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    /// Sealed with the server's master key by the service before it is stored.
    pub secret_access_key: sluice_model::Secret,
    pub principal_arn: String,
    pub created_ms: i64,
    /// `Active` or `Inactive`; an inactive key signs nothing.
    pub status: String,
}

/// The kinds of IAM identity that hold policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Group,
    Role,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Role => "role",
        }
    }
}

/// An IAM user, group or role. Names are unique per kind, ignoring case, as in IAM.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalRecord {
    pub kind: PrincipalKind,
    pub name: String,
    /// `AIDA…` (user), `AGPA…` (group), `AROA…` (role).
    pub id: String,
    pub arn: String,
    pub path: String,
    pub created_ms: i64,
    /// A role's trust policy (`AssumeRolePolicyDocument`).
    pub trust_policy: Option<String>,
    pub description: Option<String>,
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicyRecord {
    pub arn: String,
    pub name: String,
    /// `ANPA…`.
    pub id: String,
    pub path: String,
    pub description: Option<String>,
    pub document: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One CloudTrail-format event to append to the audit chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub event_id: String,
    pub event_time_ms: i64,
    pub event_name: String,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    /// `(ResourceType, ResourceName)` pairs, as `LookupEvents` reports them.
    pub resources: Vec<(String, String)>,
    /// The whole event as CloudTrail's JSON.
    pub document: String,
}

/// A stored audit event with its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEventRecord {
    pub seq: i64,
    pub event: NewAuditEvent,
    /// The hash of the event before it (`GENESIS_HASH` for the first).
    pub prev_hash: String,
    /// `audit_hash(prev_hash, document)`.
    pub hash: String,
}

/// The attribute `LookupEvents` filters by (at most one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAttribute {
    EventId(String),
    EventName(String),
    ReadOnly(bool),
    Username(String),
    ResourceType(String),
    ResourceName(String),
    EventSource(String),
    AccessKeyId(String),
}

/// A page of audit events, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditQuery {
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub attribute: Option<AuditAttribute>,
    /// Only events older than this place in the chain (the page token).
    pub before_seq: Option<i64>,
    pub limit: usize,
}

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key of the audit chain's links. It is derived from the master key and never enters
/// the database, so whoever can rewrite the database cannot forge the chain.
#[derive(Clone, PartialEq, Eq)]
pub struct ChainKey(pub [u8; 32]);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(REDACTED)")
    }
}

/// The link of the chain: HMAC-SHA-256 under the chain key over the previous hash and the
/// event's document.
pub fn audit_hash(key: &ChainKey, prev_hash: &str, document: &str) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
    mac.update(prev_hash.as_bytes());
    mac.update(b"\n");
    mac.update(document.as_bytes());
    sluice_model::hex(&mac.finalize().into_bytes())
}

/// Where the audit chain starts once its oldest events were pruned: the last pruned event's
/// place in the chain and its hash (the next event's `prev_hash`), how many were pruned in all,
/// and a MAC under the chain key, so that whoever can write the database cannot move it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub seq: i64,
    pub hash: String,
    pub pruned: i64,
    pub mac: String,
}

impl AuditCheckpoint {
    /// A checkpoint after the event `seq` with `hash`, `pruned` events having gone in all.
    pub fn new(key: &ChainKey, seq: i64, hash: String, pruned: i64) -> Self {
        let mac = Self::mac_of(key, seq, &hash, pruned);
        Self {
            seq,
            hash,
            pruned,
            mac,
        }
    }

    fn mac_of(key: &ChainKey, seq: i64, hash: &str, pruned: i64) -> String {
        audit_hash(key, "audit checkpoint", &format!("{seq}\n{hash}\n{pruned}"))
    }

    /// Whether the checkpoint was made with `key` as it stands.
    pub fn is_genuine(&self, key: &ChainKey) -> bool {
        Self::mac_of(key, self.seq, &self.hash, self.pruned) == self.mac
    }
}

/// The links earlier releases wrote: plain SHA-256, which anyone could recompute.
pub fn unkeyed_audit_hash(prev_hash: &str, document: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(document.as_bytes());
    sluice_model::hex(&h.finalize())
}

/// Tags of a custom action type are keyed by its identity alone, since the region and account
/// in its ARN are the server's own.
pub fn action_type_tag_key(k: &ActionTypeKey) -> String {
    format!(
        "actiontype:{}/{}/{}/{}",
        k.owner, k.category, k.provider, k.version
    )
}

/// The key a resource's tags are stored under, given its ARN.
pub fn tag_resource_key(arn: &str) -> String {
    match arn.split_once(":actiontype:") {
        Some((_, id)) => format!("actiontype:{id}"),
        None => arn.to_string(),
    }
}

/// The persisted runtime of one pipeline: an opaque versioned document the service owns,
/// guarded by `rev` for optimistic concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeRecord {
    pub pipeline: String,
    pub rev: i64,
    pub doc: String,
}

/// One execution as history keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub pipeline: String,
    pub execution_id: String,
    pub status: String,
    pub started_ms: i64,
    pub updated_ms: i64,
    /// The service's versioned document of the execution.
    pub doc: String,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Dispatched,
    InProgress,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Dispatched => "Dispatched",
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::TimedOut => "TimedOut",
            Self::Cancelled => "Cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Dispatched,
            Self::InProgress,
            Self::Succeeded,
            Self::Failed,
            Self::TimedOut,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::TimedOut | Self::Cancelled
        )
    }
}

/// A job for a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub job_id: String,
    pub pipeline: String,
    pub execution_id: String,
    pub action_type: ActionTypeKey,
    pub status: JobStatus,
    pub nonce: Option<String>,
    /// The service's versioned document of the job's data.
    pub data: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A persisted deadline of a pipeline; `key` is the service's encoding of the engine timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRecord {
    pub pipeline: String,
    pub key: String,
    pub due_ms: i64,
}

/// A message waiting for delivery, written in the transaction of the change that caused it:
/// a publication to an SNS topic, an event for the rules, or one delivery to one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub id: String,
    /// What the row is: `publish` (to the topic ARN in `topic`), `event` (for the rules),
    /// `http` (a POST to the URL in `topic`), `start` (a pipeline a rule starts).
    pub kind: String,
    /// Where it goes: a topic ARN, a URL, a pipeline name; empty for events.
    pub topic: String,
    pub body: String,
    pub created_ms: i64,
    /// Deliveries tried so far.
    pub attempts: i64,
    /// Not before this time (a retry's backoff); 0 for at once.
    pub due_ms: i64,
}

impl OutboxRecord {
    /// A row to handle at once.
    pub fn new(id: String, kind: &str, topic: String, body: String, now_ms: i64) -> Self {
        Self {
            id,
            kind: kind.to_string(),
            topic,
            body,
            created_ms: now_ms,
            attempts: 0,
            due_ms: 0,
        }
    }
}

/// A message that could not be delivered, kept for its owner to see.
#[derive(Debug, Clone, PartialEq)]
pub struct UndeliveredRecord {
    pub id: String,
    pub kind: String,
    pub topic: String,
    pub body: String,
    pub attempts: i64,
    pub error: String,
    pub created_ms: i64,
    pub failed_ms: i64,
}

/// An SNS topic: its attributes and tags as a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub arn: String,
    pub name: String,
    pub doc: String,
    pub created_ms: i64,
}

/// Where a page of a listing ordered by creation time and then a unique name ends: the next
/// page starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePosition {
    pub created_ms: i64,
    pub name: String,
}

/// What `ListDeployments` selects: the deployments of an application (and one of its groups)
/// or of every application, of any of `statuses` (any status when empty), created within
/// `created_from_ms..=created_to_ms`, after `after` in newest-first order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentQuery {
    pub application: Option<String>,
    pub group: Option<String>,
    pub statuses: Vec<String>,
    pub created_from_ms: Option<i64>,
    pub created_to_ms: Option<i64>,
    pub after: Option<PagePosition>,
}

/// An SNS subscription; `token` is set while it waits for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub arn: String,
    pub topic_arn: String,
    pub token: Option<String>,
    pub doc: String,
    pub created_ms: i64,
}

/// An EventBridge rule of the default bus, with its targets, as a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRuleRecord {
    pub name: String,
    pub doc: String,
    pub created_ms: i64,
}

/// Everything one engine step writes, committed in one transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepWrite {
    pub pipeline: String,
    /// The runtime's `rev` the step was computed from; 0 when there was none.
    pub expected_rev: i64,
    pub runtime_doc: String,
    pub executions: Vec<ExecutionRecord>,
    pub new_jobs: Vec<JobRecord>,
    pub finished_jobs: Vec<(String, JobStatus)>,
    pub new_timers: Vec<TimerRecord>,
    pub fired_timers: Vec<TimerRecord>,
    pub outbox: Vec<OutboxRecord>,
    /// `(clientRequestToken, execution id)` of a `StartPipelineExecution`.
    pub request_token: Option<(String, String)>,
}

/// A bucket of the S3-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRecord {
    pub name: String,
    pub created_ms: i64,
    /// `Enabled` or `Suspended`; `None` for a bucket whose versioning was never set.
    pub versioning: Option<String>,
    /// The ARN of the key new objects are encrypted under; `None`: the account's default key.
    pub encryption_key: Option<String>,
}

/// One version of an object (or a delete marker). Version ids are assigned by the caller and
/// ordered by insertion; an unversioned bucket holds one version per key, named `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersionRecord {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    /// Where the bytes are in the blob store; `None` for a delete marker.
    pub blob_key: Option<String>,
    pub size: i64,
    /// The MD5 of the bytes in hex, as S3 reports it (without quotes).
    pub etag: String,
    pub sha256: String,
    pub content_type: Option<String>,
    pub modified_ms: i64,
    /// The envelope (key, key version, wrapped data key) when the bytes are encrypted.
    pub encryption: Option<String>,
}

/// A KMS-style key; its material lives in versions (rotation adds one).
#[derive(Debug, Clone, PartialEq)]
pub struct KmsKeyRecord {
    pub key_id: String,
    pub arn: String,
    pub alias: Option<String>,
    pub description: String,
    /// `Enabled` or `Disabled`.
    pub state: String,
    pub created_ms: i64,
}

impl ObjectVersionRecord {
    pub fn is_delete_marker(&self) -> bool {
        self.blob_key.is_none()
    }
}

/// A webhook: its definition as the service's JSON document, and the secret part of its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub name: String,
    pub arn: String,
    /// The unguessable id in the webhook's URL.
    pub url_id: String,
    pub doc: String,
    pub created_ms: i64,
    pub last_triggered_ms: Option<i64>,
}

/// A connection (CodeStar connections): the git host a `CodeStarSourceConnection` source
/// reads. PENDING until an administrator sets where its repositories are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub arn: String,
    pub name: String,
    pub provider_type: String,
    pub host_arn: Option<String>,
    /// `PENDING`, `AVAILABLE` or `ERROR`.
    pub status: String,
    /// `hosted` (this server's repositories) or a git base URL.
    pub url: Option<String>,
    /// The token to fetch with, sealed by the service.
    pub token: Option<String>,
    pub created_ms: i64,
}

/// What kind of CodeDeploy resource a `DeployResource` row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployKind {
    Application,
    /// Scoped by its application's name.
    DeploymentGroup,
    DeploymentConfig,
    OnPremisesInstance,
    /// Scoped by its application's name; named by the revision's location.
    Revision,
}

impl DeployKind {
    pub fn name(self) -> &'static str {
        match self {
            DeployKind::Application => "application",
            DeployKind::DeploymentGroup => "group",
            DeployKind::DeploymentConfig => "config",
            DeployKind::OnPremisesInstance => "instance",
            DeployKind::Revision => "revision",
        }
    }
}

/// A CodeDeploy resource: its identity and its document (JSON the service writes and reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployResource {
    pub kind: DeployKind,
    /// The application for groups and revisions, empty otherwise.
    pub scope: String,
    pub name: String,
    pub doc: String,
    pub created_ms: i64,
    /// Who the resource answers to, found by `deploy_resource_by_owner` (an on-premises
    /// instance's IAM user ARN while it is registered).
    pub owner: Option<String>,
}

/// A deployment: its identity, status for listing, and the scheduler's state as a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: String,
    pub application: String,
    pub deployment_group: String,
    pub status: String,
    pub create_ms: i64,
    /// Bumped by every step; a step names the revision it read.
    pub rev: i64,
    /// Makes creation idempotent for a caller that may retry (a pipeline's job id).
    pub creator_token: Option<String>,
    pub doc: String,
}

/// An open host command: one lifecycle event a host is to run, from dispatch until the host
/// reports its end (then it is removed; the deployment's document keeps the result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCommandRecord {
    pub id: String,
    /// The on-premises instance's name.
    pub host: String,
    pub deployment_id: String,
    pub event: String,
    /// `Pending` until a poll hands it out, then `Dispatched`, `InProgress` once acknowledged.
    pub state: String,
    pub created_ms: i64,
    /// When the host must next be heard from, once handed out.
    pub lease_until_ms: Option<i64>,
}

/// A repository this server hosts, as CodeCommit describes it; its commits live in the
/// repository itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRecord {
    pub name: String,
    pub id: String,
    pub description: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// Where replicas find the repository's refs and objects as last pushed (a sealed bundle
    /// in the blob store, described by the service); `None` before the first shared push.
    pub snapshot: Option<String>,
}

/// What became of a push's snapshot (`RepositoryStore::publish_repository`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    /// It is the repository's snapshot now; the one it replaced, if any.
    Published { replaced: Option<String> },
    /// The push's lock lapsed and another took it (or the repository went): nothing changed.
    LockLost,
}

/// A Lambda function: its configuration (code location included) as a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRecord {
    pub name: String,
    /// Changes with every update (`RevisionId`).
    pub revision_id: String,
    pub doc: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}
