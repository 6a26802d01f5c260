//! The job-worker protocol: poll, acknowledge, details, success (with continuation), failure.

use crate::run_step::StepExtra;
use crate::{Error, Result, Sluice};
use serde::{Deserialize, Serialize};
use sluice_engine::{ErrorDetails, Input, JobOutcome, JobSpec};
use sluice_model::{ActionOwner, ActionTypeId, EncryptionKey, PipelineDeclaration};
use sluice_store::{ActionTypeKey, JobRecord, JobStatus};
use std::collections::BTreeMap;

/// The most jobs one poll may return (the model's `maxBatchSize` has no upper bound).
pub const MAX_BATCH_SIZE: usize = 100;

/// The persisted data of a job. `configuration` is at the top level so the store can match
/// `queryParam` against it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobDoc {
    format: u32,
    configuration: BTreeMap<String, String>,
    action_type: (String, String, String, String),
    pipeline: String,
    pipeline_arn: String,
    execution_id: String,
    stage: String,
    action: String,
    action_execution_id: String,
    inputs: Vec<(String, Option<(String, String)>)>,
    outputs: Vec<(String, (String, String))>,
    continuation_token: Option<String>,
    encryption_key: Option<(String, String)>,
    /// The action's `commands`, `environmentVariables` and `outputVariables` (Commands).
    #[serde(default)]
    commands: Vec<String>,
    /// Output artifact → the file patterns that go into it (Commands).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    output_files: BTreeMap<String, Vec<String>>,
    /// The revision a source fetches instead of the latest: (type, value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_revision: Option<(String, String)>,
    #[serde(default)]
    environment: Vec<(String, String, Option<String>)>,
    #[serde(default)]
    output_variables: Vec<String>,
    /// The role the action runs as: its own `roleArn`, else the pipeline's.
    #[serde(default)]
    role_arn: Option<String>,
}

impl JobDoc {
    pub fn new(
        spec: &JobSpec,
        pipeline: &str,
        pipeline_arn: &str,
        declaration: &PipelineDeclaration,
    ) -> Self {
        let t = &spec.action_type_id;
        let stage = declaration.stage(&spec.stage);
        // A rule's job is named after the rule, which may share its name with an action.
        let action = stage
            .filter(|_| !spec.rule)
            .and_then(|s| s.actions.iter().find(|a| a.name == spec.action));
        let rule_role = stage.filter(|_| spec.rule).and_then(|s| {
            s.conditions()
                .flat_map(|(_, c)| &c.rules)
                .find(|r| r.name == spec.action)
                .and_then(|r| r.role_arn.clone())
        });
        let role_arn = action
            .and_then(|a| a.role_arn.clone())
            .or(rule_role)
            .or_else(|| Some(declaration.role_arn.clone()).filter(|r| !r.is_empty()));
        Self {
            role_arn,
            format: 1,
            configuration: spec.configuration.clone(),
            action_type: (
                t.category.clone(),
                t.owner.clone(),
                t.provider.clone(),
                t.version.clone(),
            ),
            pipeline: pipeline.into(),
            pipeline_arn: pipeline_arn.into(),
            execution_id: spec.execution_id.clone(),
            stage: spec.stage.clone(),
            action: spec.action.clone(),
            action_execution_id: spec.action_execution_id.clone(),
            inputs: spec
                .input_artifacts
                .iter()
                .map(|(n, l)| {
                    (
                        n.clone(),
                        l.as_ref().map(|l| (l.bucket.clone(), l.key.clone())),
                    )
                })
                .collect(),
            outputs: spec
                .output_artifacts
                .iter()
                .map(|(n, l)| (n.clone(), (l.bucket.clone(), l.key.clone())))
                .collect(),
            continuation_token: spec.continuation_token.clone(),
            encryption_key: declaration
                .artifact_store
                .as_ref()
                .and_then(|s| s.encryption_key.as_ref())
                .map(|k| (k.id.clone(), k.kind.clone())),
            commands: spec.commands.clone(),
            output_files: action.map(|a| a.output_files.clone()).unwrap_or_default(),
            source_revision: spec
                .source_revision
                .as_ref()
                .map(|r| (r.kind.clone(), r.value.clone())),
            environment: spec
                .environment_variables
                .iter()
                .map(|v| (v.name.clone(), v.value.clone(), v.kind.clone()))
                .collect(),
            output_variables: action
                .map(|a| a.output_variables.clone())
                .unwrap_or_default(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job document always serializes")
    }

    fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Internal(format!("stored job is corrupt: {e}")))
    }
}

/// An artifact a job reads or writes, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct JobArtifact {
    pub name: String,
    /// `(bucket, key)`; `None` for an input no earlier action of this execution produced.
    pub location: Option<(String, String)>,
}

/// What a worker is told about a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub nonce: Option<String>,
    pub account_id: String,
    pub status: JobStatus,
    pub action_type_id: ActionTypeId,
    pub configuration: BTreeMap<String, String>,
    pub pipeline: String,
    pub pipeline_arn: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub action_execution_id: String,
    pub input_artifacts: Vec<JobArtifact>,
    pub output_artifacts: Vec<JobArtifact>,
    pub continuation_token: Option<String>,
    pub encryption_key: Option<EncryptionKey>,
    pub commands: Vec<String>,
    /// Output artifact → the file patterns that go into it; all files when absent.
    pub output_files: BTreeMap<String, Vec<String>>,
    /// The revision a source fetches instead of the latest (`sourceRevisions`).
    pub source_revision: Option<sluice_engine::SourceRevision>,
    pub environment_variables: Vec<sluice_model::EnvironmentVariable>,
    pub output_variables: Vec<String>,
    /// The role the action runs as (the server's providers act with its permissions).
    pub role_arn: Option<String>,
}

/// How many restarts in a row may interrupt a job before it is failed rather than run again.
pub const MAX_JOB_INTERRUPTIONS: u32 = 2;

/// A failure a worker reports.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFailure {
    pub kind: String,
    pub message: String,
    pub external_execution_id: Option<String>,
}

/// What one retention sweep forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: usize,
    pub executions: usize,
    pub messages: usize,
    pub audit_events: usize,
}

impl Sluice {
    pub(crate) fn job_view(&self, record: &JobRecord) -> Result<Job> {
        let mut doc = JobDoc::from_json(&record.data)?;
        let (c, o, p, v) = &doc.action_type;
        let type_id = ActionTypeId::new(c, o, p, v);
        // Secrets sealed by earlier releases open only for jobs no user's worker can poll.
        let legacy = if self.options().providers.contains(&type_id) {
            crate::sealing::Legacy::Open
        } else {
            crate::sealing::Legacy::Refuse
        };
        self.unseal_configuration(
            (&doc.pipeline, &doc.stage, &doc.action),
            &mut doc.configuration,
            legacy,
        )?;
        let (c, o, p, v) = &doc.action_type;
        Ok(Job {
            id: record.job_id.clone(),
            nonce: record.nonce.clone(),
            account_id: self.options().account_id.clone(),
            status: record.status,
            action_type_id: ActionTypeId::new(c, o, p, v),
            configuration: doc.configuration,
            pipeline: doc.pipeline,
            pipeline_arn: doc.pipeline_arn,
            execution_id: doc.execution_id,
            stage: doc.stage,
            action: doc.action,
            action_execution_id: doc.action_execution_id,
            input_artifacts: doc
                .inputs
                .into_iter()
                .map(|(name, location)| JobArtifact { name, location })
                .collect(),
            output_artifacts: doc
                .outputs
                .into_iter()
                .map(|(name, location)| JobArtifact {
                    name,
                    location: Some(location),
                })
                .collect(),
            continuation_token: doc.continuation_token,
            // As AWS fills it: the artifact store's key, else the default key's alias ARN.
            encryption_key: Some(match doc.encryption_key {
                Some((id, kind)) => EncryptionKey { id, kind },
                None => EncryptionKey {
                    id: format!(
                        "arn:aws:kms:{}:{}:{}",
                        self.options().region,
                        self.options().account_id,
                        crate::kms::DEFAULT_KEY_ALIAS
                    ),
                    kind: "KMS".into(),
                },
            }),
            role_arn: doc.role_arn.clone(),
            commands: doc.commands,
            output_files: doc.output_files,
            source_revision: doc
                .source_revision
                .map(|(kind, value)| sluice_engine::SourceRevision { kind, value }),
            environment_variables: doc
                .environment
                .into_iter()
                .map(|(name, value, kind)| sluice_model::EnvironmentVariable { name, value, kind })
                .collect(),
            output_variables: doc.output_variables,
        })
    }

    /// Hands queued jobs of a custom or third-party type to the caller, each with a nonce.
    pub async fn poll_for_jobs(
        &self,
        action_type: &ActionTypeId,
        max_batch_size: usize,
        query: BTreeMap<String, String>,
    ) -> Result<Vec<Job>> {
        let known = self.action_types_known().await?;
        let t = known
            .iter()
            .find(|t| &t.id == action_type)
            .ok_or_else(|| Error::ActionTypeNotFound(action_type.to_string()))?;
        // The server's own providers get the job's secrets (a GitHub source's OAuthToken); no
        // one else may claim or answer such a job.
        if t.id.owner == ActionOwner::Aws.as_str() || self.options().providers.contains(&t.id) {
            return Err(Error::Validation(format!(
                "Jobs of the action type {action_type} are run by this server's own providers, not polled"
            )));
        }
        for key in query.keys() {
            if !t.property(key).is_some_and(|p| p.queryable) {
                return Err(Error::Validation(format!(
                    "queryParam '{key}' is not a queryable configuration property of {action_type}"
                )));
            }
        }
        let nonces: Vec<String> = (0..max_batch_size.clamp(1, MAX_BATCH_SIZE))
            .map(|_| self.inner.ids.uuid())
            .collect();
        let filter: Vec<(String, String)> = query.into_iter().collect();
        let claimed = self
            .store()
            .claim_jobs(
                &ActionTypeKey::from(action_type),
                &filter,
                &nonces,
                self.now_ms(),
                self.now_ms() - self.options().dispatch_lease_ms,
            )
            .await?;
        claimed.iter().map(|j| self.job_view(j)).collect()
    }

    /// Claims and acknowledges up to `max` queued jobs of a type this server's own providers
    /// run (AWS-owned types included).
    pub async fn claim_provider_jobs(
        &self,
        action_type: &ActionTypeId,
        max: usize,
    ) -> Result<Vec<Job>> {
        let nonces: Vec<String> = (0..max.clamp(1, MAX_BATCH_SIZE))
            .map(|_| self.inner.ids.uuid())
            .collect();
        let claimed = self
            .store()
            .claim_jobs(
                &ActionTypeKey::from(action_type),
                &[],
                &nonces,
                self.now_ms(),
                self.now_ms() - self.options().dispatch_lease_ms,
            )
            .await?;
        let lease = self.job_lease();
        let mut jobs = Vec::with_capacity(claimed.len());
        for record in claimed {
            if let Some(nonce) = &record.nonce {
                self.store()
                    .acknowledge_job(&record.job_id, nonce, self.now_ms(), Some(&lease))
                    .await?;
            }
            jobs.push(self.job_view(&record)?);
        }
        Ok(jobs)
    }

    /// At a provider host's start: jobs of its types that a previous run of this server had
    /// claimed are queued again, so a restart resumes them rather than waiting for a timeout.
    /// Queues again the jobs a restart interrupted; a job that was running at each of the
    /// last [`MAX_JOB_INTERRUPTIONS`] restarts is failed instead (a build that kills its
    /// server must not kill every server that runs it again). Returns how many were queued.
    pub async fn requeue_provider_jobs(&self, action_types: &[ActionTypeId]) -> Result<usize> {
        let keys: Vec<ActionTypeKey> = action_types.iter().map(ActionTypeKey::from).collect();
        let outcome = self
            .store()
            .requeue_open_jobs(&keys, self.now_ms(), MAX_JOB_INTERRUPTIONS)
            .await?;
        self.fail_exhausted(&outcome.exhausted).await;
        Ok(outcome.requeued)
    }

    /// The lease this server's providers hold a job they start under.
    fn job_lease(&self) -> sluice_store::JobLease {
        sluice_store::JobLease {
            owner: self.options().job_owner.clone(),
            until_ms: self.now_ms() + self.options().job_lease_ms,
        }
    }

    /// Renews the lease of every job this server's providers run (one write, however many):
    /// done well within `job_lease_ms`, so the jobs stay this server's while it lives.
    pub async fn renew_job_leases(&self) -> Result<usize> {
        let lease = self.job_lease();
        Ok(self
            .store()
            .renew_job_leases(&lease.owner, lease.until_ms)
            .await?)
    }

    /// Queues again the jobs whose server stopped renewing their lease (it died), for any
    /// server's providers to run; a job interrupted too often is failed instead, as at a
    /// restart. Returns how many were queued.
    pub async fn requeue_lapsed_jobs(&self) -> Result<usize> {
        let outcome = self
            .store()
            .requeue_lapsed_jobs(self.now_ms(), MAX_JOB_INTERRUPTIONS)
            .await?;
        self.fail_exhausted(&outcome.exhausted).await;
        Ok(outcome.requeued)
    }

    async fn fail_exhausted(&self, exhausted: &[String]) {
        for job_id in exhausted {
            let failure = JobFailure {
                kind: "JobFailed".into(),
                message: format!(
                    "The job was running when the server stopped {} times in a row; it is not run again",
                    MAX_JOB_INTERRUPTIONS + 1
                ),
                external_execution_id: Some(job_id.clone()),
            };
            if let Err(e) = self.put_job_failure(job_id, failure).await {
                tracing::error!(job = job_id, error = %e, "an interrupted job could not be failed");
            }
        }
    }

    /// Confirms the caller owns the job; returns its status.
    pub async fn acknowledge_job(&self, job_id: &str, nonce: &str) -> Result<JobStatus> {
        match self
            .store()
            .acknowledge_job(job_id, nonce, self.now_ms(), None)
            .await
        {
            Ok(j) => Ok(j.status),
            Err(sluice_store::Error::NotFound(_)) => Err(Error::JobNotFound(job_id.into())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn job_details(&self, job_id: &str) -> Result<Job> {
        let record = self
            .store()
            .job(job_id)
            .await?
            .ok_or_else(|| Error::JobNotFound(job_id.into()))?;
        self.job_view(&record)
    }

    /// A job's status alone (one row read; nothing unsealed): what a running provider asks
    /// every second to learn whether it is still wanted.
    pub async fn job_status(&self, job_id: &str) -> Result<JobStatus> {
        Ok(self
            .store()
            .job(job_id)
            .await?
            .ok_or_else(|| Error::JobNotFound(job_id.into()))?
            .status)
    }

    /// A running job says where it can be followed: `GetPipelineState` shows its
    /// `externalExecutionId` (and the log URL built on it) while it runs.
    pub async fn job_started(&self, job_id: &str, external_execution_id: &str) -> Result<()> {
        let record = self.open_job(job_id).await?;
        let input = Input::JobProgress {
            job_id: job_id.into(),
            external_execution_id: Some(external_execution_id.into()),
            summary: None,
        };
        self.step(&record.pipeline, vec![input], StepExtra::default())
            .await?;
        Ok(())
    }

    /// Forgets what is past its retention: finished jobs, undelivered messages and old audit
    /// events (a prefix of the chain, replaced by a checkpoint), each in batches.
    pub async fn prune_history(&self) -> Result<Pruned> {
        const BATCH: usize = 1_000;
        let now = self.now_ms();
        let mut pruned = Pruned::default();
        loop {
            let n = self
                .store()
                .prune_finished_jobs(now - self.options().job_retention_ms, BATCH)
                .await?;
            pruned.jobs += n;
            if n < BATCH {
                break;
            }
        }
        if let Some(retention) = self.options().execution_retention_ms {
            loop {
                let n = self
                    .store()
                    .prune_executions(now - retention, BATCH)
                    .await?;
                pruned.executions += n;
                if n < BATCH {
                    break;
                }
            }
        }
        pruned.messages = self
            .store()
            .prune_undelivered(now - self.options().undelivered_retention_ms)
            .await?;
        if let Some(retention) = self.options().audit_retention_ms {
            loop {
                let n = self
                    .store()
                    .prune_audit_events(now - retention, BATCH)
                    .await?;
                pruned.audit_events += n;
                if n < BATCH {
                    break;
                }
            }
        }
        Ok(pruned)
    }

    /// Refuses a job of a type this server's own providers run, as if it did not exist: a
    /// user's worker may neither see its configuration nor answer for it.
    pub async fn ensure_worker_job(&self, job_id: &str) -> Result<()> {
        let record = self
            .store()
            .job(job_id)
            .await?
            .ok_or_else(|| Error::JobNotFound(job_id.into()))?;
        let t = &record.action_type;
        // A Lambda action's function answers for its job, as in AWS (IAM decides who may).
        if t.category == "Invoke" && t.provider == "Lambda" && t.owner == ActionOwner::Aws.as_str()
        {
            return Ok(());
        }
        let type_id = ActionTypeId::new(&t.category, &t.owner, &t.provider, &t.version);
        if t.owner == ActionOwner::Aws.as_str() || self.options().providers.contains(&type_id) {
            return Err(Error::JobNotFound(job_id.into()));
        }
        Ok(())
    }

    async fn open_job(&self, job_id: &str) -> Result<JobRecord> {
        let record = self
            .store()
            .job(job_id)
            .await?
            .ok_or_else(|| Error::JobNotFound(job_id.into()))?;
        if record.status.is_finished() {
            return Err(Error::InvalidJobState(format!(
                "Job {job_id} is {}; its result cannot change",
                record.status.as_str()
            )));
        }
        Ok(record)
    }

    /// Records a job's success; with a continuation token the action stays in progress and a
    /// new job carries the token.
    pub async fn put_job_success(
        &self,
        job_id: &str,
        outcome: JobOutcome,
        continuation_token: Option<String>,
    ) -> Result<()> {
        let record = self.open_job(job_id).await?;
        let input = Input::JobSucceeded {
            job_id: job_id.into(),
            outcome,
            continuation_token,
        };
        let extra = StepExtra {
            finished_jobs: vec![(job_id.into(), JobStatus::Succeeded)],
            ..Default::default()
        };
        self.step(&record.pipeline, vec![input], extra).await?;
        Ok(())
    }

    pub async fn put_job_failure(&self, job_id: &str, failure: JobFailure) -> Result<()> {
        let record = self.open_job(job_id).await?;
        let input = Input::JobFailed {
            job_id: job_id.into(),
            error: ErrorDetails {
                code: failure.kind,
                message: failure.message,
            },
            external_execution_id: failure.external_execution_id,
        };
        let extra = StepExtra {
            finished_jobs: vec![(job_id.into(), JobStatus::Failed)],
            ..Default::default()
        };
        self.step(&record.pipeline, vec![input], extra).await?;
        Ok(())
    }
}

/// A third-party job as `PollForThirdPartyJobs` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ThirdPartyJobRef {
    pub job_id: String,
    pub client_id: String,
}

impl Sluice {
    /// A third-party job, checked to be one and bound to `client_token`.
    async fn third_party_job(&self, job_id: &str, client_token: &str) -> Result<JobRecord> {
        self.ensure_worker_job(job_id).await?;
        let record = self
            .store()
            .job(job_id)
            .await?
            .ok_or_else(|| Error::JobNotFound(job_id.into()))?;
        if record.action_type.owner != ActionOwner::ThirdParty.as_str() {
            return Err(Error::JobNotFound(job_id.into()));
        }
        self.store().bind_client_token(job_id, client_token).await?;
        Ok(record)
    }

    /// Hands queued jobs of a ThirdParty-owned type to the caller; the nonce comes with
    /// `GetThirdPartyJobDetails`.
    pub async fn poll_for_third_party_jobs(
        &self,
        action_type: &ActionTypeId,
        max_batch_size: usize,
    ) -> Result<Vec<ThirdPartyJobRef>> {
        if action_type.owner != ActionOwner::ThirdParty.as_str() {
            return Err(Error::Validation(format!(
                "{action_type} is not a ThirdParty action type; use PollForJobs"
            )));
        }
        let jobs = self
            .poll_for_jobs(action_type, max_batch_size, BTreeMap::new())
            .await?;
        Ok(jobs
            .into_iter()
            .map(|j| ThirdPartyJobRef {
                job_id: j.id,
                client_id: self.options().account_id.clone(),
            })
            .collect())
    }

    pub async fn third_party_job_details(&self, job_id: &str, client_token: &str) -> Result<Job> {
        let record = self.third_party_job(job_id, client_token).await?;
        self.job_view(&record)
    }

    pub async fn acknowledge_third_party_job(
        &self,
        job_id: &str,
        nonce: &str,
        client_token: &str,
    ) -> Result<JobStatus> {
        self.third_party_job(job_id, client_token).await?;
        self.acknowledge_job(job_id, nonce).await
    }

    pub async fn put_third_party_job_success(
        &self,
        job_id: &str,
        client_token: &str,
        outcome: JobOutcome,
        continuation_token: Option<String>,
    ) -> Result<()> {
        self.third_party_job(job_id, client_token).await?;
        self.put_job_success(job_id, outcome, continuation_token)
            .await
    }

    pub async fn put_third_party_job_failure(
        &self,
        job_id: &str,
        client_token: &str,
        failure: JobFailure,
    ) -> Result<()> {
        self.third_party_job(job_id, client_token).await?;
        self.put_job_failure(job_id, failure).await
    }
}
