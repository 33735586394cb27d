#include "orchestrator/store/sqlite_event_store.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "tests/unit/support/test_support.hpp"

namespace stagegate::store {
namespace {

using std::chrono::milliseconds;

Event MakeEvent(std::string endpoint, std::string dedupe_key, std::int64_t received_at_ms = 1000) {
  Event e;
  e.endpoint = std::move(endpoint);
  e.source = "mlflow";
  e.type = "model_version.created";
  e.raw_type = "model_version.created";
  e.model_name = "churn";
  e.model_version = "1";
  e.dedupe_key = std::move(dedupe_key);
  e.received_at_ms = received_at_ms;
  e.payload = "{}";
  return e;
}

std::uint64_t MetricValue(const std::string& text, const std::string& name) {
  const auto pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return 0;
  return std::stoull(text.substr(pos + name.size() + 2));
}

class SqliteEventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(milliseconds busy_timeout = std::chrono::seconds(5)) {
    if (store_) store_->Stop();
    store_.reset();
    auto opened = SqliteEventStore::Open(
        SqliteOptions{.path = path_, .busy_timeout = busy_timeout}, metrics_);
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = *opened;
  }

  Result<AppendResult> Append(Event e, milliseconds window = milliseconds(0)) {
    auto r = test::RunAwaitable(io_, store_->Append(std::move(e), window));
    EXPECT_TRUE(r) << "Append did not complete in time";
    return r ? *r : Fail(ErrorCode::kInternal, "timeout");
  }

  AppendResult MustAppend(Event e, milliseconds window = milliseconds(0)) {
    auto r = Append(std::move(e), window);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : AppendResult{};
  }

  test::TempDir dir_;
  std::string path_ = dir_.File("sub/dir/events.db");  // the directory is created on open
  std::shared_ptr<Metrics> metrics_ = std::make_shared<Metrics>();
  net::io_context io_;
  std::shared_ptr<SqliteEventStore> store_;
};

TEST_F(SqliteEventStoreTest, AppendReturnsIncreasingIds) {
  const auto a = MustAppend(MakeEvent("ml", "id:a"));
  const auto b = MustAppend(MakeEvent("ml", "id:b"));
  const auto c = MustAppend(MakeEvent("ml", "id:c"));
  EXPECT_FALSE(a.duplicate || b.duplicate || c.duplicate);
  EXPECT_GT(a.event_id, 0);
  EXPECT_LT(a.event_id, b.event_id);
  EXPECT_LT(b.event_id, c.event_id);
}

TEST_F(SqliteEventStoreTest, SameEndpointAndKeyIsADuplicateOfTheFirst) {
  const auto first = MustAppend(MakeEvent("ml", "id:same"));
  auto again = MakeEvent("ml", "id:same", 999'999);
  again.model_name = "other";
  const auto second = MustAppend(again);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(second.event_id, first.event_id);
  const auto all = store_->List(EventFilter{});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ((*all)[0].model_name, "churn");
}

TEST_F(SqliteEventStoreTest, ZeroWindowDeduplicatesForever) {
  const auto first = MustAppend(MakeEvent("dbx", "sha256:x", 1'000));
  const auto later = MustAppend(MakeEvent("dbx", "sha256:x", 1'000 + 365LL * 86'400'000), milliseconds(0));
  EXPECT_TRUE(later.duplicate);
  EXPECT_EQ(later.event_id, first.event_id);
}

TEST_F(SqliteEventStoreTest, NonZeroWindowDeduplicatesOnlyWithinIt) {
  const milliseconds window(10'000);
  const auto first = MustAppend(MakeEvent("dbx", "sha256:x", 1'000), window);
  const auto inside = MustAppend(MakeEvent("dbx", "sha256:x", 11'000), window);  // exactly 10 s
  EXPECT_TRUE(inside.duplicate);
  EXPECT_EQ(inside.event_id, first.event_id);
  const auto outside = MustAppend(MakeEvent("dbx", "sha256:x", 11'001), window);
  EXPECT_FALSE(outside.duplicate);
  EXPECT_GT(outside.event_id, first.event_id);
  // The window now counts from the newest stored copy.
  const auto near_newest = MustAppend(MakeEvent("dbx", "sha256:x", 20'000), window);
  EXPECT_TRUE(near_newest.duplicate);
  EXPECT_EQ(near_newest.event_id, outside.event_id);
}

TEST_F(SqliteEventStoreTest, DifferentEndpointsDoNotCollide) {
  const auto a = MustAppend(MakeEvent("ml-a", "id:1"));
  const auto b = MustAppend(MakeEvent("ml-b", "id:1"));
  EXPECT_FALSE(b.duplicate);
  EXPECT_NE(a.event_id, b.event_id);
}

TEST_F(SqliteEventStoreTest, DuplicatesInsideOneBatchAreDetected) {
  std::vector<std::optional<Result<AppendResult>>> results(3);
  for (std::size_t i = 0; i < results.size(); ++i) {
    net::co_spawn(io_, store_->Append(MakeEvent("ml", "id:batch"), milliseconds(0)),
                  [&results, i](std::exception_ptr, Result<AppendResult> r) { results[i] = r; });
  }
  io_.restart();
  io_.run_for(std::chrono::seconds(10));
  std::set<std::int64_t> ids;
  int fresh = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r && *r);
    ids.insert((*r)->event_id);
    fresh += (*r)->duplicate ? 0 : 1;
  }
  EXPECT_EQ(ids.size(), 1U);
  EXPECT_EQ(fresh, 1);
}

TEST_F(SqliteEventStoreTest, StoresEveryFieldAndThePayloadVerbatim) {
  Event e = MakeEvent("ml", "id:full", 1'700'000'000'500);
  e.payload = std::string("{\"a\":\"\xff\xfe\"}\0tail\x80", 17);
  e.from_stage = "Staging";
  e.to_stage = "Production";
  e.alias = "champion";
  e.tags = {{"k1", "v1"}, {"k2", ""}};
  e.text = "caf\xc3\xa9";
  e.repository = "example/pipelines";
  e.ref = "refs/heads/main";
  e.commit = "6dcb09b5";
  e.delivery_id = "d-1";
  e.sent_at_ms = 1'700'000'000'000;
  e.headers = {{"Content-Type", "application/json"}, {"X-MLflow-Signature", "[redacted]"}};
  e.verification = Verification{.scheme = "mlflow", .secret_index = 1, .signed_at_s = 1'699'999'999,
                                .skew_s = 1};
  const auto id = MustAppend(e).event_id;
  const auto got = store_->Get(id);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(got->has_value());
  const Event& g = **got;
  EXPECT_EQ(g.id, id);
  EXPECT_EQ(g.payload.size(), 17U);
  EXPECT_EQ(g.payload, e.payload);
  EXPECT_EQ(g.endpoint, "ml");
  EXPECT_EQ(g.source, "mlflow");
  EXPECT_EQ(g.type, "model_version.created");
  EXPECT_EQ(g.raw_type, "model_version.created");
  EXPECT_EQ(g.model_name, "churn");
  EXPECT_EQ(g.model_version, "1");
  EXPECT_EQ(g.from_stage, "Staging");
  EXPECT_EQ(g.to_stage, "Production");
  EXPECT_EQ(g.alias, "champion");
  ASSERT_EQ(g.tags.size(), 2U);
  EXPECT_EQ(g.tags[0].key, "k1");
  EXPECT_EQ(g.tags[0].value, "v1");
  EXPECT_EQ(g.tags[1].key, "k2");
  EXPECT_EQ(g.text, "caf\xc3\xa9");
  EXPECT_EQ(g.repository, "example/pipelines");
  EXPECT_EQ(g.ref, "refs/heads/main");
  EXPECT_EQ(g.commit, "6dcb09b5");
  EXPECT_EQ(g.delivery_id, "d-1");
  EXPECT_EQ(g.dedupe_key, "id:full");
  EXPECT_EQ(g.received_at_ms, 1'700'000'000'500);
  EXPECT_EQ(g.sent_at_ms, 1'700'000'000'000);
  ASSERT_EQ(g.headers.size(), 2U);
  EXPECT_EQ(g.headers[1].first, "X-MLflow-Signature");
  EXPECT_EQ(g.headers[1].second, "[redacted]");
  EXPECT_EQ(g.verification.scheme, "mlflow");
  EXPECT_EQ(g.verification.secret_index, 1);
  EXPECT_EQ(g.verification.signed_at_s, 1'699'999'999);
  EXPECT_EQ(g.verification.skew_s, 1);
}

TEST_F(SqliteEventStoreTest, EmptyPayloadIsStored) {
  Event e = MakeEvent("ml", "id:empty");
  e.payload.clear();
  const auto id = MustAppend(e).event_id;
  const auto got = store_->Get(id);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->payload, "");
}

TEST_F(SqliteEventStoreTest, GetOfAMissingIdIsEmpty) {
  const auto got = store_->Get(12345);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_FALSE(got->has_value());
}

TEST_F(SqliteEventStoreTest, ListIsNewestFirstWithFiltersAndCursor) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 6; ++i) {
    Event e = MakeEvent(i % 2 == 0 ? "ml" : "dbx", "id:" + std::to_string(i));
    e.type = i < 3 ? "model_version.created" : "model_version_tag.set";
    e.model_name = i % 3 == 0 ? "churn" : "fraud";
    ids.push_back(MustAppend(e).event_id);
  }
  auto Ids = [&](const EventFilter& f) {
    std::vector<std::int64_t> out;
    const auto r = store_->List(f);
    EXPECT_TRUE(r) << r.error().message;
    if (r) {
      for (const auto& e : *r) out.push_back(e.id);
    }
    return out;
  };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(Ids(EventFilter{}), (V{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}));
  EXPECT_EQ(Ids(EventFilter{.endpoint = "ml"}), (V{ids[4], ids[2], ids[0]}));
  EXPECT_EQ(Ids(EventFilter{.type = "model_version_tag.set"}), (V{ids[5], ids[4], ids[3]}));
  EXPECT_EQ(Ids(EventFilter{.model = "churn"}), (V{ids[3], ids[0]}));
  EXPECT_EQ(Ids(EventFilter{.endpoint = "dbx", .type = "model_version.created"}), (V{ids[1]}));
  EXPECT_EQ(Ids(EventFilter{.endpoint = "ml", .model = "fraud"}), (V{ids[4], ids[2]}));
  EXPECT_EQ(Ids(EventFilter{.limit = 2}), (V{ids[5], ids[4]}));
  EXPECT_EQ(Ids(EventFilter{.before_id = ids[4], .limit = 2}), (V{ids[3], ids[2]}));
  EXPECT_EQ(Ids(EventFilter{.endpoint = "dbx", .before_id = ids[3]}), (V{ids[1]}));
  EXPECT_EQ(Ids(EventFilter{.endpoint = "nobody"}), V{});
}

TEST_F(SqliteEventStoreTest, ListFiltersByVersionAndAlias) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    Event e = MakeEvent("ml", "id:va" + std::to_string(i));
    e.type = "model_version_alias.created";
    e.model_version = i < 2 ? "3" : "4";
    e.alias = i % 2 == 0 ? "champion" : "challenger";
    ids.push_back(MustAppend(e).event_id);
  }
  auto Ids = [&](const EventFilter& f) {
    std::vector<std::int64_t> out;
    const auto r = store_->List(f);
    EXPECT_TRUE(r) << r.error().message;
    if (r) {
      for (const auto& e : *r) out.push_back(e.id);
    }
    return out;
  };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(Ids(EventFilter{.model = "churn", .version = "3"}), (V{ids[1], ids[0]}));
  EXPECT_EQ(Ids(EventFilter{.alias = "champion"}), (V{ids[2], ids[0]}));
  EXPECT_EQ(Ids(EventFilter{.version = "4", .alias = "challenger"}), (V{ids[3]}));
  EXPECT_EQ(Ids(EventFilter{.version = "9"}), V{});
  // Combined with the cursor of the dispatcher (after_id), the new bindings keep their places.
  EXPECT_EQ(Ids(EventFilter{.alias = "champion", .after_id = ids[0]}), (V{ids[2]}));
}

TEST_F(SqliteEventStoreTest, ReopenKeepsEventsAndDedupe) {
  Event e = MakeEvent("ml", "id:persist");
  e.payload = "persisted body";
  const auto first = MustAppend(e);
  Reopen();
  const auto got = store_->Get(first.event_id);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->payload, "persisted body");
  const auto again = MustAppend(MakeEvent("ml", "id:persist"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.event_id, first.event_id);
  const auto next = MustAppend(MakeEvent("ml", "id:new"));
  EXPECT_GT(next.event_id, first.event_id);
}

TEST_F(SqliteEventStoreTest, AppendAfterStopFailsUnavailable) {
  store_->Stop();
  const auto r = Append(MakeEvent("ml", "id:late"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(store_->Ready());
}

TEST_F(SqliteEventStoreTest, ConcurrentAppendsAreGroupCommitted) {
  constexpr int kEvents = 200;
  net::io_context io(2);
  auto guard = net::make_work_guard(io);
  std::mutex mutex;
  std::vector<std::int64_t> ids;
  std::vector<std::string> errors;
  std::atomic<int> done{0};
  for (int i = 0; i < kEvents; ++i) {
    net::co_spawn(io, store_->Append(MakeEvent("ml", "id:c" + std::to_string(i)), milliseconds(0)),
                  [&](std::exception_ptr ep, Result<AppendResult> r) {
                    {
                      std::lock_guard lock(mutex);
                      if (ep) {
                        errors.push_back("exception");
                      } else if (!r) {
                        errors.push_back(r.error().message);
                      } else {
                        ids.push_back(r->duplicate ? -r->event_id : r->event_id);
                      }
                    }
                    if (done.fetch_add(1) + 1 == kEvents) guard.reset();
                  });
  }
  std::thread second([&] { io.run_for(std::chrono::seconds(30)); });
  io.run_for(std::chrono::seconds(30));
  second.join();
  store_->Stop();  // no completion may reach `io` after this test body
  ASSERT_EQ(done.load(), kEvents);
  EXPECT_TRUE(errors.empty()) << errors.front();
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kEvents));
  EXPECT_EQ(std::set<std::int64_t>(ids.begin(), ids.end()).size(), ids.size());
  EXPECT_GT(*std::min_element(ids.begin(), ids.end()), 0) << "an append was a duplicate";
  const std::string metrics = metrics_->Render();
  const auto commits = MetricValue(metrics, "stagegate_store_commits_total");
  EXPECT_EQ(MetricValue(metrics, "stagegate_store_committed_events_total"),
            static_cast<std::uint64_t>(kEvents));
  EXPECT_GE(commits, 1U);
  EXPECT_LT(commits, static_cast<std::uint64_t>(kEvents)) << "no group commit happened";
}

TEST_F(SqliteEventStoreTest, LockedDatabaseFailsUnavailableUntilReleased) {
  Reopen(milliseconds(100));
  ASSERT_TRUE(store_->Ready());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(other);

  const auto blocked = Append(MakeEvent("ml", "id:blocked"));
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(blocked.error().message.find("cannot take the write"), std::string::npos)
      << blocked.error().message;
  EXPECT_FALSE(store_->Ready());

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  const auto ok = Append(MakeEvent("ml", "id:blocked"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_FALSE(ok->duplicate);  // the failed batch was rolled back
  EXPECT_TRUE(store_->Ready());
}

TEST(SqliteEventStoreOpenTest, FailsUnavailableWhenThePathCannotBeCreated) {
  test::TempDir dir;
  const std::string file = dir.File("plain-file");
  { std::ofstream(file) << "x"; }
  const auto r = SqliteEventStore::Open(SqliteOptions{.path = file + "/events.db"}, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
}

TEST(SqliteEventStoreOpenTest, RefusesANewerSchema) {
  test::TempDir dir;
  const std::string path = dir.File("events.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  const auto r = SqliteEventStore::Open(SqliteOptions{.path = path}, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("schema version 99"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace stagegate::store
