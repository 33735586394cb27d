#include "orchestrator/server/http_server.hpp"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "orchestrator/server/http_client.hpp"
#include "orchestrator/server/router.hpp"
#include "orchestrator/store/sqlite_event_store.hpp"
#include "tests/unit/support/test_support.hpp"
#include "webhooks/ingress_handler.hpp"
#include "webhooks/signature.hpp"

namespace stagegate::server {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::int64_t kNowMs = 1'700'000'000'000;
constexpr std::int64_t kNowS = kNowMs / 1000;
constexpr auto kTimeout = std::chrono::seconds(10);

class Pong final : public HttpHandler {
 public:
  Awaitable<HttpResponse> Handle(HttpRequest request) const override {
    co_return HttpResponse{.status = 200, .content_type = "text/plain",
                           .body = "pong " + request.method + " " + request.Query("q")};
  }
};

// HttpServer + Router + IngressHandler + SqliteEventStore on 127.0.0.1:0, with two io
// threads; the test thread is the client.
class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteEventStore::Open(
        store::SqliteOptions{.path = dir_.File("events.db")}, metrics_);
    ASSERT_TRUE(store) << store.error().message;
    store_ = *store;

    EndpointConfig ml;
    ml.name = "mlflow";
    ml.scheme = Scheme::kMlflow;
    ml.secrets = {Secret{"env:ML", "ml-secret"}};
    auto ingress = std::make_shared<webhooks::IngressHandler>(
        std::vector<EndpointConfig>{ml}, store_, metrics_, [] { return kNowMs; });
    auto router = std::make_shared<Router>();
    router->Add("/hooks", ingress);
    router->Add("/ping", std::make_shared<Pong>());

    Limits limits;
    limits.max_body_bytes = 4096;
    server_ = std::make_unique<HttpServer>(io_, limits, router, metrics_);
    const auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    ASSERT_NE(*port, 0);
    base_ = "http://127.0.0.1:" + std::to_string(*port);
    server_->Start();
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { io_.run_for(std::chrono::seconds(60)); });
    }
  }

  // Graceful: stop accepting and let the io threads run out of work once every client
  // connection has closed (each HttpRequestBlocking closes its own), bounded by run_for.
  void TearDown() override {
    if (server_) server_->Stop();
    guard_.reset();
    for (auto& t : threads_) t.join();
    server_.reset();
    if (store_) store_->Stop();
  }

  ClientResponse Request(const std::string& method, const std::string& target,
                         const HeaderList& headers = {}, const std::string& body = "") {
    auto r = HttpRequestBlocking(method, base_ + target, headers, body, kTimeout);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : ClientResponse{};
  }

  ClientResponse PostSigned(const std::string& delivery_id, const std::string& body) {
    HeaderList headers =
        webhooks::SignDelivery(Scheme::kMlflow, "ml-secret", delivery_id, kNowS, body);
    headers.emplace_back("Content-Type", "application/json");
    return Request("POST", "/hooks/mlflow", headers, body);
  }

  static std::string Header(const ClientResponse& r, std::string_view name) {
    for (const auto& [key, value] : r.headers) {
      if (EqualsIgnoreCase(key, name)) return value;
    }
    return "";
  }

  static std::string ErrorMessage(const ClientResponse& r) {
    const json body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) {
      return "<not a JSON error: " + r.body + ">";
    }
    return body["error"].value("message", "<no message>");
  }

  test::TempDir dir_;
  std::shared_ptr<Metrics> metrics_ = std::make_shared<Metrics>();
  std::shared_ptr<store::SqliteEventStore> store_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;
  std::vector<std::thread> threads_;
  std::string base_;
};

const std::string kBody =
    R"({"entity": "model_version", "action": "created", "timestamp": "2023-11-14T22:13:20.000000+00:00", "data": {"name": "churn", "version": "4", "source": "models:/churn/4", "run_id": null, "tags": {}, "description": null}})";

TEST_F(HttpServerTest, SignedDeliveryIsStoredAndAcknowledged) {
  const auto r = PostSigned("d-1", kBody);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Header(r, "Content-Type"), "application/json");
  const json body = json::parse(r.body);
  ASSERT_TRUE(body["event_id"].is_number_integer()) << r.body;
  EXPECT_GT(body["event_id"].get<std::int64_t>(), 0);
  EXPECT_EQ(body["duplicate"], false);
  EXPECT_EQ(body["type"], "model_version.created");

  // Acknowledged means committed: the event is readable now.
  const auto stored = store_->Get(body["event_id"].get<std::int64_t>());
  ASSERT_TRUE(stored && stored->has_value());
  EXPECT_EQ((*stored)->payload, kBody);
  EXPECT_EQ((*stored)->model_name, "churn");
  EXPECT_EQ((*stored)->model_version, "4");
  EXPECT_EQ((*stored)->delivery_id, "d-1");
  EXPECT_EQ(webhooks::FindHeader((*stored)->headers, "X-MLflow-Signature"), "[redacted]");
}

TEST_F(HttpServerTest, ResendIsADuplicateOfTheFirstEvent) {
  const auto first = PostSigned("d-2", kBody);
  const auto second = PostSigned("d-2", kBody);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(second.status, 200) << second.body;
  const json a = json::parse(first.body);
  const json b = json::parse(second.body);
  EXPECT_EQ(b["duplicate"], true);
  EXPECT_EQ(b["event_id"], a["event_id"]);
  const auto third = PostSigned("d-3", kBody);
  EXPECT_EQ(json::parse(third.body)["duplicate"], false);
  EXPECT_NE(json::parse(third.body)["event_id"], a["event_id"]);
}

TEST_F(HttpServerTest, UnsignedDeliveryIs401WithAJsonMessage) {
  const auto r = Request("POST", "/hooks/mlflow", {{"Content-Type", "application/json"}}, kBody);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(ErrorMessage(r), "missing X-MLflow-Delivery-Id header");
  const auto listed = store_->List(EventFilter{});
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST_F(HttpServerTest, WrongSecretIs401) {
  const HeaderList headers =
      webhooks::SignDelivery(Scheme::kMlflow, "not-the-secret", "d-4", kNowS, kBody);
  const auto r = Request("POST", "/hooks/mlflow", headers, kBody);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(ErrorMessage(r).find("X-MLflow-Signature"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("ml-secret"), std::string::npos);
}

TEST_F(HttpServerTest, SignedGarbageIs400) {
  const auto r = PostSigned("d-5", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorMessage(r), "body is not valid JSON");
}

TEST_F(HttpServerTest, UnknownEndpointAndUnknownRouteAre404) {
  const auto hook = PostSigned("d-6", kBody);  // sanity: the endpoint exists
  EXPECT_EQ(hook.status, 200);
  const auto r = Request("POST", "/hooks/nope", {}, "{}");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorMessage(r), "no webhook endpoint 'nope'; configured endpoints: mlflow");
  const auto route = Request("GET", "/nowhere");
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(ErrorMessage(route), "no route for GET /nowhere");
}

TEST_F(HttpServerTest, GetOnAWebhookIs405WithAllowPost) {
  const auto r = Request("GET", "/hooks/mlflow");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "POST");
  EXPECT_NE(ErrorMessage(r).find("POST"), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, OversizedBodyIs413) {
  const auto r = PostSigned("d-7", std::string(5000, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(ErrorMessage(r).find("4096"), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, RouterPassesQueryToOtherHandlers) {
  const auto r = Request("GET", "/ping?q=a%20b");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Header(r, "Content-Type"), "text/plain");
  EXPECT_EQ(r.body, "pong GET a b");
}

TEST_F(HttpServerTest, MetricsCountDeliveryOutcomes) {
  PostSigned("d-8", kBody);
  PostSigned("d-8", kBody);
  Request("POST", "/hooks/mlflow", {}, kBody);
  const std::string text = metrics_->Render();
  EXPECT_NE(text.find("stagegate_deliveries_total{endpoint=\"mlflow\",outcome=\"accepted\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("stagegate_deliveries_total{endpoint=\"mlflow\",outcome=\"duplicate\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(
      text.find("stagegate_deliveries_total{endpoint=\"mlflow\",outcome=\"unauthorized\"} 1"),
      std::string::npos) << text;
  EXPECT_NE(text.find("stagegate_ingress_latency_seconds_count{endpoint=\"mlflow\"} 3"),
            std::string::npos) << text;
}

// serve.cpp destroys the HttpServer before the io_context. An idle keep-alive connection's
// coroutine is then destroyed with the io_context; its Guard must still find Impl alive.
// (With `self` declared after `guard` in Serve, ASan reports a heap-use-after-free here.)
TEST(HttpServerShutdownTest, DestroyingTheIoContextWithAnOpenConnectionIsSafe) {
  auto io = std::make_unique<net::io_context>();
  auto metrics = std::make_shared<Metrics>();
  auto server = std::make_unique<HttpServer>(*io, Limits{}, std::make_shared<Pong>(), metrics);
  const auto port = server->Listen("127.0.0.1", 0);
  ASSERT_TRUE(port) << port.error().message;
  server->Start();

  net::io_context client_io;
  net::ip::tcp::socket client(client_io);
  client.connect({net::ip::make_address("127.0.0.1"), *port});
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (metrics->Render().find("\nstagegate_http_connections 1\n") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    io->run_one_for(milliseconds(50));
  }
  ASSERT_NE(metrics->Render().find("\nstagegate_http_connections 1\n"), std::string::npos);

  server->Stop();
  io->poll();      // runs the posted acceptor close; the idle connection stays open
  server.reset();  // as in serve.cpp: the server goes first, the io_context after it
  io.reset();      // destroys the connection's coroutine frame
  EXPECT_NE(metrics->Render().find("\nstagegate_http_connections 0\n"), std::string::npos);
}

TEST(HttpServerListenTest, RefusesAHostThatIsNotAnAddress) {
  net::io_context io;
  HttpServer server(io, Limits{}, std::make_shared<Pong>(), nullptr);
  const auto r = server.Listen("localhost-ish", 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(ParseHttpUrlTest, SplitsHostPortAndTarget) {
  const auto u = ParseHttpUrl("http://127.0.0.1:8080/hooks/mlflow?x=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/hooks/mlflow?x=1");
  const auto bare = ParseHttpUrl("http://example.com");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, "80");
  EXPECT_EQ(bare->target, "/");
  EXPECT_FALSE(ParseHttpUrl("https://example.com/"));
  EXPECT_FALSE(ParseHttpUrl("ftp://example.com/"));
  EXPECT_FALSE(ParseHttpUrl("http://:80/"));
}

}  // namespace
}  // namespace stagegate::server
