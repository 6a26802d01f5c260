//! Storage for Sluice: narrow traits per table, the record types they persist, and the one
//! conformance suite every backend runs (`conformance`, behind the feature of that name).
//!
//! Each trait method is one transaction: it either commits all it writes or none of it, and
//! returns only after the commit is durable. The `service` crate sees only these traits.

mod declaration_doc;
pub mod error;
#[cfg(feature = "sql")]
pub mod from_row;
#[cfg(feature = "sql")]
pub mod listing_sql;
pub mod records;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use declaration_doc::{ActionTypeDoc, DeclarationDoc, SourceLocation};
pub use error::Error;
pub use records::*;

use async_trait::async_trait;

pub type Result<T> = std::result::Result<T, Error>;

/// Pipelines: the head row, every version, and the stage transitions.
#[async_trait]
pub trait PipelineStore: Send + Sync {
    /// Inserts version 1 of a new pipeline with its tags. Fails with `NameInUse` when the
    /// name is taken and `LimitExceeded` when the account already has `max_pipelines`.
    async fn create_pipeline(&self, new: &NewPipeline, max_pipelines: usize) -> Result<()>;

    /// The latest version, or the given one.
    async fn get_pipeline(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<PipelineRecord>>;

    /// Stores `declaration` as version `expected_version + 1`; `VersionConflict` when the
    /// latest version is no longer `expected_version`, `NotFound` when the pipeline is gone.
    /// Stores the next version; `buckets` as in `NewPipeline::buckets`, in the same
    /// transaction.
    async fn update_pipeline(
        &self,
        name: &str,
        expected_version: i64,
        declaration: &DeclarationDoc,
        buckets: &[BucketRecord],
        updated_ms: i64,
    ) -> Result<PipelineRecord>;

    /// Deletes the pipeline with all its versions, transitions and tags; false if absent.
    async fn delete_pipeline(&self, name: &str) -> Result<bool>;

    /// Pipelines ordered by name, strictly after `after` when given, at most `limit`.
    async fn list_pipelines(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PipelineSummary>>;

    /// Records a transition's state; `NotFound` when the pipeline is gone.
    async fn set_transition(&self, transition: &TransitionRecord) -> Result<()>;

    /// Every recorded transition of a pipeline (stages never changed have none).
    async fn transitions(&self, pipeline: &str) -> Result<Vec<TransitionRecord>>;

    /// The (pipeline, action) pairs whose source of `provider` watches `location` (any
    /// location when `None`), from the index kept with every create, update and delete:
    /// what a change costs does not grow with the number of pipelines.
    async fn sources_at(
        &self,
        provider: &str,
        location: Option<&str>,
    ) -> Result<Vec<(String, String)>>;
}

/// Custom action types. A deleted type keeps a tombstone so its identity is never reused.
#[async_trait]
pub trait ActionTypeStore: Send + Sync {
    /// Creates the type with its tags; `AlreadyExists` if it exists, `Deleted` if a
    /// tombstone holds its identity, `LimitExceeded` past `max_types`.
    async fn create_action_type(
        &self,
        new: &ActionTypeRecord,
        tags: &[Tag],
        max_types: usize,
    ) -> Result<()>;
    async fn get_action_type(&self, id: &ActionTypeKey) -> Result<Option<ActionTypeRecord>>;
    /// Marks the type deleted and drops its tags; false if there was no live type.
    async fn delete_action_type(&self, id: &ActionTypeKey) -> Result<bool>;
    /// Every live custom type, ordered by identity.
    async fn list_action_types(&self) -> Result<Vec<ActionTypeRecord>>;
}

/// Tags of any resource, keyed by its ARN.
#[async_trait]
pub trait TagStore: Send + Sync {
    async fn tags(&self, resource_arn: &str) -> Result<Vec<Tag>>;
    /// Adds or overwrites tags; `LimitExceeded` if the resource would have more than `max_tags`.
    async fn tag_resource(&self, resource_arn: &str, tags: &[Tag], max_tags: usize) -> Result<()>;
    async fn untag_resource(&self, resource_arn: &str, keys: &[String]) -> Result<()>;
}

/// Access keys that name a caller.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Inserts the key unless one with the same id exists; returns the stored key.
    async fn ensure_access_key(&self, key: &AccessKeyRecord) -> Result<AccessKeyRecord>;
    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>>;
    /// Inserts a new key; `LimitExceeded` if its principal would hold more than `max_per_principal`.
    async fn create_access_key(
        &self,
        key: &AccessKeyRecord,
        max_per_principal: usize,
    ) -> Result<()>;
    /// The keys of one principal, oldest first.
    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyRecord>>;
    /// False if there is no such key.
    async fn set_access_key_status(&self, access_key_id: &str, status: &str) -> Result<bool>;
    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool>;
}

/// Keys that encrypt artifacts: each has versions of material (sealed by the service).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a key with its first version; `AlreadyExists` if the alias is taken.
    async fn create_kms_key(&self, key: &KmsKeyRecord, material: &str) -> Result<()>;
    /// The key whose id, ARN or alias this is.
    async fn kms_key(&self, id_arn_or_alias: &str) -> Result<Option<KmsKeyRecord>>;
    async fn list_kms_keys(&self) -> Result<Vec<KmsKeyRecord>>;
    async fn set_kms_key_state(&self, key_id: &str, state: &str) -> Result<bool>;
    /// Adds the next version of material; returns its number.
    async fn add_kms_key_version(
        &self,
        key_id: &str,
        material: &str,
        created_ms: i64,
    ) -> Result<i64>;
    /// `(version, material)`, oldest first.
    async fn kms_key_versions(&self, key_id: &str) -> Result<Vec<(i64, String)>>;
    /// Sets the key new objects of a bucket are encrypted under.
    async fn set_bucket_encryption(&self, bucket: &str, key_arn: Option<&str>) -> Result<()>;
}

/// IAM identities and their policies.
#[async_trait]
pub trait IamStore: Send + Sync {
    /// `AlreadyExists` if the kind already has the name (ignoring case).
    async fn create_principal(&self, principal: &PrincipalRecord) -> Result<()>;
    async fn principal(&self, kind: PrincipalKind, name: &str) -> Result<Option<PrincipalRecord>>;
    /// Every principal of a kind, by name.
    async fn list_principals(&self, kind: PrincipalKind) -> Result<Vec<PrincipalRecord>>;
    /// Removes the principal; the caller has checked it holds nothing (IAM's `DeleteConflict`).
    async fn delete_principal(&self, kind: PrincipalKind, name: &str) -> Result<bool>;
    /// Updates a role's trust policy; false if there is no such role.
    async fn set_trust_policy(&self, role: &str, document: &str) -> Result<bool>;

    /// Adds or replaces an inline policy.
    async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
        document: &str,
    ) -> Result<()>;
    async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
    ) -> Result<bool>;
    /// `(name, document)` of every inline policy, by name.
    async fn inline_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>>;

    /// `AlreadyExists` if the ARN is taken.
    async fn create_managed_policy(&self, policy: &ManagedPolicyRecord) -> Result<()>;
    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicyRecord>>;
    async fn list_managed_policies(&self) -> Result<Vec<ManagedPolicyRecord>>;
    async fn delete_managed_policy(&self, arn: &str) -> Result<bool>;

    /// Attaching twice is one attachment.
    async fn attach_policy(&self, kind: PrincipalKind, principal: &str, arn: &str) -> Result<()>;
    async fn detach_policy(&self, kind: PrincipalKind, principal: &str, arn: &str) -> Result<bool>;
    async fn attached_policies(&self, kind: PrincipalKind, principal: &str) -> Result<Vec<String>>;
    /// How many principals a policy is attached to.
    async fn policy_attachment_count(&self, arn: &str) -> Result<i64>;

    async fn add_group_member(&self, group: &str, user: &str) -> Result<()>;
    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool>;
    async fn group_members(&self, group: &str) -> Result<Vec<String>>;
    async fn user_groups(&self, user: &str) -> Result<Vec<String>>;
}

/// The tamper-evident audit trail: an append-only chain of CloudTrail-format events.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Sets the key of the chain's links (once; later calls with another key are ignored).
    /// Appending before a key is set fails.
    fn set_chain_key(&self, key: ChainKey);

    /// Relinks a chain written by an earlier release (plain SHA-256 links) under the chain
    /// key, once, at start: only if every link from the first event holds unkeyed, and only
    /// as far as they do. Returns how many events were relinked.
    async fn key_legacy_chain(&self) -> Result<u64>;

    /// Appends events in order, each linked to the one before by `audit_hash`, and removes the
    /// pending records they complete — in one transaction.
    async fn append_audit_events(
        &self,
        events: &[NewAuditEvent],
        completing: &[String],
    ) -> Result<()>;
    /// Like `append_audit_events`, but returns once the write is queued: it becomes durable
    /// with a later commit, in order with every write queued after it (so any later write
    /// that has returned is a barrier behind which the queued events are durable).
    async fn queue_audit_events(
        &self,
        events: &[NewAuditEvent],
        completing: &[String],
    ) -> Result<()>;
    /// Records a call about to change something, before it acts.
    async fn put_pending_audit(&self, event: &NewAuditEvent) -> Result<()>;
    /// Calls recorded as pending and never completed (the server stopped), oldest first.
    async fn pending_audits(&self) -> Result<Vec<NewAuditEvent>>;
    /// Events matching the query, newest first.
    async fn lookup_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEventRecord>>;
    /// Events in chain order after `after_seq`, at most `limit`.
    async fn audit_chain(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditEventRecord>>;
    /// Removes the chain's oldest events written before `before_ms` — a prefix of the chain,
    /// at most `limit`, never its newest event — and moves the checkpoint to the last one
    /// removed, in one transaction. Returns how many were removed.
    async fn prune_audit_events(&self, before_ms: i64, limit: usize) -> Result<usize>;
    /// Where the chain starts, once events were pruned.
    async fn audit_checkpoint(&self) -> Result<Option<AuditCheckpoint>>;
}

/// Executions, jobs, timers and the outbox: what the engine's steps read and write.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// The pipeline's runtime, if it ever ran.
    async fn runtime(&self, pipeline: &str) -> Result<Option<RuntimeRecord>>;

    /// Writes one step atomically; `VersionConflict` when the runtime's `rev` is no longer
    /// `expected_rev` (another step won; recompute and retry), `NotFound` when the pipeline
    /// is gone.
    async fn commit_step(&self, step: &StepWrite) -> Result<()>;

    async fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>>;

    /// Newest first (started later, or started in the same millisecond but recorded later),
    /// strictly after the execution `before` (`started_ms`, id) in that order when given.
    async fn list_executions(
        &self,
        pipeline: &str,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ExecutionRecord>>;

    /// The execution a `clientRequestToken` started, if any.
    async fn execution_for_request_token(
        &self,
        pipeline: &str,
        token: &str,
    ) -> Result<Option<String>>;

    /// Atomically hands up to `nonces.len()` queued jobs of the type to one poller, oldest
    /// first, marking each Dispatched with the next nonce. A job dispatched at or before
    /// `redispatch_before_ms` and never acknowledged is queued again (its poller is presumed
    /// lost; its old nonce stops working). `filter` keeps only jobs whose action configuration
    /// has each `(property, value)`.
    async fn claim_jobs(
        &self,
        action_type: &ActionTypeKey,
        filter: &[(String, String)],
        nonces: &[String],
        now_ms: i64,
        redispatch_before_ms: i64,
    ) -> Result<Vec<JobRecord>>;

    /// Puts every Dispatched or InProgress job of the types back in the queue (their runner
    /// is known to be gone: the one server that ran them restarted), counting the
    /// interruption. A job already interrupted `max_interruptions` times is left as it is and
    /// named in `exhausted`, for the caller to fail.
    async fn requeue_open_jobs(
        &self,
        action_types: &[ActionTypeKey],
        now_ms: i64,
        max_interruptions: u32,
    ) -> Result<Requeued>;

    /// Dispatched → InProgress when `nonce` matches; `InvalidNonce` otherwise. With `lease`,
    /// the job is also marked as run by `lease.owner` until `lease.until_ms` (a built-in job a
    /// server's provider runs), in the same transaction.
    async fn acknowledge_job(
        &self,
        job_id: &str,
        nonce: &str,
        now_ms: i64,
        lease: Option<&JobLease>,
    ) -> Result<JobRecord>;

    /// Extends to `until_ms` the lease of every open job `owner` runs; how many.
    async fn renew_job_leases(&self, owner: &str, until_ms: i64) -> Result<usize>;

    /// Puts back in the queue every open job whose lease lapsed before `now_ms` (the server
    /// that ran it stopped renewing: it died), counting the interruption; a job already
    /// interrupted `max_interruptions` times is left as it is and named in `exhausted`.
    async fn requeue_lapsed_jobs(&self, now_ms: i64, max_interruptions: u32) -> Result<Requeued>;

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>>;

    /// Binds a third-party job to the client token of its first call; later calls must present
    /// the same token (`InvalidClientToken` otherwise, `NotFound` for an unknown job).
    async fn bind_client_token(&self, job_id: &str, client_token: &str) -> Result<()>;

    /// Timers due at `now_ms`, earliest first, at most `limit`.
    async fn due_timers(&self, now_ms: i64, limit: usize) -> Result<Vec<TimerRecord>>;

    /// Deletes up to `limit` jobs that finished (succeeded, failed, timed out, cancelled)
    /// before `before_ms`; how many. Open jobs are never touched.
    async fn prune_finished_jobs(&self, before_ms: i64, limit: usize) -> Result<usize>;

    /// Deletes up to `limit` executions that ended (succeeded, failed, stopped, superseded)
    /// before `before_ms`, with the request tokens that started them; never a pipeline's
    /// newest execution. How many.
    async fn prune_executions(&self, before_ms: i64, limit: usize) -> Result<usize>;

    /// Calls `listener` with the changes other servers commit to a shared database, as they
    /// commit them, so this server's providers, live views and dispatcher wake at once rather
    /// than at their next look. A backend one server has to itself never calls it. Delivery is
    /// a wake-up, not a record: a listener that misses one still finds the change when it
    /// looks on its own.
    fn listen_for_changes(&self, listener: RemoteChangeListener) {
        let _ = listener;
    }
}

/// A change another server committed (`RunStore::listen_for_changes`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RemoteChange {
    /// Jobs of this type were queued.
    JobsQueued(ActionTypeKey),
    /// A pipeline's state changed: an engine step or a transition.
    PipelineState,
    /// Outbox rows were queued.
    Outbox,
}

pub type RemoteChangeListener = std::sync::Arc<dyn Fn(RemoteChange) + Send + Sync>;

/// Buckets and object versions of the S3-compatible endpoint (the bytes live in a blob store).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// `AlreadyExists` when the name is taken.
    async fn create_bucket(&self, bucket: &BucketRecord) -> Result<()>;
    async fn bucket(&self, name: &str) -> Result<Option<BucketRecord>>;
    async fn list_buckets(&self) -> Result<Vec<BucketRecord>>;
    /// `NotFound` when the bucket does not exist.
    async fn set_versioning(&self, bucket: &str, status: &str) -> Result<()>;

    /// Adds a version as the key's latest. In a bucket without versioning enabled the version
    /// is stored as `null`, replacing any `null` version. Returns the stored record and the
    /// blob keys no version refers to any more (the caller deletes those blobs).
    async fn put_object_version(
        &self,
        version: &ObjectVersionRecord,
    ) -> Result<(ObjectVersionRecord, Vec<String>)>;

    /// The given version, or the latest one (which may be a delete marker).
    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersionRecord>>;

    /// Removes one version; returns it (its blob is the caller's to delete).
    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersionRecord>>;

    /// Latest versions that are not delete markers, by key, keys strictly after `after`.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectVersionRecord>>;

    /// Every version by key, newest first within a key, strictly after the version
    /// `(key, version_id)` when given (or after every version of `key` when the id is `None`).
    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<&str>)>,
        limit: usize,
    ) -> Result<Vec<ObjectVersionRecord>>;
}

/// Webhooks that start pipelines from push events.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Inserts or replaces the webhook named `webhook.name`; `LimitExceeded` past `max`.
    async fn put_webhook(&self, webhook: &WebhookRecord, max: usize) -> Result<()>;
    async fn webhook(&self, name: &str) -> Result<Option<WebhookRecord>>;
    async fn webhook_by_url(&self, url_id: &str) -> Result<Option<WebhookRecord>>;
    /// Every webhook by name.
    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>>;
    /// False if there was none.
    async fn delete_webhook(&self, name: &str) -> Result<bool>;
    async fn webhook_triggered(&self, name: &str, at_ms: i64) -> Result<()>;
}

/// Connections of `CodeStarSourceConnection` sources.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Inserts a new connection; `LimitExceeded` past `max`, `NameInUse` for a taken name.
    async fn create_connection(&self, connection: &ConnectionRecord, max: usize) -> Result<()>;
    async fn connection(&self, arn: &str) -> Result<Option<ConnectionRecord>>;
    /// Every connection, oldest first.
    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>>;
    /// Sets where the connection's repositories are, and its status; false if there is none.
    async fn complete_connection(
        &self,
        arn: &str,
        status: &str,
        url: Option<&str>,
        token: Option<&str>,
    ) -> Result<bool>;
    /// False if there was none.
    async fn delete_connection(&self, arn: &str) -> Result<bool>;
}

/// CodeDeploy: applications, groups, configs, on-premises instances and revisions as
/// documents; deployments with the scheduler's state; the open host commands.
#[async_trait]
pub trait DeployStore: Send + Sync {
    /// Inserts a resource; `AlreadyExists` when its kind, scope and name are taken,
    /// `LimitExceeded` when its kind and scope already hold `max`.
    async fn create_deploy_resource(&self, resource: &DeployResource, max: usize) -> Result<()>;

    /// Replaces the document of `old_name` (renaming it to `resource.name`, which must be free);
    /// `NotFound` when it is gone, `AlreadyExists` when the new name is taken. Renaming an
    /// application moves its groups and revisions with it.
    async fn replace_deploy_resource(
        &self,
        old_name: &str,
        resource: &DeployResource,
    ) -> Result<()>;

    async fn deploy_resource(
        &self,
        kind: DeployKind,
        scope: &str,
        name: &str,
    ) -> Result<Option<DeployResource>>;

    /// The resource of a kind whose `owner` is `owner` (indexed: a host's identity check does
    /// not grow with the number of instances).
    async fn deploy_resource_by_owner(
        &self,
        kind: DeployKind,
        owner: &str,
    ) -> Result<Option<DeployResource>>;

    /// Every resource of a kind and scope, by name.
    async fn deploy_resources(&self, kind: DeployKind, scope: &str) -> Result<Vec<DeployResource>>;

    /// False if there was none. Deleting an application deletes its groups, revisions and
    /// deployments (with their open commands).
    async fn delete_deploy_resource(
        &self,
        kind: DeployKind,
        scope: &str,
        name: &str,
    ) -> Result<bool>;

    /// Inserts a deployment with its first commands; `AlreadyExists(id)` carrying the existing
    /// deployment's id when its creator token was used before.
    async fn create_deployment(
        &self,
        deployment: &DeploymentRecord,
        commands: &[HostCommandRecord],
    ) -> Result<()>;

    async fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>>;

    async fn deployment_by_token(&self, token: &str) -> Result<Option<DeploymentRecord>>;

    /// One page of the deployments `query` selects, newest first (by creation, then id): at
    /// most `limit`, starting after `query.after`. Read through an index, so a page costs the
    /// same however many deployments there are.
    async fn deployments(
        &self,
        query: &DeploymentQuery,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>>;

    /// A group's newest deployment (of `status`, when given), read through an index: what a
    /// group shows and what a rollback returns to cost the same however long its history.
    async fn latest_deployment(
        &self,
        application: &str,
        group: &str,
        status: Option<&str>,
    ) -> Result<Option<DeploymentRecord>>;

    /// One scheduler step: stores `deployment` (its `rev` one past `expected_rev`; a
    /// `VersionConflict` otherwise), adds `add`, removes the commands `remove`, and inserts
    /// `spawn` (a rollback the step started, whose commands are among `add`), together.
    async fn step_deployment(
        &self,
        deployment: &DeploymentRecord,
        expected_rev: i64,
        add: &[HostCommandRecord],
        remove: &[String],
        spawn: Option<&DeploymentRecord>,
    ) -> Result<()>;

    async fn host_command(&self, id: &str) -> Result<Option<HostCommandRecord>>;

    /// The open commands of a host, oldest first.
    async fn host_commands(&self, host: &str) -> Result<Vec<HostCommandRecord>>;

    /// Moves a command to `state` with a new lease; false if it is gone.
    async fn set_host_command(&self, id: &str, state: &str, lease_until_ms: i64) -> Result<bool>;

    /// Extends the lease of every command the host holds (any contact proves it alive).
    async fn renew_host_leases(&self, host: &str, lease_until_ms: i64) -> Result<()>;

    /// Commands handed out whose lease ended before `now_ms`.
    async fn lapsed_host_commands(&self, now_ms: i64) -> Result<Vec<HostCommandRecord>>;
}

/// CodeCommit's descriptions of the hosted repositories.
#[async_trait]
pub trait RepositoryStore: Send + Sync {
    /// Inserts a repository's record; `AlreadyExists` for a taken name, `LimitExceeded` past
    /// `max`.
    async fn create_repository(&self, repository: &RepositoryRecord, max: usize) -> Result<()>;
    async fn repository(&self, name: &str) -> Result<Option<RepositoryRecord>>;
    /// Every repository, by name.
    async fn repositories(&self) -> Result<Vec<RepositoryRecord>>;
    /// Sets the description; false if there is none.
    async fn describe_repository(
        &self,
        name: &str,
        description: Option<&str>,
        modified_ms: i64,
    ) -> Result<bool>;
    /// False if there was none.
    async fn delete_repository(&self, name: &str) -> Result<bool>;
    /// Takes the repository's push lock for `owner` until `until_ms` (replicas push one at a
    /// time, each from the latest snapshot): true when taken or renewed, false while another
    /// owner's lock lasts past `now_ms`; `NotFound` without a record.
    async fn lock_repository(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool>;
    /// Records `snapshot` as the repository's and releases `owner`'s lock, in one step.
    async fn publish_repository(
        &self,
        name: &str,
        owner: &str,
        snapshot: Option<&str>,
    ) -> Result<Publication>;
    /// Releases `owner`'s lock (a push that changed nothing); no-op when not held.
    async fn unlock_repository(&self, name: &str, owner: &str) -> Result<()>;
}

/// SNS topics and subscriptions, EventBridge rules, and the delivery side of the outbox.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Inserts a topic; `AlreadyExists` for a taken name, `LimitExceeded` past `max`.
    async fn create_topic(&self, topic: &TopicRecord, max: usize) -> Result<()>;
    async fn topic(&self, arn: &str) -> Result<Option<TopicRecord>>;
    /// Every topic, by ARN.
    async fn topics(&self) -> Result<Vec<TopicRecord>>;
    /// Replaces a topic's document; false if it is gone.
    async fn replace_topic(&self, topic: &TopicRecord) -> Result<bool>;
    /// Deletes a topic and its subscriptions; false if there was none.
    async fn delete_topic(&self, arn: &str) -> Result<bool>;

    /// Inserts a subscription and the messages it sends (a confirmation request), together;
    /// `LimitExceeded` when its topic already holds `max`, `NotFound` when the topic is gone.
    async fn create_subscription(
        &self,
        subscription: &SubscriptionRecord,
        messages: &[OutboxRecord],
        max: usize,
    ) -> Result<()>;
    async fn subscription(&self, arn: &str) -> Result<Option<SubscriptionRecord>>;
    /// The subscription waiting for confirmation with `token` (indexed).
    async fn subscription_by_token(&self, token: &str) -> Result<Option<SubscriptionRecord>>;
    /// Every subscription of a topic, oldest first (what a publish fans out to).
    async fn subscriptions(&self, topic_arn: &str) -> Result<Vec<SubscriptionRecord>>;
    /// One page of the subscriptions of a topic (every topic's when `None`), oldest first (by
    /// creation, then ARN): at most `limit`, starting after `after`.
    async fn subscription_page(
        &self,
        topic_arn: Option<&str>,
        after: Option<&PagePosition>,
        limit: usize,
    ) -> Result<Vec<SubscriptionRecord>>;
    /// Replaces a subscription's token and document; false if it is gone.
    async fn replace_subscription(&self, subscription: &SubscriptionRecord) -> Result<bool>;
    /// Deletes a subscription and queues `messages` (an unsubscribe confirmation), together;
    /// false if there was none.
    async fn delete_subscription(&self, arn: &str, messages: &[OutboxRecord]) -> Result<bool>;

    /// Inserts or replaces a rule; `LimitExceeded` when a new one would pass `max`.
    async fn put_event_rule(&self, rule: &EventRuleRecord, max: usize) -> Result<()>;
    async fn event_rule(&self, name: &str) -> Result<Option<EventRuleRecord>>;
    /// Every rule, by name.
    async fn event_rules(&self) -> Result<Vec<EventRuleRecord>>;
    /// False if there was none.
    async fn delete_event_rule(&self, name: &str) -> Result<bool>;

    /// Queues messages (a `Publish`, a `PutEvents`) in one transaction.
    async fn enqueue(&self, messages: &[OutboxRecord]) -> Result<()>;
    /// Rows due at `now_ms`, oldest first.
    async fn due_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>>;
    /// The earliest `due_ms` of a row waiting for a retry, if any.
    async fn next_outbox_due(&self) -> Result<Option<i64>>;
    /// Replaces the row `id` with `into` (a publication fanned out to its subscribers, an event
    /// routed to its rules' targets), together; false if the row was already handled.
    async fn expand_outbox(&self, id: &str, into: &[OutboxRecord]) -> Result<bool>;
    /// Removes a delivered row.
    async fn outbox_delivered(&self, id: &str) -> Result<()>;
    /// Records a failed attempt: the row is tried again at `due_ms`.
    async fn outbox_retry(&self, id: &str, attempts: i64, due_ms: i64) -> Result<()>;
    /// Moves a row that will not be delivered to the undelivered record.
    async fn outbox_undeliverable(&self, id: &str, error: &str, now_ms: i64) -> Result<()>;
    /// The undelivered record, newest first.
    async fn undelivered(&self, limit: usize) -> Result<Vec<UndeliveredRecord>>;
    /// Forgets undelivered messages that failed before `before_ms`; how many.
    async fn prune_undelivered(&self, before_ms: i64) -> Result<usize>;

    /// The sealed signing key, storing `sealed` first if there is none yet; whichever was
    /// stored first wins, so concurrent first uses agree.
    async fn signing_key_or_init(&self, sealed: &str) -> Result<String>;
    /// The sealed signing key, if one was made.
    async fn signing_key(&self) -> Result<Option<String>>;
}

/// Lambda functions.
#[async_trait]
pub trait FunctionStore: Send + Sync {
    /// Inserts a function; `AlreadyExists` for a taken name, `LimitExceeded` past `max`.
    async fn create_function(&self, function: &FunctionRecord, max: usize) -> Result<()>;
    async fn function(&self, name: &str) -> Result<Option<FunctionRecord>>;
    /// Every function, by name.
    async fn functions(&self) -> Result<Vec<FunctionRecord>>;
    /// Replaces a function whose revision is still `expected_revision`; `NotFound` when it is
    /// gone, `VersionConflict` when another update came first.
    async fn replace_function(
        &self,
        function: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<()>;
    /// The deleted function, if there was one.
    async fn delete_function(&self, name: &str) -> Result<Option<FunctionRecord>>;
}

/// Everything a backend provides.
pub trait Store:
    PipelineStore
    + ActionTypeStore
    + TagStore
    + CredentialStore
    + RunStore
    + ObjectStore
    + WebhookStore
    + ConnectionStore
    + DeployStore
    + RepositoryStore
    + NotificationStore
    + FunctionStore
    + IamStore
    + AuditStore
    + KeyStore
{
}

impl<
        T: PipelineStore
            + ActionTypeStore
            + TagStore
            + CredentialStore
            + RunStore
            + ObjectStore
            + WebhookStore
            + ConnectionStore
            + DeployStore
            + RepositoryStore
            + NotificationStore
            + FunctionStore
            + IamStore
            + AuditStore
            + KeyStore,
    > Store for T
{
}

/// Who runs a built-in job, and until when unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    pub owner: String,
    pub until_ms: i64,
}

/// What `requeue_open_jobs` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requeued {
    /// Jobs put back in the queue.
    pub requeued: usize,
    /// Jobs interrupted too often, not queued again.
    pub exhausted: Vec<String>,
}
