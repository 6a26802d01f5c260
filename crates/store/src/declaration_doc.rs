//! The persisted JSON form of a pipeline declaration and of a custom action type. Each
//! document carries a format version so later releases can read what earlier ones wrote.

use serde::{Deserialize, Serialize};
use sluice_model as m;
use std::collections::BTreeMap;

const FORMAT: u32 = 1;

fn format_version() -> u32 {
    FORMAT
}

/// A pipeline declaration as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclarationDoc {
    #[serde(default = "format_version")]
    format: u32,
    name: String,
    role_arn: String,
    artifact_store: Option<StoreDoc>,
    #[serde(default)]
    artifact_stores: BTreeMap<String, StoreDoc>,
    stages: Vec<StageDoc>,
    version: i64,
    execution_mode: Option<String>,
    pipeline_type: Option<String>,
    #[serde(default)]
    variables: Vec<VariableDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    triggers: Vec<TriggerDoc>,
}

/// Includes and excludes.
type PatternsDoc = (Vec<String>, Vec<String>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TriggerDoc {
    provider_type: String,
    source_action: String,
    /// Each push filter: branches, tags, file paths.
    #[serde(default)]
    push: Vec<(
        Option<PatternsDoc>,
        Option<PatternsDoc>,
        Option<PatternsDoc>,
    )>,
    /// Each pull-request filter: events, branches, file paths.
    #[serde(default)]
    pull_request: Vec<(Vec<String>, Option<PatternsDoc>, Option<PatternsDoc>)>,
}

fn patterns_doc(p: &Option<m::triggers::Patterns>) -> Option<PatternsDoc> {
    p.as_ref().map(|p| (p.includes.clone(), p.excludes.clone()))
}

fn patterns_model(p: &Option<PatternsDoc>) -> Option<m::triggers::Patterns> {
    p.as_ref()
        .map(|(includes, excludes)| m::triggers::Patterns {
            includes: includes.clone(),
            excludes: excludes.clone(),
        })
}

impl From<&m::triggers::PipelineTrigger> for TriggerDoc {
    fn from(t: &m::triggers::PipelineTrigger) -> Self {
        Self {
            provider_type: t.provider_type.clone(),
            source_action: t.source_action.clone(),
            push: t
                .push
                .iter()
                .map(|f| {
                    (
                        patterns_doc(&f.branches),
                        patterns_doc(&f.tags),
                        patterns_doc(&f.file_paths),
                    )
                })
                .collect(),
            pull_request: t
                .pull_request
                .iter()
                .map(|f| {
                    (
                        f.events.clone(),
                        patterns_doc(&f.branches),
                        patterns_doc(&f.file_paths),
                    )
                })
                .collect(),
        }
    }
}

impl TriggerDoc {
    fn to_model(&self) -> m::triggers::PipelineTrigger {
        m::triggers::PipelineTrigger {
            provider_type: self.provider_type.clone(),
            source_action: self.source_action.clone(),
            push: self
                .push
                .iter()
                .map(|(branches, tags, file_paths)| m::triggers::PushFilter {
                    branches: patterns_model(branches),
                    tags: patterns_model(tags),
                    file_paths: patterns_model(file_paths),
                })
                .collect(),
            pull_request: self
                .pull_request
                .iter()
                .map(
                    |(events, branches, file_paths)| m::triggers::PullRequestFilter {
                        events: events.clone(),
                        branches: patterns_model(branches),
                        file_paths: patterns_model(file_paths),
                    },
                )
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoreDoc {
    kind: String,
    location: String,
    encryption_key: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct VariableDoc {
    name: String,
    default_value: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StageDoc {
    name: String,
    #[serde(default)]
    blockers: Vec<(String, String)>,
    actions: Vec<ActionDoc>,
    /// `FAIL`, `RETRY:FAILED_ACTIONS`, `RETRY:ALL_ACTIONS` or `ROLLBACK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_failure: Option<String>,
    /// `BEFORE_ENTRY`, `ON_SUCCESS`, `ON_FAILURE` → the stage's condition of that kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    conditions: BTreeMap<String, ConditionDoc>,
}

impl StageDoc {
    fn condition(&self, kind: m::ConditionKind) -> Option<m::Condition> {
        self.conditions.get(kind.as_str()).and_then(condition_model)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ConditionDoc {
    result: String,
    rules: Vec<RuleDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RuleDoc {
    name: String,
    type_id: (String, String, String, String),
    #[serde(default)]
    configuration: BTreeMap<String, String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    input_artifacts: Vec<String>,
    role_arn: Option<String>,
    region: Option<String>,
    timeout_in_minutes: Option<i64>,
}

fn condition_doc(c: &m::Condition) -> ConditionDoc {
    ConditionDoc {
        result: c.result.as_str().into(),
        rules: c
            .rules
            .iter()
            .map(|r| {
                let t = &r.rule_type_id;
                RuleDoc {
                    name: r.name.clone(),
                    type_id: (
                        t.category.clone(),
                        t.owner.clone(),
                        t.provider.clone(),
                        t.version.clone(),
                    ),
                    configuration: r.configuration.clone(),
                    commands: r.commands.clone(),
                    input_artifacts: r.input_artifacts.clone(),
                    role_arn: r.role_arn.clone(),
                    region: r.region.clone(),
                    timeout_in_minutes: r.timeout_in_minutes,
                }
            })
            .collect(),
    }
}

fn condition_model(doc: &ConditionDoc) -> Option<m::Condition> {
    Some(m::Condition {
        result: m::ConditionResult::parse(&doc.result)?,
        rules: doc
            .rules
            .iter()
            .map(|r| {
                let (category, owner, provider, version) = r.type_id.clone();
                m::RuleDeclaration {
                    name: r.name.clone(),
                    rule_type_id: m::RuleTypeId {
                        category,
                        owner,
                        provider,
                        version,
                    },
                    configuration: r.configuration.clone(),
                    commands: r.commands.clone(),
                    input_artifacts: r.input_artifacts.clone(),
                    role_arn: r.role_arn.clone(),
                    region: r.region.clone(),
                    timeout_in_minutes: r.timeout_in_minutes,
                }
            })
            .collect(),
    })
}

fn on_failure_doc(on_failure: m::OnFailure) -> String {
    match on_failure {
        m::OnFailure::Fail => "FAIL".into(),
        m::OnFailure::Retry { all_actions: false } => "RETRY:FAILED_ACTIONS".into(),
        m::OnFailure::Retry { all_actions: true } => "RETRY:ALL_ACTIONS".into(),
        m::OnFailure::Rollback => "ROLLBACK".into(),
    }
}

fn on_failure_model(doc: &str) -> Option<m::OnFailure> {
    match doc {
        "FAIL" => Some(m::OnFailure::Fail),
        "RETRY:FAILED_ACTIONS" => Some(m::OnFailure::Retry { all_actions: false }),
        "RETRY:ALL_ACTIONS" => Some(m::OnFailure::Retry { all_actions: true }),
        "ROLLBACK" => Some(m::OnFailure::Rollback),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ActionDoc {
    name: String,
    type_id: (String, String, String, String),
    run_order: i64,
    #[serde(default)]
    configuration: BTreeMap<String, String>,
    #[serde(default)]
    output_artifacts: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    output_files: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    input_artifacts: Vec<String>,
    role_arn: Option<String>,
    region: Option<String>,
    namespace: Option<String>,
    timeout_in_minutes: Option<i64>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    output_variables: Vec<String>,
    #[serde(default)]
    environment_variables: Vec<(String, String, Option<String>)>,
}

fn store_doc(s: &m::ArtifactStore) -> StoreDoc {
    StoreDoc {
        kind: s.kind.clone(),
        location: s.location.clone(),
        encryption_key: s
            .encryption_key
            .as_ref()
            .map(|k| (k.id.clone(), k.kind.clone())),
    }
}

fn store_model(s: &StoreDoc) -> m::ArtifactStore {
    m::ArtifactStore {
        kind: s.kind.clone(),
        location: s.location.clone(),
        encryption_key: s
            .encryption_key
            .as_ref()
            .map(|(id, kind)| m::EncryptionKey {
                id: id.clone(),
                kind: kind.clone(),
            }),
    }
}

impl From<&m::PipelineDeclaration> for DeclarationDoc {
    fn from(p: &m::PipelineDeclaration) -> Self {
        Self {
            format: FORMAT,
            name: p.name.clone(),
            role_arn: p.role_arn.clone(),
            artifact_store: p.artifact_store.as_ref().map(store_doc),
            artifact_stores: p
                .artifact_stores
                .iter()
                .map(|(k, v)| (k.clone(), store_doc(v)))
                .collect(),
            stages: p
                .stages
                .iter()
                .map(|s| StageDoc {
                    name: s.name.clone(),
                    blockers: s
                        .blockers
                        .iter()
                        .map(|b| (b.name.clone(), b.kind.clone()))
                        .collect(),
                    actions: s.actions.iter().map(action_doc).collect(),
                    on_failure: s.on_failure.map(on_failure_doc),
                    conditions: s
                        .conditions()
                        .map(|(kind, c)| (kind.as_str().to_string(), condition_doc(c)))
                        .collect(),
                })
                .collect(),
            version: p.version,
            execution_mode: p.execution_mode.clone(),
            pipeline_type: p.pipeline_type.clone(),
            variables: p
                .variables
                .iter()
                .map(|v| VariableDoc {
                    name: v.name.clone(),
                    default_value: v.default_value.clone(),
                    description: v.description.clone(),
                })
                .collect(),
            triggers: p.triggers.iter().map(TriggerDoc::from).collect(),
        }
    }
}

fn action_doc(a: &m::ActionDeclaration) -> ActionDoc {
    let t = &a.action_type_id;
    ActionDoc {
        name: a.name.clone(),
        type_id: (
            t.category.clone(),
            t.owner.clone(),
            t.provider.clone(),
            t.version.clone(),
        ),
        run_order: a.run_order,
        configuration: a.configuration.clone(),
        output_artifacts: a.output_artifacts.clone(),
        output_files: a.output_files.clone(),
        input_artifacts: a.input_artifacts.clone(),
        role_arn: a.role_arn.clone(),
        region: a.region.clone(),
        namespace: a.namespace.clone(),
        timeout_in_minutes: a.timeout_in_minutes,
        commands: a.commands.clone(),
        output_variables: a.output_variables.clone(),
        environment_variables: a
            .environment_variables
            .iter()
            .map(|e| (e.name.clone(), e.value.clone(), e.kind.clone()))
            .collect(),
    }
}

/// A location a source action watches: what the source index keys a change by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceLocation {
    /// `S3`, `CodeCommit`, `GitHub` or `CodeStarSourceConnection`.
    pub provider: String,
    /// `bucket/key`, the repository name, `Owner/Repo`, or the connection's repository.
    pub location: String,
    pub action: String,
}

impl DeclarationDoc {
    /// Every location a built-in source action of this declaration watches.
    pub fn source_locations(&self) -> Vec<SourceLocation> {
        let mut found = Vec::new();
        for stage in &self.stages {
            for action in &stage.actions {
                let (category, owner, provider, _) = &action.type_id;
                if category != "Source" || !matches!(owner.as_str(), "AWS" | "ThirdParty") {
                    continue;
                }
                let get = |key: &str| action.configuration.get(key).cloned().unwrap_or_default();
                let location = match provider.as_str() {
                    "S3" => format!("{}/{}", get("S3Bucket"), get("S3ObjectKey")),
                    "CodeCommit" => get("RepositoryName"),
                    "GitHub" => format!("{}/{}", get("Owner"), get("Repo")),
                    "CodeStarSourceConnection" => get("FullRepositoryId"),
                    _ => continue,
                };
                found.push(SourceLocation {
                    provider: provider.clone(),
                    location,
                    action: action.name.clone(),
                });
            }
        }
        found
    }

    /// The domain declaration this document stores.
    pub fn to_model(&self) -> m::PipelineDeclaration {
        m::PipelineDeclaration {
            name: self.name.clone(),
            role_arn: self.role_arn.clone(),
            artifact_store: self.artifact_store.as_ref().map(store_model),
            artifact_stores: self
                .artifact_stores
                .iter()
                .map(|(k, v)| (k.clone(), store_model(v)))
                .collect(),
            stages: self
                .stages
                .iter()
                .map(|s| m::StageDeclaration {
                    name: s.name.clone(),
                    blockers: s
                        .blockers
                        .iter()
                        .map(|(name, kind)| m::BlockerDeclaration {
                            name: name.clone(),
                            kind: kind.clone(),
                        })
                        .collect(),
                    actions: s.actions.iter().map(ActionDoc::to_model).collect(),
                    on_failure: s.on_failure.as_deref().and_then(on_failure_model),
                    before_entry: s.condition(m::ConditionKind::BeforeEntry),
                    on_success: s.condition(m::ConditionKind::OnSuccess),
                    on_failure_condition: s.condition(m::ConditionKind::OnFailure),
                })
                .collect(),
            version: self.version,
            execution_mode: self.execution_mode.clone(),
            pipeline_type: self.pipeline_type.clone(),
            variables: self
                .variables
                .iter()
                .map(|v| m::PipelineVariable {
                    name: v.name.clone(),
                    default_value: v.default_value.clone(),
                    description: v.description.clone(),
                })
                .collect(),
            triggers: self.triggers.iter().map(TriggerDoc::to_model).collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a declaration document always serializes")
    }

    pub fn from_json(s: &str) -> crate::Result<Self> {
        let doc: Self = serde_json::from_str(s)
            .map_err(|e| crate::Error::Corrupt(format!("pipeline declaration: {e}")))?;
        if doc.format > FORMAT {
            return Err(crate::Error::Corrupt(format!(
                "pipeline declaration format {} is newer than this binary knows ({FORMAT})",
                doc.format
            )));
        }
        Ok(doc)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn execution_mode(&self) -> Option<&str> {
        self.execution_mode.as_deref()
    }

    pub fn pipeline_type(&self) -> Option<&str> {
        self.pipeline_type.as_deref()
    }

    /// The same document with another version number.
    pub fn with_version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }
}

impl ActionDoc {
    fn to_model(&self) -> m::ActionDeclaration {
        let (c, o, p, v) = &self.type_id;
        m::ActionDeclaration {
            name: self.name.clone(),
            action_type_id: m::ActionTypeId::new(c, o, p, v),
            run_order: self.run_order,
            configuration: self.configuration.clone(),

            output_artifacts: self.output_artifacts.clone(),
            output_files: self.output_files.clone(),
            input_artifacts: self.input_artifacts.clone(),
            role_arn: self.role_arn.clone(),
            region: self.region.clone(),
            namespace: self.namespace.clone(),
            timeout_in_minutes: self.timeout_in_minutes,
            commands: self.commands.clone(),
            output_variables: self.output_variables.clone(),
            environment_variables: self
                .environment_variables
                .iter()
                .map(|(name, value, kind)| m::EnvironmentVariable {
                    name: name.clone(),
                    value: value.clone(),
                    kind: kind.clone(),
                })
                .collect(),
        }
    }
}

/// A custom action type as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionTypeDoc {
    #[serde(default = "format_version")]
    format: u32,
    settings: Option<[Option<String>; 4]>,
    properties: Vec<PropertyDoc>,
    input: (i64, i64),
    output: (i64, i64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PropertyDoc {
    name: String,
    required: bool,
    key: bool,
    secret: bool,
    queryable: bool,
    description: Option<String>,
    kind: Option<String>,
}

impl From<&m::ActionType> for ActionTypeDoc {
    fn from(t: &m::ActionType) -> Self {
        Self {
            format: FORMAT,
            settings: t.settings.as_ref().map(|s| {
                [
                    s.third_party_configuration_url.clone(),
                    s.entity_url_template.clone(),
                    s.execution_url_template.clone(),
                    s.revision_url_template.clone(),
                ]
            }),
            properties: t
                .configuration_properties
                .iter()
                .map(|p| PropertyDoc {
                    name: p.name.clone(),
                    required: p.required,
                    key: p.key,
                    secret: p.secret,
                    queryable: p.queryable,
                    description: p.description.clone(),
                    kind: p.kind.map(|k| k.as_str().to_string()),
                })
                .collect(),
            input: (
                t.input_artifact_details.minimum_count,
                t.input_artifact_details.maximum_count,
            ),
            output: (
                t.output_artifact_details.minimum_count,
                t.output_artifact_details.maximum_count,
            ),
        }
    }
}

impl ActionTypeDoc {
    /// The domain action type, given its identity.
    pub fn to_model(&self, key: &crate::ActionTypeKey) -> m::ActionType {
        m::ActionType {
            id: m::ActionTypeId::new(&key.category, &key.owner, &key.provider, &key.version),
            settings: self
                .settings
                .as_ref()
                .map(|[a, b, c, d]| m::ActionTypeSettings {
                    third_party_configuration_url: a.clone(),
                    entity_url_template: b.clone(),
                    execution_url_template: c.clone(),
                    revision_url_template: d.clone(),
                }),
            configuration_properties: self
                .properties
                .iter()
                .map(|p| m::ConfigurationProperty {
                    name: p.name.clone(),
                    required: p.required,
                    key: p.key,
                    secret: p.secret,
                    queryable: p.queryable,
                    description: p.description.clone(),
                    kind: p
                        .kind
                        .as_deref()
                        .and_then(m::ConfigurationPropertyType::parse),
                })
                .collect(),
            input_artifact_details: m::ArtifactDetails::between(self.input.0, self.input.1),
            output_artifact_details: m::ArtifactDetails::between(self.output.0, self.output.1),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an action type document always serializes")
    }

    pub fn from_json(s: &str) -> crate::Result<Self> {
        serde_json::from_str(s).map_err(|e| crate::Error::Corrupt(format!("action type: {e}")))
    }
}
