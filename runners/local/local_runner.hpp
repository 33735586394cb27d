#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "orchestrator/core/result.hpp"
#include "orchestrator/core/runner.hpp"

namespace stagegate::runners::local {

struct LocalRunnerOptions {
  std::string root_dir;  // work dirs, logs, artifacts live under it
  std::size_t max_parallel = 4;
  std::chrono::milliseconds kill_grace{5000};  // SIGTERM, then SIGKILL after this long
};

/// Runs jobs as local processes: posix_spawn into a fresh process group per attempt, output
/// captured line by line (timestamped, redacted) into `<root>/runs/<run>/<task>/<attempt>/`.
/// One thread per running job reads its pipes and reaps it; one more thread delivers every
/// update in order, so callbacks never run on a caller's thread or under a lock.
///
/// External ids are "pid:<pid>". A job that has to wait for a free slot is submitted under
/// "queued:<n>" (its pid does not exist yet); its kRunning update carries the pid id, and
/// Cancel accepts either.
class LocalRunner final : public Runner {
 public:
  explicit LocalRunner(LocalRunnerOptions options);
  ~LocalRunner() override;  // cancels every job, waits for them, delivers their last updates
  LocalRunner(const LocalRunner&) = delete;
  LocalRunner& operator=(const LocalRunner&) = delete;

  Result<std::string> Submit(JobSpec spec, UpdateCallback on_update) override;
  Result<void> Cancel(const std::string& external_id) override;
  Result<void> Reattach(const std::string& external_id, const JobSpec& spec,
                        UpdateCallback on_update) override;

 private:
  struct Job;
  using JobPtr = std::shared_ptr<Job>;

  Result<void> StartLocked(const JobPtr& job);  // spawns and starts the job's thread
  void StartQueuedLocked();
  void RunJob(const JobPtr& job);
  void WatchReattached(const JobPtr& job);
  void FinishLocked(const JobPtr& job, JobUpdate update);
  void PostLocked(const JobPtr& job, JobUpdate update);
  void AddThreadLocked(std::thread thread);
  std::vector<std::thread> TakeFinishedThreadsLocked();
  void DispatchLoop();

  LocalRunnerOptions options_;
  std::mutex mutex_;
  bool shutting_down_ = false;
  std::size_t running_ = 0;
  std::uint64_t next_queued_id_ = 1;
  std::map<std::string, JobPtr> jobs_by_key_;  // run_id, task_id, attempt
  std::map<std::string, JobPtr> jobs_by_id_;   // every external id a job was known by
  std::deque<JobPtr> queue_;
  std::map<std::thread::id, std::thread> threads_;
  std::vector<std::thread::id> finished_threads_;

  std::condition_variable dispatch_cv_;
  std::deque<std::pair<std::shared_ptr<UpdateCallback>, JobUpdate>> updates_;
  bool dispatch_stop_ = false;
  std::thread dispatcher_;
};

}  // namespace stagegate::runners::local
