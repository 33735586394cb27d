#include "ml/drift.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <system_error>
#include <thread>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "ml/html.hpp"
#include "ml/memory.hpp"
#include "ml/neumaier_sum.hpp"
#include "ml/parallel.hpp"
#include "ml/stats.hpp"
#include "orchestrator/core/suggest.hpp"

namespace stagegate::ml {
namespace {

using nlohmann::json;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kPsiEpsilon = 1e-4;

json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The column's values without the missing ones, sorted once for every test that needs them.
// `owned` is the same column when nothing needs it afterwards: its storage is reused.
std::vector<double> Present(const Column& c, Column* owned) {
  std::vector<double> out;
  if (owned != nullptr) {
    out = std::move(owned->numbers);
    owned->numbers.clear();
    std::erase_if(out, [](double v) { return std::isnan(v); });
  } else {
    ReserveLarge(out, c.numbers.size() - c.missing);
    for (double v : c.numbers) {
      if (!std::isnan(v)) out.push_back(v);
    }
  }
  SortValuesInPlace(out);
  return out;
}

json SummaryJson(const NumericSummary& s) {
  return {{"count", s.count},    {"missing_rate", Num(s.missing_rate)},
          {"mean", Num(s.mean)}, {"std", Num(s.std)},
          {"min", Num(s.min)},   {"p25", Num(s.p25)},
          {"p50", Num(s.p50)},   {"p75", Num(s.p75)},
          {"max", Num(s.max)}};
}

struct Categories {
  std::map<std::string, double> counts;
  std::size_t missing = 0;
  std::size_t total = 0;
};

Categories Count(const Column& c) {
  Categories out;
  std::vector<double> by_code(c.categories.size(), 0.0);
  for (std::int32_t code : c.codes) {
    if (code < 0) {
      ++out.missing;
    } else {
      by_code[static_cast<std::size_t>(code)] += 1;
    }
  }
  for (std::size_t i = 0; i < by_code.size(); ++i) {
    if (by_code[i] > 0) out.counts[c.categories[i]] = by_code[i];
  }
  out.total = c.codes.size();
  return out;
}

json CategoricalSummary(const Categories& c) {
  std::string mode;
  double best = -1;
  for (const auto& [k, v] : c.counts) {
    if (v > best) {
      best = v;
      mode = k;
    }
  }
  return {{"count", c.total - c.missing},
          {"missing_rate",
           c.total == 0 ? json(nullptr)
                        : json(static_cast<double>(c.missing) / static_cast<double>(c.total))},
          {"unique", c.counts.size()},
          {"mode", c.counts.empty() ? json(nullptr) : json(mode)}};
}

// The default test of a column, by kind and sample size.
std::string DefaultTest(ColumnKind kind, std::size_t smaller, const DriftOptions& o) {
  if (kind == ColumnKind::kNumeric) return smaller <= o.small_sample ? "ks" : "wasserstein";
  return smaller <= o.small_sample ? "chi2" : "js";
}

bool IsPValueTest(const std::string& t) { return t == "ks" || t == "chi2"; }

// Picks the deciding test of a column: its score among `scores` (the tests that apply to the
// kind) and its threshold (the column's own, else the option's default for that test).
Result<void> Choose(ColumnDrift& d, const std::string& column, ColumnKind kind, std::size_t smaller,
                    const std::map<std::string, double>& scores, const DriftOptions& o) {
  const auto opts = o.columns.count(column) ? o.columns.at(column) : DriftColumnOptions{};
  d.decided_by = opts.test.empty() ? DefaultTest(kind, smaller, o) : opts.test;
  const auto score = scores.find(d.decided_by);
  if (score == scores.end()) {
    std::string names;
    for (const auto& [name, value] : scores) names += (names.empty() ? "" : ", ") + name;
    return Fail(ErrorCode::kInvalidArgument,
                "column '" + column + "': test '" + d.decided_by + "' does not apply to a " +
                    (kind == ColumnKind::kNumeric ? "numeric" : "categorical") + " column; use " +
                    names);
  }
  const std::map<std::string, double> defaults = {{"ks", o.alpha},
                                                  {"chi2", o.alpha},
                                                  {"wasserstein", o.wasserstein_threshold},
                                                  {"js", o.js_threshold},
                                                  {"psi", o.psi_threshold}};
  d.score = score->second;
  d.threshold = opts.threshold.value_or(defaults.at(d.decided_by));
  return {};
}

// Runs `first` here and `second` on another thread when `parallel` (and a thread can be had),
// otherwise one after the other.
template <class F, class G>
void Both(bool parallel, F&& first, G&& second) {
  if (parallel) {
    try {
      std::thread other(std::forward<G>(second));
      first();
      other.join();
      return;
    } catch (const std::system_error&) {  // no thread to spare: do both here
    }
  }
  first();
  second();
}

// `split`: a core is idle (fewer columns than cores), so the reference and current halves of
// the work run side by side; this is what speeds up a one-column KS on large samples.
// One column of both tables; `own_ref` and `own_cur` (or null) are the same columns when
// their storage may be consumed.
struct ColumnPair {
  const Column* ref = nullptr;
  const Column* cur = nullptr;
  Column* own_ref = nullptr;
  Column* own_cur = nullptr;
};

Result<ColumnDrift> Numeric(const ColumnPair& pair, const DriftOptions& o, bool split) {
  const Column& ref = *pair.ref;
  const Column& cur = *pair.cur;
  ColumnDrift d;
  d.kind = ColumnKind::kNumeric;
  split = split && ref.numbers.size() + cur.numbers.size() >= (std::size_t{1} << 16U);
  std::vector<double> a;
  std::vector<double> b;
  Both(
      split, [&] { a = Present(ref, pair.own_ref); }, [&] { b = Present(cur, pair.own_cur); });
  if (a.empty() || b.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "column '" + ref.name + "' has no values in the " +
                                                 (a.empty() ? "reference" : "current") +
                                                 " data; leave it out of the columns to compare");
  }
  Result<NumericSummary> sa;
  Result<NumericSummary> sb;
  Result<KsResult> ks;
  Result<double> w;
  Both(
      split,
      [&] {
        sa = Summarize(a, ref.missing);
        ks = KolmogorovSmirnov2(a, b);
      },
      [&] {
        sb = Summarize(b, cur.missing);
        w = Wasserstein1(a, b);
      });
  if (!sa || !sb) return tl::unexpected(sa ? sb.error() : sa.error());
  d.summary = json{{"reference", SummaryJson(*sa)}, {"current", SummaryJson(*sb)}};
  auto edges = QuantileEdges(a, o.bins);
  if (!ks || !w || !edges) return tl::unexpected(!ks ? ks.error() : !w ? w.error() : edges.error());
  auto pa = BinProportions(a, *edges);
  auto pb = BinProportions(b, *edges);
  if (!pa || !pb) return tl::unexpected(pa ? pb.error() : pa.error());
  auto js = JensenShannonDistance(*pa, *pb);
  auto psi = PopulationStabilityIndex(*pa, *pb, kPsiEpsilon);
  if (!js || !psi) return tl::unexpected(js ? psi.error() : js.error());
  const double scale = sa->std > 0 && std::isfinite(sa->std) ? sa->std : 1.0;
  const double w_norm = *w / scale;
  d.tests = json{{"ks", {{"statistic", ks->statistic}, {"p_value", ks->p_value}}},
                 {"wasserstein", {{"distance", *w}, {"normalized", w_norm}}},
                 {"js", {{"distance", *js}}},
                 {"psi", {{"value", *psi}}}};
  // Bin labels for the report.
  const auto& e = *edges;
  if (e.size() == 1) {
    d.distribution.labels = {"< " + html::Number(e[0]), "= " + html::Number(e[0]),
                             "> " + html::Number(e[0])};
  } else {
    for (std::size_t i = 0; i + 1 < e.size(); ++i) {
      const std::string lo = i == 0 ? "-inf" : html::Number(e[i]);
      const std::string hi = i + 2 == e.size() ? "+inf" : html::Number(e[i + 1]);
      d.distribution.labels.push_back("[" + lo + ", " + hi + ")");
    }
  }
  d.distribution.reference = *pa;
  d.distribution.current = *pb;
  const std::size_t smaller = std::min(a.size(), b.size());
  const std::map<std::string, double> scores = {
      {"ks", ks->p_value}, {"wasserstein", w_norm}, {"js", *js}, {"psi", *psi}};
  if (auto chosen = Choose(d, ref.name, ColumnKind::kNumeric, smaller, scores, o); !chosen) {
    return tl::unexpected(chosen.error());
  }
  return d;
}

Result<ColumnDrift> Categorical(const Column& ref, const Column& cur, const DriftOptions& o) {
  ColumnDrift d;
  d.kind = ColumnKind::kCategorical;
  const Categories a = Count(ref);
  const Categories b = Count(cur);
  if (a.counts.empty() || b.counts.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "column '" + ref.name + "' has no values in the " +
                                                 (a.counts.empty() ? "reference" : "current") +
                                                 " data; leave it out of the columns to compare");
  }
  std::set<std::string> all;
  for (const auto& [k, v] : a.counts) all.insert(k);
  for (const auto& [k, v] : b.counts) all.insert(k);
  std::vector<double> ca, cb;
  std::vector<std::string> unseen;
  for (const auto& k : all) {
    ca.push_back(a.counts.count(k) ? a.counts.at(k) : 0.0);
    cb.push_back(b.counts.count(k) ? b.counts.at(k) : 0.0);
    if (!a.counts.count(k)) unseen.push_back(k);
    d.distribution.labels.push_back(k);
  }
  json summary_cur = CategoricalSummary(b);
  summary_cur["unseen_categories"] = unseen;
  d.summary = json{{"reference", CategoricalSummary(a)}, {"current", summary_cur}};
  auto chi2 = Chi2Contingency({ca, cb});
  auto js = JensenShannonDistance(ca, cb);
  auto psi = PopulationStabilityIndex(ca, cb, kPsiEpsilon);
  if (!chi2 || !js || !psi)
    return tl::unexpected(!chi2 ? chi2.error() : !js ? js.error() : psi.error());
  d.tests = json{
      {"chi2", {{"statistic", chi2->statistic}, {"p_value", chi2->p_value}, {"dof", chi2->dof}}},
      {"js", {{"distance", *js}}},
      {"psi", {{"value", *psi}}}};
  const double ta = std::accumulate(ca.begin(), ca.end(), 0.0);
  const double tb = std::accumulate(cb.begin(), cb.end(), 0.0);
  for (std::size_t i = 0; i < ca.size(); ++i) {
    d.distribution.reference.push_back(ca[i] / ta);
    d.distribution.current.push_back(cb[i] / tb);
  }
  const std::size_t smaller = static_cast<std::size_t>(std::min(ta, tb));
  const std::map<std::string, double> scores = {
      {"chi2", chi2->p_value}, {"js", *js}, {"psi", *psi}};
  if (auto chosen = Choose(d, ref.name, ColumnKind::kCategorical, smaller, scores, o); !chosen) {
    return tl::unexpected(chosen.error());
  }
  return d;
}

// Bonferroni or Holm over the p-value-decided columns; then every verdict.
void Decide(std::vector<ColumnDrift>& cols, const std::string& correction) {
  std::vector<ColumnDrift*> tested;
  for (auto& c : cols) {
    if (IsPValueTest(c.decided_by)) {
      tested.push_back(&c);
    } else {
      c.drift = c.score >= c.threshold;
      c.severity = c.threshold > 0 ? c.score / c.threshold : c.score;
    }
  }
  const double m = static_cast<double>(tested.size());
  if (correction == "bonferroni") {
    for (auto* c : tested) c->threshold /= m;
  } else if (correction == "holm") {
    std::sort(tested.begin(), tested.end(), [](auto* x, auto* y) { return x->score < y->score; });
    bool rejecting = true;
    for (std::size_t i = 0; i < tested.size(); ++i) {
      tested[i]->threshold /= (m - static_cast<double>(i));
      // Step-down: once one hypothesis is kept, all later ones are kept too.
      if (rejecting && tested[i]->score >= tested[i]->threshold) rejecting = false;
      if (!rejecting) tested[i]->threshold = std::min(tested[i]->threshold, tested[i]->score);
    }
  }
  for (auto* c : tested) {
    c->drift = c->score < c->threshold;
    // -log10(p) over -log10(threshold): > 1 past the threshold.
    const double p = std::max(c->score, 1e-300);
    c->severity = std::log10(p) / std::log10(std::max(std::min(c->threshold, 0.999999), 1e-300));
  }
}

json ConceptDrift(const Table& ref, const Table& cur, const DriftOptions& o) {
  if (o.label.empty() || o.prediction.empty()) return json::object();
  auto metric = [](const Column& y, const Column& p) -> std::pair<std::string, double> {
    if (y.kind == ColumnKind::kNumeric && p.kind == ColumnKind::kNumeric) {
      NeumaierSum sum;
      std::size_t n = 0;
      for (std::size_t i = 0; i < y.numbers.size(); ++i) {
        if (std::isnan(y.numbers[i]) || std::isnan(p.numbers[i])) continue;
        const double e = y.numbers[i] - p.numbers[i];
        sum.Add(e * e);
        ++n;
      }
      return {"rmse", n == 0 ? kNan : std::sqrt(sum.Total() / static_cast<double>(n))};
    }
    // A categorical label against a numeric prediction (or the reverse): compare the exact
    // texts, numbers as the reader would name them in a categorical column.
    auto text = [](const Column& c, std::size_t i) -> std::string {
      if (c.kind == ColumnKind::kNumeric)
        return std::isnan(c.numbers[i]) ? "" : NumberText(c.numbers[i]);
      return c.codes[i] < 0 ? "" : c.categories[static_cast<std::size_t>(c.codes[i])];
    };
    std::size_t hits = 0, n = 0;
    const std::size_t rows = y.kind == ColumnKind::kNumeric ? y.numbers.size() : y.codes.size();
    for (std::size_t i = 0; i < rows; ++i) {
      const std::string a = text(y, i), b = text(p, i);
      if (a.empty() || b.empty()) continue;
      ++n;
      if (a == b) ++hits;
    }
    return {"accuracy", n == 0 ? kNan : static_cast<double>(hits) / static_cast<double>(n)};
  };
  const Column* ry = ref.Find(o.label);
  const Column* rp = ref.Find(o.prediction);
  const Column* cy = cur.Find(o.label);
  const Column* cp = cur.Find(o.prediction);
  if (!ry || !rp || !cy || !cp) return json::object();
  const auto [name, before] = metric(*ry, *rp);
  const auto after = metric(*cy, *cp).second;
  const double change = after - before;
  return {{"metric", name},
          {"reference", Num(before)},
          {"current", Num(after)},
          {"change", Num(change)},
          {"threshold", o.concept_threshold},
          {"drift", std::isfinite(change) && std::fabs(change) >= o.concept_threshold}};
}

// Overlaid bars: reference (grey) and current (orange) proportions per bin or category.
std::string Svg(const Distribution& d) {
  constexpr std::size_t kMaxBars = 30;
  const std::size_t n = std::min(d.labels.size(), kMaxBars);
  const double width = 640, height = 180, left = 40, bottom = 40;
  double top = 0;
  for (std::size_t i = 0; i < n; ++i) top = std::max({top, d.reference[i], d.current[i]});
  if (top <= 0) top = 1;
  const double slot = (width - left) / static_cast<double>(std::max<std::size_t>(n, 1));
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + html::Number(width) +
                    "\" height=\"" + html::Number(height + bottom) + "\" role=\"img\">";
  svg += "<line x1=\"" + html::Number(left) + "\" y1=\"" + html::Number(height) + "\" x2=\"" +
         html::Number(width) + "\" y2=\"" + html::Number(height) + "\" stroke=\"#999\"/>";
  svg += "<text x=\"0\" y=\"12\" font-size=\"10\">" + html::Number(top) + "</text>";
  for (std::size_t i = 0; i < n; ++i) {
    const double x = left + slot * static_cast<double>(i);
    const double hr = d.reference[i] / top * (height - 10);
    const double hc = d.current[i] / top * (height - 10);
    svg += "<rect class=\"ref\" x=\"" + html::Number(x + slot * 0.1) + "\" y=\"" +
           html::Number(height - hr) + "\" width=\"" + html::Number(slot * 0.8) + "\" height=\"" +
           html::Number(hr) + "\"><title>reference " + html::Escape(d.labels[i]) + ": " +
           html::Number(d.reference[i]) + "</title></rect>";
    svg += "<rect class=\"cur\" x=\"" + html::Number(x + slot * 0.3) + "\" y=\"" +
           html::Number(height - hc) + "\" width=\"" + html::Number(slot * 0.4) + "\" height=\"" +
           html::Number(hc) + "\"><title>current " + html::Escape(d.labels[i]) + ": " +
           html::Number(d.current[i]) + "</title></rect>";
    if (n <= 12) {
      svg += "<text x=\"" + html::Number(x + slot / 2) + "\" y=\"" + html::Number(height + 14) +
             "\" font-size=\"9\" text-anchor=\"middle\">" +
             html::Escape(d.labels[i].substr(0, 18)) + "</text>";
    }
  }
  svg += "</svg>";
  if (d.labels.size() > kMaxBars) {
    svg += "<p class=\"note\">" + std::to_string(d.labels.size() - kMaxBars) +
           " more categories not drawn</p>";
  }
  return svg;
}

}  // namespace

Result<DriftOptions> ParseDriftConfig(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Fail(ErrorCode::kInvalidArgument, "cannot read the drift config " + path);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, path + ": not valid YAML: " + e.what());
  }
  DriftOptions o;
  if (!root || root.IsNull()) return o;
  if (!root.IsMap())
    return Fail(ErrorCode::kInvalidArgument, path + ": the drift config must be a mapping");
  const std::vector<std::string> known = {"features",          "label",
                                          "prediction",        "alpha",
                                          "correction",        "wasserstein_threshold",
                                          "js_threshold",      "psi_threshold",
                                          "small_sample",      "bins",
                                          "concept_threshold", "columns"};
  try {
    for (const auto& item : root) {
      const std::string key = item.first.as<std::string>();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        const std::string hint = Suggest(key, known);
        return Fail(ErrorCode::kInvalidArgument,
                    path + ": unknown key '" + key + "'" +
                        (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
      }
    }
    if (root["features"]) o.features = root["features"].as<std::vector<std::string>>();
    if (root["label"]) o.label = root["label"].as<std::string>();
    if (root["prediction"]) o.prediction = root["prediction"].as<std::string>();
    if (root["alpha"]) o.alpha = root["alpha"].as<double>();
    if (root["correction"]) o.correction = root["correction"].as<std::string>();
    if (root["wasserstein_threshold"])
      o.wasserstein_threshold = root["wasserstein_threshold"].as<double>();
    if (root["js_threshold"]) o.js_threshold = root["js_threshold"].as<double>();
    if (root["psi_threshold"]) o.psi_threshold = root["psi_threshold"].as<double>();
    if (root["small_sample"]) o.small_sample = root["small_sample"].as<std::size_t>();
    if (root["bins"]) o.bins = root["bins"].as<std::size_t>();
    if (root["concept_threshold"]) o.concept_threshold = root["concept_threshold"].as<double>();
    if (root["columns"]) {
      if (!root["columns"].IsMap()) {
        return Fail(ErrorCode::kInvalidArgument,
                    path + ": columns must map column names to {test, threshold, kind}");
      }
      for (const auto& item : root["columns"]) {
        DriftColumnOptions c;
        const std::string name = item.first.as<std::string>();
        for (const auto& field : item.second) {
          const std::string key = field.first.as<std::string>();
          if (key == "test") {
            c.test = field.second.as<std::string>();
          } else if (key == "threshold") {
            c.threshold = field.second.as<double>();
          } else if (key == "kind") {
            const std::string kind = field.second.as<std::string>();
            if (kind != "numeric" && kind != "categorical") {
              return Fail(ErrorCode::kInvalidArgument,
                          path + ": columns." + name +
                              ".kind must be numeric or categorical, not '" + kind + "'");
            }
            c.kind = kind == "numeric" ? ColumnKind::kNumeric : ColumnKind::kCategorical;
          } else {
            return Fail(
                ErrorCode::kInvalidArgument,
                path + ": columns." + name + ": unknown key '" + key + "' (test, threshold, kind)");
          }
        }
        const std::set<std::string> tests = {"", "ks", "wasserstein", "psi", "js", "chi2"};
        if (!tests.count(c.test)) {
          return Fail(ErrorCode::kInvalidArgument,
                      path + ": columns." + name + ".test '" + c.test +
                          "' is not a test; use ks, wasserstein, psi, js or chi2");
        }
        o.columns[name] = c;
      }
    }
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, path + ": " + e.what());
  }
  if (o.correction != "none" && o.correction != "bonferroni" && o.correction != "holm") {
    return Fail(ErrorCode::kInvalidArgument,
                path + ": correction must be none, bonferroni or holm, not '" + o.correction + "'");
  }
  if (!(o.alpha > 0 && o.alpha < 1))
    return Fail(ErrorCode::kInvalidArgument, path + ": alpha must be in (0, 1)");
  if (o.bins < 2) return Fail(ErrorCode::kInvalidArgument, path + ": bins must be at least 2");
  return o;
}

namespace {

// ComputeDrift; `own_reference` and `own_current` (or null) are the same tables when the
// caller gave them up: numeric columns that nothing reads afterwards are then sorted in their
// own storage instead of in a copy.
Result<DriftReport> Compute(const Table& reference, const Table& current, const DriftOptions& o,
                            Table* own_reference, Table* own_current) {
  if (reference.rows == 0 || current.rows == 0) {
    return Fail(ErrorCode::kInvalidArgument, std::string("the ") +
                                                 (reference.rows == 0 ? "reference" : "current") +
                                                 " data has no rows");
  }
  std::vector<std::pair<std::string, std::string>> selected;  // name, role
  if (o.features.empty()) {
    for (const auto& c : reference.columns) {
      if (c.name != o.label && c.name != o.prediction && current.Find(c.name))
        selected.emplace_back(c.name, "feature");
    }
  } else {
    for (const auto& f : o.features) selected.emplace_back(f, "feature");
  }
  if (!o.label.empty()) selected.emplace_back(o.label, "label");
  if (!o.prediction.empty()) selected.emplace_back(o.prediction, "prediction");
  if (selected.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the reference and current data share no column to compare");
  }
  DriftReport report;
  report.reference_rows = reference.rows;
  report.current_rows = current.rows;
  std::vector<ColumnPair> pairs;
  std::map<std::string, std::size_t> uses;  // a column selected twice must not be consumed
  for (const auto& entry : selected) ++uses[entry.first];
  for (const auto& [name, role] : selected) {
    const Column* ref = reference.Find(name);
    const Column* cur = current.Find(name);
    if (ref == nullptr || cur == nullptr) {
      std::vector<std::string> names;
      for (const auto& c : (ref == nullptr ? reference : current).columns) names.push_back(c.name);
      const std::string hint = Suggest(name, names);
      return Fail(ErrorCode::kInvalidArgument,
                  "column '" + name + "' is not in the " +
                      (ref == nullptr ? "reference" : "current") + " data" +
                      (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
    }
    if (ref->kind != cur->kind) {
      return Fail(
          ErrorCode::kInvalidArgument,
          "column '" + name + "' is " +
              (ref->kind == ColumnKind::kNumeric ? "numeric" : "categorical") +
              " in the reference data but not in the current data; force its kind in the config");
    }
    ColumnPair pair{.ref = ref, .cur = cur};
    // The label and the prediction are read again for concept drift; a feature that is also
    // the label or the prediction is selected twice.
    if (own_reference != nullptr && own_current != nullptr && role == "feature" &&
        uses[name] == 1) {
      pair.own_ref =
          &own_reference->columns[static_cast<std::size_t>(ref - reference.columns.data())];
      pair.own_cur = &own_current->columns[static_cast<std::size_t>(cur - current.columns.data())];
    }
    pairs.push_back(pair);
  }
  // Columns are independent: spread them over the cores. Each worker takes the next column.
  std::vector<Result<ColumnDrift>> results(pairs.size(),
                                           Fail(ErrorCode::kInternal, "not computed"));
  std::atomic<std::size_t> next{0};
  const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
  const bool split = pairs.size() < cores;
  auto work = [&] {
    for (std::size_t i = next++; i < pairs.size(); i = next++) {
      const ColumnPair& pair = pairs[i];
      results[i] = pair.ref->kind == ColumnKind::kNumeric ? Numeric(pair, o, split)
                                                          : Categorical(*pair.ref, *pair.cur, o);
    }
  };
  RunWorkers(WorkerCount(pairs.size()), work);
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i]) return tl::unexpected(results[i].error());  // the first column's error
    results[i]->name = selected[i].first;
    results[i]->role = selected[i].second;
    report.columns.push_back(std::move(*results[i]));
  }
  Decide(report.columns, o.correction);
  std::stable_sort(report.columns.begin(), report.columns.end(),
                   [](const ColumnDrift& a, const ColumnDrift& b) {
                     if (a.drift != b.drift) return a.drift;
                     return a.severity > b.severity;
                   });
  for (const auto& c : report.columns) report.drift_detected = report.drift_detected || c.drift;
  const json concept_drift = ConceptDrift(reference, current, o);
  report.drift_detected = report.drift_detected || concept_drift.value("drift", false);
  report.concept_drift = concept_drift;
  return report;
}

}  // namespace

Result<DriftReport> ComputeDrift(const Table& reference, const Table& current,
                                 const DriftOptions& options) {
  return Compute(reference, current, options, nullptr, nullptr);
}

Result<DriftReport> ComputeDrift(Table&& reference, Table&& current, const DriftOptions& options) {
  return Compute(reference, current, options, &reference, &current);
}

json DriftReportJson(const DriftReport& r) {
  json columns = json::array();
  json drifted = json::array();
  std::map<std::string, json> by_role = {
      {"feature", json::array()}, {"label", json::array()}, {"prediction", json::array()}};
  for (const auto& c : r.columns) {
    columns.push_back({{"name", c.name},
                       {"role", c.role},
                       {"kind", c.kind == ColumnKind::kNumeric ? "numeric" : "categorical"},
                       {"drift", c.drift},
                       {"decided_by", c.decided_by},
                       {"score", Num(c.score)},
                       {"threshold", Num(c.threshold)},
                       {"summary", c.summary},
                       {"tests", c.tests}});
    if (c.drift) {
      drifted.push_back(c.name);
      by_role[c.role].push_back(c.name);
    }
  }
  auto role = [&](const std::string& name) {
    return json{{"drift", !by_role[name].empty()}, {"columns", by_role[name]}};
  };
  return {{"drift_detected", r.drift_detected},
          {"drifted_columns", drifted},
          {"feature_drift", role("feature")},
          {"label_drift", role("label")},
          {"prediction_drift", role("prediction")},
          {"concept_drift", r.concept_drift},
          {"rows", {{"reference", r.reference_rows}, {"current", r.current_rows}}},
          {"columns", columns}};
}

std::string DriftReportHtml(const DriftReport& r, const std::string& reference_name,
                            const std::string& current_name) {
  std::string page = html::PageStart(
      "stagegate drift report",
      "body{font-family:sans-serif;margin:2em;max-width:60em}"
      ".ref{fill:#9aa5b1}.cur{fill:#e8833a;fill-opacity:.85}"
      ".drift{color:#b00020}.ok{color:#2e7d32}table{border-collapse:collapse}"
      "td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}th{text-align:left}"
      "section{border-top:1px solid #ccc;margin-top:1.5em}.note{color:#666;font-size:90%}");
  page += "<h1>Drift report: <span class=\"" +
          std::string(r.drift_detected ? "drift\">drift detected" : "ok\">no drift") +
          "</span></h1>";
  page += "<p>Reference <code>" + html::Escape(reference_name) + "</code> (" +
          std::to_string(r.reference_rows) + " rows) against current <code>" +
          html::Escape(current_name) + "</code> (" + std::to_string(r.current_rows) +
          " rows). Columns worst first. <span class=\"ref\">&#9632;</span> reference, "
          "<span class=\"cur\" style=\"color:#e8833a\">&#9632;</span> current.</p>";
  if (!r.concept_drift.empty()) {
    const json& c = r.concept_drift;
    page += "<p>Concept drift: " + html::Escape(c["metric"].get<std::string>()) + " " +
            html::Escape(c["reference"].dump()) + " &rarr; " + html::Escape(c["current"].dump()) +
            (c["drift"].get<bool>() ? " <b class=\"drift\">drift</b>" : "") + "</p>";
  }
  for (std::size_t i = 0; i < r.columns.size(); ++i) {
    const auto& c = r.columns[i];
    page += "<section><h2>" + html::Escape(c.name) + " <small>(" + c.role + ", " +
            (c.kind == ColumnKind::kNumeric ? "numeric" : "categorical") +
            ")</small> <span class=\"" + (c.drift ? "drift\">drift" : "ok\">no drift") +
            "</span></h2>";
    page += "<p>Decided by <b>" + c.decided_by + "</b>: " + html::Number(c.score) +
            (IsPValueTest(c.decided_by) ? " &lt; " : " &ge; ") + html::Number(c.threshold) +
            (c.drift ? " (yes)" : " (no)") + "</p>";
    page += Svg(c.distribution);
    page += "<table><tr><th>test</th><th>value</th></tr>";
    for (const auto& [test, values] : c.tests.items()) {
      for (const auto& [k, v] : values.items()) {
        page += "<tr><th>" + html::Escape(test + " " + k) + "</th><td>" +
                html::Escape(v.is_number() ? html::Number(v.get<double>()) : v.dump()) +
                "</td></tr>";
      }
    }
    page += "</table><table><tr><th></th><th>reference</th><th>current</th></tr>";
    for (const auto& [k, v] : c.summary["reference"].items()) {
      const json& other =
          c.summary["current"].contains(k) ? c.summary["current"][k] : json(nullptr);
      auto cell = [](const json& x) {
        return x.is_number() ? html::Number(x.get<double>())
               : x.is_null() ? std::string("-")
                             : x.dump();
      };
      page += "<tr><th>" + html::Escape(k) + "</th><td>" + html::Escape(cell(v)) + "</td><td>" +
              html::Escape(cell(other)) + "</td></tr>";
    }
    page += "</table></section>";
  }
  page += "</body></html>\n";
  return page;
}

}  // namespace stagegate::ml
