#include "webhooks/normalize.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "orchestrator/core/event_types.hpp"
#include "webhooks/signature.hpp"

namespace stagegate::webhooks {
namespace {

using nlohmann::json;

tl::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// A string field, or a number spelled as a string (registries disagree on versions).
// Absent or null gives "", any other type is an error.
Result<std::string> StringField(const json& obj, const char* name, std::string_view where) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    return std::string();
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_number_integer()) {
    return std::to_string(it->get<std::int64_t>());
  }
  return Invalid(std::string(where) + "." + name + " must be a string, not " + it->type_name());
}

Result<std::string> RequiredString(const json& obj, const char* name, std::string_view where) {
  auto value = StringField(obj, name, where);
  if (value && value->empty()) {
    return Invalid(std::string(where) + "." + name + " is required and must be a non-empty string");
  }
  return value;
}

Result<json> ParseObject(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) {
    return Invalid("body is not valid JSON");
  }
  if (!doc.is_object()) {
    return Invalid(std::string("body must be a JSON object, not ") + doc.type_name());
  }
  return doc;
}

// Fills event.type and to_stage from the sender's spelling; fails naming what is allowed.
Result<void> ApplyType(Event& event, const std::string& spelling, std::string_view field,
                       std::string_view allowed) {
  const auto canonical = CanonicalizeEventType(spelling);
  if (!canonical) {
    return Invalid(std::string(field) + " '" + spelling + "' is not a known event; expected " +
                   std::string(allowed));
  }
  event.type = canonical->type;
  event.raw_type = spelling;
  if (event.to_stage.empty()) {
    event.to_stage = canonical->to_stage;
  }
  return {};
}

bool NeedsVersion(const std::string& type) {
  return type != "registered_model.created" && type != "model_version_alias.deleted" &&
         type != "push";
}

Result<Normalized> NormalizeDatabricks(std::string_view body) {
  auto doc = ParseObject(body);
  if (!doc) return tl::unexpected(doc.error());
  Normalized out;
  Event& e = out.event;
  auto name = RequiredString(*doc, "event", "body");
  if (!name) return tl::unexpected(name.error());
  std::string allowed = "one of the Databricks registry events (";
  for (const auto& n : DatabricksEventNames()) {
    allowed += (allowed.back() == '(' ? "" : ", ") + n;
  }
  allowed += ")";
  const auto& names = DatabricksEventNames();
  if (std::find(names.begin(), names.end(), *name) == names.end()) {
    const bool mlflow_name = CanonicalizeEventType(*name) && name->find('.') != std::string::npos;
    return Invalid("body.event '" + *name + "' is " +
                   (mlflow_name ? "an MLflow event name; this endpoint expects "
                                : "not a known event; expected ") +
                   allowed);
  }
  for (auto [field, target] : {std::pair{"model_name", &e.model_name},
                               std::pair{"version", &e.model_version},
                               std::pair{"from_stage", &e.from_stage},
                               std::pair{"to_stage", &e.to_stage}, std::pair{"text", &e.text}}) {
    auto value = StringField(*doc, field, "body");
    if (!value) return tl::unexpected(value.error());
    *target = *value;
  }
  if (auto applied = ApplyType(e, *name, "body.event", allowed); !applied) {
    return tl::unexpected(applied.error());
  }
  if (e.model_name.empty()) {
    return Invalid("body.model_name is required for " + *name);
  }
  if (NeedsVersion(e.type) && e.model_version.empty()) {
    return Invalid("body.version is required for " + *name);
  }
  if (e.type == "comment.created") {
    auto comment = StringField(*doc, "comment", "body");
    if (!comment) return tl::unexpected(comment.error());
    if (!comment->empty()) e.text = *comment;
  }
  if (const auto tags = doc->find("tags"); tags != doc->end() && !tags->is_null()) {
    if (!tags->is_array()) {
      return Invalid("body.tags must be a list of {key, value} objects");
    }
    for (const auto& tag : *tags) {
      if (!tag.is_object()) {
        return Invalid("body.tags must be a list of {key, value} objects");
      }
      auto key = RequiredString(tag, "key", "body.tags[]");
      if (!key) return tl::unexpected(key.error());
      auto value = StringField(tag, "value", "body.tags[]");
      if (!value) return tl::unexpected(value.error());
      e.tags.push_back(Tag{*key, *value});
    }
  }
  if (const auto ts = doc->find("event_timestamp"); ts != doc->end() && ts->is_number_integer()) {
    e.sent_at_ms = ts->get<std::int64_t>();
  }
  return out;
}

Result<Normalized> NormalizeMlflow(std::string_view body) {
  auto doc = ParseObject(body);
  if (!doc) return tl::unexpected(doc.error());
  auto entity = RequiredString(*doc, "entity", "body");
  if (!entity) return tl::unexpected(entity.error());
  auto action = RequiredString(*doc, "action", "body");
  if (!action) return tl::unexpected(action.error());
  const std::string spelling = *entity + "." + *action;
  if (entity->starts_with("prompt")) {
    return Invalid("MLflow event " + spelling +
                   " is a prompt-registry event; subscribe this webhook to model registry events "
                   "(registered_model.*, model_version.*, model_version_tag.*, "
                   "model_version_alias.*)");
  }
  Normalized out;
  Event& e = out.event;
  constexpr std::string_view kAllowed =
      "registered_model.created, model_version.created, model_version_tag.set|deleted or "
      "model_version_alias.created|deleted";
  static const std::string_view kModelEvents[] = {
      "registered_model.created",  "model_version.created",       "model_version_tag.set",
      "model_version_tag.deleted", "model_version_alias.created", "model_version_alias.deleted"};
  if (std::find(std::begin(kModelEvents), std::end(kModelEvents), spelling) ==
      std::end(kModelEvents)) {
    return Invalid("body.entity/action '" + spelling + "' is not an MLflow model registry event; "
                   "expected " + std::string(kAllowed));
  }
  if (auto applied = ApplyType(e, spelling, "body.entity/action", kAllowed); !applied) {
    return tl::unexpected(applied.error());
  }
  const auto data = doc->find("data");
  if (data == doc->end() || !data->is_object()) {
    return Invalid("body.data is required and must be an object");
  }
  auto name = RequiredString(*data, "name", "body.data");
  if (!name) return tl::unexpected(name.error());
  e.model_name = *name;
  auto version = StringField(*data, "version", "body.data");
  if (!version) return tl::unexpected(version.error());
  e.model_version = *version;
  if (NeedsVersion(e.type) && e.model_version.empty()) {
    return Invalid("body.data.version is required for " + spelling);
  }
  if (e.type.starts_with("model_version_alias")) {
    auto alias = RequiredString(*data, "alias", "body.data");
    if (!alias) return tl::unexpected(alias.error());
    e.alias = *alias;
  }
  if (e.type.starts_with("model_version_tag")) {
    auto key = RequiredString(*data, "key", "body.data");
    if (!key) return tl::unexpected(key.error());
    auto value = StringField(*data, "value", "body.data");
    if (!value) return tl::unexpected(value.error());
    e.tags.push_back(Tag{*key, *value});
  } else if (const auto tags = data->find("tags"); tags != data->end() && tags->is_object()) {
    for (const auto& [key, value] : tags->items()) {
      e.tags.push_back(Tag{key, value.is_string() ? value.get<std::string>() : value.dump()});
    }
  }
  auto description = StringField(*data, "description", "body.data");
  if (description) e.text = *description;
  if (const auto ts = doc->find("timestamp"); ts != doc->end() && ts->is_string()) {
    e.sent_at_ms = ParseIsoTimestampMs(ts->get<std::string>());
  }
  return out;
}

Result<Normalized> NormalizeGithub(const HeaderList& headers, std::string_view body) {
  const std::string_view event = FindHeader(headers, "X-GitHub-Event");
  const std::string_view content_type = FindHeader(headers, "Content-Type");
  if (content_type.starts_with("application/x-www-form-urlencoded")) {
    return Invalid("GitHub form-encoded deliveries are not supported; set the webhook's content "
                   "type to application/json");
  }
  if (event.empty()) {
    return Invalid("missing X-GitHub-Event header");
  }
  auto doc = ParseObject(body);
  if (!doc) return tl::unexpected(doc.error());
  Normalized out;
  if (event == "ping") {
    out.ping = true;
    return out;
  }
  if (event != "push") {
    return Invalid("GitHub event '" + std::string(event) +
                   "' is not handled; configure the webhook to send push events");
  }
  Event& e = out.event;
  e.type = "push";
  e.raw_type = "push";
  auto ref = RequiredString(*doc, "ref", "body");
  if (!ref) return tl::unexpected(ref.error());
  e.ref = *ref;
  auto after = RequiredString(*doc, "after", "body");
  if (!after) return tl::unexpected(after.error());
  e.commit = *after;
  const auto repo = doc->find("repository");
  if (repo == doc->end() || !repo->is_object()) {
    return Invalid("body.repository is required and must be an object");
  }
  auto full_name = RequiredString(*repo, "full_name", "body.repository");
  if (!full_name) return tl::unexpected(full_name.error());
  e.repository = *full_name;
  if (const auto head = doc->find("head_commit"); head != doc->end() && head->is_object()) {
    auto message = StringField(*head, "message", "body.head_commit");
    if (message) e.text = *message;
    if (const auto ts = head->find("timestamp"); ts != head->end() && ts->is_string()) {
      e.sent_at_ms = ParseIsoTimestampMs(ts->get<std::string>());
    }
  }
  return out;
}

Result<Normalized> NormalizeStandard(std::string_view body) {
  auto doc = ParseObject(body);
  if (!doc) return tl::unexpected(doc.error());
  auto type = RequiredString(*doc, "type", "body");
  if (!type) return tl::unexpected(type.error());
  const auto data = doc->find("data");
  if (data == doc->end() || !data->is_object()) {
    return Invalid("body.data is required and must be an object");
  }
  Normalized out;
  Event& e = out.event;
  for (auto [field, target] :
       {std::pair{"from_stage", &e.from_stage}, std::pair{"to_stage", &e.to_stage},
        std::pair{"alias", &e.alias}, std::pair{"text", &e.text},
        std::pair{"version", &e.model_version}, std::pair{"ref", &e.ref},
        std::pair{"commit", &e.commit}, std::pair{"repository", &e.repository}}) {
    auto value = StringField(*data, field, "body.data");
    if (!value) return tl::unexpected(value.error());
    *target = *value;
  }
  std::string allowed = "a canonical type (";
  for (const auto& t : CanonicalEventTypes()) {
    allowed += (allowed.back() == '(' ? "" : ", ") + t;
  }
  allowed += "), a Databricks event name or an MLflow entity.action";
  if (auto applied = ApplyType(e, *type, "body.type", allowed); !applied) {
    return tl::unexpected(applied.error());
  }
  auto model = StringField(*data, "model_name", "body.data");
  if (!model) return tl::unexpected(model.error());
  if (model->empty()) {
    model = StringField(*data, "name", "body.data");
    if (!model) return tl::unexpected(model.error());
  }
  e.model_name = *model;
  if (e.type != "push" && e.model_name.empty()) {
    return Invalid("body.data.model_name is required for " + *type);
  }
  if (NeedsVersion(e.type) && e.model_version.empty()) {
    return Invalid("body.data.version is required for " + *type);
  }
  auto key = StringField(*data, "key", "body.data");
  if (!key) return tl::unexpected(key.error());
  if (!key->empty()) {
    auto value = StringField(*data, "value", "body.data");
    if (!value) return tl::unexpected(value.error());
    e.tags.push_back(Tag{*key, *value});
  }
  if (const auto ts = doc->find("timestamp"); ts != doc->end() && ts->is_string()) {
    e.sent_at_ms = ParseIsoTimestampMs(ts->get<std::string>());
  }
  return out;
}

}  // namespace

std::int64_t ParseIsoTimestampMs(std::string_view text) {
  std::tm tm{};
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6) {
    return 0;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  std::size_t i = static_cast<std::size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    std::int64_t scale = 100;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      ms += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-')) {
    const int offset = ((s[i + 1] - '0') * 10 + (s[i + 2] - '0')) * 60 +
                       (s[i + 4] - '0') * 10 + (s[i + 5] - '0');
    ms -= (s[i] == '+' ? 1 : -1) * static_cast<std::int64_t>(offset) * 60'000;
  }
  return ms;
}

Result<Normalized> NormalizePayload(Scheme scheme, const HeaderList& headers,
                                    std::string_view body) {
  switch (scheme) {
    case Scheme::kDatabricks:
      return NormalizeDatabricks(body);
    case Scheme::kMlflow:
      return NormalizeMlflow(body);
    case Scheme::kGithub:
      return NormalizeGithub(headers, body);
    case Scheme::kStandard:
    case Scheme::kNone:
      return NormalizeStandard(body);
  }
  return Fail(ErrorCode::kInternal, "unknown scheme");
}

}  // namespace stagegate::webhooks
