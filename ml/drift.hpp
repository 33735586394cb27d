#pragma once

// Reference-vs-current drift, behind `stagegate action drift` (docs/ml-actions.md).
//
// Per column, by kind:
//   numeric:     summary (count, missing rate, mean, std, min, quartiles, max), two-sample
//                Kolmogorov-Smirnov, Wasserstein-1 (also divided by the reference's standard
//                deviation), Jensen-Shannon distance and PSI over bins cut at the reference's
//                deciles;
//   categorical: mode, unique values, missing rate, categories unseen in the reference,
//                chi-square test of homogeneity (2 x k table), Jensen-Shannon distance, PSI.
// The verdict of a column comes from one test (default, by sample size like common practice:
// up to `small_sample` rows on the smaller side the p-value test decides, KS or chi-square at
// `alpha` after the chosen multiple-testing correction; above it the distance decides,
// normalised Wasserstein >= `wasserstein_threshold` or Jensen-Shannon >= `js_threshold`),
// or from the test a column's options name. Feature, label and prediction drift are reported
// separately; with both a label and a prediction column, concept drift is the change of the
// model's metric (accuracy for a categorical label, RMSE for a numeric one) from reference to
// current.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ml/table.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate::ml {

struct DriftColumnOptions {
  std::string test;                 // empty: by sample size; ks, wasserstein, psi, js or chi2
  std::optional<double> threshold;  // the test's threshold (alpha for ks and chi2)
  std::optional<ColumnKind> kind;   // forced kind
};

struct DriftOptions {
  std::vector<std::string> features;  // empty: every column both files have but label/prediction
  std::string label;
  std::string prediction;
  double alpha = 0.05;
  std::string correction = "none";  // none, bonferroni or holm (over the p-value-decided columns)
  double wasserstein_threshold = 0.1;
  double js_threshold = 0.1;
  double psi_threshold = 0.2;
  std::size_t small_sample = 1000;
  std::size_t bins = 10;
  double concept_threshold = 0.05;  // absolute change of the model metric that counts as drift
  std::map<std::string, DriftColumnOptions> columns;
};

/// Reads a drift config file (YAML; keys as DriftOptions, `columns: {name: {test, threshold,
/// kind}}`). Unknown keys and bad values are errors naming the key.
Result<DriftOptions> ParseDriftConfig(const std::string& path);

struct Distribution {
  std::vector<std::string> labels;  // bin ranges or categories
  std::vector<double> reference;    // proportions
  std::vector<double> current;
};

struct ColumnDrift {
  std::string name;
  std::string role;  // feature, label or prediction
  ColumnKind kind = ColumnKind::kNumeric;
  bool drift = false;
  std::string decided_by;  // the test whose verdict counts
  double score = 0;        // that test's value (a p-value for ks and chi2)
  double threshold = 0;    // what it was compared with (after correction for p-values)
  nlohmann::json summary;  // {"reference": {...}, "current": {...}}
  nlohmann::json tests;    // {"ks": {...}, ...}
  Distribution distribution;
  double severity = 0;  // how far past (or short of) its threshold, for ordering
};

struct DriftReport {
  std::size_t reference_rows = 0;
  std::size_t current_rows = 0;
  std::vector<ColumnDrift> columns;  // worst first
  bool drift_detected = false;
  nlohmann::json concept_drift = nlohmann::json::object();  // {} without a label and prediction
};

/// Compares the two tables (read with the same column kinds). Bad input (a selected column
/// missing from one table, a column of another kind, no rows) is kInvalidArgument naming it.
Result<DriftReport> ComputeDrift(const Table& reference, const Table& current,
                                 const DriftOptions& options);

/// The same, for tables the caller no longer needs: numeric feature columns are sorted in their
/// own storage rather than in copies (the tables are left without those columns' values).
Result<DriftReport> ComputeDrift(Table&& reference, Table&& current, const DriftOptions& options);

/// {"drift_detected", "drifted_columns", "feature_drift", "label_drift", "prediction_drift",
///  "concept_drift", "rows", "columns": [{name, role, kind, drift, decided_by, score, threshold,
///  summary, tests: {ks, wasserstein, js, psi | chi2, js, psi}}]}
nlohmann::json DriftReportJson(const DriftReport& report);

/// A self-contained HTML page: per column, worst first, the reference and current
/// distributions overlaid as SVG and the test results.
std::string DriftReportHtml(const DriftReport& report, const std::string& reference_name,
                            const std::string& current_name);

}  // namespace stagegate::ml
