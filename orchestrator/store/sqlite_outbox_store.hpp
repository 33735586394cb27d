#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "orchestrator/core/outbox.hpp"

namespace stagegate::store {

/// The registry-action outbox in SQLite (WAL, synchronous=FULL), normally in the same
/// database file as the events and runs. One connection behind a mutex; every write is one
/// durable statement.
class SqliteOutboxStore final : public OutboxStore {
 public:
  static Result<std::shared_ptr<SqliteOutboxStore>> Open(
      const std::string& path, std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));
  ~SqliteOutboxStore() override;

  Result<OutboxEntry> Enqueue(const OutboxEntry& entry) override;
  Result<void> Update(const OutboxEntry& entry) override;
  Result<std::optional<OutboxEntry>> Get(std::int64_t id) override;
  Result<std::optional<OutboxEntry>> GetByKey(const std::string& key) override;
  Result<std::vector<OutboxEntry>> List(const OutboxFilter& filter) override;
  Result<std::vector<OutboxEntry>> Unfinished() override;

  struct Impl;

 private:
  explicit SqliteOutboxStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stagegate::store
