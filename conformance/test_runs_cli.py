"""Pipelines run, driven with the aws CLI alone: the guide's "Manually Start a Pipeline (CLI)",
a job worker for a custom action (poll-for-jobs, acknowledge-job, put-job-success-result with a
continuation token, put-job-failure-result), "Retry Failed Actions (CLI)" and "Approve or Reject
an Approval Request (CLI)"."""

import json


def source_action_json(tmp):
    doc = {
        "category": "Source",
        "provider": "My-Source-Provider",
        "version": "1",
        "configurationProperties": [
            {"name": "Repo", "required": True, "key": True, "secret": False, "queryable": True}
        ],
        "inputArtifactDetails": {"maximumCount": 0, "minimumCount": 0},
        "outputArtifactDetails": {"maximumCount": 1, "minimumCount": 1},
    }
    (tmp / "source-action.json").write_text(json.dumps(doc))


def pipeline_json(tmp):
    doc = {
        "pipeline": {
            "name": "MyFirstPipeline",
            "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
            "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-1234567890"},
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Source",
                    "actionTypeId": {"category": "Source", "owner": "Custom", "provider": "My-Source-Provider", "version": "1"},
                    "configuration": {"Repo": "app"},
                    "outputArtifacts": [{"name": "MyApp"}]}]},
                {"name": "Beta", "actions": [{
                    "name": "Build",
                    "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "My-Build-Provider-Name", "version": "1"},
                    "configuration": {"ProjectName": "MyProject"},
                    "inputArtifacts": [{"name": "MyApp"}]}]},
                {"name": "MyApprovalStage", "actions": [{
                    "name": "MyApprovalAction",
                    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                    "configuration": {"CustomData": "The new design needs to be reviewed before release."}}]},
            ],
        }
    }
    (tmp / "pipeline.json").write_text(json.dumps(doc))


def poll(sluice, category, provider):
    _, out, _ = sluice.aws(
        "codepipeline", "poll-for-jobs",
        "--action-type-id", f"category={category},owner=Custom,provider={provider},version=1",
        "--max-batch-size", "1",
    )
    return out["jobs"]


def take(sluice, category, provider):
    jobs = poll(sluice, category, provider)
    assert len(jobs) == 1, jobs
    job = jobs[0]
    _, ack, _ = sluice.aws("codepipeline", "acknowledge-job", "--job-id", job["id"], "--nonce", job["nonce"])
    assert ack["status"] == "InProgress"
    return job


def state(sluice):
    _, out, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    return {s["stageName"]: s for s in out["stageStates"]}


def test_a_custom_action_pipeline_runs_with_an_aws_cli_job_worker(sluice, guide_dir):
    source_action_json(guide_dir)
    pipeline_json(guide_dir)
    sluice.aws("codepipeline", "create-custom-action-type", "--cli-input-json", "file://MyCustomAction.json", cwd=guide_dir)
    sluice.aws("codepipeline", "create-custom-action-type", "--cli-input-json", "file://source-action.json", cwd=guide_dir)
    sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=guide_dir)

    # The job worker: poll, acknowledge, continue, then succeed with a revision.
    job = take(sluice, "Source", "My-Source-Provider")
    assert job["data"]["pipelineContext"]["pipelineName"] == "MyFirstPipeline"
    assert job["data"]["outputArtifacts"][0]["location"]["s3Location"]["bucketName"] == "codepipeline-us-east-1-1234567890"
    code, _, err = sluice.aws("codepipeline", "acknowledge-job", "--job-id", job["id"], "--nonce", "not-the-nonce", check=False)
    assert code != 0 and "InvalidNonceException" in err
    sluice.aws(
        "codepipeline", "put-job-success-result", "--job-id", job["id"], "--continuation-token", "page-2",
        "--execution-details", "summary=Fetching,percentComplete=50",
    )
    again = take(sluice, "Source", "My-Source-Provider")
    assert again["data"]["continuationToken"] == "page-2"
    sluice.aws(
        "codepipeline", "put-job-success-result", "--job-id", again["id"],
        "--current-revision", "revision=HYGp7zmwbCPPwo23xCmdTeqI1EXAMPLE,changeIdentifier=CEM7d6Tp7zfeLUSLCPpwo234xEXAMPLE",
        "--execution-details", "summary=Fetched,externalExecutionId=fetch-1,percentComplete=100",
    )

    # The build fails: put-job-failure-result.
    build = take(sluice, "Build", "My-Build-Provider-Name")
    sluice.aws(
        "codepipeline", "put-job-failure-result", "--job-id", build["id"],
        "--failure-details", "type=JobFailed,message=Tests failed,externalExecutionId=build-1",
    )
    code, _, err = sluice.aws("codepipeline", "put-job-success-result", "--job-id", build["id"], check=False)
    assert code != 0 and "InvalidJobStateException" in err

    # Retry Failed Actions (CLI).
    stages = state(sluice)
    assert stages["Beta"]["latestExecution"]["status"] == "Failed"
    failed = stages["Beta"]["actionStates"][0]["latestExecution"]
    assert failed["errorDetails"]["message"] == "Tests failed"
    retry = {
        "pipelineName": "MyFirstPipeline",
        "stageName": "Beta",
        "pipelineExecutionId": stages["Beta"]["latestExecution"]["pipelineExecutionId"],
        "retryMode": "FAILED_ACTIONS",
    }
    (guide_dir / "retry-failed-actions.json").write_text(json.dumps(retry))
    _, out, _ = sluice.aws("codepipeline", "retry-stage-execution", "--cli-input-json", "file://retry-failed-actions.json", cwd=guide_dir)
    assert out["pipelineExecutionId"] == retry["pipelineExecutionId"]
    build = take(sluice, "Build", "My-Build-Provider-Name")
    sluice.aws("codepipeline", "put-job-success-result", "--job-id", build["id"])

    # Approve or Reject an Approval Request (CLI).
    stages = state(sluice)
    approval = stages["MyApprovalStage"]["actionStates"][0]
    assert approval["actionName"] == "MyApprovalAction"
    token = approval["latestExecution"]["token"]
    answer = {
        "pipelineName": "MyFirstPipeline",
        "stageName": "MyApprovalStage",
        "actionName": "MyApprovalAction",
        "token": token,
        "result": {"status": "Approved", "summary": "The new design looks good. Ready to release to customers."},
    }
    (guide_dir / "approvalstage-approved.json").write_text(json.dumps(answer))
    _, out, _ = sluice.aws("codepipeline", "put-approval-result", "--cli-input-json", "file://approvalstage-approved.json", cwd=guide_dir)
    assert "approvedAt" in out
    code, _, err = sluice.aws(
        "codepipeline", "put-approval-result", "--cli-input-json", "file://approvalstage-approved.json", check=False, cwd=guide_dir
    )
    assert code != 0 and "ApprovalAlreadyCompletedException" in err

    _, execution, _ = sluice.aws(
        "codepipeline", "get-pipeline-execution", "--pipeline-name", "MyFirstPipeline",
        "--pipeline-execution-id", retry["pipelineExecutionId"],
    )
    assert execution["pipelineExecution"]["status"] == "Succeeded"
    assert execution["pipelineExecution"]["artifactRevisions"][0]["revisionId"] == "HYGp7zmwbCPPwo23xCmdTeqI1EXAMPLE"

    # Manually Start a Pipeline (CLI).
    _, started, _ = sluice.aws("codepipeline", "start-pipeline-execution", "--name", "MyFirstPipeline")
    assert started["pipelineExecutionId"]
    _, listed, _ = sluice.aws("codepipeline", "list-pipeline-executions", "--pipeline-name", "MyFirstPipeline")
    summaries = listed["pipelineExecutionSummaries"]
    assert summaries[0]["pipelineExecutionId"] == started["pipelineExecutionId"]
    assert summaries[0]["status"] == "InProgress"
    assert summaries[1]["status"] == "Succeeded"


def test_stop_pipeline_execution_cli(sluice, guide_dir):
    source_action_json(guide_dir)
    pipeline_json(guide_dir)
    sluice.aws("codepipeline", "create-custom-action-type", "--cli-input-json", "file://MyCustomAction.json", cwd=guide_dir)
    sluice.aws("codepipeline", "create-custom-action-type", "--cli-input-json", "file://source-action.json", cwd=guide_dir)
    sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=guide_dir)
    _, listed, _ = sluice.aws("codepipeline", "list-pipeline-executions", "--pipeline-name", "MyFirstPipeline")
    execution_id = listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"]
    _, out, _ = sluice.aws(
        "codepipeline", "stop-pipeline-execution", "--pipeline-name", "MyFirstPipeline",
        "--pipeline-execution-id", execution_id, "--abandon", "--reason", "Stopping for maintenance",
    )
    assert out["pipelineExecutionId"] == execution_id
    code, _, err = sluice.aws(
        "codepipeline", "stop-pipeline-execution", "--pipeline-name", "MyFirstPipeline",
        "--pipeline-execution-id", execution_id, check=False,
    )
    assert code != 0 and "PipelineExecutionNotStoppableException" in err


def test_boto3_job_worker_sees_a_typed_job(sluice, guide_dir):
    source_action_json(guide_dir)
    pipeline_json(guide_dir)
    cp = sluice.client()
    cp.create_custom_action_type(**json.loads((guide_dir / "MyCustomAction.json").read_text()))
    cp.create_custom_action_type(**json.loads((guide_dir / "source-action.json").read_text()))
    cp.create_pipeline(**json.loads((guide_dir / "pipeline.json").read_text()))
    jobs = cp.poll_for_jobs(
        actionTypeId={"category": "Source", "owner": "Custom", "provider": "My-Source-Provider", "version": "1"},
        queryParam={"Repo": "app"},
    )["jobs"]
    assert len(jobs) == 1
    cp.acknowledge_job(jobId=jobs[0]["id"], nonce=jobs[0]["nonce"])
    with_details = cp.get_job_details(jobId=jobs[0]["id"])["jobDetails"]
    assert with_details["data"]["actionConfiguration"]["configuration"] == {"Repo": "app"}
    with __import__("pytest").raises(cp.exceptions.JobNotFoundException):
        cp.get_job_details(jobId="00000000-0000-0000-0000-000000000000")
