//! One engine step as one transaction: load the pipeline's runtime, apply inputs, turn the
//! effects into jobs, timers and outbox rows, and commit it all with the runtime — retrying
//! from a fresh read when another step for the same pipeline committed first.

use crate::ids::EngineIds;
use crate::jobs::JobDoc;
use crate::runtime_doc::{ExecutionDoc, RuntimeDoc};
use crate::{Error, Result, Sluice};
use sluice_engine::{apply, Effect, ErrorDetails, Input, Runtime, Timer};
use sluice_model::{ActionOwner, PipelineDeclaration};
use sluice_store::{
    ActionTypeKey, ExecutionRecord, JobRecord, JobStatus, OutboxRecord, StepWrite, TimerRecord,
};
use std::collections::{BTreeSet, VecDeque};

/// How often a step is recomputed after losing a race before the caller hears a conflict.
const MAX_STEP_ATTEMPTS: usize = 8;
/// How many follow-up inputs one step may generate (no-provider failures), a bound on loops.
const MAX_INPUTS_PER_STEP: usize = 1_000;

/// Writes a step carries besides what the engine produces.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepExtra {
    pub finished_jobs: Vec<(String, JobStatus)>,
    pub fired_timers: Vec<TimerRecord>,
    pub request_token: Option<(String, String)>,
}

pub(crate) fn timer_key(timer: &Timer) -> String {
    match timer {
        Timer::JobTimeout { job_id } => format!("job:{job_id}"),
        Timer::ApprovalExpiry { token } => format!("approval:{token}"),
        Timer::RuleCheck { rule_execution_id } => format!("rule:{rule_execution_id}"),
    }
}

pub(crate) fn parse_timer_key(key: &str) -> Option<Timer> {
    match key.split_once(':')? {
        ("job", id) => Some(Timer::JobTimeout { job_id: id.into() }),
        ("approval", token) => Some(Timer::ApprovalExpiry {
            token: token.into(),
        }),
        ("rule", id) => Some(Timer::RuleCheck {
            rule_execution_id: id.into(),
        }),
        _ => None,
    }
}

impl Sluice {
    /// The runtime as stored, or a fresh one whose transitions are those recorded.
    pub(crate) async fn load_runtime(
        &self,
        pipeline: &str,
        declaration: &PipelineDeclaration,
    ) -> Result<(Runtime, i64)> {
        if let Some(record) = self.store().runtime(pipeline).await? {
            return Ok((RuntimeDoc::from_json(&record.doc)?.to_engine()?, record.rev));
        }
        let mut runtime = Runtime::new(declaration);
        for t in self.store().transitions(pipeline).await? {
            if let Some(slot) = runtime.slots.iter_mut().find(|s| s.name == t.stage) {
                match t.direction {
                    sluice_store::TransitionDirection::Inbound => slot.inbound_enabled = t.enabled,
                    sluice_store::TransitionDirection::Outbound => {
                        slot.outbound_enabled = t.enabled
                    }
                }
            }
        }
        Ok((runtime, 0))
    }

    /// Applies `inputs` to the pipeline's runtime in one transaction and returns the runtime
    /// as committed.
    pub(crate) async fn step(
        &self,
        pipeline: &str,
        inputs: Vec<Input>,
        extra: StepExtra,
    ) -> Result<Runtime> {
        let rules = self.compiled_rules().await?;
        for _ in 0..MAX_STEP_ATTEMPTS {
            let record = self.current_pipeline(pipeline).await?;
            let declaration = record.declaration.to_model();
            let (mut runtime, rev) = self.load_runtime(pipeline, &declaration).await?;
            // UpdatePipeline commits the new version, then steps the runtime; a crash between
            // the two leaves a runtime of the old version, which the next step brings up first.
            let mut attempt = inputs.clone();
            if runtime.pipeline_version != declaration.version
                && !matches!(attempt.first(), Some(Input::PipelineUpdated { .. }))
            {
                attempt.insert(
                    0,
                    Input::PipelineUpdated {
                        version: declaration.version,
                    },
                );
            }
            let step = Step {
                pipeline_arn: &record.arn,
                declaration: &declaration,
                rev,
                extra: &extra,
                rules: &rules,
            };
            let write = self.compute(&step, &mut runtime, attempt)?;
            match self.store().commit_step(&write).await {
                Ok(()) => {
                    self.count_change();
                    self.announce_jobs(&write.new_jobs);
                    if !write.outbox.is_empty() {
                        self.wake_outbox();
                    }
                    return Ok(runtime);
                }
                Err(sluice_store::Error::VersionConflict { .. }) => continue,
                Err(sluice_store::Error::NotFound(_)) => {
                    return Err(self.pipeline_not_found(pipeline))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::ConcurrentModification(format!(
            "pipeline {pipeline} is changing too quickly; retry"
        )))
    }

    fn compute(&self, step: &Step, runtime: &mut Runtime, inputs: Vec<Input>) -> Result<StepWrite> {
        let Step {
            pipeline_arn,
            declaration,
            rev,
            extra,
            rules,
        } = *step;
        let now = self.now_ms();
        let pipeline = declaration.name.clone();
        let mut ids = EngineIds(self.inner.ids.as_ref());
        let mut write = StepWrite {
            pipeline: pipeline.clone(),
            expected_rev: rev,
            finished_jobs: extra.finished_jobs.clone(),
            fired_timers: extra.fired_timers.clone(),
            request_token: extra.request_token.clone(),
            ..Default::default()
        };
        let before = runtime.executions.clone();
        let mut queue: VecDeque<Input> = inputs.into();
        let mut refused_jobs = BTreeSet::new();
        let mut applied = 0;
        while let Some(input) = queue.pop_front() {
            applied += 1;
            if applied > MAX_INPUTS_PER_STEP {
                return Err(Error::Internal(format!(
                    "step of {pipeline} did not settle"
                )));
            }
            let effects = apply(
                runtime,
                declaration,
                &self.inner.options.engine,
                now,
                &mut ids,
                input,
            )?;
            for effect in effects {
                match effect {
                    Effect::QueueJob(spec) => {
                        let served_here = spec.action_type_id.owner != ActionOwner::Aws.as_str()
                            || self.options().providers.contains(&spec.action_type_id);
                        let status = if served_here {
                            JobStatus::Queued
                        } else {
                            JobStatus::Failed
                        };
                        if !served_here {
                            // An AWS-owned type no provider here runs fails at once, never hangs.
                            refused_jobs.insert(spec.job_id.clone());
                            queue.push_back(Input::JobFailed {
                                job_id: spec.job_id.clone(),
                                error: ErrorDetails {
                                    code: "JobFailed".into(),
                                    message: format!(
                                        "no provider for {} is available on this server; {}",
                                        spec.action_type_id,
                                        instead_of(
                                            &spec.action_type_id,
                                            self.options().providers.is_empty()
                                        )
                                    ),
                                },
                                external_execution_id: None,
                            });
                        }
                        let doc = JobDoc::new(&spec, &pipeline, pipeline_arn, declaration);
                        write.new_jobs.push(JobRecord {
                            job_id: spec.job_id.clone(),
                            pipeline: pipeline.clone(),
                            execution_id: spec.execution_id.clone(),
                            action_type: ActionTypeKey::from(&spec.action_type_id),
                            status,
                            nonce: None,
                            data: doc.to_json(),
                            created_ms: now,
                            updated_ms: now,
                        });
                    }
                    Effect::CancelJob { job_id } => {
                        write.finished_jobs.push((job_id, JobStatus::Cancelled))
                    }
                    Effect::RequestApproval {
                        token,
                        execution_id: _,
                        stage,
                        action,
                        configuration,
                        expires_ms,
                    } => {
                        // No topic, no notification: the approval waits all the same.
                        if let Some(topic) = configuration.get("NotificationArn") {
                            let links = crate::notifications::ConsoleLinks::new(self, &pipeline);
                            let review = links.approval(&stage, &action, &token);
                            let request = sluice_events::sns::ApprovalRequest {
                                region: &self.options().region,
                                console_link: &links.pipeline,
                                pipeline: &pipeline,
                                stage: &stage,
                                action: &action,
                                token: &token,
                                expires_ms,
                                external_entity_link: configuration
                                    .get("ExternalEntityLink")
                                    .map(String::as_str),
                                approval_review_link: &review,
                                custom_data: configuration.get("CustomData").map(String::as_str),
                            };
                            let publication = crate::notifications::Publication {
                                message_id: self.inner.ids.uuid(),
                                subject: Some(request.subject()),
                                message: request.message().to_string(),
                                per_protocol: false,
                                attributes: Default::default(),
                                timestamp_ms: now,
                            };
                            write
                                .outbox
                                .push(publication.row(self.inner.ids.uuid(), topic, now));
                        }
                    }
                    Effect::SetTimer { timer, at_ms } => {
                        let refused = matches!(&timer, Timer::JobTimeout { job_id } if refused_jobs.contains(job_id));
                        if !refused {
                            write.new_timers.push(TimerRecord {
                                pipeline: pipeline.clone(),
                                key: timer_key(&timer),
                                due_ms: at_ms,
                            });
                        }
                    }
                    Effect::ExecutionFinished { .. } => {}
                }
            }
        }
        for job_id in &refused_jobs {
            write.finished_jobs.retain(|(id, _)| id != job_id);
        }
        // Only executions this step changed are written; the rest are already stored as they are.
        for execution in runtime
            .executions
            .values()
            .filter(|e| before.get(&e.id) != Some(*e))
        {
            write.executions.push(ExecutionRecord {
                pipeline: pipeline.clone(),
                execution_id: execution.id.clone(),
                status: execution.status.as_str().into(),
                started_ms: execution.started_ms,
                updated_ms: execution.updated_ms,
                doc: ExecutionDoc::from(execution).to_json(),
            });
        }
        if rules.iter().any(|r| r.enabled()) {
            let mut new_id = || self.inner.ids.uuid();
            let origin = crate::notifications::state_events::Origin {
                account: &self.options().account_id,
                region: &self.options().region,
                pipeline_arn,
            };
            let events = crate::notifications::state_events::state_changes(
                &mut new_id,
                &origin,
                declaration,
                &before,
                &runtime.executions,
                now,
            );
            for event in events {
                if crate::notifications::event_rules::any_match(rules, &event) {
                    write.outbox.push(OutboxRecord::new(
                        self.inner.ids.uuid(),
                        "event",
                        String::new(),
                        event.to_string(),
                        now,
                    ));
                }
            }
        }
        runtime.prune();
        write.runtime_doc = RuntimeDoc::from(&*runtime).to_json();
        Ok(write)
    }
}

/// What one step is computed from, besides the runtime and the inputs.
struct Step<'a> {
    pipeline_arn: &'a str,
    declaration: &'a PipelineDeclaration,
    /// The runtime's `rev` the step starts from.
    rev: i64,
    extra: &'a StepExtra,
    /// EventBridge's rules: a state change no enabled rule matches is not written.
    rules: &'a [crate::notifications::event_rules::CompiledRule],
}

/// What to use instead of an AWS-owned action type this server does not run.
fn instead_of(action_type: &sluice_model::ActionTypeId, providers_off: bool) -> &'static str {
    let built_in = [
        "S3",
        "CodeCommit",
        "Commands",
        "CodeBuild",
        "CodeDeploy",
        "Lambda",
    ];
    if providers_off && built_in.contains(&action_type.provider.as_str()) {
        return "this server runs with its built-in providers turned off ([providers] enabled = false); turn them on, or run the action type with a worker";
    }
    match action_type.provider.as_str() {
        "ElasticBeanstalk" => return "Elastic Beanstalk has no self-hosted counterpart here; deploy to your hosts with a CodeDeploy action and `sluice agent` instead",
        "OpsWorks" => return "AWS retired OpsWorks in 2024 and there is no self-hosted OpsWorks here; deploy to your hosts with a CodeDeploy action and `sluice agent` instead",
        _ => {}
    }
    match action_type.category.as_str() {
        "Deploy" => "deploy with a CodeDeploy action to hosts running `sluice agent`, from a Compute/AWS/Commands action, or from a custom action type run by `sluice worker`",
        "Invoke" => "run the step as a Compute/AWS/Commands action or a custom action type run by `sluice worker`",
        "Source" => "use an S3, CodeCommit (hosted by this server) or GitHub source",
        _ => "use a Compute/AWS/Commands action, a CodeBuild action, or a custom action type run by `sluice worker`",
    }
}
