#include "orchestrator/app/registries.hpp"

#include "orchestrator/registry/rest_registry_client.hpp"
#include "orchestrator/server/registry_transport.hpp"

namespace stagegate::app {

std::shared_ptr<RegistryTransport> MakeRegistryTransport(const RegistryConfig& config,
                                                         registry::RetryPolicy policy) {
  auto http = std::make_shared<server::HttpRegistryTransport>(config);
  return std::make_shared<registry::RetryingTransport>(std::move(http), policy);
}

RegistryClientPtr MakeRegistryClient(const RegistryConfig& config, registry::RetryPolicy policy) {
  const auto dialect =
      config.dialect == "mlflow" ? RegistryDialect::kMlflow : RegistryDialect::kDatabricks;
  return std::make_shared<registry::RestRegistryClient>(dialect, MakeRegistryTransport(config, policy));
}

std::map<std::string, RegistryClientPtr> MakeRegistryClients(const std::vector<RegistryConfig>& configs,
                                                             registry::RetryPolicy policy) {
  std::map<std::string, RegistryClientPtr> clients;
  for (const auto& c : configs) clients[c.name] = MakeRegistryClient(c, policy);
  return clients;
}

const RegistryConfig* FindRegistry(const std::vector<RegistryConfig>& configs, const std::string& name) {
  for (const auto& c : configs) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

}  // namespace stagegate::app
