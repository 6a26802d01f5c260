//! Pipelines run: executions, the job-worker protocol, approvals, retries, stop, transitions,
//! timers — through the API, with the test acting as the job worker.

use serde_json::{json, Value};
use sluice_test_utils::TestServer;

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn custom_type(
    s: &TestServer,
    category: &str,
    provider: &str,
    inputs: (i64, i64),
    outputs: (i64, i64),
) {
    s.ok(
        "CreateCustomActionType",
        json!({
            "category": category, "provider": provider, "version": "1",
            "settings": {"executionUrlTemplate": "https://ci.example/{Config:Project}/{ExternalExecutionId}",
                         "entityUrlTemplate": "https://ci.example/{Config:Project}"},
            "configurationProperties": [{"name": "Project", "required": true, "key": true, "secret": false, "queryable": true}],
            "inputArtifactDetails": {"minimumCount": inputs.0, "maximumCount": inputs.1},
            "outputArtifactDetails": {"minimumCount": outputs.0, "maximumCount": outputs.1}
        }),
    )
    .await;
}

fn action(name: &str, category: &str, provider: &str, inputs: &[&str], outputs: &[&str]) -> Value {
    json!({
        "name": name,
        "actionTypeId": {"category": category, "owner": "Custom", "provider": provider, "version": "1"},
        "configuration": {"Project": name},
        "inputArtifacts": inputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "outputArtifacts": outputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
    })
}

fn approval(name: &str) -> Value {
    json!({"name": name, "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
           "configuration": {"CustomData": "Please review", "ExternalEntityLink": "http://example.com"}})
}

/// Source (src) → Build (build) → more stages, all custom actions.
async fn custom_pipeline(s: &TestServer, name: &str, extra_stages: Vec<Value>) {
    custom_type(s, "Source", "Src", (0, 0), (1, 1)).await;
    custom_type(s, "Build", "Builder", (1, 1), (0, 1)).await;
    let mut stages = vec![
        json!({"name": "Source", "actions": [action("src", "Source", "Src", &[], &["App"])]}),
        json!({"name": "Build", "actions": [action("build", "Build", "Builder", &["App"], &[])]}),
    ];
    stages.extend(extra_stages);
    s.ok(
        "CreatePipeline",
        json!({"pipeline": {"name": name, "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
               "artifactStore": {"type": "S3", "location": "artifact-bucket"}, "stages": stages}}),
    )
    .await;
}

async fn poll(s: &TestServer, category: &str, provider: &str) -> Vec<Value> {
    let out = s
        .ok(
            "PollForJobs",
            json!({"actionTypeId": {"category": category, "owner": "Custom", "provider": provider, "version": "1"}, "maxBatchSize": 10}),
        )
        .await;
    out["jobs"].as_array().cloned().unwrap_or_default()
}

/// Polls exactly one job and acknowledges it; returns the job.
async fn take(s: &TestServer, category: &str, provider: &str) -> Value {
    let jobs = poll(s, category, provider).await;
    assert_eq!(jobs.len(), 1, "expected one {provider} job, got {jobs:?}");
    let job = jobs[0].clone();
    let ack = s
        .ok(
            "AcknowledgeJob",
            json!({"jobId": job["id"], "nonce": job["nonce"]}),
        )
        .await;
    assert_eq!(ack["status"], "InProgress");
    job
}

async fn succeed(s: &TestServer, job: &Value) {
    s.ok("PutJobSuccessResult", json!({"jobId": job["id"]}))
        .await;
}

async fn fail(s: &TestServer, job: &Value, message: &str) {
    s.ok(
        "PutJobFailureResult",
        json!({"jobId": job["id"], "failureDetails": {"type": "JobFailed", "message": message}}),
    )
    .await;
}

async fn latest_execution(s: &TestServer, pipeline: &str) -> Value {
    let list = s
        .ok("ListPipelineExecutions", json!({"pipelineName": pipeline}))
        .await;
    list["pipelineExecutionSummaries"][0].clone()
}

async fn stage_state(s: &TestServer, pipeline: &str, stage: usize) -> Value {
    s.ok("GetPipelineState", json!({"name": pipeline})).await["stageStates"][stage].clone()
}

#[tokio::test]
async fn an_aws_action_without_a_provider_fails_at_once_with_a_clear_message() {
    let s = TestServer::start().await;
    s.ok("CreatePipeline", crate::fixtures::create_request())
        .await;
    let e = latest_execution(&s, "MyFirstPipeline").await;
    assert_eq!(e["status"], "Failed");
    assert_eq!(e["trigger"]["triggerType"], "CreatePipeline");
    let source = stage_state(&s, "MyFirstPipeline", 0).await;
    assert_eq!(source["latestExecution"]["status"], "Failed");
    let action = &source["actionStates"][0]["latestExecution"];
    assert_eq!(action["status"], "Failed");
    assert_eq!(
        action["errorDetails"]["message"],
        "no provider for AWS/Source/S3/1 is available on this server; this server runs with its built-in providers turned off ([providers] enabled = false); turn them on, or run the action type with a worker"
    );
}

#[tokio::test]
async fn custom_actions_run_end_to_end_with_a_job_worker() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Flow", vec![]).await;
    let e = latest_execution(&s, "Flow").await;
    assert_eq!(e["status"], "InProgress");
    let id = e["pipelineExecutionId"].as_str().expect("id").to_string();

    let jobs = poll(&s, "Source", "Src").await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job["accountId"], "111111111111");
    let data = &job["data"];
    assert_eq!(data["pipelineContext"]["pipelineName"], "Flow");
    assert_eq!(data["pipelineContext"]["stage"]["name"], "Source");
    assert_eq!(data["pipelineContext"]["action"]["name"], "src");
    assert_eq!(data["pipelineContext"]["pipelineExecutionId"], id.as_str());
    assert_eq!(
        data["pipelineContext"]["pipelineArn"],
        "arn:aws:codepipeline:us-east-1:111111111111:Flow"
    );
    assert_eq!(
        data["actionConfiguration"]["configuration"]["Project"],
        "src"
    );
    let output = &data["outputArtifacts"][0];
    assert_eq!(output["name"], "App");
    assert_eq!(output["location"]["type"], "S3");
    assert_eq!(
        output["location"]["s3Location"]["bucketName"],
        "artifact-bucket"
    );
    let key = output["location"]["s3Location"]["objectKey"]
        .as_str()
        .expect("key")
        .to_string();
    assert!(key.starts_with("Flow/App/"), "{key}");
    assert!(
        poll(&s, "Source", "Src").await.is_empty(),
        "a dispatched job is not handed out twice"
    );

    s.err(
        "AcknowledgeJob",
        json!({"jobId": job["id"], "nonce": "wrong"}),
        "InvalidNonceException",
    )
    .await;
    s.ok(
        "AcknowledgeJob",
        json!({"jobId": job["id"], "nonce": job["nonce"]}),
    )
    .await;
    s.ok(
        "PutJobSuccessResult",
        json!({"jobId": job["id"], "currentRevision": {"revision": "abc123", "changeIdentifier": "abc123"},
               "executionDetails": {"summary": "fetched", "externalExecutionId": "run-7", "percentComplete": 100}}),
    )
    .await;

    let build = take(&s, "Build", "Builder").await;
    assert_eq!(
        build["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"],
        key.as_str()
    );
    let state = stage_state(&s, "Flow", 0).await;
    let src = &state["actionStates"][0];
    assert_eq!(src["latestExecution"]["status"], "Succeeded");
    assert_eq!(src["latestExecution"]["summary"], "fetched");
    assert_eq!(
        src["latestExecution"]["externalExecutionUrl"],
        "https://ci.example/src/run-7"
    );
    assert_eq!(src["entityUrl"], "https://ci.example/src");
    assert_eq!(src["currentRevision"]["revisionId"], "abc123");
    succeed(&s, &build).await;

    let done = s
        .ok(
            "GetPipelineExecution",
            json!({"pipelineName": "Flow", "pipelineExecutionId": id}),
        )
        .await;
    let e = &done["pipelineExecution"];
    assert_eq!(e["status"], "Succeeded");
    assert_eq!(e["pipelineVersion"], 1);
    assert_eq!(e["artifactRevisions"][0]["name"], "App");
    assert_eq!(e["artifactRevisions"][0]["revisionId"], "abc123");
    let r = s
        .err(
            "PutJobSuccessResult",
            json!({"jobId": build["id"]}),
            "InvalidJobStateException",
        )
        .await;
    assert!(r.message().contains("Succeeded"));
    s.err(
        "GetJobDetails",
        json!({"jobId": "00000000-0000-0000-0000-000000000000"}),
        "JobNotFoundException",
    )
    .await;
    let details = s.ok("GetJobDetails", json!({"jobId": build["id"]})).await;
    assert_eq!(
        details["jobDetails"]["data"]["pipelineContext"]["stage"]["name"],
        "Build"
    );
}

#[tokio::test]
async fn continuation_token_keeps_the_action_running_with_a_new_job() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Long", vec![]).await;
    let first = take(&s, "Source", "Src").await;
    s.ok(
        "PutJobSuccessResult",
        json!({"jobId": first["id"], "continuationToken": "step-2", "executionDetails": {"summary": "half", "percentComplete": 50}}),
    )
    .await;
    let state = stage_state(&s, "Long", 0).await;
    assert_eq!(
        state["actionStates"][0]["latestExecution"]["status"],
        "InProgress"
    );
    assert_eq!(
        state["actionStates"][0]["latestExecution"]["percentComplete"],
        50
    );
    let second = take(&s, "Source", "Src").await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["data"]["continuationToken"], "step-2");
    assert_eq!(
        second["data"]["pipelineContext"]["action"]["actionExecutionId"],
        first["data"]["pipelineContext"]["action"]["actionExecutionId"]
    );
    succeed(&s, &second).await;
    assert_eq!(poll(&s, "Build", "Builder").await.len(), 1);
}

#[tokio::test]
async fn failed_stage_is_retried_with_failed_actions() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Retry", vec![]).await;
    let id = latest_execution(&s, "Retry").await["pipelineExecutionId"].clone();
    succeed(&s, &take(&s, "Source", "Src").await).await;
    fail(&s, &take(&s, "Build", "Builder").await, "exit 1").await;
    assert_eq!(latest_execution(&s, "Retry").await["status"], "Failed");
    let build = stage_state(&s, "Retry", 1).await;
    assert_eq!(build["latestExecution"]["status"], "Failed");
    assert_eq!(
        build["actionStates"][0]["latestExecution"]["errorDetails"]["message"],
        "exit 1"
    );
    s.err(
        "RetryStageExecution",
        json!({"pipelineName": "Retry", "stageName": "Source", "pipelineExecutionId": id, "retryMode": "FAILED_ACTIONS"}),
        "StageNotRetryableException",
    )
    .await;
    let out = s
        .ok(
            "RetryStageExecution",
            json!({"pipelineName": "Retry", "stageName": "Build", "pipelineExecutionId": id, "retryMode": "FAILED_ACTIONS"}),
        )
        .await;
    assert_eq!(out["pipelineExecutionId"], id);
    s.err(
        "RetryStageExecution",
        json!({"pipelineName": "Retry", "stageName": "Build", "pipelineExecutionId": id, "retryMode": "FAILED_ACTIONS"}),
        "ConflictException",
    )
    .await;
    succeed(&s, &take(&s, "Build", "Builder").await).await;
    assert_eq!(latest_execution(&s, "Retry").await["status"], "Succeeded");
}

#[tokio::test]
async fn retrying_an_execution_that_is_not_the_latest_is_refused() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Old", vec![]).await;
    let first = latest_execution(&s, "Old").await["pipelineExecutionId"].clone();
    succeed(&s, &take(&s, "Source", "Src").await).await;
    fail(&s, &take(&s, "Build", "Builder").await, "broken").await;
    s.ok("StartPipelineExecution", json!({"name": "Old"})).await;
    succeed(&s, &take(&s, "Source", "Src").await).await;
    s.err(
        "RetryStageExecution",
        json!({"pipelineName": "Old", "stageName": "Build", "pipelineExecutionId": first, "retryMode": "FAILED_ACTIONS"}),
        "NotLatestPipelineExecutionException",
    )
    .await;
}

/// `name` with an Approve stage after Build, run until the approval waits for an answer.
async fn waiting_for_approval(s: &TestServer, name: &str) {
    custom_pipeline(
        s,
        name,
        vec![json!({"name": "Approve", "actions": [approval("Review")]})],
    )
    .await;
    succeed(s, &take(s, "Source", "Src").await).await;
    succeed(s, &take(s, "Build", "Builder").await).await;
}

#[tokio::test]
async fn manual_approval_is_approved_with_its_token_and_records_the_approver() {
    let s = TestServer::start().await;
    waiting_for_approval(&s, "Gate").await;
    let state = stage_state(&s, "Gate", 2).await;
    let token = state["actionStates"][0]["latestExecution"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let answer = |token: &str, status: &str| {
        json!({"pipelineName": "Gate", "stageName": "Approve", "actionName": "Review", "token": token,
               "result": {"summary": "Looks good", "status": status}})
    };
    s.err(
        "PutApprovalResult",
        answer("00000000-0000-0000-0000-000000000000", "Approved"),
        "InvalidApprovalTokenException",
    )
    .await;
    let out = s.ok("PutApprovalResult", answer(&token, "Approved")).await;
    assert!(out["approvedAt"].is_number());
    s.err(
        "PutApprovalResult",
        answer(&token, "Rejected"),
        "ApprovalAlreadyCompletedException",
    )
    .await;
    let state = stage_state(&s, "Gate", 2).await;
    let review = &state["actionStates"][0]["latestExecution"];
    assert_eq!(review["status"], "Succeeded");
    assert_eq!(review["summary"], "Looks good");
    assert_eq!(review["lastUpdatedBy"], "arn:aws:iam::111111111111:root");
    assert_eq!(latest_execution(&s, "Gate").await["status"], "Succeeded");
}

#[tokio::test]
async fn rejected_approval_fails_the_execution() {
    let s = TestServer::start().await;
    waiting_for_approval(&s, "Reject").await;
    let token =
        stage_state(&s, "Reject", 2).await["actionStates"][0]["latestExecution"]["token"].clone();
    s.ok(
        "PutApprovalResult",
        json!({"pipelineName": "Reject", "stageName": "Approve", "actionName": "Review", "token": token,
               "result": {"summary": "Not yet", "status": "Rejected"}}),
    )
    .await;
    assert_eq!(latest_execution(&s, "Reject").await["status"], "Failed");
}

#[tokio::test]
async fn unanswered_approval_expires_after_seven_days() {
    let s = TestServer::start().await;
    waiting_for_approval(&s, "Expire").await;
    s.clock.advance_ms(7 * DAY_MS - 1);
    s.sluice.fire_due_timers().await.expect("timers");
    assert_eq!(latest_execution(&s, "Expire").await["status"], "InProgress");
    s.clock.advance_ms(1);
    assert_eq!(s.sluice.fire_due_timers().await.expect("timers"), 1);
    let review = &stage_state(&s, "Expire", 2).await["actionStates"][0]["latestExecution"];
    assert_eq!(review["status"], "Failed");
    assert_eq!(review["errorDetails"]["code"], "Expired");
    assert_eq!(latest_execution(&s, "Expire").await["status"], "Failed");
}

#[tokio::test]
async fn a_job_without_a_result_times_out_and_fails_its_action() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Slow", vec![]).await;
    let job = take(&s, "Source", "Src").await;
    s.clock.advance_ms(3600 * 1000);
    s.sluice.fire_due_timers().await.expect("timers");
    let src = &stage_state(&s, "Slow", 0).await["actionStates"][0]["latestExecution"];
    assert_eq!(src["status"], "Failed");
    assert_eq!(src["errorDetails"]["code"], "TimedOut");
    s.err(
        "PutJobSuccessResult",
        json!({"jobId": job["id"]}),
        "InvalidJobStateException",
    )
    .await;
}

#[tokio::test]
async fn stop_and_abandon_and_the_stop_errors() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Stop", vec![]).await;
    let id = latest_execution(&s, "Stop").await["pipelineExecutionId"].clone();
    let job = take(&s, "Source", "Src").await;
    let stop = |abandon: bool| json!({"pipelineName": "Stop", "pipelineExecutionId": id, "abandon": abandon, "reason": "not today"});
    let out = s.ok("StopPipelineExecution", stop(false)).await;
    assert_eq!(out["pipelineExecutionId"], id);
    assert_eq!(latest_execution(&s, "Stop").await["status"], "Stopping");
    s.err(
        "StopPipelineExecution",
        stop(false),
        "DuplicatedStopRequestException",
    )
    .await;
    s.ok("StopPipelineExecution", stop(true)).await;
    let e = latest_execution(&s, "Stop").await;
    assert_eq!(e["status"], "Stopped");
    assert_eq!(e["statusSummary"], "not today");
    assert_eq!(
        stage_state(&s, "Stop", 0).await["actionStates"][0]["latestExecution"]["status"],
        "Abandoned"
    );
    s.err(
        "PutJobSuccessResult",
        json!({"jobId": job["id"]}),
        "InvalidJobStateException",
    )
    .await;
    s.err(
        "StopPipelineExecution",
        stop(true),
        "PipelineExecutionNotStoppableException",
    )
    .await;
    s.err(
        "StopPipelineExecution",
        json!({"pipelineName": "Stop", "pipelineExecutionId": "00000000-0000-0000-0000-000000000000"}),
        "PipelineExecutionNotFoundException",
    )
    .await;
}

#[tokio::test]
async fn disabled_transition_holds_executions_and_the_newest_waiting_one_enters_when_enabled() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Hold", vec![]).await;
    s.ok(
        "DisableStageTransition",
        json!({"pipelineName": "Hold", "stageName": "Build", "transitionType": "Inbound", "reason": "freeze"}),
    )
    .await;
    let first = latest_execution(&s, "Hold").await["pipelineExecutionId"].clone();
    succeed(&s, &take(&s, "Source", "Src").await).await;
    assert!(
        poll(&s, "Build", "Builder").await.is_empty(),
        "the disabled transition holds the execution"
    );
    let started = s
        .ok("StartPipelineExecution", json!({"name": "Hold"}))
        .await;
    let second = started["pipelineExecutionId"].clone();
    succeed(&s, &take(&s, "Source", "Src").await).await;
    let old = s
        .ok(
            "GetPipelineExecution",
            json!({"pipelineName": "Hold", "pipelineExecutionId": first}),
        )
        .await;
    assert_eq!(old["pipelineExecution"]["status"], "Superseded");
    assert_eq!(
        stage_state(&s, "Hold", 1).await["inboundExecution"]["pipelineExecutionId"],
        second
    );
    s.ok(
        "EnableStageTransition",
        json!({"pipelineName": "Hold", "stageName": "Build", "transitionType": "Inbound"}),
    )
    .await;
    let build = take(&s, "Build", "Builder").await;
    assert_eq!(
        build["data"]["pipelineContext"]["pipelineExecutionId"],
        second
    );
}

#[tokio::test]
async fn start_is_idempotent_per_client_request_token_and_history_is_newest_first() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Starts", vec![]).await;
    s.clock.advance_ms(1000);
    let a = s
        .ok(
            "StartPipelineExecution",
            json!({"name": "Starts", "clientRequestToken": "retry-safe-1"}),
        )
        .await;
    s.clock.advance_ms(1000);
    let b = s
        .ok(
            "StartPipelineExecution",
            json!({"name": "Starts", "clientRequestToken": "retry-safe-1"}),
        )
        .await;
    assert_eq!(a["pipelineExecutionId"], b["pipelineExecutionId"]);
    s.clock.advance_ms(1000);
    let c = s
        .ok("StartPipelineExecution", json!({"name": "Starts"}))
        .await;
    let list = s
        .ok(
            "ListPipelineExecutions",
            json!({"pipelineName": "Starts", "maxResults": 2}),
        )
        .await;
    let ids: Vec<&Value> = list["pipelineExecutionSummaries"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| &e["pipelineExecutionId"])
        .collect();
    assert_eq!(ids, [&c["pipelineExecutionId"], &a["pipelineExecutionId"]]);
    let rest = s
        .ok(
            "ListPipelineExecutions",
            json!({"pipelineName": "Starts", "nextToken": list["nextToken"]}),
        )
        .await;
    assert_eq!(
        rest["pipelineExecutionSummaries"].as_array().map(Vec::len),
        Some(1),
        "the one started by CreatePipeline"
    );
    assert_eq!(
        rest["pipelineExecutionSummaries"][0]["trigger"]["triggerType"],
        "CreatePipeline"
    );
    s.err(
        "StartPipelineExecution",
        json!({"name": "Nope"}),
        "PipelineNotFoundException",
    )
    .await;
    s.err(
        "ListPipelineExecutions",
        json!({"pipelineName": "Starts", "nextToken": "forged"}),
        "InvalidNextTokenException",
    )
    .await;
}

#[tokio::test]
async fn updating_a_pipeline_stops_its_running_execution() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Edit", vec![]).await;
    let job = take(&s, "Source", "Src").await;
    let mut p = s.ok("GetPipeline", json!({"name": "Edit"})).await["pipeline"].clone();
    p["stages"][1]["actions"][0]["configuration"]["Project"] = json!("renamed");
    s.ok("UpdatePipeline", json!({"pipeline": p})).await;
    let e = latest_execution(&s, "Edit").await;
    assert_eq!(e["status"], "Stopped");
    assert!(e["statusSummary"]
        .as_str()
        .is_some_and(|m| m.contains("updated")));
    s.err(
        "PutJobSuccessResult",
        json!({"jobId": job["id"]}),
        "InvalidJobStateException",
    )
    .await;
}

#[tokio::test]
async fn query_param_polls_only_matching_jobs() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Query", vec![]).await;
    let none = s
        .ok(
            "PollForJobs",
            json!({"actionTypeId": {"category": "Source", "owner": "Custom", "provider": "Src", "version": "1"}, "queryParam": {"Project": "other"}}),
        )
        .await;
    assert_eq!(none["jobs"], json!([]));
    let some = s
        .ok(
            "PollForJobs",
            json!({"actionTypeId": {"category": "Source", "owner": "Custom", "provider": "Src", "version": "1"}, "queryParam": {"Project": "src"}}),
        )
        .await;
    assert_eq!(some["jobs"].as_array().map(Vec::len), Some(1));
    s.err(
        "PollForJobs",
        json!({"actionTypeId": {"category": "Source", "owner": "Custom", "provider": "Nope", "version": "1"}}),
        "ActionTypeNotFoundException",
    )
    .await;
}

#[tokio::test]
async fn a_job_polled_but_never_acknowledged_goes_to_the_next_poller_after_its_lease() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Lease", vec![]).await;
    let first = poll(&s, "Source", "Src").await;
    assert_eq!(first.len(), 1);
    s.clock.advance_ms(59_999);
    assert!(
        poll(&s, "Source", "Src").await.is_empty(),
        "still leased to the first poller"
    );
    s.clock.advance_ms(1);
    let second = poll(&s, "Source", "Src").await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["id"], first[0]["id"]);
    assert_ne!(second[0]["nonce"], first[0]["nonce"]);
    s.err(
        "AcknowledgeJob",
        json!({"jobId": first[0]["id"], "nonce": first[0]["nonce"]}),
        "InvalidNonceException",
    )
    .await;
    s.ok(
        "AcknowledgeJob",
        json!({"jobId": second[0]["id"], "nonce": second[0]["nonce"]}),
    )
    .await;
}

#[tokio::test]
async fn action_executions_list_every_attempt_with_inputs_and_outputs() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "History", vec![]).await;
    let id = latest_execution(&s, "History").await["pipelineExecutionId"].clone();
    succeed(&s, &take(&s, "Source", "Src").await).await;
    fail(&s, &take(&s, "Build", "Builder").await, "first try").await;
    s.ok(
        "RetryStageExecution",
        json!({"pipelineName": "History", "stageName": "Build", "pipelineExecutionId": id, "retryMode": "FAILED_ACTIONS"}),
    )
    .await;
    succeed(&s, &take(&s, "Build", "Builder").await).await;
    let out = s
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "History", "filter": {"pipelineExecutionId": id}}),
        )
        .await;
    let details = out["actionExecutionDetails"].as_array().expect("details");
    let summary: Vec<(&str, &str)> = details
        .iter()
        .map(|d| {
            (
                d["actionName"].as_str().unwrap_or(""),
                d["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("src", "Succeeded"),
            ("build", "Failed"),
            ("build", "Succeeded")
        ]
    );
    let failed = &details[1];
    assert_eq!(
        failed["output"]["executionResult"]["errorDetails"]["message"],
        "first try"
    );
    assert_eq!(failed["input"]["actionTypeId"]["provider"], "Builder");
    assert_eq!(failed["input"]["inputArtifacts"][0]["name"], "App");
    assert_eq!(
        failed["input"]["inputArtifacts"][0]["s3location"]["key"],
        details[0]["output"]["outputArtifacts"][0]["s3location"]["key"]
    );
    let page = s
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "History", "maxResults": 2}),
        )
        .await;
    assert_eq!(
        page["actionExecutionDetails"].as_array().map(Vec::len),
        Some(2)
    );
    let rest = s
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "History", "maxResults": 2, "nextToken": page["nextToken"]}),
        )
        .await;
    assert_eq!(
        rest["actionExecutionDetails"].as_array().map(Vec::len),
        Some(1)
    );
    for (range, expected) in [
        ("Latest", vec!["Succeeded", "Succeeded"]),
        ("All", vec!["Succeeded", "Failed", "Succeeded"]),
    ] {
        let out = s
            .ok(
                "ListActionExecutions",
                json!({"pipelineName": "History", "filter": {"latestInPipelineExecution":
                    {"pipelineExecutionId": id, "startTimeRange": range}}}),
            )
            .await;
        let statuses: Vec<&str> = out["actionExecutionDetails"]
            .as_array()
            .expect("details")
            .iter()
            .filter_map(|d| d["status"].as_str())
            .collect();
        assert_eq!(statuses, expected, "{range}");
    }
}

#[tokio::test]
async fn action_executions_page_through_the_whole_history_newest_first() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Long", vec![]).await;
    // More executions than a page, than one read of the history, and than the 100 newest the
    // listing once stopped at; each fails in its source action, one attempt each.
    let mut newest_first = Vec::new();
    for i in 0..130 {
        if i > 0 {
            s.clock.advance_ms(1);
            s.ok("StartPipelineExecution", json!({"name": "Long"}))
                .await;
        }
        newest_first.push(latest_execution(&s, "Long").await["pipelineExecutionId"].clone());
        fail(&s, &take(&s, "Source", "Src").await, &format!("run {i}")).await;
    }
    newest_first.reverse();
    let (mut seen, mut pages, mut token) = (Vec::new(), 0, None::<Value>);
    loop {
        let mut request = json!({"pipelineName": "Long", "maxResults": 40});
        if let Some(t) = &token {
            request["nextToken"] = t.clone();
        }
        let page = s.ok("ListActionExecutions", request).await;
        pages += 1;
        for detail in page["actionExecutionDetails"].as_array().expect("details") {
            seen.push(detail["pipelineExecutionId"].clone());
        }
        match &page["nextToken"] {
            Value::String(_) => token = Some(page["nextToken"].clone()),
            _ => break,
        }
    }
    assert_eq!(pages, 4, "130 attempts in pages of 40");
    assert_eq!(seen, newest_first);
    // A token is bound to its listing.
    let first = s
        .ok(
            "ListActionExecutions",
            json!({"pipelineName": "Long", "maxResults": 1}),
        )
        .await;
    s.err(
        "ListActionExecutions",
        json!({"pipelineName": "Long", "maxResults": 1, "nextToken": first["nextToken"],
               "filter": {"pipelineExecutionId": newest_first[0]}}),
        "InvalidNextTokenException",
    )
    .await;
}

#[tokio::test]
async fn third_party_jobs_are_bound_to_the_client_token_of_their_first_call() {
    let s = TestServer::start().await;
    custom_type(&s, "Build", "Builder", (1, 1), (0, 1)).await;
    let mut p = crate::fixtures::pipeline("Partner");
    let mut source = crate::fixtures::github_source_stage();
    source["actions"][0]["configuration"]["OAuthToken"] = json!("ghp_partner");
    p["stages"][0] = source;
    p["stages"][1]["actions"][0] = action("build", "Build", "Builder", &["MyApp"], &[]);
    s.ok("CreatePipeline", json!({"pipeline": p})).await;
    let github =
        json!({"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"});
    let jobs = s
        .ok(
            "PollForThirdPartyJobs",
            json!({"actionTypeId": github, "maxBatchSize": 5}),
        )
        .await;
    let job = &jobs["jobs"][0];
    let job_id = job["jobId"].clone();
    assert_eq!(job["clientId"], "111111111111");
    assert!(job.get("nonce").is_none());
    let details = s
        .ok(
            "GetThirdPartyJobDetails",
            json!({"jobId": job_id, "clientToken": "partner-1"}),
        )
        .await;
    let nonce = details["jobDetails"]["nonce"].clone();
    assert_eq!(
        details["jobDetails"]["data"]["actionConfiguration"]["configuration"]["Owner"],
        "MyGitHubAccountName"
    );
    s.err(
        "GetThirdPartyJobDetails",
        json!({"jobId": job_id, "clientToken": "someone-else"}),
        "InvalidClientTokenException",
    )
    .await;
    s.err(
        "AcknowledgeThirdPartyJob",
        json!({"jobId": job_id, "nonce": nonce, "clientToken": "someone-else"}),
        "InvalidClientTokenException",
    )
    .await;
    let ack = s
        .ok(
            "AcknowledgeThirdPartyJob",
            json!({"jobId": job_id, "nonce": nonce, "clientToken": "partner-1"}),
        )
        .await;
    assert_eq!(ack["status"], "InProgress");
    s.ok(
        "PutThirdPartyJobSuccessResult",
        json!({"jobId": job_id, "clientToken": "partner-1", "currentRevision": {"revision": "sha1", "changeIdentifier": "sha1"}}),
    )
    .await;
    let build = take(&s, "Build", "Builder").await;
    assert_eq!(build["data"]["inputArtifacts"][0]["name"], "MyApp");
    s.err(
        "GetThirdPartyJobDetails",
        json!({"jobId": build["id"], "clientToken": "partner-1"}),
        "JobNotFoundException",
    )
    .await;
    s.err(
        "PollForThirdPartyJobs",
        json!({"actionTypeId": {"category": "Build", "owner": "Custom", "provider": "Builder", "version": "1"}}),
        "ValidationException",
    )
    .await;
}

#[tokio::test]
async fn a_crash_between_an_update_and_its_step_heals_on_the_next_step() {
    let s = TestServer::start().await;
    custom_pipeline(
        &s,
        "Heal",
        vec![json!({"name": "Extra", "actions": [approval("Review")]})],
    )
    .await;
    succeed(&s, &take(&s, "Source", "Src").await).await;
    let build = take(&s, "Build", "Builder").await;
    // The update commits a shorter version; the engine step that would follow never happens.
    let current = s
        .store
        .get_pipeline("Heal", None)
        .await
        .expect("get")
        .expect("exists");
    let mut declaration = current.declaration.to_model();
    declaration.stages.truncate(2);
    s.store
        .update_pipeline(
            "Heal",
            1,
            &sluice_store::DeclarationDoc::from(&declaration),
            &[],
            sluice_test_utils::START_MS,
        )
        .await
        .expect("update");
    // The next step brings the runtime to version 2 first: the old run was stopped.
    s.err(
        "PutJobSuccessResult",
        json!({"jobId": build["id"]}),
        "InvalidJobStateException",
    )
    .await;
    let state = s.ok("GetPipelineState", json!({"name": "Heal"})).await;
    assert_eq!(state["stageStates"].as_array().map(Vec::len), Some(2));
    s.clock.advance_ms(1000);
    s.ok("StartPipelineExecution", json!({"name": "Heal"}))
        .await;
    let e = latest_execution(&s, "Heal").await;
    assert_eq!(e["status"], "InProgress");
    succeed(&s, &take(&s, "Source", "Src").await).await;
    succeed(&s, &take(&s, "Build", "Builder").await).await;
    assert_eq!(latest_execution(&s, "Heal").await["status"], "Succeeded");
}

#[tokio::test]
async fn executions_that_ended_past_retention_are_forgotten_but_the_newest_and_running_stay() {
    let s = TestServer::start().await;
    custom_pipeline(&s, "Kept", vec![]).await;
    // Two executions run to the end; a third is left running.
    for _ in 0..2 {
        succeed(&s, &take(&s, "Source", "Src").await).await;
        succeed(&s, &take(&s, "Build", "Builder").await).await;
        s.ok("StartPipelineExecution", json!({"name": "Kept"}))
            .await;
    }
    let ids = |list: &Value| -> Vec<(String, String)> {
        list["pipelineExecutionSummaries"]
            .as_array()
            .expect("summaries")
            .iter()
            .map(|e| {
                (
                    e["pipelineExecutionId"].as_str().expect("id").to_string(),
                    e["status"].as_str().expect("status").to_string(),
                )
            })
            .collect()
    };
    let before = ids(&s
        .ok("ListPipelineExecutions", json!({"pipelineName": "Kept"}))
        .await);
    assert_eq!(before.len(), 3, "{before:?}");
    assert_eq!(before[0].1, "InProgress");

    s.clock
        .advance_ms(sluice_service::DEFAULT_EXECUTION_RETENTION_MS + 1);
    let pruned = s.sluice.prune_history().await.expect("prune");
    assert_eq!(pruned.executions, 2, "{pruned:?}");
    let after = ids(&s
        .ok("ListPipelineExecutions", json!({"pipelineName": "Kept"}))
        .await);
    assert_eq!(
        after,
        before[..1],
        "the running execution, which is also the newest"
    );
    s.err(
        "GetPipelineExecution",
        json!({"pipelineName": "Kept", "pipelineExecutionId": before[2].0}),
        "PipelineExecutionNotFoundException",
    )
    .await;
}
