//! CodeDeploy's host command protocol (`codedeploy-commands`, JSON 1.1, target
//! `CodeDeployCommandService_v20141006`): what a host agent speaks to learn its next lifecycle
//! event and report how it went. botocore does not carry this model (AWS's agent ships it), so
//! its five operations and their shapes are written here by hand, in the generated modules'
//! form.

use crate::shape::{Member, ShapeDef};
use serde::{Deserialize, Serialize};

pub const TARGET_PREFIX: &str = "CodeDeployCommandService_v20141006";
/// The JSON protocol version: `application/x-amz-json-{JSON_VERSION}`.
pub const JSON_VERSION: &str = "1.1";
/// The signing name (`endpointPrefix`) of the protocol.
pub const SIGNING_NAME: &str = "codedeploy-commands";

/// Looks a shape of this protocol up by its model name.
pub fn shape(name: &str) -> Option<&'static ShapeDef> {
    crate::shape::shape_in(SHAPES, name)
}

/// Parses, checks and deserializes `body` as this protocol's shape `shape_name`.
pub fn decode<T: serde::de::DeserializeOwned>(
    shape_name: &str,
    body: &[u8],
) -> Result<T, crate::DecodeError> {
    crate::decode::decode_in(SHAPES, shape_name, body)
}

/// Every operation of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    GetDeploymentSpecification,
    PollHostCommand,
    PostHostCommandUpdate,
    PutHostCommandAcknowledgement,
    PutHostCommandComplete,
}

impl Operation {
    pub const ALL: &'static [Operation] = &[
        Operation::GetDeploymentSpecification,
        Operation::PollHostCommand,
        Operation::PostHostCommandUpdate,
        Operation::PutHostCommandAcknowledgement,
        Operation::PutHostCommandComplete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::GetDeploymentSpecification => "GetDeploymentSpecification",
            Operation::PollHostCommand => "PollHostCommand",
            Operation::PostHostCommandUpdate => "PostHostCommandUpdate",
            Operation::PutHostCommandAcknowledgement => "PutHostCommandAcknowledgement",
            Operation::PutHostCommandComplete => "PutHostCommandComplete",
        }
    }

    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|op| op.name() == name)
    }

    pub fn input_shape(self) -> Option<&'static str> {
        Some(match self {
            Operation::GetDeploymentSpecification => "GetDeploymentSpecificationInput",
            Operation::PollHostCommand => "PollHostCommandInput",
            Operation::PostHostCommandUpdate => "PostHostCommandUpdateInput",
            Operation::PutHostCommandAcknowledgement => "PutHostCommandAcknowledgementInput",
            Operation::PutHostCommandComplete => "PutHostCommandCompleteInput",
        })
    }
}

const fn string(min: Option<i64>, max: Option<i64>) -> ShapeDef {
    ShapeDef::String {
        min,
        max,
        pattern: None,
        enum_values: &[],
        sensitive: false,
    }
}

const fn member(name: &'static str, shape: &'static str, required: bool) -> Member {
    Member {
        name,
        shape,
        required,
    }
}

pub static SHAPES: &[(&str, ShapeDef)] = &[
    (
        "DeploymentCommandStatus",
        ShapeDef::String {
            min: None,
            max: None,
            pattern: None,
            enum_values: &["Pending", "InProgress", "Succeeded", "Failed"],
            sensitive: false,
        },
    ),
    (
        "DeploymentExecutionId",
        ShapeDef::String {
            min: Some(1),
            max: Some(129),
            pattern: Some("^[^/]+/[^/]+/[^/]+/.+$"),
            enum_values: &[],
            sensitive: false,
        },
    ),
    (
        "Envelope",
        ShapeDef::Structure {
            members: &[
                member("Format", "Format", false),
                member("Payload", "Payload", false),
            ],
            exception: false,
        },
    ),
    ("Format", string(Some(1), Some(64))),
    ("GenericDateTimestamp", ShapeDef::Timestamp),
    ("GenericString", string(None, None)),
    (
        "GetDeploymentSpecificationInput",
        ShapeDef::Structure {
            members: &[
                member("DeploymentExecutionId", "DeploymentExecutionId", true),
                member("HostIdentifier", "HostIdentifier", true),
            ],
            exception: false,
        },
    ),
    ("HostCommandIdentifier", string(None, None)),
    ("HostIdentifier", string(None, None)),
    ("Payload", string(Some(0), Some(8192))),
    (
        "PollHostCommandInput",
        ShapeDef::Structure {
            members: &[member("HostIdentifier", "HostIdentifier", true)],
            exception: false,
        },
    ),
    (
        "PostHostCommandUpdateInput",
        ShapeDef::Structure {
            members: &[
                member("HostCommandIdentifier", "HostCommandIdentifier", true),
                member("EstimatedCompletionTime", "GenericDateTimestamp", false),
                member("Diagnostics", "Envelope", false),
            ],
            exception: false,
        },
    ),
    (
        "PutHostCommandAcknowledgementInput",
        ShapeDef::Structure {
            members: &[
                member("HostCommandIdentifier", "HostCommandIdentifier", true),
                member("Diagnostics", "Envelope", false),
            ],
            exception: false,
        },
    ),
    (
        "PutHostCommandCompleteInput",
        ShapeDef::Structure {
            members: &[
                member("HostCommandIdentifier", "HostCommandIdentifier", true),
                member("CommandStatus", "DeploymentCommandStatus", true),
                member("Diagnostics", "Envelope", false),
            ],
            exception: false,
        },
    ),
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "Format", default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(rename = "Payload", default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSpecification {
    #[serde(
        rename = "GenericEnvelope",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generic_envelope: Option<Envelope>,
    #[serde(rename = "VariantId", default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    #[serde(
        rename = "VariantEnvelope",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub variant_envelope: Option<Envelope>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetDeploymentSpecificationInput {
    #[serde(rename = "DeploymentExecutionId")]
    pub deployment_execution_id: String,
    #[serde(rename = "HostIdentifier")]
    pub host_identifier: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetDeploymentSpecificationOutput {
    #[serde(
        rename = "DeploymentSystem",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deployment_system: Option<String>,
    #[serde(
        rename = "DeploymentSpecification",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deployment_specification: Option<DeploymentSpecification>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostCommandInstance {
    #[serde(
        rename = "HostCommandIdentifier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub host_command_identifier: Option<String>,
    #[serde(
        rename = "HostIdentifier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub host_identifier: Option<String>,
    #[serde(
        rename = "DeploymentExecutionId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deployment_execution_id: Option<String>,
    #[serde(
        rename = "CommandName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub command_name: Option<String>,
    #[serde(rename = "Nonce", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollHostCommandInput {
    #[serde(rename = "HostIdentifier")]
    pub host_identifier: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollHostCommandOutput {
    #[serde(
        rename = "HostCommand",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub host_command: Option<HostCommandInstance>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostHostCommandUpdateInput {
    #[serde(rename = "HostCommandIdentifier")]
    pub host_command_identifier: String,
    #[serde(
        rename = "EstimatedCompletionTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_completion_time: Option<f64>,
    #[serde(
        rename = "Diagnostics",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub diagnostics: Option<Envelope>,
}

/// The answer of `PostHostCommandUpdate` and `PutHostCommandAcknowledgement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandStatusOutput {
    #[serde(
        rename = "CommandStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub command_status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutHostCommandAcknowledgementInput {
    #[serde(rename = "HostCommandIdentifier")]
    pub host_command_identifier: String,
    #[serde(
        rename = "Diagnostics",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub diagnostics: Option<Envelope>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutHostCommandCompleteInput {
    #[serde(rename = "HostCommandIdentifier")]
    pub host_command_identifier: String,
    #[serde(rename = "CommandStatus")]
    pub command_status: String,
    #[serde(
        rename = "Diagnostics",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub diagnostics: Option<Envelope>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_table_is_sorted_for_binary_search() {
        assert!(SHAPES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for op in Operation::ALL {
            let input = op.input_shape().expect("every operation has an input");
            assert!(shape(input).is_some(), "{input} is in the table");
        }
    }

    #[test]
    fn decode_refuses_a_status_outside_the_enum() {
        let body = br#"{"HostCommandIdentifier":"x","CommandStatus":"Done"}"#;
        assert!(
            decode::<PutHostCommandCompleteInput>("PutHostCommandCompleteInput", body).is_err()
        );
        let body = br#"{"HostCommandIdentifier":"x","CommandStatus":"Failed"}"#;
        assert!(decode::<PutHostCommandCompleteInput>("PutHostCommandCompleteInput", body).is_ok());
    }
}
