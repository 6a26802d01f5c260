//! Stage conditions: the rules of `beforeEntry`, `onSuccess` and `onFailure`, checked when an
//! execution enters a stage, after its actions succeed, or after one fails. Every rule must
//! pass for the condition to hold; when one fails, the condition's result engages.

use super::Step;
use crate::input::{Effect, Error, JobOutcome, Timer};
use crate::state::*;
use sluice_model::rules::{variable_check, COMMANDS, DEPLOYMENT_WINDOW, VARIABLE_CHECK};
use sluice_model::{
    ActionDeclaration, ActionTypeId, ConditionKind, ConditionResult, ExecutionMode, RuleDeclaration,
};

/// How far ahead a closed deployment window looks for its next opening before it simply
/// checks again.
const WINDOW_HORIZON_MS: i64 = 24 * 60 * 60 * 1000;

/// Where a rule run is: execution, stage, condition run, rule run.
pub(super) type RuleAt = (String, usize, usize, usize);

impl Step<'_> {
    /// Starts checking the condition of `kind` of `stage` for `id`.
    pub(super) fn check_condition(&mut self, id: &str, stage: usize, kind: ConditionKind) {
        let Some(condition) = self.decl.stages[stage].condition(kind).cloned() else {
            self.condition_done(id, stage, kind, None);
            return;
        };
        let now = self.now;
        let rules = condition
            .rules
            .iter()
            .map(|rule| RuleRun {
                name: rule.name.clone(),
                rule_execution_id: self.ids.rule_execution_id(),
                status: RuleStatus::InProgress,
                job_id: None,
                started_ms: now,
                updated_ms: now,
                summary: None,
                error: None,
                external_execution_id: None,
                resolved_configuration: Default::default(),
                last_updated_by: None,
            })
            .collect();
        let run = self.run(id, stage);
        run.conditions.push(ConditionRun {
            kind,
            status: ConditionStatus::InProgress,
            summary: None,
            started_ms: now,
            updated_ms: now,
            rules,
        });
        let c = run.conditions.len() - 1;
        for (r, rule) in condition.rules.iter().enumerate() {
            self.start_rule((id.to_string(), stage, c, r), rule);
        }
        self.condition_settled(id, stage);
    }

    fn rule_run(&mut self, (id, stage, c, r): &RuleAt) -> &mut RuleRun {
        &mut self.run(id, *stage).conditions[*c].rules[*r]
    }

    /// A rule as an action declaration, so that it resolves and queues as actions do.
    fn rule_as_action(rule: &RuleDeclaration) -> ActionDeclaration {
        ActionDeclaration {
            name: rule.name.clone(),
            action_type_id: ActionTypeId::new("Compute", "AWS", "Commands", "1"),
            run_order: 1,
            configuration: rule.configuration.clone(),
            input_artifacts: rule.input_artifacts.clone(),
            role_arn: rule.role_arn.clone(),
            region: rule.region.clone(),
            timeout_in_minutes: rule.timeout_in_minutes,
            commands: rule.commands.clone(),
            ..Default::default()
        }
    }

    fn start_rule(&mut self, at: RuleAt, rule: &RuleDeclaration) {
        let resolved = match self.resolve_as(&at.0, &Self::rule_as_action(rule), "rule") {
            Ok(resolved) => resolved,
            Err(message) => return self.rule_done(&at, Err(message)),
        };
        self.rule_run(&at).resolved_configuration = resolved.configuration.clone();
        let config = |key: &str| resolved.configuration.get(key).cloned().unwrap_or_default();
        match rule.rule_type_id.provider.as_str() {
            VARIABLE_CHECK => {
                let (variable, operator, value) =
                    (config("Variable"), config("Operator"), config("Value"));
                let outcome = match variable_check(&variable, &operator, &value) {
                    Ok(true) => Ok(format!("'{variable}' {operator} '{value}' holds")),
                    Ok(false) => Err(format!(
                        "The variable check failed: '{variable}' {operator} '{value}' does not hold"
                    )),
                    Err(message) => Err(message),
                };
                self.rule_done(&at, outcome);
            }
            DEPLOYMENT_WINDOW => self.check_window(&at),
            COMMANDS => {
                let job_id = self.ids.job_id();
                self.rule_run(&at).job_id = Some(job_id.clone());
                let stage_name = self.rt.slots[at.1].name.clone();
                let version = self.exec(&at.0).pipeline_version;
                let rule_execution_id = self.rule_run(&at).rule_execution_id.clone();
                let timeout_ms = resolved.timeout_in_minutes.map(|m| m * 60_000);
                self.queue_job(
                    &at.0,
                    stage_name,
                    &resolved,
                    rule_execution_id,
                    job_id,
                    None,
                    version,
                    timeout_ms,
                );
                // The job just queued checks a rule; it is told so, and produces nothing.
                if let Some(Effect::QueueJob(spec)) = self
                    .effects
                    .iter_mut()
                    .rev()
                    .find(|e| matches!(e, Effect::QueueJob(_)))
                {
                    spec.rule = true;
                }
            }
            other => self.rule_done(
                &at,
                Err(format!(
                    "The rule provider {other} is not available on this server"
                )),
            ),
        }
    }

    /// A `DeploymentWindow` rule passes while its window is open; while it is closed the rule
    /// waits for the next opening (or its timeout).
    fn check_window(&mut self, at: &RuleAt) {
        let run = self.rule_run(at).clone();
        let config = |key: &str| run.resolved_configuration.get(key).map(String::as_str);
        let window = match sluice_model::cron::DeploymentWindow::parse(
            config("Cron").unwrap_or_default(),
            config("TimeZone"),
        ) {
            Ok(window) => window,
            Err(message) => return self.rule_done(at, Err(message)),
        };
        if window.is_open(self.now) {
            return self.rule_done(at, Ok("The deployment window is open".into()));
        }
        let timeout = self
            .rule_declared(at)
            .and_then(|rule| rule.timeout_in_minutes)
            .map(|minutes| run.started_ms + minutes * 60_000);
        if timeout.is_some_and(|deadline| self.now >= deadline) {
            return self.rule_done(
                at,
                Err("The deployment window did not open before the rule's timeout".into()),
            );
        }
        let next = window.next_open(self.now, WINDOW_HORIZON_MS);
        let mut check_at = next.unwrap_or(self.now + WINDOW_HORIZON_MS);
        if let Some(deadline) = timeout {
            check_at = check_at.min(deadline);
        }
        let summary = match next {
            Some(opens) => format!(
                "Waiting for the deployment window to open at {}",
                sluice_model::time::iso_seconds(opens)
            ),
            None => "Waiting for the deployment window to open (not within a day)".to_string(),
        };
        let now = self.now;
        let rule = self.rule_run(at);
        rule.summary = Some(summary);
        rule.updated_ms = now;
        let rule_execution_id = rule.rule_execution_id.clone();
        self.effects.push(Effect::SetTimer {
            timer: Timer::RuleCheck { rule_execution_id },
            at_ms: check_at.max(now + 1),
        });
    }

    fn rule_declared(&self, (id, stage, c, r): &RuleAt) -> Option<RuleDeclaration> {
        let kind = self
            .rt
            .executions
            .get(id)?
            .stage_runs
            .get(stage)?
            .conditions
            .get(*c)?
            .kind;
        self.decl.stages[*stage]
            .condition(kind)?
            .rules
            .get(*r)
            .cloned()
    }

    /// A waiting rule's timer came due: check its window again.
    pub(super) fn recheck_rule(&mut self, rule_execution_id: &str) {
        let Some(at) = self
            .rt
            .find_rule(|rule| rule.rule_execution_id == rule_execution_id)
        else {
            return;
        };
        if self.rule_run(&at).status == RuleStatus::InProgress {
            self.check_window(&at);
            self.condition_settled(&at.0, at.1);
        }
    }

    /// The in-progress rule whose job this is.
    pub(super) fn rule_job(&self, job_id: &str) -> Option<RuleAt> {
        self.rt.find_rule(|rule| {
            rule.job_id.as_deref() == Some(job_id) && rule.status == RuleStatus::InProgress
        })
    }

    /// A `Commands` rule's job ended: the rule passes when its commands succeeded.
    pub(super) fn rule_job_finished(
        &mut self,
        at: RuleAt,
        outcome: Result<JobOutcome, (ErrorDetails, Option<String>)>,
    ) {
        let external = match &outcome {
            Ok(outcome) => outcome.external_execution_id.clone(),
            Err((_, external)) => external.clone(),
        };
        if external.is_some() {
            self.rule_run(&at).external_execution_id = external;
        }
        let result = match outcome {
            Ok(outcome) => Ok(outcome
                .summary
                .unwrap_or_else(|| "The commands succeeded".into())),
            Err((error, _)) => Err(error.message),
        };
        self.rule_done(&at, result);
        self.condition_settled(&at.0, at.1);
    }

    pub(super) fn rule_job_progress(
        &mut self,
        at: RuleAt,
        external_execution_id: Option<String>,
        summary: Option<String>,
    ) {
        let now = self.now;
        let rule = self.rule_run(&at);
        if external_execution_id.is_some() {
            rule.external_execution_id = external_execution_id;
        }
        if summary.is_some() {
            rule.summary = summary;
        }
        rule.updated_ms = now;
    }

    /// A rule job's deadline passed.
    pub(super) fn rule_job_timed_out(&mut self, at: RuleAt, job_id: String) {
        self.effects.push(Effect::CancelJob { job_id });
        self.rule_done(
            &at,
            Err("The rule's job did not report a result before its timeout".into()),
        );
        self.condition_settled(&at.0, at.1);
    }

    /// Records a rule's result: its summary when it passed, its failure message when not.
    fn rule_done(&mut self, at: &RuleAt, outcome: Result<String, String>) {
        let now = self.now;
        let rule = self.rule_run(at);
        rule.updated_ms = now;
        match outcome {
            Ok(summary) => {
                rule.status = RuleStatus::Succeeded;
                rule.summary = Some(summary);
            }
            Err(message) => {
                rule.status = RuleStatus::Failed;
                rule.summary = Some(message.clone());
                rule.error = Some(ErrorDetails {
                    code: "RuleFailed".into(),
                    message,
                });
            }
        }
    }

    /// Once no rule of the condition being checked is in progress, the condition has its
    /// answer and the stage moves on.
    fn condition_settled(&mut self, id: &str, stage: usize) {
        let now = self.now;
        let run = self.run(id, stage);
        let Some(condition) = run.conditions.last_mut() else {
            return;
        };
        if condition.status != ConditionStatus::InProgress
            || condition
                .rules
                .iter()
                .any(|r| r.status == RuleStatus::InProgress)
        {
            return;
        }
        let failed = condition
            .rules
            .iter()
            .find(|r| r.status == RuleStatus::Failed)
            .map(|r| {
                format!(
                    "rule {} failed: {}",
                    r.name,
                    r.summary.clone().unwrap_or_default()
                )
            });
        condition.status = if failed.is_some() {
            ConditionStatus::Failed
        } else {
            ConditionStatus::Succeeded
        };
        condition.summary = failed.clone();
        condition.updated_ms = now;
        let kind = condition.kind;
        self.condition_done(id, stage, kind, failed);
    }

    /// The stage goes on as the condition's answer says: `failure` is why it did not hold.
    fn condition_done(
        &mut self,
        id: &str,
        stage: usize,
        kind: ConditionKind,
        failure: Option<String>,
    ) {
        let Some(why) = failure else {
            match kind {
                ConditionKind::BeforeEntry => {
                    let first = self.first_group(stage);
                    self.start_group(id, stage, first);
                }
                ConditionKind::OnSuccess => self.succeed_stage(id, stage),
                ConditionKind::OnFailure => self.fail_stage(id, stage, false, None),
            }
            return;
        };
        let stage_name = self.rt.slots[stage].name.clone();
        let result = self.decl.stages[stage]
            .condition(kind)
            .map_or(ConditionResult::Fail, |c| c.result);
        let summary = format!(
            "Stage {stage_name} failed: the {} condition did not hold: {why}",
            kind.member()
        );
        match result {
            ConditionResult::Skip => {
                let run = self.run(id, stage);
                run.status = StageStatus::Skipped;
                self.release(id, stage);
                self.next_stage(id, stage);
            }
            ConditionResult::Rollback => self.fail_stage(id, stage, true, Some(summary)),
            ConditionResult::Fail | ConditionResult::Retry => {
                self.fail_stage(id, stage, false, Some(summary))
            }
        }
    }

    /// Stops the condition being checked: its rules are abandoned, their jobs cancelled.
    pub(super) fn abandon_condition(&mut self, id: &str, stage: usize) {
        let now = self.now;
        let run = self.run(id, stage);
        let Some(condition) = run
            .conditions
            .last_mut()
            .filter(|c| c.status == ConditionStatus::InProgress)
        else {
            return;
        };
        condition.status = ConditionStatus::Abandoned;
        condition.updated_ms = now;
        let mut cancelled = Vec::new();
        for rule in &mut condition.rules {
            if rule.status == RuleStatus::InProgress {
                rule.status = RuleStatus::Abandoned;
                rule.updated_ms = now;
                cancelled.extend(rule.job_id.clone());
            }
        }
        self.effects.extend(
            cancelled
                .into_iter()
                .map(|job_id| Effect::CancelJob { job_id }),
        );
    }

    /// `OverrideStageCondition`: the condition of `kind` being checked for `id` in `stage`
    /// lets it past, as if every rule had passed.
    pub(super) fn override_condition(
        &mut self,
        id: &str,
        stage_name: &str,
        kind: ConditionKind,
        by: String,
    ) -> Result<(), Error> {
        let stage = self
            .rt
            .stage_index(stage_name)
            .ok_or_else(|| Error::StageNotFound(stage_name.into()))?;
        let execution = self
            .rt
            .executions
            .get(id)
            .ok_or_else(|| Error::ExecutionNotFound(id.into()))?;
        let parallel = self.decl.mode() == ExecutionMode::Parallel;
        if !parallel && self.rt.slots[stage].latest.as_deref() != Some(id) {
            return Err(Error::NotLatestExecution(format!(
                "Execution {id} is not the latest execution of stage {stage_name}"
            )));
        }
        let checking = execution
            .stage_runs
            .get(&stage)
            .and_then(|run| run.checking())
            .is_some_and(|condition| condition.kind == kind);
        if !checking {
            return Err(Error::ConditionNotOverridable(format!(
                "The {} condition of stage {stage_name} is not being checked for execution {id}",
                kind.member()
            )));
        }
        self.abandon_condition(id, stage);
        let now = self.now;
        let condition = self
            .run(id, stage)
            .conditions
            .last_mut()
            .expect("a condition was being checked");
        condition.status = ConditionStatus::Overridden;
        condition.summary = Some(format!("Overridden by {by}"));
        condition.updated_ms = now;
        for rule in &mut condition.rules {
            rule.last_updated_by = Some(by.clone());
        }
        self.condition_done(id, stage, kind, None);
        Ok(())
    }
}
