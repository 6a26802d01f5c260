"""Notifications and events: an approval's SNS notification reaches a local HTTP subscriber,
whose signature verifies against the certificate at SigningCertURL, and whose token approves
the action; an EventBridge rule routes the pipeline's state changes to that subscriber; and a
`kill -9` while deliveries are in flight loses none of them. Driven by the aws CLI and boto3."""

import base64
import http.server
import json
import threading
import time
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import Sluice

ROLE = "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service"
STORE = {"type": "S3", "location": "codepipeline-us-east-1-111111111111"}
S3_SOURCE = {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}
APPROVAL = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}


def wait_until(predicate, timeout=60, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} never held")


class Subscriber:
    """An HTTP endpoint that records what SNS posts to it. `hold` makes it take requests
    without answering them (a delivery in flight); `fail` answers 500 that many times."""

    def __init__(self):
        self.received = []
        self.hold = threading.Event()
        self.fail = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.received.append((dict(self.headers), json.loads(body)))
                    failing = outer.fail > 0
                    if failing:
                        outer.fail -= 1
                if outer.hold.is_set():
                    time.sleep(3600)
                    return
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self, kind=None):
        with self.lock:
            return [m for _, m in self.received if kind is None or m.get("Type") == kind]

    def close(self):
        self.server.shutdown()


SIGNED = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
    "UnsubscribeConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
}


def verify(sluice, message):
    """Verifies a message the way SNS's validators do, trusting this server's URL for the
    certificate instead of sns.REGION.amazonaws.com."""
    url = message["SigningCertURL"]
    assert url.startswith(sluice.endpoint + "/"), url
    with urllib.request.urlopen(url) as r:
        certificate = x509.load_pem_x509_certificate(r.read())
    text = "".join(f"{k}\n{message[k]}\n" for k in SIGNED[message["Type"]] if k in message)
    digest = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    certificate.public_key().verify(
        base64.b64decode(message["Signature"]), text.encode(), padding.PKCS1v15(), digest)


def subscribed_topic(sluice, subscriber, name="approvals"):
    _, topic, _ = sluice.aws("sns", "create-topic", "--name", name)
    arn = topic["TopicArn"]
    _, sub, _ = sluice.aws("sns", "subscribe", "--topic-arn", arn, "--protocol", "http",
                           "--notification-endpoint", subscriber.url)
    assert sub["SubscriptionArn"] == "pending confirmation"
    confirmation = wait_until(lambda: subscriber.messages("SubscriptionConfirmation"), what="a confirmation request")[0]
    verify(sluice, confirmation)
    assert confirmation["TopicArn"] == arn
    # The subscriber visits SubscribeURL, unsigned, as SNS's documentation tells it to.
    with urllib.request.urlopen(confirmation["SubscribeURL"]) as r:
        assert r.status == 200
        assert b"<SubscriptionArn>" in r.read()
    _, subs, _ = sluice.aws("sns", "list-subscriptions-by-topic", "--topic-arn", arn)
    assert subs["Subscriptions"][0]["SubscriptionArn"].startswith(arn + ":"), subs
    return arn


def source_bucket(sluice, tmp_path):
    sluice.aws("s3", "mb", "s3://releases")
    sluice.aws("s3api", "put-bucket-versioning", "--bucket", "releases", "--versioning-configuration", "Status=Enabled")
    (tmp_path / "app.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    sluice.aws("s3", "cp", str(tmp_path / "app.zip"), "s3://releases/app.zip", "--only-show-errors")


def source_stage():
    return {"name": "Source", "actions": [{
        "name": "Source", "actionTypeId": S3_SOURCE,
        "configuration": {"S3Bucket": "releases", "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "MyApp"}]}]}


def test_an_approval_notification_verifies_and_its_token_approves(tmp_path):
    sluice = Sluice()
    sluice.start()
    subscriber = Subscriber()
    try:
        topic = subscribed_topic(sluice, subscriber)
        source_bucket(sluice, tmp_path)
        pipeline = {"pipeline": {
            "name": "MyFirstPipeline", "roleArn": ROLE, "artifactStore": STORE,
            "stages": [source_stage(), {"name": "MyApprovalStage", "actions": [{
                "name": "MyApprovalAction", "actionTypeId": APPROVAL,
                "configuration": {
                    "NotificationArn": topic,
                    "ExternalEntityLink": "http://example.com",
                    "CustomData": "Review the latest changes and approve or reject within seven days."}}]}],
        }}
        (tmp_path / "pipeline.json").write_text(json.dumps(pipeline))
        sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=tmp_path)

        notification = wait_until(lambda: subscriber.messages("Notification"), what="the approval notification")[0]
        verify(sluice, notification)
        assert notification["Subject"] == "APPROVAL NEEDED: AWS CodePipeline MyFirstPipeline for action MyApprovalAction"
        assert notification["UnsubscribeURL"].startswith(sluice.endpoint + "/?Action=Unsubscribe")
        body = json.loads(notification["Message"])
        assert body["region"] == "us-east-1"
        assert body["consoleLink"] == f"{sluice.endpoint}/console/pipelines/MyFirstPipeline"
        approval = body["approval"]
        assert approval["pipelineName"] == "MyFirstPipeline"
        assert approval["stageName"] == "MyApprovalStage"
        assert approval["actionName"] == "MyApprovalAction"
        assert approval["externalEntityLink"] == "http://example.com"
        assert approval["customData"].startswith("Review the latest changes")
        assert len(approval["expires"]) == len("2016-07-07T20:22Z")

        # The guide's put-approval-result, with the token from the message.
        (tmp_path / "approved.json").write_text(json.dumps({
            "pipelineName": "MyFirstPipeline", "stageName": "MyApprovalStage",
            "actionName": "MyApprovalAction", "token": approval["token"],
            "result": {"summary": "The new design looks good. Ready to release to customers.", "status": "Approved"},
        }))
        _, approved, _ = sluice.aws("codepipeline", "put-approval-result", "--cli-input-json",
                                    "file://approved.json", cwd=tmp_path)
        assert "approvedAt" in approved

        def succeeded():
            _, runs, _ = sluice.aws("codepipeline", "list-pipeline-executions", "--pipeline-name", "MyFirstPipeline")
            return runs["pipelineExecutionSummaries"][0]["status"] == "Succeeded"
        wait_until(succeeded, what="the pipeline to succeed")
    finally:
        subscriber.close()
        sluice.stop()


def test_a_rule_routes_pipeline_state_changes_to_the_subscriber(tmp_path):
    sluice = Sluice()
    sluice.start()
    subscriber = Subscriber()
    try:
        topic = subscribed_topic(sluice, subscriber, "pipeline-events")
        pattern = {"source": ["aws.codepipeline"],
                   "detail-type": ["CodePipeline Pipeline Execution State Change"],
                   "detail": {"state": ["STARTED", "SUCCEEDED", "FAILED"]}}
        _, rule, _ = sluice.aws("events", "put-rule", "--name", "pipeline-states",
                                "--event-pattern", json.dumps(pattern))
        assert rule["RuleArn"] == "arn:aws:events:us-east-1:111111111111:rule/pipeline-states"
        _, put, _ = sluice.aws("events", "put-targets", "--rule", "pipeline-states",
                               "--targets", json.dumps([{"Id": "subscriber", "Arn": topic}]))
        assert put["FailedEntryCount"] == 0
        events = sluice.client("events")
        assert events.describe_rule(Name="pipeline-states")["State"] == "ENABLED"
        assert events.list_targets_by_rule(Rule="pipeline-states")["Targets"][0]["Arn"] == topic

        source_bucket(sluice, tmp_path)
        pipeline = {"pipeline": {"name": "Watched", "roleArn": ROLE, "artifactStore": STORE,
                                 "stages": [source_stage(), {"name": "Approve", "actions": [{
                                     "name": "Gate", "actionTypeId": APPROVAL}]}]}}
        (tmp_path / "pipeline.json").write_text(json.dumps(pipeline))
        sluice.aws("codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json", cwd=tmp_path)

        def states():
            return [json.loads(m["Message"]) for m in subscriber.messages("Notification")]
        started = wait_until(states, what="a STARTED event")[0]
        verify(sluice, subscriber.messages("Notification")[0])
        assert started["source"] == "aws.codepipeline"
        assert started["detail-type"] == "CodePipeline Pipeline Execution State Change"
        assert started["detail"]["state"] == "STARTED"
        assert started["detail"]["pipeline"] == "Watched"
        assert started["detail"]["execution-trigger"]["trigger-type"] == "CreatePipeline"
        assert started["resources"] == ["arn:aws:codepipeline:us-east-1:111111111111:Watched"]

        cp = sluice.client("codepipeline")
        token = wait_until(lambda: next((a.get("latestExecution", {}).get("token")
                                         for s in cp.get_pipeline_state(name="Watched")["stageStates"]
                                         if s["stageName"] == "Approve" for a in s["actionStates"]), None),
                           what="the approval to wait")
        cp.put_approval_result(pipelineName="Watched", stageName="Approve", actionName="Gate",
                               result={"summary": "ok", "status": "Approved"}, token=token)
        done = wait_until(lambda: [e for e in states() if e["detail"]["state"] == "SUCCEEDED"], what="a SUCCEEDED event")
        assert done[0]["detail"]["execution-id"] == started["detail"]["execution-id"]
        # Stage and action changes did not match the rule's pattern, so none were sent.
        assert {e["detail-type"] for e in states()} == {"CodePipeline Pipeline Execution State Change"}

        # Users' own events go through the same rules.
        r = events.put_events(Entries=[{"Source": "aws.codepipeline", "DetailType": "x", "Detail": "{}"}])
        assert r["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"
        assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(started))["Result"]
    finally:
        subscriber.close()
        sluice.stop()


def test_kill9_while_deliveries_are_in_flight_loses_nothing():
    sluice = Sluice()
    sluice.start()
    subscriber = Subscriber()
    try:
        topic = subscribed_topic(sluice, subscriber, "durable")
        sns = sluice.client("sns")
        subscriber.hold.set()
        ids = [sns.publish(TopicArn=topic, Message=f"release {i}", Subject="Release")["MessageId"] for i in range(20)]
        # Deliveries are in flight (the subscriber has taken them and not answered) when the
        # server dies.
        wait_until(lambda: len(subscriber.messages("Notification")) >= 1, what="a delivery in flight")
        sluice.kill9()
        subscriber.hold.clear()
        sluice.start()

        def all_arrived():
            seen = {m["MessageId"] for m in subscriber.messages("Notification")}
            return set(ids) <= seen
        wait_until(all_arrived, what="every message to arrive after the restart")
        for message in subscriber.messages("Notification"):
            verify(sluice, message)
    finally:
        subscriber.close()
        sluice.stop()


def test_a_failed_delivery_is_retried_and_topics_answer_as_sns_does():
    sluice = Sluice()
    sluice.start()
    subscriber = Subscriber()
    try:
        topic = subscribed_topic(sluice, subscriber, "retries")
        sns = sluice.client("sns")
        subscriber.fail = 1
        sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
        message_id = sns.publish(TopicArn=topic, Message=json.dumps({"default": "plain", "http": "for http"}),
                                 MessageStructure="json",
                                 MessageAttributes={"team": {"DataType": "String", "StringValue": "web"}})["MessageId"]

        def delivered():
            got = [m for m in subscriber.messages("Notification") if m["MessageId"] == message_id]
            return got if len(got) >= 2 else None
        first, second = wait_until(delivered, what="the retry")
        assert first == second, "a retry sends the same signed message"
        assert second["Message"] == "for http"
        assert second["SignatureVersion"] == "2"
        assert second["MessageAttributes"] == {"team": {"Type": "String", "Value": "web"}}
        verify(sluice, second)

        attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
        assert attributes["SubscriptionsConfirmed"] == "1"
        assert attributes["SignatureVersion"] == "2"
        assert sns.list_topics()["Topics"] == [{"TopicArn": topic}]
        tagged = sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "web"}])["TopicArn"]
        assert sns.list_tags_for_resource(ResourceArn=tagged)["Tags"] == [{"Key": "team", "Value": "web"}]
        sns.delete_topic(TopicArn=tagged)
        try:
            sns.publish(TopicArn=topic + "-missing", Message="x")
            raise AssertionError("publishing to a missing topic succeeded")
        except sns.exceptions.NotFoundException as e:
            assert e.response["Error"]["Message"] == "Topic does not exist"
        try:
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:111111111111:q")
            raise AssertionError("an sqs subscription was accepted")
        except sns.exceptions.InvalidParameterException as e:
            assert "sqs" in e.response["Error"]["Message"]

        # The message's UnsubscribeURL ends the subscription, unsigned.
        with urllib.request.urlopen(second["UnsubscribeURL"]) as r:
            assert r.status == 200
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
        sns.delete_topic(TopicArn=topic)
        assert sns.list_topics()["Topics"] == []
    finally:
        subscriber.close()
        sluice.stop()


class SmtpSink:
    """A minimal SMTP relay that keeps what it is given."""

    def __init__(self):
        import socket
        self.mails = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 sink ready\r\n")
        envelope = {}
        while True:
            line = f.readline().decode()
            if not line:
                return
            verb = line[:4].upper()
            if verb == "DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = []
                while True:
                    l = f.readline().decode()
                    if l == ".\r\n":
                        break
                    data.append(l[1:] if l.startswith("..") else l)
                envelope["data"] = "".join(data)
                self.mails.append(dict(envelope))
                conn.sendall(b"250 queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                conn.close()
                return
            else:
                if verb == "RCPT":
                    envelope["to"] = line.split("<")[1].split(">")[0]
                conn.sendall(b"250-sink\r\n250 ok\r\n" if verb == "EHLO" else b"250 ok\r\n")


def test_email_subscribers_confirm_by_link_and_get_messages_through_the_relay():
    sink = SmtpSink()
    sluice = Sluice(config=f'[notifications]\nsmtp_relay = "{sink.address}"\nsmtp_from = "ci@example.com"\n')
    sluice.start()
    try:
        sns = sluice.client("sns")
        topic = sns.create_topic(Name="mail", Attributes={"DisplayName": "Releases"})["TopicArn"]
        assert sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"] == "pending confirmation"
        confirmation = wait_until(lambda: sink.mails, what="the confirmation email")[0]
        assert confirmation["to"] == "ops@example.com"
        assert "Subject: AWS Notification - Subscription Confirmation" in confirmation["data"]
        assert 'From: "Releases" <ci@example.com>' in confirmation["data"]
        link = next(l for l in confirmation["data"].splitlines() if l.startswith(sluice.endpoint + "/?Action=ConfirmSubscription"))
        with urllib.request.urlopen(link) as r:
            assert r.status == 200
        sns.publish(TopicArn=topic, Subject="Release 1.2", Message="It shipped.")
        mail = wait_until(lambda: sink.mails[1:], what="the notification email")[0]
        assert "Subject: Release 1.2" in mail["data"]
        assert "It shipped." in mail["data"]
        assert "?Action=Unsubscribe&SubscriptionArn=" in mail["data"]
        try:
            sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="not an address")
            raise AssertionError("a bad address was accepted")
        except sns.exceptions.InvalidParameterException:
            pass
    finally:
        sink.sock.close()
        sluice.stop()
