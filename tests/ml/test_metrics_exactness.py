"""ml/metrics against scikit-learn 1.2.1 and scipy 1.10.1 (Debian 12), to 1e-9 relative.

Run with /usr/bin/python3 and SG_ML_METRICS_PROBE pointing at the built sg_ml_metrics_probe
(tests/ml/CMakeLists.txt sets it for ctest). Every case is generated from a fixed seed.
Where sklearn raises, the probe must answer with an error too.
"""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from conftest import assert_close

LABEL_METRICS = {
    "accuracy": skm.accuracy_score,
    "precision": skm.precision_score,
    "recall": skm.recall_score,
    "f1": skm.f1_score,
}
REGRESSION_METRICS = {
    "rmse": lambda t, p: skm.mean_squared_error(t, p, squared=False),
    "mae": skm.mean_absolute_error,
    "r2": skm.r2_score,
}


def reference(fn, *args, **kwargs):
    """sklearn's value, or the exception it raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero_division and one-sample warnings
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            return e


def check(probe, name, expected, **request):
    answer = probe.call(name, **request)
    if isinstance(expected, Exception):
        assert "error" in answer, f"{name}: sklearn raised {expected!r}, probe gave {answer}"
        return
    assert "error" not in answer, f"{name}: probe failed: {answer['error']}"
    assert_close(answer["value"], expected, name)


def binary_cases():
    """(label, y_true, y_score) with ties, perfect and inverse scores, and tiny sizes."""
    rng = np.random.default_rng(20240917)
    cases = []
    for n in (3, 10, 101, 2000):
        y = rng.integers(0, 2, n)
        y[0], y[1] = 0, 1  # both classes
        cases.append((f"continuous-{n}", y, rng.random(n)))
        cases.append((f"ties-1-decimal-{n}", y, np.round(rng.random(n), 1)))
        cases.append((f"ties-integers-{n}", y, rng.integers(0, 4, n).astype(float)))
        cases.append((f"perfect-{n}", y, y * 0.6 + 0.2 + rng.random(n) * 0.1))
        cases.append((f"inverse-{n}", y, (1 - y) * 0.6 + 0.2 + rng.random(n) * 0.1))
    cases.append(("all-tied", np.array([0, 1, 1, 0, 1]), np.full(5, 0.5)))
    cases.append(("size-2", np.array([0, 1]), np.array([0.3, 0.7])))
    cases.append(("size-2-inverse", np.array([0, 1]), np.array([0.7, 0.3])))
    cases.append(("size-2-tied", np.array([1, 0]), np.array([0.5, 0.5])))
    cases.append(("size-1", np.array([1]), np.array([0.9])))
    cases.append(("all-ones", np.ones(20, dtype=int), rng.random(20)))
    cases.append(("all-zeros", np.zeros(20, dtype=int), rng.random(20)))
    cases.append(("skewed", np.r_[np.zeros(500, dtype=int), [1]], rng.random(501)))
    return cases


CASES = binary_cases()


@pytest.mark.parametrize("label,y_true,y_score", CASES, ids=[c[0] for c in CASES])
def test_roc_auc(metrics_probe, label, y_true, y_score):
    check(metrics_probe, "roc_auc", reference(skm.roc_auc_score, y_true, y_score),
          y_true=y_true, y_score=y_score)


@pytest.mark.parametrize("label,y_true,y_score", CASES, ids=[c[0] for c in CASES])
def test_log_loss(metrics_probe, label, y_true, y_score):
    if np.any((y_score < 0) | (y_score > 1)):
        # sklearn 1.2.1 silently clips such "probabilities"; stagegate refuses them.
        answer = metrics_probe.call("log_loss", y_true=y_true, y_prob=y_score)
        assert "probabilities of the positive class in [0, 1]" in answer["error"]
        return
    check(metrics_probe, "log_loss", reference(skm.log_loss, y_true, y_score),
          y_true=y_true, y_prob=y_score)


@pytest.mark.parametrize("name", sorted(LABEL_METRICS))
@pytest.mark.parametrize("label,y_true,y_score", CASES, ids=[c[0] for c in CASES])
def test_label_metrics_from_scores(metrics_probe, name, label, y_true, y_score):
    # Default threshold 0.5: positive when the score is strictly above it.
    y_pred = (y_score > 0.5).astype(int)
    check(metrics_probe, name, reference(LABEL_METRICS[name], y_true, y_pred),
          y_true=y_true, y_score=y_score)


@pytest.mark.parametrize("name", sorted(LABEL_METRICS))
@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.75])
def test_label_metrics_threshold(metrics_probe, name, threshold):
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, 300)
    y_score = np.round(rng.random(300), 2)  # some scores equal the threshold
    y_pred = (y_score > threshold).astype(int)
    check(metrics_probe, name, reference(LABEL_METRICS[name], y_true, y_pred),
          y_true=y_true, y_score=y_score, threshold=threshold)


@pytest.mark.parametrize("name", sorted(LABEL_METRICS))
@pytest.mark.parametrize("y_true,y_pred", [
    ([0, 1, 1, 0], [0, 1, 1, 0]),        # perfect
    ([0, 1, 1, 0], [1, 0, 0, 1]),        # inverse
    ([0, 0, 1, 1], [0, 0, 0, 0]),        # nothing predicted positive: precision 0
    ([0, 0, 0, 0], [0, 1, 0, 0]),        # no positive label: recall 0
    ([0, 0, 0], [0, 0, 0]),              # neither: all zero-division values
    ([1], [1]),
    ([1], [0]),
    ([0, 1], [1, 1]),
])
def test_label_metrics_edges(metrics_probe, name, y_true, y_pred):
    check(metrics_probe, name, reference(LABEL_METRICS[name], y_true, y_pred),
          y_true=y_true, y_pred=y_pred)


def test_log_loss_probabilities_at_zero_and_one(metrics_probe):
    y_true = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    y_prob = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.5, 1 - 1e-17])
    expected = reference(skm.log_loss, y_true, y_prob)
    assert expected > 10  # the clipped confidently wrong answers dominate
    check(metrics_probe, "log_loss", expected, y_true=y_true, y_prob=y_prob)
    # Perfect and inverse hard predictions: eps clipping makes both finite.
    check(metrics_probe, "log_loss", reference(skm.log_loss, y_true, y_true.astype(float)),
          y_true=y_true, y_prob=y_true.astype(float))
    inverse = 1.0 - y_true
    check(metrics_probe, "log_loss", reference(skm.log_loss, y_true, inverse),
          y_true=y_true, y_prob=inverse)


def regression_cases():
    rng = np.random.default_rng(11)
    cases = []
    for n in (2, 3, 50, 5000):
        y = rng.normal(10, 3, n)
        cases.append((f"noisy-{n}", y, y + rng.normal(0, 1, n)))
        cases.append((f"biased-{n}", y, y * 0.5 + 7))
        cases.append((f"perfect-{n}", y, y.copy()))
    cases.append(("constant-perfect", np.full(6, 2.5), np.full(6, 2.5)))
    cases.append(("constant-imperfect", np.full(6, -2.0), np.array([-2.0] * 5 + [-2 + 1e-8])))
    cases.append(("constant-way-off", np.full(4, 3.0), np.array([1.0, 2.0, 5.0, 9.0])))
    cases.append(("size-1", np.array([4.0]), np.array([3.5])))
    cases.append(("big-offset", 1e9 + rng.normal(0, 1, 1000), 1e9 + rng.normal(0, 1, 1000)))
    return cases


REGRESSION = regression_cases()


@pytest.mark.parametrize("name", sorted(REGRESSION_METRICS))
@pytest.mark.parametrize("label,y_true,y_pred", REGRESSION, ids=[c[0] for c in REGRESSION])
def test_regression(metrics_probe, name, label, y_true, y_pred):
    expected = reference(REGRESSION_METRICS[name], y_true, y_pred)
    if name == "r2" and len(y_true) < 2:
        # sklearn warns and returns NaN; stagegate refuses the undefined value.
        assert np.isnan(expected)
        answer = metrics_probe.call("r2", y_true=y_true, y_pred=y_pred)
        assert "at least two samples" in answer["error"]
        return
    check(metrics_probe, name, expected, y_true=y_true, y_pred=y_pred)


def test_large_inputs(metrics_probe):
    rng = np.random.default_rng(3)
    n = 1_000_000
    y_true = rng.integers(0, 2, n)
    y_score = np.clip(np.round(0.3 * y_true + 0.7 * rng.random(n), 3), 0, 1)  # many ties
    check(metrics_probe, "roc_auc", skm.roc_auc_score(y_true, y_score),
          y_true=y_true, y_score=y_score)
    check(metrics_probe, "log_loss", skm.log_loss(y_true, y_score), y_true=y_true, y_prob=y_score)
    check(metrics_probe, "f1", skm.f1_score(y_true, (y_score > 0.5).astype(int)),
          y_true=y_true, y_score=y_score)
    target = rng.normal(100, 20, n)
    prediction = target + rng.normal(0, 5, n)
    for name, fn in REGRESSION_METRICS.items():
        check(metrics_probe, name, fn(target, prediction), y_true=target, y_pred=prediction)


def mcnemar_reference(b, c):
    """Exact binomial below 25 discordant pairs, else chi-square with the continuity
    correction clamped at 0, from scipy alone."""
    n = b + c
    if n == 0:
        return "exact", 0.0, 1.0
    if n < 25:
        return "exact", float(min(b, c)), stats.binomtest(b, n, 0.5).pvalue
    statistic = max(0, abs(b - c) - 1) ** 2 / n
    return "chi2", statistic, stats.chi2.sf(statistic, 1)


@pytest.mark.parametrize("b,c,both_right,both_wrong", [
    (0, 0, 10, 5), (3, 0, 10, 0), (1, 4, 0, 3), (12, 12, 4, 4), (7, 17, 30, 2),
    (20, 4, 1, 1), (13, 12, 5, 5), (25, 0, 0, 0), (30, 45, 100, 20), (200, 150, 500, 7),
    (40, 40, 10, 10), (5000, 10, 0, 0),
])
def test_mcnemar(metrics_probe, b, c, both_right, both_wrong):
    rng = np.random.default_rng(b * 1000 + c)
    # Build samples with the given agreement pattern, labels random, order shuffled.
    right = [(True, False)] * b + [(False, True)] * c + [(True, True)] * both_right + \
        [(False, False)] * both_wrong
    y_true = rng.integers(0, 2, len(right))
    champion = np.array([y if a else 1 - y for y, (a, _) in zip(y_true, right)])
    challenger = np.array([y if z else 1 - y for y, (_, z) in zip(y_true, right)])
    order = rng.permutation(len(right))
    y_true, champion, challenger = y_true[order], champion[order], challenger[order]
    # Scores rather than labels for the challenger: thresholded at 0.5 by the probe.
    challenger_scores = np.where(challenger == 1, 0.9, 0.1)

    method, statistic, p_value = mcnemar_reference(b, c)
    answer = metrics_probe.call("mcnemar", y_true=y_true, champion=champion,
                                challenger=challenger_scores)
    assert "error" not in answer, answer
    assert (answer["b"], answer["c"], answer["method"]) == (b, c, method)
    assert_close(answer["statistic"], statistic, "mcnemar statistic")
    assert_close(answer["value"], p_value, "mcnemar p-value")


@pytest.mark.parametrize("request_fields,fragment", [
    ({"fn": "roc_auc", "y_true": [0, 1, 1], "y_score": [0.1, 0.2]}, "y_true has 3 values"),
    ({"fn": "accuracy", "y_true": [], "y_pred": []}, "y_true is empty"),
    ({"fn": "f1", "y_true": [0, 2, 1], "y_pred": [0, 1, 1]}, "y_true[1] is 2"),
    ({"fn": "roc_auc", "y_true": [0, 1, 1], "y_score": [0.1, "nan", 0.3]}, "y_score[1] is nan"),
    ({"fn": "log_loss", "y_true": [0, 1], "y_prob": [0.1, 1.5]}, "y_prob[1] is 1.5"),
    ({"fn": "rmse", "y_true": [1.0, "inf"], "y_pred": [1.0, 2.0]}, "y_true[1] is inf"),
    ({"fn": "brier", "y_true": [0, 1], "y_pred": [0, 1]}, "unknown metric 'brier'"),
])
def test_bad_input_is_named(metrics_probe, request_fields, fragment):
    fields = dict(request_fields)
    answer = metrics_probe.call(fields.pop("fn"), **fields)
    assert fragment in answer.get("error", ""), answer


def test_bootstrap_via_probe_is_reproducible(metrics_probe):
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, 400)
    champion = 0.1 * y_true + 0.9 * rng.random(400)
    challenger = 0.5 * y_true + 0.5 * rng.random(400)
    fields = dict(metric="roc_auc", y_true=y_true, champion=champion, challenger=challenger,
                  resamples=300, seed=99)
    first = metrics_probe.call("bootstrap", **fields)
    again = metrics_probe.call("bootstrap", **fields)
    assert first == again
    expected = skm.roc_auc_score(y_true, challenger) - skm.roc_auc_score(y_true, champion)
    assert_close(first["difference"], expected, "bootstrap point difference")
    assert first["lower"] <= expected <= first["upper"]
    assert first["lower"] > 0  # the challenger is clearly better
