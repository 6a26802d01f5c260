//! The execution engine: a pure state machine over one pipeline's runtime.
//!
//! `apply(runtime, declaration, now, ids, input)` changes the runtime and returns the effects
//! the caller must carry out *after* persisting the new runtime and those effects in one
//! transaction: queue or cancel a job, ask for an approval, set a timer, report an execution
//! finished. No IO, no clock, no async; time and ids come in as arguments.
//!
//! The rules are DESIGN.md's "Execution semantics"; each has a test in `tests/` named after it.

mod input;
mod state;
mod step;

pub use input::{
    ApprovalDecision, Effect, EngineOptions, Error, Ids, Input, JobOutcome, JobSpec, RetryMode,
    SourceRevision, Timer,
};
pub use state::{
    ActionRun, ActionStatus, ArtifactLocation, ConditionRun, ConditionStatus, ErrorDetails,
    Execution, ExecutionMode, ExecutionStatus, ExecutionType, Position, RollbackTarget, RuleRun,
    RuleStatus, Runtime, StageRun, StageSlot, StageStatus, Trigger, Waiting,
};
pub use step::apply;

#[cfg(test)]
mod tests;
