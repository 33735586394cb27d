#include "webhooks/crypto.hpp"

#include <cstdlib>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace stagegate::webhooks {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// EVP_MAC is fetched once per thread: fetching is the costly part of a one-shot HMAC.
EVP_MAC* HmacAlgorithm() {
  thread_local struct Holder {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ~Holder() { EVP_MAC_free(mac); }
  } holder;
  return holder.mac;
}

}  // namespace

Digest HmacSha256(std::string_view key, std::initializer_list<std::string_view> parts) {
  Digest out{};
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(HmacAlgorithm());
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
  static const unsigned char kEmpty = 0;
  const auto* key_bytes =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  std::size_t written = 0;
  if (ctx == nullptr || EVP_MAC_init(ctx, key_bytes, key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    std::abort();  // OpenSSL without HMAC-SHA256 is a broken installation, not an input error
  }
  for (const std::string_view part : parts) {
    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  }
  EVP_MAC_final(ctx, out.data(), &written, out.size());
  EVP_MAC_CTX_free(ctx);
  return out;
}

std::string Sha256Hex(std::string_view data) {
  Digest out{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr);
  return ToHex(out);
}

std::string ToHex(const Digest& digest) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest.size() * 2);
  for (const unsigned char b : digest) {
    hex.push_back(kDigits[b >> 4U]);
    hex.push_back(kDigits[b & 0x0FU]);
  }
  return hex;
}

std::string ToBase64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16U) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8U) |
                   static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64Alphabet[(n >> 18U) & 63U];
    out += kBase64Alphabet[(n >> 12U) & 63U];
    out += kBase64Alphabet[(n >> 6U) & 63U];
    out += kBase64Alphabet[n & 63U];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16U;
    if (rest == 2) {
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8U;
    }
    out += kBase64Alphabet[(n >> 18U) & 63U];
    out += kBase64Alphabet[(n >> 12U) & 63U];
    out += rest == 2 ? kBase64Alphabet[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::string ToBase64(const Digest& digest) {
  return ToBase64(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

Result<std::string> FromBase64(std::string_view text) {
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = Base64Value(c);
    if (v < 0) {
      return Fail(ErrorCode::kInvalidArgument, "not valid base64");
    }
    acc = (acc << 6U) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> static_cast<unsigned>(bits)) & 0xFFU);
    }
  }
  if (bits >= 6) {
    return Fail(ErrorCode::kInvalidArgument, "not valid base64 (truncated)");
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace stagegate::webhooks
