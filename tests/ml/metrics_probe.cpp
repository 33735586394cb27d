// Runs ml/metrics functions on JSON requests, one per line on stdin, and prints one JSON
// answer per line, for tests/ml/test_metrics_exactness.py to compare with scikit-learn.
//
//   {"fn": "roc_auc", "y_true": [...], "y_score": [...]}        -> {"value": 0.75}
//   {"fn": "accuracy", "y_true": [...], "y_pred": [...], "threshold": 0.5}
//   {"fn": "mcnemar", "y_true": [...], "champion": [...], "challenger": [...]}
//        -> {"value": p, "statistic": s, "b": 3, "c": 7, "method": "exact" | "chi2"}
//   {"fn": "bootstrap", "metric": "f1", "y_true": [...], "champion": [...],
//    "challenger": [...], "resamples": 1000, "confidence": 0.95, "seed": 1}
//        -> {"difference": d, "lower": l, "upper": u, "undefined": 0}
// Any metric name of ml::MetricName works as "fn"; its predictions may be given as y_pred,
// y_score or y_prob. Failures print {"error": message}.
#include <cmath>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ml/metrics.hpp"

namespace {

using Json = nlohmann::json;
using stagegate::Result;
namespace ml = stagegate::ml;

// Numbers, or the strings "nan", "inf" and "-inf" (JSON has no literal for them).
std::vector<double> Numbers(const Json& array) {
  std::vector<double> out;
  for (const auto& item : array) {
    if (item.is_string()) {
      const auto text = item.get<std::string>();
      if (text == "nan") {
        out.push_back(std::numeric_limits<double>::quiet_NaN());
      } else if (text == "inf" || text == "-inf") {
        out.push_back(text == "inf" ? std::numeric_limits<double>::infinity()
                                    : -std::numeric_limits<double>::infinity());
      } else {
        throw std::invalid_argument("not a number: '" + text + "'");
      }
    } else {
      out.push_back(item.get<double>());
    }
  }
  return out;
}

// A double, with NaN and infinities written as strings.
Json Out(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

Json Answer(const Json& request) {
  const auto fn = request.at("fn").get<std::string>();
  const auto y_true = Numbers(request.at("y_true"));
  ml::ClassificationOptions classification;
  if (request.contains("threshold")) classification.threshold = request["threshold"].get<double>();

  if (fn == "mcnemar") {
    const auto champion = Numbers(request.at("champion"));
    const auto challenger = Numbers(request.at("challenger"));
    const auto result = ml::McNemar(y_true, champion, challenger, classification);
    if (!result) return {{"error", result.error().message}};
    return {{"value", Out(result->p_value)},
            {"statistic", Out(result->statistic)},
            {"b", result->champion_only},
            {"c", result->challenger_only},
            {"method", result->method == ml::McNemarMethod::kExactBinomial ? "exact" : "chi2"}};
  }
  if (fn == "bootstrap") {
    const auto metric = ml::ParseMetric(request.at("metric").get<std::string>());
    if (!metric) return {{"error", metric.error().message}};
    ml::BootstrapOptions options;
    options.classification = classification;
    options.resamples = request.value("resamples", options.resamples);
    options.confidence = request.value("confidence", options.confidence);
    options.seed = request.value("seed", options.seed);
    const auto champion = Numbers(request.at("champion"));
    const auto challenger = Numbers(request.at("challenger"));
    const auto result = ml::PairedBootstrap(*metric, y_true, champion, challenger, options);
    if (!result) return {{"error", result.error().message}};
    return {{"difference", Out(result->difference)},
            {"lower", Out(result->lower)},
            {"upper", Out(result->upper)},
            {"undefined", result->undefined_resamples}};
  }
  const auto metric = ml::ParseMetric(fn);
  if (!metric) return {{"error", metric.error().message}};
  std::vector<double> y_pred;
  for (const char* key : {"y_pred", "y_score", "y_prob"}) {
    if (request.contains(key)) y_pred = Numbers(request[key]);
  }
  const Result<double> value = ml::ComputeMetric(*metric, y_true, y_pred, classification);
  if (!value) return {{"error", value.error().message}};
  return {{"value", Out(*value)}};
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    Json answer;
    try {
      answer = Answer(Json::parse(line));
    } catch (const Json::exception& e) {
      answer = {{"error", std::string("bad request: ") + e.what()}};
    } catch (const std::invalid_argument& e) {
      answer = {{"error", std::string("bad request: ") + e.what()}};
    }
    std::cout << answer.dump() << '\n' << std::flush;
  }
  return 0;
}
