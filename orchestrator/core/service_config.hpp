#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stagegate {

enum class Scheme { kDatabricks, kMlflow, kStandard, kGithub, kNone };

/// "databricks", "mlflow", ... for logs, API and the database.
const char* SchemeName(Scheme scheme);
std::optional<Scheme> ParseScheme(std::string_view name);

/// One configured secret: where it came from (shown to operators) and its value (never shown).
struct Secret {
  std::string reference;  // "env:NAME" or "file:PATH"
  std::string value;
};

/// One webhook endpoint, served at POST /hooks/<name>.
struct EndpointConfig {
  std::string name;
  Scheme scheme = Scheme::kNone;
  std::vector<Secret> secrets;  // several while a secret is being rotated
  /// Allowed distance between the signed timestamp and the server's clock (mlflow,
  /// standard). Zero turns the check off.
  std::chrono::milliseconds tolerance = std::chrono::minutes(5);
  /// Deliveries without a sender id (databricks) are deduplicated on a body hash within
  /// this window. Zero means forever.
  std::chrono::milliseconds dedupe_window = std::chrono::hours(24);
  std::string registry;  // registry name used for post-back (later issues)
  /// When set, deliveries must also carry exactly this Authorization header value (what
  /// Databricks sends from a webhook's http_url_spec.authorization, protocols.md §1.4).
  std::optional<Secret> authorization;
};

struct Limits {
  std::uint64_t max_body_bytes = 1024 * 1024;
  std::uint64_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::size_t max_connections = 1024;
  std::size_t max_pending_writes = 10'000;
};

struct StoreConfig {
  std::string url = "sqlite:./.stagegate/stagegate.db";
  std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);
};

struct PipelinesConfig {
  std::string dir = "pipelines";  // every *.yaml / *.yml file in it is a pipeline
};

struct LocalRunnerConfig {
  std::size_t max_parallel = 4;               // jobs running at once; more wait in a queue
  std::string work_dir = ".stagegate/work";   // work dirs, logs, outputs and artifacts
};

/// A named secret pipelines read as ${{ secrets.NAME }}; its value is redacted from logs.
struct PipelineSecret {
  std::string name;
  Secret secret;
};

/// Polling a registry for events it never delivered (docs/registries.md, "Reconciliation").
struct ReconcileConfig {
  std::chrono::milliseconds interval = std::chrono::seconds(60);  // between polls; >= 1s
  std::vector<std::string> models;  // names or globs (* ? [..]); never empty
  std::string endpoint;  // the endpoint the synthesised events are stored under (resolved)
  /// Only state older than this is synthesised, so a delivery still on its way (or being
  /// retried) is not doubled by a synthesised event.
  std::chrono::milliseconds grace = std::chrono::seconds(30);
  /// MLflow versions (and aliases with no history in the log) older than this are never
  /// synthesised, so turning reconciliation on does not replay a model's history.
  std::chrono::milliseconds lookback = std::chrono::hours(24);
};

/// A registry stagegate calls back (protocols.md §2): where it is and how to authenticate.
struct RegistryConfig {
  std::string name;
  std::string dialect;  // "databricks" or "mlflow"
  std::string url;      // base URL, e.g. https://adb-1234.5.azuredatabricks.net
  std::optional<Secret> token;  // Authorization: Bearer <token>
  std::string username;         // with password: HTTP Basic (MLflow's basic-auth app)
  std::optional<Secret> password;
  bool verify_tls = true;
  std::string ca_file;  // trust this PEM instead of the system's authorities
  std::chrono::milliseconds timeout = std::chrono::seconds(10);  // per call
  std::optional<ReconcileConfig> reconcile;  // absent: this registry is not polled
};

struct ServiceConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  /// How people reach this server (links in registry comments); empty: http://<listen>.
  std::string public_url;
  int io_threads = 2;
  StoreConfig store;
  Limits limits;
  std::vector<EndpointConfig> endpoints;
  PipelinesConfig pipelines;
  LocalRunnerConfig local_runner;
  std::vector<PipelineSecret> secrets;
  std::vector<RegistryConfig> registries;
  std::string source;  // the config file, or "embedded default"
};

}  // namespace stagegate
