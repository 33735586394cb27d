#include "ml/compare_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "ml/html.hpp"

namespace stagegate::ml {
namespace {

using Json = nlohmann::json;

std::string Cell(const Json& value) {
  if (value.is_object()) {  // metrics mode: {"version": "3", "value": 0.91, ...}
    std::string text;
    for (const auto& [key, item] : value.items()) {
      text += (text.empty() ? "" : ", ") + html::Escape(key) + " " + Cell(item);
    }
    return text;
  }
  if (value.is_number_integer()) return value.dump();
  if (value.is_number()) return html::Number(value.get<double>());
  if (value.is_string()) return html::Escape(value.get<std::string>());
  if (value.is_null()) return "-";
  return html::Escape(value.dump());
}

// A histogram of the bootstrap differences with vertical marks.
struct Mark {
  double at;
  const char* label;
  const char* colour;
};

std::string Histogram(std::span<const double> values, const std::vector<Mark>& marks) {
  constexpr std::size_t kBins = 40;
  constexpr double kWidth = 640, kHeight = 160, kLeft = 10, kBottom = 36;
  // Bins cover the differences; the axis also reaches every mark.
  const double first = values.front();
  const double last = values.back() > first ? values.back() : first + 1e-12;
  double lo = first;
  double hi = last;
  for (const auto& m : marks) {
    lo = std::min(lo, m.at);
    hi = std::max(hi, m.at);
  }
  const double margin = (hi - lo) * 0.03;
  lo -= margin;
  hi += margin;
  const auto x_of = [&](double v) { return kLeft + (v - lo) / (hi - lo) * (kWidth - 2 * kLeft); };
  std::vector<std::size_t> counts(kBins, 0);
  const double bin_width = (last - first) / static_cast<double>(kBins);
  for (const double v : values) {
    const auto bin = static_cast<std::size_t>((v - first) / bin_width);
    ++counts[std::min(bin, kBins - 1)];
  }
  const double top = static_cast<double>(*std::max_element(counts.begin(), counts.end()));
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + html::Number(kWidth) +
                    "\" height=\"" + html::Number(kHeight + kBottom) + "\" role=\"img\">";
  svg += "<line x1=\"" + html::Number(kLeft) + "\" y1=\"" + html::Number(kHeight) + "\" x2=\"" +
         html::Number(kWidth - kLeft) + "\" y2=\"" + html::Number(kHeight) + "\" stroke=\"#999\"/>";
  for (std::size_t i = 0; i < kBins; ++i) {
    if (counts[i] == 0) continue;
    const double from = first + bin_width * static_cast<double>(i);
    const double x = x_of(from);
    const double w = std::max(1.0, x_of(from + bin_width) - x - 0.5);
    const double h = static_cast<double>(counts[i]) / top * (kHeight - 10);
    svg += "<rect class=\"bar\" x=\"" + html::Number(x) + "\" y=\"" + html::Number(kHeight - h) +
           "\" width=\"" + html::Number(w) + "\" height=\"" + html::Number(h) + "\"><title>" +
           std::to_string(counts[i]) + " resamples from " + html::Number(from) + "</title></rect>";
  }
  for (std::size_t k = 0; k < marks.size(); ++k) {
    const double x = x_of(marks[k].at);
    svg += "<line x1=\"" + html::Number(x) + "\" y1=\"0\" x2=\"" + html::Number(x) + "\" y2=\"" +
           html::Number(kHeight) + "\" stroke=\"" + marks[k].colour +
           "\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>";
    svg += "<text x=\"" + html::Number(x) + "\" y=\"" +
           html::Number(kHeight + 12 + 11 * static_cast<double>(k % 2)) +
           "\" font-size=\"10\" text-anchor=\"middle\" fill=\"" + marks[k].colour + "\">" +
           html::Escape(marks[k].label) + " " + html::Number(marks[k].at) + "</text>";
  }
  return svg + "</svg>";
}

}  // namespace

std::string CompareReportHtml(const Json& report, std::span<const double> differences,
                              const std::string& source) {
  const bool pass = report.value("verdict", "") == "pass";
  const std::string metric = report.value("metric", "");
  const bool maximize = report.value("direction", "maximize") == "maximize";
  const double min_improvement = report.value("min_improvement", 0.0);
  std::string page = html::PageStart(
      "stagegate compare report",
      "body{font-family:sans-serif;margin:2em;max-width:60em}.pass{color:#2e7d32}"
      ".fail{color:#b00020}.bar{fill:#5c7cfa}table{border-collapse:collapse}"
      "td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}th{text-align:left}"
      ".note{color:#666;font-size:90%}");
  page += "<h1>Champion vs challenger: <span class=\"" +
          std::string(pass ? "pass\">pass" : "fail\">fail") + "</span></h1>";
  page += "<p>" + html::Escape(metric) + " (" + (maximize ? "higher" : "lower") +
          " is better) on <code>" + html::Escape(source) + "</code>";
  if (report.contains("rows")) page += ", " + Cell(report["rows"]) + " rows";
  page += ". ";
  if (report.value("mode", "") == "evaluate") {
    page += "The challenger passes when the whole " +
            html::Number(100 * report.value("confidence", 0.95)) +
            "% interval of the difference shows a gain of at least " +
            html::Number(min_improvement) + ".</p>";
  } else {
    page += "The challenger passes when its gain is at least " + html::Number(min_improvement) +
            ".</p>";
  }
  page += "<table>";
  for (const char* key : {"champion", "challenger", "difference", "gain", "interval", "confidence",
                          "resamples", "undefined_resamples", "seed", "min_improvement",
                          "champion_version", "challenger_version", "reason", "verdict"}) {
    if (!report.contains(key)) continue;
    const Json& v = report[key];
    std::string text = Cell(v);
    if (v.is_array() && v.size() == 2) text = "[" + Cell(v[0]) + ", " + Cell(v[1]) + "]";
    page += "<tr><th>" + std::string(key) + "</th><td>" + text + "</td></tr>";
  }
  page += "</table>";
  if (!differences.empty() && report.contains("interval") && report["interval"].is_array()) {
    const double threshold = maximize ? min_improvement : -min_improvement;
    page += "<h2>Bootstrap differences (challenger &minus; champion)</h2>";
    page += Histogram(differences, {{0.0, "0", "#666"},
                                    {report["interval"][0].get<double>(), "low", "#e8833a"},
                                    {report["interval"][1].get<double>(), "high", "#e8833a"},
                                    {threshold, "needed", "#b00020"}});
    page += "<p class=\"note\">" + std::to_string(differences.size()) +
            " resamples of the rows, the same rows for both models; the interval is the "
            "percentile interval of these differences.</p>";
  }
  if (report.contains("mcnemar")) {
    const Json& m = report["mcnemar"];
    page += "<h2>McNemar's test</h2><table>";
    for (const auto& [k, v] : m.items()) {
      page += "<tr><th>" + html::Escape(k) + "</th><td>" + Cell(v) + "</td></tr>";
    }
    page +=
        "</table><p class=\"note\">Rows only the champion gets right against rows only the "
        "challenger gets right.</p>";
  }
  return page + "</body></html>\n";
}

}  // namespace stagegate::ml
