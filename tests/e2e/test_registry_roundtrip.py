"""The registry round trip, end to end: the registry double (tests/registry_double/) sends a
signed webhook, stagegate runs the pipeline, and the verdict goes back to the registry through
the outbox exactly once, whatever the registry or stagegate do in between.

Each test checks the double's own state and call log, not only stagegate's view of it.
"""

import re
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT, databricks_body, wait_for

sys.path.insert(0, str(REPO_ROOT / "tests"))
from registry_double.server import RegistryDouble  # noqa: E402

TOKEN = "dapi-roundtrip-token"
DBX_SECRET = "databricks-hook-secret"
MLF_SECRET = "mlflow-hook-secret"
API = "/api/2.0/mlflow"
FINISHED = {"succeeded", "failed", "cancelled", "skipped"}

DATABRICKS_GATE = """
name: promotion-gate
on:
  registry:
    events: [transition_request.created]
    to_stage: [Production]
tasks:
  test:
    run: |
      echo "running 12 model tests"
      echo "accuracy=0.934" >> "$STAGEGATE_OUTPUT"
      {fail}
  compare:
    needs: [test]
    run: echo "auc_delta=0.012" >> "$STAGEGATE_OUTPUT"
  approve:
    needs: [test, compare]
    uses: registry.approve_transition
  reject:
    needs: [test, compare]
    if: failure()
    uses: registry.reject_transition
"""

MLFLOW_GATE = """
name: mlflow-gate
on:
  registry:
    events: [model_version.created]
tasks:
  test:
    run: echo "accuracy=0.91" >> "$STAGEGATE_OUTPUT"
  tag:
    needs: [test]
    uses: registry.set_tag
    with:
      key: validation_status
      value: ${{ tasks.test.status == 'succeeded' && 'passed' || 'failed' }}
  promote:
    needs: [tag]
    uses: registry.set_alias
    with:
      alias: champion
"""


@pytest.fixture
def double():
    d = RegistryDouble(dialect="both", token=TOKEN, mlflow_retry_delays=(0.0, 0.2, 0.2)).start()
    yield d
    d.stop()


def serve(stagegate, double, dialect, pipeline, reconcile=None):
    endpoint = {"scheme": dialect, "registry": "primary",
                "secrets": ["env:SG_E2E_DBX_HOOK" if dialect == "databricks" else "env:SG_E2E_MLF_HOOK"]}
    config = {"pipelines": {"dir": "pipelines"},
              "runners": {"local": {"max_parallel": 4, "work_dir": "work"}},
              "registries": {"primary": {"dialect": dialect, "url": double.url,
                                         "token": "env:SG_E2E_REGISTRY_TOKEN", "timeout": "5s"}}}
    if reconcile:
        config["registries"]["primary"]["reconcile"] = reconcile
    server = stagegate({dialect: endpoint},
                       secrets={"env:SG_E2E_DBX_HOOK": DBX_SECRET, "env:SG_E2E_MLF_HOOK": MLF_SECRET,
                                "env:SG_E2E_REGISTRY_TOKEN": TOKEN},
                       extra=config, start=False)
    folder = server.workdir / "pipelines"
    folder.mkdir()
    (folder / "gate.yaml").write_text(textwrap.dedent(pipeline))
    server.start()
    hook_url = f"http://127.0.0.1:{server.port}/hooks/{dialect}"
    if dialect == "databricks":
        double.webhooks.create_databricks({"model_name": "churn",
                                           "events": ["TRANSITION_REQUEST_CREATED"],
                                           "http_url_spec": {"url": hook_url, "secret": DBX_SECRET}})
    else:
        double.webhooks.create_mlflow({"name": "stagegate", "url": hook_url, "secret": MLF_SECRET,
                                       "events": ["model_version.created"]})
    return server


def databricks_model(double, versions=2):
    double.registry.create_model("churn")
    for _ in range(versions):
        double.registry.create_version("churn", "dbfs:/models/churn")


def the_run(server, timeout=30.0):
    def finished():
        r = server.get("/api/v1/runs")
        assert r.status == 200, r
        runs = r.json()["runs"]
        if not runs:
            return None
        detail = server.get(f"/api/v1/runs/{runs[0]['id']}").json()
        return detail if detail["status"] in FINISHED else None
    return wait_for(finished, timeout, "the run to finish")


def task(run, task_id):
    return next(t for t in run["tasks"] if t["id"] == task_id)


def activities(double, version, kind):
    return [a for a in double.registry.activities.get(("churn", str(version)), [])
            if a["activity_type"] == kind]


def outbox(server, **query):
    r = server.get("/api/v1/outbox", **query)
    assert r.status == 200, r
    return r.json()["entries"]


def test_databricks_request_is_approved_once_with_evidence(stagegate, double):
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", ""))
    databricks_model(double)
    double.registry.create_transition_request("churn", "2", "Production", comment="ship it")

    run = the_run(server)
    assert run["status"] == "succeeded", run
    assert task(run, "approve")["state"] == "succeeded"
    assert task(run, "reject")["state"] == "skipped"

    approvals = activities(double, 2, "APPROVED_REQUEST")
    assert len(approvals) == 1, approvals
    assert len(double.calls(API + "/transition-requests/approve")) == 1
    assert double.calls(API + "/transition-requests/reject") == []
    assert double.registry.version_json("churn", "2")["current_stage"] == "Production"
    assert double.registry.list_transition_requests("churn", "2") == []

    comment = approvals[0]["comment"]
    assert "stagegate: approved" in comment
    assert "| test | accuracy | 0.934 |" in comment
    assert "| compare | auc_delta | 0.012 |" in comment
    assert f"/api/v1/runs/{run['id']}" in comment
    assert "Production" in comment
    assert TOKEN not in comment and DBX_SECRET not in comment

    [entry] = outbox(server)
    assert entry["state"] == "delivered" and entry["attempts"] == 1, entry
    assert entry["action"] == "registry.approve_transition" and entry["registry"] == "primary"
    assert entry["request"]["stage"] == "Production" and entry["request"]["version"] == "2"
    assert entry["key"] == f"run/{run['id']}/task/approve/registry.approve_transition"
    assert server.get(f"/api/v1/outbox/{entry['id']}").json() == entry
    log = server.get(f"/api/v1/runs/{run['id']}/tasks/approve/logs")
    assert log.status == 200 and "accepted" in log.text, log
    metrics = server.get("/metrics").text
    assert ('stagegate_registry_actions_total{registry="primary",action="registry.approve_transition",'
            'outcome="delivered"} 1') in metrics, metrics
    assert 'stagegate_registry_call_seconds_count{registry="primary"} 1' in metrics


def test_failing_test_rejects_once_naming_the_task_and_its_log(stagegate, double):
    fail = 'echo "AssertionError: recall 0.41 below 0.60" >&2; exit 3'
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", fail))
    databricks_model(double)
    double.registry.create_transition_request("churn", "2", "Production")

    run = the_run(server)
    assert run["status"] == "failed", run
    assert task(run, "reject")["state"] == "succeeded"
    assert task(run, "approve")["state"] == "skipped"

    rejections = activities(double, 2, "REJECTED_REQUEST")
    assert len(rejections) == 1, rejections
    assert double.calls(API + "/transition-requests/approve") == []
    assert len(double.calls(API + "/transition-requests/reject")) == 1
    assert double.registry.version_json("churn", "2")["current_stage"] == "None"
    comment = rejections[0]["comment"]
    assert "stagegate: rejected" in comment
    assert "**test**" in comment and "exit" in comment
    assert "AssertionError: recall 0.41 below 0.60" in comment  # the log tail


def test_mlflow_version_moves_champion_and_sets_validation_status(stagegate, double):
    server = serve(stagegate, double, "mlflow", MLFLOW_GATE)
    double.registry.create_model("fraud")
    double.registry.create_version("fraud", "models:/fraud/1")  # fires model_version.created
    # The pipeline's model comes from the event; the event names fraud version 1.
    run = the_run(server)
    assert run["status"] == "succeeded", run
    v = double.registry.version_json("fraud", "1")
    assert v.get("aliases") == ["champion"], v
    assert {"key": "validation_status", "value": "passed"} in v.get("tags", []), v
    assert len(double.calls(API + "/registered-models/alias", method="POST")) == 1
    assert len(double.calls(API + "/model-versions/set-tag", method="POST")) == 1
    entries = outbox(server)
    assert sorted(e["action"] for e in entries) == ["registry.set_alias", "registry.set_tag"]
    assert all(e["state"] == "delivered" for e in entries), entries


def test_registry_unavailable_for_a_while_still_approves_exactly_once(stagegate, double):
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", ""))
    databricks_model(double)
    double.faults.fail_for(2.5, status=503, path=API + "/transition-requests/approve")
    double.registry.create_transition_request("churn", "2", "Production")

    run = the_run(server, timeout=60)
    assert run["status"] == "succeeded", run
    calls = double.calls(API + "/transition-requests/approve")
    statuses = [c["status"] for c in calls]
    assert statuses[-1] == 200 and statuses.count(200) == 1, statuses
    assert statuses.count(503) >= 2, statuses  # it really was down, and retried
    assert len(activities(double, 2, "APPROVED_REQUEST")) == 1
    [entry] = outbox(server)
    assert entry["state"] == "delivered" and entry["attempts"] == len(calls), entry
    retried = re.search(r'stagegate_registry_actions_total\{registry="primary",'
                        r'action="registry.approve_transition",outcome="retried"\} (\d+)',
                        server.get("/metrics").text)
    assert retried and int(retried.group(1)) == len(calls) - 1


def test_kill_between_registry_acceptance_and_outbox_update_approves_once(stagegate, double):
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", ""))
    databricks_model(double)
    # The double holds the approval for a while before taking it, whether or not the caller
    # is still there: stagegate dies with the call in flight, the registry then accepts it.
    double.faults.add_latency(1.5, path=API + "/transition-requests/approve", count=1)
    double.registry.create_transition_request("churn", "2", "Production")

    wait_for(lambda: double.calls(API + "/transition-requests/approve"), 30, "the approve call")
    assert [e["state"] for e in outbox(server)] == ["sending"]
    server.kill()
    wait_for(lambda: double.calls(API + "/transition-requests/approve")[0]["status"] == 200, 10,
             "the registry to take the approval")
    assert len(activities(double, 2, "APPROVED_REQUEST")) == 1

    server.start()
    run = the_run(server)
    assert run["status"] == "succeeded", run
    assert len(double.calls(API + "/transition-requests/approve")) == 1  # never sent again
    assert len(activities(double, 2, "APPROVED_REQUEST")) == 1
    [entry] = outbox(server)
    assert entry["state"] == "delivered", entry
    assert "confirmed" in entry["response"], entry


def test_refused_action_is_dead_lettered_and_can_be_retried(stagegate, double):
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", ""))
    databricks_model(double)
    # 403 is not worth retrying by itself: the action is dead-lettered with the reason.
    double.faults.fail(path=API + "/transition-requests/approve", status=403, count=1,
                       error_code="PERMISSION_DENIED", message="User lacks CAN_MANAGE on churn.")
    double.registry.create_transition_request("churn", "2", "Production")

    run = the_run(server)
    assert run["status"] == "failed", run
    approve = task(run, "approve")
    assert approve["state"] == "failed"
    assert "dead-lettered" in approve["detail"] and "CAN_MANAGE" in approve["detail"], approve
    [entry] = outbox(server, state="dead")
    assert "PERMISSION_DENIED" in entry["last_error"]
    assert activities(double, 2, "APPROVED_REQUEST") == []

    again = server.request("POST", f"/api/v1/outbox/{entry['id']}/retry")
    assert again.status == 202, again
    wait_for(lambda: server.get(f"/api/v1/outbox/{entry['id']}").json()["state"] == "delivered",
             20, "the retried approval")
    assert len(activities(double, 2, "APPROVED_REQUEST")) == 1
    # Only dead letters can be retried; unknown ids are 404; bad ids 400.
    assert server.request("POST", f"/api/v1/outbox/{entry['id']}/retry").status == 409
    assert server.request("POST", "/api/v1/outbox/999999/retry").status == 404
    assert server.request("POST", "/api/v1/outbox/x/retry").status == 400
    assert server.get("/api/v1/outbox", state="lost").status == 400


def test_pipeline_with_unknown_action_or_input_is_invalid(stagegate, double):
    bad = """
    name: bad
    on: {manual: {}}
    tasks:
      approve:
        uses: registry.aprove_transition
      tag:
        uses: registry.set_tag
        with: {kee: a}
    """
    server = serve(stagegate, double, "databricks", bad)
    listing = server.get("/api/v1/pipelines").json()
    [p] = listing["pipelines"]
    errors = " ".join(p["errors"])
    assert "did you mean 'registry.approve_transition'" in errors, errors
    assert "takes no with: kee; did you mean 'key'" in errors, errors


def test_dropped_webhook_is_picked_up_by_the_reconciler(stagegate, double):
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", ""),
                   reconcile={"interval": "1s", "models": ["churn"], "grace": "1s"})
    databricks_model(double)
    double.faults.drop_deliveries(1)
    double.registry.create_transition_request("churn", "2", "Production")
    assert [d["fault"] for d in double.deliveries()] == ["drop"]

    run = the_run(server, timeout=30)
    assert run["status"] == "succeeded", run
    [event] = server.get("/api/v1/events").json()["events"]
    detail = server.event(event["id"])
    assert detail["verification"]["scheme"] == "reconciler", detail
    assert detail["payload"] and "stagegate_reconciled" in detail["payload"]
    assert (event["type"], event["to_stage"], event["model"]) == \
        ("transition_request.created", "Production", {"name": "churn", "version": "2"})
    assert len(activities(double, 2, "APPROVED_REQUEST")) == 1
    # Later passes see the request closed, or the event already stored: nothing more.
    time.sleep(2.5)
    assert len(server.get("/api/v1/runs").json()["runs"]) == 1
    assert len(double.calls(API + "/transition-requests/approve")) == 1


def test_a_delivered_request_is_not_synthesised_again(stagegate, double):
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", ""),
                   reconcile={"interval": "1s", "models": ["churn"], "grace": "1s"})
    databricks_model(double)
    double.faults.add_latency(3, path=API + "/transition-requests/approve", count=1)
    double.registry.create_transition_request("churn", "2", "Production")
    # The request stays open for 3 s while the approval waits: the reconciler polls it twice.
    run = the_run(server, timeout=30)
    assert run["status"] == "succeeded", run
    time.sleep(1.5)
    events = server.get("/api/v1/events").json()["events"]
    assert len(events) == 1 and server.event(events[0]["id"])["verification"]["scheme"] == "databricks"
    assert len(server.get("/api/v1/runs").json()["runs"]) == 1


def test_a_late_delivery_after_reconciliation_does_not_approve_twice(stagegate, double):
    server = serve(stagegate, double, "databricks", DATABRICKS_GATE.replace("{fail}", ""),
                   reconcile={"interval": "1s", "models": ["churn"], "grace": "1s"})
    databricks_model(double)
    double.faults.drop_deliveries(1)
    double.registry.create_transition_request("churn", "2", "Production")
    first = the_run(server, timeout=30)
    assert first["status"] == "succeeded", first
    # The registry's delivery turns up after all (a retry from somewhere, a replay): it is a
    # new event and starts a second run, whose approval finds the request already approved.
    body = databricks_body(event="TRANSITION_REQUEST_CREATED", model="churn", version="2")
    assert server.deliver("databricks", "databricks", DBX_SECRET, body).status == 200

    def second_run():
        runs = server.get("/api/v1/runs").json()["runs"]
        if len(runs) < 2:
            return None
        detail = server.get(f"/api/v1/runs/{runs[0]['id']}").json()
        return detail if detail["status"] in FINISHED else None
    second = wait_for(second_run, 30, "the second run")
    assert second["status"] == "succeeded", second
    assert len(activities(double, 2, "APPROVED_REQUEST")) == 1
    entries = {e["run_id"]: e for e in outbox(server)}
    assert entries[second["id"]]["state"] == "delivered"
    assert "confirmed" in entries[second["id"]]["response"], entries[second["id"]]
