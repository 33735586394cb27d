#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "orchestrator/api/events_api.hpp"
#include "orchestrator/app/commands.hpp"
#include "orchestrator/config/config_loader.hpp"
#include "orchestrator/core/units.hpp"
#include "orchestrator/server/http_server.hpp"
#include "orchestrator/server/router.hpp"
#include "orchestrator/store/sqlite_event_store.hpp"
#include "webhooks/ingress_handler.hpp"

namespace stagegate::app {
namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(5);

void PrintBanner(const ServiceConfig& config, std::uint16_t port, const std::string& program) {
  const std::string base = "http://" + config.listen_host + ":" + std::to_string(port);
  std::printf("stagegate %s listening on %s (config: %s)\n", SG_VERSION, base.c_str(),
              config.source.c_str());
  std::printf("store: %s\n", config.store.url.c_str());
  std::printf("endpoints:\n");
  const EndpointConfig* first = nullptr;
  for (const auto& e : config.endpoints) {
    std::string refs;
    for (const auto& s : e.secrets) refs += (refs.empty() ? "" : ",") + s.reference;
    std::printf("  POST %s/hooks/%-12s scheme=%-10s secrets=%s%s%s\n", base.c_str(),
                e.name.c_str(), SchemeName(e.scheme), refs.empty() ? "(unsigned)" : refs.c_str(),
                e.authorization ? " authorization=" : "",
                e.authorization ? e.authorization->reference.c_str() : "");
    if (first == nullptr || e.scheme == Scheme::kMlflow) first = &e;
  }
  if (first != nullptr) {
    std::printf("send a first event:\n  %s send --url %s/hooks/%s --scheme %s%s%s\n",
                program.c_str(), base.c_str(), first->name.c_str(), SchemeName(first->scheme),
                first->secrets.empty() ? "" : " --secret ",
                first->secrets.empty() ? "" : first->secrets.front().reference.c_str());
    std::printf("then list it:\n  curl -s %s/api/v1/events\n", base.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int Serve(const ServeOptions& options) {
  // Logs go to stderr, one logfmt-style line each; stdout carries only the banner.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("stagegate"));
  spdlog::set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l logger=%n msg=%v",
                      spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(options.log_level));

  auto config = options.config_path.empty() ? config::EmbeddedDefaultConfig(options.state_dir)
                                            : config::LoadConfigFile(options.config_path);
  if (!config) {
    std::fprintf(stderr, "stagegate: %s\n", config.error().message.c_str());
    return 1;
  }

  auto metrics = std::make_shared<Metrics>();
  auto store = store::SqliteEventStore::Open(
      store::SqliteOptions{.path = config->store.url.substr(std::string_view("sqlite:").size()),
                           .busy_timeout = config->store.busy_timeout,
                           .max_pending_writes = config->limits.max_pending_writes},
      metrics);
  if (!store) {
    std::fprintf(stderr, "stagegate: %s\n", store.error().message.c_str());
    return 1;
  }
  EventStorePtr event_store = *store;

  net::io_context io(config->io_threads);
  auto pool = std::make_shared<net::thread_pool>(2);
  auto router = std::make_shared<server::Router>();
  router->Add("/hooks/", std::make_shared<webhooks::IngressHandler>(
                             config->endpoints, event_store, metrics, [] { return UnixMillisNow(); }));
  router->Add("/api/v1/events", std::make_shared<api::EventsApi>(event_store, pool));
  auto ops = std::make_shared<api::OpsApi>(event_store, metrics, pool);
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    router->Add(path, ops);
  }

  server::HttpServer http(io, config->limits, router, metrics);
  auto port = http.Listen(config->listen_host, config->listen_port);
  if (!port) {
    std::fprintf(stderr, "stagegate: %s\n", port.error().message.c_str());
    return 1;
  }
  http.Start();
  spdlog::info("serving listen={}:{} endpoints={} store={}", config->listen_host, *port,
               config->endpoints.size(), config->store.url);
  PrintBanner(*config, *port, options.program);

  // Shutdown: stop accepting, let requests in flight get their answer (bounded), then stop.
  // A delivery whose commit finishes after the stop stays stored; its sender retries and
  // gets "duplicate": true.
  net::signal_set signals(io, SIGINT, SIGTERM);
  net::steady_timer drain(io);
  std::chrono::steady_clock::time_point deadline;
  std::function<void()> wait_for_drain = [&] {
    if (http.InFlight() == 0 || std::chrono::steady_clock::now() >= deadline) {
      io.stop();
      return;
    }
    drain.expires_after(std::chrono::milliseconds(20));
    drain.async_wait([&](const boost::system::error_code&) { wait_for_drain(); });
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("shutting_down signal={} in_flight={}", signal, http.InFlight());
    deadline = std::chrono::steady_clock::now() + kDrainTimeout;
    http.Stop();
    wait_for_drain();
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < config->io_threads; ++i) {
    threads.emplace_back([&io] { io.run(); });
  }
  io.run();
  for (auto& t : threads) t.join();
  pool->join();
  (*store)->Stop();
  return 0;
}

}  // namespace stagegate::app
