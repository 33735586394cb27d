#include "ml/metrics.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ml/neumaier_sum.hpp"
#include "ml/parallel.hpp"
#include "ml/stats.hpp"

namespace stagegate::ml {
namespace {

// float64 machine epsilon, sklearn.metrics.log_loss's default clipping (eps="auto").
constexpr double kLogLossEps = std::numeric_limits<double>::epsilon();

// Counts are 64-bit; the ROC area's numerator is below n^2/2, so n < 2^32 keeps it exact.
constexpr std::size_t kMaxSamples = std::size_t{1} << 32U;

struct MetricInfo {
  Metric metric;
  std::string_view name;
  bool classification;
  bool higher_is_better;
};

constexpr std::array<MetricInfo, 9> kMetrics = {{
    {Metric::kAccuracy, "accuracy", true, true},
    {Metric::kPrecision, "precision", true, true},
    {Metric::kRecall, "recall", true, true},
    {Metric::kF1, "f1", true, true},
    {Metric::kRocAuc, "roc_auc", true, true},
    {Metric::kLogLoss, "log_loss", true, false},
    {Metric::kRmse, "rmse", false, false},
    {Metric::kMae, "mae", false, false},
    {Metric::kR2, "r2", false, true},
}};

const MetricInfo& Info(Metric metric) {
  for (const auto& info : kMetrics) {
    if (info.metric == metric) return info;
  }
  return kMetrics[0];  // unreachable: every enumerator is listed
}

tl::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// ---- input checks ----------------------------------------------------------------------

Result<void> CheckSizes(std::string_view metric, std::span<const double> y_true,
                        std::span<const double> y_pred, std::string_view pred_name) {
  if (y_true.empty()) {
    return Invalid(std::string(metric) + ": y_true is empty; need at least one sample");
  }
  if (y_true.size() != y_pred.size()) {
    return Invalid(std::string(metric) + ": y_true has " + std::to_string(y_true.size()) +
                   " values but " + std::string(pred_name) + " has " +
                   std::to_string(y_pred.size()) + "; give one value per sample in both");
  }
  if (y_true.size() >= kMaxSamples) {
    return Invalid(std::string(metric) + ": more than 2^32 samples are not supported");
  }
  return {};
}

Result<void> CheckFinite(std::string_view metric, std::span<const double> values,
                         std::string_view name) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Invalid(std::string(metric) + ": " + std::string(name) + "[" + std::to_string(i) +
                     "] is " + NumberText(values[i]) +
                     "; values must be finite numbers (drop or impute missing ones first)");
    }
  }
  return {};
}

Result<void> CheckLabels(std::string_view metric, std::span<const double> y_true) {
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] != 0.0 && y_true[i] != 1.0) {
      return Invalid(std::string(metric) + ": y_true[" + std::to_string(i) + "] is " +
                     NumberText(y_true[i]) +
                     "; binary labels must be 0 or 1 (map a label column with a positive "
                     "label first)");
    }
  }
  return {};
}

Result<void> CheckClassification(std::string_view metric, std::span<const double> y_true,
                                 std::span<const double> y_pred, std::string_view pred_name) {
  if (auto ok = CheckSizes(metric, y_true, y_pred, pred_name); !ok) return ok;
  if (auto ok = CheckLabels(metric, y_true); !ok) return ok;
  return CheckFinite(metric, y_pred, pred_name);
}

Result<void> CheckBothClasses(std::string_view metric, std::span<const double> y_true) {
  const auto positives = std::count(y_true.begin(), y_true.end(), 1.0);
  if (positives == 0 || static_cast<std::size_t>(positives) == y_true.size()) {
    return Invalid(std::string(metric) + ": y_true holds only the class " +
                   (positives == 0 ? "0" : "1") +
                   "; the metric needs samples of both classes (0 and 1)");
  }
  return {};
}

Result<void> CheckThreshold(std::string_view metric, const ClassificationOptions& options) {
  if (!std::isfinite(options.threshold)) {
    return Invalid(std::string(metric) + ": threshold is " + NumberText(options.threshold) +
                   "; give a finite number (default 0.5)");
  }
  return {};
}

// ---- kernels: unit weights when `w` is null, else bootstrap counts -------------------

std::uint64_t WeightAt(const std::uint32_t* w, std::size_t i) { return w == nullptr ? 1 : w[i]; }

struct Confusion {
  std::uint64_t tp = 0, fp = 0, fn = 0, tn = 0;
};

Confusion Count(std::span<const double> y, std::span<const double> pred, double threshold,
                const std::uint32_t* w) {
  Confusion m;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const std::uint64_t weight = WeightAt(w, i);
    const bool positive = pred[i] > threshold;
    if (y[i] == 1.0) {
      (positive ? m.tp : m.fn) += weight;
    } else {
      (positive ? m.fp : m.tn) += weight;
    }
  }
  return m;
}

double Ratio(std::uint64_t numerator, std::uint64_t denominator) {
  // sklearn's zero_division="warn" default: 0 when the denominator is 0.
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

double AccuracyOf(const Confusion& m) { return Ratio(m.tp + m.tn, m.tp + m.tn + m.fp + m.fn); }
double PrecisionOf(const Confusion& m) { return Ratio(m.tp, m.tp + m.fp); }
double RecallOf(const Confusion& m) { return Ratio(m.tp, m.tp + m.fn); }
double F1Of(const Confusion& m) {
  // As sklearn: the harmonic mean of precision and recall, 0 when both are 0.
  const double p = PrecisionOf(m);
  const double r = RecallOf(m);
  return p + r == 0.0 ? 0.0 : 2.0 * p * r / (p + r);
}

// Indices sorted by descending score.
std::vector<std::uint32_t> DescendingOrder(std::span<const double> scores) {
  std::vector<std::uint32_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return scores[a] > scores[b]; });
  return order;
}

// ROC AUC as the Mann-Whitney statistic: the share of (positive, negative) pairs ranked in
// the right order, a tie counting half. Walking down the distinct scores, each group of
// tied samples adds one ROC point; the trapezoid under the segment to it (the area
// sklearn.metrics.auc computes over roc_curve) is neg_g * (pos_before + pos_g / 2). Kept
// doubled in integers, so it is exact; one division at the end.
class RocArea final {
 public:
  // One group of tied scores, in descending score order.
  void AddGroup(std::uint64_t group_positives, std::uint64_t group_negatives) {
    twice_area_ += group_negatives * (2 * positives_ + group_positives);
    positives_ += group_positives;
    negatives_ += group_negatives;
  }
  // Undefined with one class only.
  std::optional<double> Auc() const {
    if (positives_ == 0 || negatives_ == 0) return std::nullopt;
    return static_cast<double>(twice_area_) /
           (2.0 * static_cast<double>(positives_) * static_cast<double>(negatives_));
  }

 private:
  std::uint64_t positives_ = 0;
  std::uint64_t negatives_ = 0;
  std::uint64_t twice_area_ = 0;
};

std::optional<double> RocAucOf(std::span<const double> y, std::span<const double> scores,
                               const std::vector<std::uint32_t>& order, const std::uint32_t* w) {
  RocArea area;
  std::size_t i = 0;
  while (i < order.size()) {
    const double score = scores[order[i]];
    std::uint64_t group_positives = 0;
    std::uint64_t group_negatives = 0;
    for (; i < order.size() && scores[order[i]] == score; ++i) {
      const std::uint64_t weight = WeightAt(w, order[i]);
      (y[order[i]] == 1.0 ? group_positives : group_negatives) += weight;
    }
    area.AddGroup(group_positives, group_negatives);
  }
  return area.Auc();
}

// As sklearn.metrics.log_loss 1.2.1 for one probability column: clip p to [eps, 1 - eps],
// form the pair (1 - p, p), divide by its sum (which rounding can leave off 1), take -log of
// the true class's share, average.
std::optional<double> LogLossOf(std::span<const double> y, std::span<const double> p,
                                const std::uint32_t* w) {
  NeumaierSum loss;
  std::uint64_t total = 0;
  std::uint64_t positives = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const std::uint64_t weight = WeightAt(w, i);
    if (weight == 0) continue;
    const double clipped = std::clamp(p[i], kLogLossEps, 1.0 - kLogLossEps);
    const double negative = 1.0 - clipped;
    const double sum = negative + clipped;
    const double share = (y[i] == 1.0 ? clipped : negative) / sum;
    loss.Add(-std::log(share) * static_cast<double>(weight));
    total += weight;
    if (y[i] == 1.0) positives += weight;
  }
  if (positives == 0 || positives == total) return std::nullopt;
  return loss.Total() / static_cast<double>(total);
}

// Weighted mean of f(y_i, p_i).
template <class F>
double MeanOf(std::span<const double> y, std::span<const double> p, const std::uint32_t* w, F f) {
  NeumaierSum sum;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const std::uint64_t weight = WeightAt(w, i);
    if (weight == 0) continue;
    sum.Add(f(y[i], p[i]) * static_cast<double>(weight));
    total += weight;
  }
  return sum.Total() / static_cast<double>(total);
}

double RmseOf(std::span<const double> y, std::span<const double> p, const std::uint32_t* w) {
  return std::sqrt(MeanOf(y, p, w, [](double a, double b) { return (a - b) * (a - b); }));
}

double MaeOf(std::span<const double> y, std::span<const double> p, const std::uint32_t* w) {
  return MeanOf(y, p, w, [](double a, double b) { return std::fabs(a - b); });
}

// As sklearn.metrics.r2_score with force_finite=True. A constant y_true is detected
// exactly (rather than through a mean that rounding can leave off the constant).
double R2Of(std::span<const double> y, std::span<const double> p, const std::uint32_t* w) {
  const double mean = MeanOf(y, p, w, [](double a, double) { return a; });
  NeumaierSum residual;
  NeumaierSum total;
  bool constant = true;
  std::optional<double> first;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const std::uint64_t weight = WeightAt(w, i);
    if (weight == 0) continue;
    const auto wd = static_cast<double>(weight);
    residual.Add(wd * (y[i] - p[i]) * (y[i] - p[i]));
    total.Add(wd * (y[i] - mean) * (y[i] - mean));
    if (!first) first = y[i];
    if (y[i] != *first) constant = false;
  }
  const double ss_res = residual.Total();
  if (constant) return ss_res == 0.0 ? 1.0 : 0.0;
  const double ss_tot = total.Total();
  if (ss_tot == 0.0) return ss_res == 0.0 ? 1.0 : 0.0;
  return 1.0 - ss_res / ss_tot;
}

// One model's predictions, prepared once for repeated evaluation under different weights.
struct Prepared {
  std::span<const double> y;
  std::span<const double> pred;
  double threshold = 0.5;
  // ROC AUC: sample indices by descending score, whether each is positive, and where each
  // group of tied scores ends in that order.
  std::vector<std::uint32_t> order;
  std::vector<std::uint8_t> positive;
  std::vector<std::uint32_t> group_ends;
  // Log loss, RMSE, MAE: each sample's term, computed once exactly as the full-data metric
  // computes it, so a resample only weighs and sums them.
  std::vector<double> terms;
  // Accuracy, precision, recall, F1: each sample's confusion cell, bit 0 set for a positive
  // label and bit 1 for a positive prediction, so a resample counts without branching.
  std::vector<std::uint8_t> cells;
};

// The confusion matrix of a resample from the prepared cells.
Confusion CountCells(const Prepared& d, const std::uint32_t* w) {
  std::uint64_t by_cell[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < d.cells.size(); ++i) {
    const std::uint64_t weight = w[i];
    const unsigned cell = d.cells[i];
    by_cell[0] += weight * static_cast<std::uint64_t>(cell == 0U);
    by_cell[1] += weight * static_cast<std::uint64_t>(cell == 1U);
    by_cell[2] += weight * static_cast<std::uint64_t>(cell == 2U);
    by_cell[3] += weight * static_cast<std::uint64_t>(cell == 3U);
  }
  return Confusion{.tp = by_cell[3], .fp = by_cell[2], .fn = by_cell[1], .tn = by_cell[0]};
}

// ROC AUC of a resample from the prepared order: as RocAucOf, without touching the scores.
std::optional<double> WeightedRocAuc(const Prepared& d, const std::uint32_t* w) {
  RocArea area;
  std::size_t i = 0;
  for (const std::uint32_t end : d.group_ends) {
    std::uint64_t group_positives = 0;
    std::uint64_t group_negatives = 0;
    for (; i < end; ++i) {
      const std::uint64_t weight = w[d.order[i]];
      (d.positive[i] != 0 ? group_positives : group_negatives) += weight;
    }
    area.AddGroup(group_positives, group_negatives);
  }
  return area.Auc();
}

// The weighted mean of the prepared terms (the sum in sample order, as MeanOf and LogLossOf).
double WeightedMeanOfTerms(const Prepared& d, const std::uint32_t* w) {
  NeumaierSum sum;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < d.terms.size(); ++i) {
    if (w[i] == 0) continue;
    sum.Add(d.terms[i] * static_cast<double>(w[i]));
    total += w[i];
  }
  return sum.Total() / static_cast<double>(total);
}

// A resample's metric (w: how often each sample was drawn).
std::optional<double> EvaluateResample(Metric metric, const Prepared& d, const std::uint32_t* w) {
  switch (metric) {
    case Metric::kAccuracy:
      return AccuracyOf(CountCells(d, w));
    case Metric::kPrecision:
      return PrecisionOf(CountCells(d, w));
    case Metric::kRecall:
      return RecallOf(CountCells(d, w));
    case Metric::kF1:
      return F1Of(CountCells(d, w));
    case Metric::kRocAuc:
      return WeightedRocAuc(d, w);
    case Metric::kLogLoss: {
      std::uint64_t total = 0;
      std::uint64_t positives = 0;
      for (std::size_t i = 0; i < d.y.size(); ++i) {
        total += w[i];
        if (d.y[i] == 1.0) positives += w[i];
      }
      if (positives == 0 || positives == total) return std::nullopt;
      return WeightedMeanOfTerms(d, w);
    }
    case Metric::kRmse:
      return std::sqrt(WeightedMeanOfTerms(d, w));
    case Metric::kMae:
      return WeightedMeanOfTerms(d, w);
    case Metric::kR2:
      break;
  }
  return std::nullopt;  // R^2 evaluates from the data directly
}

std::optional<double> Evaluate(Metric metric, const Prepared& d, const std::uint32_t* w) {
  if (w != nullptr && (!d.group_ends.empty() || !d.terms.empty() || !d.cells.empty())) {
    return EvaluateResample(metric, d, w);
  }
  switch (metric) {
    case Metric::kAccuracy:
      return AccuracyOf(Count(d.y, d.pred, d.threshold, w));
    case Metric::kPrecision:
      return PrecisionOf(Count(d.y, d.pred, d.threshold, w));
    case Metric::kRecall:
      return RecallOf(Count(d.y, d.pred, d.threshold, w));
    case Metric::kF1:
      return F1Of(Count(d.y, d.pred, d.threshold, w));
    case Metric::kRocAuc:
      return RocAucOf(d.y, d.pred, d.order, w);
    case Metric::kLogLoss:
      return LogLossOf(d.y, d.pred, w);
    case Metric::kRmse:
      return RmseOf(d.y, d.pred, w);
    case Metric::kMae:
      return MaeOf(d.y, d.pred, w);
    case Metric::kR2:
      return R2Of(d.y, d.pred, w);
  }
  return std::nullopt;
}

Result<void> CheckInputs(Metric metric, std::span<const double> y_true,
                         std::span<const double> y_pred, std::string_view pred_name,
                         const ClassificationOptions& options) {
  const std::string_view name = MetricName(metric);
  switch (metric) {
    case Metric::kAccuracy:
    case Metric::kPrecision:
    case Metric::kRecall:
    case Metric::kF1:
      if (auto ok = CheckThreshold(name, options); !ok) return ok;
      return CheckClassification(name, y_true, y_pred, pred_name);
    case Metric::kRocAuc:
      if (auto ok = CheckClassification(name, y_true, y_pred, pred_name); !ok) return ok;
      return CheckBothClasses(name, y_true);
    case Metric::kLogLoss: {
      if (auto ok = CheckClassification(name, y_true, y_pred, pred_name); !ok) return ok;
      for (std::size_t i = 0; i < y_pred.size(); ++i) {
        if (y_pred[i] < 0.0 || y_pred[i] > 1.0) {
          return Invalid(std::string(name) + ": " + std::string(pred_name) + "[" +
                         std::to_string(i) + "] is " + NumberText(y_pred[i]) +
                         "; log loss needs probabilities of the positive class in [0, 1]");
        }
      }
      return CheckBothClasses(name, y_true);
    }
    case Metric::kRmse:
    case Metric::kMae:
    case Metric::kR2:
      if (auto ok = CheckSizes(name, y_true, y_pred, pred_name); !ok) return ok;
      if (auto ok = CheckFinite(name, y_true, "y_true"); !ok) return ok;
      if (auto ok = CheckFinite(name, y_pred, pred_name); !ok) return ok;
      if (metric == Metric::kR2 && y_true.size() < 2) {
        return Invalid("r2: needs at least two samples (R^2 is not defined for one)");
      }
      return {};
  }
  return {};
}

Prepared Prepare(Metric metric, std::span<const double> y_true, std::span<const double> y_pred,
                 const ClassificationOptions& options) {
  Prepared d{.y = y_true, .pred = y_pred, .threshold = options.threshold};
  if (metric == Metric::kRocAuc) d.order = DescendingOrder(y_pred);
  return d;
}

// Prepare, plus what only repeated evaluation needs (the bootstrap).
Prepared PrepareForResamples(Metric metric, std::span<const double> y_true,
                             std::span<const double> y_pred, const ClassificationOptions& options) {
  Prepared d = Prepare(metric, y_true, y_pred, options);
  const std::size_t n = y_true.size();
  switch (metric) {
    case Metric::kRocAuc:
      d.positive.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        d.positive[i] = y_true[d.order[i]] == 1.0 ? 1 : 0;
        if (i + 1 == n || y_pred[d.order[i + 1]] != y_pred[d.order[i]]) {
          d.group_ends.push_back(static_cast<std::uint32_t>(i + 1));
        }
      }
      break;
    case Metric::kLogLoss:
      d.terms.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        const double clipped = std::clamp(y_pred[i], kLogLossEps, 1.0 - kLogLossEps);
        const double negative = 1.0 - clipped;
        const double sum = negative + clipped;
        d.terms[i] = -std::log((y_true[i] == 1.0 ? clipped : negative) / sum);
      }
      break;
    case Metric::kRmse:
      d.terms.resize(n);
      for (std::size_t i = 0; i < n; ++i)
        d.terms[i] = (y_true[i] - y_pred[i]) * (y_true[i] - y_pred[i]);
      break;
    case Metric::kMae:
      d.terms.resize(n);
      for (std::size_t i = 0; i < n; ++i) d.terms[i] = std::fabs(y_true[i] - y_pred[i]);
      break;
    case Metric::kAccuracy:
    case Metric::kPrecision:
    case Metric::kRecall:
    case Metric::kF1:
      d.cells.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        // As Count: a positive label is 1.0, a positive prediction is above the threshold.
        d.cells[i] = static_cast<std::uint8_t>((y_true[i] == 1.0 ? 1U : 0U) |
                                               (y_pred[i] > options.threshold ? 2U : 0U));
      }
      break;
    case Metric::kR2:
      break;
  }
  return d;
}

Result<double> Compute(Metric metric, std::span<const double> y_true,
                       std::span<const double> y_pred, std::string_view pred_name,
                       const ClassificationOptions& options) {
  if (auto ok = CheckInputs(metric, y_true, y_pred, pred_name, options); !ok) {
    return tl::unexpected(ok.error());
  }
  const auto value = Evaluate(metric, Prepare(metric, y_true, y_pred, options), nullptr);
  if (!value) {
    return Fail(ErrorCode::kInternal, std::string(MetricName(metric)) + ": undefined");
  }
  return *value;
}

// Uniform in [0, n) without bias and without a library distribution (Lemire 2019,
// "Fast random integer generation in an interval"): the high half of x * n, rejecting the
// few x whose low half falls below 2^64 mod n. Mostly one multiplication, no division.
std::uint64_t UniformBelow(std::mt19937_64& engine, std::uint64_t n) {
  __extension__ using Wide = unsigned __int128;
  Wide product = static_cast<Wide>(engine()) * n;
  auto low = static_cast<std::uint64_t>(product);
  if (low < n) {
    const std::uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
    while (low < reject_below) {
      product = static_cast<Wide>(engine()) * n;
      low = static_cast<std::uint64_t>(product);
    }
  }
  return static_cast<std::uint64_t>(product >> 64U);
}

bool IsCorrect(double label, double prediction, double threshold) {
  return (prediction > threshold) == (label == 1.0);
}

}  // namespace

std::string_view MetricName(Metric metric) { return Info(metric).name; }

Result<Metric> ParseMetric(std::string_view name) {
  std::string names;
  for (const auto& info : kMetrics) {
    if (info.name == name) return info.metric;
    names += names.empty() ? "" : ", ";
    names += info.name;
  }
  return Invalid("unknown metric '" + std::string(name) + "'; the metrics are: " + names);
}

bool IsClassification(Metric metric) { return Info(metric).classification; }
bool HigherIsBetter(Metric metric) { return Info(metric).higher_is_better; }

Result<double> Accuracy(std::span<const double> y_true, std::span<const double> y_pred,
                        const ClassificationOptions& options) {
  return Compute(Metric::kAccuracy, y_true, y_pred, "y_pred", options);
}
Result<double> Precision(std::span<const double> y_true, std::span<const double> y_pred,
                         const ClassificationOptions& options) {
  return Compute(Metric::kPrecision, y_true, y_pred, "y_pred", options);
}
Result<double> Recall(std::span<const double> y_true, std::span<const double> y_pred,
                      const ClassificationOptions& options) {
  return Compute(Metric::kRecall, y_true, y_pred, "y_pred", options);
}
Result<double> F1(std::span<const double> y_true, std::span<const double> y_pred,
                  const ClassificationOptions& options) {
  return Compute(Metric::kF1, y_true, y_pred, "y_pred", options);
}
Result<double> RocAuc(std::span<const double> y_true, std::span<const double> y_score) {
  return Compute(Metric::kRocAuc, y_true, y_score, "y_score", {});
}
Result<double> LogLoss(std::span<const double> y_true, std::span<const double> y_prob) {
  return Compute(Metric::kLogLoss, y_true, y_prob, "y_prob", {});
}
Result<double> Rmse(std::span<const double> y_true, std::span<const double> y_pred) {
  return Compute(Metric::kRmse, y_true, y_pred, "y_pred", {});
}
Result<double> Mae(std::span<const double> y_true, std::span<const double> y_pred) {
  return Compute(Metric::kMae, y_true, y_pred, "y_pred", {});
}
Result<double> R2(std::span<const double> y_true, std::span<const double> y_pred) {
  return Compute(Metric::kR2, y_true, y_pred, "y_pred", {});
}

Result<double> ComputeMetric(Metric metric, std::span<const double> y_true,
                             std::span<const double> y_pred, const ClassificationOptions& options) {
  const std::string_view pred_name = metric == Metric::kRocAuc    ? "y_score"
                                     : metric == Metric::kLogLoss ? "y_prob"
                                                                  : "y_pred";
  return Compute(metric, y_true, y_pred, pred_name, options);
}

Result<std::vector<double>> ToBinaryLabels(const Column& column,
                                           std::optional<std::string> positive_label) {
  const std::string where = "label column '" + column.name + "'";
  if (column.missing > 0) {
    return Invalid(where + " has " + std::to_string(column.missing) +
                   " missing values; every sample needs a label");
  }
  std::vector<double> labels;
  if (column.kind == ColumnKind::kCategorical) {
    std::string listed;
    for (const auto& c : column.categories) listed += (listed.empty() ? "'" : ", '") + c + "'";
    if (column.categories.size() > 2) {
      return Invalid(where + " has " + std::to_string(column.categories.size()) + " classes (" +
                     listed + "); binary metrics need two");
    }
    if (!positive_label) {
      if (column.categories == std::vector<std::string>{"false", "true"}) {
        positive_label = "true";
      } else {
        return Invalid(where + " holds text (" + listed + "); name the positive label");
      }
    }
    const auto found =
        std::find(column.categories.begin(), column.categories.end(), *positive_label);
    if (found == column.categories.end()) {
      return Invalid(where + ": the positive label '" + *positive_label +
                     "' is not one of its values (" + listed + ")");
    }
    const auto positive = static_cast<std::int32_t>(found - column.categories.begin());
    labels.reserve(column.codes.size());
    for (const auto code : column.codes) labels.push_back(code == positive ? 1.0 : 0.0);
    return labels;
  }
  double positive = 1.0;
  if (positive_label) {
    const char* end = positive_label->data() + positive_label->size();
    const auto [ptr, ec] = std::from_chars(positive_label->data(), end, positive);
    if (ec != std::errc() || ptr != end) {
      return Invalid(where + " is numeric but the positive label '" + *positive_label +
                     "' is not a number");
    }
  }
  std::optional<double> negative;
  labels.reserve(column.numbers.size());
  for (std::size_t i = 0; i < column.numbers.size(); ++i) {
    const double v = column.numbers[i];
    if (v != positive) {
      if (!positive_label && v != 0.0) {
        return Invalid(where + ": row " + std::to_string(i + 1) + " is " + NumberText(v) +
                       "; labels must be 0 or 1, or name the positive label");
      }
      if (negative && *negative != v) {
        return Invalid(where + " has more than two distinct values (" + NumberText(positive) +
                       ", " + NumberText(*negative) + ", " + NumberText(v) +
                       ", ...); binary metrics need two");
      }
      negative = v;
    }
    labels.push_back(v == positive ? 1.0 : 0.0);
  }
  return labels;
}

Result<BootstrapInterval> PairedBootstrap(Metric metric, std::span<const double> y_true,
                                          std::span<const double> champion,
                                          std::span<const double> challenger,
                                          const BootstrapOptions& options) {
  if (options.resamples == 0) {
    return Invalid("bootstrap: resamples is 0; give at least 1 (default 1000)");
  }
  if (!(options.confidence > 0.0 && options.confidence < 1.0)) {
    return Invalid("bootstrap: confidence is " + NumberText(options.confidence) +
                   "; give a level strictly between 0 and 1 (default 0.95)");
  }
  const auto& classification = options.classification;
  if (auto ok = CheckInputs(metric, y_true, champion, "champion", classification); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = CheckInputs(metric, y_true, challenger, "challenger", classification); !ok) {
    return tl::unexpected(ok.error());
  }
  const auto prepare = options.reference_kernels ? Prepare : PrepareForResamples;
  const Prepared a = prepare(metric, y_true, champion, classification);
  const Prepared b = prepare(metric, y_true, challenger, classification);

  BootstrapInterval result;
  result.champion = *Evaluate(metric, a, nullptr);
  result.challenger = *Evaluate(metric, b, nullptr);
  result.difference = result.challenger - result.champion;
  result.confidence = options.confidence;
  result.resamples = options.resamples;

  // A resample is a count per sample (how often it was drawn), so every metric is computed
  // in one pass and ROC AUC reuses each model's sort order. Resample r draws from its own
  // engine, seeded with (seed, r), so resamples run on every core and the interval does not
  // depend on how many there are.
  const std::size_t n = y_true.size();
  std::vector<double> resampled(options.resamples, std::numeric_limits<double>::quiet_NaN());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    std::vector<std::uint32_t> counts(n);
    for (std::size_t r = next++; r < options.resamples; r = next++) {
      std::seed_seq seeds{static_cast<std::uint32_t>(options.seed),
                          static_cast<std::uint32_t>(options.seed >> 32U),
                          static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(r >> 32U)};
      std::mt19937_64 engine(seeds);
      std::fill(counts.begin(), counts.end(), 0U);
      for (std::size_t i = 0; i < n; ++i) ++counts[UniformBelow(engine, n)];
      const auto va = Evaluate(metric, a, counts.data());
      const auto vb = Evaluate(metric, b, counts.data());
      if (va && vb) resampled[r] = *vb - *va;
    }
  };
  RunWorkers(WorkerCount(options.resamples, options.threads), work);
  std::vector<double> differences;
  differences.reserve(options.resamples);
  for (const double d : resampled) {
    if (std::isnan(d)) {
      ++result.undefined_resamples;
    } else {
      differences.push_back(d);
    }
  }
  if (differences.empty()) {
    return Invalid("bootstrap: " + std::string(MetricName(metric)) + " is undefined on all " +
                   std::to_string(options.resamples) +
                   " resamples (each drew one class only); use more samples");
  }
  std::sort(differences.begin(), differences.end());
  const double tail = (1.0 - options.confidence) / 2.0;
  // numpy.percentile's linear interpolation, as the drift summaries (stats.hpp).
  result.lower = *Quantile(differences, tail);
  result.upper = *Quantile(differences, 1.0 - tail);
  result.differences = std::move(differences);
  return result;
}

Result<McNemarResult> McNemar(std::span<const double> y_true, std::span<const double> champion,
                              std::span<const double> challenger,
                              const ClassificationOptions& options) {
  if (auto ok = CheckThreshold("mcnemar", options); !ok) return tl::unexpected(ok.error());
  if (auto ok = CheckClassification("mcnemar", y_true, champion, "champion"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = CheckClassification("mcnemar", y_true, challenger, "challenger"); !ok) {
    return tl::unexpected(ok.error());
  }
  McNemarResult result;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    const bool a = IsCorrect(y_true[i], champion[i], options.threshold);
    const bool b = IsCorrect(y_true[i], challenger[i], options.threshold);
    if (a && !b) ++result.champion_only;
    if (!a && b) ++result.challenger_only;
  }
  const std::size_t b = result.champion_only;
  const std::size_t c = result.challenger_only;
  const std::size_t n = b + c;
  if (n < kMcNemarExactBelow) {
    // Two-sided exact binomial test at p = 1/2: by symmetry, twice the lower tail of the
    // smaller count. Binomial coefficients below 2^24 are exact in doubles.
    result.method = McNemarMethod::kExactBinomial;
    const std::size_t k = std::min(b, c);
    result.statistic = static_cast<double>(k);
    if (n == 0) {
      result.p_value = 1.0;
      return result;
    }
    double coefficient = 1.0;  // C(n, i)
    double tail = 0.0;
    for (std::size_t i = 0; i <= k; ++i) {
      tail += coefficient;
      coefficient = coefficient * static_cast<double>(n - i) / static_cast<double>(i + 1);
    }
    result.p_value = std::min(1.0, 2.0 * std::ldexp(tail, -static_cast<int>(n)));
    return result;
  }
  // Chi-square with one degree of freedom and Edwards' continuity correction; its survival
  // function is erfc(sqrt(x / 2)).
  result.method = McNemarMethod::kChiSquareCorrected;
  const double gap = std::fabs(static_cast<double>(b) - static_cast<double>(c));
  const double corrected = std::max(0.0, gap - 1.0);
  result.statistic = corrected * corrected / static_cast<double>(n);
  result.p_value = std::erfc(std::sqrt(result.statistic / 2.0));
  return result;
}

}  // namespace stagegate::ml
