#include "orchestrator/core/registry.hpp"

namespace stagegate {

const char* RegistryDialectName(RegistryDialect dialect) {
  return dialect == RegistryDialect::kDatabricks ? "databricks" : "mlflow";
}

}  // namespace stagegate
