#pragma once

#include <span>
#include <string>

#include <nlohmann/json.hpp>

namespace stagegate::ml {

/// The compare action's self-contained HTML page: the verdict and the rule behind it, both
/// models' metric, the difference with its interval, McNemar's test when present, and, in
/// evaluate mode, the distribution of the bootstrap differences as SVG with zero, the
/// interval and the required improvement marked. `report` is the action's JSON report;
/// `differences` the resampled differences (empty in metrics mode); `source` names the data.
std::string CompareReportHtml(const nlohmann::json& report, std::span<const double> differences,
                              const std::string& source);

}  // namespace stagegate::ml
