"""Artifacts encrypted at rest, as the guide's Encryption chapter describes: the account's
default key (`alias/aws/s3`) unless the artifact store names a customer-managed key, keys made,
rotated and disabled with `sluice admin keys`, and a job's `encryptionKey` filled in."""

import io
import json
import os
import pathlib
import subprocess
import time
import zipfile

import boto3
import botocore.exceptions
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
ACCOUNT = "111111111111"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AWS-CodePipeline-Service"
MARKER = b"plaintext-marker-for-the-at-rest-check-0xC0FFEE"


def admin(sluice, *args):
    binary = os.environ.get("SLUICE_BIN", str(ROOT / "target" / "debug" / "sluice"))
    p = subprocess.run([binary, "admin", *args, "--data-dir", sluice.data_dir],
                       capture_output=True, text=True, env=dict(os.environ, SLUICE_LOG="error"))
    assert p.returncode == 0, p.stderr
    return p.stdout


def s3(sluice):
    key_id, secret = sluice.credentials()
    return boto3.client("s3", endpoint_url=sluice.endpoint, region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


def bundle():
    """The same bytes on every call: the entry's time is fixed, not the clock's (a bundle built
    across a two-second boundary would otherwise differ)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("app.txt", date_time=(2016, 7, 6, 12, 0, 0)), MARKER.decode())
    return buf.getvalue()


def worker_pipeline(name, bucket, encryption_key=None):
    store = {"type": "S3", "location": bucket}
    if encryption_key:
        store["encryptionKey"] = {"id": encryption_key, "type": "KMS"}
    return {
        "name": name, "roleArn": ROLE, "artifactStore": store,
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": "sources", "S3ObjectKey": "app.zip"},
                "outputArtifacts": [{"name": "MyApp"}]}]},
            {"name": "Build", "actions": [{
                "name": "Build",
                "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "Sealed", "version": "1"},
                "inputArtifacts": [{"name": "MyApp"}]}]},
        ],
    }


def take_job(cp):
    deadline = time.time() + 30
    while time.time() < deadline:
        jobs = cp.poll_for_jobs(actionTypeId={"category": "Build", "owner": "Custom", "provider": "Sealed",
                                              "version": "1"}, maxBatchSize=1)["jobs"]
        if jobs:
            cp.acknowledge_job(jobId=jobs[0]["id"], nonce=jobs[0]["nonce"])
            return jobs[0]
        time.sleep(0.1)
    raise AssertionError("no job was queued")


def stored_bytes(sluice):
    for path in pathlib.Path(sluice.data_dir, "blobs").rglob("*"):
        if path.is_file():
            yield path.read_bytes()


def test_artifacts_are_encrypted_under_the_default_or_the_pipelines_key(sluice):
    client = s3(sluice)
    client.create_bucket(Bucket="sources")
    client.put_bucket_versioning(Bucket="sources", VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket="sources", Key="app.zip", Body=bundle())
    assert client.get_object(Bucket="sources", Key="app.zip")["Body"].read() == bundle()
    assert not any(MARKER in b for b in stored_bytes(sluice)), "the upload is encrypted at rest"

    created = json.loads(admin(sluice, "keys", "create", "--alias", "alias/PipelineKey",
                               "--description", "artifacts of Sealed"))
    assert created["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{created['KeyId']}"
    listing = admin(sluice, "keys", "list")
    assert "alias/aws/s3" in listing and "alias/PipelineKey" in listing

    cp = sluice.client()
    cp.create_custom_action_type(category="Build", provider="Sealed", version="1",
                                 inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
                                 outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})
    with pytest.raises(cp.exceptions.InvalidStructureException) as e:
        cp.create_pipeline(pipeline=worker_pipeline("Missing", "keyed-artifacts", "alias/NoSuchKey"))
    assert "alias/NoSuchKey" in str(e.value)

    cp.create_pipeline(pipeline=worker_pipeline("Plain", "plain-artifacts"))
    job = take_job(cp)
    assert job["data"]["encryptionKey"] == {"id": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3", "type": "KMS"}
    cp.put_job_success_result(jobId=job["id"])

    cp.create_pipeline(pipeline=worker_pipeline("Keyed", "keyed-artifacts", created["Arn"]))
    job = take_job(cp)
    assert job["data"]["encryptionKey"] == {"id": created["Arn"], "type": "KMS"}
    creds = job["data"]["artifactCredentials"]
    worker_s3 = boto3.client("s3", endpoint_url=sluice.endpoint, region_name=REGION,
                             aws_access_key_id=creds["accessKeyId"], aws_secret_access_key=creds["secretAccessKey"],
                             aws_session_token=creds["sessionToken"])
    location = job["data"]["inputArtifacts"][0]["location"]["s3Location"]
    assert location["bucketName"] == "keyed-artifacts"
    body = worker_s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(body)).read("app.txt") == MARKER
    # A byte range decrypts only what it asks for.
    part = worker_s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"], Range="bytes=10-99")
    assert part["Body"].read() == body[10:100]
    assert not any(MARKER in b for b in stored_bytes(sluice)), "artifacts are encrypted at rest"

    # Rotation keeps old objects readable; a disabled key opens nothing until enabled again.
    admin(sluice, "keys", "rotate", "alias/PipelineKey")
    assert "v2" in admin(sluice, "keys", "list")
    assert worker_s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read() == body
    admin(sluice, "keys", "disable", created["KeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        worker_s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])
    assert e.value.response["Error"]["Code"] == "KMS.DisabledException"
    admin(sluice, "keys", "enable", created["Arn"])
    assert worker_s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read() == body
    cp.put_job_success_result(jobId=job["id"])
