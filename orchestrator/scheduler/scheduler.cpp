#include "orchestrator/scheduler/scheduler.hpp"

#include <algorithm>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <set>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "orchestrator/core/actions.hpp"
#include "orchestrator/core/units.hpp"
#include "orchestrator/scheduler/dag.hpp"
#include "pipelines/condition.hpp"
#include "pipelines/cron.hpp"
#include "pipelines/event_json.hpp"
#include "pipelines/expression.hpp"
#include "pipelines/pipeline_loader.hpp"
#include "pipelines/trigger.hpp"

namespace stagegate::scheduler {
namespace {

using Json = nlohmann::json;

constexpr int kDispatchBatch = 200;


struct Update {
  std::int64_t run_id = 0;
  std::string task_id;
  int attempt = 0;
  JobUpdate update;
};

// Where runner threads and API threads leave work for the scheduler's thread.
struct Inbox {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Update> updates;
  std::vector<std::int64_t> cancels;
  bool wake = false;
  bool new_runs = false;  // the API created runs: load them
  bool stop = false;
};

// What the scheduler derives once per pipeline revision.
struct TaskPlan {
  std::optional<pipelines::Condition> condition;
  std::vector<std::pair<std::string, pipelines::Template>> env;  // pipeline env, then task env
  std::vector<std::pair<std::string, pipelines::Template>> with;  // a uses: task's with:
  std::set<std::string> reads;  // task ids whose status or outputs the templates read
  bool reads_all_tasks = false;
  bool needs_context = false;  // any template at all
};

struct SpecPlan {
  std::shared_ptr<const PipelineSpec> spec;
  std::vector<std::pair<std::string, pipelines::Template>> env;  // the pipeline's env:
  std::map<std::string, TaskPlan> tasks;
};

struct Instance {
  TaskRecord rec;
  std::size_t idx = 0;  // position in LiveRun::instances
  const TaskSpec* task = nullptr;
  pipelines::MatrixCombination matrix;
  bool dirty = false;
  bool changed = false;  // state changed since observers last heard
};

struct LiveRun {
  RunRecord rec;  // header; the tasks live in `instances`
  std::shared_ptr<const SpecPlan> plan;
  // The contexts every expression of the run reads (event, inputs, secrets, run, and env:
  // rendered from them), built once; a task adds tasks, matrix and its attempt.
  Json context = Json::object();
  std::vector<Instance> instances;
  std::unordered_map<std::string, std::size_t> index;
  std::vector<DagTask> dag;  // by instance index
  // Incremental DAG bookkeeping, so that a step costs what changed rather than the run's size.
  std::unordered_map<std::string, std::vector<std::size_t>> by_task;  // task id -> instances
  std::vector<std::vector<std::size_t>> dependents;  // instance -> instances that need it
  std::vector<int> open_needs;       // instance -> needs not finished yet
  std::vector<std::size_t> ready;    // pending instances whose needs all finished
  std::set<std::size_t> active;      // started and not finished (running or awaiting a retry)
  std::size_t unfinished = 0;
  std::vector<std::size_t> dirty_tasks;    // to store
  std::vector<std::size_t> changed_tasks;  // to tell the observers
  bool dirty = false;
  bool finished_now = false;

  Instance* Find(const std::string& id) {
    const auto it = index.find(id);
    return it == index.end() ? nullptr : &instances[it->second];
  }
};

struct PendingSubmit {
  std::int64_t run_id = 0;
  std::string task_id;
  JobSpec job;
  Runner* runner = nullptr;
};

TaskState FromJob(JobState s) {
  switch (s) {
    case JobState::kQueued: return TaskState::kQueued;
    case JobState::kRunning: return TaskState::kRunning;
    case JobState::kSucceeded: return TaskState::kSucceeded;
    case JobState::kTimedOut: return TaskState::kTimedOut;
    case JobState::kCancelled: return TaskState::kCancelled;
    case JobState::kFailed:
    case JobState::kLost: return TaskState::kFailed;
  }
  return TaskState::kFailed;
}

void CollectReads(const std::vector<std::vector<std::string>>& refs, TaskPlan& plan) {
  for (const auto& path : refs) {
    if (path.empty() || path[0] != "tasks") continue;
    if (path.size() == 1) {
      plan.reads_all_tasks = true;
    } else {
      plan.reads.insert(path[1]);
    }
  }
}

Result<std::shared_ptr<const SpecPlan>> MakePlan(const std::string& text, const std::string& file) {
  auto loaded = pipelines::LoadPipelineText(text, file);
  if (!loaded.spec) {
    std::string why = loaded.errors.empty() ? "invalid" : loaded.errors.front().ToString();
    return Fail(ErrorCode::kInvalidArgument, "the pinned pipeline no longer loads: " + why);
  }
  auto plan = std::make_shared<SpecPlan>();
  plan->spec = std::make_shared<const PipelineSpec>(std::move(*loaded.spec));
  std::vector<std::pair<std::string, pipelines::Template>> pipeline_env;
  for (const auto& [key, value] : plan->spec->env) {
    auto t = pipelines::ParseTemplate(value);
    if (!t) return tl::unexpected(t.error());
    pipeline_env.emplace_back(key, std::move(*t));
  }
  plan->env = pipeline_env;
  for (const auto& task : plan->spec->tasks) {
    TaskPlan tp;
    tp.env = pipeline_env;  // the task's own entries follow and win
    for (const auto& [key, value] : task.env) {
      auto t = pipelines::ParseTemplate(value);
      if (!t) return tl::unexpected(t.error());
      tp.env.emplace_back(key, std::move(*t));
    }
    if (!task.if_expression.empty()) {
      auto c = pipelines::ParseCondition(task.if_expression);
      if (!c) return tl::unexpected(c.error());
      CollectReads(c->References(), tp);
      tp.condition = std::move(*c);
    }
    for (const auto& [key, value] : task.with) {
      auto t = pipelines::ParseTemplate(value);
      if (!t) return tl::unexpected(t.error());
      tp.with.emplace_back(key, std::move(*t));
    }
    // A template that is not plain text reads the context (and maybe upstream tasks).
    for (const auto* templates : {&tp.with, &tp.env}) {
      for (const auto& [key, t] : *templates) {
        CollectReads(pipelines::References(t), tp);
        tp.needs_context = tp.needs_context || t.Parts().size() > 1 ||
                           (t.Parts().size() == 1 && t.Parts()[0].expression.has_value());
      }
    }
    tp.needs_context = tp.needs_context || tp.condition.has_value();
    plan->tasks.emplace(task.id, std::move(tp));
  }
  return std::shared_ptr<const SpecPlan>(plan);
}

std::string Iso(std::int64_t ms) { return FormatIsoMillis(ms); }

// A declared input's value as its type: numbers and booleans as JSON numbers and booleans,
// so that a default and a value given through the API read the same in expressions.
Json TypedInput(const ManualInput& input, const std::string& value) {
  if (input.type == "number") {
    Json parsed = Json::parse(value, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_number()) return parsed;
  } else if (input.type == "boolean" && (value == "true" || value == "false")) {
    return value == "true";
  }
  return value;
}

std::string SecondsText(std::int64_t ms) {
  return FormatDuration(std::chrono::milliseconds(ms));
}

}  // namespace

struct Scheduler::State {
  mutable std::mutex catalog_mutex;
  CatalogPtr catalog;
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();

  std::map<std::int64_t, LiveRun> runs;
  std::int64_t max_loaded_id = 0;
  std::int64_t cursor = 0;
  std::int64_t last_poll_ms = 0;
  std::int64_t last_dispatch_ms = 0;
  bool dispatch_pending = true;
  bool cursor_dirty = false;       // moved past events that matched nothing, not stored yet
  std::int64_t cursor_stored_ms = 0;
  bool need_load = true;
  std::map<std::string, std::shared_ptr<const SpecPlan>> plans;  // by revision
  std::map<std::pair<std::string, std::string>, std::int64_t> schedule_slots;
  std::vector<PendingSubmit> submits;
  std::vector<std::int64_t> finished;
  std::atomic<std::size_t> active{0};
  std::atomic<std::uint64_t> manual_counter{0};
};

Scheduler::Scheduler(SchedulerOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {
  if (!options_.now_ms) options_.now_ms = [] { return UnixMillisNow(); };
}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::SetCatalog(CatalogPtr catalog) {
  {
    std::lock_guard lock(state_->catalog_mutex);
    state_->catalog = std::move(catalog);
  }
  Wake();
}

CatalogPtr Scheduler::catalog() const {
  std::lock_guard lock(state_->catalog_mutex);
  return state_->catalog;
}

void Scheduler::WakeForNewRun() {
  {
    std::lock_guard lock(state_->inbox->mutex);
    state_->inbox->new_runs = true;
  }
  state_->inbox->cv.notify_all();
}

void Scheduler::Wake() {
  {
    std::lock_guard lock(state_->inbox->mutex);
    state_->inbox->wake = true;
  }
  state_->inbox->cv.notify_all();
}

bool Scheduler::HasWork() const {
  std::lock_guard lock(state_->inbox->mutex);
  return state_->inbox->wake || state_->inbox->new_runs || !state_->inbox->updates.empty() ||
         !state_->inbox->cancels.empty();
}

std::size_t Scheduler::ActiveRuns() const { return state_->active.load(); }

// ---------------------------------------------------------------------------------------
// The work of one step. Everything below runs on the scheduler's thread only.

namespace {

class Stepper {
 public:
  Stepper(const SchedulerOptions& options, Scheduler::State& state, std::int64_t now)
      : options_(options), state_(state), now_(now) {}

  std::shared_ptr<const SpecPlan> PlanFor(const RunRecord& rec, std::string* error) {
    const auto it = state_.plans.find(rec.revision);
    if (it != state_.plans.end()) return it->second;
    auto plan = MakePlan(rec.spec_text, rec.file);
    if (!plan) {
      *error = plan.error().message;
      return nullptr;
    }
    state_.plans.emplace(rec.revision, *plan);
    return *plan;
  }

  // Builds the in-memory run from its stored record; returns false when it cannot run.
  void Load(RunRecord rec) {
    const std::int64_t id = rec.id;
    state_.max_loaded_id = std::max(state_.max_loaded_id, id);
    if (state_.runs.count(id) != 0) return;
    LiveRun run;
    std::string error;
    run.plan = PlanFor(rec, &error);
    std::vector<TaskRecord> stored = std::move(rec.tasks);
    rec.tasks.clear();
    run.rec = std::move(rec);
    if (!run.plan) {
      run.rec.status = RunStatus::kFailed;
      run.rec.detail = error;
      run.rec.finished_ms = now_;
      run.dirty = true;
      run.finished_now = true;
      state_.runs.emplace(id, std::move(run));
      return;
    }
    BuildRunContext(run);
    const PipelineSpec& spec = *run.plan->spec;
    for (const auto& task : spec.tasks) {
      auto add = [&](std::string instance_id, pipelines::MatrixCombination combo) {
        Instance inst;
        inst.idx = run.instances.size();
        run.by_task[task.id].push_back(inst.idx);
        inst.rec.id = std::move(instance_id);
        inst.rec.task = task.id;
        inst.rec.runner = IsRegistryAction(task.uses) ? std::string(kRegistryRunner)
                          : task.runner.empty()     ? spec.defaults.runner
                                                    : task.runner;
        inst.task = &task;
        inst.matrix = std::move(combo);
        run.index[inst.rec.id] = run.instances.size();
        run.instances.push_back(std::move(inst));
      };
      if (task.matrix) {
        for (auto& combo : pipelines::ExpandMatrix(*task.matrix)) {
          std::string name = pipelines::MatrixTaskName(task.id, *task.matrix, combo);
          add(std::move(name), std::move(combo));
        }
      } else {
        add(task.id, {});
      }
    }
    for (auto& s : stored) {
      if (Instance* inst = run.Find(s.id)) inst->rec = std::move(s);
    }
    for (const auto& inst : run.instances) {
      const auto& plan = run.plan->tasks.at(inst.task->id);
      DagTask d{.id = inst.rec.id,
                .has_if = plan.condition.has_value(),
                .if_uses_status_function = plan.condition && plan.condition->CallsStatusFunction(),
                .continue_on_error = inst.task->continue_on_error};
      for (const auto& need : inst.task->needs) {
        for (const std::size_t other : run.by_task[need]) d.needs.push_back(run.instances[other].rec.id);
      }
      run.dag.push_back(std::move(d));
    }
    run.dependents.assign(run.instances.size(), {});
    run.open_needs.assign(run.instances.size(), 0);
    for (const auto& inst : run.instances) {
      for (const auto& need : inst.task->needs) {
        for (const std::size_t other : run.by_task[need]) {
          run.dependents[other].push_back(inst.idx);
          if (!IsTerminal(run.instances[other].rec.state)) ++run.open_needs[inst.idx];
        }
      }
    }
    for (const auto& inst : run.instances) {
      if (!IsTerminal(inst.rec.state)) ++run.unfinished;
      if (inst.rec.attempt > 0 && !IsTerminal(inst.rec.state)) run.active.insert(inst.idx);
      if (IsPending(inst) && run.open_needs[inst.idx] == 0) run.ready.push_back(inst.idx);
    }
    if (run.rec.status == RunStatus::kRunning) {
      for (auto& inst : run.instances) {
        if (inst.rec.attempt == 0) MarkDirty(run, inst);
      }
    }
    state_.runs.emplace(id, std::move(run));
  }

  // After a restart: follow the jobs that were running.
  void Reattach(LiveRun& run) {
    if (run.rec.status != RunStatus::kRunning) return;
    for (auto& inst : run.instances) {
      if (IsTerminal(inst.rec.state) || inst.rec.attempt == 0 || inst.rec.retry_at_ms > 0) continue;
      if (inst.rec.state != TaskState::kQueued && inst.rec.state != TaskState::kRunning) continue;
      Runner* runner = RunnerFor(inst);
      auto job = MakeJob(run, inst);
      // An empty id is passed on too: the job may have started after its id was last
      // stored, and the runner may still find it (the local runner's pid file).
      Result<void> attached = Fail(ErrorCode::kUnavailable, "its runner is not configured");
      if (runner != nullptr && job) {
        attached = runner->Reattach(inst.rec.external_id, *job,
                                    Callback(run.rec.id, inst.rec.id, inst.rec.attempt));
      }
      if (!attached) {
        JobUpdate lost;
        lost.external_id = inst.rec.external_id;
        lost.state = JobState::kLost;
        lost.detail = "cannot follow the job after a restart: " + attached.error().message;
        ApplyUpdate(Update{run.rec.id, inst.rec.id, inst.rec.attempt, std::move(lost)});
      }
    }
  }

  Runner::UpdateCallback Callback(std::int64_t run_id, std::string task_id, int attempt) {
    std::weak_ptr<Inbox> weak = state_.inbox;
    return [weak, run_id, task_id = std::move(task_id), attempt](const JobUpdate& update) {
      auto inbox = weak.lock();
      if (!inbox) return;
      {
        std::lock_guard lock(inbox->mutex);
        inbox->updates.push_back(Update{run_id, task_id, attempt, update});
      }
      inbox->cv.notify_all();
    };
  }

  Runner* RunnerFor(const Instance& inst) const {
    const auto it = options_.runners.find(inst.rec.runner);
    return it == options_.runners.end() ? nullptr : it->second;
  }

  // How bad a state is, for the status of a matrix task: its worst instance's.
  static int Severity(const std::string& status) {
    static const char* const kOrder[] = {"succeeded", "skipped", "pending", "queued",
                                         "running",   "cancelled", "timed_out", "failed"};
    for (int i = 0; i < 8; ++i) {
      if (status == kOrder[i]) return i;
    }
    return 0;
  }

  static void AddTaskContext(Json& tasks, const Instance& i) {
    Json& entry = tasks[i.task->id];
    if (!entry.contains("outputs")) entry["outputs"] = Json::object();
    for (const auto& [k, v] : i.rec.outputs) entry["outputs"][k] = v;
    const std::string status = TaskStateName(i.rec.state);
    if (!entry.contains("status") ||
        Severity(status) > Severity(entry["status"].get<std::string>())) {
      entry["status"] = status;
    }
  }

  // The run-level contexts, and the `env` context: the pipeline's env: with its expressions
  // evaluated once per run (they may read event, inputs, secrets and run, not tasks). A value
  // that does not evaluate reads as ""; the task that uses it fails with the reason when its
  // own env is rendered.
  // The absolute directory of a run's pipeline file: tasks find the scripts kept next to it.
  static std::string PipelineDir(const std::string& file) {
    if (file.empty()) return {};
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(std::filesystem::path(file), ec);
    return ec ? std::string() : absolute.lexically_normal().parent_path().string();
  }

  void BuildRunContext(LiveRun& run) const {
    auto parsed = [](const std::string& text) {
      Json j = Json::parse(text, nullptr, false);
      return j.is_discarded() ? Json::object() : j;
    };
    Json secrets = Json::object();
    for (const auto& [k, v] : options_.secrets) secrets[k] = v;
    run.context = Json{{"event", parsed(run.rec.event_json)},
                       {"inputs", parsed(run.rec.inputs_json)},
                       {"secrets", std::move(secrets)},
                       {"run",
                        {{"id", std::to_string(run.rec.id)},
                         {"pipeline", run.rec.pipeline},
                         {"revision", run.rec.revision},
                         {"trigger", run.rec.trigger.kind},
                         {"pipeline_dir", PipelineDir(run.rec.file)}}}};
    Json env = Json::object();
    const pipelines::ExpressionContext ctx{.data = run.context};
    for (const auto& [key, t] : run.plan->env) {
      auto rendered = pipelines::Render(t, ctx);
      env[key] = rendered ? *rendered : std::string();
    }
    run.context["env"] = std::move(env);
  }

  Json TasksContext(const LiveRun& run, const TaskPlan& plan) const {
    Json tasks = Json::object();
    if (!plan.reads_all_tasks) {
      for (const auto& id : plan.reads) {
        const auto it = run.by_task.find(id);
        if (it == run.by_task.end()) continue;
        for (const std::size_t idx : it->second) AddTaskContext(tasks, run.instances[idx]);
      }
      return tasks;
    }
    for (const auto& i : run.instances) AddTaskContext(tasks, i);
    return tasks;
  }

  pipelines::ExpressionContext Context(const LiveRun& run, const Instance& inst) const {
    const auto& plan = run.plan->tasks.at(inst.task->id);
    Json data = run.context;
    Json& matrix = data["matrix"] = Json::object();
    for (const auto& [k, v] : inst.matrix) matrix[k] = v;
    data["tasks"] = TasksContext(run, plan);
    data["run"]["attempt"] = inst.rec.attempt;
    return pipelines::ExpressionContext{.data = std::move(data),
                                        .run_cancelled = run.rec.cancel_requested};
  }

  // The run so far (but the asking task), for the evidence a registry action posts.
  static std::string RunSummaryJson(const LiveRun& run, const Instance& self) {
    Json tasks = Json::array();
    for (const auto& i : run.instances) {
      if (&i == &self) continue;
      tasks.push_back({{"id", i.rec.id},
                       {"state", TaskStateName(i.rec.state)},
                       {"detail", i.rec.detail},
                       {"exit_code", i.rec.exit_code},
                       {"outputs", i.rec.outputs},
                       {"log_path", i.rec.log_path}});
    }
    const Json summary = {{"id", run.rec.id}, {"pipeline", run.rec.pipeline}, {"tasks", tasks}};
    return summary.dump(-1, ' ', false, Json::error_handler_t::replace);
  }

  Result<JobSpec> MakeJob(const LiveRun& run, const Instance& inst) const {
    const PipelineSpec& spec = *run.plan->spec;
    const auto& plan = run.plan->tasks.at(inst.task->id);
    JobSpec job{.run_id = std::to_string(run.rec.id),
                .task_id = inst.rec.id,
                .attempt = inst.rec.attempt,
                .command = {"/bin/sh", "-c", inst.task->run},
                .timeout = inst.task->timeout.count() > 0 ? inst.task->timeout : spec.defaults.timeout,
                .resources = inst.task->resources,
                .event_json = run.rec.event_json};
    if (plan.needs_context && !plan.env.empty()) {
      const auto ctx = Context(run, inst);
      for (const auto& [key, t] : plan.env) {
        auto rendered = pipelines::Render(t, ctx);
        if (!rendered) {
          return Fail(ErrorCode::kInvalidArgument, "env." + key + ": " + rendered.error().message);
        }
        job.env[key] = std::move(*rendered);
      }
    } else {
      for (const auto& [key, t] : plan.env) {
        job.env[key] = t.Parts().empty() ? std::string() : t.Parts()[0].text;
      }
    }
    for (const auto& [k, v] : inst.matrix) job.env["MATRIX_" + k] = v;
    job.env["STAGEGATE_PIPELINE_DIR"] = run.context["run"].value("pipeline_dir", "");
    for (const auto& [name, value] : options_.secrets) job.redact.push_back(value);
    if (!inst.task->uses.empty()) {
      job.command.clear();
      job.action = inst.task->uses;
      const auto ctx = Context(run, inst);
      for (const auto& [key, t] : plan.with) {
        auto rendered = pipelines::Render(t, ctx);
        if (!rendered) {
          return Fail(ErrorCode::kInvalidArgument, "with." + key + ": " + rendered.error().message);
        }
        job.with[key] = std::move(*rendered);
      }
      if (IsRegistryAction(job.action)) {
        job.run_json = RunSummaryJson(run, inst);  // the evidence; only registry actions post it
      } else {
        // An ML action runs on a worker like a run: task: `stagegate action NAME --key value`
        // for each with: entry (a "true"/"false" value is a flag given or left out).
        job.command = {options_.action_binary, "action", job.action};
        for (const auto& [key, value] : options_.action_env) job.env[key] = value;
        for (const auto& [key, value] : job.with) {
          std::string flag = "--" + key;
          std::replace(flag.begin(), flag.end(), '_', '-');
          if (value == "false") continue;
          job.command.push_back(flag);
          if (value != "true") job.command.push_back(value);
        }
      }
    }
    return job;
  }

  static bool IsPending(const Instance& inst) {
    return inst.rec.attempt == 0 && inst.rec.state == TaskState::kPending;
  }

  static void MarkDirty(LiveRun& run, Instance& inst) {
    if (!inst.dirty) run.dirty_tasks.push_back(inst.idx);
    inst.dirty = true;
    run.dirty = true;
  }

  static void MarkChanged(LiveRun& run, Instance& inst) {
    MarkDirty(run, inst);
    if (!inst.changed) run.changed_tasks.push_back(inst.idx);
    inst.changed = true;
  }

  void Finish(LiveRun& run, Instance& inst, TaskState state, std::string detail) {
    const bool was_finished = IsTerminal(inst.rec.state);
    inst.rec.state = state;
    inst.rec.detail = std::move(detail);
    inst.rec.finished_ms = now_;
    inst.rec.retry_at_ms = 0;
    inst.rec.deadline_ms = 0;
    MarkChanged(run, inst);
    if (!was_finished) {
      --run.unfinished;
      run.active.erase(inst.idx);
      for (const std::size_t d : run.dependents[inst.idx]) {
        if (--run.open_needs[d] == 0) run.ready.push_back(d);
      }
      // A freed matrix slot lets instances held back by max_parallel try again.
      if (inst.task->matrix && inst.task->matrix->max_parallel > 0) {
        for (const std::size_t sibling : run.by_task[inst.task->id]) {
          if (IsPending(run.instances[sibling]) && run.open_needs[sibling] == 0) {
            run.ready.push_back(sibling);
          }
        }
      }
    }
    const bool failed = state == TaskState::kFailed || state == TaskState::kTimedOut;
    if (failed && inst.task->matrix && inst.task->matrix->fail_fast && !inst.task->continue_on_error) {
      for (const std::size_t sibling_idx : run.by_task[inst.task->id]) {
        Instance& sibling = run.instances[sibling_idx];
        if (&sibling == &inst || IsTerminal(sibling.rec.state)) continue;
        const std::string why = "cancelled: fail_fast after " + inst.rec.id + " failed";
        // Without an external id it is only queued for SubmitAll in this very step, which then
        // skips it.
        const bool started = sibling.rec.attempt > 0 && sibling.rec.retry_at_ms == 0 &&
                             !sibling.rec.external_id.empty();
        if (!started) {
          Finish(run, sibling, TaskState::kCancelled, why);
        } else if (Runner* r = RunnerFor(sibling); r != nullptr) {
          sibling.rec.detail = why;
          MarkDirty(run, sibling);
          (void)r->Cancel(sibling.rec.external_id);
        }
      }
    }
  }

  void ApplyUpdate(const Update& u) {
    const auto it = state_.runs.find(u.run_id);
    if (it == state_.runs.end()) return;
    LiveRun& run = it->second;
    Instance* inst = run.Find(u.task_id);
    if (inst == nullptr || inst->rec.attempt != u.attempt || IsTerminal(inst->rec.state) ||
        inst->rec.retry_at_ms > 0) {
      return;  // about an earlier attempt, or one already concluded
    }
    const JobUpdate& update = u.update;
    if (!update.external_id.empty()) inst->rec.external_id = update.external_id;
    if (!update.log_path.empty()) inst->rec.log_path = update.log_path;
    if (!update.artifacts_dir.empty()) inst->rec.artifacts_dir = update.artifacts_dir;
    const TaskState state = FromJob(update.state);
    if (!IsTerminal(state)) {
      if (state != inst->rec.state || !update.external_id.empty()) {
        inst->rec.state = state;
        MarkChanged(run, *inst);
      }
      return;
    }
    inst->rec.exit_code = update.exit_code;
    for (const auto& [k, v] : update.outputs) inst->rec.outputs[k] = v;
    const bool lost = update.state == JobState::kLost;
    if (lost) ++inst->rec.lost;
    const PipelineSpec& spec = *run.plan->spec;
    const int retries = inst->task->retries >= 0 ? inst->task->retries : spec.defaults.retries;
    // One attempt lost to a restart is not the task's fault: it does not use up a retry.
    const int budget = retries + std::min(inst->rec.lost, 1);
    const bool retryable = state == TaskState::kFailed || state == TaskState::kTimedOut;
    std::string detail = update.detail;
    if (detail.empty() && update.exit_code >= 0 && state != TaskState::kSucceeded) {
      detail = "exit code " + std::to_string(update.exit_code);
    }
    // A live attempt has a detail only when the scheduler cancelled it (fail_fast): keep that
    // reason rather than the runner's bare "cancelled".
    if (state == TaskState::kCancelled && !inst->rec.detail.empty()) detail = inst->rec.detail;
    if (retryable && inst->rec.attempt <= budget && !run.rec.cancel_requested) {
      const auto base = inst->task->retry_backoff.count() > 0 ? inst->task->retry_backoff
                                                              : spec.defaults.retry_backoff;
      const std::int64_t delay =
          lost ? 0 : base.count() * (std::int64_t{1} << std::min(inst->rec.attempt - 1, 10));
      inst->rec.retry_at_ms = now_ + delay;
      inst->rec.deadline_ms = 0;
      inst->rec.state = TaskState::kRunning;
      inst->rec.detail = "attempt " + std::to_string(inst->rec.attempt) + " " +
                         (lost ? "lost" : TaskStateName(state)) + (detail.empty() ? "" : ": " + detail) +
                         "; retrying in " + SecondsText(delay);
      MarkChanged(run, *inst);
      return;
    }
    Finish(run, *inst, state, std::move(detail));
  }

  void CancelRun(LiveRun& run, const std::string& why) {
    if (IsFinished(run.rec.status)) return;
    run.rec.cancel_requested = true;
    if (run.rec.detail.empty()) run.rec.detail = why;
    run.dirty = true;
    if (run.rec.status == RunStatus::kQueued) {
      run.rec.status = RunStatus::kCancelled;
      run.rec.finished_ms = now_;
      run.finished_now = true;
      return;
    }
    for (auto& inst : run.instances) {
      if (IsTerminal(inst.rec.state) || inst.rec.attempt == 0) continue;
      if (inst.rec.retry_at_ms > 0) {
        Finish(run, inst, TaskState::kCancelled, "run cancelled before the retry");
      } else if (Runner* r = RunnerFor(inst); r != nullptr && !inst.rec.external_id.empty()) {
        (void)r->Cancel(inst.rec.external_id);
      }
    }
  }

  void Dispatch(const CatalogPtr& catalog) {
    if (!options_.events || !catalog) return;
    for (;;) {
      EventFilter filter;
      filter.after_id = state_.cursor;
      filter.limit = kDispatchBatch;
      auto events = options_.events->List(filter);
      if (!events) {
        spdlog::warn("dispatch_failed error=\"{}\"", events.error().message);
        return;
      }
      if (events->empty()) break;
      std::vector<RunRecord> runs;
      for (const auto& event : *events) {
        std::optional<Json> context;  // built only for an event that starts something
        for (const auto& entry : catalog->entries) {
          if (!entry.spec || !entry.spec->on.registry) continue;
          if (!pipelines::MatchesRegistryTrigger(*entry.spec->on.registry, event)) continue;
          if (!context) context = pipelines::EventContextJson(event);
          runs.push_back(NewRun(entry, RunTrigger{"registry", "event:" + std::to_string(event.id), event.id},
                                *context, DefaultInputs(*entry.spec)));
        }
      }
      const std::int64_t last = events->back().id;
      if (runs.empty()) {
        // Events that start nothing only move the cursor; it is stored with the next runs
        // or within a second, so a stream of unmatched deliveries costs no write each.
        // Re-reading them after a restart is harmless: a match is idempotent.
        state_.cursor = last;
        state_.cursor_dirty = true;
      } else {
        if (auto stored = options_.runs->Dispatch(runs, last); !stored) {
          spdlog::warn("dispatch_failed error=\"{}\"", stored.error().message);
          return;
        }
        for (const auto& r : runs) {
          spdlog::info("run_created pipeline={} trigger={}", r.pipeline, r.trigger.key);
        }
        state_.cursor = last;
        state_.cursor_dirty = false;
        state_.cursor_stored_ms = now_;
        state_.need_load = true;
      }
      if (static_cast<int>(events->size()) < kDispatchBatch) break;
    }
    if (state_.cursor_dirty && now_ - state_.cursor_stored_ms >= 1000) {
      if (options_.runs->Dispatch({}, state_.cursor)) {
        state_.cursor_dirty = false;
        state_.cursor_stored_ms = now_;
      }
    }
  }

  static Json DefaultInputs(const PipelineSpec& spec) {
    Json inputs = Json::object();
    for (const auto& input : spec.on.inputs) {
      if (input.default_value) inputs[input.name] = TypedInput(input, *input.default_value);
    }
    return inputs;
  }

  RunRecord NewRun(const CatalogEntry& entry, RunTrigger trigger, Json event, Json inputs) const {
    return MakeRunRecord(entry, std::move(trigger), std::move(event), std::move(inputs), now_);
  }

  static RunRecord MakeRunRecord(const CatalogEntry& entry, RunTrigger trigger, Json event,
                                 Json inputs, std::int64_t now) {
    RunRecord r;
    r.pipeline = entry.spec->name;
    r.revision = entry.spec->revision;
    r.file = entry.file;
    r.spec_text = entry.text;
    r.trigger = std::move(trigger);
    r.created_ms = now;
    if (event.is_object() && event.contains("model") && event["model"].is_object()) {
      r.model = event["model"].value("name", "");
    }
    if (entry.spec->concurrency) {
      auto t = pipelines::ParseTemplate(entry.spec->concurrency->group);
      Result<std::string> group = t ? pipelines::Render(*t, pipelines::ExpressionContext{
                                                             .data = Json{{"event", event},
                                                                          {"inputs", inputs},
                                                                          {"run", {{"pipeline", r.pipeline}}}}})
                                    : Result<std::string>(tl::unexpected(t.error()));
      if (group) {
        r.concurrency_group = *group;
      } else {
        r.status = RunStatus::kFailed;
        r.finished_ms = now;
        r.detail = "concurrency.group: " + group.error().message;
      }
    }
    r.event_json = event.dump(-1, ' ', false, Json::error_handler_t::replace);
    r.inputs_json = inputs.dump(-1, ' ', false, Json::error_handler_t::replace);
    return r;
  }

  // Fires every schedule whose slot has come; returns the earliest next slot (ms) or 0.
  std::int64_t Schedules(const CatalogPtr& catalog) {
    if (!catalog) return 0;
    std::int64_t next_ms = 0;
    const std::int64_t now_s = now_ / 1000;
    for (const auto& entry : catalog->entries) {
      if (!entry.spec) continue;
      for (const auto& text : entry.spec->on.schedules) {
        auto cron = pipelines::ParseCron(text);
        if (!cron) continue;
        const auto key = std::make_pair(entry.spec->name, text);
        auto slot_it = state_.schedule_slots.find(key);
        if (slot_it == state_.schedule_slots.end()) {
          auto stored = options_.runs->ScheduleSlot(key.first, key.second);
          if (!stored) continue;
          std::int64_t slot = stored->value_or(0);
          if (!*stored) {
            // A new schedule starts from now: it does not fire for slots before it existed.
            slot = now_s - now_s % 60;
            if (auto r = options_.runs->FireSchedule(key.first, key.second, slot, std::nullopt); !r) continue;
          }
          slot_it = state_.schedule_slots.emplace(key, slot).first;
        }
        auto next = pipelines::NextCronFire(*cron, slot_it->second);
        if (next && *next <= now_s) {
          // Fire the latest slot that has come; earlier ones missed while stagegate was
          // down are reported on the run, not fired one by one.
          std::int64_t latest = *next;
          int missed = 0;
          for (int i = 0; i < 100'000; ++i) {
            auto after = pipelines::NextCronFire(*cron, latest);
            if (!after || *after > now_s) break;
            latest = *after;
            ++missed;
          }
          RunRecord run = NewRun(entry, RunTrigger{"schedule", "schedule:" + text + "@" + Iso(latest * 1000), 0},
                                 Json::object(), DefaultInputs(*entry.spec));
          if (missed > 0) {
            run.detail = std::to_string(missed) + " earlier slot" + (missed == 1 ? "" : "s") +
                         " of '" + text + "' passed while stagegate was not running; fired once for " +
                         Iso(latest * 1000);
            spdlog::warn("schedule_slots_missed pipeline={} cron=\"{}\" missed={}", key.first, text, missed);
          }
          if (auto r = options_.runs->FireSchedule(key.first, key.second, latest, run); !r) {
            spdlog::warn("schedule_failed pipeline={} error=\"{}\"", key.first, r.error().message);
            continue;
          }
          spdlog::info("run_created pipeline={} trigger=\"{}\"", run.pipeline, run.trigger.key);
          slot_it->second = latest;
          state_.need_load = true;
          next = pipelines::NextCronFire(*cron, latest);
        }
        if (next) {
          const std::int64_t at = *next * 1000;
          next_ms = next_ms == 0 ? at : std::min(next_ms, at);
        }
      }
    }
    return next_ms;
  }

  void LoadNew() {
    auto runs = options_.runs->LoadActive(state_.max_loaded_id);
    if (!runs) {
      spdlog::warn("load_runs_failed error=\"{}\"", runs.error().message);
      return;
    }
    for (auto& r : *runs) Load(std::move(r));
    state_.need_load = false;
  }

  void Admit() {
    for (auto& [id, run] : state_.runs) {
      if (run.rec.status != RunStatus::kQueued || run.finished_now) continue;
      if (run.rec.cancel_requested) {
        CancelRun(run, "cancelled before it started");
        continue;
      }
      const auto& concurrency = run.plan->spec->concurrency;
      if (concurrency && !run.rec.concurrency_group.empty()) {
        std::vector<LiveRun*> others;
        for (auto& [other_id, other] : state_.runs) {
          if (other_id != id && other.rec.concurrency_group == run.rec.concurrency_group &&
              !IsFinished(other.rec.status) && !other.finished_now &&
              (other.rec.status == RunStatus::kRunning || other_id < id)) {
            others.push_back(&other);
          }
        }
        if (!others.empty()) {
          const std::string holder = std::to_string(others.front()->rec.id);
          if (concurrency->policy == ConcurrencyPolicy::kSkip) {
            run.rec.status = RunStatus::kSkipped;
            run.rec.detail = "skipped: run " + holder + " holds concurrency group '" +
                             run.rec.concurrency_group + "' (policy skip)";
            run.rec.finished_ms = now_;
            run.finished_now = true;
            run.dirty = true;
            continue;
          }
          if (concurrency->policy == ConcurrencyPolicy::kCancelRunning) {
            for (LiveRun* other : others) {
              if (!other->rec.cancel_requested) {
                CancelRun(*other, "cancelled: superseded by run " + std::to_string(id) +
                                      " in concurrency group '" + run.rec.concurrency_group + "'");
              }
            }
          }
          continue;  // waits until the group is free
        }
      }
      run.rec.status = RunStatus::kRunning;
      run.rec.started_ms = now_;
      run.dirty = true;
      for (auto& inst : run.instances) MarkDirty(run, inst);
    }
  }

  std::map<std::string, TaskState> States(const LiveRun& run) const {
    std::map<std::string, TaskState> states;
    for (const auto& i : run.instances) {
      states[i.rec.id] = i.rec.retry_at_ms > 0 ? TaskState::kRunning : i.rec.state;
    }
    return states;
  }

  void StartTask(LiveRun& run, Instance& inst) {
    // A matrix's max_parallel holds back instances while enough siblings are active.
    if (inst.task->matrix && inst.task->matrix->max_parallel > 0) {
      // An instance waiting for its retry keeps its slot; it must not count against itself.
      int active = 0;
      for (const std::size_t sibling : run.by_task[inst.task->id]) {
        const Instance& s = run.instances[sibling];
        if (&s != &inst && s.rec.attempt > 0 && !IsTerminal(s.rec.state)) ++active;
      }
      if (active >= inst.task->matrix->max_parallel) return;
    }
    ++inst.rec.attempt;
    run.active.insert(inst.idx);
    inst.rec.retry_at_ms = 0;
    if (inst.rec.started_ms == 0) inst.rec.started_ms = now_;
    inst.rec.external_id.clear();
    inst.rec.outputs.clear();  // a task's outputs are those of its last attempt
    if (!inst.task->uses.empty() && !IsRegistryAction(inst.task->uses)) {
      const ActionInfo* action = FindAction(inst.task->uses);
      if (action == nullptr || !action->available || options_.action_binary.empty()) {
        Finish(run, inst, TaskState::kFailed,
               "built-in action '" + inst.task->uses + "' is not available in this version yet");
        return;
      }
    }
    Runner* runner = RunnerFor(inst);
    if (runner == nullptr && IsRegistryAction(inst.task->uses)) {
      Finish(run, inst, TaskState::kFailed,
             "'" + inst.task->uses + "' needs a registry: configure one under registries: in the "
             "server's config");
      return;
    }
    if (runner == nullptr) {
      Finish(run, inst, TaskState::kFailed,
             "runner '" + inst.rec.runner + "' is not configured on this server; use runner: local "
             "or configure it");
      return;
    }
    auto job = MakeJob(run, inst);
    if (!job) {
      Finish(run, inst, TaskState::kFailed, job.error().message);
      return;
    }
    inst.rec.state = TaskState::kQueued;
    inst.rec.detail.clear();
    inst.rec.deadline_ms =
        job->timeout.count() > 0 ? now_ + job->timeout.count() + options_.timeout_grace_ms : 0;
    MarkChanged(run, inst);
    state_.submits.push_back(PendingSubmit{run.rec.id, inst.rec.id, std::move(*job), runner});
  }

  // True when a task upstream of the needs of `idx` failed or timed out without
  // continue_on_error. Walked only for tasks with an if:.
  static bool AncestorFailed(const LiveRun& run, std::size_t idx) {
    std::vector<std::size_t> todo;
    std::set<std::size_t> seen;
    auto push_needs = [&](std::size_t of) {
      for (const auto& need : run.instances[of].task->needs) {
        const auto it = run.by_task.find(need);
        if (it == run.by_task.end()) continue;
        for (const std::size_t n : it->second) {
          if (seen.insert(n).second) todo.push_back(n);
        }
      }
    };
    push_needs(idx);
    std::vector<std::size_t> direct(todo.begin(), todo.end());
    for (const std::size_t d : direct) push_needs(d);  // start above the direct needs
    todo.erase(todo.begin(), todo.begin() + static_cast<std::ptrdiff_t>(direct.size()));
    while (!todo.empty()) {
      const std::size_t n = todo.back();
      todo.pop_back();
      const Instance& a = run.instances[n];
      if ((a.rec.state == TaskState::kFailed || a.rec.state == TaskState::kTimedOut) &&
          !a.task->continue_on_error) {
        return true;
      }
      push_needs(n);
    }
    return false;
  }

  Result<bool> EvaluateIf(LiveRun& run, const DagTask& task, const std::vector<TaskState>& needs) {
    Instance* inst = run.Find(task.id);
    const auto& plan = run.plan->tasks.at(inst->task->id);
    auto ctx = Context(run, *inst);
    for (const auto s : needs) ctx.needs_statuses.emplace_back(TaskStateName(s));
    ctx.ancestor_failed = AncestorFailed(run, inst->idx);
    return plan.condition->Evaluate(ctx);
  }

  // The state a need shows the tasks after it: a failure it tolerates looks like success.
  static TaskState Effective(const Instance& inst) {
    const TaskState st = inst.rec.retry_at_ms > 0 ? TaskState::kRunning : inst.rec.state;
    if ((st == TaskState::kFailed || st == TaskState::kTimedOut) && inst.task->continue_on_error) {
      return TaskState::kSucceeded;
    }
    return st;
  }

  // Decides the ready instances: start, skip or fail them. Only the instances whose needs
  // just finished are looked at, so a step costs what changed, not the size of the run.
  void DecideReady(LiveRun& run) {
    for (int guard = 0; guard < 1'000'000 && !run.ready.empty(); ++guard) {
      std::vector<std::size_t> candidates = std::move(run.ready);
      run.ready.clear();
      std::sort(candidates.begin(), candidates.end());
      candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
      std::vector<DagTask> subset;
      std::map<std::string, TaskState> states;
      for (const std::size_t idx : candidates) {
        const Instance& inst = run.instances[idx];
        if (!IsPending(inst) || run.open_needs[idx] != 0) continue;
        subset.push_back(run.dag[idx]);
        states[inst.rec.id] = TaskState::kPending;
        for (const auto& need : run.dag[idx].needs) states[need] = Effective(*run.Find(need));
      }
      if (subset.empty()) break;
      const auto step = NextSteps(subset, states, run.rec.cancel_requested,
                                  [&](const DagTask& task, const std::vector<TaskState>& needs) {
                                    return EvaluateIf(run, task, needs);
                                  });
      for (const auto& id : step.skip) Finish(run, *run.Find(id), TaskState::kSkipped, "");
      for (const auto& [id, why] : step.fail) Finish(run, *run.Find(id), TaskState::kFailed, "if: " + why);
      for (const auto& id : step.start) StartTask(run, *run.Find(id));
    }
  }

  void Advance(LiveRun& run) {
    if (run.rec.status != RunStatus::kRunning || run.finished_now) return;
    const std::vector<std::size_t> active(run.active.begin(), run.active.end());
    for (const std::size_t idx : active) {
      Instance& inst = run.instances[idx];
      if (inst.rec.retry_at_ms > 0 && inst.rec.retry_at_ms <= now_ && !IsTerminal(inst.rec.state)) {
        if (run.rec.cancel_requested) {
          Finish(run, inst, TaskState::kCancelled, "run cancelled before the retry");
        } else {
          StartTask(run, inst);
        }
      } else if (inst.rec.deadline_ms > 0 && inst.rec.deadline_ms <= now_ &&
                 !IsTerminal(inst.rec.state) && inst.rec.retry_at_ms == 0) {
        if (Runner* r = RunnerFor(inst); r != nullptr && !inst.rec.external_id.empty()) {
          (void)r->Cancel(inst.rec.external_id);
        }
        // Like a timeout the runner reports: retries apply.
        JobUpdate timed_out;
        timed_out.state = JobState::kTimedOut;
        timed_out.detail = "the runner did not stop the task at its timeout; the scheduler cancelled it";
        ApplyUpdate(Update{run.rec.id, inst.rec.id, inst.rec.attempt, std::move(timed_out)});
      }
    }
    DecideReady(run);
    if (run.unfinished > 0) return;
    if (const auto outcome = Outcome(run.dag, States(run), run.rec.cancel_requested); outcome) {
      run.rec.status = *outcome == RunOutcome::kSucceeded ? RunStatus::kSucceeded
                       : *outcome == RunOutcome::kFailed  ? RunStatus::kFailed
                                                          : RunStatus::kCancelled;
      if (run.rec.status == RunStatus::kFailed) {
        std::string failed;
        for (const auto& i : run.instances) {
          if ((i.rec.state == TaskState::kFailed || i.rec.state == TaskState::kTimedOut ||
               i.rec.state == TaskState::kCancelled) && !i.task->continue_on_error) {
            failed += (failed.empty() ? "" : ", ") + i.rec.id;
          }
        }
        run.rec.detail = "failed: " + failed;
      }
      run.rec.finished_ms = now_;
      run.finished_now = true;
      run.dirty = true;
    }
  }

  Result<void> Save(bool flush = true) {
    std::vector<RunChange> changes;
    for (auto& [id, run] : state_.runs) {
      if (!run.dirty) continue;
      RunChange c{.run_id = id,
                  .status = run.rec.status,
                  .cancel_requested = run.rec.cancel_requested,
                  .detail = run.rec.detail,
                  .started_ms = run.rec.started_ms,
                  .finished_ms = run.rec.finished_ms};
      c.tasks.reserve(run.dirty_tasks.size());
      for (const std::size_t idx : run.dirty_tasks) c.tasks.push_back(run.instances[idx].rec);
      changes.push_back(std::move(c));
    }
    if (changes.empty()) return {};
    auto saved = options_.runs->Save(changes, flush);
    if (!saved) return saved;
    for (auto& [id, run] : state_.runs) {
      if (!run.dirty) continue;
      run.dirty = false;
      for (const std::size_t idx : run.dirty_tasks) run.instances[idx].dirty = false;
      run.dirty_tasks.clear();
    }
    return {};
  }

  void Notify() {
    for (auto it = state_.runs.begin(); it != state_.runs.end();) {
      LiveRun& run = it->second;
      for (const std::size_t idx : run.changed_tasks) {
        Instance& inst = run.instances[idx];
        inst.changed = false;
        if (options_.on_task_change) options_.on_task_change(run.rec, inst.rec);
      }
      run.changed_tasks.clear();
      if (run.finished_now) {
        spdlog::info("run_finished id={} pipeline={} status={}", run.rec.id, run.rec.pipeline,
                     RunStatusName(run.rec.status));
        if (options_.on_run_finished) {
          RunRecord done = run.rec;
          for (const auto& inst : run.instances) done.tasks.push_back(inst.rec);
          options_.on_run_finished(done);
        }
        it = state_.runs.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Submits after the queued state is durable, so that a crash never leaves a process
  // the store does not know about as "pending".
  bool SubmitAll() {
    auto submits = std::move(state_.submits);
    state_.submits.clear();
    bool failed_any = false;
    for (auto& s : submits) {
      auto run_it = state_.runs.find(s.run_id);
      if (run_it == state_.runs.end()) continue;
      Instance* inst = run_it->second.Find(s.task_id);
      const int attempt = s.job.attempt;
      // An earlier submit of this batch may have failed and ended this task (fail_fast).
      if (inst == nullptr || inst->rec.attempt != attempt || IsTerminal(inst->rec.state)) continue;
      auto id = s.runner->Submit(std::move(s.job), Callback(s.run_id, s.task_id, attempt));
      if (!id) {
        // A job that cannot start has failed like any other: retries and fail_fast apply.
        JobUpdate failed;
        failed.state = JobState::kFailed;
        failed.detail = "cannot start: " + id.error().message;
        ApplyUpdate(Update{s.run_id, s.task_id, attempt, std::move(failed)});
        failed_any = true;
        continue;
      }
      if (inst->rec.external_id.empty()) inst->rec.external_id = *id;
      MarkDirty(run_it->second, *inst);
    }
    return failed_any;
  }

  std::int64_t NextTimer(std::int64_t schedule_ms) const {
    std::int64_t next = schedule_ms;
    auto consider = [&](std::int64_t t) {
      if (t > 0) next = next == 0 ? t : std::min(next, t);
    };
    for (const auto& [id, run] : state_.runs) {
      for (const std::size_t idx : run.active) {
        consider(run.instances[idx].rec.retry_at_ms);
        consider(run.instances[idx].rec.deadline_ms);
      }
    }
    return next;
  }

  std::int64_t Run(std::vector<Update> updates, std::vector<std::int64_t> cancels, bool wake,
                   const CatalogPtr& catalog) {
    for (const auto& u : updates) ApplyUpdate(u);
    if (!cancels.empty()) state_.need_load = true;
    if (wake) state_.dispatch_pending = true;
    if (now_ - state_.last_poll_ms >= options_.poll_ms) {
      // The safety net: read the event log and the run table even without a wake-up.
      state_.last_poll_ms = now_;
      state_.dispatch_pending = true;
      state_.need_load = true;
    }
    // Under a stream of deliveries, dispatch in batches at most every dispatch_interval_ms
    // rather than once per delivery.
    std::int64_t dispatch_due = 0;
    if (state_.dispatch_pending) {
      if (now_ - state_.last_dispatch_ms >= options_.dispatch_interval_ms) {
        state_.dispatch_pending = false;
        state_.last_dispatch_ms = now_;
        Dispatch(catalog);
      } else {
        dispatch_due = state_.last_dispatch_ms + options_.dispatch_interval_ms;
      }
    }
    const std::int64_t schedule_ms = Schedules(catalog);
    if (state_.need_load) LoadNew();
    for (const auto id : cancels) {
      auto it = state_.runs.find(id);
      if (it != state_.runs.end()) CancelRun(it->second, "cancelled through the API");
    }
    Admit();
    for (auto& [id, run] : state_.runs) Advance(run);
    // A run that finished just now frees its concurrency group: admit the runs waiting for it
    // in this step rather than a poll interval later.
    if (std::any_of(state_.runs.begin(), state_.runs.end(),
                    [](const auto& entry) { return entry.second.finished_now; })) {
      Admit();
      for (auto& [id, run] : state_.runs) Advance(run);
    }
    if (auto saved = Save(); !saved) {
      spdlog::error("run_store_write_failed error=\"{}\"", saved.error().message);
      // Nothing was submitted; the same work is retried on the next step.
      state_.submits.clear();
      return now_ + 1000;
    }
    if (!state_.submits.empty()) {
      // The ids the runners return are stored without an fsync: a killed process keeps
      // them, and after a power loss Reattach resolves the attempt through its runner (the
      // local runner's pid file). A submit that failed changed a task's state: flushed.
      const bool again = SubmitAll();
      if (auto saved = Save(/*flush=*/again); !saved) {
        spdlog::error("run_store_write_failed error=\"{}\"", saved.error().message);
      }
      if (again) {
        std::lock_guard lock(state_.inbox->mutex);
        state_.inbox->wake = true;
      }
    }
    Notify();
    std::size_t active = 0;
    for (const auto& [id, run] : state_.runs) active += IsFinished(run.rec.status) ? 0 : 1;
    state_.active = active;
    const std::int64_t next = NextTimer(schedule_ms);
    return dispatch_due > 0 && (next == 0 || dispatch_due < next) ? dispatch_due : next;
  }

  const SchedulerOptions& options_;
  Scheduler::State& state_;
  std::int64_t now_;
};

}  // namespace

Result<void> Scheduler::Recover() {
  auto cursor = options_.runs->DispatchCursor();
  if (!cursor) return tl::unexpected(cursor.error());
  state_->cursor = *cursor;
  auto runs = options_.runs->LoadActive(0);
  if (!runs) return tl::unexpected(runs.error());
  Stepper stepper(options_, *state_, options_.now_ms());
  std::size_t resumed = 0;
  for (auto& r : *runs) {
    const std::int64_t id = r.id;
    stepper.Load(std::move(r));
    LiveRun& run = state_->runs.at(id);
    stepper.Reattach(run);
    // A cancel stored just before the restart may never have reached the runners.
    if (run.rec.cancel_requested && run.rec.status == RunStatus::kRunning) {
      stepper.CancelRun(run, "cancelled through the API");
    }
    ++resumed;
  }
  state_->need_load = false;
  if (resumed > 0) spdlog::info("runs_recovered count={}", resumed);
  return {};
}

std::int64_t Scheduler::Step() {
  std::vector<Update> updates;
  std::vector<std::int64_t> cancels;
  bool wake = false;
  {
    std::lock_guard lock(state_->inbox->mutex);
    updates.swap(state_->inbox->updates);
    cancels.swap(state_->inbox->cancels);
    wake = std::exchange(state_->inbox->wake, false);
    if (std::exchange(state_->inbox->new_runs, false)) state_->need_load = true;
  }
  Stepper stepper(options_, *state_, options_.now_ms());
  return stepper.Run(std::move(updates), std::move(cancels), wake, catalog());
}

void Scheduler::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    auto inbox = state_->inbox;
    for (;;) {
      const std::int64_t next = Step();
      std::unique_lock lock(inbox->mutex);
      if (inbox->stop) return;
      std::int64_t wait = options_.poll_ms;
      if (next > 0) wait = std::clamp<std::int64_t>(next - options_.now_ms(), 0, wait);
      inbox->cv.wait_for(lock, std::chrono::milliseconds(wait), [&] {
        return inbox->stop || inbox->wake || inbox->new_runs || !inbox->updates.empty() ||
               !inbox->cancels.empty();
      });
      if (inbox->stop) return;
    }
  });
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(state_->inbox->mutex);
    state_->inbox->stop = true;
  }
  state_->inbox->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------------
// RunService: called from API threads.

PipelineListing Scheduler::Pipelines() const {
  PipelineListing out;
  const CatalogPtr c = catalog();
  if (!c) return out;
  out.dir = c->dir;
  out.loaded_ms = c->loaded_ms;
  for (const auto& e : c->entries) {
    PipelineInfo info{.name = e.name, .file = e.file, .revision = e.revision,
                      .valid = e.spec != nullptr, .errors = e.errors};
    if (e.spec) {
      info.description = e.spec->description;
      if (e.spec->on.registry) info.triggers.push_back("registry");
      for (const auto& s : e.spec->on.schedules) info.triggers.push_back("schedule: " + s);
      if (e.spec->on.manual) info.triggers.push_back("manual");
      for (const auto& t : e.spec->tasks) info.tasks.push_back(t.id);
    }
    out.pipelines.push_back(std::move(info));
  }
  return out;
}

Result<PipelineListing> Scheduler::Reload() {
  auto loaded = LoadCatalog(options_.pipelines_dir, options_.now_ms());
  if (!loaded) return tl::unexpected(loaded.error());
  std::size_t invalid = 0;
  for (const auto& e : (*loaded)->entries) invalid += e.spec ? 0 : 1;
  spdlog::info("pipelines_loaded dir={} count={} invalid={}", options_.pipelines_dir,
               (*loaded)->entries.size(), invalid);
  SetCatalog(*loaded);
  return Pipelines();
}

namespace {

Result<Json> CheckInputs(const PipelineSpec& spec, const std::map<std::string, std::string>& given,
                         const std::string& how_to_pass) {
  Json inputs = Json::object();
  for (const auto& [key, value] : given) {
    const auto declared = std::find_if(spec.on.inputs.begin(), spec.on.inputs.end(),
                                       [&](const ManualInput& m) { return m.name == key; });
    if (declared == spec.on.inputs.end()) {
      std::string known;
      for (const auto& m : spec.on.inputs) known += (known.empty() ? "" : ", ") + m.name;
      return Fail(ErrorCode::kInvalidArgument,
                  "pipeline " + spec.name + " declares no input '" + key + "'" +
                      (known.empty() ? "; it takes no inputs" : "; its inputs are " + known));
    }
    if (declared->type == "number") {
      Json parsed = Json::parse(value, nullptr, false);
      if (parsed.is_discarded() || !parsed.is_number()) {
        return Fail(ErrorCode::kInvalidArgument,
                    "input '" + key + "' must be a number, e.g. 0.8; got '" + value + "'");
      }
      inputs[key] = parsed;
    } else if (declared->type == "boolean") {
      if (value != "true" && value != "false") {
        return Fail(ErrorCode::kInvalidArgument,
                    "input '" + key + "' must be true or false; got '" + value + "'");
      }
      inputs[key] = value == "true";
    } else if (declared->type == "choice") {
      if (std::find(declared->options.begin(), declared->options.end(), value) ==
          declared->options.end()) {
        std::string options;
        for (const auto& o : declared->options) options += (options.empty() ? "" : ", ") + o;
        return Fail(ErrorCode::kInvalidArgument,
                    "input '" + key + "' must be one of " + options + "; got '" + value + "'");
      }
      inputs[key] = value;
    } else {
      inputs[key] = value;
    }
  }
  for (const auto& m : spec.on.inputs) {
    if (inputs.contains(m.name)) continue;
    if (m.default_value) {
      inputs[m.name] = TypedInput(m, *m.default_value);
    } else if (m.required) {
      std::string hint = how_to_pass;
      for (std::size_t at = 0; (at = hint.find("NAME", at)) != std::string::npos; at += m.name.size()) {
        hint.replace(at, 4, m.name);
      }
      return Fail(ErrorCode::kInvalidArgument, "input '" + m.name + "' is required; " + hint);
    }
  }
  return inputs;
}

}  // namespace

Result<std::string> CheckManualInputs(const PipelineSpec& spec,
                                      const std::map<std::string, std::string>& given,
                                      const std::string& how_to_pass) {
  auto checked = CheckInputs(spec, given, how_to_pass);
  if (!checked) return tl::unexpected(checked.error());
  return checked->dump();
}

Result<std::int64_t> Scheduler::Trigger(const std::string& pipeline,
                                        const std::map<std::string, std::string>& inputs,
                                        std::int64_t event_id) {
  const CatalogPtr c = catalog();
  const CatalogEntry* entry = c ? c->Find(pipeline) : nullptr;
  if (entry == nullptr) return Fail(ErrorCode::kNotFound, "no pipeline named '" + pipeline + "'");
  if (!entry->spec) {
    return Fail(ErrorCode::kConflict, "pipeline '" + pipeline +
                                          "' is invalid and cannot run; GET /api/v1/pipelines shows "
                                          "its errors");
  }
  if (!entry->spec->on.manual) {
    return Fail(ErrorCode::kConflict, "pipeline '" + pipeline +
                                          "' has no manual trigger; add `on: {manual: {}}` to it");
  }
  auto checked = CheckInputs(*entry->spec, inputs, "pass it in \"inputs\": {\"NAME\": ...}");
  if (!checked) return tl::unexpected(checked.error());
  Json event = Json::object();
  if (event_id > 0) {
    if (!options_.events) return Fail(ErrorCode::kNotFound, "no event store");
    auto found = options_.events->Get(event_id);
    if (!found) return tl::unexpected(found.error());
    if (!*found) return Fail(ErrorCode::kNotFound, "no event with id " + std::to_string(event_id));
    event = pipelines::EventContextJson(**found);
  }
  const auto now = options_.now_ms();
  const std::string key = "manual:" + std::to_string(now) + "-" +
                          std::to_string(state_->manual_counter.fetch_add(1));
  RunRecord run = Stepper::MakeRunRecord(*entry, RunTrigger{"manual", key, event_id}, std::move(event),
                                         std::move(*checked), now);
  auto created = options_.runs->CreateRun(run);
  if (!created) return tl::unexpected(created.error());
  WakeForNewRun();
  return created->id;
}

Result<void> Scheduler::Cancel(std::int64_t run_id) {
  auto status = options_.runs->RequestCancel(run_id);
  if (!status) return tl::unexpected(status.error());
  if (IsFinished(*status)) {
    return Fail(ErrorCode::kConflict, "run " + std::to_string(run_id) + " has already finished (" +
                                          RunStatusName(*status) + "); there is nothing to cancel");
  }
  {
    std::lock_guard lock(state_->inbox->mutex);
    state_->inbox->cancels.push_back(run_id);
  }
  state_->inbox->cv.notify_all();
  return {};
}

Result<std::int64_t> Scheduler::Rerun(std::int64_t run_id) {
  auto original = options_.runs->Get(run_id);
  if (!original) return tl::unexpected(original.error());
  if (!*original) return Fail(ErrorCode::kNotFound, "no run with id " + std::to_string(run_id));
  const RunRecord& o = **original;
  if (o.status != RunStatus::kFailed && o.status != RunStatus::kCancelled) {
    return Fail(ErrorCode::kConflict,
                "run " + std::to_string(run_id) + " is " + RunStatusName(o.status) +
                    "; only a failed or cancelled run can be rerun from where it failed");
  }
  RunRecord run;
  run.pipeline = o.pipeline;
  run.revision = o.revision;
  run.file = o.file;
  run.spec_text = o.spec_text;
  const auto now = options_.now_ms();
  run.trigger = RunTrigger{"rerun", "rerun:" + std::to_string(run_id) + ":" + std::to_string(now) +
                                        "-" + std::to_string(state_->manual_counter.fetch_add(1)),
                           o.trigger.event_id};
  run.event_json = o.event_json;
  run.inputs_json = o.inputs_json;
  run.model = o.model;
  run.concurrency_group = o.concurrency_group;
  run.rerun_of = run_id;
  run.created_ms = now;
  for (const auto& t : o.tasks) {
    if (t.state != TaskState::kSucceeded) continue;
    TaskRecord kept = t;
    kept.reused = true;
    run.tasks.push_back(std::move(kept));
  }
  auto created = options_.runs->CreateRun(run);
  if (!created) return tl::unexpected(created.error());
  WakeForNewRun();
  return created->id;
}

}  // namespace stagegate::scheduler
