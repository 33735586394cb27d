#pragma once

#include <memory>

#include <boost/asio/thread_pool.hpp>

#include "orchestrator/core/event_store.hpp"
#include "orchestrator/core/metrics.hpp"
#include "orchestrator/server/http_types.hpp"

namespace stagegate::api {

/// GET /api/v1/events (newest first; filters endpoint, type, model; cursor pagination) and
/// GET /api/v1/events/{id} (normalised fields, redacted headers, verification, raw payload).
/// Store reads run on `pool`, never on an I/O thread.
class EventsApi final : public server::HttpHandler {
 public:
  EventsApi(EventStorePtr store, std::shared_ptr<net::thread_pool> pool);
  Awaitable<server::HttpResponse> Handle(server::HttpRequest request) const override;

 private:
  Awaitable<server::HttpResponse> List(const server::HttpRequest& request) const;
  Awaitable<server::HttpResponse> Get(std::string_view id_text) const;

  EventStorePtr store_;
  std::shared_ptr<net::thread_pool> pool_;
};

/// /healthz (the process answers), /readyz (the store can take writes) and /metrics
/// (Prometheus text format).
class OpsApi final : public server::HttpHandler {
 public:
  OpsApi(EventStorePtr store, std::shared_ptr<Metrics> metrics,
         std::shared_ptr<net::thread_pool> pool);
  Awaitable<server::HttpResponse> Handle(server::HttpRequest request) const override;

 private:
  EventStorePtr store_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<net::thread_pool> pool_;
};

}  // namespace stagegate::api
