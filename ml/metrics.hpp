#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ml/table.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate::ml {

// Model metrics for `stagegate action compare --mode evaluate`, each defined as its
// scikit-learn 1.2.1 namesake so that the numbers agree with it to 1e-9 relative
// (tests/ml/test_metrics_exactness.py checks this).
//
// Inputs are parallel spans, one element per sample. Binary labels are the numbers 0 and 1
// (1 is the positive class, as sklearn's pos_label=1); ToBinaryLabels() turns a table column
// with another coding into that. Predictions for the label metrics may be labels or scores:
// a prediction counts as positive when it is strictly above `threshold` (default 0.5), which
// maps 0/1 labels to themselves and probabilities the way sklearn classifiers' predict()
// does (argmax of predict_proba: a tie at 0.5 goes to class 0).
//
// Every function rejects, with a message naming the parameter and the first bad index:
// different lengths, no samples, labels other than 0 and 1, and NaN or infinite values.

enum class Metric {
  kAccuracy,   // sklearn.metrics.accuracy_score
  kPrecision,  // precision_score(pos_label=1); 0 when nothing is predicted positive
  kRecall,     // recall_score(pos_label=1); 0 when no label is positive
  kF1,         // f1_score(pos_label=1) = 2PR/(P+R); 0 when P + R = 0
  kRocAuc,     // roc_auc_score; needs both classes in y_true
  kLogLoss,    // log_loss with eps = machine epsilon; needs both classes in y_true
  kRmse,       // sqrt(mean_squared_error)
  kMae,        // mean_absolute_error
  kR2,         // r2_score (force_finite=True); needs two samples
};

/// "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2".
std::string_view MetricName(Metric metric);
/// The metric called `name` (as MetricName), or an error listing the names.
Result<Metric> ParseMetric(std::string_view name);
/// Whether y_true holds binary labels for this metric (else real-valued targets).
bool IsClassification(Metric metric);
/// Whether a larger value is a better model (false for log loss, RMSE and MAE).
bool HigherIsBetter(Metric metric);

struct ClassificationOptions {
  /// A score strictly above this is the positive class (label metrics and McNemar only).
  double threshold = 0.5;
};

// Binary classification. y_pred: labels or scores, thresholded as described above.
Result<double> Accuracy(std::span<const double> y_true, std::span<const double> y_pred,
                        const ClassificationOptions& options = {});
Result<double> Precision(std::span<const double> y_true, std::span<const double> y_pred,
                         const ClassificationOptions& options = {});
Result<double> Recall(std::span<const double> y_true, std::span<const double> y_pred,
                      const ClassificationOptions& options = {});
Result<double> F1(std::span<const double> y_true, std::span<const double> y_pred,
                  const ClassificationOptions& options = {});

/// Area under the ROC curve of the scores (any finite numbers; higher = more positive). Tied
/// scores count half, as the trapezoid between the ROC points sklearn.metrics.roc_curve
/// draws. Error when y_true holds only one class (sklearn raises there too).
Result<double> RocAuc(std::span<const double> y_true, std::span<const double> y_score);

/// Mean negative log-likelihood of the probabilities of the positive class. As
/// sklearn.metrics.log_loss 1.2.1 (eps="auto"): p is clipped to [eps, 1 - eps] with eps =
/// 2^-52 (float64 machine epsilon), the pair (1 - p, p) is renormalised by its sum, and the
/// loss of a sample is -log of its true class's share. Probabilities must lie in [0, 1]
/// (sklearn would silently clip others). Error when y_true holds only one class.
Result<double> LogLoss(std::span<const double> y_true, std::span<const double> y_prob);

// Regression.
Result<double> Rmse(std::span<const double> y_true, std::span<const double> y_pred);
Result<double> Mae(std::span<const double> y_true, std::span<const double> y_pred);
/// 1 - SS_res / SS_tot. When y_true is constant (SS_tot = 0): 1 for a perfect prediction,
/// else 0 (sklearn's force_finite=True). Error for fewer than two samples (sklearn returns
/// NaN with a warning).
Result<double> R2(std::span<const double> y_true, std::span<const double> y_pred);

/// Any of the above by name; `options` applies to the label metrics.
Result<double> ComputeMetric(Metric metric, std::span<const double> y_true,
                             std::span<const double> y_pred,
                             const ClassificationOptions& options = {});

/// y_true from a table column: a categorical column with exactly two categories (or one)
/// becomes 1 where the value is `positive_label` and 0 elsewhere; a numeric column must
/// hold 0 and 1 (then `positive_label`, if given, must be "1"). Missing values are an error.
Result<std::vector<double>> ToBinaryLabels(const Column& column,
                                           std::optional<std::string> positive_label);

// ---------------------------------------------------------------------------------------
// Paired bootstrap of the difference challenger - champion.

/// The default seed, so that the same data give the same interval run after run.
inline constexpr std::uint64_t kDefaultBootstrapSeed = 20240917;

struct BootstrapOptions {
  std::size_t resamples = 1000;
  double confidence = 0.95;  // of the two-sided percentile interval, in (0, 1)
  std::uint64_t seed = kDefaultBootstrapSeed;
  ClassificationOptions classification;
  /// Threads drawing resamples; 0 = one per core. The interval is the same for any count.
  unsigned threads = 0;
  /// Tests only: evaluate each resample with the full-data kernels instead of the prepared
  /// per-sample terms; the interval must come out bit for bit the same.
  bool reference_kernels = false;
};

struct BootstrapInterval {
  double champion = 0;    // the metric on the full data
  double challenger = 0;  // the metric on the full data
  double difference = 0;  // challenger - champion
  double lower = 0;       // percentile interval of the resampled differences
  double upper = 0;
  double confidence = 0;
  std::size_t resamples = 0;  // resamples drawn
  /// Resamples where the metric is undefined for either model (ROC AUC and log loss on a
  /// resample with one class only); left out of the interval.
  std::size_t undefined_resamples = 0;
  std::vector<double> differences;  // each defined resample's difference, ascending
};

/// Draws `resamples` samples of size n with replacement (the same indices for both models),
/// computes metric(challenger) - metric(champion) on each, and returns the percentile
/// interval at `confidence`: the (1-c)/2 and (1+c)/2 quantiles of those differences with
/// linear interpolation between order statistics (numpy.percentile's default). Resample r
/// draws its indices from its own std::mt19937_64, seeded through std::seed_seq with the 32-bit
/// halves of `seed` and of r, reduced to [0, n) by Lemire's multiply-and-reject method (no
/// modulo bias, and the same on every standard library). Resamples run on all cores; the
/// interval depends only on the data and the options, not on the number of cores. Errors: the
/// metric's own input errors, resamples = 0, confidence outside (0, 1), or every resample
/// undefined.
Result<BootstrapInterval> PairedBootstrap(Metric metric, std::span<const double> y_true,
                                          std::span<const double> champion,
                                          std::span<const double> challenger,
                                          const BootstrapOptions& options = {});

// ---------------------------------------------------------------------------------------
// McNemar's test for two classifiers on the same samples.

enum class McNemarMethod {
  kExactBinomial,      // b + c < 25: two-sided binomial test of b out of b + c at p = 1/2
  kChiSquareCorrected  // b + c >= 25: (max(0, |b - c| - 1))^2 / (b + c) against chi2(1)
};

inline constexpr std::size_t kMcNemarExactBelow = 25;

struct McNemarResult {
  std::size_t champion_only = 0;    // b: champion right, challenger wrong
  std::size_t challenger_only = 0;  // c: champion wrong, challenger right
  McNemarMethod method = McNemarMethod::kExactBinomial;
  /// Exact: min(b, c). Chi-square: the corrected statistic.
  double statistic = 0;
  /// Two-sided. Exact: min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2), and 1 when
  /// b + c = 0 (as scipy.stats.binomtest). Chi-square: P(chi2(1) > statistic). The continuity
  /// correction is clamped at 0 so that b = c gives p = 1 (statsmodels' mcnemar would use
  /// (|b - c| - 1)^2 = 1 there).
  double p_value = 1;
};

/// Compares the two models' predictions (labels or scores, thresholded) against y_true.
Result<McNemarResult> McNemar(std::span<const double> y_true, std::span<const double> champion,
                              std::span<const double> challenger,
                              const ClassificationOptions& options = {});

}  // namespace stagegate::ml
