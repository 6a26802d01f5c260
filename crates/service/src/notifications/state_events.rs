//! The state-change events of one engine step: the executions, stages and actions whose status
//! the step changed, as CodePipeline reports them to EventBridge. A run that started and ended
//! within the step reports both (`STARTED`, then how it ended).

use serde_json::Value;
use sluice_engine::{ActionRun, ActionStatus, Execution, ExecutionStatus, StageRun, StageStatus};
use sluice_events::state_change::{
    event, ActionKind, ActionResult, Change, Envelope, ExecutionRef,
};
use sluice_model::PipelineDeclaration;
use std::collections::BTreeMap;

fn execution_state(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::InProgress => "STARTED",
        ExecutionStatus::Stopping => "STOPPING",
        ExecutionStatus::Stopped => "STOPPED",
        ExecutionStatus::Succeeded => "SUCCEEDED",
        ExecutionStatus::Superseded => "SUPERSEDED",
        ExecutionStatus::Failed => "FAILED",
    }
}

fn stage_state(status: StageStatus) -> Option<&'static str> {
    Some(match status {
        StageStatus::InProgress => "STARTED",
        StageStatus::Stopping => "STOPPING",
        StageStatus::Stopped => "STOPPED",
        StageStatus::Succeeded => "SUCCEEDED",
        StageStatus::Failed => "FAILED",
        StageStatus::Skipped => return None,
    })
}

fn action_state(status: ActionStatus) -> Option<&'static str> {
    Some(match status {
        ActionStatus::NotStarted => return None,
        ActionStatus::InProgress => "STARTED",
        ActionStatus::Abandoned => "ABANDONED",
        ActionStatus::Succeeded => "SUCCEEDED",
        ActionStatus::Failed => "FAILED",
    })
}

/// The states to report for a move from `before` (`None`: not running before) to `after`:
/// a run that was not in progress and now has ended reports `STARTED` first; one that ran
/// again after it ended (a retry) reports `RESUMED` for executions and stages.
fn transitions(
    before: Option<&'static str>,
    after: &'static str,
    resumable: bool,
) -> Vec<&'static str> {
    if before == Some(after) {
        return Vec::new();
    }
    let ended = |s: Option<&str>| {
        matches!(
            s,
            Some("SUCCEEDED" | "FAILED" | "STOPPED" | "SUPERSEDED" | "ABANDONED")
        )
    };
    match (before, after) {
        (Some(b), "STARTED") if resumable && ended(Some(b)) => vec!["RESUMED"],
        (None, "STARTED") => vec!["STARTED"],
        (b, a) if a != "STARTED" && (b.is_none() || ended(b)) => vec!["STARTED", a],
        (_, a) => vec![a],
    }
}

/// Every state-change event of the step that turned `before` into `after`.
/// Where the events come from.
pub(crate) struct Origin<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub pipeline_arn: &'a str,
}

pub(crate) fn state_changes(
    new_id: &mut dyn FnMut() -> String,
    origin: &Origin,
    declaration: &PipelineDeclaration,
    before: &BTreeMap<String, Execution>,
    after: &BTreeMap<String, Execution>,
    now_ms: i64,
) -> Vec<Value> {
    let mut out = Vec::new();
    for (id, execution) in after {
        let previous = before.get(id);
        if previous == Some(execution) {
            continue;
        }
        let reference = ExecutionRef {
            pipeline: &declaration.name,
            pipeline_version: execution.pipeline_version,
            execution_id: &execution.id,
            start_ms: execution.started_ms,
        };
        let mut emit = |change: &Change, state: &str| {
            let event_id = new_id();
            let envelope = Envelope {
                id: &event_id,
                account: origin.account,
                region: origin.region,
                time_ms: now_ms,
                pipeline_arn: origin.pipeline_arn,
            };
            out.push(event(&envelope, &reference, change, state));
        };
        // Actions and stages first, then the execution: a pipeline's SUCCEEDED comes last.
        for (index, run) in &execution.stage_runs {
            let Some(stage) = declaration.stages.get(*index) else {
                continue;
            };
            let previous_run: Option<&StageRun> = previous.and_then(|p| p.stage_runs.get(index));
            for action in &run.actions {
                let Some(state) = action_state(action.status) else {
                    continue;
                };
                let earlier: Option<&ActionRun> = previous_run
                    .and_then(|r| r.actions.iter().find(|a| a.name == action.name))
                    .filter(|a| a.attempt == action.attempt);
                let before_state = earlier.and_then(|a| action_state(a.status));
                let Some(declared) = stage.actions.iter().find(|a| a.name == action.name) else {
                    continue;
                };
                let kind = &declared.action_type_id;
                for state in transitions(before_state, state, false) {
                    let result = (state != "STARTED").then(|| ActionResult {
                        external_execution_id: action.external_execution_id.as_deref(),
                        external_execution_summary: action.summary.as_deref(),
                        error_code: action.error.as_ref().map(|e| e.code.as_str()),
                    });
                    let change = Change::Action {
                        stage: &stage.name,
                        action: &action.name,
                        action_execution_id: action.action_execution_id.as_deref(),
                        kind: ActionKind {
                            owner: &kind.owner,
                            provider: &kind.provider,
                            category: &kind.category,
                            version: &kind.version,
                        },
                        result,
                    };
                    emit(&change, state);
                }
            }
            let Some(state) = stage_state(run.status) else {
                continue;
            };
            let before_state = previous_run.and_then(|r| stage_state(r.status));
            for state in transitions(before_state, state, true) {
                emit(&Change::Stage { stage: &stage.name }, state);
            }
        }
        let state = execution_state(execution.status);
        let before_state = previous.map(|p| execution_state(p.status));
        for state in transitions(before_state, state, true) {
            let change = Change::Pipeline {
                trigger_type: &execution.trigger.kind,
                trigger_detail: &execution.trigger.detail,
            };
            emit(&change, state);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::transitions;

    #[test]
    fn a_run_that_ends_within_one_step_reports_its_start_first() {
        assert_eq!(transitions(None, "STARTED", true), vec!["STARTED"]);
        assert_eq!(
            transitions(None, "FAILED", false),
            vec!["STARTED", "FAILED"]
        );
        assert_eq!(
            transitions(Some("STARTED"), "SUCCEEDED", true),
            vec!["SUCCEEDED"]
        );
        assert!(transitions(Some("STARTED"), "STARTED", true).is_empty());
    }

    #[test]
    fn a_retried_stage_or_execution_resumes() {
        assert_eq!(
            transitions(Some("FAILED"), "STARTED", true),
            vec!["RESUMED"]
        );
        assert_eq!(
            transitions(Some("STOPPING"), "STOPPED", true),
            vec!["STOPPED"]
        );
    }
}
