#include "orchestrator/api/events_api.hpp"

#include <charconv>
#include <ctime>

#include <nlohmann/json.hpp>

#include "orchestrator/core/event_types.hpp"
#include "orchestrator/api/api_util.hpp"
#include "orchestrator/core/run_blocking.hpp"
#include "orchestrator/core/units.hpp"
#include "pipelines/event_json.hpp"

namespace stagegate::api {
namespace {

using nlohmann::json;
using server::HttpResponse;
using server::JsonError;

constexpr std::string_view kEventsPath = "/api/v1/events";

}  // namespace

EventsApi::EventsApi(EventStorePtr store, std::shared_ptr<net::thread_pool> pool)
    : store_(std::move(store)), pool_(std::move(pool)) {}

Awaitable<HttpResponse> EventsApi::Handle(server::HttpRequest request) const {
  if (request.method != "GET") {
    co_return MethodNotAllowed(request.method, "GET");
  }
  const std::string_view path = request.Path();
  if (path == kEventsPath || path == std::string(kEventsPath) + "/") {
    co_return co_await List(request);
  }
  const std::string_view rest = path.substr(kEventsPath.size() + 1);
  if (rest.find('/') != std::string_view::npos) {
    co_return JsonError(404, "no route for " + request.method + " " + std::string(path) +
                                 "; see docs/api.md");
  }
  co_return co_await Get(rest);
}

Awaitable<HttpResponse> EventsApi::List(const server::HttpRequest& request) const {
  EventFilter filter;
  filter.endpoint = request.Query("endpoint");
  filter.model = request.Query("model");
  if (const std::string type = request.Query("type"); !type.empty()) {
    const auto canonical = CanonicalizeEventType(type);
    if (!canonical) {
      std::string known;
      for (const auto& t : CanonicalEventTypes()) known += (known.empty() ? "" : ", ") + t;
      co_return JsonError(400, "type '" + type + "' is not an event type; use one of " + known);
    }
    filter.type = canonical->type;
  }
  const auto page = ParsePage(request);
  if (!page) co_return server::FromError(page.error());
  const std::int64_t limit = page->limit;
  filter.before_id = page->before_id;
  filter.limit = static_cast<int>(limit) + 1;  // one more tells whether another page exists
  auto store = store_;
  auto read = [store, filter] { return store->List(filter); };
  auto events = co_await RunBlocking(*pool_, std::move(read));
  if (!events) {
    co_return server::FromError(events.error());
  }
  co_return server::Json(
      200, Dump(PageBody("events", *events, limit,
                         [](const Event& e) { return pipelines::EventSummaryJson(e); })));
}

Awaitable<HttpResponse> EventsApi::Get(std::string_view id_text) const {
  std::int64_t id = 0;
  if (!ParsePositive(id_text, id)) {
    co_return JsonError(400, "event id '" + std::string(id_text) + "' must be a positive number");
  }
  auto store = store_;
  auto read = [store, id] { return store->Get(id); };
  auto event = co_await RunBlocking(*pool_, std::move(read));
  if (!event) {
    co_return server::FromError(event.error());
  }
  if (!event->has_value()) {
    co_return JsonError(404, "no event with id " + std::to_string(id));
  }
  co_return server::Json(200, Dump(pipelines::EventJson(**event)));
}

OpsApi::OpsApi(EventStorePtr store, std::shared_ptr<Metrics> metrics,
               std::shared_ptr<net::thread_pool> pool)
    : store_(std::move(store)), metrics_(std::move(metrics)), pool_(std::move(pool)) {}

Awaitable<HttpResponse> OpsApi::Handle(server::HttpRequest request) const {
  if (request.method != "GET") {
    co_return MethodNotAllowed(request.method, "GET");
  }
  const std::string_view path = request.Path();
  if (path == "/healthz") {
    co_return server::Json(200, "{\"status\":\"ok\"}\n");
  }
  if (path == "/readyz") {
    auto store = store_;
    auto check = [store] { return store->Ready(); };
    auto ready = co_await RunBlocking(*pool_, std::move(check));
    if (!ready) {
      co_return server::Json(503, Dump({{"status", "unavailable"}, {"reason", ready.error().message}}));
    }
    co_return server::Json(200, "{\"status\":\"ready\"}\n");
  }
  if (path == "/metrics") {
    co_return HttpResponse{.status = 200,
                           .content_type = "text/plain; version=0.0.4; charset=utf-8",
                           .body = metrics_->Render()};
  }
  co_return JsonError(404, "no route for " + std::string(path));
}

}  // namespace stagegate::api
