#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "orchestrator/core/event_store.hpp"
#include "orchestrator/core/run_service.hpp"
#include "orchestrator/core/run_store.hpp"
#include "orchestrator/core/runner.hpp"
#include "orchestrator/scheduler/catalog.hpp"

namespace stagegate::scheduler {

/// The runner name the built-in registry actions (`uses: registry.*`) go to.
inline constexpr const char* kRegistryRunner = "registry";

struct SchedulerOptions {
  RunStorePtr runs;
  EventStorePtr events;  // null: no dispatch (stagegate run)
  std::map<std::string, Runner*> runners;  // by name; "local" at least
  std::function<std::int64_t()> now_ms;    // Unix milliseconds; a fake clock in tests
  std::string pipelines_dir;               // what Reload() reads
  std::map<std::string, std::string> secrets;  // the `secrets` context; values are redacted
  /// The stagegate binary the ML actions (`uses: drift`, ...) run as on a worker:
  /// `<action_binary> action <name> ...`. Empty: those actions are not available.
  std::string action_binary;
  /// Added to the environment of ML action jobs (STAGEGATE_CONFIG for the registry).
  std::map<std::string, std::string> action_env;
  /// Called on the scheduler's thread after every task state change is stored.
  std::function<void(const RunRecord& run, const TaskRecord& task)> on_task_change;
  /// Called on the scheduler's thread when a run has finished and is stored.
  std::function<void(const RunRecord& run)> on_run_finished;
  std::int64_t poll_ms = 1000;  // how often the event log is read without a Wake()
  /// Under a stream of deliveries, the event log is read at most this often (0: on every
  /// wake-up); a delivery after a quiet spell is dispatched at once either way.
  std::int64_t dispatch_interval_ms = 0;
  /// A task that outlives its timeout by this much is cancelled by the scheduler itself,
  /// should its runner not have stopped it.
  std::int64_t timeout_grace_ms = 30'000;
};

/// The dispatcher and scheduler: matches stored events against the pipelines (one run per
/// event and pipeline revision), fires schedules, admits runs by concurrency group, walks
/// each run's DAG, submits ready tasks to runners, applies retries, timeouts and cancels,
/// and stores every change before acting on it. After a restart it continues every
/// unfinished run: running tasks are re-attached through their runner, and a task whose
/// process is gone is retried (a lost attempt costs no retry once) or failed.
///
/// All state lives on one thread: Step() does one round of work. Start() runs Step() on a
/// thread of its own; tests call Step() directly with a fake clock and a fake runner.
class Scheduler final : public RunService {
 public:
  explicit Scheduler(SchedulerOptions options);
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Loads the dispatch cursor and every unfinished run, re-attaching running tasks.
  Result<void> Recover();
  /// Replaces the pipelines (runs in flight keep theirs).
  void SetCatalog(CatalogPtr catalog);
  CatalogPtr catalog() const;

  /// One round: runner updates, cancels, new events, schedules, admission, DAG progress;
  /// then stores the changes and submits the tasks that became ready. Returns the Unix
  /// millisecond time when the next timer is due (retry, schedule, timeout), or 0.
  std::int64_t Step();
  /// True when Step() has work waiting (an update, a wake-up, a cancel).
  bool HasWork() const;
  /// Runs Step() on a thread until Stop(). Recover() first.
  void Start();
  void Stop();
  /// New events or runs are in the store: step soon. Thread-safe.
  void Wake();

  /// Number of runs in memory that are queued or running.
  std::size_t ActiveRuns() const;

  // RunService
  PipelineListing Pipelines() const override;
  Result<PipelineListing> Reload() override;
  Result<std::int64_t> Trigger(const std::string& pipeline,
                               const std::map<std::string, std::string>& inputs,
                               std::int64_t event_id) override;
  Result<void> Cancel(std::int64_t run_id) override;
  Result<std::int64_t> Rerun(std::int64_t run_id) override;

  struct State;

 private:
  void WakeForNewRun();

  SchedulerOptions options_;
  std::unique_ptr<State> state_;
  std::thread thread_;
};

/// Checks manual inputs against the pipeline's declaration (names, types, choices, required)
/// and fills in defaults; returns the inputs as a JSON object text, numbers and booleans
/// typed. `how_to_pass` ends the message about a missing input; "NAME" in it is replaced
/// by the input's name.
Result<std::string> CheckManualInputs(const PipelineSpec& spec,
                                      const std::map<std::string, std::string>& given,
                                      const std::string& how_to_pass);

}  // namespace stagegate::scheduler
