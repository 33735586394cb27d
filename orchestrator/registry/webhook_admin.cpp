#include "orchestrator/registry/webhook_admin.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "orchestrator/core/headers.hpp"
#include "orchestrator/registry/registry_errors.hpp"
#include "orchestrator/registry/registry_json.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;

// A registry that keeps answering with a next page is broken; stop rather than loop forever.
constexpr int kMaxPages = 1000;

std::string Prefix(RegistryDialect dialect) {
  return std::string(RegistryDialectName(dialect)) + " registry: ";
}

tl::unexpected<Error> Refuse(RegistryDialect dialect, const std::string& message) {
  return Fail(ErrorCode::kInvalidArgument, Prefix(dialect) + message);
}

// MLflow's WebhookEvent is {"entity": "MODEL_VERSION", "action": "CREATED"} (proto enum
// names, protocols.md §3.6); stagegate spells it model_version.created.
Result<json> MlflowEvent(const std::string& event) {
  const auto dot = event.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == event.size()) {
    return Refuse(RegistryDialect::kMlflow,
                  "event '" + event + "' is not entity.action, e.g. model_version.created");
  }
  return json{{"entity", AsciiUpper(event.substr(0, dot))}, {"action", AsciiUpper(event.substr(dot + 1))}};
}

Result<json> MlflowEvents(const std::vector<std::string>& events) {
  json out = json::array();
  for (const auto& e : events) {
    auto wire = MlflowEvent(e);
    if (!wire) return tl::unexpected(wire.error());
    out.push_back(std::move(*wire));
  }
  return out;
}

// Either spelling back to entity.action in lower case: {"entity","action"} objects (the
// proto JSON) or "model_version.created" strings (servers that predate the enums).
std::string EventName(const json& e) {
  if (e.is_object()) return AsciiLower(StringField(e, "entity")) + "." + AsciiLower(StringField(e, "action"));
  if (e.is_string()) return AsciiLower(e.get<std::string>());
  return e.dump();
}

RegistryWebhook WebhookFrom(RegistryDialect dialect, const json& j) {
  RegistryWebhook w;
  w.status = StringField(j, "status");
  w.description = StringField(j, "description");
  w.creation_ms = IntField(j, "creation_timestamp");
  w.last_updated_ms = IntField(j, "last_updated_timestamp");
  const auto events = j.find("events");
  if (dialect == RegistryDialect::kDatabricks) {
    w.id = StringField(j, "id");
    w.model_name = StringField(j, "model_name");
    if (const auto spec = j.find("http_url_spec"); spec != j.end() && spec->is_object()) {
      w.url = StringField(*spec, "url");
    }
    if (const auto job = j.find("job_spec"); job != j.end() && job->is_object()) {
      w.job_id = StringField(*job, "job_id");
    }
    if (events != j.end() && events->is_array()) {
      for (const auto& e : *events)
        w.events.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    }
  } else {
    w.id = StringField(j, "webhook_id");
    if (w.id.empty()) w.id = StringField(j, "id");
    w.name = StringField(j, "name");
    w.url = StringField(j, "url");
    if (events != j.end() && events->is_array()) {
      for (const auto& e : *events) w.events.push_back(EventName(e));
    }
  }
  return w;
}

Result<RegistryWebhook> WebhookIn(RegistryDialect dialect, const std::string& what,
                                  const json& answer) {
  const auto it = answer.find("webhook");
  if (it == answer.end() || !it->is_object()) return RegistryMissingField(dialect, what, "webhook");
  return WebhookFrom(dialect, *it);
}

}  // namespace

std::vector<std::string> DefaultWebhookEvents(RegistryDialect dialect) {
  if (dialect == RegistryDialect::kDatabricks) {
    return {"TRANSITION_REQUEST_CREATED", "MODEL_VERSION_CREATED"};
  }
  return {"model_version.created", "model_version_alias.created", "model_version_tag.set"};
}

std::vector<std::string> KnownWebhookEvents(RegistryDialect dialect) {
  if (dialect == RegistryDialect::kDatabricks) {
    return {"MODEL_VERSION_CREATED",
            "MODEL_VERSION_TRANSITIONED_STAGE",
            "TRANSITION_REQUEST_CREATED",
            "COMMENT_CREATED",
            "REGISTERED_MODEL_CREATED",
            "MODEL_VERSION_TAG_SET",
            "MODEL_VERSION_TRANSITIONED_TO_STAGING",
            "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
            "MODEL_VERSION_TRANSITIONED_TO_ARCHIVED",
            "TRANSITION_REQUEST_TO_STAGING_CREATED",
            "TRANSITION_REQUEST_TO_PRODUCTION_CREATED",
            "TRANSITION_REQUEST_TO_ARCHIVED_CREATED"};
  }
  return {"registered_model.created",
          "model_version.created",
          "model_version_tag.set",
          "model_version_tag.deleted",
          "model_version_alias.created",
          "model_version_alias.deleted",
          "prompt.created",
          "prompt_version.created",
          "prompt_tag.set",
          "prompt_tag.deleted",
          "prompt_version_tag.set",
          "prompt_version_tag.deleted",
          "prompt_alias.created",
          "prompt_alias.deleted"};
}

std::string DefaultWebhookName(const std::string& model) {
  return model.empty() ? "stagegate" : "stagegate-" + model;
}

WebhookAdmin::WebhookAdmin(RegistryDialect dialect, std::shared_ptr<RegistryTransport> transport)
    : dialect_(dialect), transport_(std::move(transport)) {}

Result<std::vector<RegistryWebhook>> WebhookAdmin::List(const std::string& model) {
  const bool databricks = dialect_ == RegistryDialect::kDatabricks;
  std::vector<RegistryWebhook> out;
  std::string token;
  std::set<std::string> seen_tokens;
  for (int page = 0;; ++page) {
    if (page == kMaxPages) {
      return Fail(ErrorCode::kUnavailable, Prefix(dialect_) +
                                               "list webhooks kept answering with a "
                                               "next page after " +
                                               std::to_string(kMaxPages) + " pages");
    }
    const std::string path = databricks ? "registry-webhooks/list" +
                                              Query({{"model_name", model}, {"page_token", token}}, true)
                                        : "webhooks" + Query({{"page_token", token}}, true);
    auto answer = RegistryCall(dialect_, *transport_, "list webhooks", "GET", path, nullptr);
    if (!answer) return tl::unexpected(answer.error());
    // An empty list comes back as {} (proto3 JSON leaves empty fields out).
    if (const auto it = answer->find("webhooks"); it != answer->end() && it->is_array()) {
      for (const auto& w : *it) {
        if (!w.is_object()) continue;
        RegistryWebhook hook = WebhookFrom(dialect_, w);
        // Databricks filters on model_name itself; registry-wide webhooks are kept out here
        // too, so that "every webhook of a model" never reaches one that serves all models.
        if (!model.empty() &&
            (databricks ? hook.model_name != model : hook.name != DefaultWebhookName(model))) {
          continue;
        }
        out.push_back(std::move(hook));
      }
    }
    token = StringField(*answer, "next_page_token");
    if (token.empty()) return out;
    if (!seen_tokens.insert(token).second) {
      return Fail(ErrorCode::kUnavailable,
                  Prefix(dialect_) + "list webhooks answered page token '" + token + "' twice");
    }
  }
}

Result<RegistryWebhook> WebhookAdmin::Create(const WebhookSpec& spec) {
  if (spec.url.empty()) return Refuse(dialect_, "create webhook needs a URL");
  if (spec.events.empty()) return Refuse(dialect_, "create webhook needs at least one event");
  json body = json::object();
  if (dialect_ == RegistryDialect::kDatabricks) {
    if (!spec.name.empty()) {
      return Refuse(dialect_, "Databricks webhooks have no name; describe it with a description");
    }
    body["events"] = spec.events;
    if (!spec.model_name.empty()) body["model_name"] = spec.model_name;
    json http = {{"url", spec.url}};
    if (!spec.secret.empty()) http["secret"] = spec.secret;
    if (!spec.authorization.empty()) http["authorization"] = spec.authorization;
    body["http_url_spec"] = std::move(http);
  } else {
    if (spec.name.empty()) return Refuse(dialect_, "MLflow webhooks need a name");
    if (!spec.authorization.empty()) {
      return Refuse(dialect_, "MLflow webhooks send no Authorization header; sign with a secret");
    }
    auto events = MlflowEvents(spec.events);
    if (!events) return tl::unexpected(events.error());
    body["name"] = spec.name;
    body["url"] = spec.url;
    body["events"] = std::move(*events);
    if (!spec.secret.empty()) body["secret"] = spec.secret;
  }
  if (!spec.description.empty()) body["description"] = spec.description;
  if (!spec.status.empty()) body["status"] = spec.status;
  const char* path =
      dialect_ == RegistryDialect::kDatabricks ? "registry-webhooks/create" : "webhooks";
  auto answer = RegistryCall(dialect_, *transport_, "create webhook", "POST", path, &body);
  if (!answer) return tl::unexpected(answer.error());
  return WebhookIn(dialect_, "create webhook", *answer);
}

Result<RegistryWebhook> WebhookAdmin::Update(const std::string& id, const WebhookChanges& changes) {
  if (id.empty()) return Refuse(dialect_, "update webhook needs a webhook id");
  if (changes.Empty()) return Refuse(dialect_, "update webhook " + id + ": nothing to change");
  json body = json::object();
  std::string path;
  if (dialect_ == RegistryDialect::kDatabricks) {
    if (changes.name) {
      return Refuse(dialect_, "Databricks webhooks have no name; change the description instead");
    }
    body["id"] = id;
    if (changes.url || changes.secret || changes.authorization) {
      // http_url_spec is replaced whole: a URL without its secret would leave deliveries unsigned.
      if (!changes.url || !changes.secret) {
        return Refuse(dialect_, "update webhook " + id +
                                    ": Databricks replaces http_url_spec whole, so the "
                                    "URL and the secret change together; give both");
      }
      json http = {{"url", *changes.url}};
      if (!changes.secret->empty()) http["secret"] = *changes.secret;
      if (changes.authorization && !changes.authorization->empty()) {
        http["authorization"] = *changes.authorization;
      }
      body["http_url_spec"] = std::move(http);
    }
    if (changes.events) body["events"] = *changes.events;
    path = "registry-webhooks/update";
  } else {
    if (changes.authorization) {
      return Refuse(dialect_, "MLflow webhooks send no Authorization header; sign with a secret");
    }
    if (changes.name) body["name"] = *changes.name;
    if (changes.url) body["url"] = *changes.url;
    if (changes.secret) body["secret"] = *changes.secret;
    if (changes.events) {
      auto events = MlflowEvents(*changes.events);
      if (!events) return tl::unexpected(events.error());
      body["events"] = std::move(*events);
    }
    path = "webhooks/" + PercentEncode(id);
  }
  if (changes.status) body["status"] = *changes.status;
  if (changes.description) body["description"] = *changes.description;
  auto answer = RegistryCall(dialect_, *transport_, "update webhook", "PATCH", path, &body);
  if (!answer) return tl::unexpected(answer.error());
  return WebhookIn(dialect_, "update webhook", *answer);
}

Result<void> WebhookAdmin::Delete(const std::string& id) {
  if (id.empty()) return Refuse(dialect_, "delete webhook needs a webhook id");
  const std::string path = dialect_ == RegistryDialect::kDatabricks
                               ? "registry-webhooks/delete" + Query({{"id", id}}, true)
                               : "webhooks/" + PercentEncode(id);
  auto answer = RegistryCall(dialect_, *transport_, "delete webhook", "DELETE", path, nullptr);
  if (!answer) return tl::unexpected(answer.error());
  return {};
}

Result<WebhookTestResult> WebhookAdmin::Test(const std::string& id, const std::string& event) {
  if (id.empty()) return Refuse(dialect_, "test webhook needs a webhook id");
  const std::string what = "test webhook";
  WebhookTestResult out;
  if (dialect_ == RegistryDialect::kDatabricks) {
    json body = {{"id", id}};
    if (!event.empty()) body["event"] = event;
    auto answer = RegistryCall(dialect_, *transport_, what, "POST", "registry-webhooks/test", &body);
    if (!answer) return tl::unexpected(answer.error());
    // Three published shapes (protocols.md §1.4): the current SDK's {"status_code", "body"},
    // the SDK's before 2025-07 {"webhook": {"status_code", "body"}}, and the docs' example
    // {"status": 200, "body": "OK"}.
    const json* relayed = nullptr;
    const char* status_key = "status_code";
    if (const auto w = answer->find("webhook");
        w != answer->end() && w->is_object() && w->contains("status_code")) {
      relayed = &*w;
    } else if (answer->contains("status_code")) {
      relayed = &*answer;
    } else if (answer->contains("status")) {
      relayed = &*answer;
      status_key = "status";
    }
    if (relayed == nullptr) return RegistryMissingField(dialect_, what, "status_code");
    out.status = static_cast<int>(IntField(*relayed, status_key));
    out.body = StringField(*relayed, "body");
    out.success = out.status >= 200 && out.status < 300;
    return out;
  }
  json body = json::object();
  if (!event.empty()) {
    auto wire = MlflowEvent(event);
    if (!wire) return tl::unexpected(wire.error());
    body["event"] = std::move(*wire);
  }
  auto answer =
      RegistryCall(dialect_, *transport_, what, "POST", "webhooks/" + PercentEncode(id) + "/test", &body);
  if (!answer) return tl::unexpected(answer.error());
  const auto result = answer->find("result");
  if (result == answer->end() || !result->is_object())
    return RegistryMissingField(dialect_, what, "result");
  out.status = static_cast<int>(IntField(*result, "response_status"));
  out.body = StringField(*result, "response_body");
  out.error = StringField(*result, "error_message");
  if (const auto s = result->find("success"); s != result->end() && s->is_boolean()) {
    out.success = s->get<bool>();
  } else {
    out.success = out.status >= 200 && out.status < 300;
  }
  return out;
}

}  // namespace stagegate::registry
