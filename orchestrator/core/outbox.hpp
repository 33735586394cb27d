#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/result.hpp"

namespace stagegate {

/// Where a registry action stands. kSending is stored before the registry is called, so an
/// entry found in it after a restart is in doubt: the registry may or may not have taken it.
enum class OutboxState { kPending, kSending, kDelivered, kDead };

const char* OutboxStateName(OutboxState state);
std::optional<OutboxState> ParseOutboxState(const std::string& name);

/// One registry action of one task: the unit of exactly-once delivery. `key` is the
/// idempotency key, unique per (run, task, action); a second enqueue of the same key returns
/// the first entry instead of making a new one.
struct OutboxEntry {
  std::int64_t id = 0;
  std::string key;
  std::int64_t run_id = 0;
  std::string task_id;
  std::string action;    // registry.approve_transition, ...
  std::string registry;  // the configured registry's name
  std::string request_json = "{}";   // the resolved parameters (model, version, stage, ...)
  OutboxState state = OutboxState::kPending;
  int attempts = 0;                  // registry calls started
  std::string last_error;            // the last failure; the dead letter's reason
  std::string response_json = "{}";  // what the registry answered (ids) once delivered
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::int64_t next_attempt_ms = 0;  // kPending: not before this time
  std::int64_t deadline_ms = 0;      // kPending: dead-lettered when still failing after this
  std::int64_t delivered_ms = 0;
};

struct OutboxFilter {
  std::string state;           // empty = any
  std::int64_t run_id = 0;     // 0 = any
  std::int64_t before_id = 0;  // cursor: only ids below this
  int limit = 50;
};

/// Durable outbox. Every write is durable (fsync) before it returns. Thread-safe, blocking.
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  /// Inserts `entry` unless its key exists; returns the stored entry either way.
  virtual Result<OutboxEntry> Enqueue(const OutboxEntry& entry) = 0;
  /// Stores the entry's state, attempts, errors, response and times.
  virtual Result<void> Update(const OutboxEntry& entry) = 0;
  virtual Result<std::optional<OutboxEntry>> Get(std::int64_t id) = 0;
  virtual Result<std::optional<OutboxEntry>> GetByKey(const std::string& key) = 0;
  /// Newest first.
  virtual Result<std::vector<OutboxEntry>> List(const OutboxFilter& filter) = 0;
  /// Every kPending and kSending entry, oldest first.
  virtual Result<std::vector<OutboxEntry>> Unfinished() = 0;
};

using OutboxStorePtr = std::shared_ptr<OutboxStore>;

/// What the API offers over the outbox: reading it and retrying dead letters.
class OutboxService {
 public:
  virtual ~OutboxService() = default;
  virtual Result<std::vector<OutboxEntry>> List(const OutboxFilter& filter) = 0;
  virtual Result<std::optional<OutboxEntry>> Get(std::int64_t id) = 0;
  /// Delivers a dead letter again (fresh attempts and deadline). kNotFound for an unknown
  /// id; kConflict unless the entry is dead.
  virtual Result<OutboxEntry> Retry(std::int64_t id) = 0;
};

using OutboxServicePtr = std::shared_ptr<OutboxService>;

}  // namespace stagegate
