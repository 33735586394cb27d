#pragma once

// Helpers shared by the unit tests: a per-test temporary directory, a scoped environment
// variable, and a bounded way to run one coroutine to completion.

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/core/asio.hpp"

namespace stagegate::test {

/// A fresh directory under the system temp dir, removed with everything in it.
class TempDir final {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-unit-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Sets (or unsets, for nullopt) an environment variable and restores it on destruction.
class ScopedEnv final {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      ::setenv(name_.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

/// Runs `awaitable` on `io` (on this thread) until it finishes or `bound` passes.
/// Returns nullopt on timeout; rethrows an exception that escaped the coroutine.
template <class T>
std::optional<T> RunAwaitable(net::io_context& io, Awaitable<T> awaitable,
                              std::chrono::milliseconds bound = std::chrono::seconds(10)) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  net::co_spawn(io, std::move(awaitable), [&](std::exception_ptr e, T value) {
    done = true;
    if (e) {
      error = e;
    } else {
      result.emplace(std::move(value));
    }
  });
  io.restart();
  auto guard = net::make_work_guard(io);
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.run_one_until(deadline);
  }
  guard.reset();
  if (error) std::rethrow_exception(error);
  return result;
}

}  // namespace stagegate::test
