//! One scenario per scheduling rule.

use super::*;
use crate::config::built_in;

fn hosts(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("host-{i}")).collect()
}

fn deployment(config: &str, n: usize) -> Deployment {
    Deployment::new(built_in(config).expect("built-in config"), &hosts(n), 0)
}

fn dispatched(effects: &[Effect]) -> Vec<(String, &'static str)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Dispatch { instance, event } => Some((instance.clone(), event.name())),
            _ => None,
        })
        .collect()
}

/// Runs `instance`'s current event to its end.
fn complete(d: &mut Deployment, instance: &str, succeeded: bool) -> Vec<Effect> {
    let event = d
        .target(instance)
        .and_then(|t| t.current_event())
        .expect("a current event");
    apply(
        d,
        10,
        Input::Acknowledged {
            instance: instance.into(),
            event,
        },
    )
    .expect("acknowledged");
    apply(
        d,
        20,
        Input::Completed {
            instance: instance.into(),
            event,
            succeeded,
            diagnostics: Diagnostics {
                error_code: if succeeded { "Success" } else { "ScriptFailed" }.into(),
                script_name: if succeeded { "" } else { "scripts/validate" }.into(),
                message: if succeeded { "Succeeded" } else { "exit 1" }.into(),
                log_tail: String::new(),
            },
        },
    )
    .expect("completed")
}

/// Runs every event of `instance` until it ends.
fn run_host(d: &mut Deployment, instance: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    while d.target(instance).map(|t| t.status) == Some(TargetStatus::InProgress) {
        effects = complete(d, instance, true);
    }
    effects
}

#[test]
fn a_host_runs_the_on_premises_events_in_codedeploy_order() {
    let mut d = deployment("CodeDeployDefault.OneAtATime", 1);
    let mut seen = dispatched(&apply(&mut d, 0, Input::Start).expect("started"));
    while d.status == DeploymentStatus::InProgress {
        seen.extend(dispatched(&complete(&mut d, "host-1", true)));
    }
    let events: Vec<_> = seen.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        events,
        [
            "ApplicationStop",
            "DownloadBundle",
            "BeforeInstall",
            "Install",
            "AfterInstall",
            "ApplicationStart",
            "ValidateService"
        ]
    );
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    let target = d.target("host-1").expect("target");
    let skipped = target
        .events
        .iter()
        .filter(|r| r.status == EventStatus::Skipped)
        .count();
    assert_eq!(
        skipped, 6,
        "the traffic events are skipped without a load balancer"
    );
}

#[test]
fn one_at_a_time_stops_at_the_first_failed_host() {
    let mut d = deployment("CodeDeployDefault.OneAtATime", 2);
    let effects = apply(&mut d, 0, Input::Start).expect("started");
    assert_eq!(dispatched(&effects), [("host-1".into(), "ApplicationStop")]);
    while d.target("host-1").and_then(|t| t.current_event())
        != Some(LifecycleEvent::ValidateService)
    {
        complete(&mut d, "host-1", true);
    }
    let effects = complete(&mut d, "host-1", false);
    assert!(
        dispatched(&effects).is_empty(),
        "the second host is not touched"
    );
    assert_eq!(
        effects.last(),
        Some(&Effect::Finished(DeploymentStatus::Failed))
    );
    assert_eq!(
        d.target("host-2").map(|t| t.status),
        Some(TargetStatus::Skipped)
    );
    let error = d.error.clone().expect("error information");
    assert!(
        error
            .message
            .contains("host-1 failed at ValidateService (script scripts/validate)"),
        "{}",
        error.message
    );
}

#[test]
fn one_at_a_time_succeeds_when_only_the_last_host_fails() {
    let mut d = deployment("CodeDeployDefault.OneAtATime", 3);
    apply(&mut d, 0, Input::Start).expect("started");
    run_host(&mut d, "host-1");
    run_host(&mut d, "host-2");
    complete(&mut d, "host-3", false);
    assert_eq!(d.status, DeploymentStatus::Succeeded);
}

#[test]
fn all_at_once_starts_every_host_and_succeeds_if_one_does() {
    let mut d = deployment("CodeDeployDefault.AllAtOnce", 2);
    let effects = apply(&mut d, 0, Input::Start).expect("started");
    assert_eq!(dispatched(&effects).len(), 2);
    complete(&mut d, "host-1", false);
    assert_eq!(d.status, DeploymentStatus::InProgress);
    run_host(&mut d, "host-2");
    assert_eq!(d.status, DeploymentStatus::Succeeded);
}

#[test]
fn half_at_a_time_runs_half_the_hosts_at_once() {
    let mut d = deployment("CodeDeployDefault.HalfAtATime", 4);
    let effects = apply(&mut d, 0, Input::Start).expect("started");
    assert_eq!(dispatched(&effects).len(), 2);
    let effects = run_host(&mut d, "host-1");
    assert_eq!(dispatched(&effects), [("host-3".into(), "ApplicationStop")]);
}

#[test]
fn a_host_that_stops_answering_fails_and_the_next_one_is_not_started() {
    let mut d = deployment("CodeDeployDefault.OneAtATime", 2);
    apply(&mut d, 0, Input::Start).expect("started");
    let effects = apply(
        &mut d,
        50,
        Input::LeaseExpired {
            instance: "host-1".into(),
        },
    )
    .expect("expired");
    assert!(effects.contains(&Effect::Cancel {
        instance: "host-1".into()
    }));
    assert_eq!(d.status, DeploymentStatus::Failed);
    let run = d
        .target("host-1")
        .and_then(|t| t.failed_event().cloned())
        .expect("failed event");
    assert_eq!(run.event, LifecycleEvent::ApplicationStop);
    assert!(run
        .diagnostics
        .expect("diagnostics")
        .message
        .contains("stopped answering"));
}

#[test]
fn stop_cancels_what_runs_and_skips_what_has_not_started() {
    let mut d = deployment("CodeDeployDefault.OneAtATime", 2);
    apply(&mut d, 0, Input::Start).expect("started");
    complete(&mut d, "host-1", true);
    let effects = apply(&mut d, 30, Input::Stop).expect("stopped");
    assert!(effects.contains(&Effect::Cancel {
        instance: "host-1".into()
    }));
    assert_eq!(d.status, DeploymentStatus::Stopped);
    assert!(d.targets.iter().all(|t| t.status == TargetStatus::Skipped));
    assert_eq!(
        apply(&mut d, 40, Input::Stop),
        Err(StepError::Over("Stopped"))
    );
}

#[test]
fn a_stale_report_is_refused_and_changes_nothing() {
    let mut d = deployment("CodeDeployDefault.OneAtATime", 1);
    apply(&mut d, 0, Input::Start).expect("started");
    let before = d.clone();
    let refused = apply(
        &mut d,
        5,
        Input::Completed {
            instance: "host-1".into(),
            event: LifecycleEvent::Install,
            succeeded: true,
            diagnostics: Diagnostics::default(),
        },
    );
    assert!(matches!(refused, Err(StepError::NotCurrent { .. })));
    assert_eq!(d, before);
}

#[test]
fn no_instances_and_impossible_health_fail_at_start() {
    let mut none = deployment("CodeDeployDefault.AllAtOnce", 0);
    apply(&mut none, 0, Input::Start).expect("started");
    assert_eq!(none.error.map(|e| e.code), Some("NO_INSTANCES".into()));
    let strict = HealthyHosts {
        kind: crate::config::HealthyHostsKind::HostCount,
        value: 2,
    };
    let mut d = Deployment::new(strict, &hosts(2), 0);
    apply(&mut d, 0, Input::Start).expect("started");
    assert_eq!(
        d.error.map(|e| e.code),
        Some("HEALTH_CONSTRAINTS_INVALID".into())
    );
}
