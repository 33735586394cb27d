#include "orchestrator/scheduler/scheduler.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "orchestrator/scheduler/catalog.hpp"
#include "orchestrator/store/sqlite_run_store.hpp"
#include "pipelines/pipeline_loader.hpp"
#include "tests/unit/support/test_support.hpp"

namespace stagegate {

// Readable failure messages; found by argument-dependent lookup, so outside the unnamed namespace.
static void PrintTo(RunStatus status, std::ostream* os) { *os << RunStatusName(status); }
static void PrintTo(TaskState state, std::ostream* os) { *os << TaskStateName(state); }

namespace scheduler {
namespace {

using Strings = std::vector<std::string>;
using Outputs = std::map<std::string, std::string>;

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kMidnight = 1'704'067'200'000;  // 2024-01-01T00:00:00Z
constexpr std::int64_t kStartMs = kMidnight + 30'000;  // half a minute past it

// A Runner that only records. The test plays the backend: it delivers JobUpdates through the
// callbacks the scheduler handed over, from the test thread, and then calls Step().
class FakeRunner final : public Runner {
 public:
  struct Job {
    JobSpec spec;
    UpdateCallback on_update;
    std::string external_id;
    bool reattached = false;
  };

  Result<std::string> Submit(JobSpec spec, UpdateCallback on_update) override {
    if (fail_submits > 0) {
      --fail_submits;
      return Fail(ErrorCode::kUnavailable, "the backend is down");
    }
    std::string id = "job-" + std::to_string(++next_id_);
    jobs.push_back(Job{std::move(spec), std::move(on_update), id, false});
    return id;
  }

  Result<void> Cancel(const std::string& external_id) override {
    cancelled.push_back(external_id);
    return {};
  }

  Result<void> Reattach(const std::string& external_id, const JobSpec& spec,
                        UpdateCallback on_update) override {
    reattach_calls.push_back(external_id);
    if (fail_reattach) {
      return Fail(ErrorCode::kNotFound, "the backend does not know " + external_id);
    }
    jobs.push_back(Job{spec, std::move(on_update), external_id, true});
    return {};
  }

  // The newest job (submitted or re-attached) of `task_id` in `run_id`, or null.
  Job* Latest(std::int64_t run_id, const std::string& task_id) {
    for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
      if (it->spec.run_id == std::to_string(run_id) && it->spec.task_id == task_id) {
        return &*it;
      }
    }
    return nullptr;
  }

  // What the backend would report about the newest job of that task.
  void Deliver(std::int64_t run_id, const std::string& task_id, JobUpdate update) {
    Job* job = Latest(run_id, task_id);
    if (job == nullptr) {
      ADD_FAILURE() << "no job of task '" << task_id << "' in run " << run_id;
      return;
    }
    if (update.external_id.empty()) {
      update.external_id = job->external_id;
    }
    job->on_update(update);
  }

  // Task ids submitted for `run_id` (not re-attached), in submission order.
  Strings Submitted(std::int64_t run_id) const {
    Strings out;
    for (const auto& job : jobs) {
      if (!job.reattached && job.spec.run_id == std::to_string(run_id)) {
        out.push_back(job.spec.task_id);
      }
    }
    return out;
  }

  int fail_submits = 0;  // this many next Submit calls fail
  bool fail_reattach = false;
  std::vector<Job> jobs;
  Strings cancelled;
  Strings reattach_calls;

 private:
  int next_id_ = 0;
};

// Events in memory: just enough for the dispatcher (List with after_id) and Trigger (Get).
class FakeEventStore final : public EventStore {
 public:
  std::int64_t Add(Event event) {
    event.id = static_cast<std::int64_t>(events_.size()) + 1;
    events_.push_back(std::move(event));
    return events_.back().id;
  }

  Awaitable<Result<AppendResult>> Append(Event event, std::chrono::milliseconds) override {
    const std::int64_t id = Add(std::move(event));
    co_return AppendResult{.event_id = id};
  }

  Result<std::vector<Event>> List(const EventFilter& filter) override {
    std::vector<Event> out;
    if (filter.after_id) {
      for (const auto& e : events_) {
        if (e.id > *filter.after_id && static_cast<int>(out.size()) < filter.limit) {
          out.push_back(e);
        }
      }
      return out;
    }
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (static_cast<int>(out.size()) < filter.limit) {
        out.push_back(*it);
      }
    }
    return out;
  }

  Result<std::optional<Event>> Get(std::int64_t id) override {
    if (id < 1 || id > static_cast<std::int64_t>(events_.size())) {
      return std::optional<Event>();
    }
    return std::optional<Event>(events_[static_cast<std::size_t>(id - 1)]);
  }

  Result<void> Ready() override { return {}; }

 private:
  std::vector<Event> events_;
};

Event ModelVersionCreated(std::string model) {
  Event e;
  e.endpoint = "registry";
  e.source = "mlflow";
  e.type = "model_version.created";
  e.raw_type = "model_version.created";
  e.model_name = std::move(model);
  e.model_version = "3";
  e.payload = "{}";
  return e;
}

JobUpdate Update(JobState state, int exit_code = -1, std::string detail = "",
                 Outputs outputs = {}) {
  JobUpdate u;
  u.state = state;
  u.exit_code = exit_code;
  u.detail = std::move(detail);
  u.outputs = std::move(outputs);
  return u;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteRunStore::Open(dir_.File("runs.db"));
    ASSERT_TRUE(opened) << opened.error().message;
    runs_ = *opened;
  }

  SchedulerOptions Options() {
    return SchedulerOptions{
        .runs = runs_,
        .events = events_,
        .runners = {{"local", &runner_}},
        .now_ms = [this] { return now_; },
        .pipelines_dir = dir_.File("pipelines"),
        .on_task_change = [this](const RunRecord&,
                                 const TaskRecord& t) { changes_.push_back(t.id); },
        .on_run_finished = [this](const RunRecord& r) { finished_.push_back(r.id); },
        .dispatch_interval_ms = dispatch_interval_ms_,
        .timeout_grace_ms = grace_ms_};
  }

  static CatalogPtr MakeCatalog(const Strings& texts) {
    auto catalog = std::make_shared<Catalog>();
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string file = "pipeline-" + std::to_string(i) + ".yaml";
      auto loaded = pipelines::LoadPipelineText(texts[i], file);
      EXPECT_TRUE(loaded.spec) << (loaded.errors.empty() ? "" : loaded.errors.front().ToString());
      if (!loaded.spec) {
        continue;
      }
      CatalogEntry entry{.name = loaded.spec->name,
                         .file = file,
                         .revision = loaded.spec->revision,
                         .text = texts[i]};
      entry.spec = std::make_shared<const PipelineSpec>(std::move(*loaded.spec));
      catalog->entries.push_back(std::move(entry));
    }
    return catalog;
  }

  // A scheduler over this test's store, runner, events and clock, as a fresh process would
  // start: the previous one (if any) is gone first.
  void Boot(const Strings& pipelines, bool recover = true) {
    scheduler_.reset();
    scheduler_ = std::make_unique<Scheduler>(Options());
    scheduler_->SetCatalog(MakeCatalog(pipelines));
    if (recover) {
      auto recovered = scheduler_->Recover();
      EXPECT_TRUE(recovered) << recovered.error().message;
    }
  }

  std::int64_t Step() { return scheduler_->Step(); }

  std::int64_t Trigger(const std::string& pipeline, const Outputs& inputs = {}) {
    auto id = scheduler_->Trigger(pipeline, inputs, 0);
    EXPECT_TRUE(id) << id.error().message;
    return id ? *id : 0;
  }

  RunRecord GetRun(std::int64_t id) {
    auto run = runs_->Get(id);
    EXPECT_TRUE(run && *run) << "no run " << id;
    return run && *run ? **run : RunRecord{};
  }

  TaskRecord GetTask(std::int64_t run_id, const std::string& task_id) {
    auto task = runs_->GetTask(run_id, task_id);
    EXPECT_TRUE(task && *task) << "no task '" << task_id << "' in run " << run_id;
    return task && *task ? **task : TaskRecord{};
  }

  std::vector<RunRecord> RunsOf(const std::string& pipeline) {
    auto runs = runs_->List(RunFilter{.pipeline = pipeline});
    EXPECT_TRUE(runs) << runs.error().message;
    return runs ? *runs : std::vector<RunRecord>{};
  }

  void Report(std::int64_t run_id, const std::string& task_id, JobUpdate update) {
    runner_.Deliver(run_id, task_id, std::move(update));
  }
  void Succeed(std::int64_t run_id, const std::string& task_id, Outputs outputs = {}) {
    Report(run_id, task_id, Update(JobState::kSucceeded, 0, "", std::move(outputs)));
  }
  void FailTask(std::int64_t run_id, const std::string& task_id, int exit_code = 1) {
    Report(run_id, task_id, Update(JobState::kFailed, exit_code));
  }

  // A copy: the runner's list of jobs grows with every submission.
  JobSpec LatestSpec(std::int64_t run_id, const std::string& task_id) {
    const FakeRunner::Job* job = runner_.Latest(run_id, task_id);
    EXPECT_NE(job, nullptr) << "no job of '" << task_id << "'";
    return job != nullptr ? job->spec : JobSpec{};
  }

  test::TempDir dir_;
  std::int64_t now_ = kStartMs;
  std::int64_t dispatch_interval_ms_ = 0;
  std::int64_t grace_ms_ = 30'000;
  std::shared_ptr<store::SqliteRunStore> runs_;
  std::shared_ptr<FakeEventStore> events_ = std::make_shared<FakeEventStore>();
  FakeRunner runner_;  // outlives the scheduler, which holds a raw pointer to it
  Strings changes_;
  std::vector<std::int64_t> finished_;
  std::unique_ptr<Scheduler> scheduler_;
};

// ---------------------------------------------------------------------------------------
// 1. DAG ordering and outputs

constexpr const char* kDiamond = R"(name: diamond
on: {manual: {}}
tasks:
  a:
    run: echo "model=m1" >> "$STAGEGATE_OUTPUT"
  b:
    needs: [a]
    run: echo "k=v1" >> "$STAGEGATE_OUTPUT"
  c:
    needs: [a]
    run: echo c
  d:
    needs: [b, c]
    env:
      FROM_B: ${{ tasks.b.outputs.k }}
      FROM_A: "${{ tasks.a.outputs.model }}-x"
    run: echo "$FROM_B $FROM_A"
)";

TEST_F(SchedulerTest, DiamondSubmitsTheJoinOnlyAfterBothBranchesSucceeded) {
  Boot({kDiamond});
  const auto id = Trigger("diamond");
  EXPECT_EQ(GetRun(id).status, RunStatus::kQueued);

  Step();
  EXPECT_EQ(runner_.Submitted(id), Strings{"a"});
  const JobSpec a = LatestSpec(id, "a");
  EXPECT_EQ(a.run_id, std::to_string(id));
  EXPECT_EQ(a.attempt, 1);
  EXPECT_EQ(a.command, (Strings{"/bin/sh", "-c", "echo \"model=m1\" >> \"$STAGEGATE_OUTPUT\""}));
  EXPECT_EQ(a.timeout, std::chrono::minutes(30));  // the default
  RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kRunning);
  EXPECT_EQ(run.started_ms, kStartMs);
  ASSERT_EQ(run.tasks.size(), 4U);
  EXPECT_EQ(GetTask(id, "a").state, TaskState::kQueued);
  EXPECT_EQ(GetTask(id, "a").external_id, "job-1");
  EXPECT_EQ(GetTask(id, "b").state, TaskState::kPending);
  EXPECT_EQ(GetTask(id, "d").state, TaskState::kPending);

  Report(id, "a", Update(JobState::kRunning));
  Step();
  EXPECT_EQ(GetTask(id, "a").state, TaskState::kRunning);

  Succeed(id, "a", {{"model", "m1"}});
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "c"}));

  Succeed(id, "b", {{"k", "v1"}});
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "c"})) << "d must wait for c";
  EXPECT_EQ(GetTask(id, "d").state, TaskState::kPending);

  Succeed(id, "c");
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "c", "d"}));
  const JobSpec d = LatestSpec(id, "d");
  EXPECT_EQ(d.env.at("FROM_B"), "v1");
  EXPECT_EQ(d.env.at("FROM_A"), "m1-x");

  Succeed(id, "d");
  now_ += 5'000;
  Step();
  run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_EQ(run.finished_ms, kStartMs + 5'000);
  EXPECT_EQ(run.detail, "");
  for (const auto& t : run.tasks) {
    EXPECT_EQ(t.state, TaskState::kSucceeded) << t.id;
  }
  EXPECT_EQ(GetTask(id, "a").outputs, (Outputs{{"model", "m1"}}));
  EXPECT_EQ(finished_, std::vector<std::int64_t>{id});
  EXPECT_FALSE(changes_.empty());
  EXPECT_EQ(scheduler_->ActiveRuns(), 0U);
}

// ---------------------------------------------------------------------------------------
// 2. Skip semantics

constexpr const char* kGate = R"(name: gate
on: {manual: {}}
tasks:
  test:
    run: exit 3
  approve:
    needs: [test]
    run: echo approve
  announce:
    needs: [approve]
    run: echo announce
  approve-if-ok:
    needs: [test]
    if: success()
    run: echo approve
  reject:
    needs: [test]
    if: failure()
    run: echo reject
  cleanup:
    needs: [test]
    if: always()
    run: echo cleanup
)";

TEST_F(SchedulerTest, FailedNeedSkipsDownstreamButRunsFailureAndAlwaysHandlers) {
  Boot({kGate});
  const auto id = Trigger("gate");
  Step();
  EXPECT_EQ(runner_.Submitted(id), Strings{"test"});

  FailTask(id, "test", 3);
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"test", "reject", "cleanup"}));
  const TaskRecord test = GetTask(id, "test");
  EXPECT_EQ(test.state, TaskState::kFailed);
  EXPECT_EQ(test.exit_code, 3);
  EXPECT_EQ(test.detail, "exit code 3");
  EXPECT_EQ(GetTask(id, "approve").state, TaskState::kSkipped);
  EXPECT_EQ(GetTask(id, "announce").state, TaskState::kSkipped) << "skips propagate";
  EXPECT_EQ(GetTask(id, "approve-if-ok").state, TaskState::kSkipped);
  EXPECT_EQ(GetRun(id).status, RunStatus::kRunning);

  Succeed(id, "reject");
  Succeed(id, "cleanup");
  Step();
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.detail, "failed: test");
  EXPECT_EQ(GetTask(id, "reject").state, TaskState::kSucceeded);
  EXPECT_EQ(GetTask(id, "cleanup").state, TaskState::kSucceeded);
}

constexpr const char* kFailedChain = R"(name: failed-chain
on: {manual: {}}
tasks:
  train:
    run: exit 1
  evaluate:
    needs: [train]
    run: echo evaluate
  publish-if-ok:
    needs: [evaluate]
    if: success()
    run: echo publish
  on-failure:
    needs: [evaluate]
    if: failure()
    run: echo handle
)";

TEST_F(SchedulerTest, FailureOfAnAncestorReachesHandlersBehindSkippedTasks) {
  Boot({kFailedChain});
  const auto id = Trigger("failed-chain");
  Step();
  FailTask(id, "train", 1);
  Step();
  // evaluate is skipped; success() after a skipped need is false, failure() sees train.
  EXPECT_EQ(GetTask(id, "evaluate").state, TaskState::kSkipped);
  EXPECT_EQ(GetTask(id, "publish-if-ok").state, TaskState::kSkipped);
  EXPECT_EQ(runner_.Submitted(id), (Strings{"train", "on-failure"}));
  Succeed(id, "on-failure");
  Step();
  EXPECT_EQ(GetRun(id).status, RunStatus::kFailed);
}

constexpr const char* kVerdict = R"(name: verdict
on: {manual: {}}
tasks:
  compare:
    run: echo "verdict=approve" >> "$STAGEGATE_OUTPUT"
  approve:
    needs: [compare]
    if: tasks.compare.outputs.verdict == 'approve'
    env: {VERDICT: "${{ tasks.compare.outputs.verdict }}"}
    run: echo "$VERDICT"
  reject:
    needs: [compare]
    if: ${{ tasks.compare.outputs.verdict != 'approve' }}
    run: echo reject
  broken:
    needs: [compare]
    if: fromJSON(tasks.compare.outputs.verdict) > 1
    run: echo never
)";

TEST_F(SchedulerTest, IfConditionsReadUpstreamOutputs) {
  Boot({kVerdict});
  const auto id = Trigger("verdict");
  Step();
  Succeed(id, "compare", {{"verdict", "approve"}});
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"compare", "approve"}));
  EXPECT_EQ(LatestSpec(id, "approve").env.at("VERDICT"), "approve");
  EXPECT_EQ(GetTask(id, "reject").state, TaskState::kSkipped);
  const TaskRecord broken = GetTask(id, "broken");
  EXPECT_EQ(broken.state, TaskState::kFailed);
  EXPECT_EQ(broken.detail.rfind("if: ", 0), 0U) << broken.detail;

  Succeed(id, "approve");
  Step();
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.detail, "failed: broken");
}

constexpr const char* kCannotStart = R"(name: cannot-start
on: {manual: {}}
tasks:
  compare:
    uses: compare
    with: {metric: val_auc}
  elsewhere:
    runner: slurm
    run: echo hi
  after:
    needs: [compare]
    run: echo after
)";

TEST_F(SchedulerTest, TasksThatCannotStartFailWithTheReason) {
  Boot({kCannotStart});
  const auto id = Trigger("cannot-start");
  Step();
  EXPECT_TRUE(runner_.Submitted(id).empty());
  EXPECT_EQ(GetTask(id, "compare").state, TaskState::kFailed);
  EXPECT_EQ(GetTask(id, "compare").detail,
            "built-in action 'compare' is not available in this version yet");
  EXPECT_EQ(GetTask(id, "elsewhere").state, TaskState::kFailed);
  EXPECT_NE(GetTask(id, "elsewhere").detail.find("runner 'slurm' is not configured"),
            std::string::npos);
  EXPECT_EQ(GetTask(id, "after").state, TaskState::kSkipped);
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.detail, "failed: compare, elsewhere");
}

constexpr const char* kRegistryAction = R"(name: verdict
on: {manual: {}}
tasks:
  evaluate:
    run: echo "auc=0.91" >> "$STAGEGATE_OUTPUT"
  tag:
    needs: [evaluate]
    uses: registry.set_tag
    with:
      model: churn
      version: "7"
      key: auc
      value: ${{ tasks.evaluate.outputs.auc }}
)";

TEST_F(SchedulerTest, RegistryActionsGoToTheRegistryRunnerWithTheirInputsRendered) {
  FakeRunner registry;
  auto options = Options();
  options.runners[kRegistryRunner] = &registry;
  scheduler_ = std::make_unique<Scheduler>(options);
  scheduler_->SetCatalog(MakeCatalog({kRegistryAction}));
  ASSERT_TRUE(scheduler_->Recover());
  const auto id = Trigger("verdict");
  Step();
  Succeed(id, "evaluate", {{"auc", "0.91"}});
  Step();
  EXPECT_EQ(runner_.Submitted(id), Strings{"evaluate"});
  ASSERT_EQ(registry.Submitted(id), Strings{"tag"});
  const JobSpec tag = registry.Latest(id, "tag")->spec;
  EXPECT_EQ(tag.action, "registry.set_tag");
  EXPECT_TRUE(tag.command.empty());
  EXPECT_EQ(tag.with, (Outputs{{"model", "churn"}, {"version", "7"}, {"key", "auc"}, {"value", "0.91"}}));
  const auto summary = nlohmann::json::parse(tag.run_json);
  EXPECT_EQ(summary["pipeline"], "verdict");
  ASSERT_EQ(summary["tasks"].size(), 1U) << "the asking task is left out";
  EXPECT_EQ(summary["tasks"][0]["id"], "evaluate");
  EXPECT_EQ(summary["tasks"][0]["state"], "succeeded");
  EXPECT_EQ(summary["tasks"][0]["outputs"]["auc"], "0.91");
  EXPECT_EQ(GetTask(id, "tag").runner, kRegistryRunner);
  registry.Deliver(id, "tag", Update(JobState::kSucceeded, 0));
  Step();
  EXPECT_EQ(GetRun(id).status, RunStatus::kSucceeded);
  scheduler_.reset();  // before `registry`, which it points to
}

TEST_F(SchedulerTest, RegistryActionsWithoutARegistryFailSayingHowToConfigureOne) {
  Boot({kRegistryAction});
  const auto id = Trigger("verdict");
  Step();
  Succeed(id, "evaluate");
  Step();
  EXPECT_EQ(GetTask(id, "tag").state, TaskState::kFailed);
  EXPECT_NE(GetTask(id, "tag").detail.find("configure one under registries:"), std::string::npos)
      << GetTask(id, "tag").detail;
}

TEST_F(SchedulerTest, ARunWhosePinnedPipelineNoLongerLoadsFails) {
  Boot({kVerdict});
  RunRecord bad;
  bad.pipeline = "verdict";
  bad.revision = "0000";
  bad.file = "verdict.yaml";
  bad.spec_text = "name: verdict\ntasks: [\n";
  bad.trigger = RunTrigger{"manual", "manual:test", 0};
  auto created = runs_->CreateRun(bad);
  ASSERT_TRUE(created) << created.error().message;
  scheduler_->Wake();
  Step();
  const RunRecord run = GetRun(created->id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.detail.rfind("the pinned pipeline no longer loads: ", 0), 0U) << run.detail;
  EXPECT_EQ(finished_, std::vector<std::int64_t>{created->id});
}

constexpr const char* kWithSecret = R"(name: with-secret
on: {manual: {}}
tasks:
  push:
    env: {TOKEN: "${{ secrets.REGISTRY_TOKEN }}"}
    run: echo pushing
)";

TEST_F(SchedulerTest, SecretsReachTheEnvAndAreListedForRedaction) {
  scheduler_ = std::make_unique<Scheduler>([&] {
    auto options = Options();
    options.secrets = {{"REGISTRY_TOKEN", "s3cr3t"}};
    return options;
  }());
  scheduler_->SetCatalog(MakeCatalog({kWithSecret}));
  const auto id = Trigger("with-secret");
  Step();
  const JobSpec job = LatestSpec(id, "push");
  EXPECT_EQ(job.env.at("TOKEN"), "s3cr3t");
  EXPECT_EQ(job.redact, Strings{"s3cr3t"});
}

// ---------------------------------------------------------------------------------------
// 3. Retries with exponential backoff

constexpr const char* kFlaky = R"(name: flaky
on: {manual: {}}
tasks:
  download:
    retries: 2
    retry_backoff: 10s
    run: exit 1
)";

TEST_F(SchedulerTest, RetriesWaitTheBackoffThatDoublesAndThenFail) {
  Boot({kFlaky});
  const auto id = Trigger("flaky");
  Step();
  EXPECT_EQ(LatestSpec(id, "download").attempt, 1);

  FailTask(id, "download");
  const std::int64_t failed_at = now_;
  EXPECT_EQ(Step(), failed_at + 10'000) << "the next timer is the retry";
  TaskRecord t = GetTask(id, "download");
  EXPECT_EQ(t.state, TaskState::kRunning);
  EXPECT_EQ(t.attempt, 1);
  EXPECT_EQ(t.retry_at_ms, failed_at + 10'000);
  EXPECT_EQ(t.detail, "attempt 1 failed: exit code 1; retrying in 10s");

  now_ += 9'999;
  Step();
  EXPECT_EQ(runner_.Submitted(id).size(), 1U);
  now_ += 1;
  Step();
  ASSERT_EQ(runner_.Submitted(id).size(), 2U);
  EXPECT_EQ(LatestSpec(id, "download").attempt, 2);
  EXPECT_EQ(GetTask(id, "download").attempt, 2);
  EXPECT_EQ(GetTask(id, "download").retry_at_ms, 0);

  FailTask(id, "download");
  const std::int64_t second_failure = now_;
  EXPECT_EQ(Step(), second_failure + 20'000) << "the backoff doubles";
  now_ += 19'999;
  Step();
  EXPECT_EQ(runner_.Submitted(id).size(), 2U);
  now_ += 1;
  Step();
  ASSERT_EQ(runner_.Submitted(id).size(), 3U);
  EXPECT_EQ(LatestSpec(id, "download").attempt, 3);

  FailTask(id, "download", 2);
  EXPECT_EQ(Step(), 0) << "nothing is left to wait for";
  t = GetTask(id, "download");
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.attempt, 3);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_EQ(t.retry_at_ms, 0);
  EXPECT_EQ(t.started_ms, kStartMs) << "the first attempt's start";
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.detail, "failed: download");
  EXPECT_EQ(runner_.Submitted(id).size(), 3U);
}

constexpr const char* kOptional = R"(name: optional
on: {manual: {}}
tasks:
  lint:
    retries: 1
    retry_backoff: 1s
    continue_on_error: true
    run: exit 1
  publish:
    needs: [lint]
    run: echo publish
)";

TEST_F(SchedulerTest, ContinueOnErrorLetsTheRunSucceedAfterTheLastAttemptFails) {
  Boot({kOptional});
  const auto id = Trigger("optional");
  Step();
  FailTask(id, "lint");
  Step();
  now_ += 1'000;
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"lint", "lint"}));
  FailTask(id, "lint");
  Step();
  EXPECT_EQ(GetTask(id, "lint").state, TaskState::kFailed);
  EXPECT_EQ(runner_.Submitted(id), (Strings{"lint", "lint", "publish"}));
  Succeed(id, "publish");
  Step();
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_EQ(run.detail, "");
}

// A runner that cannot take the job is a failure like any other: it is retried.
TEST_F(SchedulerTest, FailedSubmitIsRetriedAndThenFailsTheTask) {
  Boot({kFlaky});
  const auto id = Trigger("flaky");
  runner_.fail_submits = 1;
  Step();
  EXPECT_TRUE(runner_.Submitted(id).empty());
  TaskRecord t = GetTask(id, "download");
  EXPECT_EQ(t.attempt, 1);
  EXPECT_EQ(t.retry_at_ms, now_ + 10'000);
  EXPECT_EQ(t.detail, "attempt 1 failed: cannot start: the backend is down; retrying in 10s");

  now_ += 10'000;
  Step();
  EXPECT_EQ(runner_.Submitted(id), Strings{"download"});
  EXPECT_EQ(LatestSpec(id, "download").attempt, 2);

  // Out of retries: the third attempt cannot start either.
  FailTask(id, "download");
  Step();
  runner_.fail_submits = 1;
  now_ += 20'000;
  Step();
  Step();
  t = GetTask(id, "download");
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.attempt, 3);
  EXPECT_EQ(t.detail, "cannot start: the backend is down");
  EXPECT_EQ(GetRun(id).status, RunStatus::kFailed);
}

// ---------------------------------------------------------------------------------------
// 4. Timeouts

constexpr const char* kSlow = R"(name: slow
on: {manual: {}}
tasks:
  train:
    timeout: 90s
    run: sleep 1000
  report:
    needs: [train]
    run: echo report
)";

TEST_F(SchedulerTest, RunnerTimeoutMarksTheTaskTimedOut) {
  Boot({kSlow});
  const auto id = Trigger("slow");
  Step();
  EXPECT_EQ(LatestSpec(id, "train").timeout, std::chrono::seconds(90));
  Report(id, "train", Update(JobState::kTimedOut, -1, "timed out after 90s"));
  Step();
  const TaskRecord t = GetTask(id, "train");
  EXPECT_EQ(t.state, TaskState::kTimedOut);
  EXPECT_EQ(t.detail, "timed out after 90s");
  EXPECT_EQ(GetTask(id, "report").state, TaskState::kSkipped);
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.detail, "failed: train");
}

TEST_F(SchedulerTest, WatchdogCancelsATaskItsRunnerDidNotStop) {
  grace_ms_ = 5'000;
  Boot({kSlow});
  const auto id = Trigger("slow");
  EXPECT_EQ(Step(), kStartMs + 90'000 + 5'000) << "the next timer is the watchdog";
  Report(id, "train", Update(JobState::kRunning));
  EXPECT_EQ(Step(), kStartMs + 95'000);
  EXPECT_EQ(GetTask(id, "train").deadline_ms, kStartMs + 95'000);

  now_ = kStartMs + 94'999;
  Step();
  EXPECT_TRUE(runner_.cancelled.empty());
  EXPECT_EQ(GetTask(id, "train").state, TaskState::kRunning);

  now_ = kStartMs + 95'000;
  Step();
  EXPECT_EQ(runner_.cancelled, Strings{"job-1"});
  const TaskRecord t = GetTask(id, "train");
  EXPECT_EQ(t.state, TaskState::kTimedOut);
  EXPECT_NE(t.detail.find("the scheduler cancelled it"), std::string::npos) << t.detail;
  EXPECT_EQ(GetRun(id).status, RunStatus::kFailed);

  // The runner's late word on the cancelled job changes nothing.
  Report(id, "train", Update(JobState::kCancelled, -1, "cancelled"));
  Step();
  EXPECT_EQ(GetTask(id, "train").state, TaskState::kTimedOut);
}

// ---------------------------------------------------------------------------------------
// 5. Concurrency policies

std::string Deploy(const std::string& policy) {
  return R"(name: deploy
on:
  manual:
    inputs:
      model: {type: string, required: true}
concurrency: {group: "deploy-${{ inputs.model }}", policy: )" +
         policy + R"(}
tasks:
  deploy:
    run: echo deploying
)";
}

TEST_F(SchedulerTest, QueuePolicyStartsTheSecondRunWhenTheFirstFinishes) {
  Boot({Deploy("queue")});
  const auto first = Trigger("deploy", {{"model", "churn"}});
  Step();
  const auto second = Trigger("deploy", {{"model", "churn"}});
  const auto other = Trigger("deploy", {{"model", "fraud"}});
  Step();
  EXPECT_EQ(runner_.Submitted(first), Strings{"deploy"});
  EXPECT_TRUE(runner_.Submitted(second).empty());
  EXPECT_EQ(runner_.Submitted(other), Strings{"deploy"}) << "another group runs at once";
  const RunRecord waiting = GetRun(second);
  EXPECT_EQ(waiting.status, RunStatus::kQueued);
  EXPECT_EQ(waiting.concurrency_group, "deploy-churn");

  Step();
  EXPECT_TRUE(runner_.Submitted(second).empty());

  Succeed(first, "deploy");
  Step();
  EXPECT_EQ(GetRun(first).status, RunStatus::kSucceeded);
  EXPECT_EQ(runner_.Submitted(second), Strings{"deploy"}) << "admitted in the same step";
  EXPECT_EQ(GetRun(second).status, RunStatus::kRunning);
}

TEST_F(SchedulerTest, CancelRunningPolicyCancelsTheHolderAndThenStarts) {
  Boot({Deploy("cancel_running")});
  const auto first = Trigger("deploy", {{"model", "churn"}});
  Step();
  Report(first, "deploy", Update(JobState::kRunning));
  Step();

  const auto second = Trigger("deploy", {{"model", "churn"}});
  Step();
  EXPECT_EQ(runner_.cancelled, Strings{"job-1"});
  RunRecord holder = GetRun(first);
  EXPECT_EQ(holder.status, RunStatus::kRunning) << "until its task has stopped";
  EXPECT_EQ(holder.detail, "cancelled: superseded by run " + std::to_string(second) +
                               " in concurrency group 'deploy-churn'");
  EXPECT_EQ(GetRun(second).status, RunStatus::kQueued);
  EXPECT_TRUE(runner_.Submitted(second).empty());

  Step();
  EXPECT_EQ(runner_.cancelled, Strings{"job-1"}) << "asked once";

  Report(first, "deploy", Update(JobState::kCancelled, -1, "cancelled"));
  Step();
  holder = GetRun(first);
  EXPECT_EQ(holder.status, RunStatus::kCancelled);
  EXPECT_EQ(GetTask(first, "deploy").state, TaskState::kCancelled);
  EXPECT_EQ(runner_.Submitted(second), Strings{"deploy"});
  EXPECT_EQ(GetRun(second).status, RunStatus::kRunning);
}

TEST_F(SchedulerTest, SkipPolicySkipsTheSecondRunAndNamesTheHolder) {
  Boot({Deploy("skip")});
  const auto first = Trigger("deploy", {{"model", "churn"}});
  Step();
  const auto second = Trigger("deploy", {{"model", "churn"}});
  now_ += 1'000;
  Step();
  const RunRecord skipped = GetRun(second);
  EXPECT_EQ(skipped.status, RunStatus::kSkipped);
  EXPECT_EQ(skipped.detail, "skipped: run " + std::to_string(first) +
                                " holds concurrency group 'deploy-churn' (policy skip)");
  EXPECT_EQ(skipped.finished_ms, kStartMs + 1'000);
  EXPECT_TRUE(runner_.Submitted(second).empty());
  EXPECT_EQ(finished_, std::vector<std::int64_t>{second});
  EXPECT_EQ(GetRun(first).status, RunStatus::kRunning);
  EXPECT_TRUE(runner_.cancelled.empty());
}

// ---------------------------------------------------------------------------------------
// 6. Cancel

constexpr const char* kCancellable = R"(name: cancellable
on: {manual: {}}
tasks:
  a:
    run: sleep 100
  b:
    run: sleep 100
  c:
    needs: [a]
    run: echo c
  cleanup:
    needs: [a, b]
    if: always()
    run: echo cleanup
)";

TEST_F(SchedulerTest, CancelStopsRunningTasksSkipsPendingOnesAndStillRunsAlways) {
  Boot({kCancellable});
  const auto id = Trigger("cancellable");
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b"}));
  Report(id, "a", Update(JobState::kRunning));
  Report(id, "b", Update(JobState::kRunning));
  Step();

  ASSERT_TRUE(scheduler_->Cancel(id));
  EXPECT_TRUE(GetRun(id).cancel_requested);
  EXPECT_TRUE(scheduler_->HasWork());
  Step();
  EXPECT_EQ(runner_.cancelled, (Strings{"job-1", "job-2"}));
  EXPECT_EQ(GetRun(id).status, RunStatus::kRunning) << "until the tasks have stopped";

  Report(id, "a", Update(JobState::kCancelled, -1, "cancelled"));
  Report(id, "b", Update(JobState::kCancelled, -1, "cancelled"));
  Step();
  EXPECT_EQ(GetTask(id, "a").state, TaskState::kCancelled);
  EXPECT_EQ(GetTask(id, "c").state, TaskState::kSkipped);
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "cleanup"}));

  Succeed(id, "cleanup");
  Step();
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kCancelled);
  EXPECT_EQ(run.detail, "cancelled through the API");
  EXPECT_EQ(GetTask(id, "cleanup").state, TaskState::kSucceeded);

  const auto again = scheduler_->Cancel(id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("already finished (cancelled)"), std::string::npos)
      << again.error().message;
  const auto unknown = scheduler_->Cancel(id + 100);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(SchedulerTest, CancelDuringARetryWaitEndsTheTaskWithoutAnotherAttempt) {
  Boot({kFlaky});
  const auto id = Trigger("flaky");
  Step();
  FailTask(id, "download");
  Step();
  ASSERT_TRUE(scheduler_->Cancel(id));
  Step();
  const TaskRecord t = GetTask(id, "download");
  EXPECT_EQ(t.state, TaskState::kCancelled);
  EXPECT_EQ(t.detail, "run cancelled before the retry");
  EXPECT_EQ(GetRun(id).status, RunStatus::kCancelled);
  now_ += 60'000;
  Step();
  EXPECT_EQ(runner_.Submitted(id).size(), 1U);
  EXPECT_TRUE(runner_.cancelled.empty()) << "nothing was running";
}

TEST_F(SchedulerTest, CancelOfAQueuedRunEndsItWithoutStartingAnything) {
  Boot({Deploy("queue")});
  const auto first = Trigger("deploy", {{"model", "churn"}});
  Step();
  const auto second = Trigger("deploy", {{"model", "churn"}});
  Step();
  ASSERT_TRUE(scheduler_->Cancel(second));
  Step();
  EXPECT_EQ(GetRun(second).status, RunStatus::kCancelled);
  Succeed(first, "deploy");
  Step();
  Step();
  EXPECT_TRUE(runner_.Submitted(second).empty());
}

// ---------------------------------------------------------------------------------------
// 7. Rerun from the failed task

constexpr const char* kTwoStep = R"(name: two-step
on: {manual: {}}
tasks:
  a:
    run: echo "k=v" >> "$STAGEGATE_OUTPUT"
  b:
    needs: [a]
    env: {FROM_A: "${{ tasks.a.outputs.k }}"}
    run: echo "$FROM_A"
)";

TEST_F(SchedulerTest, RerunReusesSucceededTasksAndResubmitsTheFailedOne) {
  Boot({kTwoStep});
  const auto id = Trigger("two-step");
  Step();
  Succeed(id, "a", {{"k", "v"}});
  Step();
  FailTask(id, "b");
  Step();
  ASSERT_EQ(GetRun(id).status, RunStatus::kFailed);

  now_ += 60'000;
  const auto rerun = scheduler_->Rerun(id);
  ASSERT_TRUE(rerun) << rerun.error().message;
  EXPECT_NE(*rerun, id);
  Step();
  EXPECT_EQ(runner_.Submitted(*rerun), Strings{"b"}) << "a is not submitted again";
  EXPECT_EQ(LatestSpec(*rerun, "b").env.at("FROM_A"), "v");

  RunRecord run = GetRun(*rerun);
  EXPECT_EQ(run.rerun_of, id);
  EXPECT_EQ(run.trigger.kind, "rerun");
  EXPECT_EQ(run.status, RunStatus::kRunning);
  const TaskRecord a = GetTask(*rerun, "a");
  EXPECT_TRUE(a.reused);
  EXPECT_EQ(a.state, TaskState::kSucceeded);
  EXPECT_EQ(a.outputs, (Outputs{{"k", "v"}}));
  EXPECT_EQ(a.external_id, "job-1");
  EXPECT_FALSE(GetTask(*rerun, "b").reused);

  Succeed(*rerun, "b");
  Step();
  EXPECT_EQ(GetRun(*rerun).status, RunStatus::kSucceeded);
  EXPECT_EQ(GetRun(id).status, RunStatus::kFailed) << "the original stays as it was";

  const auto of_succeeded = scheduler_->Rerun(*rerun);
  ASSERT_FALSE(of_succeeded);
  EXPECT_EQ(of_succeeded.error().code, ErrorCode::kConflict);
  const auto unknown = scheduler_->Rerun(*rerun + 100);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

// ---------------------------------------------------------------------------------------
// 8. Matrix

constexpr const char* kMatrixOneAtATime = R"(name: matrix
on: {manual: {}}
tasks:
  test:
    matrix:
      n: [1, 2, 3]
      max_parallel: 1
    run: echo "$MATRIX_n"
  report:
    needs: [test]
    run: echo report
)";

TEST_F(SchedulerTest, MatrixFansOutNamedInstancesOneAtATime) {
  Boot({kMatrixOneAtATime});
  const auto id = Trigger("matrix");
  Step();
  EXPECT_EQ(runner_.Submitted(id), Strings{"test (1)"});
  EXPECT_EQ(LatestSpec(id, "test (1)").env.at("MATRIX_n"), "1");
  const TaskRecord second = GetTask(id, "test (2)");
  EXPECT_EQ(second.task, "test");
  EXPECT_EQ(second.state, TaskState::kPending);

  Step();
  EXPECT_EQ(runner_.Submitted(id), Strings{"test (1)"});
  Succeed(id, "test (1)");
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"test (1)", "test (2)"}));
  EXPECT_EQ(LatestSpec(id, "test (2)").env.at("MATRIX_n"), "2");
  Succeed(id, "test (2)");
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"test (1)", "test (2)", "test (3)"}));
  Succeed(id, "test (3)");
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"test (1)", "test (2)", "test (3)", "report"}));
  Succeed(id, "report");
  Step();
  EXPECT_EQ(GetRun(id).status, RunStatus::kSucceeded);
}

constexpr const char* kMatrixRetry = R"(name: matrix-retry
on: {manual: {}}
tasks:
  test:
    retries: 1
    retry_backoff: 1s
    matrix:
      n: [1, 2]
      max_parallel: 1
      fail_fast: false
    run: echo "$MATRIX_n"
)";

// The instance waiting for its retry holds its max_parallel slot; it must not block itself.
TEST_F(SchedulerTest, MatrixInstanceRetriesWithinItsOwnMaxParallelSlot) {
  Boot({kMatrixRetry});
  const auto id = Trigger("matrix-retry");
  Step();
  FailTask(id, "test (1)");
  EXPECT_EQ(Step(), now_ + 1'000);
  now_ += 1'000;
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"test (1)", "test (1)"}));
  EXPECT_EQ(LatestSpec(id, "test (1)").attempt, 2);
  Succeed(id, "test (1)");
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"test (1)", "test (1)", "test (2)"}));
  Succeed(id, "test (2)");
  Step();
  EXPECT_EQ(GetRun(id).status, RunStatus::kSucceeded);
}

constexpr const char* kMatrixFailFast = R"(name: matrix-fail-fast
on: {manual: {}}
tasks:
  test:
    matrix:
      n: [1, 2, 3]
    run: echo "$MATRIX_n"
  report:
    needs: [test]
    run: echo report
)";

TEST_F(SchedulerTest, MatrixFailFastCancelsTheSiblings) {
  Boot({kMatrixFailFast});
  const auto id = Trigger("matrix-fail-fast");
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"test (1)", "test (2)", "test (3)"}));

  FailTask(id, "test (2)");
  Step();
  EXPECT_EQ(runner_.cancelled, (Strings{"job-1", "job-3"}));
  const std::string why = "cancelled: fail_fast after test (2) failed";
  EXPECT_EQ(GetTask(id, "test (1)").detail, why);
  EXPECT_EQ(GetRun(id).status, RunStatus::kRunning);

  Report(id, "test (1)", Update(JobState::kCancelled, -1, "cancelled"));
  Report(id, "test (3)", Update(JobState::kCancelled, -1, "cancelled"));
  Step();
  for (const char* sibling : {"test (1)", "test (3)"}) {
    const TaskRecord t = GetTask(id, sibling);
    EXPECT_EQ(t.state, TaskState::kCancelled) << sibling;
    EXPECT_EQ(t.detail, why) << sibling;
  }
  EXPECT_EQ(GetTask(id, "report").state, TaskState::kSkipped);
  const RunRecord run = GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_NE(run.detail.find("test (2)"), std::string::npos) << run.detail;
}

// The first instance cannot even start, in the step that submits its siblings.
TEST_F(SchedulerTest, MatrixFailFastStopsSiblingsNotSubmittedYet) {
  Boot({kMatrixFailFast});
  const auto id = Trigger("matrix-fail-fast");
  runner_.fail_submits = 1;
  Step();
  EXPECT_TRUE(runner_.Submitted(id).empty());
  EXPECT_TRUE(runner_.cancelled.empty());
  EXPECT_EQ(GetTask(id, "test (1)").state, TaskState::kFailed);
  for (const char* sibling : {"test (2)", "test (3)"}) {
    const TaskRecord t = GetTask(id, sibling);
    EXPECT_EQ(t.state, TaskState::kCancelled) << sibling;
    EXPECT_EQ(t.detail, "cancelled: fail_fast after test (1) failed") << sibling;
  }
  Step();
  EXPECT_EQ(GetRun(id).status, RunStatus::kFailed);
}

// ---------------------------------------------------------------------------------------
// 9. Restart recovery

constexpr const char* kChain = R"(name: chain
on: {manual: {}}
tasks:
  a:
    run: echo a
  b:
    needs: [a]
    run: echo b
  c:
    needs: [b]
    run: echo c
)";

TEST_F(SchedulerTest, RecoverReattachesRunningTasksAndRetriesALostOneOnce) {
  Boot({kChain});
  const auto id = Trigger("chain");
  Step();
  Succeed(id, "a");
  Step();
  Report(id, "b", Update(JobState::kRunning));
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b"}));
  EXPECT_EQ(GetTask(id, "b").external_id, "job-2");

  Boot({kChain});  // a new process over the same store
  EXPECT_EQ(runner_.reattach_calls, Strings{"job-2"});
  const FakeRunner::Job* job = runner_.Latest(id, "b");
  ASSERT_NE(job, nullptr);
  EXPECT_TRUE(job->reattached);
  EXPECT_EQ(job->spec.attempt, 1);
  Step();
  EXPECT_EQ(scheduler_->ActiveRuns(), 1U);
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b"})) << "nothing is submitted again";

  Report(id, "b", Update(JobState::kLost, -1, "the process is gone (stagegate restarted)"));
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "b"}))
      << "the lost attempt is retried at once";
  EXPECT_EQ(LatestSpec(id, "b").attempt, 2);
  TaskRecord b = GetTask(id, "b");
  EXPECT_EQ(b.attempt, 2);
  EXPECT_EQ(b.lost, 1);

  Succeed(id, "b");
  Step();
  Succeed(id, "c");
  Step();
  EXPECT_EQ(GetRun(id).status, RunStatus::kSucceeded);
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "b", "c"}));
}

TEST_F(SchedulerTest, OnlyOneLostAttemptIsFree) {
  Boot({kChain});
  const auto id = Trigger("chain");
  Step();
  Succeed(id, "a");
  Step();

  runner_.fail_reattach = true;
  Boot({kChain});
  EXPECT_EQ(runner_.reattach_calls, Strings{"job-2"});
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "b"}));
  EXPECT_EQ(GetTask(id, "b").lost, 1);

  runner_.fail_reattach = false;
  Boot({kChain});
  EXPECT_EQ(runner_.reattach_calls, (Strings{"job-2", "job-3"}));
  Report(id, "b", Update(JobState::kLost, -1, "the process is gone (stagegate restarted)"));
  Step();
  const TaskRecord b = GetTask(id, "b");
  EXPECT_EQ(b.state, TaskState::kFailed);
  EXPECT_EQ(b.lost, 2);
  EXPECT_EQ(b.detail, "the process is gone (stagegate restarted)");
  EXPECT_EQ(GetRun(id).status, RunStatus::kFailed);
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b", "b"}));
}

// A cancel that was stored but not yet acted on when the process stopped.
TEST_F(SchedulerTest, RecoverPassesOnACancelStoredBeforeTheRestart) {
  Boot({kChain});
  const auto id = Trigger("chain");
  Step();
  Report(id, "a", Update(JobState::kRunning));
  Step();
  ASSERT_TRUE(scheduler_->Cancel(id));

  Boot({kChain});
  Step();
  EXPECT_EQ(runner_.cancelled, Strings{"job-1"});
  Report(id, "a", Update(JobState::kCancelled, -1, "cancelled"));
  Step();
  EXPECT_EQ(GetRun(id).status, RunStatus::kCancelled);
  EXPECT_EQ(GetTask(id, "b").state, TaskState::kSkipped);
  EXPECT_EQ(runner_.Submitted(id), Strings{"a"});
}

TEST_F(SchedulerTest, UpdatesForAStoppedSchedulerAreDropped) {
  Boot({kChain});
  const auto id = Trigger("chain");
  Step();
  const Runner::UpdateCallback old = runner_.Latest(id, "a")->on_update;
  scheduler_.reset();
  old(Update(JobState::kSucceeded, 0));  // must not touch the destroyed scheduler
  Boot({kChain});
  Step();
  EXPECT_EQ(GetTask(id, "a").state, TaskState::kQueued);
}

// ---------------------------------------------------------------------------------------
// 10. Dispatch idempotence

constexpr const char* kContexts = R"(name: contexts
on:
  manual:
    inputs:
      region: {type: string, default: eu}
env:
  TARGET: "models-${{ inputs.region }}"
tasks:
  test:
    matrix:
      shard: ["1", "2"]
    run: echo test
  report:
    needs: [test]
    if: always()
    env:
      FROM_ENV: "${{ env.TARGET }}"
      STATUS: "${{ tasks.test.status }}"
    run: echo "$FROM_ENV $STATUS"
)";

TEST_F(SchedulerTest, EnvContextIsRenderedAndAMatrixShowsItsWorstInstance) {
  Boot({kContexts});
  const auto id = Trigger("contexts");
  Step();
  Succeed(id, "test (1)");
  Report(id, "test (2)", Update(JobState::kTimedOut));
  Step();
  const JobSpec report = LatestSpec(id, "report");
  // ${{ env.TARGET }} reads the value, not the text of the template.
  EXPECT_EQ(report.env.at("FROM_ENV"), "models-eu");
  EXPECT_EQ(report.env.at("TARGET"), "models-eu");
  // One instance timed out: the matrix task's status says so, not the other's success.
  EXPECT_EQ(report.env.at("STATUS"), "timed_out");
}

constexpr const char* kOnNewVersion = R"(name: on-new-version
on:
  registry:
    events: [model_version.created]
    models: ["churn*"]
tasks:
  show:
    env: {MODEL: "${{ event.model.name }}"}
    run: echo "$MODEL"
)";

TEST_F(SchedulerTest, EachEventStartsOneRunPerPipelineRevision) {
  events_->Add(ModelVersionCreated("churn"));
  Boot({kOnNewVersion});
  Step();
  auto runs = RunsOf("on-new-version");
  ASSERT_EQ(runs.size(), 1U);
  const auto id = runs[0].id;
  EXPECT_EQ(runs[0].trigger.kind, "registry");
  EXPECT_EQ(runs[0].trigger.key, "event:1");
  EXPECT_EQ(runs[0].trigger.event_id, 1);
  EXPECT_EQ(runs[0].model, "churn");
  EXPECT_EQ(LatestSpec(id, "show").env.at("MODEL"), "churn");

  Step();
  scheduler_->Wake();
  Step();
  EXPECT_EQ(RunsOf("on-new-version").size(), 1U) << "stepping again";

  events_->Add(ModelVersionCreated("fraud"));  // does not match models
  scheduler_->Wake();
  Step();
  EXPECT_EQ(RunsOf("on-new-version").size(), 1U);
  // An event that starts nothing moves the stored cursor only within a second, not at once.
  EXPECT_EQ(runs_->DispatchCursor().value_or(0), 1);
  now_ += 1'000;
  scheduler_->Wake();
  Step();
  EXPECT_EQ(runs_->DispatchCursor().value_or(0), 2);

  Boot({kOnNewVersion}, /*recover=*/false);  // cursor at 0: every event is matched again
  Step();
  EXPECT_EQ(RunsOf("on-new-version").size(), 1U) << "a new scheduler without the cursor";
  Boot({kOnNewVersion});
  Step();
  EXPECT_EQ(RunsOf("on-new-version").size(), 1U) << "a new scheduler with the cursor";
  EXPECT_EQ(runner_.Submitted(id), Strings{"show"});

  // A new revision of the pipeline does not go back over events already matched.
  Boot({std::string(kOnNewVersion) + "# edited\n"});
  Step();
  EXPECT_EQ(RunsOf("on-new-version").size(), 1U);
  events_->Add(ModelVersionCreated("churn-eu"));
  scheduler_->Wake();
  Step();
  runs = RunsOf("on-new-version");
  ASSERT_EQ(runs.size(), 2U);
  EXPECT_EQ(runs[0].trigger.key, "event:3");
  EXPECT_NE(GetRun(runs[0].id).revision, GetRun(id).revision);
}

TEST_F(SchedulerTest, AStreamOfDeliveriesIsDispatchedInPacedBatches) {
  dispatch_interval_ms_ = 5;
  Boot({kOnNewVersion});
  events_->Add(ModelVersionCreated("churn"));
  scheduler_->Wake();
  Step();
  EXPECT_EQ(RunsOf("on-new-version").size(), 1U) << "after a quiet spell: at once";
  events_->Add(ModelVersionCreated("churn-eu"));
  events_->Add(ModelVersionCreated("churn-us"));
  scheduler_->Wake();
  EXPECT_EQ(Step(), now_ + 5) << "the next read of the event log is due 5 ms after the last";
  EXPECT_EQ(RunsOf("on-new-version").size(), 1U);
  now_ += 5;
  Step();
  EXPECT_EQ(RunsOf("on-new-version").size(), 3U) << "both in one batch";
}

TEST_F(SchedulerTest, DispatchReadsTheEventLogInBatchesToTheEnd) {
  for (int i = 1; i <= 450; ++i) {
    events_->Add(ModelVersionCreated(i == 1 || i == 450 ? "churn" : "fraud"));
  }
  Boot({kOnNewVersion});
  Step();
  const auto runs = RunsOf("on-new-version");
  ASSERT_EQ(runs.size(), 2U);
  EXPECT_EQ(runs[0].trigger.key, "event:450");
  EXPECT_EQ(runs[1].trigger.key, "event:1");
  EXPECT_EQ(runs_->DispatchCursor().value_or(0), 450);
}

// ---------------------------------------------------------------------------------------
// 11. Schedules

constexpr const char* kEveryFive = R"(name: every-five
on: {schedule: "*/5 * * * *"}
tasks:
  tick:
    run: echo tick
)";

TEST_F(SchedulerTest, ScheduleFiresOncePerSlotAndReportsMissedSlots) {
  Boot({kEveryFive});
  EXPECT_EQ(Step(), kMidnight + 5 * kMinute) << "the next slot";
  EXPECT_TRUE(RunsOf("every-five").empty()) << "a new schedule does not fire for the past";

  now_ = kMidnight + 5 * kMinute - 1;
  Step();
  EXPECT_TRUE(RunsOf("every-five").empty());

  now_ = kMidnight + 5 * kMinute + 1'000;
  EXPECT_EQ(Step(), kMidnight + 10 * kMinute);
  auto runs = RunsOf("every-five");
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].trigger.kind, "schedule");
  EXPECT_EQ(runs[0].trigger.key, "schedule:*/5 * * * *@2024-01-01T00:05:00.000Z");
  EXPECT_EQ(runs[0].detail, "");
  EXPECT_EQ(runner_.Submitted(runs[0].id), Strings{"tick"});
  Step();
  EXPECT_EQ(RunsOf("every-five").size(), 1U);

  Boot({kEveryFive});  // a restart at the same time
  Step();
  EXPECT_EQ(RunsOf("every-five").size(), 1U);

  now_ = kMidnight + 67 * kMinute;  // 01:07: the slots 00:10 ... 01:05 have passed
  Step();
  runs = RunsOf("every-five");
  ASSERT_EQ(runs.size(), 2U);
  EXPECT_EQ(runs[0].trigger.key, "schedule:*/5 * * * *@2024-01-01T01:05:00.000Z");
  EXPECT_EQ(runs[0].detail,
            "11 earlier slots of '*/5 * * * *' passed while stagegate was not running; fired once "
            "for 2024-01-01T01:05:00.000Z");
  Step();
  EXPECT_EQ(RunsOf("every-five").size(), 2U);
}

// ---------------------------------------------------------------------------------------
// 12. Manual trigger input checks

constexpr const char* kBackfill = R"(name: backfill
on:
  manual:
    inputs:
      model: {type: string, required: true}
      days: {type: number, default: "7"}
      dry_run: {type: boolean, default: "true"}
      target: {type: choice, options: [staging, production], default: staging}
tasks:
  backfill:
    env:
      MODEL: ${{ inputs.model }}
      DAYS: ${{ inputs.days }}
      DRY_RUN: ${{ inputs.dry_run }}
      TARGET: ${{ inputs.target }}
      EVENT_MODEL: ${{ event.model.name }}
    run: echo "$MODEL $DAYS $DRY_RUN $TARGET"
)";

TEST_F(SchedulerTest, TriggerChecksInputsAgainstTheDeclaration) {
  Boot({kBackfill, kOnNewVersion});
  struct Case {
    Outputs inputs;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"model", "churn"}, {"colour", "red"}},
       "pipeline backfill declares no input 'colour'; its inputs are model, days, dry_run, target"},
      {{{"model", "churn"}, {"days", "many"}},
       "input 'days' must be a number, e.g. 0.8; got 'many'"},
      {{{"model", "churn"}, {"dry_run", "yes"}},
       "input 'dry_run' must be true or false; got 'yes'"},
      {{{"model", "churn"}, {"target", "qa"}},
       "input 'target' must be one of staging, production; got 'qa'"},
      {{{"days", "3"}}, "input 'model' is required; pass it in \"inputs\": {\"model\": ...}"},
  };
  for (const auto& c : cases) {
    const auto r = scheduler_->Trigger("backfill", c.inputs, 0);
    ASSERT_FALSE(r) << c.message;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message, c.message);
  }
  EXPECT_TRUE(RunsOf("backfill").empty());

  const auto registry_only = scheduler_->Trigger("on-new-version", {}, 0);
  ASSERT_FALSE(registry_only);
  EXPECT_EQ(registry_only.error().code, ErrorCode::kConflict);
  EXPECT_NE(registry_only.error().message.find("has no manual trigger"), std::string::npos);
  const auto unknown = scheduler_->Trigger("nope", {}, 0);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  const auto no_event = scheduler_->Trigger("backfill", {{"model", "churn"}}, 42);
  ASSERT_FALSE(no_event);
  EXPECT_EQ(no_event.error().code, ErrorCode::kNotFound);

  const auto event_id = events_->Add(ModelVersionCreated("churn"));
  const auto id = scheduler_->Trigger("backfill", {{"model", "churn"}, {"days", "30"}}, event_id);
  ASSERT_TRUE(id) << id.error().message;
  Step();
  const JobSpec job = LatestSpec(*id, "backfill");
  EXPECT_EQ(job.env.at("MODEL"), "churn");
  EXPECT_EQ(job.env.at("DAYS"), "30");
  EXPECT_EQ(job.env.at("DRY_RUN"), "true");
  EXPECT_EQ(job.env.at("TARGET"), "staging");
  EXPECT_EQ(job.env.at("EVENT_MODEL"), "churn");
  const RunRecord run = GetRun(*id);
  EXPECT_EQ(run.trigger.kind, "manual");
  EXPECT_EQ(run.trigger.event_id, event_id);
}

// Reload() reads the pipelines directory with LoadCatalog; runs pin their revision.
TEST_F(SchedulerTest, ReloadReadsThePipelinesDirectoryAndRunsKeepTheirRevision) {
  std::filesystem::create_directories(dir_.File("pipelines"));
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir_.File("pipelines/" + name)) << text;
  };
  write("two-step.yaml", kTwoStep);
  write("broken.yml", "name: broken\ntasks: [\n");
  scheduler_ = std::make_unique<Scheduler>(Options());
  const auto listing = scheduler_->Reload();
  ASSERT_TRUE(listing) << listing.error().message;
  ASSERT_EQ(listing->pipelines.size(), 2U);
  EXPECT_FALSE(listing->pipelines[0].valid);  // broken.yml sorts first
  EXPECT_FALSE(listing->pipelines[0].errors.empty());
  EXPECT_TRUE(listing->pipelines[1].valid);
  EXPECT_EQ(listing->pipelines[1].tasks, (Strings{"a", "b"}));

  const auto broken = scheduler_->Trigger("broken", {}, 0);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, ErrorCode::kConflict);

  const auto id = Trigger("two-step");
  Step();
  const std::string pinned = GetRun(id).revision;
  write("two-step.yaml", std::string(kTwoStep) + "# edited\n");
  ASSERT_TRUE(scheduler_->Reload());
  Succeed(id, "a", {{"k", "v"}});
  Step();
  EXPECT_EQ(runner_.Submitted(id), (Strings{"a", "b"}));
  EXPECT_EQ(GetRun(id).revision, pinned);
  EXPECT_NE(scheduler_->catalog()->Find("two-step")->revision, pinned);
}

}  // namespace
}  // namespace scheduler
}  // namespace stagegate
