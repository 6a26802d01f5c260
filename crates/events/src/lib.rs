//! Events and notifications, pure: the EventBridge event-pattern matcher (`pattern`), the
//! state-change events CodePipeline emits (`state_change`), and SNS's message documents with the
//! strings their signatures cover (`sns`). No IO, no clock: times come in as arguments.

pub mod pattern;
pub mod sns;
pub mod state_change;

pub use pattern::{Pattern, PatternError};
