//! The vocabulary of Sluice: pipeline declarations, action types, the built-in action type
//! catalog, limits, ARNs, and the validation that turns a declaration into a list of problems.
//!
//! Pure code: no IO, no clock, no async. Domain types are deliberately not `Serialize`; the wire
//! and the store each have their own representations.

pub mod action_type;
pub mod arn;
pub mod catalog;
pub mod cron;
pub mod declaration;
pub mod limits;
pub mod rules;
pub mod secrets;
pub use secrets::Secret;
pub mod templates;
pub mod time;
pub mod triggers;
pub mod validate;
pub mod variables;

pub use action_type::{
    ActionCategory, ActionOwner, ActionType, ActionTypeId, ActionTypeSettings, ArtifactDetails,
    ConfigurationProperty, ConfigurationPropertyType,
};
pub use declaration::{
    ActionDeclaration, ArtifactStore, BlockerDeclaration, Condition, ConditionKind,
    ConditionResult, EncryptionKey, EnvironmentVariable, ExecutionMode, OnFailure,
    PipelineDeclaration, PipelineVariable, RuleDeclaration, RuleTypeId, StageDeclaration,
};
pub use limits::Limits;
pub use validate::{validate_pipeline, Problem, ProblemKind};

/// Lowercase hexadecimal of `bytes`, as digests and identifiers are written. A table rather
/// than `format!` per byte: digests are written on every signed request and audit event.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The placeholder shown instead of a secret configuration value.
pub const SECRET_MASK: &str = "****";

/// True when `name` is a valid pipeline, stage or action name: 1–100 of `[A-Za-z0-9.@\-_]`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
}
