"""`stagegate action drift` end to end: the JSON report's tests equal scipy's on the same data,
the verdicts follow the documented rules, the HTML report draws every column worst first, bad
input is exit code 2 with a message naming the file, row and column, and `uses: drift` runs it
as a pipeline task with outputs for the tasks after it."""

import csv
import json
import math
import os
import subprocess
import textwrap

import numpy as np
import pytest
from conftest import stagegate_bin
from scipy import stats
from scipy.spatial import distance

REL = 1e-9


def close(a, b):
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def make_data(tmp_path, n_ref, n_cur, shift, seed=7):
    rng = np.random.default_rng(seed)

    def rows(n, s):
        age = np.round(rng.normal(40 + 5 * s, 10, n), 3)
        score = np.round(rng.random(n), 4)
        country = rng.choice(["de", "fr", "us", "br"] if s else ["de", "fr", "us"], n)
        return [[f"{a}", f"{b}", c] for a, b, c in zip(age, score, country)]

    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    write_csv(ref, ["age", "score", "country"], rows(n_ref, 0))
    write_csv(cur, ["age", "score", "country"], rows(n_cur, shift))
    return ref, cur


def drift(*args, env=None, cwd=None):
    return subprocess.run([stagegate_bin(), "action", "drift", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=cwd)


def column(report, name):
    return next(c for c in report["columns"] if c["name"] == name)


def read_column(path, name):
    with open(path, newline="") as f:
        return [row[name] for row in csv.DictReader(f)]


@pytest.mark.parametrize("sizes", [(400, 300), (5000, 3000)])
def test_report_tests_match_scipy_and_verdicts_follow_the_rules(tmp_path, sizes):
    ref, cur = make_data(tmp_path, *sizes, shift=1)
    out = tmp_path / "drift.json"
    r = drift("--reference", ref, "--current", cur, "--json", out, "--html", tmp_path / "drift.html")
    assert r.returncode == 1, r.stdout + r.stderr  # drift found
    report = json.loads(out.read_text())
    assert report["drift_detected"] is True

    a = np.array(read_column(ref, "age"), dtype=float)
    b = np.array(read_column(cur, "age"), dtype=float)
    age = column(report, "age")
    ks = stats.ks_2samp(a, b)
    assert close(age["tests"]["ks"]["statistic"], ks.statistic)
    assert close(age["tests"]["ks"]["p_value"], ks.pvalue)
    w = stats.wasserstein_distance(a, b)
    assert close(age["tests"]["wasserstein"]["distance"], w)
    assert close(age["tests"]["wasserstein"]["normalized"], w / np.std(a, ddof=1))
    # JS over bins cut at the reference's deciles (numpy's linear quantiles), ends open.
    edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)))
    inner = edges[1:-1]
    pa = np.bincount(np.searchsorted(inner, a, side="right"), minlength=len(edges) - 1) / len(a)
    pb = np.bincount(np.searchsorted(inner, b, side="right"), minlength=len(edges) - 1) / len(b)
    assert close(age["tests"]["js"]["distance"], distance.jensenshannon(pa, pb))
    summary = age["summary"]["reference"]
    assert close(summary["mean"], a.mean()) and close(summary["std"], np.std(a, ddof=1))
    assert close(summary["p75"], np.quantile(a, 0.75))

    ca = read_column(ref, "country")
    cb = read_column(cur, "country")
    cats = sorted(set(ca) | set(cb))
    table = [[ca.count(c) for c in cats], [cb.count(c) for c in cats]]
    chi2 = stats.chi2_contingency(table)
    country = column(report, "country")
    assert close(country["tests"]["chi2"]["statistic"], chi2[0])
    assert close(country["tests"]["chi2"]["p_value"], chi2[1])
    assert country["tests"]["chi2"]["dof"] == chi2[2]
    assert country["summary"]["current"]["unseen_categories"] == ["br"]
    assert close(country["tests"]["js"]["distance"], distance.jensenshannon(table[0], table[1]))

    # The documented default: p-value tests up to 1000 rows, distances above.
    small = min(sizes) <= 1000
    assert age["decided_by"] == ("ks" if small else "wasserstein")
    assert country["decided_by"] == ("chi2" if small else "js")
    for c in report["columns"]:
        if c["decided_by"] in ("ks", "chi2"):
            assert c["drift"] == (c["score"] < c["threshold"])
        else:
            assert c["drift"] == (c["score"] >= c["threshold"])
    assert set(report["drifted_columns"]) == {c["name"] for c in report["columns"] if c["drift"]}
    assert {"age", "country"} <= set(report["drifted_columns"])
    assert "score" not in report["drifted_columns"]  # same distribution on both sides

    # Worst first, and one SVG per column in the HTML report.
    assert [c["drift"] for c in report["columns"]] == sorted(
        [c["drift"] for c in report["columns"]], reverse=True)
    html = (tmp_path / "drift.html").read_text()
    assert html.count("<svg") == len(report["columns"])
    assert html.index(report["columns"][0]["name"]) < html.index(report["columns"][-1]["name"])


def test_same_data_has_no_drift_and_writes_outputs(tmp_path):
    ref, _ = make_data(tmp_path, 500, 10, shift=0)
    outputs = tmp_path / "outputs.txt"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    env = dict(os.environ, STAGEGATE_OUTPUT=str(outputs), STAGEGATE_ARTIFACTS=str(artifacts))
    r = drift("--reference", ref, "--current", ref, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "drift_detected=false" in outputs.read_text()
    report = json.loads((artifacts / "drift.json").read_text())  # the default place in a task
    assert report["drift_detected"] is False and report["drifted_columns"] == []
    assert (artifacts / "drift.html").exists()


def test_config_chooses_tests_thresholds_and_correction(tmp_path):
    ref, cur = make_data(tmp_path, 300, 300, shift=1)
    config = tmp_path / "drift.yaml"
    config.write_text(textwrap.dedent("""\
        correction: bonferroni
        columns:
          age: {test: psi, threshold: 0.5}
          country: {test: js}
        """))
    out = tmp_path / "d.json"
    drift("--reference", ref, "--current", cur, "--config", config, "--json", out)
    report = json.loads(out.read_text())
    age = column(report, "age")
    assert age["decided_by"] == "psi" and age["threshold"] == 0.5
    assert age["score"] == age["tests"]["psi"]["value"]
    assert column(report, "country")["decided_by"] == "js"
    score = column(report, "score")
    assert score["decided_by"] == "ks" and close(score["threshold"], 0.05 / 1)  # the only p-value test

    config.write_text("colums: {}\n")
    r = drift("--reference", ref, "--current", cur, "--config", config)
    assert r.returncode == 2 and "unknown key 'colums'; did you mean 'columns'?" in r.stderr, r.stderr
    config.write_text("columns: {age: {test: anova}}\n")
    r = drift("--reference", ref, "--current", cur, "--config", config)
    assert r.returncode == 2 and "test 'anova' is not a test" in r.stderr, r.stderr


def test_bad_input_is_exit_code_2_naming_the_problem(tmp_path):
    ref, cur = make_data(tmp_path, 50, 50, shift=0)
    r = drift("--reference", ref, "--current", tmp_path / "missing.csv")
    assert r.returncode == 2 and "missing.csv" in r.stderr, r.stderr

    bad = tmp_path / "bad.csv"
    bad.write_text("age,score,country\n40.1,0.5,de\nforty,0.2,fr\n")
    r = drift("--reference", ref, "--current", bad)
    assert r.returncode == 2, r.stderr
    assert "bad.csv" in r.stderr and "age" in r.stderr and ("row 2" in r.stderr or "line 3" in r.stderr), r.stderr

    ragged = tmp_path / "ragged.csv"
    ragged.write_text("age,score,country\n40.1,0.5\n")
    r = drift("--reference", ragged, "--current", cur)
    assert r.returncode == 2 and "ragged.csv" in r.stderr, r.stderr

    empty = tmp_path / "empty.csv"
    empty.write_text("age,score,country\n")
    r = drift("--reference", ref, "--current", empty)
    assert r.returncode == 2 and "empty.csv" in r.stderr, r.stderr

    r = drift("--reference", ref, "--current", cur, "--features", "agee")
    assert r.returncode == 2 and "did you mean 'age'" in r.stderr, r.stderr


def test_report_only_exits_0_on_drift_but_2_on_bad_input(tmp_path):
    ref, cur = make_data(tmp_path, 400, 300, shift=1)
    out = tmp_path / "d.json"
    r = drift("--reference", ref, "--current", cur, "--json", out, "--report-only")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(out.read_text())["drift_detected"] is True  # reported all the same
    assert drift("--reference", ref, "--current", cur).returncode == 1
    r = drift("--reference", ref, "--current", tmp_path / "missing.csv", "--report-only")
    assert r.returncode == 2 and "missing.csv" in r.stderr, r.stderr


def test_uses_drift_runs_as_a_pipeline_task_with_outputs(tmp_path):
    ref, cur = make_data(tmp_path, 300, 300, shift=1)
    pipeline = tmp_path / "monitor.yaml"
    pipeline.write_text(textwrap.dedent(f"""\
        name: drift-monitor
        on: {{manual: {{}}}}
        tasks:
          drift:
            uses: drift
            continue_on_error: true
            with:
              reference: {ref}
              current: {cur}
          retrain:
            needs: [drift]
            if: tasks.drift.outputs.drift_detected == 'true'
            env:
              COLUMNS: ${{{{ tasks.drift.outputs.drifted_columns }}}}
            run: echo "retraining because of $COLUMNS"
        """))
    r = subprocess.run([stagegate_bin(), "run", str(pipeline), "--work-dir", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "retrain" in r.stdout and "succeeded" in r.stdout, r.stdout + r.stderr
    logs = list((tmp_path / "runs").rglob("log.txt"))
    retrain_log = next(p for p in logs if "retrain" in str(p)).read_text()
    assert "retraining because of" in retrain_log and "age" in retrain_log, retrain_log
    drift_json = next((tmp_path / "runs").rglob("drift.json"))
    assert json.loads(drift_json.read_text())["drift_detected"] is True
