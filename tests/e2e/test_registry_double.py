"""Tests of the registry double (tests/registry_double/) itself: it stands in for Databricks and
MLflow in other tests, so its state, webhook formats, signatures and faults must be right.

Signatures are checked here with this file's own HMAC code, not the double's.
"""

import base64
import hashlib
import hmac
import http.client
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import DATA_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests"))
from registry_double.server import RegistryDouble  # noqa: E402
from registry_double.webhooks import sign_mlflow  # noqa: E402

TOKEN = "dapi-double-test-token"
HOOK_SECRET = "hook-secret-\u00e9"  # non-ASCII: the key is the UTF-8 bytes
CAPTURED_SECRET = "s3cr3t-for-test"  # the secret the captured MLflow webhook was created with
FAST_RETRIES = (0.0, 0.05, 0.05)


# --------------------------------------------------------------------------------------------
# Helpers: a webhook receiver and a small JSON client
# --------------------------------------------------------------------------------------------

class Receiver:
    """A local HTTP server that records every POST (path, headers in order, raw body) and
    answers the statuses queued in `answers` (200 once they run out)."""

    def __init__(self):
        self.requests = []
        self.answers = []
        self.cond = threading.Condition()
        receiver = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.cond:
                    receiver.requests.append({"path": self.path, "headers": self.headers.items(),
                                              "body": body})
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.cond.notify_all()
                reply = b"OK" if status < 400 else b"nope"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def wait(self, count, timeout=5.0):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} of {count} webhook requests arrived")
            return list(self.requests)

    def quiet(self, seconds=0.3):
        """The requests after `seconds` of waiting (to check that nothing more arrives)."""
        time.sleep(seconds)
        with self.cond:
            return list(self.requests)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def header(req, name):
    return next((v for k, v in req["headers"] if k.lower() == name.lower()), None)


def databricks_signature(secret, body):
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def mlflow_signature(secret, delivery_id, timestamp, body):
    mac = hmac.new(secret.encode("utf-8"), f"{delivery_id}.{timestamp}.".encode() + body,
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class Client:
    def __init__(self, double, token=TOKEN):
        self.port = double.port
        self.token = token

    def call(self, method, path, body=None, query=None, token="default", headers=None):
        token = self.token if token == "default" else token
        if not path.startswith("/_double"):
            path = "/api/2.0/mlflow/" + path
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.getheaders())
        finally:
            conn.close()

    def ok(self, method, path, body=None, query=None):
        status, obj, _ = self.call(method, path, body, query)
        assert status == 200, (method, path, status, obj)
        return obj


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_double():
    doubles = []

    def make(**kw):
        kw.setdefault("mlflow_retry_delays", FAST_RETRIES)
        d = RegistryDouble(**kw).start()
        doubles.append(d)
        return d, Client(d, kw.get("token"))

    yield make
    for d in doubles:
        d.stop()


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def test_command_line_banner_and_dialect():
    script = REPO_ROOT / "tests" / "registry_double" / "server.py"
    proc = subprocess.Popen([sys.executable, str(script), "--port", "0", "--dialect", "mlflow"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().rstrip("\n")
        m = re.fullmatch(r"registry-double listening on http://127\.0\.0\.1:(\d+)", line)
        assert m, line
        port = int(m.group(1))
        assert port != 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/2.0/mlflow/transition-requests/list?name=a&version=1")
        r = conn.getresponse()
        assert r.status == 404  # a Databricks-only endpoint in the mlflow dialect
        assert json.loads(r.read())["error_code"] == "ENDPOINT_NOT_FOUND"
        conn.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


# --------------------------------------------------------------------------------------------
# Databricks
# --------------------------------------------------------------------------------------------

def test_databricks_transition_request_flow(make_double, receiver):
    double, c = make_double(dialect="databricks", token=TOKEN)
    c.ok("POST", "registered-models/create", {"name": "churn"})
    hook = c.ok("POST", "registry-webhooks/create", {
        "model_name": "churn", "description": "ci",
        "events": ["TRANSITION_REQUEST_CREATED", "MODEL_VERSION_TRANSITIONED_STAGE",
                   "COMMENT_CREATED", "MODEL_VERSION_CREATED", "MODEL_VERSION_TAG_SET"],
        "http_url_spec": {"url": receiver.url, "secret": HOOK_SECRET,
                          "authorization": "Bearer for-stagegate"}})["webhook"]
    assert re.fullmatch(r"[0-9a-f]{32}", hook["id"])
    assert hook["status"] == "ACTIVE"
    assert hook["http_url_spec"] == {"url": receiver.url, "enable_ssl_verification": True}
    listed = c.ok("GET", "registry-webhooks/list", query={"model_name": "churn"})["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert HOOK_SECRET not in json.dumps(listed) and "for-stagegate" not in json.dumps(listed)

    version = c.ok("POST", "model-versions/create",
                   {"name": "churn", "source": "dbfs:/m/1", "run_id": "r1"})["model_version"]
    receiver.wait(1)
    assert version["version"] == "1" and version["current_stage"] == "None"
    request = c.ok("POST", "transition-requests/create",
                   {"name": "churn", "version": "1", "stage": "Production",
                    "comment": "please"})["request"]
    assert request["to_stage"] == "Production" and "APPROVE_TRANSITION_REQUEST" in \
        request["available_actions"]

    got = receiver.wait(2)
    for req in got:
        assert req["path"] == "/hook"
        assert header(req, "X-Databricks-Signature") == databricks_signature(HOOK_SECRET,
                                                                             req["body"])
        assert header(req, "Authorization") == "Bearer for-stagegate"
        assert header(req, "Content-Type") == "application/json"
    created, requested = (json.loads(r["body"]) for r in got)
    assert created["event"] == "MODEL_VERSION_CREATED" and created["version"] == "1"
    assert list(requested) == ["event", "webhook_id", "event_timestamp", "model_name",
                               "version", "to_stage", "from_stage", "text"]
    assert requested["event"] == "TRANSITION_REQUEST_CREATED"
    assert requested["webhook_id"] == hook["id"]
    assert (requested["model_name"], requested["version"]) == ("churn", "1")
    assert (requested["from_stage"], requested["to_stage"]) == ("None", "Production")
    assert abs(requested["event_timestamp"] - time.time() * 1000) < 10000

    open_ = c.ok("GET", "transition-requests/list", query={"name": "churn", "version": "1"})
    assert [r["activity_type"] for r in open_["requests"]] == ["REQUESTED_TRANSITION"]

    activity = c.ok("POST", "transition-requests/approve", {
        "name": "churn", "version": "1", "stage": "Production",
        "archive_existing_versions": True, "comment": "metrics beat the champion"})["activity"]
    assert activity["activity_type"] == "APPROVED_REQUEST"
    assert (activity["from_stage"], activity["to_stage"]) == ("None", "Production")
    assert activity["comment"] == "metrics beat the champion"
    assert c.ok("GET", "model-versions/get",
                query={"name": "churn", "version": "1"})["model_version"]["current_stage"] \
        == "Production"
    assert c.ok("GET", "transition-requests/list", query={"name": "churn", "version": "1"}) == {}
    moved = json.loads(receiver.wait(3)[2]["body"])
    assert moved["event"] == "MODEL_VERSION_TRANSITIONED_STAGE"
    assert moved["text"] == ("Registered model 'churn' version 1 transitioned from None "
                             "to Production.")
    # Approving again: the request is closed.
    status, err, _ = c.call("POST", "transition-requests/approve", {
        "name": "churn", "version": "1", "stage": "Production",
        "archive_existing_versions": True})
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    comment = c.ok("POST", "comments/create", {"name": "churn", "version": "1",
                                               "comment": "stagegate: passed"})["comment"]
    assert [x["comment"] for x in double.registry.list_comments("churn", "1")] == \
        ["stagegate: passed"]
    assert comment["available_actions"] == ["EDIT_COMMENT", "DELETE_COMMENT"]
    commented = json.loads(receiver.wait(4)[3]["body"])
    assert (commented["event"], commented["comment"]) == ("COMMENT_CREATED", "stagegate: passed")

    c.ok("POST", "model-versions/set-tag", {"name": "churn", "version": "1", "key": "ci",
                                            "value": "passed"})
    tagged = json.loads(receiver.wait(5)[4]["body"])
    assert tagged["tags"] == [{"key": "ci", "value": "passed"}]

    # A second version approved with archive_existing_versions archives the first.
    c.ok("POST", "model-versions/create", {"name": "churn", "source": "dbfs:/m/2"})
    c.ok("POST", "transition-requests/create", {"name": "churn", "version": "2",
                                                "stage": "Production"})
    c.ok("POST", "transition-requests/approve", {"name": "churn", "version": "2",
                                                 "stage": "Production",
                                                 "archive_existing_versions": True})
    latest = c.ok("GET", "registered-models/get-latest-versions",
                  query={"name": "churn", "stages": ["Production", "Archived"]})
    assert [(v["version"], v["current_stage"]) for v in latest["model_versions"]] == \
        [("2", "Production"), ("1", "Archived")]
    events = [json.loads(r["body"]) for r in receiver.wait(9)[5:]]
    # Deliveries run concurrently (as MLflow's thread pool does): order within a burst varies.
    assert sorted((e["event"], e["version"], e.get("to_stage") or "") for e in events) == [
        ("MODEL_VERSION_CREATED", "2", ""),
        ("MODEL_VERSION_TRANSITIONED_STAGE", "1", "Archived"),
        ("MODEL_VERSION_TRANSITIONED_STAGE", "2", "Production"),
        ("TRANSITION_REQUEST_CREATED", "2", "Production")]
    assert len(double.calls("/api/2.0/mlflow/transition-requests/approve")) == 3
    assert [c_["status"] for c_ in double.calls("/api/2.0/mlflow/transition-requests/approve")] \
        == [200, 404, 200]


def test_databricks_reject_transition_stage_and_runs(make_double):
    double, c = make_double(dialect="databricks", token=TOKEN)
    double.registry.create_model("m")
    run_id = double.registry.add_run(metrics=[
        {"key": "auc", "value": 0.7, "timestamp": 1000}, {"key": "auc", "value": 0.9,
                                                          "timestamp": 2000},
        {"key": "f1", "value": 0.5, "timestamp": 10}], params={"lr": "0.1"})
    double.registry.create_version("m", "dbfs:/x", run_id=run_id)
    c.ok("POST", "transition-requests/create", {"name": "m", "version": "1", "stage": "Staging"})
    act = c.ok("POST", "transition-requests/reject", {"name": "m", "version": "1",
                                                      "stage": "Staging", "comment": "no"})
    assert act["activity"]["activity_type"] == "REJECTED_REQUEST"
    v = c.ok("GET", "model-versions/get", query={"name": "m", "version": "1"})["model_version"]
    assert v["current_stage"] == "None" and v["run_id"] == run_id
    out = c.ok("POST", "databricks/model-versions/transition-stage", {
        "name": "m", "version": "1", "stage": "staging", "archive_existing_versions": False})
    assert out["model_version_databricks"]["current_stage"] == "Staging"
    run = c.ok("GET", "runs/get", query={"run_id": run_id})["run"]
    assert run["info"]["run_id"] == run_id
    assert sorted((m["key"], m["value"]) for m in run["data"]["metrics"]) == [("auc", 0.9),
                                                                             ("f1", 0.5)]
    assert run["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    model = c.ok("GET", "databricks/registered-models/get",
                 query={"name": "m"})["registered_model_databricks"]
    assert [v["current_stage"] for v in model["latest_versions"]] == ["Staging"]


def test_databricks_webhook_management(make_double, receiver):
    double, c = make_double(dialect="databricks", token=TOKEN)
    double.registry.create_model("m")
    hook = c.ok("POST", "registry-webhooks/create", {
        "model_name": "m", "events": ["MODEL_VERSION_CREATED"], "status": "TEST_MODE",
        "http_url_spec": {"url": receiver.url, "secret": HOOK_SECRET}})["webhook"]
    double.registry.create_version("m", "s")
    assert receiver.quiet(0.2) == []  # TEST_MODE fires only through the test endpoint

    tested = c.ok("POST", "registry-webhooks/test", {"id": hook["id"]})
    assert tested == {"status_code": 200, "body": "OK"}
    req = receiver.wait(1)[0]
    assert json.loads(req["body"])["event"] == "MODEL_VERSION_CREATED"
    assert header(req, "X-Databricks-Signature") == databricks_signature(HOOK_SECRET,
                                                                         req["body"])
    assert header(req, "Authorization") is None

    updated = c.ok("PATCH", "registry-webhooks/update",
                   {"id": hook["id"], "status": "ACTIVE",
                    "events": ["MODEL_VERSION_CREATED", "MODEL_VERSION_TRANSITIONED_TO_STAGING"]})
    assert updated["webhook"]["status"] == "ACTIVE"
    double.registry.transition_stage("m", "1", "Staging", False)
    body = json.loads(receiver.wait(2)[1]["body"])
    assert body["event"] == "MODEL_VERSION_TRANSITIONED_TO_STAGING"

    # A registry-wide webhook for REGISTERED_MODEL_CREATED; refused on a model webhook.
    status, err, _ = c.call("POST", "registry-webhooks/create", {
        "model_name": "m", "events": ["REGISTERED_MODEL_CREATED"],
        "http_url_spec": {"url": receiver.url}})
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE"
    c.ok("POST", "registry-webhooks/create", {"events": ["REGISTERED_MODEL_CREATED"],
                                              "http_url_spec": {"url": receiver.url}})
    double.registry.create_model("other")
    body = json.loads(receiver.wait(3)[2]["body"])
    assert body["event"] == "REGISTERED_MODEL_CREATED" and "version" not in body
    assert header(receiver.requests[2], "X-Databricks-Signature") is None  # no secret

    assert c.ok("DELETE", "registry-webhooks/delete", query={"id": hook["id"]}) == {}
    status, err, _ = c.call("DELETE", "registry-webhooks/delete", query={"id": hook["id"]})
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert len(c.ok("GET", "registry-webhooks/list")["webhooks"]) == 1


# --------------------------------------------------------------------------------------------
# MLflow
# --------------------------------------------------------------------------------------------

def test_mlflow_flow(make_double, receiver):
    double, c = make_double(dialect="mlflow")
    hook = c.ok("POST", "webhooks", {
        "name": "ci", "url": receiver.url, "secret": HOOK_SECRET,
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}, "model_version_alias.created",
                   "model_version_tag.set", "model_version_tag.deleted"]})["webhook"]
    assert "secret" not in hook and hook["status"] == "ACTIVE"
    assert c.ok("GET", f"webhooks/{hook['webhook_id']}")["webhook"] == hook

    c.ok("POST", "registered-models/create", {"name": "fraud"})
    run_id = double.registry.add_run(metrics={"auc": 0.91})
    v = c.ok("POST", "model-versions/create", {"name": "fraud", "source": "s3://b/1",
                                               "run_id": run_id})["model_version"]
    req = receiver.wait(1)[0]
    delivery_id, ts = header(req, "X-MLflow-Delivery-Id"), header(req, "X-MLflow-Timestamp")
    assert re.fullmatch(r"[0-9a-f-]{36}", delivery_id)
    assert abs(int(ts) - time.time()) < 10
    assert header(req, "X-MLflow-Signature") == mlflow_signature(HOOK_SECRET, delivery_id, ts,
                                                                 req["body"])
    assert header(req, "Content-Type") == "application/json"
    body = json.loads(req["body"])
    assert list(body) == ["entity", "action", "timestamp", "data"]
    assert (body["entity"], body["action"]) == ("model_version", "created")
    assert body["data"] == {"name": "fraud", "version": v["version"], "source": "s3://b/1",
                            "run_id": run_id, "tags": {}, "description": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", body["timestamp"])

    c.ok("POST", "registered-models/alias", {"name": "fraud", "alias": "champion",
                                             "version": "1"})
    got = c.ok("GET", "registered-models/alias", query={"name": "fraud", "alias": "champion"})
    assert got["model_version"]["version"] == "1"
    assert got["model_version"]["aliases"] == ["champion"]
    assert json.loads(receiver.wait(2)[1]["body"])["data"] == {"name": "fraud",
                                                               "alias": "champion",
                                                               "version": "1"}
    status, err, _ = c.call("POST", "registered-models/alias",
                            {"name": "fraud", "alias": "latest", "version": "1"})
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE"

    c.ok("POST", "model-versions/set-tag", {"name": "fraud", "version": "1",
                                            "key": "ci.verdict", "value": "passed"})
    receiver.wait(3)
    found = c.ok("GET", "model-versions/search",
                 query={"filter": "name='fraud' and tags.`ci.verdict`='passed'"})
    assert [x["version"] for x in found["model_versions"]] == ["1"]
    assert c.ok("GET", "model-versions/search",
                query={"filter": "tags.`ci.verdict`='failed'"}) == {}
    c.ok("DELETE", "model-versions/delete-tag", {"name": "fraud", "version": "1",
                                                 "key": "ci.verdict"})
    v = c.ok("GET", "model-versions/get", query={"name": "fraud", "version": "1"})
    assert "tags" not in v["model_version"]
    c.ok("DELETE", "registered-models/alias", {"name": "fraud", "alias": "champion"})
    status, err, _ = c.call("GET", "registered-models/alias",
                            query={"name": "fraud", "alias": "champion"})
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    events = [(json.loads(r["body"])["entity"], json.loads(r["body"])["action"])
              for r in receiver.wait(4)]
    assert events == [("model_version", "created"), ("model_version_alias", "created"),
                      ("model_version_tag", "set"), ("model_version_tag", "deleted")]
    # alias deleted is not subscribed: nothing more arrives.
    assert len(receiver.quiet(0.2)) == 4

    run = c.ok("GET", "runs/get", query={"run_id": run_id})["run"]
    assert run["data"]["metrics"][0]["key"] == "auc"

    # Management: test, disable, delete.
    result = c.ok("POST", f"webhooks/{hook['webhook_id']}/test", {})["result"]
    assert result["success"] is True and result["response_status"] == 200
    assert json.loads(receiver.wait(5)[4]["body"])["data"]["name"] == "example_model"
    c.ok("PATCH", f"webhooks/{hook['webhook_id']}", {"status": "DISABLED"})
    c.ok("POST", "model-versions/set-tag", {"name": "fraud", "version": "1", "key": "k",
                                            "value": "v"})
    assert len(receiver.quiet(0.2)) == 5
    c.ok("DELETE", f"webhooks/{hook['webhook_id']}")
    assert c.ok("GET", "webhooks") == {}
    status, err, _ = c.call("GET", f"webhooks/{hook['webhook_id']}")
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_mlflow_deliveries_are_byte_compatible_with_captured(make_double, receiver):
    with open(DATA_DIR / "mlflow-captured-requests.jsonl", encoding="utf-8") as f:
        captured = [json.loads(line) for line in f if line.strip()]
    assert len(captured) == 6
    double, c = make_double(dialect="mlflow")
    c.ok("POST", "webhooks", {"name": "cap", "url": receiver.url, "secret": CAPTURED_SECRET,
                              "events": ["registered_model.created", "model_version.created",
                                         "model_version_alias.created",
                                         "model_version_tag.set", "model_version_tag.deleted",
                                         "model_version_alias.deleted"]})
    # The same actions, in the same order, as the session that produced the capture.
    c.ok("POST", "registered-models/create", {"name": "fraud-model", "description":
                                              "Fraud detector",
                                              "tags": [{"key": "team", "value": "risk"}]})
    receiver.wait(1)
    c.ok("POST", "model-versions/create", {"name": "fraud-model", "source": "s3://bucket/fraud/1",
                                           "description": "first",
                                           "tags": [{"key": "stage", "value": "candidate"}]})
    receiver.wait(2)
    c.ok("POST", "registered-models/alias", {"name": "fraud-model", "alias": "champion",
                                             "version": "1"})
    receiver.wait(3)
    c.ok("POST", "model-versions/set-tag", {"name": "fraud-model", "version": "1",
                                            "key": "validation_status", "value": "approved"})
    receiver.wait(4)
    c.ok("DELETE", "model-versions/delete-tag", {"name": "fraud-model", "version": "1",
                                                 "key": "validation_status"})
    receiver.wait(5)
    c.ok("DELETE", "registered-models/alias", {"name": "fraud-model", "alias": "champion"})
    sent = receiver.wait(6)

    for ours, theirs in zip(sent, captured):
        their_body = theirs["body"].encode("utf-8")
        their_ts = json.loads(their_body)["timestamp"]
        our_ts = json.loads(ours["body"])["timestamp"]
        # Only the send time differs: the bytes around it are identical.
        assert ours["body"].replace(our_ts.encode(), their_ts.encode()) == their_body
        assert len(our_ts) == len(their_ts) or not re.search(r"\.\d{6}", our_ts)
        # Same header names in the same order (Host aside).
        assert [k for k, _ in ours["headers"] if k != "Host"] == \
            [k for k, _ in theirs["headers"] if k != "Host"]
        for name in ("User-Agent", "Accept", "Accept-Encoding", "Content-Type"):
            assert header(ours, name) == header(theirs, name)
        # Our signature over our bytes, checked with this file's HMAC code.
        assert header(ours, "X-MLflow-Signature") == mlflow_signature(
            CAPTURED_SECRET, header(ours, "X-MLflow-Delivery-Id"),
            header(ours, "X-MLflow-Timestamp"), ours["body"])
        # The double's signing function reproduces the captured signature from the captured
        # id, timestamp and body.
        cap_id, cap_ts = header(theirs, "X-MLflow-Delivery-Id"), header(theirs,
                                                                        "X-MLflow-Timestamp")
        assert sign_mlflow(CAPTURED_SECRET, cap_id, cap_ts, their_body) == \
            header(theirs, "X-MLflow-Signature") == theirs["expected_signature"]


def test_mlflow_retries_resend_the_identical_request(make_double, receiver):
    double, c = make_double(dialect="mlflow")
    c.ok("POST", "webhooks", {"name": "r", "url": receiver.url, "secret": "s",
                              "events": ["model_version_tag.set"]})
    double.registry.create_model("m")
    double.registry.create_version("m", "src")
    receiver.answers = [503, 500, 200]
    double.registry.set_version_tag("m", "1", "k", "v")
    got = receiver.wait(3)
    assert len({(tuple(r["headers"]), r["body"]) for r in got}) == 1
    assert len(receiver.quiet(0.2)) == 3
    # A 4xx is final; 503 four times exhausts the three retries.
    receiver.answers = [404, 503, 503, 503, 503]
    double.registry.set_version_tag("m", "1", "k", "v2")
    double.webhooks.wait_idle()
    double.registry.set_version_tag("m", "1", "k", "v3")
    double.webhooks.wait_idle()
    assert len(receiver.requests) == 3 + 1 + 4
    attempts = [len(d["attempts"]) for d in double.deliveries()]
    assert attempts == [3, 1, 4]


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------

def test_fault_fail_next_calls_changes_nothing(make_double):
    double, c = make_double(dialect="databricks", token=TOKEN)
    double.registry.create_model("m")
    double.registry.create_version("m", "s")
    double.registry.create_transition_request("m", "1", "Production")
    path = "/api/2.0/mlflow/transition-requests/approve"
    double.faults.fail(path, status=503, count=2)
    body = {"name": "m", "version": "1", "stage": "Production",
            "archive_existing_versions": False}
    for _ in range(2):
        status, err, _ = c.call("POST", "transition-requests/approve", body)
        assert status == 503 and err["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert double.registry.version_json("m", "1")["current_stage"] == "None"
    assert c.call("GET", "model-versions/get", query={"name": "m", "version": "1"})[0] == 200
    c.ok("POST", "transition-requests/approve", body)
    assert double.registry.version_json("m", "1")["current_stage"] == "Production"
    assert [x["status"] for x in double.calls(path)] == [503, 503, 200]

    # Through the control endpoint, with a 429 and Retry-After, for any path by prefix.
    status, _, _ = c.call("POST", "/_double/faults", {"kind": "fail", "path": "/api/2.0/*",
                                                      "status": 429, "count": 1,
                                                      "retry_after": 3})
    assert status == 200
    status, err, headers = c.call("GET", "model-versions/get",
                                  query={"name": "m", "version": "1"})
    assert status == 429 and err["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert headers["Retry-After"] == "3"
    assert c.call("GET", "model-versions/get", query={"name": "m", "version": "1"})[0] == 200
    status, err, _ = c.call("POST", "/_double/faults", {"kind": "explode"})
    assert status == 400


def test_fault_fail_for_a_time_window(make_double):
    double, c = make_double(dialect="mlflow")
    double.registry.create_model("m")
    c.call("POST", "/_double/faults", {"kind": "fail_for", "seconds": 0.4, "status": 500})
    status, err, _ = c.call("GET", "registered-models/get", query={"name": "m"})
    assert status == 500 and err == {"error_code": "INTERNAL_ERROR", "message": err["message"]}
    status, _, _ = c.call("POST", "registered-models/create", {"name": "n"})
    assert status == 500 and "n" not in double.registry.models
    time.sleep(0.5)
    assert c.call("GET", "registered-models/get", query={"name": "m"})[0] == 200
    assert c.call("GET", "/_double/faults")[1]["failures"] == []


def test_fault_latency(make_double):
    double, c = make_double(dialect="mlflow")
    double.registry.create_model("m")
    double.faults.add_latency(0.3, path="/api/2.0/mlflow/registered-models/get", count=1)
    t0 = time.monotonic()
    assert c.call("GET", "registered-models/get", query={"name": "m"})[0] == 200
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    assert c.call("GET", "registered-models/get", query={"name": "m"})[0] == 200
    assert time.monotonic() - t0 < 0.25
    c.call("POST", "/_double/faults", {"kind": "latency", "seconds": 0.2})
    t0 = time.monotonic()
    c.call("GET", "registered-models/get", query={"name": "m"})
    assert time.monotonic() - t0 >= 0.2
    c.call("DELETE", "/_double/faults")
    t0 = time.monotonic()
    c.call("GET", "registered-models/get", query={"name": "m"})
    assert time.monotonic() - t0 < 0.15


def test_fault_drop_and_duplicate_deliveries(make_double, receiver):
    double, c = make_double(dialect="both", token=TOKEN)
    c.ok("POST", "registry-webhooks/create", {"events": ["MODEL_VERSION_TAG_SET"],
                                              "http_url_spec": {"url": receiver.url,
                                                                "secret": HOOK_SECRET}})
    double.registry.create_model("m")
    double.registry.create_version("m", "s")
    c.call("POST", "/_double/faults", {"kind": "drop_deliveries", "count": 2})
    for value in ("a", "b", "c"):
        c.ok("POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "k",
                                                "value": value})
    got = receiver.wait(1)
    assert len(receiver.quiet(0.2)) == 1
    assert json.loads(got[0]["body"])["tags"] == [{"key": "k", "value": "c"}]
    assert double.registry.version_json("m", "1")["tags"] == [{"key": "k", "value": "c"}]
    assert [d["fault"] for d in double.deliveries()] == ["drop", "drop", None]

    double.faults.duplicate_deliveries(1)
    c.ok("POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "k",
                                            "value": "d"})
    c.ok("POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "k",
                                            "value": "e"})
    got = receiver.wait(4)
    assert len(receiver.quiet(0.2)) == 4
    bodies = [r["body"] for r in got[1:]]
    assert bodies.count(got[1]["body"]) == 2 or bodies.count(got[2]["body"]) == 2
    dup = next(b for b in bodies if bodies.count(b) == 2)
    assert json.loads(dup)["tags"][0]["value"] == "d"
    status, listed, _ = c.call("GET", "/_double/deliveries")
    assert [d["fault"] for d in listed["deliveries"]] == ["drop", "drop", None, "duplicate",
                                                          None]


def test_call_log(make_double):
    double, c = make_double(dialect="databricks", token=TOKEN)
    double.registry.create_model("m")
    c.call("POST", "model-versions/create", {"name": "m", "source": "s"})
    c.call("GET", "model-versions/get", query={"name": "m", "version": "1"}, token=None)
    status, log, _ = c.call("GET", "/_double/calls")
    assert status == 200
    calls = log["calls"]
    assert [(x["method"], x["path"], x["status"]) for x in calls] == [
        ("POST", "/api/2.0/mlflow/model-versions/create", 200),
        ("GET", "/api/2.0/mlflow/model-versions/get", 401)]
    assert calls[0]["body"] == {"name": "m", "source": "s"}
    assert calls[1]["query"] == {"name": ["m"], "version": ["1"]}
    assert c.call("GET", "/_double/calls", query={"method": "GET"})[1]["calls"][0]["status"] \
        == 401
    c.call("DELETE", "/_double/calls")
    assert double.calls() == []


# --------------------------------------------------------------------------------------------
# Errors and auth
# --------------------------------------------------------------------------------------------

def test_error_bodies(make_double):
    double, c = make_double(dialect="both", token=TOKEN)
    double.registry.create_model("m")
    double.registry.create_version("m", "s")
    cases = [
        ("GET", "registered-models/get", None, {"name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "model-versions/get", None, {"name": "m", "version": "7"}, 404,
         "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "model-versions/get", None, {"name": "nope", "version": "1"}, 404,
         "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "runs/get", None, {"run_id": "missing"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "model-versions/get", None, {"name": "m"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "transition-requests/create", {"name": "m", "version": "1", "stage": "Prod"},
         None, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "model-versions/transition-stage", {"name": "m", "version": "1",
                                                     "stage": "Staging"}, None, 400,
         "INVALID_PARAMETER_VALUE"),
        ("POST", "transition-requests/approve", {"name": "m", "version": "1",
                                                 "stage": "Staging",
                                                 "archive_existing_versions": False}, None, 404,
         "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "registered-models/create", {"name": "m"}, None, 400,
         "RESOURCE_ALREADY_EXISTS"),
        ("PATCH", "registry-webhooks/update", {"id": "0" * 32}, None, 404,
         "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "registry-webhooks/create", {"events": ["NOT_AN_EVENT"],
                                              "http_url_spec": {"url": "http://x"}}, None, 400,
         "INVALID_PARAMETER_VALUE"),
        ("POST", "webhooks", {"name": "w", "url": "http://x", "events": ["model_version.moved"]},
         None, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "no/such/endpoint", None, None, 404, "ENDPOINT_NOT_FOUND"),
    ]
    for method, path, body, query, want_status, want_code in cases:
        status, err, headers = c.call(method, path, body, query)
        assert (status, err["error_code"]) == (want_status, want_code), (path, err)
        assert set(err) == {"error_code", "message"} and err["message"]
        assert headers["Content-Type"] == "application/json"
    status, err, _ = c.call("POST", "registered-models/create", {"name": "x"},
                            headers={"Content-Type": "text/plain"})
    assert status == 400 and "x" not in double.registry.models
    status, err, _ = c.call("DELETE", "registered-models/alias", query={"name": "m"})
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE"


def test_auth_refusal(make_double):
    double, c = make_double(dialect="databricks", token=TOKEN)
    double.registry.create_model("m")
    for token in (None, "wrong"):
        status, err, _ = c.call("GET", "registered-models/get", query={"name": "m"},
                                token=token)
        assert status == 401 and err["error_code"] == "UNAUTHENTICATED", err
        status, _, _ = c.call("POST", "registered-models/create", {"name": "n"}, token=token)
        assert status == 401 and "n" not in double.registry.models
    status, err, _ = c.call("GET", "registered-models/get", query={"name": "m"},
                            headers={"Authorization": f"Basic {TOKEN}"}, token=None)
    assert status == 401
    assert c.call("GET", "registered-models/get", query={"name": "m"})[0] == 200
    assert c.call("GET", "/_double/state", token=None)[0] == 200  # control: no auth
    # Without a token configured nothing is checked.
    _, open_c = make_double(dialect="mlflow")
    assert open_c.call("GET", "webhooks", token=None)[0] == 200
