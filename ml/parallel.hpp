#pragma once

#include <algorithm>
#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

namespace stagegate::ml {

/// Threads for `items` independent items: `requested`, or one per core when 0; never more
/// than the items, at least one.
inline std::size_t WorkerCount(std::size_t items, unsigned requested = 0) {
  const std::size_t cores =
      requested != 0 ? requested : std::max(1U, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min(items, cores));
}

/// Runs `work` on `threads` threads at once, this one included, and waits for all of them.
/// When no further thread can be started, the ones running (at least this one) do it all, so
/// `work` must take its items from a shared counter until none are left.
template <class Work>
void RunWorkers(std::size_t threads, const Work& work) {
  std::vector<std::thread> pool;
  try {
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  } catch (const std::system_error&) {  // fewer threads: the others take their share
  }
  work();
  for (auto& thread : pool) thread.join();
}

}  // namespace stagegate::ml
