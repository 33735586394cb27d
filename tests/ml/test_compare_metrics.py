"""`stagegate action compare --mode metrics` against the registry double (tests/registry_double):
the champion is found by alias (MLflow) or stage (Databricks), each version's run metric is read
through the registry's REST API, and a missing champion or metric is a clear, configurable
outcome."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from conftest import stagegate_bin

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from registry_double.server import RegistryDouble  # noqa: E402

TOKEN = "dapi-compare-token"


@pytest.fixture
def double():
    d = RegistryDouble(dialect="both", token=TOKEN).start()
    yield d
    d.stop()


@pytest.fixture
def config(tmp_path, double):
    path = tmp_path / "stagegate.yaml"
    path.write_text(json.dumps({
        "endpoints": {"mlflow": {"scheme": "mlflow", "secrets": ["env:SG_COMPARE_HOOK"]}},
        "registries": {"reg": {"dialect": "mlflow", "url": double.url, "token": "env:SG_COMPARE_TOKEN"}}}))
    return path


def compare(config, tmp_path, *args):
    env = dict(os.environ, SG_COMPARE_HOOK="hook-secret", SG_COMPARE_TOKEN=TOKEN)
    out = tmp_path / "compare.json"
    r = subprocess.run([stagegate_bin(), "action", "compare", "--mode", "metrics", "--config", str(config),
                        "--model", "churn", "--metric", "val_auc", "--json", str(out), *args],
                       capture_output=True, text=True, timeout=60, env=env)
    report = json.loads(out.read_text()) if out.exists() else None
    return r, report


def version(double, auc=None):
    run_id = double.registry.add_run(metrics={} if auc is None else {"val_auc": auc})
    if isinstance(run_id, dict):  # the double may answer with the run's JSON
        run_id = run_id.get("info", {}).get("run_id") or run_id.get("run_id")
    return double.registry.create_version("churn", "models:/churn", run_id=run_id)["version"]


def test_challenger_beats_the_alias_champion_by_the_required_margin(double, config, tmp_path):
    double.registry.create_model("churn")
    champion = version(double, 0.90)
    challenger = version(double, 0.93)
    double.registry.set_alias("churn", "champion", champion)
    r, report = compare(config, tmp_path, "--challenger-version", challenger, "--champion-alias", "champion",
                        "--min-improvement", "0.02")
    assert r.returncode == 0, r.stdout + r.stderr
    assert report["verdict"] == "pass"
    assert report["champion"]["version"] == champion and report["champion"]["value"] == 0.90
    assert report["challenger"]["value"] == 0.93
    assert abs(report["difference"] - 0.03) < 1e-12 and report["interval"] == [report["difference"]] * 2
    r, _ = compare(config, tmp_path, "--challenger-version", challenger, "--champion-alias", "champion",
                   "--html", str(tmp_path / "m.html"))
    page = (tmp_path / "m.html").read_text()
    assert '<span class="pass">pass</span>' in page and "model churn in the registry" in page
    assert f"value 0.9, version {champion}" in page and "<svg" not in page  # no resamples here

    r, report = compare(config, tmp_path, "--challenger-version", challenger, "--champion-alias", "champion",
                        "--min-improvement", "0.05")
    assert r.returncode == 1 and report["verdict"] == "fail", r.stdout
    assert "is below the required" in report["reason"]
    # Lower is better: the same numbers now make the challenger worse.
    r, report = compare(config, tmp_path, "--challenger-version", challenger, "--champion-alias", "champion",
                        "--direction", "minimize")
    assert r.returncode == 1 and report["verdict"] == "fail"


def test_champion_by_stage_on_databricks(double, tmp_path):
    path = tmp_path / "dbx.yaml"
    path.write_text(json.dumps({
        "endpoints": {"dbx": {"scheme": "databricks", "secrets": ["env:SG_COMPARE_HOOK"]}},
        "registries": {"ws": {"dialect": "databricks", "url": double.url, "token": "env:SG_COMPARE_TOKEN"}}}))
    double.registry.create_model("churn")
    champion = version(double, 0.80)
    challenger = version(double, 0.85)
    double.registry.transition_stage("churn", champion, "Production", False)
    r, report = compare(path, tmp_path, "--challenger-version", challenger, "--champion-stage", "Production")
    assert r.returncode == 0 and report["verdict"] == "pass", r.stdout + r.stderr
    assert report["champion"]["version"] == champion


def test_missing_champion_and_missing_metric_are_clear_outcomes(double, config, tmp_path):
    double.registry.create_model("churn")
    first = version(double, 0.7)
    r, report = compare(config, tmp_path, "--challenger-version", first, "--champion-alias", "champion")
    assert r.returncode == 0 and report["verdict"] == "pass" and report["champion"] is None
    assert "first model" in report["reason"]
    r, report = compare(config, tmp_path, "--challenger-version", first, "--champion-alias", "champion",
                        "--if-no-champion", "fail")
    assert r.returncode == 1 and report["verdict"] == "fail"

    no_metric = version(double, None)
    r, report = compare(config, tmp_path, "--challenger-version", no_metric, "--champion-alias", "champion")
    assert r.returncode == 1 and report["verdict"] == "fail"
    assert "logged no metric 'val_auc'" in report["reason"], report


def test_bad_input_is_exit_code_2(double, config, tmp_path):
    double.registry.create_model("churn")
    v = version(double, 0.7)
    r, _ = compare(config, tmp_path, "--challenger-version", v)
    assert r.returncode == 2 and "exactly one of --champion-alias" in r.stderr, r.stderr
    r, _ = compare(config, tmp_path, "--challenger-version", v, "--champion-alias", "c", "--registry", "nope")
    assert r.returncode == 2 and "registry 'nope' is not configured" in r.stderr and "reg" in r.stderr, r.stderr
    r, _ = compare(config, tmp_path, "--challenger-version", "99", "--champion-alias", "c")
    assert r.returncode == 2 and "99" in r.stderr, r.stderr
    assert TOKEN not in r.stderr
