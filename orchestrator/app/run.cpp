// `stagegate run`: one pipeline, in the foreground, on the local runner, without a server.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "orchestrator/app/commands.hpp"
#include "orchestrator/scheduler/dag.hpp"
#include "pipelines/condition.hpp"
#include "pipelines/expression.hpp"
#include "pipelines/pipeline_loader.hpp"
#include "pipelines/trigger.hpp"
#include "runners/local/local_runner.hpp"

namespace stagegate::app {
namespace {

using pipelines::Json;
using scheduler::TaskState;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int /*signal*/) { g_interrupted.store(true); }

struct Instance {
  std::string id;  // "test" or "test (3.10)"
  const TaskSpec* task = nullptr;
  std::optional<pipelines::Condition> condition;  // the task's if:, parsed once
  pipelines::MatrixCombination matrix;
  int attempt = 0;
  TaskState state = TaskState::kPending;
  std::string external_id;
  std::map<std::string, std::string> outputs;
  int exit_code = -1;
  std::string detail;
  std::string log_path;
  Clock::time_point started{};
  Clock::time_point finished{};
  std::optional<Clock::time_point> retry_at;
};

std::string Now() {
  const auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

void Print(const Instance& i, const std::string& extra = "") {
  std::printf("%s  %-28s %-10s%s%s\n", Now().c_str(), i.id.c_str(),
              scheduler::TaskStateName(i.state), extra.empty() ? "" : "  ", extra.c_str());
  std::fflush(stdout);
}

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

Result<Json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kInvalidArgument, "cannot read --event file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  Json doc = Json::parse(buffer.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                "--event file " + path + " must hold a JSON object (an event as GET "
                "/api/v1/events/{id} returns it)");
  }
  return doc;
}

class LocalRun final {
 public:
  LocalRun(const PipelineSpec& spec, Json event, Json inputs, std::string run_id,
           RunnerPtr runner)
      : spec_(spec), event_(std::move(event)), inputs_(std::move(inputs)),
        run_id_(std::move(run_id)), runner_(std::move(runner)) {
    for (const auto& task : spec_.tasks) {
      if (task.matrix) {
        for (auto& combo : pipelines::ExpandMatrix(*task.matrix)) {
          Instance i;
          i.id = pipelines::MatrixTaskName(task.id, *task.matrix, combo);
          i.task = &task;
          i.matrix = std::move(combo);
          instances_.push_back(std::move(i));
        }
      } else {
        instances_.push_back(Instance{.id = task.id, .task = &task});
      }
    }
    for (auto& i : instances_) {
      // The loader validated every if:, so parsing cannot fail here.
      if (!i.task->if_expression.empty()) {
        if (auto parsed = pipelines::ParseCondition(i.task->if_expression)) {
          i.condition = std::move(*parsed);
        }
      }
      scheduler::DagTask d{.id = i.id,
                           .has_if = i.condition.has_value(),
                           .if_uses_status_function = i.condition && i.condition->CallsStatusFunction(),
                           .continue_on_error = i.task->continue_on_error};
      for (const auto& need : i.task->needs) {
        for (const auto& other : instances_) {
          if (other.task->id == need) d.needs.push_back(other.id);
        }
      }
      dag_.push_back(std::move(d));
    }
  }

  int Execute() {
    const auto started = Clock::now();
    for (;;) {
      const bool cancelled = g_interrupted.load();
      if (cancelled && !cancel_sent_) {
        cancel_sent_ = true;
        std::printf("%s  interrupted: cancelling running tasks\n", Now().c_str());
        for (auto& i : instances_) {
          if (i.state == TaskState::kRunning || i.state == TaskState::kQueued) {
            (void)runner_->Cancel(i.external_id);
          }
        }
      }
      Drain();
      RetryDue(cancelled);
      auto states = States();
      const auto step = scheduler::NextSteps(
          dag_, states, cancelled,
          [&](const scheduler::DagTask& task, const std::vector<TaskState>& needs) {
            return EvaluateIf(Find(task.id), needs, cancelled);
          });
      for (const auto& id : step.skip) Finish(Find(id), TaskState::kSkipped, "");
      for (const auto& [id, why] : step.fail) Finish(Find(id), TaskState::kFailed, "if: " + why);
      for (const auto& id : step.start) Start(Find(id));
      if (!step.skip.empty() || !step.fail.empty() || !step.start.empty()) continue;
      if (const auto outcome = scheduler::Outcome(dag_, States(), cancelled)) {
        return Summary(*outcome, Clock::now() - started);
      }
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !updates_.empty(); });
    }
  }

 private:
  Instance& Find(const std::string& id) {
    return *std::find_if(instances_.begin(), instances_.end(),
                         [&](const Instance& i) { return i.id == id; });
  }

  std::map<std::string, TaskState> States() const {
    std::map<std::string, TaskState> states;
    for (const auto& i : instances_) {
      // A task waiting for its retry is still running as far as the DAG is concerned.
      states[i.id] = i.retry_at ? TaskState::kRunning : i.state;
    }
    return states;
  }

  Json Context(const Instance& self) const {
    Json tasks = Json::object();
    for (const auto& i : instances_) {
      Json& entry = tasks[i.task->id];
      if (!entry.contains("outputs")) entry["outputs"] = Json::object();
      for (const auto& [k, v] : i.outputs) entry["outputs"][k] = v;
      const std::string status = scheduler::TaskStateName(i.state);
      if (!entry.contains("status") || status == "failed") entry["status"] = status;
    }
    Json matrix = Json::object();
    for (const auto& [k, v] : self.matrix) matrix[k] = v;
    return Json{{"event", event_},
                {"inputs", inputs_},
                {"tasks", tasks},
                {"matrix", matrix},
                {"env", Json(spec_.env)},
                {"run", {{"id", run_id_}, {"pipeline", spec_.name}, {"revision", spec_.revision}}}};
  }

  Result<bool> EvaluateIf(const Instance& i, const std::vector<TaskState>& needs, bool cancelled) {
    pipelines::ExpressionContext ctx{.data = Context(i), .run_cancelled = cancelled};
    for (const auto s : needs) ctx.needs_statuses.emplace_back(scheduler::TaskStateName(s));
    return i.condition->Evaluate(ctx);
  }

  Result<std::map<std::string, std::string>> Environment(const Instance& i) {
    pipelines::ExpressionContext ctx{.data = Context(i)};
    std::map<std::string, std::string> env;
    for (const auto* source : {&spec_.env, &i.task->env}) {
      for (const auto& [key, text] : *source) {
        auto t = pipelines::ParseTemplate(text);
        if (!t) return tl::unexpected(t.error());
        auto rendered = pipelines::Render(*t, ctx);
        if (!rendered) {
          return Fail(ErrorCode::kInvalidArgument, "env." + key + ": " + rendered.error().message);
        }
        env[key] = *rendered;
      }
    }
    return env;
  }

  void Start(Instance& i) {
    ++i.attempt;
    i.retry_at.reset();
    if (i.attempt == 1) i.started = Clock::now();
    if (!i.task->uses.empty()) {
      Finish(i, TaskState::kFailed,
             "built-in action '" + i.task->uses + "' is not available in this version yet");
      return;
    }
    auto env = Environment(i);
    if (!env) {
      Finish(i, TaskState::kFailed, env.error().message);
      return;
    }
    JobSpec job{.run_id = run_id_,
                .task_id = i.id,
                .attempt = i.attempt,
                .command = {"/bin/sh", "-c", i.task->run},
                .env = std::move(*env),
                .timeout = i.task->timeout.count() > 0 ? i.task->timeout : spec_.defaults.timeout,
                .resources = i.task->resources,
                .event_json = event_.dump()};
    for (const auto& [k, v] : i.matrix) job.env["MATRIX_" + k] = v;
    const std::string id = i.id;
    auto submitted = runner_->Submit(std::move(job), [this, id](const JobUpdate& update) {
      {
        std::lock_guard lock(mutex_);
        updates_.emplace_back(id, update);
      }
      wake_.notify_one();
    });
    if (!submitted) {
      Finish(i, TaskState::kFailed, submitted.error().message);
      return;
    }
    i.external_id = *submitted;
    i.state = TaskState::kQueued;
    Print(i, i.attempt > 1 ? "attempt " + std::to_string(i.attempt) : "");
  }

  void Drain() {
    std::deque<std::pair<std::string, JobUpdate>> updates;
    {
      std::lock_guard lock(mutex_);
      updates.swap(updates_);
    }
    for (auto& [id, update] : updates) {
      Instance& i = Find(id);
      const TaskState state = FromJob(update.state);
      if (!scheduler::IsTerminal(state)) {
        if (state != i.state) {
          i.state = state;
          Print(i);
        }
        continue;
      }
      i.exit_code = update.exit_code;
      i.log_path = update.log_path;
      for (auto& [k, v] : update.outputs) i.outputs[k] = v;
      const int retries = i.task->retries >= 0 ? i.task->retries : spec_.defaults.retries;
      const bool retryable = state == TaskState::kFailed || state == TaskState::kTimedOut;
      if (retryable && i.attempt <= retries && !g_interrupted.load()) {
        const auto base = i.task->retry_backoff.count() > 0 ? i.task->retry_backoff
                                                            : spec_.defaults.retry_backoff;
        const auto delay = base * (1LL << std::min(i.attempt - 1, 10));
        i.retry_at = Clock::now() + delay;
        i.state = state;
        Print(i, update.detail + (update.detail.empty() ? "" : "; ") + "retrying in " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
                     " ms");
        continue;
      }
      Finish(i, state, update.detail);
    }
  }

  void RetryDue(bool cancelled) {
    for (auto& i : instances_) {
      if (!i.retry_at) continue;
      if (cancelled) {
        i.retry_at.reset();
        Finish(i, TaskState::kCancelled, "run cancelled before the retry");
      } else if (Clock::now() >= *i.retry_at) {
        Start(i);
      }
    }
  }

  void Finish(Instance& i, TaskState state, const std::string& detail) {
    i.state = state;
    i.detail = detail;
    i.finished = Clock::now();
    Print(i, detail);
  }

  int Summary(scheduler::RunOutcome outcome, Clock::duration took) {
    std::printf("\n%-28s %-10s %8s %9s %5s  %s\n", "TASK", "STATE", "ATTEMPTS", "DURATION", "EXIT",
                "LOG");
    for (const auto& i : instances_) {
      const double seconds =
          i.attempt == 0 ? 0.0 : std::chrono::duration<double>(i.finished - i.started).count();
      std::printf("%-28s %-10s %8d %8.1fs %5s  %s\n", i.id.c_str(), scheduler::TaskStateName(i.state),
                  i.attempt, seconds, i.exit_code < 0 ? "-" : std::to_string(i.exit_code).c_str(),
                  i.log_path.c_str());
    }
    const char* verdict = outcome == scheduler::RunOutcome::kSucceeded ? "succeeded"
                          : outcome == scheduler::RunOutcome::kFailed  ? "failed"
                                                                       : "cancelled";
    std::printf("\nrun %s of %s %s in %.1fs\n", run_id_.c_str(), spec_.name.c_str(), verdict,
                std::chrono::duration<double>(took).count());
    return outcome == scheduler::RunOutcome::kSucceeded ? 0 : 1;
  }

  const PipelineSpec& spec_;
  Json event_;
  Json inputs_;
  std::string run_id_;
  RunnerPtr runner_;
  std::vector<Instance> instances_;
  std::vector<scheduler::DagTask> dag_;
  bool cancel_sent_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, JobUpdate>> updates_;
};

}  // namespace

int RunPipeline(const RunOptions& options) {
  const auto loaded = pipelines::LoadPipelineFile(options.pipeline_file);
  if (!loaded.spec) {
    for (const auto& d : loaded.errors) std::fprintf(stderr, "%s\n", d.ToString().c_str());
    return 1;
  }
  Json event = Json::object();
  if (!options.event_file.empty()) {
    auto read = ReadJsonFile(options.event_file);
    if (!read) {
      std::fprintf(stderr, "stagegate run: %s\n", read.error().message.c_str());
      return 2;
    }
    event = std::move(*read);
  }
  Json inputs = Json::object();
  for (const auto& input : loaded.spec->on.inputs) {
    if (input.default_value) inputs[input.name] = *input.default_value;
  }
  for (const auto& kv : options.inputs) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "stagegate run: --input '%s' must be key=value\n", kv.c_str());
      return 2;
    }
    const std::string key = kv.substr(0, eq);
    const auto& declared = loaded.spec->on.inputs;
    if (!declared.empty() && std::none_of(declared.begin(), declared.end(),
                                          [&](const ManualInput& m) { return m.name == key; })) {
      std::fprintf(stderr, "stagegate run: the pipeline declares no input '%s'\n", key.c_str());
      return 2;
    }
    inputs[key] = kv.substr(eq + 1);
  }
  for (const auto& input : loaded.spec->on.inputs) {
    if (input.required && !inputs.contains(input.name)) {
      std::fprintf(stderr, "stagegate run: input '%s' is required; pass --input %s=VALUE\n",
                   input.name.c_str(), input.name.c_str());
      return 2;
    }
  }

  std::random_device device;
  char run_id[32];
  std::snprintf(run_id, sizeof run_id, "local-%lld-%04x", static_cast<long long>(std::time(nullptr)),
                device() & 0xFFFFU);
  auto runner = std::make_unique<runners::local::LocalRunner>(runners::local::LocalRunnerOptions{
      // Absolute, because each job runs in its own work directory.
      .root_dir = std::filesystem::absolute(options.work_dir).string(),
      .max_parallel = options.max_parallel});
  std::printf("run %s of %s (revision %.12s), %zu task%s\n", run_id, loaded.spec->name.c_str(),
              loaded.spec->revision.c_str(), loaded.spec->tasks.size(),
              loaded.spec->tasks.size() == 1 ? "" : "s");
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  LocalRun run(*loaded.spec, std::move(event), std::move(inputs), run_id, std::move(runner));
  return run.Execute();
}

}  // namespace stagegate::app
