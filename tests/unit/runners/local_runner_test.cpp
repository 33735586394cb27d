#include "runners/local/local_runner.hpp"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/support/test_support.hpp"

extern char** environ;

namespace stagegate::runners::local {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr auto kBound = seconds(10);

// Collects a job's updates; every wait is bounded.
class Recorder final {
 public:
  Runner::UpdateCallback Callback() {
    return [this](const JobUpdate& update) {
      std::lock_guard lock(mutex_);
      updates_.push_back(update);
      cv_.notify_all();
    };
  }

  std::optional<JobUpdate> WaitTerminal(std::chrono::milliseconds bound = kBound) {
    return WaitFor([](const JobUpdate& u) { return IsTerminal(u.state); }, bound);
  }

  std::optional<JobUpdate> WaitState(JobState state, std::chrono::milliseconds bound = kBound) {
    return WaitFor([state](const JobUpdate& u) { return u.state == state; }, bound);
  }

  std::vector<JobUpdate> Updates() {
    std::lock_guard lock(mutex_);
    return updates_;
  }

  static bool IsTerminal(JobState state) {
    return state != JobState::kQueued && state != JobState::kRunning;
  }

 private:
  template <class Pred>
  std::optional<JobUpdate> WaitFor(Pred pred, std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex_);
    std::optional<JobUpdate> found;
    cv_.wait_for(lock, bound, [&] {
      for (const auto& u : updates_) {
        if (pred(u)) {
          found = u;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<JobUpdate> updates_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Gone, or a zombie nobody reaps (PID 1 in a container may not).
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || stat.size() < paren + 3 || stat[paren + 2] == 'Z';
}

bool WaitUntilGone(pid_t pid, std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (!ProcessGone(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

// A `sleep` in a session (and process group) of its own, as a job left by an earlier
// stagegate would be; -1 when it cannot be started.
pid_t SpawnSleepInNewSession(const char* duration_text) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = -1;
  char sleep_path[] = "/bin/sleep";
  std::string duration = duration_text;
  char* argv[] = {sleep_path, duration.data(), nullptr};
  const int rc = posix_spawn(&pid, sleep_path, nullptr, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
}

class LocalRunnerTest : public ::testing::Test {
 protected:
  LocalRunnerOptions Options(std::size_t max_parallel = 4,
                             std::chrono::milliseconds grace = milliseconds(500)) {
    LocalRunnerOptions options;
    options.root_dir = dir_.File("root");
    options.max_parallel = max_parallel;
    options.kill_grace = grace;
    return options;
  }

  static JobSpec Shell(const std::string& script, std::string task_id = "train") {
    JobSpec spec;
    spec.run_id = "run-1";
    spec.task_id = std::move(task_id);
    spec.attempt = 1;
    spec.command = {"/bin/sh", "-c", script};
    return spec;
  }

  test::TempDir dir_;
};

TEST_F(LocalRunnerTest, ExitZeroSucceeds) {
  LocalRunner runner(Options());
  Recorder rec;
  auto id = runner.Submit(Shell("exit 0"), rec.Callback());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_EQ(id->rfind("pid:", 0), 0u);
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kSucceeded);
  EXPECT_EQ(done->exit_code, 0);
  EXPECT_EQ(done->external_id, *id);
  EXPECT_EQ(rec.Updates().front().state, JobState::kRunning);
}

TEST_F(LocalRunnerTest, NonZeroExitFails) {
  LocalRunner runner(Options());
  Recorder rec;
  ASSERT_TRUE(runner.Submit(Shell("exit 3"), rec.Callback()));
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->exit_code, 3);
}

TEST_F(LocalRunnerTest, KilledBySignalNamesIt) {
  LocalRunner runner(Options());
  Recorder rec;
  ASSERT_TRUE(runner.Submit(Shell("kill -KILL $$"), rec.Callback()));
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->detail, "killed by SIGKILL");
}

TEST_F(LocalRunnerTest, EnvironmentWorkspaceEventAndArtifacts) {
  test::ScopedEnv leak("SG_LOCAL_RUNNER_TEST_LEAK", "leaked");
  LocalRunner runner(Options());
  Recorder rec;
  JobSpec spec = Shell(
      "env > \"$STAGEGATE_ARTIFACTS/env.txt\"; pwd > \"$STAGEGATE_ARTIFACTS/pwd.txt\"; "
      "cat \"$STAGEGATE_EVENT_PATH\" > \"$STAGEGATE_ARTIFACTS/event.json\"; "
      "mkdir \"$STAGEGATE_ARTIFACTS/sub\" && echo deep > \"$STAGEGATE_ARTIFACTS/sub/f.txt\"; "
      "read line; echo \"stdin=[$line]\" > \"$STAGEGATE_ARTIFACTS/stdin.txt\"");
  spec.task_id = "eval/matrix[py=3.11]";
  spec.attempt = 2;
  spec.env = {{"FOO", "bar baz"}, {"STAGEGATE_RUN_ID", "spoofed"}};
  spec.event_json = R"({"model":"churn","version":7})";
  ASSERT_TRUE(runner.Submit(spec, rec.Callback()));
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  ASSERT_EQ(done->state, JobState::kSucceeded) << done->detail;
  ASSERT_FALSE(done->artifacts_dir.empty());

  const std::string env = ReadFile(done->artifacts_dir + "/env.txt");
  const std::string attempt_dir = std::filesystem::path(done->artifacts_dir).parent_path().string();
  EXPECT_NE(env.find("STAGEGATE_RUN_ID=run-1\n"), std::string::npos) << env;
  EXPECT_NE(env.find("STAGEGATE_TASK_ID=eval/matrix[py=3.11]\n"), std::string::npos);
  EXPECT_NE(env.find("STAGEGATE_ATTEMPT=2\n"), std::string::npos);
  EXPECT_NE(env.find("STAGEGATE_EVENT_PATH=" + attempt_dir + "/"), std::string::npos);
  EXPECT_NE(env.find("STAGEGATE_OUTPUT=" + attempt_dir + "/"), std::string::npos);
  EXPECT_NE(env.find("STAGEGATE_ARTIFACTS=" + done->artifacts_dir + "\n"), std::string::npos);
  EXPECT_NE(env.find("STAGEGATE_WORKSPACE=" + attempt_dir + "/work\n"), std::string::npos);
  EXPECT_NE(env.find("FOO=bar baz\n"), std::string::npos);
  EXPECT_NE(env.find("PATH="), std::string::npos);
  EXPECT_EQ(env.find("SG_LOCAL_RUNNER_TEST_LEAK"), std::string::npos);
  EXPECT_EQ(ReadFile(done->artifacts_dir + "/pwd.txt"), attempt_dir + "/work\n");
  EXPECT_EQ(ReadFile(done->artifacts_dir + "/event.json"), spec.event_json);
  EXPECT_EQ(ReadFile(done->artifacts_dir + "/sub/f.txt"), "deep\n");
  EXPECT_EQ(ReadFile(done->artifacts_dir + "/stdin.txt"), "stdin=[]\n");
  // The attempt lives under <root>/runs/<run>/<task>/<attempt>, with the task id made safe.
  const std::filesystem::path attempt(attempt_dir);
  EXPECT_EQ(attempt.filename(), "2");
  EXPECT_EQ(attempt.parent_path().parent_path().parent_path(),
            std::filesystem::path(dir_.File("root")) / "runs");
  EXPECT_EQ(attempt.parent_path().filename().string().find('/'), std::string::npos);
}

TEST_F(LocalRunnerTest, OutputsIncludingHeredocForm) {
  LocalRunner runner(Options());
  Recorder rec;
  ASSERT_TRUE(runner.Submit(Shell("echo 'accuracy=0.93' >> \"$STAGEGATE_OUTPUT\"; "
                                  "printf 'url=http://x/?a=b\\nnot a pair\\n=novalue\\n' >> "
                                  "\"$STAGEGATE_OUTPUT\"; "
                                  "printf 'report<<EOF_1\\nline one\\nline=two\\nEOF_1\\n' >> "
                                  "\"$STAGEGATE_OUTPUT\"; "
                                  "printf 'broken<<NEVER\\nno end\\n' >> \"$STAGEGATE_OUTPUT\""),
                            rec.Callback()));
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  ASSERT_EQ(done->state, JobState::kSucceeded);
  const std::map<std::string, std::string> want = {
      {"accuracy", "0.93"}, {"url", "http://x/?a=b"}, {"report", "line one\nline=two"}};
  EXPECT_EQ(done->outputs, want);
}

TEST_F(LocalRunnerTest, LogHasTimestampsStreamsAndPartialLastLine) {
  LocalRunner runner(Options());
  Recorder rec;
  ASSERT_TRUE(
      runner.Submit(Shell("echo hello out; echo oops >&2; printf 'no newline'"), rec.Callback()));
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  ASSERT_EQ(done->state, JobState::kSucceeded);
  std::ifstream log(done->log_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(log, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  const std::regex pattern(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr) \| (.*)$)");
  std::map<std::string, std::string> by_text;
  for (const auto& line : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, pattern)) << line;
    by_text[m[2]] = m[1];
  }
  EXPECT_EQ(by_text["hello out"], "stdout");
  EXPECT_EQ(by_text["oops"], "stderr");
  EXPECT_EQ(by_text["no newline"], "stdout");
}

TEST_F(LocalRunnerTest, RedactsSecretAndItsEncodings) {
  LocalRunner runner(Options());
  Recorder rec;
  JobSpec spec = Shell(
      "echo \"raw: $SECRET.\"; printf '%s' \"$SECRET\" | base64; "
      "echo 'url: token=p%40ss%20w%2Frd%2B42&x=1' >&2; echo 'lower: p%40ss%20w%2frd%2b42'; "
      "echo 'short: abc'");
  spec.env = {{"SECRET", "p@ss w/rd+42"}};
  spec.redact = {"p@ss w/rd+42", "abc"};
  ASSERT_TRUE(runner.Submit(spec, rec.Callback()));
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  ASSERT_EQ(done->state, JobState::kSucceeded);
  const std::string log = ReadFile(done->log_path);
  EXPECT_EQ(log.find("p@ss"), std::string::npos) << log;
  EXPECT_EQ(log.find("cEBzcyB3L3JkKzQy"), std::string::npos) << log;
  EXPECT_EQ(log.find("p%40ss"), std::string::npos) << log;
  EXPECT_NE(log.find("stdout | raw: ***."), std::string::npos) << log;
  EXPECT_NE(log.find("stdout | ***\n"), std::string::npos) << log;
  EXPECT_NE(log.find("stderr | url: token=***&x=1"), std::string::npos) << log;
  EXPECT_NE(log.find("stdout | lower: ***"), std::string::npos) << log;
  EXPECT_NE(log.find("short: abc"), std::string::npos) << log;  // under 4 characters
}

TEST_F(LocalRunnerTest, TimeoutKillsGrandchildThatIgnoresTerm) {
  LocalRunner runner(Options(4, milliseconds(500)));
  Recorder rec;
  const std::string pid_file = dir_.File("grandchild.pid");
  JobSpec spec = Shell("trap '' TERM; sleep 30 & echo $! > " + pid_file + "; wait");
  spec.timeout = seconds(1);
  const auto start = Clock::now();
  ASSERT_TRUE(runner.Submit(spec, rec.Callback()));
  auto done = rec.WaitTerminal();
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kTimedOut);
  EXPECT_EQ(done->detail, "timed out after 1s");
  EXPECT_GE(elapsed, milliseconds(1400));  // TERM was ignored, so it took the grace too
  EXPECT_LT(elapsed, milliseconds(3500));
  const std::string pid_text = ReadFile(pid_file);
  ASSERT_FALSE(pid_text.empty());
  const auto grandchild = static_cast<pid_t>(std::stol(pid_text));
  EXPECT_TRUE(WaitUntilGone(grandchild, seconds(2)));
}

TEST_F(LocalRunnerTest, CancelStopsTheJob) {
  LocalRunner runner(Options());
  Recorder rec;
  auto id = runner.Submit(Shell("sleep 30"), rec.Callback());
  ASSERT_TRUE(id);
  ASSERT_TRUE(rec.WaitState(JobState::kRunning));
  const auto start = Clock::now();
  ASSERT_TRUE(runner.Cancel(*id));
  auto done = rec.WaitTerminal();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCancelled);
  EXPECT_LT(Clock::now() - start, milliseconds(450));  // SIGTERM was enough: no grace needed
  EXPECT_TRUE(runner.Cancel(*id));                     // cancelling a finished job is a no-op
  EXPECT_EQ(runner.Cancel("pid:999999999").error().code, ErrorCode::kNotFound);
}

TEST_F(LocalRunnerTest, MaxParallelOneRunsJobsOneAfterTheOther) {
  LocalRunner runner(Options(1));
  Recorder first;
  Recorder second;
  const auto script = [&](const std::string& name) {
    return "date +%s%N > " + dir_.File(name + ".start") + "; sleep 0.3; date +%s%N > " +
           dir_.File(name + ".end");
  };
  auto id1 = runner.Submit(Shell(script("a"), "a"), first.Callback());
  auto id2 = runner.Submit(Shell(script("b"), "b"), second.Callback());
  ASSERT_TRUE(id1 && id2);
  EXPECT_EQ(id2->rfind("queued:", 0), 0u) << *id2;
  auto done1 = first.WaitTerminal();
  auto done2 = second.WaitTerminal();
  ASSERT_TRUE(done1 && done2);
  EXPECT_EQ(done1->state, JobState::kSucceeded);
  EXPECT_EQ(done2->state, JobState::kSucceeded);
  const auto updates = second.Updates();
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[0].state, JobState::kQueued);
  EXPECT_EQ(updates[0].external_id, *id2);
  EXPECT_EQ(updates[1].state, JobState::kRunning);
  EXPECT_EQ(updates[1].external_id.rfind("pid:", 0), 0u);
  EXPECT_EQ(updates[2].external_id, updates[1].external_id);
  const long long a_end = std::stoll(ReadFile(dir_.File("a.end")));
  const long long b_start = std::stoll(ReadFile(dir_.File("b.start")));
  EXPECT_LE(a_end, b_start);
}

TEST_F(LocalRunnerTest, CancelQueuedJob) {
  LocalRunner runner(Options(1));
  Recorder first;
  Recorder second;
  auto id1 = runner.Submit(Shell("sleep 30", "a"), first.Callback());
  auto id2 = runner.Submit(Shell("exit 0", "b"), second.Callback());
  ASSERT_TRUE(id1 && id2);
  ASSERT_TRUE(runner.Cancel(*id2));
  auto done2 = second.WaitTerminal();
  ASSERT_TRUE(done2);
  EXPECT_EQ(done2->state, JobState::kCancelled);
  ASSERT_TRUE(runner.Cancel(*id1));
  auto done1 = first.WaitTerminal();
  ASSERT_TRUE(done1);
  EXPECT_EQ(done1->state, JobState::kCancelled);
}

TEST_F(LocalRunnerTest, SubmitIsIdempotentPerAttempt) {
  LocalRunner runner(Options());
  Recorder rec;
  Recorder ignored;
  const JobSpec spec = Shell("echo x >> " + dir_.File("count") + "; sleep 0.2");
  auto id1 = runner.Submit(spec, rec.Callback());
  auto id2 = runner.Submit(spec, ignored.Callback());
  ASSERT_TRUE(id1 && id2);
  EXPECT_EQ(*id1, *id2);
  ASSERT_TRUE(rec.WaitTerminal());
  auto id3 = runner.Submit(spec, ignored.Callback());  // also after it finished
  ASSERT_TRUE(id3);
  EXPECT_EQ(*id3, *id1);
  EXPECT_EQ(ReadFile(dir_.File("count")), "x\n");
  EXPECT_TRUE(ignored.Updates().empty());

  JobSpec next = spec;
  next.attempt = 2;
  Recorder rec2;
  auto id4 = runner.Submit(next, rec2.Callback());
  ASSERT_TRUE(id4);
  EXPECT_NE(*id4, *id1);
  ASSERT_TRUE(rec2.WaitTerminal());
  EXPECT_EQ(ReadFile(dir_.File("count")), "x\nx\n");
}

TEST_F(LocalRunnerTest, ReattachFollowsALiveProcessGroupUntilItEnds) {
  const pid_t pid = SpawnSleepInNewSession("2");
  ASSERT_GT(pid, 0);
  std::thread reaper([pid] { ::waitpid(pid, nullptr, 0); });  // so it does not linger as a zombie

  LocalRunner runner(Options());
  Recorder rec;
  JobSpec spec = Shell("unused");
  ASSERT_TRUE(runner.Reattach("pid:" + std::to_string(pid), spec, rec.Callback()));
  auto done = rec.WaitTerminal();
  reaper.join();
  ASSERT_TRUE(done);
  const auto updates = rec.Updates();
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].state, JobState::kRunning);
  EXPECT_EQ(updates[1].state, JobState::kLost);
  EXPECT_EQ(updates[1].detail, "the process outlived its stagegate; exit status unknown");
}

TEST_F(LocalRunnerTest, CancelAReattachedProcessGroup) {
  const pid_t pid = SpawnSleepInNewSession("30");
  ASSERT_GT(pid, 0);
  std::thread reaper([pid] { ::waitpid(pid, nullptr, 0); });

  LocalRunner runner(Options());
  Recorder rec;
  const std::string id = "pid:" + std::to_string(pid);
  ASSERT_TRUE(runner.Reattach(id, Shell("unused"), rec.Callback()));
  ASSERT_TRUE(rec.WaitState(JobState::kRunning));
  ASSERT_TRUE(runner.Cancel(id));
  auto done = rec.WaitTerminal();
  if (!done) ::kill(pid, SIGKILL);  // never leave the reaper waiting 30 s
  reaper.join();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCancelled);
}

TEST_F(LocalRunnerTest, ReattachToADeadProcessIsLostAtOnce) {
  pid_t pid = -1;
  char true_path[] = "/bin/true";
  char* argv[] = {true_path, nullptr};
  ASSERT_EQ(posix_spawn(&pid, true_path, nullptr, nullptr, argv, environ), 0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);

  LocalRunner runner(Options());
  Recorder rec;
  ASSERT_TRUE(runner.Reattach("pid:" + std::to_string(pid), Shell("unused"), rec.Callback()));
  auto done = rec.WaitTerminal(seconds(2));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kLost);
  EXPECT_EQ(done->detail, "the process is gone (stagegate restarted)");
  EXPECT_EQ(rec.Updates().size(), 1u);
}

TEST_F(LocalRunnerTest, ReattachWithoutAnIdFindsTheJobThroughItsPidFile) {
  const pid_t pid = SpawnSleepInNewSession("30");
  ASSERT_GT(pid, 0);
  std::thread reaper([pid] { ::waitpid(pid, nullptr, 0); });

  // What Submit leaves next to the attempt's log, as if stagegate died before storing the id.
  const std::string attempt_dir = dir_.File("root") + "/runs/run-1/train/1";
  std::filesystem::create_directories(attempt_dir);
  std::ofstream(attempt_dir + "/pid") << "pid:" << pid << "\n";

  LocalRunner runner(Options());
  Recorder rec;
  ASSERT_TRUE(runner.Reattach("", Shell("unused"), rec.Callback()));
  ASSERT_TRUE(rec.WaitState(JobState::kRunning));
  EXPECT_EQ(rec.Updates()[0].external_id, "pid:" + std::to_string(pid));
  ASSERT_TRUE(runner.Cancel("pid:" + std::to_string(pid)));
  auto done = rec.WaitTerminal();
  if (!done) ::kill(pid, SIGKILL);
  reaper.join();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCancelled);

  // Without a pid file the attempt never started.
  Recorder other;
  ASSERT_TRUE(runner.Reattach("", Shell("unused", "evaluate"), other.Callback()));
  auto lost = other.WaitTerminal(seconds(2));
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->state, JobState::kLost);
  EXPECT_EQ(lost->detail, "the job never started (stagegate restarted while it was queued)");
}

TEST_F(LocalRunnerTest, SubmitWritesThePidFile) {
  LocalRunner runner(Options());
  Recorder rec;
  auto id = runner.Submit(Shell("exit 0"), rec.Callback());
  ASSERT_TRUE(id);
  ASSERT_TRUE(rec.WaitTerminal());
  std::ifstream in(dir_.File("root") + "/runs/run-1/train/1/pid");
  std::string recorded;
  in >> recorded;
  EXPECT_EQ(recorded, *id);
}

TEST_F(LocalRunnerTest, ReattachRejectsForeignIds) {
  LocalRunner runner(Options());
  Recorder rec;
  for (const std::string id : {"job-7", "pid:", "pid:abc", "pid:1", "pid:-5"}) {
    auto result = runner.Reattach(id, Shell("unused"), rec.Callback());
    ASSERT_FALSE(result) << id;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(rec.Updates().empty());
}

TEST_F(LocalRunnerTest, SubmitErrors) {
  LocalRunner runner(Options());
  Recorder rec;
  JobSpec empty = Shell("");
  empty.command.clear();
  auto result = runner.Submit(empty, rec.Callback());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);

  JobSpec missing = Shell("");
  missing.command = {"/nonexistent/stagegate-test-binary"};
  result = runner.Submit(missing, rec.Callback());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(result.error().message.find("No such file"), std::string::npos)
      << result.error().message;

  std::ofstream(dir_.File("blocker")) << "a file where the root should be";
  LocalRunnerOptions bad = Options();
  bad.root_dir = dir_.File("blocker");
  LocalRunner blocked(bad);
  result = blocked.Submit(Shell("exit 0"), rec.Callback());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(rec.Updates().empty());
}

TEST_F(LocalRunnerTest, DestructorCancelsRunningAndQueuedJobs) {
  Recorder running;
  Recorder queued;
  const auto start = Clock::now();
  {
    LocalRunner runner(Options(1));
    ASSERT_TRUE(runner.Submit(Shell("sleep 30", "a"), running.Callback()));
    ASSERT_TRUE(runner.Submit(Shell("sleep 30", "b"), queued.Callback()));
    ASSERT_TRUE(running.WaitState(JobState::kRunning));
  }
  EXPECT_LT(Clock::now() - start, seconds(3));
  auto a = running.WaitTerminal(milliseconds(0));
  auto b = queued.WaitTerminal(milliseconds(0));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->state, JobState::kCancelled);
  EXPECT_EQ(b->state, JobState::kCancelled);
}

}  // namespace
}  // namespace stagegate::runners::local
