//! CodeDeploy's domain, pure like `engine`: what an `appspec.yml` says (`appspec`), how many
//! hosts a deployment config lets run at once and how many must succeed (`config`), the order of
//! a host's lifecycle events (`lifecycle`), and the deployment scheduler as a state machine —
//! `apply(deployment, now, input) -> effects` (`scheduler`). No IO, no clock: the service
//! persists the state and turns the effects into host commands.

pub mod appspec;
pub mod config;
pub mod lifecycle;
pub mod scheduler;

pub use config::{HealthyHosts, HealthyHostsKind, BUILT_IN_CONFIGS};
pub use lifecycle::LifecycleEvent;
pub use scheduler::{
    apply, Deployment, DeploymentStatus, Diagnostics, Effect, ErrorInfo, EventRun, EventStatus,
    Input, StepError, Target, TargetStatus,
};
