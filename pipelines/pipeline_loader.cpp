#include "pipelines/pipeline_loader.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include "orchestrator/core/actions.hpp"
#include "orchestrator/core/event_types.hpp"
#include "orchestrator/core/suggest.hpp"
#include "orchestrator/core/units.hpp"
#include "pipelines/condition.hpp"
#include "pipelines/cron.hpp"
#include "pipelines/expression.hpp"

namespace stagegate::pipelines {
namespace {

std::string Join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kDigits[digest[i] >> 4U];
    out += kDigits[digest[i] & 15U];
  }
  return out;
}

// Collects diagnostics while walking one document.
class Checker final {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Node& node, std::string message) {
    const auto mark = node.Mark();
    errors_.push_back(Diagnostic{file_, mark.line < 0 ? 0 : mark.line + 1,
                                 mark.column < 0 ? 0 : mark.column + 1, std::move(message)});
  }
  std::vector<Diagnostic>& errors() { return errors_; }
  const std::string& file() const { return file_; }

  bool Keys(const YAML::Node& map, const std::vector<std::string>& allowed,
            const std::string& where) {
    bool ok = true;
    for (const auto& item : map) {
      const auto key = item.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        const std::string hint = Suggest(key, allowed);
        Error(item.first, "unknown key '" + key + "' in " + where +
                              (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                              " (allowed: " + Join(allowed) + ")");
        ok = false;
      }
    }
    return ok;
  }

  std::optional<std::string> Scalar(const YAML::Node& node, const std::string& what) {
    if (!node.IsScalar()) {
      Error(node, what + " must be a single value, not a " +
                      (node.IsSequence() ? "list" : node.IsMap() ? "mapping" : "null"));
      return std::nullopt;
    }
    return node.Scalar();
  }

  bool Map(const YAML::Node& node, const std::string& what, const std::string& example) {
    if (!node.IsMap()) {
      Error(node, what + " must be a mapping, e.g. " + example);
      return false;
    }
    return true;
  }

  // A string or a list of strings, each with its node (for errors about one entry).
  std::vector<std::pair<YAML::Node, std::string>> Entries(const YAML::Node& node,
                                                          const std::string& what) {
    std::vector<std::pair<YAML::Node, std::string>> out;
    if (node.IsScalar()) {
      out.emplace_back(node, node.Scalar());
    } else if (node.IsSequence()) {
      for (const auto& item : node) {
        if (auto s = Scalar(item, what + " entries")) out.emplace_back(item, *s);
      }
    } else {
      Error(node, what + " must be a value or a list of values, e.g. [a, b]");
    }
    return out;
  }

  // A string or a list of strings.
  std::vector<std::string> Strings(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    for (auto& entry : Entries(node, what)) out.push_back(std::move(entry.second));
    return out;
  }

  std::map<std::string, std::string> StringMap(const YAML::Node& node, const std::string& what) {
    std::map<std::string, std::string> out;
    if (!Map(node, what, what + ": {KEY: value}")) return out;
    for (const auto& item : node) {
      if (auto s = Scalar(item.second, what + "." + item.first.Scalar())) {
        out[item.first.Scalar()] = *s;
      }
    }
    return out;
  }

  std::optional<std::chrono::milliseconds> Duration(const YAML::Node& node, const std::string& what) {
    auto text = Scalar(node, what);
    if (!text) return std::nullopt;
    auto d = ParseDuration(*text);
    if (!d || d->count() == 0) {
      Error(node, what + ": '" + *text + "' is not a duration; write e.g. 30s, 10m or 1h30m");
      return std::nullopt;
    }
    return *d;
  }

  std::optional<int> Int(const YAML::Node& node, const std::string& what, int min, int max) {
    auto text = Scalar(node, what);
    if (!text) return std::nullopt;
    try {
      std::size_t used = 0;
      const int v = std::stoi(*text, &used);
      if (used == text->size() && v >= min && v <= max) return v;
    } catch (const std::exception&) {
    }
    Error(node, what + " must be a whole number from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", not '" + *text + "'");
    return std::nullopt;
  }

  std::optional<bool> Bool(const YAML::Node& node, const std::string& what) {
    auto text = Scalar(node, what);
    if (!text) return std::nullopt;
    if (*text == "true") return true;
    if (*text == "false") return false;
    Error(node, what + " must be true or false, not '" + *text + "'");
    return std::nullopt;
  }

 private:
  std::string file_;
  std::vector<Diagnostic> errors_;
};

// Answers "is `other` upstream of `task`" by walking needs on demand, so that a pipeline
// of thousands of chained tasks does not build a transitive closure of every task.
class UpstreamIndex final {
 public:
  explicit UpstreamIndex(const std::vector<TaskSpec>& tasks) {
    for (const auto& t : tasks) needs_[t.id] = &t.needs;
  }

  bool Contains(const std::string& task, const std::string& other) const {
    std::vector<const std::string*> todo{&task};
    std::set<std::string_view> seen;
    while (!todo.empty()) {
      const std::string* id = todo.back();
      todo.pop_back();
      const auto it = needs_.find(*id);
      if (it == needs_.end()) continue;
      for (const auto& need : *it->second) {
        if (need == other) return true;
        if (seen.insert(need).second) todo.push_back(&need);
      }
    }
    return false;
  }

 private:
  std::map<std::string, const std::vector<std::string>*, std::less<>> needs_;
};

// Checks what an expression reads: known contexts, and task outputs only of tasks upstream
// of `task_id` (`upstream` null: no task outputs are visible here).
void CheckReferences(Checker& c, const YAML::Node& node,
                     const std::vector<std::vector<std::string>>& references,
                     const std::string& where, const UpstreamIndex* upstream,
                     const std::string& task_id) {
  for (const auto& path : references) {
    if (path.empty() || path[0] != "tasks" || path.size() < 2) continue;
    const std::string& other = path[1];
    if (upstream == nullptr) {
      c.Error(node, where + ": tasks." + other +
                        " is not available here; only a task's own env:, with: and if: can read "
                        "the outputs of the tasks it needs");
    } else if (!upstream->Contains(task_id, other)) {
      c.Error(node, where + ": tasks." + other + " is not upstream of task '" + task_id +
                        "'; add it to needs: [" + other + "] (directly or through another task)");
    }
  }
}

// Unknown contexts, functions and syntax are reported by the expression parser itself.
void CheckTemplate(Checker& c, const YAML::Node& node, const std::string& text,
                   const std::string& where, const UpstreamIndex* upstream,
                   const std::string& task_id) {
  auto parsed = ParseTemplate(text);
  if (!parsed) {
    c.Error(node, where + ": " + parsed.error().message);
    return;
  }
  CheckReferences(c, node, References(*parsed), where, upstream, task_id);
}

// An env name for `${{ expr }}` inside run:, from the last names of what it reads.
std::string EnvNameFor(const std::string& expression) {
  std::string name;
  std::smatch m;
  static const std::regex kPath(R"(([A-Za-z_][A-Za-z0-9_-]*)(\.[A-Za-z_][A-Za-z0-9_-]*)*)");
  if (std::regex_search(expression, m, kPath)) {
    std::vector<std::string> parts;
    std::stringstream ss(m.str());
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    const std::set<std::string> skip = {"event", "tasks", "outputs", "inputs", "env", "run", "matrix"};
    std::vector<std::string> kept;
    for (const auto& p : parts) {
      if (!skip.contains(p)) kept.push_back(p);
    }
    if (kept.size() > 2) kept.erase(kept.begin(), kept.end() - 2);
    name = Join(kept, "_");
  }
  for (char& ch : name) {
    ch = ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return name.empty() ? "VALUE" : name;
}

void CheckRun(Checker& c, const YAML::Node& node, const std::string& run, const std::string& id) {
  if (!HasExpressions(run)) return;
  const auto open = run.find("${{");
  const auto close = run.find("}}", open);
  std::string expression = close == std::string::npos ? run.substr(open + 3)
                                                      : run.substr(open + 3, close - open - 3);
  expression.erase(0, expression.find_first_not_of(' '));
  expression.erase(expression.find_last_not_of(' ') + 1);
  const std::string var = EnvNameFor(expression);
  c.Error(node, "task '" + id + "': run: must not contain ${{ }}, so that event values can never "
                "become shell code; pass them through env: instead: env: {" + var +
                    ": \"${{ " + expression + " }}\"} and write \"$" + var + "\" in run:");
}

void CheckIf(Checker& c, const YAML::Node& node, const std::string& text, const std::string& where,
             const UpstreamIndex* upstream, const std::string& task_id) {
  auto parsed = ParseCondition(text);
  if (!parsed) {
    c.Error(node, where + ": " + parsed.error().message);
    return;
  }
  CheckReferences(c, node, parsed->References(), where, upstream, task_id);
}

std::optional<ManualInput> ParseInput(Checker& c, const std::string& name, const YAML::Node& node) {
  ManualInput input;
  input.name = name;
  if (node.IsNull()) return input;
  if (!c.Map(node, "input '" + name + "'", "{type: string, required: true}")) return std::nullopt;
  c.Keys(node, {"type", "required", "default", "options", "description"}, "input '" + name + "'");
  if (node["type"]) {
    if (auto t = c.Scalar(node["type"], "type")) {
      static const std::vector<std::string> kTypes = {"string", "number", "boolean", "choice"};
      if (std::find(kTypes.begin(), kTypes.end(), *t) == kTypes.end()) {
        c.Error(node["type"], "input '" + name + "': type '" + *t +
                                  "' is not one of string, number, boolean, choice");
      }
      input.type = *t;
    }
  }
  if (node["required"]) input.required = c.Bool(node["required"], "required").value_or(false);
  if (node["default"]) input.default_value = c.Scalar(node["default"], "default");
  if (node["options"]) input.options = c.Strings(node["options"], "options");
  if (node["description"]) input.description = c.Scalar(node["description"], "description").value_or("");
  if (input.type == "choice" && input.options.empty()) {
    c.Error(node, "input '" + name + "' has type choice but no options: [a, b]");
  }
  return input;
}

// Registry stages, as a registry spells them; a trigger compares them without regard to case
// (MatchesRegistryTrigger).
const std::vector<std::string>& RegistryStages() {
  static const std::vector<std::string> kStages = {"None", "Staging", "Production", "Archived"};
  return kStages;
}

// The canonical types a registry trigger takes: all but git's push.
const std::vector<std::string>& RegistryEventTypes() {
  static const std::vector<std::string> kTypes = [] {
    std::vector<std::string> types;
    for (const auto& type : CanonicalEventTypes()) {
      if (type != "push") types.push_back(type);
    }
    return types;
  }();
  return kTypes;
}

// The types whose events carry a stage, and those that carry an alias, as matching sees them
// (MatchesRegistryTrigger).
bool CarriesStage(const std::string& type) {
  return type == "transition_request.created" || type == "model_version.stage_transitioned";
}

bool IsAliasEvent(const std::string& type) { return type.starts_with("model_version_alias."); }

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// The stage `text` names without regard to case, in the registry's spelling; empty if none.
std::string StageNamed(std::string_view text) {
  for (const auto& stage : RegistryStages()) {
    if (Lower(stage) == Lower(text)) return stage;
  }
  return "";
}

// The stage a misspelt one most likely means: the same word with stray spaces, the only stage
// it abbreviates (Prod), or the closest by edit distance, all without regard to case.
std::string SuggestStage(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  const auto last = text.find_last_not_of(" \t");
  const std::string_view trimmed =
      first == std::string_view::npos ? std::string_view() : text.substr(first, last - first + 1);
  if (auto stage = StageNamed(trimmed); !stage.empty()) return stage;
  const std::string word = Lower(trimmed);
  std::vector<std::string> lowered;
  std::string prefixed;
  int prefix_matches = 0;
  for (const auto& stage : RegistryStages()) {
    lowered.push_back(Lower(stage));
    if (word.size() >= 2 && lowered.back().starts_with(word)) {
      prefixed = stage;
      ++prefix_matches;
    }
  }
  if (prefix_matches == 1) return prefixed;
  const std::string hint = Suggest(word, lowered);
  return hint.empty() ? "" : StageNamed(hint);
}

// `stages` in the registry's order (None, Staging, Production, Archived).
std::string JoinStages(const std::set<std::string>& stages, const std::string& sep) {
  std::vector<std::string> ordered;
  for (const auto& stage : RegistryStages()) {
    if (stages.contains(stage)) ordered.push_back(stage);
  }
  return Join(ordered, sep);
}

// One entry of on.registry.events that names a registry event.
struct RegistryEvent {
  YAML::Node node;
  std::string spelling;
  CanonicalType canonical;
};

// to_stage is a single filter for the whole trigger (RegistryTrigger::to_stages), so a stage
// implied by a Databricks name (TRANSITION_REQUEST_TO_PRODUCTION_CREATED) also filters every
// other stage-carrying event of the trigger. Accepts the combinations where that changes
// nothing: every stage-carrying type ends up accepting exactly the stages its entries ask
// for (several names of one type, such as the TO_STAGING and TO_PRODUCTION requests, or
// names of two types that imply the same stage), and an explicit to_stage that agrees with
// the implied stages. Rejects the others, with the unambiguous canonical spelling.
void CheckImpliedStages(Checker& c, const std::vector<RegistryEvent>& events,
                        const std::vector<std::string>& explicit_stages) {
  std::set<std::string> implied;
  std::vector<std::string> implying;  // 'spelling' (stage), once each
  std::vector<std::string> types;     // canonical types in file order, once each
  for (const auto& e : events) {
    if (std::find(types.begin(), types.end(), e.canonical.type) == types.end()) {
      types.push_back(e.canonical.type);
    }
    if (e.canonical.to_stage.empty()) continue;
    implied.insert(e.canonical.to_stage);
    const std::string named = "'" + e.spelling + "' (" + e.canonical.to_stage + ")";
    if (std::find(implying.begin(), implying.end(), named) == implying.end()) {
      implying.push_back(named);
    }
  }
  if (implied.empty()) return;
  const std::set<std::string> given(explicit_stages.begin(), explicit_stages.end());
  std::set<std::string> filter = implied;  // what every stage-carrying event will be held to
  filter.insert(given.begin(), given.end());
  // The stages one entry asks for; nullopt: any stage.
  auto wanted = [&](const RegistryEvent& e) -> std::optional<std::set<std::string>> {
    if (!e.canonical.to_stage.empty()) return std::set<std::string>{e.canonical.to_stage};
    if (!given.empty()) return given;
    return std::nullopt;
  };
  bool ambiguous = false;
  for (const auto& type : types) {
    if (!CarriesStage(type)) continue;
    std::optional<std::set<std::string>> stages = std::set<std::string>{};
    for (const auto& e : events) {
      if (e.canonical.type != type) continue;
      const auto w = wanted(e);
      if (!w) {
        stages.reset();
        break;
      }
      stages->insert(w->begin(), w->end());
    }
    ambiguous = ambiguous || !stages || *stages != filter;
  }
  const RegistryEvent* culprit = nullptr;  // a name whose stage to_stage does not list
  for (const auto& e : events) {
    if (!given.empty() && !e.canonical.to_stage.empty() && !given.contains(e.canonical.to_stage)) {
      culprit = &e;
      break;
    }
  }
  if (!ambiguous && culprit == nullptr) return;
  const RegistryEvent& first = *std::find_if(events.begin(), events.end(), [](const auto& e) {
    return !e.canonical.to_stage.empty();
  });
  const std::string rewrite = "events: [" + Join(types) + "]";
  if (!given.empty()) {
    const RegistryEvent& e = culprit != nullptr ? *culprit : first;
    c.Error(e.node, "event '" + e.spelling + "' implies to_stage " + e.canonical.to_stage +
                        ", which conflicts with to_stage: [" + Join(explicit_stages) +
                        "] (to_stage is one filter for the whole trigger); write " + rewrite +
                        " with only the stages you mean in to_stage:, e.g. to_stage: [" +
                        JoinStages(implied, ", ") + "]");
    return;
  }
  std::vector<std::string> affected;  // entries held to other stages than they ask for
  for (const auto& e : events) {
    if (!CarriesStage(e.canonical.type) || wanted(e) == filter) continue;
    const std::string quoted = "'" + e.spelling + "'";
    if (std::find(affected.begin(), affected.end(), quoted) == affected.end()) {
      affected.push_back(quoted);
    }
  }
  c.Error(first.node, (implying.size() == 1 ? "the stage implied by " + implying[0] + " joins"
                                            : "the stages implied by " + Join(implying) + " join") +
                          " the one to_stage filter of the whole trigger, so " + Join(affected) +
                          " would match only to_stage " + JoinStages(filter, " or ") + "; write " +
                          rewrite + " with to_stage: [" + JoinStages(filter, ", ") +
                          "] if that is what you mean, or give events that need another stage a "
                          "pipeline of their own");
}

void ParseRegistry(Checker& c, const YAML::Node& registry, RegistryTrigger& trigger) {
  if (!c.Map(registry, "on.registry",
             "{events: [transition_request.created], models: [\"churn-*\"]}")) {
    return;
  }
  c.Keys(registry, {"events", "models", "to_stage", "aliases"}, "on.registry");
  std::vector<RegistryEvent> events;
  bool events_ok = static_cast<bool>(registry["events"]);  // every entry names a registry event
  if (registry["events"]) {
    for (auto& [item, e] : c.Entries(registry["events"], "on.registry.events")) {
      const auto canonical = CanonicalizeEventType(e);
      if (canonical && canonical->type == "push") {
        c.Error(item, "'" + e + "' is a git event, not a model registry event; registry triggers "
                          "take model registry events: " + Join(RegistryEventTypes()) +
                          " (or their Databricks or MLflow spellings, e.g. "
                          "TRANSITION_REQUEST_CREATED)");
        events_ok = false;
      } else if (canonical) {
        trigger.events.push_back(canonical->type);
        if (!canonical->to_stage.empty()) trigger.to_stages.push_back(canonical->to_stage);
        events.push_back(RegistryEvent{item, e, *canonical});
      } else {
        const std::string hint = Suggest(e, RegistryEventTypes());
        c.Error(item, "unknown event '" + e + "'" +
                          (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                          " (events: " + Join(RegistryEventTypes()) +
                          ", or a Databricks or MLflow event name)");
        events_ok = false;
      }
    }
  } else {
    c.Error(registry, "on.registry needs events: [...], e.g. [transition_request.created]");
  }
  if (registry["models"]) trigger.models = c.Strings(registry["models"], "on.registry.models");
  std::vector<std::string> explicit_stages;  // in the registry's spelling
  bool stages_ok = true;
  if (const auto to_stage = registry["to_stage"]) {
    for (const auto& [item, s] : c.Entries(to_stage, "on.registry.to_stage")) {
      if (auto stage = StageNamed(s); !stage.empty()) {
        trigger.to_stages.push_back(stage);
        explicit_stages.push_back(stage);
      } else {
        const std::string hint = SuggestStage(s);
        c.Error(item, "on.registry.to_stage: '" + s + "' is not a registry stage" +
                          (hint.empty() ? "" : "; did you mean '" + hint + "'?") + " (stages: " +
                          Join(RegistryStages()) + "; case does not matter)");
        stages_ok = false;
      }
    }
    const bool any_stage = std::any_of(events.begin(), events.end(), [](const auto& e) {
      return CarriesStage(e.canonical.type);
    });
    if (events_ok && !any_stage) {
      c.Error(to_stage, "on.registry.to_stage only filters events that carry a stage "
                        "(transition_request.created, model_version.stage_transitioned), and "
                        "events: lists none; add one of them to events:, or remove to_stage:");
    }
  }
  if (const auto aliases = registry["aliases"]) {
    trigger.aliases = c.Strings(aliases, "on.registry.aliases");
    const bool any_alias = std::any_of(events.begin(), events.end(), [](const auto& e) {
      return IsAliasEvent(e.canonical.type);
    });
    if (events_ok && !any_alias) {
      c.Error(aliases,
              "on.registry.aliases only filters alias events (model_version_alias.created, "
              "model_version_alias.deleted), and events: lists none; add "
              "model_version_alias.created to events:, or remove aliases:");
    }
  }
  if (events_ok && stages_ok) CheckImpliedStages(c, events, explicit_stages);
}

void ParseOn(Checker& c, const YAML::Node& node, TriggerSpec& on) {
  if (!c.Map(node, "on", "on: {registry: {events: [model_version.created]}}")) return;
  c.Keys(node, {"registry", "schedule", "manual"}, "on");
  if (const auto registry = node["registry"]) {
    RegistryTrigger trigger;
    ParseRegistry(c, registry, trigger);
    on.registry = std::move(trigger);
  }
  if (const auto schedule = node["schedule"]) {
    const YAML::Node list = schedule;
    auto check = [&](const YAML::Node& item) {
      if (auto text = c.Scalar(item, "on.schedule")) {
        if (auto cron = ParseCron(*text); !cron) {
          c.Error(item, cron.error().message);
        } else {
          on.schedules.push_back(*text);
        }
      }
    };
    if (list.IsSequence()) {
      for (const auto& item : list) check(item);
    } else {
      check(list);
    }
  }
  if (const auto manual = node["manual"]) {
    on.manual = true;
    if (manual.IsMap()) {
      c.Keys(manual, {"inputs"}, "on.manual");
      if (const auto inputs = manual["inputs"]) {
        if (c.Map(inputs, "on.manual.inputs", "{threshold: {type: number, default: 0.8}}")) {
          for (const auto& item : inputs) {
            if (auto input = ParseInput(c, item.first.Scalar(), item.second)) {
              on.inputs.push_back(std::move(*input));
            }
          }
        }
      }
    } else if (!manual.IsNull() && !(manual.IsScalar() && manual.Scalar() == "true")) {
      c.Error(manual, "on.manual must be {} or {inputs: {...}}");
    }
  }
  if (!node["registry"] && !node["schedule"] && !node["manual"]) {
    c.Error(node, "on: needs at least one of registry:, schedule: or manual:");
  }
}

// The runner kinds stagegate has or plans; which of them can run tasks is up to the server's
// configuration (runners:), so a task naming one that is not configured fails when it starts.
std::string ParseRunner(Checker& c, const YAML::Node& node, const std::string& where) {
  auto runner = c.Scalar(node, "runner");
  if (!runner) return "";
  static const std::vector<std::string> kRunners = {"local", "slurm", "kubernetes", "databricks"};
  if (std::find(kRunners.begin(), kRunners.end(), *runner) == kRunners.end()) {
    const std::string hint = Suggest(*runner, kRunners);
    c.Error(node, where + ": unknown runner '" + *runner + "'" +
                      (hint.empty() ? "" : "; did you mean '" + hint + "'?") + " (runners: " +
                      Join(kRunners) + "; a runner must also be configured on the server, "
                      "under runners:, to run tasks)");
  }
  return *runner;
}

std::optional<MatrixSpec> ParseMatrix(Checker& c, const YAML::Node& node, const std::string& id) {
  const std::string where = "task '" + id + "' matrix";
  if (!c.Map(node, where, "{python: [\"3.10\", \"3.11\"]}")) return std::nullopt;
  MatrixSpec m;
  for (const auto& item : node) {
    const auto key = item.first.Scalar();
    if (key == "include" || key == "exclude") {
      if (!item.second.IsSequence()) {
        c.Error(item.second, where + "." + key + " must be a list of mappings");
        continue;
      }
      for (const auto& entry : item.second) {
        auto map = c.StringMap(entry, where + "." + key + " entries");
        (key == "include" ? m.include : m.exclude).push_back(std::move(map));
      }
    } else if (key == "max_parallel") {
      m.max_parallel = c.Int(item.second, where + ".max_parallel", 1, 1000).value_or(0);
    } else if (key == "fail_fast") {
      m.fail_fast = c.Bool(item.second, where + ".fail_fast").value_or(true);
    } else {
      if (!item.second.IsSequence() || item.second.size() == 0) {
        c.Error(item.second, where + "." + key + " must be a non-empty list of values");
        continue;
      }
      std::vector<std::string> values;
      for (const auto& v : item.second) {
        if (auto s = c.Scalar(v, where + "." + key + " values")) values.push_back(*s);
      }
      m.axes.emplace_back(key, std::move(values));
    }
  }
  if (m.axes.empty() && m.include.empty()) {
    c.Error(node, where + " needs at least one axis, e.g. python: [\"3.10\", \"3.11\"]");
  }
  return m;
}

// uses: names a built-in action, and with: holds only the inputs it takes.
void CheckAction(Checker& c, const YAML::Node& node, const TaskSpec& t) {
  const ActionInfo* action = FindAction(t.uses);
  if (action == nullptr) {
    std::vector<std::string> names;
    for (const auto& a : BuiltinActions()) names.push_back(a.name);
    const std::string hint = Suggest(t.uses, names);
    c.Error(node["uses"], "task '" + t.id + "' uses unknown action '" + t.uses + "'" +
                              (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                              " (built-in actions: " + Join(names) + ")");
    return;
  }
  if (action->inputs.empty()) return;  // not checked until the action exists
  for (const auto& [key, value] : t.with) {
    if (std::find(action->inputs.begin(), action->inputs.end(), key) != action->inputs.end()) continue;
    const std::string hint = Suggest(key, action->inputs);
    c.Error(node["with"], "task '" + t.id + "': " + t.uses + " takes no with: " + key +
                              (hint.empty() ? "" : "; did you mean '" + hint + "'?") + " (it takes " +
                              Join(action->inputs) + ")");
  }
}

TaskSpec ParseTask(Checker& c, const std::string& id, const YAML::Node& key, const YAML::Node& node) {
  TaskSpec t;
  t.id = id;
  t.pos = SourcePos{key.Mark().line + 1, key.Mark().column + 1};
  static const std::regex kId("[A-Za-z_][A-Za-z0-9_-]{0,63}");
  if (!std::regex_match(id, kId)) {
    c.Error(key, "task id '" + id + "' must start with a letter or _ and hold only letters, "
                 "digits, - and _");
  }
  if (!c.Map(node, "task '" + id + "'", "{run: ./test.sh} or {uses: compare}")) return t;
  c.Keys(node, {"run", "uses", "with", "needs", "if", "env", "timeout", "retries", "retry_backoff",
                "runner", "resources", "matrix", "continue_on_error"},
         "task '" + id + "'");
  if (node["run"]) t.run = c.Scalar(node["run"], "run").value_or("");
  if (node["uses"]) t.uses = c.Scalar(node["uses"], "uses").value_or("");
  if (node["run"] && node["uses"]) {
    c.Error(node["uses"], "task '" + id + "' has both run: and uses:; keep one");
  } else if (!node["run"] && !node["uses"]) {
    c.Error(key, "task '" + id + "' needs run: (a shell command) or uses: (a built-in action)");
  }
  if (node["with"]) {
    t.with = c.StringMap(node["with"], "task '" + id + "' with");
    if (!node["uses"] && node["run"]) {
      c.Error(node["with"], "task '" + id + "': with: only applies to uses:; pass values to run: through env:");
    }
  }
  if (!t.uses.empty()) CheckAction(c, node, t);
  if (node["needs"]) t.needs = c.Strings(node["needs"], "needs");
  if (node["if"]) t.if_expression = c.Scalar(node["if"], "if").value_or("");
  if (node["env"]) t.env = c.StringMap(node["env"], "task '" + id + "' env");
  if (node["timeout"]) t.timeout = c.Duration(node["timeout"], "timeout").value_or(std::chrono::milliseconds(0));
  if (node["retries"]) t.retries = c.Int(node["retries"], "retries", 0, 10).value_or(-1);
  if (node["retry_backoff"]) {
    t.retry_backoff = c.Duration(node["retry_backoff"], "retry_backoff").value_or(std::chrono::milliseconds(0));
  }
  if (node["runner"]) t.runner = ParseRunner(c, node["runner"], "task '" + id + "'");
  if (node["resources"]) t.resources = c.StringMap(node["resources"], "task '" + id + "' resources");
  if (node["matrix"]) t.matrix = ParseMatrix(c, node["matrix"], id);
  if (node["continue_on_error"]) {
    t.continue_on_error = c.Bool(node["continue_on_error"], "continue_on_error").value_or(false);
  }
  return t;
}

// needs: known ids, no cycles (the first cycle found is printed in full).
void CheckGraph(Checker& c, const std::vector<TaskSpec>& tasks,
                const std::map<std::string, YAML::Node>& needs_nodes) {
  std::map<std::string, const TaskSpec*> by_id;
  std::vector<std::string> ids;
  for (const auto& t : tasks) {
    by_id[t.id] = &t;
    ids.push_back(t.id);
  }
  bool graph_ok = true;
  for (const auto& t : tasks) {
    for (const auto& need : t.needs) {
      const YAML::Node& where = needs_nodes.at(t.id);
      if (need == t.id) {
        c.Error(where, "task '" + t.id + "' needs itself; remove it from needs:");
        graph_ok = false;
      } else if (!by_id.contains(need)) {
        const std::string hint = Suggest(need, ids);
        c.Error(where, "task '" + t.id + "' needs unknown task '" + need + "'" +
                           (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                           " (tasks: " + Join(ids) + ")");
        graph_ok = false;
      }
    }
  }
  if (!graph_ok) return;
  // Depth-first search in file order with an explicit stack (a chain of thousands of tasks
  // must not recurse that deep); a back edge is a cycle, printed from its first task.
  std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
  std::vector<std::pair<std::string, std::size_t>> stack;  // task, next need to look at
  for (const auto& root : ids) {
    if (state[root] != 0) continue;
    state[root] = 1;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      const std::string id = stack.back().first;
      const auto& needs = by_id[id]->needs;
      if (stack.back().second == needs.size()) {
        state[id] = 2;
        stack.pop_back();
        continue;
      }
      const std::string& need = needs[stack.back().second++];
      if (state[need] == 1) {
        std::vector<std::string> cycle;
        bool in_cycle = false;
        for (const auto& [frame, next] : stack) {
          in_cycle = in_cycle || frame == need;
          if (in_cycle) cycle.push_back(frame);
        }
        cycle.push_back(need);
        c.Error(needs_nodes.at(id), "needs: form a cycle: " + Join(cycle, " -> ") +
                                        "; remove one of these needs");
        return;
      }
      if (state[need] == 0) {
        state[need] = 1;
        stack.emplace_back(need, 0);
      }
    }
  }
}

}  // namespace

std::string Diagnostic::ToString() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

LoadedPipeline LoadPipelineText(const std::string& text, const std::string& file) {
  Checker c(file);
  LoadedPipeline out;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    out.errors.push_back(Diagnostic{file, e.mark.line + 1, e.mark.column + 1,
                                    "YAML syntax error: " + e.msg +
                                        " (check brackets, quotes and indentation near here)"});
    return out;
  }
  if (!root.IsMap()) {
    out.errors.push_back(Diagnostic{file, 1, 1, "a pipeline must be a YAML mapping with on: and tasks:"});
    return out;
  }
  PipelineSpec spec;
  spec.file = file;
  spec.revision = Sha256Hex(text);
  c.Keys(root, {"name", "description", "on", "concurrency", "defaults", "env", "tasks"}, "the pipeline");
  if (root["name"]) {
    spec.name = c.Scalar(root["name"], "name").value_or("");
    static const std::regex kName("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
    if (!std::regex_match(spec.name, kName)) {
      c.Error(root["name"], "name '" + spec.name + "' must be letters, digits, '.', '-' or '_' (it "
                            "appears in URLs such as /api/v1/pipelines/<name>/runs)");
    }
  } else {
    const auto slash = file.find_last_of('/');
    std::string stem = file.substr(slash == std::string::npos ? 0 : slash + 1);
    stem = stem.substr(0, stem.find('.'));
    spec.name = stem;
  }
  if (root["description"]) spec.description = c.Scalar(root["description"], "description").value_or("");
  if (root["on"]) {
    ParseOn(c, root["on"], spec.on);
  } else {
    c.Error(root, "the pipeline needs on: with registry:, schedule: or manual:");
  }
  if (const auto node = root["concurrency"]) {
    ConcurrencySpec concurrency;
    if (node.IsScalar()) {
      concurrency.group = node.Scalar();
    } else if (c.Map(node, "concurrency", "{group: \"${{ event.model.name }}\", policy: queue}")) {
      c.Keys(node, {"group", "policy"}, "concurrency");
      if (node["group"]) concurrency.group = c.Scalar(node["group"], "group").value_or("");
      if (node["policy"]) {
        const auto policy = c.Scalar(node["policy"], "policy").value_or("");
        if (policy == "queue") concurrency.policy = ConcurrencyPolicy::kQueue;
        else if (policy == "cancel_running") concurrency.policy = ConcurrencyPolicy::kCancelRunning;
        else if (policy == "skip") concurrency.policy = ConcurrencyPolicy::kSkip;
        else {
          const std::string hint = Suggest(policy, {"queue", "cancel_running", "skip"});
          c.Error(node["policy"], "concurrency policy '" + policy + "' is not queue, cancel_running or skip" +
                                      (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
        }
      }
    }
    if (concurrency.group.empty()) {
      c.Error(node, "concurrency needs a group, e.g. group: \"${{ event.model.name }}\"");
    } else {
      CheckTemplate(c, node, concurrency.group, "concurrency.group", nullptr, "");
    }
    spec.concurrency = concurrency;
  }
  if (const auto node = root["defaults"]) {
    if (c.Map(node, "defaults", "{runner: local, timeout: 30m, retries: 0}")) {
      c.Keys(node, {"runner", "timeout", "retries", "retry_backoff"}, "defaults");
      if (node["runner"]) {
        if (auto runner = ParseRunner(c, node["runner"], "defaults"); !runner.empty()) {
          spec.defaults.runner = runner;
        }
      }
      if (node["timeout"]) spec.defaults.timeout = c.Duration(node["timeout"], "timeout").value_or(spec.defaults.timeout);
      if (node["retries"]) spec.defaults.retries = c.Int(node["retries"], "retries", 0, 10).value_or(0);
      if (node["retry_backoff"]) {
        spec.defaults.retry_backoff = c.Duration(node["retry_backoff"], "retry_backoff").value_or(spec.defaults.retry_backoff);
      }
    }
  }
  if (const auto node = root["env"]) {
    spec.env = c.StringMap(node, "env");
    for (const auto& item : node) {
      if (item.second.IsScalar()) {
        CheckTemplate(c, item.second, item.second.Scalar(), "env." + item.first.Scalar(), nullptr, "");
      }
    }
  }
  std::map<std::string, YAML::Node> needs_nodes;
  std::map<std::string, YAML::Node> task_nodes;
  if (const auto tasks = root["tasks"]; tasks && c.Map(tasks, "tasks", "{test: {run: ./test.sh}}")) {
    std::set<std::string> seen;
    for (const auto& item : tasks) {
      const std::string id = item.first.Scalar();
      if (!seen.insert(id).second) {
        c.Error(item.first, "task id '" + id + "' is used twice; give each task its own id");
        continue;
      }
      spec.tasks.push_back(ParseTask(c, id, item.first, item.second));
      needs_nodes[id] = item.second.IsMap() && item.second["needs"] ? item.second["needs"] : item.first;
      task_nodes[id] = item.second;
    }
    if (tasks.size() == 0) c.Error(tasks, "tasks: is empty; add at least one task");
  } else if (!root["tasks"]) {
    c.Error(root, "the pipeline needs tasks:, e.g. tasks: {test: {run: ./test.sh}}");
  }
  CheckGraph(c, spec.tasks, needs_nodes);
  const UpstreamIndex upstream(spec.tasks);
  for (const auto& t : spec.tasks) {
    const YAML::Node& node = task_nodes[t.id];
    if (!node.IsMap()) continue;
    const UpstreamIndex* visible = &upstream;
    if (node["run"]) CheckRun(c, node["run"], t.run, t.id);
    if (node["if"]) CheckIf(c, node["if"], t.if_expression, "task '" + t.id + "' if", visible, t.id);
    for (const char* section : {"env", "with"}) {
      if (!node[section] || !node[section].IsMap()) continue;
      for (const auto& item : node[section]) {
        if (item.second.IsScalar()) {
          CheckTemplate(c, item.second, item.second.Scalar(),
                        "task '" + t.id + "' " + section + "." + item.first.Scalar(), visible, t.id);
        }
      }
    }
  }
  out.errors = std::move(c.errors());
  std::stable_sort(out.errors.begin(), out.errors.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (out.errors.empty()) out.spec = std::move(spec);
  return out;
}

LoadedPipeline LoadPipelineFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return LoadedPipeline{.errors = {Diagnostic{path, 0, 0, "cannot read the file"}}};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return LoadPipelineText(buffer.str(), path);
}

}  // namespace stagegate::pipelines
