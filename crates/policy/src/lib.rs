//! The IAM policy language, pure: parsing a policy document, and deciding whether a request
//! (an action on a resource, in a context of condition keys) is allowed by a set of policies.
//! Explicit deny beats allow beats the implicit deny. No IO and no clock: the caller puts
//! `aws:CurrentTime` and friends into the context.

mod condition;
mod document;
mod evaluate;
mod glob;
pub mod managed;
#[cfg(test)]
mod properties;

pub use document::{Effect, Policy, PrincipalSpec, Statement};
pub use evaluate::{evaluate, Context, Decision, Request};
pub use glob::glob_match;

/// Why a policy document was refused; the text is IAM's `MalformedPolicyDocument` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// The largest inline policy IAM accepts, in characters (managed policies: 6,144).
pub const MAX_INLINE_POLICY_CHARS: usize = 10_240;
pub const MAX_MANAGED_POLICY_CHARS: usize = 6_144;
