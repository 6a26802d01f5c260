//! The protocol, matched once: every operation of the model appears here, the ones Sluice does
//! not run yet explicitly.

use crate::{handlers as h, rule_handlers as rh, webhook_handlers as wh, ApiError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sluice_service::Sluice;
use sluice_wire::{decode, Operation, TARGET_PREFIX};

fn input<T: DeserializeOwned>(op: Operation, body: &[u8]) -> Result<T, ApiError> {
    let shape = op
        .input_shape()
        .ok_or_else(|| ApiError::internal(format!("{} has no input shape", op.name())))?;
    Ok(decode(shape, body)?)
}

fn output<T: Serialize>(value: T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&value).map_err(|e| ApiError::internal(format!("encoding a response: {e}")))
}

fn empty(_: ()) -> Result<Vec<u8>, ApiError> {
    Ok(b"{}".to_vec())
}

/// Resolves the target, decodes the input, runs the operation and encodes its output.
pub async fn dispatch(
    s: &Sluice,
    target: &str,
    caller: &sluice_service::Caller,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let op = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(Operation::from_name)
        .ok_or_else(|| ApiError::unknown_operation(target))?;
    use Operation as O;
    match op {
        O::CreatePipeline => output(h::create_pipeline(s, input(op, body)?).await?),
        O::GetPipeline => output(h::get_pipeline(s, input(op, body)?).await?),
        O::UpdatePipeline => output(h::update_pipeline(s, input(op, body)?).await?),
        O::DeletePipeline => empty(h::delete_pipeline(s, input(op, body)?).await?),
        O::ListPipelines => output(h::list_pipelines(s, input(op, body)?).await?),
        O::GetPipelineState => output(h::get_pipeline_state(s, input(op, body)?).await?),
        O::DisableStageTransition => {
            empty(h::disable_stage_transition(s, caller, input(op, body)?).await?)
        }
        O::EnableStageTransition => {
            empty(h::enable_stage_transition(s, caller, input(op, body)?).await?)
        }
        O::ListActionTypes => output(h::list_action_types(s, input(op, body)?).await?),
        O::GetActionType => output(h::get_action_type(s, input(op, body)?).await?),
        O::CreateCustomActionType => {
            output(h::create_custom_action_type(s, input(op, body)?).await?)
        }
        O::DeleteCustomActionType => {
            empty(h::delete_custom_action_type(s, input(op, body)?).await?)
        }
        O::TagResource => empty(h::tag_resource(s, input(op, body)?).await?),
        O::UntagResource => empty(h::untag_resource(s, input(op, body)?).await?),
        O::ListTagsForResource => output(h::list_tags_for_resource(s, input(op, body)?).await?),
        O::StartPipelineExecution => {
            output(h::start_pipeline_execution(s, caller, input(op, body)?).await?)
        }
        O::GetPipelineExecution => output(h::get_pipeline_execution(s, input(op, body)?).await?),
        O::ListPipelineExecutions => {
            output(h::list_pipeline_executions(s, input(op, body)?).await?)
        }
        O::StopPipelineExecution => output(h::stop_pipeline_execution(s, input(op, body)?).await?),
        O::RetryStageExecution => output(h::retry_stage_execution(s, input(op, body)?).await?),
        O::RollbackStage => output(h::rollback_stage(s, caller, input(op, body)?).await?),
        O::PollForJobs => output(h::poll_for_jobs(s, input(op, body)?).await?),
        O::AcknowledgeJob => output(h::acknowledge_job(s, input(op, body)?).await?),
        O::GetJobDetails => output(h::get_job_details(s, input(op, body)?).await?),
        O::PutJobSuccessResult => empty(h::put_job_success_result(s, input(op, body)?).await?),
        O::PutJobFailureResult => empty(h::put_job_failure_result(s, input(op, body)?).await?),
        O::PutApprovalResult => output(h::put_approval_result(s, caller, input(op, body)?).await?),
        O::ListActionExecutions => output(h::list_action_executions(s, input(op, body)?).await?),
        O::PollForThirdPartyJobs => {
            output(h::poll_for_third_party_jobs(s, input(op, body)?).await?)
        }
        O::GetThirdPartyJobDetails => {
            output(h::get_third_party_job_details(s, input(op, body)?).await?)
        }
        O::AcknowledgeThirdPartyJob => {
            output(h::acknowledge_third_party_job(s, input(op, body)?).await?)
        }
        O::PutThirdPartyJobSuccessResult => {
            empty(h::put_third_party_job_success_result(s, input(op, body)?).await?)
        }
        O::PutThirdPartyJobFailureResult => {
            empty(h::put_third_party_job_failure_result(s, input(op, body)?).await?)
        }
        O::PutWebhook => output(wh::put_webhook(s, input(op, body)?).await?),
        O::ListWebhooks => output(wh::list_webhooks(s, input(op, body)?).await?),
        O::DeleteWebhook => empty(wh::delete_webhook(s, input(op, body)?).await?),
        O::RegisterWebhookWithThirdParty => empty(wh::register_webhook(s, input(op, body)?).await?),
        O::DeregisterWebhookWithThirdParty => {
            empty(wh::deregister_webhook(s, input(op, body)?).await?)
        }
        O::PutActionRevision => output(wh::put_action_revision(s, input(op, body)?).await?),
        O::ListRuleTypes => output(rh::list_rule_types(s, input(op, body)?).await?),
        O::ListRuleExecutions => output(rh::list_rule_executions(s, input(op, body)?).await?),
        O::OverrideStageCondition => {
            empty(rh::override_stage_condition(s, caller, input(op, body)?).await?)
        }
        O::ListDeployActionExecutionTargets => output(
            crate::codedeploy::list_deploy_action_execution_targets(s, input(op, body)?).await?,
        ),
        O::UpdateActionType => Err(ApiError::not_implemented(op)),
    }
}

/// The operations this server answers; the rest answer `NotImplementedException`.
/// `docs/compatibility.md` is checked against this list by the tidy test.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::CreatePipeline,
    Operation::GetPipeline,
    Operation::UpdatePipeline,
    Operation::DeletePipeline,
    Operation::ListPipelines,
    Operation::GetPipelineState,
    Operation::ListRuleTypes,
    Operation::ListRuleExecutions,
    Operation::OverrideStageCondition,
    Operation::DisableStageTransition,
    Operation::EnableStageTransition,
    Operation::ListActionTypes,
    Operation::CreateCustomActionType,
    Operation::DeleteCustomActionType,
    Operation::TagResource,
    Operation::UntagResource,
    Operation::ListTagsForResource,
    Operation::StartPipelineExecution,
    Operation::GetPipelineExecution,
    Operation::ListPipelineExecutions,
    Operation::StopPipelineExecution,
    Operation::RollbackStage,
    Operation::GetActionType,
    Operation::RetryStageExecution,
    Operation::PollForJobs,
    Operation::AcknowledgeJob,
    Operation::GetJobDetails,
    Operation::PutJobSuccessResult,
    Operation::PutJobFailureResult,
    Operation::PutApprovalResult,
    Operation::ListActionExecutions,
    Operation::ListDeployActionExecutionTargets,
    Operation::PollForThirdPartyJobs,
    Operation::GetThirdPartyJobDetails,
    Operation::AcknowledgeThirdPartyJob,
    Operation::PutThirdPartyJobSuccessResult,
    Operation::PutThirdPartyJobFailureResult,
    Operation::PutWebhook,
    Operation::ListWebhooks,
    Operation::DeleteWebhook,
    Operation::RegisterWebhookWithThirdParty,
    Operation::DeregisterWebhookWithThirdParty,
    Operation::PutActionRevision,
];
