#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/options.h"

namespace bgate::drivers::http {

// TLS settings shared by the object-store drivers.
struct TlsOptions {
  std::string ca_file;  // PEM bundle; empty: the system's trust store
  bool insecure_skip_verify = false;
  std::string client_cert_file;  // PEM, with client_key_file
  std::string client_key_file;
};

struct ClientOptions {
  TlsOptions tls;
  // Explicit proxy URL. Empty: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and
  // their lower-case forms) decide per request.
  std::string proxy;
};

// The client sends Host itself, as the URL's host[:port] (the port only when
// the URL has one), and ignores a Host in `headers`. It adds no Content-Type
// and follows no redirects.
struct Request {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // absolute and already percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Why a request got no HTTP answer.
enum class TransportError {
  kNone,
  kTimeout,     // the deadline passed
  kRefused,     // connection refused
  kDns,         // the host name does not resolve
  kTls,         // handshake or certificate verification failed
  kConnection,  // reset, closed early, unreachable network
  kOther,
};

struct Response {
  TransportError error = TransportError::kNone;
  // For people: never holds credentials, headers or query strings.
  std::string error_detail;
  int status = 0;
  // Names in lower case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // at most kMaxBodyBytes
  // The server sent more than kMaxBodyBytes; `body` holds the first part.
  bool body_truncated = false;

  bool ok() const { return error == TransportError::kNone; }
  std::optional<std::string> Header(std::string_view name) const;
};

inline constexpr std::size_t kMaxBodyBytes = 4 << 20;

// Sends requests over HTTP(S). One per driver; called from one thread at a
// time (the driver's), so implementations need not be thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Never throws; every failure is in the Response.
  virtual Response Send(const Request& request, const Deadline& deadline) = 0;
};

// The real client (cpprestsdk, TLS through OpenSSL). Reads the TLS files
// now: on failure returns nullptr and says why in `error` (a path and a
// reason, never file contents).
std::unique_ptr<HttpClient> MakeHttpClient(const ClientOptions& options,
                                           std::string* error);

// The failure reason for a request that got no HTTP answer.
Reason ReasonFor(TransportError error);
std::string_view TransportErrorName(TransportError error);

// Reads the keys every object-store driver shares: ca_file,
// insecure_skip_verify, client_cert_file, client_key_file, proxy.
ClientOptions ReadClientOptions(NodeReader& reader);
// Their effective values for `validate`, with sources (a proxy taken from
// the environment says which variable).
std::vector<Setting> DescribeClientOptions(const ClientOptions& options,
                                           std::string_view endpoint);

// The proxy to use for `url` given the environment (HTTPS_PROXY,
// HTTP_PROXY, NO_PROXY and lower-case forms), or nothing. `env` maps
// variable names to values; pure, for tests.
std::optional<std::string> ProxyFromEnvironment(
    std::string_view url, const std::map<std::string, std::string>& env);
std::map<std::string, std::string> ProxyEnvironment();

// Reads a credential file at every setup so that a rotated Kubernetes
// Secret is picked up without a restart. Trailing newlines are dropped.
// On failure returns nothing and sets `error` to a message naming the
// path and the reason, never the contents.
std::optional<std::string> ReadSecretFile(const std::string& path,
                                          std::string* error);

// Replaces every occurrence of each secret in `text` with "<redacted>".
std::string Redact(std::string text, const std::vector<std::string>& secrets);

// Percent-encodes per RFC 3986 (unreserved characters stay); '/' stays
// when `keep_slash`.
std::string UriEncode(std::string_view text, bool keep_slash);

}  // namespace bgate::drivers::http
