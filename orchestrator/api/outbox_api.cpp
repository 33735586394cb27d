#include "orchestrator/api/outbox_api.hpp"

#include <nlohmann/json.hpp>

#include "orchestrator/api/api_util.hpp"
#include "orchestrator/core/run_blocking.hpp"
#include "orchestrator/core/units.hpp"

namespace stagegate::api {
namespace {

using nlohmann::json;
using server::HttpResponse;
using server::JsonError;

constexpr std::string_view kOutboxPath = "/api/v1/outbox";

json Parsed(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

}  // namespace

json OutboxEntryJson(const OutboxEntry& e) {
  return {{"id", e.id},
          {"key", e.key},
          {"run_id", e.run_id},
          {"task", e.task_id},
          {"action", e.action},
          {"registry", e.registry},
          {"request", Parsed(e.request_json)},
          {"state", OutboxStateName(e.state)},
          {"attempts", e.attempts},
          {"last_error", e.last_error.empty() ? json(nullptr) : json(e.last_error)},
          {"response", Parsed(e.response_json)},
          {"created_at", TimeOrNull(e.created_ms)},
          {"updated_at", TimeOrNull(e.updated_ms)},
          {"next_attempt_at", e.state == OutboxState::kPending ? TimeOrNull(e.next_attempt_ms) : json(nullptr)},
          {"deadline", TimeOrNull(e.deadline_ms)},
          {"delivered_at", TimeOrNull(e.delivered_ms)}};
}

OutboxApi::OutboxApi(OutboxServicePtr outbox, std::shared_ptr<net::thread_pool> pool)
    : outbox_(std::move(outbox)), pool_(std::move(pool)) {}

Awaitable<HttpResponse> OutboxApi::Handle(server::HttpRequest request) const {
  const std::string_view path = request.Path();
  if (!outbox_) {
    co_return JsonError(404, "no registries are configured, so there is no outbox; add registries: "
                             "to the config (docs/registries.md)");
  }
  if (path == kOutboxPath || path == std::string(kOutboxPath) + "/") {
    if (request.method != "GET") co_return MethodNotAllowed(request.method, "GET");
    co_return co_await List(request);
  }
  std::string_view rest = path.substr(kOutboxPath.size() + 1);
  bool retry = false;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/retry") {
      co_return JsonError(404, "no route for " + request.method + " " + std::string(path) +
                                   "; see docs/api.md");
    }
    retry = true;
    rest = rest.substr(0, slash);
  }
  std::int64_t id = 0;
  if (!ParsePositive(rest, id)) {
    co_return JsonError(400, "outbox id '" + std::string(rest) + "' must be a positive number");
  }
  auto outbox = outbox_;
  if (retry) {
    if (request.method != "POST") co_return MethodNotAllowed(request.method, "POST");
    auto again = [outbox, id] { return outbox->Retry(id); };
    auto entry = co_await RunBlocking(*pool_, std::move(again));
    if (!entry) co_return server::FromError(entry.error());
    co_return server::Json(202, Dump(OutboxEntryJson(*entry)));
  }
  if (request.method != "GET") co_return MethodNotAllowed(request.method, "GET");
  auto read = [outbox, id] { return outbox->Get(id); };
  auto entry = co_await RunBlocking(*pool_, std::move(read));
  if (!entry) co_return server::FromError(entry.error());
  if (!entry->has_value()) co_return JsonError(404, "no outbox entry with id " + std::to_string(id));
  co_return server::Json(200, Dump(OutboxEntryJson(**entry)));
}

Awaitable<HttpResponse> OutboxApi::List(const server::HttpRequest& request) const {
  OutboxFilter filter;
  if (const std::string state = request.Query("state"); !state.empty()) {
    if (!ParseOutboxState(state)) {
      co_return JsonError(400, "state '" + state + "' is not an outbox state; use pending, sending, "
                                                   "delivered or dead");
    }
    filter.state = state;
  }
  if (const std::string run = request.Query("run"); !run.empty()) {
    if (!ParsePositive(run, filter.run_id)) {
      co_return JsonError(400, "run '" + run + "' must be a positive run id");
    }
  }
  const auto page = ParsePage(request);
  if (!page) co_return server::FromError(page.error());
  filter.before_id = page->before_id;
  filter.limit = static_cast<int>(page->limit) + 1;
  auto outbox = outbox_;
  auto read = [outbox, filter] { return outbox->List(filter); };
  auto entries = co_await RunBlocking(*pool_, std::move(read));
  if (!entries) co_return server::FromError(entries.error());
  co_return server::Json(200, Dump(PageBody("entries", *entries, page->limit,
                                            [](const OutboxEntry& e) { return OutboxEntryJson(e); })));
}

}  // namespace stagegate::api
