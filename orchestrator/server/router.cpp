#include "orchestrator/server/router.hpp"

#include <algorithm>

namespace stagegate::server {

void Router::Add(std::string prefix, HttpHandlerPtr handler) {
  routes_.emplace_back(std::move(prefix), std::move(handler));
  std::sort(routes_.begin(), routes_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

Awaitable<HttpResponse> Router::Handle(HttpRequest request) const {
  const std::string_view path = request.Path();
  for (const auto& [prefix, handler] : routes_) {
    const bool segment_end = path.size() == prefix.size() || prefix.ends_with('/') ||
                             (path.size() > prefix.size() && path[prefix.size()] == '/');
    if (path.starts_with(prefix) && segment_end) {
      co_return co_await handler->Handle(std::move(request));
    }
  }
  co_return JsonError(404, "no route for " + request.method + " " + std::string(path));
}

}  // namespace stagegate::server
