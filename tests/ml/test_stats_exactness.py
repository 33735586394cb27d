"""ml/stats.hpp and ml/special.hpp against scipy 1.10.1 / numpy 1.24 / pandas (Debian 12).

Run with Debian's interpreter and the probe built:
  SG_ML_STATS_PROBE=build-stats/tests/ml/sg_ml_stats_probe /usr/bin/python3 -m pytest -q tests/ml

Every comparison is at 1e-9 relative (1e-12 absolute), with NaN/inf compared explicitly
(conftest.close_enough). Documented differences, not tested as equal:
- ks_2samp and chi2_contingency raise ValueError on empty input / zero expected frequencies;
  the probe answers {"error": ...} there and the tests check that both refuse.
- jensenshannon returns NaN when rounding makes the divergence slightly negative; ours gives 0.
- Summarize gives std exactly 0 for a constant column where pandas may give ~1e-17.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.special
import scipy.stats
from scipy.spatial.distance import jensenshannon

from conftest import assert_close, stats_probe  # noqa: F401  (stats_probe is a fixture)


def scipy_ks(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact -> asymp fallback
        return scipy.stats.ks_2samp(a, b)


def rng(seed):
    return np.random.default_rng(seed)


# ---- Kolmogorov-Smirnov --------------------------------------------------------------------

def _ks_cases():
    cases = []
    r = rng(20240501)
    # Tiny samples: every exact branch, including h == 0 and d == 1.
    cases.append(("size1_vs_size1", [0.0], [1.0]))
    cases.append(("size1_equal", [3.0], [3.0]))
    cases.append(("size1_vs_size2", [0.5], [0.0, 1.0]))
    cases.append(("size2_vs_size1", [0.0, 1.0], [2.0]))
    cases.append(("size2_vs_size2", [0.0, 1.0], [0.5, 2.0]))
    cases.append(("size2_disjoint", [0.0, 1.0], [5.0, 6.0]))
    cases.append(("size1_vs_size9", [0.3], r.normal(size=9)))
    cases.append(("size3_vs_size3", [1.0, 2.0, 3.0], [1.5, 2.5, 3.5]))
    # Equal and constant samples.
    same = r.normal(size=40)
    cases.append(("identical_samples", same, same.copy()))
    cases.append(("constant_equal", [2.5] * 30, [2.5] * 17))
    cases.append(("constant_different", [2.5] * 30, [3.5] * 17))
    cases.append(("constant_vs_spread", [0.0] * 25, r.normal(size=25)))
    # Ties (integer-valued), heavy tails, unequal sizes.
    cases.append(("integer_ties", r.integers(0, 5, 60).astype(float),
                  r.integers(0, 6, 45).astype(float)))
    cases.append(("poisson_ties", r.poisson(3, 300).astype(float),
                  r.poisson(3.3, 280).astype(float)))
    cases.append(("cauchy_heavy_tails", r.standard_cauchy(500), r.standard_cauchy(700) + 0.2))
    cases.append(("pareto_heavy_tails", r.pareto(1.1, 800), r.pareto(1.3, 650)))
    cases.append(("unequal_7_13", r.normal(size=7), r.normal(size=13)))
    cases.append(("unequal_100_37", r.normal(size=100), r.normal(0.4, 1, 37)))
    cases.append(("equal_50_shifted", r.normal(size=50), r.normal(1.0, 1, 50)))
    cases.append(("equal_1000_close", r.normal(size=1000), r.normal(0.02, 1, 1000)))
    cases.append(("unequal_1000_997", r.normal(size=1000), r.normal(0.1, 1, 997)))
    cases.append(("tiny_p_exact", r.normal(size=400), r.normal(3, 1, 300)))
    cases.append(("with_infinities", np.r_[r.normal(size=30), np.inf, -np.inf],
                  np.r_[r.normal(size=20), np.inf]))
    # scipy's exact / asymptotic switch is max(n1, n2) > 10000.
    cases.append(("exact_10000_10000", r.normal(size=10000), r.normal(0.03, 1, 10000)))
    cases.append(("exact_10000_9999", r.normal(size=10000), r.normal(0.03, 1, 9999)))
    cases.append(("exact_10000_2", r.normal(size=10000), [0.1, 0.2]))
    cases.append(("asymp_10001_10000", r.normal(size=10001), r.normal(0.03, 1, 10000)))
    cases.append(("asymp_20000_20000", r.normal(size=20000), r.normal(0.02, 1, 20000)))
    cases.append(("asymp_20000_20000_rounded", np.round(r.normal(size=20000), 1),
                  np.round(r.normal(0.05, 1, 20000), 1)))
    cases.append(("asymp_100000_100000", r.normal(size=100000), r.normal(0.01, 1, 100000)))
    cases.append(("asymp_100000_100000_far", r.normal(size=100000), r.normal(0.5, 1, 100000)))
    cases.append(("asymp_100000_200", r.normal(size=100000), r.normal(0.1, 1, 200)))
    cases.append(("asymp_20000_50_durbin", r.normal(size=20000), r.normal(0.3, 1, 50)))
    cases.append(("asymp_20000_60_small_d", r.normal(size=20000), r.normal(0.0, 1, 60)))
    cases.append(("asymp_20000_3", r.normal(size=20000), [0.0, 0.5, 2.0]))
    cases.append(("asymp_20000_1", r.normal(size=20000), [0.25]))
    cases.append(("asymp_30000_130_pelz_good", r.normal(size=30000), r.normal(0.0, 1, 130)))
    return cases


KS_CASES = _ks_cases()


@pytest.mark.parametrize("name,a,b", KS_CASES, ids=[c[0] for c in KS_CASES])
def test_ks_2samp_matches_scipy(stats_probe, name, a, b):
    expected = scipy_ks(np.asarray(a, float), np.asarray(b, float))
    got = stats_probe.call("ks", a=np.asarray(a, float), b=np.asarray(b, float))
    assert "error" not in got, got
    assert_close(got["statistic"], expected.statistic, f"{name} statistic")
    assert_close(got["p_value"], expected.pvalue, f"{name} p-value")


def test_ks_is_symmetric_in_its_arguments(stats_probe):
    r = rng(7)
    a, b = r.normal(size=300), r.normal(0.2, 1, 170)
    ab = stats_probe.call("ks", a=a, b=b)
    ba = stats_probe.call("ks", a=b, b=a)
    assert_close(ab["statistic"], ba["statistic"], "statistic(a,b) vs (b,a)")
    assert_close(ab["p_value"], ba["p_value"], "p(a,b) vs (b,a)")


@pytest.mark.parametrize("a,b,param", [([], [1.0], "a is empty"), ([1.0], [], "b is empty"),
                                       ([1.0, math.nan], [1.0], "a[1] is NaN")])
def test_ks_rejects_bad_samples(stats_probe, a, b, param):
    got = stats_probe.call("ks", a=a, b=b)
    assert param in got.get("error", ""), got
    if not a or not b:
        with pytest.raises(ValueError):
            scipy.stats.ks_2samp(a, b)


# The distributions the asymptotic branch relies on, over a grid of n and sqrt(n) d that
# crosses each of scipy's method boundaries (n <= 140, n <= 100000, n d^2 at 0.754693, 2.2,
# 4, 18 and 370, d >= 0.5, n d <= 1, n d >= n - 1, n > 1e6 for smirnov).
KSTWO_N = [1, 2, 3, 5, 10, 50, 140, 141, 1000, 50000, 100000, 100001, 1000000, 1000001]
KSTWO_Z = [0.05, 0.3, 0.7, 0.86, 1.2, 1.48, 2.0, 3.0, 8.0, 19.5]


def _kstwo_points():
    points = []
    for n in KSTWO_N:
        ds = {z / math.sqrt(n) for z in KSTWO_Z} | {0.8 / n, 1.5 / n, 1 - 1.5 / n, 0.6, 0.5 / n}
        points += [(n, d) for d in sorted(ds) if 0 < d < 1]
    return points


@pytest.mark.parametrize("n", KSTWO_N)
def test_kstwo_sf_matches_scipy(stats_probe, n):
    for m, d in _kstwo_points():
        if m != n:
            continue
        got = stats_probe.call("kstwo_sf", n=n, d=d)["value"]
        assert_close(got, scipy.stats.kstwo.sf(d, n), f"kstwo.sf({d}, {n})")


@pytest.mark.parametrize("n", KSTWO_N)
def test_smirnov_matches_scipy(stats_probe, n):
    for m, d in _kstwo_points():
        if m != n:
            continue
        got = stats_probe.call("smirnov_sf", n=n, d=d)["value"]
        assert_close(got, scipy.special.smirnov(n, d), f"smirnov({n}, {d})")


def test_ks_timing_10_million(stats_probe, capsys):
    # Reported, not asserted (the machine is shared): sort + merge of two 10M samples.
    got = stats_probe.call("ks_timing", n=10_000_000, seed=3)
    assert "error" not in got, got
    assert 0 < got["statistic"] < 0.01 and 0 <= got["p_value"] <= 1
    with capsys.disabled():
        print(f"\nKS 10M x 10M: {got['seconds']:.2f} s (statistic {got['statistic']:.3g}, "
              f"p {got['p_value']:.3g})")


# ---- chi-square ------------------------------------------------------------------------------

def _chi2_cases():
    r = rng(99)
    return [
        ("2x2_yates", [[12, 5], [7, 15]]),
        ("2x2_yates_large", [[1200, 530], [710, 1500]]),
        ("2x2_diff_below_half", [[10, 10], [10, 11]]),
        ("2x2_independent_exactly", [[10, 20], [20, 40]]),
        ("2x2_fractional", [[3.5, 1.25], [0.75, 9.0]]),
        ("2x3", [[10, 20, 30], [25, 15, 5]]),
        ("3x4_random", r.integers(1, 60, (3, 4))),
        ("5x5_random", r.integers(0, 200, (5, 5)) + 1),
        ("6x2_skewed", r.integers(0, 10, (6, 2)) + 1),
        ("10x10_large_counts", r.integers(1000, 100000, (10, 10))),
        ("2x5_tiny_p", [[500, 10, 10, 10, 10], [10, 500, 10, 10, 10]]),
        ("1x4_dof0", [[3, 4, 5, 6]]),
        ("4x1_dof0", [[3], [4], [5], [6]]),
    ]


CHI2_CASES = _chi2_cases()


@pytest.mark.parametrize("name,table", CHI2_CASES, ids=[c[0] for c in CHI2_CASES])
def test_chi2_contingency_matches_scipy(stats_probe, name, table):
    table = np.asarray(table, dtype=float)
    expected = scipy.stats.chi2_contingency(table)
    got = stats_probe.call("chi2", observed=table)
    assert "error" not in got, got
    assert got["dof"] == expected.dof
    assert_close(got["statistic"], expected.statistic, f"{name} statistic")
    assert_close(got["p_value"], expected.pvalue, f"{name} p-value")


@pytest.mark.parametrize("table,needle", [
    ([[0, 0], [3, 4]], "row 0 sums to 0"),
    ([[1, 0, 2], [3, 0, 4]], "column 1 sums to 0"),
    ([[1, -2], [3, 4]], "observed[0][1]"),
])
def test_chi2_refuses_what_scipy_refuses(stats_probe, table, needle):
    with pytest.raises(ValueError):
        scipy.stats.chi2_contingency(np.asarray(table, float))
    got = stats_probe.call("chi2", observed=table)
    assert needle in got.get("error", ""), got


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 30, 100, 1000, 10000])
def test_chi2_sf_matches_scipy(stats_probe, dof):
    xs = np.r_[np.linspace(0, 5 * dof + 60, 25), dof, dof + 0.5, 0.99 * dof, 1e-10, 1400]
    for x in xs:
        got = stats_probe.call("chi2_sf", dof=dof, x=float(x))["value"]
        assert_close(got, scipy.stats.chi2.sf(x, dof), f"chi2.sf({x}, {dof})")


# ---- Jensen-Shannon, Wasserstein -------------------------------------------------------------

def _js_cases():
    r = rng(5)
    p = r.random(12)
    return [
        ("random", p, r.random(12)),
        ("counts_not_normalised", r.integers(0, 50, 8).astype(float),
         r.integers(1, 50, 8).astype(float)),
        ("zeros_in_p", [0.0, 0.2, 0.3, 0.5, 0.0], [0.1, 0.2, 0.2, 0.4, 0.1]),
        ("zeros_in_q", [0.1, 0.2, 0.2, 0.4, 0.1], [0.0, 0.5, 0.0, 0.5, 0.0]),
        ("disjoint_support", [1.0, 0.0], [0.0, 1.0]),
        ("identical", p, p.copy()),
        ("single_bin", [3.0], [7.0]),
        ("near_equal", p, p * (1 + 1e-3 * r.random(12))),
    ]


JS_CASES = _js_cases()


@pytest.mark.parametrize("name,p,q", JS_CASES, ids=[c[0] for c in JS_CASES])
def test_jensenshannon_matches_scipy(stats_probe, name, p, q):
    expected = jensenshannon(np.asarray(p, float), np.asarray(q, float))
    got = stats_probe.call("js", p=np.asarray(p, float), q=np.asarray(q, float))
    assert_close(got["value"], expected, name)


def test_jensenshannon_rejects_bad_histograms(stats_probe):
    assert "p has 2 bins but q has 3" in stats_probe.call("js", p=[1, 2], q=[1, 2, 3])["error"]
    assert "p[1]" in stats_probe.call("js", p=[1, -2], q=[1, 2])["error"]
    assert "q sums to 0" in stats_probe.call("js", p=[1, 2], q=[0, 0])["error"]


def _wasserstein_cases():
    r = rng(11)
    return [
        ("size1", [1.0], [4.0]),
        ("size1_vs_3", [0.0], [1.0, 2.0, 3.0]),
        ("ties", r.integers(0, 5, 50).astype(float), r.integers(0, 7, 31).astype(float)),
        ("normal_unequal", r.normal(size=1000), r.normal(0.3, 2, 777)),
        ("heavy_tails", r.standard_cauchy(500), r.standard_cauchy(400)),
        ("identical", np.arange(10.0), np.arange(10.0)),
        ("large", r.normal(size=100000), r.exponential(size=80000)),
    ]


W_CASES = _wasserstein_cases()


@pytest.mark.parametrize("name,u,v", W_CASES, ids=[c[0] for c in W_CASES])
def test_wasserstein_matches_scipy(stats_probe, name, u, v):
    expected = scipy.stats.wasserstein_distance(np.asarray(u, float), np.asarray(v, float))
    got = stats_probe.call("wasserstein", u=np.asarray(u, float), v=np.asarray(v, float))
    assert_close(got["value"], expected, name)


# ---- PSI (no scipy reference: properties and hand-computed values) -------------------------

def test_psi_is_zero_for_equal_histograms(stats_probe):
    got = stats_probe.call("psi", expected=[10, 20, 30, 0], actual=[1, 2, 3, 0], epsilon=1e-4)
    assert got["value"] == 0.0


def test_psi_hand_computed(stats_probe):
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 3
    got = stats_probe.call("psi", expected=[0.5, 0.5], actual=[0.25, 0.75], epsilon=1e-4)
    assert_close(got["value"], 0.25 * math.log(3), "psi")
    # An empty expected bin is floored at epsilon, the other one is not renormalised.
    got = stats_probe.call("psi", expected=[1, 0], actual=[1, 1], epsilon=1e-4)
    hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert_close(got["value"], hand, "psi with floor")


def test_psi_is_symmetric(stats_probe):
    r = rng(3)
    e, a = r.random(10), r.random(10)
    ea = stats_probe.call("psi", expected=e, actual=a, epsilon=1e-6)["value"]
    ae = stats_probe.call("psi", expected=a, actual=e, epsilon=1e-6)["value"]
    assert_close(ea, ae, "psi symmetry")
    assert ea > 0


# ---- quantiles, binning, summary -------------------------------------------------------------

@pytest.mark.parametrize("data", [[5.0], [1.0, 2.0], list(range(11)),
                                  list(np.sort(rng(8).normal(size=1001))),
                                  list(np.sort(rng(9).integers(0, 3, 40).astype(float)))])
def test_quantile_matches_numpy(stats_probe, data):
    for q in [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.7, 0.75, 0.9, 0.999, 1.0]:
        got = stats_probe.call("quantile", sorted=data, q=q)["value"]
        assert_close(got, np.quantile(np.asarray(data), q), f"quantile {q}")


def test_quantile_edges_and_bins_match_numpy(stats_probe):
    r = rng(21)
    reference = np.sort(np.round(r.normal(size=5000), 1))
    current = np.sort(np.round(r.normal(0.3, 1.2, 3000), 1))
    got_edges = stats_probe.call("quantile_edges", sorted_reference=reference, bins=10)["edges"]
    edges = np.unique(np.quantile(reference, np.arange(11) / 10))
    assert len(got_edges) == len(edges)
    for g, e in zip(got_edges, edges):
        assert_close(g, e, "edge")
    got = stats_probe.call("bin_proportions", sorted_values=current, edges=edges)["proportions"]
    # Interior edges cut [e_i, e_i+1); values outside the reference's range go to the end bins.
    index = np.searchsorted(edges[1:-1], current, side="right")
    expected = np.bincount(index, minlength=len(edges) - 1) / len(current)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_close(g, e, "proportion")


def test_constant_reference_gives_three_bins(stats_probe):
    edges = stats_probe.call("quantile_edges", sorted_reference=[2.0] * 9, bins=10)["edges"]
    assert edges == [2.0]
    got = stats_probe.call("bin_proportions", sorted_values=[1.0, 2.0, 2.0, 3.0], edges=edges)
    assert got["proportions"] == [0.25, 0.5, 0.25]


@pytest.mark.parametrize("values", [
    [4.2],
    [1.0, 3.0],
    [0.1] * 7,
    list(rng(31).normal(100, 15, 2001)),
    list(rng(32).standard_cauchy(500)),
    list(rng(33).integers(-5, 5, 64).astype(float)),
])
def test_summarize_matches_pandas(stats_probe, values):
    missing = 3
    got = stats_probe.call("summarize", values=values, missing=missing)
    s = pd.Series(values + [None] * missing, dtype="float64")
    d = s.describe()
    assert got["count"] == int(d["count"]) and got["missing"] == missing
    assert_close(got["missing_rate"], s.isna().mean(), "missing_rate")
    for key, ref in [("mean", d["mean"]), ("std", d["std"]), ("min", d["min"]),
                     ("p25", d["25%"]), ("p50", d["50%"]), ("p75", d["75%"]), ("max", d["max"])]:
        assert_close(got[key], ref, key)


def test_summarize_all_missing(stats_probe):
    got = stats_probe.call("summarize", values=[], missing=4)
    assert got["count"] == 0 and got["missing_rate"] == 1.0 and math.isnan(got["mean"])
