#include "webhooks/sample_payload.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "orchestrator/core/event_types.hpp"
#include "orchestrator/core/units.hpp"

namespace stagegate::webhooks {
namespace {

using ordered = nlohmann::ordered_json;

// MLflow sends Python's isoformat(): microseconds and +00:00.
std::string PythonIso(std::int64_t ms) {
  const std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000) * 1000);
  return buf;
}

void AppendPython(const ordered& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : j.items()) {
      if (!first) out += ", ";
      first = false;
      out += ordered(key).dump(-1, ' ', true);
      out += ": ";
      AppendPython(value, out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (i > 0) out += ", ";
      AppendPython(j[i], out);
    }
    out += ']';
  } else {
    out += j.dump(-1, ' ', true);  // ensure_ascii, like Python's default
  }
}

const char* DatabricksName(const std::string& canonical) {
  if (canonical == "model_version.created") return "MODEL_VERSION_CREATED";
  if (canonical == "model_version.stage_transitioned") return "MODEL_VERSION_TRANSITIONED_STAGE";
  if (canonical == "transition_request.created") return "TRANSITION_REQUEST_CREATED";
  if (canonical == "comment.created") return "COMMENT_CREATED";
  if (canonical == "registered_model.created") return "REGISTERED_MODEL_CREATED";
  if (canonical == "model_version_tag.set") return "MODEL_VERSION_TAG_SET";
  return nullptr;
}

}  // namespace

std::string PythonJsonDumps(const std::string& json_text) {
  std::string out;
  AppendPython(ordered::parse(json_text), out);
  return out;
}

Result<std::string> SamplePayload(Scheme scheme, const SampleSpec& spec) {
  const std::int64_t now = spec.now_ms;
  switch (scheme) {
    case Scheme::kDatabricks: {
      std::string name = spec.type.empty() ? "TRANSITION_REQUEST_CREATED" : spec.type;
      if (const char* mapped = DatabricksName(name)) name = mapped;
      const auto canonical = CanonicalizeEventType(name);
      const auto& names = DatabricksEventNames();
      if (!canonical || std::find(names.begin(), names.end(), name) == names.end()) {
        return Fail(ErrorCode::kInvalidArgument,
                    "Databricks sends no event '" + spec.type +
                        "'; use a Databricks event name or one of model_version.created, "
                        "model_version.stage_transitioned, transition_request.created, "
                        "comment.created, registered_model.created, model_version_tag.set");
      }
      ordered body = {{"event", name},
                      {"webhook_id", "0123456789abcdef0123456789abcdef"},
                      {"event_timestamp", now},
                      {"model_name", spec.model}};
      if (canonical->type != "registered_model.created") body["version"] = spec.version;
      std::string to = spec.to_stage.empty() ? canonical->to_stage : spec.to_stage;
      if (canonical->type == "transition_request.created" ||
          canonical->type == "model_version.stage_transitioned") {
        if (to.empty()) to = "Production";
        body["to_stage"] = to;
        body["from_stage"] = spec.from_stage.empty() ? "Staging" : spec.from_stage;
      }
      if (canonical->type == "comment.created") {
        body["comment"] = spec.text.empty() ? "Looks good" : spec.text;
      }
      if (canonical->type == "model_version_tag.set") {
        ordered tags = ordered::array();
        for (const auto& t : spec.tags) tags.push_back({{"key", t.key}, {"value", t.value}});
        if (tags.empty()) tags.push_back({{"key", "validated"}, {"value", "true"}});
        body["tags"] = tags;
      }
      body["text"] = spec.text.empty() ? "A sample event sent by stagegate send." : spec.text;
      return PythonJsonDumps(body.dump());
    }
    case Scheme::kMlflow: {
      const std::string type = spec.type.empty() ? "model_version.created" : spec.type;
      const auto dot = type.find('.');
      ordered data = {{"name", spec.model}};
      if (type == "registered_model.created") {
        data["tags"] = ordered::object();
        data["description"] = spec.text.empty() ? ordered(nullptr) : ordered(spec.text);
      } else if (type == "model_version.created") {
        data["version"] = spec.version;
        data["source"] = "models:/" + spec.model + "/" + spec.version;
        data["run_id"] = nullptr;
        ordered tags = ordered::object();
        for (const auto& t : spec.tags) tags[t.key] = t.value;
        data["tags"] = tags;
        data["description"] = spec.text.empty() ? ordered(nullptr) : ordered(spec.text);
      } else if (type == "model_version_tag.set" || type == "model_version_tag.deleted") {
        data["version"] = spec.version;
        const Tag tag = spec.tags.empty() ? Tag{"validation_status", "passed"} : spec.tags.front();
        data["key"] = tag.key;
        if (type.ends_with("set")) data["value"] = tag.value;
      } else if (type == "model_version_alias.created" || type == "model_version_alias.deleted") {
        data["alias"] = spec.alias.empty() ? "champion" : spec.alias;
        if (type.ends_with("created")) data["version"] = spec.version;
      } else {
        return Fail(ErrorCode::kInvalidArgument,
                    "MLflow sends no event '" + type +
                        "'; use registered_model.created, model_version.created, "
                        "model_version_tag.set|deleted or model_version_alias.created|deleted");
      }
      ordered body = {{"entity", type.substr(0, dot)},
                      {"action", type.substr(dot + 1)},
                      {"timestamp", PythonIso(now)},
                      {"data", data}};
      return PythonJsonDumps(body.dump());
    }
    case Scheme::kGithub: {
      if (!spec.type.empty() && spec.type != "push") {
        return Fail(ErrorCode::kInvalidArgument, "GitHub samples are push events only");
      }
      const std::string sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
      ordered body = {
          {"ref", "refs/heads/main"},
          {"before", "0000000000000000000000000000000000000000"},
          {"after", sha},
          {"created", false},
          {"deleted", false},
          {"forced", false},
          {"repository", {{"id", 1}, {"name", "pipelines"}, {"full_name", "example/pipelines"}}},
          {"head_commit",
           {{"id", sha}, {"message", spec.text.empty() ? "Update pipelines" : spec.text},
            {"timestamp", FormatIsoMillis(now)}}},
          {"pusher", {{"name", "stagegate"}}}};
      return body.dump();
    }
    case Scheme::kStandard:
    case Scheme::kNone: {
      const std::string type = spec.type.empty() ? "model_version.created" : spec.type;
      const auto canonical = CanonicalizeEventType(type);
      if (!canonical) {
        return Fail(ErrorCode::kInvalidArgument, "unknown event type '" + type + "'");
      }
      ordered data = {{"model_name", spec.model}, {"version", spec.version}};
      if (!spec.from_stage.empty()) data["from_stage"] = spec.from_stage;
      if (!spec.to_stage.empty()) data["to_stage"] = spec.to_stage;
      if (!spec.alias.empty()) data["alias"] = spec.alias;
      if (!spec.tags.empty()) {
        data["key"] = spec.tags.front().key;
        data["value"] = spec.tags.front().value;
      }
      if (!spec.text.empty()) data["text"] = spec.text;
      ordered body = {{"type", type}, {"timestamp", FormatIsoMillis(now)}, {"data", data}};
      return body.dump();
    }
  }
  return Fail(ErrorCode::kInternal, "unknown scheme");
}

}  // namespace stagegate::webhooks
