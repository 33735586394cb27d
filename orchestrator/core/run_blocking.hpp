#pragma once

#include <type_traits>

#include <boost/asio/thread_pool.hpp>

#include "orchestrator/core/asio.hpp"

namespace stagegate {

/// Runs a blocking call (SQLite reads, file I/O) on `pool` and resumes the caller on its own
/// executor. The lambda is handed to co_spawn as a named function object so its captures
/// live as long as the spawned coroutine (g++ 12 destroys temporaries in co_await twice).
template <class F>
Awaitable<std::invoke_result_t<F&>> RunBlocking(net::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F&>;
  auto task = [fn = std::move(fn)]() mutable -> Awaitable<R> { co_return fn(); };
  co_return co_await net::co_spawn(pool.get_executor(), std::move(task), net::use_awaitable);
}

}  // namespace stagegate
