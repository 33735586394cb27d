#include "orchestrator/scheduler/dag.hpp"

#include <gtest/gtest.h>

namespace stagegate::scheduler {
namespace {

using S = TaskState;

// test -> compare -> {approve, reject(if: failure())}; notify (if: always()) after compare.
std::vector<DagTask> Gate() {
  return {
      {.id = "test"},
      {.id = "compare", .needs = {"test"}},
      {.id = "approve", .needs = {"compare"}},
      {.id = "reject", .needs = {"compare"}, .has_if = true, .if_uses_status_function = true},
      {.id = "notify", .needs = {"compare"}, .has_if = true, .if_uses_status_function = true},
  };
}

// reject: failure(); notify: always(); anything else: a plain condition that holds.
Result<bool> Evaluate(const DagTask& task, const std::vector<TaskState>& needs) {
  if (task.id == "reject") {
    return std::any_of(needs.begin(), needs.end(),
                       [](S s) { return s == S::kFailed || s == S::kTimedOut; });
  }
  if (task.id == "notify") return true;
  if (task.id == "broken") return Fail(ErrorCode::kInvalidArgument, "fromJSON: not JSON");
  return task.id != "gated-off";
}

TEST(DagTest, RootsStartFirstAndNothingElse) {
  const auto step = NextSteps(Gate(), {}, false, Evaluate);
  EXPECT_EQ(step.start, std::vector<std::string>{"test"});
  EXPECT_TRUE(step.skip.empty());
}

TEST(DagTest, SuccessPathStartsApproveAndNotifyAndSkipsReject) {
  const auto step = NextSteps(Gate(), {{"test", S::kSucceeded}, {"compare", S::kSucceeded}}, false,
                              Evaluate);
  EXPECT_EQ(step.start, (std::vector<std::string>{"approve", "notify"}));
  EXPECT_EQ(step.skip, std::vector<std::string>{"reject"});
}

TEST(DagTest, FailurePathSkipsApproveAndRunsReject) {
  const auto step = NextSteps(Gate(), {{"test", S::kSucceeded}, {"compare", S::kFailed}}, false,
                              Evaluate);
  EXPECT_EQ(step.start, (std::vector<std::string>{"reject", "notify"}));
  EXPECT_EQ(step.skip, std::vector<std::string>{"approve"});
}

TEST(DagTest, SkipsPropagateDownstream) {
  const std::map<std::string, TaskState> states = {{"test", S::kFailed}};
  const auto step = NextSteps(Gate(), states, false, Evaluate);
  EXPECT_EQ(step.skip, std::vector<std::string>{"compare"});
  auto next = states;
  next["compare"] = S::kSkipped;
  const auto after = NextSteps(Gate(), next, false, Evaluate);
  // A skipped need is not a failure: failure() is false, always() still runs.
  EXPECT_EQ(after.start, std::vector<std::string>{"notify"});
  EXPECT_EQ(after.skip, (std::vector<std::string>{"approve", "reject"}));
}

TEST(DagTest, WaitsUntilEveryNeedIsTerminal) {
  std::vector<DagTask> tasks = {{.id = "a"}, {.id = "b"}, {.id = "c", .needs = {"a", "b"}}};
  const auto step = NextSteps(tasks, {{"a", S::kSucceeded}, {"b", S::kRunning}}, false, Evaluate);
  EXPECT_TRUE(step.start.empty());
  EXPECT_TRUE(step.skip.empty());
}

TEST(DagTest, ContinueOnErrorLooksLikeSuccessDownstream) {
  std::vector<DagTask> tasks = {{.id = "flaky", .continue_on_error = true},
                                {.id = "after", .needs = {"flaky"}}};
  const std::map<std::string, TaskState> states = {{"flaky", S::kTimedOut}};
  EXPECT_EQ(NextSteps(tasks, states, false, Evaluate).start, std::vector<std::string>{"after"});
  auto done = states;
  done["after"] = S::kSucceeded;
  EXPECT_EQ(Outcome(tasks, done, false), RunOutcome::kSucceeded);
}

TEST(DagTest, PlainIfIsLookedAtOnlyAfterSuccess) {
  std::vector<DagTask> tasks = {{.id = "a"},
                                {.id = "gated-off", .needs = {"a"}, .has_if = true},
                                {.id = "gated-on", .needs = {"a"}, .has_if = true}};
  const auto ok = NextSteps(tasks, {{"a", S::kSucceeded}}, false, Evaluate);
  EXPECT_EQ(ok.start, std::vector<std::string>{"gated-on"});
  EXPECT_EQ(ok.skip, std::vector<std::string>{"gated-off"});
  const auto failed = NextSteps(tasks, {{"a", S::kFailed}}, false, Evaluate);
  EXPECT_EQ(failed.skip, (std::vector<std::string>{"gated-off", "gated-on"}));
}

TEST(DagTest, AnIfThatCannotBeEvaluatedFailsTheTask) {
  std::vector<DagTask> tasks = {{.id = "broken", .has_if = true, .if_uses_status_function = true}};
  const auto step = NextSteps(tasks, {}, false, Evaluate);
  ASSERT_EQ(step.fail.size(), 1U);
  EXPECT_EQ(step.fail.at("broken"), "fromJSON: not JSON");
}

TEST(DagTest, CancelledRunSkipsAllButStatusConditions) {
  const auto step = NextSteps(Gate(), {{"test", S::kSucceeded}, {"compare", S::kCancelled}}, true,
                              Evaluate);
  EXPECT_EQ(step.start, std::vector<std::string>{"notify"});
  EXPECT_EQ(step.skip, (std::vector<std::string>{"approve", "reject"}));
}

TEST(DagTest, OutcomeNeedsEveryTaskTerminal) {
  const auto tasks = Gate();
  EXPECT_FALSE(Outcome(tasks, {{"test", S::kSucceeded}}, false).has_value());
  const std::map<std::string, TaskState> failed = {{"test", S::kSucceeded}, {"compare", S::kFailed},
                                                   {"approve", S::kSkipped}, {"reject", S::kSucceeded},
                                                   {"notify", S::kSucceeded}};
  EXPECT_EQ(Outcome(tasks, failed, false), RunOutcome::kFailed);
  EXPECT_EQ(Outcome(tasks, failed, true), RunOutcome::kCancelled);
  const std::map<std::string, TaskState> passed = {{"test", S::kSucceeded}, {"compare", S::kSucceeded},
                                                   {"approve", S::kSucceeded}, {"reject", S::kSkipped},
                                                   {"notify", S::kSucceeded}};
  EXPECT_EQ(Outcome(tasks, passed, false), RunOutcome::kSucceeded);
}

TEST(DagTest, StateNames) {
  EXPECT_STREQ(TaskStateName(S::kTimedOut), "timed_out");
  EXPECT_TRUE(IsTerminal(S::kSkipped));
  EXPECT_FALSE(IsTerminal(S::kQueued));
}

}  // namespace
}  // namespace stagegate::scheduler
