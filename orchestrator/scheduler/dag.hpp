#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/result.hpp"
#include "orchestrator/core/run.hpp"

namespace stagegate::scheduler {

using stagegate::IsTerminal;
using stagegate::TaskState;
using stagegate::TaskStateName;

/// What the DAG logic needs to know about a task.
struct DagTask {
  std::string id;
  std::vector<std::string> needs;
  bool has_if = false;
  /// The if: calls success(), failure(), always() or cancelled(). Without one, GitHub's rule
  /// applies: the condition is only looked at when every need succeeded.
  bool if_uses_status_function = false;
  bool continue_on_error = false;
};

/// Evaluates a task's if: against the (effective) states of its needs. Returns the truth
/// value, or an error that fails the task with that message.
using IfEvaluator =
    std::function<Result<bool>(const DagTask& task, const std::vector<TaskState>& needs)>;

/// What to do next: tasks to start, tasks to mark skipped, and tasks whose if: could not be
/// evaluated (to mark failed with the message).
struct DagStep {
  std::vector<std::string> start;
  std::vector<std::string> skip;
  std::map<std::string, std::string> fail;
};

/// Looks at every pending task whose needs are all terminal and decides it:
/// - a need that failed or timed out counts as succeeded when it has continue_on_error;
/// - without if:, the task starts when every need succeeded and the run is not cancelled,
///   and is skipped otherwise;
/// - with an if: that calls no status function, the same, and then the if: must hold;
/// - with an if: that calls one (always(), failure(), cancelled(), success()), the if: alone
///   decides.
/// Pure; `tasks` in file order, which is the order of the result.
DagStep NextSteps(const std::vector<DagTask>& tasks, const std::map<std::string, TaskState>& states,
                  bool run_cancelled, const IfEvaluator& evaluate_if);

enum class RunOutcome { kSucceeded, kFailed, kCancelled };

/// The run's outcome once every task is terminal (nullopt before): cancelled when the run
/// was cancelled, failed when a task failed or timed out without continue_on_error, or was
/// cancelled, and succeeded otherwise.
std::optional<RunOutcome> Outcome(const std::vector<DagTask>& tasks,
                                  const std::map<std::string, TaskState>& states,
                                  bool run_cancelled);

}  // namespace stagegate::scheduler
