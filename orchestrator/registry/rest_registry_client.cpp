#include "orchestrator/registry/rest_registry_client.hpp"

#include <utility>

#include <nlohmann/json.hpp>

#include "orchestrator/core/headers.hpp"
#include "orchestrator/registry/registry_json.hpp"
#include "orchestrator/registry/registry_errors.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;

constexpr const char* kBase = "/api/2.0/mlflow/";




ModelVersionInfo VersionFrom(const json& j) {
  ModelVersionInfo v;
  v.name = StringField(j, "name");
  v.version = StringField(j, "version");
  v.current_stage = StringField(j, "current_stage");
  v.run_id = StringField(j, "run_id");
  v.source = StringField(j, "source");
  v.status = StringField(j, "status");
  v.description = StringField(j, "description");
  v.creation_ms = IntField(j, "creation_timestamp");
  if (const auto a = j.find("aliases"); a != j.end() && a->is_array()) {
    for (const auto& alias : *a) {
      if (alias.is_string()) v.aliases.push_back(alias.get<std::string>());
    }
  }
  if (const auto t = j.find("tags"); t != j.end() && t->is_array()) {
    for (const auto& tag : *t) {
      if (tag.is_object()) v.tags[StringField(tag, "key")] = StringField(tag, "value");
    }
  }
  return v;
}

RegistryActivity ActivityFrom(const json& j) {
  return RegistryActivity{.id = StringField(j, "id"),
                          .activity_type = StringField(j, "activity_type"),
                          .from_stage = StringField(j, "from_stage"),
                          .to_stage = StringField(j, "to_stage"),
                          .comment = StringField(j, "comment"),
                          .user_id = StringField(j, "user_id"),
                          .creation_ms = IntField(j, "creation_timestamp")};
}

ErrorCode CodeFor(int status, const std::string& error_code) {
  if (status == 404 || error_code == "RESOURCE_DOES_NOT_EXIST") return ErrorCode::kNotFound;
  if (status == 401 || status == 403 || error_code == "PERMISSION_DENIED" ||
      error_code == "UNAUTHENTICATED") {
    return ErrorCode::kUnauthenticated;
  }
  if (status == 409 || error_code == "RESOURCE_ALREADY_EXISTS") return ErrorCode::kConflict;
  if (status == 429 || status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kInvalidArgument;
}

}  // namespace

ErrorCode RegistryErrorCode(int status, const std::string& error_code) {
  return CodeFor(status, error_code);
}

Error RegistryHttpError(RegistryDialect dialect, const std::string& what,
                        const RegistryRequest& request, const RegistryResponse& response) {
  const json parsed = json::parse(response.body, nullptr, false);
  std::string error_code;
  std::string message;
  if (parsed.is_object()) {
    error_code = StringField(parsed, "error_code");
    message = StringField(parsed, "message");
  }
  if (message.empty()) message = response.body.substr(0, 200);
  return Error{CodeFor(response.status, error_code),
               std::string(RegistryDialectName(dialect)) + " registry: " + what + " failed: " +
                   (error_code.empty() ? "" : error_code + ": ") + message + " (HTTP " +
                   std::to_string(response.status) + " on " + request.method + " " +
                   request.path.substr(0, request.path.find('?')) + ")"};
}

Result<json> RegistryCall(RegistryDialect dialect, RegistryTransport& transport,
                          const std::string& what, std::string method, const std::string& path,
                          const json* body) {
  RegistryRequest request{.method = std::move(method), .path = kBase + path,
                          .body = body != nullptr ? Dump(*body) : std::string()};
  auto response = transport.Send(request);
  const std::string call = std::string(RegistryDialectName(dialect)) + " registry: " + what;
  if (!response) {
    // kInDoubt stays: the call may have happened (the outbox checks before sending again).
    const ErrorCode code = response.error().code == ErrorCode::kInDoubt ? ErrorCode::kInDoubt
                                                                        : ErrorCode::kUnavailable;
    return Fail(code, call + " failed: " + response.error().message);
  }
  if (response->status < 200 || response->status >= 300) {
    return tl::unexpected(RegistryHttpError(dialect, what, request, *response));
  }
  const json parsed = response->body.empty() ? json::object()
                                             : json::parse(response->body, nullptr, false);
  if (!parsed.is_object()) {
    return Fail(ErrorCode::kUnavailable,
                call + " answered with a body that is not a JSON object (HTTP " +
                    std::to_string(response->status) + " on " + request.method + " " +
                    request.path.substr(0, request.path.find('?')) + ")");
  }
  return parsed;
}

tl::unexpected<Error> RegistryMissingField(RegistryDialect dialect, const std::string& what,
                                           const char* field) {
  return Fail(ErrorCode::kUnavailable, std::string(RegistryDialectName(dialect)) + " registry: " +
                                           what + " answered without '" + field + "'");
}

RestRegistryClient::RestRegistryClient(RegistryDialect dialect,
                                       std::shared_ptr<RegistryTransport> transport)
    : dialect_(dialect), transport_(std::move(transport)) {}

#define SG_CALL(var, what, method, path, body)                                \
  auto var = RegistryCall(dialect_, *transport_, what, method, path, body); \
  if (!(var)) return tl::unexpected((var).error())

Result<RegistryActivity> RestRegistryClient::ApproveTransition(const std::string& model,
                                                               const std::string& version,
                                                               const std::string& stage,
                                                               bool archive_existing,
                                                               const std::string& comment) {
  if (dialect_ != RegistryDialect::kDatabricks) {
    return Fail(ErrorCode::kInvalidArgument,
                "mlflow registries have no transition requests; use registry.set_alias or "
                "registry.transition_stage");
  }
  const json body = {{"name", model}, {"version", version}, {"stage", stage},
                     {"archive_existing_versions", archive_existing}, {"comment", comment}};
  SG_CALL(answer, "approve transition request", "POST", "transition-requests/approve", &body);
  if (!answer->contains("activity")) return RegistryMissingField(dialect_, "approve", "activity");
  return ActivityFrom((*answer)["activity"]);
}

Result<RegistryActivity> RestRegistryClient::RejectTransition(const std::string& model,
                                                              const std::string& version,
                                                              const std::string& stage,
                                                              const std::string& comment) {
  if (dialect_ != RegistryDialect::kDatabricks) {
    return Fail(ErrorCode::kInvalidArgument,
                "mlflow registries have no transition requests; use registry.set_tag to record "
                "a rejection");
  }
  const json body = {{"name", model}, {"version", version}, {"stage", stage}, {"comment", comment}};
  SG_CALL(answer, "reject transition request", "POST", "transition-requests/reject", &body);
  if (!answer->contains("activity")) return RegistryMissingField(dialect_, "reject", "activity");
  return ActivityFrom((*answer)["activity"]);
}

Result<std::vector<RegistryActivity>> RestRegistryClient::ListTransitionRequests(
    const std::string& model, const std::string& version) {
  if (dialect_ != RegistryDialect::kDatabricks) {
    return Fail(ErrorCode::kInvalidArgument, "mlflow registries have no transition requests");
  }
  SG_CALL(answer, "list transition requests", "GET",
          "transition-requests/list" + Query({{"name", model}, {"version", version}}), nullptr);
  std::vector<RegistryActivity> out;
  if (const auto it = answer->find("requests"); it != answer->end() && it->is_array()) {
    for (const auto& a : *it) out.push_back(ActivityFrom(a));
  }
  return out;  // an empty list comes back as {} (proto3 JSON leaves empty fields out)
}

Result<RegistryActivity> RestRegistryClient::CreateTransitionRequest(const std::string& model,
                                                                     const std::string& version,
                                                                     const std::string& stage,
                                                                     const std::string& comment) {
  if (dialect_ != RegistryDialect::kDatabricks) {
    return Fail(ErrorCode::kInvalidArgument,
                "mlflow registries have no transition requests; use registry.transition_stage");
  }
  const json body = {{"name", model}, {"version", version}, {"stage", stage}, {"comment", comment}};
  SG_CALL(answer, "create transition request", "POST", "transition-requests/create", &body);
  if (!answer->contains("request")) return RegistryMissingField(dialect_, "create transition request", "request");
  RegistryActivity a = ActivityFrom((*answer)["request"]);
  a.activity_type = "REQUESTED_TRANSITION";  // a TransitionRequest has no type of its own
  return a;
}

Result<std::string> RestRegistryClient::CreateComment(const std::string& model,
                                                      const std::string& version,
                                                      const std::string& comment) {
  if (dialect_ != RegistryDialect::kDatabricks) {
    return Fail(ErrorCode::kInvalidArgument,
                "mlflow registries have no comments; use registry.set_tag or a description");
  }
  const json body = {{"name", model}, {"version", version}, {"comment", comment}};
  SG_CALL(answer, "create comment", "POST", "comments/create", &body);
  const auto it = answer->find("comment");
  if (it == answer->end() || !it->is_object()) return RegistryMissingField(dialect_, "create comment", "comment");
  return StringField(*it, "id");
}

Result<ModelVersionInfo> RestRegistryClient::TransitionStage(const std::string& model,
                                                             const std::string& version,
                                                             const std::string& stage,
                                                             bool archive_existing,
                                                             const std::string& comment) {
  json body = {{"name", model}, {"version", version}, {"stage", stage},
               {"archive_existing_versions", archive_existing}};
  // Databricks' own path records the comment; MLflow's has none.
  const bool databricks = dialect_ == RegistryDialect::kDatabricks;
  if (databricks) body["comment"] = comment;
  SG_CALL(answer, "transition stage", "POST",
          databricks ? "databricks/model-versions/transition-stage" : "model-versions/transition-stage",
          &body);
  // Databricks answers {"model_version_databricks": ...} now and {"model_version": ...} before
  // mid-2025 (protocols.md §2.1): accept both.
  for (const char* key : {"model_version_databricks", "model_version"}) {
    if (const auto it = answer->find(key); it != answer->end() && it->is_object()) {
      return VersionFrom(*it);
    }
  }
  return RegistryMissingField(dialect_, "transition stage", "model_version");
}

Result<ModelVersionInfo> RestRegistryClient::GetModelVersion(const std::string& model,
                                                             const std::string& version) {
  SG_CALL(answer, "get model version", "GET",
          "model-versions/get" + Query({{"name", model}, {"version", version}}), nullptr);
  const auto it = answer->find("model_version");
  if (it == answer->end() || !it->is_object()) {
    return RegistryMissingField(dialect_, "get model version", "model_version");
  }
  return VersionFrom(*it);
}

Result<std::vector<ModelVersionInfo>> RestRegistryClient::LatestVersions(
    const std::string& model, const std::vector<std::string>& stages) {
  json body = {{"name", model}};
  if (!stages.empty()) body["stages"] = stages;
  SG_CALL(answer, "get latest versions", "POST", "registered-models/get-latest-versions", &body);
  std::vector<ModelVersionInfo> out;
  if (const auto it = answer->find("model_versions"); it != answer->end() && it->is_array()) {
    for (const auto& v : *it) out.push_back(VersionFrom(v));
  }
  return out;
}

Result<void> RestRegistryClient::SetVersionTag(const std::string& model, const std::string& version,
                                               const std::string& key, const std::string& value) {
  const json body = {{"name", model}, {"version", version}, {"key", key}, {"value", value}};
  SG_CALL(answer, "set model version tag", "POST", "model-versions/set-tag", &body);
  return {};
}

Result<void> RestRegistryClient::DeleteVersionTag(const std::string& model,
                                                  const std::string& version,
                                                  const std::string& key) {
  // Databricks takes DELETE parameters in the query string, MLflow in a JSON body.
  if (dialect_ == RegistryDialect::kDatabricks) {
    SG_CALL(answer, "delete model version tag", "DELETE",
            "model-versions/delete-tag" + Query({{"name", model}, {"version", version}, {"key", key}}),
            nullptr);
    return {};
  }
  const json body = {{"name", model}, {"version", version}, {"key", key}};
  SG_CALL(answer, "delete model version tag", "DELETE", "model-versions/delete-tag", &body);
  return {};
}

Result<RunData> RestRegistryClient::GetRun(const std::string& run_id) {
  SG_CALL(answer, "get run", "GET", "runs/get" + Query({{"run_id", run_id}}), nullptr);
  const auto run = answer->find("run");
  if (run == answer->end() || !run->is_object()) return RegistryMissingField(dialect_, "get run", "run");
  RunData out;
  if (const auto info = run->find("info"); info != run->end() && info->is_object()) {
    out.run_id = StringField(*info, "run_id");
    out.status = StringField(*info, "status");
  }
  if (out.run_id.empty()) out.run_id = run_id;
  const auto data = run->find("data");
  if (data == run->end() || !data->is_object()) return out;
  if (const auto metrics = data->find("metrics"); metrics != data->end() && metrics->is_array()) {
    for (const auto& m : *metrics) {
      const auto value = m.find("value");
      if (!m.is_object() || value == m.end() || !value->is_number()) continue;
      out.metrics[StringField(m, "key")] = value->get<double>();
    }
  }
  if (const auto params = data->find("params"); params != data->end() && params->is_array()) {
    for (const auto& p : *params) {
      if (p.is_object()) out.params[StringField(p, "key")] = StringField(p, "value");
    }
  }
  return out;
}

Result<void> RestRegistryClient::SetAlias(const std::string& model, const std::string& alias,
                                          const std::string& version) {
  if (dialect_ != RegistryDialect::kMlflow) {
    return Fail(ErrorCode::kInvalidArgument,
                "the Databricks workspace registry has stages, not aliases; use "
                "registry.transition_stage or registry.approve_transition");
  }
  const json body = {{"name", model}, {"alias", alias}, {"version", version}};
  SG_CALL(answer, "set alias", "POST", "registered-models/alias", &body);
  return {};
}

Result<void> RestRegistryClient::DeleteAlias(const std::string& model, const std::string& alias) {
  if (dialect_ != RegistryDialect::kMlflow) {
    return Fail(ErrorCode::kInvalidArgument,
                "the Databricks workspace registry has stages, not aliases");
  }
  const json body = {{"name", model}, {"alias", alias}};
  SG_CALL(answer, "delete alias", "DELETE", "registered-models/alias", &body);
  return {};
}

Result<std::optional<ModelVersionInfo>> RestRegistryClient::GetVersionByAlias(
    const std::string& model, const std::string& alias) {
  if (dialect_ != RegistryDialect::kMlflow) {
    return Fail(ErrorCode::kInvalidArgument,
                "the Databricks workspace registry has stages, not aliases; use LatestVersions "
                "with a stage");
  }
  auto answer = RegistryCall(dialect_, *transport_, "get version by alias", "GET",
                     "registered-models/alias" + Query({{"name", model}, {"alias", alias}}), nullptr);
  if (!answer) {
    if (answer.error().code == ErrorCode::kNotFound) return std::optional<ModelVersionInfo>();
    return tl::unexpected(answer.error());
  }
  const auto it = answer->find("model_version");
  if (it == answer->end() || !it->is_object()) {
    return RegistryMissingField(dialect_, "get version by alias", "model_version");
  }
  return std::optional<ModelVersionInfo>(VersionFrom(*it));
}

namespace {

// A filter string value: single-quoted, or double-quoted when the name holds a single quote
// (MLflow's filter grammar takes either).
std::string FilterString(const std::string& value) {
  const char quote = value.find('\'') == std::string::npos ? '\'' : '"';
  return quote + value + quote;
}

// Stops a registry that keeps answering with a page token from holding a poll forever.
constexpr int kMaxSearchPages = 1000;

}  // namespace

Result<std::vector<ModelVersionInfo>> RestRegistryClient::Search(const std::string& filter) {
  std::vector<ModelVersionInfo> out;
  std::string token;
  for (int page = 0; page < kMaxSearchPages; ++page) {
    std::vector<std::pair<std::string, std::string>> params = {{"filter", filter}};
    if (!token.empty()) params.emplace_back("page_token", token);
    SG_CALL(answer, "search model versions", "GET", "model-versions/search" + Query(params), nullptr);
    if (const auto it = answer->find("model_versions"); it != answer->end() && it->is_array()) {
      for (const auto& v : *it) out.push_back(VersionFrom(v));
    }
    token = StringField(*answer, "next_page_token");
    if (token.empty()) return out;  // no matches come back as {} (proto3 JSON)
  }
  return Fail(ErrorCode::kUnavailable, std::string(RegistryDialectName(dialect_)) +
                                           " registry: search model versions for " + filter +
                                           " still had a next_page_token after " +
                                           std::to_string(kMaxSearchPages) + " pages");
}

Result<std::vector<ModelVersionInfo>> RestRegistryClient::SearchVersions(const std::string& model) {
  return Search("name=" + FilterString(model));
}

Result<std::vector<ModelVersionInfo>> RestRegistryClient::SearchVersionsLike(
    const std::string& pattern) {
  return Search("name LIKE " + FilterString(pattern));
}

Result<RegisteredModelInfo> RestRegistryClient::GetRegisteredModel(const std::string& model) {
  SG_CALL(answer, "get registered model", "GET", "registered-models/get" + Query({{"name", model}}),
          nullptr);
  const auto it = answer->find("registered_model");
  if (it == answer->end() || !it->is_object()) {
    return RegistryMissingField(dialect_, "get registered model", "registered_model");
  }
  RegisteredModelInfo out{.name = StringField(*it, "name")};
  if (out.name.empty()) out.name = model;
  if (const auto a = it->find("aliases"); a != it->end() && a->is_array()) {
    for (const auto& alias : *a) {
      if (alias.is_object()) out.aliases[StringField(alias, "alias")] = StringField(alias, "version");
    }
  }
  return out;
}

#undef SG_CALL

}  // namespace stagegate::registry
