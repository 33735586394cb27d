// `stagegate run`: one pipeline, in the foreground, on the local runner, without a server.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "orchestrator/app/commands.hpp"
#include "orchestrator/core/units.hpp"
#include "orchestrator/registry/action_runner.hpp"
#include "orchestrator/scheduler/scheduler.hpp"
#include "orchestrator/store/sqlite_run_store.hpp"
#include "pipelines/pipeline_loader.hpp"
#include "runners/local/local_runner.hpp"

namespace stagegate::app {
namespace {

using Json = nlohmann::json;

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int /*signal*/) { g_interrupted.store(true); }

std::string Now() {
  const auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
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

// Shows the run as it goes and keeps the finished run. On a terminal: a task table redrawn in
// place (states, attempts, elapsed time, details). Otherwise: one line per state change, so
// that logs and pipes read well.
class Console final {
 public:
  Console() : tty_(::isatty(STDOUT_FILENO) == 1) {}

  void OnTask(const RunRecord& /*run*/, const TaskRecord& task) {
    std::lock_guard lock(mutex_);
    if (!rows_.contains(task.id)) order_.push_back(task.id);
    rows_[task.id] = task;
    if (tty_) {
      DrawLocked();
      return;
    }
    std::string extra = task.detail;
    if (task.attempt > 1 && task.state == TaskState::kQueued) extra = "attempt " + std::to_string(task.attempt);
    std::printf("%s  %-28s %-10s%s%s\n", Now().c_str(), task.id.c_str(), TaskStateName(task.state),
                extra.empty() ? "" : "  ", extra.c_str());
    std::fflush(stdout);
  }

  void OnFinished(const RunRecord& run) {
    {
      std::lock_guard lock(mutex_);
      finished_ = run;
    }
    done_.notify_all();
  }

  // Waits for the run to finish; a Ctrl-C cancels it (once) through `cancel`.
  RunRecord Wait(const std::function<void()>& cancel) {
    bool cancel_sent = false;
    std::unique_lock lock(mutex_);
    while (!finished_) {
      done_.wait_for(lock, std::chrono::milliseconds(100));
      if (tty_ && !finished_) DrawLocked();  // elapsed times move on
      if (g_interrupted.load() && !cancel_sent) {
        cancel_sent = true;
        std::printf("%s  interrupted: cancelling running tasks\n", Now().c_str());
        drawn_ = 0;  // the table continues below the message
        lock.unlock();
        cancel();
        lock.lock();
      }
    }
    return *finished_;
  }

 private:
  void DrawLocked() {
    if (drawn_ > 0) std::printf("\033[%zuA", drawn_);  // back to the table's first line
    const auto now = UnixMillisNow();
    for (const auto& id : order_) {
      const TaskRecord& t = rows_.at(id);
      const std::int64_t end = t.finished_ms > 0 ? t.finished_ms : now;
      const double seconds = t.started_ms > 0 ? static_cast<double>(end - t.started_ms) / 1000.0 : 0.0;
      std::string detail = t.detail.substr(0, 60);
      std::printf("\033[2K  %-28s %-10s %3d %7.1fs  %s\n", id.c_str(), TaskStateName(t.state),
                  t.attempt, seconds, detail.c_str());
    }
    drawn_ = order_.size();
    std::fflush(stdout);
  }

  const bool tty_;
  std::mutex mutex_;
  std::condition_variable done_;
  std::optional<RunRecord> finished_;
  std::vector<std::string> order_;
  std::map<std::string, TaskRecord> rows_;
  std::size_t drawn_ = 0;
};

int Summary(const RunRecord& run) {
  std::printf("\n%-28s %-10s %8s %9s %5s  %s\n", "TASK", "STATE", "ATTEMPTS", "DURATION", "EXIT",
              "LOG");
  for (const auto& t : run.tasks) {
    const double seconds =
        t.started_ms == 0 || t.finished_ms == 0 ? 0.0 : static_cast<double>(t.finished_ms - t.started_ms) / 1000.0;
    std::printf("%-28s %-10s %8d %8.1fs %5s  %s\n", t.id.c_str(), TaskStateName(t.state), t.attempt,
                seconds, t.exit_code < 0 ? "-" : std::to_string(t.exit_code).c_str(),
                t.log_path.c_str());
  }
  const double took = static_cast<double>(run.finished_ms - run.started_ms) / 1000.0;
  std::printf("\nrun %lld of %s %s in %.1fs%s%s\n", static_cast<long long>(run.id), run.pipeline.c_str(),
              RunStatusName(run.status), took, run.detail.empty() ? "" : ": ", run.detail.c_str());
  return run.status == RunStatus::kSucceeded ? 0 : 1;
}

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
  // Inputs are checked as the server checks those of POST /api/v1/pipelines/{name}/runs.
  std::map<std::string, std::string> given;
  for (const auto& kv : options.inputs) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "stagegate run: --input '%s' must be key=value\n", kv.c_str());
      return 2;
    }
    given[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto checked = scheduler::CheckManualInputs(*loaded.spec, given, "pass --input NAME=VALUE");
  if (!checked) {
    std::fprintf(stderr, "stagegate run: %s\n", checked.error().message.c_str());
    return 2;
  }
  const Json inputs = Json::parse(*checked);
  // An event as GET /api/v1/events/{id} shows it carries the payload as text; a run started
  // by the server sees it parsed, so this one does too.
  if (event.contains("payload") && event["payload"].is_string()) {
    Json parsed = Json::parse(event["payload"].get<std::string>(), nullptr, false);
    if (!parsed.is_discarded()) event["payload"] = std::move(parsed);
  }

  // The same scheduler as the server's, over a run store in the work directory, so a run
  // here behaves exactly as one started by an event.
  const std::string work_dir = std::filesystem::absolute(options.work_dir).string();
  std::error_code ec;
  std::filesystem::create_directories(work_dir, ec);
  auto store = store::SqliteRunStore::Open(work_dir + "/runs.db");
  if (!store) {
    std::fprintf(stderr, "stagegate run: %s\n", store.error().message.c_str());
    return 2;
  }
  auto runner = std::make_unique<runners::local::LocalRunner>(runners::local::LocalRunnerOptions{
      .root_dir = work_dir, .max_parallel = options.max_parallel});
  // No registry here: registry actions print the call they would make to their log.
  registry::RegistryActionRunner registry_actions(registry::ActionRunnerOptions{
      .log_dir = work_dir + "/registry-actions", .dry_run = true});
  std::stringstream text;
  text << std::ifstream(options.pipeline_file, std::ios::binary).rdbuf();
  const PipelineSpec& spec = *loaded.spec;
  RunRecord record;
  record.pipeline = spec.name;
  record.revision = spec.revision;
  record.file = options.pipeline_file;
  record.spec_text = text.str();
  record.trigger = RunTrigger{.kind = "manual",
                              .key = "cli:" + std::to_string(UnixMillisNow()) + "-" +
                                     std::to_string(::getpid()),
                              .event_id = event.value("id", std::int64_t{0})};
  record.event_json = event.dump();
  record.inputs_json = inputs.dump();
  if (event.contains("model") && event["model"].is_object()) {
    record.model = event["model"].value("name", "");
  }
  record.created_ms = UnixMillisNow();
  auto created = (*store)->CreateRun(record);
  if (!created) {
    std::fprintf(stderr, "stagegate run: %s\n", created.error().message.c_str());
    return 2;
  }

  // Runs left unfinished by an earlier `stagegate run` in this work directory (killed, say)
  // have nobody to drive them: close them, so that this command drives only its own run.
  if (auto stale = (*store)->LoadActive(0); stale) {
    std::vector<RunChange> closed;
    for (const auto& r : *stale) {
      if (r.id == created->id) continue;
      closed.push_back(RunChange{.run_id = r.id,
                                 .status = RunStatus::kFailed,
                                 .detail = "abandoned: the stagegate run command driving it ended",
                                 .started_ms = r.started_ms,
                                 .finished_ms = UnixMillisNow()});
    }
    (void)(*store)->Save(closed);
  }

  Console console;
  scheduler::Scheduler scheduler(scheduler::SchedulerOptions{
      .runs = *store,
      .runners = {{"local", runner.get()}, {scheduler::kRegistryRunner, &registry_actions}},
      .action_binary = std::filesystem::read_symlink("/proc/self/exe", ec).string(),
      .on_task_change = [&console](const RunRecord& r, const TaskRecord& t) { console.OnTask(r, t); },
      .on_run_finished = [&console](const RunRecord& r) { console.OnFinished(r); }});
  std::printf("run %lld of %s (revision %.12s), %zu task%s\n", static_cast<long long>(created->id),
              spec.name.c_str(), spec.revision.c_str(), spec.tasks.size(),
              spec.tasks.size() == 1 ? "" : "s");
  std::fflush(stdout);
  spdlog::set_level(spdlog::level::warn);  // the task lines below say what happens
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  if (auto recovered = scheduler.Recover(); !recovered) {
    std::fprintf(stderr, "stagegate run: %s\n", recovered.error().message.c_str());
    return 2;
  }
  scheduler.Start();
  scheduler.Wake();
  const std::int64_t run_id = created->id;
  const RunRecord finished = console.Wait([&] { (void)scheduler.Cancel(run_id); });
  scheduler.Stop();
  return Summary(finished);
}

}  // namespace stagegate::app
