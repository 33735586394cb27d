#include "orchestrator/store/sqlite_util.hpp"

namespace stagegate::store {

Result<void> Exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    return Fail(ErrorCode::kUnavailable, text);
  }
  return {};
}

Result<sqlite3*> OpenConnection(const std::string& path, std::chrono::milliseconds busy_timeout,
                                bool create, const char* what) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kUnavailable, std::string("cannot open ") + what + " " + path + ": " + message);
  }
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  // WAL lets readers run beside the writer; FULL makes every COMMIT fsync the WAL, so an
  // acknowledged event survives power loss as well as a killed process.
  // A larger page cache and memory-mapped reads keep index lookups of the dedupe check from
  // turning into pread calls as the table grows.
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON", "PRAGMA cache_size=-32768",
                             "PRAGMA mmap_size=268435456"}) {
    if (auto r = Exec(db, pragma); !r) {
      sqlite3_close(db);
      return Fail(ErrorCode::kUnavailable,
                  std::string("cannot configure ") + what + " " + path + ": " + r.error().message);
    }
  }
  return db;
}

}  // namespace stagegate::store
