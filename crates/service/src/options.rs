//! What the service needs to know about the server it runs in.

use sluice_model::Limits;

/// How long a polled job waits for its `AcknowledgeJob` before another poller may take it.
pub const DEFAULT_DISPATCH_LEASE_MS: i64 = 60_000;

/// The service's options; the binary fills them from flags, the config file and environment.
#[derive(Debug, Clone)]
pub struct Options {
    /// The region ARNs name, e.g. `us-east-1`.
    pub region: String,
    /// The twelve-digit account id ARNs name.
    pub account_id: String,
    /// Structural limits on declarations.
    pub limits: Limits,
    /// Signs pagination tokens so a forged one is recognised. Keep it stable across restarts
    /// for tokens to stay valid.
    pub token_key: Vec<u8>,
    /// Job and approval timeouts the engine applies by default.
    pub engine: sluice_engine::EngineOptions,
    /// A polled job not acknowledged within this long is handed to the next poller.
    pub dispatch_lease_ms: i64,
    /// AWS-owned action types this server's own providers run. Jobs of other AWS-owned types
    /// fail at once with "no provider for ... is available on this server".
    pub providers: Vec<sluice_model::ActionTypeId>,
    /// The server's address as clients reach it (webhook URLs are built on it).
    pub public_url: String,
    /// Seals secrets at rest. The binary keeps it outside the database (`master.key` in the
    /// data dir, mode 0600, or `SLUICE_MASTER_KEY`); lose it and sealed secrets are lost.
    pub master_key: sluice_artifacts::crypto::Key,
    /// The largest request body the JSON and Query protocols read, once the request's
    /// headers name a known key (a request that fails on its headers has its body unread).
    pub max_request_bytes: usize,
    /// The largest pack a `git push` to a hosted repository may send.
    pub max_push_bytes: u64,
    /// A host holding a deployment's command that is not heard from for this long fails its
    /// lifecycle event (its agent is taken to be gone).
    pub host_lease_ms: i64,
    /// SNS `email` and `email-json` subscriptions are sent through this SMTP relay
    /// (`host:port`, plain SMTP, no authentication); without one they are refused.
    pub smtp_relay: Option<String>,
    /// The address emails come from.
    pub smtp_from: String,
    /// Finished jobs are forgotten this long after they ended (executions keep their history).
    pub job_retention_ms: i64,
    /// Undelivered messages are forgotten this long after their last attempt.
    pub undelivered_retention_ms: i64,
    /// Audit events are pruned this long after they were written (`None`: kept forever); the
    /// chain stays verifiable from a checkpoint of the pruned prefix.
    pub audit_retention_ms: Option<i64>,
    /// Executions that ended are forgotten this long after (`None`: kept forever); a
    /// pipeline's newest execution is always kept.
    pub execution_retention_ms: Option<i64>,
    /// Every pipeline's status badge and `cc.xml` entry are public (else only those of
    /// pipelines tagged `sluice:badge` = `public`).
    pub public_badges: bool,
    /// The name this server's providers run built-in jobs under (unique among servers that
    /// share a database).
    pub job_owner: String,
    /// How long a built-in job stays this server's without a renewal: a server that dies
    /// holding jobs gives them up this long after its last renewal.
    pub job_lease_ms: i64,
    /// Hosted repositories are shared with other servers (replicas on one database and blob
    /// store): each push is published as a snapshot every server brings its copy up to.
    pub shared_repositories: bool,
}

/// `Options::job_lease_ms` unless configured: 30 s, renewed every 10 s.
pub const DEFAULT_JOB_LEASE_MS: i64 = 30_000;

/// `Options::job_retention_ms` unless configured: 30 days.
pub const DEFAULT_JOB_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;
/// `Options::execution_retention_ms` unless configured: 12 months, as CodePipeline keeps.
pub const DEFAULT_EXECUTION_RETENTION_MS: i64 = 365 * 24 * 3600 * 1000;
/// `Options::audit_retention_ms` unless configured: 90 days, as CloudTrail's event history.
pub const DEFAULT_AUDIT_RETENTION_MS: i64 = 90 * 24 * 3600 * 1000;
/// `Options::undelivered_retention_ms` unless configured: 14 days.
pub const DEFAULT_UNDELIVERED_RETENTION_MS: i64 = 14 * 24 * 3600 * 1000;

/// `Options::smtp_from` unless configured.
pub const DEFAULT_SMTP_FROM: &str = "no-reply@sluice.localhost";

/// `Options::host_lease_ms` unless configured.
pub const DEFAULT_HOST_LEASE_MS: i64 = 5 * 60 * 1000;

/// `Options::max_push_bytes` unless configured.
pub const DEFAULT_MAX_PUSH_BYTES: u64 = 1 << 30;

/// `Options::max_request_bytes` unless configured: far above any pipeline or policy document.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 2 << 20;

impl Default for Options {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "111111111111".into(),
            limits: Limits::default(),
            token_key: b"sluice-default-token-key".to_vec(),
            engine: sluice_engine::EngineOptions::default(),
            dispatch_lease_ms: DEFAULT_DISPATCH_LEASE_MS,
            providers: Vec::new(),
            public_url: "http://127.0.0.1:8240".into(),
            // For tests and embedding only; the binary always supplies its own key.
            master_key: sluice_artifacts::crypto::Key(*b"sluice-default-master-key-tests!"),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_push_bytes: DEFAULT_MAX_PUSH_BYTES,
            host_lease_ms: DEFAULT_HOST_LEASE_MS,
            smtp_relay: None,
            smtp_from: DEFAULT_SMTP_FROM.into(),
            job_retention_ms: DEFAULT_JOB_RETENTION_MS,
            undelivered_retention_ms: DEFAULT_UNDELIVERED_RETENTION_MS,
            audit_retention_ms: Some(DEFAULT_AUDIT_RETENTION_MS),
            execution_retention_ms: Some(DEFAULT_EXECUTION_RETENTION_MS),
            public_badges: false,
            job_owner: "sluice".into(),
            job_lease_ms: DEFAULT_JOB_LEASE_MS,
            shared_repositories: false,
        }
    }
}
