#include "sigv4.h"

#include <algorithm>
#include <ctime>
#include <map>

#include "bgate/drivers/http/crypto.h"
#include "bgate/drivers/http/http_client.h"

namespace bgate::drivers::s3::detail {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";

std::string FormatUtc(std::chrono::system_clock::time_point when,
                      const char* format) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof(text), format, &utc);
  return std::string(text, n);
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// Trims the value and folds inner runs of spaces into one, as the canonical
// form asks.
std::string CanonicalValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// Lower-cased names to their canonical values, joined with ',' when a name
// repeats, sorted by name.
std::map<std::string, std::string> NormalizedHeaders(
    const HeaderList& headers) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : headers) {
    auto [it, inserted] = out.try_emplace(Lower(name), CanonicalValue(value));
    if (!inserted) it->second += "," + CanonicalValue(value);
  }
  return out;
}

}  // namespace

std::string Scope::ToString() const {
  return date + "/" + region + "/" + service + "/" + std::string(kTerminator);
}

std::string AmzDate(std::chrono::system_clock::time_point when) {
  return FormatUtc(when, "%Y%m%dT%H%M%SZ");
}

std::string DateStamp(std::chrono::system_clock::time_point when) {
  return FormatUtc(when, "%Y%m%d");
}

std::string EncodePath(std::string_view raw_path) {
  return http::UriEncode(raw_path, /*keep_slash=*/true);
}

std::string CanonicalQueryString(const HeaderList& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(http::UriEncode(name, false),
                         http::UriEncode(value, false));
  }
  // Sorting the encoded forms is what the specification asks: byte order of
  // the encoded names.
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name + "=" + value;
  }
  return out;
}

std::string CanonicalHeaders(const HeaderList& headers) {
  std::string out;
  for (const auto& [name, value] : NormalizedHeaders(headers)) {
    out += name + ":" + value + "\n";
  }
  return out;
}

std::string SignedHeaders(const HeaderList& headers) {
  std::string out;
  for (const auto& entry : NormalizedHeaders(headers)) {
    if (!out.empty()) out.push_back(';');
    out += entry.first;
  }
  return out;
}

std::string CanonicalRequest(const CanonicalInput& input) {
  const std::string path =
      input.encoded_path.empty() ? "/" : input.encoded_path;
  return input.method + "\n" + path + "\n" + CanonicalQueryString(input.query) +
         "\n" + CanonicalHeaders(input.headers) + "\n" +
         SignedHeaders(input.headers) + "\n" + input.payload_hash;
}

std::string StringToSign(std::string_view amz_date, const Scope& scope,
                         std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" +
         scope.ToString() + "\n" + http::Hex(http::Sha256(canonical_request));
}

std::string SigningKey(std::string_view secret, const Scope& scope) {
  const std::string date_key =
      http::HmacSha256("AWS4" + std::string(secret), scope.date);
  const std::string region_key = http::HmacSha256(date_key, scope.region);
  const std::string service_key = http::HmacSha256(region_key, scope.service);
  return http::HmacSha256(service_key, kTerminator);
}

std::string Signature(std::string_view signing_key,
                      std::string_view string_to_sign) {
  return http::Hex(http::HmacSha256(signing_key, string_to_sign));
}

std::string Authorization(const CanonicalInput& input,
                          const Credentials& credentials, const Scope& scope,
                          std::string_view amz_date) {
  const std::string string_to_sign =
      StringToSign(amz_date, scope, CanonicalRequest(input));
  const std::string signature = Signature(
      SigningKey(credentials.secret_access_key, scope), string_to_sign);
  return std::string(kAlgorithm) + " Credential=" + credentials.access_key_id +
         "/" + scope.ToString() +
         ", SignedHeaders=" + SignedHeaders(input.headers) +
         ", Signature=" + signature;
}

SignedRequest Sign(const UnsignedRequest& request,
                   const Credentials& credentials, std::string_view region,
                   std::chrono::system_clock::time_point when) {
  const std::string amz_date = AmzDate(when);
  const Scope scope{DateStamp(when), std::string(region), "s3"};

  CanonicalInput input;
  input.method = request.method;
  input.encoded_path =
      request.encoded_path.empty() ? "/" : request.encoded_path;
  input.query = request.query;
  input.payload_hash = http::Hex(http::Sha256(request.body));
  input.headers = request.headers;
  input.headers.emplace_back("host", request.host);
  input.headers.emplace_back("x-amz-content-sha256", input.payload_hash);
  input.headers.emplace_back("x-amz-date", amz_date);
  if (!credentials.session_token.empty()) {
    input.headers.emplace_back("x-amz-security-token",
                               credentials.session_token);
  }

  SignedRequest out;
  out.url = request.scheme + "://" + request.host + input.encoded_path;
  if (const std::string query = CanonicalQueryString(request.query);
      !query.empty()) {
    out.url += "?" + query;
  }
  out.headers = input.headers;
  out.headers.emplace_back("authorization",
                           Authorization(input, credentials, scope, amz_date));
  out.body = request.body;
  return out;
}

}  // namespace bgate::drivers::s3::detail
