//! The persisted form of the engine's runtime and executions: versioned serde documents kept
//! apart from the engine's domain types, with conversions both ways.

use serde::{Deserialize, Serialize};
use sluice_engine as e;
use std::collections::BTreeMap;

const FORMAT: u32 = 1;

fn format_version() -> u32 {
    FORMAT
}

/// Artifact name → `(bucket, key)`, as documents keep where artifacts are.
type ArtifactsDoc = BTreeMap<String, (String, String)>;

fn artifacts_doc(artifacts: &BTreeMap<String, e::ArtifactLocation>) -> ArtifactsDoc {
    artifacts
        .iter()
        .map(|(name, l)| (name.clone(), (l.bucket.clone(), l.key.clone())))
        .collect()
}

fn artifacts_engine(doc: &ArtifactsDoc) -> BTreeMap<String, e::ArtifactLocation> {
    doc.iter()
        .map(|(name, (bucket, key))| {
            let location = e::ArtifactLocation {
                bucket: bucket.clone(),
                key: key.clone(),
            };
            (name.clone(), location)
        })
        .collect()
}

fn superseded() -> String {
    e::ExecutionMode::Superseded.as_str().into()
}

#[derive(Serialize, Deserialize)]
pub struct RuntimeDoc {
    #[serde(default = "format_version")]
    format: u32,
    pipeline_version: i64,
    slots: Vec<SlotDoc>,
    executions: Vec<ExecutionDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_succeeded: Option<TargetDoc>,
}

/// What a rollback goes back to.
#[derive(Serialize, Deserialize)]
struct TargetDoc {
    execution_id: String,
    artifacts: BTreeMap<String, (String, String)>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct SlotDoc {
    name: String,
    inbound_enabled: bool,
    outbound_enabled: bool,
    occupant: Option<String>,
    waiting: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    queue: Vec<String>,
    latest: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct ExecutionDoc {
    #[serde(default = "format_version")]
    format: u32,
    id: String,
    status: String,
    pipeline_version: i64,
    /// `running:N`, `waiting:N:reason[:by]` or `finished`.
    position: String,
    trigger: (String, String),
    /// `SUPERSEDED`, `QUEUED` or `PARALLEL`; executions from before modes were kept ran
    /// SUPERSEDED.
    #[serde(default = "superseded")]
    mode: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    variables: BTreeMap<String, String>,
    /// Source action → (revision type, value) the start named.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    source_revisions: BTreeMap<String, (String, String)>,
    /// A rollback execution's target execution and stage index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rollback: Option<(String, usize)>,
    status_summary: Option<String>,
    stage_runs: BTreeMap<usize, StageRunDoc>,
    #[serde(default)]
    artifacts: BTreeMap<String, (String, String)>,
    abandoning: bool,
    started_ms: i64,
    updated_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct StageRunDoc {
    status: String,
    group: i64,
    actions: Vec<ActionRunDoc>,
    retrying: bool,
    #[serde(default)]
    past_attempts: Vec<ActionRunDoc>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    auto_retried: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conditions: Vec<ConditionRunDoc>,
}

#[derive(Serialize, Deserialize)]
struct ConditionRunDoc {
    kind: String,
    status: String,
    summary: Option<String>,
    started_ms: i64,
    updated_ms: i64,
    rules: Vec<RuleRunDoc>,
}

#[derive(Serialize, Deserialize)]
struct RuleRunDoc {
    name: String,
    rule_execution_id: String,
    status: String,
    job_id: Option<String>,
    started_ms: i64,
    updated_ms: i64,
    summary: Option<String>,
    error: Option<(String, String)>,
    external_execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    resolved_configuration: BTreeMap<String, String>,
    last_updated_by: Option<String>,
}

fn condition_doc(c: &e::ConditionRun) -> ConditionRunDoc {
    ConditionRunDoc {
        kind: c.kind.as_str().into(),
        status: c.status.as_str().into(),
        summary: c.summary.clone(),
        started_ms: c.started_ms,
        updated_ms: c.updated_ms,
        rules: c
            .rules
            .iter()
            .map(|r| RuleRunDoc {
                name: r.name.clone(),
                rule_execution_id: r.rule_execution_id.clone(),
                status: r.status.as_str().into(),
                job_id: r.job_id.clone(),
                started_ms: r.started_ms,
                updated_ms: r.updated_ms,
                summary: r.summary.clone(),
                error: r
                    .error
                    .as_ref()
                    .map(|e| (e.code.clone(), e.message.clone())),
                external_execution_id: r.external_execution_id.clone(),
                resolved_configuration: r.resolved_configuration.clone(),
                last_updated_by: r.last_updated_by.clone(),
            })
            .collect(),
    }
}

fn condition_run(c: &ConditionRunDoc) -> crate::Result<e::ConditionRun> {
    let mut rules = Vec::with_capacity(c.rules.len());
    for r in &c.rules {
        rules.push(e::RuleRun {
            name: r.name.clone(),
            rule_execution_id: r.rule_execution_id.clone(),
            status: e::RuleStatus::parse(&r.status)
                .ok_or_else(|| corrupt(&format!("unknown rule status {}", r.status)))?,
            job_id: r.job_id.clone(),
            started_ms: r.started_ms,
            updated_ms: r.updated_ms,
            summary: r.summary.clone(),
            error: r.error.as_ref().map(|(code, message)| e::ErrorDetails {
                code: code.clone(),
                message: message.clone(),
            }),
            external_execution_id: r.external_execution_id.clone(),
            resolved_configuration: r.resolved_configuration.clone(),
            last_updated_by: r.last_updated_by.clone(),
        });
    }
    Ok(e::ConditionRun {
        kind: sluice_model::ConditionKind::parse(&c.kind)
            .ok_or_else(|| corrupt(&format!("unknown condition kind {}", c.kind)))?,
        status: e::ConditionStatus::parse(&c.status)
            .ok_or_else(|| corrupt(&format!("unknown condition status {}", c.status)))?,
        summary: c.summary.clone(),
        started_ms: c.started_ms,
        updated_ms: c.updated_ms,
        rules,
    })
}

#[derive(Serialize, Deserialize)]
struct ActionRunDoc {
    name: String,
    run_order: i64,
    status: String,
    attempt: u32,
    action_execution_id: Option<String>,
    job_id: Option<String>,
    approval_token: Option<String>,
    started_ms: Option<i64>,
    updated_ms: Option<i64>,
    summary: Option<String>,
    external_execution_id: Option<String>,
    percent_complete: Option<i64>,
    current_revision: Option<String>,
    error: Option<(String, String)>,
    last_updated_by: Option<String>,
    #[serde(default)]
    output_variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    resolved_configuration: BTreeMap<String, String>,
}

fn corrupt(what: &str) -> crate::Error {
    crate::Error::Internal(format!("stored runtime is corrupt: {what}"))
}

fn execution_status(s: &str) -> crate::Result<e::ExecutionStatus> {
    e::ExecutionStatus::parse(s).ok_or_else(|| corrupt(s))
}

fn stage_status(s: &str) -> crate::Result<e::StageStatus> {
    e::StageStatus::parse(s).ok_or_else(|| corrupt(s))
}

fn action_status(s: &str) -> crate::Result<e::ActionStatus> {
    e::ActionStatus::parse(s).ok_or_else(|| corrupt(s))
}

fn position_doc(p: &e::Position) -> String {
    match p {
        e::Position::InStage(i) => format!("running:{i}"),
        e::Position::Finished => "finished".into(),
        e::Position::Waiting { stage, reason } => match reason {
            e::Waiting::StageBusy { by } => format!("waiting:{stage}:busy:{by}"),
            e::Waiting::TransitionDisabled => format!("waiting:{stage}:disabled"),
            e::Waiting::OutboundDisabled => format!("waiting:{stage}:outbound"),
        },
    }
}

fn position(s: &str) -> crate::Result<e::Position> {
    let parts: Vec<&str> = s.splitn(4, ':').collect();
    let stage = |i: usize| {
        parts
            .get(i)
            .and_then(|p| p.parse::<usize>().ok())
            .ok_or_else(|| corrupt(s))
    };
    Ok(match parts[..] {
        ["finished"] => e::Position::Finished,
        ["running", _] => e::Position::InStage(stage(1)?),
        ["waiting", _, "busy", by] => e::Position::Waiting {
            stage: stage(1)?,
            reason: e::Waiting::StageBusy { by: by.into() },
        },
        ["waiting", _, "disabled"] => e::Position::Waiting {
            stage: stage(1)?,
            reason: e::Waiting::TransitionDisabled,
        },
        ["waiting", _, "outbound"] => e::Position::Waiting {
            stage: stage(1)?,
            reason: e::Waiting::OutboundDisabled,
        },
        _ => return Err(corrupt(s)),
    })
}

fn action_doc(a: &e::ActionRun) -> ActionRunDoc {
    ActionRunDoc {
        name: a.name.clone(),
        run_order: a.run_order,
        status: a.status.as_str().into(),
        attempt: a.attempt,
        action_execution_id: a.action_execution_id.clone(),
        job_id: a.job_id.clone(),
        approval_token: a.approval_token.clone(),
        started_ms: a.started_ms,
        updated_ms: a.updated_ms,
        summary: a.summary.clone(),
        external_execution_id: a.external_execution_id.clone(),
        percent_complete: a.percent_complete,
        current_revision: a.current_revision.clone(),
        error: a
            .error
            .as_ref()
            .map(|e| (e.code.clone(), e.message.clone())),
        last_updated_by: a.last_updated_by.clone(),
        output_variables: a.output_variables.clone(),
        resolved_configuration: a.resolved_configuration.clone(),
    }
}

fn action_run(a: &ActionRunDoc) -> crate::Result<e::ActionRun> {
    Ok(e::ActionRun {
        name: a.name.clone(),
        run_order: a.run_order,
        status: action_status(&a.status)?,
        attempt: a.attempt,
        action_execution_id: a.action_execution_id.clone(),
        job_id: a.job_id.clone(),
        approval_token: a.approval_token.clone(),
        started_ms: a.started_ms,
        updated_ms: a.updated_ms,
        summary: a.summary.clone(),
        external_execution_id: a.external_execution_id.clone(),
        percent_complete: a.percent_complete,
        current_revision: a.current_revision.clone(),
        error: a.error.as_ref().map(|(code, message)| e::ErrorDetails {
            code: code.clone(),
            message: message.clone(),
        }),
        last_updated_by: a.last_updated_by.clone(),
        output_variables: a.output_variables.clone(),
        resolved_configuration: a.resolved_configuration.clone(),
    })
}

impl From<&e::Execution> for ExecutionDoc {
    fn from(x: &e::Execution) -> Self {
        Self {
            format: FORMAT,
            id: x.id.clone(),
            status: x.status.as_str().into(),
            pipeline_version: x.pipeline_version,
            position: position_doc(&x.position),
            trigger: (x.trigger.kind.clone(), x.trigger.detail.clone()),
            mode: x.mode.as_str().into(),
            variables: x.variables.clone(),
            source_revisions: x
                .source_revisions
                .iter()
                .map(|(action, r)| (action.clone(), (r.kind.clone(), r.value.clone())))
                .collect(),
            rollback: match &x.execution_type {
                e::ExecutionType::Standard => None,
                e::ExecutionType::Rollback { target, stage } => Some((target.clone(), *stage)),
            },
            status_summary: x.status_summary.clone(),
            stage_runs: x
                .stage_runs
                .iter()
                .map(|(i, r)| {
                    (
                        *i,
                        StageRunDoc {
                            status: r.status.as_str().into(),
                            group: r.group,
                            retrying: r.retrying,
                            auto_retried: r.auto_retried,
                            past_attempts: r.past_attempts.iter().map(action_doc).collect(),
                            actions: r.actions.iter().map(action_doc).collect(),
                            conditions: r.conditions.iter().map(condition_doc).collect(),
                        },
                    )
                })
                .collect(),
            artifacts: artifacts_doc(&x.artifacts),
            abandoning: x.abandoning,
            started_ms: x.started_ms,
            updated_ms: x.updated_ms,
        }
    }
}

impl ExecutionDoc {
    pub fn to_engine(&self) -> crate::Result<e::Execution> {
        let mut stage_runs = BTreeMap::new();
        for (i, r) in &self.stage_runs {
            let actions = r
                .actions
                .iter()
                .map(action_run)
                .collect::<crate::Result<_>>()?;
            let past_attempts = r
                .past_attempts
                .iter()
                .map(action_run)
                .collect::<crate::Result<_>>()?;
            stage_runs.insert(
                *i,
                e::StageRun {
                    status: stage_status(&r.status)?,
                    group: r.group,
                    actions,
                    retrying: r.retrying,
                    auto_retried: r.auto_retried,
                    past_attempts,
                    conditions: r
                        .conditions
                        .iter()
                        .map(condition_run)
                        .collect::<crate::Result<_>>()?,
                },
            );
        }
        Ok(e::Execution {
            id: self.id.clone(),
            status: execution_status(&self.status)?,
            pipeline_version: self.pipeline_version,
            position: position(&self.position)?,
            trigger: e::Trigger {
                kind: self.trigger.0.clone(),
                detail: self.trigger.1.clone(),
            },
            mode: e::ExecutionMode::parse(&self.mode)
                .ok_or_else(|| corrupt(&format!("unknown execution mode {}", self.mode)))?,
            variables: self.variables.clone(),
            source_revisions: self
                .source_revisions
                .iter()
                .map(|(action, (kind, value))| {
                    (
                        action.clone(),
                        e::SourceRevision {
                            kind: kind.clone(),
                            value: value.clone(),
                        },
                    )
                })
                .collect(),
            execution_type: match &self.rollback {
                None => e::ExecutionType::Standard,
                Some((target, stage)) => e::ExecutionType::Rollback {
                    target: target.clone(),
                    stage: *stage,
                },
            },
            status_summary: self.status_summary.clone(),
            stage_runs,
            artifacts: artifacts_engine(&self.artifacts),
            abandoning: self.abandoning,
            started_ms: self.started_ms,
            updated_ms: self.updated_ms,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an execution document always serializes")
    }

    pub fn from_json(s: &str) -> crate::Result<Self> {
        serde_json::from_str(s).map_err(|err| corrupt(&err.to_string()))
    }
}

impl From<&e::Runtime> for RuntimeDoc {
    fn from(rt: &e::Runtime) -> Self {
        Self {
            format: FORMAT,
            pipeline_version: rt.pipeline_version,
            slots: rt
                .slots
                .iter()
                .map(|s| SlotDoc {
                    name: s.name.clone(),
                    inbound_enabled: s.inbound_enabled,
                    outbound_enabled: s.outbound_enabled,
                    occupant: s.occupant.clone(),
                    waiting: s.waiting.clone(),
                    queue: s.queue.clone(),
                    latest: s.latest.clone(),
                })
                .collect(),
            executions: rt.executions.values().map(ExecutionDoc::from).collect(),
            last_succeeded: rt.last_succeeded.as_ref().map(|t| TargetDoc {
                execution_id: t.execution_id.clone(),
                artifacts: artifacts_doc(&t.artifacts),
                variables: t.variables.clone(),
            }),
        }
    }
}

impl RuntimeDoc {
    pub fn to_engine(&self) -> crate::Result<e::Runtime> {
        let mut executions = BTreeMap::new();
        for x in &self.executions {
            let x = x.to_engine()?;
            executions.insert(x.id.clone(), x);
        }
        Ok(e::Runtime {
            pipeline_version: self.pipeline_version,
            slots: self
                .slots
                .iter()
                .map(|s| e::StageSlot {
                    name: s.name.clone(),
                    inbound_enabled: s.inbound_enabled,
                    outbound_enabled: s.outbound_enabled,
                    occupant: s.occupant.clone(),
                    waiting: s.waiting.clone(),
                    queue: s.queue.clone(),
                    latest: s.latest.clone(),
                })
                .collect(),
            executions,
            last_succeeded: self.last_succeeded.as_ref().map(|t| e::RollbackTarget {
                execution_id: t.execution_id.clone(),
                artifacts: artifacts_engine(&t.artifacts),
                variables: t.variables.clone(),
            }),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a runtime document always serializes")
    }

    pub fn from_json(s: &str) -> crate::Result<Self> {
        let doc: Self = serde_json::from_str(s).map_err(|err| corrupt(&err.to_string()))?;
        if doc.format > FORMAT {
            return Err(corrupt("runtime format is newer than this binary"));
        }
        Ok(doc)
    }
}
