#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/core/result.hpp"

namespace stagegate {

/// A pipeline as the server sees it, for GET /api/v1/pipelines.
struct PipelineInfo {
  std::string name;
  std::string file;
  std::string revision;
  bool valid = false;
  std::vector<std::string> errors;
  std::string description;
  std::vector<std::string> triggers;  // "registry", "schedule: 0 3 * * *", "manual"
  std::vector<std::string> tasks;
};

struct PipelineListing {
  std::string dir;
  std::int64_t loaded_ms = 0;
  std::vector<PipelineInfo> pipelines;
};

/// What the API may ask of the scheduler (orchestrator/scheduler/ implements it). Blocking
/// and thread-safe: call through RunBlocking.
class RunService {
 public:
  virtual ~RunService() = default;

  virtual PipelineListing Pipelines() const = 0;
  /// Re-reads the pipelines directory; runs in flight keep the revision they pinned.
  virtual Result<PipelineListing> Reload() = 0;
  /// Starts a manual run. `inputs` values are JSON texts or plain strings; checked against
  /// the pipeline's declared inputs. `event_id` (0 = none) provides the event context.
  virtual Result<std::int64_t> Trigger(const std::string& pipeline,
                                       const std::map<std::string, std::string>& inputs,
                                       std::int64_t event_id) = 0;
  /// Cancels a queued or running run; cancelling a finished run is a kConflict.
  virtual Result<void> Cancel(std::int64_t run_id) = 0;
  /// A new run of the same pipeline revision, event and inputs that reuses the outputs of
  /// the tasks that succeeded; kConflict unless the run failed or was cancelled.
  virtual Result<std::int64_t> Rerun(std::int64_t run_id) = 0;
};

using RunServicePtr = std::shared_ptr<RunService>;

}  // namespace stagegate
