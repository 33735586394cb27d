#pragma once
// SQLite helpers shared by the stores in this folder; not part of any public interface.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "orchestrator/core/result.hpp"

namespace stagegate::store {

// RAII for statements; the connection outlives them.
class Statement final {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      error_ = sqlite3_errmsg(db);
      stmt_ = nullptr;
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  const std::string& error() const { return error_; }
  sqlite3_stmt* get() const { return stmt_; }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  void BindBlob(int i, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  }
  void Bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::string Blob(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(static_cast<const char*>(p),
                                      static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string error_;
};

/// Runs SQL without results; kUnavailable with SQLite's message on failure.
Result<void> Exec(sqlite3* db, const char* sql);

/// kUnavailable with the connection's last SQLite error message.
inline Result<void> Failed(sqlite3* db) { return Fail(ErrorCode::kUnavailable, sqlite3_errmsg(db)); }

/// Opens a connection in WAL mode with synchronous=FULL, so that every COMMIT survives a
/// killed process and a power loss. `what` names the database in error messages.
Result<sqlite3*> OpenConnection(const std::string& path, std::chrono::milliseconds busy_timeout,
                                bool create, const char* what = "event store");

}  // namespace stagegate::store
