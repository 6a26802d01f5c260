//! One test per execution rule of DESIGN.md, each written as the scenario it checks.

use crate::*;
use sluice_model::{ActionDeclaration, ActionTypeId, PipelineDeclaration, StageDeclaration};

#[derive(Default)]
struct Counter(u32);

impl Ids for Counter {
    fn job_id(&mut self) -> String {
        self.0 += 1;
        format!("job-{}", self.0)
    }
    fn approval_token(&mut self) -> String {
        self.0 += 1;
        format!("token-{}", self.0)
    }
    fn action_execution_id(&mut self) -> String {
        self.0 += 1;
        format!("ae-{}", self.0)
    }
    fn execution_id(&mut self) -> String {
        self.0 += 1;
        format!("exec-{}", self.0)
    }
    fn artifact_id(&mut self) -> String {
        self.0 += 1;
        format!("obj-{}", self.0)
    }
    fn rule_execution_id(&mut self) -> String {
        self.0 += 1;
        format!("rule-{}", self.0)
    }
}

/// `stage("Build", &[("compile", 1), ("lint", 1), ("package", 2)])`; an action named
/// `approve*` is a manual approval, every other one a custom job.
fn stage(name: &str, actions: &[(&str, i64)]) -> StageDeclaration {
    StageDeclaration {
        name: name.into(),
        blockers: vec![],
        on_failure: None,
        actions: actions
            .iter()
            .map(|(a, order)| ActionDeclaration {
                name: (*a).into(),
                action_type_id: if a.starts_with("approve") {
                    ActionTypeId::new("Approval", "AWS", "Manual", "1")
                } else {
                    ActionTypeId::new("Build", "Custom", "Worker", "1")
                },
                run_order: *order,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

struct Scenario {
    rt: Runtime,
    decl: PipelineDeclaration,
    ids: Counter,
    now: i64,
    options: EngineOptions,
    last: Vec<Effect>,
}

impl Scenario {
    fn new(stages: Vec<StageDeclaration>) -> Self {
        let decl = PipelineDeclaration {
            name: "demo".into(),
            stages,
            version: 1,
            ..Default::default()
        };
        Self {
            rt: Runtime::new(&decl),
            decl,
            ids: Counter::default(),
            now: 1_000,
            options: EngineOptions::default(),
            last: vec![],
        }
    }

    fn apply(&mut self, input: Input) -> Result<Vec<Effect>, Error> {
        let effects = apply(
            &mut self.rt,
            &self.decl,
            &self.options,
            self.now,
            &mut self.ids,
            input,
        )?;
        self.last = effects.clone();
        Ok(effects)
    }

    fn ok(&mut self, input: Input) -> Vec<Effect> {
        self.apply(input).expect("input accepted")
    }

    fn start(&mut self, id: &str) {
        self.start_with(id, &[]);
    }

    fn start_with(&mut self, id: &str, variables: &[(&str, &str)]) {
        self.ok(Input::Start {
            execution_id: id.into(),
            trigger: Trigger {
                kind: "StartPipelineExecution".into(),
                detail: String::new(),
            },
            variables: variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source_revisions: Default::default(),
        });
    }

    fn action(&self, exec: &str, action: &str) -> &ActionRun {
        self.rt.executions[exec]
            .stage_runs
            .values()
            .flat_map(|r| r.actions.iter())
            .find(|a| a.name == action)
            .unwrap_or_else(|| panic!("{exec} has not run {action}"))
    }

    fn job(&self, exec: &str, action: &str) -> String {
        self.action(exec, action).job_id.clone().expect("a job")
    }

    fn succeed(&mut self, exec: &str, action: &str) {
        let job_id = self.job(exec, action);
        self.ok(Input::JobSucceeded {
            job_id,
            outcome: JobOutcome::default(),
            continuation_token: None,
        });
    }

    fn fail(&mut self, exec: &str, action: &str, message: &str) {
        let job_id = self.job(exec, action);
        self.ok(Input::JobFailed {
            job_id,
            error: ErrorDetails {
                code: "JobFailed".into(),
                message: message.into(),
            },
            external_execution_id: None,
        });
    }

    fn status(&self, exec: &str) -> ExecutionStatus {
        self.rt.executions[exec].status
    }

    fn action_status(&self, exec: &str, action: &str) -> ActionStatus {
        self.action(exec, action).status
    }

    fn position(&self, exec: &str) -> Position {
        self.rt.executions[exec].position.clone()
    }

    fn stage_status(&self, exec: &str, stage: &str) -> StageStatus {
        let i = self.rt.stage_index(stage).expect("stage");
        self.rt.executions[exec].stage_runs[&i].status
    }

    fn transition(&mut self, stage: &str, inbound: bool, enabled: bool) {
        self.ok(Input::TransitionChanged {
            stage: stage.into(),
            inbound,
            enabled,
        });
    }

    fn queued_jobs(&self) -> Vec<String> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::QueueJob(j) => Some(j.action.clone()),
                _ => None,
            })
            .collect()
    }
}

fn two_stage() -> Scenario {
    Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Build", &[("build", 1)]),
    ])
}

#[test]
fn run_order_groups_run_in_parallel_then_in_sequence() {
    let mut s = Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Build", &[("compile", 1), ("lint", 1), ("package", 2)]),
    ]);
    s.start("e1");
    s.succeed("e1", "src");
    let mut queued = s.queued_jobs();
    queued.sort();
    assert_eq!(
        queued,
        ["compile", "lint"],
        "the runOrder 1 group starts together"
    );
    s.succeed("e1", "compile");
    assert!(
        s.queued_jobs().is_empty(),
        "group 2 waits for all of group 1"
    );
    assert_eq!(s.action_status("e1", "package"), ActionStatus::NotStarted);
    s.succeed("e1", "lint");
    assert_eq!(s.queued_jobs(), ["package"]);
    s.succeed("e1", "package");
    assert_eq!(s.status("e1"), ExecutionStatus::Succeeded);
    assert!(s.last.contains(&Effect::ExecutionFinished {
        execution_id: "e1".into()
    }));
}

#[test]
fn a_running_job_reports_where_to_follow_it_and_stays_in_progress() {
    let mut s = two_stage();
    s.start("e1");
    let job_id = s.job("e1", "src");
    let effects = s.ok(Input::JobProgress {
        job_id: job_id.clone(),
        external_execution_id: Some(job_id.clone()),
        summary: None,
    });
    assert!(effects.is_empty(), "nothing else happens: {effects:?}");
    assert_eq!(s.action_status("e1", "src"), ActionStatus::InProgress);
    assert_eq!(
        s.action("e1", "src").external_execution_id.as_deref(),
        Some(job_id.as_str())
    );
    s.succeed("e1", "src");
    let late = s.apply(Input::JobProgress {
        job_id,
        external_execution_id: None,
        summary: None,
    });
    assert!(late.is_err(), "a finished job reports no progress");
}

#[test]
fn failed_action_ends_the_stage_after_its_group_and_fails_the_execution() {
    let mut s = Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Build", &[("compile", 1), ("lint", 1), ("package", 2)]),
        stage("Deploy", &[("deploy", 1)]),
    ]);
    s.start("e1");
    s.succeed("e1", "src");
    s.fail("e1", "compile", "exit 1");
    assert_eq!(
        s.status("e1"),
        ExecutionStatus::InProgress,
        "the group's other action still runs"
    );
    s.succeed("e1", "lint");
    assert_eq!(s.status("e1"), ExecutionStatus::Failed);
    assert_eq!(s.stage_status("e1", "Build"), StageStatus::Failed);
    assert_eq!(
        s.action_status("e1", "package"),
        ActionStatus::NotStarted,
        "later groups do not run"
    );
    assert!(
        !s.rt.executions["e1"].stage_runs.contains_key(&2),
        "later stages do not run"
    );
    assert_eq!(
        s.action("e1", "compile")
            .error
            .as_ref()
            .map(|e| e.message.as_str()),
        Some("exit 1")
    );
    assert!(s.rt.executions["e1"]
        .status_summary
        .as_deref()
        .is_some_and(|m| m.contains("compile")));
}

#[test]
fn one_execution_per_stage_a_second_waits_while_the_stage_is_busy() {
    let mut s = two_stage();
    s.start("e1");
    s.succeed("e1", "src");
    s.start("e2");
    s.succeed("e2", "src");
    assert_eq!(
        s.position("e2"),
        Position::Waiting {
            stage: 1,
            reason: Waiting::StageBusy { by: "e1".into() }
        }
    );
    s.succeed("e1", "build");
    assert_eq!(
        s.position("e2"),
        Position::InStage(1),
        "the stage admits the waiting execution when freed"
    );
    assert_eq!(s.queued_jobs(), ["build"]);
}

#[test]
fn disabled_inbound_transition_holds_executions_before_the_stage() {
    let mut s = two_stage();
    s.transition("Build", true, false);
    s.start("e1");
    s.succeed("e1", "src");
    assert_eq!(
        s.position("e1"),
        Position::Waiting {
            stage: 1,
            reason: Waiting::TransitionDisabled
        }
    );
    assert_eq!(
        s.rt.slots[0].occupant, None,
        "the source stage is free for newer executions"
    );
}

#[test]
fn disabled_outbound_transition_holds_executions_after_the_stage() {
    let mut s = two_stage();
    s.transition("Source", false, false);
    s.start("e1");
    s.succeed("e1", "src");
    assert_eq!(
        s.position("e1"),
        Position::Waiting {
            stage: 1,
            reason: Waiting::OutboundDisabled
        }
    );
    s.transition("Source", false, true);
    assert_eq!(s.position("e1"), Position::InStage(1));
}

#[test]
fn newer_execution_supersedes_the_one_waiting() {
    let mut s = two_stage();
    s.transition("Build", true, false);
    s.start("e1");
    s.succeed("e1", "src");
    s.start("e2");
    s.succeed("e2", "src");
    assert_eq!(s.status("e1"), ExecutionStatus::Superseded);
    assert_eq!(s.rt.slots[1].waiting.as_deref(), Some("e2"));
    assert!(s.last.contains(&Effect::ExecutionFinished {
        execution_id: "e1".into()
    }));
}

#[test]
fn enabling_a_transition_admits_the_newest_waiting_execution() {
    let mut s = two_stage();
    s.transition("Build", true, false);
    for e in ["e1", "e2", "e3"] {
        s.start(e);
        s.succeed(e, "src");
    }
    s.transition("Build", true, true);
    assert_eq!(s.position("e3"), Position::InStage(1));
    assert_eq!(s.status("e1"), ExecutionStatus::Superseded);
    assert_eq!(s.status("e2"), ExecutionStatus::Superseded);
}

#[test]
fn failed_stage_does_not_block_newer_executions() {
    let mut s = two_stage();
    s.start("e1");
    s.succeed("e1", "src");
    s.fail("e1", "build", "broken");
    s.start("e2");
    s.succeed("e2", "src");
    assert_eq!(s.position("e2"), Position::InStage(1));
}

#[test]
fn retry_failed_actions_reruns_only_the_failed_ones() {
    let mut s = Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Build", &[("compile", 1), ("lint", 1), ("package", 2)]),
    ]);
    s.start("e1");
    s.succeed("e1", "src");
    s.succeed("e1", "compile");
    s.fail("e1", "lint", "flaky");
    s.ok(Input::Retry {
        execution_id: "e1".into(),
        stage: "Build".into(),
        mode: RetryMode::FailedActions,
    });
    assert_eq!(s.queued_jobs(), ["lint"]);
    assert_eq!(s.status("e1"), ExecutionStatus::InProgress);
    assert_eq!(s.action("e1", "lint").attempt, 2);
    assert_eq!(s.action("e1", "compile").attempt, 1);
    let past = &s.rt.executions["e1"].stage_runs[&1].past_attempts;
    assert_eq!(past.len(), 1, "the failed attempt is kept");
    assert_eq!(
        (past[0].name.as_str(), past[0].status),
        ("lint", ActionStatus::Failed)
    );
    s.succeed("e1", "lint");
    s.succeed("e1", "package");
    assert_eq!(s.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn retry_all_actions_reruns_the_whole_stage() {
    let mut s = Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Build", &[("compile", 1), ("lint", 1)]),
    ]);
    s.start("e1");
    s.succeed("e1", "src");
    s.succeed("e1", "compile");
    s.fail("e1", "lint", "flaky");
    s.ok(Input::Retry {
        execution_id: "e1".into(),
        stage: "Build".into(),
        mode: RetryMode::AllActions,
    });
    let mut queued = s.queued_jobs();
    queued.sort();
    assert_eq!(queued, ["compile", "lint"]);
}

#[test]
fn retry_is_refused_unless_the_latest_execution_failed_the_stage_of_this_version() {
    let mut s = two_stage();
    s.start("e1");
    s.succeed("e1", "src");
    let retry = |stage: &str| Input::Retry {
        execution_id: "e1".into(),
        stage: stage.into(),
        mode: RetryMode::FailedActions,
    };
    assert!(
        matches!(s.apply(retry("Build")), Err(Error::Conflict(_))),
        "a running stage cannot be retried"
    );
    assert!(
        matches!(s.apply(retry("Source")), Err(Error::StageNotRetryable(_))),
        "a succeeded stage cannot be retried"
    );
    s.fail("e1", "build", "broken");
    s.start("e2");
    s.succeed("e2", "src");
    assert!(matches!(
        s.apply(retry("Build")),
        Err(Error::NotLatestExecution(_))
    ));
    // After a structure change the failed stage of the old version is not retryable.
    let mut s = two_stage();
    s.start("e1");
    s.succeed("e1", "src");
    s.fail("e1", "build", "broken");
    s.rt.pipeline_version = 2;
    assert!(matches!(
        s.apply(retry("Build")),
        Err(Error::StageNotRetryable(_))
    ));
}

#[test]
fn retry_while_a_retry_runs_is_a_conflict() {
    let mut s = two_stage();
    s.start("e1");
    s.succeed("e1", "src");
    s.fail("e1", "build", "broken");
    let retry = Input::Retry {
        execution_id: "e1".into(),
        stage: "Build".into(),
        mode: RetryMode::FailedActions,
    };
    s.ok(retry.clone());
    assert!(matches!(s.apply(retry), Err(Error::Conflict(_))));
}

fn approval_scenario() -> Scenario {
    let mut s = Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Gate", &[("approve", 1)]),
        stage("Ship", &[("ship", 1)]),
    ]);
    s.start("e1");
    s.succeed("e1", "src");
    s
}

fn token(s: &Scenario) -> String {
    s.action("e1", "approve")
        .approval_token
        .clone()
        .expect("token")
}

#[test]
fn approval_waits_with_a_token_and_approved_continues() {
    let mut s = approval_scenario();
    assert!(s
        .last
        .iter()
        .any(|e| matches!(e, Effect::RequestApproval { action, .. } if action == "approve")));
    let expiry = s.last.iter().find_map(|e| match e {
        Effect::SetTimer {
            timer: Timer::ApprovalExpiry { .. },
            at_ms,
        } => Some(*at_ms),
        _ => None,
    });
    assert_eq!(
        expiry,
        Some(1_000 + 7 * 24 * 3600 * 1000),
        "the default approval timeout is seven days"
    );
    let token = token(&s);
    s.ok(Input::ApprovalResult {
        token,
        decision: ApprovalDecision {
            approved: true,
            summary: "LGTM".into(),
            by: "arn:aws:iam::111111111111:user/Ann".into(),
        },
    });
    assert_eq!(s.action_status("e1", "approve"), ActionStatus::Succeeded);
    assert_eq!(
        s.action("e1", "approve").last_updated_by.as_deref(),
        Some("arn:aws:iam::111111111111:user/Ann")
    );
    assert_eq!(s.queued_jobs(), ["ship"]);
}

#[test]
fn rejected_approval_fails_the_action() {
    let mut s = approval_scenario();
    let token = token(&s);
    s.ok(Input::ApprovalResult {
        token: token.clone(),
        decision: ApprovalDecision {
            approved: false,
            summary: "no".into(),
            by: "ann".into(),
        },
    });
    assert_eq!(s.status("e1"), ExecutionStatus::Failed);
    let again = s.apply(Input::ApprovalResult {
        token,
        decision: ApprovalDecision {
            approved: true,
            summary: "".into(),
            by: "bob".into(),
        },
    });
    assert_eq!(again, Err(Error::ApprovalAlreadyCompleted));
    let unknown = s.apply(Input::ApprovalResult {
        token: "nope".into(),
        decision: ApprovalDecision {
            approved: true,
            summary: "".into(),
            by: "bob".into(),
        },
    });
    assert_eq!(unknown, Err(Error::InvalidApprovalToken));
}

#[test]
fn approval_expires_when_no_one_answers_in_time() {
    let mut s = approval_scenario();
    let token = token(&s);
    s.now += 7 * 24 * 3600 * 1000;
    s.ok(Input::TimerDue {
        timer: Timer::ApprovalExpiry { token },
    });
    assert_eq!(s.action_status("e1", "approve"), ActionStatus::Failed);
    assert_eq!(
        s.action("e1", "approve")
            .error
            .as_ref()
            .map(|e| e.code.as_str()),
        Some("Expired")
    );
    assert_eq!(s.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn approval_timeout_in_minutes_overrides_the_default() {
    let mut s = Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Gate", &[("approve", 1)]),
    ]);
    s.decl.stages[1].actions[0].timeout_in_minutes = Some(5);
    s.start("e1");
    s.succeed("e1", "src");
    assert!(s.last.iter().any(|e| matches!(e, Effect::SetTimer { timer: Timer::ApprovalExpiry { .. }, at_ms } if *at_ms == 1_000 + 5 * 60_000)));
}

#[test]
fn pipeline_update_stops_in_progress_executions() {
    let mut s = two_stage();
    s.transition("Build", true, false);
    s.start("e1");
    s.succeed("e1", "src");
    s.start("e2");
    let job = s.job("e2", "src");
    s.decl.version = 2;
    s.decl.stages.push(stage("Deploy", &[("deploy", 1)]));
    let effects = s.ok(Input::PipelineUpdated { version: 2 });
    assert_eq!(s.status("e1"), ExecutionStatus::Stopped);
    assert_eq!(s.status("e2"), ExecutionStatus::Stopped);
    assert_eq!(s.action_status("e2", "src"), ActionStatus::Abandoned);
    assert!(effects.contains(&Effect::CancelJob { job_id: job }));
    assert_eq!(s.rt.slots.len(), 3);
    assert!(
        !s.rt.slots[1].inbound_enabled,
        "transition states survive for stages that still exist"
    );
    assert_eq!(s.rt.pipeline_version, 2);
}

#[test]
fn stop_and_wait_lets_running_actions_finish_then_stops() {
    let mut s = Scenario::new(vec![
        stage("Source", &[("src", 1)]),
        stage("Build", &[("compile", 1), ("package", 2)]),
    ]);
    s.start("e1");
    s.succeed("e1", "src");
    s.ok(Input::Stop {
        execution_id: "e1".into(),
        abandon: false,
        reason: Some("enough".into()),
    });
    assert_eq!(s.status("e1"), ExecutionStatus::Stopping);
    assert_eq!(s.action_status("e1", "compile"), ActionStatus::InProgress);
    s.succeed("e1", "compile");
    assert_eq!(s.status("e1"), ExecutionStatus::Stopped);
    assert_eq!(s.action_status("e1", "package"), ActionStatus::NotStarted);
    assert_eq!(
        s.rt.executions["e1"].status_summary.as_deref(),
        Some("enough")
    );
}

#[test]
fn stop_and_abandon_abandons_running_actions_at_once() {
    let mut s = two_stage();
    s.start("e1");
    s.succeed("e1", "src");
    let job = s.job("e1", "build");
    let effects = s.ok(Input::Stop {
        execution_id: "e1".into(),
        abandon: true,
        reason: None,
    });
    assert_eq!(s.status("e1"), ExecutionStatus::Stopped);
    assert_eq!(s.action_status("e1", "build"), ActionStatus::Abandoned);
    assert!(effects.contains(&Effect::CancelJob {
        job_id: job.clone()
    }));
    let late = s.apply(Input::JobSucceeded {
        job_id: job,
        outcome: JobOutcome::default(),
        continuation_token: None,
    });
    assert!(
        matches!(late, Err(Error::JobNotInProgress(_))),
        "a result for an abandoned job is refused"
    );
}

#[test]
fn stopping_twice_is_a_duplicate_and_a_finished_execution_is_not_stoppable() {
    let mut s = two_stage();
    s.start("e1");
    let stop = |abandon| Input::Stop {
        execution_id: "e1".into(),
        abandon,
        reason: None,
    };
    s.ok(stop(false));
    assert!(matches!(
        s.apply(stop(false)),
        Err(Error::DuplicatedStop(_))
    ));
    s.ok(stop(true));
    assert!(matches!(s.apply(stop(true)), Err(Error::NotStoppable(_))));
}

#[test]
fn job_timeout_fails_the_action() {
    let mut s = two_stage();
    s.start("e1");
    let job = s.job("e1", "src");
    assert!(s.last.contains(&Effect::SetTimer {
        timer: Timer::JobTimeout {
            job_id: job.clone()
        },
        at_ms: 1_000 + 3_600_000
    }));
    s.now += 3_600_000;
    let effects = s.ok(Input::TimerDue {
        timer: Timer::JobTimeout {
            job_id: job.clone(),
        },
    });
    assert_eq!(s.action_status("e1", "src"), ActionStatus::Failed);
    assert_eq!(
        s.action("e1", "src")
            .error
            .as_ref()
            .map(|e| e.code.as_str()),
        Some("TimedOut")
    );
    assert!(effects.contains(&Effect::CancelJob {
        job_id: job.clone()
    }));
    assert_eq!(s.status("e1"), ExecutionStatus::Failed);
    // A timer for a job that already finished changes nothing.
    let before = s.rt.clone();
    s.ok(Input::TimerDue {
        timer: Timer::JobTimeout { job_id: job },
    });
    assert_eq!(s.rt, before);
}

#[test]
fn continuation_token_keeps_the_action_in_progress_with_a_new_job() {
    let mut s = two_stage();
    s.start("e1");
    let first = s.job("e1", "src");
    let outcome = JobOutcome {
        summary: Some("half way".into()),
        percent_complete: Some(50),
        ..Default::default()
    };
    let effects = s.ok(Input::JobSucceeded {
        job_id: first.clone(),
        outcome,
        continuation_token: Some("page-2".into()),
    });
    assert_eq!(s.action_status("e1", "src"), ActionStatus::InProgress);
    let second = s.job("e1", "src");
    assert_ne!(first, second);
    let queued = effects.iter().find_map(|e| match e {
        Effect::QueueJob(j) => Some(j.clone()),
        _ => None,
    });
    let queued = queued.expect("a new job");
    assert_eq!(queued.continuation_token.as_deref(), Some("page-2"));
    assert_eq!(
        queued.action_execution_id,
        s.action("e1", "src")
            .action_execution_id
            .clone()
            .unwrap_or_default(),
        "same action execution"
    );
    assert_eq!(s.action("e1", "src").percent_complete, Some(50));
    s.ok(Input::JobSucceeded {
        job_id: second,
        outcome: JobOutcome::default(),
        continuation_token: None,
    });
    assert_eq!(s.action_status("e1", "src"), ActionStatus::Succeeded);
    let stale = s.apply(Input::JobSucceeded {
        job_id: first,
        outcome: JobOutcome::default(),
        continuation_token: None,
    });
    assert!(stale.is_err(), "the replaced job is finished");
}

#[test]
fn output_artifacts_get_fresh_keys_and_inputs_point_at_their_producer() {
    let mut s = two_stage();
    s.decl.name = "AVeryLongPipelineNameIndeed".into();
    s.decl.artifact_store = Some(sluice_model::ArtifactStore {
        kind: "S3".into(),
        location: "bucket".into(),
        encryption_key: None,
    });
    s.decl.stages[0].actions[0].output_artifacts = vec!["MyApplication".into()];
    s.decl.stages[1].actions[0].input_artifacts = vec!["MyApplication".into()];
    s.start("e1");
    let job = |s: &Scenario| {
        s.last
            .iter()
            .find_map(|e| match e {
                Effect::QueueJob(j) => Some(j.clone()),
                _ => None,
            })
            .expect("job")
    };
    let source = job(&s);
    let (name, location) = &source.output_artifacts[0];
    assert_eq!(name, "MyApplication");
    assert_eq!(location.bucket, "bucket");
    assert!(
        location.key.starts_with("AVeryLongPipelineNam/MyApplicat/"),
        "{}",
        location.key
    );
    s.succeed("e1", "src");
    let build = job(&s);
    assert_eq!(
        build.input_artifacts,
        vec![("MyApplication".to_string(), Some(location.clone()))]
    );
}

#[test]
fn refused_input_leaves_the_runtime_unchanged() {
    let mut s = two_stage();
    s.start("e1");
    let before = s.rt.clone();
    assert!(s
        .apply(Input::Retry {
            execution_id: "e1".into(),
            stage: "Nope".into(),
            mode: RetryMode::FailedActions
        })
        .is_err());
    assert!(s
        .apply(Input::Start {
            execution_id: "e1".into(),
            trigger: Trigger::default(),
            variables: Default::default(),
            source_revisions: Default::default(),
        })
        .is_err());
    assert_eq!(s.rt, before);
}

#[test]
fn finished_unreferenced_executions_are_pruned() {
    let mut s = two_stage();
    s.start("e1");
    s.succeed("e1", "src");
    s.succeed("e1", "build");
    s.start("e2");
    s.succeed("e2", "src");
    s.succeed("e2", "build");
    let pruned: Vec<String> = s.rt.prune().into_iter().map(|e| e.id).collect();
    assert_eq!(pruned, ["e1"], "e2 is still the latest of its stages");
}

fn in_mode(mode: ExecutionMode) -> Scenario {
    let mut s = two_stage();
    s.decl.execution_mode = Some(mode.as_str().into());
    s.decl.pipeline_type = Some("V2".into());
    s
}

#[test]
fn queued_executions_wait_in_line_and_each_runs_every_stage_in_order() {
    let mut s = in_mode(ExecutionMode::Queued);
    for e in ["e1", "e2", "e3"] {
        s.start(e);
    }
    // One execution per stage: e1 runs the source, e2 and e3 wait behind it in order.
    assert_eq!(s.position("e1"), Position::InStage(0));
    assert_eq!(s.rt.slots[0].waiting.as_deref(), Some("e2"));
    assert_eq!(s.rt.slots[0].queue, vec!["e3".to_string()]);
    s.succeed("e1", "src");
    assert_eq!(s.position("e1"), Position::InStage(1));
    assert_eq!(s.position("e2"), Position::InStage(0));
    s.succeed("e2", "src");
    assert_eq!(s.position("e3"), Position::InStage(0));
    assert!(matches!(
        s.position("e2"),
        Position::Waiting { stage: 1, .. }
    ));
    s.succeed("e3", "src");
    assert_eq!(s.rt.slots[1].waiting.as_deref(), Some("e2"));
    assert_eq!(s.rt.slots[1].queue, vec!["e3".to_string()]);
    for e in ["e1", "e2", "e3"] {
        s.succeed(e, "build");
        assert_eq!(s.status(e), ExecutionStatus::Succeeded, "{e}");
    }
    assert!(s
        .rt
        .executions
        .values()
        .all(|e| e.mode == ExecutionMode::Queued));
}

#[test]
fn a_queued_execution_stopped_while_waiting_leaves_the_line_and_the_rest_keep_their_order() {
    let mut s = in_mode(ExecutionMode::Queued);
    for e in ["e1", "e2", "e3", "e4"] {
        s.start(e);
    }
    s.ok(Input::Stop {
        execution_id: "e2".into(),
        abandon: false,
        reason: Some("not this one".into()),
    });
    s.ok(Input::Stop {
        execution_id: "e4".into(),
        abandon: false,
        reason: None,
    });
    assert_eq!(s.status("e2"), ExecutionStatus::Stopped);
    assert_eq!(s.rt.slots[0].waiting.as_deref(), Some("e3"));
    assert!(s.rt.slots[0].queue.is_empty());
    s.succeed("e1", "src");
    assert_eq!(s.position("e3"), Position::InStage(0));
}

#[test]
fn a_disabled_transition_holds_queued_executions_and_enabling_it_admits_the_oldest_first() {
    let mut s = in_mode(ExecutionMode::Queued);
    s.transition("Build", true, false);
    for e in ["e1", "e2", "e3"] {
        s.start(e);
        s.succeed(e, "src");
    }
    assert!(s
        .rt
        .executions
        .values()
        .all(|e| e.status == ExecutionStatus::InProgress));
    s.transition("Build", true, true);
    assert_eq!(s.position("e1"), Position::InStage(1));
    assert!(matches!(
        s.position("e2"),
        Position::Waiting { stage: 1, .. }
    ));
    s.succeed("e1", "build");
    assert_eq!(s.position("e2"), Position::InStage(1));
}

#[test]
fn parallel_executions_run_side_by_side_without_waiting_for_each_other() {
    let mut s = in_mode(ExecutionMode::Parallel);
    s.start("e1");
    s.start("e2");
    assert_eq!(s.position("e1"), Position::InStage(0));
    assert_eq!(s.position("e2"), Position::InStage(0));
    assert_ne!(
        s.job("e1", "src"),
        s.job("e2", "src"),
        "both source jobs run at once"
    );
    assert_eq!(s.action_status("e2", "src"), ActionStatus::InProgress);
    s.succeed("e2", "src");
    assert_eq!(s.position("e2"), Position::InStage(1));
    s.succeed("e1", "src");
    assert_eq!(s.position("e1"), Position::InStage(1));
    s.fail("e2", "build", "broken");
    assert_eq!(s.status("e2"), ExecutionStatus::Failed);
    assert_eq!(
        s.position("e1"),
        Position::InStage(1),
        "e1 is not disturbed"
    );
    s.succeed("e1", "build");
    assert_eq!(s.status("e1"), ExecutionStatus::Succeeded);
    // e2 is not the latest to enter Build, yet it may retry its own stage.
    s.ok(Input::Retry {
        execution_id: "e2".into(),
        stage: "Build".into(),
        mode: RetryMode::FailedActions,
    });
    s.succeed("e2", "build");
    assert_eq!(s.status("e2"), ExecutionStatus::Succeeded);
}

#[test]
fn parallel_executions_held_at_a_disabled_transition_all_go_on_when_it_is_enabled() {
    let mut s = in_mode(ExecutionMode::Parallel);
    s.transition("Build", true, false);
    for e in ["e1", "e2", "e3"] {
        s.start(e);
        s.succeed(e, "src");
    }
    s.transition("Build", true, true);
    for e in ["e1", "e2", "e3"] {
        assert_eq!(s.position(e), Position::InStage(1), "{e}");
        assert_eq!(s.status(e), ExecutionStatus::InProgress, "{e}");
    }
}

#[test]
fn variables_resolve_in_configuration_commands_and_environment_when_the_action_starts() {
    let mut s = two_stage();
    s.decl.variables = vec![sluice_model::PipelineVariable {
        name: "env".into(),
        default_value: Some("beta".into()),
        description: None,
    }];
    s.decl.stages[0].actions[0].namespace = Some("Src".into());
    let build = &mut s.decl.stages[1].actions[0];
    build
        .configuration
        .insert("Tag".into(), "#{Src.CommitId}-#{variables.env}".into());
    build.commands = vec!["echo #{codepipeline.PipelineExecutionId}".into()];
    build.environment_variables = vec![sluice_model::EnvironmentVariable {
        name: "STAGE".into(),
        value: "#{variables.env}".into(),
        kind: None,
    }];
    s.start_with("e1", &[("env", "prod")]);
    let job_id = s.job("e1", "src");
    s.ok(Input::JobSucceeded {
        job_id,
        outcome: JobOutcome {
            output_variables: [("CommitId".to_string(), "abc123".to_string())].into(),
            ..Default::default()
        },
        continuation_token: None,
    });
    let spec = s
        .last
        .iter()
        .find_map(|e| match e {
            Effect::QueueJob(spec) => Some(spec.clone()),
            _ => None,
        })
        .expect("the build job is queued");
    assert_eq!(spec.configuration["Tag"], "abc123-prod");
    assert_eq!(spec.commands, vec!["echo e1".to_string()]);
    assert_eq!(spec.environment_variables[0].value, "prod");
    assert_eq!(
        s.action("e1", "build").resolved_configuration["Tag"],
        "abc123-prod"
    );
}

#[test]
fn an_action_whose_variable_has_no_value_fails_as_it_starts_and_fails_the_stage() {
    let mut s = two_stage();
    s.decl.stages[0].actions[0].namespace = Some("Src".into());
    s.decl.stages[1].actions[0]
        .configuration
        .insert("Tag".into(), "#{Src.CommitId}".into());
    s.start("e1");
    s.succeed("e1", "src");
    let build = s.action("e1", "build");
    assert_eq!(build.status, ActionStatus::Failed);
    assert!(build.job_id.is_none(), "no job is queued for it");
    let message = &build.error.as_ref().expect("an error").message;
    assert!(message.contains("#{Src.CommitId}"), "{message}");
    assert_eq!(s.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn on_failure_retry_retries_the_failed_stage_once_then_fails() {
    let mut s = two_stage();
    s.decl.stages[1].on_failure = Some(sluice_model::OnFailure::Retry { all_actions: false });
    s.start("e1");
    s.succeed("e1", "src");
    let first = s.job("e1", "build");
    s.fail("e1", "build", "flaky");
    let second = s.job("e1", "build");
    assert_ne!(first, second, "a new attempt runs");
    assert_eq!(s.status("e1"), ExecutionStatus::InProgress);
    assert_eq!(s.action("e1", "build").attempt, 2);
    s.fail("e1", "build", "still broken");
    assert_eq!(s.status("e1"), ExecutionStatus::Failed, "retried once only");

    s.start("e2");
    s.succeed("e2", "src");
    s.fail("e2", "build", "flaky");
    s.succeed("e2", "build");
    assert_eq!(
        s.status("e2"),
        ExecutionStatus::Succeeded,
        "each run retries once"
    );
}

#[test]
fn on_failure_rollback_reruns_the_stage_with_the_last_succeeded_executions_artifacts() {
    let mut s = two_stage();
    s.decl.stages[0].actions[0].output_artifacts = vec!["App".into()];
    s.decl.stages[1].actions[0].input_artifacts = vec!["App".into()];
    s.decl.stages[1].on_failure = Some(sluice_model::OnFailure::Rollback);
    s.start("good");
    s.succeed("good", "src");
    s.succeed("good", "build");
    let good_app = s.rt.executions["good"].artifacts["App"].clone();
    s.start("bad");
    s.succeed("bad", "src");
    s.fail("bad", "build", "broken release");
    assert_eq!(s.status("bad"), ExecutionStatus::Failed);
    let rollback =
        s.rt.executions
            .values()
            .find(|e| matches!(e.execution_type, ExecutionType::Rollback { .. }))
            .expect("a rollback execution started")
            .clone();
    assert_eq!(
        rollback.execution_type,
        ExecutionType::Rollback {
            target: "good".into(),
            stage: 1
        }
    );
    assert_eq!(rollback.trigger.kind, "AutomatedRollback");
    assert_eq!(
        rollback.position,
        Position::InStage(1),
        "it runs only the stage"
    );
    let spec = s
        .last
        .iter()
        .find_map(|e| match e {
            Effect::QueueJob(spec) if spec.execution_id == rollback.id => Some(spec.clone()),
            _ => None,
        })
        .expect("the stage's job is queued again");
    assert_eq!(spec.input_artifacts[0].1.as_ref(), Some(&good_app));
    let id = rollback.id.clone();
    s.succeed(&id, "build");
    assert_eq!(s.status(&id), ExecutionStatus::Succeeded);
    assert!(
        !s.rt.executions.values().any(|e| e.id != id
            && matches!(e.execution_type, ExecutionType::Rollback { .. })
            && !e.status.is_finished()),
        "a rollback's own success starts nothing more"
    );
}

#[test]
fn a_failed_rollback_does_not_roll_back_again_and_without_a_success_nothing_rolls_back() {
    let mut s = two_stage();
    s.decl.stages[1].on_failure = Some(sluice_model::OnFailure::Rollback);
    s.start("e1");
    s.succeed("e1", "src");
    s.fail("e1", "build", "first ever run fails");
    assert_eq!(
        s.rt.executions.len(),
        1,
        "nothing succeeded yet, nothing to roll back to"
    );
    s.ok(Input::Rollback {
        execution_id: "manual".into(),
        stage: "Build".into(),
        target: RollbackTarget {
            execution_id: "older".into(),
            ..Default::default()
        },
        trigger: Trigger {
            kind: "ManualRollback".into(),
            detail: String::new(),
        },
    });
    s.fail("manual", "build", "rollback fails too");
    assert_eq!(s.status("manual"), ExecutionStatus::Failed);
    assert_eq!(
        s.rt.executions.len(),
        2,
        "a failed rollback starts no other"
    );
}

/// A condition of one rule of `provider` with `configuration`.
fn condition(
    result: sluice_model::ConditionResult,
    provider: &str,
    configuration: &[(&str, &str)],
) -> sluice_model::Condition {
    sluice_model::Condition {
        result,
        rules: vec![sluice_model::RuleDeclaration {
            name: "Check".into(),
            rule_type_id: sluice_model::RuleTypeId {
                category: "Rule".into(),
                owner: "AWS".into(),
                provider: provider.into(),
                version: "1".into(),
            },
            configuration: configuration
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            commands: if provider == "Commands" {
                vec!["test -f ready".into()]
            } else {
                vec![]
            },
            ..Default::default()
        }],
    }
}

fn variable_is(value: &str) -> [(&'static str, String); 3] {
    [
        ("Variable", "#{variables.Branch}".to_string()),
        ("Operator", "EQ".to_string()),
        ("Value", value.to_string()),
    ]
}

fn v2_with_branch() -> Scenario {
    let mut s = two_stage();
    s.decl.pipeline_type = Some("V2".into());
    s.decl.variables = vec![sluice_model::PipelineVariable {
        name: "Branch".into(),
        default_value: Some("main".into()),
        description: None,
    }];
    s
}

fn set_condition(
    s: &mut Scenario,
    stage: usize,
    kind: sluice_model::ConditionKind,
    c: sluice_model::Condition,
) {
    let declared = &mut s.decl.stages[stage];
    match kind {
        sluice_model::ConditionKind::BeforeEntry => declared.before_entry = Some(c),
        sluice_model::ConditionKind::OnSuccess => declared.on_success = Some(c),
        sluice_model::ConditionKind::OnFailure => declared.on_failure_condition = Some(c),
    }
}

fn check_variable(result: sluice_model::ConditionResult, value: &str) -> sluice_model::Condition {
    let config = variable_is(value);
    let pairs: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    condition(result, "VariableCheck", &pairs)
}

#[test]
fn an_entry_condition_that_holds_lets_the_execution_into_the_stage() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    set_condition(
        &mut s,
        1,
        ConditionKind::BeforeEntry,
        check_variable(ConditionResult::Fail, "main"),
    );
    s.start("e1");
    s.succeed("e1", "src");
    assert_eq!(s.queued_jobs(), vec!["build".to_string()]);
    let run = &s.rt.executions["e1"].stage_runs[&1];
    assert_eq!(run.conditions[0].status, ConditionStatus::Succeeded);
    assert_eq!(
        run.conditions[0].rules[0].resolved_configuration["Variable"],
        "main"
    );
}

#[test]
fn a_failed_entry_condition_with_fail_stops_the_execution_at_the_stage_with_the_rules_reason() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    set_condition(
        &mut s,
        1,
        ConditionKind::BeforeEntry,
        check_variable(ConditionResult::Fail, "release"),
    );
    s.start("e1");
    s.succeed("e1", "src");
    assert!(s.queued_jobs().is_empty(), "no action of the stage starts");
    assert_eq!(s.status("e1"), ExecutionStatus::Failed);
    assert_eq!(s.stage_status("e1", "Build"), StageStatus::Failed);
    let summary = s.rt.executions["e1"]
        .status_summary
        .clone()
        .unwrap_or_default();
    assert!(
        summary.contains("beforeEntry") && summary.contains("rule Check failed"),
        "{summary}"
    );
    assert!(
        summary.contains("'main' EQ 'release' does not hold"),
        "{summary}"
    );
    // The stage is free for the next execution.
    s.start("e2");
    s.succeed("e2", "src");
    assert_eq!(s.status("e2"), ExecutionStatus::Failed);
}

#[test]
fn a_failed_entry_condition_with_skip_goes_past_the_stage() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    s.decl.stages.push(stage("Deploy", &[("deploy", 1)]));
    s.rt = Runtime::new(&s.decl);
    set_condition(
        &mut s,
        1,
        ConditionKind::BeforeEntry,
        check_variable(ConditionResult::Skip, "release"),
    );
    s.start("e1");
    s.succeed("e1", "src");
    assert_eq!(s.stage_status("e1", "Build"), StageStatus::Skipped);
    assert_eq!(s.queued_jobs(), vec!["deploy".to_string()]);
    s.succeed("e1", "deploy");
    assert_eq!(s.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn a_closed_deployment_window_holds_the_execution_until_it_opens_or_is_overridden() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    // Only during minute 30 of each hour; the scenario starts at 1 s past the epoch.
    set_condition(
        &mut s,
        1,
        ConditionKind::BeforeEntry,
        condition(
            ConditionResult::Fail,
            "DeploymentWindow",
            &[("Cron", "* 30 * ? * *")],
        ),
    );
    s.start("e1");
    s.succeed("e1", "src");
    assert!(s.queued_jobs().is_empty());
    let timer = s
        .last
        .iter()
        .find_map(|e| match e {
            Effect::SetTimer {
                timer: timer @ Timer::RuleCheck { .. },
                at_ms,
            } => Some((timer.clone(), *at_ms)),
            _ => None,
        })
        .expect("the rule checks again when the window opens");
    assert_eq!(timer.1, 30 * 60_000, "the next opening is 00:30");
    s.now = timer.1;
    s.ok(Input::TimerDue { timer: timer.0 });
    assert_eq!(s.queued_jobs(), vec!["build".to_string()]);
    s.succeed("e1", "build");
    assert_eq!(s.status("e1"), ExecutionStatus::Succeeded);

    // Closed again an hour later: an override lets the next execution in.
    s.now = 90 * 60_000 + 5 * 60_000;
    s.start("e2");
    s.succeed("e2", "src");
    assert!(s.queued_jobs().is_empty());
    let refused = s.apply(Input::OverrideCondition {
        execution_id: "e2".into(),
        stage: "Build".into(),
        kind: ConditionKind::OnSuccess,
        by: "alice".into(),
    });
    assert!(matches!(refused, Err(Error::ConditionNotOverridable(_))));
    s.ok(Input::OverrideCondition {
        execution_id: "e2".into(),
        stage: "Build".into(),
        kind: ConditionKind::BeforeEntry,
        by: "alice".into(),
    });
    assert_eq!(s.queued_jobs(), vec!["build".to_string()]);
    let run = &s.rt.executions["e2"].stage_runs[&1];
    assert_eq!(run.conditions[0].status, ConditionStatus::Overridden);
    assert_eq!(run.conditions[0].rules[0].status, RuleStatus::Abandoned);
}

#[test]
fn a_commands_rule_runs_as_a_job_and_the_condition_waits_for_it() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    set_condition(
        &mut s,
        1,
        ConditionKind::OnSuccess,
        condition(ConditionResult::Fail, "Commands", &[]),
    );
    s.start("e1");
    s.succeed("e1", "src");
    s.succeed("e1", "build");
    let spec = s
        .last
        .iter()
        .find_map(|e| match e {
            Effect::QueueJob(spec) => Some(spec.clone()),
            _ => None,
        })
        .expect("the rule's job is queued");
    assert!(spec.rule);
    assert_eq!(spec.commands, vec!["test -f ready".to_string()]);
    assert_eq!(
        spec.action_type_id,
        ActionTypeId::new("Compute", "AWS", "Commands", "1")
    );
    assert_eq!(
        s.status("e1"),
        ExecutionStatus::InProgress,
        "the stage waits for its check"
    );
    s.ok(Input::JobFailed {
        job_id: spec.job_id,
        error: ErrorDetails {
            code: "JobFailed".into(),
            message: "exit status 1".into(),
        },
        external_execution_id: None,
    });
    assert_eq!(s.status("e1"), ExecutionStatus::Failed);
    assert_eq!(s.action_status("e1", "build"), ActionStatus::Succeeded);
}

#[test]
fn a_success_condition_with_rollback_rolls_the_stage_back_when_it_fails() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    set_condition(
        &mut s,
        1,
        ConditionKind::OnSuccess,
        check_variable(ConditionResult::Rollback, "main"),
    );
    s.start("good");
    s.succeed("good", "src");
    s.succeed("good", "build");
    assert_eq!(s.status("good"), ExecutionStatus::Succeeded);
    s.start_with("bad", &[("Branch", "feature")]);
    s.succeed("bad", "src");
    s.succeed("bad", "build");
    assert_eq!(s.status("bad"), ExecutionStatus::Failed);
    let rollback =
        s.rt.executions
            .values()
            .find(|e| {
                e.execution_type
                    == ExecutionType::Rollback {
                        target: "good".into(),
                        stage: 1,
                    }
            })
            .expect("a rollback to the good execution");
    assert_eq!(rollback.trigger.kind, "AutomatedRollback");
}

#[test]
fn a_failure_condition_rolls_back_only_when_its_rules_fail() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    set_condition(
        &mut s,
        1,
        ConditionKind::OnFailure,
        check_variable(ConditionResult::Rollback, "main"),
    );
    s.start("good");
    s.succeed("good", "src");
    s.succeed("good", "build");
    // The rule holds (Branch is main): the failure is an ordinary one.
    s.start("plain");
    s.succeed("plain", "src");
    s.fail("plain", "build", "broken");
    assert_eq!(s.rt.executions.len(), 2, "no rollback");
    s.start_with("odd", &[("Branch", "feature")]);
    s.succeed("odd", "src");
    s.fail("odd", "build", "broken");
    assert!(s
        .rt
        .executions
        .values()
        .any(|e| matches!(e.execution_type, ExecutionType::Rollback { .. })));
}

#[test]
fn stopping_during_a_condition_check_abandons_its_rules_and_cancels_their_jobs() {
    use sluice_model::{ConditionKind, ConditionResult};
    let mut s = v2_with_branch();
    set_condition(
        &mut s,
        1,
        ConditionKind::BeforeEntry,
        condition(ConditionResult::Fail, "Commands", &[]),
    );
    s.start("e1");
    s.succeed("e1", "src");
    let effects = s.ok(Input::Stop {
        execution_id: "e1".into(),
        abandon: false,
        reason: None,
    });
    assert_eq!(s.status("e1"), ExecutionStatus::Stopped);
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::CancelJob { .. })));
    let run = &s.rt.executions["e1"].stage_runs[&1];
    assert_eq!(run.conditions[0].status, ConditionStatus::Abandoned);
}
