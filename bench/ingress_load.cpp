// sg_ingress_load: the load generator of the ingress benchmark.
//
// Opens C keep-alive HTTP/1.1 connections and sends pre-generated, signed (mlflow scheme)
// ~1 KiB MLflow-style deliveries, each with its own delivery id so that every request is a
// new event for stagegate. Two modes:
//   closed loop (--rate 0): each connection sends its next request as soon as the previous
//     answer arrived, for --duration seconds; measures peak throughput.
//   open loop (--rate R): each connection sends on a fixed schedule (R/C per second, the
//     connections staggered); latency counts from the scheduled send time, so a slow answer
//     that delays later sends is charged to them too (no coordinated omission).
// Prints one JSON object on stdout. Asio coroutines on one or more single-threaded
// io_contexts; the HTTP client side is a minimal Content-Length parser (all the servers under
// test answer with Content-Length).
#include "orchestrator/core/asio.hpp"  // first: includes <utility> before any Asio header

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "orchestrator/core/units.hpp"
#include "webhooks/sample_payload.hpp"
#include "webhooks/signature.hpp"

namespace stagegate::bench {
namespace {

using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string path = "/hooks/mlflow";
  std::string secret;
  std::string label = "target";
  std::string id_prefix;
  int connections = 32;
  int threads = 1;
  double duration_s = 5.0;
  double rate = 0.0;          // requests per second over all connections; 0 = closed loop
  std::size_t pool = 0;       // pre-generated requests; 0 = derived from mode
  std::size_t body_bytes = 1024;
};

// ---------------------------------------------------------------------------------------
// Arguments

void PrintUsage() {
  std::fprintf(stderr,
               "usage: sg_ingress_load --url http://HOST:PORT/PATH --secret env:NAME|VALUE\n"
               "         [--connections 32] [--duration 5] [--rate 0] [--threads 1]\n"
               "         [--pool N] [--body-bytes 1024] [--id-prefix P] [--label NAME]\n"
               "--rate 0 runs closed loop (peak); --rate R paces R requests/s over all\n"
               "connections and measures latency from each request's scheduled send time.\n");
}

bool ParseDouble(std::string_view text, double min, double max, double& out) {
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(value) || value < min ||
      value > max) {
    return false;
  }
  out = value;
  return true;
}

bool ParseUrl(std::string_view url, Options& options) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return false;
  url.remove_prefix(kScheme.size());
  const auto slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  options.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == authority.size()) return false;
  options.host = std::string(authority.substr(0, colon));
  options.port = std::string(authority.substr(colon + 1));
  return !options.host.empty();
}

Result<std::string> ResolveSecretArg(const std::string& text) {
  if (!text.starts_with("env:")) return text;
  const char* value = std::getenv(text.c_str() + 4);
  if (value == nullptr || *value == '\0') {
    return Fail(ErrorCode::kInvalidArgument, "environment variable " + text.substr(4) + " is not set");
  }
  return std::string(value);
}

bool ParseArgs(int argc, char** argv, Options& options) {
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "sg_ingress_load: %s needs a value\n", argv[i]);
      return false;
    }
    const std::string_view value = argv[++i];
    double number = 0;
    bool ok = true;
    if (arg == "--url") {
      ok = have_url = ParseUrl(value, options);
    } else if (arg == "--secret") {
      options.secret = std::string(value);
    } else if (arg == "--label") {
      options.label = std::string(value);
    } else if (arg == "--id-prefix") {
      options.id_prefix = std::string(value);
    } else if (arg == "--connections") {
      ok = ParseDouble(value, 1, 10000, number);
      options.connections = static_cast<int>(number);
    } else if (arg == "--threads") {
      ok = ParseDouble(value, 1, 64, number);
      options.threads = static_cast<int>(number);
    } else if (arg == "--duration") {
      ok = ParseDouble(value, 0.1, 3600, options.duration_s);
    } else if (arg == "--rate") {
      ok = ParseDouble(value, 0, 1e7, options.rate);
    } else if (arg == "--pool") {
      ok = ParseDouble(value, 1, 1e8, number);
      options.pool = static_cast<std::size_t>(number);
    } else if (arg == "--body-bytes") {
      ok = ParseDouble(value, 0, 1 << 20, number);
      options.body_bytes = static_cast<std::size_t>(number);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "sg_ingress_load: bad argument %s %s\n", argv[i - 1], argv[i]);
      return false;
    }
  }
  if (!have_url) {
    std::fprintf(stderr, "sg_ingress_load: --url is required\n");
    return false;
  }
  options.threads = std::min(options.threads, options.connections);
  return true;
}

// ---------------------------------------------------------------------------------------
// Requests

constexpr std::string_view kVersionMark = "@@version@@";

// An MLflow model_version.created body (Python json.dumps spelling) with a few tags and a
// description padded to about `target` bytes; the version is left as kVersionMark for each
// request to fill in.
Result<std::string> BodyTemplate(std::size_t target, std::int64_t now_ms) {
  webhooks::SampleSpec spec;
  spec.type = "model_version.created";
  spec.model = "bench-churn-classifier";
  spec.version = std::string(kVersionMark);
  spec.text = "Benchmark delivery from sg_ingress_load.";
  spec.now_ms = now_ms;
  spec.tags = {{"validation_status", "pending"},
               {"owner", "ml-platform"},
               {"framework", "sklearn"},
               {"dataset", "s3://bench/churn/2026-11"},
               {"git_sha", "6dcb09b5b57875f334f61aebed695e2e4193db5e"},
               {"mlflow.source.type", "JOB"}};
  auto body = webhooks::SamplePayload(Scheme::kMlflow, spec);
  // Pad the description to the target, counting a version of about five digits.
  const std::size_t expected = target + kVersionMark.size() - 5;
  if (body && body->size() + 1 < expected) {
    spec.text += ' ' + std::string(expected - body->size() - 1, '.');
    body = webhooks::SamplePayload(Scheme::kMlflow, spec);
  }
  return body;
}

std::string Replace(std::string_view text, std::string_view mark, std::string_view with) {
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t from = 0;
  for (auto at = text.find(mark); at != std::string_view::npos; at = text.find(mark, from)) {
    out.append(text.substr(from, at - from));
    out.append(with);
    from = at + mark.size();
  }
  out.append(text.substr(from));
  return out;
}

// Renders requests [begin, end) of the pool; each has its own delivery id and version.
void RenderRequests(const Options& options, const std::string& secret, const std::string& body_template,
                    std::int64_t timestamp_s, std::size_t begin, std::size_t end,
                    std::vector<std::string>& pool) {
  const std::string head = "POST " + options.path + " HTTP/1.1\r\nHost: " + options.host + ":" +
                           options.port + "\r\nContent-Type: application/json\r\nUser-Agent: "
                           "sg_ingress_load\r\n";
  for (std::size_t i = begin; i < end; ++i) {
    const std::string number = std::to_string(i + 1);
    const std::string delivery_id = options.id_prefix + "-" + number;
    const std::string body = Replace(body_template, kVersionMark, number);
    std::string request = head;
    for (const auto& [name, value] :
         webhooks::SignDelivery(Scheme::kMlflow, secret, delivery_id, timestamp_s, body)) {
      request += name + ": " + value + "\r\n";
    }
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    request += body;
    pool[i] = std::move(request);
  }
}

// ---------------------------------------------------------------------------------------
// The run

struct Counters {
  std::uint64_t requests = 0;  // complete responses
  std::uint64_t ok = 0;        // status 200
  std::uint64_t non_200 = 0;
  std::uint64_t errors = 0;    // connect/read/write failures, malformed responses
  std::uint64_t reconnects = 0;
  std::vector<std::int64_t> latencies_ns;  // of complete responses
};

struct Shared {
  const Options& options;
  const std::vector<std::string>& pool;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> exhausted{false};
  tcp::resolver::results_type endpoints;
  SteadyClock::time_point start;
  SteadyClock::time_point end;
};

enum class ReadOutcome { kOk, kClose, kError };

// Reads one HTTP/1.1 response framed by Content-Length. `buffer` keeps bytes read past it.
Awaitable<ReadOutcome> ReadResponse(tcp::socket& socket, std::string& buffer, int& status) {
  std::size_t header_end = std::string::npos;
  boost::system::error_code ec;
  char chunk[4096];
  for (;;) {
    header_end = buffer.find("\r\n\r\n");
    if (header_end != std::string::npos) break;
    if (buffer.size() > 64 * 1024) co_return ReadOutcome::kError;
    const std::size_t n = co_await socket.async_read_some(
        net::buffer(chunk), net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return ReadOutcome::kError;
    buffer.append(chunk, n);
  }
  const std::string_view head(buffer.data(), header_end);
  if (!head.starts_with("HTTP/1.") || head.size() < 12) co_return ReadOutcome::kError;
  status = std::atoi(std::string(head.substr(9, 3)).c_str());
  std::optional<std::size_t> content_length;
  bool close = head.starts_with("HTTP/1.0");
  std::size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos && line_start + 2 < head.size()) {
    const auto line_end = head.find("\r\n", line_start + 2);
    std::string line(head.substr(line_start + 2, line_end == std::string_view::npos
                                                     ? std::string_view::npos
                                                     : line_end - line_start - 2));
    std::transform(line.begin(), line.end(), line.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (line.starts_with("content-length:")) {
      content_length = std::strtoull(line.c_str() + 15, nullptr, 10);
    } else if (line.starts_with("connection:")) {
      close = line.find("close") != std::string::npos;
    }
    line_start = line_end;
  }
  if (!content_length) co_return ReadOutcome::kError;
  const std::size_t total = header_end + 4 + *content_length;
  while (buffer.size() < total) {
    const std::size_t n = co_await socket.async_read_some(
        net::buffer(chunk), net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return ReadOutcome::kError;
    buffer.append(chunk, n);
  }
  buffer.erase(0, total);
  co_return close ? ReadOutcome::kClose : ReadOutcome::kOk;
}

Awaitable<bool> Connect(tcp::socket& socket, const Shared& shared) {
  boost::system::error_code ec;
  if (socket.is_open()) socket.close(ec);
  co_await net::async_connect(socket, shared.endpoints, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;
  socket.set_option(tcp::no_delay(true), ec);
  co_return true;
}

// One keep-alive connection. In open loop, connection `index` of C sends at
// start + (index / C + k) * C / rate for k = 0, 1, ... while that time is before the end.
Awaitable<void> Connection(Shared& shared, int index, Counters& counters) {
  auto executor = co_await net::this_coro::executor;
  tcp::socket socket(executor);
  net::steady_timer timer(executor);
  std::string buffer;
  const Options& options = shared.options;
  const bool open_loop = options.rate > 0;
  const auto interval = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(open_loop ? options.connections / options.rate : 0.0));
  SteadyClock::time_point scheduled =
      shared.start + std::chrono::duration_cast<SteadyClock::duration>(
                         interval * (static_cast<double>(index) / options.connections));
  bool connected = co_await Connect(socket, shared);
  if (!connected) ++counters.errors;
  if (!open_loop) {
    // Closed loop: every connection starts at the common start.
    timer.expires_at(shared.start);
    boost::system::error_code ignored;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }

  for (;; scheduled += interval) {
    if (open_loop) {
      if (scheduled >= shared.end) break;
      if (SteadyClock::now() < scheduled) {
        timer.expires_at(scheduled);
        boost::system::error_code ignored;
        co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
      }
    } else if (SteadyClock::now() >= shared.end) {
      break;
    }
    const std::size_t slot = shared.next.fetch_add(1);
    if (slot >= shared.pool.size()) {
      shared.exhausted = true;
      break;
    }
    if (!connected) {
      ++counters.reconnects;
      connected = co_await Connect(socket, shared);
      if (!connected) {
        ++counters.errors;
        continue;
      }
    }
    const auto sent = open_loop ? scheduled : SteadyClock::now();
    boost::system::error_code ec;
    co_await net::async_write(socket, net::buffer(shared.pool[slot]),
                              net::redirect_error(net::use_awaitable, ec));
    int status = 0;
    const ReadOutcome outcome = ec ? ReadOutcome::kError : co_await ReadResponse(socket, buffer, status);
    if (outcome == ReadOutcome::kError) {
      ++counters.errors;
      buffer.clear();
      connected = false;
      continue;
    }
    counters.latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - sent).count());
    ++counters.requests;
    ++(status == 200 ? counters.ok : counters.non_200);
    if (outcome == ReadOutcome::kClose) {
      buffer.clear();
      connected = false;
    }
  }
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

double PercentileMs(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  const std::size_t at = std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1);
  return static_cast<double>(sorted[at]) / 1e6;
}

int Run(Options options) {
  auto secret = ResolveSecretArg(options.secret);
  if (!secret || secret->empty()) {
    std::fprintf(stderr, "sg_ingress_load: --secret: %s\n",
                 secret ? "empty secret" : secret.error().message.c_str());
    return 2;
  }
  if (options.id_prefix.empty()) {
    options.id_prefix = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(UnixMillisNow());
  }
  if (options.pool == 0) {
    // Closed loop: enough for a fast target; open loop: the schedule plus slack.
    options.pool = options.rate > 0
                       ? static_cast<std::size_t>(options.rate * options.duration_s) +
                             2 * static_cast<std::size_t>(options.connections) + 16
                       : static_cast<std::size_t>(60'000 * options.duration_s);
  }

  const std::int64_t now_ms = UnixMillisNow();
  auto body_template = BodyTemplate(options.body_bytes, now_ms);
  if (!body_template) {
    std::fprintf(stderr, "sg_ingress_load: %s\n", body_template.error().message.c_str());
    return 2;
  }
  // Pre-generate (and sign) every request before the clock starts, on two threads.
  const auto generate_start = SteadyClock::now();
  std::vector<std::string> pool(options.pool);
  {
    const std::size_t half = options.pool / 2;
    std::thread helper([&] {
      RenderRequests(options, *secret, *body_template, now_ms / 1000, 0, half, pool);
    });
    RenderRequests(options, *secret, *body_template, now_ms / 1000, half, options.pool, pool);
    helper.join();
  }
  const double generate_s =
      std::chrono::duration<double>(SteadyClock::now() - generate_start).count();

  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (int t = 0; t < options.threads; ++t) {
    contexts.push_back(std::make_unique<net::io_context>(1));
  }
  Shared shared{.options = options, .pool = pool};
  {
    tcp::resolver resolver(*contexts.front());
    boost::system::error_code ec;
    shared.endpoints = resolver.resolve(options.host, options.port, ec);
    if (ec) {
      std::fprintf(stderr, "sg_ingress_load: cannot resolve %s:%s: %s\n", options.host.c_str(),
                   options.port.c_str(), ec.message().c_str());
      return 1;
    }
  }
  // Connections are opened by the coroutines at the start; give them 100 ms to do so
  // before the schedule begins so that connect time is not counted as latency.
  shared.start = SteadyClock::now() + std::chrono::milliseconds(100);
  shared.end = shared.start + std::chrono::duration_cast<SteadyClock::duration>(
                                  std::chrono::duration<double>(options.duration_s));
  std::vector<Counters> counters(static_cast<std::size_t>(options.connections));
  for (auto& c : counters) {
    c.latencies_ns.reserve(options.pool / static_cast<std::size_t>(options.connections) + 16);
  }
  for (int c = 0; c < options.connections; ++c) {
    auto& io = *contexts[static_cast<std::size_t>(c % options.threads)];
    net::co_spawn(
        io,
Connection(shared, c, counters[static_cast<std::size_t>(c)]), net::detached);
  }
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < contexts.size(); ++t) {
    threads.emplace_back([&contexts, t] { contexts[t]->run(); });
  }
  contexts.front()->run();
  for (auto& t : threads) t.join();
  const auto finished = SteadyClock::now();
  // Closed loop runs until the end; open loop until its last answer arrived.
  const double elapsed_s = std::chrono::duration<double>(
                               (options.rate > 0 ? std::max(finished, shared.end) : finished) -
                               shared.start)
                               .count();

  Counters total;
  for (auto& c : counters) {
    total.requests += c.requests;
    total.ok += c.ok;
    total.non_200 += c.non_200;
    total.errors += c.errors;
    total.reconnects += c.reconnects;
    total.latencies_ns.insert(total.latencies_ns.end(), c.latencies_ns.begin(), c.latencies_ns.end());
  }
  std::sort(total.latencies_ns.begin(), total.latencies_ns.end());
  double mean_ms = 0;
  for (const auto v : total.latencies_ns) mean_ms += static_cast<double>(v) / 1e6;
  if (!total.latencies_ns.empty()) mean_ms /= static_cast<double>(total.latencies_ns.size());

  std::printf(
      "{\"label\":\"%s\",\"mode\":\"%s\",\"connections\":%d,\"threads\":%d,"
      "\"target_rate\":%.1f,\"duration_s\":%.3f,\"body_bytes\":%zu,\"requests\":%llu,"
      "\"ok\":%llu,\"non_200\":%llu,\"errors\":%llu,\"reconnects\":%llu,"
      "\"events_per_s\":%.1f,\"requests_per_s\":%.1f,\"latency_ms\":{\"p50\":%.3f,"
      "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},\"pool\":%zu,"
      "\"pool_exhausted\":%s,\"generate_s\":%.2f,\"id_prefix\":\"%s\"}\n",
      options.label.c_str(), options.rate > 0 ? "open" : "closed", options.connections,
      options.threads, options.rate, elapsed_s,
      Replace(*body_template, kVersionMark, "1").size(),
      static_cast<unsigned long long>(total.requests), static_cast<unsigned long long>(total.ok),
      static_cast<unsigned long long>(total.non_200), static_cast<unsigned long long>(total.errors),
      static_cast<unsigned long long>(total.reconnects),
      static_cast<double>(total.ok) / elapsed_s, static_cast<double>(total.requests) / elapsed_s,
      PercentileMs(total.latencies_ns, 50), PercentileMs(total.latencies_ns, 90),
      PercentileMs(total.latencies_ns, 99), PercentileMs(total.latencies_ns, 100), mean_ms,
      options.pool, shared.exhausted ? "true" : "false", generate_s, options.id_prefix.c_str());
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
  return stagegate::bench::Run(std::move(options));
}
