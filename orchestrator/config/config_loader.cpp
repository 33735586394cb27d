#include "orchestrator/config/config_loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <openssl/rand.h>
#include <yaml-cpp/yaml.h>

#include "orchestrator/core/suggest.hpp"
#include "orchestrator/core/units.hpp"

namespace stagegate::config {
namespace {

std::string Where(const std::string& file, const YAML::Node& node) {
  const auto mark = node.Mark();
  if (mark.line < 0) {
    return file;
  }
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

tl::unexpected<Error> Bad(const std::string& file, const YAML::Node& node, const std::string& what) {
  return Fail(ErrorCode::kInvalidArgument, Where(file, node) + ": " + what);
}

// Rejects keys outside `allowed`, with a hint when one is close.
Result<void> CheckKeys(const std::string& file, const YAML::Node& map,
                       const std::vector<std::string>& allowed, const std::string& section) {
  for (const auto& item : map) {
    const auto key = item.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      const std::string hint = Suggest(key, allowed);
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      return Bad(file, item.first,
                 "unknown key '" + key + "' in " + section +
                     (hint.empty() ? "" : "; did you mean '" + hint + "'?") + " (known keys: " +
                     known + ")");
    }
  }
  return {};
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

Result<std::string> Scalar(const std::string& file, const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) {
    return Bad(file, node, what + " must be a single value, e.g. " + what + ": ...");
  }
  return node.as<std::string>();
}

Result<std::chrono::milliseconds> Duration(const std::string& file, const YAML::Node& node,
                                           const std::string& what) {
  auto text = Scalar(file, node, what);
  if (!text) return tl::unexpected(text.error());
  auto d = ParseDuration(*text);
  if (!d) return Bad(file, node, what + ": " + d.error().message);
  return *d;
}

Result<std::uint64_t> Size(const std::string& file, const YAML::Node& node, const std::string& what) {
  auto text = Scalar(file, node, what);
  if (!text) return tl::unexpected(text.error());
  auto s = ParseByteSize(*text);
  if (!s) return Bad(file, node, what + ": " + s.error().message);
  return *s;
}

Result<std::uint64_t> Count(const std::string& file, const YAML::Node& node, const std::string& what) {
  auto text = Scalar(file, node, what);
  if (!text) return tl::unexpected(text.error());
  if (text->empty() || !std::all_of(text->begin(), text->end(), ::isdigit) || text->size() > 9) {
    return Bad(file, node, what + " must be a positive whole number, not '" + *text + "'");
  }
  return std::stoull(*text);
}

Result<void> ParseListen(const std::string& file, const YAML::Node& node, ServiceConfig& config) {
  auto text = Scalar(file, node, "listen");
  if (!text) return tl::unexpected(text.error());
  const auto colon = text->rfind(':');
  if (colon == std::string::npos) {
    return Bad(file, node, "listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  }
  const std::string port = text->substr(colon + 1);
  if (port.empty() || !std::all_of(port.begin(), port.end(), ::isdigit) || port.size() > 5 ||
      std::stoul(port) > 65535) {
    return Bad(file, node, "listen port '" + port + "' must be a number from 0 to 65535");
  }
  config.listen_host = text->substr(0, colon);
  config.listen_port = static_cast<std::uint16_t>(std::stoul(port));
  return {};
}

Result<void> ParseLimits(const std::string& file, const YAML::Node& node, Limits& limits) {
  if (!node.IsMap()) return Bad(file, node, "limits must be a mapping");
  if (auto r = CheckKeys(file, node,
                         {"max_body", "max_header", "header_timeout", "body_timeout",
                          "idle_timeout", "max_connections", "max_pending_writes"},
                         "limits");
      !r) {
    return r;
  }
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    const auto& v = item.second;
    if (key == "max_body" || key == "max_header") {
      auto s = Size(file, v, key);
      if (!s) return tl::unexpected(s.error());
      (key == "max_body" ? limits.max_body_bytes : limits.max_header_bytes) = *s;
    } else if (key.ends_with("_timeout")) {
      auto d = Duration(file, v, key);
      if (!d) return tl::unexpected(d.error());
      if (d->count() == 0) return Bad(file, v, key + " must be longer than zero");
      (key == "header_timeout" ? limits.header_timeout
       : key == "body_timeout" ? limits.body_timeout
                               : limits.idle_timeout) = *d;
    } else {
      auto c = Count(file, v, key);
      if (!c) return tl::unexpected(c.error());
      if (*c == 0) return Bad(file, v, key + " must be at least 1");
      (key == "max_connections" ? limits.max_connections : limits.max_pending_writes) = *c;
    }
  }
  return {};
}

Result<void> ParseStore(const std::string& file, const YAML::Node& node, StoreConfig& store) {
  // yaml-cpp's Node assignment writes through to the aliased node, so never reassign a node
  // that points into the document: pick the URL node once.
  if (node.IsMap()) {
    if (auto r = CheckKeys(file, node, {"url", "busy_timeout"}, "store"); !r) return r;
    if (node["busy_timeout"]) {
      auto d = Duration(file, node["busy_timeout"], "busy_timeout");
      if (!d) return tl::unexpected(d.error());
      store.busy_timeout = *d;
    }
    if (!node["url"]) return Bad(file, node, "store needs url: sqlite:PATH");
  }
  const YAML::Node url = node.IsMap() ? node["url"] : node;
  auto text = Scalar(file, url, "store");
  if (!text) return tl::unexpected(text.error());
  if (!text->starts_with("sqlite:") || text->size() == 7) {
    return Bad(file, url,
               "store '" + *text + "' is not supported; write sqlite:PATH, e.g. "
               "sqlite:./.stagegate/stagegate.db");
  }
  store.url = *text;
  return {};
}

Result<void> ParsePipelines(const std::string& file, const YAML::Node& node, PipelinesConfig& out) {
  if (!node.IsMap()) return Bad(file, node, "pipelines must be a mapping, e.g. pipelines: {dir: ./pipelines}");
  if (auto r = CheckKeys(file, node, {"dir"}, "pipelines"); !r) return r;
  if (node["dir"]) {
    auto dir = Scalar(file, node["dir"], "dir");
    if (!dir) return tl::unexpected(dir.error());
    out.dir = *dir;
  }
  return {};
}

Result<void> ParseRunners(const std::string& file, const YAML::Node& node, LocalRunnerConfig& out) {
  if (!node.IsMap()) return Bad(file, node, "runners must be a mapping, e.g. runners: {local: {max_parallel: 4}}");
  if (auto r = CheckKeys(file, node, {"local"}, "runners"); !r) return r;
  const YAML::Node local = node["local"];
  if (!local) return {};
  if (!local.IsMap()) return Bad(file, local, "runners.local must be a mapping with max_parallel and work_dir");
  if (auto r = CheckKeys(file, local, {"max_parallel", "work_dir"}, "runners.local"); !r) return r;
  if (local["max_parallel"]) {
    auto c = Count(file, local["max_parallel"], "max_parallel");
    if (!c) return tl::unexpected(c.error());
    if (*c == 0 || *c > 1024) return Bad(file, local["max_parallel"], "max_parallel must be 1 to 1024");
    out.max_parallel = static_cast<std::size_t>(*c);
  }
  if (local["work_dir"]) {
    auto dir = Scalar(file, local["work_dir"], "work_dir");
    if (!dir) return tl::unexpected(dir.error());
    out.work_dir = *dir;
  }
  return {};
}

Result<void> ParseSecrets(const std::string& file, const YAML::Node& node,
                          std::vector<PipelineSecret>& out) {
  if (!node.IsMap()) {
    return Bad(file, node, "secrets must map names to references, e.g. secrets: {HF_TOKEN: env:HF_TOKEN}");
  }
  static const std::regex kSecretName("[A-Za-z_][A-Za-z0-9_]{0,63}");
  for (const auto& item : node) {
    const auto name = item.first.as<std::string>();
    if (!std::regex_match(name, kSecretName)) {
      return Bad(file, item.first, "secret name '" + name +
                                       "' must be letters, digits and _ (it is read as "
                                       "${{ secrets." + "NAME }})");
    }
    auto reference = Scalar(file, item.second, name);
    if (!reference) return tl::unexpected(reference.error());
    auto value = ResolveSecret(*reference);
    if (!value) return Bad(file, item.second, value.error().message);
    out.push_back(PipelineSecret{name, Secret{*reference, *value}});
  }
  return {};
}

// registries.<name>.reconcile (docs/registries.md, "Reconciliation"); the endpoint is
// resolved once the endpoints are known (ResolveReconcileEndpoints).
Result<ReconcileConfig> ParseReconcile(const std::string& file, const YAML::Node& node,
                                       const std::string& registry_section) {
  const std::string section = registry_section + " reconcile";
  if (!node.IsMap()) {
    return Bad(file, node, section + " must be a mapping, e.g. reconcile: {interval: 60s, models: [churn]}");
  }
  if (auto k = CheckKeys(file, node, {"interval", "models", "endpoint", "grace", "lookback"}, section);
      !k) {
    return tl::unexpected(k.error());
  }
  ReconcileConfig out;
  if (node["interval"]) {
    auto d = Duration(file, node["interval"], "interval");
    if (!d) return tl::unexpected(d.error());
    if (*d < std::chrono::seconds(1)) {
      return Bad(file, node["interval"], section + " interval must be at least 1s (the registry "
                                                   "is called on every poll)");
    }
    out.interval = *d;
  }
  for (const char* key : {"grace", "lookback"}) {
    if (!node[key]) continue;
    auto d = Duration(file, node[key], key);
    if (!d) return tl::unexpected(d.error());
    (std::string_view(key) == "grace" ? out.grace : out.lookback) = *d;
  }
  const YAML::Node models = node["models"];
  if (!models || !models.IsSequence() || models.size() == 0) {
    return Bad(file, models ? models : node,
               section + " needs models: a list of model names or globs, e.g. models: [churn, "
                         "fraud-*] (the registry APIs are queried per model)");
  }
  for (const auto& m : models) {
    auto model = Scalar(file, m, "model");
    if (!model) return tl::unexpected(model.error());
    if (model->empty()) return Bad(file, m, section + " models: entries must not be empty");
    out.models.push_back(*model);
  }
  if (node["endpoint"]) {
    auto endpoint = Scalar(file, node["endpoint"], "endpoint");
    if (!endpoint) return tl::unexpected(endpoint.error());
    out.endpoint = *endpoint;
  }
  return out;
}

// Each reconcile's endpoint must name a configured endpoint; when it is left out, the one
// endpoint whose registry: names the registry is used.
Result<void> ResolveReconcileEndpoints(const std::string& file, const YAML::Node& root,
                                       ServiceConfig& config) {
  std::vector<std::string> names;
  for (const auto& e : config.endpoints) names.push_back(e.name);
  for (auto& reg : config.registries) {
    if (!reg.reconcile) continue;
    const YAML::Node node = root["registries"][reg.name]["reconcile"];
    const std::string section = "registry '" + reg.name + "' reconcile";
    if (!reg.reconcile->endpoint.empty()) {
      const std::string& wanted = reg.reconcile->endpoint;
      if (std::find(names.begin(), names.end(), wanted) == names.end()) {
        const std::string hint = Suggest(wanted, names);
        return Bad(file, node["endpoint"],
                   section + " endpoint '" + wanted + "' is not a configured endpoint" +
                       (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                       " (endpoints: " + Join(names) + ")");
      }
      continue;
    }
    std::vector<std::string> candidates;
    for (const auto& e : config.endpoints) {
      if (e.registry == reg.name) candidates.push_back(e.name);
    }
    if (candidates.size() != 1) {
      return Bad(file, node,
                 section + " needs endpoint: the endpoint whose events it stands in for; " +
                     (candidates.empty()
                          ? "no endpoint has registry: " + reg.name + " (endpoints: " + Join(names) + ")"
                          : "several endpoints have registry: " + reg.name + " (" +
                                Join(candidates) + "); name one"));
    }
    reg.reconcile->endpoint = candidates.front();
  }
  return {};
}

Result<void> ParseRegistries(const std::string& file, const YAML::Node& node,
                             std::vector<RegistryConfig>& out) {
  if (!node.IsMap()) {
    return Bad(file, node, "registries must map names to {dialect, url, token}, e.g. registries: "
                           "{workspace: {dialect: databricks, url: https://..., token: env:DATABRICKS_TOKEN}}");
  }
  static const std::regex kName("[a-z0-9][a-z0-9_-]{0,62}");
  for (const auto& item : node) {
    const auto name = item.first.as<std::string>();
    if (!std::regex_match(name, kName)) {
      return Bad(file, item.first, "registry name '" + name + "' must be lower-case letters, digits, - or _");
    }
    const YAML::Node r = item.second;
    const std::string section = "registry '" + name + "'";
    if (!r.IsMap()) return Bad(file, r, section + " must be a mapping with dialect: and url:");
    if (auto k = CheckKeys(file, r, {"dialect", "url", "token", "username", "password", "verify_tls",
                                     "ca_file", "timeout", "reconcile"},
                           section);
        !k) {
      return k;
    }
    RegistryConfig reg;
    reg.name = name;
    if (!r["dialect"]) return Bad(file, r, section + " needs dialect: databricks or dialect: mlflow");
    auto dialect = Scalar(file, r["dialect"], "dialect");
    if (!dialect) return tl::unexpected(dialect.error());
    if (*dialect != "databricks" && *dialect != "mlflow") {
      const std::string hint = Suggest(*dialect, {"databricks", "mlflow"});
      return Bad(file, r["dialect"], "dialect '" + *dialect + "' is not known" +
                                         (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                                         " (dialects: databricks, mlflow)");
    }
    reg.dialect = *dialect;
    if (!r["url"]) return Bad(file, r, section + " needs url:, e.g. url: https://mlflow.example.com");
    auto url = Scalar(file, r["url"], "url");
    if (!url) return tl::unexpected(url.error());
    if (!url->starts_with("https://") && !url->starts_with("http://")) {
      return Bad(file, r["url"], "url '" + *url + "' must start with https:// (or http://)");
    }
    if (const auto host = url->find("://") + 3; url->find('@', host) < url->find('/', host)) {
      // Never echoed: the part before @ is a credential.
      return Bad(file, r["url"], section + ": url must not hold credentials (user:password@); use "
                                           "token: or username: and password: with env: or file:");
    }
    while (url->ends_with('/')) url->pop_back();
    reg.url = *url;
    auto secret = [&](const char* key) -> Result<std::optional<Secret>> {
      if (!r[key]) return std::optional<Secret>();
      auto reference = Scalar(file, r[key], key);
      if (!reference) return tl::unexpected(reference.error());
      auto value = ResolveSecret(*reference);
      if (!value) return Bad(file, r[key], value.error().message);
      return std::optional<Secret>(Secret{*reference, *value});
    };
    auto token = secret("token");
    if (!token) return tl::unexpected(token.error());
    reg.token = std::move(*token);
    auto password = secret("password");
    if (!password) return tl::unexpected(password.error());
    reg.password = std::move(*password);
    if (r["username"]) {
      auto username = Scalar(file, r["username"], "username");
      if (!username) return tl::unexpected(username.error());
      reg.username = *username;
    }
    if (reg.token && (reg.password || !reg.username.empty())) {
      return Bad(file, r, section + " has both token: and username:/password:; use one");
    }
    if (reg.password.has_value() != !reg.username.empty()) {
      return Bad(file, r, section + " needs both username: and password: for basic authentication");
    }
    if (r["verify_tls"]) {
      auto verify = Scalar(file, r["verify_tls"], "verify_tls");
      if (!verify) return tl::unexpected(verify.error());
      if (*verify != "true" && *verify != "false") {
        return Bad(file, r["verify_tls"], "verify_tls must be true or false");
      }
      reg.verify_tls = *verify == "true";
    }
    if (r["ca_file"]) {
      auto ca = Scalar(file, r["ca_file"], "ca_file");
      if (!ca) return tl::unexpected(ca.error());
      reg.ca_file = *ca;
    }
    if (r["timeout"]) {
      auto d = Duration(file, r["timeout"], "timeout");
      if (!d) return tl::unexpected(d.error());
      reg.timeout = *d;
    }
    if (r["reconcile"]) {
      auto reconcile = ParseReconcile(file, r["reconcile"], section);
      if (!reconcile) return tl::unexpected(reconcile.error());
      reg.reconcile = std::move(*reconcile);
    }
    out.push_back(std::move(reg));
  }
  return {};
}

Result<EndpointConfig> ParseEndpoint(const std::string& file, const std::string& name,
                                     const YAML::Node& node) {
  if (!node.IsMap()) {
    return Bad(file, node, "endpoint '" + name + "' must be a mapping with scheme: and secrets:");
  }
  if (auto r = CheckKeys(file, node,
                         {"scheme", "secrets", "tolerance", "dedupe_window", "registry",
                          "authorization"},
                         "endpoint '" + name + "'");
      !r) {
    return tl::unexpected(r.error());
  }
  EndpointConfig endpoint;
  endpoint.name = name;
  if (!node["scheme"]) {
    return Bad(file, node, "endpoint '" + name +
                               "' needs scheme: databricks, mlflow, standard, github or none");
  }
  auto scheme_text = Scalar(file, node["scheme"], "scheme");
  if (!scheme_text) return tl::unexpected(scheme_text.error());
  const auto scheme = ParseScheme(*scheme_text);
  if (!scheme) {
    const std::string hint = Suggest(*scheme_text, {"databricks", "mlflow", "standard", "github", "none"});
    return Bad(file, node["scheme"],
               "unknown scheme '" + *scheme_text + "'" +
                   (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                   " (schemes: databricks, mlflow, standard, github, none)");
  }
  endpoint.scheme = *scheme;
  const YAML::Node secrets = node["secrets"];
  if (endpoint.scheme == Scheme::kNone) {
    if (secrets) {
      return Bad(file, secrets, "endpoint '" + name + "' has scheme none, which checks no signature; "
                                "remove secrets: or choose a signed scheme");
    }
  } else {
    if (!secrets || !secrets.IsSequence() || secrets.size() == 0) {
      return Bad(file, secrets ? secrets : node,
                 "endpoint '" + name + "' needs secrets: a list such as [env:MY_WEBHOOK_SECRET]");
    }
    for (const auto& s : secrets) {
      auto ref = Scalar(file, s, "secret");
      if (!ref) return tl::unexpected(ref.error());
      auto value = ResolveSecret(*ref);
      if (!value) return Bad(file, s, value.error().message);
      // A secret the scheme cannot use would reject every delivery: refuse to start.
      static const std::regex kWhsec("whsec_[A-Za-z0-9+/]+={0,2}");
      if (endpoint.scheme == Scheme::kStandard &&
          (!std::regex_match(*value, kWhsec) || (value->size() - 6) % 4 == 1)) {
        return Bad(file, s, "secret " + *ref + " is not a Standard Webhooks secret (whsec_<base64>)");
      }
      endpoint.secrets.push_back(Secret{*ref, *value});
    }
  }
  if (node["tolerance"]) {
    auto d = Duration(file, node["tolerance"], "tolerance");
    if (!d) return tl::unexpected(d.error());
    endpoint.tolerance = *d;
  }
  if (node["dedupe_window"]) {
    auto d = Duration(file, node["dedupe_window"], "dedupe_window");
    if (!d) return tl::unexpected(d.error());
    endpoint.dedupe_window = *d;
  }
  if (node["authorization"]) {
    auto ref = Scalar(file, node["authorization"], "authorization");
    if (!ref) return tl::unexpected(ref.error());
    auto value = ResolveSecret(*ref);
    if (!value) return Bad(file, node["authorization"], value.error().message);
    endpoint.authorization = Secret{*ref, *value};
  }
  if (node["registry"]) {
    auto r = Scalar(file, node["registry"], "registry");
    if (!r) return tl::unexpected(r.error());
    endpoint.registry = *r;
  }
  return endpoint;
}

Result<ServiceConfig> ParseRoot(const std::string& file, const YAML::Node& root) {
  if (!root.IsMap()) {
    return Bad(file, root, "the config must be a YAML mapping with listen:, store: and endpoints:");
  }
  if (auto r = CheckKeys(file, root,
                         {"listen", "public_url", "io_threads", "store", "limits", "endpoints",
                          "pipelines", "runners", "secrets", "registries"},
                         "the config");
      !r) {
    return tl::unexpected(r.error());
  }
  ServiceConfig config;
  config.source = file;
  if (root["listen"]) {
    if (auto r = ParseListen(file, root["listen"], config); !r) return tl::unexpected(r.error());
  }
  if (root["public_url"]) {
    auto url = Scalar(file, root["public_url"], "public_url");
    if (!url) return tl::unexpected(url.error());
    if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
      return Bad(file, root["public_url"],
                 "public_url must start with http:// or https://, e.g. https://stagegate.example.com");
    }
    while (!url->empty() && url->back() == '/') url->pop_back();
    config.public_url = *url;
  }
  if (root["io_threads"]) {
    auto c = Count(file, root["io_threads"], "io_threads");
    if (!c) return tl::unexpected(c.error());
    if (*c == 0 || *c > 64) return Bad(file, root["io_threads"], "io_threads must be 1 to 64");
    config.io_threads = static_cast<int>(*c);
  }
  if (root["store"]) {
    if (auto r = ParseStore(file, root["store"], config.store); !r) return tl::unexpected(r.error());
  }
  if (root["limits"]) {
    if (auto r = ParseLimits(file, root["limits"], config.limits); !r) {
      return tl::unexpected(r.error());
    }
  }
  if (root["pipelines"]) {
    if (auto r = ParsePipelines(file, root["pipelines"], config.pipelines); !r) {
      return tl::unexpected(r.error());
    }
  }
  if (root["runners"]) {
    if (auto r = ParseRunners(file, root["runners"], config.local_runner); !r) {
      return tl::unexpected(r.error());
    }
  }
  if (root["secrets"]) {
    if (auto r = ParseSecrets(file, root["secrets"], config.secrets); !r) {
      return tl::unexpected(r.error());
    }
  }
  if (root["registries"]) {
    if (auto r = ParseRegistries(file, root["registries"], config.registries); !r) {
      return tl::unexpected(r.error());
    }
  }
  const YAML::Node endpoints = root["endpoints"];
  if (!endpoints || !endpoints.IsMap() || endpoints.size() == 0) {
    return Bad(file, endpoints ? endpoints : root,
               "endpoints: must map at least one name to {scheme: ..., secrets: [...]}");
  }
  static const std::regex kName("[a-z0-9][a-z0-9_-]{0,62}");
  for (const auto& item : endpoints) {
    const auto name = item.first.as<std::string>();
    if (!std::regex_match(name, kName)) {
      return Bad(file, item.first, "endpoint name '" + name +
                                       "' must be lower-case letters, digits, - or _ (it becomes "
                                       "the URL /hooks/<name>)");
    }
    for (const auto& existing : config.endpoints) {
      if (existing.name == name) {
        return Bad(file, item.first, "endpoint '" + name + "' is declared twice; keep one");
      }
    }
    auto endpoint = ParseEndpoint(file, name, item.second);
    if (!endpoint) return tl::unexpected(endpoint.error());
    config.endpoints.push_back(std::move(*endpoint));
  }
  for (const auto& e : config.endpoints) {
    if (e.registry.empty()) continue;
    const bool known = std::any_of(config.registries.begin(), config.registries.end(),
                                   [&](const RegistryConfig& r) { return r.name == e.registry; });
    if (!known) {
      std::vector<std::string> names;
      for (const auto& r : config.registries) names.push_back(r.name);
      const std::string hint = Suggest(e.registry, names);
      return Bad(file, endpoints[e.name]["registry"],
                 "endpoint '" + e.name + "' names registry '" + e.registry +
                     "', which is not configured" + (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                     "; add it under registries:");
    }
  }
  if (auto r = ResolveReconcileEndpoints(file, root, config); !r) return tl::unexpected(r.error());
  return config;
}

std::string RandomWhsec() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char raw[24];
  RAND_bytes(raw, sizeof raw);
  std::string out = "whsec_";
  for (std::size_t i = 0; i < sizeof raw; i += 3) {
    const unsigned n = (raw[i] << 16U) | (raw[i + 1] << 8U) | raw[i + 2];
    out += kAlphabet[(n >> 18U) & 63U];
    out += kAlphabet[(n >> 12U) & 63U];
    out += kAlphabet[(n >> 6U) & 63U];
    out += kAlphabet[n & 63U];
  }
  return out;
}

}  // namespace

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) return {};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : raw) {
    out += kDigits[static_cast<unsigned char>(c) >> 4U];
    out += kDigits[static_cast<unsigned char>(c) & 15U];
  }
  return out;
}

Result<std::string> ResolveSecret(std::string_view reference) {
  if (reference.starts_with("env:")) {
    const std::string name(reference.substr(4));
    const char* value = std::getenv(name.c_str());
    if (name.empty() || value == nullptr || *value == '\0') {
      return Fail(ErrorCode::kInvalidArgument,
                  "secret reference " + std::string(reference) + ": environment variable " + name +
                      " is not set (export it before starting stagegate)");
    }
    return std::string(value);
  }
  if (reference.starts_with("file:")) {
    const std::string path(reference.substr(5));
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return Fail(ErrorCode::kInvalidArgument,
                  "secret reference " + std::string(reference) + ": cannot read " + path);
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string value = buffer.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "secret reference " + std::string(reference) + ": the file is empty");
    }
    return value;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "secrets must be references, env:NAME or file:PATH (inline values are refused so "
              "they never sit in a config file)");
}

Result<ServiceConfig> LoadConfigText(const std::string& text, const std::string& name) {
  try {
    return ParseRoot(name, YAML::Load(text));
  } catch (const YAML::ParserException& e) {
    return Fail(ErrorCode::kInvalidArgument,
                name + ":" + std::to_string(e.mark.line + 1) + ":" +
                    std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    const std::string where =
        e.mark.is_null() ? name
                         : name + ":" + std::to_string(e.mark.line + 1) + ":" +
                               std::to_string(e.mark.column + 1);
    return Fail(ErrorCode::kInvalidArgument, where + ": " + e.msg);
  }
}

Result<ServiceConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(ErrorCode::kInvalidArgument, "cannot read config file " + path);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return LoadConfigText(buffer.str(), path);
}

Result<ServiceConfig> EmbeddedDefaultConfig(const std::string& state_dir) {
  ServiceConfig config;
  config.source = "embedded default";
  config.store.url = "sqlite:" + state_dir + "/stagegate.db";
  config.local_runner.work_dir = state_dir + "/work";
  const std::filesystem::path secrets_dir = std::filesystem::path(state_dir) / "secrets";
  for (const Scheme scheme :
       {Scheme::kDatabricks, Scheme::kMlflow, Scheme::kStandard, Scheme::kGithub}) {
    EndpointConfig endpoint;
    endpoint.name = SchemeName(scheme);
    endpoint.scheme = scheme;
    std::string variable = "STAGEGATE_" + endpoint.name + "_SECRET";
    std::transform(variable.begin(), variable.end(), variable.begin(), ::toupper);
    std::string reference = "env:" + variable;
    const char* from_env = std::getenv(variable.c_str());
    if (from_env == nullptr || *from_env == '\0') {
      const auto path = secrets_dir / endpoint.name;
      reference = "file:" + path.string();
      if (!std::filesystem::exists(path)) {
        std::error_code ec;
        std::filesystem::create_directories(secrets_dir, ec);
        ::chmod(secrets_dir.c_str(), 0700);
        // Created with mode 0600 in one step, so the secret is never readable by others.
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
        const std::string secret =
            (scheme == Scheme::kStandard ? RandomWhsec() : RandomHex(32)) + "\n";
        const bool written = fd >= 0 && secret.size() > 1 &&
                             ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
        if (fd >= 0) ::close(fd);
        if (!written) {
          return Fail(ErrorCode::kUnavailable, "cannot write a generated secret to " + path.string());
        }
      }
    }
    auto value = ResolveSecret(reference);
    if (!value) return tl::unexpected(value.error());
    endpoint.secrets.push_back(Secret{reference, *value});
    config.endpoints.push_back(std::move(endpoint));
  }
  return config;
}

}  // namespace stagegate::config
