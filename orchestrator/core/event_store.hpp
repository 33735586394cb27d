#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/asio.hpp"
#include "orchestrator/core/event.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate {

struct AppendResult {
  std::int64_t event_id = 0;
  bool duplicate = false;
};

struct EventFilter {
  std::string endpoint;
  std::string type;
  std::string model;
  std::string version;  // model_version; empty = any
  std::string alias;    // empty = any
  std::int64_t before_id = 0;  // cursor: only ids below this; 0 = from the newest
  /// When set, only ids above it, oldest first (how the dispatcher follows the log).
  std::optional<std::int64_t> after_id;
  int limit = 50;
};

/// Durable event log. Implementations live in orchestrator/store/.
class EventStore {
 public:
  virtual ~EventStore() = default;

  /// Stores `event` unless an event of the same endpoint with the same dedupe key exists
  /// (within `dedupe_window` when it is non-zero). Completes only after the write is
  /// durable; fails with kUnavailable when the store cannot take it. Thread-safe;
  /// resumes the caller on its own executor.
  virtual Awaitable<Result<AppendResult>> Append(Event event,
                                                 std::chrono::milliseconds dedupe_window) = 0;

  /// Newest first (oldest first with after_id). Blocking: call through RunBlocking.
  virtual Result<std::vector<Event>> List(const EventFilter& filter) = 0;
  /// Blocking: call through RunBlocking.
  virtual Result<std::optional<Event>> Get(std::int64_t id) = 0;
  /// True when a write could be taken now. Blocking.
  virtual Result<void> Ready() = 0;
};

using EventStorePtr = std::shared_ptr<EventStore>;

}  // namespace stagegate
