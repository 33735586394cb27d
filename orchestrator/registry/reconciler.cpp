#include "orchestrator/registry/reconciler.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "orchestrator/core/asio.hpp"
#include "orchestrator/core/glob.hpp"
#include "orchestrator/core/headers.hpp"
#include "orchestrator/registry/registry_json.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;

// A delivery counts for a transition request when the registry sent it (event_timestamp, the
// registry's clock, or our receipt time when absent) no earlier than this before the
// request's creation: room for clock skew, too little to mistake an older request's delivery.
constexpr std::int64_t kCreationSlackMs = 60'000;
// Events of one (model, version, type) or (model, alias) read to decide whether a state is
// known; they are few, and newest first.
constexpr int kKnownScan = 50;

const std::string kTransitionRequestCreated = "transition_request.created";
const std::string kVersionCreated = "model_version.created";
const std::string kAliasCreated = "model_version_alias.created";
const std::string kAliasDeleted = "model_version_alias.deleted";

// A SQL LIKE pattern that matches at least what the glob matches: `*` -> %, `?` and a class
// -> _. `%` and `_` in names stay wildcards (MLflow's filter has no ESCAPE), so the results
// are filtered with GlobMatch afterwards.
std::string LikeFromGlob(const std::string& glob) {
  std::string out;
  for (std::size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '*') {
      out += '%';
    } else if (glob[i] == '?') {
      out += '_';
    } else if (glob[i] == '[') {
      const std::size_t close = glob.find(']', i + 2);
      if (close == std::string::npos) {
        out += '[';
        continue;
      }
      out += '_';
      i = close;
    } else {
      out += glob[i];
    }
  }
  return out;
}

// Databricks' event name for a request to `stage` (protocols.md §1.2).
std::string TransitionRequestName(const std::string& stage) {
  const std::string upper = AsciiUpper(stage);
  if (upper == "STAGING" || upper == "PRODUCTION" || upper == "ARCHIVED") {
    return "TRANSITION_REQUEST_TO_" + upper + "_CREATED";
  }
  return "TRANSITION_REQUEST_CREATED";
}

// Runs one store append to completion on this thread.
Result<AppendResult> AppendBlocking(EventStore& store, Event event) {
  net::io_context io;
  std::optional<Result<AppendResult>> out;
  auto done = [&out](std::exception_ptr error, Result<AppendResult> result) {
    if (error) {
      out = Fail(ErrorCode::kInternal, "event store append threw");
    } else {
      out = std::move(result);
    }
  };
  net::co_spawn(io, store.Append(std::move(event), std::chrono::milliseconds(0)), std::move(done));
  auto guard = net::make_work_guard(io);
  // The store always completes an append (with an error when it is stopping), so waiting
  // without a bound cannot hang, and `io` outlives the completion it posts.
  while (!out) io.run_one();
  return std::move(*out);
}

}  // namespace

struct Reconciler::Target {
  RegistryConfig config;
  RegistryClientPtr client;
  // Keys of states a stored event covers: looked up once, then remembered. Rebuilt every pass
  // from what the pass saw, so it holds only what is still open in the registry.
  std::set<std::string> known;
  // MLflow aliases carry no timestamp: when a pass first saw each uncovered alias state.
  std::map<std::string, std::int64_t> first_seen;
};

Reconciler::Reconciler(std::vector<RegistryConfig> registries,
                       std::map<std::string, RegistryClientPtr> clients, EventStorePtr store,
                       Clock clock, Wake wake)
    : store_(std::move(store)), clock_(std::move(clock)), wake_(std::move(wake)) {
  for (auto& config : registries) {
    if (!config.reconcile) continue;
    Target target;
    if (const auto it = clients.find(config.name); it != clients.end()) target.client = it->second;
    target.config = std::move(config);
    targets_.push_back(std::move(target));
  }
}

Reconciler::~Reconciler() { Stop(); }

ReconcileCounts Reconciler::PollOnce() {
  ReconcileCounts counts;
  for (auto& target : targets_) {
    if (stopping_) break;
    PollRegistry(target, counts);
  }
  return counts;
}

void Reconciler::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_ || targets_.empty()) return;
  thread_ = std::thread([this] { Loop(); });
}

void Reconciler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_up_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Reconciler::Loop() {
  using Steady = std::chrono::steady_clock;
  std::vector<Steady::time_point> due(targets_.size(), Steady::now());
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    for (std::size_t i = 0; i < targets_.size() && !stopping_; ++i) {
      if (due[i] > Steady::now()) continue;
      lock.unlock();
      ReconcileCounts counts;
      PollRegistry(targets_[i], counts);
      lock.lock();
      due[i] = Steady::now() + targets_[i].config.reconcile->interval;
    }
    const auto next = *std::min_element(due.begin(), due.end());
    wake_up_.wait_until(lock, next, [&] { return stopping_.load(); });
  }
}

void Reconciler::PollRegistry(Target& target, ReconcileCounts& counts) {
  std::lock_guard lock(poll_mutex_);
  const std::string& name = target.config.name;
  if (!target.client) {
    ++counts.errors;
    spdlog::error("reconcile_failed registry={} reason=\"no client for this registry\"", name);
    return;
  }
  ReconcileCounts mine;
  if (target.client->dialect() == RegistryDialect::kDatabricks) {
    PollDatabricks(target, mine);
  } else {
    PollMlflow(target, mine);
  }
  spdlog::debug(
      "reconcile_pass registry={} looked_at={} synthesised={} already_known={} waiting={} "
      "too_old={} errors={}",
      name, mine.looked_at, mine.synthesised, mine.already_known, mine.waiting, mine.too_old,
      mine.errors);
  counts.looked_at += mine.looked_at;
  counts.synthesised += mine.synthesised;
  counts.already_known += mine.already_known;
  counts.waiting += mine.waiting;
  counts.too_old += mine.too_old;
  counts.errors += mine.errors;
}

// The versions of every configured entry (a name or a glob), by model name. An entry the
// registry cannot list is counted as an error and logged; the others still count.
std::map<std::string, std::vector<ModelVersionInfo>> Reconciler::Versions(Target& target,
                                                                          ReconcileCounts& counts) {
  std::map<std::string, std::vector<ModelVersionInfo>> out;
  for (const auto& entry : target.config.reconcile->models) {
    auto found = IsGlob(entry) ? target.client->SearchVersionsLike(LikeFromGlob(entry))
                               : target.client->SearchVersions(entry);
    if (!found) {
      ++counts.errors;
      spdlog::warn("reconcile_failed registry={} model={} reason=\"{}\"", target.config.name, entry,
                   found.error().message);
      continue;
    }
    for (auto& v : *found) {
      if (v.name.empty()) v.name = entry;
      const bool wanted = IsGlob(entry) ? GlobMatch(entry, v.name) : v.name == entry;
      if (wanted && !v.version.empty()) out[v.name].push_back(std::move(v));
    }
  }
  return out;
}

void Reconciler::PollDatabricks(Target& target, ReconcileCounts& counts) {
  const ReconcileConfig& rc = *target.config.reconcile;
  const std::string& registry = target.config.name;
  std::set<std::string> known;
  for (const auto& [model, versions] : Versions(target, counts)) {
    for (const auto& v : versions) {
      if (stopping_) return;
      // Archived versions are out of the running; skipping them keeps a pass to one call
      // per live version.
      if (EqualsIgnoreCase(v.current_stage, "archived")) continue;
      auto requests = target.client->ListTransitionRequests(model, v.version);
      if (!requests) {
        ++counts.errors;
        spdlog::warn("reconcile_failed registry={} model={} version={} reason=\"{}\"", registry,
                     model, v.version, requests.error().message);
        continue;
      }
      for (const auto& request : *requests) {
        // The list holds open requests only; anything else is not waiting for us.
        if (!request.activity_type.empty() && request.activity_type != "REQUESTED_TRANSITION") {
          continue;
        }
        ++counts.looked_at;
        const std::string key = model + "/" + v.version + "/" + request.to_stage + "/" +
                                std::to_string(request.creation_ms);
        if (target.known.contains(key)) {
          known.insert(key);
          ++counts.already_known;
          continue;
        }
        EventFilter filter{.type = kTransitionRequestCreated,
                           .model = model,
                           .version = v.version,
                           .limit = kKnownScan};
        auto stored = store_->List(filter);
        if (!stored) {
          ++counts.errors;
          spdlog::warn("reconcile_failed registry={} model={} version={} reason=\"{}\"", registry,
                       model, v.version, stored.error().message);
          continue;
        }
        const bool covered = std::any_of(stored->begin(), stored->end(), [&](const Event& e) {
          const std::int64_t at = e.sent_at_ms != 0 ? e.sent_at_ms : e.received_at_ms;
          return EqualsIgnoreCase(e.to_stage, request.to_stage) &&
                 at >= request.creation_ms - kCreationSlackMs;
        });
        if (covered) {
          known.insert(key);
          ++counts.already_known;
          continue;
        }
        const std::int64_t now = clock_();
        if (now - request.creation_ms < rc.grace.count()) {
          ++counts.waiting;
          continue;
        }
        const std::string from_stage =
            request.from_stage.empty() ? v.current_stage : request.from_stage;
        const std::string raw_type = TransitionRequestName(request.to_stage);
        Event e;
        e.type = kTransitionRequestCreated;
        e.raw_type = raw_type;
        e.model_name = model;
        e.model_version = v.version;
        e.from_stage = from_stage;
        e.to_stage = request.to_stage;
        e.text = (request.user_id.empty() ? std::string("A user") : request.user_id) +
                 " requested a transition of registered model '" + model + "' version " +
                 v.version + " from " + from_stage + " to " + request.to_stage +
                 " (synthesised by the stagegate reconciler: the registry did not deliver it).";
        e.dedupe_key = "reconcile:" + key;
        e.sent_at_ms = request.creation_ms;
        e.payload = Dump(json{{"stagegate_reconciled", true},
                              {"event", raw_type},
                              {"event_timestamp", request.creation_ms},
                              {"model_name", model},
                              {"version", v.version},
                              {"from_stage", from_stage},
                              {"to_stage", request.to_stage},
                              {"text", e.text},
                              {"request",
                               {{"id", request.id},
                                {"activity_type", request.activity_type},
                                {"user_id", request.user_id},
                                {"comment", request.comment},
                                {"creation_timestamp", request.creation_ms}}}});
        const int before = counts.errors;
        Synthesise(target, std::move(e), "stage=" + request.to_stage, counts);
        if (counts.errors == before) known.insert(key);
      }
    }
  }
  target.known = std::move(known);
}

void Reconciler::PollMlflow(Target& target, ReconcileCounts& counts) {
  const ReconcileConfig& rc = *target.config.reconcile;
  const std::string& registry = target.config.name;
  std::set<std::string> known;
  std::map<std::string, std::int64_t> first_seen;
  for (const auto& [model, versions] : Versions(target, counts)) {
    std::map<std::string, const ModelVersionInfo*> by_version;
    for (const auto& v : versions) {
      if (stopping_) return;
      by_version[v.version] = &v;
      ++counts.looked_at;
      const std::string key = "version:" + model + "/" + v.version;
      if (target.known.contains(key)) {
        known.insert(key);
        ++counts.already_known;
        continue;
      }
      auto stored = store_->List(
          EventFilter{.type = kVersionCreated, .model = model, .version = v.version, .limit = 1});
      if (!stored) {
        ++counts.errors;
        spdlog::warn("reconcile_failed registry={} model={} version={} reason=\"{}\"", registry,
                     model, v.version, stored.error().message);
        continue;
      }
      if (!stored->empty()) {
        known.insert(key);
        ++counts.already_known;
        continue;
      }
      const std::int64_t now = clock_();
      // A version without a creation time cannot be placed in the lookback: leave it.
      if (v.creation_ms == 0 || now - v.creation_ms > rc.lookback.count()) {
        ++counts.too_old;
        continue;
      }
      if (now - v.creation_ms < rc.grace.count()) {
        ++counts.waiting;
        continue;
      }
      json tags = json::object();
      Event e;
      e.type = kVersionCreated;
      e.raw_type = kVersionCreated;
      e.model_name = model;
      e.model_version = v.version;
      for (const auto& [k, value] : v.tags) {
        e.tags.push_back(Tag{k, value});
        tags[k] = value;
      }
      e.text = v.description;
      e.dedupe_key = "reconcile:" + key;
      e.sent_at_ms = v.creation_ms;
      // The MLflow envelope (protocols.md §3.2), so pipelines read the same payload fields.
      e.payload = Dump(
          json{{"stagegate_reconciled", true},
               {"entity", "model_version"},
               {"action", "created"},
               {"data",
                {{"name", model},
                 {"version", v.version},
                 {"source", v.source},
                 {"run_id", v.run_id.empty() ? json(nullptr) : json(v.run_id)},
                 {"tags", tags},
                 {"description", v.description.empty() ? json(nullptr) : json(v.description)}}}});
      const int before = counts.errors;
      Synthesise(target, std::move(e), "", counts);
      if (counts.errors == before) known.insert(key);
    }
    if (versions.empty() || stopping_) continue;

    // Search results carry no aliases on MLflow (mlflow/mlflow#9783): read the model.
    auto registered = target.client->GetRegisteredModel(model);
    if (!registered) {
      ++counts.errors;
      spdlog::warn("reconcile_failed registry={} model={} reason=\"{}\"", registry, model,
                   registered.error().message);
      continue;
    }
    for (const auto& [alias, version] : registered->aliases) {
      if (stopping_) return;
      ++counts.looked_at;
      // The newest stored event about this alias decides: covered when it set the alias
      // to the version it has now. An alias moved away and back needs a new event.
      auto stored = store_->List(EventFilter{.model = model, .alias = alias, .limit = kKnownScan});
      if (!stored) {
        ++counts.errors;
        spdlog::warn("reconcile_failed registry={} model={} alias={} reason=\"{}\"", registry,
                     model, alias, stored.error().message);
        continue;
      }
      const auto newest = std::find_if(stored->begin(), stored->end(), [](const Event& e) {
        return e.type == kAliasCreated || e.type == kAliasDeleted;
      });
      const bool has_history = newest != stored->end();
      if (has_history && newest->type == kAliasCreated && newest->model_version == version) {
        ++counts.already_known;
        continue;
      }
      const std::string after = has_history ? std::to_string(newest->id) : "0";
      const std::string key = "alias:" + model + "/" + alias + "/" + version + "/after/" + after;
      const std::int64_t now = clock_();
      if (!has_history) {
        // Never seen in the log: only an alias on a recent version is news; older ones
        // are how the registry looked before stagegate watched it.
        const auto v = by_version.find(version);
        if (v == by_version.end() || v->second->creation_ms == 0 ||
            now - v->second->creation_ms > rc.lookback.count()) {
          ++counts.too_old;
          continue;
        }
      }
      const auto seen = target.first_seen.find(key);
      const std::int64_t since = seen != target.first_seen.end() ? seen->second : now;
      if (now - since < rc.grace.count()) {
        first_seen[key] = since;
        ++counts.waiting;
        continue;
      }
      Event e;
      e.type = kAliasCreated;
      e.raw_type = kAliasCreated;
      e.model_name = model;
      e.model_version = version;
      e.alias = alias;
      e.dedupe_key = "reconcile:" + key;
      e.payload = Dump(json{{"stagegate_reconciled", true},
                            {"entity", "model_version_alias"},
                            {"action", "created"},
                            {"data", {{"name", model}, {"alias", alias}, {"version", version}}}});
      Synthesise(target, std::move(e), "alias=" + alias, counts);
    }
  }
  target.known = std::move(known);
  target.first_seen = std::move(first_seen);
}

void Reconciler::Synthesise(Target& target, Event event, const std::string& what,
                            ReconcileCounts& counts) {
  const ReconcileConfig& rc = *target.config.reconcile;
  event.endpoint = rc.endpoint;
  event.source = RegistryDialectName(target.client->dialect());
  event.received_at_ms = clock_();
  event.verification = Verification{.scheme = "reconciler"};
  const std::string type = event.type;
  const std::string model = event.model_name;
  const std::string version = event.model_version;
  auto stored = AppendBlocking(*store_, std::move(event));
  if (!stored) {
    ++counts.errors;
    spdlog::warn("reconcile_failed registry={} model={} version={} reason=\"{}\"",
                 target.config.name, model, version, stored.error().message);
    return;
  }
  if (stored->duplicate) {
    ++counts.already_known;
    return;
  }
  ++counts.synthesised;
  spdlog::info(
      "reconcile_synthesised registry={} endpoint={} event_id={} type={} model={} "
      "version={}{}{}",
      target.config.name, rc.endpoint, stored->event_id, type, model, version,
      what.empty() ? "" : " ", what);
  if (wake_) wake_();
}

}  // namespace stagegate::registry
