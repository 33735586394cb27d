#include "webhooks/ingress_handler.hpp"

#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "webhooks/crypto.hpp"
#include "webhooks/normalize.hpp"
#include "webhooks/signature.hpp"

namespace stagegate::webhooks {
namespace {

constexpr std::string_view kPrefix = "/hooks/";

std::shared_ptr<spdlog::logger> Log() {
  static const auto logger = [] {
    auto existing = spdlog::get("webhooks");
    return existing ? existing : spdlog::default_logger()->clone("webhooks");
  }();
  return logger;
}

}  // namespace

IngressHandler::IngressHandler(std::vector<EndpointConfig> endpoints, EventStorePtr store,
                               std::shared_ptr<Metrics> metrics, Clock clock)
    : store_(std::move(store)), metrics_(std::move(metrics)), clock_(std::move(clock)) {
  for (auto& endpoint : endpoints) {
    auto name = endpoint.name;
    endpoints_.emplace(std::move(name), std::move(endpoint));
  }
}

Awaitable<server::HttpResponse> IngressHandler::Handle(server::HttpRequest request) const {
  const std::string_view path = request.Path();
  const std::string_view name = path.substr(std::min(path.size(), kPrefix.size()));
  const auto it = endpoints_.find(name);
  if (!path.starts_with(kPrefix) || it == endpoints_.end()) {
    std::string known;
    for (const auto& [key, value] : endpoints_) {
      known += (known.empty() ? "" : ", ") + key;
    }
    metrics_->CountDelivery("-", "not_found");
    co_return server::JsonError(404, "no webhook endpoint '" + std::string(name) +
                                         "'; configured endpoints: " +
                                         (known.empty() ? "none" : known));
  }
  if (request.method != "POST") {
    metrics_->CountDelivery(it->first, "method_not_allowed");
    auto response = server::JsonError(405, "webhook endpoints accept POST only, not " + request.method);
    response.headers.emplace_back("Allow", "POST");
    co_return response;
  }
  co_return co_await Deliver(it->second, std::move(request));
}

Awaitable<server::HttpResponse> IngressHandler::Deliver(const EndpointConfig& endpoint,
                                                        server::HttpRequest request) const {
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t now_ms = clock_();
  auto finish = [&](const char* outcome, server::HttpResponse response) {
    metrics_->CountDelivery(endpoint.name, outcome);
    metrics_->ObserveIngress(endpoint.name, std::chrono::duration<double>(
                                                std::chrono::steady_clock::now() - started)
                                                .count());
    return response;
  };

  auto verified = VerifyDelivery(endpoint, request.headers, request.body, now_ms / 1000);
  if (!verified) {
    Log()->warn("delivery_rejected endpoint={} remote={} status=401 reason=\"{}\"", endpoint.name,
                request.remote, verified.error().message);
    co_return finish("unauthorized", server::FromError(verified.error()));
  }
  auto normalized = NormalizePayload(endpoint.scheme, request.headers, request.body);
  if (!normalized) {
    Log()->warn("delivery_rejected endpoint={} remote={} status=400 reason=\"{}\"", endpoint.name,
                request.remote, normalized.error().message);
    co_return finish("malformed", server::FromError(normalized.error()));
  }
  if (normalized->ping) {
    co_return finish("ping", server::Json(200, "{\"ping\":true}\n"));
  }

  Event event = std::move(normalized->event);
  event.endpoint = endpoint.name;
  event.source = SchemeName(endpoint.scheme);
  event.delivery_id = verified->delivery_id;
  event.dedupe_key = event.delivery_id.empty() ? "sha256:" + Sha256Hex(request.body)
                                               : "id:" + event.delivery_id;
  event.received_at_ms = now_ms;
  event.headers = RedactHeaders(request.headers);
  event.verification = Verification{
      .scheme = event.source,
      .secret_index = verified->secret_index,
      .signed_at_s = verified->signed_at_s,
      .skew_s = verified->signed_at_s == 0 ? 0 : now_ms / 1000 - verified->signed_at_s};
  event.payload = std::move(request.body);
  const std::string type = event.type;
  const std::string model = event.model_name;
  // Deliveries with a sender id are unique forever; body hashes only within the window,
  // because a registry may legitimately send the same bytes again later.
  const auto window =
      event.delivery_id.empty() ? endpoint.dedupe_window : std::chrono::milliseconds(0);

  auto stored = co_await store_->Append(std::move(event), window);
  if (!stored) {
    Log()->error("delivery_not_stored endpoint={} status=503 reason=\"{}\"", endpoint.name,
                 stored.error().message);
    co_return finish("unavailable", server::FromError(stored.error()));
  }
  Log()->info("delivery_stored endpoint={} event_id={} duplicate={} type={} model={}",
              endpoint.name, stored->event_id, stored->duplicate, type, model);
  nlohmann::json body = {{"event_id", stored->event_id},
                         {"duplicate", stored->duplicate},
                         {"type", type}};
  const char* outcome = stored->duplicate ? "duplicate" : "accepted";
  co_return finish(outcome, server::Json(200, body.dump() + "\n"));
}

}  // namespace stagegate::webhooks
