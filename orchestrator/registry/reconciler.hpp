#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/core/event_store.hpp"
#include "orchestrator/core/registry.hpp"
#include "orchestrator/core/service_config.hpp"

namespace stagegate::registry {

/// What one pass found, summed over the registries it polled.
struct ReconcileCounts {
  int looked_at = 0;      // open transition requests, versions and aliases examined
  int synthesised = 0;    // events appended for state no stored event covers
  int already_known = 0;  // covered by a stored event (a delivery or an earlier synthesis)
  int waiting = 0;        // not covered yet, but younger than `grace`: left for a later pass
  int too_old = 0;        // MLflow state older than `lookback`: never synthesised
  int errors = 0;         // registry or store calls that failed (each logged)
};

/// Polls the registries that have `reconcile:` and appends the events they never delivered
/// (docs/registries.md, "Reconciliation"):
/// - Databricks: every open transition request of a configured model's versions that are
///   not Archived (model-versions/search, then transition-requests/list per version,
///   protocols.md §2.1) without a stored transition_request.created event for the same
///   (model, version, to_stage) sent at or after the request's creation.
/// - MLflow: every version without a stored model_version.created event, and every alias
///   whose newest stored alias event does not point at its current version
///   (model-versions/search and registered-models/get, protocols.md §2.2).
/// A synthesised event looks like the delivery it stands in for (type, raw_type, model,
/// version, stages or alias, text), under the reconcile endpoint, with source = the dialect,
/// verification.scheme = "reconciler", a payload with "stagegate_reconciled": true, and a
/// dedupe key "reconcile:..." that makes the store ignore repeats. State younger than
/// `grace` is left for a later pass so that a delivery still on its way is not doubled.
///
/// Wiring (orchestrator/app/serve.cpp), after the store and the scheduler exist:
///
///   auto reconciler = std::make_unique<registry::Reconciler>(
///       config->registries, app::MakeRegistryClients(config->registries), *store,
///       [] { return UnixMillisNow(); }, [s = scheduler.get()] { s->Wake(); });
///   reconciler->Start();   // a thread polling each registry at its reconcile.interval
///   ...
///   reconciler->Stop();    // before the store stops; returns once a call in flight ends
///
/// Registries without `reconcile:` are ignored; a reconciled registry without a client is
/// reported on every pass.
class Reconciler final {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix milliseconds
  using Wake = std::function<void()>;           // called after each synthesised event

  Reconciler(std::vector<RegistryConfig> registries,
             std::map<std::string, RegistryClientPtr> clients, EventStorePtr store, Clock clock,
             Wake wake);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  /// One pass over every reconciled registry and model, now. Blocking (registry calls and
  /// store writes); thread-safe (passes never overlap).
  ReconcileCounts PollOnce();

  /// Starts a thread that polls each registry at once and then every reconcile.interval.
  /// Idempotent.
  void Start();
  /// Stops the thread: a pass in progress ends after the registry call it is waiting on.
  /// Idempotent; also done by the destructor.
  void Stop();

 private:
  struct Target;  // one reconciled registry with its client and per-registry memory

  void Loop();
  void PollRegistry(Target& target, ReconcileCounts& counts);
  void PollDatabricks(Target& target, ReconcileCounts& counts);
  void PollMlflow(Target& target, ReconcileCounts& counts);
  std::map<std::string, std::vector<ModelVersionInfo>> Versions(Target& target, ReconcileCounts& counts);
  void Synthesise(Target& target, Event event, const std::string& what, ReconcileCounts& counts);

  std::vector<Target> targets_;
  EventStorePtr store_;
  Clock clock_;
  Wake wake_;

  std::mutex poll_mutex_;  // one pass at a time
  std::mutex mutex_;       // guards the wake-up below
  std::condition_variable wake_up_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace stagegate::registry
