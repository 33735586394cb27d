#pragma once

#include <exception>
#include <string>

#include <spdlog/spdlog.h>

namespace stagegate {

/// Completion token for co_spawn: logs an exception that escaped a coroutine instead of
/// losing it (net::detached would). Used for every co_spawn outside tests.
class LogIfFailed final {
 public:
  explicit LogIfFailed(std::string name) : name_(std::move(name)) {}

  void operator()(const std::exception_ptr& error) const {
    if (!error) {
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::error("task_failed task={} error=\"{}\"", name_, e.what());
    }
  }

 private:
  std::string name_;
};

}  // namespace stagegate
