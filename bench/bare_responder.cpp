// sg_bare_responder: the baseline of the ingress benchmark. The same server::HttpServer
// (Beast, one coroutine per connection, same limits) as `stagegate serve`, with a handler
// that answers 200 {"ok":true} without verifying, parsing or storing anything.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "orchestrator/core/asio.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "orchestrator/server/http_server.hpp"
#include "orchestrator/server/http_types.hpp"

namespace stagegate::bench {
namespace {

class OkHandler final : public server::HttpHandler {
 public:
  Awaitable<server::HttpResponse> Handle(server::HttpRequest /*request*/) const override {
    co_return server::Json(200, "{\"ok\":true}\n");
  }
};

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int threads = 2;
};

void PrintUsage() {
  std::fprintf(stderr,
               "usage: sg_bare_responder [--host 127.0.0.1] [--port 0] [--threads 2]\n"
               "Answers every request with 200 {\"ok\":true} on the stagegate HTTP server.\n");
}

// Parses a whole decimal number in [min, max]; false otherwise.
bool ParseNumber(std::string_view text, long min, long max, long& out) {
  if (text.empty() || text.size() > 9) return false;
  long value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) return false;
  out = value;
  return true;
}

bool ParseArgs(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "sg_bare_responder: %s needs a value\n", argv[i]);
      return false;
    }
    const std::string_view value = argv[++i];
    long number = 0;
    if (arg == "--host") {
      options.host = std::string(value);
    } else if (arg == "--port" && ParseNumber(value, 0, 65535, number)) {
      options.port = static_cast<std::uint16_t>(number);
    } else if (arg == "--threads" && ParseNumber(value, 1, 64, number)) {
      options.threads = static_cast<int>(number);
    } else {
      std::fprintf(stderr, "sg_bare_responder: bad argument %s %s\n", argv[i - 1], argv[i]);
      return false;
    }
  }
  return true;
}

int Run(const Options& options) {
  net::io_context io(options.threads);
  server::HttpServer http(io, Limits{}, std::make_shared<OkHandler>(), nullptr);
  auto port = http.Listen(options.host, options.port);
  if (!port) {
    std::fprintf(stderr, "sg_bare_responder: %s\n", port.error().message.c_str());
    return 1;
  }
  http.Start();
  std::printf("listening on http://%s:%u\n", options.host.c_str(), static_cast<unsigned>(*port));
  std::fflush(stdout);

  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int /*signal*/) {
    if (ec) return;
    http.Stop();
    io.stop();
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < options.threads; ++i) {
    threads.emplace_back([&io] { io.run(); });
  }
  io.run();
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace
}  // namespace stagegate::bench

int main(int argc, char** argv) {
  stagegate::bench::Options options;
  if (!stagegate::bench::ParseArgs(argc, argv, options)) {
    stagegate::bench::PrintUsage();
    return 2;
  }
  return stagegate::bench::Run(options);
}
