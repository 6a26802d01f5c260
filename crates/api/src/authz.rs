//! What each CodePipeline operation asks IAM: the action `codepipeline:Operation` and the
//! resource it touches, as the guide's "Operation and Resource Syntax" names it — a pipeline,
//! `pipeline/stage`, `pipeline/stage/action`, `actiontype:Owner/Category/Provider/Version`,
//! a webhook — or `*` for operations without resource-level permissions (jobs, listings).

use serde_json::Value;
use sluice_wire::Operation;

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `(action, resource)` of one call, from its decoded-as-JSON input.
pub fn codepipeline_request(
    op: Operation,
    input: &Value,
    region: &str,
    account: &str,
) -> (String, String) {
    use Operation as O;
    let base = format!("arn:aws:codepipeline:{region}:{account}");
    let action_type = |id: &Value, owner: Option<&str>| {
        format!(
            "{base}:actiontype:{}/{}/{}/{}",
            owner.unwrap_or_else(|| text(id, &["owner"])),
            text(id, &["category"]),
            text(id, &["provider"]),
            text(id, &["version"])
        )
    };
    let pipeline = |field: &str| format!("{base}:{}", text(input, &[field]));
    let stage = || {
        format!(
            "{}/{}",
            pipeline("pipelineName"),
            text(input, &["stageName"])
        )
    };
    let resource = match op {
        O::CreatePipeline | O::UpdatePipeline => {
            format!("{base}:{}", text(input, &["pipeline", "name"]))
        }
        O::GetPipeline | O::DeletePipeline | O::GetPipelineState | O::StartPipelineExecution => {
            pipeline("name")
        }
        O::StopPipelineExecution
        | O::GetPipelineExecution
        | O::ListPipelineExecutions
        | O::ListActionExecutions
        | O::ListRuleExecutions
        | O::ListDeployActionExecutionTargets => pipeline("pipelineName"),
        O::DisableStageTransition
        | O::EnableStageTransition
        | O::RetryStageExecution
        | O::RollbackStage
        | O::OverrideStageCondition => stage(),
        O::PutApprovalResult | O::PutActionRevision => {
            format!("{}/{}", stage(), text(input, &["actionName"]))
        }
        O::CreateCustomActionType | O::DeleteCustomActionType => action_type(input, Some("Custom")),
        O::PollForJobs | O::PollForThirdPartyJobs => action_type(&input["actionTypeId"], None),
        O::GetActionType | O::UpdateActionType => action_type(
            input.get("actionType").map(|t| &t["id"]).unwrap_or(input),
            None,
        ),
        O::ListActionTypes => format!("{base}:actiontype:*"),
        O::PutWebhook => format!("{base}:webhook:{}", text(input, &["webhook", "name"])),
        O::DeleteWebhook => format!("{base}:webhook:{}", text(input, &["name"])),
        O::RegisterWebhookWithThirdParty | O::DeregisterWebhookWithThirdParty => {
            format!("{base}:webhook:{}", text(input, &["webhookName"]))
        }
        O::TagResource | O::UntagResource | O::ListTagsForResource => {
            text(input, &["resourceArn"]).to_string()
        }
        O::ListPipelines
        | O::ListWebhooks
        | O::ListRuleTypes
        | O::AcknowledgeJob
        | O::GetJobDetails
        | O::PutJobSuccessResult
        | O::PutJobFailureResult
        | O::AcknowledgeThirdPartyJob
        | O::GetThirdPartyJobDetails
        | O::PutThirdPartyJobSuccessResult
        | O::PutThirdPartyJobFailureResult => "*".to_string(),
    };
    (format!("codepipeline:{}", op.name()), resource)
}

/// The roles a call hands to CodePipeline (the pipeline's and its actions' `roleArn`), each of
/// which the caller must be allowed to `iam:PassRole`.
pub fn passed_roles(op: Operation, input: &Value) -> Vec<&str> {
    if !matches!(op, Operation::CreatePipeline | Operation::UpdatePipeline) {
        return Vec::new();
    }
    let pipeline = &input["pipeline"];
    let mut roles: Vec<&str> = pipeline["roleArn"].as_str().into_iter().collect();
    let actions = pipeline["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["actions"].as_array())
        .flatten();
    roles.extend(actions.filter_map(|a| a["roleArn"].as_str()));
    roles.sort_unstable();
    roles.dedup();
    roles
}

/// The resources a CloudTrail event lists for `LookupEvents`' resource attributes.
pub fn event_resources(resource: &str) -> Vec<(String, String)> {
    if resource == "*" || resource.is_empty() {
        return Vec::new();
    }
    let kind = if resource.contains(":actiontype:") {
        "AWS::CodePipeline::CustomActionType"
    } else if resource.contains(":webhook:") {
        "AWS::CodePipeline::Webhook"
    } else {
        "AWS::CodePipeline::Pipeline"
    };
    vec![(kind.to_string(), resource.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(op: Operation, input: Value) -> String {
        codepipeline_request(op, &input, "us-east-1", "80398EXAMPLE").1
    }

    #[test]
    fn resources_follow_the_guides_operation_and_resource_syntax() {
        let p = "arn:aws:codepipeline:us-east-1:80398EXAMPLE";
        assert_eq!(
            resource(
                Operation::GetPipelineState,
                json!({"name": "MyFirstPipeline"})
            ),
            format!("{p}:MyFirstPipeline")
        );
        assert_eq!(
            resource(
                Operation::UpdatePipeline,
                json!({"pipeline": {"name": "MyFirstPipeline"}})
            ),
            format!("{p}:MyFirstPipeline")
        );
        assert_eq!(
            resource(
                Operation::DisableStageTransition,
                json!({"pipelineName": "MyFirstPipeline", "stageName": "Beta"})
            ),
            format!("{p}:MyFirstPipeline/Beta")
        );
        assert_eq!(
            resource(
                Operation::PutApprovalResult,
                json!({"pipelineName": "MyFirstPipeline", "stageName": "MyApprovalStage", "actionName": "MyApprovalAction"})
            ),
            format!("{p}:MyFirstPipeline/MyApprovalStage/MyApprovalAction")
        );
        assert_eq!(
            resource(
                Operation::PollForJobs,
                json!({"actionTypeId": {"category": "Test", "owner": "Custom", "provider": "TestProvider", "version": "1"}})
            ),
            format!("{p}:actiontype:Custom/Test/TestProvider/1")
        );
        assert_eq!(
            resource(
                Operation::CreateCustomActionType,
                json!({"category": "Build", "provider": "MyJenkins", "version": "1"})
            ),
            format!("{p}:actiontype:Custom/Build/MyJenkins/1")
        );
        assert_eq!(
            resource(Operation::ListActionTypes, json!({})),
            format!("{p}:actiontype:*")
        );
        assert_eq!(
            resource(Operation::AcknowledgeJob, json!({"jobId": "x"})),
            "*"
        );
        let (action, _) =
            codepipeline_request(Operation::GetPipeline, &json!({}), "us-east-1", "1");
        assert_eq!(action, "codepipeline:GetPipeline");
    }

    #[test]
    fn creating_or_updating_a_pipeline_passes_its_roles() {
        let input = json!({"pipeline": {"roleArn": "arn:aws:iam::1:role/A", "stages": [
            {"actions": [{"roleArn": "arn:aws:iam::1:role/B"}, {"roleArn": "arn:aws:iam::1:role/A"}, {}]}
        ]}});
        assert_eq!(
            passed_roles(Operation::CreatePipeline, &input),
            ["arn:aws:iam::1:role/A", "arn:aws:iam::1:role/B"]
        );
        assert!(passed_roles(Operation::GetPipeline, &input).is_empty());
    }
}
