//! Every structural rule of the guide's Pipeline Structure Reference, Action Structure
//! Requirements and Limits chapters. Validation never stops at the first problem: it returns
//! them all, each with the kind that decides which AWS exception reports it.

use crate::action_type::{ActionCategory, ActionOwner, ActionType};
use crate::declaration::{ActionDeclaration, ExecutionMode, PipelineDeclaration, StageDeclaration};
use crate::{is_valid_name, Limits};
use std::collections::{BTreeMap, HashSet};

/// Which part of the declaration a problem is in; it picks the exception type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The pipeline as a whole (`InvalidStructureException`).
    Structure,
    /// One stage (`InvalidStageDeclarationException`).
    Stage,
    /// One action (`InvalidActionDeclarationException`).
    Action,
    /// A stage blocker (`InvalidBlockerDeclarationException`).
    Blocker,
}

/// One thing wrong with a declaration, worded to name what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, kind: ProblemKind, message: String) {
        self.0.push(Problem { kind, message });
    }
}

/// Checks `pipeline` against `limits`, resolving action types among `action_types` (the
/// built-in catalog plus the account's custom types). An empty list means it is valid.
pub fn validate_pipeline(
    pipeline: &PipelineDeclaration,
    limits: &Limits,
    action_types: &[ActionType],
) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    check_pipeline(pipeline, limits, &mut p);
    let mut stage_names = HashSet::new();
    for (index, stage) in pipeline.stages.iter().enumerate() {
        if !stage_names.insert(stage.name.as_str()) {
            p.push(
                ProblemKind::Structure,
                format!("Pipeline has more than one stage named '{}'", stage.name),
            );
        }
        check_stage(stage, index == 0, limits, &mut p);
        for action in &stage.actions {
            check_action(stage, action, limits, action_types, &mut p);
        }
    }
    check_artifact_flow(pipeline, &mut p);
    check_variables(pipeline, &mut p);
    check_on_failure(pipeline, &mut p);
    check_conditions(pipeline, &mut p);
    check_triggers(pipeline, &mut p);
    check_connection_sources(pipeline, &mut p);
    p.0
}

/// Namespaces are unique, and every `#{…}` an action uses names a declared pipeline variable,
/// the execution's id, or the namespace of an action that runs before it (an earlier stage, or
/// a lower runOrder in the same stage).
fn check_variables(pipeline: &PipelineDeclaration, p: &mut Problems) {
    use crate::variables::{self, EXECUTION_NAMESPACE, EXECUTION_VARIABLES, PIPELINE_NAMESPACE};
    if !pipeline.variables.is_empty() && !pipeline.is_v2() {
        p.push(
            ProblemKind::Structure,
            "Pipeline-level variables are only supported for pipelines of type V2".into(),
        );
    }
    let mut seen = HashSet::new();
    for variable in &pipeline.variables {
        if !seen.insert(variable.name.as_str()) {
            p.push(
                ProblemKind::Structure,
                format!(
                    "Pipeline variable names must be unique: '{}' is declared more than once",
                    variable.name
                ),
            );
        }
    }
    let mut namespaces: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for (stage, action) in pipeline.actions() {
        let Some(namespace) = action.namespace.as_deref() else {
            continue;
        };
        let reserved = [PIPELINE_NAMESPACE, EXECUTION_NAMESPACE].contains(&namespace);
        if reserved
            || namespaces
                .insert(namespace, (&stage.name, &action.name))
                .is_some()
        {
            p.push(
                ProblemKind::Action,
                format!(
                    "Namespaces must be unique across the pipeline definition. The following occur more than once in the pipeline. StageName=[{}], ActionName=[{}], Namespace=[{namespace}]",
                    stage.name, action.name
                ),
            );
        }
    }
    let runs_before = |producer: (&str, &str), stage_index: usize, run_order: i64| {
        pipeline.stages.iter().enumerate().any(|(i, s)| {
            s.name == producer.0
                && s.actions.iter().any(|a| {
                    a.name == producer.1
                        && (i < stage_index || (i == stage_index && a.run_order < run_order))
                })
        })
    };
    // Whoever uses a variable: an action (its run order) or a rule of a condition (before
    // every action of its stage for beforeEntry, after all of them otherwise).
    let mut users: Vec<(String, usize, i64, Vec<&String>)> = Vec::new();
    for (stage_index, stage) in pipeline.stages.iter().enumerate() {
        for action in &stage.actions {
            let texts = action
                .configuration
                .values()
                .chain(&action.commands)
                .chain(action.environment_variables.iter().map(|v| &v.value))
                .collect();
            users.push((
                format!("Action '{}'", action.name),
                stage_index,
                action.run_order,
                texts,
            ));
        }
        for (kind, condition) in stage.conditions() {
            let run_order = if kind == crate::ConditionKind::BeforeEntry {
                i64::MIN
            } else {
                i64::MAX
            };
            for rule in &condition.rules {
                let texts = rule.configuration.values().chain(&rule.commands).collect();
                users.push((
                    format!("Rule '{}' of stage '{}'", rule.name, stage.name),
                    stage_index,
                    run_order,
                    texts,
                ));
            }
        }
    }
    for (user, stage_index, run_order, texts) in users {
        for text in texts {
            for reference in variables::references(text) {
                let problem = match reference.namespace {
                    PIPELINE_NAMESPACE => (!pipeline
                        .variables
                        .iter()
                        .any(|v| v.name == reference.name))
                    .then(|| {
                        format!(
                            "{user} references {reference}, but the pipeline declares no variable named '{}'",
                            reference.name
                        )
                    }),
                    EXECUTION_NAMESPACE => (!EXECUTION_VARIABLES.contains(&reference.name))
                        .then(|| {
                            format!(
                                "{user} references {reference}; the codepipeline namespace has only PipelineExecutionId"
                            )
                        }),
                    namespace => match namespaces.get(namespace) {
                        Some(&producer) if runs_before(producer, stage_index, run_order) => None,
                        Some(&(_, producer)) => Some(format!(
                            "{user} references {reference}, but action '{producer}' that declares namespace '{namespace}' does not run before it"
                        )),
                        None => Some(format!(
                            "{user} references {reference}, but no action declares the namespace '{namespace}'"
                        )),
                    },
                };
                if let Some(message) = problem {
                    p.push(ProblemKind::Action, message);
                }
            }
        }
    }
}

/// Triggers need V2 and name a distinct source action of a git provider this server sees
/// events of: `CodeStarSourceConnection` (AWS's one), and also its hosted `CodeCommit`
/// repositories (pushes) and `GitHub` (webhook pushes and pull requests).
fn check_triggers(pipeline: &PipelineDeclaration, p: &mut Problems) {
    use ProblemKind::Structure;
    let mut seen = HashSet::new();
    for trigger in &pipeline.triggers {
        if !pipeline.is_v2() {
            p.push(
                Structure,
                "Triggers are only supported for pipelines of type V2".into(),
            );
        }
        let action = &trigger.source_action;
        if !seen.insert(action.as_str()) {
            p.push(
                Structure,
                format!("Only one trigger can be declared per source action; '{action}' has more than one"),
            );
        }
        let declared = pipeline
            .stages
            .first()
            .and_then(|s| s.actions.iter().find(|a| &a.name == action));
        match declared {
            None => p.push(
                Structure,
                format!("The trigger's sourceActionName '{action}' is not a source action of the pipeline"),
            ),
            Some(a) if !matches!(a.action_type_id.provider.as_str(), "CodeCommit" | "GitHub" | "CodeStarSourceConnection") => p.push(
                Structure,
                format!(
                    "Triggers on '{action}' ({}) are not supported: triggers run on CodeStarSourceConnection, CodeCommit and GitHub source actions",
                    a.action_type_id.provider
                ),
            ),
            Some(a) if a.action_type_id.provider == "CodeCommit" && !trigger.pull_request.is_empty() => p.push(
                Structure,
                format!("Pull request triggers on '{action}' need a GitHub source: this server's hosted repositories have no pull requests"),
            ),
            Some(_) => {}
        }
        for problem in trigger.problems() {
            p.push(Structure, problem);
        }
    }
}

/// A connection source's artifact is a zip of its code: `CODEBUILD_CLONE_REF` (a reference a
/// CodeBuild action clones with the connection's credentials) is not built.
fn check_connection_sources(pipeline: &PipelineDeclaration, p: &mut Problems) {
    for (_, action) in pipeline.actions() {
        let format = action.configuration.get("OutputArtifactFormat");
        if action.action_type_id.provider == "CodeStarSourceConnection"
            && format.is_some_and(|f| f != "CODE_ZIP")
        {
            p.push(
                ProblemKind::Action,
                format!(
                    "Action '{}': OutputArtifactFormat {} is not supported by this Sluice server; use CODE_ZIP",
                    action.name,
                    format.map(String::as_str).unwrap_or_default()
                ),
            );
        }
    }
}

/// Stage conditions need V2; each result must be one its kind allows; rules are of a type
/// this server runs, configured as that type needs, with unique names, and read only
/// artifacts produced before them.
fn check_conditions(pipeline: &PipelineDeclaration, p: &mut Problems) {
    for (index, stage) in pipeline.stages.iter().enumerate() {
        for (kind, condition) in stage.conditions() {
            let member = kind.member();
            if !pipeline.is_v2() {
                p.push(
                    ProblemKind::Stage,
                    format!(
                        "{member} conditions on stage '{}' are only supported for pipelines of type V2",
                        stage.name
                    ),
                );
            }
            if !kind.allowed_results().contains(&condition.result) {
                let allowed: Vec<&str> =
                    kind.allowed_results().iter().map(|r| r.as_str()).collect();
                p.push(
                    ProblemKind::Stage,
                    format!(
                        "The result {} is not valid for a {member} condition of stage '{}'; valid: {}",
                        condition.result.as_str(),
                        stage.name,
                        allowed.join(", ")
                    ),
                );
            }
            if condition.result == crate::ConditionResult::Rollback {
                check_rollback(pipeline, index, p);
            }
            let skip = condition.result == crate::ConditionResult::Skip;
            let mut names = HashSet::new();
            for rule in &condition.rules {
                if skip && rule.rule_type_id.provider != crate::rules::VARIABLE_CHECK {
                    p.push(
                        ProblemKind::Stage,
                        format!(
                            "Rule '{}' of stage '{}': a beforeEntry condition with the result SKIP takes only VariableCheck rules (and LambdaInvoke, which this server does not run)",
                            rule.name, stage.name
                        ),
                    );
                }
                if !is_valid_name(&rule.name) {
                    p.push(
                        ProblemKind::Stage,
                        format!("Rule name '{}' is not valid", rule.name),
                    );
                }
                if !names.insert(rule.name.as_str()) {
                    p.push(
                        ProblemKind::Stage,
                        format!(
                            "Rule names must be unique in a condition: '{}' appears more than once in the {member} condition of stage '{}'",
                            rule.name, stage.name
                        ),
                    );
                }
                for problem in crate::rules::check_rule(rule) {
                    p.push(ProblemKind::Stage, problem);
                }
                let produced_before = |artifact: &String| {
                    pipeline.stages[..=index].iter().enumerate().any(|(i, s)| {
                        s.actions.iter().any(|a| {
                            a.output_artifacts.contains(artifact)
                                && (i < index || kind != crate::ConditionKind::BeforeEntry)
                        })
                    })
                };
                for artifact in &rule.input_artifacts {
                    if !produced_before(artifact) {
                        p.push(
                            ProblemKind::Stage,
                            format!(
                                "Rule '{}' of stage '{}' reads input artifact '{artifact}', which no action before it produces",
                                rule.name, stage.name
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn check_pipeline(pipeline: &PipelineDeclaration, limits: &Limits, p: &mut Problems) {
    use ProblemKind::Structure;
    if !is_valid_name(&pipeline.name) {
        p.push(
            Structure,
            format!("Pipeline name '{}' is not valid", pipeline.name),
        );
    }
    let n = pipeline.stages.len();
    if n < limits.min_stages_per_pipeline {
        p.push(
            Structure,
            // AWS's words.
            format!(
                "Pipeline has only {n} stage(s). There should be a minimum of {} stages in a pipeline",
                limits.min_stages_per_pipeline
            ),
        );
    }
    if n > limits.max_stages_per_pipeline {
        p.push(
            Structure,
            format!(
                "Pipeline '{}' has {n} stages; the limit is {}",
                pipeline.name, limits.max_stages_per_pipeline
            ),
        );
    }
    match (
        &pipeline.artifact_store,
        pipeline.artifact_stores.is_empty(),
    ) {
        (None, true) => p.push(
            Structure,
            "Pipeline must declare an artifactStore or artifactStores".into(),
        ),
        (Some(_), false) => p.push(
            Structure,
            "Pipeline cannot declare both artifactStore and artifactStores".into(),
        ),
        _ => {}
    }
    if let Some(mode) = &pipeline.execution_mode {
        match ExecutionMode::parse(mode) {
            None => p.push(
                Structure,
                format!("Execution mode '{mode}' is not valid: it must be SUPERSEDED, QUEUED or PARALLEL"),
            ),
            Some(ExecutionMode::Superseded) => {}
            Some(_) if !pipeline.is_v2() => p.push(
                Structure,
                format!("Execution mode {mode} is only supported for pipelines of type V2"),
            ),
            Some(_) => {}
        }
    }
    if let Some(first) = pipeline.stages.first() {
        if !first.actions.iter().any(|a| a.action_type_id.is_source()) {
            p.push(
                Structure,
                format!(
                    "The first stage '{}' must contain at least one source action",
                    first.name
                ),
            );
        }
    }
    let has_non_source = pipeline
        .actions()
        .any(|(_, a)| !a.action_type_id.is_source());
    // An empty stage is reported by the stage rules; this rule is about stages with actions.
    let all_stages_have_actions = pipeline.stages.iter().all(|s| !s.actions.is_empty());
    if !pipeline.stages.is_empty() && all_stages_have_actions && !has_non_source {
        p.push(
            Structure,
            "At least one stage must contain an action that is not a source action".into(),
        );
    }
}

/// `onFailure` needs V2; a rollback needs something before the stage to roll back to and a
/// mode with one line of executions.
fn check_on_failure(pipeline: &PipelineDeclaration, p: &mut Problems) {
    for (index, stage) in pipeline.stages.iter().enumerate() {
        let Some(on_failure) = stage.on_failure else {
            continue;
        };
        if !pipeline.is_v2() {
            p.push(
                ProblemKind::Stage,
                format!(
                    "onFailure on stage '{}' is only supported for pipelines of type V2",
                    stage.name
                ),
            );
        }
        if on_failure == crate::OnFailure::Rollback {
            check_rollback(pipeline, index, p);
        }
    }
}

/// A stage that rolls back needs an earlier stage and one line of executions.
fn check_rollback(pipeline: &PipelineDeclaration, index: usize, p: &mut Problems) {
    let stage = &pipeline.stages[index].name;
    if index == 0 {
        p.push(
            ProblemKind::Stage,
            format!("Stage '{stage}' is the first stage and cannot be rolled back"),
        );
    }
    if pipeline.mode() == ExecutionMode::Parallel {
        p.push(
            ProblemKind::Stage,
            format!(
                "Stage '{stage}' cannot roll back: stage rollback is not available for pipelines in PARALLEL mode"
            ),
        );
    }
}

fn check_stage(stage: &StageDeclaration, is_first: bool, limits: &Limits, p: &mut Problems) {
    use ProblemKind::{Blocker, Stage};
    if !is_valid_name(&stage.name) {
        p.push(Stage, format!("Stage name '{}' is not valid", stage.name));
    }
    let n = stage.actions.len();
    if n < limits.min_actions_per_stage {
        p.push(
            Stage,
            format!(
                "Stage '{}' has {n} action(s); a stage must contain at least {}",
                stage.name, limits.min_actions_per_stage
            ),
        );
    }
    if n > limits.max_actions_per_stage {
        p.push(
            Stage,
            format!(
                "Stage '{}' has {n} actions; the limit is {}",
                stage.name, limits.max_actions_per_stage
            ),
        );
    }
    let mut names = HashSet::new();
    for action in &stage.actions {
        if !names.insert(action.name.as_str()) {
            p.push(
                Stage,
                format!(
                    "Stage '{}' has more than one action named '{}'",
                    stage.name, action.name
                ),
            );
        }
        let id = &action.action_type_id;
        if is_first && id.is_approval() {
            p.push(
                Stage,
                format!(
                    "Approval action '{}' cannot be in the source stage '{}'",
                    action.name, stage.name
                ),
            );
        } else if is_first && !id.is_source() {
            p.push(
                Stage,
                format!(
                    "The first stage '{}' can only contain source actions, but action '{}' is a {} action",
                    stage.name, action.name, id.category
                ),
            );
        } else if !is_first && id.is_source() {
            p.push(
                Stage,
                format!(
                    "Source action '{}' is in stage '{}'; only the first stage may contain source actions",
                    action.name, stage.name
                ),
            );
        }
    }
    let mut blockers = HashSet::new();
    for blocker in &stage.blockers {
        if !blockers.insert(blocker.name.as_str()) {
            p.push(
                Blocker,
                format!(
                    "Stage '{}' has more than one blocker named '{}'",
                    stage.name, blocker.name
                ),
            );
        }
    }
}

fn check_action(
    stage: &StageDeclaration,
    action: &ActionDeclaration,
    limits: &Limits,
    action_types: &[ActionType],
    p: &mut Problems,
) {
    use ProblemKind::Action;
    let at = format!("Action '{}' in stage '{}'", action.name, stage.name);
    if !is_valid_name(&action.name) {
        p.push(Action, format!("{at}: the action name is not valid"));
    }
    if action.run_order < 1 || action.run_order > limits.max_run_order {
        p.push(
            Action,
            format!(
                "{at}: runOrder {} is outside the range 1 to {}",
                action.run_order, limits.max_run_order
            ),
        );
    }
    let id = &action.action_type_id;
    if ActionOwner::parse(&id.owner).is_none() {
        p.push(
            Action,
            format!(
                "{at}: owner '{}' is not one of AWS, ThirdParty, Custom",
                id.owner
            ),
        );
        return;
    }
    if ActionCategory::parse(&id.category).is_none() {
        p.push(
            Action,
            format!("{at}: category '{}' is not valid", id.category),
        );
        return;
    }
    let Some(action_type) = action_types.iter().find(|t| &t.id == id) else {
        p.push(Action, format!("{at}: action type {id} does not exist"));
        return;
    };
    for property in &action_type.configuration_properties {
        if property.required && !action.configuration.contains_key(&property.name) {
            p.push(
                Action,
                format!("{at} is missing required configuration '{}'", property.name),
            );
        }
    }
    for name in action.configuration.keys() {
        if action_type.property(name).is_none() {
            p.push(
                Action,
                format!("{at} has unknown configuration '{name}' for action type {id}"),
            );
        }
    }
    if id.provider == "Commands" && action.commands.is_empty() {
        p.push(
            Action,
            format!("{at}: a Commands action must declare commands"),
        );
    }
    for (direction, names, limits) in [
        (
            "input",
            &action.input_artifacts,
            action_type.input_artifact_details,
        ),
        (
            "output",
            &action.output_artifacts,
            action_type.output_artifact_details,
        ),
    ] {
        let n = names.len() as i64;
        if n < limits.minimum_count || n > limits.maximum_count {
            let expected = if limits.minimum_count == limits.maximum_count {
                format!("{}", limits.minimum_count)
            } else {
                format!("{} to {}", limits.minimum_count, limits.maximum_count)
            };
            p.push(
                Action,
                format!(
                    "{at} has {n} {direction} artifact(s); action type {id} requires {expected}"
                ),
            );
        }
    }
}

/// Every output artifact name is unique in the pipeline, and every input artifact is the
/// output of an action that runs before (an earlier stage, or a lower `runOrder` in the same one).
fn check_artifact_flow(pipeline: &PipelineDeclaration, p: &mut Problems) {
    use ProblemKind::Structure;
    let mut producers: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for stage in &pipeline.stages {
        for action in &stage.actions {
            for name in &action.output_artifacts {
                if let Some((other_stage, other_action)) =
                    producers.insert(name.as_str(), (&stage.name, &action.name))
                {
                    p.push(
                        Structure,
                        format!(
                            "Output artifact '{name}' of action '{}' in stage '{}' is already produced by action '{other_action}' in stage '{other_stage}'; output artifact names must be unique within a pipeline",
                            action.name, stage.name
                        ),
                    );
                }
            }
        }
    }
    let mut available: HashSet<&str> = HashSet::new();
    for stage in &pipeline.stages {
        let mut orders: Vec<i64> = stage.actions.iter().map(|a| a.run_order).collect();
        orders.sort_unstable();
        orders.dedup();
        for order in orders {
            let group: Vec<&ActionDeclaration> = stage
                .actions
                .iter()
                .filter(|a| a.run_order == order)
                .collect();
            for action in &group {
                for name in &action.input_artifacts {
                    if !available.contains(name.as_str()) {
                        p.push(
                            Structure,
                            format!(
                                "Input artifact '{name}' of action '{}' in stage '{}' is not declared as an output artifact of any preceding action",
                                action.name, stage.name
                            ),
                        );
                    }
                }
            }
            for action in group {
                available.extend(action.output_artifacts.iter().map(String::as_str));
            }
        }
    }
}

#[cfg(test)]
mod tests;
