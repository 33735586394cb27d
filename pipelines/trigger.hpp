#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/core/event.hpp"
#include "orchestrator/core/glob.hpp"
#include "orchestrator/core/pipeline.hpp"

namespace stagegate::pipelines {

using stagegate::GlobMatch;  // orchestrator/core/glob.hpp

/// True when `event` starts a pipeline with this registry trigger: its type is listed, its
/// model matches one of the globs (any when none), and, for events that carry a stage
/// (transition requests and stage transitions), the stage is listed (any when none;
/// compared case-insensitively); for alias events, the alias is listed (any when none).
bool MatchesRegistryTrigger(const RegistryTrigger& trigger, const Event& event);

/// One combination of a matrix: axis name -> value.
using MatrixCombination = std::map<std::string, std::string>;

/// Expands a matrix like GitHub Actions: the cross product of the axes in declaration order,
/// minus every combination an `exclude` entry matches (all of its keys), then each `include`
/// entry either extends the combinations whose axis values it matches with its other keys,
/// or, when it matches none, is added as a combination of its own. Pure.
std::vector<MatrixCombination> ExpandMatrix(const MatrixSpec& matrix);

/// "test (3.10, linux)": how a matrix task instance is named in runs and logs.
std::string MatrixTaskName(const std::string& task_id, const MatrixSpec& matrix,
                           const MatrixCombination& combination);

}  // namespace stagegate::pipelines
