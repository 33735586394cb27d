#include "ml/drift.hpp"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

// The drift statistics are compared with scipy in tests/ml/test_drift_action.py; these tests
// cover what only C++ callers see.

namespace stagegate::ml {
namespace {

Column Numbers(const std::string& name, std::vector<double> values) {
  Column c;
  c.name = name;
  c.kind = ColumnKind::kNumeric;
  for (const double v : values) c.missing += std::isnan(v) ? 1 : 0;
  c.numbers = std::move(values);
  return c;
}

// Two tables with a shifted feature, a stable one with missing values, and a label and a
// prediction for concept drift.
std::pair<Table, Table> Tables() {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::pair<Table, Table> t;
  for (Table* table : {&t.first, &t.second}) {
    const double shift = table == &t.first ? 0.0 : 0.8;
    std::vector<double> moved, stable, label, prediction;
    for (int i = 0; i < 3000; ++i) {
      moved.push_back(normal(rng) + shift);
      stable.push_back(i % 17 == 0 ? std::nan("") : normal(rng));
      label.push_back(i % 2);
      prediction.push_back(table == &t.first ? i % 2 : (i % 3 == 0 ? 1 - i % 2 : i % 2));
    }
    table->rows = 3000;
    table->columns = {Numbers("moved", moved), Numbers("stable", stable), Numbers("y", label),
                      Numbers("p", prediction)};
  }
  return t;
}

TEST(Drift, ConsumingTheTablesGivesTheSameReport) {
  DriftOptions options;
  options.label = "y";
  options.prediction = "p";
  options.features = {"moved", "stable", "moved"};  // listed twice: must not be consumed twice
  auto [reference, current] = Tables();
  const auto kept = ComputeDrift(reference, current, options);
  ASSERT_TRUE(kept.has_value()) << kept.error().message;
  const auto consumed = ComputeDrift(std::move(reference), std::move(current), options);
  ASSERT_TRUE(consumed.has_value()) << consumed.error().message;
  EXPECT_EQ(DriftReportJson(*kept).dump(), DriftReportJson(*consumed).dump());
  EXPECT_TRUE(kept->drift_detected);
  EXPECT_FALSE(kept->concept_drift.empty());  // the label and prediction were still there

  options.features = {"moved", "stable"};
  auto [reference2, current2] = Tables();
  const auto once = ComputeDrift(std::move(reference2), std::move(current2), options);
  ASSERT_TRUE(once.has_value()) << once.error().message;
  auto [reference3, current3] = Tables();
  const auto copy = ComputeDrift(reference3, current3, options);
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(DriftReportJson(*once).dump(), DriftReportJson(*copy).dump());
  EXPECT_EQ(reference3.columns[0].numbers.size(), 3000U);  // the const overload left it alone
  // The consuming overload sorted the features where they were and left the label alone.
  EXPECT_TRUE(reference2.columns[0].numbers.empty());      // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(reference2.columns[2].numbers.size(), 3000U);  // NOLINT(bugprone-use-after-move)
}

TEST(Drift, ConceptDriftComparesMixedLabelsByTheirExactText) {
  // A numeric label against a text prediction: 1.00001 is not "1" (a 4-digit rendering would
  // call them equal), while 0 is "0".
  Column texts;
  texts.name = "p";
  texts.kind = ColumnKind::kCategorical;
  texts.categories = {"0", "1"};
  texts.codes = {1, 0, 1, 0};
  Table reference;
  reference.rows = 4;
  reference.columns = {Numbers("y", {1.00001, 0, 1, 0}), texts};
  Table current = reference;
  current.columns[0] = Numbers("y", {1, 0, 1, 1});
  DriftOptions options;
  options.label = "y";
  options.prediction = "p";
  options.features = {};
  const auto report = ComputeDrift(reference, current, options);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  const auto& concept_drift = report->concept_drift;
  EXPECT_EQ(concept_drift["metric"], "accuracy");
  EXPECT_DOUBLE_EQ(concept_drift["reference"].get<double>(), 0.75);  // all but row 1
  EXPECT_DOUBLE_EQ(concept_drift["current"].get<double>(), 0.75);    // all but row 4
}

}  // namespace
}  // namespace stagegate::ml
