"""`stagegate action compare --mode evaluate` end to end: the champion's and challenger's metrics
equal scikit-learn's on the same file, the interval is reproducible with its seed, the verdict
follows the interval's bound against --min-improvement in the metric's better direction, and
bad input is exit code 2 naming the problem."""

import csv
import json
import math
import re
import os
import subprocess

import numpy as np
import pytest
from conftest import stagegate_bin
from sklearn import metrics as skm

REL = 1e-9


def compare(*args, env=None):
    return subprocess.run([stagegate_bin(), "action", "compare", "--mode", "evaluate", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env)


def scored(tmp_path, n, seed, gap):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    champion = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1).round(4)
    challenger = np.clip(y * (0.3 + gap) + rng.random(n) * (0.7 - gap), 0, 1).round(4)
    path = tmp_path / "scores.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "old", "new"])
        w.writerows(zip(y, champion, challenger))
    return path, y, champion, challenger


@pytest.mark.parametrize("metric,ref", [
    ("roc_auc", lambda y, s: skm.roc_auc_score(y, s)),
    ("log_loss", lambda y, s: skm.log_loss(y, s)),
    ("accuracy", lambda y, s: skm.accuracy_score(y, (s > 0.5).astype(int))),
    ("f1", lambda y, s: skm.f1_score(y, (s > 0.5).astype(int))),
])
def test_classification_metrics_match_sklearn_and_the_verdict_follows_the_interval(tmp_path, metric, ref):
    path, y, champion, challenger = scored(tmp_path, 2000, 3, gap=0.2)
    out = tmp_path / "compare.json"
    r = compare("--data", path, "--label", "label", "--champion", "old", "--challenger", "new",
                "--task", "classification", "--metric", metric, "--json", out)
    report = json.loads(out.read_text())
    assert math.isclose(report["champion"], ref(y, champion), rel_tol=REL)
    assert math.isclose(report["challenger"], ref(y, challenger), rel_tol=REL)
    assert math.isclose(report["difference"], report["challenger"] - report["champion"], rel_tol=REL)
    lo, hi = report["interval"]
    assert lo <= report["difference"] <= hi
    worst_gain = lo if report["direction"] == "maximize" else -hi
    assert report["verdict"] == ("pass" if worst_gain >= 0 else "fail")
    assert r.returncode == (0 if report["verdict"] == "pass" else 1), r.stdout + r.stderr
    assert report["verdict"] == "pass"  # the challenger is much better here
    assert report["direction"] == ("minimize" if metric == "log_loss" else "maximize")
    b = int(np.sum(((champion > 0.5) == y) & ((challenger > 0.5) != y)))
    c = int(np.sum(((champion > 0.5) != y) & ((challenger > 0.5) == y)))
    assert (report["mcnemar"]["champion_only"], report["mcnemar"]["challenger_only"]) == (b, c)


def test_interval_is_reproducible_and_min_improvement_can_fail_it(tmp_path):
    path, *_ = scored(tmp_path, 500, 4, gap=0.02)
    args = ["--data", path, "--label", "label", "--champion", "old", "--challenger", "new",
            "--metric", "roc_auc"]
    first = compare(*args, "--json", tmp_path / "a.json")
    second = compare(*args, "--json", tmp_path / "b.json")
    other = compare(*args, "--seed", "7", "--json", tmp_path / "c.json")
    a, b, c = (json.loads((tmp_path / f"{x}.json").read_text()) for x in "abc")
    assert a["interval"] == b["interval"]
    assert a["interval"] != c["interval"]
    assert first.returncode == second.returncode
    strict = compare(*args, "--min-improvement", "0.5", "--json", tmp_path / "d.json")
    d = json.loads((tmp_path / "d.json").read_text())
    assert d["verdict"] == "fail" and strict.returncode == 1


def test_regression_metrics_match_sklearn(tmp_path):
    rng = np.random.default_rng(5)
    y = rng.normal(10, 3, 800).round(3)
    champion = (y + rng.normal(0, 2, 800)).round(3)
    challenger = (y + rng.normal(0, 1, 800)).round(3)
    path = tmp_path / "reg.jsonl"
    path.write_text("".join(json.dumps({"y": float(a), "c1": float(b), "c2": float(c)}) + "\n"
                            for a, b, c in zip(y, champion, challenger)))
    for metric, ref, direction in [("rmse", lambda t, p: math.sqrt(skm.mean_squared_error(t, p)), "minimize"),
                                   ("mae", skm.mean_absolute_error, "minimize"),
                                   ("r2", skm.r2_score, "maximize")]:
        out = tmp_path / f"{metric}.json"
        r = compare("--data", path, "--label", "y", "--champion", "c1", "--challenger", "c2",
                    "--task", "regression", "--metric", metric, "--json", out)
        report = json.loads(out.read_text())
        assert math.isclose(report["champion"], ref(y, champion), rel_tol=REL), metric
        assert math.isclose(report["challenger"], ref(y, challenger), rel_tol=REL), metric
        assert report["direction"] == direction and "mcnemar" not in report
        assert r.returncode == 0 and report["verdict"] == "pass", r.stdout + r.stderr


def test_outputs_reach_the_task(tmp_path):
    path, *_ = scored(tmp_path, 300, 6, gap=0.2)
    outputs = tmp_path / "out.txt"
    env = dict(os.environ, STAGEGATE_OUTPUT=str(outputs))
    compare("--data", path, "--label", "label", "--champion", "old", "--challenger", "new",
            "--metric", "roc_auc", env=env)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["verdict"] == "pass"
    assert float(values["interval_low"]) <= float(values["difference"]) <= float(values["interval_high"])


def test_bad_input_is_exit_code_2(tmp_path):
    path, *_ = scored(tmp_path, 50, 8, gap=0.1)
    base = ["--data", path, "--label", "label", "--champion", "old", "--challenger", "new"]
    r = compare(*base, "--metric", "auc")
    assert r.returncode == 2 and "auc" in r.stderr and "roc_auc" in r.stderr, r.stderr
    r = compare(*base, "--metric", "rmse")
    assert r.returncode == 2 and "does not fit --task classification" in r.stderr, r.stderr
    r = compare("--data", path, "--label", "lable", "--champion", "old", "--challenger", "new",
                "--metric", "f1")
    assert r.returncode == 2 and "did you mean 'label'" in r.stderr, r.stderr
    r = compare(*base)
    assert r.returncode == 2 and "--metric is required" in r.stderr, r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("label,old,new\n1,0.4,0.9\n0,zero,0.1\n")
    r = compare("--data", bad, "--label", "label", "--champion", "old", "--challenger", "new",
                "--metric", "f1")
    assert r.returncode == 2 and "bad.csv" in r.stderr and "old" in r.stderr, r.stderr
    labels = tmp_path / "labels.csv"
    labels.write_text("label,old,new\n2,0.4,0.9\n0,0.3,0.1\n")
    r = compare("--data", labels, "--label", "label", "--champion", "old", "--challenger", "new",
                "--metric", "f1")
    assert r.returncode == 2 and "label" in r.stderr, r.stderr
    r = subprocess.run([stagegate_bin(), "action", "compare", "--mode", "metrics"], capture_output=True, text=True)
    assert r.returncode == 2 and "--model is required with --mode metrics" in r.stderr, r.stderr
    r = subprocess.run([stagegate_bin(), "action", "compare", "--mode", "guess"], capture_output=True, text=True)
    assert r.returncode == 2 and "--mode must be evaluate or metrics" in r.stderr, r.stderr


def test_html_report_shows_the_verdict_and_every_resample(tmp_path):
    plain, *_ = scored(tmp_path, 800, 5, gap=0.02)
    path = plain.rename(tmp_path / "s<&>.csv")  # names are escaped on the page
    r = compare("--data", path, "--label", "label", "--champion", "old", "--challenger", "new",
                "--metric", "roc_auc", "--resamples", "250", "--min-improvement", "0.5",
                "--json", tmp_path / "c.json", "--html", tmp_path / "c.html")
    assert r.returncode == 1, r.stdout + r.stderr  # no model gains half a point of AUC
    report = json.loads((tmp_path / "c.json").read_text())
    page = (tmp_path / "c.html").read_text()
    assert '<span class="fail">fail</span>' in page
    escaped = str(path).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f"<code>{escaped}</code>, 800 rows" in page and "s<&>" not in page
    assert "<tr><th>resamples</th><td>250</td></tr>" in page
    # The histogram's bars hold every resample once; the required gain is marked.
    counts = [int(n) for n in re.findall(r"<title>(\d+) resamples from", page)]
    assert sum(counts) == 250 - report["undefined_resamples"]
    assert "needed 0.5</text>" in page and page.count("<svg") == 1
    # Inside a task the page goes to the artifacts next to the JSON report.
    env = dict(os.environ, STAGEGATE_ARTIFACTS=str(tmp_path))
    compare("--data", path, "--label", "label", "--champion", "old", "--challenger", "new",
            "--metric", "accuracy", "--resamples", "20", env=env)
    assert "accuracy (higher is better)" in (tmp_path / "compare.html").read_text()
