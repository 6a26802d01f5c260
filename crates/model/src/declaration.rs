//! A pipeline as its author declares it: stages of actions, artifacts, the artifact store.

use crate::action_type::ActionTypeId;
use std::collections::BTreeMap;

/// A whole pipeline declaration (CodePipeline's `PipelineDeclaration`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineDeclaration {
    pub name: String,
    pub role_arn: String,
    pub artifact_store: Option<ArtifactStore>,
    /// Per-region artifact stores, for cross-region actions; exclusive with `artifact_store`.
    pub artifact_stores: BTreeMap<String, ArtifactStore>,
    pub stages: Vec<StageDeclaration>,
    /// Assigned by the service: 1 on create, +1 on every update.
    pub version: i64,
    /// `SUPERSEDED` (default), `QUEUED` or `PARALLEL`.
    pub execution_mode: Option<String>,
    /// `V1` or `V2`.
    pub pipeline_type: Option<String>,
    pub variables: Vec<PipelineVariable>,
    /// Which pushes start the pipeline (`triggers`, V2).
    pub triggers: Vec<crate::triggers::PipelineTrigger>,
}

/// How a pipeline handles several executions at once (`executionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionMode {
    /// One execution per stage; a newer one waiting to enter a stage replaces the one waiting
    /// there, which ends `Superseded`.
    #[default]
    Superseded,
    /// One execution per stage; the others wait in line at the stage and each runs every stage
    /// in the order they started (V2).
    Queued,
    /// Every execution runs on its own, none waiting for a stage another occupies (V2).
    Parallel,
}

impl ExecutionMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SUPERSEDED" => Some(Self::Superseded),
            "QUEUED" => Some(Self::Queued),
            "PARALLEL" => Some(Self::Parallel),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Superseded => "SUPERSEDED",
            Self::Queued => "QUEUED",
            Self::Parallel => "PARALLEL",
        }
    }
}

impl PipelineDeclaration {
    /// The declared execution mode; `SUPERSEDED` when none (or, before validation, an unknown
    /// one) is declared.
    pub fn mode(&self) -> ExecutionMode {
        self.execution_mode
            .as_deref()
            .and_then(ExecutionMode::parse)
            .unwrap_or_default()
    }

    /// Whether the pipeline is of type V2 (V1 when none is declared).
    pub fn is_v2(&self) -> bool {
        self.pipeline_type.as_deref() == Some("V2")
    }
}

/// Where a pipeline keeps its artifacts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArtifactStore {
    pub kind: String,
    pub location: String,
    pub encryption_key: Option<EncryptionKey>,
}

/// A customer-managed key that encrypts the artifact store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncryptionKey {
    pub id: String,
    pub kind: String,
}

/// A pipeline-level variable with its default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineVariable {
    pub name: String,
    pub default_value: Option<String>,
    pub description: Option<String>,
}

/// One stage: a named list of actions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StageDeclaration {
    pub name: String,
    pub blockers: Vec<BlockerDeclaration>,
    pub actions: Vec<ActionDeclaration>,
    /// What happens when the stage fails (`onFailure`, V2); failing the execution when absent.
    pub on_failure: Option<OnFailure>,
    /// Checked before the execution enters the stage (`beforeEntry`, V2).
    pub before_entry: Option<Condition>,
    /// Checked once every action succeeded (`onSuccess`, V2).
    pub on_success: Option<Condition>,
    /// Checked when the stage fails (`onFailure.conditions`, V2), before `on_failure` applies.
    pub on_failure_condition: Option<Condition>,
}

impl StageDeclaration {
    /// The stage's condition of `kind`, if it declares one.
    pub fn condition(&self, kind: ConditionKind) -> Option<&Condition> {
        match kind {
            ConditionKind::BeforeEntry => self.before_entry.as_ref(),
            ConditionKind::OnSuccess => self.on_success.as_ref(),
            ConditionKind::OnFailure => self.on_failure_condition.as_ref(),
        }
    }

    /// Every condition the stage declares, with its kind.
    pub fn conditions(&self) -> impl Iterator<Item = (ConditionKind, &Condition)> {
        ConditionKind::ALL
            .iter()
            .filter_map(|kind| Some((*kind, self.condition(*kind)?)))
    }
}

/// Where a stage condition is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionKind {
    BeforeEntry,
    OnSuccess,
    OnFailure,
}

impl ConditionKind {
    pub const ALL: &'static [ConditionKind] =
        &[Self::BeforeEntry, Self::OnSuccess, Self::OnFailure];

    /// The name the API uses (`conditionType` of `OverrideStageCondition`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeEntry => "BEFORE_ENTRY",
            Self::OnSuccess => "ON_SUCCESS",
            Self::OnFailure => "ON_FAILURE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The member of a stage declaration that holds it.
    pub fn member(self) -> &'static str {
        match self {
            Self::BeforeEntry => "beforeEntry",
            Self::OnSuccess => "onSuccess",
            Self::OnFailure => "onFailure",
        }
    }

    /// The results a condition of this kind may engage, as AWS documents them.
    pub fn allowed_results(self) -> &'static [ConditionResult] {
        match self {
            Self::BeforeEntry => &[ConditionResult::Fail, ConditionResult::Skip],
            Self::OnSuccess => &[ConditionResult::Fail, ConditionResult::Rollback],
            Self::OnFailure => &[ConditionResult::Rollback],
        }
    }
}

/// What a condition does when one of its rules fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionResult {
    Fail,
    Skip,
    Rollback,
    Retry,
}

impl ConditionResult {
    pub const ALL: &'static [ConditionResult] =
        &[Self::Fail, Self::Skip, Self::Rollback, Self::Retry];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "FAIL",
            Self::Skip => "SKIP",
            Self::Rollback => "ROLLBACK",
            Self::Retry => "RETRY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

/// A stage condition: rules that must all pass, and the result that engages when one fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub result: ConditionResult,
    pub rules: Vec<RuleDeclaration>,
}

/// The type of a rule: category `Rule`, owner `AWS`, a provider and a version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct RuleTypeId {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

impl std::fmt::Display for RuleTypeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.owner, self.category, self.provider, self.version
        )
    }
}

/// One rule of a condition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleDeclaration {
    pub name: String,
    pub rule_type_id: RuleTypeId,
    pub configuration: BTreeMap<String, String>,
    /// The shell commands of a `Commands` rule.
    pub commands: Vec<String>,
    pub input_artifacts: Vec<String>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub timeout_in_minutes: Option<i64>,
}

/// A stage's `onFailure` result (conditions with rules are not built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Fail the execution (as without `onFailure`).
    Fail,
    /// Retry the stage once, automatically: only its failed actions, or all of them.
    Retry { all_actions: bool },
    /// Fail the execution and start a rollback execution that runs the stage again with the
    /// artifacts of the latest succeeded execution.
    Rollback,
}

/// A stage blocker (reserved by the API; only `Schedule` is defined).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BlockerDeclaration {
    pub name: String,
    pub kind: String,
}

/// An environment variable of a `Commands` action.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
    pub kind: Option<String>,
}

/// One action of a stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionDeclaration {
    pub name: String,
    pub action_type_id: ActionTypeId,
    /// 1 when the author leaves it out, as CodePipeline does.
    pub run_order: i64,
    pub configuration: BTreeMap<String, String>,
    pub output_artifacts: Vec<String>,
    /// Output artifact → the file patterns that go into it (`outputArtifacts[].files`; a
    /// Commands action's, where the whole directory goes otherwise).
    pub output_files: BTreeMap<String, Vec<String>>,
    pub input_artifacts: Vec<String>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub namespace: Option<String>,
    pub timeout_in_minutes: Option<i64>,
    pub commands: Vec<String>,
    pub output_variables: Vec<String>,
    pub environment_variables: Vec<EnvironmentVariable>,
}

impl PipelineDeclaration {
    /// The trigger of the source action `action`, if the pipeline declares one.
    pub fn trigger_of(&self, action: &str) -> Option<&crate::triggers::PipelineTrigger> {
        self.triggers.iter().find(|t| t.source_action == action)
    }

    /// Finds a stage by name.
    pub fn stage(&self, name: &str) -> Option<&StageDeclaration> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Every action with the stage it belongs to, in declaration order.
    pub fn actions(&self) -> impl Iterator<Item = (&StageDeclaration, &ActionDeclaration)> {
        self.stages
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
    }
}
