#include "orchestrator/core/metrics.hpp"

#include <string>

#include <gtest/gtest.h>

namespace stagegate {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(MetricsTest, RendersDeliveryCountersWithLabels) {
  Metrics m;
  m.CountDelivery("mlflow", "accepted");
  m.CountDelivery("mlflow", "accepted");
  m.CountDelivery("github", "unauthorized");
  const std::string text = m.Render();
  EXPECT_TRUE(HasLine(text, "# TYPE stagegate_deliveries_total counter")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_deliveries_total{endpoint=\"mlflow\",outcome=\"accepted\"} 2"))
      << text;
  EXPECT_TRUE(
      HasLine(text, "stagegate_deliveries_total{endpoint=\"github\",outcome=\"unauthorized\"} 1"))
      << text;
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics m;
  m.ObserveIngress("mlflow", 0.0004);  // le 0.0005
  m.ObserveIngress("mlflow", 0.001);   // exactly on a bound: counted in le="0.001"
  m.ObserveIngress("mlflow", 0.003);   // le 0.005
  m.ObserveIngress("mlflow", 20.0);    // only +Inf
  const std::string text = m.Render();
  const std::string p = "stagegate_ingress_latency_seconds";
  EXPECT_TRUE(HasLine(text, "# TYPE " + p + " histogram")) << text;
  EXPECT_TRUE(HasLine(text, p + "_bucket{endpoint=\"mlflow\",le=\"0.0005\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, p + "_bucket{endpoint=\"mlflow\",le=\"0.001\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, p + "_bucket{endpoint=\"mlflow\",le=\"0.0025\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, p + "_bucket{endpoint=\"mlflow\",le=\"0.005\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, p + "_bucket{endpoint=\"mlflow\",le=\"10\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, p + "_bucket{endpoint=\"mlflow\",le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(HasLine(text, p + "_count{endpoint=\"mlflow\"} 4")) << text;
  EXPECT_TRUE(HasLine(text, p + "_sum{endpoint=\"mlflow\"} 20.0044")) << text;
}

TEST(MetricsTest, RendersCommitHistogramAndCountersWithoutLabels) {
  Metrics m;
  m.ObserveCommit(0.002, 5);
  m.ObserveCommit(0.02, 3);
  m.SetConnections(7);
  const std::string text = m.Render();
  EXPECT_TRUE(HasLine(text, "stagegate_store_commit_seconds_bucket{le=\"0.001\"} 0")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_store_commit_seconds_bucket{le=\"0.0025\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_store_commit_seconds_bucket{le=\"0.025\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_store_commit_seconds_bucket{le=\"+Inf\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_store_commit_seconds_count 2")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_store_commits_total 2")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_store_committed_events_total 8")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE stagegate_http_connections gauge")) << text;
  EXPECT_TRUE(HasLine(text, "stagegate_http_connections 7")) << text;
}

TEST(MetricsTest, EveryBucketLineOfAFreshHistogramIsZero) {
  Metrics m;
  const std::string text = m.Render();
  int buckets = 0;
  for (std::size_t pos = 0; (pos = text.find("stagegate_store_commit_seconds_bucket{", pos)) !=
                            std::string::npos;
       ++pos) {
    ++buckets;
    const auto end = text.find('\n', pos);
    EXPECT_EQ(text.substr(end - 2, 2), " 0") << text.substr(pos, end - pos);
  }
  EXPECT_EQ(buckets, static_cast<int>(Histogram::kBounds.size()) + 1);
}

TEST(MetricsTest, EscapesQuotesAndBackslashesInEndpointLabels) {
  Metrics m;
  m.CountDelivery("a\"b\\c", "accepted");
  const std::string text = m.Render();
  EXPECT_TRUE(HasLine(text, "stagegate_deliveries_total{endpoint=\"a\\\"b\\\\c\",outcome=\"accepted\"} 1"))
      << text;
}

}  // namespace
}  // namespace stagegate
