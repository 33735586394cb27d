#include "orchestrator/core/metrics.hpp"

#include <cmath>
#include <cstdio>

namespace stagegate {
namespace {

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Label values are operator-chosen endpoint names; escape what the text format requires.
std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Histogram::Observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) {
    ++i;
  }
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e6)),
                        std::memory_order_relaxed);
}

void Histogram::Render(std::string& out, const std::string& name,
                       const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name + "_bucket{" + labels + sep + "le=\"" + FormatDouble(kBounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " +
         FormatDouble(static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_.load(std::memory_order_relaxed)) +
         "\n";
}

void Metrics::CountDelivery(std::string_view endpoint, std::string_view outcome) {
  std::lock_guard lock(mutex_);
  auto by_endpoint = deliveries_.find(endpoint);
  if (by_endpoint == deliveries_.end()) {
    by_endpoint = deliveries_.try_emplace(std::string(endpoint)).first;
  }
  auto counter = by_endpoint->second.find(outcome);
  if (counter == by_endpoint->second.end()) {
    counter = by_endpoint->second.try_emplace(std::string(outcome)).first;
  }
  counter->second.fetch_add(1, std::memory_order_relaxed);
}

Histogram& Metrics::IngressHistogram(std::string_view endpoint) {
  std::lock_guard lock(mutex_);
  auto it = ingress_.find(endpoint);
  if (it == ingress_.end()) {
    it = ingress_.try_emplace(std::string(endpoint)).first;
  }
  return it->second;  // std::map never moves its nodes, so the reference stays valid
}

void Metrics::ObserveIngress(std::string_view endpoint, double seconds) {
  IngressHistogram(endpoint).Observe(seconds);
}

void Metrics::ObserveCommit(double seconds, std::size_t batch_size) {
  commit_.Observe(seconds);
  commits_.fetch_add(1, std::memory_order_relaxed);
  committed_events_.fetch_add(batch_size, std::memory_order_relaxed);
}

void Metrics::SetConnections(std::int64_t open) { connections_.store(open); }

void Metrics::CountRefusedConnection() {
  refused_connections_.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountRegistryAction(std::string_view registry, std::string_view action,
                                  std::string_view outcome) {
  const std::string labels = "registry=\"" + EscapeLabel(std::string(registry)) + "\",action=\"" +
                             EscapeLabel(std::string(action)) + "\",outcome=\"" + std::string(outcome) + "\"";
  std::lock_guard lock(mutex_);
  registry_actions_[labels].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::ObserveRegistryCall(std::string_view registry, double seconds) {
  Histogram* h = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto it = registry_calls_.find(registry);
    if (it == registry_calls_.end()) it = registry_calls_.try_emplace(std::string(registry)).first;
    h = &it->second;
  }
  h->Observe(seconds);
}

std::string Metrics::Render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  out += "# HELP stagegate_deliveries_total Webhook deliveries by endpoint and outcome.\n";
  out += "# TYPE stagegate_deliveries_total counter\n";
  for (const auto& [endpoint, outcomes] : deliveries_) {
    for (const auto& [outcome, value] : outcomes) {
      out += "stagegate_deliveries_total{endpoint=\"" + EscapeLabel(endpoint) + "\",outcome=\"" +
             outcome + "\"} " + std::to_string(value.load(std::memory_order_relaxed)) + "\n";
    }
  }
  out += "# HELP stagegate_ingress_latency_seconds Time from request read to response, per endpoint.\n";
  out += "# TYPE stagegate_ingress_latency_seconds histogram\n";
  for (const auto& [endpoint, histogram] : ingress_) {
    histogram.Render(out, "stagegate_ingress_latency_seconds",
                     "endpoint=\"" + EscapeLabel(endpoint) + "\"");
  }
  out += "# HELP stagegate_store_commit_seconds Duration of one group commit of the event store.\n";
  out += "# TYPE stagegate_store_commit_seconds histogram\n";
  commit_.Render(out, "stagegate_store_commit_seconds", "");
  out += "# HELP stagegate_store_commits_total Group commits of the event store.\n";
  out += "# TYPE stagegate_store_commits_total counter\n";
  out += "stagegate_store_commits_total " + std::to_string(commits_.load()) + "\n";
  out += "# HELP stagegate_store_committed_events_total Events written by group commits.\n";
  out += "# TYPE stagegate_store_committed_events_total counter\n";
  out += "stagegate_store_committed_events_total " + std::to_string(committed_events_.load()) + "\n";
  out += "# HELP stagegate_http_connections Open HTTP connections.\n";
  out += "# TYPE stagegate_http_connections gauge\n";
  out += "stagegate_http_connections " + std::to_string(connections_.load()) + "\n";
  out += "# HELP stagegate_http_refused_connections_total Connections refused at max_connections.\n";
  out += "# TYPE stagegate_http_refused_connections_total counter\n";
  out += "stagegate_http_refused_connections_total " + std::to_string(refused_connections_.load()) +
         "\n";
  out += "# HELP stagegate_registry_actions_total Rounds of registry actions by outcome.\n";
  out += "# TYPE stagegate_registry_actions_total counter\n";
  for (const auto& [labels, value] : registry_actions_) {
    out += "stagegate_registry_actions_total{" + labels + "} " +
           std::to_string(value.load(std::memory_order_relaxed)) + "\n";
  }
  out += "# HELP stagegate_registry_call_seconds Duration of one registry call of an action.\n";
  out += "# TYPE stagegate_registry_call_seconds histogram\n";
  for (const auto& [registry, histogram] : registry_calls_) {
    histogram.Render(out, "stagegate_registry_call_seconds", "registry=\"" + EscapeLabel(registry) + "\"");
  }
  return out;
}

}  // namespace stagegate
