#include "orchestrator/core/runner.hpp"

namespace stagegate {

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kTimedOut:
      return "timed_out";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kLost:
      return "lost";
  }
  return "lost";
}

}  // namespace stagegate
