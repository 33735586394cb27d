"""Runs through the server: a signed event becomes a run whose tasks execute as a DAG on the
local runner, watched and steered through the API; a kill -9 in the middle of a run does not
run a finished task twice."""

import datetime
import http.client
import json
import pathlib
import textwrap
import time
import uuid

from conftest import MLFLOW_SECRET, mlflow_body, wait_for

ENDPOINTS = {"mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]}}
SECRETS = {"env:SG_E2E_MLFLOW": MLFLOW_SECRET}
FINISHED = {"succeeded", "failed", "cancelled", "skipped"}


def serve(stagegate, pipelines, extra=None, secrets=None):
    """A server whose pipelines directory holds `pipelines` ({file name: YAML text})."""
    config = {"pipelines": {"dir": "pipelines"},
              "runners": {"local": {"max_parallel": 4, "work_dir": "work"}}}
    config.update(extra or {})
    server = stagegate(ENDPOINTS, secrets=dict(SECRETS, **(secrets or {})), extra=config,
                       start=False)
    folder = server.workdir / "pipelines"
    folder.mkdir()
    for name, text in pipelines.items():
        (folder / name).write_text(textwrap.dedent(text))
    return server.start()


def deliver(server, model="churn", version="3"):
    body = mlflow_body(name=model, version=version)
    r = server.deliver("mlflow", "mlflow", MLFLOW_SECRET, body)
    assert r.status == 200, r
    return r.json()["event_id"]


def runs(server, **filters):
    r = server.get("/api/v1/runs", **filters)
    assert r.status == 200, r
    return r.json()["runs"]


def run_detail(server, run_id):
    r = server.get(f"/api/v1/runs/{run_id}")
    assert r.status == 200, r
    return r.json()


def wait_finished(server, run_id, timeout=30.0):
    def done():
        run = run_detail(server, run_id)
        return run if run["status"] in FINISHED else None
    return wait_for(done, timeout, f"run {run_id} to finish")


def first_run(server, timeout=20.0, **filters):
    return wait_for(lambda: (runs(server, **filters) or [None])[-1], timeout, f"a run {filters}")


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def tasks_by_id(run):
    return {t["id"]: t for t in run["tasks"]}


def task_state(server, run_id, task):
    """The task's state, or None while the run has not stored it yet."""
    return tasks_by_id(run_detail(server, run_id)).get(task, {}).get("state")


DIAMOND = """\
    name: diamond
    on:
      registry: {events: [model_version.created], models: ["churn*"]}
    env:
      MODEL: ${{ event.model.name }}
    tasks:
      prepare:
        run: |
          sleep 0.2
          echo "prepared $MODEL"
          echo "uri=models:/$MODEL/$VERSION" >> "$STAGEGATE_OUTPUT"
        env: {VERSION: "${{ event.model.version }}"}
      test:
        needs: [prepare]
        run: sleep 0.3; echo "testing $URI"; echo "auc=0.91" >> "$STAGEGATE_OUTPUT"
        env: {URI: "${{ tasks.prepare.outputs.uri }}"}
      lint:
        needs: [prepare]
        run: sleep 0.1; echo "report" > "$STAGEGATE_ARTIFACTS/lint.txt"
      verdict:
        needs: [test, lint]
        run: test "$AUC" = "0.91" && echo "approve $MODEL"
        env: {AUC: "${{ tasks.test.outputs.auc }}"}
      on-failure:
        needs: [verdict]
        if: failure()
        run: echo "reject"
    """


def test_signed_event_becomes_a_run_whose_tasks_follow_the_dag(stagegate):
    server = serve(stagegate, {"diamond.yaml": DIAMOND})
    event_id = deliver(server, model="churn-eu", version="7")
    deliver(server, model="fraud", version="1")  # matches no pipeline
    summary = first_run(server, event=event_id)
    run = wait_finished(server, summary["id"])
    assert run["status"] == "succeeded", run
    assert run["pipeline"] == "diamond" and run["event_id"] == event_id
    assert run["model"] == "churn-eu" and run["trigger"]["kind"] == "registry"
    assert len(run["revision"]) == 64
    t = tasks_by_id(run)
    assert [x["id"] for x in run["tasks"]] == ["prepare", "test", "lint", "verdict", "on-failure"]
    assert {k: v["state"] for k, v in t.items()} == {
        "prepare": "succeeded", "test": "succeeded", "lint": "succeeded",
        "verdict": "succeeded", "on-failure": "skipped"}
    # Each task started only after every task it needs had finished.
    for task, needs in {"test": ["prepare"], "lint": ["prepare"], "verdict": ["test", "lint"]}.items():
        for need in needs:
            assert ts(t[task]["started_at"]) >= ts(t[need]["finished_at"]), (task, need, t)
    assert t["prepare"]["outputs"] == {"uri": "models:/churn-eu/7"}
    assert t["test"]["outputs"] == {"auc": "0.91"}
    assert t["verdict"]["exit_code"] == 0 and t["verdict"]["attempt"] == 1
    assert [f["path"] for f in t["lint"]["artifacts"]["files"]] == ["lint.txt"]
    log = server.get(f"/api/v1/runs/{run['id']}/tasks/test/logs")
    assert log.status == 200 and "testing models:/churn-eu/7" in log.text
    log = server.get(f"/api/v1/runs/{run['id']}/tasks/verdict/logs")
    assert "approve churn-eu" in log.text
    # Only the matching event started a run, and only one.
    assert len(runs(server)) == 1
    assert runs(server, model="fraud") == []
    assert [r["id"] for r in runs(server, pipeline="diamond", status="succeeded")] == [run["id"]]


COUNTED = """\
    name: counted
    on:
      registry: {{events: [model_version.created]}}
    env:
      STATE: {state}
    tasks:
      prepare:
        run: echo x >> "$STATE/prepare-count"; echo "token=abc" >> "$STAGEGATE_OUTPUT"
      slow:
        needs: [prepare]
        run: |
          echo x >> "$STATE/slow-count"
          echo started
          sleep {sleep}
          echo finished
      check:
        needs: [slow]
        run: test ! -e "$STATE/fail" && echo "ok $TOKEN"
        env: {{TOKEN: "${{{{ tasks.prepare.outputs.token }}}}"}}
    """


def counted_pipeline(state_dir, sleep=0.1):
    return COUNTED.format(state=state_dir, sleep=sleep)


def count(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_failed_run_reruns_from_the_failed_task_reusing_outputs(stagegate, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "fail").write_text("1")
    server = serve(stagegate, {"counted.yaml": counted_pipeline(state)})
    deliver(server)
    first = wait_finished(server, first_run(server)["id"])
    assert first["status"] == "failed"
    assert "check" in first["detail"]
    t = tasks_by_id(first)
    assert t["check"]["state"] == "failed" and t["check"]["exit_code"] == 1
    assert count(state / "prepare-count") == 1 and count(state / "slow-count") == 1

    (state / "fail").unlink()
    r = server.request("POST", f"/api/v1/runs/{first['id']}/rerun")
    assert r.status == 201, r
    rerun_id = r.json()["id"]
    assert r.header("Location") == f"/api/v1/runs/{rerun_id}"
    second = wait_finished(server, rerun_id)
    assert second["status"] == "succeeded", second
    assert second["rerun_of"] == first["id"] and second["trigger"]["kind"] == "rerun"
    t2 = tasks_by_id(second)
    assert t2["prepare"]["reused"] and t2["slow"]["reused"] and not t2["check"]["reused"]
    assert t2["prepare"]["outputs"] == {"token": "abc"}
    # The succeeded tasks did not run again; the failed one used their outputs.
    assert count(state / "prepare-count") == 1 and count(state / "slow-count") == 1
    assert "ok abc" in server.get(f"/api/v1/runs/{rerun_id}/tasks/check/logs").text
    # A succeeded run has nothing to rerun; an unknown run is 404.
    r = server.request("POST", f"/api/v1/runs/{rerun_id}/rerun")
    assert r.status == 409 and "only a failed or cancelled run" in r.json()["error"]["message"]
    assert server.request("POST", "/api/v1/runs/999/rerun").status == 404


def test_kill_9_in_the_middle_of_a_run_finishes_it_without_repeating_finished_tasks(stagegate, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    server = serve(stagegate, {"counted.yaml": counted_pipeline(state, sleep=2)})
    deliver(server)
    run_id = first_run(server)["id"]

    def slow_running():
        t = tasks_by_id(run_detail(server, run_id)).get("slow", {})
        return t.get("state") == "running" and t.get("external_id")
    wait_for(slow_running, what="the slow task to run")
    assert count(state / "prepare-count") == 1
    server.kill()
    server.start()
    run = wait_finished(server, run_id, timeout=40)
    assert run["status"] == "succeeded", run
    t = tasks_by_id(run)
    # prepare had finished before the crash: it never ran again.
    assert count(state / "prepare-count") == 1
    assert t["prepare"]["attempt"] == 1
    # slow lost its process with the crash (or could not report its exit), and ran once more
    # without using up a retry (it has none).
    assert t["slow"]["lost_attempts"] == 1 and t["slow"]["attempt"] == 2, t["slow"]
    assert count(state / "slow-count") == 2
    assert t["check"]["state"] == "succeeded" and t["check"]["attempt"] == 1
    # The same event is not dispatched again after the restart.
    assert len(runs(server)) == 1


CANCELLABLE = """\
    name: cancellable
    on: {manual: {}}
    tasks:
      long:
        run: echo begun; sleep 30
      cleanup:
        needs: [long]
        if: always()
        run: echo "cleaning up"
      after:
        needs: [long]
        run: echo never
    """


def test_cancel_stops_running_tasks_and_still_runs_always_tasks(stagegate):
    server = serve(stagegate, {"cancellable.yaml": CANCELLABLE})
    r = server.request("POST", "/api/v1/pipelines/cancellable/runs", body="{}")
    assert r.status == 201, r
    run_id = r.json()["id"]
    wait_for(lambda: task_state(server, run_id, "long") == "running",
             what="the long task to run")
    started = time.monotonic()
    r = server.request("POST", f"/api/v1/runs/{run_id}/cancel")
    assert r.status == 202, r
    run = wait_finished(server, run_id, timeout=20)
    assert time.monotonic() - started < 15
    assert run["status"] == "cancelled" and run["cancel_requested"]
    t = tasks_by_id(run)
    assert t["long"]["state"] == "cancelled"
    assert t["cleanup"]["state"] == "succeeded"
    assert t["after"]["state"] == "skipped"
    r = server.request("POST", f"/api/v1/runs/{run_id}/cancel")
    assert r.status == 409 and "already finished" in r.json()["error"]["message"]


MANUAL = """\
    name: manual-gate
    on:
      manual:
        inputs:
          threshold: {type: number, required: true}
          mode: {type: choice, options: [fast, full], default: fast}
    tasks:
      show:
        run: echo "threshold=$T mode=$M"
        env: {T: "${{ inputs.threshold }}", M: "${{ inputs.mode }}"}
    """

BROKEN = """\
    name: broken
    on: {manual: {}}
    tasks:
      a:
        needs: [b]
        run: echo a
      b:
        needs: [a]
        runn: echo b
    """

REGISTRY_ONLY = """\
    name: registry-only
    on: {registry: {events: [model_version.created]}}
    tasks:
      a: {run: echo a}
    """


def test_manual_trigger_checks_inputs_and_pipelines_show_their_errors(stagegate):
    server = serve(stagegate, {"manual.yaml": MANUAL, "broken.yaml": BROKEN,
                               "registry.yaml": REGISTRY_ONLY})
    listing = server.get("/api/v1/pipelines").json()
    by_name = {p["name"]: p for p in listing["pipelines"]}
    assert by_name["manual-gate"]["state"] == "valid"
    assert by_name["manual-gate"]["triggers"] == ["manual"]
    broken = by_name["broken"]
    assert broken["state"] == "invalid" and broken["revision"] is None
    assert any("broken.yaml:9:" in e and "runn" in e for e in broken["errors"]), broken["errors"]
    assert any("cycle" in e for e in broken["errors"]), broken["errors"]

    def trigger(name, body):
        return server.request("POST", f"/api/v1/pipelines/{name}/runs", body=json.dumps(body))

    r = trigger("manual-gate", {"inputs": {"threshold": 0.8}})
    assert r.status == 201, r
    run = wait_finished(server, r.json()["id"])
    assert run["status"] == "succeeded" and run["inputs"] == {"threshold": 0.8, "mode": "fast"}
    assert "threshold=0.8 mode=fast" in server.get(
        f"/api/v1/runs/{run['id']}/tasks/show/logs").text

    cases = [
        ("manual-gate", {"inputs": {}}, 400, "input 'threshold' is required"),
        ("manual-gate", {"inputs": {"threshold": "high"}}, 400, "must be a number"),
        ("manual-gate", {"inputs": {"threshold": 1, "mode": "slow"}}, 400, "one of fast, full"),
        ("manual-gate", {"inputs": {"treshold": 1}}, 400, "declares no input 'treshold'"),
        ("manual-gate", {"input": {}}, 400, "unknown field 'input'"),
        ("broken", {}, 409, "is invalid"),
        ("registry-only", {}, 409, "has no manual trigger"),
        ("nope", {}, 404, "no pipeline named 'nope'"),
    ]
    for name, body, status, message in cases:
        r = trigger(name, body)
        assert r.status == status and message in r.json()["error"]["message"], (name, body, r)
    # Nothing was created by the refused requests.
    assert len(runs(server)) == 1

    # A new file appears after a reload; the broken one stays reported.
    (server.workdir / "pipelines" / "late.yaml").write_text(
        "name: late\non: {manual: {}}\ntasks:\n  a: {run: echo late}\n")
    r = server.request("POST", "/api/v1/pipelines/reload")
    assert r.status == 200
    names = {p["name"]: p["state"] for p in r.json()["pipelines"]}
    assert names == {"manual-gate": "valid", "broken": "invalid", "registry-only": "valid",
                     "late": "valid"}
    assert trigger("late", {}).status == 201


STREAMING = """\
    name: streaming
    on: {manual: {}}
    env:
      TOKEN: ${{ secrets.DEPLOY_TOKEN }}
    tasks:
      talk:
        run: |
          for i in 1 2 3 4; do echo "line $i"; sleep 0.4; done
          echo "token is $TOKEN"
    """


def test_logs_follow_streams_lines_while_the_task_runs_and_redacts_secrets(stagegate):
    token = "tok-" + uuid.uuid4().hex
    server = serve(stagegate, {"streaming.yaml": STREAMING},
                   extra={"secrets": {"DEPLOY_TOKEN": "env:SG_E2E_DEPLOY_TOKEN"}},
                   secrets={"env:SG_E2E_DEPLOY_TOKEN": token})
    r = server.request("POST", "/api/v1/pipelines/streaming/runs", body="{}")
    run_id = r.json()["id"]
    wait_for(lambda: task_state(server, run_id, "talk") == "running",
             what="the task to run")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    conn.request("GET", f"/api/v1/runs/{run_id}/tasks/talk/logs?follow=1")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    received = []
    first_at = None
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        if first_at is None and b"line 1" in b"".join(received + [chunk]):
            first_at = time.monotonic()
            # The first line arrived while the task was still running.
            assert tasks_by_id(run_detail(server, run_id))["talk"]["state"] == "running"
        received.append(chunk)
    conn.close()
    text = b"".join(received).decode()
    assert [l.split("| ")[-1] for l in text.splitlines() if "line" in l] == [
        "line 1", "line 2", "line 3", "line 4"]
    assert "token is ***" in text and token not in text
    run = wait_finished(server, run_id)
    assert run["status"] == "succeeded"
    assert token not in server.get(f"/api/v1/runs/{run_id}/tasks/talk/logs").text
    assert token not in server.stderr_text()


def test_bad_run_requests_get_clear_errors(stagegate):
    server = serve(stagegate, {"manual.yaml": MANUAL})
    cases = [
        ("GET", "/api/v1/runs/abc", 400, "must be a positive number"),
        ("GET", "/api/v1/runs/42", 404, "no run with id 42"),
        ("GET", "/api/v1/runs?status=done", 400, "not a run status"),
        ("GET", "/api/v1/runs?limit=0", 400, "limit must be"),
        ("DELETE", "/api/v1/runs/1", 405, "accepts GET only"),
        ("GET", "/api/v1/runs/1/tasks/x/logs", 404, "no run with id 1"),
        ("POST", "/api/v1/pipelines/manual-gate/runs", 400, "must be a JSON object"),
        ("GET", "/api/v1/pipelines/manual-gate/nothing", 404, "no route"),
    ]
    for method, path, status, message in cases:
        body = "[1]" if method == "POST" else None
        r = server.request(method, path, body=body)
        assert r.status == status and message in r.json()["error"]["message"], (method, path, r)


MATRIX = """\
    name: matrix
    on: {manual: {}}
    tasks:
      test:
        matrix:
          python: ["3.10", "3.11+"]
        run: echo "python $MATRIX_python"
    """


def test_matrix_instances_have_their_own_tasks_and_log_links(stagegate):
    server = serve(stagegate, {"matrix.yaml": MATRIX})
    run_id = server.request("POST", "/api/v1/pipelines/matrix/runs", body="{}").json()["id"]
    run = wait_finished(server, run_id)
    assert run["status"] == "succeeded"
    t = tasks_by_id(run)
    assert set(t) == {"test (3.10)", "test (3.11+)"}
    for name, version in [("test (3.10)", "3.10"), ("test (3.11+)", "3.11+")]:
        link = t[name]["logs"]
        assert " " not in link and "+" not in link, link
        r = server.get(link)
        assert r.status == 200 and f"python {version}" in r.text, (link, r)
