//! The events CodePipeline sends to EventBridge when a pipeline execution, a stage or an action
//! changes state, shaped as AWS documents them ("CodePipeline events": `detail-type`, and
//! `detail` with `pipeline`, `execution-id`, `start-time`, `state`, `version`, …).

use serde_json::{json, Map, Value};
use sluice_model::time::{iso_millis, iso_seconds};

/// The `source` of every CodePipeline event.
pub const SOURCE: &str = "aws.codepipeline";

/// What every event of one change shares.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub id: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub time_ms: i64,
    pub pipeline_arn: &'a str,
}

/// The execution a change belongs to.
#[derive(Debug, Clone)]
pub struct ExecutionRef<'a> {
    pub pipeline: &'a str,
    pub pipeline_version: i64,
    pub execution_id: &'a str,
    pub start_ms: i64,
}

/// An action's type, as `detail.type` names it.
#[derive(Debug, Clone)]
pub struct ActionKind<'a> {
    pub owner: &'a str,
    pub provider: &'a str,
    pub category: &'a str,
    pub version: &'a str,
}

/// What changed.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    Pipeline {
        trigger_type: &'a str,
        trigger_detail: &'a str,
    },
    Stage {
        stage: &'a str,
    },
    Action {
        stage: &'a str,
        action: &'a str,
        action_execution_id: Option<&'a str>,
        kind: ActionKind<'a>,
        /// `external-execution-id`, `external-execution-summary`, `error-code` once it ended.
        result: Option<ActionResult<'a>>,
    },
}

/// How an action ended, as `detail.execution-result` reports it.
#[derive(Debug, Clone, Default)]
pub struct ActionResult<'a> {
    pub external_execution_id: Option<&'a str>,
    pub external_execution_summary: Option<&'a str>,
    pub error_code: Option<&'a str>,
}

impl Change<'_> {
    /// The event's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Change::Pipeline { .. } => "CodePipeline Pipeline Execution State Change",
            Change::Stage { .. } => "CodePipeline Stage Execution State Change",
            Change::Action { .. } => "CodePipeline Action Execution State Change",
        }
    }
}

/// The whole EventBridge event for one change to `state` (`STARTED`, `SUCCEEDED`, …).
pub fn event(envelope: &Envelope, execution: &ExecutionRef, change: &Change, state: &str) -> Value {
    let mut detail = Map::new();
    detail.insert("pipeline".into(), json!(execution.pipeline));
    detail.insert("execution-id".into(), json!(execution.execution_id));
    detail.insert("start-time".into(), json!(iso_millis(execution.start_ms)));
    match change {
        Change::Pipeline {
            trigger_type,
            trigger_detail,
        } => {
            detail.insert(
                "execution-trigger".into(),
                json!({"trigger-type": trigger_type, "trigger-detail": trigger_detail}),
            );
        }
        Change::Stage { stage } => {
            detail.insert("stage".into(), json!(stage));
        }
        Change::Action {
            stage,
            action,
            action_execution_id,
            kind,
            result,
        } => {
            detail.insert("stage".into(), json!(stage));
            detail.insert("action".into(), json!(action));
            if let Some(id) = action_execution_id {
                detail.insert("action-execution-id".into(), json!(id));
            }
            detail.insert("region".into(), json!(envelope.region));
            detail.insert(
                "type".into(),
                json!({"owner": kind.owner, "provider": kind.provider,
                       "category": kind.category, "version": kind.version}),
            );
            if let Some(result) = result {
                let mut r = Map::new();
                let fields = [
                    ("external-execution-id", result.external_execution_id),
                    (
                        "external-execution-summary",
                        result.external_execution_summary,
                    ),
                    ("error-code", result.error_code),
                ];
                for (name, value) in fields {
                    if let Some(v) = value {
                        r.insert(name.into(), json!(v));
                    }
                }
                detail.insert("execution-result".into(), Value::Object(r));
            }
        }
    }
    detail.insert("state".into(), json!(state));
    detail.insert("version".into(), json!(execution.pipeline_version as f64));
    json!({
        "version": "0",
        "id": envelope.id,
        "detail-type": change.detail_type(),
        "source": SOURCE,
        "account": envelope.account,
        "time": iso_seconds(envelope.time_ms),
        "region": envelope.region,
        "resources": [envelope.pipeline_arn],
        "detail": detail,
    })
}

/// A user's own event (`PutEvents`), as rules see it.
#[allow(clippy::too_many_arguments)]
pub fn custom_event(
    id: &str,
    account: &str,
    region: &str,
    time_ms: i64,
    source: &str,
    detail_type: &str,
    resources: &[String],
    detail: Value,
) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": iso_seconds(time_ms),
        "region": region,
        "resources": resources,
        "detail": detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope<'static> {
        Envelope {
            id: "e1",
            account: "111122223333",
            region: "us-east-1",
            time_ms: 1_700_000_000_000,
            pipeline_arn: "arn:aws:codepipeline:us-east-1:111122223333:P",
        }
    }

    fn execution() -> ExecutionRef<'static> {
        ExecutionRef {
            pipeline: "P",
            pipeline_version: 2,
            execution_id: "x1",
            start_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn a_pipeline_change_names_its_trigger_and_time_in_aws_form() {
        let e = event(
            &envelope(),
            &execution(),
            &Change::Pipeline {
                trigger_type: "StartPipelineExecution",
                trigger_detail: "arn:aws:iam::111122223333:user/alice",
            },
            "STARTED",
        );
        assert_eq!(
            e["detail-type"],
            "CodePipeline Pipeline Execution State Change"
        );
        assert_eq!(e["source"], "aws.codepipeline");
        assert_eq!(e["time"], "2023-11-14T22:13:20Z");
        assert_eq!(e["detail"]["start-time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(
            e["detail"]["execution-trigger"]["trigger-type"],
            "StartPipelineExecution"
        );
        assert_eq!(e["detail"]["version"], 2.0);
        assert_eq!(
            e["resources"][0],
            "arn:aws:codepipeline:us-east-1:111122223333:P"
        );
    }

    #[test]
    fn an_action_change_carries_its_type_and_how_it_ended() {
        let e = event(
            &envelope(),
            &execution(),
            &Change::Action {
                stage: "Build",
                action: "Compile",
                action_execution_id: Some("a1"),
                kind: ActionKind {
                    owner: "AWS",
                    provider: "CodeBuild",
                    category: "Build",
                    version: "1",
                },
                result: Some(ActionResult {
                    external_execution_id: Some("b1"),
                    external_execution_summary: Some("failed"),
                    error_code: Some("JobFailed"),
                }),
            },
            "FAILED",
        );
        assert_eq!(
            e["detail-type"],
            "CodePipeline Action Execution State Change"
        );
        assert_eq!(e["detail"]["type"]["provider"], "CodeBuild");
        assert_eq!(e["detail"]["execution-result"]["error-code"], "JobFailed");
        assert_eq!(e["detail"]["stage"], "Build");
        assert_eq!(e["detail"]["state"], "FAILED");
    }
}
