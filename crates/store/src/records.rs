//! What the store persists. These are persistence types, separate from the domain types of
//! `model`; conversions live next to them.

use crate::DeclarationDoc;

/// A key/value tag of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A pipeline to create.
#[derive(Debug, Clone)]
pub struct NewPipeline {
    pub name: String,
    pub arn: String,
    pub declaration: DeclarationDoc,
    pub created_ms: i64,
    pub tags: Vec<Tag>,
}

/// One stored version of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRecord {
    pub name: String,
    pub arn: String,
    pub version: i64,
    pub declaration: DeclarationDoc,
    pub created_ms: i64,
    /// When this version was written.
    pub updated_ms: i64,
}

/// A row of `ListPipelines`.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSummary {
    pub name: String,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub execution_mode: Option<String>,
    pub pipeline_type: Option<String>,
}

/// Which side of a stage a transition guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionDirection {
    Inbound,
    Outbound,
}

impl TransitionDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "Inbound",
            Self::Outbound => "Outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Inbound" => Some(Self::Inbound),
            "Outbound" => Some(Self::Outbound),
            _ => None,
        }
    }
}

/// The state of one transition, as last changed.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRecord {
    pub pipeline: String,
    pub stage: String,
    pub direction: TransitionDirection,
    pub enabled: bool,
    pub reason: Option<String>,
    pub changed_by: String,
    pub changed_ms: i64,
}

/// The identity of a custom action type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ActionTypeKey {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

impl From<&sluice_model::ActionTypeId> for ActionTypeKey {
    fn from(id: &sluice_model::ActionTypeId) -> Self {
        Self {
            category: id.category.clone(),
            owner: id.owner.clone(),
            provider: id.provider.clone(),
            version: id.version.clone(),
        }
    }
}

/// A stored custom action type; `definition` is the versioned JSON document of the type.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionTypeRecord {
    pub key: ActionTypeKey,
    pub definition: crate::declaration_doc::ActionTypeDoc,
    pub created_ms: i64,
}

/// An access key and whom it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub principal_arn: String,
    pub created_ms: i64,
}

/// Tags of a custom action type are keyed by its identity alone, since the region and account
/// in its ARN are the server's own.
pub fn action_type_tag_key(k: &ActionTypeKey) -> String {
    format!(
        "actiontype:{}/{}/{}/{}",
        k.owner, k.category, k.provider, k.version
    )
}

/// The key a resource's tags are stored under, given its ARN.
pub fn tag_resource_key(arn: &str) -> String {
    match arn.split_once(":actiontype:") {
        Some((_, id)) => format!("actiontype:{id}"),
        None => arn.to_string(),
    }
}
