#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/core/metrics.hpp"
#include "orchestrator/core/outbox.hpp"
#include "orchestrator/core/registry.hpp"
#include "orchestrator/core/runner.hpp"

namespace stagegate::registry {

struct ActionRunnerOptions {
  OutboxStorePtr outbox;
  /// Clients by configured registry name. Give them no retries of their own: the outbox
  /// retries, and checks the registry before repeating a call whose answer was lost.
  std::map<std::string, RegistryClientPtr> registries;
  /// Endpoint name -> the registry its events come from (the endpoint's `registry:`).
  std::map<std::string, std::string> endpoint_registries;
  std::string public_url;  // base of the run links in evidence, e.g. http://ci.example.com:8080
  std::string log_dir;     // one log file per action task
  std::function<std::int64_t()> now_ms;  // Unix ms; defaults to the system clock
  int workers = 4;                       // registry calls in flight at once
  std::chrono::milliseconds retry_base{500};     // first wait after a failed call
  std::chrono::milliseconds retry_max{30'000};   // longest wait between calls
  /// How long an action keeps trying when its task has no timeout.
  std::chrono::milliseconds default_deadline = std::chrono::hours(1);
  /// Nothing is stored or sent: each action resolves its call (the registry's dialect from
  /// the event when none is configured), writes it to its log and succeeds. `stagegate run`.
  bool dry_run = false;
  std::shared_ptr<Metrics> metrics;  // optional: stagegate_registry_* at /metrics
};

/// The built-in registry actions (`uses: registry.*`, DESIGN.md "exactly once") as a Runner
/// and the API's OutboxService.
///
/// Submit resolves the action's parameters (defaults from the triggering event: registry,
/// model, version, stage), renders the Markdown evidence, and stores the call in the outbox
/// under the key (run, task, action) before anything is sent; a second submit of the key finds
/// the first entry. Workers deliver entries: each call is marked `sending` durably first, so
/// an entry found `sending` after a crash is in doubt and is checked against the registry's
/// state (open transition requests, stage, tags, aliases) before it is sent again. A call the
/// registry refused for good, or that keeps failing past its deadline (the task's timeout),
/// ends dead-lettered with the reason. The task succeeds only once the registry took the call.
/// A comment whose answer was lost cannot be checked (no registry lists comments): it is
/// dead-lettered as in doubt rather than risk a second copy, and can be retried from the API.
class RegistryActionRunner final : public Runner, public OutboxService {
 public:
  explicit RegistryActionRunner(ActionRunnerOptions options);
  ~RegistryActionRunner() override;
  RegistryActionRunner(const RegistryActionRunner&) = delete;
  RegistryActionRunner& operator=(const RegistryActionRunner&) = delete;

  /// Queues every unfinished entry and starts the workers.
  Result<void> Start();
  /// Stops the workers; calls in flight finish first.
  void Stop();

  // Runner
  Result<std::string> Submit(JobSpec spec, UpdateCallback on_update) override;
  Result<void> Cancel(const std::string& external_id) override;
  Result<void> Reattach(const std::string& external_id, const JobSpec& spec,
                        UpdateCallback on_update) override;

  // OutboxService
  Result<std::vector<OutboxEntry>> List(const OutboxFilter& filter) override;
  Result<std::optional<OutboxEntry>> Get(std::int64_t id) override;
  Result<OutboxEntry> Retry(std::int64_t id) override;

  struct State;

 private:
  Result<std::string> Attach(const JobSpec& spec, UpdateCallback on_update, bool new_attempt);

  ActionRunnerOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace stagegate::registry
