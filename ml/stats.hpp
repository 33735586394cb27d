#pragma once

// Drift statistics for `stagegate action drift` (reference data vs current data). Pure
// functions over doubles; missing values are removed by the caller. Each function states the
// reference it reproduces; tests/ml/test_stats_exactness.py compares them with scipy 1.10.1 /
// numpy 1.24 (Debian 12) at 1e-9 relative.
//
// Bad input (empty samples, NaN, negative counts, mismatched lengths) is an
// ErrorCode::kInvalidArgument whose message names the parameter and says what to do.

#include <cstddef>
#include <span>
#include <vector>

#include "orchestrator/core/result.hpp"

namespace stagegate::ml {

/// Sorts NaN-free `values` where they are: an LSD radix sort on large inputs (about a tenth
/// of std::sort's time on 10 million doubles) with one scratch buffer of the same size, and
/// nothing when they are sorted already. Every function here that needs sorted input sorts
/// a copy this way unless it is sorted, so callers that sort once save the work.
void SortValuesInPlace(std::span<double> values);

struct KsResult {
  double statistic = 0.0;  // sup |F_a - F_b|
  double p_value = 1.0;
};

/// Two-sample Kolmogorov-Smirnov test, as scipy.stats.ks_2samp(a, b) with its defaults
/// (alternative='two-sided', method='auto') in scipy 1.10.1:
/// - the statistic is the largest gap between the two empirical CDFs, evaluated after all tied
///   values (so ties count once, like scipy's searchsorted(side='right'));
/// - when max(len(a), len(b)) <= 10000 the p-value is exact: the statistic is first snapped to
///   the lattice h / lcm(n1, n2), then P(D >= d) is counted with lattice paths (Hodges 1958):
///   for n1 == n2 by the alternating binomial sum in Horner form, otherwise by the
///   "inside" recursion for 1 - p of Viehmann (arXiv:2102.08037). If the exact value falls
///   outside [0, 1] (rounding), scipy falls back to the asymptotic branch, and so does this;
/// - otherwise it is asymptotic: the one-sample two-sided distribution kstwo.sf(d, round(en)),
///   en = n1 n2 / (n1 + n2) (see KolmogorovTwoSidedSf in ml/special.hpp).
/// O((n1 + n2) log(n1 + n2)) for the statistic. NaN is rejected (scipy would sort it last and
/// give a meaningless answer); infinities are allowed (only ranks matter).
Result<KsResult> KolmogorovSmirnov2(std::span<const double> a, std::span<const double> b);

struct Chi2Result {
  double statistic = 0.0;
  double p_value = 1.0;
  int dof = 0;
};

/// Pearson's chi-square test of independence on an r x c contingency table, as
/// scipy.stats.chi2_contingency(observed) with its defaults: expected frequencies from the
/// margins (row_sum * col_sum / total); Yates' continuity correction when dof == 1, each cell
/// moved towards its expected value by min(0.5, |expected - observed|); dof = (r-1)(c-1);
/// dof == 0 (one row or one column) gives statistic 0 and p-value 1.
/// Errors (scipy raises ValueError for the same cases): no cells, ragged rows, negative or
/// non-finite counts, and any zero expected frequency, i.e. a row or a column that sums to 0
/// (the message names it: drop the empty category before testing).
Result<Chi2Result> Chi2Contingency(const std::vector<std::vector<double>>& observed);

/// Jensen-Shannon distance (the square root of the divergence), natural log, as
/// scipy.spatial.distance.jensenshannon(p, q): p and q are first scaled to sum 1; zeros are
/// allowed (0 log 0 = 0). A tiny negative divergence from rounding is reported as 0 where scipy
/// would return NaN.
Result<double> JensenShannonDistance(std::span<const double> p, std::span<const double> q);

/// First Wasserstein distance between two unweighted samples, as
/// scipy.stats.wasserstein_distance(u, v): the integral of |F_u - F_v| over the merged sorted
/// values, summed with Neumaier compensation. Values must be finite.
Result<double> Wasserstein1(std::span<const double> u, std::span<const double> v);

/// Population Stability Index: sum over bins of (a - e) * ln(a / e), where e and a are the bin
/// proportions of the expected (reference) and actual (current) data. Convention: both inputs
/// may be counts or proportions and are first scaled to sum 1; then every proportion below
/// `epsilon` is raised to `epsilon` (no renormalisation), so that empty bins give a large but
/// finite contribution. 0 for identical inputs; symmetric in (expected, actual); >= 0.
/// Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
Result<double> PopulationStabilityIndex(std::span<const double> expected,
                                        std::span<const double> actual, double epsilon);

/// Quantile of sorted finite data as numpy.quantile(values, q) with the default 'linear'
/// method: index (n - 1) q, linear interpolation between the neighbours (numpy's two-sided
/// lerp formula, so q = 1 returns the maximum exactly). q in [0, 1]; data non-empty.
Result<double> Quantile(std::span<const double> sorted, double q);

/// Bin edges for JS / PSI on a numeric column: the reference's quantiles at k / bins,
/// k = 0..bins (Quantile above), with repeated edges removed (heavy ties or a constant column
/// give fewer bins). `sorted_reference` must be sorted ascending and non-empty; bins >= 1.
Result<std::vector<double>> QuantileEdges(std::span<const double> sorted_reference,
                                          std::size_t bins);

/// Proportions of `sorted_values` in the bins defined by strictly increasing `edges`
/// e_0 < ... < e_k: with k >= 1 there are k bins, [e_i, e_{i+1}), except that the first bin
/// extends to -inf and the last to +inf (current values outside the reference's range fall in
/// the end bins). With a single edge c (a constant reference) there are three bins: < c,
/// == c, > c. The proportions sum to 1.
Result<std::vector<double>> BinProportions(std::span<const double> sorted_values,
                                           std::span<const double> edges);

struct NumericSummary {
  std::size_t count = 0;      // non-missing values
  std::size_t missing = 0;    // as given by the caller
  double missing_rate = 0.0;  // missing / (count + missing)
  double mean = 0.0;
  double std = 0.0;  // sample standard deviation (ddof = 1, like pandas); NaN when count < 2
  double min = 0.0;
  double p25 = 0.0;
  double p50 = 0.0;
  double p75 = 0.0;
  double max = 0.0;
};

/// Summary of a numeric column, as pandas.Series.describe() plus the missing rate: mean and
/// std by two passes over Neumaier-compensated sums; quartiles as numpy.quantile (linear).
/// A constant column has std exactly 0 (pandas may print ~1e-17). With count == 0 (all values
/// missing) every statistic is NaN. Values must be finite; count + missing must be > 0.
Result<NumericSummary> Summarize(std::span<const double> values, std::size_t missing);

}  // namespace stagegate::ml
