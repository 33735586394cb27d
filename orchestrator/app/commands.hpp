#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace stagegate::app {

struct ServeOptions {
  std::string program = "stagegate";  // how the user invoked the binary, for printed commands
  std::string config_path;  // empty: embedded default
  std::string state_dir = ".stagegate";
  std::string pipelines_dir;  // overrides the config's pipelines.dir
  std::string log_level = "info";
};

/// Runs the service until SIGINT/SIGTERM. Returns the process exit code.
int Serve(const ServeOptions& options);

struct SendOptions {
  std::string url;
  std::string scheme;
  std::string secret;  // env:NAME, file:PATH or the value itself
  std::string event_file;
  std::string type;
  std::string model = "demo-model";
  std::string version = "1";
  std::string from_stage;
  std::string to_stage;
  std::string alias;
  std::vector<std::string> tags;     // key=value
  std::vector<std::string> headers;  // Name: value
  std::string text;
  std::string delivery_id;
  long long timestamp = 0;  // 0: now
  int timeout_seconds = 10;
  bool dry_run = false;
};

/// Signs and posts one event; prints the answer. Returns the process exit code.
int Send(const SendOptions& options);

struct RunOptions {
  std::string pipeline_file;
  std::string event_file;           // an event as GET /api/v1/events/{id} returns it
  std::vector<std::string> inputs;  // key=value
  std::string work_dir = ".stagegate/local-runs";
  std::size_t max_parallel = 4;
};

/// Runs one pipeline in the foreground on the local runner; prints each task's state changes
/// and a summary. 0 when the run succeeded, 1 when it failed or was cancelled, 2 on misuse.
int RunPipeline(const RunOptions& options);

/// Checks pipeline files; prints file:line:column diagnostics. 0 when all are valid, else 1.
int Validate(const std::vector<std::string>& files);

struct RegistryWebhooksOptions {
  std::string action;       // list, create, update, delete or test
  std::string config_path;  // the service config; its registries: section
  std::string registry;     // empty: the only configured registry
  bool json = false;
  std::string model;
  std::string id;
  std::string url;
  std::string endpoint;  // an endpoint of the config: secret, Authorization and default URL
  std::vector<std::string> events;
  std::string event;   // test
  std::string secret;  // env:NAME or file:PATH
  bool generate_secret = false;
  bool no_secret = false;
  std::string status;
  std::optional<std::string> description;
  std::string name;  // MLflow
  bool all = false;  // delete --model M --all
};

/// Adds `registry webhooks list|create|update|delete|test` to `app`, parsing into `options`;
/// returns the `registry` subcommand.
CLI::App* AddRegistryCommand(CLI::App& app, RegistryWebhooksOptions& options);

/// Runs the parsed `registry webhooks` command against the configured registry. 0 when it
/// succeeded, 1 on a registry error (or a test delivery that failed), 2 on misuse.
int RegistryWebhooks(const RegistryWebhooksOptions& options);

/// `stagegate action NAME ...` (the ML actions a pipeline's `uses:` runs on a worker).
struct ActionOptions {
  std::string action;  // set by the parsed subcommand
  std::string json;    // the JSON report; default $STAGEGATE_ARTIFACTS/<action>.json in a task
  // validate-model
  std::string path;
  bool require_signature = false;
  bool require_input_example = false;
  std::vector<std::string> required_flavors;
  std::vector<std::string> required_metadata;
  std::string max_size;
  // drift
  std::string reference;
  std::string current;
  std::string config;
  std::string label;
  std::string prediction;
  std::vector<std::string> features;
  std::string html;
  bool report_only = false;  // drift: exit 0 on drift (bad input still exits 2)
  // compare
  std::string mode;
  std::string data;
  std::string champion;
  std::string challenger;
  std::string task = "classification";
  std::string metric;
  double min_improvement = 0.0;
  std::string positive_label;
  double threshold = 0.5;
  double confidence = 0.95;
  std::size_t resamples = 1000;
  std::uint64_t seed = 20240917;  // ml::kDefaultBootstrapSeed
  std::string registry;           // metrics mode
  std::string model;
  std::string challenger_version;
  std::string champion_alias;
  std::string champion_stage;
  std::string direction = "maximize";
  std::string if_no_champion = "pass";
};

/// Adds `action validate-model|drift|compare` to `app`, parsing into `options`.
CLI::App* AddActionCommand(CLI::App& app, ActionOptions& options);

/// Runs the parsed action: 0 pass (or no drift), 1 fail (or drift), 2 bad input.
int RunAction(const ActionOptions& options);

}  // namespace stagegate::app
