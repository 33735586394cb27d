#include "orchestrator/registry/reconciler.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "orchestrator/store/sqlite_event_store.hpp"
#include "tests/unit/support/test_support.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::int64_t kNow = 1'760'000'000'000;  // the fake clock's start, Unix ms
constexpr std::int64_t kMinute = 60'000;

Error NotHere(const char* call) {
  return Error{ErrorCode::kInvalidArgument, std::string("fake registry: ") + call + " is not used"};
}

// A registry holding versions, open transition requests and aliases in memory. Only the
// calls the reconciler makes are implemented; the others fail.
class FakeRegistry final : public RegistryClient {
 public:
  explicit FakeRegistry(RegistryDialect dialect) : dialect_(dialect) {}
  RegistryDialect dialect() const override { return dialect_; }

  Result<std::vector<ModelVersionInfo>> SearchVersions(const std::string& model) override {
    std::lock_guard lock(mutex);
    ++searches;
    if (fail_next_search) {
      fail_next_search = false;
      return Fail(ErrorCode::kUnavailable,
                  "databricks registry: search model versions failed: "
                  "TEMPORARILY_UNAVAILABLE (HTTP 503)");
    }
    std::vector<ModelVersionInfo> out;
    for (const auto& v : versions) {
      if (v.name == model) out.push_back(v);
    }
    return out;
  }
  Result<std::vector<ModelVersionInfo>> SearchVersionsLike(const std::string& pattern) override {
    std::lock_guard lock(mutex);
    like_patterns.push_back(pattern);
    return versions;  // a LIKE may match more than the glob: the reconciler filters
  }
  Result<std::vector<RegistryActivity>> ListTransitionRequests(
      const std::string& model, const std::string& version) override {
    std::lock_guard lock(mutex);
    listed.push_back(model + "/" + version);
    return requests[model + "/" + version];
  }
  Result<RegisteredModelInfo> GetRegisteredModel(const std::string& model) override {
    std::lock_guard lock(mutex);
    return RegisteredModelInfo{.name = model, .aliases = aliases[model]};
  }

  Result<RegistryActivity> ApproveTransition(const std::string&, const std::string&,
                                             const std::string&, bool,
                                             const std::string&) override {
    return tl::unexpected(NotHere("ApproveTransition"));
  }
  Result<RegistryActivity> RejectTransition(const std::string&, const std::string&,
                                            const std::string&, const std::string&) override {
    return tl::unexpected(NotHere("RejectTransition"));
  }
  Result<std::string> CreateComment(const std::string&, const std::string&,
                                    const std::string&) override {
    return tl::unexpected(NotHere("CreateComment"));
  }
  Result<ModelVersionInfo> TransitionStage(const std::string&, const std::string&,
                                           const std::string&, bool, const std::string&) override {
    return tl::unexpected(NotHere("TransitionStage"));
  }
  Result<ModelVersionInfo> GetModelVersion(const std::string&, const std::string&) override {
    return tl::unexpected(NotHere("GetModelVersion"));
  }
  Result<std::vector<ModelVersionInfo>> LatestVersions(const std::string&,
                                                       const std::vector<std::string>&) override {
    return tl::unexpected(NotHere("LatestVersions"));
  }
  Result<void> SetVersionTag(const std::string&, const std::string&, const std::string&,
                             const std::string&) override {
    return tl::unexpected(NotHere("SetVersionTag"));
  }
  Result<void> DeleteVersionTag(const std::string&, const std::string&,
                                const std::string&) override {
    return tl::unexpected(NotHere("DeleteVersionTag"));
  }
  Result<RunData> GetRun(const std::string&) override { return tl::unexpected(NotHere("GetRun")); }
  Result<void> SetAlias(const std::string&, const std::string&, const std::string&) override {
    return tl::unexpected(NotHere("SetAlias"));
  }
  Result<void> DeleteAlias(const std::string&, const std::string&) override {
    return tl::unexpected(NotHere("DeleteAlias"));
  }
  Result<std::optional<ModelVersionInfo>> GetVersionByAlias(const std::string&,
                                                            const std::string&) override {
    return tl::unexpected(NotHere("GetVersionByAlias"));
  }

  std::mutex mutex;
  std::vector<ModelVersionInfo> versions;
  std::map<std::string, std::vector<RegistryActivity>> requests;      // "model/version" -> open
  std::map<std::string, std::map<std::string, std::string>> aliases;  // model -> alias -> version
  bool fail_next_search = false;
  int searches = 0;
  std::vector<std::string> listed;
  std::vector<std::string> like_patterns;

 private:
  RegistryDialect dialect_;
};

ModelVersionInfo Version(std::string name, std::string version, std::string stage,
                         std::int64_t created_ms) {
  return ModelVersionInfo{.name = std::move(name),
                          .version = std::move(version),
                          .current_stage = std::move(stage),
                          .creation_ms = created_ms};
}

RegistryActivity OpenRequest(std::string to_stage, std::int64_t created_ms) {
  return RegistryActivity{.id = "req-" + to_stage,
                          .activity_type = "REQUESTED_TRANSITION",
                          .from_stage = "Staging",
                          .to_stage = std::move(to_stage),
                          .comment = "please",
                          .user_id = "alice@example.com",
                          .creation_ms = created_ms};
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteEventStore::Open(
        store::SqliteOptions{.path = dir_.File("events.db")}, std::make_shared<Metrics>());
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = *opened;
    // Log lines go to a ring buffer the tests read.
    previous_logger_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("reconciler-test", sink_));
  }
  void TearDown() override {
    reconciler_.reset();
    store_->Stop();
    spdlog::set_default_logger(previous_logger_);
  }

  RegistryConfig Config(const std::string& name, const std::string& dialect,
                        std::vector<std::string> models) {
    RegistryConfig c;
    c.name = name;
    c.dialect = dialect;
    c.url = "https://registry.example.com";
    c.token = Secret{"env:SG_UNIT_TOKEN", "dapi-very-secret"};
    c.reconcile = ReconcileConfig{.interval = std::chrono::hours(1),
                                  .models = std::move(models),
                                  .endpoint = name + "-hooks"};
    return c;
  }

  Reconciler& Make(const RegistryConfig& config, std::shared_ptr<FakeRegistry> client) {
    reconciler_ = std::make_unique<Reconciler>(
        std::vector<RegistryConfig>{config},
        std::map<std::string, RegistryClientPtr>{{config.name, client}}, store_,
        [this] { return now_.load(); },
        [this] {
          {
            std::lock_guard lock(wake_mutex_);
            ++wakes_;
          }
          woken_.notify_all();
        });
    return *reconciler_;
  }

  std::vector<Event> Events() {
    auto all = store_->List(EventFilter{.limit = 1000});
    EXPECT_TRUE(all) << all.error().message;
    return all ? *all : std::vector<Event>{};
  }

  void Deliver(Event e) {
    net::io_context io;
    auto r = test::RunAwaitable(io, store_->Append(std::move(e), milliseconds(0)));
    ASSERT_TRUE(r && *r);
  }

  std::string Logs() {
    std::string out;
    for (const auto& line : sink_->last_formatted()) out += line;
    return out;
  }

  test::TempDir dir_;
  std::shared_ptr<store::SqliteEventStore> store_;
  std::atomic<std::int64_t> now_{kNow};
  std::atomic<int> wakes_{0};
  std::mutex wake_mutex_;
  std::condition_variable woken_;
  std::unique_ptr<Reconciler> reconciler_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
  std::shared_ptr<spdlog::logger> previous_logger_;
};

// -- Databricks ---------------------------------------------------------------------------------

TEST_F(ReconcilerTest, MissingTransitionRequestIsSynthesisedOnceAcrossPolls) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  const std::int64_t created = kNow - 5 * kMinute;
  registry->versions = {Version("churn", "7", "Staging", kNow - 60 * kMinute)};
  registry->requests["churn/7"] = {OpenRequest("Production", created)};
  auto& reconciler = Make(Config("workspace", "databricks", {"churn"}), registry);

  const auto first = reconciler.PollOnce();
  EXPECT_EQ(first.looked_at, 1);
  EXPECT_EQ(first.synthesised, 1);
  EXPECT_EQ(first.errors, 0);
  EXPECT_EQ(wakes_.load(), 1);
  auto events = Events();
  ASSERT_EQ(events.size(), 1U);
  const Event& e = events[0];
  EXPECT_EQ(e.endpoint, "workspace-hooks");
  EXPECT_EQ(e.source, "databricks");
  EXPECT_EQ(e.type, "transition_request.created");
  EXPECT_EQ(e.raw_type, "TRANSITION_REQUEST_TO_PRODUCTION_CREATED");
  EXPECT_EQ(e.model_name, "churn");
  EXPECT_EQ(e.model_version, "7");
  EXPECT_EQ(e.from_stage, "Staging");
  EXPECT_EQ(e.to_stage, "Production");
  EXPECT_NE(e.text.find("alice@example.com"), std::string::npos) << e.text;
  EXPECT_EQ(e.verification.scheme, "reconciler");
  EXPECT_EQ(e.dedupe_key, "reconcile:churn/7/Production/" + std::to_string(created));
  EXPECT_EQ(e.received_at_ms, kNow);
  EXPECT_EQ(e.sent_at_ms, created);
  const json payload = json::parse(e.payload);
  EXPECT_EQ(payload["stagegate_reconciled"], true);
  EXPECT_EQ(payload["event"], "TRANSITION_REQUEST_TO_PRODUCTION_CREATED");
  EXPECT_EQ(payload["request"]["user_id"], "alice@example.com");
  EXPECT_EQ(payload["version"], "7");
  const std::string logs = Logs();
  EXPECT_NE(logs.find("reconcile_synthesised registry=workspace"), std::string::npos) << logs;
  EXPECT_NE(logs.find("model=churn version=7 stage=Production"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("dapi-very-secret"), std::string::npos) << logs;

  now_ += kMinute;
  const auto second = reconciler.PollOnce();
  EXPECT_EQ(second.looked_at, 1);
  EXPECT_EQ(second.synthesised, 0);
  EXPECT_EQ(second.already_known, 1);
  EXPECT_EQ(Events().size(), 1U);
  EXPECT_EQ(wakes_.load(), 1);

  // A restarted reconciler (no memory) finds the synthesised event in the store.
  auto& restarted = Make(Config("workspace", "databricks", {"churn"}), registry);
  const auto third = restarted.PollOnce();
  EXPECT_EQ(third.synthesised, 0);
  EXPECT_EQ(third.already_known, 1);
  EXPECT_EQ(Events().size(), 1U);
}

TEST_F(ReconcilerTest, DeliveredTransitionRequestIsNotSynthesised) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  const std::int64_t created = kNow - 5 * kMinute;
  registry->versions = {Version("churn", "7", "Staging", kNow - 60 * kMinute)};
  registry->requests["churn/7"] = {OpenRequest("Production", created)};
  Event delivered;
  delivered.endpoint = "some-other-endpoint";
  delivered.source = "databricks";
  delivered.type = "transition_request.created";
  delivered.raw_type = "TRANSITION_REQUEST_CREATED";
  delivered.model_name = "churn";
  delivered.model_version = "7";
  delivered.to_stage = "production";  // stages compare case-insensitively
  delivered.dedupe_key = "sha256:abc";
  delivered.sent_at_ms = created + 300;
  delivered.received_at_ms = created + 900;
  delivered.payload = "{}";
  Deliver(delivered);

  auto& reconciler = Make(Config("workspace", "databricks", {"churn"}), registry);
  const auto counts = reconciler.PollOnce();
  EXPECT_EQ(counts.looked_at, 1);
  EXPECT_EQ(counts.already_known, 1);
  EXPECT_EQ(counts.synthesised, 0);
  EXPECT_EQ(Events().size(), 1U);
  EXPECT_EQ(wakes_.load(), 0);
}

TEST_F(ReconcilerTest, DeliveryOfAnEarlierRequestDoesNotCoverANewOne) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  const std::int64_t created = kNow - 5 * kMinute;
  registry->versions = {Version("churn", "7", "Staging", kNow - 600 * kMinute)};
  registry->requests["churn/7"] = {OpenRequest("Production", created)};
  Event earlier;  // the first request to Production, rejected since; then requested again
  earlier.endpoint = "workspace-hooks";
  earlier.source = "databricks";
  earlier.type = "transition_request.created";
  earlier.model_name = "churn";
  earlier.model_version = "7";
  earlier.to_stage = "Production";
  earlier.dedupe_key = "sha256:old";
  earlier.sent_at_ms = created - 120 * kMinute;
  earlier.received_at_ms = created - 120 * kMinute;
  earlier.payload = "{}";
  Deliver(earlier);

  auto& reconciler = Make(Config("workspace", "databricks", {"churn"}), registry);
  EXPECT_EQ(reconciler.PollOnce().synthesised, 1);
  EXPECT_EQ(Events().size(), 2U);
}

TEST_F(ReconcilerTest, ClosedRequestsAndArchivedVersionsAreLeftAlone) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  registry->versions = {Version("churn", "6", "Archived", kNow - 90 * kMinute),
                        Version("churn", "7", "Staging", kNow - 60 * kMinute)};
  RegistryActivity approved = OpenRequest("Production", kNow - 5 * kMinute);
  approved.activity_type = "APPROVED_REQUEST";
  registry->requests["churn/6"] = {OpenRequest("Production", kNow - 80 * kMinute)};
  registry->requests["churn/7"] = {approved};
  auto& reconciler = Make(Config("workspace", "databricks", {"churn"}), registry);

  const auto counts = reconciler.PollOnce();
  EXPECT_EQ(counts.looked_at, 0);
  EXPECT_EQ(counts.synthesised, 0);
  EXPECT_TRUE(Events().empty());
  EXPECT_EQ(registry->listed, std::vector<std::string>{"churn/7"});  // never asks for Archived

  // Once the request is gone from the open list, nothing is synthesised either.
  registry->requests["churn/7"].clear();
  EXPECT_EQ(reconciler.PollOnce().synthesised, 0);
  EXPECT_TRUE(Events().empty());
}

TEST_F(ReconcilerTest, YoungRequestWaitsForTheGracePeriod) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  registry->versions = {Version("churn", "7", "None", kNow - 60 * kMinute)};
  registry->requests["churn/7"] = {OpenRequest("Staging", kNow - 5'000)};
  auto config = Config("workspace", "databricks", {"churn"});
  config.reconcile->grace = std::chrono::seconds(30);
  auto& reconciler = Make(config, registry);

  const auto early = reconciler.PollOnce();
  EXPECT_EQ(early.waiting, 1);
  EXPECT_EQ(early.synthesised, 0);
  EXPECT_TRUE(Events().empty());

  now_ += 30'000;
  EXPECT_EQ(reconciler.PollOnce().synthesised, 1);
  const auto events = Events();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].raw_type, "TRANSITION_REQUEST_TO_STAGING_CREATED");
}

TEST_F(ReconcilerTest, RegistryErrorIsLoggedAndTheNextPollWorks) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  registry->versions = {Version("churn", "7", "Staging", kNow - 60 * kMinute)};
  registry->requests["churn/7"] = {OpenRequest("Production", kNow - 5 * kMinute)};
  registry->fail_next_search = true;
  auto& reconciler = Make(Config("workspace", "databricks", {"churn"}), registry);

  const auto failed = reconciler.PollOnce();
  EXPECT_EQ(failed.errors, 1);
  EXPECT_EQ(failed.synthesised, 0);
  const std::string logs = Logs();
  EXPECT_NE(logs.find("reconcile_failed registry=workspace model=churn"), std::string::npos)
      << logs;
  EXPECT_NE(logs.find("TEMPORARILY_UNAVAILABLE"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("dapi-very-secret"), std::string::npos) << logs;

  const auto next = reconciler.PollOnce();
  EXPECT_EQ(next.errors, 0);
  EXPECT_EQ(next.synthesised, 1);
}

TEST_F(ReconcilerTest, GlobsSearchWithLikeAndKeepOnlyMatchingModels) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  registry->versions = {Version("fraud-eu", "1", "Staging", kNow - 60 * kMinute),
                        Version("fraudXeu", "1", "Staging", kNow - 60 * kMinute)};
  registry->requests["fraud-eu/1"] = {OpenRequest("Production", kNow - 5 * kMinute)};
  registry->requests["fraudXeu/1"] = {OpenRequest("Production", kNow - 5 * kMinute)};
  auto& reconciler = Make(Config("workspace", "databricks", {"fraud-?u", "fraud-*"}), registry);

  reconciler.PollOnce();
  EXPECT_EQ(registry->like_patterns, (std::vector<std::string>{"fraud-_u", "fraud-%"}));
  const auto events = Events();
  ASSERT_EQ(events.size(), 1U);  // both globs see fraud-eu; the second finds it stored
  EXPECT_EQ(events[0].model_name, "fraud-eu");
}

// -- MLflow -------------------------------------------------------------------------------------

TEST_F(ReconcilerTest, MlflowVersionWithoutACreatedEventIsSynthesised) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kMlflow);
  ModelVersionInfo fresh = Version("churn", "2", "None", kNow - 10 * kMinute);
  fresh.run_id = "run-42";
  fresh.source = "models:/m-1";
  fresh.description = "retrained";
  fresh.tags = {{"team", "risk"}};
  registry->versions = {Version("churn", "1", "None", kNow - 48 * 60 * kMinute), fresh,
                        Version("churn", "3", "None", kNow - 5 * kMinute)};
  Event delivered;
  delivered.endpoint = "mlflow-hooks";
  delivered.source = "mlflow";
  delivered.type = "model_version.created";
  delivered.model_name = "churn";
  delivered.model_version = "3";
  delivered.dedupe_key = "id:d-3";
  delivered.received_at_ms = kNow - 5 * kMinute;
  delivered.payload = "{}";
  Deliver(delivered);
  auto& reconciler = Make(Config("mlflow", "mlflow", {"churn"}), registry);

  const auto counts = reconciler.PollOnce();
  EXPECT_EQ(counts.looked_at, 3);
  EXPECT_EQ(counts.synthesised, 1);    // version 2
  EXPECT_EQ(counts.already_known, 1);  // version 3 was delivered
  EXPECT_EQ(counts.too_old, 1);        // version 1 predates the 24h lookback
  auto events = store_->List(EventFilter{.endpoint = "mlflow-hooks", .version = "2"});
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1U);
  const Event& e = events->front();
  EXPECT_EQ(e.source, "mlflow");
  EXPECT_EQ(e.type, "model_version.created");
  EXPECT_EQ(e.raw_type, "model_version.created");
  EXPECT_EQ(e.text, "retrained");
  ASSERT_EQ(e.tags.size(), 1U);
  EXPECT_EQ(e.tags[0].key, "team");
  EXPECT_EQ(e.verification.scheme, "reconciler");
  const json payload = json::parse(e.payload);
  EXPECT_EQ(payload["stagegate_reconciled"], true);
  EXPECT_EQ(payload["entity"], "model_version");
  EXPECT_EQ(payload["data"]["run_id"], "run-42");
  EXPECT_EQ(payload["data"]["tags"]["team"], "risk");

  EXPECT_EQ(reconciler.PollOnce().synthesised, 0);
  EXPECT_EQ(Events().size(), 2U);
}

TEST_F(ReconcilerTest, MlflowAliasesFollowTheNewestStoredAliasEvent) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kMlflow);
  registry->versions = {Version("churn", "2", "None", kNow - 10 * kMinute),
                        Version("churn", "3", "None", kNow - 8 * kMinute)};
  registry->aliases["churn"] = {{"champion", "2"}, {"challenger", "3"}};
  // Both versions and the challenger alias were delivered; champion was not.
  for (const auto& [version, alias] :
       {std::pair{"2", ""}, std::pair{"3", ""}, std::pair{"3", "challenger"}}) {
    Event d;
    d.endpoint = "mlflow-hooks";
    d.source = "mlflow";
    d.type = std::string(alias).empty() ? "model_version.created" : "model_version_alias.created";
    d.model_name = "churn";
    d.model_version = version;
    d.alias = alias;
    d.dedupe_key = std::string("id:") + version + alias;
    d.received_at_ms = kNow - kMinute;
    d.payload = "{}";
    Deliver(d);
  }
  auto config = Config("mlflow", "mlflow", {"churn"});
  config.reconcile->grace = std::chrono::seconds(30);
  auto& reconciler = Make(config, registry);

  // Aliases carry no timestamp: the first pass starts the grace period.
  const auto first = reconciler.PollOnce();
  EXPECT_EQ(first.waiting, 1);
  EXPECT_EQ(first.synthesised, 0);
  now_ += 30'000;
  const auto second = reconciler.PollOnce();
  EXPECT_EQ(second.synthesised, 1);
  auto champion = store_->List(EventFilter{.model = "churn", .alias = "champion"});
  ASSERT_TRUE(champion);
  ASSERT_EQ(champion->size(), 1U);
  EXPECT_EQ(champion->front().type, "model_version_alias.created");
  EXPECT_EQ(champion->front().raw_type, "model_version_alias.created");
  EXPECT_EQ(champion->front().model_version, "2");
  EXPECT_EQ(champion->front().endpoint, "mlflow-hooks");
  EXPECT_EQ(json::parse(champion->front().payload)["data"]["alias"], "champion");

  // Champion moves to 3 and back to 2 without deliveries: each move is synthesised.
  registry->aliases["churn"]["champion"] = "3";
  reconciler.PollOnce();
  now_ += 30'000;
  EXPECT_EQ(reconciler.PollOnce().synthesised, 1);
  registry->aliases["churn"]["champion"] = "2";
  reconciler.PollOnce();
  now_ += 30'000;
  EXPECT_EQ(reconciler.PollOnce().synthesised, 1);
  champion = store_->List(EventFilter{.model = "churn", .alias = "champion"});
  ASSERT_TRUE(champion);
  ASSERT_EQ(champion->size(), 3U);
  EXPECT_EQ((*champion)[0].model_version, "2");
  EXPECT_EQ((*champion)[1].model_version, "3");

  // Nothing changes: nothing more is synthesised.
  now_ += 30'000;
  const auto quiet = reconciler.PollOnce();
  EXPECT_EQ(quiet.synthesised, 0);
  EXPECT_EQ(quiet.waiting, 0);
}

TEST_F(ReconcilerTest, MlflowAliasOnAnOldVersionWithoutHistoryIsNotReplayed) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kMlflow);
  registry->versions = {Version("churn", "1", "None", kNow - 30 * 24 * 60 * kMinute)};
  registry->aliases["churn"] = {{"champion", "1"}};
  auto config = Config("mlflow", "mlflow", {"churn"});
  config.reconcile->grace = milliseconds(0);
  auto& reconciler = Make(config, registry);
  const auto counts = reconciler.PollOnce();
  EXPECT_EQ(counts.too_old, 2);  // the version and its alias
  EXPECT_EQ(counts.synthesised, 0);
  EXPECT_TRUE(Events().empty());
}

// -- Thread -------------------------------------------------------------------------------------

TEST_F(ReconcilerTest, StartPollsAtOnceAndStopReturnsPromptly) {
  auto registry = std::make_shared<FakeRegistry>(RegistryDialect::kDatabricks);
  registry->versions = {Version("churn", "7", "Staging", kNow - 60 * kMinute)};
  registry->requests["churn/7"] = {OpenRequest("Production", kNow - 5 * kMinute)};
  auto& reconciler = Make(Config("workspace", "databricks", {"churn"}), registry);  // 1h interval

  reconciler.Start();
  {
    std::unique_lock lock(wake_mutex_);
    ASSERT_TRUE(woken_.wait_for(lock, std::chrono::seconds(10), [&] { return wakes_.load() > 0; }))
        << "the first pass did not run";
  }
  const auto started = std::chrono::steady_clock::now();
  reconciler.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  {
    std::lock_guard lock(registry->mutex);
    EXPECT_EQ(registry->searches, 1);  // and no second pass within the hour
  }
  reconciler.Stop();  // idempotent
}

}  // namespace
}  // namespace stagegate::registry
