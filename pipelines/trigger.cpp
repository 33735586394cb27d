#include "pipelines/trigger.hpp"

#include <algorithm>

#include "orchestrator/core/glob.hpp"
#include "orchestrator/core/headers.hpp"

namespace stagegate::pipelines {
namespace {

bool IsAxis(const MatrixSpec& matrix, const std::string& key) {
  return std::any_of(matrix.axes.begin(), matrix.axes.end(),
                     [&key](const auto& axis) { return axis.first == key; });
}

bool Contains(const std::vector<std::string>& list, const std::string& value, bool ignore_case) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& item) {
    return ignore_case ? EqualsIgnoreCase(item, value) : item == value;
  });
}

}  // namespace

bool MatchesRegistryTrigger(const RegistryTrigger& trigger, const Event& event) {
  if (!Contains(trigger.events, event.type, false)) {
    return false;
  }
  if (!trigger.models.empty() &&
      std::none_of(trigger.models.begin(), trigger.models.end(),
                   [&](const std::string& glob) { return GlobMatch(glob, event.model_name); })) {
    return false;
  }
  const bool has_stage = event.type == "transition_request.created" ||
                         event.type == "model_version.stage_transitioned";
  if (has_stage && !trigger.to_stages.empty() &&
      !Contains(trigger.to_stages, event.to_stage, true)) {
    return false;
  }
  const bool has_alias = event.type.starts_with("model_version_alias.");
  if (has_alias && !trigger.aliases.empty() && !Contains(trigger.aliases, event.alias, false)) {
    return false;
  }
  return true;
}

std::vector<MatrixCombination> ExpandMatrix(const MatrixSpec& matrix) {
  std::vector<MatrixCombination> combos;
  if (!matrix.axes.empty()) {
    combos.emplace_back();
    for (const auto& [axis, values] : matrix.axes) {
      std::vector<MatrixCombination> next;
      for (const auto& combo : combos) {
        for (const auto& value : values) {
          auto extended = combo;
          extended[axis] = value;
          next.push_back(std::move(extended));
        }
      }
      combos = std::move(next);
    }
  }
  auto matches = [](const MatrixCombination& combo, const MatrixCombination& entry,
                    bool axes_only, const MatrixSpec& m) {
    for (const auto& [key, value] : entry) {
      if (axes_only && !IsAxis(m, key)) continue;
      const auto it = combo.find(key);
      if (it == combo.end() || it->second != value) return false;
    }
    return true;
  };
  std::erase_if(combos, [&](const MatrixCombination& combo) {
    return std::any_of(matrix.exclude.begin(), matrix.exclude.end(),
                       [&](const auto& entry) { return matches(combo, entry, false, matrix); });
  });
  const std::size_t original = combos.size();
  for (const auto& entry : matrix.include) {
    bool extended = false;
    for (std::size_t i = 0; i < original; ++i) {
      if (matches(combos[i], entry, true, matrix)) {
        for (const auto& [key, value] : entry) combos[i][key] = value;
        extended = true;
      }
    }
    if (!extended) combos.push_back(entry);
  }
  return combos;
}

std::string MatrixTaskName(const std::string& task_id, const MatrixSpec& matrix,
                           const MatrixCombination& combination) {
  std::string values;
  auto add = [&](const std::string& value) { values += (values.empty() ? "" : ", ") + value; };
  for (const auto& [axis, unused] : matrix.axes) {
    if (const auto it = combination.find(axis); it != combination.end()) add(it->second);
  }
  for (const auto& [key, value] : combination) {
    if (!IsAxis(matrix, key)) add(value);
  }
  return task_id + " (" + values + ")";
}

}  // namespace stagegate::pipelines
