// The blocking client against real local servers: plain HTTP, and HTTPS with a certificate
// made for the test by the openssl command (trusted through ClientOptions::ca_file).
#include "orchestrator/server/http_client.hpp"

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include "orchestrator/core/headers.hpp"
#include "orchestrator/server/registry_transport.hpp"
#include "tests/unit/support/test_support.hpp"

namespace stagegate::server {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using std::chrono::milliseconds;

// Serves one connection on 127.0.0.1 in a thread: TLS when given a context, echoing the
// request's method, target and body; or, with `silent`, accepting and never answering.
class OneShotServer {
 public:
  explicit OneShotServer(ssl::context* tls, bool silent = false)
      : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, tls, silent] {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      if (silent) {
        while (!stop_.load()) std::this_thread::sleep_for(milliseconds(10));
        return;
      }
      if (tls == nullptr) {
        Answer(socket);
        return;
      }
      ssl::stream<tcp::socket> stream(std::move(socket), *tls);
      stream.handshake(ssl::stream_base::server, ec);
      if (!ec) Answer(stream);
    });
  }
  ~OneShotServer() {
    stop_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  std::string Url(const char* scheme, const char* host = "127.0.0.1") const {
    return std::string(scheme) + "://" + host + ":" + std::to_string(port_) + "/api/echo?x=1";
  }

 private:
  template <class Stream>
  static void Answer(Stream& stream) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(stream, buffer, req, ec);
    if (ec) return;
    http::response<http::string_body> res{http::status::created, 11};
    res.set("X-Echo-Host", req[http::field::host]);
    res.set("X-Echo-Authorization", req[http::field::authorization]);
    res.set("X-Echo-Content-Type", req[http::field::content_type]);
    res.body() = std::string(req.method_string()) + " " + std::string(req.target()) + " " + req.body();
    res.prepare_payload();
    http::write(stream, res, ec);
  }

  net::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class HttpClientTest : public ::testing::Test {
 protected:
  // A self-signed certificate for `san` (e.g. "IP:127.0.0.1,DNS:localhost"), and a server
  // context that presents it.
  void MakeCertificate(const std::string& name, const std::string& san, ssl::context& server) {
    const std::string cert = dir_.File(name + ".pem");
    const std::string key = dir_.File(name + ".key");
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        "-subj /CN=" + name + " -addext subjectAltName=" + san + " -keyout " + key + " -out " +
        cert + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << "the openssl command is needed for this test";
    server.use_certificate_chain_file(cert);
    server.use_private_key_file(key, ssl::context::pem);
  }

  void SetUp() override {
    MakeCertificate("localhost", "IP:127.0.0.1,DNS:localhost", tls_);
    cert_ = dir_.File("localhost.pem");
  }

  test::TempDir dir_;
  std::string cert_;
  ssl::context tls_{ssl::context::tls_server};
};

TEST_F(HttpClientTest, PlainHttpRoundTrip) {
  OneShotServer server(nullptr);
  auto r = HttpSend("POST", server.Url("http"), {{"Content-Type", "application/json"}}, "{\"a\":1}",
                    ClientOptions{.timeout = milliseconds(5000)});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "POST /api/echo?x=1 {\"a\":1}");
}

TEST_F(HttpClientTest, HttpsVerifiesTheServerAgainstTheGivenAuthority) {
  OneShotServer server(&tls_);
  auto r = HttpSend("GET", server.Url("https"), {}, "",
                    ClientOptions{.timeout = milliseconds(5000), .ca_file = cert_});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "GET /api/echo?x=1 ");
}

TEST_F(HttpClientTest, HttpsRefusesAnUntrustedCertificateUnlessVerificationIsOff) {
  {
    OneShotServer server(&tls_);
    auto r = HttpSend("GET", server.Url("https"), {}, "", ClientOptions{.timeout = milliseconds(5000)});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
        << r.error().message;
  }
  {
    OneShotServer server(&tls_);
    auto r = HttpSend("GET", server.Url("https"), {}, "",
                      ClientOptions{.timeout = milliseconds(5000), .verify_tls = false});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 201);
  }
}

TEST_F(HttpClientTest, HttpsChecksTheNameInTheCertificate) {
  // A trusted certificate that names another host does not pass for 127.0.0.1.
  ssl::context other{ssl::context::tls_server};
  MakeCertificate("other.example", "DNS:other.example", other);
  OneShotServer server(&other);
  auto r = HttpSend("GET", server.Url("https"), {}, "",
                    ClientOptions{.timeout = milliseconds(5000), .ca_file = dir_.File("other.example.pem")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
      << r.error().message;
}

TEST_F(HttpClientTest, ASilentServerTimesOut) {
  OneShotServer server(nullptr, /*silent=*/true);
  const auto started = std::chrono::steady_clock::now();
  auto r = HttpSend("GET", server.Url("http"), {}, "", ClientOptions{.timeout = milliseconds(300)});
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInDoubt);  // the request went out; its answer did not come
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_NE(r.error().message.find("GET http://127.0.0.1:"), std::string::npos) << r.error().message;
}

class HttpRegistryTransportTest : public ::testing::Test {
 protected:
  static RegistryConfig Config(const OneShotServer& server) {
    RegistryConfig c;
    c.name = "oss";
    c.dialect = "mlflow";
    const std::string url = server.Url("http");
    c.url = url.substr(0, url.find("/api/echo"));
    c.timeout = milliseconds(5000);
    return c;
  }
};

TEST_F(HttpRegistryTransportTest, JoinsTheBaseUrlAndSendsTheBearerToken) {
  OneShotServer server(nullptr);
  RegistryConfig config = Config(server);
  config.token = Secret{"env:SG_UNIT_REGISTRY_TOKEN", "dapi-very-secret"};
  HttpRegistryTransport transport(config);
  auto r = transport.Send(RegistryRequest{.method = "POST", .path = "/api/2.0/mlflow/comments/create",
                                          .body = R"({"comment":"ok"})"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, R"(POST /api/2.0/mlflow/comments/create {"comment":"ok"})");
  EXPECT_EQ(std::string(FindHeader(r->headers, "X-Echo-Authorization")), "Bearer dapi-very-secret");
  EXPECT_EQ(std::string(FindHeader(r->headers, "X-Echo-Content-Type")), "application/json");
}

TEST_F(HttpRegistryTransportTest, SendsBasicCredentialsAndNoContentTypeOnGet) {
  OneShotServer server(nullptr);
  RegistryConfig config = Config(server);
  config.username = "ci";
  config.password = Secret{"env:X", "pw"};
  HttpRegistryTransport transport(config);
  auto r = transport.Send(RegistryRequest{.method = "GET", .path = "/api/2.0/mlflow/runs/get?run_id=r1"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "GET /api/2.0/mlflow/runs/get?run_id=r1 ");
  EXPECT_EQ(std::string(FindHeader(r->headers, "X-Echo-Authorization")), "Basic Y2k6cHc=");
  EXPECT_EQ(std::string(FindHeader(r->headers, "X-Echo-Content-Type")), "");
}

TEST_F(HttpRegistryTransportTest, FailuresNameTheRegistryButNeverTheCredentials) {
  RegistryConfig config;
  config.name = "workspace";
  config.url = "http://127.0.0.1:1";  // nothing listens on port 1
  config.token = Secret{"env:SG_UNIT_REGISTRY_TOKEN", "dapi-very-secret"};
  config.timeout = milliseconds(2000);
  HttpRegistryTransport transport(config);
  auto r = transport.Send(RegistryRequest{.method = "GET", .path = "/api/2.0/mlflow/x"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message.rfind("registry 'workspace': GET http://127.0.0.1:1/api/2.0/mlflow/x failed", 0), 0U)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("dapi-very-secret"), std::string::npos);
}

}  // namespace
}  // namespace stagegate::server
