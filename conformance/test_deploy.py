"""Deploys to hosts: the guide's Simple Pipeline Walkthrough (S3 bucket) with its Beta stage's
CodeDeploy action, run by two `sluice agent`s — each a host of its own, with its own root
filesystem view (a private mount namespace in which the test's directory for that host is
/srv) — driven by the real aws CLI (`aws deploy ...`)."""

import io
import json
import os
import signal
import subprocess
import time
import zipfile

import pytest

from conftest import ROOT, Sluice

BUCKET = "awscodepipeline-demobucket-example-date"
KEY = "ExampleCodePipelineSampleBundle.zip"
APP = "CodePipelineDemoApplication"
GROUP = "CodePipelineDemoFleet"
HOOKS = ["ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"]


def wait_until(predicate, timeout=60, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} never held")


def sample_app(version, validate_exit=0, slow_hook=None, slow_secs=300):
    """SampleApp_Linux, as the guide's walkthrough deploys it: index.html into /srv/www and a
    script per lifecycle event that records the event in /srv/hooks.log."""
    appspec = ["version: 0.0", "os: linux", "files:", "  - source: /index.html",
               "    destination: /srv/www/", "hooks:"]
    scripts = {}
    for event in HOOKS:
        name = f"scripts/{event.lower()}"
        appspec += [f"  {event}:", f"    - location: {name}", "      timeout: 60"]
        body = f'#!/bin/sh\necho "$LIFECYCLE_EVENT {version} $DEPLOYMENT_GROUP_NAME" >> /srv/hooks.log\n'
        if event == slow_hook:
            body += f"sleep {slow_secs}\n"
        if event == "ValidateService" and validate_exit:
            body += f'echo "validation of {version} failed" >&2\nexit {validate_exit}\n'
        scripts[name] = body
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("appspec.yml", "\n".join(appspec) + "\n")
        z.writestr("index.html", f"<h1>Congratulations {version}</h1>")
        for name, body in scripts.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            z.writestr(info, body)
    return buf.getvalue()


class Host:
    """One `sluice agent` in a mount namespace of its own, where `root` is /srv."""

    def __init__(self, sluice, name, tmp_path):
        self.name = name
        self.root = tmp_path / name / "srv"
        self.root.mkdir(parents=True)
        self.data = tmp_path / name / "agent"
        _, user, _ = sluice.aws("iam", "create-user", "--user-name", name)
        self.arn = user["User"]["Arn"]
        _, key, _ = sluice.aws("iam", "create-access-key", "--user-name", name)
        self.key = key["AccessKey"]
        sluice.aws("deploy", "register-on-premises-instance", "--instance-name", name, "--iam-user-arn", self.arn)
        sluice.aws("deploy", "add-tags-to-on-premises-instances", "--instance-names", name,
                   "--tags", "Key=Name,Value=CodePipelineDemo")
        self.sluice = sluice
        self.proc = None

    def start(self):
        binary = os.environ.get("SLUICE_BIN", str(ROOT / "target" / "debug" / "sluice"))
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.key["AccessKeyId"],
                   AWS_SECRET_ACCESS_KEY=self.key["SecretAccessKey"], AWS_DEFAULT_REGION="us-east-1")
        self.log = open(self.root.parent / "agent.log", "ab")
        launch = 'mount --bind "$1" /srv && shift && exec "$@"'
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", launch, "sh", str(self.root),
             binary, "agent", "--endpoint", self.sluice.endpoint, "--data-dir", str(self.data)],
            env=env, stdout=self.log, stderr=self.log)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def hooks(self):
        log = self.root / "hooks.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def hosts(sluice, tmp_path):
    made = [Host(sluice, name, tmp_path) for name in ("host-a", "host-b")]
    for host in made:
        host.start()
    yield made
    for host in made:
        host.stop()


def walkthrough_setup(sluice, config="CodeDeployDefault.OneAtATime", rollback=False):
    sluice.aws("s3", "mb", f"s3://{BUCKET}")
    sluice.aws("s3api", "put-bucket-versioning", "--bucket", BUCKET, "--versioning-configuration", "Status=Enabled")
    _, app, _ = sluice.aws("deploy", "create-application", "--application-name", APP)
    assert app["applicationId"]
    args = ["deploy", "create-deployment-group", "--application-name", APP,
            "--deployment-group-name", GROUP, "--deployment-config-name", config,
            "--on-premises-instance-tag-filters", "Key=Name,Value=CodePipelineDemo,Type=KEY_AND_VALUE",
            "--service-role-arn", "arn:aws:iam::111111111111:role/CodeDeployServiceRole"]
    if rollback:
        args += ["--auto-rollback-configuration", "enabled=true,events=DEPLOYMENT_FAILURE"]
    sluice.aws(*args)


def upload(sluice, tmp_path, data):
    (tmp_path / KEY).write_bytes(data)
    sluice.aws("s3", "cp", str(tmp_path / KEY), f"s3://{BUCKET}/{KEY}", "--only-show-errors")


def runs(sluice):
    _, out, _ = sluice.aws("codepipeline", "list-pipeline-executions", "--pipeline-name", "MyFirstPipeline")
    return out["pipelineExecutionSummaries"]


def finished_runs(sluice, count):
    return wait_until(lambda: (lambda r: r if len(r) >= count and r[0]["status"] != "InProgress" else None)(runs(sluice)),
                      timeout=90, what=f"{count} finished runs")


def create_guide_pipeline(sluice, guide_dir):
    sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=guide_dir)


def test_the_s3_walkthrough_deploys_to_both_hosts_with_the_aws_cli(sluice, hosts, tmp_path, guide_dir):
    walkthrough_setup(sluice)
    upload(sluice, tmp_path, sample_app("v1"))
    create_guide_pipeline(sluice, guide_dir)
    run = finished_runs(sluice, 1)[0]
    assert run["status"] == "Succeeded", run
    for host in hosts:
        assert (host.root / "www" / "index.html").read_text() == "<h1>Congratulations v1</h1>"
        # No previous revision: ApplicationStop has nothing to run the first time.
        assert host.hooks() == [f"{e} v1 {GROUP}" for e in HOOKS[1:]]

    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    deployment_id = state["stageStates"][1]["actionStates"][0]["latestExecution"]["externalExecutionId"]
    _, got, _ = sluice.aws("deploy", "get-deployment", "--deployment-id", deployment_id)
    info = got["deploymentInfo"]
    assert info["status"] == "Succeeded"
    assert info["creator"] == "CodePipeline"
    assert info["deploymentOverview"]["Succeeded"] == 2
    assert info["revision"]["s3Location"]["bundleType"] == "zip"
    _, targets, _ = sluice.aws("deploy", "list-deployment-targets", "--deployment-id", deployment_id)
    assert sorted(targets["targetIds"]) == ["host-a", "host-b"]
    _, target, _ = sluice.aws("deploy", "get-deployment-target", "--deployment-id", deployment_id, "--target-id", "host-a")
    events = target["deploymentTarget"]["instanceTarget"]["lifecycleEvents"]
    ran = [e["lifecycleEventName"] for e in events if e["status"] == "Succeeded"]
    assert ran == ["ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall",
                   "ApplicationStart", "ValidateService"]
    assert {e["lifecycleEventName"] for e in events if e["status"] == "Skipped"} >= {"BlockTraffic", "AllowTraffic"}

    _, actions, _ = sluice.aws("codepipeline", "list-action-executions", "--pipeline-name", "MyFirstPipeline",
                               "--filter", f"pipelineExecutionId={run['pipelineExecutionId']}")
    deploy = next(a for a in actions["actionExecutionDetails"] if a["stageName"] == "Beta")
    _, listed_targets, _ = sluice.aws("codepipeline", "list-deploy-action-execution-targets",
                                      "--pipeline-name", "MyFirstPipeline",
                                      "--action-execution-id", deploy["actionExecutionId"])
    assert sorted(t["targetId"] for t in listed_targets["targets"]) == ["host-a", "host-b"]
    assert all(t["status"] == "Succeeded" for t in listed_targets["targets"])
    assert "ValidateService" in [e["name"] for e in listed_targets["targets"][0]["events"]]

    # A new version of the bundle: the previous revision's ApplicationStop runs first, and its
    # files are replaced.
    upload(sluice, tmp_path, sample_app("v2"))
    assert finished_runs(sluice, 2)[0]["status"] == "Succeeded"
    for host in hosts:
        assert (host.root / "www" / "index.html").read_text() == "<h1>Congratulations v2</h1>"
        assert host.hooks()[4:] == [f"ApplicationStop v1 {GROUP}"] + [f"{e} v2 {GROUP}" for e in HOOKS[1:]]
    _, group, _ = sluice.aws("deploy", "get-deployment-group", "--application-name", APP, "--deployment-group-name", GROUP)
    assert group["deploymentGroupInfo"]["lastSuccessfulDeployment"]["status"] == "Succeeded"
    _, listed, _ = sluice.aws("deploy", "list-deployments", "--application-name", APP,
                              "--deployment-group-name", GROUP, "--include-only-statuses", "Succeeded")
    assert len(listed["deployments"]) == 2


def test_a_failing_validate_service_stops_one_at_a_time_at_the_first_host(sluice, hosts, tmp_path, guide_dir):
    walkthrough_setup(sluice)
    upload(sluice, tmp_path, sample_app("bad", validate_exit=3))
    create_guide_pipeline(sluice, guide_dir)
    run = finished_runs(sluice, 1)[0]
    assert run["status"] == "Failed"
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    action = state["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert action["status"] == "Failed"
    message = action["errorDetails"]["message"]
    assert "ValidateService" in message and "scripts/validateservice" in message, message
    deployment_id = action["externalExecutionId"]
    _, got, _ = sluice.aws("deploy", "get-deployment", "--deployment-id", deployment_id)
    assert got["deploymentInfo"]["errorInformation"]["code"] == "HEALTH_CONSTRAINTS"
    _, targets, _ = sluice.aws("deploy", "batch-get-deployment-targets", "--deployment-id", deployment_id,
                               "--target-ids", "host-a", "host-b")
    by_id = {t["instanceTarget"]["targetId"]: t["instanceTarget"] for t in targets["deploymentTargets"]}
    statuses = sorted(t["status"] for t in by_id.values())
    assert statuses == ["Failed", "Skipped"], statuses
    failed = next(t for t in by_id.values() if t["status"] == "Failed")
    untouched = next(h for h in hosts if h.name != failed["targetId"])
    assert untouched.hooks() == [], "the second host is never touched"
    validate = next(e for e in failed["lifecycleEvents"] if e["lifecycleEventName"] == "ValidateService")
    assert validate["status"] == "Failed"
    assert validate["diagnostics"]["errorCode"] == "ScriptFailed"
    assert validate["diagnostics"]["scriptName"] == "scripts/validateservice"
    assert "validation of bad failed" in validate["diagnostics"]["logTail"]


def test_auto_rollback_redeploys_the_last_good_revision(sluice, hosts, tmp_path, guide_dir):
    walkthrough_setup(sluice, config="CodeDeployDefault.AllAtOnce", rollback=True)
    upload(sluice, tmp_path, sample_app("good"))
    create_guide_pipeline(sluice, guide_dir)
    assert finished_runs(sluice, 1)[0]["status"] == "Succeeded"
    upload(sluice, tmp_path, sample_app("broken", validate_exit=1))
    assert finished_runs(sluice, 2)[0]["status"] == "Failed"
    _, state, _ = sluice.aws("codepipeline", "get-pipeline-state", "--name", "MyFirstPipeline")
    failed_id = state["stageStates"][1]["actionStates"][0]["latestExecution"]["externalExecutionId"]
    _, failed, _ = sluice.aws("deploy", "get-deployment", "--deployment-id", failed_id)
    rollback_id = failed["deploymentInfo"]["rollbackInfo"]["rollbackDeploymentId"]

    def rolled_back():
        _, got, _ = sluice.aws("deploy", "get-deployment", "--deployment-id", rollback_id)
        return got["deploymentInfo"] if got["deploymentInfo"]["status"] in ("Succeeded", "Failed") else None

    rollback = wait_until(rolled_back, what="the rollback's end")
    assert rollback["status"] == "Succeeded", rollback
    assert rollback["creator"] == "autoRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == failed_id
    for host in hosts:
        assert (host.root / "www" / "index.html").read_text() == "<h1>Congratulations good</h1>"


def test_a_host_whose_agent_is_killed_mid_deploy_fails_after_its_lease(tmp_path, guide_dir):
    sluice = Sluice(config="[deploy]\nhost_lease_secs = 2\n")
    sluice.start()
    try:
        host = Host(sluice, "host-a", tmp_path)
        host.start()
        walkthrough_setup(sluice)
        upload(sluice, tmp_path, sample_app("slow", slow_hook="BeforeInstall"))
        create_guide_pipeline(sluice, guide_dir)
        wait_until(lambda: any(line.startswith("BeforeInstall") for line in host.hooks()), what="the slow hook's start")
        host.kill9()
        run = finished_runs(sluice, 1)[0]
        assert run["status"] == "Failed"
        _, listed, _ = sluice.aws("deploy", "list-deployments", "--application-name", APP, "--deployment-group-name", GROUP)
        deployment_id = listed["deployments"][0]
        _, target, _ = sluice.aws("deploy", "get-deployment-target", "--deployment-id", deployment_id, "--target-id", "host-a")
        event = next(e for e in target["deploymentTarget"]["instanceTarget"]["lifecycleEvents"]
                     if e["lifecycleEventName"] == "BeforeInstall")
        assert event["status"] == "Failed"
        assert "stopped answering" in event["diagnostics"]["message"]
    finally:
        sluice.stop()


def test_a_hostile_bundle_fails_at_download_and_writes_nothing_outside(sluice, hosts, tmp_path, guide_dir):
    walkthrough_setup(sluice, config="CodeDeployDefault.AllAtOnce")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("appspec.yml", "version: 0.0\nos: linux\n")
        z.writestr("../../escaped.txt", "owned")
    upload(sluice, tmp_path, buf.getvalue())
    create_guide_pipeline(sluice, guide_dir)
    assert finished_runs(sluice, 1)[0]["status"] == "Failed"
    for host in hosts:
        assert not any(p.name == "escaped.txt" for p in host.root.parent.parent.rglob("escaped.txt"))
    _, listed, _ = sluice.aws("deploy", "list-deployments", "--application-name", APP)
    deployment_id = listed["deployments"][0]
    _, got, _ = sluice.aws("deploy", "get-deployment", "--deployment-id", deployment_id)
    assert got["deploymentInfo"]["status"] == "Failed"
    _, target, _ = sluice.aws("deploy", "get-deployment-target", "--deployment-id", deployment_id, "--target-id", "host-a")
    download = next(e for e in target["deploymentTarget"]["instanceTarget"]["lifecycleEvents"]
                    if e["lifecycleEventName"] == "DownloadBundle")
    assert download["status"] == "Failed"
    assert "could not be unpacked" in download["diagnostics"]["message"], download


def test_deploy_resources_answer_as_codedeploy_does(sluice):
    _, configs, _ = sluice.aws("deploy", "list-deployment-configs")
    assert {"CodeDeployDefault.OneAtATime", "CodeDeployDefault.HalfAtATime", "CodeDeployDefault.AllAtOnce"} <= set(configs["deploymentConfigsList"])
    _, one, _ = sluice.aws("deploy", "get-deployment-config", "--deployment-config-name", "CodeDeployDefault.OneAtATime")
    assert one["deploymentConfigInfo"]["minimumHealthyHosts"] == {"type": "MOST_CONCURRENCY", "value": 1}
    sluice.aws("deploy", "create-deployment-config", "--deployment-config-name", "ThreeQuarters",
               "--minimum-healthy-hosts", "type=FLEET_PERCENT,value=75")
    code, _, err = sluice.aws("deploy", "create-deployment-config", "--deployment-config-name", "All",
                              "--minimum-healthy-hosts", "type=FLEET_PERCENT,value=100", check=False)
    assert code != 0 and "InvalidMinimumHealthyHostValueException" in err
    code, _, err = sluice.aws("deploy", "get-application", "--application-name", "Nope", check=False)
    assert code != 0 and "ApplicationDoesNotExistException" in err
    sluice.aws("deploy", "create-application", "--application-name", "App")
    code, _, err = sluice.aws("deploy", "create-application", "--application-name", "App", check=False)
    assert "ApplicationAlreadyExistsException" in err
    code, _, err = sluice.aws("deploy", "create-deployment-group", "--application-name", "App",
                              "--deployment-group-name", "G", "--service-role-arn", "arn:aws:iam::111111111111:role/R",
                              "--ec2-tag-filters", "Key=Name,Value=x,Type=KEY_AND_VALUE", check=False)
    assert code != 0 and "ec2TagFilters" in err, "EC2 settings are refused, not stored and ignored"
    code, _, err = sluice.aws("deploy", "continue-deployment", "--deployment-id", "d-X", check=False)
    assert "NotImplementedException" in err and "ContinueDeployment" in err
    # boto3 sees the same shapes.
    client = sluice.client("codedeploy")
    assert client.list_applications()["applications"] == ["App"]
    assert client.batch_get_applications(applicationNames=["App"])["applicationsInfo"][0]["computePlatform"] == "Server"


def test_a_deployment_survives_a_server_killed_mid_deploy(tmp_path, guide_dir):
    sluice = Sluice()
    sluice.start()
    try:
        host = Host(sluice, "host-a", tmp_path)
        host.start()
        walkthrough_setup(sluice)
        upload(sluice, tmp_path, sample_app("steady", slow_hook="AfterInstall", slow_secs=2))
        create_guide_pipeline(sluice, guide_dir)
        wait_until(lambda: any(line.startswith("AfterInstall") for line in host.hooks()), what="AfterInstall's start")
        sluice.kill9()
        sluice.start()
        run = finished_runs(sluice, 1)[0]
        assert run["status"] == "Succeeded", run
        _, listed, _ = sluice.aws("deploy", "list-deployments", "--application-name", APP)
        assert len(listed["deployments"]) == 1, "the restarted action follows its deployment, it does not start another"
        _, got, _ = sluice.aws("deploy", "get-deployment", "--deployment-id", listed["deployments"][0])
        assert got["deploymentInfo"]["status"] == "Succeeded"
        assert host.hooks()[-1] == f"ValidateService steady {GROUP}"
        host.stop()
    finally:
        sluice.stop()


def git(sluice, *args, cwd):
    env = sluice.env()
    env.update(GIT_AUTHOR_NAME="Mary Major", GIT_AUTHOR_EMAIL="mary@example.com",
               GIT_COMMITTER_NAME="Mary Major", GIT_COMMITTER_EMAIL="mary@example.com",
               GIT_TERMINAL_PROMPT="0", PATH=os.environ["PATH"])
    p = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, f"git {' '.join(args)}: {p.stderr}"
    return p.stdout


def test_the_codecommit_walkthrough_pushes_with_the_credential_helper_and_deploys(sluice, hosts, tmp_path):
    walkthrough_setup(sluice)
    _, created, _ = sluice.aws("codecommit", "create-repository", "--repository-name", "MyDemoRepo",
                               "--repository-description", "My demonstration repository")
    meta = created["repositoryMetadata"]
    assert meta["cloneUrlHttp"] == f"{sluice.endpoint}/v1/repos/MyDemoRepo"
    assert meta["Arn"] == "arn:aws:codecommit:us-east-1:111111111111:MyDemoRepo"
    code, _, err = sluice.aws("codecommit", "create-repository", "--repository-name", "MyDemoRepo", check=False)
    assert code != 0 and "RepositoryNameExistsException" in err

    # The walkthrough's local repo: SampleApp_Linux's files, pushed with the aws CLI's helper.
    repo = tmp_path / "my-demo-repo"
    repo.mkdir()
    with zipfile.ZipFile(io.BytesIO(sample_app("cc1"))) as z:
        z.extractall(repo)
    for script in (repo / "scripts").iterdir():
        script.chmod(0o755)
    git(sluice, "init", "--quiet", "--initial-branch=master", cwd=repo)
    git(sluice, "config", "credential.helper", "!aws codecommit credential-helper --ignore-host-check $@", cwd=repo)
    git(sluice, "config", "credential.UseHttpPath", "true", cwd=repo)
    git(sluice, "add", "-A", cwd=repo)
    git(sluice, "commit", "--quiet", "-m", "Added sample application files", cwd=repo)
    git(sluice, "push", "--quiet", meta["cloneUrlHttp"], "master", cwd=repo)
    head = git(sluice, "rev-parse", "HEAD", cwd=repo).strip()

    _, branch, _ = sluice.aws("codecommit", "get-branch", "--repository-name", "MyDemoRepo", "--branch-name", "master")
    assert branch["branch"]["commitId"] == head
    _, commit, _ = sluice.aws("codecommit", "get-commit", "--repository-name", "MyDemoRepo", "--commit-id", head)
    assert commit["commit"]["message"].strip() == "Added sample application files"
    assert commit["commit"]["author"]["name"] == "Mary Major"
    _, got, _ = sluice.aws("codecommit", "get-repository", "--repository-name", "MyDemoRepo")
    assert got["repositoryMetadata"]["defaultBranch"] == "master"
    _, listed, _ = sluice.aws("codecommit", "list-repositories")
    assert [r["repositoryName"] for r in listed["repositories"]] == ["MyDemoRepo"]

    pipeline = {"pipeline": {
        "name": "MyFirstPipeline", "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": {"RepositoryName": "MyDemoRepo", "BranchName": "master"},
                "outputArtifacts": [{"name": "MyApp"}]}]},
            {"name": "Beta", "actions": [{
                "name": "CodePipelineDemoFleet",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
                "configuration": {"ApplicationName": APP, "DeploymentGroupName": GROUP},
                "inputArtifacts": [{"name": "MyApp"}]}]},
        ],
    }}
    (tmp_path / "pipeline.json").write_text(json.dumps(pipeline))
    sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=tmp_path)
    run = finished_runs(sluice, 1)[0]
    assert run["status"] == "Succeeded", run
    assert run["sourceRevisions"][0]["revisionId"] == head
    for host in hosts:
        assert (host.root / "www" / "index.html").read_text() == "<h1>Congratulations cc1</h1>"

    # A change pushed over CodeCommit's URL reaches both hosts.
    (repo / "index.html").write_text("<h1>Congratulations cc2</h1>")
    git(sluice, "commit", "--quiet", "-am", "Updated index.html", cwd=repo)
    git(sluice, "push", "--quiet", meta["cloneUrlHttp"], "master", cwd=repo)
    run = finished_runs(sluice, 2)[0]
    assert run["status"] == "Succeeded", run
    for host in hosts:
        assert (host.root / "www" / "index.html").read_text() == "<h1>Congratulations cc2</h1>"

    # A wrong secret makes a password git cannot use.
    bad = subprocess.run(["git", "ls-remote", meta["cloneUrlHttp"].replace("//", "//AKIDWRONG:nope@")],
                         cwd=repo, capture_output=True, text=True, env=dict(sluice.env(), GIT_TERMINAL_PROMPT="0"))
    assert bad.returncode != 0


def test_a_long_deployment_holds_no_build_slot_and_stop_deployment_kills_its_hook(tmp_path, guide_dir):
    sluice = Sluice(config="[providers]\nmax_concurrent_jobs = 1\n")
    sluice.start()
    try:
        host = Host(sluice, "host-a", tmp_path)
        host.start()
        walkthrough_setup(sluice)
        upload(sluice, tmp_path, sample_app("long", slow_hook="BeforeInstall", slow_secs=600))
        create_guide_pipeline(sluice, guide_dir)
        wait_until(lambda: any(line.startswith("BeforeInstall") for line in host.hooks()), what="the long hook's start")

        # With one build slot and a deployment running, a build still runs.
        sluice.aws("s3", "mb", "s3://builds")
        sluice.aws("s3api", "put-bucket-versioning", "--bucket", "builds", "--versioning-configuration", "Status=Enabled")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("Makefile", "all:\n\ttrue\n")
        (tmp_path / "build.zip").write_bytes(buf.getvalue())
        sluice.aws("s3", "cp", str(tmp_path / "build.zip"), "s3://builds/app.zip", "--only-show-errors")
        build = {"pipeline": {
            "name": "Builds", "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
            "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-111111111111"},
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Source",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": "builds", "S3ObjectKey": "app.zip"},
                    "outputArtifacts": [{"name": "Src"}]}]},
                {"name": "Build", "actions": [{
                    "name": "Build",
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": ["make"], "inputArtifacts": [{"name": "Src"}]}]},
            ],
        }}
        (tmp_path / "build.json").write_text(json.dumps(build))
        sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://build.json", cwd=tmp_path)

        def build_done():
            _, out, _ = sluice.aws("codepipeline", "list-pipeline-executions", "--pipeline-name", "Builds")
            runs = out["pipelineExecutionSummaries"]
            return runs if runs and runs[0]["status"] != "InProgress" else None

        assert wait_until(build_done, what="the build's end")[0]["status"] == "Succeeded"
        _, listed, _ = sluice.aws("deploy", "list-deployments", "--application-name", APP)
        deployment_id = listed["deployments"][0]
        _, got, _ = sluice.aws("deploy", "get-deployment", "--deployment-id", deployment_id)
        assert got["deploymentInfo"]["status"] == "InProgress", "the deployment still runs"

        # Stopped: the agent is told at its next heartbeat and kills the hook's processes.
        sluice.aws("deploy", "stop-deployment", "--deployment-id", deployment_id)
        run = finished_runs(sluice, 1)[0]
        assert run["status"] == "Failed"

        def hook_gone():
            p = subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True)
            return p.returncode != 0

        wait_until(hook_gone, timeout=30, what="the stopped hook's end")
        host.stop()
    finally:
        sluice.stop()
