#include "ml/metrics.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace stagegate::ml {
namespace {

using Values = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string ErrorText(const Result<double>& result) {
  return result ? "(no error)" : result.error().message;
}

// ---- values worked out by hand -----------------------------------------------------------

// y = 1 0 1 1 0, scores .9 .6 .4 .7 .2 -> labels 1 1 0 1 0: tp 2, fp 1, fn 1, tn 1.
const Values kY = {1, 0, 1, 1, 0};
const Values kScores = {0.9, 0.6, 0.4, 0.7, 0.2};

TEST(MetricsClassification, HandWorkedExample) {
  EXPECT_DOUBLE_EQ(*Accuracy(kY, kScores), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(*Precision(kY, kScores), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(*Recall(kY, kScores), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(*F1(kY, kScores), 2.0 / 3.0);
  // Positive/negative pairs in the right order: 5 of 6.
  EXPECT_DOUBLE_EQ(*RocAuc(kY, kScores), 5.0 / 6.0);
}

TEST(MetricsClassification, ThresholdIsStrict) {
  // 0.5 is not above 0.5: negative by default; positive with threshold 0.4.
  EXPECT_DOUBLE_EQ(*Recall(Values{1, 1}, Values{0.5, 0.9}), 0.5);
  EXPECT_DOUBLE_EQ(*Recall(Values{1, 1}, Values{0.5, 0.9}, {.threshold = 0.4}), 1.0);
}

TEST(MetricsClassification, ZeroDivisionGivesZero) {
  EXPECT_EQ(*Precision(Values{1, 0}, Values{0, 0}), 0.0);  // nothing predicted positive
  EXPECT_EQ(*Recall(Values{0, 0}, Values{1, 0}), 0.0);     // no positive label
  EXPECT_EQ(*F1(Values{0, 0}, Values{0, 0}), 0.0);
}

TEST(MetricsRocAuc, TiesCountHalf) {
  EXPECT_DOUBLE_EQ(*RocAuc(Values{0, 1, 0, 1}, Values{0.5, 0.5, 0.5, 0.5}), 0.5);
  // One tied pair of four (positive .3 vs negative .3): (3 + 0.5) / 4.
  EXPECT_DOUBLE_EQ(*RocAuc(Values{1, 1, 0, 0}, Values{0.8, 0.3, 0.3, 0.1}), 3.5 / 4.0);
  EXPECT_EQ(*RocAuc(Values{0, 1}, Values{0.9, 0.1}), 0.0);
}

TEST(MetricsLogLoss, ClipsHardProbabilities) {
  // Confidently wrong: -log(eps) with eps = 2^-52.
  EXPECT_DOUBLE_EQ(*LogLoss(Values{1, 0}, Values{0.0, 1.0}), 52.0 * std::log(2.0));
  EXPECT_DOUBLE_EQ(*LogLoss(Values{1, 0}, Values{0.5, 0.5}), std::log(2.0));
}

TEST(MetricsRegression, HandWorkedExample) {
  const Values y = {1, 2, 3};
  const Values p = {2, 2, 2};
  EXPECT_DOUBLE_EQ(*Rmse(y, p), std::sqrt(2.0 / 3.0));
  EXPECT_DOUBLE_EQ(*Mae(y, p), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(*R2(y, p), 0.0);
  EXPECT_DOUBLE_EQ(*R2(y, Values{3, 2, 1}), -3.0);
}

TEST(MetricsRegression, ConstantTarget) {
  EXPECT_EQ(*R2(Values{-2, -2, -2}, Values{-2, -2, -2}), 1.0);
  EXPECT_EQ(*R2(Values{-2, -2, -2}, Values{-2, -2, -2 + 1e-8}), 0.0);
  // 0.1 three times: a computed mean may be off by one ulp; still detected as constant.
  EXPECT_EQ(*R2(Values{0.1, 0.1, 0.1}, Values{0.1, 0.1, 0.2}), 0.0);
}

// ---- bad input ---------------------------------------------------------------------------

TEST(MetricsBadInput, LengthMismatch) {
  EXPECT_EQ(ErrorText(Accuracy(Values{0, 1, 1}, Values{0, 1})),
            "accuracy: y_true has 3 values but y_pred has 2; give one value per sample in both");
  EXPECT_EQ(ErrorText(RocAuc(Values{0, 1}, Values{0.1})),
            "roc_auc: y_true has 2 values but y_score has 1; give one value per sample in both");
}

TEST(MetricsBadInput, Empty) {
  EXPECT_EQ(ErrorText(Mae(Values{}, Values{})), "mae: y_true is empty; need at least one sample");
  EXPECT_EQ(ErrorText(F1(Values{}, Values{})), "f1: y_true is empty; need at least one sample");
}

TEST(MetricsBadInput, LabelsOutsideZeroOne) {
  EXPECT_EQ(ErrorText(Precision(Values{0, 1, 2}, Values{0, 1, 1})),
            "precision: y_true[2] is 2; binary labels must be 0 or 1 (map a label column with a "
            "positive label first)");
  EXPECT_EQ(ErrorText(RocAuc(Values{0, -1}, Values{0.1, 0.2})),
            "roc_auc: y_true[1] is -1; binary labels must be 0 or 1 (map a label column with a "
            "positive label first)");
  EXPECT_EQ(ErrorText(LogLoss(Values{kNaN, 1}, Values{0.1, 0.2})),
            "log_loss: y_true[0] is nan; binary labels must be 0 or 1 (map a label column with a "
            "positive label first)");
}

TEST(MetricsBadInput, NaNScores) {
  EXPECT_EQ(ErrorText(RocAuc(Values{0, 1}, Values{0.1, kNaN})),
            "roc_auc: y_score[1] is nan; values must be finite numbers (drop or impute missing "
            "ones first)");
  EXPECT_EQ(ErrorText(Accuracy(Values{0, 1}, Values{kNaN, 1})),
            "accuracy: y_pred[0] is nan; values must be finite numbers (drop or impute missing "
            "ones first)");
  EXPECT_EQ(ErrorText(Rmse(Values{1, kNaN}, Values{1, 1})),
            "rmse: y_true[1] is nan; values must be finite numbers (drop or impute missing ones "
            "first)");
  EXPECT_EQ(ErrorText(LogLoss(Values{0, 1}, Values{0.2, std::numeric_limits<double>::infinity()})),
            "log_loss: y_prob[1] is inf; values must be finite numbers (drop or impute missing "
            "ones first)");
}

TEST(MetricsBadInput, UndefinedCases) {
  EXPECT_EQ(ErrorText(RocAuc(Values{1, 1}, Values{0.1, 0.2})),
            "roc_auc: y_true holds only the class 1; the metric needs samples of both classes "
            "(0 and 1)");
  EXPECT_EQ(ErrorText(LogLoss(Values{0}, Values{0.2})),
            "log_loss: y_true holds only the class 0; the metric needs samples of both classes "
            "(0 and 1)");
  EXPECT_EQ(ErrorText(LogLoss(Values{0, 1}, Values{-0.1, 0.2})),
            "log_loss: y_prob[0] is -0.1; log loss needs probabilities of the positive class in "
            "[0, 1]");
  EXPECT_EQ(ErrorText(R2(Values{1}, Values{1})),
            "r2: needs at least two samples (R^2 is not defined for one)");
  EXPECT_EQ(ErrorText(Accuracy(Values{1}, Values{1}, {.threshold = kNaN})),
            "accuracy: threshold is nan; give a finite number (default 0.5)");
}

TEST(MetricsNames, RoundTripAndUnknown) {
  for (const auto metric :
       {Metric::kAccuracy, Metric::kPrecision, Metric::kRecall, Metric::kF1, Metric::kRocAuc,
        Metric::kLogLoss, Metric::kRmse, Metric::kMae, Metric::kR2}) {
    EXPECT_EQ(*ParseMetric(MetricName(metric)), metric);
  }
  const auto unknown = ParseMetric("auc");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().message,
            "unknown metric 'auc'; the metrics are: accuracy, precision, recall, f1, roc_auc, "
            "log_loss, rmse, mae, r2");
  EXPECT_FALSE(HigherIsBetter(Metric::kLogLoss));
  EXPECT_TRUE(HigherIsBetter(Metric::kR2));
  EXPECT_FALSE(IsClassification(Metric::kMae));
}

// ---- binary labels from a table column --------------------------------------------------

TEST(MetricsBinaryLabels, CategoricalWithPositiveLabel) {
  Column column{.name = "churn", .kind = ColumnKind::kCategorical};
  column.categories = {"no", "yes"};
  column.codes = {1, 0, 0, 1};
  EXPECT_EQ(*ToBinaryLabels(column, "yes"), (Values{1, 0, 0, 1}));
  EXPECT_EQ(*ToBinaryLabels(column, "no"), (Values{0, 1, 1, 0}));
  const auto absent = ToBinaryLabels(column, "maybe");
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().message,
            "label column 'churn': the positive label 'maybe' is not one of its values ('no', "
            "'yes')");
  EXPECT_FALSE(ToBinaryLabels(column, std::nullopt).has_value());
}

TEST(MetricsBinaryLabels, NumericAndMissing) {
  Column column{.name = "y", .kind = ColumnKind::kNumeric};
  column.numbers = {2, 5, 5};
  EXPECT_EQ(*ToBinaryLabels(column, "5"), (Values{0, 1, 1}));
  const auto no_label = ToBinaryLabels(column, std::nullopt);
  ASSERT_FALSE(no_label.has_value());
  EXPECT_EQ(no_label.error().message,
            "label column 'y': row 1 is 2; labels must be 0 or 1, or name the positive label");
  column.numbers = {1, kNaN};
  column.missing = 1;
  EXPECT_EQ(ToBinaryLabels(column, std::nullopt).error().message,
            "label column 'y' has 1 missing values; every sample needs a label");
}

// ---- paired bootstrap -------------------------------------------------------------------

struct Pair {
  Values y, champion, challenger;
};

// The challenger separates the classes much better than the champion.
Pair ClearCase(std::size_t n) {
  std::mt19937_64 engine(1);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Pair p;
  for (std::size_t i = 0; i < n; ++i) {
    const double y = i % 2 == 0 ? 1.0 : 0.0;
    p.y.push_back(y);
    p.champion.push_back(0.1 * y + 0.9 * uniform(engine));
    p.challenger.push_back(0.6 * y + 0.4 * uniform(engine));
  }
  return p;
}

TEST(MetricsBootstrap, ClearImprovementIntervalExcludesZero) {
  const Pair p = ClearCase(300);
  for (const auto metric : {Metric::kRocAuc, Metric::kAccuracy, Metric::kF1, Metric::kLogLoss}) {
    const auto ci = PairedBootstrap(metric, p.y, p.champion, p.challenger);
    ASSERT_TRUE(ci.has_value()) << ci.error().message;
    EXPECT_DOUBLE_EQ(ci->difference, *ComputeMetric(metric, p.y, p.challenger) -
                                         *ComputeMetric(metric, p.y, p.champion));
    EXPECT_LE(ci->lower, ci->difference) << MetricName(metric);
    EXPECT_GE(ci->upper, ci->difference) << MetricName(metric);
    if (HigherIsBetter(metric)) {
      EXPECT_GT(ci->lower, 0.0) << MetricName(metric);
    } else {
      EXPECT_LT(ci->upper, 0.0) << MetricName(metric);
    }
    EXPECT_EQ(ci->resamples, 1000U);
    EXPECT_EQ(ci->undefined_resamples, 0U);
  }
}

TEST(MetricsBootstrap, IdenticalModelsGiveZeroInterval) {
  const Pair p = ClearCase(200);
  for (const auto metric :
       {Metric::kRocAuc, Metric::kPrecision, Metric::kLogLoss, Metric::kR2, Metric::kRmse}) {
    const auto ci = PairedBootstrap(metric, p.y, p.challenger, p.challenger);
    ASSERT_TRUE(ci.has_value()) << ci.error().message;
    EXPECT_EQ(ci->difference, 0.0);
    EXPECT_EQ(ci->lower, 0.0);
    EXPECT_EQ(ci->upper, 0.0);
  }
}

TEST(MetricsBootstrap, ReproducibleWithSeedAndChangesWithAnother) {
  const Pair p = ClearCase(150);
  BootstrapOptions options;
  options.resamples = 500;
  const auto a = PairedBootstrap(Metric::kRocAuc, p.y, p.champion, p.challenger, options);
  const auto b = PairedBootstrap(Metric::kRocAuc, p.y, p.champion, p.challenger, options);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->lower, b->lower);
  EXPECT_EQ(a->upper, b->upper);
  options.seed = kDefaultBootstrapSeed + 1;
  const auto c = PairedBootstrap(Metric::kRocAuc, p.y, p.champion, p.challenger, options);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(a->lower != c->lower || a->upper != c->upper);
  EXPECT_EQ(a->difference, c->difference);  // the point estimate does not depend on the seed
}

TEST(MetricsBootstrap, PreparedKernelsAndThreadCountDoNotChangeTheInterval) {
  // Scores rounded to 0.05, so that ROC AUC meets many ties.
  Pair p = ClearCase(40);
  for (auto* scores : {&p.champion, &p.challenger}) {
    for (double& v : *scores) v = std::round(v * 20.0) / 20.0;
  }
  for (const auto metric :
       {Metric::kAccuracy, Metric::kPrecision, Metric::kRecall, Metric::kF1, Metric::kRocAuc,
        Metric::kLogLoss, Metric::kRmse, Metric::kMae, Metric::kR2}) {
    BootstrapOptions options;
    options.resamples = 300;
    options.threads = 1;
    options.reference_kernels = true;
    const auto reference = PairedBootstrap(metric, p.y, p.champion, p.challenger, options);
    ASSERT_TRUE(reference.has_value()) << reference.error().message;
    options.reference_kernels = false;
    for (const unsigned threads : {1U, 3U}) {
      options.threads = threads;
      const auto fast = PairedBootstrap(metric, p.y, p.champion, p.challenger, options);
      ASSERT_TRUE(fast.has_value()) << fast.error().message;
      EXPECT_EQ(fast->lower, reference->lower)
          << MetricName(metric) << ", " << threads << " threads";
      EXPECT_EQ(fast->upper, reference->upper)
          << MetricName(metric) << ", " << threads << " threads";
      EXPECT_EQ(fast->undefined_resamples, reference->undefined_resamples) << MetricName(metric);
    }
  }
}

TEST(MetricsBootstrap, WiderConfidenceGivesWiderInterval) {
  const Pair p = ClearCase(150);
  BootstrapOptions narrow;
  narrow.confidence = 0.5;
  BootstrapOptions wide;
  wide.confidence = 0.99;
  const auto n = PairedBootstrap(Metric::kAccuracy, p.y, p.champion, p.challenger, narrow);
  const auto w = PairedBootstrap(Metric::kAccuracy, p.y, p.champion, p.challenger, wide);
  ASSERT_TRUE(n.has_value() && w.has_value());
  EXPECT_LE(w->lower, n->lower);
  EXPECT_GE(w->upper, n->upper);
  EXPECT_LT(w->upper - w->lower, 1.0);
  EXPECT_GT(w->upper - w->lower, n->upper - n->lower);
}

TEST(MetricsBootstrap, CountsResamplesWithOneClass) {
  // One positive in six: about (5/6)^6 = 33% of the resamples miss it.
  const Values y = {1, 0, 0, 0, 0, 0};
  const Values champion = {0.2, 0.1, 0.3, 0.4, 0.5, 0.6};
  const Values challenger = {0.9, 0.1, 0.3, 0.4, 0.5, 0.6};
  const auto ci = PairedBootstrap(Metric::kRocAuc, y, champion, challenger);
  ASSERT_TRUE(ci.has_value()) << ci.error().message;
  EXPECT_GT(ci->undefined_resamples, 200U);
  EXPECT_LT(ci->undefined_resamples, 470U);
}

TEST(MetricsBootstrap, BadOptions) {
  const Pair p = ClearCase(10);
  BootstrapOptions options;
  options.confidence = 1.0;
  EXPECT_EQ(PairedBootstrap(Metric::kF1, p.y, p.champion, p.challenger, options).error().message,
            "bootstrap: confidence is 1; give a level strictly between 0 and 1 (default 0.95)");
  options = {};
  options.resamples = 0;
  EXPECT_EQ(PairedBootstrap(Metric::kF1, p.y, p.champion, p.challenger, options).error().message,
            "bootstrap: resamples is 0; give at least 1 (default 1000)");
  EXPECT_EQ(PairedBootstrap(Metric::kF1, p.y, p.champion, Values{1}).error().message,
            "f1: y_true has 10 values but challenger has 1; give one value per sample in both");
}

// ---- McNemar ------------------------------------------------------------------------------

// Labels all 1; the champion right on the first `b + both`, the challenger on `c + both`.
Pair Discordant(std::size_t b, std::size_t c, std::size_t both) {
  Pair p;
  auto add = [&](double champion, double challenger) {
    p.y.push_back(1);
    p.champion.push_back(champion);
    p.challenger.push_back(challenger);
  };
  for (std::size_t i = 0; i < b; ++i) add(1, 0);
  for (std::size_t i = 0; i < c; ++i) add(0, 1);
  for (std::size_t i = 0; i < both; ++i) add(1, 1);
  add(0, 0);
  return p;
}

TEST(MetricsMcNemar, ExactSmallCounts) {
  // b = 0, c = 5: p = 2 * P(X <= 0) = 2 / 32.
  const Pair p = Discordant(0, 5, 3);
  const auto r = McNemar(p.y, p.champion, p.challenger);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->champion_only, 0U);
  EXPECT_EQ(r->challenger_only, 5U);
  EXPECT_EQ(r->method, McNemarMethod::kExactBinomial);
  EXPECT_DOUBLE_EQ(r->p_value, 2.0 / 32.0);
  // b = 1, c = 4: 2 * (1 + 5) / 32.
  const Pair q = Discordant(1, 4, 0);
  EXPECT_DOUBLE_EQ(McNemar(q.y, q.champion, q.challenger)->p_value, 12.0 / 32.0);
}

TEST(MetricsMcNemar, NoDisagreementAndEqualCountsGiveOne) {
  const Pair none = Discordant(0, 0, 7);
  EXPECT_EQ(McNemar(none.y, none.champion, none.challenger)->p_value, 1.0);
  const Pair small = Discordant(6, 6, 2);
  EXPECT_EQ(McNemar(small.y, small.champion, small.challenger)->p_value, 1.0);
  const Pair large = Discordant(40, 40, 2);
  const auto r = McNemar(large.y, large.champion, large.challenger);
  EXPECT_EQ(r->method, McNemarMethod::kChiSquareCorrected);
  EXPECT_EQ(r->p_value, 1.0);
}

TEST(MetricsMcNemar, SwitchesToChiSquareAt25AndIsSymmetric) {
  const Pair below = Discordant(4, 20, 0);
  const Pair at = Discordant(5, 20, 0);
  EXPECT_EQ(McNemar(below.y, below.champion, below.challenger)->method,
            McNemarMethod::kExactBinomial);
  const auto r = McNemar(at.y, at.champion, at.challenger);
  EXPECT_EQ(r->method, McNemarMethod::kChiSquareCorrected);
  EXPECT_DOUBLE_EQ(r->statistic, 14.0 * 14.0 / 25.0);  // (|5 - 20| - 1)^2 / 25
  const auto swapped = McNemar(at.y, at.challenger, at.champion);
  EXPECT_EQ(swapped->champion_only, 20U);
  EXPECT_EQ(swapped->p_value, r->p_value);
  // One degree of freedom: P(chi2 > 3.841459) = 0.05.
  EXPECT_NEAR(std::erfc(std::sqrt(3.841458820694124 / 2.0)), 0.05, 1e-12);
}

TEST(MetricsMcNemar, BadInput) {
  EXPECT_EQ(McNemar(Values{0, 1}, Values{0, 1}, Values{0}).error().message,
            "mcnemar: y_true has 2 values but challenger has 1; give one value per sample in both");
  EXPECT_EQ(McNemar(Values{0, 3}, Values{0, 1}, Values{0, 1}).error().message,
            "mcnemar: y_true[1] is 3; binary labels must be 0 or 1 (map a label column with a "
            "positive label first)");
}

}  // namespace
}  // namespace stagegate::ml
