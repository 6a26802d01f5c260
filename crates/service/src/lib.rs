//! The boundary of Sluice: the `Sluice` façade that every front end (the JSON API, later the
//! console and workers) calls with domain types. It owns the rules that need storage — name
//! uniqueness, versions, secrets carried over on update, limits, pagination tokens — and
//! leaves wire formats to `api` and SQL to the store backends.

mod action_types;
mod audit;
mod clock;
mod connections;
pub mod deploy;
mod error;
mod executions;
pub mod function_logs;
pub mod functions;
mod iam;
mod ids;
mod job_credentials;
mod jobs;
mod kms;
mod multipart;
pub mod notifications;
mod objects;
mod options;
mod pagination;
mod pipelines;
mod repositories;
mod repository_copies;
mod rules;
mod run_step;
mod runtime_doc;
mod sealing;
pub(crate) mod sources;
mod sts;
mod tags;
#[cfg(test)]
mod webhook_properties;
mod webhooks;

pub use audit::{AuditAnchor, ChainCheck};
pub use clock::{Clock, SystemClock};
pub use connections::{ConnectionSource, ConnectionView, HOSTED};
pub use error::Error;
pub use executions::{
    ActionAttemptView, ActionExecutionView, ActionStateView, ApprovalAnswer, ArtifactRevision,
    ExecutionView, StageExecutionView, StartOverrides, TIMER_BATCH,
};
pub use iam::{ManagedPolicyView, PolicyScope, RequestInfo, MAX_ACCESS_KEYS_PER_USER};
pub use ids::{IdGenerator, RandomIds};
pub use job_credentials::{is_job_session_token, JobCredentials, JobGrant};
pub use jobs::{
    Job, JobArtifact, JobFailure, Pruned, ThirdPartyJobRef, MAX_BATCH_SIZE, MAX_JOB_INTERRUPTIONS,
};
pub use kms::{KeyView, DEFAULT_KEY_ALIAS};
pub use objects::{
    check_bucket_name, job_log_key, ObjectListing, ObjectVersion, LOG_BUCKET, MAX_KEYS,
};
pub use options::{
    Options, DEFAULT_AUDIT_RETENTION_MS, DEFAULT_DISPATCH_LEASE_MS, DEFAULT_EXECUTION_RETENTION_MS,
    DEFAULT_HOST_LEASE_MS, DEFAULT_JOB_LEASE_MS, DEFAULT_JOB_RETENTION_MS, DEFAULT_MAX_PUSH_BYTES,
    DEFAULT_MAX_REQUEST_BYTES, DEFAULT_SMTP_FROM, DEFAULT_UNDELIVERED_RETENTION_MS,
};
pub use pipelines::{PipelineOverview, PipelineState, PipelineView, StageState, TransitionState};
pub use repositories::{Bundle, CommitView, HeldCopy, RepositoryHost, RepositoryView, Restore};
pub use repository_copies::PUSH_LOCK_MS;
pub use rules::RuleExecutionView;
pub use sluice_engine::{ConditionRun, ConditionStatus, RuleRun, RuleStatus};
pub use sluice_engine::{EngineOptions, JobOutcome, RetryMode, SourceRevision, Trigger};
pub use sluice_store::JobStatus;
pub use sluice_store::KmsKeyRecord;
pub use sluice_store::{AccessKeyRecord, ManagedPolicyRecord, PrincipalKind, PrincipalRecord};
pub use sluice_store::{AuditAttribute, AuditEventRecord, AuditQuery, NewAuditEvent};
pub use sluice_store::{PipelineSummary, Tag, TransitionDirection};
pub use sources::{ActionRevisionResult, GitRef, PolledSource};
pub use sts::{is_role_session_token, RoleSession, SessionProblem};
pub use webhooks::{
    json_path, WebhookDefinition, WebhookDelivery, WebhookFilter, WebhookView, MAX_WEBHOOKS,
};

use std::sync::Arc;

pub type Result<T> = std::result::Result<T, Error>;

/// How long a verified access key is remembered.
const KEY_CACHE_MS: i64 = 5_000;
/// The most keys remembered (the cache starts over beyond it).
const KEY_CACHE_MAX: usize = 10_000;

/// Who is making a call, as far as the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The IAM ARN that `lastChangedBy` and the audit trail record.
    pub arn: String,
    /// The access key the request was signed with.
    pub access_key_id: String,
    /// The IAM user or role whose policies apply; `None` for the account root.
    pub principal: Option<(PrincipalKind, String)>,
    /// The principal's unique id (`AIDA…`), for `aws:userid` and `principalId`.
    pub principal_id: Option<String>,
}

impl Caller {
    /// The principal an access key's owner ARN names: `…:root`, `…:user/PATH/NAME`.
    fn of_key(access_key_id: &str, arn: &str) -> Self {
        let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
        let principal = resource.strip_prefix("user/").map(|r| {
            (
                PrincipalKind::User,
                r.rsplit('/').next().unwrap_or(r).to_string(),
            )
        });
        Self {
            arn: arn.to_string(),
            access_key_id: access_key_id.to_string(),
            principal,
            principal_id: None,
        }
    }

    /// The IAM user name, if the caller is a user.
    pub fn user_name(&self) -> Option<&str> {
        match &self.principal {
            Some((PrincipalKind::User, n)) => Some(n),
            _ => None,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// The façade: one per server, cheap to clone.
#[derive(Clone)]
pub struct Sluice {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn sluice_store::Store>,
    blobs: Arc<dyn sluice_artifacts::BlobStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    options: Options,
    tokens: pagination::TokenSigner,
    /// Recently verified access keys: id → (secret, caller, when read).
    key_cache:
        std::sync::Mutex<std::collections::HashMap<String, (sluice_model::Secret, Caller, i64)>>,
    /// Parsed policies of recently seen principals: "kind/name" → (policies, when read).
    policy_cache: std::sync::Mutex<std::collections::HashMap<String, CachedPolicies>>,
    /// Told the action type of every job queued (after commit), to wake in-process providers.
    job_listener: std::sync::OnceLock<JobListener>,
    /// Told the host of every host command opened (after commit), to wake long polls.
    host_listener: std::sync::OnceLock<deploy::HostCommandListener>,
    /// The server's hosted repositories, for CodeCommit's operations.
    repository_host: std::sync::OnceLock<Arc<dyn repositories::RepositoryHost>>,
    /// Repositories with a push in progress through this server (`repository_copies`).
    pushing: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Told that outbox rows were committed, to wake the dispatcher (replaced when a server
    /// that leads again starts a new one).
    outbox_listener: std::sync::Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// The key SNS deliveries are signed with, once loaded.
    signer: std::sync::OnceLock<Arc<notifications::Signer>>,
    /// EventBridge's compiled rules.
    event_rules: notifications::event_rules::RuleCache,
    /// What runs functions (the server's process pool).
    function_host: std::sync::OnceLock<Arc<dyn functions::FunctionHost>>,
    /// Counts committed changes to pipelines' state in this process, so live views know when
    /// to look again (`change_count`).
    changes: std::sync::atomic::AtomicU64,
    /// The action types last read (`action_types_known`).
    action_types: action_types::CachedActionTypes,
}

/// A principal's parsed policies and when they were read.
type CachedPolicies = (Arc<Vec<sluice_policy::Policy>>, i64);

/// Called with the action type of each newly queued job.
pub type JobListener = Arc<dyn Fn(&sluice_model::ActionTypeId) + Send + Sync>;

impl Sluice {
    pub fn new(
        store: Arc<dyn sluice_store::Store>,
        blobs: Arc<dyn sluice_artifacts::BlobStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        options: Options,
    ) -> Self {
        let tokens = pagination::TokenSigner::new(&options.token_key);
        store.set_chain_key(audit::chain_key(&options.master_key));
        let sluice = Self {
            inner: Arc::new(Inner {
                store,
                blobs,
                clock,
                ids,
                options,
                tokens,
                job_listener: std::sync::OnceLock::new(),
                host_listener: std::sync::OnceLock::new(),
                repository_host: std::sync::OnceLock::new(),
                pushing: Default::default(),
                outbox_listener: Default::default(),
                signer: std::sync::OnceLock::new(),
                event_rules: Default::default(),
                function_host: std::sync::OnceLock::new(),
                key_cache: Default::default(),
                policy_cache: Default::default(),
                changes: Default::default(),
                action_types: Default::default(),
            }),
        };
        // Other servers' changes wake what this one runs, as its own changes do. Weak: the
        // store holds the listener, and must not keep the service alive.
        let weak = Arc::downgrade(&sluice.inner);
        sluice.store().listen_for_changes(Arc::new(move |change| {
            if let Some(inner) = weak.upgrade() {
                Sluice { inner }.remote_change(change);
            }
        }));
        sluice
    }

    /// Wakes what another server's change concerns here.
    fn remote_change(&self, change: sluice_store::RemoteChange) {
        match change {
            sluice_store::RemoteChange::JobsQueued(t) => {
                if let Some(listener) = self.inner.job_listener.get() {
                    listener(&sluice_model::ActionTypeId::new(
                        &t.category,
                        &t.owner,
                        &t.provider,
                        &t.version,
                    ));
                }
            }
            sluice_store::RemoteChange::PipelineState => self.count_change(),
            sluice_store::RemoteChange::Outbox => self.wake_outbox(),
        }
    }

    /// Installs the listener told about queued jobs; only the first call has an effect.
    pub fn set_job_listener(&self, listener: JobListener) {
        let _ = self.inner.job_listener.set(listener);
    }

    fn announce_jobs(&self, jobs: &[sluice_store::JobRecord]) {
        if let Some(listener) = self.inner.job_listener.get() {
            for job in jobs.iter().filter(|j| j.status == JobStatus::Queued) {
                let t = &job.action_type;
                listener(&sluice_model::ActionTypeId::new(
                    &t.category,
                    &t.owner,
                    &t.provider,
                    &t.version,
                ));
            }
        }
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// How many changes to pipelines (steps, transitions, tags) this process has committed or
    /// heard another server commit (on a shared database); a live view reads it to know
    /// whether to look again. A change heard late is found by the views' own timer.
    pub fn change_count(&self) -> u64 {
        self.inner
            .changes
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Counts one committed change (`change_count`).
    pub(crate) fn count_change(&self) {
        self.inner
            .changes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn store(&self) -> &dyn sluice_store::Store {
        self.inner.store.as_ref()
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// A fresh unique id (request ids, execution ids) from the injected generator.
    pub fn new_id(&self) -> String {
        self.inner.ids.uuid()
    }

    /// `PipelineNotFound` for `name` in this account.
    pub(crate) fn pipeline_not_found(&self, name: &str) -> Error {
        Error::PipelineNotFound {
            name: name.into(),
            account: self.inner.options.account_id.clone(),
        }
    }

    /// A missing pipeline named as a resource: `ResourceNotFound` in AWS's words for it.
    pub(crate) fn as_resource(&self, e: Error) -> Error {
        match e {
            Error::PipelineNotFound { name, account } => {
                Error::PipelineResourceNotFound { name, account }
            }
            other => other,
        }
    }

    /// A taken pipeline name, naming this account.
    pub(crate) fn name_in_use(&self, e: Error) -> Error {
        match e {
            Error::PipelineNameInUse { name, .. } => Error::PipelineNameInUse {
                name,
                account: self.inner.options.account_id.clone(),
            },
            other => other,
        }
    }

    /// The latest version of a pipeline, or `PipelineNotFound`.
    pub(crate) async fn current_pipeline(
        &self,
        name: &str,
    ) -> Result<sluice_store::PipelineRecord> {
        self.store()
            .get_pipeline(name, None)
            .await?
            .ok_or_else(|| self.pipeline_not_found(name))
    }

    /// The latest version of a pipeline that has `stage`, or the matching not-found error.
    pub(crate) async fn pipeline_with_stage(
        &self,
        name: &str,
        stage: &str,
    ) -> Result<(
        sluice_store::PipelineRecord,
        sluice_model::PipelineDeclaration,
    )> {
        let record = self.current_pipeline(name).await?;
        let declaration = record.declaration.to_model();
        if declaration.stage(stage).is_none() {
            return Err(Error::StageNotFound {
                pipeline: name.into(),
                stage: stage.into(),
            });
        }
        Ok((record, declaration))
    }

    /// The ARN of the account's root user.
    pub fn root_arn(&self) -> String {
        format!("arn:aws:iam::{}:root", self.inner.options.account_id)
    }

    /// Account bootstrap: records the access key of the account root (keeping an existing
    /// one) and makes sure the default service role exists.
    pub async fn ensure_root_access_key(&self, access_key_id: &str, secret: &str) -> Result<()> {
        self.ensure_default_service_role().await?;
        self.ensure_default_key().await?;
        let record = sluice_store::AccessKeyRecord {
            access_key_id: access_key_id.into(),
            secret_access_key: sluice_model::Secret::new(
                self.seal(sealing::Purpose::AccessKey, secret)?,
            ),
            principal_arn: self.root_arn(),
            created_ms: self.now_ms(),
            status: "Active".into(),
        };
        self.store().ensure_access_key(&record).await?;
        Ok(())
    }

    /// The secret of an access key and the caller it names, for checking a signature. Found
    /// keys are remembered for `KEY_CACHE_MS`, so a signed request costs no database read;
    /// a key removed from the store stops working within that time.
    pub async fn access_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<(sluice_model::Secret, Caller)>> {
        let now = self.now_ms();
        let cached = self
            .inner
            .key_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(access_key_id)
            .filter(|(_, _, at)| now >= *at && now - at < KEY_CACHE_MS)
            .map(|(secret, caller, _)| (secret.clone(), caller.clone()));
        if cached.is_some() {
            return Ok(cached);
        }
        let found = match self.store().find_access_key(access_key_id).await? {
            Some(k) if k.status == "Active" => {
                let mut caller = Caller::of_key(access_key_id, &k.principal_arn);
                if let Some((kind, name)) = &caller.principal {
                    caller.principal_id = self.store().principal(*kind, name).await?.map(|p| p.id);
                }
                let secret =
                    self.unseal(sealing::Purpose::AccessKey, k.secret_access_key.expose())?;
                Some((sluice_model::Secret::new(secret), caller))
            }
            _ => None,
        };
        let mut cache = self
            .inner
            .key_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &found {
            Some((secret, caller)) => {
                if cache.len() >= KEY_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(
                    access_key_id.to_string(),
                    (secret.clone(), caller.clone(), now),
                );
            }
            None => {
                cache.remove(access_key_id);
            }
        }
        Ok(found)
    }
}
