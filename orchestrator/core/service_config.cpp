#include "orchestrator/core/service_config.hpp"

namespace stagegate {

const char* SchemeName(Scheme scheme) {
  switch (scheme) {
    case Scheme::kDatabricks:
      return "databricks";
    case Scheme::kMlflow:
      return "mlflow";
    case Scheme::kStandard:
      return "standard";
    case Scheme::kGithub:
      return "github";
    case Scheme::kNone:
      return "none";
  }
  return "none";
}

std::optional<Scheme> ParseScheme(std::string_view name) {
  for (const Scheme s : {Scheme::kDatabricks, Scheme::kMlflow, Scheme::kStandard, Scheme::kGithub,
                         Scheme::kNone}) {
    if (name == SchemeName(s)) {
      return s;
    }
  }
  return std::nullopt;
}

}  // namespace stagegate
