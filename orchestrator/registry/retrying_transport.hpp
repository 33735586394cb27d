#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "orchestrator/core/registry.hpp"

namespace stagegate::registry {

struct RetryPolicy {
  int max_attempts = 5;                                   // the first call included
  std::chrono::milliseconds base_delay{200};              // before the second attempt
  std::chrono::milliseconds max_delay{10'000};            // per wait, Retry-After included
  std::chrono::milliseconds deadline{60'000};             // all attempts and waits together
};

/// Retries what may succeed on a second try: transport failures, 429 and 5xx answers. Waits
/// grow exponentially with full jitter (a random wait between zero and base × 2^(n-1), capped),
/// and a Retry-After header in seconds is honoured (capped too). Other answers, successful or
/// not, are returned at once. The last answer (or transport error) is returned when the
/// attempts or the deadline run out; a retried answer is never hidden. Thread-safe when the
/// inner transport is; the sleep and random functions are injectable for tests.
class RetryingTransport final : public RegistryTransport {
 public:
  using Sleep = std::function<void(std::chrono::milliseconds)>;
  using Random = std::function<double()>;  // uniform in [0, 1)

  RetryingTransport(std::shared_ptr<RegistryTransport> inner, RetryPolicy policy, Sleep sleep = {},
                    Random random = {});

  Result<RegistryResponse> Send(const RegistryRequest& request) override;

 private:
  std::shared_ptr<RegistryTransport> inner_;
  RetryPolicy policy_;
  Sleep sleep_;
  Random random_;
};

}  // namespace stagegate::registry
