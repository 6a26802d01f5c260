"""The web console in a real Chromium (Debian's, driven by Python playwright): sign in, watch a
running pipeline turn green without reloading, read a build's log while it is written, approve
from "Review", disable and enable a transition, release a change, create a pipeline with the
wizard, a read-only user without buttons, and forged posts refused.

With SLUICE_SCREENSHOTS=DIR the main pages are saved there (docs/console/ keeps them)."""

import io
import json
import os
import re
import shutil
import time
import zipfile

import pytest
from playwright import sync_api as playwright_api

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROLE = "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service"
BUCKET = "codepipeline-us-east-1-111111111111"


def source_zip():
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        z.writestr("README.md", "hello\n")
    return data.getvalue()


def demo_pipeline(name):
    # The build writes its log slowly, so the test can read it while it is being written.
    slow = "for i in 1 2 3 4 5 6; do echo building step $i; sleep 1; done"
    return {
        "name": name, "roleArn": ROLE, "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": BUCKET},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": "console-demo", "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "SourceArtifact"}]}]},
            {"name": "Build", "actions": [{
                "name": "Build",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": [slow],
                "inputArtifacts": [{"name": "SourceArtifact"}]}]},
            {"name": "Release", "actions": [{
                "name": "Approve",
                "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                "configuration": {"CustomData": "Ship the new greeting?"}}]},
        ],
    }


@pytest.fixture
def demo(sluice):
    s3 = sluice.client("s3")
    s3.create_bucket(Bucket="console-demo")
    s3.put_bucket_versioning(Bucket="console-demo", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="console-demo", Key="app.zip", Body=source_zip())
    return sluice


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def shot(page, name):
    folder = os.environ.get("SLUICE_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def sign_in(browser, sluice, key_id, secret, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(sluice.endpoint + "/")
    assert "/console/signin" in page.url
    page.get_by_label("Access key ID").fill(key_id)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/console/pipelines$"))
    return page


def stage(page, name):
    return page.locator(f"section.stage[aria-label='Stage {name}']")


def test_a_release_manager_watches_approves_and_steers_a_pipeline_in_the_browser(demo, browser):
    sluice = demo
    key_id, secret = sluice.credentials()
    page = sign_in(browser, sluice, key_id, secret)
    cp = sluice.client()
    cp.create_pipeline(pipeline=demo_pipeline("console-demo"))

    page.goto(sluice.endpoint + "/console/pipelines/console-demo")
    # Marks this page load: if the page reloaded, the mark would be gone.
    page.evaluate("window.loadedOnce = true")

    # The build's log, read while it is being written.
    build = stage(page, "Build")
    build.locator("header .status.running").wait_for()
    details = build.get_by_role("link", name="Details")
    details.wait_for()
    log_page = page.context.new_page()
    log_page.goto(sluice.endpoint + details.get_attribute("href"))
    log = log_page.locator("pre#log")
    log_page.wait_for_function("document.querySelector('pre#log').textContent.includes('building step 2')")
    assert "building step 6" not in log.text_content(), "the log was read while it was written"
    log_page.wait_for_function("document.querySelector('pre#log').textContent.includes('building step 6')")
    log_page.wait_for_function("document.querySelector('pre#log').dataset.finished === 'Succeeded'")
    shot(log_page, "action-log")
    log_page.close()

    # The running pipeline turns green without reloading, and the approval waits.
    stage(page, "Build").locator("header .status.ok").wait_for()
    release = stage(page, "Release")
    release.get_by_role("button", name="Review").wait_for()
    assert page.evaluate("window.loadedOnce") is True
    shot(page, "pipeline")

    # Review: a dialog with the approval's question; approve with a comment.
    release.get_by_role("button", name="Review").click()
    review = page.locator("dialog[open]")
    review.get_by_text("Ship the new greeting?").wait_for()
    shot(page, "review")
    review.get_by_label("Approve").check()
    review.get_by_label("Comments").fill("Looks good")
    review.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r".*/console/pipelines/console-demo$"))
    stage(page, "Release").locator("header .status.ok").wait_for()
    state = cp.get_pipeline_state(name="console-demo")
    approval = state["stageStates"][2]["actionStates"][0]["latestExecution"]
    assert approval["status"] == "Succeeded" and approval["summary"] == "Looks good"

    # Disable the transition into Release (asks the reason), then enable it again.
    into_release = page.locator(".transition").nth(1)
    into_release.get_by_role("button", name="Disable transition").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Reason").fill("Freeze for the demo")
    dialog.get_by_role("button", name="Disable", exact=True).click()
    page.get_by_text("Freeze for the demo").wait_for()
    transition = cp.get_pipeline_state(name="console-demo")["stageStates"][2]["inboundTransitionState"]
    assert transition["enabled"] is False and transition["disabledReason"] == "Freeze for the demo"
    page.locator(".transition").nth(1).get_by_role("button", name="Enable transition").click()
    page.locator(".transition").nth(1).get_by_role("button", name="Disable transition").wait_for()
    assert cp.get_pipeline_state(name="console-demo")["stageStates"][2]["inboundTransitionState"]["enabled"] is True

    # Release change starts a second execution.
    page.get_by_role("button", name="Release change").click()
    deadline = time.time() + 30
    while len(cp.list_pipeline_executions(pipelineName="console-demo")["pipelineExecutionSummaries"]) < 2:
        assert time.time() < deadline, "Release change started nothing"
        time.sleep(0.1)
    page.get_by_role("link", name="View history").click()
    assert page.locator("table.history tbody tr").count() == 2
    shot(page, "history")

    # Each console action is on the audit trail as the API call, made by the signed-in key.
    events = sluice.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutApprovalResult"}])["Events"]
    assert events and events[0]["AccessKeyId"] == key_id
    assert "Looks good" in events[0]["CloudTrailEvent"]
    page.goto(sluice.endpoint + "/console/pipelines")
    page.locator("table.pipelines").get_by_role("link", name="console-demo").wait_for()
    shot(page, "pipelines")


def test_the_wizard_creates_a_pipeline_that_runs(demo, browser):
    sluice = demo
    key_id, secret = sluice.credentials()
    page = sign_in(browser, sluice, key_id, secret)
    page.get_by_role("link", name="Create pipeline").first.click()
    page.get_by_label("Pipeline name").fill("wizard-made")
    page.get_by_label("Source provider").select_option("S3")
    page.get_by_label("Bucket", exact=True).fill("console-demo")
    page.get_by_label("S3 object key").fill("app.zip")
    page.get_by_label("Build provider").select_option("Commands")
    page.get_by_label("Commands (one per line)").fill("cat README.md")
    shot(page, "create-pipeline")
    page.get_by_role("button", name="Create pipeline").click()
    page.wait_for_url(re.compile(r".*/console/pipelines/wizard-made$"))
    stage(page, "Build").locator("header .status.ok").wait_for()
    declared = sluice.client().get_pipeline(name="wizard-made")["pipeline"]
    assert [s["name"] for s in declared["stages"]] == ["Source", "Build"]

    # A problem is shown next to the field it concerns, and nothing is created.
    page.goto(sluice.endpoint + "/console/create")
    page.get_by_label("Pipeline name").fill("wizard-made")
    page.get_by_label("Bucket", exact=True).fill("console-demo")
    page.get_by_label("S3 object key").fill("app.zip")
    page.get_by_label("Build provider").select_option("CodeBuild")
    page.get_by_label("Project name").fill("p")
    page.get_by_role("button", name="Create pipeline").click()
    page.locator(".message.error").wait_for()
    assert "PipelineNameInUseException" in page.locator(".message.error").text_content()

    # Edit: move the build first is refused by the API's own validation; as JSON it saves.
    page.goto(sluice.endpoint + "/console/pipelines/wizard-made/edit")
    text = page.get_by_label("Pipeline declaration").input_value()
    doc = json.loads(text)
    doc["stages"][1]["actions"][0]["commands"] = ["cat README.md", "echo edited"]
    page.get_by_label("Pipeline declaration").fill(json.dumps(doc))
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/pipelines/wizard-made$"))
    declared = sluice.client().get_pipeline(name="wizard-made")["pipeline"]
    assert declared["version"] == 2
    assert declared["stages"][1]["actions"][0]["commands"] == ["cat README.md", "echo edited"]


def test_a_read_only_user_sees_pipelines_without_buttons_and_forged_posts_are_refused(demo, browser):
    sluice = demo
    iam = sluice.client("iam")
    iam.create_user(UserName="viewer")
    iam.attach_user_policy(UserName="viewer", PolicyArn="arn:aws:iam::aws:policy/AWSCodePipelineReadOnlyAccess")
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    sluice.client().create_pipeline(pipeline=demo_pipeline("watched"))

    page = sign_in(browser, sluice, key["AccessKeyId"], key["SecretAccessKey"], width=390)
    page.get_by_role("link", name="watched").click()
    stage(page, "Source").wait_for()
    shot(page, "read-only-phone")
    for label in ["Release change", "Edit", "Delete pipeline", "Disable transition", "Stop execution"]:
        assert page.get_by_role("button", name=label).count() == 0, label
        assert page.get_by_role("link", name=label).count() == 0, label

    # A forged post with the viewer's own session and token: IAM refuses the call.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate(
        """async (csrf) => (await fetch('/console/pipelines/watched/release', {method: 'POST',
            headers: {'content-type': 'application/x-www-form-urlencoded'},
            body: 'csrf=' + encodeURIComponent(csrf)})).status""", csrf)
    assert status == 403
    # A post without the session's CSRF token is refused before anything is called.
    status = page.evaluate(
        """async () => (await fetch('/console/pipelines/watched/release', {method: 'POST',
            headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'csrf=forged'})).status""")
    assert status == 403
    assert len(sluice.client().list_pipeline_executions(pipelineName="watched")["pipelineExecutionSummaries"]) == 1

    # Sign out ends the session in the browser.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/console/signin$"))
    page.goto(sluice.endpoint + "/console/pipelines")
    assert "/console/signin" in page.url


def commands_pipeline(name, commands):
    p = demo_pipeline(name)
    p["stages"][1]["actions"][0]["commands"] = commands
    del p["stages"][2]
    return p


def test_retry_stop_delete_action_types_and_the_chain_from_the_browser(demo, browser):
    sluice = demo
    key_id, secret = sluice.credentials()
    page = sign_in(browser, sluice, key_id, secret)
    cp = sluice.client()

    # Retry: a build that fails runs again in the same execution.
    cp.create_pipeline(pipeline=commands_pipeline("flaky", ["exit 3"]))
    page.goto(sluice.endpoint + "/console/pipelines/flaky")
    stage(page, "Build").locator("header .status.failed").wait_for()
    stage(page, "Build").get_by_role("button", name="Retry").click()
    deadline = time.time() + 30
    while True:
        attempts = cp.list_action_executions(pipelineName="flaky")["actionExecutionDetails"]
        if len([a for a in attempts if a["stageName"] == "Build" and a["status"] == "Failed"]) == 2:
            break
        assert time.time() < deadline, attempts
        time.sleep(0.2)

    # Stop execution: stop and abandon a long build.
    cp.create_pipeline(pipeline=commands_pipeline("slow", ["sleep 60"]))
    page.goto(sluice.endpoint + "/console/pipelines/slow")
    stage(page, "Build").locator("header .status.running").wait_for()
    page.get_by_role("button", name="Stop execution").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Stop and abandon").check()
    dialog.get_by_label("Comments (optional)").fill("Not this one")
    dialog.get_by_role("button", name="Stop", exact=True).click()
    stage(page, "Build").locator("header .status.muted").wait_for()
    run = cp.list_pipeline_executions(pipelineName="slow")["pipelineExecutionSummaries"][0]
    assert run["status"] in ("Stopped", "Stopping"), run

    # Delete pipeline: asks for the name.
    page.get_by_role("button", name="Delete pipeline").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Pipeline name").fill("slow")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/pipelines$"))
    assert "slow" not in [p["name"] for p in cp.list_pipelines()["pipelines"]]

    # Custom action types: create, see, delete.
    page.get_by_role("link", name="Action types").click()
    page.get_by_label("Category").select_option("Test")
    page.get_by_label("Provider").fill("Lint")
    page.get_by_role("button", name="Create").click()
    row = page.locator("table.types tr", has_text="Lint")
    row.wait_for()
    assert any(t["id"]["provider"] == "Lint" for t in cp.list_action_types(actionOwnerFilter="Custom")["actionTypes"])
    row.get_by_role("button", name="Delete").click()
    page.locator("table.types").wait_for()
    assert page.locator("table.types tr", has_text="Lint").count() == 0

    # The audit trail: look up this session's calls, and verify the chain.
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_label("Lookup attribute").select_option("EventName")
    page.get_by_label("Value").fill("DeletePipeline")
    page.get_by_role("button", name="Look up").click()
    page.locator("table.audit").get_by_text("DeletePipeline").first.wait_for()
    page.get_by_role("button", name="Verify chain").click()
    page.get_by_text("The chain is intact").wait_for()
    shot(page, "audit-trail")
