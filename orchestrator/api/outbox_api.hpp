#pragma once

#include <memory>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json_fwd.hpp>

#include "orchestrator/core/outbox.hpp"
#include "orchestrator/server/http_types.hpp"

namespace stagegate::api {

/// The registry-action outbox: GET /api/v1/outbox (newest first; filters state, run; cursor
/// pagination), GET /api/v1/outbox/{id}, and POST /api/v1/outbox/{id}/retry (sends a dead
/// letter again). Without registries configured, every route answers 404 saying so.
class OutboxApi final : public server::HttpHandler {
 public:
  OutboxApi(OutboxServicePtr outbox, std::shared_ptr<net::thread_pool> pool);
  Awaitable<server::HttpResponse> Handle(server::HttpRequest request) const override;

 private:
  Awaitable<server::HttpResponse> List(const server::HttpRequest& request) const;

  OutboxServicePtr outbox_;
  std::shared_ptr<net::thread_pool> pool_;
};

/// An outbox entry as the API shows it.
nlohmann::json OutboxEntryJson(const OutboxEntry& e);

}  // namespace stagegate::api
