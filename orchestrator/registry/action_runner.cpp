#include "orchestrator/registry/action_runner.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "orchestrator/core/actions.hpp"
#include "orchestrator/core/headers.hpp"
#include "orchestrator/core/units.hpp"
#include "orchestrator/registry/evidence.hpp"
#include "orchestrator/registry/registry_json.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;

constexpr const char* kIdPrefix = "outbox:";
constexpr const char* kInDoubtPrefix = "in doubt: ";



// What the registry's state says about an entry whose call may or may not have happened.
enum class Check { kDone, kNotDone, kUnknown };

std::int64_t ParseId(const std::string& external_id) {
  if (external_id.rfind(kIdPrefix, 0) != 0) return 0;
  try {
    return std::stoll(external_id.substr(std::string_view(kIdPrefix).size()));
  } catch (...) {
    return 0;
  }
}

}  // namespace

struct RegistryActionRunner::State {
  std::mutex mutex;
  std::condition_variable cv;
  std::multimap<std::int64_t, std::int64_t> queue;  // due (Unix ms) -> entry id
  std::set<std::int64_t> queued;
  std::set<std::int64_t> busy;
  std::set<std::int64_t> cancels;  // asked while a worker held the entry
  struct Watcher {
    Runner::UpdateCallback callback;
    std::string log_path;
  };
  std::map<std::int64_t, Watcher> watchers;
  std::vector<std::thread> threads;
  bool stop = false;
  bool started = false;

  /// Queues the entry for a worker at `due` unless it is queued already. Hold `mutex`.
  void QueueLocked(std::int64_t id, std::int64_t due) {
    if (queued.insert(id).second) queue.emplace(due, id);
  }

  /// Marks an entry busy (no worker takes it) for the life of the object, once `Take` got it.
  class Hold final {
   public:
    explicit Hold(State& state) : state_(state) {}
    ~Hold() {
      if (id_ == 0) return;
      {
        std::lock_guard lock(state_.mutex);
        state_.busy.erase(id_);
      }
      state_.cv.notify_all();
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    /// Takes the entry if no one holds it (waiting up to `wait` for that); false otherwise.
    bool Take(std::int64_t id, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
      std::unique_lock lock(state_.mutex);
      state_.cv.wait_for(lock, wait, [&] { return state_.busy.count(id) == 0; });
      if (!state_.busy.insert(id).second) return false;
      id_ = id;
      return true;
    }

   private:
    State& state_;
    std::int64_t id_ = 0;
  };
};

RegistryActionRunner::RegistryActionRunner(ActionRunnerOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {
  if (!options_.now_ms) options_.now_ms = [] { return UnixMillisNow(); };
  if (options_.workers < 1) options_.workers = 1;
}

RegistryActionRunner::~RegistryActionRunner() { Stop(); }

namespace {

// The pieces a worker needs, without the runner's private state.
class Delivery {
 public:
  Delivery(const ActionRunnerOptions& options, RegistryActionRunner::State& state)
      : options_(options), state_(state) {}

  void Process(std::int64_t id) {
    auto loaded = options_.outbox->Get(id);
    if (!loaded || !*loaded) {
      spdlog::error("outbox_read_failed id={} error=\"{}\"", id,
                    loaded ? "no such entry" : loaded.error().message);
      if (!loaded) Requeue(id, options_.now_ms() + options_.retry_base.count());
      return;
    }
    OutboxEntry e = std::move(**loaded);
    if (e.state == OutboxState::kDelivered || e.state == OutboxState::kDead) {
      Notify(e);
      return;
    }
    RegistryClient* client = Client(e);
    if (client == nullptr) {
      Dead(e, "registry '" + e.registry + "' is not configured on this server any more");
      return;
    }
    const json request = json::parse(e.request_json, nullptr, false);
    if (e.state == OutboxState::kSending) {
      // In doubt: an earlier call was sent and its answer lost (a crash, a timeout).
      auto check = Verify(*client, e.action, request);
      if (!check) {
        Retry(e, "checking an earlier call: " + check.error().message, /*in_doubt=*/true);
        return;
      }
      if (*check == Check::kDone) {
        Log(e, "the registry already shows the earlier call's effect; not sending it again");
        Delivered(e, json{{"confirmed", "the registry's state showed the call had taken effect"}});
        return;
      }
      if (*check == Check::kUnknown) {
        Dead(e, std::string(kInDoubtPrefix) +
                    "the call was sent but its answer was lost, and the registry cannot tell "
                    "whether it happened; check the model version and retry from the API "
                    "(POST /api/v1/outbox/" + std::to_string(e.id) + "/retry) if it is missing");
        return;
      }
    }
    e.state = OutboxState::kSending;
    ++e.attempts;
    e.updated_ms = options_.now_ms();
    if (auto stored = options_.outbox->Update(e); !stored) {
      spdlog::error("outbox_write_failed id={} error=\"{}\"", e.id, stored.error().message);
      Requeue(e.id, options_.now_ms() + options_.retry_base.count());
      return;
    }
    Log(e, "attempt " + std::to_string(e.attempts) + ": " + Describe(e, request));
    const auto started = std::chrono::steady_clock::now();
    auto answer = Execute(*client, e.action, request);
    if (options_.metrics) {
      options_.metrics->ObserveRegistryCall(
          e.registry, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    if (answer) {
      Delivered(e, *answer);
      return;
    }
    const Error& error = answer.error();
    if (error.code == ErrorCode::kUnavailable) {
      Retry(e, error.message, /*in_doubt=*/false);
      return;
    }
    if (error.code == ErrorCode::kInDoubt) {
      Retry(e, error.message, /*in_doubt=*/true);
      return;
    }
    // Refused. An earlier call whose answer was lost may be why (the request is no longer
    // open because it was approved): the registry's state decides.
    if (auto check = Verify(*client, e.action, request); check && *check == Check::kDone) {
      Log(e, "refused (" + error.message + "), but the registry already shows the effect");
      Delivered(e, json{{"confirmed", "the registry's state showed the call had taken effect"}});
      return;
    }
    Dead(e, error.message);
  }

  // Dead-letters the entry if no call is out for it (the caller holds it busy).
  void CancelIfPending(std::int64_t id) {
    auto loaded = options_.outbox->Get(id);
    if (!loaded || !*loaded || (*loaded)->state != OutboxState::kPending) return;
    OutboxEntry e = std::move(**loaded);
    Dead(e, "cancelled before the registry took the call");
  }

  static std::string Describe(const OutboxEntry& e, const json& r) {
    std::string what = e.action + " model '" + StringField(r, "model") + "'";
    if (!StringField(r, "version").empty()) what += " version " + StringField(r, "version");
    if (!StringField(r, "stage").empty()) what += " stage " + StringField(r, "stage");
    if (!StringField(r, "alias").empty()) what += " alias " + StringField(r, "alias");
    if (!StringField(r, "key").empty()) what += " tag " + StringField(r, "key") + "=" + StringField(r, "value");
    return what + " on registry '" + e.registry + "'";
  }

  void Requeue(std::int64_t id, std::int64_t due) {
    std::lock_guard lock(state_.mutex);
    state_.QueueLocked(id, due);
    state_.cv.notify_all();
  }

  void Notify(const OutboxEntry& e, JobState running_detail_state = JobState::kRunning,
              const std::string& detail = "") {
    Runner::UpdateCallback callback;
    std::string log_path;
    {
      std::lock_guard lock(state_.mutex);
      const auto it = state_.watchers.find(e.id);
      if (it == state_.watchers.end()) return;
      callback = it->second.callback;
      log_path = it->second.log_path;
      if (e.state == OutboxState::kDelivered || e.state == OutboxState::kDead) state_.watchers.erase(it);
    }
    JobUpdate u;
    u.external_id = kIdPrefix + std::to_string(e.id);
    u.log_path = log_path;
    if (e.state == OutboxState::kDelivered) {
      u.state = JobState::kSucceeded;
      u.exit_code = 0;
      u.detail = "accepted by registry '" + e.registry + "'";
      const json response = json::parse(e.response_json, nullptr, false);
      if (response.is_object()) {
        for (const auto& [k, v] : response.items()) u.outputs[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
      u.outputs["outbox_id"] = std::to_string(e.id);
    } else if (e.state == OutboxState::kDead) {
      u.state = e.last_error.rfind("cancelled", 0) == 0 ? JobState::kCancelled : JobState::kFailed;
      u.exit_code = 1;
      u.detail = "dead-lettered (outbox " + std::to_string(e.id) + "): " + e.last_error;
    } else {
      u.state = running_detail_state;
      u.detail = detail;
    }
    callback(u);
  }

 private:
  RegistryClient* Client(const OutboxEntry& e) const {
    const auto it = options_.registries.find(e.registry);
    return it == options_.registries.end() ? nullptr : it->second.get();
  }

  void Log(const OutboxEntry& e, const std::string& line) {
    std::string path;
    {
      std::lock_guard lock(state_.mutex);
      const auto it = state_.watchers.find(e.id);
      if (it != state_.watchers.end()) path = it->second.log_path;
    }
    if (path.empty()) path = LogPath(options_, e.run_id, e.task_id);
    if (std::FILE* f = std::fopen(path.c_str(), "ab")) {
      const std::string text = FormatIsoMillis(options_.now_ms()) + " " + line + "\n";
      std::fwrite(text.data(), 1, text.size(), f);
      std::fclose(f);
    }
  }

 public:
  static std::string LogPath(const ActionRunnerOptions& options, std::int64_t run_id,
                             const std::string& task_id) {
    std::error_code ec;
    const auto dir = std::filesystem::path(options.log_dir) / std::to_string(run_id);
    std::filesystem::create_directories(dir, ec);
    std::string file = task_id;
    for (char& c : file) {
      if (c == '/' || c == ' ' || c == '(' || c == ')' || c == ',') c = '_';
    }
    return (dir / (file + ".log")).string();
  }

 private:
  void Count(const OutboxEntry& e, std::string_view outcome) {
    if (options_.metrics) options_.metrics->CountRegistryAction(e.registry, e.action, outcome);
  }

  // Stores a final state. When the write fails the entry is tried again later, from the state
  // the store still has; false then.
  bool StoreFinal(const OutboxEntry& e) {
    if (auto stored = options_.outbox->Update(e); !stored) {
      spdlog::error("outbox_write_failed id={} error=\"{}\"", e.id, stored.error().message);
      Requeue(e.id, options_.now_ms() + options_.retry_base.count());
      return false;
    }
    return true;
  }

  void Delivered(OutboxEntry& e, const json& response) {
    e.state = OutboxState::kDelivered;
    e.response_json = Dump(response);
    e.delivered_ms = e.updated_ms = options_.now_ms();
    e.next_attempt_ms = 0;
    // Until this write lands, a crash leaves the entry `sending`: the restart checks the
    // registry and finds the call done.
    if (!StoreFinal(e)) return;
    Log(e, "accepted: " + e.response_json);
    Count(e, response.contains("confirmed") ? "confirmed" : "delivered");
    spdlog::info("registry_action_delivered id={} action={} registry={} run={} task=\"{}\" attempts={}",
                 e.id, e.action, e.registry, e.run_id, e.task_id, e.attempts);
    Notify(e);
  }

  void Dead(OutboxEntry& e, const std::string& why) {
    e.state = OutboxState::kDead;
    e.last_error = why;
    e.updated_ms = options_.now_ms();
    e.next_attempt_ms = 0;
    if (!StoreFinal(e)) return;
    Log(e, "dead-lettered: " + why);
    Count(e, "dead");
    spdlog::warn("registry_action_dead id={} action={} registry={} run={} task=\"{}\" reason=\"{}\"",
                 e.id, e.action, e.registry, e.run_id, e.task_id, why);
    Notify(e);
  }

  // A failure a later call may get past: wait (exponential backoff, capped) unless the
  // deadline has passed. An in-doubt entry stays `sending`, so the next round checks first.
  void Retry(OutboxEntry& e, const std::string& why, bool in_doubt) {
    const std::int64_t now = options_.now_ms();
    e.last_error = why;
    if (e.deadline_ms > 0 && now >= e.deadline_ms) {
      if (in_doubt && e.action == "registry.comment") {
        Dead(e, std::string(kInDoubtPrefix) + "gave up after " + std::to_string(e.attempts) +
                    " attempts; the last call's answer was lost: " + why);
      } else {
        Dead(e, "gave up after " + std::to_string(e.attempts) + " attempts: " + why);
      }
      return;
    }
    const int n = std::max(1, e.attempts);
    const std::int64_t wait = std::min<std::int64_t>(options_.retry_max.count(),
                                                     options_.retry_base.count() << std::min(n - 1, 16));
    e.state = in_doubt ? OutboxState::kSending : OutboxState::kPending;
    e.next_attempt_ms = now + wait;
    e.updated_ms = now;
    if (auto stored = options_.outbox->Update(e); !stored) {
      spdlog::error("outbox_write_failed id={} error=\"{}\"", e.id, stored.error().message);
    }
    Log(e, "failed, retrying in " + FormatDuration(std::chrono::milliseconds(wait)) + ": " + why);
    Count(e, "retried");
    Notify(e, JobState::kRunning, "registry call failed, retrying in " +
                                      FormatDuration(std::chrono::milliseconds(wait)) + ": " + why);
    Requeue(e.id, e.next_attempt_ms);
  }

  static Result<json> Execute(RegistryClient& c, const std::string& action, const json& r) {
    const std::string model = StringField(r, "model");
    const std::string version = StringField(r, "version");
    const std::string stage = StringField(r, "stage");
    const bool archive = r.value("archive_existing_versions", false);
    const std::string comment = StringField(r, "comment");
    if (action == "registry.approve_transition") {
      auto a = c.ApproveTransition(model, version, stage, archive, comment);
      if (!a) return tl::unexpected(a.error());
      return json{{"activity_id", a->id}, {"activity_type", a->activity_type}, {"to_stage", a->to_stage}};
    }
    if (action == "registry.reject_transition") {
      auto a = c.RejectTransition(model, version, stage, comment);
      if (!a) return tl::unexpected(a.error());
      return json{{"activity_id", a->id}, {"activity_type", a->activity_type}};
    }
    if (action == "registry.comment") {
      auto id = c.CreateComment(model, version, comment);
      if (!id) return tl::unexpected(id.error());
      return json{{"comment_id", *id}};
    }
    if (action == "registry.transition_stage") {
      auto v = c.TransitionStage(model, version, stage, archive, comment);
      if (!v) return tl::unexpected(v.error());
      return json{{"current_stage", v->current_stage}};
    }
    if (action == "registry.set_tag") {
      auto done = c.SetVersionTag(model, version, StringField(r, "key"), StringField(r, "value"));
      if (!done) return tl::unexpected(done.error());
      return json::object();
    }
    if (action == "registry.set_alias") {
      auto done = c.SetAlias(model, StringField(r, "alias"), version);
      if (!done) return tl::unexpected(done.error());
      return json::object();
    }
    if (action == "registry.delete_alias") {
      auto done = c.DeleteAlias(model, StringField(r, "alias"));
      if (!done) return tl::unexpected(done.error());
      return json::object();
    }
    return Fail(ErrorCode::kInvalidArgument, "unknown registry action '" + action + "'");
  }

  // Reads the registry's state to tell whether the entry's call has taken effect.
  static Result<Check> Verify(RegistryClient& c, const std::string& action, const json& r) {
    const std::string model = StringField(r, "model");
    const std::string version = StringField(r, "version");
    const std::string stage = StringField(r, "stage");
    if (action == "registry.approve_transition" || action == "registry.reject_transition") {
      auto open = c.ListTransitionRequests(model, version);
      if (!open) return tl::unexpected(open.error());
      for (const auto& request : *open) {
        if (EqualsIgnoreCase(request.to_stage, stage)) return Check::kNotDone;  // still waiting
      }
      auto v = c.GetModelVersion(model, version);
      if (!v) return tl::unexpected(v.error());
      const bool in_stage = EqualsIgnoreCase(v->current_stage, stage);
      // Closed: approved if the version sits in the stage, rejected (or cancelled) if not.
      if (action == "registry.approve_transition") return in_stage ? Check::kDone : Check::kNotDone;
      return in_stage ? Check::kNotDone : Check::kDone;
    }
    if (action == "registry.transition_stage") {
      auto v = c.GetModelVersion(model, version);
      if (!v) return tl::unexpected(v.error());
      return EqualsIgnoreCase(v->current_stage, stage) ? Check::kDone : Check::kNotDone;
    }
    if (action == "registry.set_tag") {
      auto v = c.GetModelVersion(model, version);
      if (!v) return tl::unexpected(v.error());
      const auto it = v->tags.find(StringField(r, "key"));
      return it != v->tags.end() && it->second == StringField(r, "value") ? Check::kDone : Check::kNotDone;
    }
    if (action == "registry.set_alias" || action == "registry.delete_alias") {
      auto v = c.GetVersionByAlias(model, StringField(r, "alias"));
      if (!v) return tl::unexpected(v.error());
      if (action == "registry.delete_alias") return v->has_value() ? Check::kNotDone : Check::kDone;
      return v->has_value() && (*v)->version == version ? Check::kDone : Check::kNotDone;
    }
    return Check::kUnknown;  // comments: no registry lists them
  }

  const ActionRunnerOptions& options_;
  RegistryActionRunner::State& state_;
};

// Resolves an action's parameters: `with:` first, then the triggering event.
Result<json> Resolve(const ActionRunnerOptions& options, const JobSpec& spec, std::string* registry) {
  const ActionInfo* info = FindAction(spec.action);
  if (info == nullptr || !IsRegistryAction(spec.action)) {
    return Fail(ErrorCode::kInvalidArgument, "'" + spec.action + "' is not a registry action");
  }
  for (const auto& [key, value] : spec.with) {
    if (std::find(info->inputs.begin(), info->inputs.end(), key) == info->inputs.end()) {
      std::string allowed;
      for (const auto& i : info->inputs) allowed += (allowed.empty() ? "" : ", ") + i;
      return Fail(ErrorCode::kInvalidArgument,
                  spec.action + " takes no with: " + key + " (it takes " + allowed + ")");
    }
  }
  const json event = json::parse(spec.event_json.empty() ? "{}" : spec.event_json, nullptr, false);
  auto with = [&](const char* key) -> std::string {
    const auto it = spec.with.find(key);
    return it == spec.with.end() ? std::string() : it->second;
  };
  // The registry: with: registry, else the one the event's endpoint names, else the only one.
  std::string name = with("registry");
  if (name.empty()) {
    const auto it = options.endpoint_registries.find(StringField(event, "endpoint"));
    if (it != options.endpoint_registries.end()) name = it->second;
  }
  if (name.empty() && options.registries.size() == 1) name = options.registries.begin()->first;
  const auto client = options.registries.find(name);
  std::optional<RegistryDialect> dialect;
  if (client != options.registries.end()) dialect = client->second->dialect();
  if (options.dry_run && !dialect) {
    // Nothing configured to ask: the event's source tells the dialect, if anything does.
    if (StringField(event, "source") == "databricks") dialect = RegistryDialect::kDatabricks;
    if (StringField(event, "source") == "mlflow") dialect = RegistryDialect::kMlflow;
    if (name.empty()) name = "(dry run)";
  }
  if (name.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                spec.action + ": no registry to call; set with: registry: NAME, or registry: on the "
                              "endpoint the event came from");
  }
  if (client == options.registries.end() && !options.dry_run) {
    std::string known;
    for (const auto& [n, c] : options.registries) known += (known.empty() ? "" : ", ") + n;
    return Fail(ErrorCode::kInvalidArgument,
                spec.action + ": registry '" + name + "' is not configured (registries: " +
                    (known.empty() ? "none" : known) + ")");
  }
  *registry = name;
  const bool databricks_only = spec.action == "registry.approve_transition" ||
                               spec.action == "registry.reject_transition" ||
                               spec.action == "registry.comment";
  const bool mlflow_only = spec.action == "registry.set_alias" || spec.action == "registry.delete_alias";
  if (dialect && ((databricks_only && *dialect != RegistryDialect::kDatabricks) ||
                  (mlflow_only && *dialect != RegistryDialect::kMlflow))) {
    return Fail(ErrorCode::kInvalidArgument,
                spec.action + " needs a " + (databricks_only ? "databricks" : "mlflow") +
                    " registry; '" + name + "' is " + RegistryDialectName(*dialect) +
                    (databricks_only ? " (use registry.set_tag or registry.set_alias there)"
                                     : " (use registry.transition_stage or registry.set_tag there)"));
  }
  const json model = event.is_object() && event.contains("model") ? event["model"] : json();
  json r = json::object();
  r["model"] = with("model").empty() ? StringField(model, "name") : with("model");
  if (StringField(r, "model").empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                spec.action + ": no model; the run's event has none, so set with: model");
  }
  const bool needs_version = spec.action != "registry.delete_alias";
  if (needs_version) {
    r["version"] = with("version").empty() ? StringField(model, "version") : with("version");
    if (StringField(r, "version").empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  spec.action + ": no model version; the run's event has none, so set with: version");
    }
  }
  const bool needs_stage = spec.action == "registry.approve_transition" ||
                           spec.action == "registry.reject_transition" ||
                           spec.action == "registry.transition_stage";
  if (needs_stage) {
    r["stage"] = with("stage").empty() ? StringField(event, "to_stage") : with("stage");
    if (StringField(r, "stage").empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  spec.action + ": no stage; the run's event has no to_stage, so set with: stage");
    }
  }
  auto boolean = [&](const char* key, bool fallback) -> Result<bool> {
    const std::string v = with(key);
    if (v.empty()) return fallback;
    if (v == "true") return true;
    if (v == "false") return false;
    return Fail(ErrorCode::kInvalidArgument,
                spec.action + ": with: " + key + " must be true or false, not '" + v + "'");
  };
  if (spec.action == "registry.approve_transition" || spec.action == "registry.transition_stage") {
    // Approving archives what sits in the target stage by default, as the Databricks UI does.
    auto archive = boolean("archive_existing_versions", spec.action == "registry.approve_transition");
    if (!archive) return tl::unexpected(archive.error());
    r["archive_existing_versions"] = *archive;
  }
  if (spec.action == "registry.set_tag") {
    if (with("key").empty()) return Fail(ErrorCode::kInvalidArgument, spec.action + ": set with: key (and value)");
    r["key"] = with("key");
    r["value"] = with("value");
  }
  if (mlflow_only) {
    if (with("alias").empty()) return Fail(ErrorCode::kInvalidArgument, spec.action + ": set with: alias");
    r["alias"] = with("alias");
  }
  if (std::find(info->inputs.begin(), info->inputs.end(), "comment") != info->inputs.end()) {
    auto evidence = boolean("evidence", true);
    if (!evidence) return tl::unexpected(evidence.error());
    std::string comment = with("comment");
    if (*evidence) {
      const json run = json::parse(spec.run_json.empty() ? "{}" : spec.run_json, nullptr, false);
      const std::string run_id = StringField(run, "id");
      EvidenceInput in{.verdict = spec.action == "registry.approve_transition"  ? "approved"
                                  : spec.action == "registry.reject_transition" ? "rejected"
                                                                                : "",
                       .run_json = spec.run_json,
                       .run_url = options.public_url.empty() || run_id.empty()
                                      ? std::string()
                                      : options.public_url + "/api/v1/runs/" + run_id,
                       .model = StringField(r, "model"),
                       .version = StringField(r, "version"),
                       .stage = StringField(r, "stage"),
                       .note = comment};
      comment = EvidenceMarkdown(in);
    }
    r["comment"] = comment;
  }
  return r;
}

}  // namespace

Result<void> RegistryActionRunner::Start() {
  auto unfinished = options_.outbox->Unfinished();
  if (!unfinished) return tl::unexpected(unfinished.error());
  std::lock_guard guard(state_->mutex);
  if (state_->started) return {};
  state_->started = true;
  for (const auto& e : *unfinished) {
    state_->QueueLocked(e.id, e.next_attempt_ms);
  }
  for (int i = 0; i < options_.workers; ++i) {
    state_->threads.emplace_back([this] {
      Delivery delivery(options_, *state_);
      std::unique_lock lock(state_->mutex);
      while (!state_->stop) {
        const std::int64_t now = options_.now_ms();
        auto it = std::find_if(state_->queue.begin(), state_->queue.end(),
                               [&](const auto& q) { return state_->busy.count(q.second) == 0; });
        if (it == state_->queue.end() || it->first > now) {
          const std::int64_t wait = it == state_->queue.end() ? 1000 : std::min<std::int64_t>(it->first - now, 1000);
          state_->cv.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(wait, 1)));
          continue;
        }
        const std::int64_t id = it->second;
        state_->queue.erase(it);
        state_->queued.erase(id);
        state_->busy.insert(id);
        lock.unlock();
        delivery.Process(id);
        lock.lock();
        if (state_->cancels.erase(id) > 0) {
          lock.unlock();
          delivery.CancelIfPending(id);
          lock.lock();
        }
        state_->busy.erase(id);
        state_->cv.notify_all();
      }
    });
  }
  return {};
}

void RegistryActionRunner::Stop() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->cv.notify_all();
  for (auto& t : state_->threads) {
    if (t.joinable()) t.join();
  }
  state_->threads.clear();
}

Result<std::string> RegistryActionRunner::Submit(JobSpec spec, UpdateCallback on_update) {
  return Attach(spec, std::move(on_update), /*new_attempt=*/true);
}

Result<void> RegistryActionRunner::Reattach(const std::string& /*external_id*/, const JobSpec& spec,
                                            UpdateCallback on_update) {
  // The key finds the entry whether or not its id reached the run store; an entry that was
  // never stored was never sent, so making it now is right.
  auto attached = Attach(spec, std::move(on_update), /*new_attempt=*/false);
  if (!attached) return tl::unexpected(attached.error());
  return {};
}

Result<std::string> RegistryActionRunner::Attach(const JobSpec& spec, UpdateCallback on_update,
                                                 bool new_attempt) {
  const std::string key = "run/" + spec.run_id + "/task/" + spec.task_id + "/" + spec.action;
  if (options_.dry_run) {
    std::string registry;
    auto request = Resolve(options_, spec, &registry);
    if (!request) return tl::unexpected(request.error());
    OutboxEntry e{.key = key, .task_id = spec.task_id, .action = spec.action, .registry = registry};
    const std::string log_path =
        Delivery::LogPath(options_, std::atoll(spec.run_id.c_str()), spec.task_id);
    json shown = *request;
    const std::string comment = StringField(shown, "comment");
    shown.erase("comment");
    std::string text = "dry run: would call " + Delivery::Describe(e, *request) + "\n" +
                       shown.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    if (!comment.empty()) text += "with this comment:\n\n" + comment + "\n";
    if (std::FILE* f = std::fopen(log_path.c_str(), "wb")) {
      std::fwrite(text.data(), 1, text.size(), f);
      std::fclose(f);
    }
    JobUpdate done{.external_id = "dry-run", .state = JobState::kSucceeded, .exit_code = 0,
                   .detail = "dry run: nothing was sent", .outputs = {{"dry_run", "true"}},
                   .log_path = log_path};
    on_update(done);
    return std::string("dry-run");
  }
  auto existing = options_.outbox->GetByKey(key);
  if (!existing) return tl::unexpected(existing.error());
  OutboxEntry entry;
  const std::int64_t now = options_.now_ms();
  const std::int64_t deadline =
      now + (spec.timeout.count() > 0 ? spec.timeout : options_.default_deadline).count();
  if (*existing) {
    entry = std::move(**existing);
    // A new attempt of the task sends a dead letter again, unless its last call is in doubt:
    // only an operator may risk a second copy (POST /api/v1/outbox/{id}/retry).
    if (new_attempt && entry.state == OutboxState::kDead && entry.last_error.rfind(kInDoubtPrefix, 0) != 0) {
      entry.state = OutboxState::kPending;
      entry.next_attempt_ms = now;
      entry.deadline_ms = deadline;
      entry.updated_ms = now;
      if (auto stored = options_.outbox->Update(entry); !stored) return tl::unexpected(stored.error());
    }
  } else {
    std::string registry;
    auto request = Resolve(options_, spec, &registry);
    if (!request) return tl::unexpected(request.error());
    OutboxEntry fresh;
    fresh.key = key;
    fresh.run_id = std::atoll(spec.run_id.c_str());
    fresh.task_id = spec.task_id;
    fresh.action = spec.action;
    fresh.registry = registry;
    fresh.request_json = Dump(*request);
    fresh.created_ms = fresh.updated_ms = fresh.next_attempt_ms = now;
    fresh.deadline_ms = deadline;
    auto stored = options_.outbox->Enqueue(fresh);
    if (!stored) return tl::unexpected(stored.error());
    entry = std::move(*stored);
  }
  const std::string log_path = Delivery::LogPath(options_, entry.run_id, entry.task_id);
  {
    std::lock_guard lock(state_->mutex);
    state_->watchers[entry.id] = State::Watcher{std::move(on_update), log_path};
    state_->QueueLocked(entry.id, entry.next_attempt_ms);
  }
  state_->cv.notify_all();
  return kIdPrefix + std::to_string(entry.id);
}

Result<void> RegistryActionRunner::Cancel(const std::string& external_id) {
  const std::int64_t id = ParseId(external_id);
  if (id == 0) return Fail(ErrorCode::kNotFound, "no outbox entry '" + external_id + "'");
  State::Hold hold(*state_);
  if (!hold.Take(id)) {
    // A worker holds it: it cancels the entry when done, unless the call went out.
    std::lock_guard lock(state_->mutex);
    state_->cancels.insert(id);
    return {};
  }
  Delivery(options_, *state_).CancelIfPending(id);
  return {};
}

Result<std::vector<OutboxEntry>> RegistryActionRunner::List(const OutboxFilter& filter) {
  return options_.outbox->List(filter);
}

Result<std::optional<OutboxEntry>> RegistryActionRunner::Get(std::int64_t id) {
  return options_.outbox->Get(id);
}

Result<OutboxEntry> RegistryActionRunner::Retry(std::int64_t id) {
  // A worker may hold the entry for a moment (telling its task the outcome); a call in flight
  // holds it longer, and then the entry is not dead anyway.
  State::Hold hold(*state_);
  if (!hold.Take(id, std::chrono::seconds(2))) {
    return Fail(ErrorCode::kConflict, "outbox entry " + std::to_string(id) + " is being delivered now");
  }
  auto loaded = options_.outbox->Get(id);
  if (!loaded) return tl::unexpected(loaded.error());
  if (!*loaded) return Fail(ErrorCode::kNotFound, "no outbox entry " + std::to_string(id));
  OutboxEntry e = std::move(**loaded);
  if (e.state != OutboxState::kDead) {
    return Fail(ErrorCode::kConflict, "outbox entry " + std::to_string(id) + " is " +
                                          OutboxStateName(e.state) + "; only dead letters can be retried");
  }
  const std::int64_t now = options_.now_ms();
  e.state = OutboxState::kPending;
  e.next_attempt_ms = now;
  e.deadline_ms = now + options_.default_deadline.count();
  e.updated_ms = now;
  if (auto stored = options_.outbox->Update(e); !stored) return tl::unexpected(stored.error());
  {
    std::lock_guard lock(state_->mutex);
    state_->QueueLocked(id, now);  // taken once the hold is released
  }
  spdlog::info("registry_action_retried id={} action={} registry={}", e.id, e.action, e.registry);
  return e;
}

}  // namespace stagegate::registry
