#include "orchestrator/config/config_loader.hpp"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/support/test_support.hpp"

namespace stagegate::config {
namespace {

using std::chrono::milliseconds;

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

unsigned Mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0xFFFF;
  return st.st_mode & 0777U;
}

class ConfigLoaderTest : public ::testing::Test {
 protected:
  // The error of loading `yaml` as "cfg.yaml"; fails the test when it loads.
  std::string LoadError(const std::string& yaml) {
    const auto r = LoadConfigText(yaml, "cfg.yaml");
    EXPECT_FALSE(r) << "loaded:\n" << yaml;
    if (r) return "";
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    return r.error().message;
  }

  test::TempDir dir_;
  test::ScopedEnv ml_secret_{"SG_UNIT_ML_SECRET", "ml-secret-value"};
  test::ScopedEnv std_secret_{"SG_UNIT_STD_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
  test::ScopedEnv plain_secret_{"SG_UNIT_PLAIN_SECRET", "plain-value"};
  test::ScopedEnv unset_{"SG_UNIT_UNSET_VAR", std::nullopt};
};

constexpr const char* kEndpointsForRegistries =
    "endpoints:\n  gh:\n    scheme: github\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n    registry: main\n";

TEST_F(ConfigLoaderTest, LoadsEveryKey) {
  const std::string secret_file = dir_.File("ml.secret");
  WriteFile(secret_file, "file-secret-value\n");
  const std::string yaml = R"(listen: 0.0.0.0:9090
io_threads: 4
store: sqlite:/var/lib/sg/events.db
limits:
  max_body: 2MiB
  max_header: 32KiB
  header_timeout: 5s
  body_timeout: 1m
  idle_timeout: 2m
  max_connections: 100
  max_pending_writes: 500
endpoints:
  ml:
    scheme: mlflow
    secrets: [env:SG_UNIT_ML_SECRET, "file:)" + secret_file + R"("]
    tolerance: 2m
    dedupe_window: 1h
    registry: main
  std-1:
    scheme: standard
    secrets:
      - env:SG_UNIT_STD_SECRET
  open_hook:
    scheme: none
    tolerance: off
registries:
  main:
    dialect: mlflow
    url: https://mlflow.example.com/
    username: ci
    password: env:SG_UNIT_PLAIN_SECRET
    verify_tls: false
    ca_file: /etc/ssl/mlflow.pem
    timeout: 3s
  workspace:
    dialect: databricks
    url: https://adb-1.2.azuredatabricks.net
    token: env:SG_UNIT_ML_SECRET
)";
  const auto r = LoadConfigText(yaml, "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const ServiceConfig& c = *r;
  EXPECT_EQ(c.source, "cfg.yaml");
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 9090);
  EXPECT_EQ(c.io_threads, 4);
  EXPECT_EQ(c.store.url, "sqlite:/var/lib/sg/events.db");
  EXPECT_EQ(c.store.busy_timeout, milliseconds(5000));  // default; the mapping form is below
  EXPECT_EQ(c.limits.max_body_bytes, 2U * 1024 * 1024);
  EXPECT_EQ(c.limits.max_header_bytes, 32U * 1024);
  EXPECT_EQ(c.limits.header_timeout, milliseconds(5000));
  EXPECT_EQ(c.limits.body_timeout, milliseconds(60'000));
  EXPECT_EQ(c.limits.idle_timeout, milliseconds(120'000));
  EXPECT_EQ(c.limits.max_connections, 100U);
  EXPECT_EQ(c.limits.max_pending_writes, 500U);
  ASSERT_EQ(c.endpoints.size(), 3U);

  const EndpointConfig& ml = c.endpoints[0];
  EXPECT_EQ(ml.name, "ml");
  EXPECT_EQ(ml.scheme, Scheme::kMlflow);
  ASSERT_EQ(ml.secrets.size(), 2U);
  EXPECT_EQ(ml.secrets[0].reference, "env:SG_UNIT_ML_SECRET");
  EXPECT_EQ(ml.secrets[0].value, "ml-secret-value");
  EXPECT_EQ(ml.secrets[1].reference, "file:" + secret_file);
  EXPECT_EQ(ml.secrets[1].value, "file-secret-value");
  EXPECT_EQ(ml.tolerance, milliseconds(120'000));
  EXPECT_EQ(ml.dedupe_window, milliseconds(3'600'000));
  EXPECT_EQ(ml.registry, "main");

  const EndpointConfig& st = c.endpoints[1];
  EXPECT_EQ(st.name, "std-1");
  EXPECT_EQ(st.scheme, Scheme::kStandard);
  ASSERT_EQ(st.secrets.size(), 1U);
  EXPECT_EQ(st.secrets[0].value, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  EXPECT_EQ(st.tolerance, milliseconds(300'000));        // default
  EXPECT_EQ(st.dedupe_window, milliseconds(86'400'000));  // default

  const EndpointConfig& open = c.endpoints[2];
  EXPECT_EQ(open.name, "open_hook");
  EXPECT_EQ(open.scheme, Scheme::kNone);
  EXPECT_TRUE(open.secrets.empty());
  EXPECT_EQ(open.tolerance, milliseconds(0));

  ASSERT_EQ(c.registries.size(), 2U);
  const RegistryConfig& main = c.registries[0];
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.dialect, "mlflow");
  EXPECT_EQ(main.url, "https://mlflow.example.com");  // trailing slash dropped
  EXPECT_EQ(main.username, "ci");
  ASSERT_TRUE(main.password.has_value());
  EXPECT_EQ(main.password->value, "plain-value");
  EXPECT_FALSE(main.token.has_value());
  EXPECT_FALSE(main.verify_tls);
  EXPECT_EQ(main.ca_file, "/etc/ssl/mlflow.pem");
  EXPECT_EQ(main.timeout, milliseconds(3000));
  const RegistryConfig& ws = c.registries[1];
  EXPECT_EQ(ws.dialect, "databricks");
  ASSERT_TRUE(ws.token.has_value());
  EXPECT_EQ(ws.token->reference, "env:SG_UNIT_ML_SECRET");
  EXPECT_TRUE(ws.verify_tls);
  EXPECT_EQ(ws.timeout, milliseconds(10'000));
}

TEST_F(ConfigLoaderTest, BadRegistriesAreExplained) {
  const std::string base = std::string(kEndpointsForRegistries);
  EXPECT_EQ(LoadError(base + "registries:\n  main: {dialect: mlfow, url: https://x}\n"),
            "cfg.yaml:7:19: dialect 'mlfow' is not known; did you mean 'mlflow'? (dialects: "
            "databricks, mlflow)");
  EXPECT_EQ(LoadError(base + "registries:\n  main: {dialect: mlflow, url: ftp://x}\n"),
            "cfg.yaml:7:32: url 'ftp://x' must start with https:// (or http://)");
  EXPECT_EQ(LoadError(base + "registries:\n  main: {dialect: mlflow}\n"),
            "cfg.yaml:7:9: registry 'main' needs url:, e.g. url: https://mlflow.example.com");
  EXPECT_EQ(LoadError(base + "registries:\n  main: {dialect: mlflow, url: https://x, tokn: env:A}\n"),
            "cfg.yaml:7:43: unknown key 'tokn' in registry 'main'; did you mean 'token'? (known keys: "
            "dialect, url, token, username, password, verify_tls, ca_file, timeout, reconcile)");
  EXPECT_EQ(LoadError(base + "registries:\n  main: {dialect: mlflow, url: https://x, username: ci}\n"),
            "cfg.yaml:7:9: registry 'main' needs both username: and password: for basic authentication");
  EXPECT_EQ(LoadError(base + "registries:\n  main: {dialect: mlflow, url: https://x, token: "
                             "env:SG_UNIT_ML_SECRET, username: ci, password: env:SG_UNIT_ML_SECRET}\n"),
            "cfg.yaml:7:9: registry 'main' has both token: and username:/password:; use one");
  const std::string inline_token =
      LoadError(base + "registries:\n  main: {dialect: mlflow, url: https://x, token: dapi123secret}\n");
  EXPECT_NE(inline_token.find("cfg.yaml:7:50:"), std::string::npos) << inline_token;
  EXPECT_EQ(inline_token.find("dapi123secret"), std::string::npos) << inline_token;
  // An endpoint may only name a configured registry.
  EXPECT_EQ(LoadError(base + "registries:\n  workspace: {dialect: databricks, url: https://x}\n"),
            "cfg.yaml:5:15: endpoint 'gh' names registry 'main', which is not configured; add it "
            "under registries:");
}

TEST_F(ConfigLoaderTest, ReconcileDefaultsToTheEndpointThatNamesTheRegistry) {
  const auto r = LoadConfigText(std::string(kEndpointsForRegistries) +
                                    "registries:\n  main:\n    dialect: mlflow\n    url: https://x\n"
                                    "    reconcile: {models: [churn, fraud-*]}\n  other: {dialect: "
                                    "databricks, url: https://y}\n",
                                "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->registries.size(), 2U);
  const auto& rc = r->registries[0].reconcile;
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(rc->interval, milliseconds(60'000));
  EXPECT_EQ(rc->grace, milliseconds(30'000));
  EXPECT_EQ(rc->lookback, milliseconds(86'400'000));
  EXPECT_EQ(rc->models, (std::vector<std::string>{"churn", "fraud-*"}));
  EXPECT_EQ(rc->endpoint, "gh");
  EXPECT_FALSE(r->registries[1].reconcile.has_value());

  const auto explicit_values = LoadConfigText(
      std::string(kEndpointsForRegistries) +
          "  ml:\n    scheme: mlflow\n    secrets: [env:SG_UNIT_ML_SECRET]\n    registry: main\n"
          "registries:\n  main:\n    dialect: mlflow\n    url: https://x\n    reconcile:\n"
          "      interval: 5m\n      grace: 2m\n      lookback: 7d\n      models: [churn]\n"
          "      endpoint: ml\n",
      "cfg.yaml");
  ASSERT_TRUE(explicit_values) << explicit_values.error().message;
  const auto& ex = explicit_values->registries[0].reconcile;
  ASSERT_TRUE(ex.has_value());
  EXPECT_EQ(ex->interval, milliseconds(300'000));
  EXPECT_EQ(ex->grace, milliseconds(120'000));
  EXPECT_EQ(ex->lookback, milliseconds(7 * 86'400'000LL));
  EXPECT_EQ(ex->endpoint, "ml");
}

TEST_F(ConfigLoaderTest, BadReconcileIsExplained) {
  const std::string base = std::string(kEndpointsForRegistries) +
                           "registries:\n  main:\n    dialect: mlflow\n    url: https://x\n"
                           "    reconcile: ";
  EXPECT_EQ(LoadError(base + "{interval: 500ms, models: [churn]}\n"),
            "cfg.yaml:10:27: registry 'main' reconcile interval must be at least 1s (the registry "
            "is called on every poll)");
  EXPECT_EQ(LoadError(base + "{interval: soon, models: [churn]}\n").substr(0, 25),
            "cfg.yaml:10:27: interval:");
  EXPECT_EQ(LoadError(base + "{interval: 60s}\n"),
            "cfg.yaml:10:16: registry 'main' reconcile needs models: a list of model names or "
            "globs, e.g. models: [churn, fraud-*] (the registry APIs are queried per model)");
  EXPECT_EQ(LoadError(base + "{models: []}\n"),
            "cfg.yaml:10:25: registry 'main' reconcile needs models: a list of model names or "
            "globs, e.g. models: [churn, fraud-*] (the registry APIs are queried per model)");
  EXPECT_EQ(LoadError(base + "{modles: [churn]}\n"),
            "cfg.yaml:10:17: unknown key 'modles' in registry 'main' reconcile; did you mean "
            "'models'? (known keys: interval, models, endpoint, grace, lookback)");
  EXPECT_EQ(LoadError(base + "{models: [churn], endpoint: hg}\n"),
            "cfg.yaml:10:44: registry 'main' reconcile endpoint 'hg' is not a configured "
            "endpoint; did you mean 'gh'? (endpoints: gh)");
  EXPECT_EQ(LoadError(base + "60s\n"),
            "cfg.yaml:10:16: registry 'main' reconcile must be a mapping, e.g. reconcile: "
            "{interval: 60s, models: [churn]}");
  // No endpoint names the registry, or several do: the endpoint must be named.
  EXPECT_EQ(LoadError("endpoints:\n  gh: {scheme: github, secrets: [env:SG_UNIT_PLAIN_SECRET]}\n"
                      "registries:\n  main: {dialect: mlflow, url: https://x, reconcile: {models: "
                      "[churn]}}\n"),
            "cfg.yaml:4:54: registry 'main' reconcile needs endpoint: the endpoint whose events "
            "it stands in for; no endpoint has registry: main (endpoints: gh)");
  EXPECT_EQ(LoadError(std::string(kEndpointsForRegistries) +
                      "  gh2: {scheme: github, secrets: [env:SG_UNIT_PLAIN_SECRET], registry: main}\n"
                      "registries:\n  main: {dialect: mlflow, url: https://x, reconcile: {models: "
                      "[churn]}}\n"),
            "cfg.yaml:8:54: registry 'main' reconcile needs endpoint: the endpoint whose events "
            "it stands in for; several endpoints have registry: main (gh, gh2); name one");
}

TEST_F(ConfigLoaderTest, DefaultsApplyWhenOnlyEndpointsAreGiven) {
  const auto r = LoadConfigText("endpoints:\n  gh:\n    scheme: github\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n",
                                "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->listen_host, "127.0.0.1");
  EXPECT_EQ(r->listen_port, 8080);
  EXPECT_EQ(r->io_threads, 2);
  EXPECT_EQ(r->store.url, "sqlite:./.stagegate/stagegate.db");
  EXPECT_EQ(r->limits.max_body_bytes, 1024U * 1024);
}

TEST_F(ConfigLoaderTest, AuthorizationIsAResolvedReference) {
  const auto r = LoadConfigText(
      "endpoints:\n  dbx:\n    scheme: databricks\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n"
      "    authorization: env:SG_UNIT_ML_SECRET\n",
      "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->endpoints[0].authorization.has_value());
  EXPECT_EQ(r->endpoints[0].authorization->reference, "env:SG_UNIT_ML_SECRET");
  EXPECT_EQ(r->endpoints[0].authorization->value, "ml-secret-value");

  const auto unset = LoadConfigText(
      "endpoints:\n  dbx:\n    scheme: databricks\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n"
      "    authorization: env:SG_UNIT_UNSET_VAR\n",
      "cfg.yaml");
  ASSERT_FALSE(unset);
  EXPECT_EQ(unset.error().message.rfind("cfg.yaml:5:20: secret reference env:SG_UNIT_UNSET_VAR", 0),
            0U)
      << unset.error().message;

  const auto inline_value = LoadConfigText(
      "endpoints:\n  dbx:\n    scheme: databricks\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n"
      "    authorization: Bearer abc\n",
      "cfg.yaml");
  ASSERT_FALSE(inline_value);
  EXPECT_NE(inline_value.error().message.find("secrets must be references"), std::string::npos);
  EXPECT_EQ(inline_value.error().message.find("abc"), std::string::npos)
      << inline_value.error().message;
}

TEST_F(ConfigLoaderTest, StoreMayBeAScalarUrl) {
  const auto r = LoadConfigText(
      "store: sqlite:./x.db\nendpoints:\n  gh:\n    scheme: github\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n",
      "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->store.url, "sqlite:./x.db");
}

constexpr const char* kEndpoints = "endpoints:\n  gh:\n    scheme: github\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n";

TEST_F(ConfigLoaderTest, UnknownTopLevelKeySuggestsTheClosest) {
  EXPECT_EQ(LoadError(std::string("lisen: 127.0.0.1:8080\n") + kEndpoints),
            "cfg.yaml:1:1: unknown key 'lisen' in the config; did you mean 'listen'? (known keys: "
            "listen, public_url, io_threads, store, limits, endpoints, pipelines, runners, secrets, registries)");
}

TEST_F(ConfigLoaderTest, UnknownKeyWithoutACloseMatchHasNoHint) {
  EXPECT_EQ(LoadError(std::string(kEndpoints) + "zzzzzzzz: 1\n"),
            "cfg.yaml:5:1: unknown key 'zzzzzzzz' in the config (known keys: listen, public_url, io_threads, "
            "store, limits, endpoints, pipelines, runners, secrets, registries)");
}

TEST_F(ConfigLoaderTest, PipelinesRunnersAndSecretsAreLoaded) {
  const auto r = LoadConfigText(std::string(kEndpoints) +
                                    "pipelines: {dir: ./gates}\n"
                                    "runners:\n  local: {max_parallel: 8, work_dir: /srv/sg/work}\n"
                                    "secrets:\n  HF_TOKEN: env:SG_UNIT_ML_SECRET\n",
                                "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->pipelines.dir, "./gates");
  EXPECT_EQ(r->local_runner.max_parallel, 8U);
  EXPECT_EQ(r->local_runner.work_dir, "/srv/sg/work");
  ASSERT_EQ(r->secrets.size(), 1U);
  EXPECT_EQ(r->secrets[0].name, "HF_TOKEN");
  EXPECT_EQ(r->secrets[0].secret.reference, "env:SG_UNIT_ML_SECRET");
  EXPECT_EQ(r->secrets[0].secret.value, "ml-secret-value");

  const auto defaults = LoadConfigText(kEndpoints, "cfg.yaml");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->pipelines.dir, "pipelines");
  EXPECT_EQ(defaults->local_runner.max_parallel, 4U);
  EXPECT_TRUE(defaults->secrets.empty());
}

TEST_F(ConfigLoaderTest, BadPipelinesRunnersAndSecretsAreExplained) {
  EXPECT_EQ(LoadError(std::string(kEndpoints) + "pipelines: {dirs: x}\n"),
            "cfg.yaml:5:13: unknown key 'dirs' in pipelines; did you mean 'dir'? (known keys: dir)");
  EXPECT_EQ(LoadError(std::string(kEndpoints) + "runners:\n  local: {max_parallel: 0}\n"),
            "cfg.yaml:6:25: max_parallel must be 1 to 1024");
  EXPECT_EQ(LoadError(std::string(kEndpoints) + "runners:\n  slurm: {}\n"),
            "cfg.yaml:6:3: unknown key 'slurm' in runners (known keys: local)");
  EXPECT_EQ(LoadError(std::string(kEndpoints) + "secrets:\n  bad-name: env:SG_UNIT_ML_SECRET\n"),
            "cfg.yaml:6:3: secret name 'bad-name' must be letters, digits and _ (it is read as "
            "${{ secrets.NAME }})");
  const std::string unset = LoadError(std::string(kEndpoints) + "secrets:\n  TOKEN: env:SG_UNIT_UNSET_VAR\n");
  EXPECT_EQ(unset.rfind("cfg.yaml:6:10: secret reference env:SG_UNIT_UNSET_VAR", 0), 0U) << unset;
  const std::string inline_value = LoadError(std::string(kEndpoints) + "secrets:\n  TOKEN: hunter2\n");
  EXPECT_NE(inline_value.find("cfg.yaml:6:10:"), std::string::npos) << inline_value;
  EXPECT_EQ(inline_value.find("hunter2"), std::string::npos) << inline_value;
}

TEST_F(ConfigLoaderTest, UnknownEndpointKeySuggestsTheClosest) {
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secret: [env:SG_UNIT_ML_SECRET]\n"),
            "cfg.yaml:4:5: unknown key 'secret' in endpoint 'ml'; did you mean 'secrets'? (known "
            "keys: scheme, secrets, tolerance, dedupe_window, registry, authorization)");
}

TEST_F(ConfigLoaderTest, UnknownLimitsKeySuggestsTheClosest) {
  EXPECT_EQ(LoadError(std::string("limits:\n  max_bdy: 1MiB\n") + kEndpoints),
            "cfg.yaml:2:3: unknown key 'max_bdy' in limits; did you mean 'max_body'? (known keys: "
            "max_body, max_header, header_timeout, body_timeout, idle_timeout, max_connections, "
            "max_pending_writes)");
}

TEST_F(ConfigLoaderTest, BadSchemeSuggestsTheClosest) {
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlfow\n    secrets: [env:SG_UNIT_ML_SECRET]\n"),
            "cfg.yaml:3:13: unknown scheme 'mlfow'; did you mean 'mlflow'? (schemes: databricks, "
            "mlflow, standard, github, none)");
}

TEST_F(ConfigLoaderTest, MissingSchemeIsNamed) {
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    secrets: [env:SG_UNIT_ML_SECRET]\n"),
            "cfg.yaml:3:5: endpoint 'ml' needs scheme: databricks, mlflow, standard, github or none");
}

TEST_F(ConfigLoaderTest, MissingOrEmptySecretsAreRefused) {
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n"),
            "cfg.yaml:3:5: endpoint 'ml' needs secrets: a list such as [env:MY_WEBHOOK_SECRET]");
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secrets: []\n"),
            "cfg.yaml:4:14: endpoint 'ml' needs secrets: a list such as [env:MY_WEBHOOK_SECRET]");
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secrets: env:SG_UNIT_ML_SECRET\n"),
            "cfg.yaml:4:14: endpoint 'ml' needs secrets: a list such as [env:MY_WEBHOOK_SECRET]");
}

TEST_F(ConfigLoaderTest, InlineSecretIsRefusedWithoutEchoingIt) {
  const std::string message =
      LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secrets: [hunter2-inline]\n");
  EXPECT_EQ(message,
            "cfg.yaml:4:15: secrets must be references, env:NAME or file:PATH (inline values are "
            "refused so they never sit in a config file)");
  EXPECT_EQ(message.find("hunter2"), std::string::npos);
}

TEST_F(ConfigLoaderTest, RegistryUrlWithCredentialsIsRefusedWithoutEchoingThem) {
  const std::string message = LoadError(
      "endpoints:\n  ml:\n    scheme: mlflow\n    secrets: [env:SG_UNIT_ML_SECRET]\n"
      "registries:\n  oss:\n    dialect: mlflow\n    url: https://ci:hunter2@mlflow.example.com/x\n");
  EXPECT_NE(message.find("url must not hold credentials"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST_F(ConfigLoaderTest, PublicUrlMustBeHttp) {
  EXPECT_NE(LoadError("public_url: ci.example.com\nendpoints:\n  ml:\n    scheme: mlflow\n"
                      "    secrets: [env:SG_UNIT_ML_SECRET]\n")
                .find("public_url must start with http:// or https://"),
            std::string::npos);
}

TEST_F(ConfigLoaderTest, UnsetEnvironmentVariableIsNamed) {
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secrets: [env:SG_UNIT_UNSET_VAR]\n"),
            "cfg.yaml:4:15: secret reference env:SG_UNIT_UNSET_VAR: environment variable "
            "SG_UNIT_UNSET_VAR is not set (export it before starting stagegate)");
}

TEST_F(ConfigLoaderTest, UnreadableAndEmptySecretFilesAreRefused) {
  const std::string missing = dir_.File("missing.secret");
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secrets: [\"file:" + missing + "\"]\n"),
            "cfg.yaml:4:15: secret reference file:" + missing + ": cannot read " + missing);
  const std::string empty = dir_.File("empty.secret");
  WriteFile(empty, "\n");
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secrets: [\"file:" + empty + "\"]\n"),
            "cfg.yaml:4:15: secret reference file:" + empty + ": the file is empty");
}

TEST_F(ConfigLoaderTest, StandardSecretMustBeWhsec) {
  const std::string message =
      LoadError("endpoints:\n  st:\n    scheme: standard\n    secrets: [env:SG_UNIT_PLAIN_SECRET]\n");
  EXPECT_EQ(message,
            "cfg.yaml:4:15: secret env:SG_UNIT_PLAIN_SECRET is not a Standard Webhooks secret "
            "(whsec_<base64>)");
  EXPECT_EQ(message.find("plain-value"), std::string::npos);
}

// The loader refuses secrets the scheme cannot use (config_loader.cpp says so); a whsec_
// secret whose tail is not base64 would make SigningKey fail and every delivery a 401.
TEST_F(ConfigLoaderTest, StandardSecretMustBeValidBase64AfterWhsec) {
  test::ScopedEnv bad("SG_UNIT_BAD_WHSEC", "whsec_not*base64!");
  const std::string message =
      LoadError("endpoints:\n  st:\n    scheme: standard\n    secrets: [env:SG_UNIT_BAD_WHSEC]\n");
  EXPECT_EQ(message.find("not*base64"), std::string::npos) << message;
}

TEST_F(ConfigLoaderTest, SchemeNoneWithSecretsIsRefused) {
  EXPECT_EQ(LoadError("endpoints:\n  open:\n    scheme: none\n    secrets: [env:SG_UNIT_ML_SECRET]\n"),
            "cfg.yaml:4:14: endpoint 'open' has scheme none, which checks no signature; remove "
            "secrets: or choose a signed scheme");
}

TEST_F(ConfigLoaderTest, BadDurationIsExplained) {
  EXPECT_EQ(LoadError("endpoints:\n  ml:\n    scheme: mlflow\n    secrets: [env:SG_UNIT_ML_SECRET]\n"
                      "    tolerance: 5 minutes\n"),
            "cfg.yaml:5:16: tolerance: bad duration '5 minutes': each number needs a unit (ms, s, "
            "m, h, d)");
  EXPECT_EQ(LoadError(std::string("limits:\n  idle_timeout: 0\n") + kEndpoints),
            "cfg.yaml:2:17: idle_timeout must be longer than zero");
}

TEST_F(ConfigLoaderTest, BadListenIsExplained) {
  EXPECT_EQ(LoadError(std::string("listen: localhost\n") + kEndpoints),
            "cfg.yaml:1:9: listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  EXPECT_EQ(LoadError(std::string("listen: 127.0.0.1:99999\n") + kEndpoints),
            "cfg.yaml:1:9: listen port '99999' must be a number from 0 to 65535");
  EXPECT_EQ(LoadError(std::string("listen: 127.0.0.1:http\n") + kEndpoints),
            "cfg.yaml:1:9: listen port 'http' must be a number from 0 to 65535");
}

TEST_F(ConfigLoaderTest, BadStoreIsExplained) {
  EXPECT_EQ(LoadError(std::string("store: postgres://db/x\n") + kEndpoints),
            "cfg.yaml:1:8: store 'postgres://db/x' is not supported; write sqlite:PATH, e.g. "
            "sqlite:./.stagegate/stagegate.db");
  EXPECT_EQ(LoadError(std::string("store: \"sqlite:\"\n") + kEndpoints),
            "cfg.yaml:1:8: store 'sqlite:' is not supported; write sqlite:PATH, e.g. "
            "sqlite:./.stagegate/stagegate.db");
}

// store: as a mapping is the only way to set busy_timeout.
TEST_F(ConfigLoaderTest, StoreMappingSetsUrlAndBusyTimeout) {
  const auto r = LoadConfigText(
      std::string("store:\n  url: sqlite:/var/lib/sg/events.db\n  busy_timeout: 250ms\n") + kEndpoints,
      "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->store.url, "sqlite:/var/lib/sg/events.db");
  EXPECT_EQ(r->store.busy_timeout, milliseconds(250));
}

TEST_F(ConfigLoaderTest, StoreMappingWithOnlyUrl) {
  const auto r =
      LoadConfigText(std::string("store:\n  url: sqlite:/tmp/x.db\n") + kEndpoints, "cfg.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->store.url, "sqlite:/tmp/x.db");
}

TEST_F(ConfigLoaderTest, StoreMappingWithoutUrlIsExplained) {
  EXPECT_EQ(LoadError(std::string("store:\n  busy_timeout: 1s\n") + kEndpoints),
            "cfg.yaml:2:3: store needs url: sqlite:PATH");
}

TEST_F(ConfigLoaderTest, BadCountsAreExplained) {
  EXPECT_EQ(LoadError(std::string("io_threads: 0\n") + kEndpoints),
            "cfg.yaml:1:13: io_threads must be 1 to 64");
  EXPECT_EQ(LoadError(std::string("io_threads: two\n") + kEndpoints),
            "cfg.yaml:1:13: io_threads must be a positive whole number, not 'two'");
}

TEST_F(ConfigLoaderTest, EndpointsAreRequiredAndNamesAreChecked) {
  EXPECT_EQ(LoadError("listen: 127.0.0.1:1\n"),
            "cfg.yaml:1:1: endpoints: must map at least one name to {scheme: ..., secrets: [...]}");
  EXPECT_EQ(LoadError("endpoints:\n  ML:\n    scheme: none\n"),
            "cfg.yaml:2:3: endpoint name 'ML' must be lower-case letters, digits, - or _ (it "
            "becomes the URL /hooks/<name>)");
}

TEST_F(ConfigLoaderTest, YamlSyntaxErrorsCarryAPosition) {
  const std::string message = LoadError("listen: [127.0.0.1:8080\nendpoints: {\n");
  EXPECT_EQ(message.rfind("cfg.yaml:", 0), 0U) << message;
  EXPECT_NE(message.find(": YAML syntax error: "), std::string::npos) << message;
  EXPECT_EQ(LoadError("- a\n- b\n"),
            "cfg.yaml:1:1: the config must be a YAML mapping with listen:, store: and endpoints:");
}

TEST_F(ConfigLoaderTest, LoadConfigFileNamesTheFile) {
  const std::string path = dir_.File("stagegate.yaml");
  WriteFile(path, std::string("lisen: x\n") + kEndpoints);
  const auto r = LoadConfigFile(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind(path + ":1:1: unknown key 'lisen'", 0), 0U) << r.error().message;
  const auto missing = LoadConfigFile(dir_.File("nope.yaml"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "cannot read config file " + dir_.File("nope.yaml"));
}

TEST(ResolveSecretTest, ReadsEnvironmentVariables) {
  test::ScopedEnv env("SG_UNIT_RESOLVE", "from-env");
  EXPECT_EQ(ResolveSecret("env:SG_UNIT_RESOLVE").value(), "from-env");
}

TEST(ResolveSecretTest, RefusesEmptyOrUnsetVariables) {
  test::ScopedEnv empty("SG_UNIT_EMPTY", "");
  const auto r = ResolveSecret("env:SG_UNIT_EMPTY");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("SG_UNIT_EMPTY is not set"), std::string::npos);
  EXPECT_FALSE(ResolveSecret("env:"));
}

TEST(ResolveSecretTest, ReadsFilesAndStripsTrailingNewlines) {
  test::TempDir dir;
  WriteFile(dir.File("lf"), "abc\n");
  WriteFile(dir.File("crlf"), "abc\r\n");
  WriteFile(dir.File("inner"), "a b\nc\n\n");
  EXPECT_EQ(ResolveSecret("file:" + dir.File("lf")).value(), "abc");
  EXPECT_EQ(ResolveSecret("file:" + dir.File("crlf")).value(), "abc");
  EXPECT_EQ(ResolveSecret("file:" + dir.File("inner")).value(), "a b\nc");
}

TEST(ResolveSecretTest, RefusesInlineValuesWithoutEchoingThem) {
  const auto r = ResolveSecret("s3cr3t");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message.find("s3cr3t"), std::string::npos);
}

TEST(SuggestTest, FindsCloseWordsOnly) {
  EXPECT_EQ(Suggest("lisen", {"listen", "store"}), "listen");
  EXPECT_EQ(Suggest("stor", {"listen", "store"}), "store");
  EXPECT_EQ(Suggest("xyzzy", {"listen", "store"}), "");
}

class EmbeddedDefaultConfigTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
  test::ScopedEnv dbx_{"STAGEGATE_DATABRICKS_SECRET", std::nullopt};
  test::ScopedEnv ml_{"STAGEGATE_MLFLOW_SECRET", std::nullopt};
  test::ScopedEnv st_{"STAGEGATE_STANDARD_SECRET", std::nullopt};
  test::ScopedEnv gh_{"STAGEGATE_GITHUB_SECRET", std::nullopt};
};

TEST_F(EmbeddedDefaultConfigTest, GeneratesFourEndpointsWithPrivateSecretFiles) {
  const std::string state = (dir_.path() / "state").string();
  const auto r = EmbeddedDefaultConfig(state);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, "embedded default");
  EXPECT_EQ(r->store.url, "sqlite:" + state + "/stagegate.db");
  ASSERT_EQ(r->endpoints.size(), 4U);
  const Scheme schemes[] = {Scheme::kDatabricks, Scheme::kMlflow, Scheme::kStandard,
                            Scheme::kGithub};
  EXPECT_EQ(Mode(state + "/secrets"), 0700U);
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& ep = r->endpoints[i];
    EXPECT_EQ(ep.scheme, schemes[i]);
    EXPECT_EQ(ep.name, SchemeName(schemes[i]));
    ASSERT_EQ(ep.secrets.size(), 1U);
    const std::string path = state + "/secrets/" + ep.name;
    EXPECT_EQ(ep.secrets[0].reference, "file:" + path);
    EXPECT_EQ(Mode(path), 0600U) << path;
    EXPECT_EQ(ReadFile(path), ep.secrets[0].value + "\n");
    if (schemes[i] == Scheme::kStandard) {
      EXPECT_EQ(ep.secrets[0].value.rfind("whsec_", 0), 0U) << ep.secrets[0].value;
      EXPECT_EQ(ep.secrets[0].value.size(), 6U + 32U);
    } else {
      EXPECT_EQ(ep.secrets[0].value.size(), 64U);
      EXPECT_EQ(ep.secrets[0].value.find_first_not_of("0123456789abcdef"), std::string::npos);
    }
  }
  EXPECT_NE(r->endpoints[0].secrets[0].value, r->endpoints[1].secrets[0].value);
}

TEST_F(EmbeddedDefaultConfigTest, ReusesSecretsOnTheSecondCall) {
  const std::string state = (dir_.path() / "state").string();
  const auto first = EmbeddedDefaultConfig(state);
  const auto second = EmbeddedDefaultConfig(state);
  ASSERT_TRUE(first && second);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(first->endpoints[i].secrets[0].value, second->endpoints[i].secrets[0].value) << i;
  }
}

TEST_F(EmbeddedDefaultConfigTest, PrefersTheEnvironmentVariable) {
  test::ScopedEnv env("STAGEGATE_MLFLOW_SECRET", "mlflow-from-env");
  const std::string state = (dir_.path() / "state").string();
  const auto r = EmbeddedDefaultConfig(state);
  ASSERT_TRUE(r) << r.error().message;
  const auto& ml = r->endpoints[1];
  ASSERT_EQ(ml.name, "mlflow");
  EXPECT_EQ(ml.secrets[0].reference, "env:STAGEGATE_MLFLOW_SECRET");
  EXPECT_EQ(ml.secrets[0].value, "mlflow-from-env");
  EXPECT_FALSE(std::filesystem::exists(state + "/secrets/mlflow"));
  EXPECT_TRUE(std::filesystem::exists(state + "/secrets/github"));
}

}  // namespace
}  // namespace stagegate::config
