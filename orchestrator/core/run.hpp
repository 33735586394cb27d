#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stagegate {

/// States of a task (DESIGN.md "Core types"). A task waiting for its next attempt stays
/// kRunning with a retry time set.
enum class TaskState {
  kPending,
  kQueued,
  kRunning,
  kSucceeded,
  kFailed,
  kSkipped,
  kCancelled,
  kTimedOut
};

const char* TaskStateName(TaskState state);
std::optional<TaskState> ParseTaskState(const std::string& name);
bool IsTerminal(TaskState state);

enum class RunStatus { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kSkipped };

const char* RunStatusName(RunStatus status);
std::optional<RunStatus> ParseRunStatus(const std::string& name);
bool IsFinished(RunStatus status);

/// One task of a run (a matrix instance counts as a task of its own), as stored.
struct TaskRecord {
  std::string id;       // "test" or "test (3.10)"
  std::string task;     // the pipeline's task id
  TaskState state = TaskState::kPending;
  int attempt = 0;      // attempts started so far
  std::string runner;
  std::string external_id;
  int exit_code = -1;
  std::string detail;
  std::map<std::string, std::string> outputs;
  std::string log_path;
  std::string artifacts_dir;
  std::int64_t started_ms = 0;   // first attempt
  std::int64_t finished_ms = 0;
  std::int64_t retry_at_ms = 0;  // next attempt due; 0 = none
  std::int64_t deadline_ms = 0;  // the running attempt's timeout; 0 = none
  int lost = 0;                  // attempts lost to a restart
  bool reused = false;           // carried over from the run this one reruns
};

/// How a run came about.
struct RunTrigger {
  std::string kind;  // registry | schedule | manual | rerun
  std::string key;   // unique per pipeline revision: "event:12", "schedule:0 3 * * *@...", ...
  std::int64_t event_id = 0;
};

struct RunRecord {
  std::int64_t id = 0;
  std::string pipeline;
  std::string revision;  // SHA-256 of the pipeline file the run pinned
  std::string file;
  std::string spec_text;  // the pipeline file's bytes at that revision
  RunTrigger trigger;
  std::string event_json = "{}";   // the event context, as GET /api/v1/events/{id} shows it
  std::string inputs_json = "{}";  // manual inputs after defaults
  std::string model;  // the event's model name, for filtering; empty without one
  std::string concurrency_group;
  RunStatus status = RunStatus::kQueued;
  bool cancel_requested = false;
  std::int64_t rerun_of = 0;
  std::string detail;
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::vector<TaskRecord> tasks;  // only what has been stored; Get() fills it
};

struct RunFilter {
  std::string pipeline;
  std::string status;
  std::string model;
  std::int64_t event_id = 0;
  std::int64_t before_id = 0;  // cursor: only ids below this
  int limit = 50;
};

}  // namespace stagegate
