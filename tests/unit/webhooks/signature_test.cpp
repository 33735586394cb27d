#include "webhooks/signature.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "webhooks/crypto.hpp"

namespace stagegate::webhooks {
namespace {

EndpointConfig Endpoint(Scheme scheme, std::vector<std::string> secrets) {
  EndpointConfig e;
  e.name = SchemeName(scheme);
  e.scheme = scheme;
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    e.secrets.push_back(Secret{"env:SECRET_" + std::to_string(i), secrets[i]});
  }
  return e;
}

// Asserts the failure is kUnauthenticated, names `header`, and leaks none of `secrets`.
void ExpectRejected(const Result<VerifiedDelivery>& r, const std::string& header,
                    const std::vector<std::string>& secrets) {
  ASSERT_FALSE(r) << "accepted, secret_index " << r->secret_index;
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find(header), std::string::npos) << r.error().message;
  for (const auto& s : secrets) {
    if (!s.empty()) {
      EXPECT_EQ(r.error().message.find(s), std::string::npos)
          << "message leaks '" << s << "': " << r.error().message;
    }
  }
}

// ---- GitHub, protocols.md §10.1 item 1 ----

constexpr std::string_view kGithubSecret = "It's a Secret to Everybody";
constexpr std::string_view kGithubBody = "Hello, World!";
constexpr std::string_view kGithubHex =
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

TEST(VerifyDeliveryTest, AcceptsOfficialGithubVector) {
  const auto ep = Endpoint(Scheme::kGithub, {std::string(kGithubSecret)});
  const HeaderList headers = {{"X-Hub-Signature-256", "sha256=" + std::string(kGithubHex)},
                              {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"}};
  const auto r = VerifyDelivery(ep, headers, kGithubBody, 0);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->secret_index, 0);
  EXPECT_EQ(r->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(r->signed_at_s, 0);
}

TEST(VerifyDeliveryTest, GithubSignDeliveryReproducesOfficialHeader) {
  const auto headers = SignDelivery(Scheme::kGithub, kGithubSecret, "d-1", 0, kGithubBody);
  EXPECT_EQ(FindHeader(headers, "X-Hub-Signature-256"), "sha256=" + std::string(kGithubHex));
  EXPECT_EQ(FindHeader(headers, "X-GitHub-Delivery"), "d-1");
}

TEST(VerifyDeliveryTest, GithubRejectsMissingMalformedAndWrongSignatures) {
  const std::vector<std::string> secrets = {std::string(kGithubSecret)};
  const auto ep = Endpoint(Scheme::kGithub, secrets);
  const std::string header = "X-Hub-Signature-256";
  const std::vector<std::string> leaks = {secrets[0], std::string(kGithubHex)};

  auto missing = VerifyDelivery(ep, {}, kGithubBody, 0);
  ExpectRejected(missing, header, leaks);
  EXPECT_EQ(missing.error().message, "missing X-Hub-Signature-256 header");

  for (const std::string& bad : {std::string(kGithubHex),                   // no prefix
                                "sha1=" + std::string(kGithubHex),         // wrong algorithm
                                "sha256=" + std::string(kGithubHex) + "0",  // too long
                                "sha256=" + std::string(kGithubHex).substr(1) + "g"}) {
    auto r = VerifyDelivery(ep, {{header, bad}}, kGithubBody, 0);
    ExpectRejected(r, header, leaks);
    EXPECT_NE(r.error().message.find("malformed"), std::string::npos) << r.error().message;
  }

  auto mismatch = VerifyDelivery(ep, {{header, "sha256=" + std::string(64, 'a')}}, kGithubBody, 0);
  ExpectRejected(mismatch, header, leaks);
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos);

  auto other_body = VerifyDelivery(ep, {{header, "sha256=" + std::string(kGithubHex)}},
                                   "Hello, World?", 0);
  ExpectRejected(other_body, header, leaks);
}

// ---- Standard Webhooks, protocols.md §10.1 items 2 and 3 ----

constexpr std::string_view kStd1Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kStd1Id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kStd1Ts = 1614265330;
constexpr std::string_view kStd1Body = R"({"test": 2432232314})";
constexpr std::string_view kStd1Sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

HeaderList StandardHeaders(std::string_view id, std::int64_t ts, std::string_view sig) {
  return {{"webhook-id", std::string(id)},
          {"webhook-timestamp", std::to_string(ts)},
          {"webhook-signature", std::string(sig)}};
}

TEST(VerifyDeliveryTest, AcceptsStandardVector1) {
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  const auto r = VerifyDelivery(ep, StandardHeaders(kStd1Id, kStd1Ts, kStd1Sig), kStd1Body, kStd1Ts);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->secret_index, 0);
  EXPECT_EQ(r->delivery_id, kStd1Id);
  EXPECT_EQ(r->signed_at_s, kStd1Ts);
}

TEST(VerifyDeliveryTest, StandardSigningKeyDecodesVector1Secret) {
  const auto key = SigningKey(Scheme::kStandard, kStd1Secret);
  ASSERT_TRUE(key) << key.error().message;
  ASSERT_EQ(key->size(), 24U);
  std::string hex;
  for (const unsigned char c : *key) {
    constexpr std::string_view kDigits = "0123456789abcdef";
    hex += kDigits[c >> 4U];
    hex += kDigits[c & 15U];
  }
  EXPECT_EQ(hex, "31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0");
}

TEST(VerifyDeliveryTest, RejectsStandardVector1NegativeSignatures) {
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  for (const std::string_view bad : {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
                                     "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="}) {
    const auto r = VerifyDelivery(ep, StandardHeaders(kStd1Id, kStd1Ts, bad), kStd1Body, kStd1Ts);
    ExpectRejected(r, "webhook-signature",
                   {std::string(kStd1Secret), std::string(kStd1Sig.substr(3)),
                    std::string(kStd1Secret.substr(6))});
    EXPECT_NE(r.error().message.find("does not match"), std::string::npos) << r.error().message;
  }
}

TEST(VerifyDeliveryTest, StandardVector1OutsideFiveMinutesIsRejected) {
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  const auto headers = StandardHeaders(kStd1Id, kStd1Ts, kStd1Sig);
  // Signed at now - 5 min - 1 s: too old.
  auto old = VerifyDelivery(ep, headers, kStd1Body, kStd1Ts + 301);
  ExpectRejected(old, "webhook-timestamp", {std::string(kStd1Secret)});
  EXPECT_NE(old.error().message.find("301 s in the past"), std::string::npos)
      << old.error().message;
  EXPECT_NE(old.error().message.find("5m"), std::string::npos) << old.error().message;
  // Signed at now + 5 min + 1 s: too new.
  auto future = VerifyDelivery(ep, headers, kStd1Body, kStd1Ts - 301);
  ExpectRejected(future, "webhook-timestamp", {std::string(kStd1Secret)});
  EXPECT_NE(future.error().message.find("301 s in the future"), std::string::npos)
      << future.error().message;
}

TEST(VerifyDeliveryTest, StandardVector1WithinFiveMinutesIsAccepted) {
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  const auto headers = StandardHeaders(kStd1Id, kStd1Ts, kStd1Sig);
  for (const std::int64_t now : {kStd1Ts + 299, kStd1Ts - 299, kStd1Ts + 300, kStd1Ts - 300}) {
    const auto r = VerifyDelivery(ep, headers, kStd1Body, now);
    EXPECT_TRUE(r) << "now - ts = " << now - kStd1Ts << ": " << r.error().message;
  }
}

TEST(VerifyDeliveryTest, SignedTimestampsOutsideTheWindowAreRejected) {
  const std::int64_t now = 1'700'000'000;
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  for (const std::int64_t ts : {now - 301, now + 301}) {
    const auto headers = SignDelivery(Scheme::kStandard, kStd1Secret, "msg_1", ts, kStd1Body);
    ExpectRejected(VerifyDelivery(ep, headers, kStd1Body, now), "webhook-timestamp", {});
  }
  for (const std::int64_t ts : {now - 299, now + 299}) {
    const auto headers = SignDelivery(Scheme::kStandard, kStd1Secret, "msg_1", ts, kStd1Body);
    EXPECT_TRUE(VerifyDelivery(ep, headers, kStd1Body, now)) << ts - now;
  }
}

TEST(VerifyDeliveryTest, ZeroToleranceDisablesTheWindow) {
  auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  ep.tolerance = std::chrono::milliseconds(0);
  const auto headers = StandardHeaders(kStd1Id, kStd1Ts, kStd1Sig);
  EXPECT_TRUE(VerifyDelivery(ep, headers, kStd1Body, kStd1Ts + 10 * 365 * 86400));
  EXPECT_TRUE(VerifyDelivery(ep, headers, kStd1Body, 1));
}

TEST(VerifyDeliveryTest, AcceptsStandardVector2AndRejectsItsNegative) {
  constexpr std::string_view kSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  constexpr std::string_view kId = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
  constexpr std::int64_t kTs = 1649367553;
  constexpr std::string_view kBody = R"({"email":"test@example.com","username":"test_user"})";
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kSecret)});
  const auto ok = VerifyDelivery(
      ep, StandardHeaders(kId, kTs, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="), kBody, kTs);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->delivery_id, kId);
  const auto bad = VerifyDelivery(
      ep, StandardHeaders(kId, kTs, "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU="), kBody, kTs);
  ExpectRejected(bad, "webhook-signature",
                 {std::string(kSecret), "tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="});
}

TEST(VerifyDeliveryTest, StandardAcceptsAListWhereOneEntryIsValid) {
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  const std::string list = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA= v1a,c2lnbmF0dXJl " +
                           std::string(kStd1Sig) + " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
  const auto r = VerifyDelivery(ep, StandardHeaders(kStd1Id, kStd1Ts, list), kStd1Body, kStd1Ts);
  EXPECT_TRUE(r) << r.error().message;
}

TEST(VerifyDeliveryTest, StandardRejectsAListWithoutAValidEntry) {
  const auto ep = Endpoint(Scheme::kStandard, {std::string(kStd1Secret)});
  const std::string list = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA= "
                           "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
  ExpectRejected(VerifyDelivery(ep, StandardHeaders(kStd1Id, kStd1Ts, list), kStd1Body, kStd1Ts),
                 "webhook-signature", {std::string(kStd1Secret)});
}

TEST(VerifyDeliveryTest, StandardRejectsMissingAndMalformedHeaders) {
  const std::vector<std::string> secrets = {std::string(kStd1Secret)};
  const auto ep = Endpoint(Scheme::kStandard, secrets);
  const auto full = StandardHeaders(kStd1Id, kStd1Ts, kStd1Sig);
  for (const std::string name : {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
    HeaderList headers;
    for (const auto& h : full) {
      if (h.first != name) headers.push_back(h);
    }
    const auto r = VerifyDelivery(ep, headers, kStd1Body, kStd1Ts);
    ExpectRejected(r, name, secrets);
    EXPECT_EQ(r.error().message, "missing " + name + " header");
  }
  for (const std::string ts : {"abc", "1614265330.5", "-1614265330", "0", " 1614265330"}) {
    HeaderList headers = full;
    headers[1].second = ts;
    const auto r = VerifyDelivery(ep, headers, kStd1Body, kStd1Ts);
    ExpectRejected(r, "webhook-timestamp", secrets);
    EXPECT_NE(r.error().message.find("not a Unix timestamp"), std::string::npos)
        << ts << ": " << r.error().message;
  }
  for (const std::string sig : {"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                                "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v1", " "}) {
    HeaderList headers = full;
    headers[2].second = sig;
    const auto r = VerifyDelivery(ep, headers, kStd1Body, kStd1Ts);
    ExpectRejected(r, "webhook-signature", secrets);
    EXPECT_NE(r.error().message.find("malformed"), std::string::npos)
        << sig << ": " << r.error().message;
  }
}

// ---- MLflow, protocols.md §10.2 item 4 ----

constexpr std::string_view kMlflowSecret = "test-secret-key";
constexpr std::string_view kMlflowId = "8a1c3f0e-1234-4d5e-9abc-0123456789ab";
constexpr std::int64_t kMlflowTs = 1754000000;
constexpr std::string_view kMlflowBody =
    R"({"entity": "model_version", "action": "created", "timestamp": "2025-07-31T08:27:32.080217+00:00", "data": {"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}})";
constexpr std::string_view kMlflowSig = "v1,OBsef96qHUxA4Q55dL2PSuy3hHLfMHRZtjz0/V/52eU=";

HeaderList MlflowHeaders(std::string_view sig) {
  return {{"Content-Type", "application/json"},
          {"X-MLflow-Delivery-Id", std::string(kMlflowId)},
          {"X-MLflow-Timestamp", std::to_string(kMlflowTs)},
          {"X-MLflow-Signature", std::string(sig)}};
}

TEST(VerifyDeliveryTest, AcceptsComputedMlflowVector) {
  ASSERT_EQ(kMlflowBody.size(), 288U);
  const auto ep = Endpoint(Scheme::kMlflow, {std::string(kMlflowSecret)});
  const auto r = VerifyDelivery(ep, MlflowHeaders(kMlflowSig), kMlflowBody, kMlflowTs);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->secret_index, 0);
  EXPECT_EQ(r->delivery_id, kMlflowId);
  EXPECT_EQ(r->signed_at_s, kMlflowTs);
}

TEST(VerifyDeliveryTest, MlflowSignDeliveryReproducesTheVector) {
  const auto headers =
      SignDelivery(Scheme::kMlflow, kMlflowSecret, kMlflowId, kMlflowTs, kMlflowBody);
  EXPECT_EQ(FindHeader(headers, "X-MLflow-Signature"), kMlflowSig);
  EXPECT_EQ(FindHeader(headers, "X-MLflow-Delivery-Id"), kMlflowId);
  EXPECT_EQ(FindHeader(headers, "X-MLflow-Timestamp"), "1754000000");
}

TEST(VerifyDeliveryTest, StandardKeyOfTheMlflowSecretGivesTheSameMac) {
  const auto key = SigningKey(Scheme::kStandard, "whsec_dGVzdC1zZWNyZXQta2V5");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, kMlflowSecret);
  EXPECT_EQ("v1," + ToBase64(HmacSha256(*key, {kMlflowId, ".", "1754000000", ".", kMlflowBody})),
            kMlflowSig);
  // And a Standard endpoint with that secret accepts the MLflow delivery under mapped headers.
  const auto ep = Endpoint(Scheme::kStandard, {"whsec_dGVzdC1zZWNyZXQta2V5"});
  EXPECT_TRUE(VerifyDelivery(ep, StandardHeaders(kMlflowId, kMlflowTs, kMlflowSig), kMlflowBody,
                             kMlflowTs));
}

TEST(VerifyDeliveryTest, MlflowRejectsMissingMalformedAndWrongSignatures) {
  const std::vector<std::string> leaks = {std::string(kMlflowSecret),
                                          std::string(kMlflowSig.substr(3))};
  const auto ep = Endpoint(Scheme::kMlflow, {std::string(kMlflowSecret)});
  const auto full = MlflowHeaders(kMlflowSig);
  for (const std::string name : {"X-MLflow-Delivery-Id", "X-MLflow-Timestamp",
                                 "X-MLflow-Signature"}) {
    HeaderList headers;
    for (const auto& h : full) {
      if (h.first != name) headers.push_back(h);
    }
    const auto r = VerifyDelivery(ep, headers, kMlflowBody, kMlflowTs);
    ExpectRejected(r, name, leaks);
    EXPECT_EQ(r.error().message, "missing " + name + " header");
  }
  // The pre-release sha256=<hex> format is not accepted.
  const auto malformed = VerifyDelivery(ep, MlflowHeaders("sha256=" + std::string(64, 'a')),
                                        kMlflowBody, kMlflowTs);
  ExpectRejected(malformed, "X-MLflow-Signature", leaks);
  EXPECT_NE(malformed.error().message.find("malformed"), std::string::npos);

  const auto mismatch = VerifyDelivery(
      ep, MlflowHeaders("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), kMlflowBody, kMlflowTs);
  ExpectRejected(mismatch, "X-MLflow-Signature", leaks);
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos);

  // A changed timestamp invalidates the signature (it is part of the signed content).
  HeaderList shifted = full;
  shifted[2].second = std::to_string(kMlflowTs + 1);
  ExpectRejected(VerifyDelivery(ep, shifted, kMlflowBody, kMlflowTs), "X-MLflow-Signature", leaks);

  const auto stale = VerifyDelivery(ep, full, kMlflowBody, kMlflowTs + 3600);
  ExpectRejected(stale, "X-MLflow-Timestamp", leaks);
  EXPECT_NE(stale.error().message.find("3600 s in the past"), std::string::npos)
      << stale.error().message;
}

TEST(VerifyDeliveryTest, HeaderNamesAreCaseInsensitive) {
  const auto ep = Endpoint(Scheme::kMlflow, {std::string(kMlflowSecret)});
  HeaderList headers = {{"x-mlflow-delivery-id", std::string(kMlflowId)},
                        {"X-MLFLOW-TIMESTAMP", std::to_string(kMlflowTs)},
                        {"x-MLflow-signature", std::string(kMlflowSig)}};
  EXPECT_TRUE(VerifyDelivery(ep, headers, kMlflowBody, kMlflowTs));
}

// ---- Databricks, protocols.md §10.2 item 5 ----

constexpr std::string_view kDatabricksSecret = "anyRandomString";
constexpr std::string_view kDatabricksBody =
    R"({"event": "MODEL_VERSION_TRANSITIONED_STAGE", "webhook_id": "c5596721253c4b429368cf6f4341b88a", "event_timestamp": 1589859029343, "model_name": "Airline_Delay_SparkML", "version": "8", "to_stage": "Production", "from_stage": "None", "text": "Registered model 'someModel' version 8 transitioned from None to Production."})";
constexpr std::string_view kDatabricksHex =
    "9f7c43e398f1ae882f4c622c729f398dada0affede2e56c8f6f1f56453dfa05e";

TEST(VerifyDeliveryTest, AcceptsComputedDatabricksVector) {
  const auto ep = Endpoint(Scheme::kDatabricks, {std::string(kDatabricksSecret)});
  const auto r =
      VerifyDelivery(ep, {{"X-Databricks-Signature", std::string(kDatabricksHex)}}, kDatabricksBody, 0);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->secret_index, 0);
  EXPECT_EQ(r->delivery_id, "");
  EXPECT_EQ(r->signed_at_s, 0);
  const auto signed_headers = SignDelivery(Scheme::kDatabricks, kDatabricksSecret, "", 0, kDatabricksBody);
  EXPECT_EQ(FindHeader(signed_headers, "X-Databricks-Signature"), kDatabricksHex);
}

TEST(VerifyDeliveryTest, DatabricksAcceptsUpperCaseHex) {
  std::string upper(kDatabricksHex);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  const auto ep = Endpoint(Scheme::kDatabricks, {std::string(kDatabricksSecret)});
  EXPECT_TRUE(VerifyDelivery(ep, {{"X-Databricks-Signature", upper}}, kDatabricksBody, 0));
}

TEST(VerifyDeliveryTest, DatabricksRejectsMissingMalformedAndWrongSignatures) {
  const std::vector<std::string> leaks = {std::string(kDatabricksSecret),
                                          std::string(kDatabricksHex)};
  const auto ep = Endpoint(Scheme::kDatabricks, {std::string(kDatabricksSecret)});
  const std::string header = "X-Databricks-Signature";
  const auto missing = VerifyDelivery(ep, {{"Authorization", "Bearer x"}}, kDatabricksBody, 0);
  ExpectRejected(missing, header, leaks);
  EXPECT_EQ(missing.error().message, "missing X-Databricks-Signature header");
  for (const std::string& bad : {std::string(kDatabricksHex).substr(2), std::string(kDatabricksHex) + "00",
                                "sha256=" + std::string(kDatabricksHex), std::string(64, 'z')}) {
    const auto r = VerifyDelivery(ep, {{header, bad}}, kDatabricksBody, 0);
    ExpectRejected(r, header, leaks);
    EXPECT_EQ(r.error().message,
              "X-Databricks-Signature is malformed: expected 64 hexadecimal characters");
  }
  const auto mismatch = VerifyDelivery(ep, {{header, std::string(64, '0')}}, kDatabricksBody, 0);
  ExpectRejected(mismatch, header, leaks);
  EXPECT_EQ(mismatch.error().message,
            "X-Databricks-Signature does not match the body under any configured secret");
  std::string tampered(kDatabricksBody);
  tampered.back() = ' ';
  ExpectRejected(VerifyDelivery(ep, {{header, std::string(kDatabricksHex)}}, tampered, 0), header,
                 leaks);
}

// ---- Key rotation and the remaining schemes ----

TEST(VerifyDeliveryTest, KeyRotationReportsWhichSecretMatched) {
  const auto dbx = Endpoint(Scheme::kDatabricks, {"old-secret", std::string(kDatabricksSecret)});
  const auto r1 =
      VerifyDelivery(dbx, {{"X-Databricks-Signature", std::string(kDatabricksHex)}}, kDatabricksBody, 0);
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_EQ(r1->secret_index, 1);

  const auto ml = Endpoint(Scheme::kMlflow, {"old-secret", std::string(kMlflowSecret)});
  const auto r2 = VerifyDelivery(ml, MlflowHeaders(kMlflowSig), kMlflowBody, kMlflowTs);
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_EQ(r2->secret_index, 1);

  const auto st = Endpoint(Scheme::kStandard,
                           {"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", std::string(kStd1Secret)});
  const auto r3 = VerifyDelivery(st, StandardHeaders(kStd1Id, kStd1Ts, kStd1Sig), kStd1Body, kStd1Ts);
  ASSERT_TRUE(r3) << r3.error().message;
  EXPECT_EQ(r3->secret_index, 1);

  const auto gh = Endpoint(Scheme::kGithub, {std::string(kGithubSecret), "new-secret"});
  const auto r4 = VerifyDelivery(gh, {{"X-Hub-Signature-256", "sha256=" + std::string(kGithubHex)}},
                                 kGithubBody, 0);
  ASSERT_TRUE(r4) << r4.error().message;
  EXPECT_EQ(r4->secret_index, 0);
}

TEST(VerifyDeliveryTest, MismatchUnderEveryRotatedSecretLeaksNone) {
  const auto ep = Endpoint(Scheme::kDatabricks, {"first-secret", "second-secret"});
  const auto r =
      VerifyDelivery(ep, {{"X-Databricks-Signature", std::string(kDatabricksHex)}}, kDatabricksBody, 0);
  ExpectRejected(r, "X-Databricks-Signature",
                 {"first-secret", "second-secret",
                  ToHex(HmacSha256("first-secret", {kDatabricksBody})),
                  ToHex(HmacSha256("second-secret", {kDatabricksBody}))});
}

// Databricks can send a fixed Authorization header (http_url_spec.authorization, §1.4);
// an endpoint configured with one requires it on top of the signature.
TEST(VerifyDeliveryTest, ConfiguredAuthorizationIsRequiredAndComparedExactly) {
  auto ep = Endpoint(Scheme::kDatabricks, {std::string(kDatabricksSecret)});
  ep.authorization = Secret{"env:DBX_AUTH", "Bearer s3cret-token"};
  const HeaderList signed_only = {{"X-Databricks-Signature", std::string(kDatabricksHex)}};

  ExpectRejected(VerifyDelivery(ep, signed_only, kDatabricksBody, 0), "Authorization",
                 {"s3cret-token"});
  HeaderList wrong = signed_only;
  wrong.emplace_back("Authorization", "Bearer s3cret-tokem");
  ExpectRejected(VerifyDelivery(ep, wrong, kDatabricksBody, 0), "Authorization",
                 {"s3cret-token"});

  HeaderList right = signed_only;
  right.emplace_back("authorization", "Bearer s3cret-token");
  const auto ok = VerifyDelivery(ep, right, kDatabricksBody, 0);
  ASSERT_TRUE(ok) << ok.error().message;

  // The header does not replace the signature.
  const HeaderList unsigned_but_authorized = {{"Authorization", "Bearer s3cret-token"}};
  ExpectRejected(VerifyDelivery(ep, unsigned_but_authorized, kDatabricksBody, 0),
                 "X-Databricks-Signature", {"s3cret-token"});
}

TEST(VerifyDeliveryTest, SchemeNoneWithAuthorizationRequiresTheHeader) {
  EndpointConfig ep;
  ep.scheme = Scheme::kNone;
  ep.authorization = Secret{"env:HOOK_AUTH", "Bearer open-sesame"};
  ExpectRejected(VerifyDelivery(ep, {}, "anything", 0), "Authorization", {"open-sesame"});
  EXPECT_TRUE(VerifyDelivery(ep, {{"Authorization", "Bearer open-sesame"}}, "anything", 0));
}

TEST(VerifyDeliveryTest, SchemeNoneAcceptsAnything) {
  EndpointConfig ep;
  ep.scheme = Scheme::kNone;
  const auto r = VerifyDelivery(ep, {}, "anything", 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->secret_index, -1);
  EXPECT_EQ(r->delivery_id, "");
}

TEST(SignDeliveryTest, RoundTripsThroughVerifyForEverySignedScheme) {
  const std::int64_t now = 1'700'000'123;
  const std::string body = "{\"k\": \"v\\u00e9\"}";
  struct Case {
    Scheme scheme;
    std::string secret;
    std::string delivery_id;  // expected back
  };
  const Case cases[] = {{Scheme::kDatabricks, "dbx-secret", ""},
                        {Scheme::kMlflow, "mlflow-secret", "delivery-1"},
                        {Scheme::kStandard, std::string(kStd1Secret), "delivery-1"},
                        {Scheme::kGithub, "gh-secret", "delivery-1"}};
  for (const auto& c : cases) {
    const auto headers = SignDelivery(c.scheme, c.secret, "delivery-1", now, body);
    const auto ep = Endpoint(c.scheme, {c.secret});
    const auto r = VerifyDelivery(ep, headers, body, now);
    ASSERT_TRUE(r) << SchemeName(c.scheme) << ": " << r.error().message;
    EXPECT_EQ(r->secret_index, 0) << SchemeName(c.scheme);
    EXPECT_EQ(r->delivery_id, c.delivery_id) << SchemeName(c.scheme);
    // A different secret must not verify what the first one signed.
    const auto other = Endpoint(
        c.scheme, {c.scheme == Scheme::kStandard ? "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
                                                 : "another-secret"});
    EXPECT_FALSE(VerifyDelivery(other, headers, body, now)) << SchemeName(c.scheme);
    // Nor the same headers over a different body.
    EXPECT_FALSE(VerifyDelivery(ep, headers, body + " ", now)) << SchemeName(c.scheme);
  }
}

TEST(SignDeliveryTest, SchemeNoneAddsNoHeaders) {
  EXPECT_TRUE(SignDelivery(Scheme::kNone, "s", "id", 1, "body").empty());
}

TEST(SigningKeyTest, NonStandardSchemesUseTheRawSecret) {
  EXPECT_EQ(SigningKey(Scheme::kMlflow, "whsec_dGVzdC1zZWNyZXQta2V5").value(),
            "whsec_dGVzdC1zZWNyZXQta2V5");
  EXPECT_EQ(SigningKey(Scheme::kDatabricks, "plain").value(), "plain");
  EXPECT_EQ(SigningKey(Scheme::kGithub, "plain").value(), "plain");
}

TEST(SigningKeyTest, RejectsUnusableSecretsWithoutNamingThem) {
  const auto empty = SigningKey(Scheme::kMlflow, "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  for (const std::string bad : {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not*base64",
                                "whsec_A"}) {
    const auto r = SigningKey(Scheme::kStandard, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    if (bad.size() > 6) {  // "whsec_" alone is part of the advice in the message
      EXPECT_EQ(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
  }
}

TEST(FindHeaderTest, ReturnsTheFirstMatchCaseInsensitively) {
  const HeaderList headers = {{"X-A", "1"}, {"x-a", "2"}, {"X-B", "3"}};
  EXPECT_EQ(FindHeader(headers, "x-A"), "1");
  EXPECT_EQ(FindHeader(headers, "X-B"), "3");
  EXPECT_EQ(FindHeader(headers, "X-C"), "");
}

TEST(RedactHeadersTest, RedactsSignaturesAndCredentialsAndKeepsTheRest) {
  const HeaderList in = {{"X-Hub-Signature-256", "sha256=abc"},
                         {"webhook-signature", "v1,abc"},
                         {"X-Databricks-Signature", "abc"},
                         {"X-MLflow-Signature", "v1,abc"},
                         {"Authorization", "Bearer token-value"},
                         {"Proxy-Authorization", "Basic xyz"},
                         {"X-Gitlab-Token", "glt"},
                         {"X-Webhook-Secret", "shh"},
                         {"Cookie", "session=1"},
                         {"X-Api-Key", "key"},
                         {"Content-Type", "application/json"},
                         {"X-MLflow-Delivery-Id", "d-1"},
                         {"webhook-timestamp", "1614265330"},
                         {"User-Agent", "python-requests/2.28.1"}};
  const HeaderList out = RedactHeaders(in);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].first, in[i].first);
    if (i < 10) {
      EXPECT_EQ(out[i].second, "[redacted]") << in[i].first;
    } else {
      EXPECT_EQ(out[i].second, in[i].second) << in[i].first;
    }
  }
}

}  // namespace
}  // namespace stagegate::webhooks
