//! The runtime of one pipeline: stage slots (who occupies, who waits, transitions) and the
//! executions still referenced by them.

pub use sluice_model::ExecutionMode;
use std::collections::BTreeMap;

/// `ALL`, `as_str` (the variant's name, as the API spells statuses) and `parse` for a status enum.
macro_rules! status_names {
    ($name:ident { $($variant:ident),* $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|x| x.as_str() == s)
            }
        }
    };
}

status_names!(ExecutionStatus {
    InProgress,
    Stopping,
    Stopped,
    Succeeded,
    Superseded,
    Failed
});
status_names!(StageStatus {
    InProgress,
    Stopping,
    Stopped,
    Succeeded,
    Failed,
    Skipped
});
status_names!(ConditionStatus {
    InProgress,
    Succeeded,
    Failed,
    Abandoned,
    Overridden
});
status_names!(RuleStatus {
    InProgress,
    Abandoned,
    Succeeded,
    Failed
});
status_names!(ActionStatus {
    NotStarted,
    InProgress,
    Abandoned,
    Succeeded,
    Failed
});

/// How an execution was started.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trigger {
    /// `CreatePipeline`, `StartPipelineExecution`, `PollForSourceChanges`, `Webhook`, ...
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    InProgress,
    Stopping,
    Stopped,
    Succeeded,
    Superseded,
    Failed,
}

impl ExecutionStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Stopped | Self::Succeeded | Self::Superseded | Self::Failed
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    InProgress,
    Stopping,
    Stopped,
    Succeeded,
    Failed,
    /// A `beforeEntry` condition with the result SKIP failed: the execution went past it.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    InProgress,
    /// Every rule passed.
    Succeeded,
    /// A rule failed; the condition's result engaged.
    Failed,
    /// Stopped before it finished (a stop, an update).
    Abandoned,
    /// `OverrideStageCondition` let the execution past while it was being checked.
    Overridden,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleStatus {
    InProgress,
    Abandoned,
    Succeeded,
    Failed,
}

/// One check of a stage condition.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionRun {
    pub kind: sluice_model::ConditionKind,
    pub status: ConditionStatus,
    pub summary: Option<String>,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub rules: Vec<RuleRun>,
}

/// One run of a rule of a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRun {
    pub name: String,
    pub rule_execution_id: String,
    pub status: RuleStatus,
    /// The job of a `Commands` rule.
    pub job_id: Option<String>,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub summary: Option<String>,
    pub error: Option<ErrorDetails>,
    pub external_execution_id: Option<String>,
    /// The configuration this run used, variable references resolved.
    pub resolved_configuration: BTreeMap<String, String>,
    /// Who overrode the condition, when someone did.
    pub last_updated_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    /// Declared in the stage but its group has not started in this run.
    NotStarted,
    InProgress,
    Abandoned,
    Succeeded,
    Failed,
}

/// Whether an execution runs the pipeline or rolls one stage back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ExecutionType {
    #[default]
    Standard,
    /// Runs only `stage`, with the artifacts and variables of the succeeded execution `target`.
    Rollback { target: String, stage: usize },
}

/// What a rollback restores: a succeeded execution's artifacts and variables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RollbackTarget {
    pub execution_id: String,
    pub artifacts: BTreeMap<String, ArtifactLocation>,
    pub variables: BTreeMap<String, String>,
}

/// Why an execution is not in a stage right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Another execution occupies the stage.
    StageBusy { by: String },
    /// The stage's inbound transition is disabled.
    TransitionDisabled,
    /// The previous stage's outbound transition is disabled.
    OutboundDisabled,
}

/// Where an execution is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Running the stage at this index.
    InStage(usize),
    /// Waiting to enter the stage at this index.
    Waiting {
        stage: usize,
        reason: Waiting,
    },
    Finished,
}

/// Where an artifact of an execution is stored: `bucket` is the artifact store's location,
/// `key` follows DESIGN.md's `<pipeline, 20 chars>/<artifact, 10 chars>/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLocation {
    pub bucket: String,
    pub key: String,
}

/// A failure's code and message, as `errorDetails` shows them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorDetails {
    pub code: String,
    pub message: String,
}

/// One attempt-carrying action of a stage run.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRun {
    pub name: String,
    pub run_order: i64,
    pub status: ActionStatus,
    /// 0 before the first attempt.
    pub attempt: u32,
    pub action_execution_id: Option<String>,
    pub job_id: Option<String>,
    pub approval_token: Option<String>,
    pub started_ms: Option<i64>,
    pub updated_ms: Option<i64>,
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub percent_complete: Option<i64>,
    pub current_revision: Option<String>,
    pub error: Option<ErrorDetails>,
    pub last_updated_by: Option<String>,
    pub output_variables: BTreeMap<String, String>,
    /// The configuration this attempt ran with, variable references resolved.
    pub resolved_configuration: BTreeMap<String, String>,
}

/// An execution's run of one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRun {
    pub status: StageStatus,
    /// The `runOrder` group now running.
    pub group: i64,
    pub actions: Vec<ActionRun>,
    /// Set while a `RetryStageExecution` is in progress.
    pub retrying: bool,
    /// Set once `onFailure` RETRY has retried this run (it retries once).
    pub auto_retried: bool,
    /// Earlier attempts of this run's actions (retries), oldest first.
    pub past_attempts: Vec<ActionRun>,
    /// Every check of the stage's conditions in this run, oldest first; one in progress is
    /// the last.
    pub conditions: Vec<ConditionRun>,
}

impl StageRun {
    /// The condition check in progress, if one is.
    pub fn checking(&self) -> Option<&ConditionRun> {
        self.conditions
            .last()
            .filter(|c| c.status == ConditionStatus::InProgress)
    }

    /// The latest check of the condition of `kind`.
    pub fn latest_condition(&self, kind: sluice_model::ConditionKind) -> Option<&ConditionRun> {
        self.conditions.iter().rev().find(|c| c.kind == kind)
    }
}

/// One execution of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub id: String,
    pub status: ExecutionStatus,
    pub pipeline_version: i64,
    pub position: Position,
    pub trigger: Trigger,
    /// The pipeline's execution mode when this execution started.
    pub mode: ExecutionMode,
    /// The pipeline variables' values for this execution.
    pub variables: BTreeMap<String, String>,
    /// Source action → the revision the start named for it.
    pub source_revisions: BTreeMap<String, crate::input::SourceRevision>,
    pub execution_type: ExecutionType,
    pub status_summary: Option<String>,
    /// Stage index → this execution's run of it.
    pub stage_runs: BTreeMap<usize, StageRun>,
    /// Artifact name → where the action that produced it (most recently) wrote it.
    pub artifacts: BTreeMap<String, ArtifactLocation>,
    /// True once a stop asked in-progress actions to be abandoned.
    pub abandoning: bool,
    pub started_ms: i64,
    pub updated_ms: i64,
}

/// One stage of the current pipeline version.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSlot {
    pub name: String,
    pub inbound_enabled: bool,
    pub outbound_enabled: bool,
    /// The execution running the stage (`SUPERSEDED` and `QUEUED`; under `PARALLEL` nothing
    /// occupies a stage).
    pub occupant: Option<String>,
    /// The execution next in line to enter the stage.
    pub waiting: Option<String>,
    /// The executions in line behind `waiting`, oldest first (`QUEUED`, and `PARALLEL` at a
    /// disabled transition; always empty under `SUPERSEDED`).
    pub queue: Vec<String>,
    /// The latest execution that entered this stage.
    pub latest: Option<String>,
}

impl StageSlot {
    /// Every execution waiting to enter, first in line first.
    pub fn in_line(&self) -> impl Iterator<Item = &String> {
        self.waiting.iter().chain(&self.queue)
    }
}

/// Everything the engine knows about one pipeline's runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Runtime {
    pub pipeline_version: i64,
    pub slots: Vec<StageSlot>,
    pub executions: BTreeMap<String, Execution>,
    /// The latest standard execution that succeeded: what `onFailure` ROLLBACK goes back to.
    pub last_succeeded: Option<RollbackTarget>,
}

impl Runtime {
    /// A fresh runtime for a declaration's stages, every transition enabled.
    pub fn new(declaration: &sluice_model::PipelineDeclaration) -> Self {
        Self {
            pipeline_version: declaration.version,
            slots: declaration
                .stages
                .iter()
                .map(|s| StageSlot {
                    name: s.name.clone(),
                    inbound_enabled: true,
                    outbound_enabled: true,
                    occupant: None,
                    waiting: None,
                    queue: Vec::new(),
                    latest: None,
                })
                .collect(),
            executions: BTreeMap::new(),
            last_succeeded: None,
        }
    }

    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.name == name)
    }

    /// Removes and returns the finished executions no stage refers to any more; the caller
    /// has already persisted their final state.
    pub fn prune(&mut self) -> Vec<Execution> {
        let referenced: Vec<&String> = self
            .slots
            .iter()
            .flat_map(|s| s.occupant.iter().chain(s.in_line()).chain(&s.latest))
            .collect();
        let gone: Vec<String> = self
            .executions
            .values()
            .filter(|e| e.status.is_finished() && !referenced.contains(&&e.id))
            .map(|e| e.id.clone())
            .collect();
        gone.iter()
            .filter_map(|id| self.executions.remove(id))
            .collect()
    }

    /// Finds the execution, stage and action that own a job.
    pub fn find_job(&self, job_id: &str) -> Option<(String, usize, usize)> {
        self.find_action(|a| a.job_id.as_deref() == Some(job_id))
    }

    pub fn find_approval(&self, token: &str) -> Option<(String, usize, usize)> {
        self.find_action(|a| a.approval_token.as_deref() == Some(token))
    }

    /// Finds the execution, stage, condition run and rule run of a rule's job or id.
    pub fn find_rule(
        &self,
        pred: impl Fn(&RuleRun) -> bool,
    ) -> Option<(String, usize, usize, usize)> {
        for e in self.executions.values() {
            for (stage, run) in &e.stage_runs {
                for (c, condition) in run.conditions.iter().enumerate() {
                    if let Some(r) = condition.rules.iter().position(&pred) {
                        return Some((e.id.clone(), *stage, c, r));
                    }
                }
            }
        }
        None
    }

    fn find_action(&self, pred: impl Fn(&ActionRun) -> bool) -> Option<(String, usize, usize)> {
        for e in self.executions.values() {
            for (stage, run) in &e.stage_runs {
                if let Some(i) = run.actions.iter().position(&pred) {
                    return Some((e.id.clone(), *stage, i));
                }
            }
        }
        None
    }
}
