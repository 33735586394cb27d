#include "orchestrator/core/event_types.hpp"

#include <array>
#include <utility>

namespace stagegate {
namespace {

struct Alias {
  std::string_view spelling;
  std::string_view type;
  std::string_view to_stage;
};

// protocols.md §1.2 (Databricks) and §3.1 (MLflow model-registry events).
constexpr std::array<Alias, 18> kAliases = {{
    {"MODEL_VERSION_CREATED", "model_version.created", ""},
    {"MODEL_VERSION_TRANSITIONED_STAGE", "model_version.stage_transitioned", ""},
    {"MODEL_VERSION_TRANSITIONED_TO_STAGING", "model_version.stage_transitioned", "Staging"},
    {"MODEL_VERSION_TRANSITIONED_TO_PRODUCTION", "model_version.stage_transitioned", "Production"},
    {"MODEL_VERSION_TRANSITIONED_TO_ARCHIVED", "model_version.stage_transitioned", "Archived"},
    {"TRANSITION_REQUEST_CREATED", "transition_request.created", ""},
    {"TRANSITION_REQUEST_TO_STAGING_CREATED", "transition_request.created", "Staging"},
    {"TRANSITION_REQUEST_TO_PRODUCTION_CREATED", "transition_request.created", "Production"},
    {"TRANSITION_REQUEST_TO_ARCHIVED_CREATED", "transition_request.created", "Archived"},
    {"COMMENT_CREATED", "comment.created", ""},
    {"REGISTERED_MODEL_CREATED", "registered_model.created", ""},
    {"MODEL_VERSION_TAG_SET", "model_version_tag.set", ""},
    {"registered_model.created", "registered_model.created", ""},
    {"model_version.created", "model_version.created", ""},
    {"model_version_tag.set", "model_version_tag.set", ""},
    {"model_version_tag.deleted", "model_version_tag.deleted", ""},
    {"model_version_alias.created", "model_version_alias.created", ""},
    {"model_version_alias.deleted", "model_version_alias.deleted", ""},
}};

}  // namespace

const std::vector<std::string>& CanonicalEventTypes() {
  static const std::vector<std::string> kTypes = {
      "model_version.created",     "model_version.stage_transitioned",
      "transition_request.created", "comment.created",
      "registered_model.created",  "model_version_tag.set",
      "model_version_tag.deleted", "model_version_alias.created",
      "model_version_alias.deleted", "push"};
  return kTypes;
}

std::optional<CanonicalType> CanonicalizeEventType(std::string_view spelling) {
  for (const auto& alias : kAliases) {
    if (alias.spelling == spelling) {
      return CanonicalType{std::string(alias.type), std::string(alias.to_stage)};
    }
  }
  for (const auto& type : CanonicalEventTypes()) {
    if (type == spelling) {
      return CanonicalType{type, ""};
    }
  }
  return std::nullopt;
}

const std::vector<std::string>& DatabricksEventNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < 12; ++i) {
      names.emplace_back(kAliases[i].spelling);
    }
    return names;
  }();
  return kNames;
}

}  // namespace stagegate
