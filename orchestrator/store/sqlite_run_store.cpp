#include "orchestrator/store/sqlite_run_store.hpp"

#include <filesystem>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "orchestrator/store/sqlite_util.hpp"

namespace stagegate::store {
namespace {

using nlohmann::json;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline          TEXT    NOT NULL,
  revision          TEXT    NOT NULL,
  file              TEXT    NOT NULL,
  spec_text         TEXT    NOT NULL,
  trigger_kind      TEXT    NOT NULL,
  trigger_key       TEXT    NOT NULL,
  event_id          INTEGER NOT NULL,
  event_json        TEXT    NOT NULL,
  inputs_json       TEXT    NOT NULL,
  model             TEXT    NOT NULL,
  concurrency_group TEXT    NOT NULL,
  status            TEXT    NOT NULL,
  cancel_requested  INTEGER NOT NULL,
  rerun_of          INTEGER NOT NULL,
  detail            TEXT    NOT NULL,
  created_ms        INTEGER NOT NULL,
  started_ms        INTEGER NOT NULL,
  finished_ms       INTEGER NOT NULL,
  UNIQUE (pipeline, revision, trigger_key)
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, id);
CREATE INDEX IF NOT EXISTS runs_pipeline ON runs(pipeline, id);
CREATE INDEX IF NOT EXISTS runs_model ON runs(model, id);
CREATE INDEX IF NOT EXISTS runs_event ON runs(event_id, id);
CREATE TABLE IF NOT EXISTS tasks (
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  task_id       TEXT    NOT NULL,
  task          TEXT    NOT NULL,
  state         TEXT    NOT NULL,
  attempt       INTEGER NOT NULL,
  runner        TEXT    NOT NULL,
  external_id   TEXT    NOT NULL,
  exit_code     INTEGER NOT NULL,
  detail        TEXT    NOT NULL,
  outputs       TEXT    NOT NULL,
  log_path      TEXT    NOT NULL,
  artifacts_dir TEXT    NOT NULL,
  started_ms    INTEGER NOT NULL,
  finished_ms   INTEGER NOT NULL,
  retry_at_ms   INTEGER NOT NULL,
  deadline_ms   INTEGER NOT NULL,
  lost          INTEGER NOT NULL,
  reused        INTEGER NOT NULL,
  UNIQUE (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS dispatch_cursor (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  cursor INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_slots (
  pipeline TEXT    NOT NULL,
  cron     TEXT    NOT NULL,
  slot     INTEGER NOT NULL,
  PRIMARY KEY (pipeline, cron)
);
)sql";

constexpr const char* kRunColumns =
    "id, pipeline, revision, file, trigger_kind, trigger_key, event_id, event_json, inputs_json, "
    "model, concurrency_group, status, cancel_requested, rerun_of, detail, created_ms, "
    "started_ms, finished_ms";

constexpr const char* kTaskColumns =
    "task_id, task, state, attempt, runner, external_id, exit_code, detail, outputs, log_path, "
    "artifacts_dir, started_ms, finished_ms, retry_at_ms, deadline_ms, lost, reused";

RunRecord RowToRun(const Statement& s) {
  RunRecord r;
  int c = 0;
  r.id = s.Int(c++);
  r.pipeline = s.Text(c++);
  r.revision = s.Text(c++);
  r.file = s.Text(c++);
  r.trigger.kind = s.Text(c++);
  r.trigger.key = s.Text(c++);
  r.trigger.event_id = s.Int(c++);
  r.event_json = s.Text(c++);
  r.inputs_json = s.Text(c++);
  r.model = s.Text(c++);
  r.concurrency_group = s.Text(c++);
  r.status = ParseRunStatus(s.Text(c++)).value_or(RunStatus::kFailed);
  r.cancel_requested = s.Int(c++) != 0;
  r.rerun_of = s.Int(c++);
  r.detail = s.Text(c++);
  r.created_ms = s.Int(c++);
  r.started_ms = s.Int(c++);
  r.finished_ms = s.Int(c++);
  return r;
}

TaskRecord RowToTask(const Statement& s) {
  TaskRecord t;
  int c = 0;
  t.id = s.Text(c++);
  t.task = s.Text(c++);
  t.state = ParseTaskState(s.Text(c++)).value_or(TaskState::kFailed);
  t.attempt = static_cast<int>(s.Int(c++));
  t.runner = s.Text(c++);
  t.external_id = s.Text(c++);
  t.exit_code = static_cast<int>(s.Int(c++));
  t.detail = s.Text(c++);
  const json outputs = json::parse(s.Text(c++), nullptr, false);
  if (outputs.is_object()) {
    for (const auto& [k, v] : outputs.items()) {
      if (v.is_string()) t.outputs[k] = v.get<std::string>();
    }
  }
  t.log_path = s.Text(c++);
  t.artifacts_dir = s.Text(c++);
  t.started_ms = s.Int(c++);
  t.finished_ms = s.Int(c++);
  t.retry_at_ms = s.Int(c++);
  t.deadline_ms = s.Int(c++);
  t.lost = static_cast<int>(s.Int(c++));
  t.reused = s.Int(c++) != 0;
  return t;
}

std::string OutputsJson(const std::map<std::string, std::string>& outputs) {
  return json(outputs).dump(-1, ' ', false, json::error_handler_t::replace);
}

// While alive, commits on `db` skip the fsync when `relaxed` (WAL with synchronous=NORMAL
// writes the commit to the log: a killed process keeps it, a power loss may not).
class RelaxedSync final {
 public:
  RelaxedSync(sqlite3* db, bool relaxed) : db_(db), relaxed_(relaxed) {
    if (relaxed_) Exec(db_, "PRAGMA synchronous=NORMAL");
  }
  ~RelaxedSync() {
    if (relaxed_) Exec(db_, "PRAGMA synchronous=FULL");
  }
  RelaxedSync(const RelaxedSync&) = delete;
  RelaxedSync& operator=(const RelaxedSync&) = delete;

 private:
  sqlite3* db_;
  bool relaxed_;
};

// A transaction on the write connection that rolls back unless committed.
class Transaction final {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { begun_ = Exec(db, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (begun_ && !committed_) Exec(db_, "ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  const Result<void>& begun() const { return begun_; }
  Result<void> Commit() {
    auto r = Exec(db_, "COMMIT");
    committed_ = r.has_value();
    return r;
  }

 private:
  sqlite3* db_;
  Result<void> begun_;
  bool committed_ = false;
};

}  // namespace

struct SqliteRunStore::Impl {
  std::mutex write_mutex;
  sqlite3* writer = nullptr;
  std::mutex read_mutex;
  sqlite3* reader = nullptr;

  ~Impl() {
    upsert_task.reset();
    update_run.reset();
    sqlite3_close(reader);
    sqlite3_close(writer);
  }

  // Prepared once: a run of 10,000 tasks stores tens of thousands of task rows.
  std::unique_ptr<Statement> upsert_task;
  std::unique_ptr<Statement> update_run;

  Result<void> UpsertTask(std::int64_t run_id, const TaskRecord& t) {
    if (!upsert_task) {
      upsert_task = std::make_unique<Statement>(writer,
                "INSERT INTO tasks (run_id, task_id, task, state, attempt, runner, external_id, "
                "exit_code, detail, outputs, log_path, artifacts_dir, started_ms, finished_ms, "
                "retry_at_ms, deadline_ms, lost, reused) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                "?17, ?18) ON CONFLICT (run_id, task_id) DO UPDATE SET task = excluded.task, "
                "state = excluded.state, attempt = excluded.attempt, runner = excluded.runner, "
                "external_id = excluded.external_id, exit_code = excluded.exit_code, "
                "detail = excluded.detail, outputs = excluded.outputs, "
                "log_path = excluded.log_path, artifacts_dir = excluded.artifacts_dir, "
                "started_ms = excluded.started_ms, finished_ms = excluded.finished_ms, "
                "retry_at_ms = excluded.retry_at_ms, deadline_ms = excluded.deadline_ms, "
                "lost = excluded.lost, reused = excluded.reused");
    }
    Statement& s = *upsert_task;
    if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
    s.Reset();
    const std::string outputs = OutputsJson(t.outputs);
    s.Bind(1, run_id);
    s.Bind(2, t.id);
    s.Bind(3, t.task);
    s.Bind(4, std::string_view(TaskStateName(t.state)));
    s.Bind(5, std::int64_t{t.attempt});
    s.Bind(6, t.runner);
    s.Bind(7, t.external_id);
    s.Bind(8, std::int64_t{t.exit_code});
    s.Bind(9, t.detail);
    s.Bind(10, outputs);
    s.Bind(11, t.log_path);
    s.Bind(12, t.artifacts_dir);
    s.Bind(13, t.started_ms);
    s.Bind(14, t.finished_ms);
    s.Bind(15, t.retry_at_ms);
    s.Bind(16, t.deadline_ms);
    s.Bind(17, std::int64_t{t.lost});
    s.Bind(18, std::int64_t{t.reused ? 1 : 0});
    const int rc = sqlite3_step(s.get());
    s.Reset();  // releases the bound strings, which are about to go away
    if (rc != SQLITE_DONE) return Failed(writer);
    return {};
  }

  // Inside a transaction.
  Result<CreatedRun> Insert(const RunRecord& r) {
    {
      Statement find(writer,
                     "SELECT id FROM runs WHERE pipeline = ?1 AND revision = ?2 AND trigger_key = ?3");
      if (!find.ok()) return Fail(ErrorCode::kUnavailable, find.error());
      find.Bind(1, r.pipeline);
      find.Bind(2, r.revision);
      find.Bind(3, r.trigger.key);
      const int rc = sqlite3_step(find.get());
      if (rc == SQLITE_ROW) return CreatedRun{.id = find.Int(0), .created = false};
      if (rc != SQLITE_DONE) return tl::unexpected(Failed(writer).error());
    }
    Statement s(writer,
                "INSERT INTO runs (pipeline, revision, file, spec_text, trigger_kind, trigger_key, "
                "event_id, event_json, inputs_json, model, concurrency_group, status, "
                "cancel_requested, rerun_of, detail, created_ms, started_ms, finished_ms) VALUES "
                "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
    if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
    s.Bind(1, r.pipeline);
    s.Bind(2, r.revision);
    s.Bind(3, r.file);
    s.Bind(4, r.spec_text);
    s.Bind(5, r.trigger.kind);
    s.Bind(6, r.trigger.key);
    s.Bind(7, r.trigger.event_id);
    s.Bind(8, r.event_json);
    s.Bind(9, r.inputs_json);
    s.Bind(10, r.model);
    s.Bind(11, r.concurrency_group);
    s.Bind(12, std::string_view(RunStatusName(r.status)));
    s.Bind(13, std::int64_t{r.cancel_requested ? 1 : 0});
    s.Bind(14, r.rerun_of);
    s.Bind(15, r.detail);
    s.Bind(16, r.created_ms);
    s.Bind(17, r.started_ms);
    s.Bind(18, r.finished_ms);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return tl::unexpected(Failed(writer).error());
    const std::int64_t id = sqlite3_last_insert_rowid(writer);
    for (const auto& t : r.tasks) {
      if (auto u = UpsertTask(id, t); !u) return tl::unexpected(u.error());
    }
    return CreatedRun{.id = id, .created = true};
  }

  Result<std::vector<TaskRecord>> Tasks(sqlite3* db, std::int64_t run_id) {
    const std::string sql =
        std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE run_id = ?1 ORDER BY rowid";
    Statement s(db, sql.c_str());
    if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
    s.Bind(1, run_id);
    std::vector<TaskRecord> out;
    int rc = 0;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(RowToTask(s));
    if (rc != SQLITE_DONE) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(db));
    return out;
  }
};

SqliteRunStore::SqliteRunStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteRunStore::~SqliteRunStore() = default;

Result<std::shared_ptr<SqliteRunStore>> SqliteRunStore::Open(const std::string& path,
                                                             std::chrono::milliseconds busy_timeout) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  auto impl = std::make_unique<Impl>();
  auto writer = OpenConnection(path, busy_timeout, true, "run store");
  if (!writer) return tl::unexpected(writer.error());
  impl->writer = *writer;
  if (auto r = Exec(impl->writer, kSchema); !r) {
    return Fail(ErrorCode::kUnavailable, "cannot create the run tables in " + path + ": " +
                                             r.error().message);
  }
  auto reader = OpenConnection(path, busy_timeout, false, "run store");
  if (!reader) return tl::unexpected(reader.error());
  impl->reader = *reader;
  return std::shared_ptr<SqliteRunStore>(new SqliteRunStore(std::move(impl)));
}

Result<CreatedRun> SqliteRunStore::CreateRun(const RunRecord& run) {
  std::lock_guard lock(impl_->write_mutex);
  Transaction tx(impl_->writer);
  if (!tx.begun()) return tl::unexpected(tx.begun().error());
  auto created = impl_->Insert(run);
  if (!created) return created;
  if (auto c = tx.Commit(); !c) return tl::unexpected(c.error());
  return created;
}

Result<void> SqliteRunStore::Dispatch(const std::vector<RunRecord>& runs, std::int64_t cursor) {
  std::lock_guard lock(impl_->write_mutex);
  // No fsync needed: what this writes is derived from durable events. Lost to a power cut,
  // the cursor is older after the restart and the same events create the same runs again
  // (their keys are unique); and the next flushed commit, such as the one that stores a
  // task as queued before it starts, makes this one durable too (the WAL is sequential).
  RelaxedSync relaxed(impl_->writer, true);
  Transaction tx(impl_->writer);
  if (!tx.begun()) return tx.begun();
  for (const auto& run : runs) {
    if (auto created = impl_->Insert(run); !created) return tl::unexpected(created.error());
  }
  Statement s(impl_->writer,
              "INSERT INTO dispatch_cursor (id, cursor) VALUES (1, ?1) "
              "ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor");
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, cursor);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Failed(impl_->writer);
  return tx.Commit();
}

Result<std::int64_t> SqliteRunStore::DispatchCursor() {
  std::lock_guard lock(impl_->read_mutex);
  Statement s(impl_->reader, "SELECT cursor FROM dispatch_cursor WHERE id = 1");
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return s.Int(0);
  if (rc != SQLITE_DONE) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(impl_->reader));
  return std::int64_t{0};
}

Result<std::optional<std::int64_t>> SqliteRunStore::ScheduleSlot(const std::string& pipeline,
                                                                 const std::string& cron) {
  std::lock_guard lock(impl_->read_mutex);
  Statement s(impl_->reader, "SELECT slot FROM schedule_slots WHERE pipeline = ?1 AND cron = ?2");
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, pipeline);
  s.Bind(2, cron);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return std::optional<std::int64_t>(s.Int(0));
  if (rc != SQLITE_DONE) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(impl_->reader));
  return std::optional<std::int64_t>();
}

Result<void> SqliteRunStore::FireSchedule(const std::string& pipeline, const std::string& cron,
                                          std::int64_t slot, const std::optional<RunRecord>& run) {
  std::lock_guard lock(impl_->write_mutex);
  Transaction tx(impl_->writer);
  if (!tx.begun()) return tx.begun();
  if (run) {
    if (auto created = impl_->Insert(*run); !created) return tl::unexpected(created.error());
  }
  Statement s(impl_->writer,
              "INSERT INTO schedule_slots (pipeline, cron, slot) VALUES (?1, ?2, ?3) "
              "ON CONFLICT (pipeline, cron) DO UPDATE SET slot = excluded.slot");
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, pipeline);
  s.Bind(2, cron);
  s.Bind(3, slot);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Failed(impl_->writer);
  return tx.Commit();
}

Result<void> SqliteRunStore::Save(const std::vector<RunChange>& changes, bool flush) {
  if (changes.empty()) return {};
  std::lock_guard lock(impl_->write_mutex);
  RelaxedSync mode(impl_->writer, !flush);
  Transaction tx(impl_->writer);
  if (!tx.begun()) return tx.begun();
  if (!impl_->update_run) {
    impl_->update_run = std::make_unique<Statement>(
        impl_->writer,
        "UPDATE runs SET status = ?2, detail = ?3, started_ms = ?4, finished_ms = ?5, "
        "cancel_requested = MAX(cancel_requested, ?6) WHERE id = ?1");
  }
  Statement& s = *impl_->update_run;
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  for (const auto& change : changes) {
    s.Reset();
    s.Bind(1, change.run_id);
    s.Bind(2, std::string_view(RunStatusName(change.status)));
    s.Bind(3, change.detail);
    s.Bind(4, change.started_ms);
    s.Bind(5, change.finished_ms);
    s.Bind(6, std::int64_t{change.cancel_requested ? 1 : 0});
    const int rc = sqlite3_step(s.get());
    s.Reset();
    if (rc != SQLITE_DONE) return Failed(impl_->writer);
    for (const auto& t : change.tasks) {
      if (auto u = impl_->UpsertTask(change.run_id, t); !u) return u;
    }
  }
  return tx.Commit();
}

Result<RunStatus> SqliteRunStore::RequestCancel(std::int64_t id) {
  std::lock_guard lock(impl_->write_mutex);
  Transaction tx(impl_->writer);
  if (!tx.begun()) return tl::unexpected(tx.begun().error());
  Statement find(impl_->writer, "SELECT status FROM runs WHERE id = ?1");
  if (!find.ok()) return Fail(ErrorCode::kUnavailable, find.error());
  find.Bind(1, id);
  const int rc = sqlite3_step(find.get());
  if (rc == SQLITE_DONE) return Fail(ErrorCode::kNotFound, "no run with id " + std::to_string(id));
  if (rc != SQLITE_ROW) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(impl_->writer));
  const RunStatus status = ParseRunStatus(find.Text(0)).value_or(RunStatus::kFailed);
  if (IsFinished(status)) return status;
  Statement s(impl_->writer, "UPDATE runs SET cancel_requested = 1 WHERE id = ?1");
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, id);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(impl_->writer));
  if (auto c = tx.Commit(); !c) return tl::unexpected(c.error());
  return status;
}

Result<std::vector<RunRecord>> SqliteRunStore::LoadActive(std::int64_t after_id) {
  std::lock_guard lock(impl_->read_mutex);
  sqlite3* db = impl_->reader;
  const std::string sql = std::string("SELECT ") + kRunColumns + ", spec_text FROM runs " +
                          "WHERE id > ?1 AND status IN ('queued', 'running') ORDER BY id";
  Statement s(db, sql.c_str());
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, after_id);
  std::vector<RunRecord> out;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back(RowToRun(s));
    out.back().spec_text = s.Text(18);
  }
  if (rc != SQLITE_DONE) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(db));
  for (auto& run : out) {
    auto tasks = impl_->Tasks(db, run.id);
    if (!tasks) return tl::unexpected(tasks.error());
    run.tasks = std::move(*tasks);
  }
  return out;
}

Result<std::vector<RunRecord>> SqliteRunStore::List(const RunFilter& filter) {
  std::lock_guard lock(impl_->read_mutex);
  sqlite3* db = impl_->reader;
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE 1=1";
  if (!filter.pipeline.empty()) sql += " AND pipeline = ?1";
  if (!filter.status.empty()) sql += " AND status = ?2";
  if (!filter.model.empty()) sql += " AND model = ?3";
  if (filter.event_id > 0) sql += " AND event_id = ?4";
  if (filter.before_id > 0) sql += " AND id < ?5";
  sql += " ORDER BY id DESC LIMIT ?6";
  Statement s(db, sql.c_str());
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, filter.pipeline);
  s.Bind(2, filter.status);
  s.Bind(3, filter.model);
  s.Bind(4, filter.event_id);
  s.Bind(5, filter.before_id);
  s.Bind(6, std::int64_t{filter.limit});
  std::vector<RunRecord> out;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(RowToRun(s));
  if (rc != SQLITE_DONE) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(db));
  return out;
}

Result<std::optional<RunRecord>> SqliteRunStore::Get(std::int64_t id) {
  std::lock_guard lock(impl_->read_mutex);
  sqlite3* db = impl_->reader;
  const std::string sql = std::string("SELECT ") + kRunColumns + ", spec_text FROM runs WHERE id = ?1";
  Statement s(db, sql.c_str());
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, id);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<RunRecord>();
  if (rc != SQLITE_ROW) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(db));
  RunRecord run = RowToRun(s);
  run.spec_text = s.Text(18);
  auto tasks = impl_->Tasks(db, id);
  if (!tasks) return tl::unexpected(tasks.error());
  run.tasks = std::move(*tasks);
  return std::optional<RunRecord>(std::move(run));
}

Result<std::optional<TaskRecord>> SqliteRunStore::GetTask(std::int64_t run_id,
                                                          const std::string& task_id) {
  std::lock_guard lock(impl_->read_mutex);
  sqlite3* db = impl_->reader;
  const std::string sql =
      std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE run_id = ?1 AND task_id = ?2";
  Statement s(db, sql.c_str());
  if (!s.ok()) return Fail(ErrorCode::kUnavailable, s.error());
  s.Bind(1, run_id);
  s.Bind(2, task_id);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<TaskRecord>();
  if (rc != SQLITE_ROW) return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(db));
  return std::optional<TaskRecord>(RowToTask(s));
}

}  // namespace stagegate::store
