#include "orchestrator/core/run.hpp"

#include <array>
#include <utility>

namespace stagegate {
namespace {

constexpr std::array<std::pair<TaskState, const char*>, 8> kTaskStates{{
    {TaskState::kPending, "pending"},
    {TaskState::kQueued, "queued"},
    {TaskState::kRunning, "running"},
    {TaskState::kSucceeded, "succeeded"},
    {TaskState::kFailed, "failed"},
    {TaskState::kSkipped, "skipped"},
    {TaskState::kCancelled, "cancelled"},
    {TaskState::kTimedOut, "timed_out"},
}};

constexpr std::array<std::pair<RunStatus, const char*>, 6> kRunStatuses{{
    {RunStatus::kQueued, "queued"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kSucceeded, "succeeded"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kCancelled, "cancelled"},
    {RunStatus::kSkipped, "skipped"},
}};

}  // namespace

const char* TaskStateName(TaskState state) {
  for (const auto& [s, name] : kTaskStates) {
    if (s == state) return name;
  }
  return "pending";
}

std::optional<TaskState> ParseTaskState(const std::string& name) {
  for (const auto& [s, n] : kTaskStates) {
    if (name == n) return s;
  }
  return std::nullopt;
}

bool IsTerminal(TaskState state) {
  return state == TaskState::kSucceeded || state == TaskState::kFailed ||
         state == TaskState::kSkipped || state == TaskState::kCancelled ||
         state == TaskState::kTimedOut;
}

const char* RunStatusName(RunStatus status) {
  for (const auto& [s, name] : kRunStatuses) {
    if (s == status) return name;
  }
  return "queued";
}

std::optional<RunStatus> ParseRunStatus(const std::string& name) {
  for (const auto& [s, n] : kRunStatuses) {
    if (name == n) return s;
  }
  return std::nullopt;
}

bool IsFinished(RunStatus status) {
  return status != RunStatus::kQueued && status != RunStatus::kRunning;
}

}  // namespace stagegate
