#include "orchestrator/store/sqlite_event_store.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "orchestrator/store/sqlite_util.hpp"

namespace stagegate::store {
namespace {

using nlohmann::json;

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint       TEXT    NOT NULL,
  source         TEXT    NOT NULL,
  type           TEXT    NOT NULL,
  raw_type       TEXT    NOT NULL,
  model_name     TEXT    NOT NULL,
  model_version  TEXT    NOT NULL,
  from_stage     TEXT    NOT NULL,
  to_stage       TEXT    NOT NULL,
  alias          TEXT    NOT NULL,
  tags           TEXT    NOT NULL,
  text           TEXT    NOT NULL,
  repository     TEXT    NOT NULL,
  ref            TEXT    NOT NULL,
  git_commit     TEXT    NOT NULL,
  delivery_id    TEXT    NOT NULL,
  dedupe_key     TEXT    NOT NULL,
  received_at_ms INTEGER NOT NULL,
  sent_at_ms     INTEGER NOT NULL,
  headers        TEXT    NOT NULL,
  verification   TEXT    NOT NULL,
  payload        BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_dedupe ON events(endpoint, dedupe_key, id);
CREATE INDEX IF NOT EXISTS events_type ON events(type, id);
CREATE INDEX IF NOT EXISTS events_model ON events(model_name, id);
CREATE INDEX IF NOT EXISTS events_endpoint ON events(endpoint, id);
)sql";

constexpr const char* kColumns =
    "id, endpoint, source, type, raw_type, model_name, model_version, from_stage, to_stage, "
    "alias, tags, text, repository, ref, git_commit, delivery_id, dedupe_key, received_at_ms, "
    "sent_at_ms, headers, verification, payload";

json TagsToJson(const std::vector<Tag>& tags) {
  json out = json::array();
  for (const auto& tag : tags) {
    out.push_back({{"key", tag.key}, {"value", tag.value}});
  }
  return out;
}

json HeadersToJson(const HeaderList& headers) {
  json out = json::array();
  for (const auto& [name, value] : headers) {
    out.push_back(json::array({name, value}));
  }
  return out;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Event RowToEvent(const Statement& s) {
  Event e;
  int c = 0;
  e.id = s.Int(c++);
  e.endpoint = s.Text(c++);
  e.source = s.Text(c++);
  e.type = s.Text(c++);
  e.raw_type = s.Text(c++);
  e.model_name = s.Text(c++);
  e.model_version = s.Text(c++);
  e.from_stage = s.Text(c++);
  e.to_stage = s.Text(c++);
  e.alias = s.Text(c++);
  const json tags = json::parse(s.Text(c++), nullptr, false);
  if (tags.is_array()) {
    for (const auto& t : tags) {
      e.tags.push_back(Tag{t.value("key", ""), t.value("value", "")});
    }
  }
  e.text = s.Text(c++);
  e.repository = s.Text(c++);
  e.ref = s.Text(c++);
  e.commit = s.Text(c++);
  e.delivery_id = s.Text(c++);
  e.dedupe_key = s.Text(c++);
  e.received_at_ms = s.Int(c++);
  e.sent_at_ms = s.Int(c++);
  const json headers = json::parse(s.Text(c++), nullptr, false);
  if (headers.is_array()) {
    for (const auto& h : headers) {
      if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
        e.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
      }
    }
  }
  const json v = json::parse(s.Text(c++), nullptr, false);
  if (v.is_object()) {
    e.verification = Verification{.scheme = v.value("scheme", ""),
                                  .secret_index = v.value("secret_index", -1),
                                  .signed_at_s = v.value("signed_at_s", std::int64_t{0}),
                                  .skew_s = v.value("skew_s", std::int64_t{0})};
  }
  e.payload = s.Blob(c++);
  return e;
}

struct AppendCompletion {
  virtual ~AppendCompletion() = default;
  virtual void Complete(Result<AppendResult> result) = 0;
};

// Resumes the waiting coroutine on its own executor, never on the writer thread.
template <class Handler>
struct HandlerCompletion final : AppendCompletion {
  explicit HandlerCompletion(Handler h) : handler(std::move(h)) {}
  void Complete(Result<AppendResult> result) override {
    auto executor = net::get_associated_executor(handler);
    net::post(executor, [h = std::move(handler), r = std::move(result)]() mutable {
      std::move(h)(std::move(r));
    });
  }
  Handler handler;
};

// An event ready for the writer: its JSON columns are serialised on the caller's thread, so
// the writer thread only binds, steps and commits.
struct PendingAppend {
  Event event;
  std::string tags_json;
  std::string headers_json;
  std::string verification_json;
  std::chrono::milliseconds window;
  std::unique_ptr<AppendCompletion> completion;
};

// WAL pages after which the background checkpointer copies the log into the database.
constexpr int kCheckpointPages = 1000;

}  // namespace

struct SqliteEventStore::Impl {
  SqliteOptions options;
  std::shared_ptr<Metrics> metrics;
  sqlite3* writer = nullptr;
  std::unique_ptr<Statement> find_stmt;  // prepared once, used only by the writer thread
  std::unique_ptr<Statement> insert_stmt;

  // Checkpoints run on their own thread and connection, so the fsync of the database file
  // never lands inside a COMMIT that deliveries are waiting for.
  sqlite3* checkpointer_db = nullptr;
  std::mutex checkpoint_mutex;
  std::condition_variable checkpoint_wake;
  bool checkpoint_wanted = false;
  bool checkpoint_stopping = false;
  std::thread checkpointer;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<PendingAppend> queue;
  bool stopping = false;
  std::thread thread;

  std::mutex readers_mutex;
  std::vector<sqlite3*> readers;

  ~Impl() {
    find_stmt.reset();
    insert_stmt.reset();
    for (sqlite3* db : readers) sqlite3_close(db);
    sqlite3_close(checkpointer_db);
    sqlite3_close(writer);
  }

  void WriterLoop();
  void CheckpointLoop();
  static int OnWalCommit(void* self, sqlite3* /*db*/, const char* /*name*/, int pages) {
    if (pages >= kCheckpointPages) {
      auto* impl = static_cast<Impl*>(self);
      {
        std::lock_guard lock(impl->checkpoint_mutex);
        impl->checkpoint_wanted = true;
      }
      impl->checkpoint_wake.notify_one();
    }
    return SQLITE_OK;
  }
  std::vector<Result<AppendResult>> CommitBatch(std::vector<PendingAppend>& batch);

  // A pooled read connection, returned on destruction.
  struct Reader {
    Impl* impl;
    sqlite3* db;
    Reader(Impl* i, sqlite3* d) : impl(i), db(d) {}
    Reader(Reader&& other) noexcept : impl(other.impl), db(std::exchange(other.db, nullptr)) {}
    Reader& operator=(Reader&&) = delete;
    ~Reader() {
      if (db != nullptr) {
        std::lock_guard lock(impl->readers_mutex);
        impl->readers.push_back(db);
      }
    }
  };
  Result<Reader> AcquireReader() {
    {
      std::lock_guard lock(readers_mutex);
      if (!readers.empty()) {
        sqlite3* db = readers.back();
        readers.pop_back();
        return Reader{this, db};
      }
    }
    auto db = OpenConnection(options.path, options.busy_timeout, false);
    if (!db) return tl::unexpected(db.error());
    return Reader{this, *db};
  }
};

std::vector<Result<AppendResult>> SqliteEventStore::Impl::CommitBatch(
    std::vector<PendingAppend>& batch) {
  std::vector<Result<AppendResult>> results;
  auto fail_all = [&](const std::string& why) {
    find_stmt->Reset();
    insert_stmt->Reset();
    Exec(writer, "ROLLBACK");
    results.assign(batch.size(),
                   Fail(ErrorCode::kUnavailable, "event store cannot take the write: " + why));
    return results;
  };
  if (auto begin = Exec(writer, "BEGIN IMMEDIATE"); !begin) {
    return fail_all(begin.error().message);
  }
  Statement& find = *find_stmt;
  Statement& insert = *insert_stmt;
  for (auto& item : batch) {
    const Event& e = item.event;
    find.Reset();
    find.Bind(1, e.endpoint);
    find.Bind(2, e.dedupe_key);
    const int found = sqlite3_step(find.get());
    if (found == SQLITE_ROW) {
      const std::int64_t received = find.Int(1);
      if (item.window.count() == 0 || e.received_at_ms - received <= item.window.count()) {
        results.push_back(AppendResult{.event_id = find.Int(0), .duplicate = true});
        continue;
      }
    } else if (found != SQLITE_DONE) {
      return fail_all(sqlite3_errmsg(writer));
    }
    insert.Reset();
    int i = 1;
    for (const std::string* text :
         std::initializer_list<const std::string*>{&e.endpoint, &e.source, &e.type, &e.raw_type, &e.model_name, &e.model_version,
          &e.from_stage, &e.to_stage, &e.alias, &item.tags_json, &e.text, &e.repository, &e.ref,
          &e.commit,
          &e.delivery_id, &e.dedupe_key}) {
      insert.Bind(i++, *text);
    }
    insert.Bind(i++, e.received_at_ms);
    insert.Bind(i++, e.sent_at_ms);
    insert.Bind(i++, item.headers_json);
    insert.Bind(i++, item.verification_json);
    insert.BindBlob(i++, e.payload);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) {
      return fail_all(sqlite3_errmsg(writer));
    }
    results.push_back(AppendResult{.event_id = sqlite3_last_insert_rowid(writer)});
  }
  find.Reset();
  insert.Reset();
  if (auto commit = Exec(writer, "COMMIT"); !commit) {
    return fail_all(commit.error().message);
  }
  return results;
}

void SqliteEventStore::Impl::WriterLoop() {
  for (;;) {
    std::vector<PendingAppend> batch;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) {
        return;  // stopping and drained
      }
      while (!queue.empty() && batch.size() < options.max_batch) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    const auto started = std::chrono::steady_clock::now();
    auto results = CommitBatch(batch);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!results.empty() && !results.front().has_value()) {
      spdlog::error("group_commit_failed events={} error=\"{}\"", batch.size(),
                    results.front().error().message);
    } else if (metrics) {
      metrics->ObserveCommit(seconds, batch.size());
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].completion->Complete(std::move(results[i]));
    }
  }
}

void SqliteEventStore::Impl::CheckpointLoop() {
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mutex);
      checkpoint_wake.wait(lock, [&] { return checkpoint_stopping || checkpoint_wanted; });
      if (checkpoint_stopping) {
        return;
      }
      checkpoint_wanted = false;
    }
    // PASSIVE never blocks the writer; frames it cannot copy yet are copied next time.
    int log_pages = 0;
    int copied = 0;
    if (sqlite3_wal_checkpoint_v2(checkpointer_db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_pages,
                                  &copied) != SQLITE_OK) {
      spdlog::warn("checkpoint_failed error=\"{}\"", sqlite3_errmsg(checkpointer_db));
    }
  }
}

SqliteEventStore::SqliteEventStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteEventStore::~SqliteEventStore() { Stop(); }

Result<std::shared_ptr<SqliteEventStore>> SqliteEventStore::Open(
    SqliteOptions options, std::shared_ptr<Metrics> metrics) {
  std::error_code ec;
  const auto parent = std::filesystem::path(options.path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Fail(ErrorCode::kUnavailable,
                  "cannot create directory " + parent.string() + ": " + ec.message());
    }
  }
  auto db = OpenConnection(options.path, options.busy_timeout, true);
  if (!db) return tl::unexpected(db.error());
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->metrics = std::move(metrics);
  impl->writer = *db;

  Statement version(impl->writer, "PRAGMA user_version");
  if (!version.ok() || sqlite3_step(version.get()) != SQLITE_ROW) {
    return Fail(ErrorCode::kUnavailable, "cannot read the event store's schema version");
  }
  const auto current = version.Int(0);
  if (current > kSchemaVersion) {
    return Fail(ErrorCode::kUnavailable,
                "event store " + impl->options.path + " has schema version " +
                    std::to_string(current) + ", newer than this stagegate understands (" +
                    std::to_string(kSchemaVersion) + "); upgrade stagegate");
  }
  if (current < kSchemaVersion) {
    if (auto r = Exec(impl->writer, kSchema); !r) {
      return Fail(ErrorCode::kUnavailable, "cannot create the event store schema: " + r.error().message);
    }
    Exec(impl->writer, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
  }
  impl->find_stmt = std::make_unique<Statement>(
      impl->writer,
      "SELECT id, received_at_ms FROM events WHERE endpoint = ?1 AND dedupe_key = ?2 "
      "ORDER BY id DESC LIMIT 1");
  impl->insert_stmt = std::make_unique<Statement>(
      impl->writer,
      "INSERT INTO events (endpoint, source, type, raw_type, model_name, model_version, "
      "from_stage, to_stage, alias, tags, text, repository, ref, git_commit, delivery_id, "
      "dedupe_key, received_at_ms, sent_at_ms, headers, verification, payload) VALUES (?1, ?2, "
      "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)");
  if (!impl->find_stmt->ok() || !impl->insert_stmt->ok()) {
    return Fail(ErrorCode::kUnavailable, "cannot prepare event store statements: " +
                                             (impl->find_stmt->ok() ? impl->insert_stmt->error()
                                                               : impl->find_stmt->error()));
  }
  auto checkpointer = OpenConnection(impl->options.path, impl->options.busy_timeout, false);
  if (!checkpointer) return tl::unexpected(checkpointer.error());
  impl->checkpointer_db = *checkpointer;
  Impl* raw = impl.get();
  // Replaces SQLite's automatic checkpoint, which would run inside the committing thread.
  sqlite3_wal_hook(raw->writer, &Impl::OnWalCommit, raw);
  raw->thread = std::thread([raw] { raw->WriterLoop(); });
  raw->checkpointer = std::thread([raw] { raw->CheckpointLoop(); });
  return std::shared_ptr<SqliteEventStore>(new SqliteEventStore(std::move(impl)));
}

void SqliteEventStore::Stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
  {
    std::lock_guard lock(impl_->checkpoint_mutex);
    impl_->checkpoint_stopping = true;
  }
  impl_->checkpoint_wake.notify_all();
  if (impl_->checkpointer.joinable()) {
    impl_->checkpointer.join();
  }
}

Awaitable<Result<AppendResult>> SqliteEventStore::Append(Event event,
                                                         std::chrono::milliseconds dedupe_window) {
  Impl* impl = impl_.get();
  PendingAppend pending{
      .tags_json = Dump(TagsToJson(event.tags)),
      .headers_json = Dump(HeadersToJson(event.headers)),
      .verification_json = Dump(json{{"scheme", event.verification.scheme},
                                     {"secret_index", event.verification.secret_index},
                                     {"signed_at_s", event.verification.signed_at_s},
                                     {"skew_s", event.verification.skew_s}}),
      .window = dedupe_window};
  pending.event = std::move(event);
  // Named, not built inside the co_await: g++ 12 destroys such temporaries twice.
  auto initiation = [impl, pending = std::move(pending)](auto handler) mutable {
    using Handler = decltype(handler);
    auto completion = std::make_unique<HandlerCompletion<Handler>>(std::move(handler));
    {
      std::lock_guard lock(impl->mutex);
      if (!impl->stopping && impl->queue.size() < impl->options.max_pending_writes) {
        pending.completion = std::move(completion);
        impl->queue.push_back(std::move(pending));
      }
    }
    if (completion) {
      completion->Complete(Fail(ErrorCode::kUnavailable,
                                impl->stopping ? "event store is shutting down"
                                               : "event store is overloaded; retry later"));
      return;
    }
    impl->wake.notify_one();
  };
  co_return co_await net::async_initiate<const net::use_awaitable_t<>&,
                                         void(Result<AppendResult>)>(std::move(initiation),
                                                                     net::use_awaitable);
}

Result<std::vector<Event>> SqliteEventStore::List(const EventFilter& filter) {
  auto reader = impl_->AcquireReader();
  if (!reader) return tl::unexpected(reader.error());
  std::string sql = std::string("SELECT ") + kColumns + " FROM events WHERE 1=1";
  if (!filter.endpoint.empty()) sql += " AND endpoint = ?1";
  if (!filter.type.empty()) sql += " AND type = ?2";
  if (!filter.model.empty()) sql += " AND model_name = ?3";
  if (!filter.version.empty()) sql += " AND model_version = ?7";
  if (!filter.alias.empty()) sql += " AND alias = ?8";
  if (filter.before_id > 0) sql += " AND id < ?4";
  if (filter.after_id) sql += " AND id > ?6";
  sql += filter.after_id ? " ORDER BY id ASC LIMIT ?5" : " ORDER BY id DESC LIMIT ?5";
  Statement s(reader->db, sql.c_str());
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, filter.endpoint);
  s.Bind(2, filter.type);
  s.Bind(3, filter.model);
  s.Bind(4, filter.before_id);
  s.Bind(5, static_cast<std::int64_t>(filter.limit));
  s.Bind(6, filter.after_id.value_or(0));
  s.Bind(7, filter.version);
  s.Bind(8, filter.alias);
  std::vector<Event> out;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back(RowToEvent(s));
  }
  if (rc != SQLITE_DONE) {
    return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(reader->db));
  }
  return out;
}

Result<std::optional<Event>> SqliteEventStore::Get(std::int64_t id) {
  auto reader = impl_->AcquireReader();
  if (!reader) return tl::unexpected(reader.error());
  const std::string sql = std::string("SELECT ") + kColumns + " FROM events WHERE id = ?1";
  Statement s(reader->db, sql.c_str());
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, id);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) {
    return std::optional<Event>(RowToEvent(s));
  }
  if (rc != SQLITE_DONE) {
    return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(reader->db));
  }
  return std::optional<Event>();
}

Result<void> SqliteEventStore::Ready() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return Fail(ErrorCode::kUnavailable, "event store is shutting down");
    if (impl_->queue.size() >= impl_->options.max_pending_writes) {
      return Fail(ErrorCode::kUnavailable, "event store write queue is full");
    }
  }
  auto reader = impl_->AcquireReader();
  if (!reader) return tl::unexpected(reader.error());
  // Probe for the write lock the way the writer takes it, but wait at most a second: a
  // readiness check must answer quickly, and a lock held that long is worth reporting.
  const auto wait = std::min<std::int64_t>(impl_->options.busy_timeout.count(), 1000);
  sqlite3_busy_timeout(reader->db, static_cast<int>(wait));
  auto probe = Exec(reader->db, "BEGIN IMMEDIATE");
  if (probe) {
    Exec(reader->db, "ROLLBACK");
  }
  sqlite3_busy_timeout(reader->db, static_cast<int>(impl_->options.busy_timeout.count()));
  if (!probe) {
    return Fail(ErrorCode::kUnavailable, "event store cannot take writes: " + probe.error().message);
  }
  return {};
}

}  // namespace stagegate::store
