// Probe for tests/ml/test_stats_exactness.py: reads one JSON request per line on stdin, runs
// one ml/stats.hpp (or ml/special.hpp) function and prints one JSON answer per line.
//
//   {"fn": "ks", "a": [...], "b": [...]}          -> {"statistic": x, "p_value": x}
//   {"fn": "chi2", "observed": [[...], ...]}       -> {"statistic", "p_value", "dof"}
//   {"fn": "js", "p": [...], "q": [...]}           -> {"value": x}
//   {"fn": "wasserstein", "u": [...], "v": [...]}  -> {"value": x}
//   {"fn": "psi", "expected": [...], "actual": [...], "epsilon": x} -> {"value": x}
//   {"fn": "quantile", "sorted": [...], "q": x}   -> {"value": x}
//   {"fn": "quantile_edges", "sorted_reference": [...], "bins": n} -> {"edges": [...]}
//   {"fn": "bin_proportions", "sorted_values": [...], "edges": [...]} -> {"proportions": [...]}
//   {"fn": "summarize", "values": [...], "missing": n} -> {"count", "missing", ...}
//   {"fn": "chi2_sf", "dof": x, "x": x} / {"fn": "kstwo_sf", "n": n, "d": x}
//   / {"fn": "smirnov_sf", "n": n, "d": x}       -> {"value": x}
//   {"fn": "ks_timing", "n": n, "seed": s}        -> {"seconds": x, "statistic", "p_value"}
//
// Failures print {"error": "..."}. Non-finite numbers are written (and may be sent in arrays)
// as the strings "nan", "inf" and "-inf" (JSON has no literal for them).

#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ml/special.hpp"
#include "ml/stats.hpp"

namespace {

using nlohmann::json;
namespace ml = stagegate::ml;

json Number(double x) {
  if (std::isnan(x)) {
    return "nan";
  }
  if (std::isinf(x)) {
    return x > 0 ? "inf" : "-inf";
  }
  return x;
}

json Numbers(const std::vector<double>& xs) {
  json out = json::array();
  for (double x : xs) {
    out.push_back(Number(x));
  }
  return out;
}

double Double(const json& value) {
  if (value.is_string()) {
    const auto text = value.get<std::string>();
    if (text == "nan") {
      return std::numeric_limits<double>::quiet_NaN();
    }
    if (text == "inf" || text == "-inf") {
      return text == "inf" ? std::numeric_limits<double>::infinity()
                           : -std::numeric_limits<double>::infinity();
    }
  }
  return value.get<double>();
}

std::vector<double> Doubles(const json& value) {
  std::vector<double> out;
  out.reserve(value.size());
  for (const json& item : value) {
    out.push_back(Double(item));
  }
  return out;
}

json Error(const stagegate::Error& error) { return json{{"error", error.message}}; }

json Value(const stagegate::Result<double>& result) {
  return result ? json{{"value", Number(*result)}} : Error(result.error());
}

json KsTiming(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> a(n);
  std::vector<double> b(n);
  for (double& x : a) {
    x = normal(rng);
  }
  for (double& x : b) {
    x = normal(rng) + 0.001;
  }
  const auto start = std::chrono::steady_clock::now();
  auto result = ml::KolmogorovSmirnov2(a, b);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (!result) {
    return Error(result.error());
  }
  return json{{"seconds", elapsed.count()},
              {"statistic", Number(result->statistic)},
              {"p_value", Number(result->p_value)}};
}

json Handle(const json& request) {
  const std::string fn = request.at("fn").get<std::string>();
  if (fn == "ks") {
    auto r = ml::KolmogorovSmirnov2(Doubles(request.at("a")), Doubles(request.at("b")));
    return r ? json{{"statistic", Number(r->statistic)}, {"p_value", Number(r->p_value)}}
             : Error(r.error());
  }
  if (fn == "chi2") {
    auto table = request.at("observed").get<std::vector<std::vector<double>>>();
    auto r = ml::Chi2Contingency(table);
    return r ? json{{"statistic", Number(r->statistic)},
                    {"p_value", Number(r->p_value)},
                    {"dof", r->dof}}
             : Error(r.error());
  }
  if (fn == "js") {
    return Value(ml::JensenShannonDistance(Doubles(request.at("p")), Doubles(request.at("q"))));
  }
  if (fn == "wasserstein") {
    return Value(ml::Wasserstein1(Doubles(request.at("u")), Doubles(request.at("v"))));
  }
  if (fn == "psi") {
    return Value(ml::PopulationStabilityIndex(Doubles(request.at("expected")),
                                              Doubles(request.at("actual")),
                                              request.at("epsilon").get<double>()));
  }
  if (fn == "quantile") {
    return Value(ml::Quantile(Doubles(request.at("sorted")), request.at("q").get<double>()));
  }
  if (fn == "quantile_edges") {
    auto r = ml::QuantileEdges(Doubles(request.at("sorted_reference")),
                               request.at("bins").get<std::size_t>());
    return r ? json{{"edges", Numbers(*r)}} : Error(r.error());
  }
  if (fn == "bin_proportions") {
    auto r = ml::BinProportions(Doubles(request.at("sorted_values")), Doubles(request.at("edges")));
    return r ? json{{"proportions", Numbers(*r)}} : Error(r.error());
  }
  if (fn == "summarize") {
    auto r = ml::Summarize(Doubles(request.at("values")), request.at("missing").get<std::size_t>());
    if (!r) {
      return Error(r.error());
    }
    return json{{"count", r->count},
                {"missing", r->missing},
                {"missing_rate", Number(r->missing_rate)},
                {"mean", Number(r->mean)},
                {"std", Number(r->std)},
                {"min", Number(r->min)},
                {"p25", Number(r->p25)},
                {"p50", Number(r->p50)},
                {"p75", Number(r->p75)},
                {"max", Number(r->max)}};
  }
  if (fn == "chi2_sf") {
    return json{{"value", Number(ml::ChiSquareSf(request.at("dof").get<double>(),
                                                 request.at("x").get<double>()))}};
  }
  if (fn == "kstwo_sf") {
    return json{{"value", Number(ml::KolmogorovTwoSidedSf(request.at("n").get<long long>(),
                                                          request.at("d").get<double>()))}};
  }
  if (fn == "smirnov_sf") {
    return json{{"value", Number(ml::SmirnovSf(request.at("n").get<long long>(),
                                               request.at("d").get<double>()))}};
  }
  if (fn == "ks_timing") {
    return KsTiming(request.at("n").get<std::size_t>(), request.value("seed", 1U));
  }
  return json{{"error", "unknown fn '" + fn + "'"}};
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) {
      continue;
    }
    json answer;
    try {
      answer = Handle(json::parse(line));
    } catch (const json::exception& e) {
      answer = json{{"error", std::string("bad request: ") + e.what()}};
    }
    std::cout << answer.dump() << '\n' << std::flush;
  }
  return 0;
}
