#pragma once

#include <string>
#include <vector>

namespace stagegate::app {

struct ServeOptions {
  std::string program = "stagegate";  // how the user invoked the binary, for printed commands
  std::string config_path;  // empty: embedded default
  std::string state_dir = ".stagegate";
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

/// Checks pipeline files; prints file:line:column diagnostics. 0 when all are valid, else 1.
int Validate(const std::vector<std::string>& files);

}  // namespace stagegate::app
