#pragma once

#include "orchestrator/core/registry.hpp"
#include "orchestrator/core/service_config.hpp"

namespace stagegate::server {

/// Carries registry calls over HTTP(S) to one configured registry: the base URL joined with
/// the call's path, `Accept` and (for every method but GET) `Content-Type:
/// application/json`, the configured credentials (bearer token or HTTP Basic), TLS
/// verification and CA file, and the timeout per call. Credentials never appear in errors.
class HttpRegistryTransport final : public RegistryTransport {
 public:
  explicit HttpRegistryTransport(RegistryConfig config);
  Result<RegistryResponse> Send(const RegistryRequest& request) override;

 private:
  RegistryConfig config_;
  std::string authorization_;  // the header value, or empty
};

}  // namespace stagegate::server
