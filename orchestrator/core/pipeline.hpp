#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stagegate {

/// A place in a pipeline file, 1-based; 0 when unknown.
struct SourcePos {
  int line = 0;
  int column = 0;
};

/// `on.registry`: which stored events start a run.
struct RegistryTrigger {
  std::vector<std::string> events;     // canonical types
  std::vector<std::string> models;     // globs; empty = any model
  std::vector<std::string> to_stages;  // empty = any
  std::vector<std::string> aliases;    // empty = any
};

/// One typed input of a manual trigger.
struct ManualInput {
  std::string name;
  std::string type = "string";  // string | number | boolean | choice
  bool required = false;
  std::optional<std::string> default_value;
  std::vector<std::string> options;  // for choice
  std::string description;
};

struct TriggerSpec {
  std::optional<RegistryTrigger> registry;
  std::vector<std::string> schedules;  // 5-field cron expressions, UTC
  bool manual = false;
  std::vector<ManualInput> inputs;
};

enum class ConcurrencyPolicy { kQueue, kCancelRunning, kSkip };

struct ConcurrencySpec {
  std::string group;  // may hold ${{ }}
  ConcurrencyPolicy policy = ConcurrencyPolicy::kQueue;
};

/// Static fan-out of a task: the cross product of `axes`, minus `exclude`, plus `include`.
/// Values stay as their YAML scalar text.
struct MatrixSpec {
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // in declaration order
  std::vector<std::map<std::string, std::string>> include;
  std::vector<std::map<std::string, std::string>> exclude;
  int max_parallel = 0;  // 0 = no limit
  bool fail_fast = true;
};

struct TaskSpec {
  std::string id;
  SourcePos pos;
  std::string run;   // shell text; never holds ${{ }}
  std::string uses;  // built-in action, e.g. compare or registry.approve_transition
  std::map<std::string, std::string> with;
  std::vector<std::string> needs;
  std::string if_expression;  // without ${{ }}; empty = success()
  std::map<std::string, std::string> env;
  std::chrono::milliseconds timeout{0};  // 0 = the defaults' timeout
  int retries = -1;                      // -1 = the defaults' retries
  std::chrono::milliseconds retry_backoff{0};
  std::string runner;  // empty = the defaults' runner
  std::map<std::string, std::string> resources;
  std::optional<MatrixSpec> matrix;
  bool continue_on_error = false;
};

struct PipelineDefaults {
  std::string runner = "local";
  std::chrono::milliseconds timeout = std::chrono::minutes(30);
  int retries = 0;
  std::chrono::milliseconds retry_backoff = std::chrono::seconds(10);
};

/// A validated pipeline. `revision` is the SHA-256 of the file's bytes: a run pins it.
struct PipelineSpec {
  std::string name;
  std::string description;
  std::string file;
  std::string revision;
  TriggerSpec on;
  std::optional<ConcurrencySpec> concurrency;
  PipelineDefaults defaults;
  std::map<std::string, std::string> env;
  std::vector<TaskSpec> tasks;  // in file order
};

}  // namespace stagegate
