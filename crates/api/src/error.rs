//! API errors: each knows its AWS error code and HTTP status. Internal causes are logged by
//! the handler and replaced by a request id in what the client sees.

use axum::http::StatusCode;
use sluice_model::ProblemKind;
use sluice_service::Error as S;
use sluice_wire::{DecodeError, Operation};

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    pub fn unknown_operation(target: &str) -> Self {
        let message = if target.is_empty() {
            "Missing X-Amz-Target header".to_string()
        } else {
            format!("The operation '{target}' is not known to CodePipeline_20150709")
        };
        Self::client("UnknownOperationException", message)
    }

    pub fn not_implemented(op: Operation) -> Self {
        Self::not_implemented_named(op.name())
    }

    /// `NotImplementedException` naming an operation of any service.
    pub fn not_implemented_named(operation: &str) -> Self {
        Self {
            status: StatusCode::NOT_IMPLEMENTED,
            code: "NotImplementedException",
            message: format!("{operation} is not implemented by this Sluice server yet"),
        }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: cause.into(),
        }
    }

    /// The response body; an internal failure shows only the request id.
    pub fn body(&self, request_id: &str) -> String {
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            format!("An internal error occurred (request id {request_id})")
        } else {
            self.message.clone()
        };
        serde_json::json!({ "__type": self.code, "message": message }).to_string()
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Serialization(m) => ApiError::client("SerializationException", m),
            DecodeError::Validation(m) => ApiError::client("ValidationException", m),
        }
    }
}

impl From<S> for ApiError {
    fn from(e: S) -> Self {
        let code = match &e {
            S::PipelineNotFound { .. } => "PipelineNotFoundException",
            S::PipelineResourceNotFound { .. } => "ResourceNotFoundException",
            S::StageNotFound { .. } => "StageNotFoundException",
            S::PipelineVersionNotFound { .. } => "PipelineVersionNotFoundException",
            S::PipelineNameInUse { .. } => "PipelineNameInUseException",
            S::InvalidDeclaration(_) => match e.problem_kind() {
                Some(ProblemKind::Stage) => "InvalidStageDeclarationException",
                Some(ProblemKind::Action) => "InvalidActionDeclarationException",
                Some(ProblemKind::Blocker) => "InvalidBlockerDeclarationException",
                Some(ProblemKind::Structure) | None => "InvalidStructureException",
            },
            S::Validation(_) => "ValidationException",
            S::LimitExceeded(_) => "LimitExceededException",
            S::TooManyTags(_) => "TooManyTagsException",
            S::InvalidTags(_) => "InvalidTagsException",
            S::InvalidNextToken => "InvalidNextTokenException",
            S::InvalidArn(_) => "InvalidArnException",
            S::ResourceNotFound(_) => "ResourceNotFoundException",
            S::ActionTypeNotFound(_) => "ActionTypeNotFoundException",
            S::ConcurrentModification(_) => "ConcurrentModificationException",
            S::PipelineExecutionNotFound(_) => "PipelineExecutionNotFoundException",
            S::JobNotFound(_) => "JobNotFoundException",
            S::InvalidJobState(_) => "InvalidJobStateException",
            S::InvalidNonce(_) => "InvalidNonceException",
            S::InvalidClientToken(_) => "InvalidClientTokenException",
            S::InvalidApprovalToken => "InvalidApprovalTokenException",
            S::ApprovalAlreadyCompleted => "ApprovalAlreadyCompletedException",
            S::ActionNotFound(_) => "ActionNotFoundException",
            S::NotLatestPipelineExecution(_) => "NotLatestPipelineExecutionException",
            S::StageNotRetryable(_) => "StageNotRetryableException",
            S::Conflict(_) => "ConflictException",
            S::DuplicatedStopRequest(_) => "DuplicatedStopRequestException",
            S::PipelineExecutionNotStoppable(_) => "PipelineExecutionNotStoppableException",
            S::UnableToRollbackStage(_) => "UnableToRollbackStageException",
            S::ConditionNotOverridable(_) => "ConditionNotOverridableException",
            S::AccessDenied(_) => "AccessDeniedException",
            S::WebhookNotFound(_) => "WebhookNotFoundException",
            S::InvalidWebhookFilterPattern(_) => "InvalidWebhookFilterPatternException",
            S::InvalidWebhookAuthenticationParameters(_) => {
                "InvalidWebhookAuthenticationParametersException"
            }
            // Object-store conditions never arise from CodePipeline operations.
            S::NoSuchBucket(_)
            | S::NoSuchKey(_)
            | S::NoSuchVersion(_)
            | S::NoSuchUpload(_)
            | S::BucketAlreadyOwnedByYou(_)
            | S::InvalidBucketName(_)
            | S::KeyTooLong(_)
            | S::MalformedXml(_)
            | S::InvalidPart(_)
            | S::MethodNotAllowed(_)
            | S::ContentSha256Mismatch(_) => "ValidationException",
            // IAM conditions are answered by the query protocol (`query.rs`).
            S::NoSuchEntity(_)
            | S::EntityAlreadyExists(_)
            | S::DeleteConflict(_)
            | S::MalformedPolicyDocument(_) => "ValidationException",
            S::KeyNotFound(_) | S::KeyDisabled(_) => "ValidationException",
            S::Named { code, .. } => code,
            S::Internal(m) => return ApiError::internal(m.clone()),
        };
        ApiError::client(code, e.to_string())
    }
}
