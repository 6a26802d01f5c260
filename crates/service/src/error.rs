//! The service's error type: one variant per condition a caller can be told about, so the
//! API layer can pick the operation's AWS exception.

use sluice_model::{Problem, ProblemKind};

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Account '{account}' does not have a pipeline with name '{name}'")]
    PipelineNotFound { name: String, account: String },
    /// A pipeline named as a resource (an ARN to tag, a declaration to update) that does not
    /// exist: AWS words and types it apart from `PipelineNotFound`.
    #[error("The account with id '{account}' does not include a pipeline with the name '{name}'")]
    PipelineResourceNotFound { name: String, account: String },
    #[error("The stage with the name '{stage}' was not found in pipeline '{pipeline}'.")]
    StageNotFound { pipeline: String, stage: String },
    #[error("Pipeline '{pipeline}' does not have version {version}.")]
    PipelineVersionNotFound { pipeline: String, version: i64 },
    #[error("A pipeline with the name '{name}' already exists in account '{account}'")]
    PipelineNameInUse { name: String, account: String },
    /// A declaration broke structural rules; every problem is listed.
    #[error("{}", first(.0))]
    InvalidDeclaration(Vec<Problem>),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    InvalidTags(String),
    #[error("The next token is not valid.")]
    InvalidNextToken,
    #[error("{0}")]
    InvalidArn(String),
    #[error("The resource '{0}' was not found.")]
    ResourceNotFound(String),
    #[error("The action type {0} was not found.")]
    ActionTypeNotFound(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error("Pipeline execution {0} was not found.")]
    PipelineExecutionNotFound(String),
    #[error("The job with id {0} was not found.")]
    JobNotFound(String),
    #[error("{0}")]
    InvalidJobState(String),
    #[error("The nonce does not match the one issued for job {0}; another worker owns it.")]
    InvalidNonce(String),
    #[error("The client token is not the one job {0} is bound to.")]
    InvalidClientToken(String),
    #[error("The approval token is not valid for this action.")]
    InvalidApprovalToken,
    #[error("The approval request has already been approved, rejected or expired.")]
    ApprovalAlreadyCompleted,
    #[error("The action '{0}' was not found.")]
    ActionNotFound(String),
    #[error("{0}")]
    NotLatestPipelineExecution(String),
    #[error("{0}")]
    StageNotRetryable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    DuplicatedStopRequest(String),
    #[error("{0}")]
    PipelineExecutionNotStoppable(String),
    #[error("{0}")]
    UnableToRollbackStage(String),
    #[error("{0}")]
    ConditionNotOverridable(String),
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    #[error("The specified version does not exist.")]
    NoSuchVersion(String),
    #[error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    #[error("The specified bucket is not valid.")]
    InvalidBucketName(String),
    #[error("Your key is too long")]
    KeyTooLong(String),
    #[error("{0}")]
    MalformedXml(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch(String),
    #[error("The specified webhook was not found.")]
    WebhookNotFound(String),
    #[error("{0}")]
    InvalidWebhookFilterPattern(String),
    #[error("{0}")]
    InvalidWebhookAuthenticationParameters(String),
    #[error("{0}")]
    KeyNotFound(String),
    #[error("{0}")]
    KeyDisabled(String),
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// One of a service's own named exceptions (CodeDeploy's
    /// `ApplicationDoesNotExistException`, CodeCommit's `RepositoryDoesNotExistException`, …),
    /// worded as that service words it.
    #[error("{message}")]
    Named { code: &'static str, message: String },
    /// A fault of the server, not the caller; the message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The first problem, as AWS reports one problem of a declaration at a time (the rest are
/// found when it is fixed).
fn first(problems: &[Problem]) -> String {
    problems
        .first()
        .map(|p| p.message.clone())
        .unwrap_or_default()
}

impl Error {
    /// The kind of the first problem of an invalid declaration, which picks its exception.
    pub fn problem_kind(&self) -> Option<ProblemKind> {
        match self {
            Error::InvalidDeclaration(p) => p.first().map(|p| p.kind),
            _ => None,
        }
    }
}

impl From<sluice_artifacts::Error> for Error {
    fn from(e: sluice_artifacts::Error) -> Self {
        Error::Internal(format!("artifact store: {e}"))
    }
}

impl From<sluice_engine::Error> for Error {
    fn from(e: sluice_engine::Error) -> Self {
        use sluice_engine::Error as E;
        match e {
            E::ExecutionNotFound(id) => Error::PipelineExecutionNotFound(id),
            E::StageNotFound(stage) => Error::StageNotFound {
                pipeline: String::new(),
                stage,
            },
            E::JobNotInProgress(id) => Error::InvalidJobState(format!(
                "Job {id} is not in progress; its result was already recorded or it was stopped"
            )),
            E::InvalidApprovalToken => Error::InvalidApprovalToken,
            E::ApprovalAlreadyCompleted => Error::ApprovalAlreadyCompleted,
            E::NotLatestExecution(m) => Error::NotLatestPipelineExecution(m),
            E::StageNotRetryable(m) => Error::StageNotRetryable(m),
            E::Conflict(m) => Error::Conflict(m),
            E::DuplicatedStop(m) => Error::DuplicatedStopRequest(m),
            E::NotStoppable(m) => Error::PipelineExecutionNotStoppable(m),
            E::DuplicateExecution(id) => {
                Error::Conflict(format!("An execution with id {id} already exists"))
            }
            E::InvalidVariables(m) => Error::Validation(m),
            E::UnableToRollback(m) => Error::UnableToRollbackStage(m),
            E::ConditionNotOverridable(m) => Error::ConditionNotOverridable(m),
        }
    }
}

impl From<sluice_store::Error> for Error {
    fn from(e: sluice_store::Error) -> Self {
        use sluice_store::Error as S;
        match e {
            // The façade names the account (`Sluice::name_in_use`); the store does not know it.
            S::NameInUse(name) => Error::PipelineNameInUse {
                name,
                account: String::new(),
            },
            e @ S::BucketKeyInUse { .. } => Error::InvalidDeclaration(vec![sluice_model::Problem {
                kind: sluice_model::ProblemKind::Structure,
                message: format!(
                    "The artifact store's {e}; name another bucket, or change the bucket's key with put-bucket-encryption"
                ),
            }]),
            S::LimitExceeded(m) => Error::LimitExceeded(m),
            S::InvalidNonce(job) => Error::InvalidNonce(job),
            S::InvalidClientToken(job) => Error::InvalidClientToken(job),
            S::VersionConflict { what, .. } => Error::ConcurrentModification(format!(
                "{what} was changed by another request; retry"
            )),
            other => Error::Internal(other.to_string()),
        }
    }
}
