#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "orchestrator/core/event_store.hpp"
#include "orchestrator/core/metrics.hpp"

namespace stagegate::store {

struct SqliteOptions {
  std::string path;  // database file; its directory is created when missing
  std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);
  std::size_t max_pending_writes = 10'000;  // beyond this, Append fails fast with kUnavailable
  std::size_t max_batch = 1024;             // events per group commit
};

/// The embedded event store: SQLite in WAL mode with synchronous=FULL, so a committed
/// event survives a process kill and a power loss. One writer thread owns the write
/// connection and commits whatever is queued in one transaction (group commit); Append
/// resumes its caller only after that COMMIT returned. Reads use their own connections.
class SqliteEventStore final : public EventStore {
 public:
  /// Opens (creating and migrating when needed) and starts the writer thread.
  static Result<std::shared_ptr<SqliteEventStore>> Open(SqliteOptions options,
                                                        std::shared_ptr<Metrics> metrics);
  ~SqliteEventStore() override;

  Awaitable<Result<AppendResult>> Append(Event event,
                                         std::chrono::milliseconds dedupe_window) override;
  Result<std::vector<Event>> List(const EventFilter& filter) override;
  Result<std::optional<Event>> Get(std::int64_t id) override;
  Result<void> Ready() override;

  /// Refuses new writes, commits those already queued and joins the writer. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit SqliteEventStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stagegate::store
