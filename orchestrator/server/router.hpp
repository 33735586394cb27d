#pragma once

#include <string>
#include <utility>
#include <vector>

#include "orchestrator/server/http_types.hpp"

namespace stagegate::server {

/// Dispatches on path prefixes, segment-aware: "/api/v1/events" matches "/api/v1/events"
/// and "/api/v1/events/7" but not "/api/v1/eventsx". The longest prefix wins; anything
/// unmatched gets a JSON 404. Immutable after set-up, so safe to share between connections.
class Router final : public HttpHandler {
 public:
  void Add(std::string prefix, HttpHandlerPtr handler);
  Awaitable<HttpResponse> Handle(HttpRequest request) const override;

 private:
  std::vector<std::pair<std::string, HttpHandlerPtr>> routes_;
};

}  // namespace stagegate::server
