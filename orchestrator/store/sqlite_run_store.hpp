#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "orchestrator/core/run_store.hpp"

namespace stagegate::store {

/// Runs, tasks, the dispatch cursor and schedule slots in SQLite (WAL, synchronous=FULL),
/// normally in the same database file as the events. One connection writes, another reads,
/// each behind its own mutex; every write is a single transaction.
class SqliteRunStore final : public RunStore {
 public:
  static Result<std::shared_ptr<SqliteRunStore>> Open(
      const std::string& path, std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));
  ~SqliteRunStore() override;

  Result<CreatedRun> CreateRun(const RunRecord& run) override;
  Result<void> Dispatch(const std::vector<RunRecord>& runs, std::int64_t cursor) override;
  Result<std::int64_t> DispatchCursor() override;
  Result<std::optional<std::int64_t>> ScheduleSlot(const std::string& pipeline,
                                                   const std::string& cron) override;
  Result<void> FireSchedule(const std::string& pipeline, const std::string& cron,
                            std::int64_t slot, const std::optional<RunRecord>& run) override;
  Result<void> Save(const std::vector<RunChange>& changes, bool flush = true) override;
  Result<RunStatus> RequestCancel(std::int64_t id) override;
  Result<std::vector<RunRecord>> LoadActive(std::int64_t after_id) override;
  Result<std::vector<RunRecord>> List(const RunFilter& filter) override;
  Result<std::optional<RunRecord>> Get(std::int64_t id) override;
  Result<std::optional<TaskRecord>> GetTask(std::int64_t run_id,
                                            const std::string& task_id) override;

  struct Impl;

 private:
  explicit SqliteRunStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stagegate::store
