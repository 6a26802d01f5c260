//! Action types: the `category/owner/provider/version` identity, their configuration
//! properties, artifact limits and URL templates.

use std::fmt;

/// What kind of work an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionCategory {
    Source,
    Build,
    Deploy,
    Test,
    Invoke,
    Approval,
    Compute,
}

impl ActionCategory {
    pub const ALL: [ActionCategory; 7] = [
        Self::Source,
        Self::Build,
        Self::Deploy,
        Self::Test,
        Self::Invoke,
        Self::Approval,
        Self::Compute,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "Source",
            Self::Build => "Build",
            Self::Deploy => "Deploy",
            Self::Test => "Test",
            Self::Invoke => "Invoke",
            Self::Approval => "Approval",
            Self::Compute => "Compute",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Who provides an action type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionOwner {
    Aws,
    ThirdParty,
    Custom,
}

impl ActionOwner {
    pub const ALL: [ActionOwner; 3] = [Self::Aws, Self::ThirdParty, Self::Custom];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::ThirdParty => "ThirdParty",
            Self::Custom => "Custom",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// The identity of an action type. Kept as strings because a declaration may name a type
/// that does not exist; validation reports that rather than the parser.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ActionTypeId {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

impl ActionTypeId {
    pub fn new(category: &str, owner: &str, provider: &str, version: &str) -> Self {
        Self {
            category: category.into(),
            owner: owner.into(),
            provider: provider.into(),
            version: version.into(),
        }
    }

    pub fn is_source(&self) -> bool {
        self.category == ActionCategory::Source.as_str()
    }

    pub fn is_approval(&self) -> bool {
        self.category == ActionCategory::Approval.as_str()
    }
}

impl fmt::Display for ActionTypeId {
    /// `Owner/Category/Provider/Version`, the form of the guide's `actiontype:` resource.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.owner, self.category, self.provider, self.version
        )
    }
}

/// The type of a configuration property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigurationPropertyType {
    String,
    Number,
    Boolean,
}

impl ConfigurationPropertyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Number => "Number",
            Self::Boolean => "Boolean",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "String" => Some(Self::String),
            "Number" => Some(Self::Number),
            "Boolean" => Some(Self::Boolean),
            _ => None,
        }
    }
}

/// One configuration property an action of this type accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigurationProperty {
    pub name: String,
    pub required: bool,
    pub key: bool,
    pub secret: bool,
    pub queryable: bool,
    pub description: Option<String>,
    pub kind: Option<ConfigurationPropertyType>,
}

impl ConfigurationProperty {
    /// A plain property: not a key, not secret, not queryable.
    pub fn plain(name: &str, required: bool) -> Self {
        Self {
            name: name.into(),
            required,
            key: false,
            secret: false,
            queryable: false,
            description: None,
            kind: None,
        }
    }
}

/// How many artifacts of one direction an action of this type takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactDetails {
    pub minimum_count: i64,
    pub maximum_count: i64,
}

impl ArtifactDetails {
    pub const fn exactly(n: i64) -> Self {
        Self {
            minimum_count: n,
            maximum_count: n,
        }
    }

    pub const fn between(minimum_count: i64, maximum_count: i64) -> Self {
        Self {
            minimum_count,
            maximum_count,
        }
    }
}

/// Links a custom action type shows in the console.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionTypeSettings {
    pub third_party_configuration_url: Option<String>,
    pub entity_url_template: Option<String>,
    pub execution_url_template: Option<String>,
    pub revision_url_template: Option<String>,
}

/// A complete action type, built in or custom.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionType {
    pub id: ActionTypeId,
    pub settings: Option<ActionTypeSettings>,
    pub configuration_properties: Vec<ConfigurationProperty>,
    pub input_artifact_details: ArtifactDetails,
    pub output_artifact_details: ArtifactDetails,
}

impl ActionType {
    pub fn property(&self, name: &str) -> Option<&ConfigurationProperty> {
        self.configuration_properties
            .iter()
            .find(|p| p.name == name)
    }

    pub fn is_secret(&self, name: &str) -> bool {
        self.property(name).is_some_and(|p| p.secret)
    }
}
