"""Who may do what, through boto3 and the aws CLI: IAM users made with `aws iam` against the
server, the guide's managed policies and its specific-action approver policy, a custom-action
worker that can run jobs and nothing else, and the audit trail read back with
`aws cloudtrail lookup-events`."""

import json
import os
import time

import boto3
import botocore.exceptions
import pytest

ACCOUNT = "111111111111"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AWS-CodePipeline-Service"
SOURCE_TYPE = {"category": "Source", "owner": "Custom", "provider": "IamSource", "version": "1"}


def root(sluice, service):
    key_id, secret = sluice.credentials()
    return boto3.client(service, endpoint_url=sluice.endpoint, region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


def user_client(sluice, name, service="codepipeline", managed=(), inline=None):
    """Creates the IAM user `name` with the given policies and returns a client signed with its new key."""
    iam = root(sluice, "iam")
    iam.create_user(UserName=name)
    for policy in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    if inline:
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(inline))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.client(service, endpoint_url=sluice.endpoint, region_name=REGION,
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


def denied(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException", e.value.response
    return e.value.response["Error"]["Message"]


def approval_pipeline(name):
    approval = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
    return {
        "name": name, "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": f"codepipeline-{REGION}-{ACCOUNT}"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source", "actionTypeId": SOURCE_TYPE,
                "outputArtifacts": [{"name": "MyApp"}]}]},
            {"name": "MyApprovalStage", "actions": [
                {"name": "MyApprovalAction", "actionTypeId": approval},
                {"name": "OtherApproval", "actionTypeId": approval},
            ]},
        ],
    }


def create_source_type(cp):
    cp.create_custom_action_type(
        category="Source", provider="IamSource", version="1",
        inputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
        outputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
    )


def run_source_job(worker):
    deadline = time.time() + 30
    while time.time() < deadline:
        jobs = worker.poll_for_jobs(actionTypeId=SOURCE_TYPE, maxBatchSize=1)["jobs"]
        if jobs:
            job = jobs[0]
            worker.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
            worker.get_job_details(jobId=job["id"])
            worker.put_job_success_result(jobId=job["id"], currentRevision={"revision": "r1", "changeIdentifier": "r1"})
            return job
        time.sleep(0.1)
    raise AssertionError("no source job was queued")


def approval_tokens(cp, name):
    deadline = time.time() + 30
    while time.time() < deadline:
        state = cp.get_pipeline_state(name=name)
        stage = next(s for s in state["stageStates"] if s["stageName"] == "MyApprovalStage")
        tokens = {a["actionName"]: a.get("latestExecution", {}).get("token") for a in stage["actionStates"]}
        if all(tokens.values()):
            return tokens
        time.sleep(0.1)
    raise AssertionError(f"the approvals did not start: {state}")


def test_a_read_only_user_reads_everything_and_changes_nothing(sluice, guide_dir):
    cp = root(sluice, "codepipeline")
    doc = json.loads((guide_dir / "pipeline.json").read_text())["pipeline"]
    doc["name"] = "MyFirstPipeline"
    cp.create_pipeline(pipeline=doc)
    viewer = user_client(sluice, "viewer", managed=["AWSCodePipelineReadOnlyAccess"])

    assert [p["name"] for p in viewer.list_pipelines()["pipelines"]] == ["MyFirstPipeline"]
    assert viewer.get_pipeline(name="MyFirstPipeline")["pipeline"]["name"] == "MyFirstPipeline"
    assert viewer.get_pipeline_state(name="MyFirstPipeline")["pipelineName"] == "MyFirstPipeline"
    assert viewer.list_action_types()["actionTypes"]

    arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:MyFirstPipeline"
    message = denied(viewer.update_pipeline, pipeline=doc)
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/viewer is not authorized to perform: codepipeline:UpdatePipeline "
        f"on resource: {arn} because no identity-based policy allows the codepipeline:UpdatePipeline action"
    )
    other = dict(doc, name="Other")
    mutations = [
        (viewer.create_pipeline, {"pipeline": other}),
        (viewer.delete_pipeline, {"name": "MyFirstPipeline"}),
        (viewer.start_pipeline_execution, {"name": "MyFirstPipeline"}),
        (viewer.stop_pipeline_execution, {"pipelineName": "MyFirstPipeline", "pipelineExecutionId": "x"}),
        (viewer.disable_stage_transition, {"pipelineName": "MyFirstPipeline", "stageName": "Beta",
                                           "transitionType": "Inbound", "reason": "no"}),
        (viewer.enable_stage_transition, {"pipelineName": "MyFirstPipeline", "stageName": "Beta",
                                          "transitionType": "Inbound"}),
        (viewer.retry_stage_execution, {"pipelineName": "MyFirstPipeline", "stageName": "Beta",
                                        "pipelineExecutionId": "x", "retryMode": "FAILED_ACTIONS"}),
        (viewer.put_approval_result, {"pipelineName": "MyFirstPipeline", "stageName": "Beta", "actionName": "A",
                                      "result": {"summary": "ok", "status": "Approved"}, "token": "t"}),
        (viewer.create_custom_action_type, {"category": "Build", "provider": "X", "version": "1",
                                            "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
                                            "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1}}),
        (viewer.delete_custom_action_type, {"category": "Build", "provider": "X", "version": "1"}),
        (viewer.poll_for_jobs, {"actionTypeId": SOURCE_TYPE}),
        (viewer.acknowledge_job, {"jobId": "j", "nonce": "n"}),
        (viewer.put_job_success_result, {"jobId": "j"}),
        (viewer.put_job_failure_result, {"jobId": "j", "failureDetails": {"type": "JobFailed", "message": "m"}}),
        (viewer.put_action_revision, {"pipelineName": "MyFirstPipeline", "stageName": "Source", "actionName": "Source",
                                      "actionRevision": {"revisionId": "r", "revisionChangeId": "r",
                                                         "created": 1}}),
        (viewer.tag_resource, {"resourceArn": arn, "tags": [{"key": "k", "value": "v"}]}),
        (viewer.untag_resource, {"resourceArn": arn, "tagKeys": ["k"]}),
        (viewer.put_webhook, {"webhook": {"name": "w", "targetPipeline": "MyFirstPipeline", "targetAction": "Source",
                                          "filters": [{"jsonPath": "$.ref", "matchEquals": "x"}],
                                          "authentication": "UNAUTHENTICATED", "authenticationConfiguration": {}}}),
        (viewer.delete_webhook, {"name": "w"}),
    ]
    for call, kwargs in mutations:
        denied(call, **kwargs)
    # Nothing changed.
    assert cp.get_pipeline(name="MyFirstPipeline")["metadata"]["pipelineArn"] == arn
    assert cp.get_pipeline(name="MyFirstPipeline")["pipeline"]["version"] == 1
    assert [p["name"] for p in cp.list_pipelines()["pipelines"]] == ["MyFirstPipeline"]
    # Nor may the viewer manage IAM.
    viewer_iam = user_client(sluice, "viewer2", service="iam", managed=["AWSCodePipelineReadOnlyAccess"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        viewer_iam.create_user(UserName="mallory")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_approver_with_the_guides_policy_approves_exactly_that_action(sluice):
    cp = root(sluice, "codepipeline")
    create_source_type(cp)
    cp.create_pipeline(pipeline=approval_pipeline("MyFirstPipeline"))
    cp.create_pipeline(pipeline=approval_pipeline("SecondPipeline"))
    worker = user_client(sluice, "jenkins", managed=["AWSCodePipelineCustomActionAccess"])
    run_source_job(worker)
    run_source_job(worker)
    tokens = approval_tokens(cp, "MyFirstPipeline")
    second = approval_tokens(cp, "SecondPipeline")

    # The guide's "Specify Approval Permission for Specific Pipelines and Approval Actions".
    pipeline_arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:MyFirstPipeline"
    approver = user_client(sluice, "approver", inline={
        "Version": "2012-10-17",
        "Statement": [
            {"Action": ["codepipeline:GetPipeline", "codepipeline:GetPipelineState", "codepipeline:ListPipelines"],
             "Effect": "Allow", "Resource": pipeline_arn},
            {"Action": ["codepipeline:PutApprovalResult"],
             "Effect": "Allow", "Resource": f"{pipeline_arn}/MyApprovalStage/MyApprovalAction"},
        ],
    })
    assert approver.get_pipeline_state(name="MyFirstPipeline")["pipelineName"] == "MyFirstPipeline"
    denied(approver.get_pipeline_state, name="SecondPipeline")
    denied(approver.put_approval_result, pipelineName="MyFirstPipeline", stageName="MyApprovalStage",
           actionName="OtherApproval", token=tokens["OtherApproval"],
           result={"summary": "sneaky", "status": "Approved"})
    denied(approver.put_approval_result, pipelineName="SecondPipeline", stageName="MyApprovalStage",
           actionName="MyApprovalAction", token=second["MyApprovalAction"],
           result={"summary": "wrong pipeline", "status": "Approved"})
    answered = approver.put_approval_result(
        pipelineName="MyFirstPipeline", stageName="MyApprovalStage", actionName="MyApprovalAction",
        token=tokens["MyApprovalAction"], result={"summary": "Looks good", "status": "Approved"})
    assert "approvedAt" in answered

    state = cp.get_pipeline_state(name="MyFirstPipeline")
    stage = next(s for s in state["stageStates"] if s["stageName"] == "MyApprovalStage")
    statuses = {a["actionName"]: a["latestExecution"]["status"] for a in stage["actionStates"]}
    assert statuses == {"MyApprovalAction": "Succeeded", "OtherApproval": "InProgress"}
    # The managed approver policy allows every approval, and still nothing else.
    anyone = user_client(sluice, "approver2", managed=["AWSCodePipelineApproverAccess"])
    anyone.put_approval_result(
        pipelineName="MyFirstPipeline", stageName="MyApprovalStage", actionName="OtherApproval",
        token=tokens["OtherApproval"], result={"summary": "ok", "status": "Rejected"})
    denied(anyone.start_pipeline_execution, name="MyFirstPipeline")


def test_a_custom_action_worker_runs_jobs_and_nothing_else(sluice):
    cp = root(sluice, "codepipeline")
    create_source_type(cp)
    cp.create_pipeline(pipeline={
        "name": "WorkerPipeline", "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": f"codepipeline-{REGION}-{ACCOUNT}"},
        "stages": [
            {"name": "Source", "actions": [{"name": "Source", "actionTypeId": SOURCE_TYPE,
                                            "outputArtifacts": [{"name": "MyApp"}]}]},
            {"name": "Gate", "actions": [{"name": "Approve", "actionTypeId": {
                "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]},
        ],
    })
    worker = user_client(sluice, "jenkins", managed=["AWSCodePipelineCustomActionAccess"])
    run_source_job(worker)
    approval_tokens_state = cp.get_pipeline_state(name="WorkerPipeline")["stageStates"][0]
    assert approval_tokens_state["actionStates"][0]["latestExecution"]["status"] == "Succeeded"
    for call, kwargs in [
        (worker.list_pipelines, {}),
        (worker.get_pipeline, {"name": "WorkerPipeline"}),
        (worker.get_pipeline_state, {"name": "WorkerPipeline"}),
        (worker.start_pipeline_execution, {"name": "WorkerPipeline"}),
        (worker.create_custom_action_type, {"category": "Build", "provider": "Y", "version": "1",
                                            "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
                                            "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1}}),
        (worker.list_action_types, {}),
    ]:
        denied(call, **kwargs)
    s3 = user_client(sluice, "jenkins-s3", service="s3", managed=["AWSCodePipelineCustomActionAccess"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_buckets()
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_access_keys_are_listed_deactivated_and_deleted_with_the_aws_cli(sluice):
    _, user, _ = sluice.aws("iam", "create-user", "--user-name", "kim")
    assert user["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/kim"
    _, key, _ = sluice.aws("iam", "create-access-key", "--user-name", "kim")
    key_id = key["AccessKey"]["AccessKeyId"]
    assert key_id.startswith("AKIA") and len(key["AccessKey"]["SecretAccessKey"]) == 40
    sluice.aws("iam", "attach-user-policy", "--user-name", "kim",
               "--policy-arn", "arn:aws:iam::aws:policy/AWSCodePipelineReadOnlyAccess")
    kim = boto3.client("codepipeline", endpoint_url=sluice.endpoint, region_name=REGION,
                       aws_access_key_id=key_id, aws_secret_access_key=key["AccessKey"]["SecretAccessKey"])
    assert kim.list_pipelines()["pipelines"] == []
    sts = boto3.client("sts", endpoint_url=sluice.endpoint, region_name=REGION,
                       aws_access_key_id=key_id, aws_secret_access_key=key["AccessKey"]["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/kim"

    _, listed, _ = sluice.aws("iam", "list-access-keys", "--user-name", "kim")
    assert [(k["AccessKeyId"], k["Status"]) for k in listed["AccessKeyMetadata"]] == [(key_id, "Active")]
    sluice.aws("iam", "update-access-key", "--user-name", "kim", "--access-key-id", key_id, "--status", "Inactive")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kim.list_pipelines()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    sluice.aws("iam", "update-access-key", "--user-name", "kim", "--access-key-id", key_id, "--status", "Active")
    assert kim.list_pipelines()["pipelines"] == []

    code, _, err = sluice.aws("iam", "delete-user", "--user-name", "kim", check=False)
    assert code != 0 and "DeleteConflict" in err
    sluice.aws("iam", "delete-access-key", "--user-name", "kim", "--access-key-id", key_id)
    sluice.aws("iam", "detach-user-policy", "--user-name", "kim",
               "--policy-arn", "arn:aws:iam::aws:policy/AWSCodePipelineReadOnlyAccess")
    sluice.aws("iam", "delete-user", "--user-name", "kim")
    code, _, err = sluice.aws("iam", "get-user", "--user-name", "kim", check=False)
    assert code != 0 and "NoSuchEntity" in err


def test_policies_groups_and_explicit_deny_through_aws_iam(sluice, tmp_path):
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "codepipeline:DeletePipeline", "Resource": "*"}]}
    (tmp_path / "deny.json").write_text(json.dumps(deny))
    _, created, _ = sluice.aws("iam", "create-policy", "--policy-name", "NoDeletes",
                               "--policy-document", "file://deny.json", cwd=tmp_path)
    policy_arn = created["Policy"]["Arn"]
    assert policy_arn == f"arn:aws:iam::{ACCOUNT}:policy/NoDeletes"
    _, version, _ = sluice.aws("iam", "get-policy-version", "--policy-arn", policy_arn, "--version-id", "v1")
    assert version["PolicyVersion"]["Document"] == deny

    sluice.aws("iam", "create-group", "--group-name", "operators")
    sluice.aws("iam", "attach-group-policy", "--group-name", "operators",
               "--policy-arn", "arn:aws:iam::aws:policy/AWSCodePipelineFullAccess")
    sluice.aws("iam", "attach-group-policy", "--group-name", "operators", "--policy-arn", policy_arn)
    ops = user_client(sluice, "ops")
    sluice.aws("iam", "add-user-to-group", "--user-name", "ops", "--group-name", "operators")
    _, group, _ = sluice.aws("iam", "get-group", "--group-name", "operators")
    assert [u["UserName"] for u in group["Users"]] == ["ops"]

    ops.create_custom_action_type(category="Build", provider="OpsBuild", version="1",
                                  inputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
                                  outputArtifactDetails={"minimumCount": 0, "maximumCount": 1})
    ops.delete_custom_action_type(category="Build", provider="OpsBuild", version="1")
    cp = root(sluice, "codepipeline")
    create_source_type(cp)
    cp.create_pipeline(pipeline=approval_pipeline("Kept"))
    # Without iam:PassRole a user cannot hand the service role to a pipeline.
    builder = user_client(sluice, "builder", inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "codepipeline:*", "Resource": "*"}]})
    message = denied(builder.create_pipeline, pipeline=approval_pipeline("Passed"))
    assert f"iam:PassRole on resource: {ROLE}" in message
    ops.create_pipeline(pipeline=approval_pipeline("Passed"))
    message = denied(ops.delete_pipeline, name="Kept")
    assert message.endswith("with an explicit deny in an identity-based policy")
    code, _, err = sluice.aws("iam", "delete-policy", "--policy-arn", policy_arn, check=False)
    assert code != 0 and "DeleteConflict" in err

    (tmp_path / "bad.json").write_text('{"Statement": [{"Effect": "Allow", "Action": "GetPipeline", "Resource": "*"}]}')
    code, _, err = sluice.aws("iam", "put-user-policy", "--user-name", "ops", "--policy-name", "bad",
                              "--policy-document", "file://bad.json", cwd=tmp_path, check=False)
    assert code != 0 and "MalformedPolicyDocument" in err and "prefaced by a vendor" in err


def test_lookup_events_shows_the_guides_update_pipeline_with_the_version_change(sluice, guide_dir):
    sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=guide_dir)
    _, got, _ = sluice.aws("codepipeline", "get-pipeline", "--name", "MyFirstPipeline")
    edited = got["pipeline"]
    edited["stages"][0]["actions"][0]["name"] = "MySourceStage"
    (guide_dir / "edited.json").write_text(json.dumps({"pipeline": edited}))
    sluice.aws("codepipeline", "update-pipeline", "--cli-input-json", "file://edited.json", cwd=guide_dir)

    _, out, _ = sluice.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                           "AttributeKey=EventName,AttributeValue=UpdatePipeline")
    assert len(out["Events"]) == 1
    event = out["Events"][0]
    assert event["EventSource"] == "codepipeline.amazonaws.com"
    assert event["Username"] == "root"
    trail = json.loads(event["CloudTrailEvent"])
    assert trail["eventName"] == "UpdatePipeline"
    assert trail["awsRegion"] == REGION
    assert trail["userIdentity"]["type"] == "Root"
    assert trail["sourceIPAddress"] == "127.0.0.1"
    assert trail["userAgent"].startswith("aws-cli/")
    assert trail["requestParameters"]["pipeline"]["version"] == 1
    assert trail["requestParameters"]["pipeline"]["stages"][0]["actions"][0]["name"] == "MySourceStage"
    assert trail["responseElements"]["pipeline"]["version"] == 2
    assert trail["eventID"] == event["EventId"] and trail["requestID"]

    # Denied calls are in the trail too, and pages walk back in time.
    viewer = user_client(sluice, "viewer", managed=["AWSCodePipelineReadOnlyAccess"])
    denied(viewer.delete_pipeline, name="MyFirstPipeline")
    ct = root(sluice, "cloudtrail")
    found = ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "viewer"}])["Events"]
    refused = [json.loads(e["CloudTrailEvent"]) for e in found if e["EventName"] == "DeletePipeline"]
    assert refused and refused[0]["errorCode"] == "AccessDeniedException"
    names = [e["EventName"] for page in ct.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 2})
             for e in page["Events"]]
    assert names.count("UpdatePipeline") == 1 and names.count("CreatePipeline") == 1
    # The access key's secret never reaches the trail.
    created = [json.loads(e["CloudTrailEvent"]) for page in ct.get_paginator("lookup_events").paginate()
               for e in page["Events"] if e["EventName"] == "CreateAccessKey"]
    assert created and created[0]["responseElements"]["accessKey"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


def server_log_mentions(sluice, text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(os.path.join(sluice.data_dir, "server.log"), errors="replace") as log:
            if text in log.read():
                return True
        time.sleep(0.05)
    return False


def test_the_default_service_role_exists_and_pipeline_roles_are_checked(sluice, guide_dir, tmp_path):
    _, role, _ = sluice.aws("iam", "get-role", "--role-name", "AWS-CodePipeline-Service")
    assert role["Role"]["Arn"] == ROLE
    assert role["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "codepipeline.amazonaws.com"}
    _, policy, _ = sluice.aws("iam", "get-role-policy", "--role-name", "AWS-CodePipeline-Service",
                              "--policy-name", "AWS-CodePipeline-Service")
    assert "codecommit:GetBranch" in json.dumps(policy["PolicyDocument"])

    doc = json.loads((guide_dir / "pipeline.json").read_text())
    cp = root(sluice, "codepipeline")
    for arn, why in [
        (f"arn:aws:iam::{ACCOUNT}:role/Nope", "does not exist"),
        ("arn:aws:iam::222222222222:role/AWS-CodePipeline-Service", "account 222222222222"),
    ]:
        doc["pipeline"]["roleArn"] = arn
        with pytest.raises(cp.exceptions.InvalidStructureException) as e:
            cp.create_pipeline(**doc)
        # AWS's words name the role only; the reason is in the server's log for its operator.
        assert e.value.response["Error"]["Message"] == (
            f"CodePipeline is not authorized to perform AssumeRole on role {arn}")
        assert server_log_mentions(sluice, why)
    (tmp_path / "ec2-trust.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    sluice.aws("iam", "create-role", "--role-name", "Ec2Only",
               "--assume-role-policy-document", "file://ec2-trust.json", cwd=tmp_path)
    doc["pipeline"]["roleArn"] = f"arn:aws:iam::{ACCOUNT}:role/Ec2Only"
    with pytest.raises(cp.exceptions.InvalidStructureException):
        cp.create_pipeline(**doc)
    assert server_log_mentions(sluice, "trust policy does not let codepipeline.amazonaws.com assume it")
    doc["pipeline"]["roleArn"] = ROLE
    cp.create_pipeline(**doc)


def test_users_assume_the_guides_cross_account_viewer_role(sluice, guide_dir):
    cp = root(sluice, "codepipeline")
    doc = json.loads((guide_dir / "pipeline.json").read_text())["pipeline"]
    cp.create_pipeline(pipeline=doc)
    cp.create_pipeline(pipeline=dict(doc, name="Secret"))
    iam = root(sluice, "iam")
    role_arn = iam.create_role(RoleName="CrossAccountPipelineViewers", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="CrossAccountPipelineViewers", PolicyName="view-MyFirstPipeline",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Action": ["codepipeline:GetPipeline", "codepipeline:GetPipelineState"],
                            "Effect": "Allow",
                            "Resource": f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:MyFirstPipeline"}]}))
    may_assume = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}
    alice = user_client(sluice, "alice", service="sts", inline=may_assume)
    bob = user_client(sluice, "bob", service="sts")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        bob.assume_role(RoleArn=role_arn, RoleSessionName="bob")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        alice.assume_role(RoleArn=ROLE, RoleSessionName="alice")  # trusts only CodePipeline
    assert e.value.response["Error"]["Code"] == "AccessDenied"

    assumed = alice.assume_role(RoleArn=role_arn, RoleSessionName="alice-viewing", DurationSeconds=900)
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/CrossAccountPipelineViewers/alice-viewing"
    session = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"], region_name=REGION)
    viewer = session.client("codepipeline", endpoint_url=sluice.endpoint)
    assert viewer.get_pipeline(name="MyFirstPipeline")["pipeline"]["name"] == "MyFirstPipeline"
    assert viewer.get_pipeline_state(name="MyFirstPipeline")["pipelineName"] == "MyFirstPipeline"
    message = denied(viewer.get_pipeline, name="Secret")
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/CrossAccountPipelineViewers/alice-viewing is not authorized")
    denied(viewer.delete_pipeline, name="MyFirstPipeline")
    me = session.client("sts", endpoint_url=sluice.endpoint).get_caller_identity()
    assert me["Arn"] == assumed["AssumedRoleUser"]["Arn"]

    # A forged session token, or the right one with another key id, is refused.
    forged = boto3.client("codepipeline", endpoint_url=sluice.endpoint, region_name=REGION,
                          aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"][:-4] + "AAAA")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        forged.get_pipeline(name="MyFirstPipeline")
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    # Deleting the role's policy takes effect at once.
    iam.delete_role_policy(RoleName="CrossAccountPipelineViewers", PolicyName="view-MyFirstPipeline")
    denied(viewer.get_pipeline, name="MyFirstPipeline")
