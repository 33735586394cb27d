"""examples/: every pipeline is valid, and `stagegate run` against the example events does what
examples/README.md says (which tasks run, which are skipped, what the verdict would post)."""

import json
import pathlib
import re
import subprocess

import pytest

from conftest import REPO_ROOT, stagegate_bin

EXAMPLES = REPO_ROOT / "examples"
PIPELINES = sorted(EXAMPLES.glob("pipelines/*.yaml")) + sorted(EXAMPLES.glob("ml-loop/pipelines/*.yaml"))
EVENTS = sorted((EXAMPLES / "events").glob("*.json"))

PROMOTION_GATE = "databricks-promotion-gate.yaml"
MLFLOW_GATE = "mlflow-version-gate.yaml"

SUMMARY_ROW = re.compile(
    r"^(?P<task>\S.*?)\s+(?P<state>pending|queued|running|succeeded|failed|skipped|cancelled|"
    r"timed_out)\s+(?P<attempts>\d+)\s+\S+s\s+(?P<exit>-|\d+)\s*(?P<log>\S*)$")


class Run:
    def __init__(self, proc):
        self.proc = proc
        self.states, self.logs = {}, {}
        table = proc.stdout.split("\nTASK ", 1)
        assert len(table) == 2, f"no summary table:\n{proc.stdout}\n{proc.stderr}"
        for line in table[1].splitlines()[1:]:
            if not line.strip():
                break
            m = SUMMARY_ROW.match(line)
            assert m, f"unexpected summary row {line!r}"
            self.states[m["task"]] = m["state"]
            if m["log"]:
                self.logs[m["task"]] = m["log"]

    def log(self, task):
        return pathlib.Path(self.logs[task]).read_text()

    def artifact(self, task, name):
        return pathlib.Path(self.logs[task]).parent / "artifacts" / name

    def __repr__(self):
        return self.proc.stdout + self.proc.stderr


def run(tmp_path, pipeline, event=None, inputs=()):
    """Runs an example from a directory that is not the repository, so that nothing in it may
    depend on the current directory."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    args = [stagegate_bin(), "run", str(EXAMPLES / "pipelines" / pipeline),
            "--work-dir", str(tmp_path / "runs")]
    if event is not None:
        args += ["--event", str(event)]
    for item in inputs:
        args += ["--input", item]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return Run(proc)


def event_file(name):
    return EXAMPLES / "events" / name


def test_every_example_pipeline_is_valid():
    assert PIPELINES, "no pipelines in examples/pipelines"
    out = subprocess.run([stagegate_bin(), "validate", *map(str, PIPELINES)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": ok: pipeline ") == len(PIPELINES), out.stdout


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.name)
def test_example_events_have_the_events_api_shape(path):
    event = json.loads(path.read_text())
    for key in ("id", "endpoint", "source", "type", "raw_type", "model", "from_stage", "to_stage",
                "alias", "tags", "text", "delivery_id", "received_at", "sent_at", "headers",
                "dedupe_key", "verification", "payload", "payload_bytes"):
        assert key in event, f"{path.name} lacks {key}"
    # The normalised fields agree with the delivery they claim to come from.
    payload = json.loads(event["payload"])
    assert event["payload_bytes"] == len(event["payload"].encode())
    if event["source"] == "databricks":
        assert payload["event"] == event["raw_type"]
        assert payload["model_name"] == event["model"]["name"]
        assert payload["version"] == event["model"]["version"]
        assert payload["to_stage"] == event["to_stage"]
    else:
        assert f"{payload['entity']}.{payload['action']}" == event["raw_type"]
        assert payload["data"]["name"] == event["model"]["name"]
        assert payload["data"]["version"] == event["model"]["version"]
        assert sorted((k, v) for k, v in payload["data"]["tags"].items()) == \
            sorted((t["key"], t["value"]) for t in event["tags"])


def test_promotion_gate_approves_a_better_version(tmp_path):
    r = run(tmp_path, PROMOTION_GATE, event_file("databricks-transition-request.json"))
    assert r.proc.returncode == 0, r
    assert r.states == {"validate": "succeeded", "model_tests (smoke)": "succeeded",
                        "model_tests (fairness)": "succeeded", "compare": "succeeded",
                        "approve": "succeeded", "reject": "skipped"}, r
    assert "databricks-promotion-gate succeeded" in r.proc.stdout
    log = r.log("approve")
    assert ("dry run: would call registry.approve_transition model 'churn' version 7 stage "
            "Production") in log
    assert '"archive_existing_versions": true' in log
    assert "### stagegate: approved" in log  # the evidence comment
    assert "val_auc 0.921 vs 0.912 (version 6 in Production): +0.009" in log
    assert "| compare | challenger_auc | 0.921 |" in log
    comparison = json.loads(r.artifact("compare", "comparison.json").read_text())
    assert comparison["verdict"] == "approve" and comparison["champion_version"] == "6"
    assert json.loads(r.artifact("model_tests (smoke)", "smoke.json").read_text())["passed"]


def test_promotion_gate_rejects_a_worse_version(tmp_path):
    r = run(tmp_path, PROMOTION_GATE, event_file("databricks-transition-request-worse.json"))
    assert r.proc.returncode == 1, r
    assert r.states["compare"] == "failed", r
    assert r.states["approve"] == "skipped", r
    assert r.states["reject"] == "succeeded", r
    log = r.log("reject")
    assert "would call registry.reject_transition model 'churn' version 8 stage Production" in log
    assert "val_auc 0.905 vs 0.912 (version 6 in Production): -0.007, below the required" in log
    assert "**compare**: exited with code 1" in log  # the failed task, with its log tail


def test_promotion_gate_rejects_when_the_required_gain_is_raised(tmp_path):
    r = run(tmp_path, PROMOTION_GATE, event_file("databricks-transition-request.json"),
            inputs=["min_improvement=0.05"])
    assert r.proc.returncode == 1, r
    assert (r.states["compare"], r.states["approve"], r.states["reject"]) == \
        ("failed", "skipped", "succeeded"), r
    assert "+0.009, below the required +0.050" in r.log("reject")


def test_promotion_gate_rejects_when_a_test_suite_fails(tmp_path):
    # Version 9 beats the champion but fails the smoke suite (latency): compare never runs,
    # and reject still answers because it needs the tests too.
    event = json.loads(event_file("databricks-transition-request.json").read_text())
    event["model"]["version"] = "9"
    (tmp_path / "v9.json").write_text(json.dumps(event))
    r = run(tmp_path, PROMOTION_GATE, tmp_path / "v9.json")
    assert r.proc.returncode == 1, r
    assert r.states["model_tests (smoke)"] == "failed", r
    assert r.states["model_tests (fairness)"] in ("succeeded", "cancelled"), r
    assert (r.states["compare"], r.states["approve"], r.states["reject"]) == \
        ("skipped", "skipped", "succeeded"), r
    log = r.log("reject")
    assert "### stagegate: rejected" in log and "**model_tests (smoke)**" in log, log
    assert "The checks failed; see the failed tasks below." in log


def test_promotion_gate_runs_by_hand_with_inputs(tmp_path):
    r = run(tmp_path, PROMOTION_GATE, inputs=["model=churn", "version=7"])
    assert r.proc.returncode == 0, r
    assert r.states["approve"] == "succeeded", r
    assert "model 'churn' version 7 stage Production" in r.log("approve")


def test_promotion_gate_refuses_a_request_for_another_stage(tmp_path):
    event = json.loads(event_file("databricks-transition-request.json").read_text())
    event["to_stage"] = "Staging"
    (tmp_path / "staging.json").write_text(json.dumps(event))
    r = run(tmp_path, PROMOTION_GATE, tmp_path / "staging.json")
    assert r.proc.returncode == 1, r
    assert r.states["validate"] == "failed", r
    assert r.states["reject"] == "succeeded", r
    assert "only answers Production" in r.log("validate")


def test_mlflow_gate_promotes_a_good_version(tmp_path):
    r = run(tmp_path, MLFLOW_GATE, event_file("mlflow-model-version-created.json"))
    assert r.proc.returncode == 0, r
    assert r.states == {"inspect": "succeeded", "checks (lineage)": "succeeded",
                        "checks (metric)": "succeeded", "checks (owner)": "succeeded",
                        "tag": "succeeded", "promote": "succeeded", "flag": "skipped"}, r
    assert ("would call registry.set_alias model 'fraud-detector' version 12 alias challenger"
            in r.log("promote"))
    assert ("would call registry.set_tag model 'fraud-detector' version 12 tag "
            "stagegate.verdict=passed" in r.log("tag"))
    assert "run 4c1e8e2b9a6d4f0e8b7a1c2d3e4f5a6b" in r.log("inspect")


def test_mlflow_gate_flags_a_version_without_lineage_and_a_low_metric(tmp_path):
    r = run(tmp_path, MLFLOW_GATE, event_file("mlflow-model-version-created-low-auc.json"))
    assert r.proc.returncode == 1, r
    assert r.states == {"inspect": "succeeded", "checks (lineage)": "failed",
                        "checks (metric)": "failed", "checks (owner)": "succeeded",
                        "tag": "skipped", "promote": "skipped", "flag": "succeeded"}, r
    log = r.log("flag")
    assert "would call registry.set_tag model 'fraud-detector' version 13 tag stagegate.verdict=failed" in log
    assert "lineage: registered without a run" in log
    assert "metric: val_auc 0.812 is below 0.85" in log


def test_local_demo_passes_and_fails_on_its_threshold(tmp_path):
    r = run(tmp_path / "pass", "local-demo.yaml")
    assert r.proc.returncode == 0, r
    assert r.states["promote"] == "succeeded" and r.states["report-failure"] == "skipped", r
    r = run(tmp_path / "fail", "local-demo.yaml", inputs=["threshold=0.99"])
    assert r.proc.returncode == 1, r
    assert (r.states["evaluate"], r.states["promote"], r.states["report-failure"]) == \
        ("failed", "skipped", "succeeded"), r
