//! Change detection: a new object version or a pushed branch starts every pipeline whose
//! source action watches it (unless `PollForSourceChanges` is `false`), as the guide's
//! walkthroughs expect.

use crate::{Result, Sluice, Trigger};
use sluice_model::triggers::PushedRef;
use sluice_model::{ActionDeclaration, PipelineDeclaration};

fn watches(action: &ActionDeclaration, provider: &str) -> bool {
    action.action_type_id.category == "Source"
        && matches!(action.action_type_id.owner.as_str(), "AWS" | "ThirdParty")
        && action.action_type_id.provider == provider
        && action
            .configuration
            // A connection's source says `DetectChanges`; the others `PollForSourceChanges`.
            .get("PollForSourceChanges")
            .or(action.configuration.get("DetectChanges"))
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
}

impl Sluice {
    /// For every source action of `providers` watching `location` (any, when `None`), what
    /// `visit` makes of it, with the pipeline's name. The source index finds them: only the
    /// pipelines that watch are read.
    async fn scan_sources<T>(
        &self,
        providers: &[&str],
        location: Option<&str>,
        mut visit: impl FnMut(&PipelineDeclaration, &ActionDeclaration) -> Option<T>,
    ) -> Result<Vec<(String, T)>> {
        let mut found = Vec::new();
        for provider in providers {
            let mut watchers = self.store().sources_at(provider, location).await?;
            watchers.dedup();
            let mut current: Option<(String, PipelineDeclaration)> = None;
            for (pipeline, action) in watchers {
                if current.as_ref().is_none_or(|(name, _)| *name != pipeline) {
                    let Some(record) = self.store().get_pipeline(&pipeline, None).await? else {
                        continue;
                    };
                    current = Some((pipeline.clone(), record.declaration.to_model()));
                }
                let Some((_, declaration)) = &current else {
                    continue;
                };
                let Some((_, declared)) = declaration.actions().find(|(_, a)| a.name == action)
                else {
                    continue;
                };
                if let Some(value) = visit(declaration, declared) {
                    found.push((pipeline.clone(), value));
                }
            }
        }
        Ok(found)
    }

    /// Pipelines with a source action of `provider` that watches for changes (and has no
    /// trigger with filters) and `matches` its configuration.
    async fn pipelines_watching(
        &self,
        provider: &str,
        location: Option<&str>,
        matches: impl Fn(&ActionDeclaration) -> bool,
    ) -> Result<Vec<(String, String)>> {
        // A trigger with filters replaces change detection: only its filters start a run.
        self.scan_sources(&[provider], location, |declaration, action| {
            let filtered = declaration
                .trigger_of(&action.name)
                .is_some_and(|t| t.has_filters());
            (watches(action, provider) && !filtered && matches(action)).then(|| action.name.clone())
        })
        .await
    }

    async fn start_for_change(&self, watchers: Vec<(String, String)>, kind: &str, detail: &str) {
        let mut started = std::collections::BTreeSet::new();
        for (pipeline, action) in watchers {
            if !started.insert(pipeline.clone()) {
                continue;
            }
            let trigger = Trigger {
                kind: kind.into(),
                detail: format!("{action}: {detail}"),
            };
            match self
                .start_pipeline_execution(&pipeline, trigger, Default::default(), None)
                .await
            {
                Ok(id) => tracing::info!(pipeline, execution = id, "a source change started a run"),
                Err(e) => {
                    tracing::warn!(pipeline, error = %e, "a source change could not start a run")
                }
            }
        }
    }

    /// A new version of `bucket/key` was stored.
    pub(crate) async fn object_changed(&self, bucket: &str, key: &str) {
        let watchers = self
            .pipelines_watching("S3", Some(&format!("{bucket}/{key}")), |a| {
                a.configuration.get("S3Bucket").map(String::as_str) == Some(bucket)
                    && a.configuration.get("S3ObjectKey").map(String::as_str) == Some(key)
            })
            .await;
        match watchers {
            Ok(w) => {
                self.start_for_change(w, "PollForSourceChanges", &format!("s3://{bucket}/{key}"))
                    .await
            }
            Err(e) => tracing::warn!(error = %e, "change detection failed"),
        }
    }

    /// A push moved a branch or a tag of the hosted repository `repository` to `commit`.
    /// A CodeCommit source (or a connection source on this server's repositories) with a
    /// filtering trigger starts its pipeline when a push filter admits the push, on exactly
    /// that commit; one without watches its `BranchName`. `changed_files` lists the files the
    /// push changed; it runs only when a file-path filter needs them.
    pub async fn git_pushed(
        &self,
        repository: &str,
        pushed: GitRef<'_>,
        commit: &str,
        changed_files: impl AsyncFnOnce() -> Vec<String>,
    ) {
        // The source index finds every source on the repository, with its trigger.
        let candidates = self
            .scan_sources(
                &["CodeCommit", "CodeStarSourceConnection"],
                Some(repository),
                |declaration, action| {
                    Some(Candidate {
                        action: action.clone(),
                        trigger: declaration
                            .trigger_of(&action.name)
                            .filter(|t| t.has_filters())
                            .cloned(),
                    })
                },
            )
            .await;
        let candidates = match candidates {
            Ok(candidates) => candidates,
            Err(e) => return tracing::warn!(error = %e, "change detection failed"),
        };
        let needs_files = match pushed {
            GitRef::Branch(name) => candidates.iter().any(|(_, c)| {
                c.trigger.as_ref().is_some_and(|t| {
                    t.push.iter().any(|f| {
                        f.file_paths.is_some()
                            && f.branches.as_ref().is_some_and(|b| b.admits(name))
                    })
                })
            }),
            GitRef::Tag(_) => false,
        };
        let files = if needs_files {
            changed_files().await
        } else {
            Vec::new()
        };
        let (pushed, pushed_name) = match pushed {
            GitRef::Branch(name) => (
                PushedRef::Branch {
                    name,
                    changed_files: &files,
                },
                format!("branch {name}"),
            ),
            GitRef::Tag(name) => (PushedRef::Tag { name }, format!("tag {name}")),
        };
        let mut started = std::collections::BTreeSet::new();
        for (pipeline, candidate) in candidates {
            let Some((action, trigger)) =
                candidate.start(&pushed, &pushed_name, repository, commit)
            else {
                continue;
            };
            // A connection source starts on pushes here only when its connection is to this
            // server's repositories.
            if candidate.action.action_type_id.provider == "CodeStarSourceConnection" {
                let arn = candidate.action.configuration.get("ConnectionArn");
                let hosted = match arn {
                    Some(arn) => matches!(
                        self.connection_source(arn).await,
                        Ok(crate::ConnectionSource::Hosted)
                    ),
                    None => false,
                };
                if !hosted {
                    continue;
                }
            }
            if !started.insert(pipeline.clone()) {
                continue;
            }
            // A trigger's execution runs exactly the pushed commit, whatever branch it is on.
            let overrides = if trigger.kind == "WebhookV2" {
                crate::StartOverrides {
                    source_revisions: [(
                        action,
                        sluice_engine::SourceRevision {
                            kind: "COMMIT_ID".into(),
                            value: commit.into(),
                        },
                    )]
                    .into(),
                    ..Default::default()
                }
            } else {
                Default::default()
            };
            match self
                .start_pipeline_execution(&pipeline, trigger, overrides, None)
                .await
            {
                Ok(id) => tracing::info!(pipeline, execution = id, "a push started a run"),
                Err(e) => tracing::warn!(pipeline, error = %e, "a push could not start a run"),
            }
        }
    }
}

/// What a push moved: a branch or a tag, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitRef<'a> {
    Branch(&'a str),
    Tag(&'a str),
}

/// A source on a pushed repository, with its trigger if that filters.
struct Candidate {
    action: ActionDeclaration,
    trigger: Option<sluice_model::triggers::PipelineTrigger>,
}

impl Candidate {
    /// Whether the push starts a run through this source, and with what trigger: a trigger
    /// with filters decides by them; without one the source watches its `BranchName`.
    fn start(
        &self,
        pushed: &PushedRef<'_>,
        pushed_name: &str,
        repository: &str,
        commit: &str,
    ) -> Option<(String, Trigger)> {
        let action = &self.action;
        let provider = action.action_type_id.provider.as_str();
        match &self.trigger {
            Some(trigger) => {
                let (n, filter) = trigger.admitting(pushed)?;
                Some((
                    action.name.clone(),
                    Trigger {
                        kind: "WebhookV2".into(),
                        detail: format!(
                            "{}: push of {pushed_name} ({commit}) to {repository} matched push filter {} ({})",
                            action.name,
                            n + 1,
                            filter.describe()
                        ),
                    },
                ))
            }
            None => {
                let PushedRef::Branch { name, .. } = pushed else {
                    return None;
                };
                let watched = watches(action, provider)
                    && action.configuration.get("BranchName").map(String::as_str) == Some(*name);
                watched.then(|| {
                    (
                        action.name.clone(),
                        Trigger {
                            kind: "PollForSourceChanges".into(),
                            detail: format!("{}: {repository}@{name} {commit}", action.name),
                        },
                    )
                })
            }
        }
    }
}

/// What `PutActionRevision` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRevisionResult {
    pub new_revision: bool,
    pub pipeline_execution_id: Option<String>,
}

impl Sluice {
    /// A source reports a revision: a new one (not the revision the action last ran) starts
    /// the pipeline; a known one starts nothing.
    pub async fn put_action_revision(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        revision_id: &str,
    ) -> Result<ActionRevisionResult> {
        let state = self.get_pipeline_state(pipeline).await?;
        let stage_state = state
            .stages
            .iter()
            .find(|s| s.name == stage)
            .ok_or_else(|| crate::Error::StageNotFound {
                pipeline: pipeline.into(),
                stage: stage.into(),
            })?;
        let action_state = stage_state
            .actions
            .iter()
            .find(|a| a.name == action)
            .ok_or_else(|| crate::Error::ActionNotFound(action.into()))?;
        let known = action_state
            .latest
            .as_ref()
            .and_then(|l| l.current_revision.as_deref());
        if known == Some(revision_id) {
            return Ok(ActionRevisionResult {
                new_revision: false,
                pipeline_execution_id: stage_state
                    .latest_execution
                    .as_ref()
                    .map(|e| e.execution_id.clone()),
            });
        }
        let trigger = Trigger {
            kind: "PutActionRevision".into(),
            detail: format!("{action}: {revision_id}"),
        };
        let id = self
            .start_pipeline_execution(pipeline, trigger, Default::default(), None)
            .await?;
        Ok(ActionRevisionResult {
            new_revision: true,
            pipeline_execution_id: Some(id),
        })
    }
}

/// A source action that asks to be polled, and what it last ran.
#[derive(Debug, Clone, PartialEq)]
pub struct PolledSource {
    pub pipeline: String,
    pub action: String,
    pub configuration: std::collections::BTreeMap<String, String>,
    /// The revision of the action's latest run, if it produced one.
    pub last_revision: Option<String>,
    /// Whether the action is running now (a poll then waits for it).
    pub running: bool,
}

impl Sluice {
    /// Source actions of `provider` with `PollForSourceChanges` not `false`.
    pub async fn polled_sources(&self, provider: &str) -> Result<Vec<PolledSource>> {
        let mut out = Vec::new();
        for (pipeline, action) in self.pipelines_watching(provider, None, |_| true).await? {
            let record = self.current_pipeline(&pipeline).await?;
            let declaration = record.declaration.to_model();
            let Some((stage, declared)) = declaration
                .stages
                .iter()
                .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
                .find(|(_, a)| a.name == action)
            else {
                continue;
            };
            let state = self.get_pipeline_state(&pipeline).await?;
            let latest = state
                .stages
                .iter()
                .flat_map(|s| &s.actions)
                .find(|a| a.name == action)
                .and_then(|a| a.latest.clone());
            let mut configuration = declared.configuration.clone();
            self.unseal_configuration(
                (&pipeline, &stage.name, &action),
                &mut configuration,
                crate::sealing::Legacy::Open,
            )?;
            out.push(PolledSource {
                configuration,
                last_revision: latest.as_ref().and_then(|l| l.current_revision.clone()),
                running: latest.as_ref().is_some_and(|l| l.status == "InProgress"),
                pipeline,
                action,
            });
        }
        Ok(out)
    }

    /// A poll found `revision` where the action last ran another one.
    pub async fn start_for_polled_change(
        &self,
        source: &PolledSource,
        revision: &str,
    ) -> Result<String> {
        let trigger = Trigger {
            kind: "PollForSourceChanges".into(),
            detail: format!("{}: {revision}", source.action),
        };
        self.start_pipeline_execution(&source.pipeline, trigger, Default::default(), None)
            .await
    }
}
