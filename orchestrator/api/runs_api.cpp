#include "orchestrator/api/runs_api.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>

#include "orchestrator/api/api_util.hpp"
#include "orchestrator/core/headers.hpp"
#include "orchestrator/core/run_blocking.hpp"
#include "orchestrator/core/units.hpp"

namespace stagegate::api {
namespace {

using nlohmann::json;
using server::HttpResponse;
using server::JsonError;

constexpr std::string_view kRunsPath = "/api/v1/runs";
constexpr std::uint64_t kMaxLogBytes = 16ULL << 20;  // a whole-log answer is capped at this
constexpr std::size_t kMaxLogPiece = 64 * 1024;
constexpr auto kFollowPoll = std::chrono::milliseconds(200);



json ArtifactsJson(const std::string& dir) {
  json files = json::array();
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) return files;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    files.push_back({{"path", std::filesystem::relative(it->path(), dir, ec).string()},
                     {"bytes", it->file_size(ec)}});
    if (files.size() >= 1000) break;
  }
  return files;
}

json TaskJson(std::int64_t run_id, const TaskRecord& t, bool with_artifacts) {
  json out = {{"id", t.id},
              {"task", t.task},
              {"state", TaskStateName(t.state)},
              {"attempt", t.attempt},
              {"runner", t.runner},
              {"external_id", t.external_id.empty() ? json(nullptr) : json(t.external_id)},
              {"exit_code", t.exit_code < 0 ? json(nullptr) : json(t.exit_code)},
              {"detail", t.detail.empty() ? json(nullptr) : json(t.detail)},
              {"outputs", t.outputs},
              {"started_at", TimeOrNull(t.started_ms)},
              {"finished_at", TimeOrNull(t.finished_ms)},
              {"duration_ms", t.finished_ms > 0 && t.started_ms > 0 ? json(t.finished_ms - t.started_ms)
                                                                   : json(nullptr)},
              {"retry_at", TimeOrNull(t.retry_at_ms)},
              {"lost_attempts", t.lost},
              {"reused", t.reused},
              {"logs", t.log_path.empty() ? json(nullptr)
                                          : json(std::string(kRunsPath) + "/" + std::to_string(run_id) +
                                                 "/tasks/" + PercentEncode(t.id) + "/logs")}};
  if (with_artifacts) {
    out["artifacts"] = {{"dir", t.artifacts_dir.empty() ? json(nullptr) : json(t.artifacts_dir)},
                        {"files", ArtifactsJson(t.artifacts_dir)}};
  }
  return out;
}

json RunJson(const RunRecord& r, bool detail) {
  json out = {{"id", r.id},
              {"pipeline", r.pipeline},
              {"revision", r.revision},
              {"status", RunStatusName(r.status)},
              {"trigger", {{"kind", r.trigger.kind}, {"key", r.trigger.key}}},
              {"event_id", r.trigger.event_id == 0 ? json(nullptr) : json(r.trigger.event_id)},
              {"model", r.model.empty() ? json(nullptr) : json(r.model)},
              {"concurrency_group", r.concurrency_group.empty() ? json(nullptr) : json(r.concurrency_group)},
              {"cancel_requested", r.cancel_requested},
              {"rerun_of", r.rerun_of == 0 ? json(nullptr) : json(r.rerun_of)},
              {"detail", r.detail.empty() ? json(nullptr) : json(r.detail)},
              {"created_at", TimeOrNull(r.created_ms)},
              {"started_at", TimeOrNull(r.started_ms)},
              {"finished_at", TimeOrNull(r.finished_ms)},
              {"duration_ms", r.finished_ms > 0 && r.started_ms > 0 ? json(r.finished_ms - r.started_ms)
                                                                   : json(nullptr)}};
  if (detail) {
    out["file"] = r.file;
    json inputs = json::parse(r.inputs_json, nullptr, false);
    out["inputs"] = inputs.is_discarded() ? json::object() : inputs;
    json tasks = json::array();
    for (const auto& t : r.tasks) tasks.push_back(TaskJson(r.id, t, true));
    out["tasks"] = tasks;
  }
  return out;
}

json ListingJson(const PipelineListing& listing) {
  json items = json::array();
  for (const auto& p : listing.pipelines) {
    items.push_back({{"name", p.name},
                     {"file", p.file},
                     {"revision", p.revision.empty() ? json(nullptr) : json(p.revision)},
                     {"state", p.valid ? "valid" : "invalid"},
                     {"errors", p.errors},
                     {"description", p.description.empty() ? json(nullptr) : json(p.description)},
                     {"triggers", p.triggers},
                     {"tasks", p.tasks}});
  }
  return {{"dir", listing.dir}, {"loaded_at", TimeOrNull(listing.loaded_ms)}, {"pipelines", items}};
}

// Reads up to `max` bytes of `path` from `offset`; empty when there is nothing new.
std::string ReadFrom(const std::string& path, std::uint64_t offset, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(max, '\0');
  in.read(out.data(), static_cast<std::streamsize>(max));
  out.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return out;
}

// Follows one task's log until its attempt has concluded and every byte was sent.
class LogFollower final : public server::BodyStream {
 public:
  LogFollower(RunStorePtr runs, std::shared_ptr<net::thread_pool> pool, std::int64_t run_id,
              std::string task)
      : runs_(std::move(runs)), pool_(std::move(pool)), run_id_(run_id), task_(std::move(task)) {}

  Awaitable<std::optional<std::string>> Next() override {
    if (done_) co_return std::nullopt;
    if (!first_) {
      net::steady_timer timer(co_await net::this_coro::executor);
      timer.expires_after(kFollowPoll);
      co_await timer.async_wait(net::use_awaitable);
    }
    first_ = false;
    auto runs = runs_;
    const auto run_id = run_id_;
    const auto task = task_;
    const auto offset = offset_;
    auto path = path_;
    const int attempt = attempt_;
    auto poll = [runs, run_id, task, offset, path, attempt]() -> Poll {
      Poll p;
      auto record = runs->GetTask(run_id, task);
      if (!record || !*record) {
        p.finished = true;
        return p;
      }
      const TaskRecord& t = **record;
      p.attempt = t.attempt;
      p.path = t.log_path;
      // The attempt we follow has concluded when the task is terminal, waits for a retry,
      // or has moved on to a later attempt.
      p.finished = IsTerminal(t.state) || t.retry_at_ms > 0 || (attempt > 0 && t.attempt != attempt);
      const std::string& read_path = path.empty() ? p.path : path;
      if (!read_path.empty()) p.data = ReadFrom(read_path, path.empty() ? 0 : offset, kMaxLogPiece);
      return p;
    };
    Poll p = co_await RunBlocking(*pool_, std::move(poll));
    if (path_.empty() && !p.path.empty()) {
      path_ = p.path;
      attempt_ = p.attempt;
    }
    offset_ += p.data.size();
    // Finished, and the last read came back short of a full piece: nothing more will come.
    if (p.finished && p.data.size() < kMaxLogPiece) done_ = true;
    co_return std::optional<std::string>(std::move(p.data));
  }

 private:
  struct Poll {
    bool finished = false;
    int attempt = 0;
    std::string path;
    std::string data;
  };

  RunStorePtr runs_;
  std::shared_ptr<net::thread_pool> pool_;
  std::int64_t run_id_;
  std::string task_;
  std::string path_;
  int attempt_ = 0;
  std::uint64_t offset_ = 0;
  bool first_ = true;
  bool done_ = false;
};

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) {
      // In a path, + is a plus sign (only query strings use it for a space).
      std::string segment(path.substr(start, end - start));
      for (std::size_t at = 0; (at = segment.find('+', at)) != std::string::npos; at += 3) {
        segment.replace(at, 1, "%2B");
      }
      out.push_back(server::PercentDecode(segment));
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

}  // namespace

RunsApi::RunsApi(RunStorePtr runs, RunServicePtr service, std::shared_ptr<net::thread_pool> pool)
    : runs_(std::move(runs)), service_(std::move(service)), pool_(std::move(pool)) {}

Awaitable<HttpResponse> RunsApi::Handle(server::HttpRequest request) const {
  const std::string_view path = request.Path();
  const auto seg = Segments(path);  // "api", "v1", "runs" | "pipelines", ...
  const std::string& method = request.method;
  if (seg.size() >= 3 && seg[2] == "runs") {
    if (seg.size() == 3) {
      if (method != "GET") co_return MethodNotAllowed(method, "GET");
      co_return co_await ListRuns(request, "");
    }
    std::int64_t id = 0;
    if (!ParsePositive(seg[3], id)) {
      co_return JsonError(400, "run id '" + seg[3] + "' must be a positive number");
    }
    if (seg.size() == 4) {
      if (method != "GET") co_return MethodNotAllowed(method, "GET");
      co_return co_await GetRun(id);
    }
    if (seg.size() == 5 && (seg[4] == "cancel" || seg[4] == "rerun")) {
      if (method != "POST") co_return MethodNotAllowed(method, "POST");
      if (seg[4] == "cancel") co_return co_await CancelRun(id);
      co_return co_await RerunRun(id);
    }
    if (seg.size() == 7 && seg[4] == "tasks" && seg[6] == "logs") {
      if (method != "GET") co_return MethodNotAllowed(method, "GET");
      co_return co_await Logs(request, id, seg[5]);
    }
  } else if (seg.size() >= 3 && seg[2] == "pipelines") {
    if (seg.size() == 3) {
      if (method != "GET") co_return MethodNotAllowed(method, "GET");
      co_return co_await ListPipelines();
    }
    if (seg.size() == 4 && seg[3] == "reload") {
      if (method != "POST") co_return MethodNotAllowed(method, "POST");
      co_return co_await ReloadPipelines();
    }
    if (seg.size() == 5 && seg[4] == "runs") {
      if (method == "POST") co_return co_await TriggerRun(request, seg[3]);
      if (method == "GET") co_return co_await ListRuns(request, seg[3]);
      co_return MethodNotAllowed(method, "GET, POST");
    }
  }
  co_return JsonError(404, "no route for " + std::string(path) + "; see docs/api.md");
}

Awaitable<HttpResponse> RunsApi::ListRuns(const server::HttpRequest& request,
                                          std::string pipeline) const {
  RunFilter filter;
  filter.pipeline = pipeline.empty() ? request.Query("pipeline") : pipeline;
  filter.status = request.Query("status");
  filter.model = request.Query("model");
  if (!filter.status.empty() && !ParseRunStatus(filter.status)) {
    co_return JsonError(400, "status '" + filter.status +
                                 "' is not a run status; use queued, running, succeeded, failed, "
                                 "cancelled or skipped");
  }
  if (const auto event = request.Query("event"); !event.empty() && !ParsePositive(event, filter.event_id)) {
    co_return JsonError(400, "event '" + event + "' must be an event id (a positive number)");
  }
  const auto page = ParsePage(request);
  if (!page) co_return server::FromError(page.error());
  const std::int64_t limit = page->limit;
  filter.before_id = page->before_id;
  filter.limit = static_cast<int>(limit) + 1;
  auto runs = runs_;
  auto read = [runs, filter] { return runs->List(filter); };
  auto found = co_await RunBlocking(*pool_, std::move(read));
  if (!found) co_return server::FromError(found.error());
  co_return server::Json(
      200, Dump(PageBody("runs", *found, limit, [](const auto& run) { return RunJson(run, false); })));
}

Awaitable<HttpResponse> RunsApi::GetRun(std::int64_t id) const {
  auto runs = runs_;
  auto read = [runs, id]() -> Result<std::string> {
    auto run = runs->Get(id);
    if (!run) return tl::unexpected(run.error());
    if (!*run) return Fail(ErrorCode::kNotFound, "no run with id " + std::to_string(id));
    return Dump(RunJson(**run, true));  // artifacts are listed here, on the pool
  };
  auto body = co_await RunBlocking(*pool_, std::move(read));
  if (!body) co_return server::FromError(body.error());
  co_return server::Json(200, std::move(*body));
}

Awaitable<HttpResponse> RunsApi::Logs(const server::HttpRequest& request, std::int64_t id,
                                      std::string task) const {
  auto runs = runs_;
  auto read = [runs, id, task]() -> Result<TaskRecord> {
    auto t = runs->GetTask(id, task);
    if (!t) return tl::unexpected(t.error());
    if (!*t) {
      auto run = runs->Get(id);
      if (run && !*run) return Fail(ErrorCode::kNotFound, "no run with id " + std::to_string(id));
      return Fail(ErrorCode::kNotFound, "run " + std::to_string(id) + " has no task '" + task +
                                            "'; GET /api/v1/runs/" + std::to_string(id) +
                                            " lists its tasks");
    }
    return **t;
  };
  auto found = co_await RunBlocking(*pool_, std::move(read));
  if (!found) co_return server::FromError(found.error());
  const std::string follow = request.Query("follow");
  if (follow == "1" || follow == "true") {
    HttpResponse r{.status = 200, .content_type = "text/plain; charset=utf-8"};
    r.stream = std::make_shared<LogFollower>(runs_, pool_, id, task);
    co_return r;
  }
  const std::string path = found->log_path;
  auto load = [path]() -> Result<std::string> {
    if (path.empty()) return std::string();
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return std::string();
    const std::uint64_t skip = size > kMaxLogBytes ? size - kMaxLogBytes : 0;
    return ReadFrom(path, skip, static_cast<std::size_t>(size - skip));
  };
  auto text = co_await RunBlocking(*pool_, std::move(load));
  if (!text) co_return server::FromError(text.error());
  co_return HttpResponse{.status = 200, .content_type = "text/plain; charset=utf-8", .body = std::move(*text)};
}

Awaitable<HttpResponse> RunsApi::CancelRun(std::int64_t id) const {
  auto service = service_;
  auto runs = runs_;
  auto call = [service, runs, id]() -> Result<std::string> {
    if (auto r = service->Cancel(id); !r) return tl::unexpected(r.error());
    auto run = runs->Get(id);
    if (!run || !*run) return Dump({{"id", id}, {"cancel_requested", true}});
    return Dump(RunJson(**run, false));
  };
  auto body = co_await RunBlocking(*pool_, std::move(call));
  if (!body) co_return server::FromError(body.error());
  co_return server::Json(202, std::move(*body));
}

Awaitable<HttpResponse> RunsApi::RerunRun(std::int64_t id) const {
  auto service = service_;
  auto call = [service, id] { return service->Rerun(id); };
  auto created = co_await RunBlocking(*pool_, std::move(call));
  if (!created) co_return server::FromError(created.error());
  HttpResponse r = server::Json(201, Dump({{"id", *created}, {"rerun_of", id}}));
  r.headers.emplace_back("Location", std::string(kRunsPath) + "/" + std::to_string(*created));
  co_return r;
}

Awaitable<HttpResponse> RunsApi::ListPipelines() const {
  auto service = service_;
  auto call = [service] { return Dump(ListingJson(service->Pipelines())); };
  auto body = co_await RunBlocking(*pool_, std::move(call));
  co_return server::Json(200, std::move(body));
}

Awaitable<HttpResponse> RunsApi::ReloadPipelines() const {
  auto service = service_;
  auto call = [service]() -> Result<std::string> {
    auto listing = service->Reload();
    if (!listing) return tl::unexpected(listing.error());
    return Dump(ListingJson(*listing));
  };
  auto body = co_await RunBlocking(*pool_, std::move(call));
  if (!body) co_return server::FromError(body.error());
  co_return server::Json(200, std::move(*body));
}

Awaitable<HttpResponse> RunsApi::TriggerRun(const server::HttpRequest& request,
                                            std::string pipeline) const {
  std::map<std::string, std::string> inputs;
  std::int64_t event_id = 0;
  if (!request.body.empty()) {
    const json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      co_return JsonError(400, "the body must be a JSON object such as {\"inputs\": {\"threshold\": "
                               "\"0.9\"}, \"event_id\": 12}");
    }
    for (const auto& [key, value] : body.items()) {
      if (key != "inputs" && key != "event_id") {
        co_return JsonError(400, "unknown field '" + key + "'; the body takes inputs and event_id");
      }
    }
    if (body.contains("inputs")) {
      if (!body["inputs"].is_object()) {
        co_return JsonError(400, "inputs must be an object of input names to values");
      }
      for (const auto& [key, value] : body["inputs"].items()) {
        inputs[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    }
    if (body.contains("event_id")) {
      if (!body["event_id"].is_number_integer() || body["event_id"].get<std::int64_t>() < 1) {
        co_return JsonError(400, "event_id must be the id of a stored event (a positive number)");
      }
      event_id = body["event_id"].get<std::int64_t>();
    }
  }
  auto service = service_;
  auto call = [service, pipeline, inputs, event_id] {
    return service->Trigger(pipeline, inputs, event_id);
  };
  auto created = co_await RunBlocking(*pool_, std::move(call));
  if (!created) co_return server::FromError(created.error());
  HttpResponse r = server::Json(201, Dump({{"id", *created}, {"pipeline", pipeline}}));
  r.headers.emplace_back("Location", std::string(kRunsPath) + "/" + std::to_string(*created));
  co_return r;
}

}  // namespace stagegate::api
