"""Functions: `aws lambda` creates, reads, updates, invokes and deletes Python and Node.js
functions that really run (sandboxed, speaking the Lambda Runtime API), and the guide's
"Integrate Lambda Functions into Pipelines" flow: an Invoke/Lambda action whose function gets
the CodePipeline.job event, reads its input artifact with the job's credentials, and reports
with PutJobSuccessResult through boto3 — which reaches Sluice through AWS_ENDPOINT_URL."""

import base64
import io
import json
import os
import pathlib
import shutil
import tempfile
import time
import zipfile

import boto3
import botocore
import pytest

from conftest import Sluice

ROLE_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
# The guide's CodePipelineLambdaExecPolicy, and reading artifacts.
EXEC_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Action": ["logs:*"], "Effect": "Allow", "Resource": "arn:aws:logs:*:*:*"},
    {"Action": ["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"],
     "Effect": "Allow", "Resource": "*"},
]}
PIPELINE_ROLE = "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service"
STORE = {"type": "S3", "location": "codepipeline-us-east-1-111111111111"}


def sdk_dir():
    """boto3 and its dependencies, copied where the sandbox user may read them (the test's
    virtualenv may sit in a directory only root can enter)."""
    target = pathlib.Path(tempfile.mkdtemp(prefix="sluice-fn-sdk-"))
    os.chmod(target, 0o755)
    for module in ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"]:
        found = __import__(module)
        source = pathlib.Path(found.__file__)
        if source.name == "__init__.py":
            shutil.copytree(source.parent, target / source.parent.name)
        else:
            shutil.copy(source, target / source.name)
    for root, dirs, files in os.walk(target):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return str(target)


@pytest.fixture(scope="module")
def sdk():
    path = sdk_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def server(sdk):
    defaults = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/sys"]
    paths = [p for p in defaults if os.path.exists(p)] + [sdk]
    s = Sluice(config="[sandbox]\nread_paths = %s\n" % json.dumps(paths))
    s.start()
    return s


def package(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def exec_role(iam, name="CodePipelineLambdaExecRole"):
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ROLE_TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="CodePipelineLambdaExecPolicy", PolicyDocument=json.dumps(EXEC_POLICY))
    return role


def test_functions_are_created_invoked_updated_and_deleted(sdk, tmp_path):
    sluice = server(sdk)
    try:
        role = exec_role(sluice.client("iam"))
        code = package({"lambda_function.py":
                        "import os\n"
                        "def lambda_handler(event, context):\n"
                        "    print('handling', event.get('n'))\n"
                        "    if event.get('fail'):\n"
                        "        raise RuntimeError('asked to fail')\n"
                        "    return {'n': event.get('n'), 'stage': os.environ.get('STAGE'),\n"
                        "            'name': context.function_name, 'left': context.get_remaining_time_in_millis() > 0}\n"})
        (tmp_path / "f.zip").write_bytes(code)
        _, created, _ = sluice.aws("lambda", "create-function", "--function-name", "hello",
                                   "--runtime", "python3.12", "--role", role,
                                   "--handler", "lambda_function.lambda_handler",
                                   "--zip-file", "fileb://f.zip", "--timeout", "30",
                                   "--environment", "Variables={STAGE=beta}", cwd=tmp_path)
        assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:111111111111:function:hello"
        assert created["State"] == "Active"
        assert created["Timeout"] == 30 and created["MemorySize"] == 128

        lam = sluice.client("lambda")
        answer = lam.invoke(FunctionName="hello", Payload=json.dumps({"n": 7}), LogType="Tail")
        assert answer["StatusCode"] == 200
        assert "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == {"n": 7, "stage": "beta", "name": "hello", "left": True}
        assert "handling 7" in base64.b64decode(answer["LogResult"]).decode()

        logs = sluice.client("logs")
        assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"][0]["logGroupName"] == "/aws/lambda/hello"
        found = logs.filter_log_events(logGroupName="/aws/lambda/hello", filterPattern="handling")["events"]
        assert [e["message"] for e in found] == ["handling 7"]
        stream = logs.describe_log_streams(logGroupName="/aws/lambda/hello")["logStreams"][0]["logStreamName"]
        lines = [e["message"] for e in logs.get_log_events(logGroupName="/aws/lambda/hello", logStreamName=stream,
                                                            startFromHead=True)["events"]]
        assert lines[0].startswith("START RequestId:") and lines[-1].startswith("REPORT RequestId:")

        failed = lam.invoke(FunctionName="hello", Payload=json.dumps({"fail": True}))
        assert failed["FunctionError"] == "Unhandled"
        error = json.loads(failed["Payload"].read())
        assert error["errorType"] == "RuntimeError" and error["errorMessage"] == "asked to fail"

        lam.update_function_configuration(FunctionName="hello", Environment={"Variables": {"STAGE": "prod"}}, Timeout=25)
        again = json.loads(lam.invoke(FunctionName="hello", Payload=b'{"n": 1}')["Payload"].read())
        assert again["stage"] == "prod", "a new configuration runs in a new process"
        assert lam.get_function(FunctionName="hello")["Configuration"]["Timeout"] == 25
        assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["hello"]
        assert lam.invoke(FunctionName="hello", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202

        node = package({"index.js": "exports.handler = async (event) => ({ doubled: event.n * 2 });\n"})
        defaults = lam.create_function(FunctionName="node", Runtime="nodejs20.x", Role=role,
                                       Handler="index.handler", Code={"ZipFile": node})
        assert defaults["Timeout"] == 3, "AWS's default timeout"
        lam.update_function_configuration(FunctionName="node", Timeout=30)
        if shutil.which("node"):
            out = json.loads(lam.invoke(FunctionName="node", Payload=b'{"n": 21}')["Payload"].read())
            assert out == {"doubled": 42}

        with pytest.raises(lam.exceptions.ResourceConflictException):
            lam.create_function(FunctionName="node", Runtime="nodejs20.x", Role=role, Handler="index.handler",
                                Code={"ZipFile": node})
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
            lam.create_function(FunctionName="java", Runtime="java17", Role=role, Handler="x", Code={"ZipFile": node})
        assert "not supported by this Sluice server" in str(e.value)
        with pytest.raises(lam.exceptions.InvalidParameterValueException):
            lam.create_function(FunctionName="untrusted", Runtime="python3.12", Role=PIPELINE_ROLE,
                                Handler="a.b", Code={"ZipFile": node})
        lam.delete_function(FunctionName="node")
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.invoke(FunctionName="node", Payload=b"{}")
    finally:
        sluice.stop()


# The guide's pattern: read the job from the event, check the input artifact with the job's
# artifactCredentials, report with PutJobSuccessResult / PutJobFailureResult; a continuation
# token makes the function run again.
GUIDE_FUNCTION = '''
import json
import zipfile
import io
import boto3
from boto3.session import Session

code_pipeline = boto3.client('codepipeline')


def put_job_success(job, message, continuation=None):
    print('Putting job success')
    print(message)
    if continuation:
        code_pipeline.put_job_success_result(jobId=job, continuationToken=continuation)
    else:
        code_pipeline.put_job_success_result(jobId=job)


def put_job_failure(job, message):
    print('Putting job failure')
    print(message)
    code_pipeline.put_job_failure_result(jobId=job, failureDetails={'message': message, 'type': 'JobFailed'})


def get_user_params(job_data):
    return json.loads(job_data['actionConfiguration']['configuration']['UserParameters'])


def setup_s3_client(job_data):
    key_id = job_data['artifactCredentials']['accessKeyId']
    key_secret = job_data['artifactCredentials']['secretAccessKey']
    session_token = job_data['artifactCredentials']['sessionToken']
    session = Session(aws_access_key_id=key_id, aws_secret_access_key=key_secret, aws_session_token=session_token)
    return session.client('s3', config=botocore.client.Config(signature_version='s3v4'))


def lambda_handler(event, context):
    try:
        job_id = event['CodePipeline.job']['id']
        job_data = event['CodePipeline.job']['data']
        params = get_user_params(job_data)
        artifact = job_data['inputArtifacts'][0]['location']['s3Location']
        s3 = setup_s3_client(job_data)
        body = s3.get_object(Bucket=artifact['bucketName'], Key=artifact['objectKey'])['Body'].read()
        names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        if params['file'] not in names:
            put_job_failure(job_id, 'The artifact has no ' + params['file'])
        elif 'continuationToken' in job_data:
            put_job_success(job_id, 'Checked again after ' + job_data['continuationToken'])
        else:
            put_job_success(job_id, 'Checked once', continuation='first-pass')
    except Exception as e:
        print('Function failed due to exception.')
        print(e)
        put_job_failure(job_id, 'Function exception: ' + str(e))
    print('Function complete.')
    return "Complete."
'''.replace("import boto3\n", "import boto3\nimport botocore\n", 1)


def test_the_guides_lambda_action_reports_through_boto3(sdk, tmp_path):
    sluice = server(sdk)
    try:
        iam = sluice.client("iam")
        role = exec_role(iam)
        lam = sluice.client("lambda")
        lam.create_function(FunctionName="MyLambdaFunctionForAWSCodePipeline", Runtime="python3.11", Role=role,
                            Handler="lambda_function.lambda_handler", Timeout=60,
                            Environment={"Variables": {"PYTHONPATH": sdk}},
                            Code={"ZipFile": package({"lambda_function.py": GUIDE_FUNCTION})})
        sluice.aws("s3", "mb", "s3://releases")
        sluice.aws("s3api", "put-bucket-versioning", "--bucket", "releases", "--versioning-configuration", "Status=Enabled")
        (tmp_path / "app.zip").write_bytes(package({"index.html": "<h1>hello</h1>"}))
        sluice.aws("s3", "cp", str(tmp_path / "app.zip"), "s3://releases/app.zip", "--only-show-errors")

        def pipeline(name, wanted):
            return {"pipeline": {"name": name, "roleArn": PIPELINE_ROLE, "artifactStore": STORE, "stages": [
                {"name": "Source", "actions": [{
                    "name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": "releases", "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                    "outputArtifacts": [{"name": "MyApp"}]}]},
                {"name": "LambdaStage", "actions": [{
                    "name": "MyLambdaAction", "inputArtifacts": [{"name": "MyApp"}],
                    "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
                    "configuration": {"FunctionName": "MyLambdaFunctionForAWSCodePipeline",
                                      "UserParameters": json.dumps({"file": wanted})}}]},
            ]}}

        cp = sluice.client("codepipeline")
        cp.create_pipeline(**pipeline("MyLambdaTestPipeline", "index.html"))
        cp.create_pipeline(**pipeline("MissingFile", "other.html"))

        def finished(name):
            deadline = time.time() + 120
            while time.time() < deadline:
                runs = cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
                if runs and runs[0]["status"] not in ("InProgress", "Stopping"):
                    return runs[0]
                time.sleep(0.2)
            raise AssertionError(f"{name} did not finish: {cp.get_pipeline_state(name=name)}")

        ok = finished("MyLambdaTestPipeline")
        assert ok["status"] == "Succeeded", cp.get_pipeline_state(name="MyLambdaTestPipeline")
        runs = cp.list_action_executions(pipelineName="MyLambdaTestPipeline",
                                         filter={"pipelineExecutionId": ok["pipelineExecutionId"]})
        lambda_runs = [a for a in runs["actionExecutionDetails"] if a["actionName"] == "MyLambdaAction"]
        assert lambda_runs and lambda_runs[0]["status"] == "Succeeded"

        bad = finished("MissingFile")
        assert bad["status"] == "Failed"
        state = cp.get_pipeline_state(name="MissingFile")
        action = state["stageStates"][1]["actionStates"][0]["latestExecution"]
        assert action["status"] == "Failed"
        assert action["errorDetails"]["message"] == "The artifact has no other.html"
    finally:
        sluice.stop()


def test_topics_and_rules_invoke_functions_their_policy_lets_in(sdk, tmp_path):
    sluice = server(sdk)
    try:
        role = exec_role(sluice.client("iam"))
        lam = sluice.client("lambda")
        function = lam.create_function(
            FunctionName="listener", Runtime="python3.11", Role=role, Handler="app.handler", Timeout=30,
            Code={"ZipFile": package({"app.py": "import json\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n"})},
        )["FunctionArn"]
        sns = sluice.client("sns")
        topic = sns.create_topic(Name="releases")["TopicArn"]
        subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)["SubscriptionArn"]
        assert subscription.startswith(topic + ":"), "function subscriptions need no confirmation"
        s3 = sluice.client("s3")

        def logged(name="listener"):
            listing = s3.list_objects_v2(Bucket="sluice-logs", Prefix=f"functions/{name}/")
            texts = [s3.get_object(Bucket="sluice-logs", Key=o["Key"])["Body"].read().decode()
                     for o in listing.get("Contents", [])]
            return [json.loads(line[len("EVENT "):]) for t in texts for line in t.splitlines() if line.startswith("EVENT ")]

        # A second subscriber whose policy does not let SNS in: it is never invoked.
        quiet = lam.create_function(
            FunctionName="quiet", Runtime="python3.11", Role=role, Handler="app.handler", Timeout=30,
            Code={"ZipFile": package({"app.py": "import json\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n"})},
        )["FunctionArn"]
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=quiet)

        lam.add_permission(FunctionName="listener", StatementId="sns", Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com", SourceArn=topic)
        policy = json.loads(lam.get_policy(FunctionName="listener")["Policy"])
        assert policy["Statement"][0]["Principal"] == {"Service": "sns.amazonaws.com"}
        sns.publish(TopicArn=topic, Message="release 1.2", Subject="Release")
        deadline = time.time() + 30
        while time.time() < deadline and not logged():
            time.sleep(0.1)
        record = logged()[0]["Records"][0]
        assert record["EventSource"] == "aws:sns"
        assert record["EventSubscriptionArn"] == subscription
        assert record["Sns"]["Message"] == "release 1.2" and record["Sns"]["Subject"] == "Release"
        assert logged("quiet") == [], "SNS invoked a function whose policy does not let it in"

        events = sluice.client("events")
        events.put_rule(Name="deploys", EventPattern=json.dumps({"source": ["my.app"]}))
        failed = events.put_targets(Rule="deploys", Targets=[{"Id": "fn", "Arn": function}])
        assert failed["FailedEntryCount"] == 0
        lam.add_permission(FunctionName="listener", StatementId="events", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com",
                           SourceArn="arn:aws:events:us-east-1:111111111111:rule/deploys")
        events.put_events(Entries=[{"Source": "my.app", "DetailType": "Deployed", "Detail": json.dumps({"v": 3})}])
        deadline = time.time() + 30
        while time.time() < deadline and not [e for e in logged() if e.get("source") == "my.app"]:
            time.sleep(0.1)
        custom = [e for e in logged() if e.get("source") == "my.app"][0]
        assert custom["detail"] == {"v": 3} and custom["detail-type"] == "Deployed"

        lam.remove_permission(FunctionName="listener", StatementId="sns")
        assert len(json.loads(lam.get_policy(FunctionName="listener")["Policy"])["Statement"]) == 1
    finally:
        sluice.stop()
