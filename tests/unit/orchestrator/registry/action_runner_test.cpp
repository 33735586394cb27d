#include "orchestrator/registry/action_runner.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "orchestrator/registry/evidence.hpp"
#include "orchestrator/store/sqlite_outbox_store.hpp"
#include "tests/unit/support/test_support.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// A registry with real state for what the actions touch: open transition requests, stages,
// tags, aliases, comments. Scripted failures answer the next calls of a method first.
class FakeRegistry final : public RegistryClient {
 public:
  explicit FakeRegistry(RegistryDialect dialect) : dialect_(dialect) {}
  RegistryDialect dialect() const override { return dialect_; }

  std::mutex mutex;
  std::map<std::string, std::deque<Error>> script;  // method -> errors to answer first
  std::map<std::string, int> calls;                 // method -> calls received
  std::map<std::string, std::vector<std::string>> open_requests;  // version -> to_stages
  std::map<std::string, std::string> stage;                       // version -> current stage
  std::map<std::string, std::map<std::string, std::string>> tags;
  std::map<std::string, std::string> aliases;
  std::vector<std::string> comments;
  std::vector<std::string> approvals;  // the comment of each approval
  bool apply_despite_in_doubt = true;  // kInDoubt: the call happened, its answer was lost

  // Counts the call; returns the scripted error if one is queued. `effect` runs for success
  // and for an in-doubt failure that applied.
  Result<void> Enter(const std::string& method) {
    ++calls[method];
    auto& queue = script[method];
    if (queue.empty()) return {};
    Error e = queue.front();
    queue.pop_front();
    return tl::unexpected(e);
  }

  Result<RegistryActivity> ApproveTransition(const std::string&, const std::string& version,
                                             const std::string& to, bool, const std::string& comment) override {
    std::lock_guard lock(mutex);
    auto entered = Enter("approve");
    if (!entered && entered.error().code != ErrorCode::kInDoubt) return tl::unexpected(entered.error());
    auto& open = open_requests[version];
    const auto it = std::find(open.begin(), open.end(), to);
    if (it == open.end()) {
      return Fail(ErrorCode::kNotFound, "Transition request to " + to + " does not exist");
    }
    if (entered || apply_despite_in_doubt) {
      open.erase(it);
      stage[version] = to;
      approvals.push_back(comment);
    }
    if (!entered) return tl::unexpected(entered.error());
    return RegistryActivity{.id = "act-" + std::to_string(approvals.size()),
                            .activity_type = "APPROVED_REQUEST", .to_stage = to};
  }
  Result<RegistryActivity> RejectTransition(const std::string&, const std::string& version,
                                            const std::string& to, const std::string&) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("reject"); !e) return tl::unexpected(e.error());
    auto& open = open_requests[version];
    const auto it = std::find(open.begin(), open.end(), to);
    if (it == open.end()) return Fail(ErrorCode::kNotFound, "no open request");
    open.erase(it);
    return RegistryActivity{.id = "rej", .activity_type = "REJECTED_REQUEST"};
  }
  Result<std::vector<RegistryActivity>> ListTransitionRequests(const std::string&,
                                                               const std::string& version) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("list"); !e) return tl::unexpected(e.error());
    std::vector<RegistryActivity> out;
    for (const auto& s : open_requests[version]) out.push_back(RegistryActivity{.to_stage = s});
    return out;
  }
  Result<std::string> CreateComment(const std::string&, const std::string&, const std::string& c) override {
    std::lock_guard lock(mutex);
    auto entered = Enter("comment");
    if (entered || entered.error().code == ErrorCode::kInDoubt) comments.push_back(c);
    if (!entered) return tl::unexpected(entered.error());
    return "c" + std::to_string(comments.size());
  }
  Result<ModelVersionInfo> TransitionStage(const std::string&, const std::string& version,
                                           const std::string& to, bool, const std::string&) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("transition"); !e) return tl::unexpected(e.error());
    stage[version] = to;
    return ModelVersionInfo{.version = version, .current_stage = to};
  }
  Result<ModelVersionInfo> GetModelVersion(const std::string& model, const std::string& version) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("get"); !e) return tl::unexpected(e.error());
    ModelVersionInfo v{.name = model, .version = version};
    v.current_stage = stage.count(version) ? stage[version] : "None";
    v.tags = tags[version];
    return v;
  }
  Result<std::vector<ModelVersionInfo>> LatestVersions(const std::string&,
                                                       const std::vector<std::string>&) override {
    return Fail(ErrorCode::kInternal, "not used");
  }
  Result<void> SetVersionTag(const std::string&, const std::string& version, const std::string& key,
                             const std::string& value) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("set_tag"); !e) return tl::unexpected(e.error());
    tags[version][key] = value;
    return {};
  }
  Result<void> DeleteVersionTag(const std::string&, const std::string&, const std::string&) override {
    return Fail(ErrorCode::kInternal, "not used");
  }
  Result<RunData> GetRun(const std::string&) override { return Fail(ErrorCode::kInternal, "not used"); }
  Result<void> SetAlias(const std::string&, const std::string& alias, const std::string& version) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("set_alias"); !e) return tl::unexpected(e.error());
    aliases[alias] = version;
    return {};
  }
  Result<void> DeleteAlias(const std::string&, const std::string& alias) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("delete_alias"); !e) return tl::unexpected(e.error());
    aliases.erase(alias);
    return {};
  }
  Result<std::optional<ModelVersionInfo>> GetVersionByAlias(const std::string&, const std::string& alias) override {
    std::lock_guard lock(mutex);
    if (auto e = Enter("get_alias"); !e) return tl::unexpected(e.error());
    if (!aliases.count(alias)) return std::optional<ModelVersionInfo>();
    return std::optional<ModelVersionInfo>(ModelVersionInfo{.version = aliases[alias]});
  }

  int Calls(const std::string& method) {
    std::lock_guard lock(mutex);
    return calls[method];
  }

 private:
  RegistryDialect dialect_;
};

// Collects a job's updates; Wait() returns the terminal one.
class Updates {
 public:
  Runner::UpdateCallback Callback() {
    return [this](const JobUpdate& u) {
      std::lock_guard lock(mutex_);
      all_.push_back(u);
      cv_.notify_all();
    };
  }
  std::optional<JobUpdate> Wait(milliseconds timeout = milliseconds(5000)) {
    std::unique_lock lock(mutex_);
    const bool done = cv_.wait_for(lock, timeout, [&] {
      return !all_.empty() && all_.back().state != JobState::kRunning && all_.back().state != JobState::kQueued;
    });
    if (!done) return std::nullopt;
    return all_.back();
  }
  std::vector<JobUpdate> All() {
    std::lock_guard lock(mutex_);
    return all_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<JobUpdate> all_;
};

const char* kDatabricksEvent =
    R"({"endpoint": "dbx", "source": "databricks", "model": {"name": "churn", "version": "7"},
        "to_stage": "Production"})";

class ActionRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteOutboxStore::Open(dir_.File("outbox.db"));
    ASSERT_TRUE(store) << store.error().message;
    outbox_ = *store;
    databricks_->open_requests["7"] = {"Production"};
  }

  ActionRunnerOptions Options() {
    return ActionRunnerOptions{.outbox = outbox_,
                               .registries = {{"workspace", databricks_}, {"oss", mlflow_}},
                               .endpoint_registries = {{"dbx", "workspace"}, {"mlf", "oss"}},
                               .public_url = "https://ci.example.com",
                               .log_dir = dir_.File("logs"),
                               .workers = 2,
                               .retry_base = milliseconds(10),
                               .retry_max = milliseconds(40)};
  }

  static JobSpec Job(const std::string& action, std::map<std::string, std::string> with = {},
                     const std::string& event = kDatabricksEvent, const std::string& task = "verdict") {
    JobSpec spec{.run_id = "12", .task_id = task, .attempt = 1, .timeout = milliseconds(0),
                 .event_json = event};
    spec.action = action;
    spec.with = std::move(with);
    spec.run_json = R"({"id": 12, "pipeline": "gate", "tasks": [
        {"id": "test", "state": "succeeded", "outputs": {"accuracy": "0.93", "note": "ok"}}]})";
    return spec;
  }

  OutboxEntry Entry(const std::string& external_id) {
    auto e = outbox_->Get(std::stoll(external_id.substr(7)));
    EXPECT_TRUE(e && *e);
    return **e;
  }

  test::TempDir dir_;
  OutboxStorePtr outbox_;
  std::shared_ptr<FakeRegistry> databricks_ = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  std::shared_ptr<FakeRegistry> mlflow_ = std::make_shared<FakeRegistry>(RegistryDialect::kMlflow);
};

TEST_F(ActionRunnerTest, ApprovesWithDefaultsFromTheEventAndEvidence) {
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  Updates updates;
  auto id = runner.Submit(Job("registry.approve_transition"), updates.Callback());
  ASSERT_TRUE(id) << id.error().message;
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->detail;
  EXPECT_EQ(done->outputs.at("activity_type"), "APPROVED_REQUEST");
  EXPECT_EQ(databricks_->stage["7"], "Production");
  ASSERT_EQ(databricks_->approvals.size(), 1U);
  const std::string& comment = databricks_->approvals[0];
  EXPECT_NE(comment.find("stagegate: approved"), std::string::npos) << comment;
  EXPECT_NE(comment.find("| test | accuracy | 0.93 |"), std::string::npos) << comment;
  EXPECT_EQ(comment.find("| note |"), std::string::npos) << "only numeric outputs are metrics";
  EXPECT_NE(comment.find("https://ci.example.com/api/v1/runs/12"), std::string::npos) << comment;

  const OutboxEntry e = Entry(*id);
  EXPECT_EQ(e.state, OutboxState::kDelivered);
  EXPECT_EQ(e.key, "run/12/task/verdict/registry.approve_transition");
  EXPECT_EQ(e.registry, "workspace");
  EXPECT_EQ(e.attempts, 1);
  const json request = json::parse(e.request_json);
  EXPECT_EQ(request["stage"], "Production");
  EXPECT_EQ(request["archive_existing_versions"], true);
  // The task's log tells what happened.
  EXPECT_NE(LogTail(done->log_path).find("accepted"), std::string::npos);

  // A second submit of the same key (a restart, a new attempt) does not call again.
  Updates again;
  auto second = runner.Submit(Job("registry.approve_transition"), again.Callback());
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, *id);
  auto redone = again.Wait();
  ASSERT_TRUE(redone);
  EXPECT_EQ(redone->state, JobState::kSucceeded);
  EXPECT_EQ(databricks_->Calls("approve"), 1);
}

TEST_F(ActionRunnerTest, RetriesAnUnavailableRegistryAndCallsOnceMore) {
  databricks_->script["approve"] = {Error{ErrorCode::kUnavailable, "HTTP 503"},
                                    Error{ErrorCode::kUnavailable, "HTTP 429"}};
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  Updates updates;
  auto id = runner.Submit(Job("registry.approve_transition"), updates.Callback());
  ASSERT_TRUE(id);
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->detail;
  EXPECT_EQ(databricks_->Calls("approve"), 3);
  EXPECT_EQ(databricks_->approvals.size(), 1U);
  EXPECT_EQ(Entry(*id).attempts, 3);
  // The waits were reported while they lasted.
  const auto all = updates.All();
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [](const JobUpdate& u) {
    return u.state == JobState::kRunning && u.detail.find("retrying") != std::string::npos;
  }));
}

TEST_F(ActionRunnerTest, ALostAnswerIsCheckedBeforeSendingAgain) {
  // The approval happened, its answer did not arrive: the next round sees the request closed
  // and the version in Production, and does not approve a second time.
  databricks_->script["approve"] = {Error{ErrorCode::kInDoubt, "no answer within 10 s"}};
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  Updates updates;
  auto id = runner.Submit(Job("registry.approve_transition"), updates.Callback());
  ASSERT_TRUE(id);
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->detail;
  EXPECT_EQ(databricks_->Calls("approve"), 1);
  EXPECT_EQ(databricks_->approvals.size(), 1U);
  EXPECT_NE(Entry(*id).response_json.find("confirmed"), std::string::npos);
}

TEST_F(ActionRunnerTest, ALostAnswerThatDidNotLandIsSentAgain) {
  databricks_->apply_despite_in_doubt = false;
  databricks_->script["approve"] = {Error{ErrorCode::kInDoubt, "connection reset"}};
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  Updates updates;
  auto id = runner.Submit(Job("registry.approve_transition"), updates.Callback());
  ASSERT_TRUE(id);
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->detail;
  EXPECT_EQ(databricks_->Calls("approve"), 2);
  EXPECT_EQ(databricks_->approvals.size(), 1U);
}

TEST_F(ActionRunnerTest, AfterACrashMidCallTheRegistryStateDecides) {
  std::string external;
  {
    // A first server stored the entry as sending and died before the answer was stored.
    RegistryActionRunner first(Options());
    auto id = first.Submit(Job("registry.approve_transition"), [](const JobUpdate&) {});
    ASSERT_TRUE(id);
    external = *id;
    OutboxEntry e = Entry(external);
    e.state = OutboxState::kSending;
    e.attempts = 1;
    ASSERT_TRUE(outbox_->Update(e));
    // ...and the registry took the call.
    databricks_->open_requests["7"].clear();
    databricks_->stage["7"] = "Production";
    databricks_->approvals.push_back("by the first server");
  }
  RegistryActionRunner second(Options());
  ASSERT_TRUE(second.Start());
  Updates updates;
  ASSERT_TRUE(second.Reattach(external, Job("registry.approve_transition"), updates.Callback()));
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->detail;
  EXPECT_EQ(databricks_->Calls("approve"), 0);
  EXPECT_EQ(databricks_->approvals.size(), 1U);
  EXPECT_EQ(Entry(external).state, OutboxState::kDelivered);
}

TEST_F(ActionRunnerTest, ACommentInDoubtIsDeadLetteredNotRepeated) {
  databricks_->script["comment"] = {Error{ErrorCode::kInDoubt, "no answer within 10 s"}};
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  Updates updates;
  auto id = runner.Submit(Job("registry.comment", {{"comment", "looks good"}}), updates.Callback());
  ASSERT_TRUE(id);
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_NE(done->detail.find("in doubt"), std::string::npos) << done->detail;
  EXPECT_EQ(databricks_->comments.size(), 1U);
  EXPECT_NE(databricks_->comments[0].find("looks good"), std::string::npos);

  // A task retry does not risk a second copy...
  Updates retry;
  ASSERT_TRUE(runner.Submit(Job("registry.comment", {{"comment", "looks good"}}), retry.Callback()));
  auto again = retry.Wait();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state, JobState::kFailed);
  EXPECT_EQ(databricks_->Calls("comment"), 1);
  // ...an operator can.
  auto retried = runner.Retry(Entry(*id).id);
  ASSERT_TRUE(retried) << retried.error().message;
  for (int i = 0; i < 200 && Entry(*id).state != OutboxState::kDelivered; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(Entry(*id).state, OutboxState::kDelivered);
  EXPECT_EQ(databricks_->Calls("comment"), 2);
  EXPECT_EQ(runner.Retry(Entry(*id).id).error().code, ErrorCode::kConflict);
  EXPECT_EQ(runner.Retry(999).error().code, ErrorCode::kNotFound);
}

TEST_F(ActionRunnerTest, ARefusedCallIsDeadLetteredAndANewAttemptSendsItAgain) {
  databricks_->script["approve"] = {Error{ErrorCode::kUnauthenticated, "PERMISSION_DENIED: no CAN_MANAGE"}};
  databricks_->script["list"] = {};
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  Updates updates;
  auto id = runner.Submit(Job("registry.approve_transition"), updates.Callback());
  ASSERT_TRUE(id);
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_NE(done->detail.find("dead-lettered"), std::string::npos) << done->detail;
  EXPECT_NE(done->detail.find("CAN_MANAGE"), std::string::npos) << done->detail;
  EXPECT_EQ(Entry(*id).state, OutboxState::kDead);
  auto dead = runner.List(OutboxFilter{.state = "dead"});
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1U);

  Updates second;
  auto again = runner.Submit(Job("registry.approve_transition"), second.Callback());
  ASSERT_TRUE(again);
  auto redone = second.Wait();
  ASSERT_TRUE(redone);
  EXPECT_EQ(redone->state, JobState::kSucceeded) << redone->detail;
  EXPECT_EQ(databricks_->approvals.size(), 1U);
}

TEST_F(ActionRunnerTest, GivesUpAtTheDeadline) {
  for (int i = 0; i < 100; ++i) databricks_->script["approve"].push_back(Error{ErrorCode::kUnavailable, "HTTP 503"});
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  Updates updates;
  JobSpec job = Job("registry.approve_transition");
  job.timeout = milliseconds(150);
  ASSERT_TRUE(runner.Submit(job, updates.Callback()));
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_NE(done->detail.find("gave up after"), std::string::npos) << done->detail;
  EXPECT_NE(done->detail.find("HTTP 503"), std::string::npos) << done->detail;
  EXPECT_TRUE(databricks_->approvals.empty());
}

TEST_F(ActionRunnerTest, MlflowTagAndAliasAreCheckedAndIdempotent) {
  RegistryActionRunner runner(Options());
  ASSERT_TRUE(runner.Start());
  const std::string event = R"({"endpoint": "mlf", "model": {"name": "fraud", "version": "3"}})";
  Updates tag;
  ASSERT_TRUE(runner.Submit(Job("registry.set_tag", {{"key", "validation_status"}, {"value", "passed"}}, event, "tag"),
                            tag.Callback()));
  Updates alias;
  ASSERT_TRUE(runner.Submit(Job("registry.set_alias", {{"alias", "champion"}}, event, "alias"), alias.Callback()));
  ASSERT_TRUE(tag.Wait());
  ASSERT_TRUE(alias.Wait());
  EXPECT_EQ(tag.All().back().state, JobState::kSucceeded);
  EXPECT_EQ(alias.All().back().state, JobState::kSucceeded);
  EXPECT_EQ(mlflow_->tags["3"]["validation_status"], "passed");
  EXPECT_EQ(mlflow_->aliases["champion"], "3");
  EXPECT_EQ(databricks_->Calls("set_tag"), 0) << "the event's endpoint chose the registry";
}

TEST_F(ActionRunnerTest, BadParametersFailAtSubmitWithAClearMessage) {
  RegistryActionRunner runner(Options());
  auto expect_error = [&](const JobSpec& job, const std::string& part) {
    auto r = runner.Submit(job, [](const JobUpdate&) {});
    ASSERT_FALSE(r) << part;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(part), std::string::npos) << r.error().message;
  };
  expect_error(Job("registry.approve_transition", {}, R"({"endpoint": "dbx"})", "a"), "set with: model");
  expect_error(Job("registry.approve_transition", {}, R"({"endpoint": "dbx", "model": {"name": "m", "version": "1"}})", "b"),
               "no stage");
  expect_error(Job("registry.set_alias", {{"alias", "champion"}}, kDatabricksEvent, "c"),
               "needs a mlflow registry; 'workspace' is databricks");
  expect_error(Job("registry.approve_transition", {{"registry", "nope"}}, kDatabricksEvent, "d"),
               "registry 'nope' is not configured (registries: oss, workspace)");
  expect_error(Job("registry.set_tag", {{"value", "x"}}, kDatabricksEvent, "e"), "set with: key");
  expect_error(Job("registry.approve_transition", {{"archive_existing_versions", "yes"}}, kDatabricksEvent, "f"),
               "must be true or false");
  expect_error(Job("registry.set_tag", {{"key", "k"}, {"colour", "red"}}, kDatabricksEvent, "g"),
               "takes no with: colour");
  auto none = outbox_->List(OutboxFilter{});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "bad input changes nothing";
}

TEST_F(ActionRunnerTest, CancelStopsAPendingCall) {
  for (int i = 0; i < 100; ++i) databricks_->script["approve"].push_back(Error{ErrorCode::kUnavailable, "HTTP 503"});
  auto options = Options();
  options.retry_base = milliseconds(2000);
  options.retry_max = milliseconds(2000);
  RegistryActionRunner runner(options);
  ASSERT_TRUE(runner.Start());
  Updates updates;
  auto id = runner.Submit(Job("registry.approve_transition"), updates.Callback());
  ASSERT_TRUE(id);
  // Cancelled while it waits for its second attempt (the first call got a 503).
  for (int i = 0; i < 400 && (databricks_->Calls("approve") < 1 || Entry(*id).state != OutboxState::kPending); ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(Entry(*id).state, OutboxState::kPending);
  ASSERT_EQ(databricks_->Calls("approve"), 1);
  ASSERT_TRUE(runner.Cancel(*id));
  auto done = updates.Wait();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kCancelled);
  EXPECT_EQ(databricks_->Calls("approve"), 1);
}

TEST(EvidenceTest, FailedTasksShowTheirLogTailAndTheTextStaysWithinItsCap) {
  test::TempDir dir;
  const std::string log = dir.File("log.txt");
  {
    std::FILE* f = std::fopen(log.c_str(), "wb");
    for (int i = 1; i <= 50; ++i) std::fprintf(f, "line %d\n", i);
    std::fprintf(f, "boom ``` | pipe\n");
    std::fclose(f);
  }
  const json run = {{"id", 5},
                    {"pipeline", "gate"},
                    {"tasks",
                     {{{"id", "test|x"}, {"state", "failed"}, {"detail", "exited with code 3"}, {"log_path", log},
                       {"outputs", {{"auc", "0.5"}}}}}}};
  const std::string md = EvidenceMarkdown(EvidenceInput{.verdict = "rejected", .run_json = run.dump(),
                                                        .model = "churn", .version = "7", .stage = "Production"});
  EXPECT_NE(md.find("### stagegate: rejected"), std::string::npos) << md;
  EXPECT_NE(md.find("| test x | failed |"), std::string::npos) << md;  // no table-breaking pipes
  EXPECT_NE(md.find("line 50"), std::string::npos) << md;
  EXPECT_EQ(md.find("line 30\n"), std::string::npos) << "only the last 20 lines";
  EXPECT_NE(md.find("boom '''"), std::string::npos) << "a fence in the log cannot close the block";
  EXPECT_NE(md.find("version 7 \u2192 Production"), std::string::npos) << md;

  const std::string small = EvidenceMarkdown(EvidenceInput{.run_json = run.dump()}, 300);
  EXPECT_LE(small.size(), 300U + 80U);
  EXPECT_NE(small.find("stagegate: failed"), std::string::npos) << small;
  std::size_t fences = 0;
  for (auto at = small.find("```"); at != std::string::npos; at = small.find("```", at + 3)) ++fences;
  EXPECT_EQ(fences % 2, 0U) << small;
}

TEST(SqliteOutboxStoreTest, KeysAreUniqueAndStatesPersist) {
  test::TempDir dir;
  auto store = store::SqliteOutboxStore::Open(dir.File("o.db"));
  ASSERT_TRUE(store);
  OutboxEntry e{.key = "run/1/task/a/registry.set_tag", .run_id = 1, .task_id = "a",
                .action = "registry.set_tag", .registry = "r", .request_json = R"({"k":1})"};
  auto first = (*store)->Enqueue(e);
  ASSERT_TRUE(first);
  e.request_json = R"({"k":2})";
  auto second = (*store)->Enqueue(e);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->id, second->id);
  EXPECT_EQ(second->request_json, R"({"k":1})") << "the first entry wins";
  OutboxEntry other{.key = "run/2/task/b/registry.comment", .run_id = 2, .task_id = "b",
                    .action = "registry.comment", .registry = "r"};
  ASSERT_TRUE((*store)->Enqueue(other));

  OutboxEntry sent = *first;
  sent.state = OutboxState::kDead;
  sent.attempts = 3;
  sent.last_error = "HTTP 403";
  ASSERT_TRUE((*store)->Update(sent));
  auto reopened = store::SqliteOutboxStore::Open(dir.File("o.db"));
  ASSERT_TRUE(reopened);
  auto got = (*reopened)->GetByKey(e.key);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->state, OutboxState::kDead);
  EXPECT_EQ((*got)->attempts, 3);
  EXPECT_EQ((*got)->last_error, "HTTP 403");
  auto dead = (*reopened)->List(OutboxFilter{.state = "dead"});
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1U);
  auto of_run = (*reopened)->List(OutboxFilter{.run_id = 2});
  ASSERT_TRUE(of_run);
  ASSERT_EQ(of_run->size(), 1U);
  EXPECT_EQ((*of_run)[0].task_id, "b");
  auto unfinished = (*reopened)->Unfinished();
  ASSERT_TRUE(unfinished);
  ASSERT_EQ(unfinished->size(), 1U);
  EXPECT_EQ((*unfinished)[0].key, other.key);
  sent.id = 999;
  EXPECT_EQ((*reopened)->Update(sent).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace stagegate::registry
