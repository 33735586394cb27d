#include "runners/local/local_runner.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "orchestrator/core/headers.hpp"

namespace stagegate::runners::local {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPollTick{50};           // child exit and cancel latency
constexpr milliseconds kReattachPoll{200};      // how often a reattached group is checked
constexpr milliseconds kDrainAfterExit{2000};   // pipes held open by an escaped process
constexpr std::size_t kMaxLineBytes = 1 << 20;  // a longer line is written in pieces
constexpr std::size_t kMinRedactBytes = 4;

// A file-system-safe name for an id: [A-Za-z0-9._-] kept, anything else replaced, and a
// hash of the original appended whenever the name changed, so two ids never share a folder.
std::string SafeName(const std::string& id) {
  std::string out;
  for (const char c : id.substr(0, 100)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
    out.push_back(keep ? c : '_');
  }
  if (out != id || out.empty() || out == "." || out == "..") {
    std::uint32_t hash = 2166136261u;  // FNV-1a: stable across processes, unlike std::hash
    for (const char c : id) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 16777619u;
    }
    char suffix[16];
    std::snprintf(suffix, sizeof(suffix), "-%08x", hash);
    out += suffix;
  }
  return out;
}

struct AttemptPaths {
  fs::path dir, work, artifacts, log, output, event, pid;
};

AttemptPaths PathsFor(const std::string& root, const JobSpec& spec) {
  AttemptPaths p;
  p.dir = fs::path(root) / "runs" / SafeName(spec.run_id) / SafeName(spec.task_id) /
          std::to_string(spec.attempt);
  p.work = p.dir / "work";
  p.artifacts = p.dir / "artifacts";
  p.log = p.dir / "log.txt";
  p.output = p.dir / "output.txt";
  p.event = p.dir / "event.json";
  p.pid = p.dir / "pid";  // lets a restarted stagegate find a job it never recorded an id for
  return p;
}

// A percent-encoded text with lower-case hex digits (%2f), as some clients write it.
std::string LowerHexEscapes(std::string encoded) {
  for (std::size_t i = 0; i + 2 < encoded.size(); ++i) {
    if (encoded[i] != '%') continue;
    for (std::size_t j = i + 1; j <= i + 2; ++j) {
      encoded[j] = static_cast<char>(std::tolower(static_cast<unsigned char>(encoded[j])));
    }
    i += 2;
  }
  return encoded;
}

// Every form of every secret worth hiding, longest first so a longer form is never left
// half-replaced by a shorter one.
std::vector<std::string> RedactionPatterns(const std::vector<std::string>& secrets) {
  std::vector<std::string> patterns;
  const auto add = [&](std::string p) {
    if (p.size() >= kMinRedactBytes) patterns.push_back(std::move(p));
  };
  for (const auto& secret : secrets) {
    if (secret.size() < kMinRedactBytes) continue;
    add(secret);
    std::string b64 = Base64Encode(secret);
    add(b64.substr(0, b64.find('=')));  // unpadded, as in base64url-ish or JWT-style output
    add(std::move(b64));
    add(PercentEncode(secret));
    add(LowerHexEscapes(PercentEncode(secret)));
  }
  std::sort(patterns.begin(), patterns.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  patterns.erase(std::unique(patterns.begin(), patterns.end()), patterns.end());
  return patterns;
}

void Redact(std::string& line, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    for (auto pos = line.find(p); pos != std::string::npos; pos = line.find(p, pos + 3)) {
      line.replace(pos, p.size(), "***");
    }
  }
}

// "2026-11-29T13:47:19.661Z"
std::string IsoTimestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  const auto secs = static_cast<time_t>(ms / 1000);
  struct tm tm_utc {};
  gmtime_r(&secs, &tm_utc);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm_utc);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

std::string FormatSeconds(milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(duration.count()) / 1000.0);
  std::string out = buf;
  while (out.back() == '0') out.pop_back();
  return out;
}

std::string SignalName(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

// Whether a process group still has a live member. kill(-pgid, 0) alone also counts zombies,
// and orphans whose new parent never reaps them (PID 1 in some containers) stay zombies, so a
// positive answer is confirmed by looking for a member that is not one in /proc.
bool GroupExists(pid_t pgid) {
  if (::kill(-pgid, 0) != 0 && errno != EPERM) return false;
  std::error_code ec;
  fs::directory_iterator it("/proc", ec);
  if (ec) return true;  // no /proc: trust kill()
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return true;
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(it->path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const auto paren = stat.rfind(')');  // the command name may contain anything
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 1));
    char state = 0;
    long ppid = 0;
    long pgrp = 0;
    if (!(fields >> state >> ppid >> pgrp)) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') return true;
  }
  return false;
}

void WriteAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk loses log lines, not the job
    done += static_cast<std::size_t>(n);
  }
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Splits a stream into lines, redacts them and writes them with a timestamp and stream name.
class LogWriter final {
 public:
  LogWriter(int fd, std::vector<std::string> patterns) : fd_(fd), patterns_(std::move(patterns)) {}

  void Feed(int stream, const char* data, std::size_t size) {
    std::string& pending = pending_[stream];
    pending.append(data, size);
    std::size_t start = 0;
    for (auto pos = pending.find('\n'); pos != std::string::npos; pos = pending.find('\n', start)) {
      WriteLine(stream, pending.substr(start, pos - start));
      start = pos + 1;
    }
    pending.erase(0, start);
    if (pending.size() > kMaxLineBytes) {
      WriteLine(stream, pending);
      pending.clear();
    }
  }

  void Finish() {
    for (int stream = 0; stream < 2; ++stream) {
      if (!pending_[stream].empty()) WriteLine(stream, pending_[stream]);
      pending_[stream].clear();
    }
  }

 private:
  void WriteLine(int stream, std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    Redact(line, patterns_);
    WriteAll(fd_, IsoTimestamp() + (stream == 0 ? " stdout | " : " stderr | ") + line + "\n");
  }

  int fd_;
  std::vector<std::string> patterns_;
  std::string pending_[2];
};

// key=value lines, and GitHub's multi-line form: key<<DELIM, the lines, DELIM.
// Malformed lines and unterminated heredocs are skipped.
std::map<std::string, std::string> ParseOutputs(const fs::path& path) {
  std::map<std::string, std::string> outputs;
  std::ifstream in(path, std::ios::binary);
  if (!in) return outputs;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const auto eq = line.find('=');
    const auto heredoc = line.find("<<");
    if (heredoc != std::string::npos && (eq == std::string::npos || heredoc < eq)) {
      const std::string key = line.substr(0, heredoc);
      const std::string delim = line.substr(heredoc + 2);
      if (key.empty() || delim.empty()) continue;
      std::size_t end = i + 1;
      while (end < lines.size() && lines[end] != delim) ++end;
      if (end == lines.size()) break;  // unterminated: the rest is not trustworthy
      std::string value;
      for (std::size_t j = i + 1; j < end; ++j) {
        if (j > i + 1) value += '\n';
        value += lines[j];
      }
      outputs[key] = std::move(value);
      i = end;
    } else if (eq != std::string::npos && eq > 0) {
      outputs[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return outputs;
}

std::optional<pid_t> ParsePidId(const std::string& external_id) {
  constexpr std::string_view kPrefix = "pid:";
  if (external_id.size() <= kPrefix.size() ||
      external_id.compare(0, kPrefix.size(), kPrefix) != 0) {
    return std::nullopt;
  }
  long value = 0;
  for (std::size_t i = kPrefix.size(); i < external_id.size(); ++i) {
    const char c = external_id[i];
    if (c < '0' || c > '9' || value > 100'000'000) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  // pid 1 would make kill(-1, ...) signal every process we may signal.
  if (value <= 1) return std::nullopt;
  return static_cast<pid_t>(value);
}

// RAII for the two posix_spawn structures.
struct SpawnSetup final {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

struct LocalRunner::Job {
  JobSpec spec;
  std::shared_ptr<UpdateCallback> callback;
  std::string submit_id;    // what Submit returned
  std::string external_id;  // "pid:<pid>" once started
  pid_t pid = -1;           // also the process group id
  bool queued = false;
  bool reattached = false;
  bool done = false;
  std::atomic<bool> cancel_requested{false};
  int out_fd = -1;
  int err_fd = -1;
  int log_fd = -1;
  std::string log_path;
  std::string artifacts_dir;
  std::string output_path;
  std::condition_variable cv;  // wakes a reattached job's watcher on Cancel
};

LocalRunner::LocalRunner(LocalRunnerOptions options) : options_(std::move(options)) {
  if (options_.max_parallel == 0) options_.max_parallel = 1;
  // Jobs run in their own work directories: every path handed to them must be absolute.
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(options_.root_dir, ec);
  if (!ec) options_.root_dir = absolute.string();
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

LocalRunner::~LocalRunner() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    for (const auto& job : queue_) {
      JobUpdate update;
      update.external_id = job->submit_id;
      update.state = JobState::kCancelled;
      update.detail = "cancelled: the runner shut down before the job started";
      FinishLocked(job, std::move(update));
    }
    queue_.clear();
    for (const auto& [id, job] : jobs_by_id_) {
      if (job->done) continue;
      job->cancel_requested = true;
      job->cv.notify_all();
    }
    for (auto& [id, thread] : threads_) threads.push_back(std::move(thread));
    threads_.clear();
  }
  for (auto& thread : threads) thread.join();
  {
    std::lock_guard lock(mutex_);
    dispatch_stop_ = true;
  }
  dispatch_cv_.notify_all();
  dispatcher_.join();
}

Result<std::string> LocalRunner::Submit(JobSpec spec, UpdateCallback on_update) {
  if (spec.command.empty() || spec.command.front().empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the job has no command");
  }
  const std::string key =
      spec.run_id + '\x1f' + spec.task_id + '\x1f' + std::to_string(spec.attempt);
  std::vector<std::thread> finished;
  Result<std::string> result;
  {
    std::lock_guard lock(mutex_);
    finished = TakeFinishedThreadsLocked();
    if (shutting_down_) {
      result = Fail(ErrorCode::kUnavailable, "the local runner is shutting down");
    } else if (const auto it = jobs_by_key_.find(key); it != jobs_by_key_.end()) {
      result = it->second->submit_id;
    } else {
      auto job = std::make_shared<Job>();
      job->spec = std::move(spec);
      job->callback = std::make_shared<UpdateCallback>(std::move(on_update));
      if (running_ < options_.max_parallel && queue_.empty()) {
        if (auto started = StartLocked(job); !started) {
          result = tl::unexpected(started.error());
        } else {
          job->submit_id = job->external_id;
          jobs_by_key_[key] = job;
          result = job->submit_id;
        }
      } else {
        job->queued = true;
        job->submit_id = "queued:" + SafeName(job->spec.run_id) + "/" +
                         SafeName(job->spec.task_id) + "/" + std::to_string(job->spec.attempt);
        jobs_by_key_[key] = job;
        jobs_by_id_[job->submit_id] = job;
        queue_.push_back(job);
        JobUpdate update;
        update.external_id = job->submit_id;
        update.state = JobState::kQueued;
        PostLocked(job, std::move(update));
        result = job->submit_id;
      }
    }
  }
  for (auto& thread : finished) thread.join();
  return result;
}

Result<void> LocalRunner::Cancel(const std::string& external_id) {
  std::lock_guard lock(mutex_);
  const auto it = jobs_by_id_.find(external_id);
  if (it == jobs_by_id_.end()) {
    return Fail(ErrorCode::kNotFound, "the local runner does not know job " + external_id);
  }
  const JobPtr job = it->second;
  if (job->done) return {};
  if (job->queued) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), job));
    JobUpdate update;
    update.external_id = job->submit_id;
    update.state = JobState::kCancelled;
    update.detail = "cancelled before it started";
    FinishLocked(job, std::move(update));
    return {};
  }
  job->cancel_requested = true;  // the job's thread sends SIGTERM, then SIGKILL
  job->cv.notify_all();
  return {};
}

Result<void> LocalRunner::Reattach(const std::string& external_id, const JobSpec& spec,
                                   UpdateCallback on_update) {
  const AttemptPaths paths = PathsFor(options_.root_dir, spec);
  auto pid = ParsePidId(external_id);
  const bool was_queued = external_id.empty() || external_id.rfind("queued:", 0) == 0;
  if (!pid && !was_queued) {
    return Fail(ErrorCode::kInvalidArgument,
                "not a local runner job id (want pid:<n>): " + external_id);
  }
  if (!pid) {
    // Started after its id was last stored (or while it waited for a slot): the pid file
    // written at spawn says which process it is.
    std::string recorded;
    std::ifstream(paths.pid) >> recorded;
    pid = ParsePidId(recorded);
  }
  const std::string id = pid ? "pid:" + std::to_string(*pid) : external_id;
  auto job = std::make_shared<Job>();
  job->callback = std::make_shared<UpdateCallback>(std::move(on_update));
  job->external_id = job->submit_id = id;
  job->pid = pid.value_or(-1);
  job->reattached = true;
  std::error_code ec;
  if (fs::exists(paths.log, ec)) job->log_path = paths.log.string();
  if (fs::exists(paths.artifacts, ec)) job->artifacts_dir = paths.artifacts.string();

  std::lock_guard lock(mutex_);
  if (shutting_down_) return Fail(ErrorCode::kUnavailable, "the local runner is shutting down");
  if (const auto it = jobs_by_id_.find(id); it != jobs_by_id_.end() && !it->second->done) {
    return {};  // already followed by this runner
  }
  JobUpdate update;
  update.external_id = id;
  update.log_path = job->log_path;
  update.artifacts_dir = job->artifacts_dir;
  if (!pid) {
    update.state = JobState::kLost;
    update.detail = "the job never started (stagegate restarted while it was queued)";
    FinishLocked(job, std::move(update));
    return {};
  }
  if (!GroupExists(*pid)) {
    update.state = JobState::kLost;
    update.detail = "the process is gone (stagegate restarted)";
    FinishLocked(job, std::move(update));
    return {};
  }
  update.state = JobState::kRunning;
  PostLocked(job, std::move(update));
  jobs_by_id_[id] = job;
  try {
    AddThreadLocked(std::thread([this, job] { WatchReattached(job); }));
  } catch (const std::system_error& e) {
    jobs_by_id_.erase(id);
    JobUpdate lost;
    lost.external_id = external_id;
    lost.state = JobState::kLost;
    lost.detail = std::string("cannot watch the process: ") + e.what();
    FinishLocked(job, std::move(lost));
  }
  return {};
}

Result<void> LocalRunner::StartLocked(const JobPtr& job) {
  const JobSpec& spec = job->spec;
  const AttemptPaths paths = PathsFor(options_.root_dir, spec);
  std::error_code ec;
  fs::remove_all(paths.work, ec);  // a fresh work directory for every attempt
  fs::remove_all(paths.artifacts, ec);
  if (!fs::create_directories(paths.work, ec) && ec) {
    return Fail(ErrorCode::kUnavailable,
                "cannot create work directory " + paths.work.string() + ": " + ec.message());
  }
  if (!fs::create_directories(paths.artifacts, ec) && ec) {
    return Fail(ErrorCode::kUnavailable, "cannot create artifacts directory " +
                                             paths.artifacts.string() + ": " + ec.message());
  }
  {
    std::ofstream event(paths.event, std::ios::binary | std::ios::trunc);
    event << spec.event_json;
    std::ofstream output(paths.output, std::ios::binary | std::ios::trunc);
    if (!event || !output) {
      return Fail(ErrorCode::kUnavailable, "cannot write job files in " + paths.dir.string());
    }
  }
  int log_fd = ::open(paths.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Fail(ErrorCode::kUnavailable,
                "cannot open " + paths.log.string() + ": " + std::strerror(errno));
  }
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const std::string reason = std::strerror(errno);
    for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1], &log_fd}) CloseFd(*fd);
    return Fail(ErrorCode::kUnavailable, "cannot create pipes: " + reason);
  }

  std::map<std::string, std::string> env_map;
  for (const char* name : {"PATH", "HOME", "LANG"}) {
    if (const char* value = std::getenv(name)) env_map[name] = value;
  }
  if (!env_map.count("PATH")) env_map["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& [name, value] : spec.env) env_map[name] = value;
  env_map["STAGEGATE_RUN_ID"] = spec.run_id;
  env_map["STAGEGATE_TASK_ID"] = spec.task_id;
  env_map["STAGEGATE_ATTEMPT"] = std::to_string(spec.attempt);
  env_map["STAGEGATE_EVENT_PATH"] = paths.event.string();
  env_map["STAGEGATE_OUTPUT"] = paths.output.string();
  env_map["STAGEGATE_ARTIFACTS"] = paths.artifacts.string();
  env_map["STAGEGATE_WORKSPACE"] = paths.work.string();
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : env_map) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.command;
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&setup.actions, err_pipe[1], 2);
  posix_spawn_file_actions_addchdir_np(&setup.actions, paths.work.c_str());
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setflags(
      &setup.attr,
      static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  posix_spawnattr_setpgroup(&setup.attr, 0);  // a new group led by the child
  posix_spawnattr_setsigmask(&setup.attr, &no_signals);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);

  pid_t pid = -1;
  const int spawn_error =
      ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  if (spawn_error != 0) {
    for (int* fd : {&out_pipe[0], &err_pipe[0], &log_fd}) CloseFd(*fd);
    return Fail(ErrorCode::kUnavailable,
                "cannot start " + spec.command.front() + ": " + std::strerror(spawn_error));
  }

  job->pid = pid;
  job->external_id = "pid:" + std::to_string(pid);
  std::ofstream(paths.pid) << job->external_id << "\n";
  job->out_fd = out_pipe[0];
  job->err_fd = err_pipe[0];
  job->log_fd = log_fd;
  job->log_path = paths.log.string();
  job->artifacts_dir = paths.artifacts.string();
  job->output_path = paths.output.string();
  job->queued = false;
  // The thread needs only the timeout and the secrets from here on.
  job->spec.command.clear();
  job->spec.env.clear();
  job->spec.event_json.clear();
  job->spec.event_json.shrink_to_fit();

  try {
    AddThreadLocked(std::thread([this, job] { RunJob(job); }));
  } catch (const std::system_error& e) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    for (int* fd : {&job->out_fd, &job->err_fd, &job->log_fd}) CloseFd(*fd);
    return Fail(ErrorCode::kUnavailable, std::string("cannot start a job thread: ") + e.what());
  }
  ++running_;
  jobs_by_id_[job->external_id] = job;
  JobUpdate update;
  update.external_id = job->external_id;
  update.state = JobState::kRunning;
  update.log_path = job->log_path;
  update.artifacts_dir = job->artifacts_dir;
  PostLocked(job, std::move(update));
  return {};
}

void LocalRunner::StartQueuedLocked() {
  while (!shutting_down_ && running_ < options_.max_parallel && !queue_.empty()) {
    const JobPtr job = queue_.front();
    queue_.pop_front();
    if (auto started = StartLocked(job); !started) {
      JobUpdate update;
      update.external_id = job->submit_id;
      update.state = JobState::kFailed;
      update.detail = "could not start: " + started.error().message;
      FinishLocked(job, std::move(update));
    }
  }
}

void LocalRunner::RunJob(const JobPtr& job) {
  enum class Stop { kNone, kTimeout, kCancel };
  const pid_t pid = job->pid;
  const milliseconds timeout = job->spec.timeout;
  const auto started = Clock::now();
  LogWriter writer(job->log_fd, RedactionPatterns(job->spec.redact));

  Stop stop = Stop::kNone;
  bool killed = false;
  bool reaped = false;
  bool status_known = false;
  int status = 0;
  Clock::time_point kill_at;
  Clock::time_point drain_until;
  int* fds[2] = {&job->out_fd, &job->err_fd};
  std::vector<char> buffer(64 * 1024);
  // Readable when the child exits, so that its end is seen at once rather than at the next
  // tick once its pipes are closed (Linux 5.3 and later; without it, the tick applies).
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));

  while (true) {
    auto now = Clock::now();
    if (!reaped) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno != EINTR)) {
        reaped = true;
        status_known = r == pid;
        drain_until = now + kDrainAfterExit;
        // Leftovers of a finished job (background processes) do not outlive it.
        if (stop == Stop::kNone && GroupExists(pid)) {
          ::kill(-pid, SIGKILL);
          killed = true;
        }
      }
    }
    if (stop == Stop::kNone && !reaped) {
      if (job->cancel_requested) {
        stop = Stop::kCancel;
      } else if (timeout.count() > 0 && now - started >= timeout) {
        stop = Stop::kTimeout;
      }
      if (stop != Stop::kNone) {
        ::kill(-pid, SIGTERM);
        kill_at = now + options_.kill_grace;
      }
    }
    if (stop != Stop::kNone && !killed && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      killed = true;
      drain_until = now + kDrainAfterExit;
    }
    const bool pipes_closed = job->out_fd < 0 && job->err_fd < 0;
    if (reaped && (pipes_closed || now >= drain_until) &&
        (stop == Stop::kNone || killed || !GroupExists(pid))) {
      break;
    }

    pollfd polled[3];
    int streams[3];
    nfds_t count = 0;
    for (int stream = 0; stream < 2; ++stream) {
      if (*fds[stream] < 0) continue;
      polled[count] = pollfd{*fds[stream], POLLIN, 0};
      streams[count] = stream;
      ++count;
    }
    if (pidfd >= 0 && !reaped) {
      polled[count] = pollfd{pidfd, POLLIN, 0};
      streams[count] = -1;
      ++count;
    }
    if (::poll(polled, count, static_cast<int>(kPollTick.count())) <= 0) continue;
    for (nfds_t i = 0; i < count; ++i) {
      if (polled[i].revents == 0 || streams[i] < 0) continue;
      const ssize_t n = ::read(polled[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        writer.Feed(streams[i], buffer.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        CloseFd(*fds[streams[i]]);
      }
    }
  }
  writer.Finish();
  for (int* fd : {&job->out_fd, &job->err_fd, &job->log_fd, &pidfd}) CloseFd(*fd);

  JobUpdate update;
  update.external_id = job->external_id;
  update.log_path = job->log_path;
  update.artifacts_dir = job->artifacts_dir;
  update.outputs = ParseOutputs(job->output_path);
  if (status_known && WIFEXITED(status)) update.exit_code = WEXITSTATUS(status);
  if (stop == Stop::kTimeout) {
    update.state = JobState::kTimedOut;
    update.detail = "timed out after " + FormatSeconds(timeout) + "s";
  } else if (stop == Stop::kCancel) {
    update.state = JobState::kCancelled;
    update.detail = "cancelled";
  } else if (!status_known) {
    update.state = JobState::kLost;
    update.detail = "the exit status of the process could not be read";
  } else if (WIFEXITED(status)) {
    update.state = update.exit_code == 0 ? JobState::kSucceeded : JobState::kFailed;
    if (update.exit_code != 0)
      update.detail = "exited with code " + std::to_string(update.exit_code);
  } else {
    update.state = JobState::kFailed;
    update.detail = "killed by " + SignalName(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }

  std::lock_guard lock(mutex_);
  FinishLocked(job, std::move(update));
  --running_;
  StartQueuedLocked();
  finished_threads_.push_back(std::this_thread::get_id());
}

void LocalRunner::WatchReattached(const JobPtr& job) {
  const pid_t pgid = job->pid;
  bool stopping = false;
  bool killed = false;
  Clock::time_point kill_at;
  std::unique_lock lock(mutex_);
  while (true) {
    const auto now = Clock::now();
    if (job->cancel_requested && !stopping) {
      ::kill(-pgid, SIGTERM);
      stopping = true;
      kill_at = now + options_.kill_grace;
    }
    if (stopping && !killed && now >= kill_at) {
      ::kill(-pgid, SIGKILL);
      killed = true;
    }
    lock.unlock();  // GroupExists reads /proc: not under the runner's lock
    const bool alive = GroupExists(pgid);
    lock.lock();
    if (!alive) break;
    // Zombies whose parent never reaps them keep the group "existing"; stop waiting for them.
    if (killed && now >= kill_at + kDrainAfterExit) break;
    auto wait = kReattachPoll;
    if (stopping && !killed) {
      wait =
          std::min(wait, std::chrono::duration_cast<milliseconds>(kill_at - now) + milliseconds(1));
    }
    job->cv.wait_for(lock, wait);
  }
  JobUpdate update;
  update.external_id = job->external_id;
  update.log_path = job->log_path;
  update.artifacts_dir = job->artifacts_dir;
  if (stopping) {
    update.state = JobState::kCancelled;
    update.detail = "cancelled";
  } else {
    update.state = JobState::kLost;
    update.detail = "the process outlived its stagegate; exit status unknown";
  }
  FinishLocked(job, std::move(update));
  finished_threads_.push_back(std::this_thread::get_id());
}

void LocalRunner::FinishLocked(const JobPtr& job, JobUpdate update) {
  job->done = true;
  job->queued = false;
  PostLocked(job, std::move(update));
  job->callback.reset();  // releases whatever the caller captured
}

void LocalRunner::PostLocked(const JobPtr& job, JobUpdate update) {
  if (!job->callback) return;
  updates_.emplace_back(job->callback, std::move(update));
  dispatch_cv_.notify_one();
}

void LocalRunner::AddThreadLocked(std::thread thread) {
  const auto id = thread.get_id();
  threads_.emplace(id, std::move(thread));
}

std::vector<std::thread> LocalRunner::TakeFinishedThreadsLocked() {
  std::vector<std::thread> finished;
  for (const auto id : finished_threads_) {
    if (const auto it = threads_.find(id); it != threads_.end()) {
      finished.push_back(std::move(it->second));
      threads_.erase(it);
    }
  }
  finished_threads_.clear();
  return finished;
}

void LocalRunner::DispatchLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    dispatch_cv_.wait(lock, [this] { return dispatch_stop_ || !updates_.empty(); });
    if (updates_.empty()) return;
    {
      auto item = std::move(updates_.front());
      updates_.pop_front();
      lock.unlock();
      try {
        (*item.first)(item.second);
      } catch (const std::exception& e) {
        spdlog::error("local runner: an update callback threw: {}", e.what());
      }
    }
    lock.lock();
  }
}

}  // namespace stagegate::runners::local
