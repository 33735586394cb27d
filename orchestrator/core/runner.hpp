#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/core/result.hpp"

namespace stagegate {

/// One attempt of one task, as a runner backend receives it.
struct JobSpec {
  std::string run_id;
  std::string task_id;  // with a matrix suffix for matrix instances
  int attempt = 1;
  std::vector<std::string> command;          // argv; a run: task is {"/bin/sh", "-c", text}
  std::map<std::string, std::string> env;    // on top of the runner's own STAGEGATE_* variables
  std::chrono::milliseconds timeout{0};      // 0 = none
  std::map<std::string, std::string> resources;
  std::string event_json;                    // handed to the job as a file
  std::vector<std::string> redact;           // secret values never to appear in stored logs
  // Built-in actions (`uses:`): the action's name and its `with:` values with ${{ }}
  // evaluated (empty for `run:` tasks). For registry actions also the run so far as JSON
  // ({id, pipeline, tasks: [{id, state, detail, exit_code, outputs, log_path}]}), the
  // evidence they post; empty for every other task.
  std::string action;
  std::map<std::string, std::string> with;
  std::string run_json;
};

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kTimedOut, kCancelled, kLost };

const char* JobStateName(JobState state);

/// What a runner reports about a job: every state change, the last one terminal.
struct JobUpdate {
  std::string external_id;  // pid, Slurm job id, Kubernetes job name, Databricks run id
  JobState state = JobState::kQueued;
  int exit_code = -1;       // terminal states with a process exit
  std::string detail;       // e.g. "killed by SIGKILL after timeout of 10s"
  std::map<std::string, std::string> outputs;  // parsed from $STAGEGATE_OUTPUT at the end
  std::string log_path;        // the job's captured output, owned by the orchestrator
  std::string artifacts_dir;   // files the job kept under $STAGEGATE_ARTIFACTS
};

/// A backend that runs jobs: local processes, Slurm, Kubernetes Jobs, Databricks runs.
/// Implementations are thread-safe. Callbacks run on the runner's own threads and must not
/// block; the scheduler posts them into its strand.
class Runner {
 public:
  using UpdateCallback = std::function<void(const JobUpdate&)>;

  virtual ~Runner() = default;

  /// Starts (or queues) the job and returns at once with its external id. `on_update` gets
  /// every state change; the last call has a terminal state. Submitting the same run_id,
  /// task_id and attempt twice does not start a second job.
  virtual Result<std::string> Submit(JobSpec spec, UpdateCallback on_update) = 0;

  /// Asks the job to stop; `on_update` reports kCancelled when it has.
  virtual Result<void> Cancel(const std::string& external_id) = 0;

  /// After a restart: follow a job submitted by an earlier process. Reports its current and
  /// further states, or kLost when the backend no longer knows it.
  virtual Result<void> Reattach(const std::string& external_id, const JobSpec& spec,
                                UpdateCallback on_update) = 0;
};

using RunnerPtr = std::unique_ptr<Runner>;

}  // namespace stagegate
