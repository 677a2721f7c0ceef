#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bgate::drivers::s3::detail {

// AWS Signature Version 4 for requests signed in the Authorization header,
// with the payload hash signed (never the chunked STREAMING mode, which some
// S3 gateways such as Swift's s3api refuse). Pure functions, thread-safe.

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: long-term keys
};

// Where a signature is valid: the date (YYYYMMDD), region and service.
struct Scope {
  std::string date;
  std::string region;
  std::string service;

  // "20130524/us-east-1/s3/aws4_request"
  std::string ToString() const;
};

// One request as the signature sees it.
struct CanonicalInput {
  std::string method;
  // The path exactly as sent: already percent-encoded, encoded once (S3
  // does not encode it a second time for the canonical request).
  std::string encoded_path;
  // Raw (not yet encoded) names and values, in any order.
  HeaderList query;
  // The headers to sign, in any case and order; host must be among them.
  HeaderList headers;
  // Lower-case hex SHA-256 of the payload.
  std::string payload_hash;
};

// "20130524T000000Z" and "20130524" for a moment, in UTC.
std::string AmzDate(std::chrono::system_clock::time_point when);
std::string DateStamp(std::chrono::system_clock::time_point when);

// Each segment of a raw object path percent-encoded per RFC 3986, the
// slashes between segments kept: "/a b/c" -> "/a%20b/c".
std::string EncodePath(std::string_view raw_path);

// name=value pairs encoded per RFC 3986 and sorted by name, then value; a
// name without value keeps its '='. Also the query string to send, so that
// what is signed is what travels.
std::string CanonicalQueryString(const HeaderList& query);

// Lower-cased names, values trimmed with inner runs of spaces folded,
// sorted, repeated names joined with ','. Each line ends with '\n'.
std::string CanonicalHeaders(const HeaderList& headers);
// "host;range;x-amz-date"
std::string SignedHeaders(const HeaderList& headers);

std::string CanonicalRequest(const CanonicalInput& input);
std::string StringToSign(std::string_view amz_date, const Scope& scope,
                         std::string_view canonical_request);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
// "aws4_request"), raw bytes.
std::string SigningKey(std::string_view secret, const Scope& scope);
// Lower-case hex signature of `string_to_sign`.
std::string Signature(std::string_view signing_key,
                      std::string_view string_to_sign);
// The value of the Authorization header for `input` signed at `amz_date`.
std::string Authorization(const CanonicalInput& input,
                          const Credentials& credentials, const Scope& scope,
                          std::string_view amz_date);

// A request to sign and send: what the driver knows of it.
struct UnsignedRequest {
  std::string method;
  std::string scheme;  // "https" or "http"
  // The Host header value: the host, plus ":port" when not the default.
  std::string host;
  std::string encoded_path;
  HeaderList query;
  HeaderList headers;  // extra headers to sign and send (e.g. content-type)
  std::string body;
};

struct SignedRequest {
  std::string url;
  HeaderList headers;  // host, x-amz-*, authorization and the extra ones
  std::string body;
};

// Adds host, x-amz-date, x-amz-content-sha256 (the payload's real hash),
// x-amz-security-token when there is a session token, and Authorization.
SignedRequest Sign(const UnsignedRequest& request,
                   const Credentials& credentials, std::string_view region,
                   std::chrono::system_clock::time_point when);

}  // namespace bgate::drivers::s3::detail
