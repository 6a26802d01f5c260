//! What goes into the engine and what comes out.

use crate::state::{ArtifactLocation, ErrorDetails, RollbackTarget, Trigger};
use sluice_model::ActionTypeId;
use std::collections::BTreeMap;

/// Supplies fresh identifiers; the service uses UUIDs, tests use counters.
pub trait Ids {
    fn job_id(&mut self) -> String;
    fn approval_token(&mut self) -> String;
    fn action_execution_id(&mut self) -> String;
    /// The last part of an output artifact's object key.
    fn artifact_id(&mut self) -> String;
    /// The id of an execution the engine starts itself (an automatic rollback).
    fn execution_id(&mut self) -> String;
    fn rule_execution_id(&mut self) -> String;
}

/// Defaults the engine applies when an action does not say otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// How long a job may run without a result before its action fails.
    pub job_timeout_ms: i64,
    /// How long an approval waits (the guide: seven days).
    pub approval_timeout_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            job_timeout_ms: 60 * 60 * 1000,
            approval_timeout_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// How a job ended, as its worker reported.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobOutcome {
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub percent_complete: Option<i64>,
    /// The source revision a source action produced.
    pub current_revision: Option<String>,
    pub output_variables: BTreeMap<String, String>,
}

/// An approver's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalDecision {
    pub approved: bool,
    pub summary: String,
    pub by: String,
}

/// Which actions `RetryStageExecution` runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    FailedActions,
    AllActions,
}

/// A persisted deadline; when it passes the caller feeds `Input::TimerDue` back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    JobTimeout {
        job_id: String,
    },
    ApprovalExpiry {
        token: String,
    },
    /// A rule that waits (a closed deployment window) is checked again.
    RuleCheck {
        rule_execution_id: String,
    },
}

/// Something that happened to the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Starts a rollback execution `execution_id` of `stage` back to `target` (`RollbackStage`).
    Rollback {
        execution_id: String,
        stage: String,
        target: RollbackTarget,
        trigger: Trigger,
    },
    Start {
        execution_id: String,
        trigger: Trigger,
        /// Values for the pipeline's variables that override their defaults; each must be
        /// declared.
        variables: BTreeMap<String, String>,
        /// Source action → the revision it fetches instead of the latest (`sourceRevisions`).
        source_revisions: BTreeMap<String, SourceRevision>,
    },
    JobSucceeded {
        job_id: String,
        outcome: JobOutcome,
        continuation_token: Option<String>,
    },
    JobFailed {
        job_id: String,
        error: ErrorDetails,
        external_execution_id: Option<String>,
    },
    /// A running job says where its work can be followed (its log); the action stays in
    /// progress.
    JobProgress {
        job_id: String,
        external_execution_id: Option<String>,
        summary: Option<String>,
    },
    ApprovalResult {
        token: String,
        decision: ApprovalDecision,
    },
    TransitionChanged {
        stage: String,
        inbound: bool,
        enabled: bool,
    },
    Retry {
        execution_id: String,
        stage: String,
        mode: RetryMode,
    },
    Stop {
        execution_id: String,
        abandon: bool,
        reason: Option<String>,
    },
    PipelineUpdated {
        version: i64,
    },
    TimerDue {
        timer: Timer,
    },
    /// `OverrideStageCondition`: the condition being checked lets the execution past.
    OverrideCondition {
        execution_id: String,
        stage: String,
        kind: sluice_model::ConditionKind,
        by: String,
    },
}

/// A job to hand to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub job_id: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub action_execution_id: String,
    pub action_type_id: ActionTypeId,
    /// The action's configuration with its variable references resolved.
    pub configuration: BTreeMap<String, String>,
    /// The revision a source action fetches instead of the latest, if the start named one.
    pub source_revision: Option<SourceRevision>,
    /// The action's `commands` and `environmentVariables`, references resolved.
    pub commands: Vec<String>,
    pub environment_variables: Vec<sluice_model::EnvironmentVariable>,
    /// Each input artifact with where its producer wrote it.
    pub input_artifacts: Vec<(String, Option<ArtifactLocation>)>,
    /// Each output artifact with where this job must write it.
    pub output_artifacts: Vec<(String, ArtifactLocation)>,
    pub continuation_token: Option<String>,
    pub pipeline_version: i64,
    /// Set for the job of a `Commands` rule: it checks a condition and produces nothing.
    pub rule: bool,
}

/// A revision a source action is told to fetch (`StartPipelineExecution.sourceRevisions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRevision {
    /// `COMMIT_ID`, `S3_OBJECT_VERSION_ID` or `S3_OBJECT_KEY`.
    pub kind: String,
    pub value: String,
}

/// What the caller must do once the step is committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    QueueJob(Box<JobSpec>),
    CancelJob {
        job_id: String,
    },
    RequestApproval {
        token: String,
        execution_id: String,
        stage: String,
        action: String,
        configuration: BTreeMap<String, String>,
        expires_ms: i64,
    },
    SetTimer {
        timer: Timer,
        at_ms: i64,
    },
    ExecutionFinished {
        execution_id: String,
    },
}

/// Why an input was refused; the runtime is unchanged when this is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("execution {0} does not exist")]
    ExecutionNotFound(String),
    #[error("stage {0} does not exist")]
    StageNotFound(String),
    #[error("job {0} is not in progress")]
    JobNotInProgress(String),
    #[error("the approval token is not valid")]
    InvalidApprovalToken,
    #[error("the approval has already been completed")]
    ApprovalAlreadyCompleted,
    #[error("{0}")]
    NotLatestExecution(String),
    #[error("{0}")]
    StageNotRetryable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    DuplicatedStop(String),
    #[error("{0}")]
    NotStoppable(String),
    #[error("an execution with id {0} already exists")]
    DuplicateExecution(String),
    #[error("{0}")]
    InvalidVariables(String),
    #[error("{0}")]
    UnableToRollback(String),
    #[error("{0}")]
    ConditionNotOverridable(String),
}
