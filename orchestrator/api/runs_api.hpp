#pragma once

#include <memory>
#include <string>

#include <boost/asio/thread_pool.hpp>

#include "orchestrator/core/run_service.hpp"
#include "orchestrator/core/run_store.hpp"
#include "orchestrator/server/http_types.hpp"

namespace stagegate::api {

/// The runs and pipelines API (docs/api.md, docs/openapi.yaml):
///   GET  /api/v1/runs                       filters pipeline, status, model, event; cursor
///   GET  /api/v1/runs/{id}                  tasks with states, attempts, timings, outputs
///   GET  /api/v1/runs/{id}/tasks/{task}/logs[?follow=1]
///   POST /api/v1/runs/{id}/cancel
///   POST /api/v1/runs/{id}/rerun
///   GET  /api/v1/pipelines                  each pipeline's state and errors
///   POST /api/v1/pipelines/reload
///   GET  /api/v1/pipelines/{name}/runs
///   POST /api/v1/pipelines/{name}/runs      {"inputs": {...}, "event_id": N}
/// Store reads and scheduler calls run on `pool`, never on an I/O thread.
class RunsApi final : public server::HttpHandler {
 public:
  RunsApi(RunStorePtr runs, RunServicePtr service, std::shared_ptr<net::thread_pool> pool);
  Awaitable<server::HttpResponse> Handle(server::HttpRequest request) const override;

 private:
  Awaitable<server::HttpResponse> ListRuns(const server::HttpRequest& request,
                                           std::string pipeline) const;
  Awaitable<server::HttpResponse> GetRun(std::int64_t id) const;
  Awaitable<server::HttpResponse> Logs(const server::HttpRequest& request, std::int64_t id,
                                       std::string task) const;
  Awaitable<server::HttpResponse> CancelRun(std::int64_t id) const;
  Awaitable<server::HttpResponse> RerunRun(std::int64_t id) const;
  Awaitable<server::HttpResponse> ListPipelines() const;
  Awaitable<server::HttpResponse> ReloadPipelines() const;
  Awaitable<server::HttpResponse> TriggerRun(const server::HttpRequest& request,
                                             std::string pipeline) const;

  RunStorePtr runs_;
  RunServicePtr service_;
  std::shared_ptr<net::thread_pool> pool_;
};

}  // namespace stagegate::api
