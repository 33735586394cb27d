#include "orchestrator/registry/retrying_transport.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

#include "orchestrator/core/headers.hpp"

namespace stagegate::registry {
namespace {

using std::chrono::milliseconds;

// A call whose answer was lost is repeated only when repeating it changes nothing (GET);
// otherwise the caller decides (the outbox checks the registry first).
bool Retryable(const RegistryRequest& request, const Result<RegistryResponse>& r) {
  if (!r) {
    return r.error().code == ErrorCode::kUnavailable ||
           (r.error().code == ErrorCode::kInDoubt && request.method == "GET");
  }
  return r->status == 429 || r->status >= 500;
}

// Retry-After in seconds (the HTTP-date form is not used by the registries); nullopt otherwise.
std::optional<milliseconds> RetryAfter(const Result<RegistryResponse>& r) {
  if (!r) return std::nullopt;
  const std::string_view value = FindHeader(r->headers, "Retry-After");
  std::int64_t seconds = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || seconds < 0) {
    return std::nullopt;
  }
  return milliseconds(seconds * 1000);
}

}  // namespace

RetryingTransport::RetryingTransport(std::shared_ptr<RegistryTransport> inner, RetryPolicy policy,
                                     Sleep sleep, Random random)
    : inner_(std::move(inner)), policy_(policy), sleep_(std::move(sleep)), random_(std::move(random)) {
  if (!sleep_) sleep_ = [](milliseconds d) { std::this_thread::sleep_for(d); };
  if (!random_) {
    random_ = [] {
      thread_local std::mt19937_64 engine{std::random_device{}()};
      return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
    };
  }
}

Result<RegistryResponse> RetryingTransport::Send(const RegistryRequest& request) {
  milliseconds waited{0};
  Result<RegistryResponse> last = inner_->Send(request);
  for (int attempt = 1; attempt < policy_.max_attempts && Retryable(request, last); ++attempt) {
    const auto ceiling = std::min<std::int64_t>(
        policy_.max_delay.count(), policy_.base_delay.count() << std::min(attempt - 1, 20));
    milliseconds wait(static_cast<std::int64_t>(random_() * static_cast<double>(ceiling)));
    if (const auto after = RetryAfter(last)) wait = std::min(*after, policy_.max_delay);
    if (waited + wait > policy_.deadline) break;
    sleep_(wait);
    waited += wait;
    last = inner_->Send(request);
  }
  return last;
}

}  // namespace stagegate::registry
