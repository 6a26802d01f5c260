"""Real work through Sluice's S3-compatible endpoint: the guide's S3 walkthrough with the aws CLI
(`aws s3 mb`, `put-bucket-versioning`, `aws s3 cp`, a new upload runs the pipeline again), and a
boto3-only job worker that moves artifacts with the job's `artifactCredentials`."""

import io
import json
import time
import zipfile

import boto3
import botocore.exceptions
import pytest

ROLE = "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service"
ARTIFACTS = "codepipeline-us-east-1-111111111111"


def bundle(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)


def s3_source(bucket, key):
    return {
        "name": "Source",
        "actions": [{
            "name": "Source",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": bucket, "S3ObjectKey": key},
            "outputArtifacts": [{"name": "MyApp"}],
        }],
    }


def wait_for_runs(sluice, name, count, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, out, _ = sluice.aws("codepipeline", "list-pipeline-executions", "--pipeline-name", name)
        runs = out["pipelineExecutionSummaries"]
        if len(runs) >= count and runs[0]["status"] != "InProgress":
            return runs
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish {count} runs: {runs}")


def test_the_s3_walkthrough_runs_on_upload_and_again_on_a_new_version(sluice, tmp_path):
    bucket = "awscodepipeline-demobucket-example-date"
    sluice.aws("s3", "mb", f"s3://{bucket}")
    sluice.aws("s3api", "put-bucket-versioning", "--bucket", bucket,
               "--versioning-configuration", "Status=Enabled")
    _, versioning, _ = sluice.aws("s3api", "get-bucket-versioning", "--bucket", bucket)
    assert versioning["Status"] == "Enabled"
    bundle(tmp_path / "SampleApp_Linux.zip", {"index.html": "<h1>Congratulations v1</h1>", "scripts/install": "#!/bin/sh\n"})
    sluice.aws("s3", "cp", str(tmp_path / "SampleApp_Linux.zip"), f"s3://{bucket}/SampleApp_Linux.zip", "--only-show-errors")

    pipeline = {"pipeline": {
        "name": "MyFirstPipeline", "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": ARTIFACTS},
        "stages": [s3_source(bucket, "SampleApp_Linux.zip"), {
            "name": "Beta",
            "actions": [{
                "name": "CheckPage",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["grep -o 'Congratulations v[0-9]' index.html", "test -f scripts/install"],
                "inputArtifacts": [{"name": "MyApp"}],
            }],
        }],
    }}
    (tmp_path / "pipeline.json").write_text(json.dumps(pipeline))
    sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=tmp_path)
    runs = wait_for_runs(sluice, "MyFirstPipeline", 1)
    assert runs[0]["status"] == "Succeeded", runs

    bundle(tmp_path / "SampleApp_Linux.zip", {"index.html": "<h1>Congratulations v2</h1>", "scripts/install": "#!/bin/sh\n"})
    sluice.aws("s3", "cp", str(tmp_path / "SampleApp_Linux.zip"), f"s3://{bucket}/SampleApp_Linux.zip", "--only-show-errors")
    runs = wait_for_runs(sluice, "MyFirstPipeline", 2)
    assert runs[0]["status"] == "Succeeded", runs
    _, versions, _ = sluice.aws("s3api", "list-object-versions", "--bucket", bucket)
    ids = [v["VersionId"] for v in versions["Versions"]]
    assert len(ids) == 2
    assert runs[0]["sourceRevisions"][0]["revisionId"] == ids[0]

    # The action's log is kept and linked from the state.
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    latest = state["stageStates"][1]["actionStates"][0]["latestExecution"]
    job = latest["externalExecutionId"]
    assert latest["externalExecutionUrl"] == f"{sluice.endpoint}/console/jobs/{job}"
    sluice.aws("s3", "cp", f"s3://sluice-logs/jobs/{job}.log", str(tmp_path / "build.log"), "--only-show-errors")
    assert "Congratulations v2" in (tmp_path / "build.log").read_text()


def test_a_large_upload_round_trips_through_multipart(sluice, tmp_path):
    sluice.aws("s3", "mb", "s3://big-bundles")
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB: above the CLI's 8 MiB multipart threshold
    (tmp_path / "big.bin").write_bytes(data)
    sluice.aws("s3", "cp", str(tmp_path / "big.bin"), "s3://big-bundles/big.bin", "--only-show-errors")
    sluice.aws("s3", "cp", "s3://big-bundles/big.bin", str(tmp_path / "back.bin"), "--only-show-errors")
    assert (tmp_path / "back.bin").read_bytes() == data
    _, listing, _ = sluice.aws("s3api", "list-objects-v2", "--bucket", "big-bundles")
    assert [(o["Key"], o["Size"]) for o in listing["Contents"]] == [("big.bin", len(data))]


def test_a_boto3_worker_moves_artifacts_with_the_jobs_own_credentials(sluice, tmp_path):
    key_id, secret = sluice.credentials()
    root_s3 = boto3.client("s3", endpoint_url=sluice.endpoint, region_name="us-east-1",
                           aws_access_key_id=key_id, aws_secret_access_key=secret)
    root_s3.create_bucket(Bucket="source-bundles")
    root_s3.put_bucket_versioning(Bucket="source-bundles", VersioningConfiguration={"Status": "Enabled"})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.txt", "payload")
    root_s3.put_object(Bucket="source-bundles", Key="app.zip", Body=buf.getvalue())

    cp = sluice.client()
    cp.create_custom_action_type(
        category="Build", provider="ArtifactWorker", version="1",
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
    )
    cp.create_pipeline(pipeline={
        "name": "worker-pipeline", "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": ARTIFACTS},
        "stages": [s3_source("source-bundles", "app.zip"), {
            "name": "Build",
            "actions": [{
                "name": "Build",
                "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "ArtifactWorker", "version": "1"},
                "inputArtifacts": [{"name": "MyApp"}],
                "outputArtifacts": [{"name": "Packaged"}],
            }],
        }],
    })
    jobs = []
    deadline = time.time() + 30
    while not jobs and time.time() < deadline:
        jobs = cp.poll_for_jobs(actionTypeId={"category": "Build", "owner": "Custom", "provider": "ArtifactWorker", "version": "1"},
                                maxBatchSize=1)["jobs"]
        time.sleep(0.1)
    assert jobs, "the custom action's job was queued"
    job = jobs[0]
    cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
    creds = job["data"]["artifactCredentials"]
    assert creds["accessKeyId"].startswith("ASIA")
    s3 = boto3.client("s3", endpoint_url=sluice.endpoint, region_name="us-east-1",
                      aws_access_key_id=creds["accessKeyId"],
                      aws_secret_access_key=creds["secretAccessKey"],
                      aws_session_token=creds["sessionToken"])
    source = job["data"]["inputArtifacts"][0]["location"]["s3Location"]
    body = s3.get_object(Bucket=source["bucketName"], Key=source["objectKey"])["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(body)).read("app.txt") == b"payload"

    # Exactly the job's artifacts: not the user's bucket, not another key.
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        s3.get_object(Bucket="source-bundles", Key="app.zip")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    forged = boto3.client("s3", endpoint_url=sluice.endpoint, region_name="us-east-1",
                          aws_access_key_id=creds["accessKeyId"],
                          aws_secret_access_key="not-the-secret",
                          aws_session_token=creds["sessionToken"])
    with pytest.raises(botocore.exceptions.ClientError) as bad_signature:
        forged.get_object(Bucket=source["bucketName"], Key=source["objectKey"])
    assert bad_signature.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    out = job["data"]["outputArtifacts"][0]["location"]["s3Location"]
    packaged = io.BytesIO()
    with zipfile.ZipFile(packaged, "w") as z:
        z.writestr("package.txt", "built from " + body.hex()[:8])
    s3.put_object(Bucket=out["bucketName"], Key=out["objectKey"], Body=packaged.getvalue())
    cp.put_job_success_result(jobId=job["id"], executionDetails={"summary": "packaged", "percentComplete": 100})

    runs = wait_for_runs(sluice, "worker-pipeline", 1)
    assert runs[0]["status"] == "Succeeded", runs
    stored = root_s3.get_object(Bucket=out["bucketName"], Key=out["objectKey"])["Body"].read()
    assert stored == packaged.getvalue()
    # The credentials expire with the job.
    with pytest.raises(botocore.exceptions.ClientError) as expired:
        s3.get_object(Bucket=source["bucketName"], Key=source["objectKey"])
    assert expired.value.response["Error"]["Code"] == "ExpiredToken"
