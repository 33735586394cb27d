// `stagegate registry webhooks list|create|update|delete|test`: manages a configured registry's
// webhooks (Databricks registry webhooks, MLflow 3.x webhooks) from the command line.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "orchestrator/app/commands.hpp"
#include "orchestrator/app/registries.hpp"
#include "orchestrator/config/config_loader.hpp"
#include "orchestrator/core/headers.hpp"
#include "orchestrator/core/suggest.hpp"
#include "orchestrator/core/units.hpp"
#include "orchestrator/registry/webhook_admin.hpp"

namespace stagegate::app {
namespace {

using Json = nlohmann::ordered_json;
using registry::RegistryWebhook;
using registry::WebhookAdmin;

constexpr int kOk = 0;
constexpr int kRegistryError = 1;
constexpr int kMisuse = 2;

// A failure that ends the command: its exit code and the line printed to stderr.
struct Stop {
  int code;
  std::string message;
};



std::string Join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string Quoted(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const auto& item : items) quoted.push_back("'" + item + "'");
  return Join(quoted, ", ");
}

// -- what the command works on ---------------------------------------------------------------

struct Target {
  ServiceConfig config;
  const RegistryConfig* registry = nullptr;
  RegistryDialect dialect = RegistryDialect::kDatabricks;
};

tl::expected<Target, Stop> LoadTarget(const RegistryWebhooksOptions& o) {
  if (o.config_path.empty()) {
    return tl::unexpected(Stop{kMisuse,
                               "--config FILE is required: the service config whose "
                               "registries: section says where the registry is and how "
                               "to authenticate"});
  }
  auto config = config::LoadConfigFile(o.config_path);
  if (!config) return tl::unexpected(Stop{kMisuse, config.error().message});
  Target t{.config = std::move(*config)};
  std::vector<std::string> names;
  for (const auto& r : t.config.registries) names.push_back(r.name);
  if (names.empty()) {
    return tl::unexpected(
        Stop{kMisuse, o.config_path + " configures no registries; add one under "
                                      "registries:, e.g. registries: {dbx: {dialect: databricks, "
                                      "url: https://..., token: env:DATABRICKS_TOKEN}}"});
  }
  std::string name = o.registry;
  if (name.empty()) {
    if (names.size() != 1) {
      return tl::unexpected(Stop{kMisuse, "--registry NAME is required: " + o.config_path +
                                              " configures " + Quoted(names)});
    }
    name = names.front();
  }
  t.registry = FindRegistry(t.config.registries, name);
  if (t.registry == nullptr) {
    const std::string hint = Suggest(name, names);
    return tl::unexpected(Stop{kMisuse, "unknown registry '" + name + "'" +
                                            (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                                            " (" + o.config_path + " configures " + Quoted(names) +
                                            ")"});
  }
  t.dialect =
      t.registry->dialect == "mlflow" ? RegistryDialect::kMlflow : RegistryDialect::kDatabricks;
  return t;
}

tl::expected<std::vector<std::string>, Stop> CheckEvents(RegistryDialect dialect,
                                                         const std::vector<std::string>& given) {
  const auto known = registry::KnownWebhookEvents(dialect);
  std::vector<std::string> out;
  for (const auto& raw : given) {
    const std::string e = dialect == RegistryDialect::kDatabricks ? AsciiUpper(raw) : AsciiLower(raw);
    if (std::find(known.begin(), known.end(), e) == known.end()) {
      const std::string hint = Suggest(e, known);
      return tl::unexpected(Stop{
          kMisuse, "unknown " + std::string(RegistryDialectName(dialect)) + " webhook event '" +
                       raw + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                       " (events: " + Join(known, ", ") + ")"});
    }
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  }
  return out;
}

tl::expected<std::string, Stop> CheckStatus(RegistryDialect dialect, const std::string& raw) {
  const std::vector<std::string> known =
      dialect == RegistryDialect::kDatabricks
          ? std::vector<std::string>{"ACTIVE", "DISABLED", "TEST_MODE"}
          : std::vector<std::string>{"ACTIVE", "DISABLED"};
  const std::string s = AsciiUpper(raw);
  if (std::find(known.begin(), known.end(), s) == known.end()) {
    const std::string hint = Suggest(s, known);
    return tl::unexpected(Stop{kMisuse, "--status '" + raw + "' is not a " +
                                            RegistryDialectName(dialect) + " webhook status" +
                                            (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                                            " (statuses: " + Join(known, ", ") + ")"});
  }
  return s;
}

// Where a webhook's URL, signing secret and Authorization header come from, and what to tell
// the user about them. The secret's value is printed only when it was generated here.
struct Delivery {
  std::string url;
  std::string url_note;       // set when the URL was derived from the config
  bool secret_given = false;  // a secret (or none, on purpose) was chosen
  std::string secret;
  std::string authorization;
  std::string handling;                      // reference | endpoint | generated | none
  std::string reference;                     // env:NAME or file:PATH of the secret used
  const EndpointConfig* endpoint = nullptr;  // --endpoint
  /// The endpoint the deliveries go to: --endpoint, or the configured endpoint that a URL
  /// ending in /hooks/<name> names. nullptr when unknown.
  const EndpointConfig* target = nullptr;
  /// Whether `target` lists the secret (compared in memory, never shown).
  bool target_knows_secret = false;
};

bool HasSecretOption(const RegistryWebhooksOptions& o) {
  return !o.secret.empty() || o.generate_secret || o.no_secret || !o.endpoint.empty();
}

// Where an --endpoint's URL may come from when --url is not given.
enum class DeriveUrl {
  kNo,             // the URL stays as it is
  kFromPublicUrl,  // public_url: + /hooks/<endpoint>, else --url is required
  kFromListen,     // the same, falling back to http://<listen>/hooks/<endpoint>
};

tl::expected<Delivery, Stop> ResolveDelivery(const RegistryWebhooksOptions& o, const Target& t,
                                             DeriveUrl derive_url) {
  Delivery d;
  const int secret_options =
      (o.secret.empty() ? 0 : 1) + (o.generate_secret ? 1 : 0) + (o.no_secret ? 1 : 0);
  if (secret_options > 1) {
    return tl::unexpected(Stop{kMisuse, "give one of --secret, --generate-secret and --no-secret"});
  }
  d.url = o.url;
  if (!o.endpoint.empty()) {
    for (const auto& e : t.config.endpoints) {
      if (e.name == o.endpoint) d.endpoint = &e;
    }
    if (d.endpoint == nullptr) {
      std::vector<std::string> names;
      for (const auto& e : t.config.endpoints) names.push_back(e.name);
      const std::string hint = Suggest(o.endpoint, names);
      return tl::unexpected(
          Stop{kMisuse, "unknown endpoint '" + o.endpoint + "'" +
                            (hint.empty() ? "" : "; did you mean '" + hint + "'?") + " (" +
                            o.config_path + " configures " +
                            (names.empty() ? "none" : Quoted(names)) + ")"});
    }
    const EndpointConfig& e = *d.endpoint;
    const Scheme wanted =
        t.dialect == RegistryDialect::kDatabricks ? Scheme::kDatabricks : Scheme::kMlflow;
    if (e.scheme != wanted && e.scheme != Scheme::kNone) {
      return tl::unexpected(
          Stop{kMisuse, "endpoint '" + e.name + "' verifies " + SchemeName(e.scheme) +
                            " signatures, but registry '" + t.registry->name + "' signs as " +
                            SchemeName(wanted) +
                            "; use an endpoint with scheme: " + SchemeName(wanted)});
    }
    if (!e.registry.empty() && e.registry != t.registry->name) {
      return tl::unexpected(Stop{kMisuse, "endpoint '" + e.name +
                                              "' takes the events of registry '" + e.registry +
                                              "', not '" + t.registry->name + "'"});
    }
    if (e.authorization) {
      if (t.dialect == RegistryDialect::kMlflow) {
        return tl::unexpected(Stop{kMisuse, "endpoint '" + e.name +
                                                "' requires an Authorization "
                                                "header, which MLflow webhooks cannot send"});
      }
      d.authorization = e.authorization->value;
    }
    if (d.url.empty() && derive_url != DeriveUrl::kNo) {
      // public_url: is how the world reaches this server; listen: only works next door.
      if (!t.config.public_url.empty()) {
        d.url = t.config.public_url + "/hooks/" + e.name;
        d.url_note = "from public_url: in " + o.config_path;
      } else if (derive_url == DeriveUrl::kFromPublicUrl) {
        return tl::unexpected(Stop{kMisuse, "--url is required: " + o.config_path +
                                                " has no public_url: to make it from"});
      } else if (t.config.listen_port == 0 || t.config.listen_host.empty() ||
                 t.config.listen_host == "0.0.0.0" || t.config.listen_host == "::") {
        return tl::unexpected(Stop{kMisuse, "--url is required: " + o.config_path +
                                                " has no public_url:, and its listen: address is "
                                                "not one a registry can call"});
      } else {
        d.url = "http://" + t.config.listen_host + ":" + std::to_string(t.config.listen_port) +
                "/hooks/" + e.name;
        d.url_note = "from listen: in " + o.config_path +
                     " (no public_url:); pass --url with the address the registry reaches";
      }
    }
    if (secret_options == 0) {
      if (e.scheme == Scheme::kNone || e.secrets.empty()) {
        d.handling = "none";
      } else {
        d.handling = "endpoint";
        d.reference = e.secrets.front().reference;
        d.secret = e.secrets.front().value;
      }
      d.secret_given = true;
    } else if (e.scheme == Scheme::kNone && !o.no_secret) {
      return tl::unexpected(Stop{kMisuse, "endpoint '" + e.name +
                                              "' has scheme none and checks no "
                                              "signature; use --no-secret with it"});
    }
  }
  if (!o.secret.empty()) {
    if (!o.secret.starts_with("env:") && !o.secret.starts_with("file:")) {
      return tl::unexpected(Stop{kMisuse,
                                 "--secret takes a reference, env:NAME or file:PATH, so that "
                                 "the value never sits in shell history"});
    }
    auto value = config::ResolveSecret(o.secret);
    if (!value) return tl::unexpected(Stop{kMisuse, "--secret: " + value.error().message});
    d.secret = *value;
    d.handling = "reference";
    d.reference = o.secret;
    d.secret_given = true;
  } else if (o.generate_secret) {
    d.secret = config::RandomHex(32);
    if (d.secret.empty()) return tl::unexpected(Stop{kRegistryError, "cannot generate a random secret"});
    d.handling = "generated";
    d.secret_given = true;
  } else if (o.no_secret) {
    d.handling = "none";
    d.secret_given = true;
  }
  if (!d.url.empty() && !d.url.starts_with("https://") && !d.url.starts_with("http://")) {
    return tl::unexpected(Stop{kMisuse, "--url '" + d.url +
                                            "' must start with https:// (or http://), "
                                            "e.g. https://ci.example.com/hooks/databricks"});
  }
  d.target = d.endpoint;
  if (const auto at = d.url.rfind("/hooks/"); d.target == nullptr && at != std::string::npos) {
    for (const auto& e : t.config.endpoints) {
      if (d.url.substr(at + 7) == e.name) d.target = &e;
    }
  }
  if (d.target != nullptr) {
    for (const auto& s : d.target->secrets) {
      if (!d.secret.empty() && s.value == d.secret) d.target_knows_secret = true;
    }
    if (d.endpoint != nullptr && d.handling == "none" && !d.target->secrets.empty()) {
      return tl::unexpected(
          Stop{kMisuse, "endpoint '" + d.target->name +
                            "' verifies signatures, so "
                            "unsigned deliveries would all fail; drop --no-secret"});
    }
  }
  return d;
}

// -- output ----------------------------------------------------------------------------------

Json WebhookJson(RegistryDialect dialect, const RegistryWebhook& w) {
  Json j;
  j["id"] = w.id;
  if (dialect == RegistryDialect::kMlflow) {
    j["name"] = w.name;
  } else {
    j["model_name"] = w.model_name.empty() ? Json() : Json(w.model_name);
  }
  j["events"] = w.events;
  j["status"] = w.status;
  j["url"] = w.url;
  if (!w.job_id.empty()) j["job_id"] = w.job_id;
  j["description"] = w.description;
  j["creation_timestamp"] = w.creation_ms;
  j["last_updated_timestamp"] = w.last_updated_ms;
  return j;
}

Json Envelope(const Target& t) {
  Json j;
  j["registry"] = t.registry->name;
  j["dialect"] = RegistryDialectName(t.dialect);
  return j;
}

void PrintJson(const Json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, Json::error_handler_t::replace).c_str());
}

std::string Scope(RegistryDialect dialect, const RegistryWebhook& w) {
  if (dialect == RegistryDialect::kMlflow) return w.name;
  return w.model_name.empty() ? "(all models)" : w.model_name;
}

std::string Where(const RegistryWebhook& w) { return w.url.empty() ? "job " + w.job_id : w.url; }

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

void PrintWebhook(RegistryDialect dialect, const RegistryWebhook& w) {
  const auto field = [](const char* name, const std::string& value) {
    std::printf("  %-12s %s\n", name, value.c_str());
  };
  field("id", w.id);
  if (dialect == RegistryDialect::kMlflow) {
    field("name", w.name);
  } else {
    field("model", w.model_name.empty() ? "(all models: registry-wide)" : w.model_name);
  }
  field("events", Join(w.events, ", "));
  field("status", w.status);
  if (!w.url.empty()) field("url", w.url);
  if (!w.job_id.empty()) field("job", w.job_id);
  if (!w.description.empty()) field("description", w.description);
  if (w.creation_ms > 0) field("created", FormatIsoMillis(w.creation_ms));
  if (w.last_updated_ms > 0 && w.last_updated_ms != w.creation_ms) {
    field("updated", FormatIsoMillis(w.last_updated_ms));
  }
}

Json SecretJson(const Delivery& d) {
  Json j;
  j["handling"] = d.handling;
  if (!d.reference.empty()) j["reference"] = d.reference;
  if (d.target != nullptr) {
    j["endpoint"] = d.target->name;
    j["endpoint_knows_secret"] =
        d.handling == "none" ? d.target->secrets.empty() : d.target_knows_secret;
  }
  if (d.handling == "generated") j["value"] = d.secret;
  if (!d.authorization.empty()) j["authorization"] = "from endpoint " + d.endpoint->name;
  return j;
}

// How the secret is handled, in words; the value only when it was generated here.
void PrintSecret(const RegistryWebhooksOptions& o, const Delivery& d) {
  const std::string endpoint = d.endpoint != nullptr ? d.endpoint->name : "";
  if (d.handling == "reference") {
    std::printf("  %-12s %s (value not shown)\n", "secret", d.reference.c_str());
    if (d.target == nullptr) {
      std::printf(
          "  %-12s the stagegate endpoint must verify with the same secret: list %s\n"
          "  %-12s under its secrets:\n",
          "", d.reference.c_str(), "");
    } else if (d.target_knows_secret) {
      std::printf("  %-12s endpoint '%s' verifies with the same secret\n", "",
                  d.target->name.c_str());
    } else {
      std::printf(
          "  %-12s warning: endpoint '%s' does not list this secret: add %s to its\n"
          "  %-12s secrets: in %s, or it answers these deliveries with 401\n",
          "", d.target->name.c_str(), d.reference.c_str(), "", o.config_path.c_str());
    }
  } else if (d.handling == "endpoint") {
    std::printf("  %-12s %s, the first secret of endpoint '%s' (value not shown)\n", "secret",
                d.reference.c_str(), endpoint.c_str());
    if (d.endpoint->secrets.size() > 1) {
      std::printf("  %-12s the endpoint also accepts %zu older secret(s) while you rotate\n", "",
                  d.endpoint->secrets.size() - 1);
    }
  } else if (d.handling == "generated") {
    std::printf("  %-12s generated, shown only this once (stagegate keeps no copy):\n", "secret");
    std::printf("\n    %s\n\n", d.secret.c_str());
    const EndpointConfig* named = d.target;
    const std::string where =
        named == nullptr ? "the endpoint these deliveries go to" : "endpoint '" + named->name + "'";
    std::printf(
        "  To verify the signatures, stagegate needs this secret at %s:\n"
        "  save it in a file (chmod 600), add file:PATH to its secrets: in %s\n"
        "  (or set the variable of an env: reference there), and restart stagegate serve.\n",
        where.c_str(), o.config_path.c_str());
    if (named != nullptr && !named->secrets.empty()) {
      std::printf("  Keep %s listed there until no webhook uses it any more.\n",
                  named->secrets.front().reference.c_str());
    }
  } else if (d.handling == "none") {
    std::printf(
        "  %-12s none: deliveries are unsigned, and only an endpoint with scheme: none "
        "accepts them\n",
        "secret");
    if (d.target != nullptr && !d.target->secrets.empty()) {
      std::printf("  %-12s warning: endpoint '%s' verifies signatures and will answer 401\n", "",
                  d.target->name.c_str());
    }
  }
  if (!d.authorization.empty()) {
    std::printf("  %-12s the Authorization header endpoint '%s' requires (value not shown)\n",
                "authorization", endpoint.c_str());
  }
  if (!d.url_note.empty()) std::printf("  %-12s %s\n", "note", d.url_note.c_str());
}

int Failed(const Target& t, const Error& error, const char* action) {
  std::fprintf(stderr, "stagegate registry webhooks %s: %s\n", action, error.message.c_str());
  if (error.code == ErrorCode::kInDoubt) {
    std::fprintf(stderr,
                 "stagegate registry webhooks %s: the answer was lost, so the change may "
                 "or may not have happened; check with stagegate registry webhooks list "
                 "--registry %s\n",
                 action, t.registry->name.c_str());
  }
  return kRegistryError;
}

// -- the subcommands -------------------------------------------------------------------------

int List(const RegistryWebhooksOptions& o, const Target& t, WebhookAdmin& admin) {
  auto hooks = admin.List(o.model);
  if (!hooks) return Failed(t, hooks.error(), "list");
  if (o.json) {
    Json j = Envelope(t);
    if (!o.model.empty()) j["model"] = o.model;
    j["webhooks"] = Json::array();
    for (const auto& w : *hooks) j["webhooks"].push_back(WebhookJson(t.dialect, w));
    PrintJson(j);
    return kOk;
  }
  if (hooks->empty()) {
    std::string scope;
    if (!o.model.empty()) {
      scope = t.dialect == RegistryDialect::kMlflow
                  ? " named " + registry::DefaultWebhookName(o.model) +
                        " (MLflow webhooks belong "
                        "to no model; stagegate names them stagegate-<model>)"
                  : " for model '" + o.model + "'";
    }
    std::printf("No webhooks on registry '%s'%s.\n", t.registry->name.c_str(), scope.c_str());
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"ID", t.dialect == RegistryDialect::kMlflow ? "NAME" : "MODEL", "STATUS", "EVENTS", "URL"});
  for (const auto& w : *hooks) {
    rows.push_back({w.id, Scope(t.dialect, w), w.status, Join(w.events, ","), Where(w)});
  }
  PrintTable(rows);
  return kOk;
}

int Create(const RegistryWebhooksOptions& o, const Target& t, WebhookAdmin& admin) {
  if (o.url.empty() && o.endpoint.empty()) {
    std::fprintf(stderr,
                 "stagegate registry webhooks create: --url is required (the stagegate endpoint "
                 "URL the registry posts to, e.g. https://ci.example.com/hooks/%s), or --endpoint "
                 "NAME\n",
                 RegistryDialectName(t.dialect));
    return kMisuse;
  }
  auto delivery = ResolveDelivery(o, t, DeriveUrl::kFromListen);
  if (!delivery) {
    std::fprintf(stderr, "stagegate registry webhooks create: %s\n",
                 delivery.error().message.c_str());
    return delivery.error().code;
  }
  if (!delivery->secret_given) {
    std::fprintf(stderr,
                 "stagegate registry webhooks create: choose how deliveries are signed: --secret "
                 "env:NAME|file:PATH, --generate-secret, or --endpoint NAME (its secret); "
                 "--no-secret for an endpoint with scheme: none\n");
    return kMisuse;
  }
  registry::WebhookSpec spec;
  auto events = CheckEvents(
      t.dialect, o.events.empty() ? registry::DefaultWebhookEvents(t.dialect) : o.events);
  if (!events) {
    std::fprintf(stderr, "stagegate registry webhooks create: %s\n",
                 events.error().message.c_str());
    return kMisuse;
  }
  spec.events = std::move(*events);
  if (!o.status.empty()) {
    auto status = CheckStatus(t.dialect, o.status);
    if (!status) {
      std::fprintf(stderr, "stagegate registry webhooks create: %s\n",
                   status.error().message.c_str());
      return kMisuse;
    }
    spec.status = *status;
  }
  if (t.dialect == RegistryDialect::kDatabricks) {
    if (!o.name.empty()) {
      std::fprintf(stderr,
                   "stagegate registry webhooks create: Databricks webhooks have no name; "
                   "use --description\n");
      return kMisuse;
    }
    spec.model_name = o.model;
  } else {
    spec.name = o.name.empty() ? registry::DefaultWebhookName(o.model) : o.name;
  }
  spec.url = delivery->url;
  spec.secret = delivery->secret;
  spec.authorization = delivery->authorization;
  spec.description = o.description.value_or("stagegate");
  auto hook = admin.Create(spec);
  if (!hook) return Failed(t, hook.error(), "create");
  if (o.json) {
    Json j = Envelope(t);
    j["webhook"] = WebhookJson(t.dialect, *hook);
    j["secret"] = SecretJson(*delivery);
    PrintJson(j);
    return kOk;
  }
  std::printf("Created webhook %s on registry '%s' (%s)\n", hook->id.c_str(),
              t.registry->name.c_str(), RegistryDialectName(t.dialect));
  PrintWebhook(t.dialect, *hook);
  PrintSecret(o, *delivery);
  if (t.dialect == RegistryDialect::kDatabricks && hook->status == "TEST_MODE") {
    std::printf(
        "  It fires only through stagegate registry webhooks test until you update it "
        "with --status ACTIVE.\n");
  }
  return kOk;
}

int Update(const RegistryWebhooksOptions& o, const Target& t, WebhookAdmin& admin) {
  registry::WebhookChanges changes;
  Delivery delivery;
  if (!o.url.empty() || HasSecretOption(o)) {
    // Databricks replaces URL and secret together, so an --endpoint gives both there (but
    // never a listen: address in place of the URL the webhook has).
    auto d = ResolveDelivery(
        o, t,
        t.dialect == RegistryDialect::kDatabricks ? DeriveUrl::kFromPublicUrl : DeriveUrl::kNo);
    if (!d) {
      std::fprintf(stderr, "stagegate registry webhooks update: %s\n", d.error().message.c_str());
      return d.error().code;
    }
    delivery = std::move(*d);
    if (!delivery.url.empty()) changes.url = delivery.url;
    if (delivery.secret_given) changes.secret = delivery.secret;
    if (!delivery.authorization.empty()) changes.authorization = delivery.authorization;
    if (t.dialect == RegistryDialect::kDatabricks && (!changes.url || !changes.secret)) {
      std::fprintf(stderr,
                   "stagegate registry webhooks update: Databricks replaces the URL and "
                   "the secret together; give --url with --secret, --generate-secret or "
                   "--no-secret (or --endpoint for both)\n");
      return kMisuse;
    }
  }
  if (!o.events.empty()) {
    auto events = CheckEvents(t.dialect, o.events);
    if (!events) {
      std::fprintf(stderr, "stagegate registry webhooks update: %s\n",
                   events.error().message.c_str());
      return kMisuse;
    }
    changes.events = std::move(*events);
  }
  if (!o.status.empty()) {
    auto status = CheckStatus(t.dialect, o.status);
    if (!status) {
      std::fprintf(stderr, "stagegate registry webhooks update: %s\n",
                   status.error().message.c_str());
      return kMisuse;
    }
    changes.status = *status;
  }
  if (o.description) changes.description = *o.description;
  if (!o.name.empty()) {
    if (t.dialect == RegistryDialect::kDatabricks) {
      std::fprintf(stderr,
                   "stagegate registry webhooks update: Databricks webhooks have no name; "
                   "use --description\n");
      return kMisuse;
    }
    changes.name = o.name;
  }
  if (changes.Empty()) {
    std::fprintf(stderr,
                 "stagegate registry webhooks update: nothing to change; give --status, "
                 "--description, --event, --url with a secret option, or --name\n");
    return kMisuse;
  }
  auto hook = admin.Update(o.id, changes);
  if (!hook) return Failed(t, hook.error(), "update");
  if (o.json) {
    Json j = Envelope(t);
    j["webhook"] = WebhookJson(t.dialect, *hook);
    if (delivery.secret_given) j["secret"] = SecretJson(delivery);
    PrintJson(j);
    return kOk;
  }
  std::printf("Updated webhook %s on registry '%s' (%s)\n", hook->id.c_str(),
              t.registry->name.c_str(), RegistryDialectName(t.dialect));
  PrintWebhook(t.dialect, *hook);
  if (delivery.secret_given) PrintSecret(o, delivery);
  return kOk;
}

int Delete(const RegistryWebhooksOptions& o, const Target& t, WebhookAdmin& admin) {
  const bool by_id = !o.id.empty();
  if (by_id == o.all || (o.all && o.model.empty()) || (by_id && !o.model.empty())) {
    std::fprintf(stderr,
                 "stagegate registry webhooks delete: give --id ID, or --model MODEL --all "
                 "(every webhook of that model)\n");
    return kMisuse;
  }
  std::vector<RegistryWebhook> targets;
  if (by_id) {
    targets.push_back(RegistryWebhook{.id = o.id});
  } else {
    auto hooks = admin.List(o.model);
    if (!hooks) return Failed(t, hooks.error(), "delete");
    targets = std::move(*hooks);
  }
  Json deleted = Json::array();
  Json failed = Json::array();
  int code = kOk;
  for (const auto& w : targets) {
    auto r = admin.Delete(w.id);
    if (!r) {
      code = Failed(t, r.error(), "delete");
      failed.push_back(Json{{"id", w.id}, {"error", r.error().message}});
      continue;
    }
    if (by_id) {
      deleted.push_back(Json{{"id", w.id}});
      if (!o.json)
        std::printf("Deleted webhook %s from registry '%s'\n", w.id.c_str(),
                    t.registry->name.c_str());
    } else {
      deleted.push_back(WebhookJson(t.dialect, w));
      if (!o.json) {
        std::printf("Deleted webhook %s  %s  %s  %s\n", w.id.c_str(), Scope(t.dialect, w).c_str(),
                    Join(w.events, ",").c_str(), Where(w).c_str());
      }
    }
  }
  if (o.json) {
    Json j = Envelope(t);
    if (!by_id) j["model"] = o.model;
    j["deleted"] = std::move(deleted);
    j["failed"] = std::move(failed);
    PrintJson(j);
  } else if (!by_id) {
    if (targets.empty()) {
      std::printf("No webhooks of model '%s' on registry '%s'%s; nothing deleted.\n",
                  o.model.c_str(), t.registry->name.c_str(),
                  t.dialect == RegistryDialect::kMlflow
                      ? (" (MLflow webhooks belong to no model; stagegate names them " +
                         registry::DefaultWebhookName(o.model) + ")")
                            .c_str()
                      : "");
    } else {
      std::printf("Deleted %zu of %zu webhooks of model '%s' on registry '%s'.\n", deleted.size(),
                  targets.size(), o.model.c_str(), t.registry->name.c_str());
    }
  }
  return code;
}

int Test(const RegistryWebhooksOptions& o, const Target& t, WebhookAdmin& admin) {
  std::string event;
  if (!o.event.empty()) {
    auto events = CheckEvents(t.dialect, {o.event});
    if (!events) {
      std::fprintf(stderr, "stagegate registry webhooks test: %s\n",
                   events.error().message.c_str());
      return kMisuse;
    }
    event = events->front();
  }
  auto result = admin.Test(o.id, event);
  if (!result) return Failed(t, result.error(), "test");
  if (o.json) {
    Json j = Envelope(t);
    j["id"] = o.id;
    j["event"] = event.empty() ? Json() : Json(event);
    j["status"] = result->status;
    j["body"] = result->body;
    j["success"] = result->success;
    if (!result->error.empty()) j["error"] = result->error;
    PrintJson(j);
  } else {
    const std::string with = event.empty() ? "" : " with " + event;
    if (result->status > 0) {
      std::printf("Tested webhook %s%s: its URL answered HTTP %d\n", o.id.c_str(), with.c_str(),
                  result->status);
    } else {
      std::printf("Tested webhook %s%s: no answer from its URL%s%s\n", o.id.c_str(), with.c_str(),
                  result->error.empty() ? "" : ": ", result->error.c_str());
    }
    if (!result->body.empty()) {
      std::printf("%s%s", result->body.c_str(), result->body.back() == '\n' ? "" : "\n");
    }
  }
  return result->success ? kOk : kRegistryError;
}

}  // namespace

CLI::App* AddRegistryCommand(CLI::App& app, RegistryWebhooksOptions& o) {
  auto* registry_cmd = app.add_subcommand("registry", "Manage a configured model registry");
  registry_cmd->require_subcommand(1);
  auto* webhooks = registry_cmd->add_subcommand(
      "webhooks", "List, create, update, delete and test the registry's webhooks");
  webhooks->require_subcommand(1);

  const auto common = [&o](CLI::App* sub) {
    sub->add_option("--config,-c", o.config_path,
                    "Service config file; its registries: section says where the registry is");
    sub->add_option("--registry,-r", o.registry,
                    "Registry name under registries: (optional when there is only one)");
    sub->add_flag("--json", o.json, "Print machine-readable JSON");
    sub->callback([&o, sub] { o.action = sub->get_name(); });
  };
  const auto delivery = [&o](CLI::App* sub) {
    sub->add_option("--url", o.url,
                    "The stagegate endpoint URL the registry posts to, e.g. "
                    "https://ci.example.com/hooks/databricks");
    sub->add_option("--endpoint", o.endpoint,
                    "A stagegate endpoint of the config: the webhook gets its secret (and "
                    "Authorization); its URL too when --url is not given");
    sub->add_option("--secret", o.secret, "Signing secret as env:NAME or file:PATH");
    sub->add_flag("--generate-secret", o.generate_secret,
                  "Generate a new signing secret and print it once");
    sub->add_flag("--no-secret", o.no_secret, "Unsigned deliveries (endpoints with scheme: none)");
    sub->add_option("--event", o.events,
                    "Event to subscribe to (repeatable); Databricks names such as "
                    "MODEL_VERSION_CREATED, MLflow entity.action such as model_version.created");
    sub->add_option("--status", o.status, "ACTIVE, DISABLED or (Databricks) TEST_MODE");
    sub->add_option_function<std::string>(
        "--description", [&o](const std::string& v) { o.description = v; }, "Description");
    sub->add_option("--name", o.name, "MLflow webhook name (default stagegate-<model>)");
  };

  auto* list = webhooks->add_subcommand("list", "List webhooks (of one model with --model)");
  common(list);
  list->add_option("--model,-m", o.model,
                   "Only this model's webhooks (MLflow: the ones named stagegate-<model>)");

  auto* create = webhooks->add_subcommand("create", "Create a webhook that posts to stagegate");
  common(create);
  delivery(create);
  create->add_option("--model,-m", o.model,
                     "Model the webhook fires for (Databricks; without it: registry-wide, which "
                     "needs workspace admin). MLflow: names the webhook stagegate-<model>");

  auto* update =
      webhooks->add_subcommand("update", "Change a webhook's status, events, URL or secret");
  common(update);
  delivery(update);
  update->add_option("--id", o.id, "Webhook id")->required();

  auto* remove = webhooks->add_subcommand(
      "delete", "Delete a webhook by --id, or every webhook of a model with --model M --all");
  common(remove);
  remove->add_option("--id", o.id, "Webhook id");
  remove->add_option("--model,-m", o.model, "Model whose webhooks --all deletes");
  remove->add_flag("--all", o.all, "Delete every webhook of --model");

  auto* test = webhooks->add_subcommand(
      "test", "Have the registry deliver a test event and print what the URL answered");
  common(test);
  test->add_option("--id", o.id, "Webhook id")->required();
  test->add_option("--event", o.event, "Event to send (default: the registry picks one)");
  return registry_cmd;
}

int RegistryWebhooks(const RegistryWebhooksOptions& o) {
  const std::string command = "stagegate registry webhooks " + o.action;
  auto target = LoadTarget(o);
  if (!target) {
    std::fprintf(stderr, "%s: %s\n", command.c_str(), target.error().message.c_str());
    return target.error().code;
  }
  WebhookAdmin admin(target->dialect, MakeRegistryTransport(*target->registry));
  if (o.action == "list") return List(o, *target, admin);
  if (o.action == "create") return Create(o, *target, admin);
  if (o.action == "update") return Update(o, *target, admin);
  if (o.action == "delete") return Delete(o, *target, admin);
  if (o.action == "test") return Test(o, *target, admin);
  std::fprintf(stderr, "%s: unknown action\n", command.c_str());
  return kMisuse;
}

}  // namespace stagegate::app
