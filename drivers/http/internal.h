#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

// Internals shared by the files of this directory; not part of the driver
// interface.
namespace bgate::drivers::http::detail {

// The parts of an absolute URL that the HTTP client and the proxy rules need.
// A plain value, hence thread-safe.
struct UrlParts {
  std::string scheme;    // lower case
  std::string userinfo;  // as written, percent-encoded; empty if none
  std::string host;      // lower case; an IPv6 literal without brackets
  int port = 0;          // as written, else the scheme's default (0: none)
  bool port_written = false;
  std::string target;  // path and query as written ("/" at least), no fragment

  bool IsIpv6() const { return host.find(':') != std::string::npos; }
  // host[:port] as written, with brackets around an IPv6 literal.
  std::string Authority() const;
  // host:port with the effective port, for messages.
  std::string HostPort() const;
};

// Splits `url` ("scheme://[userinfo@]host[:port][/path][?query][#fragment]").
// Nothing when it is not of that form, when the host is empty or holds
// characters a host name or IP literal cannot, or when the port is not in
// 1..65535.
std::optional<UrlParts> ParseUrl(std::string_view url);

// cpprestsdk 2.10 resolves a bracketed IPv6 host with its brackets, which
// always fails; host names that resolve to IPv6 addresses work.
inline constexpr std::string_view kNoIpv6Literals =
    "IPv6 address literals are not supported; use a host name";

// Why `url` cannot be used as the proxy, or nothing. Never echoes the URL:
// it may carry a password.
std::optional<std::string> ProxyUrlProblem(std::string_view url);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// An IPv4 or IPv6 address (without brackets).
bool IsIpLiteral(const std::string& host);

// Reads a whole regular file of at most `max_bytes` (symlinks are followed,
// so Kubernetes Secret volumes work). On failure returns nothing and sets
// `error` to "<path>: <reason>", never to any of the contents.
std::optional<std::string> ReadRegularFile(const std::string& path,
                                           std::size_t max_bytes,
                                           std::string* error);

}  // namespace bgate::drivers::http::detail
