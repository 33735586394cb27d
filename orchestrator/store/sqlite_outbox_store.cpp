#include "orchestrator/store/sqlite_outbox_store.hpp"

#include <filesystem>
#include <functional>
#include <mutex>

#include "orchestrator/store/sqlite_util.hpp"

namespace stagegate::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  key             TEXT    NOT NULL UNIQUE,
  run_id          INTEGER NOT NULL,
  task_id         TEXT    NOT NULL,
  action          TEXT    NOT NULL,
  registry        TEXT    NOT NULL,
  request_json    TEXT    NOT NULL,
  state           TEXT    NOT NULL,
  attempts        INTEGER NOT NULL,
  last_error      TEXT    NOT NULL,
  response_json   TEXT    NOT NULL,
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  deadline_ms     INTEGER NOT NULL,
  delivered_ms    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, id);
CREATE INDEX IF NOT EXISTS outbox_run ON outbox(run_id, id);
)sql";

constexpr const char* kColumns =
    "id, key, run_id, task_id, action, registry, request_json, state, attempts, last_error, "
    "response_json, created_ms, updated_ms, next_attempt_ms, deadline_ms, delivered_ms";

OutboxEntry Row(const Statement& s) {
  OutboxEntry e;
  int c = 0;
  e.id = s.Int(c++);
  e.key = s.Text(c++);
  e.run_id = s.Int(c++);
  e.task_id = s.Text(c++);
  e.action = s.Text(c++);
  e.registry = s.Text(c++);
  e.request_json = s.Text(c++);
  e.state = ParseOutboxState(s.Text(c++)).value_or(OutboxState::kPending);
  e.attempts = static_cast<int>(s.Int(c++));
  e.last_error = s.Text(c++);
  e.response_json = s.Text(c++);
  e.created_ms = s.Int(c++);
  e.updated_ms = s.Int(c++);
  e.next_attempt_ms = s.Int(c++);
  e.deadline_ms = s.Int(c++);
  e.delivered_ms = s.Int(c++);
  return e;
}

// The columns an entry's progress changes, in this order from `first` on: the INSERT and
// the UPDATE bind them alike.
void BindProgress(Statement& s, int first, const OutboxEntry& e) {
  s.Bind(first, std::string_view(OutboxStateName(e.state)));
  s.Bind(first + 1, static_cast<std::int64_t>(e.attempts));
  s.Bind(first + 2, e.last_error);
  s.Bind(first + 3, e.response_json);
  s.Bind(first + 4, e.updated_ms);
  s.Bind(first + 5, e.next_attempt_ms);
  s.Bind(first + 6, e.deadline_ms);
  s.Bind(first + 7, e.delivered_ms);
}

}  // namespace

struct SqliteOutboxStore::Impl {
  std::mutex mutex;
  sqlite3* db = nullptr;

  ~Impl() { sqlite3_close_v2(db); }

  Result<std::vector<OutboxEntry>> Query(const std::string& where,
                                         const std::function<void(Statement&)>& bind) {
    const std::string sql = std::string("SELECT ") + kColumns + " FROM outbox " + where;
    Statement s(db, sql.c_str());
    if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
    bind(s);
    std::vector<OutboxEntry> out;
    int rc = 0;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(Row(s));
    if (rc != SQLITE_DONE) return tl::unexpected(Failed(db).error());
    return out;
  }

  Result<std::optional<OutboxEntry>> One(const std::string& where,
                                         const std::function<void(Statement&)>& bind) {
    auto rows = Query(where, bind);
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<OutboxEntry>();
    return std::optional<OutboxEntry>(std::move(rows->front()));
  }
};

SqliteOutboxStore::SqliteOutboxStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteOutboxStore::~SqliteOutboxStore() = default;

Result<std::shared_ptr<SqliteOutboxStore>> SqliteOutboxStore::Open(const std::string& path,
                                                                   std::chrono::milliseconds busy_timeout) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  auto impl = std::make_unique<Impl>();
  auto db = OpenConnection(path, busy_timeout, true, "outbox");
  if (!db) return tl::unexpected(db.error());
  impl->db = *db;
  if (auto r = Exec(impl->db, kSchema); !r) {
    return Fail(ErrorCode::kUnavailable, "cannot create the outbox table in " + path + ": " +
                                             r.error().message);
  }
  return std::shared_ptr<SqliteOutboxStore>(new SqliteOutboxStore(std::move(impl)));
}

Result<OutboxEntry> SqliteOutboxStore::Enqueue(const OutboxEntry& e) {
  std::lock_guard lock(impl_->mutex);
  Statement s(impl_->db,
              "INSERT INTO outbox (key, run_id, task_id, action, registry, request_json, "
              "created_ms, state, attempts, last_error, response_json, updated_ms, "
              "next_attempt_ms, deadline_ms, delivered_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
              "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (key) DO NOTHING");
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, e.key);
  s.Bind(2, e.run_id);
  s.Bind(3, e.task_id);
  s.Bind(4, e.action);
  s.Bind(5, e.registry);
  s.Bind(6, e.request_json);
  s.Bind(7, e.created_ms);
  BindProgress(s, 8, e);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return tl::unexpected(Failed(impl_->db).error());
  auto stored = impl_->One("WHERE key = ?1", [&](Statement& q) { q.Bind(1, e.key); });
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kInternal, "outbox entry vanished after insert: " + e.key);
  return std::move(**stored);
}

Result<void> SqliteOutboxStore::Update(const OutboxEntry& e) {
  std::lock_guard lock(impl_->mutex);
  Statement s(impl_->db,
              "UPDATE outbox SET state = ?2, attempts = ?3, last_error = ?4, response_json = ?5, "
              "updated_ms = ?6, next_attempt_ms = ?7, deadline_ms = ?8, delivered_ms = ?9 "
              "WHERE id = ?1");
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, e.id);
  BindProgress(s, 2, e);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Failed(impl_->db);
  if (sqlite3_changes(impl_->db) != 1) {
    return Fail(ErrorCode::kNotFound, "no outbox entry " + std::to_string(e.id));
  }
  return {};
}

Result<std::optional<OutboxEntry>> SqliteOutboxStore::Get(std::int64_t id) {
  std::lock_guard lock(impl_->mutex);
  return impl_->One("WHERE id = ?1", [&](Statement& q) { q.Bind(1, id); });
}

Result<std::optional<OutboxEntry>> SqliteOutboxStore::GetByKey(const std::string& key) {
  std::lock_guard lock(impl_->mutex);
  return impl_->One("WHERE key = ?1", [&](Statement& q) { q.Bind(1, key); });
}

Result<std::vector<OutboxEntry>> SqliteOutboxStore::List(const OutboxFilter& f) {
  std::lock_guard lock(impl_->mutex);
  return impl_->Query(
      "WHERE (?1 = '' OR state = ?1) AND (?2 = 0 OR run_id = ?2) AND (?3 = 0 OR id < ?3) "
      "ORDER BY id DESC LIMIT ?4",
      [&](Statement& q) {
        q.Bind(1, f.state);
        q.Bind(2, f.run_id);
        q.Bind(3, f.before_id);
        q.Bind(4, static_cast<std::int64_t>(f.limit));
      });
}

Result<std::vector<OutboxEntry>> SqliteOutboxStore::Unfinished() {
  std::lock_guard lock(impl_->mutex);
  return impl_->Query("WHERE state IN ('pending', 'sending') ORDER BY id", [](Statement&) {});
}

}  // namespace stagegate::store
