"""V2 pipelines through boto3: execution modes. QUEUED executions wait in line and every one
runs every stage; PARALLEL executions run side by side (a worker polls both jobs at once); a
V1 pipeline cannot ask for either."""

import os
import subprocess
import time

import botocore.exceptions
import pytest

ACCOUNT = "111111111111"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AWS-CodePipeline-Service"
SOURCE = {"category": "Source", "owner": "Custom", "provider": "ModeSource", "version": "1"}
BUILD = {"category": "Build", "owner": "Custom", "provider": "ModeBuild", "version": "1"}


def pipeline(name, mode, pipeline_type="V2"):
    return {
        "name": name, "roleArn": ROLE, "pipelineType": pipeline_type, "executionMode": mode,
        "artifactStore": {"type": "S3", "location": f"codepipeline-{REGION}-{ACCOUNT}"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source", "actionTypeId": SOURCE, "outputArtifacts": [{"name": "App"}]}]},
            {"name": "Build", "actions": [{
                "name": "Build", "actionTypeId": BUILD, "inputArtifacts": [{"name": "App"}]}]},
        ],
    }


def create_types(cp):
    cp.create_custom_action_type(
        category="Source", provider="ModeSource", version="1",
        inputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
        outputArtifactDetails={"minimumCount": 1, "maximumCount": 1})
    cp.create_custom_action_type(
        category="Build", provider="ModeBuild", version="1",
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})


def poll(cp, action_type, want, timeout=30):
    """Polls until at least one job (at most `want`) is handed out; returns them."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = cp.poll_for_jobs(actionTypeId=action_type, maxBatchSize=want)["jobs"]
        if jobs:
            return jobs
        time.sleep(0.05)
    raise AssertionError(f"no {action_type['provider']} job within {timeout}s")


def finish(cp, job, revision=None):
    cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
    if revision:
        cp.put_job_success_result(jobId=job["id"], currentRevision={"revision": revision, "changeIdentifier": revision})
    else:
        cp.put_job_success_result(jobId=job["id"])


def executions(cp, name):
    return cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]


def wait_until(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the condition never held")


def test_queued_executions_run_one_by_one_in_order_and_none_is_superseded(sluice):
    cp = sluice.client()
    create_types(cp)
    cp.create_pipeline(pipeline=pipeline("queued", "QUEUED"))
    first = wait_until(lambda: executions(cp, "queued"))[0]["pipelineExecutionId"]
    second = cp.start_pipeline_execution(name="queued")["pipelineExecutionId"]
    third = cp.start_pipeline_execution(name="queued")["pipelineExecutionId"]
    started = [first, second, third]

    state = cp.get_pipeline_state(name="queued")["stageStates"][0]
    assert [x["pipelineExecutionId"] for x in state["inboundExecutions"]] == [second, third]
    assert state["inboundExecution"]["pipelineExecutionId"] == second

    # One job at a time per stage, in the order the executions started.
    sources = []
    for n in range(3):
        jobs = poll(cp, SOURCE, 3)
        assert len(jobs) == 1, "a queued stage runs one execution at a time"
        sources.append(jobs[0]["data"]["pipelineContext"]["pipelineExecutionId"])
        finish(cp, jobs[0], revision=f"r{n}")
    assert sources == started
    builds = []
    for _ in range(3):
        jobs = poll(cp, BUILD, 3)
        assert len(jobs) == 1
        builds.append(jobs[0]["data"]["pipelineContext"]["pipelineExecutionId"])
        finish(cp, jobs[0])
    assert builds == started

    wait_until(lambda: all(s["status"] == "Succeeded" for s in executions(cp, "queued")))
    summaries = executions(cp, "queued")
    assert {s["pipelineExecutionId"] for s in summaries} == set(started)
    assert {s["executionMode"] for s in summaries} == {"QUEUED"}
    assert {s["executionType"] for s in summaries} == {"STANDARD"}
    one = cp.get_pipeline_execution(pipelineName="queued", pipelineExecutionId=second)["pipelineExecution"]
    assert one["executionMode"] == "QUEUED" and one["status"] == "Succeeded"


def test_parallel_executions_run_side_by_side(sluice):
    cp = sluice.client()
    create_types(cp)
    cp.create_pipeline(pipeline=pipeline("parallel", "PARALLEL"))
    first = wait_until(lambda: executions(cp, "parallel"))[0]["pipelineExecutionId"]
    second = cp.start_pipeline_execution(name="parallel")["pipelineExecutionId"]

    # Both executions' source jobs are out before either finishes: neither waits for the other.
    jobs = []
    while len(jobs) < 2:
        jobs += poll(cp, SOURCE, 2)
    assert {j["data"]["pipelineContext"]["pipelineExecutionId"] for j in jobs} == {first, second}
    for n, job in enumerate(jobs):
        finish(cp, job, revision=f"p{n}")
    builds = []
    while len(builds) < 2:
        builds += poll(cp, BUILD, 2)
    for job in builds:
        finish(cp, job)
    wait_until(lambda: all(s["status"] == "Succeeded" for s in executions(cp, "parallel")))
    assert {s["executionMode"] for s in executions(cp, "parallel")} == {"PARALLEL"}


def test_a_v1_pipeline_cannot_be_queued_or_parallel(sluice):
    cp = sluice.client()
    create_types(cp)
    for mode in ("QUEUED", "PARALLEL"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            cp.create_pipeline(pipeline=pipeline(f"v1-{mode.lower()}", mode, pipeline_type="V1"))
        error = e.value.response["Error"]
        assert "only supported for pipelines of type V2" in error["Message"], error


def test_variables_reach_a_job_resolved_and_show_in_the_execution(sluice):
    cp = sluice.client()
    create_types(cp)
    var_build = {"category": "Build", "owner": "Custom", "provider": "VarBuild", "version": "1"}
    cp.create_custom_action_type(
        category="Build", provider="VarBuild", version="1",
        configurationProperties=[{"name": "Tag", "required": True, "key": False, "secret": False}],
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})
    doc = pipeline("vars", "QUEUED")
    doc["variables"] = [{"name": "env", "defaultValue": "beta", "description": "where to"}]
    doc["stages"][0]["actions"][0]["namespace"] = "Src"
    doc["stages"][1]["actions"][0].update(
        actionTypeId=var_build,
        configuration={"Tag": "#{Src.CommitId}-#{variables.env}-#{codepipeline.PipelineExecutionId}"})
    cp.create_pipeline(pipeline=doc)
    first = wait_until(lambda: executions(cp, "vars"))[0]["pipelineExecutionId"]
    cp.stop_pipeline_execution(pipelineName="vars", pipelineExecutionId=first, abandon=True)
    started = cp.start_pipeline_execution(name="vars", variables=[{"name": "env", "value": "prod"}])
    execution_id = started["pipelineExecutionId"]

    source = poll(cp, SOURCE, 1)[0]
    assert source["data"]["pipelineContext"]["pipelineExecutionId"] == execution_id
    cp.acknowledge_job(jobId=source["id"], nonce=source["nonce"])
    cp.put_job_success_result(jobId=source["id"], outputVariables={"CommitId": "abc123"},
                              currentRevision={"revision": "abc123", "changeIdentifier": "abc123"})
    build = poll(cp, var_build, 1)[0]
    tag = build["data"]["actionConfiguration"]["configuration"]["Tag"]
    assert tag == f"abc123-prod-{execution_id}"
    finish(cp, build)

    wait_until(lambda: cp.get_pipeline_execution(pipelineName="vars", pipelineExecutionId=execution_id)[
        "pipelineExecution"]["status"] == "Succeeded")
    execution = cp.get_pipeline_execution(pipelineName="vars", pipelineExecutionId=execution_id)["pipelineExecution"]
    assert execution["variables"] == [{"name": "env", "resolvedValue": "prod"}]
    details = cp.list_action_executions(pipelineName="vars", filter={"pipelineExecutionId": execution_id})[
        "actionExecutionDetails"]
    built = next(d for d in details if d["actionName"] == "Build")
    assert built["input"]["resolvedConfiguration"]["Tag"] == tag
    assert built["input"]["configuration"]["Tag"].startswith("#{Src.CommitId}")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad = pipeline("vars-bad", "QUEUED")
        bad["stages"][1]["actions"][0].update(actionTypeId=var_build, configuration={"Tag": "#{variables.nope}"})
        cp.create_pipeline(pipeline=bad)
    assert e.value.response["Error"]["Code"] == "InvalidActionDeclarationException", e.value.response


def run_once(cp, pipeline_name, build_ok=True):
    """Runs the source job and then the build job of the next waiting execution."""
    source = poll(cp, SOURCE, 1)[0]
    finish(cp, source, revision="r")
    build = poll(cp, BUILD, 1)[0]
    cp.acknowledge_job(jobId=build["id"], nonce=build["nonce"])
    if build_ok:
        cp.put_job_success_result(jobId=build["id"])
    else:
        cp.put_job_failure_result(jobId=build["id"], failureDetails={"type": "JobFailed", "message": "broken"})
    return source, build


def test_on_failure_retry_runs_the_stage_again_once(sluice):
    cp = sluice.client()
    create_types(cp)
    doc = pipeline("retrying", "SUPERSEDED")
    doc["stages"][1]["onFailure"] = {"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"}}
    cp.create_pipeline(pipeline=doc)
    assert cp.get_pipeline(name="retrying")["pipeline"]["stages"][1]["onFailure"] == doc["stages"][1]["onFailure"]
    run_once(cp, "retrying", build_ok=False)
    retried = poll(cp, BUILD, 1)[0]
    finish(cp, retried)
    wait_until(lambda: executions(cp, "retrying")[0]["status"] == "Succeeded")


def test_on_failure_rollback_and_rollback_stage_rerun_the_stage_with_the_last_good_artifacts(sluice):
    cp = sluice.client()
    create_types(cp)
    doc = pipeline("rolling", "QUEUED")
    doc["stages"][1]["onFailure"] = {"result": "ROLLBACK"}
    cp.create_pipeline(pipeline=doc)
    _, good_build = run_once(cp, "rolling")
    good = good_build["data"]["pipelineContext"]["pipelineExecutionId"]
    good_input = good_build["data"]["inputArtifacts"][0]["location"]["s3Location"]
    wait_until(lambda: executions(cp, "rolling")[0]["status"] == "Succeeded")

    bad = cp.start_pipeline_execution(name="rolling")["pipelineExecutionId"]
    run_once(cp, "rolling", build_ok=False)
    rollback_build = poll(cp, BUILD, 1)[0]
    rollback = rollback_build["data"]["pipelineContext"]["pipelineExecutionId"]
    assert rollback not in (good, bad)
    assert rollback_build["data"]["inputArtifacts"][0]["location"]["s3Location"] == good_input
    finish(cp, rollback_build)
    wait_until(lambda: cp.get_pipeline_execution(pipelineName="rolling", pipelineExecutionId=rollback)[
        "pipelineExecution"]["status"] == "Succeeded")
    execution = cp.get_pipeline_execution(pipelineName="rolling", pipelineExecutionId=rollback)["pipelineExecution"]
    assert execution["executionType"] == "ROLLBACK"
    assert execution["rollbackMetadata"]["rollbackTargetPipelineExecutionId"] == good
    assert execution["trigger"]["triggerType"] == "AutomatedRollback"
    summaries = {s["pipelineExecutionId"]: s for s in executions(cp, "rolling")}
    assert summaries[bad]["status"] == "Failed"
    assert summaries[rollback]["executionType"] == "ROLLBACK"

    manual = cp.rollback_stage(pipelineName="rolling", stageName="Build", targetPipelineExecutionId=good)[
        "pipelineExecutionId"]
    job = poll(cp, BUILD, 1)[0]
    assert job["data"]["pipelineContext"]["pipelineExecutionId"] == manual
    finish(cp, job)
    wait_until(lambda: cp.get_pipeline_execution(pipelineName="rolling", pipelineExecutionId=manual)[
        "pipelineExecution"]["trigger"]["triggerType"] == "ManualRollback")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        cp.rollback_stage(pipelineName="rolling", stageName="Build", targetPipelineExecutionId=bad)
    assert e.value.response["Error"]["Code"] == "UnableToRollbackStageException", e.value.response


def gated_pipeline(name, condition, kind="beforeEntry"):
    p = pipeline(name, "QUEUED")
    p["variables"] = [{"name": "Branch", "defaultValue": "main"}]
    p["stages"][1][kind] = {"conditions": [condition]}
    return p


def branch_is_main(result="FAIL"):
    return {"result": result, "rules": [{
        "name": "OnMain",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "VariableCheck", "version": "1"},
        "configuration": {"Variable": "#{variables.Branch}", "Operator": "EQ", "Value": "main"}}]}


def execution(cp, name, execution_id):
    return cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)["pipelineExecution"]


def test_list_rule_types_names_the_rules_this_server_runs(sluice):
    cp = sluice.client()
    types = cp.list_rule_types()["ruleTypes"]
    assert sorted(t["id"]["provider"] for t in types) == ["Commands", "DeploymentWindow", "VariableCheck"]
    window = next(t for t in types if t["id"]["provider"] == "DeploymentWindow")
    assert [p["name"] for p in window["ruleConfigurationProperties"]] == ["Cron", "TimeZone"]
    assert cp.list_rule_types(ruleOwnerFilter="AWS", regionFilter="eu-west-1")["ruleTypes"] == []
    # The aws CLI reads the same list.
    _, out, _ = sluice.aws("codepipeline", "list-rule-types", "--rule-owner-filter", "AWS")
    assert len(out["ruleTypes"]) == 3


def test_an_entry_condition_keeps_an_execution_out_of_the_stage_when_its_variable_check_fails(sluice):
    cp = sluice.client()
    create_types(cp)
    cp.create_pipeline(pipeline=gated_pipeline("gated", branch_is_main()))
    got = cp.get_pipeline(name="gated")["pipeline"]["stages"][1]["beforeEntry"]
    assert got["conditions"][0]["rules"][0]["configuration"]["Operator"] == "EQ"

    # The default branch passes the check: the Build job is handed out.
    first = wait_until(lambda: executions(cp, "gated"))[0]["pipelineExecutionId"]
    finish(cp, poll(cp, SOURCE, 1)[0], revision="r1")
    finish(cp, poll(cp, BUILD, 1)[0])
    wait_until(lambda: execution(cp, "gated", first)["status"] == "Succeeded")

    feature = cp.start_pipeline_execution(
        name="gated", variables=[{"name": "Branch", "value": "feature"}])["pipelineExecutionId"]
    finish(cp, poll(cp, SOURCE, 1)[0], revision="r2")
    failed = wait_until(lambda: (e := execution(cp, "gated", feature))["status"] == "Failed" and e)
    assert "beforeEntry" in failed["statusSummary"] and "OnMain" in failed["statusSummary"]
    assert cp.poll_for_jobs(actionTypeId=BUILD, maxBatchSize=1)["jobs"] == []

    state = cp.get_pipeline_state(name="gated")["stageStates"][1]
    entry = state["beforeEntryConditionState"]
    assert entry["latestExecution"]["status"] == "Failed"
    rule = entry["conditionStates"][0]["ruleStates"][0]
    assert rule["ruleName"] == "OnMain" and rule["latestExecution"]["status"] == "Failed"

    runs = cp.list_rule_executions(pipelineName="gated", filter={"pipelineExecutionId": feature})
    [detail] = runs["ruleExecutionDetails"]
    assert detail["status"] == "Failed" and detail["stageName"] == "Build"
    assert detail["input"]["configuration"]["Variable"] == "#{variables.Branch}"
    assert detail["input"]["resolvedConfiguration"]["Variable"] == "feature"
    assert detail["input"]["ruleTypeId"]["provider"] == "VariableCheck"


def test_a_closed_deployment_window_holds_the_execution_until_the_condition_is_overridden(sluice):
    cp = sluice.client()
    create_types(cp)
    # Open only in 2199: closed for as long as this test runs.
    window = {"result": "FAIL", "rules": [{
        "name": "Window",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"},
        "configuration": {"Cron": "* * * ? * * 2199", "TimeZone": "Europe/Berlin"}}]}
    cp.create_pipeline(pipeline=gated_pipeline("windowed", window))
    first = wait_until(lambda: executions(cp, "windowed"))[0]["pipelineExecutionId"]
    finish(cp, poll(cp, SOURCE, 1)[0], revision="r1")

    def entry_state():
        state = cp.get_pipeline_state(name="windowed")["stageStates"][1]
        return state.get("beforeEntryConditionState")

    held = wait_until(entry_state)
    assert held["latestExecution"]["status"] == "InProgress"
    assert cp.poll_for_jobs(actionTypeId=BUILD, maxBatchSize=1)["jobs"] == []
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        cp.override_stage_condition(pipelineName="windowed", stageName="Build",
                                    pipelineExecutionId=first, conditionType="ON_SUCCESS")
    assert refused.value.response["Error"]["Code"] == "ConditionNotOverridableException"

    cp.override_stage_condition(pipelineName="windowed", stageName="Build",
                                pipelineExecutionId=first, conditionType="BEFORE_ENTRY")
    finish(cp, poll(cp, BUILD, 1)[0])
    wait_until(lambda: execution(cp, "windowed", first)["status"] == "Succeeded")
    assert entry_state()["latestExecution"]["status"] == "Overridden"


def test_a_condition_with_a_rule_this_server_cannot_run_is_refused_naming_why(sluice):
    cp = sluice.client()
    create_types(cp)
    lambda_rule = {"result": "FAIL", "rules": [{
        "name": "Check",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "LambdaInvoke", "version": "1"},
        "configuration": {"FunctionName": "check"}}]}
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        cp.create_pipeline(pipeline=gated_pipeline("lambda-gated", lambda_rule))
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidStageDeclarationException"
    assert "Lambda" in error["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as skip_on_success:
        cp.create_pipeline(pipeline=gated_pipeline("skip-gated", branch_is_main("SKIP"), "onSuccess"))
    assert "SKIP" in skip_on_success.value.response["Error"]["Message"]


def test_a_rule_in_another_region_is_refused_and_one_in_this_region_runs_here(sluice):
    cp = sluice.client()
    create_types(cp)
    elsewhere = branch_is_main()
    elsewhere["rules"][0]["region"] = "eu-west-1"
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        cp.create_pipeline(pipeline=gated_pipeline("elsewhere", elsewhere))
    assert "eu-west-1" in refused.value.response["Error"]["Message"]
    here = branch_is_main()
    here["rules"][0]["region"] = REGION
    cp.create_pipeline(pipeline=gated_pipeline("here", here))


def sluice_cli(sluice, *args):
    binary = os.environ.get("SLUICE_BIN", "target/debug/sluice")
    return subprocess.run([binary, *args, "--data-dir", sluice.data_dir],
                          check=True, capture_output=True, text=True)


def git(work, *args):
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0",
               GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
               GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
    return subprocess.run(["git", *args], cwd=work, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_connections_are_created_pending_completed_by_an_administrator_and_listed(sluice):
    cc = sluice.client("codestar-connections")
    arn = cc.create_connection(ProviderType="GitHub", ConnectionName="mono",
                               Tags=[{"Key": "team", "Value": "web"}])["ConnectionArn"]
    assert arn.startswith(f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/")
    got = cc.get_connection(ConnectionArn=arn)["Connection"]
    assert got["ConnectionStatus"] == "PENDING" and got["ConnectionName"] == "mono"
    assert got["OwnerAccountId"] == ACCOUNT and got["ProviderType"] == "GitHub"
    sluice_cli(sluice, "admin", "connections", "complete", arn, "--url", "hosted")
    assert cc.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"] == "AVAILABLE"
    assert cc.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]
    cc.tag_resource(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "prod"}])
    cc.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert cc.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "prod"}]
    other = cc.create_connection(ProviderType="GitLab", ConnectionName="other")["ConnectionArn"]
    listed = cc.list_connections(ProviderTypeFilter="GitHub")["Connections"]
    assert [c["ConnectionArn"] for c in listed] == [arn]
    assert len(cc.list_connections()["Connections"]) == 2
    cc.delete_connection(ConnectionArn=other)
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        cc.get_connection(ConnectionArn=other)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as untagged:
        cc.list_tags_for_resource(ResourceArn=other)
    assert untagged.value.response["Error"]["Code"] == "ResourceNotFoundException"
    _, out, _ = sluice.aws("codestar-connections", "list-connections")
    assert [c["ConnectionName"] for c in out["Connections"]] == ["mono"]
    with pytest.raises(botocore.exceptions.ClientError) as unbuilt:
        cc.list_hosts()
    assert unbuilt.value.response["Error"]["Code"] == "NotImplementedException"


def test_a_connection_source_runs_the_pushed_commit_its_trigger_admits_and_a_push_filtered_out_by_file_paths_starts_nothing(sluice, tmp_path):
    import urllib.parse
    cc = sluice.client("codestar-connections")
    cp = sluice.client()
    arn = cc.create_connection(ProviderType="GitHub", ConnectionName="hosted")["ConnectionArn"]
    sluice_cli(sluice, "admin", "connections", "complete", arn, "--url", "hosted")
    sluice_cli(sluice, "repo", "create", "mono")
    key_id, secret = sluice.credentials()
    remote = f"http://{key_id}:{urllib.parse.quote(secret, safe='')}@127.0.0.1:{sluice.port}/_sluice/git/mono.git"
    work = tmp_path / "work"
    (work / "web").mkdir(parents=True)
    (work / "web" / "index.html").write_text("v1\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", ".")
    git(work, "commit", "-qm", "first")
    git(work, "push", "-q", remote, "main")

    p = {
        "name": "mono", "roleArn": ROLE, "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": f"codepipeline-{REGION}-{ACCOUNT}"},
        "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "Source",
            "push": [{"branches": {"includes": ["main"]}, "filePaths": {"includes": ["web/**"]}}]}}],
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                "configuration": {"ConnectionArn": arn, "FullRepositoryId": "mono", "BranchName": "main"},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [{
                "name": "Build",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["grep -q v web/index.html"],
                "inputArtifacts": [{"name": "Src"}]}]},
        ],
    }
    cp.create_pipeline(pipeline=p)
    first = wait_until(lambda: [e for e in executions(cp, "mono") if e["status"] != "InProgress"])
    assert first[0]["status"] == "Succeeded", first

    # A change outside web/ is filtered out; one inside starts a run of exactly that commit.
    (work / "README.md").write_text("docs\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "docs only")
    git(work, "push", "-q", remote, "main")
    (work / "web" / "index.html").write_text("v2\n")
    git(work, "commit", "-qam", "web v2")
    admitted = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", remote, "main")
    runs = wait_until(lambda: (r := executions(cp, "mono")) and len(r) == 2
                      and r[0]["status"] != "InProgress" and r)
    assert runs[0]["status"] == "Succeeded", runs
    assert runs[0]["trigger"]["triggerType"] == "WebhookV2"
    assert "push filter 1" in runs[0]["trigger"]["triggerDetail"]
    assert runs[0]["sourceRevisions"][0]["revisionId"] == admitted
    assert len(executions(cp, "mono")) == 2, "the docs-only push started nothing"
