//! The deployment scheduler: which hosts run when, what each host does next, and when the
//! deployment is over. `apply` takes the deployment, the time and one input, changes the
//! deployment and returns what the service must do (send a host its next lifecycle event,
//! cancel a host's command, announce the end). A refused input leaves the deployment as it was.

use crate::config::HealthyHosts;
use crate::lifecycle::LifecycleEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentStatus {
    Created,
    InProgress,
    Succeeded,
    Failed,
    Stopped,
}

impl DeploymentStatus {
    pub fn name(self) -> &'static str {
        match self {
            DeploymentStatus::Created => "Created",
            DeploymentStatus::InProgress => "InProgress",
            DeploymentStatus::Succeeded => "Succeeded",
            DeploymentStatus::Failed => "Failed",
            DeploymentStatus::Stopped => "Stopped",
        }
    }

    pub fn from_name(name: &str) -> Option<DeploymentStatus> {
        [
            DeploymentStatus::Created,
            DeploymentStatus::InProgress,
            DeploymentStatus::Succeeded,
            DeploymentStatus::Failed,
            DeploymentStatus::Stopped,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped,
}

impl TargetStatus {
    pub fn name(self) -> &'static str {
        match self {
            TargetStatus::Pending => "Pending",
            TargetStatus::InProgress => "InProgress",
            TargetStatus::Succeeded => "Succeeded",
            TargetStatus::Failed => "Failed",
            TargetStatus::Skipped => "Skipped",
        }
    }

    pub fn from_name(name: &str) -> Option<TargetStatus> {
        [
            TargetStatus::Pending,
            TargetStatus::InProgress,
            TargetStatus::Succeeded,
            TargetStatus::Failed,
            TargetStatus::Skipped,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped,
    Unknown,
}

impl EventStatus {
    pub fn name(self) -> &'static str {
        match self {
            EventStatus::Pending => "Pending",
            EventStatus::InProgress => "InProgress",
            EventStatus::Succeeded => "Succeeded",
            EventStatus::Failed => "Failed",
            EventStatus::Skipped => "Skipped",
            EventStatus::Unknown => "Unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<EventStatus> {
        [
            EventStatus::Pending,
            EventStatus::InProgress,
            EventStatus::Succeeded,
            EventStatus::Failed,
            EventStatus::Skipped,
            EventStatus::Unknown,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// What a host said about a lifecycle event (CodeDeploy's `Diagnostics`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// `Success`, `ScriptMissing`, `ScriptNotExecutable`, `ScriptTimedOut`, `ScriptFailed`,
    /// `UnknownError`.
    pub error_code: String,
    pub script_name: String,
    pub message: String,
    /// The last 4 KiB of the event's script output.
    pub log_tail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRun {
    pub event: LifecycleEvent,
    pub status: EventStatus,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub diagnostics: Option<Diagnostics>,
}

/// One host of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The on-premises instance's name.
    pub instance: String,
    pub status: TargetStatus,
    pub events: Vec<EventRun>,
    pub updated_ms: i64,
}

impl Target {
    pub fn new(instance: impl Into<String>, now_ms: i64) -> Target {
        Target {
            instance: instance.into(),
            status: TargetStatus::Pending,
            events: LifecycleEvent::IN_PLACE
                .into_iter()
                .map(|event| EventRun {
                    event,
                    status: EventStatus::Pending,
                    start_ms: None,
                    end_ms: None,
                    diagnostics: None,
                })
                .collect(),
            updated_ms: now_ms,
        }
    }

    /// The event the host runs now or next: the first pending or running one it runs.
    pub fn current_event(&self) -> Option<LifecycleEvent> {
        self.events
            .iter()
            .find(|run| {
                run.event.runs_on_host()
                    && matches!(run.status, EventStatus::Pending | EventStatus::InProgress)
            })
            .map(|run| run.event)
    }

    /// The event that failed, if one did.
    pub fn failed_event(&self) -> Option<&EventRun> {
        self.events
            .iter()
            .find(|run| run.status == EventStatus::Failed)
    }

    fn run_mut(&mut self, event: LifecycleEvent) -> &mut EventRun {
        let index = self
            .events
            .iter()
            .position(|run| run.event == event)
            .unwrap_or(0);
        &mut self.events[index]
    }

    /// Ends the host: its events not run are skipped.
    fn close(&mut self, status: TargetStatus, now_ms: i64) {
        self.status = status;
        self.updated_ms = now_ms;
        for run in &mut self.events {
            if run.status == EventStatus::Pending {
                run.status = EventStatus::Skipped;
            }
        }
    }
}

/// Why a deployment failed or stopped (`errorInformation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

/// A deployment as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub status: DeploymentStatus,
    pub health: HealthyHosts,
    pub targets: Vec<Target>,
    pub error: Option<ErrorInfo>,
    pub start_ms: Option<i64>,
    pub complete_ms: Option<i64>,
}

impl Deployment {
    /// A deployment to `instances`, in that order, not started.
    pub fn new(health: HealthyHosts, instances: &[String], now_ms: i64) -> Deployment {
        Deployment {
            status: DeploymentStatus::Created,
            health,
            targets: instances.iter().map(|i| Target::new(i, now_ms)).collect(),
            error: None,
            start_ms: None,
            complete_ms: None,
        }
    }

    pub fn target(&self, instance: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.instance == instance)
    }

    fn count(&self, status: TargetStatus) -> usize {
        self.targets.iter().filter(|t| t.status == status).count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Begin: pick the first hosts.
    Start,
    /// The host took its command for `event` (`PutHostCommandAcknowledgement`).
    Acknowledged {
        instance: String,
        event: LifecycleEvent,
    },
    /// The host finished `event` (`PutHostCommandComplete`).
    Completed {
        instance: String,
        event: LifecycleEvent,
        succeeded: bool,
        diagnostics: Diagnostics,
    },
    /// The host stopped answering while it held a command.
    LeaseExpired { instance: String },
    /// `StopDeployment`.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send the host its next lifecycle event.
    Dispatch {
        instance: String,
        event: LifecycleEvent,
    },
    /// Withdraw the host's open command.
    Cancel { instance: String },
    /// The deployment ended with this status.
    Finished(DeploymentStatus),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("the deployment is already {0}")]
    Over(&'static str),
    #[error("the deployment has already started")]
    AlreadyStarted,
    #[error("{0} is not a target of this deployment")]
    UnknownTarget(String),
    #[error("{instance} is not running {event} now")]
    NotCurrent { instance: String, event: String },
}

/// Applies one input. On error the deployment is unchanged.
pub fn apply(
    deployment: &mut Deployment,
    now_ms: i64,
    input: Input,
) -> Result<Vec<Effect>, StepError> {
    if deployment.status.is_final() {
        return Err(StepError::Over(deployment.status.name()));
    }
    let mut next = deployment.clone();
    let mut effects = Vec::new();
    match input {
        Input::Start => {
            if next.status != DeploymentStatus::Created {
                return Err(StepError::AlreadyStarted);
            }
            next.status = DeploymentStatus::InProgress;
            next.start_ms = Some(now_ms);
            start(&mut next, now_ms, &mut effects);
        }
        Input::Acknowledged { instance, event } => {
            let target = current_target(&mut next, &instance, event)?;
            let run = target.run_mut(event);
            if run.status == EventStatus::Pending {
                run.status = EventStatus::InProgress;
                run.start_ms = Some(now_ms);
            }
            target.updated_ms = now_ms;
        }
        Input::Completed {
            instance,
            event,
            succeeded,
            diagnostics,
        } => {
            let target = current_target(&mut next, &instance, event)?;
            let run = target.run_mut(event);
            run.start_ms.get_or_insert(now_ms);
            run.end_ms = Some(now_ms);
            run.diagnostics = Some(diagnostics);
            run.status = if succeeded {
                EventStatus::Succeeded
            } else {
                EventStatus::Failed
            };
            target.updated_ms = now_ms;
            if !succeeded {
                target.close(TargetStatus::Failed, now_ms);
            } else if let Some(following) = target.current_event() {
                effects.push(Effect::Dispatch {
                    instance: instance.clone(),
                    event: following,
                });
            } else {
                target.close(TargetStatus::Succeeded, now_ms);
            }
            if target_is_closed(&next, &instance) {
                schedule(&mut next, now_ms, &mut effects);
            }
        }
        Input::LeaseExpired { instance } => {
            let target = next
                .targets
                .iter_mut()
                .find(|t| t.instance == instance)
                .ok_or_else(|| StepError::UnknownTarget(instance.clone()))?;
            if target.status != TargetStatus::InProgress {
                return Err(StepError::NotCurrent {
                    instance,
                    event: "anything".into(),
                });
            }
            if let Some(event) = target.current_event() {
                let run = target.run_mut(event);
                run.status = EventStatus::Failed;
                run.start_ms.get_or_insert(now_ms);
                run.end_ms = Some(now_ms);
                run.diagnostics = Some(Diagnostics {
                    error_code: "UnknownError".into(),
                    script_name: String::new(),
                    message: format!(
                        "The host's agent stopped answering during {}: no contact within its lease",
                        event.name()
                    ),
                    log_tail: String::new(),
                });
            }
            target.close(TargetStatus::Failed, now_ms);
            effects.push(Effect::Cancel { instance });
            schedule(&mut next, now_ms, &mut effects);
        }
        Input::Stop => {
            for target in &mut next.targets {
                match target.status {
                    TargetStatus::Pending => target.close(TargetStatus::Skipped, now_ms),
                    TargetStatus::InProgress => {
                        if let Some(event) = target.current_event() {
                            let run = target.run_mut(event);
                            if run.status == EventStatus::InProgress {
                                run.status = EventStatus::Unknown;
                                run.end_ms = Some(now_ms);
                            }
                        }
                        target.close(TargetStatus::Skipped, now_ms);
                        effects.push(Effect::Cancel {
                            instance: target.instance.clone(),
                        });
                    }
                    _ => {}
                }
            }
            finish(
                &mut next,
                DeploymentStatus::Stopped,
                Some(ErrorInfo {
                    code: "MANUAL_STOP".into(),
                    message: "The deployment was stopped by a user (StopDeployment).".into(),
                }),
                now_ms,
                &mut effects,
            );
        }
    }
    *deployment = next;
    Ok(effects)
}

fn current_target<'a>(
    deployment: &'a mut Deployment,
    instance: &str,
    event: LifecycleEvent,
) -> Result<&'a mut Target, StepError> {
    let target = deployment
        .targets
        .iter_mut()
        .find(|t| t.instance == instance)
        .ok_or_else(|| StepError::UnknownTarget(instance.to_string()))?;
    if target.status != TargetStatus::InProgress || target.current_event() != Some(event) {
        return Err(StepError::NotCurrent {
            instance: instance.to_string(),
            event: event.name().to_string(),
        });
    }
    Ok(target)
}

fn target_is_closed(deployment: &Deployment, instance: &str) -> bool {
    deployment
        .target(instance)
        .is_some_and(|t| !matches!(t.status, TargetStatus::Pending | TargetStatus::InProgress))
}

fn start(deployment: &mut Deployment, now_ms: i64, effects: &mut Vec<Effect>) {
    let hosts = deployment.targets.len();
    if hosts == 0 {
        let error = ErrorInfo {
            code: "NO_INSTANCES".into(),
            message: "The deployment failed because no instances were found for your deployment group. Check your deployment group settings to make sure the tags for your on-premises instances correctly identify the instances you want to deploy to, and then try again.".into(),
        };
        return finish(
            deployment,
            DeploymentStatus::Failed,
            Some(error),
            now_ms,
            effects,
        );
    }
    if deployment.health.minimum(hosts) >= hosts && hosts > 0 {
        let error = ErrorInfo {
            code: "HEALTH_CONSTRAINTS_INVALID".into(),
            message: format!(
                "The deployment failed because a minimum of {} healthy instances could not be kept while deploying to {hosts} instances.",
                deployment.health.minimum(hosts)
            ),
        };
        return finish(
            deployment,
            DeploymentStatus::Failed,
            Some(error),
            now_ms,
            effects,
        );
    }
    schedule(deployment, now_ms, effects);
}

/// Starts every host the health constraint allows, and ends the deployment when nothing runs
/// and nothing more may start.
fn schedule(deployment: &mut Deployment, now_ms: i64, effects: &mut Vec<Effect>) {
    let hosts = deployment.targets.len();
    let minimum = deployment.health.minimum(hosts);
    let required = deployment.health.required_successes(hosts);
    loop {
        let succeeded = deployment.count(TargetStatus::Succeeded);
        let pending = deployment.count(TargetStatus::Pending);
        let running = deployment.count(TargetStatus::InProgress);
        // A host not yet touched still serves its old revision: it counts as healthy.
        let healthy = succeeded + pending;
        let still_possible = succeeded + pending + running >= required;
        let may_start = pending > 0 && still_possible && healthy > minimum;
        if !may_start {
            if running == 0 {
                for target in &mut deployment.targets {
                    if target.status == TargetStatus::Pending {
                        target.close(TargetStatus::Skipped, now_ms);
                    }
                }
                if succeeded >= required {
                    finish(
                        deployment,
                        DeploymentStatus::Succeeded,
                        None,
                        now_ms,
                        effects,
                    );
                } else {
                    let error = failure_of(deployment);
                    finish(
                        deployment,
                        DeploymentStatus::Failed,
                        Some(error),
                        now_ms,
                        effects,
                    );
                }
            }
            return;
        }
        let Some(target) = deployment
            .targets
            .iter_mut()
            .find(|t| t.status == TargetStatus::Pending)
        else {
            return;
        };
        target.status = TargetStatus::InProgress;
        target.updated_ms = now_ms;
        match target.current_event() {
            Some(event) => effects.push(Effect::Dispatch {
                instance: target.instance.clone(),
                event,
            }),
            None => target.close(TargetStatus::Succeeded, now_ms),
        }
    }
}

/// The deployment's error: the first failed host, its event and script.
fn failure_of(deployment: &Deployment) -> ErrorInfo {
    let failed = deployment
        .targets
        .iter()
        .find(|t| t.status == TargetStatus::Failed);
    let detail = failed
        .and_then(|t| t.failed_event().map(|run| (t, run)))
        .map(|(t, run)| {
            let diagnostics = run.diagnostics.clone().unwrap_or_default();
            let script = if diagnostics.script_name.is_empty() {
                String::new()
            } else {
                format!(" (script {})", diagnostics.script_name)
            };
            format!(
                " Instance {} failed at {}{script}: {}",
                t.instance,
                run.event.name(),
                diagnostics.message
            )
        })
        .unwrap_or_default();
    ErrorInfo {
        code: "HEALTH_CONSTRAINTS".into(),
        message: format!(
            "The overall deployment failed because too many individual instances failed deployment, too few healthy instances are available for deployment, or some instances in your deployment group are experiencing problems.{detail}"
        ),
    }
}

fn finish(
    deployment: &mut Deployment,
    status: DeploymentStatus,
    error: Option<ErrorInfo>,
    now_ms: i64,
    effects: &mut Vec<Effect>,
) {
    deployment.status = status;
    deployment.error = error;
    deployment.complete_ms = Some(now_ms);
    effects.push(Effect::Finished(status));
}

#[cfg(test)]
mod tests;
