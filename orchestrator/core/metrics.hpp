#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stagegate {

/// Fixed-bucket latency histogram in seconds. Observe() is lock-free and thread-safe.
class Histogram final {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,  0.05,  0.1,    0.25,  0.5,
                                                     1.0,    2.5,   5.0,    10.0};
  void Observe(double seconds);
  /// Appends Prometheus exposition lines for this histogram.
  void Render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

/// The process's metrics, rendered at /metrics in Prometheus text format 0.0.4.
/// Thread-safe: counters are created on first use under a mutex, then updated atomically.
class Metrics final {
 public:
  void CountDelivery(std::string_view endpoint, std::string_view outcome);
  void ObserveIngress(std::string_view endpoint, double seconds);
  void ObserveCommit(double seconds, std::size_t batch_size);
  void SetConnections(std::int64_t open);
  /// A connection closed at once because max_connections were open.
  void CountRefusedConnection();
  /// A registry action's round ended: outcome = delivered, confirmed (found done when
  /// checked after a lost answer), retried or dead.
  void CountRegistryAction(std::string_view registry, std::string_view action, std::string_view outcome);
  /// One registry call of an action took `seconds`.
  void ObserveRegistryCall(std::string_view registry, double seconds);
  std::string Render() const;

 private:
  Histogram& IngressHistogram(std::string_view endpoint);

  mutable std::mutex mutex_;
  // Looked up by string_view (std::less<>), so a delivery allocates only the first time its
  // endpoint and outcome are seen.
  std::map<std::string, std::map<std::string, std::atomic<std::uint64_t>, std::less<>>, std::less<>>
      deliveries_;
  std::map<std::string, Histogram, std::less<>> ingress_;
  Histogram commit_;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> committed_events_{0};
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> refused_connections_{0};
  std::map<std::string, std::atomic<std::uint64_t>, std::less<>> registry_actions_;  // by labels
  std::map<std::string, Histogram, std::less<>> registry_calls_;                     // by registry
};

}  // namespace stagegate
