//! One test per structural rule: each builds a valid pipeline, breaks exactly one rule, and
//! expects a problem of the right kind naming the offender.

use super::*;
use crate::catalog::built_in_action_types;
use crate::declaration::{ArtifactStore, BlockerDeclaration};
use crate::ActionTypeId;

fn s3_source(name: &str, output: &str) -> ActionDeclaration {
    ActionDeclaration {
        name: name.into(),
        action_type_id: ActionTypeId::new("Source", "AWS", "S3", "1"),
        run_order: 1,
        configuration: [("S3Bucket", "b"), ("S3ObjectKey", "k.zip")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        output_artifacts: vec![output.into()],
        ..Default::default()
    }
}

fn deploy(name: &str, input: &str) -> ActionDeclaration {
    ActionDeclaration {
        name: name.into(),
        action_type_id: ActionTypeId::new("Deploy", "AWS", "CodeDeploy", "1"),
        run_order: 1,
        configuration: [("ApplicationName", "app"), ("DeploymentGroupName", "g")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        input_artifacts: vec![input.into()],
        ..Default::default()
    }
}

fn approval(name: &str) -> ActionDeclaration {
    ActionDeclaration {
        name: name.into(),
        action_type_id: ActionTypeId::new("Approval", "AWS", "Manual", "1"),
        run_order: 1,
        ..Default::default()
    }
}

fn stage(name: &str, actions: Vec<ActionDeclaration>) -> StageDeclaration {
    StageDeclaration {
        name: name.into(),
        blockers: vec![],
        actions,
        on_failure: None,
        ..Default::default()
    }
}

fn valid() -> PipelineDeclaration {
    PipelineDeclaration {
        name: "MyFirstPipeline".into(),
        role_arn: "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service".into(),
        artifact_store: Some(ArtifactStore {
            kind: "S3".into(),
            location: "bucket".into(),
            encryption_key: None,
        }),
        stages: vec![
            stage("Source", vec![s3_source("Source", "MyApp")]),
            stage("Beta", vec![deploy("Deploy", "MyApp")]),
        ],
        version: 1,
        ..Default::default()
    }
}

fn problems(p: &PipelineDeclaration) -> Vec<Problem> {
    validate_pipeline(p, &Limits::default(), &built_in_action_types())
}

fn expect_one(p: &PipelineDeclaration, kind: ProblemKind, fragment: &str) {
    let found = problems(p);
    assert!(
        found
            .iter()
            .any(|x| x.kind == kind && x.message.contains(fragment)),
        "expected a {kind:?} problem containing {fragment:?}, got {found:#?}"
    );
}

#[test]
fn the_guides_two_stage_pipeline_is_valid() {
    assert_eq!(problems(&valid()), vec![]);
}

#[test]
fn pipeline_must_have_at_least_two_stages() {
    let mut p = valid();
    p.stages.truncate(1);
    expect_one(
        &p,
        ProblemKind::Structure,
        "Pipeline has only 1 stage(s). There should be a minimum of 2 stages in a pipeline",
    );
}

#[test]
fn pipeline_stage_count_has_a_configurable_maximum() {
    let mut p = valid();
    for i in 0..50 {
        p.stages.push(stage(&format!("S{i}"), vec![approval("A")]));
    }
    expect_one(&p, ProblemKind::Structure, "the limit is 50");
    let tight = Limits {
        max_stages_per_pipeline: 2,
        ..Limits::default()
    };
    let mut p = valid();
    p.stages.push(stage("Third", vec![approval("A")]));
    assert!(!validate_pipeline(&p, &tight, &built_in_action_types()).is_empty());
}

#[test]
fn stage_must_have_at_least_one_action() {
    let mut p = valid();
    p.stages[1].actions.clear();
    expect_one(&p, ProblemKind::Stage, "Stage 'Beta' has 0 action(s)");
}

#[test]
fn stage_action_count_has_a_maximum() {
    let mut p = valid();
    p.stages[1].actions = (0..51).map(|i| approval(&format!("A{i}"))).collect();
    expect_one(&p, ProblemKind::Stage, "the limit is 50");
}

#[test]
fn stage_names_must_be_unique() {
    let mut p = valid();
    p.stages.push(stage("Beta", vec![approval("Approve")]));
    expect_one(
        &p,
        ProblemKind::Structure,
        "more than one stage named 'Beta'",
    );
}

#[test]
fn action_names_must_be_unique_within_a_stage() {
    let mut p = valid();
    p.stages[1].actions.push(approval("Deploy"));
    expect_one(
        &p,
        ProblemKind::Stage,
        "more than one action named 'Deploy'",
    );
}

#[test]
fn first_stage_must_contain_a_source_action() {
    let mut p = valid();
    p.stages[0].actions = vec![deploy("Deploy", "MyApp")];
    expect_one(
        &p,
        ProblemKind::Structure,
        "must contain at least one source action",
    );
}

#[test]
fn first_stage_can_only_contain_source_actions() {
    let mut p = valid();
    p.stages[0].actions.push(deploy("Early", "MyApp"));
    expect_one(
        &p,
        ProblemKind::Stage,
        "can only contain source actions, but action 'Early'",
    );
}

#[test]
fn approval_cannot_be_in_the_source_stage() {
    let mut p = valid();
    p.stages[0].actions.push(approval("Approve"));
    expect_one(
        &p,
        ProblemKind::Stage,
        "Approval action 'Approve' cannot be in the source stage",
    );
}

#[test]
fn only_the_first_stage_may_contain_source_actions() {
    let mut p = valid();
    p.stages[1].actions.push(s3_source("Late", "Other"));
    expect_one(
        &p,
        ProblemKind::Stage,
        "Source action 'Late' is in stage 'Beta'",
    );
}

#[test]
fn some_stage_must_contain_a_non_source_action() {
    let mut p = valid();
    p.stages = vec![
        stage("Source", vec![s3_source("Source", "MyApp")]),
        stage("More", vec![s3_source("Source2", "Two")]),
    ];
    expect_one(&p, ProblemKind::Structure, "not a source action");
}

#[test]
fn input_artifact_must_be_produced_by_a_preceding_action() {
    let mut p = valid();
    p.stages[1].actions[0].input_artifacts = vec!["Nowhere".into()];
    expect_one(
        &p,
        ProblemKind::Structure,
        "Input artifact 'Nowhere' of action 'Deploy'",
    );
}

#[test]
fn input_artifact_from_a_parallel_action_is_not_yet_available() {
    let mut p = valid();
    let mut lambda = ActionDeclaration {
        name: "Make".into(),
        action_type_id: ActionTypeId::new("Invoke", "AWS", "Lambda", "1"),
        run_order: 1,
        configuration: [("FunctionName".to_string(), "f".to_string())].into(),
        output_artifacts: vec!["Made".into()],
        ..Default::default()
    };
    let mut consumer = deploy("Use", "Made");
    p.stages[1]
        .actions
        .extend([lambda.clone(), consumer.clone()]);
    expect_one(
        &p,
        ProblemKind::Structure,
        "Input artifact 'Made' of action 'Use'",
    );
    // The same pair in sequence is fine.
    let mut p = valid();
    lambda.run_order = 1;
    consumer.run_order = 2;
    p.stages[1].actions.extend([lambda, consumer]);
    assert_eq!(problems(&p), vec![]);
}

#[test]
fn output_artifact_names_must_be_unique_in_the_pipeline() {
    let mut p = valid();
    p.stages[0].actions.push(s3_source("Source2", "MyApp"));
    expect_one(&p, ProblemKind::Structure, "Output artifact 'MyApp'");
}

#[test]
fn unknown_action_type_is_refused() {
    let mut p = valid();
    p.stages[1].actions[0].action_type_id.provider = "Nope".into();
    expect_one(
        &p,
        ProblemKind::Action,
        "action type AWS/Deploy/Nope/1 does not exist",
    );
}

#[test]
fn unknown_owner_is_refused() {
    let mut p = valid();
    p.stages[1].actions[0].action_type_id.owner = "Someone".into();
    expect_one(&p, ProblemKind::Action, "owner 'Someone'");
}

#[test]
fn required_configuration_must_be_present() {
    let mut p = valid();
    p.stages[0].actions[0].configuration.remove("S3Bucket");
    expect_one(
        &p,
        ProblemKind::Action,
        "missing required configuration 'S3Bucket'",
    );
}

#[test]
fn unknown_configuration_is_refused() {
    let mut p = valid();
    p.stages[0].actions[0]
        .configuration
        .insert("Colour".into(), "blue".into());
    expect_one(&p, ProblemKind::Action, "unknown configuration 'Colour'");
}

#[test]
fn artifact_counts_follow_the_action_type() {
    let mut p = valid();
    p.stages[1].actions[0].input_artifacts.clear();
    expect_one(
        &p,
        ProblemKind::Action,
        "has 0 input artifact(s); action type AWS/Deploy/CodeDeploy/1 requires 1",
    );
    let mut p = valid();
    p.stages[0].actions[0]
        .output_artifacts
        .push("Second".into());
    expect_one(&p, ProblemKind::Action, "has 2 output artifact(s)");
}

#[test]
fn run_order_must_be_between_one_and_the_limit() {
    for bad in [0, -1, 1000] {
        let mut p = valid();
        p.stages[1].actions[0].run_order = bad;
        expect_one(&p, ProblemKind::Action, "outside the range 1 to 999");
    }
}

#[test]
fn names_must_use_the_allowed_characters() {
    let mut p = valid();
    p.stages[1].name = "Has space".into();
    expect_one(
        &p,
        ProblemKind::Stage,
        "Stage name 'Has space' is not valid",
    );
    let mut p = valid();
    p.stages[1].actions[0].name = "x".repeat(101);
    expect_one(&p, ProblemKind::Action, "the action name is not valid");
}

#[test]
fn blocker_names_must_be_unique() {
    let mut p = valid();
    let b = BlockerDeclaration {
        name: "b".into(),
        kind: "Schedule".into(),
    };
    p.stages[1].blockers = vec![b.clone(), b];
    expect_one(&p, ProblemKind::Blocker, "more than one blocker named 'b'");
}

#[test]
fn artifact_store_is_required_and_exclusive() {
    let mut p = valid();
    p.artifact_store = None;
    expect_one(&p, ProblemKind::Structure, "must declare an artifactStore");
    let mut p = valid();
    p.artifact_stores
        .insert("us-east-1".into(), p.artifact_store.clone().expect("set"));
    expect_one(&p, ProblemKind::Structure, "cannot declare both");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let mut p = valid();
    p.stages[1].actions[0].run_order = 0;
    p.stages[0].actions[0].configuration.remove("S3Bucket");
    assert!(problems(&p).len() >= 2);
}

#[test]
fn queued_and_parallel_execution_modes_need_a_v2_pipeline() {
    for mode in ["QUEUED", "PARALLEL"] {
        let mut p = valid();
        p.execution_mode = Some(mode.into());
        expect_one(
            &p,
            ProblemKind::Structure,
            "only supported for pipelines of type V2",
        );
        p.pipeline_type = Some("V2".into());
        assert_eq!(problems(&p), vec![], "{mode} on V2");
    }
    let mut p = valid();
    p.execution_mode = Some("SUPERSEDED".into());
    assert_eq!(problems(&p), vec![]);
    p.execution_mode = Some("LIFO".into());
    expect_one(
        &p,
        ProblemKind::Structure,
        "Execution mode 'LIFO' is not valid",
    );
}

#[test]
fn variable_references_name_a_declared_variable_or_an_earlier_namespace() {
    let mut p = valid();
    p.pipeline_type = Some("V2".into());
    p.stages[0].actions[0].namespace = Some("SourceVariables".into());
    p.variables = vec![crate::PipelineVariable {
        name: "env".into(),
        default_value: Some("beta".into()),
        description: None,
    }];
    let deploy = &mut p.stages[1].actions[0];
    deploy.configuration.insert(
        "DeploymentGroupName".into(),
        "#{variables.env}-#{SourceVariables.VersionId}-#{codepipeline.PipelineExecutionId}".into(),
    );
    assert_eq!(problems(&p), vec![]);

    let mut unknown = p.clone();
    unknown.stages[1].actions[0]
        .configuration
        .insert("ApplicationName".into(), "#{variables.region}".into());
    expect_one(&unknown, ProblemKind::Action, "no variable named 'region'");

    let mut later = p.clone();
    later.stages[1].actions[0].namespace = Some("DeployVariables".into());
    later.stages[0].actions[0]
        .configuration
        .insert("S3ObjectKey".into(), "#{DeployVariables.Id}".into());
    expect_one(&later, ProblemKind::Action, "does not run before it");

    let mut nowhere = p.clone();
    nowhere.stages[1].actions[0]
        .configuration
        .insert("ApplicationName".into(), "#{Nobody.X}".into());
    expect_one(
        &nowhere,
        ProblemKind::Action,
        "no action declares the namespace 'Nobody'",
    );

    let mut execution = p.clone();
    execution.stages[1].actions[0]
        .configuration
        .insert("ApplicationName".into(), "#{codepipeline.Other}".into());
    expect_one(&execution, ProblemKind::Action, "only PipelineExecutionId");

    let mut twice = p.clone();
    twice.stages[1].actions[0].namespace = Some("SourceVariables".into());
    expect_one(&twice, ProblemKind::Action, "Namespaces must be unique");

    let mut v1 = p;
    v1.pipeline_type = Some("V1".into());
    expect_one(
        &v1,
        ProblemKind::Structure,
        "only supported for pipelines of type V2",
    );
}

#[test]
fn on_failure_needs_v2_and_rollback_needs_an_earlier_stage_and_one_line_of_executions() {
    let mut p = valid();
    p.stages[1].on_failure = Some(crate::OnFailure::Rollback);
    expect_one(
        &p,
        ProblemKind::Stage,
        "only supported for pipelines of type V2",
    );
    p.pipeline_type = Some("V2".into());
    assert_eq!(problems(&p), vec![]);
    p.stages[0].on_failure = Some(crate::OnFailure::Rollback);
    expect_one(
        &p,
        ProblemKind::Stage,
        "first stage and cannot be rolled back",
    );
    p.stages[0].on_failure = Some(crate::OnFailure::Retry { all_actions: true });
    p.execution_mode = Some("PARALLEL".into());
    expect_one(
        &p,
        ProblemKind::Stage,
        "not available for pipelines in PARALLEL mode",
    );
}
