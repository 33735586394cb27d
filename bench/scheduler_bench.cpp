// The scheduler benchmark (bench/README.md): what the scheduler itself costs per task, with
// a runner that finishes every job at once, and how much memory a waiting run holds.
//
//   sg_scheduler_bench [--tasks N] [--runs N] [--dir DIR]
//
// For a wide DAG (N independent tasks) and a deep DAG (a chain of N tasks) it reports the
// wall time of one run from trigger to finish, and beside it the baseline: the same number
// of task-state writes straight into the run store, batched the way the scheduler batches
// them (so the ratio shows what walking the DAG adds to the unavoidable durable writes).
// Then it starts --runs runs whose first task never finishes and reports the resident
// memory they add, per run.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "orchestrator/core/units.hpp"
#include "orchestrator/scheduler/scheduler.hpp"
#include "orchestrator/store/sqlite_run_store.hpp"

namespace {

using namespace stagegate;
using Clock = std::chrono::steady_clock;

// Finishes each job as soon as it is submitted (or never, when `hold` is set). Updates are
// delivered through the scheduler's inbox like a real runner's.
class InstantRunner final : public Runner {
 public:
  bool hold = false;

  Result<std::string> Submit(JobSpec spec, UpdateCallback on_update) override {
    const std::string id = "job:" + std::to_string(++next_);
    JobUpdate running{.external_id = id, .state = JobState::kRunning};
    on_update(running);
    if (!hold) {
      JobUpdate done{.external_id = id, .state = JobState::kSucceeded, .exit_code = 0};
      on_update(done);
    } else {
      std::lock_guard lock(mutex_);
      held_.push_back(std::move(on_update));
    }
    (void)spec;
    return id;
  }
  Result<void> Cancel(const std::string&) override { return {}; }
  Result<void> Reattach(const std::string&, const JobSpec&, UpdateCallback) override { return {}; }

 private:
  std::uint64_t next_ = 0;
  std::mutex mutex_;
  std::vector<UpdateCallback> held_;
};

std::string WideYaml(int n) {
  std::string y = "name: wide\non: {manual: {}}\ntasks:\n";
  for (int i = 0; i < n; ++i) y += "  t" + std::to_string(i) + ": {run: \"true\"}\n";
  return y;
}

std::string DeepYaml(int n) {
  std::string y = "name: deep\non: {manual: {}}\ntasks:\n";
  for (int i = 0; i < n; ++i) {
    y += "  t" + std::to_string(i) + ": {run: \"true\"";
    if (i > 0) y += ", needs: [t" + std::to_string(i - 1) + "]";
    y += "}\n";
  }
  return y;
}

std::string WaitingYaml() {
  return "name: waiting\non: {manual: {inputs: {n: {type: string}}}}\n"
         "concurrency: {group: \"${{ run.pipeline }}-${{ inputs.n }}\", policy: queue}\n"
         "env: {MODEL: \"${{ event.model.name }}\"}\n"
         "tasks:\n"
         "  test: {run: ./test.sh, env: {N: \"${{ inputs.n }}\"}, retries: 2}\n"
         "  compare: {needs: [test], run: ./compare.sh, env: {AUC: \"${{ tasks.test.outputs.auc }}\"}}\n"
         "  approve: {needs: [compare], run: ./approve.sh}\n"
         "  reject: {needs: [compare], if: failure(), run: ./reject.sh}\n"
         "  report: {needs: [approve, reject], if: always(), run: ./report.sh}\n";
}

long RssKib() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct Setup {
  std::string dir;
  std::shared_ptr<store::SqliteRunStore> store;
  InstantRunner runner;
  std::unique_ptr<scheduler::Scheduler> scheduler;
  bool finished = false;
};

std::unique_ptr<Setup> MakeSetup(const std::string& root, const std::string& name,
                                 const std::string& yaml) {
  auto s = std::make_unique<Setup>();
  s->dir = root + "/" + name;
  std::filesystem::remove_all(s->dir);
  std::filesystem::create_directories(s->dir + "/pipelines");
  std::ofstream(s->dir + "/pipelines/p.yaml") << yaml;
  auto store = store::SqliteRunStore::Open(s->dir + "/runs.db");
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    std::exit(2);
  }
  s->store = *store;
  Setup* raw = s.get();
  s->scheduler = std::make_unique<scheduler::Scheduler>(scheduler::SchedulerOptions{
      .runs = s->store,
      .runners = {{"local", &s->runner}},
      .pipelines_dir = s->dir + "/pipelines",
      .on_run_finished = [raw](const RunRecord&) { raw->finished = true; }});
  if (auto r = s->scheduler->Reload(); !r || !r->pipelines.front().valid) {
    std::fprintf(stderr, "pipeline did not load\n");
    std::exit(2);
  }
  return s;
}

// Steps until the run finished; returns seconds and the number of steps.
std::pair<double, int> RunToEnd(Setup& s) {
  const auto start = Clock::now();
  auto id = s.scheduler->Trigger(s.scheduler->Pipelines().pipelines.front().name, {}, 0);
  if (!id) {
    std::fprintf(stderr, "%s\n", id.error().message.c_str());
    std::exit(2);
  }
  int steps = 0;
  while (!s.finished) {
    s.scheduler->Step();
    ++steps;
  }
  return {std::chrono::duration<double>(Clock::now() - start).count(), steps};
}

// The baseline: the state writes a run of n tasks needs (queued, running, succeeded per task,
// plus the pending rows), in `batches` transactions, straight into the store.
double Baseline(const std::string& root, const std::string& name, int n, int batches) {
  const std::string dir = root + "/" + name + "-baseline";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = *store::SqliteRunStore::Open(dir + "/runs.db");
  RunRecord run;
  run.pipeline = name;
  run.revision = "r";
  run.trigger = RunTrigger{"manual", "k", 0};
  run.status = RunStatus::kRunning;
  const auto created = *store->CreateRun(run);
  const auto start = Clock::now();
  std::vector<TaskRecord> tasks(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    tasks[static_cast<std::size_t>(i)].id = "t" + std::to_string(i);
    tasks[static_cast<std::size_t>(i)].task = tasks[static_cast<std::size_t>(i)].id;
  }
  const int writes_per_task = 4;  // pending, queued, running, succeeded
  const long total = static_cast<long>(n) * writes_per_task;
  const long per_batch = std::max<long>(1, total / std::max(1, batches));
  long written = 0;
  while (written < total) {
    RunChange change{.run_id = created.id, .status = RunStatus::kRunning};
    for (long k = 0; k < per_batch && written < total; ++k, ++written) {
      TaskRecord t = tasks[static_cast<std::size_t>(written % n)];
      t.state = static_cast<TaskState>(written / n);
      change.tasks.push_back(std::move(t));
    }
    (void)store->Save({change});
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int tasks = 10'000;
  int runs = 1'000;
  std::string root = (std::filesystem::temp_directory_path() / ("sg-sched-bench-" + std::to_string(::getpid()))).string();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tasks") tasks = std::atoi(argv[i + 1]);
    else if (flag == "--runs") runs = std::atoi(argv[i + 1]);
    else if (flag == "--dir") root = std::string(argv[i + 1]) + "/sg-sched-bench";
  }
  spdlog::set_level(spdlog::level::warn);
  std::printf("scheduler benchmark: %d no-op tasks per DAG, %d waiting runs\n", tasks, runs);
  // Memory first, while the heap has not grown for the large DAGs.
  {
    auto setup = MakeSetup(root, "waiting", WaitingYaml());
    setup->runner.hold = true;
    setup->scheduler->Step();
    const long before = RssKib();
    for (int i = 0; i < runs; ++i) {
      (void)setup->scheduler->Trigger("waiting", {{"n", std::to_string(i)}}, 0);
      if (i % 100 == 99) setup->scheduler->Step();
    }
    setup->scheduler->Step();
    const long after = RssKib();
    std::printf("memory: %zu runs in flight add %ld KiB resident, %.1f KiB per run\n",
                setup->scheduler->ActiveRuns(), after - before,
                static_cast<double>(after - before) /
                    static_cast<double>(std::max<std::size_t>(1, setup->scheduler->ActiveRuns())));
  }
  std::printf("%-6s %10s %8s %14s %14s %8s\n", "dag", "seconds", "steps", "us/task", "baseline us", "ratio");
  for (const auto& [name, yaml] : {std::pair{std::string("wide"), WideYaml(tasks)},
                                   std::pair{std::string("deep"), DeepYaml(tasks)}}) {
    auto setup = MakeSetup(root, name, yaml);
    const auto [seconds, steps] = RunToEnd(*setup);
    const double base = Baseline(root, name, tasks, steps);
    std::printf("%-6s %10.3f %8d %14.1f %14.1f %7.1fx\n", name.c_str(), seconds, steps,
                seconds * 1e6 / tasks, base * 1e6 / tasks, seconds / base);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(root);
  return 0;
}
