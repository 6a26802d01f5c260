//! Pipelines as declarations: create, read any version, update, delete, list, the state view
//! and stage transitions.

use crate::{Caller, Error, Page, Result, Sluice};
use sluice_model::{secrets, validate_pipeline, ActionType, PipelineDeclaration};
use sluice_store::{DeclarationDoc, NewPipeline, Tag, TransitionDirection, TransitionRecord};

/// A pipeline as `GetPipeline` shows it: secrets masked, with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineView {
    pub declaration: PipelineDeclaration,
    pub arn: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The state of one transition.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionState {
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub last_changed_by: Option<String>,
    pub last_changed_ms: Option<i64>,
}

/// One stage of `GetPipelineState`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageState {
    pub name: String,
    /// `None` for the first stage, which nothing transitions into.
    pub inbound: Option<TransitionState>,
    /// The latest execution that entered the stage, with its status there.
    pub latest_execution: Option<crate::StageExecutionView>,
    /// The executions waiting to enter the stage, first in line first (one at most under
    /// SUPERSEDED).
    pub inbound_executions: Vec<crate::StageExecutionView>,
    pub actions: Vec<crate::ActionStateView>,
    /// The latest check of each of the stage's conditions by its latest execution.
    pub conditions: Vec<sluice_engine::ConditionRun>,
}

/// A pipeline at a glance, for an overview of many: each stage's latest status and the latest
/// execution. Cheaper than `GetPipelineState` (no transitions, no action types, no actions).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOverview {
    pub name: String,
    pub updated_ms: i64,
    /// Every stage in order, with the status of the latest execution that entered it.
    pub stages: Vec<(String, Option<String>)>,
    pub latest: Option<crate::ExecutionView>,
}

/// `GetPipelineState`: the structure, its transitions and the latest run of every stage.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineState {
    pub name: String,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub stages: Vec<StageState>,
}

const LIST_SCOPE: &str = "ListPipelines";
/// The page size when the caller gives no `maxResults`.
pub const DEFAULT_PAGE_SIZE: usize = 100;

impl Sluice {
    fn check_declaration(
        &self,
        pipeline: &PipelineDeclaration,
        types: &[ActionType],
    ) -> Result<()> {
        let mut problems = validate_pipeline(pipeline, &self.options().limits, types);
        // A rule runs where this server runs; another region would be silently ignored.
        let region = &self.options().region;
        for stage in &pipeline.stages {
            for (_, condition) in stage.conditions() {
                for rule in &condition.rules {
                    if let Some(other) = rule.region.as_ref().filter(|r| *r != region) {
                        problems.push(sluice_model::Problem {
                            kind: sluice_model::ProblemKind::Stage,
                            message: format!(
                                "Rule '{}' of stage '{}' names region {other}; this server runs rules in {region} only",
                                rule.name, stage.name
                            ),
                        });
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidDeclaration(problems))
        }
    }

    /// Every problem of a declaration, as creating it would judge its structure (the API
    /// answers only the first): for forms that show each problem beside its field.
    pub async fn pipeline_problems(
        &self,
        pipeline: &PipelineDeclaration,
    ) -> Result<Vec<sluice_model::Problem>> {
        let types = self.action_types_known().await?;
        let mut problems = Self::sealed_values_supplied(pipeline);
        if let Err(Error::InvalidDeclaration(found)) = self.check_declaration(pipeline, &types) {
            problems.extend(found);
        }
        Ok(problems)
    }

    /// Validates and stores version 1 of a new pipeline; returns it as stored, secrets masked.
    pub async fn create_pipeline(
        &self,
        mut pipeline: PipelineDeclaration,
        tags: Vec<Tag>,
    ) -> Result<PipelineDeclaration> {
        let supplied = Self::sealed_values_supplied(&pipeline);
        if !supplied.is_empty() {
            return Err(Error::InvalidDeclaration(supplied));
        }
        let types = self.action_types_known().await?;
        pipeline.version = 1;
        // The role first, as AWS checks it before the structure.
        self.check_roles(&pipeline).await?;
        self.check_declaration(&pipeline, &types)?;
        self.check_tags(&tags)?;
        let now = self.now_ms();
        let arn = sluice_model::arn::pipeline_arn(
            &self.options().region,
            &self.options().account_id,
            &pipeline.name,
        );
        let new = NewPipeline {
            name: pipeline.name.clone(),
            arn,
            declaration: DeclarationDoc::from(&self.seal_declaration(&pipeline, &types)?),
            created_ms: now,
            tags,
            buckets: self.artifact_buckets(&pipeline).await?,
        };
        self.store()
            .create_pipeline(&new, self.options().limits.max_pipelines_per_account)
            .await
            .map_err(|e| self.name_in_use(e.into()))?;
        // A new pipeline runs at once, as in CodePipeline. The pipeline is already stored; a
        // failure to start is reported in the log and the pipeline can be started by hand.
        let trigger = sluice_engine::Trigger {
            kind: "CreatePipeline".into(),
            detail: String::new(),
        };
        if let Err(e) = self
            .start_pipeline_execution(&pipeline.name, trigger, Default::default(), None)
            .await
        {
            tracing::error!(pipeline = %pipeline.name, error = %e, "could not start the first execution");
        }
        Ok(secrets::mask(&pipeline, &types))
    }

    /// The latest version of a pipeline, or the given one.
    pub async fn get_pipeline(&self, name: &str, version: Option<i64>) -> Result<PipelineView> {
        let record = match self.store().get_pipeline(name, version).await? {
            Some(r) => r,
            None => {
                return Err(match version {
                    Some(v) if self.store().get_pipeline(name, None).await?.is_some() => {
                        Error::PipelineVersionNotFound {
                            pipeline: name.into(),
                            version: v,
                        }
                    }
                    _ => self.pipeline_not_found(name),
                })
            }
        };
        let types = self.action_types_known().await?;
        Ok(PipelineView {
            declaration: secrets::mask(&record.declaration.to_model(), &types),
            arn: record.arn,
            created_ms: record.created_ms,
            updated_ms: record.updated_ms,
        })
    }

    /// Stores `pipeline` as the next version. Masked secrets are carried over from the
    /// current version where the stage and action names are unchanged.
    pub async fn update_pipeline(
        &self,
        mut pipeline: PipelineDeclaration,
    ) -> Result<PipelineDeclaration> {
        let supplied = Self::sealed_values_supplied(&pipeline);
        if !supplied.is_empty() {
            return Err(Error::InvalidDeclaration(supplied));
        }
        let current = self
            .current_pipeline(&pipeline.name)
            .await
            .map_err(|e| self.as_resource(e))?;
        let types = self.action_types_known().await?;
        let problems = secrets::carry_over(&mut pipeline, &current.declaration.to_model(), &types);
        if !problems.is_empty() {
            return Err(Error::InvalidDeclaration(problems));
        }
        pipeline.version = current.version + 1;
        // The role first, as AWS checks it before the structure.
        self.check_roles(&pipeline).await?;
        self.check_declaration(&pipeline, &types)?;
        let buckets = self.artifact_buckets(&pipeline).await?;
        let stored = self
            .store()
            .update_pipeline(
                &pipeline.name,
                current.version,
                &DeclarationDoc::from(&self.seal_declaration(&pipeline, &types)?),
                &buckets,
                self.now_ms(),
            )
            .await
            .map_err(|e| match e {
                sluice_store::Error::NotFound(_) => self.pipeline_not_found(&pipeline.name),
                other => other.into(),
            })?;
        // The guide: updating a pipeline stops the runs in progress.
        let input = sluice_engine::Input::PipelineUpdated {
            version: stored.version,
        };
        self.step(
            &pipeline.name,
            vec![input],
            crate::run_step::StepExtra::default(),
        )
        .await?;
        Ok(secrets::mask(&stored.declaration.to_model(), &types))
    }

    /// Deletes a pipeline; deleting one that does not exist succeeds, as in CodePipeline.
    pub async fn delete_pipeline(&self, name: &str) -> Result<()> {
        self.store().delete_pipeline(name).await?;
        Ok(())
    }

    /// One page of pipeline summaries, ordered by name.
    pub async fn list_pipelines(
        &self,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<Page<sluice_store::PipelineSummary>> {
        let after = match next_token {
            Some(t) => Some(
                self.inner
                    .tokens
                    .verify(LIST_SCOPE, t)
                    .ok_or(Error::InvalidNextToken)?,
            ),
            None => None,
        };
        let limit = max_results.unwrap_or(DEFAULT_PAGE_SIZE).max(1);
        let mut items = self
            .store()
            .list_pipelines(after.as_deref(), limit + 1)
            .await?;
        let next_token = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| self.inner.tokens.sign(LIST_SCOPE, &last.name))
        } else {
            None
        };
        Ok(Page { items, next_token })
    }

    /// The pipeline at a glance (`PipelineOverview`).
    pub async fn pipeline_overview(&self, name: &str) -> Result<PipelineOverview> {
        let record = self.current_pipeline(name).await?;
        let declaration = record.declaration.to_model();
        let (runtime, _) = self.load_runtime(name, &declaration).await?;
        let no_urls = |_: &str, _: Option<&str>| (None, None);
        let stages = declaration
            .stages
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                let status = (i < runtime.slots.len() && runtime.slots[i].name == stage.name)
                    .then(|| crate::executions::stage_views(&runtime, i, &no_urls).0)
                    .flatten()
                    .map(|e| e.status);
                (stage.name.clone(), status)
            })
            .collect();
        let latest = match self.store().list_executions(name, None, 1).await?.first() {
            Some(r) => {
                let e = crate::runtime_doc::ExecutionDoc::from_json(&r.doc)?.to_engine()?;
                let same_version = e.pipeline_version == record.version;
                Some(
                    self.view_with(name, &e, same_version.then_some(&declaration))
                        .await?,
                )
            }
            None => None,
        };
        Ok(PipelineOverview {
            name: record.name,
            updated_ms: record.updated_ms,
            stages,
            latest,
        })
    }

    /// The pipeline's stages with the state of their inbound transitions.
    pub async fn get_pipeline_state(&self, name: &str) -> Result<PipelineState> {
        let record = self.current_pipeline(name).await?;
        let transitions = self.store().transitions(name).await?;
        let declaration = record.declaration.to_model();
        let (runtime, _) = self.load_runtime(name, &declaration).await?;
        let types = self.action_types_known().await?;
        let mut stages = Vec::with_capacity(declaration.stages.len());
        for (i, stage) in declaration.stages.iter().enumerate() {
            let recorded = transitions
                .iter()
                .find(|t| t.stage == stage.name && t.direction == TransitionDirection::Inbound);
            let inbound = (i > 0).then(|| match recorded {
                Some(t) => TransitionState {
                    enabled: t.enabled,
                    disabled_reason: if t.enabled { None } else { t.reason.clone() },
                    last_changed_by: Some(t.changed_by.clone()),
                    last_changed_ms: Some(t.changed_ms),
                },
                None => TransitionState {
                    enabled: true,
                    disabled_reason: None,
                    last_changed_by: None,
                    last_changed_ms: None,
                },
            });
            let urls = |action: &str, external: Option<&str>| {
                let declared = stage.actions.iter().find(|a| a.name == action);
                let settings = declared
                    .and_then(|a| types.iter().find(|t| t.id == a.action_type_id))
                    .and_then(|t| t.settings.clone());
                let config = declared
                    .map(|a| a.configuration.clone())
                    .unwrap_or_default();
                // Built-in types link pages of this server; those templates are relative.
                let render = |t: &Option<String>| {
                    t.as_deref().map(|t| {
                        let url = sluice_model::templates::render(t, &config, external);
                        if url.starts_with('/') {
                            format!("{}{url}", self.options().public_url.trim_end_matches('/'))
                        } else {
                            url
                        }
                    })
                };
                match settings {
                    Some(s) => (
                        render(&s.entity_url_template),
                        render(&s.execution_url_template),
                    ),
                    None => (None, None),
                }
            };
            let (latest_execution, inbound_executions, mut latest_actions) =
                if i < runtime.slots.len() && runtime.slots[i].name == stage.name {
                    crate::executions::stage_views(&runtime, i, &urls)
                } else {
                    (None, Vec::new(), Default::default())
                };
            let actions = stage
                .actions
                .iter()
                .map(|a| crate::ActionStateView {
                    name: a.name.clone(),
                    entity_url: urls(&a.name, None).0,
                    latest: latest_actions.remove(&a.name),
                })
                .collect();
            let conditions = runtime
                .slots
                .get(i)
                .filter(|slot| slot.name == stage.name)
                .and_then(|slot| runtime.executions.get(slot.latest.as_ref()?))
                .and_then(|e| e.stage_runs.get(&i))
                .map(|run| {
                    sluice_model::ConditionKind::ALL
                        .iter()
                        .filter_map(|kind| run.latest_condition(*kind).cloned())
                        .collect()
                })
                .unwrap_or_default();
            stages.push(StageState {
                name: stage.name.clone(),
                inbound,
                latest_execution,
                inbound_executions,
                actions,
                conditions,
            });
        }
        Ok(PipelineState {
            name: record.name,
            version: record.version,
            created_ms: record.created_ms,
            updated_ms: record.updated_ms,
            stages,
        })
    }

    /// Enables or disables a stage's inbound or outbound transition, recording who and why.
    pub async fn set_stage_transition(
        &self,
        caller: &Caller,
        pipeline: &str,
        stage: &str,
        direction: TransitionDirection,
        enabled: bool,
        reason: Option<String>,
    ) -> Result<()> {
        self.pipeline_with_stage(pipeline, stage).await?;
        let transition = TransitionRecord {
            pipeline: pipeline.into(),
            stage: stage.into(),
            direction,
            enabled,
            reason,
            changed_by: caller.arn.clone(),
            changed_ms: self.now_ms(),
        };
        self.store()
            .set_transition(&transition)
            .await
            .map_err(|e| match e {
                sluice_store::Error::NotFound(_) => self.pipeline_not_found(pipeline),
                other => other.into(),
            })?;
        self.count_change();
        // Enabling lets the newest waiting execution in; the record above is what the state
        // view shows, the runtime is what holds executions.
        let input = sluice_engine::Input::TransitionChanged {
            stage: stage.into(),
            inbound: direction == TransitionDirection::Inbound,
            enabled,
        };
        self.step(pipeline, vec![input], crate::run_step::StepExtra::default())
            .await?;
        Ok(())
    }

    /// Whether a pipeline of this name exists.
    pub(crate) async fn pipeline_exists(&self, name: &str) -> Result<bool> {
        Ok(self.store().get_pipeline(name, None).await?.is_some())
    }
}
