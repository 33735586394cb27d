#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/core/registry.hpp"
#include "orchestrator/core/service_config.hpp"
#include "orchestrator/registry/retrying_transport.hpp"

namespace stagegate::app {

/// The transport to one configured registry: HTTP(S) with its credentials, wrapped in
/// retries with backoff and jitter (429, 5xx, network errors) bounded by `policy`.
std::shared_ptr<RegistryTransport> MakeRegistryTransport(const RegistryConfig& config,
                                                         registry::RetryPolicy policy = {});

/// A client of the configured registry's dialect over MakeRegistryTransport.
RegistryClientPtr MakeRegistryClient(const RegistryConfig& config, registry::RetryPolicy policy = {});

/// One client per entry of `registries:`, by name.
std::map<std::string, RegistryClientPtr> MakeRegistryClients(const std::vector<RegistryConfig>& configs,
                                                             registry::RetryPolicy policy = {});

/// The configured registry named `name`, or nullptr.
const RegistryConfig* FindRegistry(const std::vector<RegistryConfig>& configs, const std::string& name);

}  // namespace stagegate::app
