#include "orchestrator/server/http_server.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
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

// ---- Streamed (chunked) response bodies ----

// What the test thread and a ScriptedStream share: the pieces still to hand out, and what the
// server did with the stream. Changes are announced on `changed`.
struct StreamScript {
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::optional<std::string>> pieces;
  int next_calls = 0;
  bool destroyed = false;

  void Push(std::optional<std::string> piece) {
    std::lock_guard lock(mu);
    pieces.push_back(std::move(piece));
  }
  template <class Predicate>
  bool WaitFor(Predicate predicate, std::chrono::milliseconds bound = kTimeout) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, bound, [&] { return predicate(*this); });
  }
  int NextCalls() {
    std::lock_guard lock(mu);
    return next_calls;
  }
};

// Hands out the pieces the test pushes, and an empty piece after `heartbeat` without one, as a
// log follower would. With `firehose` set it returns that piece on every call instead.
class ScriptedStream final : public BodyStream {
 public:
  ScriptedStream(std::shared_ptr<StreamScript> script, milliseconds heartbeat, std::string firehose)
      : script_(std::move(script)), heartbeat_(heartbeat), firehose_(std::move(firehose)) {}
  ~ScriptedStream() override {
    std::lock_guard lock(script_->mu);
    script_->destroyed = true;
    script_->changed.notify_all();
  }

  Awaitable<std::optional<std::string>> Next() override {
    {
      std::lock_guard lock(script_->mu);
      ++script_->next_calls;
      script_->changed.notify_all();
    }
    if (!firehose_.empty()) {
      co_return firehose_;
    }
    const auto executor = co_await net::this_coro::executor;
    net::steady_timer timer(executor);
    const auto deadline = std::chrono::steady_clock::now() + heartbeat_;
    for (;;) {
      std::optional<std::optional<std::string>> popped;
      {
        std::lock_guard lock(script_->mu);
        if (!script_->pieces.empty()) {
          popped = std::move(script_->pieces.front());
          script_->pieces.pop_front();
        }
      }
      if (popped) {
        co_return std::move(*popped);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        co_return std::string();
      }
      timer.expires_after(milliseconds(2));
      co_await timer.async_wait(net::use_awaitable);
    }
  }

 private:
  std::shared_ptr<StreamScript> script_;
  milliseconds heartbeat_;
  std::string firehose_;
};

class StreamHandler final : public HttpHandler {
 public:
  StreamHandler(std::shared_ptr<StreamScript> script, milliseconds heartbeat, std::string firehose)
      : script_(std::move(script)), heartbeat_(heartbeat), firehose_(std::move(firehose)) {}

  Awaitable<HttpResponse> Handle(HttpRequest) const override {
    HttpResponse response{.status = 200,
                          .content_type = "text/plain; charset=utf-8",
                          .headers = {{"Cache-Control", "no-cache"}}};
    response.body = "ignored when streaming";
    response.stream = std::make_shared<ScriptedStream>(script_, heartbeat_, firehose_);
    co_return response;
  }

 private:
  std::shared_ptr<StreamScript> script_;
  milliseconds heartbeat_;
  std::string firehose_;
};

// A blocking client on its own io_context that sees the bytes exactly as sent. Each read is
// bounded by kTimeout.
class RawClient final {
 public:
  explicit RawClient(std::uint16_t port, int receive_buffer = 0) : socket_(io_) {
    socket_.open(net::ip::tcp::v4());
    if (receive_buffer > 0) {
      socket_.set_option(net::socket_base::receive_buffer_size(receive_buffer));
    }
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
  }

  void Send(const std::string& data) { net::write(socket_, net::buffer(data)); }
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  /// Reads until the bytes received contain `needle`; false on EOF, error or timeout.
  bool ReadUntil(std::string_view needle) {
    while (received_.find(needle) == std::string::npos) {
      if (!ReadSome()) return false;
    }
    return true;
  }
  /// Reads until the server closes the connection; true for a clean EOF.
  bool ReadToEnd() {
    while (ReadSome()) {
    }
    return eof_;
  }

  /// The status line and headers, lower-cased; empty until they are complete.
  std::string Head() const {
    const auto end = received_.find("\r\n\r\n");
    if (end == std::string::npos) return "";
    std::string head = received_.substr(0, end + 2);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return head;
  }
  /// The bytes after the header, exactly as received (chunk framing included).
  std::string Body() const {
    const auto end = received_.find("\r\n\r\n");
    return end == std::string::npos ? "" : received_.substr(end + 4);
  }

 private:
  bool ReadSome() {
    std::array<char, 4096> buffer{};
    boost::system::error_code ec;
    std::size_t n = 0;
    bool done = false;
    socket_.async_read_some(net::buffer(buffer),
                            [&](const boost::system::error_code& e, std::size_t bytes) {
                              ec = e;
                              n = bytes;
                              done = true;
                            });
    io_.restart();
    io_.run_for(kTimeout);
    if (!done) {
      socket_.cancel();
      io_.restart();
      io_.run();
      return false;
    }
    received_.append(buffer.data(), n);
    eof_ = ec == net::error::eof;
    return !ec;
  }

  net::io_context io_;
  net::ip::tcp::socket socket_;
  std::string received_;
  bool eof_ = false;
};

// Decodes a chunked body, strictly: false unless it is well-formed and ends with the last chunk.
bool DecodeChunked(std::string_view raw, std::vector<std::string>& chunks) {
  for (;;) {
    const auto line_end = raw.find("\r\n");
    if (line_end == std::string_view::npos || line_end == 0) return false;
    const std::string size_line(raw.substr(0, line_end));
    if (!std::all_of(size_line.begin(), size_line.end(),
                     [](unsigned char c) { return std::isxdigit(c) != 0; })) {
      return false;
    }
    const std::size_t size = std::stoul(size_line, nullptr, 16);
    raw.remove_prefix(line_end + 2);
    if (size == 0) return raw == "\r\n";
    if (raw.size() < size + 2 || raw.substr(size, 2) != "\r\n") return false;
    chunks.emplace_back(raw.substr(0, size));
    raw.remove_prefix(size + 2);
  }
}

// An HttpServer with a streaming handler at /stream on 127.0.0.1:0 and two io threads.
class HttpStreamTest : public ::testing::Test {
 protected:
  void Start(Limits limits, milliseconds heartbeat = milliseconds(20), std::string firehose = "") {
    auto handler = std::make_shared<StreamHandler>(script_, heartbeat, std::move(firehose));
    server_ = std::make_unique<HttpServer>(io_, limits, handler, metrics_);
    const auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    server_->Start();
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { io_.run_for(std::chrono::seconds(60)); });
    }
  }

  void TearDown() override {
    if (server_) server_->Stop();
    guard_.reset();
    for (auto& t : threads_) t.join();
    server_.reset();
  }

  // InFlight() has no notification: poll it, bounded.
  bool WaitForNothingInFlight() {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (server_->InFlight() != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    return server_->InFlight() == 0;
  }

  static constexpr const char* kGet = "GET /stream HTTP/1.1\r\nHost: test\r\n\r\n";

  std::shared_ptr<StreamScript> script_ = std::make_shared<StreamScript>();
  std::shared_ptr<Metrics> metrics_ = std::make_shared<Metrics>();
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
};

TEST_F(HttpStreamTest, PiecesArriveAsChunksWhileTheStreamIsStillOpen) {
  Start(Limits{});
  RawClient client(port_);
  client.Send(kGet);
  script_->Push("first line\n");
  ASSERT_TRUE(client.ReadUntil("first line\n\r\n")) << client.Body();

  // The first piece is on the wire while the stream still waits for the next one.
  const std::string head = client.Head();
  EXPECT_EQ(head.rfind("http/1.1 200 ok\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\ntransfer-encoding: chunked\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\ncontent-type: text/plain; charset=utf-8\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("\r\ncache-control: no-cache\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nconnection: close\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("content-length"), std::string::npos) << head;
  EXPECT_EQ(client.Body(), "b\r\nfirst line\n\r\n");
  EXPECT_TRUE(script_->WaitFor([](StreamScript& s) { return s.next_calls >= 3; }))
      << "the stream keeps being polled (heartbeats) while it has nothing to say";
  EXPECT_EQ(server_->InFlight(), 1);

  script_->Push("second\n");
  script_->Push("");  // sends nothing: an empty chunk would end the body
  script_->Push(std::string(300, 'x'));
  script_->Push(std::nullopt);
  ASSERT_TRUE(client.ReadToEnd());

  const std::string body = client.Body();
  EXPECT_EQ(body, "b\r\nfirst line\n\r\n7\r\nsecond\n\r\n12c\r\n" + std::string(300, 'x') +
                      "\r\n0\r\n\r\n");
  std::vector<std::string> chunks;
  ASSERT_TRUE(DecodeChunked(body, chunks)) << body;
  EXPECT_EQ(chunks, (std::vector<std::string>{"first line\n", "second\n", std::string(300, 'x')}));
  EXPECT_EQ(body.find("ignored"), std::string::npos);
  EXPECT_TRUE(script_->WaitFor([](StreamScript& s) { return s.destroyed; }));
  EXPECT_TRUE(WaitForNothingInFlight());
}

TEST_F(HttpStreamTest, AClientThatDisconnectsStopsThePolling) {
  Start(Limits{});
  RawClient client(port_);
  client.Send(kGet);
  script_->Push("hello\n");
  ASSERT_TRUE(client.ReadUntil("hello\n\r\n"));
  client.Close();

  // Nothing more is pushed, so the stream only sends empty heartbeats and nothing is written:
  // the server has to notice the close by itself, then release the stream.
  const auto closed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(script_->WaitFor([](StreamScript& s) { return s.destroyed; }))
      << "Next() called " << script_->NextCalls() << " times and still polled";
  EXPECT_LT(std::chrono::steady_clock::now() - closed_at, std::chrono::seconds(2));
  const int calls = script_->NextCalls();
  EXPECT_TRUE(WaitForNothingInFlight());
  EXPECT_EQ(script_->NextCalls(), calls);
}

TEST_F(HttpStreamTest, StopEndsAnOpenStreamCleanlyAndPromptly) {
  Start(Limits{});
  RawClient client(port_);
  client.Send(kGet);
  script_->Push("running\n");
  ASSERT_TRUE(client.ReadUntil("running\n\r\n"));
  ASSERT_EQ(server_->InFlight(), 1);

  const auto stop_at = std::chrono::steady_clock::now();
  server_->Stop();
  ASSERT_TRUE(client.ReadToEnd());
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, std::chrono::seconds(1));
  EXPECT_EQ(client.Body(), "8\r\nrunning\n\r\n0\r\n\r\n");  // finished with the last chunk
  EXPECT_TRUE(WaitForNothingInFlight());
  EXPECT_TRUE(script_->WaitFor([](StreamScript& s) { return s.destroyed; }));
}

TEST_F(HttpStreamTest, WaitingForAPieceIsNotCutByTheConnectionTimeouts) {
  Limits limits;
  limits.header_timeout = milliseconds(100);
  limits.body_timeout = milliseconds(100);
  limits.idle_timeout = milliseconds(100);
  Start(limits, milliseconds(150));
  RawClient client(port_);
  client.Send(kGet);
  // Three calls means two heartbeats of 150 ms each have passed without a byte written.
  ASSERT_TRUE(script_->WaitFor([](StreamScript& s) { return s.next_calls >= 3; }));
  script_->Push("late\n");
  script_->Push(std::nullopt);
  ASSERT_TRUE(client.ReadToEnd());
  EXPECT_EQ(client.Body(), "5\r\nlate\n\r\n0\r\n\r\n");
}

TEST_F(HttpStreamTest, AClientThatStopsReadingIsCutOffByTheIdleTimeout) {
  Limits limits;
  limits.idle_timeout = milliseconds(200);
  Start(limits, milliseconds(20), std::string(64 * 1024, 'z'));
  RawClient client(port_, 4096);
  client.Send(kGet);
  // The client never reads: the socket buffers fill, a write stalls and times out.
  ASSERT_TRUE(script_->WaitFor([](StreamScript& s) { return s.destroyed; }))
      << "Next() called " << script_->NextCalls() << " times";
  EXPECT_TRUE(WaitForNothingInFlight());
}

TEST_F(HttpStreamTest, Http10GetsThePiecesUnframedUntilTheClose) {
  Start(Limits{});
  RawClient client(port_);
  client.Send("GET /stream HTTP/1.0\r\n\r\n");
  script_->Push("one ");
  script_->Push("two");
  script_->Push(std::nullopt);
  ASSERT_TRUE(client.ReadToEnd());
  EXPECT_EQ(client.Head().rfind("http/1.0 200 ok\r\n", 0), 0u) << client.Head();
  EXPECT_EQ(client.Head().find("transfer-encoding"), std::string::npos) << client.Head();
  EXPECT_EQ(client.Body(), "one two");
}

TEST_F(HttpStreamTest, HeadSendsTheHeaderWithoutPollingTheStream) {
  Start(Limits{});
  RawClient client(port_);
  client.Send("HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(client.ReadToEnd());
  EXPECT_NE(client.Head().find("\r\ntransfer-encoding: chunked\r\n"), std::string::npos)
      << client.Head();
  EXPECT_EQ(client.Body(), "");
  EXPECT_TRUE(script_->WaitFor([](StreamScript& s) { return s.destroyed; }));
  EXPECT_EQ(script_->NextCalls(), 0);
}

// serve.cpp gives up draining after a bounded wait: a stream still open then is destroyed with
// the io_context, while both the connection and its peer watch are suspended.
TEST(HttpServerShutdownTest, DestroyingTheIoContextWithAStreamInFlightIsSafe) {
  auto io = std::make_unique<net::io_context>();
  auto metrics = std::make_shared<Metrics>();
  auto script = std::make_shared<StreamScript>();
  auto handler = std::make_shared<StreamHandler>(script, milliseconds(20), "");
  auto server = std::make_unique<HttpServer>(*io, Limits{}, handler, metrics);
  const auto port = server->Listen("127.0.0.1", 0);
  ASSERT_TRUE(port) << port.error().message;
  server->Start();

  RawClient client(*port);
  client.Send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (script->NextCalls() < 2 && std::chrono::steady_clock::now() < deadline) {
    io->run_one_for(milliseconds(50));
  }
  ASSERT_GE(script->NextCalls(), 2);
  ASSERT_EQ(server->InFlight(), 1);

  server.reset();
  io.reset();  // destroys the connection's and the watch's coroutine frames
  EXPECT_TRUE(script->WaitFor([](StreamScript& s) { return s.destroyed; }, milliseconds(0)));
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
  EXPECT_FALSE(bare->tls);
  const auto secure = ParseHttpUrl("https://registry.example.com/api/2.0");
  ASSERT_TRUE(secure);
  EXPECT_TRUE(secure->tls);
  EXPECT_EQ(secure->port, "443");
  EXPECT_EQ(secure->target, "/api/2.0");
  EXPECT_FALSE(ParseHttpUrl("ftp://example.com/"));
  EXPECT_FALSE(ParseHttpUrl("http://:80/"));
}

}  // namespace
}  // namespace stagegate::server
