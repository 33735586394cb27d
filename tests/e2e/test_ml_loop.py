"""The retraining loop of examples/ml-loop, end to end, as docs/ml-actions.md walks through it:
the drift monitor finds drift in the recent data, retrains with Debian's scikit-learn and
registers a challenger; the registry (the MLflow double) announces the new version; the
promotion gate scores both models on held-out data, validates the model directory, compares
the models and moves the `champion` alias, exactly once. A model that learnt nothing is
rejected and the champion stays.

The example's own files run unchanged, copied to a temporary directory, except the
MLFLOW_TRACKING_URI line of each pipeline, which points at the double.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, wait_for

sys.path.insert(0, str(REPO_ROOT / "tests"))
from registry_double.server import RegistryDouble  # noqa: E402

PYTHON = "/usr/bin/python3"  # Debian's, with python3-sklearn
LOOP = REPO_ROOT / "examples" / "ml-loop"
HOOK_SECRET = "ml-loop-hook-secret"
FINISHED = {"succeeded", "failed", "cancelled"}
URI_LINE = "MLFLOW_TRACKING_URI: http://127.0.0.1:5000"


def script(loop, name, *args, env):
    out = subprocess.run([PYTHON, str(loop / name), *args], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, f"{name}: {out.stdout}{out.stderr}"
    return out.stdout


@pytest.fixture
def double():
    d = RegistryDouble(dialect="mlflow", mlflow_retry_delays=(0.0, 0.5, 0.5)).start()
    yield d
    d.stop()


@pytest.fixture
def loop(tmp_path, double):
    """The example copied, its data generated, and a first champion trained and registered
    (before stagegate listens, as an existing registry would have one)."""
    loop = tmp_path / "ml-loop"
    shutil.copytree(LOOP, loop, ignore=shutil.ignore_patterns("data", "__pycache__"))
    for pipeline in (loop / "pipelines").glob("*.yaml"):
        text = pipeline.read_text()
        assert URI_LINE in text, f"{pipeline.name} no longer sets {URI_LINE}"
        pipeline.write_text(text.replace(URI_LINE, f"MLFLOW_TRACKING_URI: {double.url}"))
    env = dict(os.environ, MLFLOW_TRACKING_URI=double.url)
    script(loop, "generate.py", "--rows", "6000", env=env)
    script(loop, "train.py", "--data", str(loop / "data" / "reference.csv"),
           "--out", str(tmp_path / "models" / "v1"), env=env)
    out = script(loop, "register.py", "--model", "churn", "--path", str(tmp_path / "models" / "v1"),
                 "--alias", "champion", env=env)
    assert "registered churn version 1 with alias champion" in out
    return loop, env


@pytest.fixture
def server(stagegate, double, loop):
    directory, _ = loop
    config = {"pipelines": {"dir": str(directory / "pipelines")},
              "runners": {"local": {"max_parallel": 4, "work_dir": "work"}},
              "registries": {"mlflow": {"dialect": "mlflow", "url": double.url, "timeout": "5s"}}}
    server = stagegate({"mlflow": {"scheme": "mlflow", "registry": "mlflow",
                                   "secrets": ["env:SG_E2E_LOOP_HOOK"]}},
                       secrets={"env:SG_E2E_LOOP_HOOK": HOOK_SECRET}, extra=config)
    double.webhooks.create_mlflow({"name": "stagegate", "events": ["model_version.created"],
                                   "url": f"http://127.0.0.1:{server.port}/hooks/mlflow",
                                   "secret": HOOK_SECRET})
    return server


def runs_of(server, pipeline):
    r = server.get("/api/v1/runs", pipeline=pipeline)
    assert r.status == 200, r
    return r.json()["runs"]


def finished_run(server, pipeline, count=1, timeout=180.0):
    """The newest run of `pipeline` once `count` runs of it have finished, with its tasks."""
    def done():
        runs = runs_of(server, pipeline)
        if len(runs) < count or runs[0]["status"] not in FINISHED:
            return None
        return server.get(f"/api/v1/runs/{runs[0]['id']}").json()
    return wait_for(done, timeout=timeout, what=f"run {count} of {pipeline} to finish")


def explain(server, run):
    """The run and the logs of its failed tasks, for assertion messages."""
    text = json.dumps({k: run[k] for k in ("id", "pipeline", "status", "detail")})
    for t in run["tasks"]:
        if t["state"] == "failed":
            log = server.get(f"/api/v1/runs/{run['id']}/tasks/{t['id']}/logs")
            text += f"\n--- {t['id']} ---\n" + log.body.decode(errors="replace")[-3000:]
    return text


def states(run):
    return {t["id"]: t["state"] for t in run["tasks"]}


def artifact(run, task, name):
    task = next(t for t in run["tasks"] if t["id"] == task)
    return pathlib.Path(task["artifacts"]["dir"]) / name


def alias_calls(double):
    return double.calls("/api/2.0/mlflow/registered-models/alias", method="POST")


def champion(double):
    aliases = double.registry.model_json("churn").get("aliases", [])
    return [a["version"] for a in aliases if a["alias"] == "champion"]


def tag(double, version, key):
    tags = double.registry.version_json("churn", version).get("tags", [])
    return next((t["value"] for t in tags if t["key"] == key), None)


def test_drift_retrains_and_the_gate_promotes_the_better_model(server, double, loop):
    r = server.request("POST", "/api/v1/pipelines/drift-monitor/runs", body="{}")
    assert r.status == 201, r

    monitor = finished_run(server, "drift-monitor")
    assert monitor["status"] == "succeeded", explain(server, monitor)
    assert states(monitor) == {"drift": "succeeded", "retrain": "succeeded"}, monitor
    drift = json.loads(artifact(monitor, "drift", "drift.json").read_text())
    assert drift["drift_detected"] is True
    # generate.py shifts charges, support calls, contracts and the churn rate, nothing else.
    assert set(drift["drifted_columns"]) == {"monthly_charges", "support_calls", "contract", "churned"}
    assert artifact(monitor, "drift", "drift.html").read_text().count("<svg") >= 7
    retrain = next(t for t in monitor["tasks"] if t["id"] == "retrain")
    assert retrain["outputs"] == {"version": "2"}

    gate = finished_run(server, "promotion-gate")
    assert gate["status"] == "succeeded", explain(server, gate)
    assert states(gate) == {"score": "succeeded", "validate": "succeeded", "compare": "succeeded",
                            "promote": "succeeded", "passed": "succeeded", "rejected": "skipped"}, gate
    compare = json.loads(artifact(gate, "compare", "compare.json").read_text())
    assert compare["verdict"] == "pass"
    assert '<span class="pass">pass</span>' in artifact(gate, "compare", "compare.html").read_text()
    assert compare["metric"] == "roc_auc" and compare["rows"] == 3000
    assert compare["challenger"] > compare["champion"] + 0.005
    assert compare["interval"][0] > 0.005  # decided on the bootstrap interval's lower bound
    validate = json.loads(artifact(gate, "validate", "validate-model.json").read_text())
    assert validate["passed"] is True, validate
    # The model the gate checked is the one the monitor trained and registered.
    assert validate["path"] == str(artifact(monitor, "retrain", "model"))

    assert champion(double) == ["2"]
    assert tag(double, "2", "validation_status") == "passed"
    # One alias call from register.py (version 1), one from the gate: nothing was sent twice.
    assert [c["body"]["version"] for c in alias_calls(double)] == ["1", "2"]


def test_the_gate_rejects_a_model_that_learnt_nothing(server, double, loop, tmp_path):
    directory, env = loop
    script(directory, "train.py", "--data", str(directory / "data" / "recent.csv"),
           "--out", str(tmp_path / "models" / "noise"), "--shuffle-labels", env=env)
    script(directory, "register.py", "--model", "churn", "--path", str(tmp_path / "models" / "noise"),
           env=env)

    gate = finished_run(server, "promotion-gate")
    assert gate["status"] == "failed", explain(server, gate)
    assert states(gate) == {"score": "succeeded", "validate": "succeeded", "compare": "failed",
                            "promote": "skipped", "passed": "skipped", "rejected": "succeeded"}, gate
    compare = json.loads(artifact(gate, "compare", "compare.json").read_text())
    assert compare["verdict"] == "fail"
    assert compare["challenger"] < 0.6 < compare["champion"]
    assert champion(double) == ["1"]
    assert tag(double, "2", "validation_status") == "rejected"
    assert len(alias_calls(double)) == 1  # only register.py's first champion
