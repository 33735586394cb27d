#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
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
#include "orchestrator/api/outbox_api.hpp"
#include "orchestrator/api/runs_api.hpp"
#include "orchestrator/app/commands.hpp"
#include "orchestrator/app/registries.hpp"
#include "orchestrator/config/config_loader.hpp"
#include "orchestrator/core/units.hpp"
#include "orchestrator/registry/action_runner.hpp"
#include "orchestrator/registry/reconciler.hpp"
#include "orchestrator/server/http_server.hpp"
#include "orchestrator/server/router.hpp"
#include "orchestrator/scheduler/scheduler.hpp"
#include "orchestrator/store/sqlite_event_store.hpp"
#include "orchestrator/store/sqlite_outbox_store.hpp"
#include "orchestrator/store/sqlite_run_store.hpp"
#include "runners/local/local_runner.hpp"
#include "webhooks/ingress_handler.hpp"

namespace stagegate::app {
namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(5);

// Wakes the scheduler after each durable append, so a delivery's runs start at once
// instead of at the next poll of the event log.
class WakingEventStore final : public EventStore {
 public:
  WakingEventStore(EventStorePtr inner, scheduler::Scheduler* scheduler)
      : inner_(std::move(inner)), scheduler_(scheduler) {}

  Awaitable<Result<AppendResult>> Append(Event event, std::chrono::milliseconds window) override {
    auto result = co_await inner_->Append(std::move(event), window);
    if (result && !result->duplicate) scheduler_->Wake();
    co_return result;
  }
  Result<std::vector<Event>> List(const EventFilter& filter) override { return inner_->List(filter); }
  Result<std::optional<Event>> Get(std::int64_t id) override { return inner_->Get(id); }
  Result<void> Ready() override { return inner_->Ready(); }

 private:
  EventStorePtr inner_;
  scheduler::Scheduler* scheduler_;
};

void PrintPipelines(const PipelineListing& listing) {
  std::printf("pipelines: %s (%zu)\n", listing.dir.c_str(), listing.pipelines.size());
  for (const auto& p : listing.pipelines) {
    std::string triggers;
    for (const auto& t : p.triggers) triggers += (triggers.empty() ? "" : ", ") + t;
    std::printf("  %-32s %s%s\n", p.name.c_str(), p.valid ? "valid" : "INVALID",
                p.valid ? ("  on: " + triggers).c_str() : "");
    for (const auto& e : p.errors) std::fprintf(stderr, "stagegate: %s\n", e.c_str());
  }
}

void PrintBanner(const ServiceConfig& config, std::uint16_t port, const std::string& program) {
  const std::string base = "http://" + config.listen_host + ":" + std::to_string(port);
  std::printf("stagegate %s listening on %s (config: %s)\n", SG_VERSION, base.c_str(),
              config.source.c_str());
  std::printf("store: %s\n", config.store.url.c_str());
  if (config.registries.empty()) {
    std::printf("registries: none (registry actions %s)\n",
                config.source == "embedded default" ? "are dry runs: their logs show the call"
                                                    : "fail; add registries: to the config");
  } else {
    for (const auto& r : config.registries) {
      std::printf("registry: %-12s %s %s\n", r.name.c_str(), r.dialect.c_str(), r.url.c_str());
    }
  }
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
  const std::string db_path = config->store.url.substr(std::string_view("sqlite:").size());
  auto run_store = store::SqliteRunStore::Open(db_path, config->store.busy_timeout);
  if (!run_store) {
    std::fprintf(stderr, "stagegate: %s\n", run_store.error().message.c_str());
    return 1;
  }

  // Bind first: the port (possibly chosen by the system) is part of the links in registry
  // comments. Connections are accepted only from http.Start() on.
  net::io_context io(config->io_threads);
  auto pool = std::make_shared<net::thread_pool>(2);
  auto router = std::make_shared<server::Router>();
  server::HttpServer http(io, config->limits, router, metrics);
  auto port = http.Listen(config->listen_host, config->listen_port);
  if (!port) {
    std::fprintf(stderr, "stagegate: %s\n", port.error().message.c_str());
    return 1;
  }
  const std::string public_url = !config->public_url.empty()
                                     ? config->public_url
                                     : "http://" + config->listen_host + ":" + std::to_string(*port);

  std::error_code absolute_error;
  auto local_runner = std::make_unique<runners::local::LocalRunner>(runners::local::LocalRunnerOptions{
      .root_dir = std::filesystem::absolute(config->local_runner.work_dir, absolute_error).string(),
      .max_parallel = config->local_runner.max_parallel});
  const std::string pipelines_dir =
      options.pipelines_dir.empty() ? config->pipelines.dir : options.pipelines_dir;
  // Registry actions go through the outbox; their clients make one call per attempt, since the
  // outbox itself retries and checks the registry before repeating a call that may have landed.
  std::shared_ptr<registry::RegistryActionRunner> action_runner;
  if (!config->registries.empty()) {
    auto outbox = store::SqliteOutboxStore::Open(db_path, config->store.busy_timeout);
    if (!outbox) {
      std::fprintf(stderr, "stagegate: %s\n", outbox.error().message.c_str());
      return 1;
    }
    registry::ActionRunnerOptions action_options{
        .outbox = *outbox,
        .registries = MakeRegistryClients(config->registries, registry::RetryPolicy{.max_attempts = 1}),
        .public_url = public_url,
        .log_dir = (std::filesystem::absolute(config->local_runner.work_dir, absolute_error) /
                    "registry-actions").string(),
        .metrics = metrics};
    for (const auto& e : config->endpoints) {
      if (!e.registry.empty()) action_options.endpoint_registries[e.name] = e.registry;
    }
    action_runner = std::make_shared<registry::RegistryActionRunner>(std::move(action_options));
    if (auto started = action_runner->Start(); !started) {
      std::fprintf(stderr, "stagegate: cannot read the outbox: %s\n", started.error().message.c_str());
      return 1;
    }
  }
  // The embedded default (make run) has no registry to answer: its registry actions are dry
  // runs that log the call they would make. A config file without registries: fails them.
  std::shared_ptr<registry::RegistryActionRunner> dry_run_actions;
  if (config->registries.empty() && options.config_path.empty()) {
    dry_run_actions = std::make_shared<registry::RegistryActionRunner>(registry::ActionRunnerOptions{
        .public_url = public_url,
        .log_dir = (std::filesystem::absolute(config->local_runner.work_dir, absolute_error) /
                    "registry-actions").string(),
        .dry_run = true});
  }
  scheduler::SchedulerOptions scheduler_options{
      .runs = *run_store,
      .events = *store,
      .runners = {{"local", local_runner.get()}},
      .pipelines_dir = pipelines_dir,
      .dispatch_interval_ms = 5};
  scheduler_options.action_binary = std::filesystem::read_symlink("/proc/self/exe", absolute_error).string();
  if (!options.config_path.empty()) {
    // compare --mode metrics reads the registries from it.
    scheduler_options.action_env["STAGEGATE_CONFIG"] =
        std::filesystem::absolute(options.config_path, absolute_error).string();
  }
  if (action_runner) scheduler_options.runners[scheduler::kRegistryRunner] = action_runner.get();
  if (dry_run_actions) scheduler_options.runners[scheduler::kRegistryRunner] = dry_run_actions.get();
  for (const auto& s : config->secrets) scheduler_options.secrets[s.name] = s.secret.value;
  auto scheduler = std::make_shared<scheduler::Scheduler>(std::move(scheduler_options));
  if (auto loaded = scheduler->Reload(); !loaded) {
    // Not fatal: the server still takes deliveries, and POST /api/v1/pipelines/reload picks
    // the pipelines up once the directory exists.
    std::fprintf(stderr, "stagegate: warning: %s\n", loaded.error().message.c_str());
    auto empty = std::make_shared<scheduler::Catalog>();
    empty->dir = pipelines_dir;
    scheduler->SetCatalog(std::move(empty));
  }
  if (auto recovered = scheduler->Recover(); !recovered) {
    std::fprintf(stderr, "stagegate: cannot resume runs: %s\n", recovered.error().message.c_str());
    return 1;
  }
  scheduler->Start();
  // Registries with reconcile: are polled for the events they never delivered.
  std::unique_ptr<registry::Reconciler> reconciler;
  if (std::any_of(config->registries.begin(), config->registries.end(),
                  [](const RegistryConfig& r) { return r.reconcile.has_value(); })) {
    reconciler = std::make_unique<registry::Reconciler>(
        config->registries, MakeRegistryClients(config->registries), *store,
        [] { return UnixMillisNow(); }, [s = scheduler.get()] { s->Wake(); });
    reconciler->Start();
  }
  EventStorePtr event_store = std::make_shared<WakingEventStore>(*store, scheduler.get());

  router->Add("/hooks/", std::make_shared<webhooks::IngressHandler>(
                             config->endpoints, event_store, metrics, [] { return UnixMillisNow(); }));
  router->Add("/api/v1/events", std::make_shared<api::EventsApi>(event_store, pool));
  auto runs_api = std::make_shared<api::RunsApi>(*run_store, scheduler, pool);
  router->Add("/api/v1/runs", runs_api);
  router->Add("/api/v1/pipelines", runs_api);
  router->Add("/api/v1/outbox", std::make_shared<api::OutboxApi>(action_runner, pool));
  auto ops = std::make_shared<api::OpsApi>(event_store, metrics, pool);
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    router->Add(path, ops);
  }

  http.Start();
  spdlog::info("serving listen={}:{} endpoints={} store={}", config->listen_host, *port,
               config->endpoints.size(), config->store.url);
  PrintBanner(*config, *port, options.program);
  PrintPipelines(scheduler->Pipelines());
  std::fflush(stdout);

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
  if (reconciler) reconciler->Stop();
  scheduler->Stop();
  if (action_runner) action_runner->Stop();  // a call in flight finishes; the outbox has the rest
  local_runner.reset();  // cancels jobs still running; a restart marks them lost and retries
  (*store)->Stop();
  return 0;
}

}  // namespace stagegate::app
