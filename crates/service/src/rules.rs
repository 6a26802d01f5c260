//! Stage conditions seen from the API: overriding one being checked, and the history of
//! rule runs (`ListRuleExecutions`).

use crate::run_step::StepExtra;
use crate::{Result, Sluice};
use sluice_engine::Input;
use sluice_model::{ConditionKind, RuleDeclaration};
use std::collections::BTreeMap;

/// One run of one rule, for `ListRuleExecutions`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleExecutionView {
    pub execution_id: String,
    pub rule_execution_id: String,
    pub pipeline_version: i64,
    pub stage: String,
    pub status: String,
    pub start_ms: i64,
    pub last_update_ms: i64,
    pub updated_by: Option<String>,
    /// The rule as declared in the version the execution ran.
    pub declaration: RuleDeclaration,
    pub resolved_configuration: BTreeMap<String, String>,
    pub input_artifacts: Vec<(String, Option<(String, String)>)>,
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub error: Option<(String, String)>,
}

const RULE_LIST_SCOPE: &str = "ListRuleExecutions";

impl Sluice {
    /// `OverrideStageCondition`: the condition of `kind` being checked for execution `id` in
    /// `stage` lets it past as if every rule had passed.
    pub async fn override_stage_condition(
        &self,
        pipeline: &str,
        stage: &str,
        id: &str,
        kind: ConditionKind,
        by: &str,
    ) -> Result<()> {
        self.pipeline_with_stage(pipeline, stage).await?;
        self.execution_doc(pipeline, id).await?;
        let input = Input::OverrideCondition {
            execution_id: id.into(),
            stage: stage.into(),
            kind,
            by: by.into(),
        };
        self.step(pipeline, vec![input], StepExtra::default())
            .await
            .map(|_| ())
    }

    /// Every run of every rule, newest execution first; optionally of one execution, and
    /// optionally only the latest check of each condition (`latest_only`).
    pub async fn list_rule_executions(
        &self,
        pipeline: &str,
        execution_id: Option<&str>,
        latest_only: bool,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<crate::Page<RuleExecutionView>> {
        let listing = crate::executions::HistoryListing {
            operation: RULE_LIST_SCOPE,
            pipeline,
            execution_id,
            latest_only,
            max_results,
            next_token,
        };
        self.history_page(listing, |e, declarations| {
            rule_runs_of(e, declarations, latest_only)
        })
        .await
    }
}

/// The rule checks of one execution's stage conditions, as `ListRuleExecutions` shows them.
fn rule_runs_of(
    e: &sluice_engine::Execution,
    declarations: &crate::executions::Declarations,
    latest_only: bool,
) -> Vec<RuleExecutionView> {
    let Some(Some(declaration)) = declarations.get(&e.pipeline_version) else {
        return Vec::new();
    };
    let mut all = Vec::new();
    for (stage_index, run) in &e.stage_runs {
        let Some(stage) = declaration.stages.get(*stage_index) else {
            continue;
        };
        for (c, condition) in run.conditions.iter().enumerate() {
            let superseded = run.conditions[c + 1..]
                .iter()
                .any(|later| later.kind == condition.kind);
            if latest_only && superseded {
                continue;
            }
            let Some(declared) = stage.condition(condition.kind) else {
                continue;
            };
            for rule in &condition.rules {
                let Some(declaration) = declared.rules.iter().find(|r| r.name == rule.name) else {
                    continue;
                };
                all.push(RuleExecutionView {
                    execution_id: e.id.clone(),
                    rule_execution_id: rule.rule_execution_id.clone(),
                    pipeline_version: e.pipeline_version,
                    stage: stage.name.clone(),
                    status: rule.status.as_str().into(),
                    start_ms: rule.started_ms,
                    last_update_ms: rule.updated_ms,
                    updated_by: rule.last_updated_by.clone(),
                    input_artifacts: declaration
                        .input_artifacts
                        .iter()
                        .map(|name| {
                            let location = e
                                .artifacts
                                .get(name)
                                .map(|l| (l.bucket.clone(), l.key.clone()));
                            (name.clone(), location)
                        })
                        .collect(),
                    declaration: declaration.clone(),
                    resolved_configuration: rule.resolved_configuration.clone(),
                    summary: rule.summary.clone(),
                    external_execution_id: rule.external_execution_id.clone(),
                    error: rule
                        .error
                        .as_ref()
                        .map(|x| (x.code.clone(), x.message.clone())),
                });
            }
        }
    }
    all
}
