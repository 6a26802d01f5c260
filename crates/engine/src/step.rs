//! The rules. One `Step` applies one input to a copy of the runtime; on success the copy
//! replaces the original, so a refused input leaves nothing half-done.

use crate::input::{
    Effect, EngineOptions, Error, Ids, Input, JobOutcome, JobSpec, RetryMode, SourceRevision, Timer,
};
use crate::state::*;
use sluice_model::variables::{substitute, Reference, EXECUTION_NAMESPACE, PIPELINE_NAMESPACE};
use sluice_model::{ActionDeclaration, ConditionKind, PipelineDeclaration};
use std::collections::BTreeMap;

mod conditions;

/// Applies `input` to `runtime` at `now_ms` and returns the effects to perform after commit.
/// `declaration` is the pipeline version the runtime runs (after `PipelineUpdated`, the new one).
pub fn apply(
    runtime: &mut Runtime,
    declaration: &PipelineDeclaration,
    options: &EngineOptions,
    now_ms: i64,
    ids: &mut dyn Ids,
    input: Input,
) -> Result<Vec<Effect>, Error> {
    let mut step = Step {
        rt: runtime.clone(),
        decl: declaration,
        options,
        now: now_ms,
        ids,
        effects: Vec::new(),
    };
    step.input(input)?;
    *runtime = step.rt;
    Ok(step.effects)
}

struct Step<'a> {
    rt: Runtime,
    decl: &'a PipelineDeclaration,
    options: &'a EngineOptions,
    now: i64,
    ids: &'a mut dyn Ids,
    effects: Vec<Effect>,
}

fn truncate(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

fn is_approval(a: &ActionDeclaration) -> bool {
    a.action_type_id.is_approval() && a.action_type_id.provider == "Manual"
}

impl Step<'_> {
    fn input(&mut self, input: Input) -> Result<(), Error> {
        match input {
            Input::Start {
                execution_id,
                trigger,
                variables,
                source_revisions,
            } => self.start(execution_id, trigger, variables, source_revisions),
            Input::Rollback {
                execution_id,
                stage,
                target,
                trigger,
            } => {
                let index = self
                    .rt
                    .stage_index(&stage)
                    .ok_or(Error::StageNotFound(stage))?;
                self.start_rollback(execution_id, index, target, trigger)
            }
            Input::JobSucceeded {
                job_id,
                outcome,
                continuation_token,
            } => match self.rule_job(&job_id) {
                Some(rule) => {
                    self.rule_job_finished(rule, Ok(outcome));
                    Ok(())
                }
                None => self.job_succeeded(&job_id, outcome, continuation_token),
            },
            Input::JobFailed {
                job_id,
                error,
                external_execution_id,
            } => {
                if let Some(rule) = self.rule_job(&job_id) {
                    self.rule_job_finished(rule, Err((error, external_execution_id)));
                    return Ok(());
                }
                let (id, stage, i) = self.in_progress_job(&job_id)?;
                let now = self.now;
                let a = self.action(&id, stage, i);
                a.status = ActionStatus::Failed;
                a.error = Some(error);
                if external_execution_id.is_some() {
                    a.external_execution_id = external_execution_id;
                }
                a.updated_ms = Some(now);
                self.advance(&id, stage);
                Ok(())
            }
            Input::JobProgress {
                job_id,
                external_execution_id,
                summary,
            } => {
                if let Some(rule) = self.rule_job(&job_id) {
                    self.rule_job_progress(rule, external_execution_id, summary);
                    return Ok(());
                }
                let (id, stage, i) = self.in_progress_job(&job_id)?;
                let now = self.now;
                let a = self.action(&id, stage, i);
                if external_execution_id.is_some() {
                    a.external_execution_id = external_execution_id;
                }
                if summary.is_some() {
                    a.summary = summary;
                }
                a.updated_ms = Some(now);
                Ok(())
            }
            Input::ApprovalResult { token, decision } => {
                let (id, stage, i) = self
                    .rt
                    .find_approval(&token)
                    .ok_or(Error::InvalidApprovalToken)?;
                let now = self.now;
                let a = self.action(&id, stage, i);
                if a.status != ActionStatus::InProgress {
                    return Err(Error::ApprovalAlreadyCompleted);
                }
                a.status = if decision.approved {
                    ActionStatus::Succeeded
                } else {
                    ActionStatus::Failed
                };
                if !decision.approved {
                    a.error = Some(ErrorDetails {
                        code: "Rejected".into(),
                        message: format!("Rejected by {}: {}", decision.by, decision.summary),
                    });
                }
                a.summary = Some(decision.summary);
                a.last_updated_by = Some(decision.by);
                a.updated_ms = Some(now);
                self.advance(&id, stage);
                Ok(())
            }
            Input::TransitionChanged {
                stage,
                inbound,
                enabled,
            } => {
                let idx = self
                    .rt
                    .stage_index(&stage)
                    .ok_or(Error::StageNotFound(stage))?;
                if inbound {
                    self.rt.slots[idx].inbound_enabled = enabled;
                } else {
                    self.rt.slots[idx].outbound_enabled = enabled;
                }
                if enabled {
                    let target = if inbound { idx } else { idx + 1 };
                    self.admit_waiting(target);
                }
                Ok(())
            }
            Input::Retry {
                execution_id,
                stage,
                mode,
            } => self.retry(&execution_id, &stage, mode),
            Input::Stop {
                execution_id,
                abandon,
                reason,
            } => self.stop(&execution_id, abandon, reason),
            Input::PipelineUpdated { version } => {
                self.pipeline_updated(version);
                Ok(())
            }
            Input::TimerDue { timer } => {
                self.timer_due(timer);
                Ok(())
            }
            Input::OverrideCondition {
                execution_id,
                stage,
                kind,
                by,
            } => self.override_condition(&execution_id, &stage, kind, by),
        }
    }

    fn exec(&mut self, id: &str) -> &mut Execution {
        self.rt
            .executions
            .get_mut(id)
            .expect("the engine only names executions it holds")
    }

    fn run(&mut self, id: &str, stage: usize) -> &mut StageRun {
        self.exec(id)
            .stage_runs
            .get_mut(&stage)
            .expect("a running stage has a stage run")
    }

    fn action(&mut self, id: &str, stage: usize, i: usize) -> &mut ActionRun {
        &mut self.run(id, stage).actions[i]
    }

    fn declared(&self, stage: usize, name: &str) -> Option<&ActionDeclaration> {
        self.decl
            .stages
            .get(stage)?
            .actions
            .iter()
            .find(|a| a.name == name)
    }

    fn start(
        &mut self,
        id: String,
        trigger: Trigger,
        variables: BTreeMap<String, String>,
        source_revisions: BTreeMap<String, SourceRevision>,
    ) -> Result<(), Error> {
        if self.rt.executions.contains_key(&id) {
            return Err(Error::DuplicateExecution(id));
        }
        if let Some(unknown) = variables
            .keys()
            .find(|name| !self.decl.variables.iter().any(|v| &v.name == *name))
        {
            return Err(Error::InvalidVariables(format!(
                "Variable {unknown} is not declared in pipeline {}",
                self.decl.name
            )));
        }
        // A declared variable with neither a value nor a default has none: an action that
        // uses it fails when it starts, naming it.
        let mut values: BTreeMap<String, String> = self
            .decl
            .variables
            .iter()
            .filter_map(|v| Some((v.name.clone(), v.default_value.clone()?)))
            .collect();
        values.extend(variables);
        let mut execution = self.new_execution(&id, trigger, ExecutionType::Standard);
        execution.variables = values;
        execution.source_revisions = source_revisions;
        self.rt.executions.insert(id.clone(), execution);
        self.arrive(&id, 0);
        Ok(())
    }

    /// A fresh execution of the current version, not yet in any stage.
    fn new_execution(&self, id: &str, trigger: Trigger, kind: ExecutionType) -> Execution {
        Execution {
            id: id.to_string(),
            status: ExecutionStatus::InProgress,
            pipeline_version: self.rt.pipeline_version,
            position: Position::Waiting {
                stage: 0,
                reason: Waiting::TransitionDisabled,
            },
            trigger,
            mode: self.decl.mode(),
            variables: Default::default(),
            source_revisions: Default::default(),
            execution_type: kind,
            status_summary: None,
            stage_runs: Default::default(),
            artifacts: Default::default(),
            abandoning: false,
            started_ms: self.now,
            updated_ms: self.now,
        }
    }

    /// Why `stage` cannot be entered now, if it cannot.
    fn blocked(&self, stage: usize) -> Option<Waiting> {
        let slot = &self.rt.slots[stage];
        if stage > 0 && !self.rt.slots[stage - 1].outbound_enabled {
            Some(Waiting::OutboundDisabled)
        } else if stage > 0 && !slot.inbound_enabled {
            Some(Waiting::TransitionDisabled)
        } else {
            // Under PARALLEL nothing occupies a stage, so only transitions hold an execution.
            slot.occupant.clone().map(|by| Waiting::StageBusy { by })
        }
    }

    /// The execution finished the stage before `stage` (or starts, for 0) and wants in.
    fn arrive(&mut self, id: &str, stage: usize) {
        if stage >= self.rt.slots.len() {
            self.finish(id, ExecutionStatus::Succeeded, None);
            return;
        }
        match self.blocked(stage) {
            None => self.enter(id, stage),
            Some(reason) => {
                let now = self.now;
                let e = self.exec(id);
                e.position = Position::Waiting { stage, reason };
                e.updated_ms = now;
                let slot = &mut self.rt.slots[stage];
                match self.decl.mode() {
                    ExecutionMode::Superseded => {
                        let previous = slot.waiting.replace(id.to_string());
                        if let Some(older) = previous.filter(|p| p != id) {
                            let summary = format!(
                                "Superseded by a newer execution ({id}) waiting to enter the stage"
                            );
                            self.finish(&older, ExecutionStatus::Superseded, Some(summary));
                        }
                    }
                    // Nobody is replaced: the execution joins the end of the line.
                    ExecutionMode::Queued | ExecutionMode::Parallel => {
                        if slot.waiting.is_none() {
                            slot.waiting = Some(id.to_string());
                        } else {
                            slot.queue.push(id.to_string());
                        }
                    }
                }
            }
        }
    }

    /// Takes the execution first in line for `stage`; the next one moves up.
    fn next_in_line(&mut self, stage: usize) -> Option<String> {
        let slot = &mut self.rt.slots[stage];
        let next = slot.waiting.take()?;
        if !slot.queue.is_empty() {
            slot.waiting = Some(slot.queue.remove(0));
        }
        Some(next)
    }

    fn enter(&mut self, id: &str, stage: usize) {
        let parallel = self.decl.mode() == ExecutionMode::Parallel;
        let slot = &mut self.rt.slots[stage];
        if !parallel {
            slot.occupant = Some(id.to_string());
        }
        slot.latest = Some(id.to_string());
        let actions: Vec<ActionRun> = self.decl.stages[stage]
            .actions
            .iter()
            .map(|a| ActionRun {
                name: a.name.clone(),
                run_order: a.run_order,
                status: ActionStatus::NotStarted,
                attempt: 0,
                action_execution_id: None,
                job_id: None,
                approval_token: None,
                started_ms: None,
                updated_ms: None,
                summary: None,
                external_execution_id: None,
                percent_complete: None,
                current_revision: None,
                error: None,
                last_updated_by: None,
                output_variables: Default::default(),
                resolved_configuration: Default::default(),
            })
            .collect();
        let first = actions.iter().map(|a| a.run_order).min().unwrap_or(1);
        let now = self.now;
        let e = self.exec(id);
        e.position = Position::InStage(stage);
        e.updated_ms = now;
        e.stage_runs.insert(
            stage,
            StageRun {
                status: StageStatus::InProgress,
                group: first,
                actions,
                retrying: false,
                auto_retried: false,
                past_attempts: Vec::new(),
                conditions: Vec::new(),
            },
        );
        if self.decl.stages[stage].before_entry.is_some() {
            self.check_condition(id, stage, ConditionKind::BeforeEntry);
        } else {
            self.start_group(id, stage, first);
        }
    }

    /// The `runOrder` of the first actions of `stage`.
    fn first_group(&self, stage: usize) -> i64 {
        self.decl.stages[stage]
            .actions
            .iter()
            .map(|a| a.run_order)
            .min()
            .unwrap_or(1)
    }

    /// Starts every action of the `order` group that has not already succeeded.
    fn start_group(&mut self, id: &str, stage: usize, order: i64) {
        self.run(id, stage).group = order;
        let to_start: Vec<usize> = self
            .run(id, stage)
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| a.run_order == order && a.status != ActionStatus::Succeeded)
            .map(|(i, _)| i)
            .collect();
        for i in &to_start {
            self.start_action(id, stage, *i);
        }
        // Nothing to wait for when every action was done or failed as it started.
        self.advance(id, stage);
    }

    fn start_action(&mut self, id: &str, stage: usize, i: usize) {
        let name = self.run(id, stage).actions[i].name.clone();
        let Some(declared) = self.declared(stage, &name).cloned() else {
            // The runtime and declaration always share a version; guard anyway.
            let a = self.action(id, stage, i);
            a.status = ActionStatus::Failed;
            a.error = Some(ErrorDetails {
                code: "JobFailed".into(),
                message: format!("action {name} is not declared"),
            });
            return;
        };
        let action_execution_id = self.ids.action_execution_id();
        let now = self.now;
        let timeout_ms = declared.timeout_in_minutes.map(|m| m * 60_000);
        let stage_name = self.rt.slots[stage].name.clone();
        let version = self.exec(id).pipeline_version;
        let resolved = self.resolve(id, &declared);
        let a = self.action(id, stage, i);
        a.status = ActionStatus::InProgress;
        a.attempt += 1;
        a.action_execution_id = Some(action_execution_id.clone());
        a.started_ms = Some(now);
        a.updated_ms = Some(now);
        a.summary = None;
        a.error = None;
        a.external_execution_id = None;
        a.percent_complete = None;
        a.last_updated_by = None;
        let declared = match resolved {
            Ok(resolved) => resolved,
            Err(message) => {
                a.status = ActionStatus::Failed;
                a.job_id = None;
                a.resolved_configuration = Default::default();
                a.error = Some(ErrorDetails {
                    code: "JobFailed".into(),
                    message,
                });
                return;
            }
        };
        a.resolved_configuration = declared.configuration.clone();
        if is_approval(&declared) {
            let token = self.ids.approval_token();
            let expires_ms = now + timeout_ms.unwrap_or(self.options.approval_timeout_ms);
            let a = self.action(id, stage, i);
            a.approval_token = Some(token.clone());
            a.job_id = None;
            self.effects.push(Effect::RequestApproval {
                token: token.clone(),
                execution_id: id.to_string(),
                stage: stage_name,
                action: name,
                configuration: declared.configuration.clone(),
                expires_ms,
            });
            self.effects.push(Effect::SetTimer {
                timer: Timer::ApprovalExpiry { token },
                at_ms: expires_ms,
            });
        } else {
            let job_id = self.ids.job_id();
            self.action(id, stage, i).job_id = Some(job_id.clone());
            self.queue_job(
                id,
                stage_name,
                &declared,
                action_execution_id,
                job_id,
                None,
                version,
                timeout_ms,
            );
        }
    }

    /// `declared` with the variable references in its configuration, commands and
    /// environment replaced by this execution's values; the error names the first reference
    /// that has none.
    fn resolve(&self, id: &str, declared: &ActionDeclaration) -> Result<ActionDeclaration, String> {
        self.resolve_as(id, declared, "action")
    }

    /// `resolve` for an action or for a rule (`what` says which, for the message).
    fn resolve_as(
        &self,
        id: &str,
        declared: &ActionDeclaration,
        what: &str,
    ) -> Result<ActionDeclaration, String> {
        let execution = &self.rt.executions[id];
        let lookup = |reference: Reference<'_>| self.variable(execution, reference);
        let unresolved = |reference: Reference<'_>| {
            format!(
                "The variable {reference} in {what} {} could not be resolved: {}",
                declared.name,
                match reference.namespace {
                    PIPELINE_NAMESPACE => "the execution has no value for it",
                    EXECUTION_NAMESPACE => "the execution has no such variable",
                    _ => "the action of that namespace did not output it in this execution",
                }
            )
        };
        let mut resolved = declared.clone();
        for value in resolved.configuration.values_mut() {
            *value = substitute(value, lookup).map_err(unresolved)?;
        }
        for command in &mut resolved.commands {
            *command = substitute(command, lookup).map_err(unresolved)?;
        }
        for variable in &mut resolved.environment_variables {
            variable.value = substitute(&variable.value, lookup).map_err(unresolved)?;
        }
        Ok(resolved)
    }

    /// The value of one variable in `execution`: a pipeline variable, the execution id, or an
    /// output variable of the succeeded action that declares the namespace.
    fn variable(&self, execution: &Execution, reference: Reference<'_>) -> Option<String> {
        match reference.namespace {
            PIPELINE_NAMESPACE => execution.variables.get(reference.name).cloned(),
            EXECUTION_NAMESPACE => {
                (reference.name == "PipelineExecutionId").then(|| execution.id.clone())
            }
            namespace => {
                let (stage, producer) =
                    self.decl.stages.iter().enumerate().find_map(|(i, s)| {
                        s.actions
                            .iter()
                            .find(|a| a.namespace.as_deref() == Some(namespace))
                            .map(|a| (i, a))
                    })?;
                execution
                    .stage_runs
                    .get(&stage)?
                    .actions
                    .iter()
                    .find(|a| a.name == producer.name && a.status == ActionStatus::Succeeded)?
                    .output_variables
                    .get(reference.name)
                    .cloned()
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn queue_job(
        &mut self,
        id: &str,
        stage: String,
        declared: &ActionDeclaration,
        action_execution_id: String,
        job_id: String,
        continuation_token: Option<String>,
        pipeline_version: i64,
        timeout_ms: Option<i64>,
    ) {
        let at_ms = self.now + timeout_ms.unwrap_or(self.options.job_timeout_ms);
        let fresh_outputs = continuation_token.is_none();
        let mut output_artifacts = Vec::new();
        for name in &declared.output_artifacts {
            let known = self.exec(id).artifacts.get(name).cloned();
            let location = match known {
                Some(l) if !fresh_outputs => l,
                _ => {
                    let l = ArtifactLocation {
                        bucket: self.artifact_bucket(declared),
                        key: format!(
                            "{}/{}/{}",
                            truncate(&self.decl.name, 20),
                            truncate(name, 10),
                            self.ids.artifact_id()
                        ),
                    };
                    self.exec(id).artifacts.insert(name.clone(), l.clone());
                    l
                }
            };
            output_artifacts.push((name.clone(), location));
        }
        let input_artifacts = declared
            .input_artifacts
            .iter()
            .map(|n| (n.clone(), self.rt.executions[id].artifacts.get(n).cloned()))
            .collect();
        self.effects.push(Effect::QueueJob(Box::new(JobSpec {
            job_id: job_id.clone(),
            execution_id: id.to_string(),
            stage,
            action: declared.name.clone(),
            action_execution_id,
            action_type_id: declared.action_type_id.clone(),
            configuration: declared.configuration.clone(),
            source_revision: self.rt.executions[id]
                .source_revisions
                .get(&declared.name)
                .cloned(),
            commands: declared.commands.clone(),
            environment_variables: declared.environment_variables.clone(),
            input_artifacts,
            output_artifacts,
            continuation_token,
            pipeline_version,
            rule: false,
        })));
        self.effects.push(Effect::SetTimer {
            timer: Timer::JobTimeout { job_id },
            at_ms,
        });
    }

    /// The artifact store for an action: the one of its region when the pipeline declares
    /// per-region stores, else the pipeline's.
    fn artifact_bucket(&self, declared: &ActionDeclaration) -> String {
        let by_region = declared
            .region
            .as_ref()
            .and_then(|r| self.decl.artifact_stores.get(r))
            .or_else(|| self.decl.artifact_stores.values().next());
        self.decl
            .artifact_store
            .as_ref()
            .or(by_region)
            .map(|s| s.location.clone())
            .unwrap_or_default()
    }

    fn in_progress_job(&self, job_id: &str) -> Result<(String, usize, usize), Error> {
        let found = self
            .rt
            .find_job(job_id)
            .ok_or_else(|| Error::JobNotInProgress(job_id.into()))?;
        let (id, stage, i) = &found;
        let a = &self.rt.executions[id].stage_runs[stage].actions[*i];
        if a.status != ActionStatus::InProgress {
            return Err(Error::JobNotInProgress(job_id.into()));
        }
        Ok(found)
    }

    fn job_succeeded(
        &mut self,
        job_id: &str,
        outcome: JobOutcome,
        continuation: Option<String>,
    ) -> Result<(), Error> {
        let (id, stage, i) = self.in_progress_job(job_id)?;
        let now = self.now;
        let a = self.action(&id, stage, i);
        a.updated_ms = Some(now);
        if outcome.summary.is_some() {
            a.summary = outcome.summary;
        }
        if outcome.external_execution_id.is_some() {
            a.external_execution_id = outcome.external_execution_id;
        }
        if outcome.percent_complete.is_some() {
            a.percent_complete = outcome.percent_complete;
        }
        if outcome.current_revision.is_some() {
            a.current_revision = outcome.current_revision;
        }
        a.output_variables.extend(outcome.output_variables);
        match continuation {
            Some(token) => {
                // The action stays in progress; a new job carries the token.
                let name = a.name.clone();
                let action_execution_id = a.action_execution_id.clone().unwrap_or_default();
                let new_job = self.ids.job_id();
                self.action(&id, stage, i).job_id = Some(new_job.clone());
                // Resolved as when the action started: what it reads has not changed since.
                let declared = self.declared(stage, &name).cloned();
                match declared.map(|d| self.resolve(&id, &d)) {
                    Some(Ok(declared)) => {
                        let version = self.exec(&id).pipeline_version;
                        let stage_name = self.rt.slots[stage].name.clone();
                        let timeout = declared.timeout_in_minutes.map(|m| m * 60_000);
                        self.queue_job(
                            &id,
                            stage_name,
                            &declared,
                            action_execution_id,
                            new_job,
                            Some(token),
                            version,
                            timeout,
                        );
                    }
                    // Never left waiting for a job that was not queued.
                    Some(Err(message)) => {
                        let a = self.action(&id, stage, i);
                        a.status = ActionStatus::Failed;
                        a.job_id = None;
                        a.error = Some(ErrorDetails {
                            code: "JobFailed".into(),
                            message,
                        });
                        self.advance(&id, stage);
                    }
                    None => {}
                }
            }
            None => {
                a.status = ActionStatus::Succeeded;
                self.advance(&id, stage);
            }
        }
        Ok(())
    }

    /// Moves on once no action of the running group is in progress: the next group, the next
    /// stage, or the end of the execution; a declared condition is checked first.
    fn advance(&mut self, id: &str, stage: usize) {
        let stopping = self.exec(id).status == ExecutionStatus::Stopping;
        if self.run(id, stage).checking().is_some() {
            // A stop does not wait for a check: the condition is abandoned.
            if stopping {
                self.abandon_condition(id, stage);
                self.stopped_in(id, stage);
            }
            return;
        }
        let run = self.run(id, stage);
        let group = run.group;
        let in_group = run.actions.iter().filter(|a| a.run_order == group);
        if in_group
            .clone()
            .any(|a| a.status == ActionStatus::InProgress)
        {
            return;
        }
        let failed = run
            .actions
            .iter()
            .filter(|a| a.run_order == group)
            .any(|a| matches!(a.status, ActionStatus::Failed | ActionStatus::Abandoned));
        let next = run
            .actions
            .iter()
            .map(|a| a.run_order)
            .filter(|o| *o > group)
            .min();
        let decl = self.decl;
        let declared = &decl.stages[stage];
        if stopping {
            self.stopped_in(id, stage);
        } else if failed && self.retries_automatically(id, stage) {
            let all_actions = matches!(
                self.decl.stages[stage].on_failure,
                Some(sluice_model::OnFailure::Retry { all_actions: true })
            );
            self.run(id, stage).auto_retried = true;
            let mode = if all_actions {
                RetryMode::AllActions
            } else {
                RetryMode::FailedActions
            };
            self.restart_stage(id, stage, mode);
        } else if failed && declared.on_failure_condition.is_some() {
            self.check_condition(id, stage, ConditionKind::OnFailure);
        } else if failed {
            self.fail_stage(id, stage, false, None);
        } else if let Some(order) = next {
            self.start_group(id, stage, order);
        } else if declared.on_success.is_some() {
            self.check_condition(id, stage, ConditionKind::OnSuccess);
        } else {
            self.succeed_stage(id, stage);
        }
    }

    /// A stop reached the execution in `stage`: nothing there is running any more.
    fn stopped_in(&mut self, id: &str, stage: usize) {
        self.run(id, stage).status = StageStatus::Stopped;
        self.run(id, stage).retrying = false;
        self.release(id, stage);
        self.finish(id, ExecutionStatus::Stopped, None);
    }

    /// The stage failed: the execution fails with `reason` (or the failed actions named), and a
    /// rollback starts when `onFailure` says ROLLBACK or `rollback` is set (a condition's
    /// result).
    fn fail_stage(&mut self, id: &str, stage: usize, rollback: bool, reason: Option<String>) {
        let run = self.run(id, stage);
        run.status = StageStatus::Failed;
        run.retrying = false;
        let failures: Vec<String> = run
            .actions
            .iter()
            .filter(|a| a.status == ActionStatus::Failed)
            .map(|a| a.name.clone())
            .collect();
        let stage_name = self.rt.slots[stage].name.clone();
        let rollback = self.rollback_after_failure(id, stage, rollback);
        if rollback.is_some() {
            // The rollback takes the stage over before anyone waiting can enter.
            self.rt.slots[stage].occupant = None;
        } else {
            self.release(id, stage);
        }
        let summary = reason.unwrap_or_else(|| {
            format!(
                "Stage {stage_name} failed: action(s) {} failed",
                failures.join(", ")
            )
        });
        self.finish(id, ExecutionStatus::Failed, Some(summary));
        if let Some(target) = rollback {
            let rollback_id = self.ids.execution_id();
            let trigger = Trigger {
                kind: "AutomatedRollback".into(),
                detail: id.to_string(),
            };
            // Refused only for a duplicate id or a busy stage, neither of which can be; if
            // it ever is, those waiting for the stage are let in as without a rollback.
            if self
                .start_rollback(rollback_id, stage, target, trigger)
                .is_err()
            {
                self.admit_waiting(stage);
            }
        }
    }

    /// Every action of the stage succeeded (and its success condition held).
    fn succeed_stage(&mut self, id: &str, stage: usize) {
        let run = self.run(id, stage);
        run.status = StageStatus::Succeeded;
        run.retrying = false;
        self.release(id, stage);
        self.next_stage(id, stage);
    }

    /// After `stage`: the next one, or the end (a rollback runs its one stage only).
    fn next_stage(&mut self, id: &str, stage: usize) {
        if matches!(self.exec(id).execution_type, ExecutionType::Rollback { .. }) {
            self.finish(id, ExecutionStatus::Succeeded, None);
        } else {
            self.arrive(id, stage + 1);
        }
    }

    /// `id` leaves `stage`; the execution waiting there, if any and if allowed, enters.
    fn release(&mut self, id: &str, stage: usize) {
        if self.rt.slots[stage].occupant.as_deref() == Some(id) {
            self.rt.slots[stage].occupant = None;
        }
        self.admit_waiting(stage);
    }

    /// Lets in whoever the stage now admits, in line order: one execution when entering
    /// occupies the stage, every waiting one under PARALLEL.
    fn admit_waiting(&mut self, stage: usize) {
        if stage >= self.rt.slots.len() {
            return;
        }
        while self.blocked(stage).is_none() {
            let Some(next) = self.next_in_line(stage) else {
                return;
            };
            self.enter(&next, stage);
        }
    }

    fn finish(&mut self, id: &str, status: ExecutionStatus, summary: Option<String>) {
        let now = self.now;
        let e = self.exec(id);
        let was_waiting = match e.position {
            Position::Waiting { stage, .. } => Some(stage),
            _ => None,
        };
        e.status = status;
        e.position = Position::Finished;
        e.updated_ms = now;
        if summary.is_some() {
            e.status_summary = summary;
        }
        if status == ExecutionStatus::Succeeded && e.execution_type == ExecutionType::Standard {
            let target = RollbackTarget {
                execution_id: e.id.clone(),
                artifacts: e.artifacts.clone(),
                variables: e.variables.clone(),
            };
            self.rt.last_succeeded = Some(target);
        }
        if let Some(stage) = was_waiting {
            let slot = &mut self.rt.slots[stage];
            slot.queue.retain(|queued| queued != id);
            if slot.waiting.as_deref() == Some(id) {
                slot.waiting = None;
                if !slot.queue.is_empty() {
                    slot.waiting = Some(slot.queue.remove(0));
                }
            }
        }
        self.effects.push(Effect::ExecutionFinished {
            execution_id: id.to_string(),
        });
    }

    /// Abandons every in-progress action of the execution's current stage and leaves it.
    fn abandon(&mut self, id: &str, stage: usize) {
        let now = self.now;
        let mut cancelled = Vec::new();
        for a in &mut self.run(id, stage).actions {
            if a.status == ActionStatus::InProgress {
                a.status = ActionStatus::Abandoned;
                a.updated_ms = Some(now);
                if let Some(job) = &a.job_id {
                    cancelled.push(job.clone());
                }
            }
        }
        self.effects.extend(
            cancelled
                .into_iter()
                .map(|job_id| Effect::CancelJob { job_id }),
        );
        self.abandon_condition(id, stage);
        let run = self.run(id, stage);
        run.status = StageStatus::Stopped;
        run.retrying = false;
        self.release(id, stage);
    }

    fn stop(&mut self, id: &str, abandon: bool, reason: Option<String>) -> Result<(), Error> {
        let e = self
            .rt
            .executions
            .get(id)
            .ok_or_else(|| Error::ExecutionNotFound(id.into()))?;
        if e.status.is_finished() {
            return Err(Error::NotStoppable(format!(
                "Pipeline execution {id} is {} and cannot be stopped",
                e.status.as_str()
            )));
        }
        if e.status == ExecutionStatus::Stopping && (!abandon || e.abandoning) {
            return Err(Error::DuplicatedStop(format!(
                "Pipeline execution {id} is already being stopped"
            )));
        }
        let position = e.position.clone();
        let now = self.now;
        let e = self.exec(id);
        e.status_summary = reason;
        e.updated_ms = now;
        match position {
            Position::Waiting { .. } | Position::Finished => {
                let summary = self.exec(id).status_summary.clone();
                self.finish(id, ExecutionStatus::Stopped, summary);
            }
            Position::InStage(stage) if abandon => {
                self.exec(id).abandoning = true;
                self.abandon(id, stage);
                let summary = self.exec(id).status_summary.clone();
                self.finish(id, ExecutionStatus::Stopped, summary);
            }
            Position::InStage(stage) => {
                self.exec(id).status = ExecutionStatus::Stopping;
                self.run(id, stage).status = StageStatus::Stopping;
                self.advance(id, stage);
            }
        }
        Ok(())
    }

    fn retry(&mut self, id: &str, stage_name: &str, mode: RetryMode) -> Result<(), Error> {
        let stage = self
            .rt
            .stage_index(stage_name)
            .ok_or_else(|| Error::StageNotFound(stage_name.into()))?;
        let e = self
            .rt
            .executions
            .get(id)
            .ok_or_else(|| Error::ExecutionNotFound(id.into()))?;
        let slot = &self.rt.slots[stage];
        // Under PARALLEL each execution is on its own: any of them may retry its stage.
        let parallel = self.decl.mode() == ExecutionMode::Parallel;
        if !parallel && slot.latest.as_deref() != Some(id) {
            return Err(Error::NotLatestExecution(format!(
                "Execution {id} is not the latest execution of stage {stage_name}"
            )));
        }
        let Some(run) = e.stage_runs.get(&stage) else {
            return Err(Error::StageNotRetryable(format!(
                "Execution {id} has not run stage {stage_name}"
            )));
        };
        if run.retrying
            || run.status == StageStatus::InProgress
            || run.status == StageStatus::Stopping
        {
            return Err(Error::Conflict(format!(
                "Stage {stage_name} of execution {id} is already running"
            )));
        }
        if run.status != StageStatus::Failed {
            return Err(Error::StageNotRetryable(format!(
                "Stage {stage_name} of execution {id} is {}, not Failed",
                run.status.as_str()
            )));
        }
        if e.pipeline_version != self.rt.pipeline_version {
            return Err(Error::StageNotRetryable(format!(
                "The pipeline changed since execution {id} ran stage {stage_name}"
            )));
        }
        if let Some(other) = slot.occupant.clone() {
            return Err(Error::Conflict(format!(
                "Stage {stage_name} is occupied by execution {other}"
            )));
        }
        if !parallel {
            self.rt.slots[stage].occupant = Some(id.to_string());
        }
        self.restart_stage(id, stage, mode);
        Ok(())
    }

    /// Whether `onFailure` RETRY retries this failed run of `stage` now (once per run, not
    /// while stopping).
    fn retries_automatically(&mut self, id: &str, stage: usize) -> bool {
        let declared = matches!(
            self.decl.stages.get(stage).and_then(|s| s.on_failure),
            Some(sluice_model::OnFailure::Retry { .. })
        );
        let same_version = self.exec(id).pipeline_version == self.rt.pipeline_version;
        declared && same_version && !self.run(id, stage).auto_retried
    }

    /// What a failure of `stage` in `failed` rolls back to: with `onFailure` ROLLBACK, in a
    /// standard execution of the current version, the latest succeeded execution, if any.
    fn rollback_after_failure(
        &self,
        failed: &str,
        stage: usize,
        asked: bool,
    ) -> Option<RollbackTarget> {
        let declared = asked
            || self.decl.stages.get(stage).and_then(|s| s.on_failure)
                == Some(sluice_model::OnFailure::Rollback);
        let execution = &self.rt.executions[failed];
        let standard = execution.execution_type == ExecutionType::Standard;
        let current = execution.pipeline_version == self.rt.pipeline_version;
        let stopping = execution.status == ExecutionStatus::Stopping;
        if !declared || !standard || !current || stopping {
            return None;
        }
        self.rt.last_succeeded.clone()
    }

    /// A rollback execution: it starts at `stage` with the target's artifacts and variables,
    /// runs that stage and ends.
    fn start_rollback(
        &mut self,
        id: String,
        stage: usize,
        target: RollbackTarget,
        trigger: Trigger,
    ) -> Result<(), Error> {
        if self.rt.executions.contains_key(&id) {
            return Err(Error::DuplicateExecution(id));
        }
        if self.decl.mode() == ExecutionMode::Parallel {
            return Err(Error::UnableToRollback(
                "Stage rollback is not available for pipelines in PARALLEL mode".into(),
            ));
        }
        if let Some(running) = &self.rt.slots[stage].occupant {
            return Err(Error::UnableToRollback(format!(
                "Stage {} is running execution {running}; stop it or wait for it to finish before rolling the stage back",
                self.rt.slots[stage].name
            )));
        }
        let kind = ExecutionType::Rollback {
            target: target.execution_id,
            stage,
        };
        let mut execution = self.new_execution(&id, trigger, kind);
        execution.variables = target.variables;
        execution.artifacts = target.artifacts;
        self.rt.executions.insert(id.clone(), execution);
        // A rollback is not held by the transition into its stage: it restores the stage.
        self.enter(&id, stage);
        Ok(())
    }

    /// Runs `stage` of `id` again: its failed actions, or all of them.
    fn restart_stage(&mut self, id: &str, stage: usize, mode: RetryMode) {
        let now = self.now;
        let e = self.exec(id);
        e.status = ExecutionStatus::InProgress;
        e.position = Position::InStage(stage);
        e.status_summary = None;
        e.updated_ms = now;
        let run = self.run(id, stage);
        run.status = StageStatus::InProgress;
        run.retrying = true;
        for a in &mut run.actions {
            if mode == RetryMode::AllActions || a.status != ActionStatus::Succeeded {
                if a.action_execution_id.is_some() {
                    run.past_attempts.push(a.clone());
                }
                a.status = ActionStatus::NotStarted;
            }
        }
        let first = run
            .actions
            .iter()
            .filter(|a| a.status != ActionStatus::Succeeded)
            .map(|a| a.run_order)
            .min()
            .unwrap_or(run.group);
        // An entry condition that kept the execution out is checked again before it enters.
        let entered = run
            .latest_condition(ConditionKind::BeforeEntry)
            .is_none_or(|c| {
                matches!(
                    c.status,
                    ConditionStatus::Succeeded | ConditionStatus::Overridden
                )
            });
        if self.decl.stages[stage].before_entry.is_some() && !entered {
            self.check_condition(id, stage, ConditionKind::BeforeEntry);
        } else {
            self.start_group(id, stage, first);
        }
    }

    fn pipeline_updated(&mut self, version: i64) {
        let active: Vec<(String, Position)> = self
            .rt
            .executions
            .values()
            .filter(|e| !e.status.is_finished())
            .map(|e| (e.id.clone(), e.position.clone()))
            .collect();
        for (id, position) in active {
            if let Position::InStage(stage) = position {
                self.abandon(&id, stage);
            }
            self.finish(
                &id,
                ExecutionStatus::Stopped,
                Some(format!(
                    "Stopped because the pipeline was updated to version {version}"
                )),
            );
        }
        let old = std::mem::take(&mut self.rt.slots);
        self.rt.slots = self
            .decl
            .stages
            .iter()
            .map(|s| {
                let before = old.iter().find(|o| o.name == s.name);
                StageSlot {
                    name: s.name.clone(),
                    inbound_enabled: before.is_none_or(|b| b.inbound_enabled),
                    outbound_enabled: before.is_none_or(|b| b.outbound_enabled),
                    occupant: None,
                    waiting: None,
                    queue: Vec::new(),
                    latest: before.and_then(|b| b.latest.clone()),
                }
            })
            .collect();
        self.rt.pipeline_version = version;
    }

    fn timer_due(&mut self, timer: Timer) {
        let (found, code, message) = match &timer {
            Timer::RuleCheck { rule_execution_id } => {
                self.recheck_rule(rule_execution_id);
                return;
            }
            Timer::JobTimeout { job_id } if self.rule_job(job_id).is_some() => {
                if let Some(rule) = self.rule_job(job_id) {
                    self.rule_job_timed_out(rule, job_id.clone());
                }
                return;
            }
            Timer::JobTimeout { job_id } => (
                self.rt.find_job(job_id),
                "TimedOut",
                "The job did not report a result before its timeout".to_string(),
            ),
            Timer::ApprovalExpiry { token } => (
                self.rt.find_approval(token),
                "Expired",
                "The approval request expired: no one approved or rejected it in time".to_string(),
            ),
        };
        let Some((id, stage, i)) = found else { return };
        let now = self.now;
        let a = self.action(&id, stage, i);
        if a.status != ActionStatus::InProgress {
            return;
        }
        a.status = ActionStatus::Failed;
        a.error = Some(ErrorDetails {
            code: code.into(),
            message,
        });
        a.updated_ms = Some(now);
        if let Timer::JobTimeout { job_id } = timer {
            self.effects.push(Effect::CancelJob { job_id });
        }
        self.advance(&id, stage);
    }
}
