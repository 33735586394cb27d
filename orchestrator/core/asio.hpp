#pragma once

// The only header that includes Boost.Asio's coroutine support directly.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>,
// which fails on libstdc++ 12 (chriskohlhoff/asio#944), so include it first.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace stagegate {

namespace net = boost::asio;

template <class T>
using Awaitable = net::awaitable<T>;

}  // namespace stagegate
