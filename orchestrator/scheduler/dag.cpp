#include "orchestrator/scheduler/dag.hpp"

#include <algorithm>

namespace stagegate::scheduler {

DagStep NextSteps(const std::vector<DagTask>& tasks, const std::map<std::string, TaskState>& states,
                  bool run_cancelled, const IfEvaluator& evaluate_if) {
  std::map<std::string, const DagTask*> by_id;
  for (const auto& t : tasks) by_id[t.id] = &t;
  auto state_of = [&](const std::string& id) {
    const auto it = states.find(id);
    return it == states.end() ? TaskState::kPending : it->second;
  };
  // A failure the task itself tolerates looks like success to the tasks after it.
  auto effective = [&](const std::string& id) {
    const TaskState s = state_of(id);
    const auto task = by_id.find(id);
    if ((s == TaskState::kFailed || s == TaskState::kTimedOut) && task != by_id.end() &&
        task->second->continue_on_error) {
      return TaskState::kSucceeded;
    }
    return s;
  };

  DagStep step;
  for (const auto& task : tasks) {
    if (state_of(task.id) != TaskState::kPending) continue;
    std::vector<TaskState> needs;
    bool ready = true;
    for (const auto& need : task.needs) {
      const TaskState s = effective(need);
      ready = ready && IsTerminal(s);
      needs.push_back(s);
    }
    if (!ready) continue;
    const bool all_succeeded = std::all_of(needs.begin(), needs.end(),
                                           [](TaskState s) { return s == TaskState::kSucceeded; });
    const bool implicit_success = !task.has_if || !task.if_uses_status_function;
    if (implicit_success && (!all_succeeded || run_cancelled)) {
      step.skip.push_back(task.id);
      continue;
    }
    if (!task.has_if) {
      step.start.push_back(task.id);
      continue;
    }
    const auto verdict = evaluate_if(task, needs);
    if (!verdict) {
      step.fail[task.id] = verdict.error().message;
    } else if (*verdict) {
      step.start.push_back(task.id);
    } else {
      step.skip.push_back(task.id);
    }
  }
  return step;
}

std::optional<RunOutcome> Outcome(const std::vector<DagTask>& tasks,
                                  const std::map<std::string, TaskState>& states,
                                  bool run_cancelled) {
  bool failed = false;
  for (const auto& task : tasks) {
    const auto it = states.find(task.id);
    const TaskState s = it == states.end() ? TaskState::kPending : it->second;
    if (!IsTerminal(s)) return std::nullopt;
    if ((s == TaskState::kFailed || s == TaskState::kTimedOut) && !task.continue_on_error) {
      failed = true;
    }
    if (s == TaskState::kCancelled) failed = true;
  }
  if (run_cancelled) return RunOutcome::kCancelled;
  return failed ? RunOutcome::kFailed : RunOutcome::kSucceeded;
}

}  // namespace stagegate::scheduler
