#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/result.hpp"
#include "orchestrator/core/run.hpp"

namespace stagegate {

struct CreatedRun {
  std::int64_t id = 0;
  bool created = false;  // false: a run with this pipeline, revision and trigger key existed
};

/// A change to one run: its header fields and the tasks that changed.
struct RunChange {
  std::int64_t run_id = 0;
  RunStatus status = RunStatus::kQueued;
  bool cancel_requested = false;  // only ever set, never cleared
  std::string detail;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::vector<TaskRecord> tasks;
};

/// Durable runs, tasks and scheduling state (orchestrator/store/ implements it). Every
/// method is blocking and thread-safe; each write is one transaction that is durable when
/// the call returns.
class RunStore {
 public:
  virtual ~RunStore() = default;

  /// Creates `run` (with any tasks it carries) unless a run of the same pipeline, revision
  /// and trigger key exists; either way returns that run's id.
  virtual Result<CreatedRun> CreateRun(const RunRecord& run) = 0;

  /// Creates `runs` as CreateRun does and moves the dispatch cursor (the last event id
  /// matched against pipelines) to `cursor`, in one transaction.
  virtual Result<void> Dispatch(const std::vector<RunRecord>& runs, std::int64_t cursor) = 0;
  virtual Result<std::int64_t> DispatchCursor() = 0;

  /// The last slot (Unix seconds) a schedule fired for, or nullopt when it never did.
  virtual Result<std::optional<std::int64_t>> ScheduleSlot(const std::string& pipeline,
                                                           const std::string& cron) = 0;
  /// Records that the schedule handled `slot`, creating `run` (when given) in the same
  /// transaction, so that a slot is never fired twice nor lost between the two writes.
  virtual Result<void> FireSchedule(const std::string& pipeline, const std::string& cron,
                                    std::int64_t slot, const std::optional<RunRecord>& run) = 0;

  /// Applies the changes in one transaction (tasks upserted by run and task id). With
  /// `flush` false the commit survives a killed process but not a power loss (no fsync):
  /// for facts that can be recovered another way, such as a job's external id.
  virtual Result<void> Save(const std::vector<RunChange>& changes, bool flush = true) = 0;

  /// Marks a run for cancellation; kNotFound for an unknown run. Returns the run's status.
  virtual Result<RunStatus> RequestCancel(std::int64_t id) = 0;

  /// Unfinished runs with an id above `after_id`, with tasks and spec text, oldest first.
  virtual Result<std::vector<RunRecord>> LoadActive(std::int64_t after_id) = 0;

  /// Newest first, without tasks and spec text.
  virtual Result<std::vector<RunRecord>> List(const RunFilter& filter) = 0;
  /// With tasks and spec text.
  virtual Result<std::optional<RunRecord>> Get(std::int64_t id) = 0;
  /// One task of a run, or nullopt.
  virtual Result<std::optional<TaskRecord>> GetTask(std::int64_t run_id,
                                                    const std::string& task_id) = 0;
};

using RunStorePtr = std::shared_ptr<RunStore>;

}  // namespace stagegate
