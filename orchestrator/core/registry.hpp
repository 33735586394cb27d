#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/event.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate {

/// The two registry APIs stagegate speaks (protocols.md §2.1 and §2.2).
enum class RegistryDialect { kDatabricks, kMlflow };

const char* RegistryDialectName(RegistryDialect dialect);

/// One REST call to a registry: the path carries the query string; the body is JSON or empty.
struct RegistryRequest {
  std::string method;
  std::string path;
  std::string body;
};

struct RegistryResponse {
  int status = 0;
  std::string body;
  HeaderList headers;
};

/// Carries registry calls (TLS, authentication, timeouts and retries live behind it).
/// Thread-safe and blocking.
class RegistryTransport {
 public:
  virtual ~RegistryTransport() = default;
  /// A transport failure (connection, TLS, timeout) is an error; any HTTP answer is a value.
  virtual Result<RegistryResponse> Send(const RegistryRequest& request) = 0;
};

/// A model version as both registries describe it (fields one dialect lacks stay empty).
struct ModelVersionInfo {
  std::string name;
  std::string version;
  std::string current_stage;
  std::string run_id;
  std::string source;
  std::string status;
  std::string description;
  std::vector<std::string> aliases;
  std::map<std::string, std::string> tags;
  std::int64_t creation_ms = 0;  // creation_timestamp; 0 when the answer has none
};

/// A registered model's aliases (MLflow registered-models/get, protocols.md §2.2).
struct RegisteredModelInfo {
  std::string name;
  std::map<std::string, std::string> aliases;  // alias -> version
};

/// A Databricks transition-request activity (approved, rejected, requested, ...).
struct RegistryActivity {
  std::string id;
  std::string activity_type;
  std::string from_stage;
  std::string to_stage;
  std::string comment;
  std::string user_id;
  std::int64_t creation_ms = 0;
};

/// The latest value of each metric of a run, and its params.
struct RunData {
  std::string run_id;
  std::string status;
  std::map<std::string, double> metrics;
  std::map<std::string, std::string> params;
};

/// What a pipeline's registry actions and the comparison ask of a registry. Dialect-specific
/// calls fail with kInvalidArgument on the other dialect, naming the call to use instead.
class RegistryClient {
 public:
  virtual ~RegistryClient() = default;
  virtual RegistryDialect dialect() const = 0;

  // Databricks transition requests and comments.
  virtual Result<RegistryActivity> ApproveTransition(const std::string& model, const std::string& version,
                                                     const std::string& stage, bool archive_existing,
                                                     const std::string& comment) = 0;
  virtual Result<RegistryActivity> RejectTransition(const std::string& model, const std::string& version,
                                                    const std::string& stage,
                                                    const std::string& comment) = 0;
  virtual Result<std::vector<RegistryActivity>> ListTransitionRequests(const std::string& model,
                                                                       const std::string& version) = 0;
  /// Returns the new comment's id.
  virtual Result<std::string> CreateComment(const std::string& model, const std::string& version,
                                            const std::string& comment) = 0;

  // Both dialects.
  virtual Result<ModelVersionInfo> TransitionStage(const std::string& model, const std::string& version,
                                                   const std::string& stage, bool archive_existing,
                                                   const std::string& comment) = 0;
  virtual Result<ModelVersionInfo> GetModelVersion(const std::string& model,
                                                   const std::string& version) = 0;
  virtual Result<std::vector<ModelVersionInfo>> LatestVersions(
      const std::string& model, const std::vector<std::string>& stages) = 0;
  virtual Result<void> SetVersionTag(const std::string& model, const std::string& version,
                                     const std::string& key, const std::string& value) = 0;
  virtual Result<void> DeleteVersionTag(const std::string& model, const std::string& version,
                                        const std::string& key) = 0;
  virtual Result<RunData> GetRun(const std::string& run_id) = 0;

  // MLflow aliases.
  virtual Result<void> SetAlias(const std::string& model, const std::string& alias,
                                const std::string& version) = 0;
  virtual Result<void> DeleteAlias(const std::string& model, const std::string& alias) = 0;
  /// nullopt when the alias is not set.
  virtual Result<std::optional<ModelVersionInfo>> GetVersionByAlias(const std::string& model,
                                                                    const std::string& alias) = 0;

  /// Asks for a stage transition (Databricks): what a person does in the registry's UI; the
  /// answer is the open request (activity_type REQUESTED_TRANSITION).
  virtual Result<RegistryActivity> CreateTransitionRequest(const std::string& model,
                                                           const std::string& /*version*/,
                                                           const std::string& /*stage*/,
                                                           const std::string& /*comment*/) {
    return Fail(ErrorCode::kInvalidArgument, "this registry client cannot request a transition of " + model);
  }

  // Reconciliation (both dialects; GetRegisteredModel is MLflow's). Not pure, so clients that
  // predate them (and test fakes) need not implement them.
  /// Every version of `model`: model-versions/search with filter name='<model>', following
  /// next_page_token to the end.
  virtual Result<std::vector<ModelVersionInfo>> SearchVersions(const std::string& model) {
    return Fail(ErrorCode::kInvalidArgument, "this registry client cannot search versions of " + model);
  }
  /// Every version of every model whose name matches the SQL LIKE `pattern` (% any run, _ one
  /// character): filter name LIKE '<pattern>', all pages.
  virtual Result<std::vector<ModelVersionInfo>> SearchVersionsLike(const std::string& pattern) {
    return Fail(ErrorCode::kInvalidArgument, "this registry client cannot search versions like " + pattern);
  }
  /// The registered model with its aliases (search results carry no aliases on MLflow,
  /// mlflow/mlflow#9783).
  virtual Result<RegisteredModelInfo> GetRegisteredModel(const std::string& model) {
    return Fail(ErrorCode::kInvalidArgument, "this registry client cannot read registered model " + model);
  }
};

using RegistryClientPtr = std::shared_ptr<RegistryClient>;

}  // namespace stagegate
