#include "orchestrator/core/actions.hpp"

namespace stagegate {

const std::vector<ActionInfo>& BuiltinActions() {
  static const std::vector<ActionInfo> kActions = {
      {"registry.approve_transition",
       {"registry", "model", "version", "stage", "archive_existing_versions", "comment", "evidence"}},
      {"registry.reject_transition", {"registry", "model", "version", "stage", "comment", "evidence"}},
      {"registry.comment", {"registry", "model", "version", "comment", "evidence"}},
      {"registry.transition_stage",
       {"registry", "model", "version", "stage", "archive_existing_versions", "comment", "evidence"}},
      {"registry.set_tag", {"registry", "model", "version", "key", "value"}},
      {"registry.set_alias", {"registry", "model", "version", "alias"}},
      {"registry.delete_alias", {"registry", "model", "alias"}},
      // The ML actions, run on a worker as `stagegate action NAME --key value`.
      {"compare",
       {"mode", "data", "label", "champion", "challenger", "task", "metric", "min_improvement",
        "positive_label", "threshold", "confidence", "resamples", "seed", "json", "html",
        // metrics mode (through the registry)
        "registry", "model", "challenger_version", "champion_alias", "champion_stage", "direction", "if_no_champion", "config"}},
      {"drift", {"reference", "current", "config", "label", "prediction", "features", "json", "html", "report_only"}},
      {"validate-model",
       {"path", "require_signature", "require_input_example", "required_flavor", "required_metadata",
        "max_size", "json"}},
  };
  return kActions;
}

const ActionInfo* FindAction(const std::string& name) {
  for (const auto& a : BuiltinActions()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool IsRegistryAction(const std::string& name) { return name.rfind("registry.", 0) == 0; }

}  // namespace stagegate
