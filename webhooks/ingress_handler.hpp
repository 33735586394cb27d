#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/core/event_store.hpp"
#include "orchestrator/core/metrics.hpp"
#include "orchestrator/core/service_config.hpp"
#include "orchestrator/server/http_types.hpp"

namespace stagegate::webhooks {

/// Serves POST /hooks/<endpoint>: verify over the raw body, normalise, store durably, and
/// answer 200 {"event_id", "duplicate"} only after the commit. 401 for signature problems,
/// 400 for payloads that cannot be mapped, 404 for unknown endpoints, 405 for other
/// methods, 503 when the store cannot take the write. Thread-safe and immutable after
/// construction.
class IngressHandler final : public server::HttpHandler {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix milliseconds

  IngressHandler(std::vector<EndpointConfig> endpoints, EventStorePtr store,
                 std::shared_ptr<Metrics> metrics, Clock clock);

  Awaitable<server::HttpResponse> Handle(server::HttpRequest request) const override;

 private:
  Awaitable<server::HttpResponse> Deliver(const EndpointConfig& endpoint,
                                          server::HttpRequest request) const;

  std::map<std::string, EndpointConfig, std::less<>> endpoints_;
  EventStorePtr store_;
  std::shared_ptr<Metrics> metrics_;
  Clock clock_;
};

}  // namespace stagegate::webhooks
