//! Executions: start (idempotent with a client token), read, list, stop, retry, approvals,
//! the state view, and persisted timers coming due.

use crate::run_step::{parse_timer_key, StepExtra};
use crate::runtime_doc::ExecutionDoc;
use crate::{Caller, Error, Page, Result, Sluice};
use sluice_engine::{
    ActionStatus, ApprovalDecision, Execution, Input, Position, RetryMode, Trigger,
};
use sluice_store::TimerRecord;
use std::collections::BTreeMap;

const LIST_SCOPE: &str = "ListPipelineExecutions";
/// Executions per page when the caller gives no `maxResults`.
const DEFAULT_EXECUTION_PAGE: usize = 100;
/// Timers fired per sweep; the rest wait for the next one.
pub const TIMER_BATCH: usize = 100;

/// A revision of a source artifact an execution runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactRevision {
    pub name: String,
    pub revision_id: String,
    pub summary: Option<String>,
    pub created_ms: i64,
}

/// `GetPipelineExecution` and `ListPipelineExecutions` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionView {
    pub pipeline: String,
    pub pipeline_version: i64,
    pub id: String,
    pub status: String,
    pub status_summary: Option<String>,
    pub trigger: Trigger,
    /// The execution mode the execution ran in (`SUPERSEDED`, `QUEUED`, `PARALLEL`).
    pub mode: &'static str,
    /// The pipeline variables' values in this execution.
    pub variables: BTreeMap<String, String>,
    /// For a rollback execution, the execution it rolls back to.
    pub rollback_target: Option<String>,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub artifact_revisions: Vec<ArtifactRevision>,
}

/// What a `StartPipelineExecution` may change for one execution.
#[derive(Debug, Clone, Default)]
pub struct StartOverrides {
    /// Values for declared pipeline variables.
    pub variables: BTreeMap<String, String>,
    /// Source action → the revision it fetches instead of the latest.
    pub source_revisions: BTreeMap<String, sluice_engine::SourceRevision>,
}

/// Which revision types a built-in source provider takes.
fn revision_types(provider: &str) -> &'static [&'static str] {
    match provider {
        "S3" => &["S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"],
        "CodeCommit" | "GitHub" | "CodeStarSourceConnection" => &["COMMIT_ID"],
        _ => &[],
    }
}

impl Sluice {
    /// Checks `sourceRevisions` against the pipeline: each names a source action of the first
    /// stage whose provider runs here and takes that revision type.
    async fn check_source_revisions(
        &self,
        pipeline: &str,
        revisions: &BTreeMap<String, sluice_engine::SourceRevision>,
    ) -> Result<()> {
        if revisions.is_empty() {
            return Ok(());
        }
        let declaration = self
            .current_pipeline(pipeline)
            .await?
            .declaration
            .to_model();
        for (action, revision) in revisions {
            let source = declaration
                .stages
                .first()
                .and_then(|s| s.actions.iter().find(|a| &a.name == action))
                .filter(|a| a.action_type_id.is_source());
            let Some(source) = source else {
                return Err(Error::Validation(format!(
                    "sourceRevisions names {action}, which is not a source action of pipeline {pipeline}"
                )));
            };
            let provider = &source.action_type_id.provider;
            let built_in = source.action_type_id.owner != "Custom";
            if !built_in || !revision_types(provider).contains(&revision.kind.as_str()) {
                return Err(Error::Validation(format!(
                    "Source action {action} ({}) does not take a revision override of type {}",
                    source.action_type_id, revision.kind
                )));
            }
        }
        Ok(())
    }

    /// Starts an execution of the latest pipeline version. A repeated `client_request_token`
    /// returns the execution it started the first time.
    pub async fn start_pipeline_execution(
        &self,
        pipeline: &str,
        trigger: Trigger,
        overrides: StartOverrides,
        client_request_token: Option<String>,
    ) -> Result<String> {
        if let Some(token) = &client_request_token {
            if let Some(existing) = self
                .store()
                .execution_for_request_token(pipeline, token)
                .await?
            {
                return Ok(existing);
            }
        }
        self.check_source_revisions(pipeline, &overrides.source_revisions)
            .await?;
        let id = self.inner.ids.uuid();
        let extra = StepExtra {
            request_token: client_request_token.map(|t| (t, id.clone())),
            ..Default::default()
        };
        self.step(
            pipeline,
            vec![Input::Start {
                execution_id: id.clone(),
                trigger,
                variables: overrides.variables,
                source_revisions: overrides.source_revisions,
            }],
            extra,
        )
        .await?;
        Ok(id)
    }

    pub(crate) async fn execution_doc(&self, pipeline: &str, id: &str) -> Result<Execution> {
        self.current_pipeline(pipeline).await?;
        let record = self
            .store()
            .execution(pipeline, id)
            .await?
            .ok_or_else(|| Error::PipelineExecutionNotFound(id.into()))?;
        ExecutionDoc::from_json(&record.doc)?.to_engine()
    }

    pub(crate) async fn view(&self, pipeline: &str, e: &Execution) -> Result<ExecutionView> {
        self.view_with(pipeline, e, None).await
    }

    /// `view`, given the declaration of the execution's own version when the caller has it.
    pub(crate) async fn view_with(
        &self,
        pipeline: &str,
        e: &Execution,
        known: Option<&sluice_model::PipelineDeclaration>,
    ) -> Result<ExecutionView> {
        let declaration = match known {
            Some(d) => Some(d.clone()),
            None => self
                .store()
                .get_pipeline(pipeline, Some(e.pipeline_version))
                .await?
                .map(|r| r.declaration.to_model()),
        };
        let mut artifact_revisions = Vec::new();
        if let (Some(declaration), Some(source)) = (declaration, e.stage_runs.get(&0)) {
            for run in &source.actions {
                let Some(revision) = &run.current_revision else {
                    continue;
                };
                let declared = declaration
                    .stages
                    .first()
                    .and_then(|s| s.actions.iter().find(|a| a.name == run.name));
                for name in declared
                    .map(|a| a.output_artifacts.clone())
                    .unwrap_or_default()
                {
                    artifact_revisions.push(ArtifactRevision {
                        name,
                        revision_id: revision.clone(),
                        summary: run.summary.clone(),
                        created_ms: run.updated_ms.unwrap_or(e.started_ms),
                    });
                }
            }
        }
        Ok(ExecutionView {
            pipeline: pipeline.into(),
            pipeline_version: e.pipeline_version,
            id: e.id.clone(),
            status: e.status.as_str().into(),
            status_summary: e.status_summary.clone(),
            trigger: e.trigger.clone(),
            mode: e.mode.as_str(),
            variables: e.variables.clone(),
            rollback_target: match &e.execution_type {
                sluice_engine::ExecutionType::Standard => None,
                sluice_engine::ExecutionType::Rollback { target, .. } => Some(target.clone()),
            },
            started_ms: e.started_ms,
            updated_ms: e.updated_ms,
            artifact_revisions,
        })
    }

    pub async fn get_pipeline_execution(&self, pipeline: &str, id: &str) -> Result<ExecutionView> {
        let e = self.execution_doc(pipeline, id).await?;
        self.view(pipeline, &e).await
    }

    /// Executions newest first.
    pub async fn list_pipeline_executions(
        &self,
        pipeline: &str,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<Page<ExecutionView>> {
        self.current_pipeline(pipeline).await?;
        let scope = format!("{LIST_SCOPE}:{pipeline}");
        let before = next_token
            .map(|t| crate::pagination::position_of(&self.inner.tokens, &scope, t))
            .transpose()?
            .map(|p| (p.created_ms, p.name));
        let limit = max_results.unwrap_or(DEFAULT_EXECUTION_PAGE).max(1);
        let mut records = self
            .store()
            .list_executions(pipeline, before, limit + 1)
            .await?;
        let next_token = crate::pagination::next_page_token(
            &self.inner.tokens,
            &scope,
            &mut records,
            limit,
            |r| sluice_store::PagePosition {
                created_ms: r.started_ms,
                name: r.execution_id.clone(),
            },
        );
        let mut items = Vec::with_capacity(records.len());
        for r in records {
            let e = ExecutionDoc::from_json(&r.doc)?.to_engine()?;
            items.push(self.view(pipeline, &e).await?);
        }
        Ok(Page { items, next_token })
    }

    pub async fn stop_pipeline_execution(
        &self,
        pipeline: &str,
        id: &str,
        abandon: bool,
        reason: Option<String>,
    ) -> Result<()> {
        let e = self.execution_doc(pipeline, id).await?;
        if e.status.is_finished() {
            return Err(Error::PipelineExecutionNotStoppable(format!(
                "Pipeline execution {id} is {} and cannot be stopped",
                e.status.as_str()
            )));
        }
        let input = Input::Stop {
            execution_id: id.into(),
            abandon,
            reason,
        };
        self.step(pipeline, vec![input], StepExtra::default())
            .await?;
        Ok(())
    }

    pub async fn retry_stage_execution(
        &self,
        pipeline: &str,
        id: &str,
        stage: &str,
        mode: RetryMode,
    ) -> Result<String> {
        self.pipeline_with_stage(pipeline, stage).await?;
        // An execution the pipeline no longer holds cannot be the latest of any stage.
        let not_latest = |e: Error| match e {
            Error::PipelineExecutionNotFound(m) => Error::NotLatestPipelineExecution(format!(
                "Execution {m} is not the latest execution of stage {stage}"
            )),
            other => other,
        };
        self.execution_doc(pipeline, id).await.map_err(not_latest)?;
        let input = Input::Retry {
            execution_id: id.into(),
            stage: stage.into(),
            mode,
        };
        self.step(pipeline, vec![input], StepExtra::default())
            .await
            .map_err(not_latest)?;
        Ok(id.into())
    }

    /// `RollbackStage`: a rollback execution that runs `stage` again with the artifacts and
    /// variables of the succeeded execution `target`; returns its id.
    pub async fn rollback_stage(
        &self,
        pipeline: &str,
        stage: &str,
        target: &str,
        trigger: Trigger,
    ) -> Result<String> {
        let (_, declaration) = self.pipeline_with_stage(pipeline, stage).await?;
        let target_execution = self.execution_doc(pipeline, target).await?;
        let unable = |why: String| Error::UnableToRollbackStage(why);
        if target_execution.status != sluice_engine::ExecutionStatus::Succeeded
            || target_execution.execution_type != sluice_engine::ExecutionType::Standard
        {
            return Err(unable(format!(
                "The target pipeline execution {target} is {}; a stage rolls back only to a succeeded standard execution",
                target_execution.status.as_str()
            )));
        }
        let index = declaration
            .stages
            .iter()
            .position(|s| s.name == stage)
            .unwrap_or_default();
        let ran = target_execution
            .stage_runs
            .get(&index)
            .is_some_and(|run| run.status == sluice_engine::StageStatus::Succeeded);
        if !ran || target_execution.pipeline_version != declaration.version {
            return Err(unable(format!(
                "The target pipeline execution {target} did not run stage {stage} of the current pipeline version"
            )));
        }
        let id = self.inner.ids.uuid();
        let input = Input::Rollback {
            execution_id: id.clone(),
            stage: stage.into(),
            target: sluice_engine::RollbackTarget {
                execution_id: target.into(),
                artifacts: target_execution.artifacts.clone(),
                variables: target_execution.variables.clone(),
            },
            trigger,
        };
        self.step(pipeline, vec![input], StepExtra::default())
            .await?;
        Ok(id)
    }

    /// Approves or rejects a manual approval; returns when it was recorded.
    pub async fn put_approval_result(
        &self,
        caller: &Caller,
        answer: ApprovalAnswer,
    ) -> Result<i64> {
        let ApprovalAnswer {
            pipeline,
            stage,
            action,
            token,
            approved,
            summary,
        } = answer;
        let (pipeline, stage, action, token) = (
            pipeline.as_str(),
            stage.as_str(),
            action.as_str(),
            token.as_str(),
        );
        let record = self.current_pipeline(pipeline).await?;
        let declaration = record.declaration.to_model();
        let declared_stage = declaration
            .stage(stage)
            .ok_or_else(|| Error::StageNotFound {
                pipeline: pipeline.into(),
                stage: stage.into(),
            })?;
        if !declared_stage.actions.iter().any(|a| a.name == action) {
            return Err(Error::ActionNotFound(action.into()));
        }
        let (runtime, _) = self.load_runtime(pipeline, &declaration).await?;
        let (exec, stage_index, action_index) = runtime
            .find_approval(token)
            .ok_or(Error::InvalidApprovalToken)?;
        let run = &runtime.executions[&exec].stage_runs[&stage_index];
        if runtime.slots.get(stage_index).map(|s| s.name.as_str()) != Some(stage)
            || run.actions[action_index].name != action
        {
            return Err(Error::InvalidApprovalToken);
        }
        let decision = ApprovalDecision {
            approved,
            summary,
            by: caller.arn.clone(),
        };
        self.step(
            pipeline,
            vec![Input::ApprovalResult {
                token: token.into(),
                decision,
            }],
            StepExtra::default(),
        )
        .await?;
        Ok(self.now_ms())
    }

    /// Fires every persisted timer that has come due; returns how many fired.
    pub async fn fire_due_timers(&self) -> Result<usize> {
        let due = self.store().due_timers(self.now_ms(), TIMER_BATCH).await?;
        let mut by_pipeline: BTreeMap<String, Vec<TimerRecord>> = BTreeMap::new();
        for t in due {
            by_pipeline.entry(t.pipeline.clone()).or_default().push(t);
        }
        let mut fired = 0;
        for (pipeline, timers) in by_pipeline {
            let inputs = timers
                .iter()
                .filter_map(|t| parse_timer_key(&t.key))
                .map(|timer| Input::TimerDue { timer })
                .collect();
            let count = timers.len();
            let extra = StepExtra {
                fired_timers: timers,
                ..Default::default()
            };
            // One pipeline's failure is its own: the others' timers fire all the same, and its
            // timers stay due for the next sweep.
            match self.step(&pipeline, inputs, extra).await {
                Ok(_) | Err(Error::PipelineNotFound { .. }) => fired += count,
                Err(e) => {
                    tracing::error!(pipeline, error = %e, "the timers of a pipeline could not fire")
                }
            }
        }
        Ok(fired)
    }
}

/// An approver's answer to the approval `token` of `pipeline/stage/action`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalAnswer {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub token: String,
    pub approved: bool,
    pub summary: String,
}

/// Renders an action's entity URL and, given an external execution id, its execution URL.
pub(crate) type ActionUrls<'a> = &'a dyn Fn(&str, Option<&str>) -> (Option<String>, Option<String>);

/// The latest execution of a stage, those in line to enter it (first first), and the latest
/// run of each action.
pub(crate) type StageViews = (
    Option<StageExecutionView>,
    Vec<StageExecutionView>,
    BTreeMap<String, ActionExecutionView>,
);

/// The latest run of one action, for `GetPipelineState`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionExecutionView {
    pub action_execution_id: Option<String>,
    pub status: String,
    pub summary: Option<String>,
    pub last_status_change_ms: i64,
    pub token: Option<String>,
    pub last_updated_by: Option<String>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub percent_complete: Option<i64>,
    pub error: Option<(String, String)>,
    pub current_revision: Option<String>,
}

/// What `GetPipelineState` shows of one action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionStateView {
    pub name: String,
    pub entity_url: Option<String>,
    pub latest: Option<ActionExecutionView>,
}

/// An execution's status in a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageExecutionView {
    pub execution_id: String,
    pub status: String,
}

pub(crate) fn stage_views(
    runtime: &sluice_engine::Runtime,
    stage_index: usize,
    action_url: ActionUrls<'_>,
) -> StageViews {
    let slot = &runtime.slots[stage_index];
    let mut actions = BTreeMap::new();
    let latest = slot
        .latest
        .as_ref()
        .and_then(|id| runtime.executions.get(id))
        .and_then(|e| {
            let run = e.stage_runs.get(&stage_index)?;
            for a in run
                .actions
                .iter()
                .filter(|a| a.status != ActionStatus::NotStarted)
            {
                let (_, url) = action_url(&a.name, a.external_execution_id.as_deref());
                actions.insert(
                    a.name.clone(),
                    ActionExecutionView {
                        action_execution_id: a.action_execution_id.clone(),
                        status: a.status.as_str().into(),
                        summary: a.summary.clone(),
                        last_status_change_ms: a.updated_ms.unwrap_or(e.updated_ms),
                        token: a
                            .approval_token
                            .clone()
                            .filter(|_| a.status == ActionStatus::InProgress),
                        last_updated_by: a.last_updated_by.clone(),
                        external_execution_id: a.external_execution_id.clone(),
                        external_execution_url: url.filter(|_| a.external_execution_id.is_some()),
                        percent_complete: a.percent_complete,
                        error: a
                            .error
                            .as_ref()
                            .map(|x| (x.code.clone(), x.message.clone())),
                        current_revision: a.current_revision.clone(),
                    },
                );
            }
            let status = match (&e.position, run.status) {
                // A stage an execution is stopping in shows Stopping, whatever its run says.
                (Position::InStage(i), _)
                    if *i == stage_index
                        && e.status == sluice_engine::ExecutionStatus::Stopping =>
                {
                    "Stopping".to_string()
                }
                (_, s) => s.as_str().to_string(),
            };
            Some(StageExecutionView {
                execution_id: e.id.clone(),
                status,
            })
        });
    let inbound = slot
        .in_line()
        .map(|id| StageExecutionView {
            execution_id: id.clone(),
            status: "InProgress".into(),
        })
        .collect();
    (latest, inbound, actions)
}

/// One attempt of one action, for `ListActionExecutions`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionAttemptView {
    pub execution_id: String,
    pub action_execution_id: String,
    pub pipeline_version: i64,
    pub stage: String,
    pub action: String,
    pub status: String,
    pub start_ms: i64,
    pub last_update_ms: i64,
    pub updated_by: Option<String>,
    pub declaration: Option<sluice_model::ActionDeclaration>,
    pub input_artifacts: Vec<(String, Option<(String, String)>)>,
    pub output_artifacts: Vec<(String, Option<(String, String)>)>,
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub error: Option<(String, String)>,
    pub output_variables: BTreeMap<String, String>,
    /// The configuration the attempt ran with, variables resolved and secrets masked.
    pub resolved_configuration: BTreeMap<String, String>,
}

const ACTION_LIST_SCOPE: &str = "ListActionExecutions";

impl Sluice {
    /// The declaration (secrets masked) of every version `executions` ran, by version.
    pub(crate) async fn declarations_of(
        &self,
        pipeline: &str,
        executions: &[Execution],
    ) -> Result<BTreeMap<i64, Option<sluice_model::PipelineDeclaration>>> {
        let mut declarations = BTreeMap::new();
        for e in executions {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                declarations.entry(e.pipeline_version)
            {
                let record = self
                    .store()
                    .get_pipeline(pipeline, Some(e.pipeline_version))
                    .await?;
                slot.insert(record.map(|r| Self::mask_sealed(&r.declaration.to_model())));
            }
        }
        Ok(declarations)
    }

    /// Every attempt of every action, newest execution first; optionally of one execution, and
    /// optionally only each action's latest attempt (`latest_only`). Without an execution the
    /// listing walks the pipeline's history a page at a time: the token names the execution
    /// the next page starts in and how many of its attempts came before.
    pub async fn list_action_executions(
        &self,
        pipeline: &str,
        execution_id: Option<&str>,
        latest_only: bool,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<Page<ActionAttemptView>> {
        let listing = HistoryListing {
            operation: ACTION_LIST_SCOPE,
            pipeline,
            execution_id,
            latest_only,
            max_results,
            next_token,
        };
        self.history_page(listing, |e, declarations| {
            attempts_of(e, declarations, latest_only)
        })
        .await
    }

    /// A page of what `items_of` finds in one execution (`execution_id`) or, without one, in
    /// the pipeline's history newest execution first, read a few executions at a time: the
    /// token names the execution the next page starts in and how many of its items came
    /// before.
    pub(crate) async fn history_page<T: Clone>(
        &self,
        listing: HistoryListing<'_>,
        items_of: impl Fn(&Execution, &Declarations) -> Vec<T>,
    ) -> Result<Page<T>> {
        let HistoryListing {
            operation,
            pipeline,
            execution_id,
            latest_only,
            max_results,
            next_token,
        } = listing;
        // A token is bound to its listing: the operation, the pipeline and the filters.
        let scope = &format!(
            "{operation}:{pipeline}:{}:{latest_only}",
            execution_id.unwrap_or("")
        );
        let limit = max_results.unwrap_or(100).max(1);
        if let Some(id) = execution_id {
            let execution = self.execution_doc(pipeline, id).await?;
            let declarations = self
                .declarations_of(pipeline, std::slice::from_ref(&execution))
                .await?;
            let all = items_of(&execution, &declarations);
            return crate::pagination::offset_page(
                &self.inner.tokens,
                scope,
                &all,
                limit,
                next_token,
            );
        }
        self.current_pipeline(pipeline).await?;
        // Where the page starts: in the named execution, past its first `skip` items.
        let (mut first, mut skip) = (None, 0);
        let mut before = None;
        if let Some(token) = next_token {
            let position = self
                .inner
                .tokens
                .verify(scope, token)
                .ok_or(Error::InvalidNextToken)?;
            let mut parts = position.splitn(3, '/');
            let (Some(ms), Some(skipped), Some(id)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(Error::InvalidNextToken);
            };
            let ms: i64 = ms.parse().map_err(|_| Error::InvalidNextToken)?;
            skip = skipped.parse().map_err(|_| Error::InvalidNextToken)?;
            // An execution pruned since the last page is passed over.
            first = self.store().execution(pipeline, id).await?;
            if first.is_none() {
                skip = 0;
            }
            before = Some((ms, id.to_string()));
        }
        let mut declarations = BTreeMap::new();
        let mut items = Vec::new();
        loop {
            let batch = match first.take() {
                Some(record) => vec![record],
                None => {
                    self.store()
                        .list_executions(pipeline, before.clone(), EXECUTIONS_PER_READ)
                        .await?
                }
            };
            let exhausted = batch.is_empty();
            for record in batch {
                let execution = ExecutionDoc::from_json(&record.doc)?.to_engine()?;
                if !declarations.contains_key(&execution.pipeline_version) {
                    declarations.extend(
                        self.declarations_of(pipeline, std::slice::from_ref(&execution))
                            .await?,
                    );
                }
                let found = items_of(&execution, &declarations);
                for (index, item) in found.into_iter().enumerate().skip(skip) {
                    if items.len() == limit {
                        let position =
                            format!("{}/{index}/{}", record.started_ms, record.execution_id);
                        let next_token = Some(self.inner.tokens.sign(scope, &position));
                        return Ok(Page { items, next_token });
                    }
                    items.push(item);
                }
                skip = 0;
                before = Some((record.started_ms, record.execution_id));
            }
            if exhausted {
                return Ok(Page {
                    items,
                    next_token: None,
                });
            }
        }
    }
}

/// What `history_page` lists.
pub(crate) struct HistoryListing<'a> {
    pub operation: &'static str,
    pub pipeline: &'a str,
    /// One execution's items, rather than the history's.
    pub execution_id: Option<&'a str>,
    pub latest_only: bool,
    pub max_results: Option<usize>,
    pub next_token: Option<&'a str>,
}

/// The declarations (secrets masked) of the pipeline versions executions ran, by version.
pub(crate) type Declarations = BTreeMap<i64, Option<sluice_model::PipelineDeclaration>>;

/// Executions one read of the history takes, while a page of action executions fills.
const EXECUTIONS_PER_READ: usize = 20;

/// The attempts of one execution's actions, in stage order, as `ListActionExecutions` shows
/// them.
fn attempts_of(
    e: &Execution,
    declarations: &Declarations,
    latest_only: bool,
) -> Vec<ActionAttemptView> {
    let mut all = Vec::new();
    let declaration = declarations.get(&e.pipeline_version).cloned().flatten();
    for (stage_index, run) in &e.stage_runs {
        let stage = declaration
            .as_ref()
            .and_then(|d| d.stages.get(*stage_index));
        let stage_name = stage.map(|s| s.name.clone()).unwrap_or_default();
        let earlier = if latest_only {
            &[][..]
        } else {
            &run.past_attempts[..]
        };
        for a in earlier.iter().chain(run.actions.iter()) {
            let Some(action_execution_id) = a.action_execution_id.clone() else {
                continue;
            };
            let declared = stage
                .and_then(|s| s.actions.iter().find(|d| d.name == a.name))
                .cloned();
            let locate = |names: &[String]| -> Vec<(String, Option<(String, String)>)> {
                names
                    .iter()
                    .map(|n| {
                        (
                            n.clone(),
                            e.artifacts
                                .get(n)
                                .map(|l| (l.bucket.clone(), l.key.clone())),
                        )
                    })
                    .collect()
            };
            all.push(ActionAttemptView {
                execution_id: e.id.clone(),
                action_execution_id,
                pipeline_version: e.pipeline_version,
                stage: stage_name.clone(),
                action: a.name.clone(),
                status: a.status.as_str().into(),
                start_ms: a.started_ms.unwrap_or(e.started_ms),
                last_update_ms: a.updated_ms.unwrap_or(e.updated_ms),
                updated_by: a.last_updated_by.clone(),
                input_artifacts: declared
                    .as_ref()
                    .map(|d| locate(&d.input_artifacts))
                    .unwrap_or_default(),
                output_artifacts: declared
                    .as_ref()
                    .map(|d| locate(&d.output_artifacts))
                    .unwrap_or_default(),
                declaration: declared,
                summary: a.summary.clone(),
                external_execution_id: a.external_execution_id.clone(),
                error: a
                    .error
                    .as_ref()
                    .map(|x| (x.code.clone(), x.message.clone())),
                output_variables: a.output_variables.clone(),
                resolved_configuration: a
                    .resolved_configuration
                    .iter()
                    .map(|(k, v)| {
                        let shown = if crate::sealing::is_sealed(v) {
                            sluice_model::SECRET_MASK.to_string()
                        } else {
                            v.clone()
                        };
                        (k.clone(), shown)
                    })
                    .collect(),
            });
        }
    }
    all
}
