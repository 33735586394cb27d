#pragma once

#include <memory>

#include "orchestrator/core/registry.hpp"

namespace stagegate::registry {

/// The registry REST APIs of protocols.md §2.1 (Databricks) and §2.2 (MLflow) over a
/// RegistryTransport: builds each call's request (query strings for GET, and for DELETE on
/// Databricks; JSON bodies otherwise, DELETE included on MLflow) and maps its answer,
/// including both response shapes of Databricks' transition-stage and the
/// {"error_code", "message"} error bodies:
///   404 / RESOURCE_DOES_NOT_EXIST            -> kNotFound
///   400, other 4xx                           -> kInvalidArgument
///   401, 403 / PERMISSION_DENIED             -> kUnauthenticated
///   409 / RESOURCE_ALREADY_EXISTS            -> kConflict
///   429, 5xx, transport failures             -> kUnavailable (a retry may succeed)
/// Messages name the registry call, the HTTP status and the registry's own code and message.
class RestRegistryClient final : public RegistryClient {
 public:
  RestRegistryClient(RegistryDialect dialect, std::shared_ptr<RegistryTransport> transport);

  RegistryDialect dialect() const override { return dialect_; }

  Result<RegistryActivity> ApproveTransition(const std::string& model, const std::string& version,
                                             const std::string& stage, bool archive_existing,
                                             const std::string& comment) override;
  Result<RegistryActivity> RejectTransition(const std::string& model, const std::string& version,
                                            const std::string& stage,
                                            const std::string& comment) override;
  Result<std::vector<RegistryActivity>> ListTransitionRequests(const std::string& model,
                                                               const std::string& version) override;
  Result<std::string> CreateComment(const std::string& model, const std::string& version,
                                    const std::string& comment) override;
  Result<ModelVersionInfo> TransitionStage(const std::string& model, const std::string& version,
                                           const std::string& stage, bool archive_existing,
                                           const std::string& comment) override;
  Result<ModelVersionInfo> GetModelVersion(const std::string& model,
                                           const std::string& version) override;
  Result<std::vector<ModelVersionInfo>> LatestVersions(const std::string& model,
                                                       const std::vector<std::string>& stages) override;
  Result<void> SetVersionTag(const std::string& model, const std::string& version,
                             const std::string& key, const std::string& value) override;
  Result<void> DeleteVersionTag(const std::string& model, const std::string& version,
                                const std::string& key) override;
  Result<RunData> GetRun(const std::string& run_id) override;
  Result<void> SetAlias(const std::string& model, const std::string& alias,
                        const std::string& version) override;
  Result<void> DeleteAlias(const std::string& model, const std::string& alias) override;
  Result<std::optional<ModelVersionInfo>> GetVersionByAlias(const std::string& model,
                                                            const std::string& alias) override;
  Result<RegistryActivity> CreateTransitionRequest(const std::string& model, const std::string& version,
                                                   const std::string& stage,
                                                   const std::string& comment) override;
  Result<std::vector<ModelVersionInfo>> SearchVersions(const std::string& model) override;
  Result<std::vector<ModelVersionInfo>> SearchVersionsLike(const std::string& pattern) override;
  Result<RegisteredModelInfo> GetRegisteredModel(const std::string& model) override;

 private:
  Result<std::vector<ModelVersionInfo>> Search(const std::string& filter);

  RegistryDialect dialect_;
  std::shared_ptr<RegistryTransport> transport_;
};

}  // namespace stagegate::registry
