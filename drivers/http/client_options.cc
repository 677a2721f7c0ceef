#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "bgate/drivers/http/http_client.h"
#include "internal.h"

namespace bgate::drivers::http {
namespace {

constexpr std::size_t kMaxSecretBytes = 64 * 1024;
constexpr std::string_view kRedacted = "<redacted>";

// Variables that ProxyEnvironment reads; lower case first, as it wins.
constexpr std::array<const char*, 6> kProxyVariables = {
    "https_proxy", "HTTPS_PROXY", "http_proxy",
    "HTTP_PROXY",  "no_proxy",    "NO_PROXY",
};

char LowerChar(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), LowerChar);
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::optional<int> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

int DefaultPort(std::string_view scheme) {
  if (scheme == "http") return 80;
  if (scheme == "https") return 443;
  return 0;
}

std::string ErrnoText(int error) {
  return std::generic_category().message(error);
}

// An IPv4 or IPv6 address in binary form, for prefix comparisons.
struct IpAddress {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  std::size_t size() const { return family == AF_INET ? 4 : 16; }
};

std::optional<IpAddress> ParseIp(const std::string& text) {
  IpAddress ip;
  if (::inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (::inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

// "10.0.0.0/8" or "fd00::/8" against an IP literal host.
bool InCidr(const std::string& host, std::string_view cidr) {
  auto slash = cidr.find('/');
  auto network = ParseIp(std::string(cidr.substr(0, slash)));
  auto address = ParseIp(host);
  if (!network || !address || network->family != address->family) return false;
  std::string_view bits_text = cidr.substr(slash + 1);
  if (bits_text.empty() || bits_text.size() > 3 ||
      !std::all_of(bits_text.begin(), bits_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  std::size_t bits = std::stoul(std::string(bits_text));
  if (bits > network->size() * 8) return false;
  for (std::size_t i = 0; i < network->size() && bits > 0; ++i) {
    unsigned mask = bits >= 8 ? 0xFFu : (0xFFu << (8 - bits)) & 0xFFu;
    if ((network->bytes[i] & mask) != (address->bytes[i] & mask)) return false;
    bits = bits >= 8 ? bits - 8 : 0;
  }
  return true;
}

// One NO_PROXY entry: "*", a host or domain suffix ("example.com",
// ".example.com", "*.example.com"), an IP literal, a CIDR range, each
// optionally with ":port".
bool NoProxyEntryMatches(std::string_view raw, const detail::UrlParts& url) {
  std::string entry = Lower(Trim(raw));
  if (entry.empty()) return false;
  if (entry == "*") return true;
  if (entry.find('/') != std::string::npos) return InCidr(url.host, entry);

  std::string host = entry;
  std::optional<int> port;
  if (host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string::npos) return false;
    std::string rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !(port = ParsePort(rest.substr(1))))
        return false;
    }
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    auto colon = host.find(':');
    if (!(port = ParsePort(host.substr(colon + 1)))) return false;
    host.resize(colon);
  }
  if (port && *port != url.port) return false;

  if (host.starts_with("*.")) host.erase(0, 1);
  if (host.starts_with(".")) host.erase(0, 1);
  if (host.empty()) return false;
  if (url.host == host) return true;
  // Suffixes are for names; "3.4" must not match the address 1.2.3.4.
  return !detail::IsIpLiteral(url.host) && url.host.ends_with("." + host);
}

bool NoProxyMatches(std::string_view list, const detail::UrlParts& url) {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (NoProxyEntryMatches(list.substr(0, comma), url)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// An empty variable counts as unset.
const std::string* Lookup(const std::map<std::string, std::string>& env,
                          const std::string& name) {
  auto it = env.find(name);
  if (it == env.end() || Trim(it->second).empty()) return nullptr;
  return &it->second;
}

// The lower-case spelling wins, as with curl. Returns the variable used.
std::optional<std::string> LookupEither(
    const std::map<std::string, std::string>& env, const std::string& lower,
    std::string* value) {
  for (const std::string& name : {lower, Upper(lower)}) {
    if (const std::string* found = Lookup(env, name)) {
      *value = *found;
      return name;
    }
  }
  return std::nullopt;
}

// What the environment says for one URL, and which variable said it.
struct EnvProxy {
  std::optional<std::string> proxy;
  std::string variable;  // the variable that decided; empty: none applied
};

EnvProxy ProxyFromEnv(std::string_view url,
                      const std::map<std::string, std::string>& env) {
  auto parts = detail::ParseUrl(url);
  if (!parts || (parts->scheme != "http" && parts->scheme != "https")) {
    return {};
  }
  std::string value;
  auto variable = LookupEither(env, parts->scheme + "_proxy", &value);
  if (!variable) return {};
  std::string no_proxy;
  if (auto no_variable = LookupEither(env, "no_proxy", &no_proxy)) {
    if (NoProxyMatches(no_proxy, *parts)) return {std::nullopt, *no_variable};
  }
  std::string proxy(Trim(value));
  // Like curl and Go, a bare "host:port" means an http:// proxy.
  if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;
  return {proxy, *variable};
}

// A proxy URL for display: the password (or a lone token) is hidden.
std::string DisplayProxy(const std::string& proxy) {
  auto parts = detail::ParseUrl(proxy);
  if (!parts) return std::string(kRedacted);
  std::string out = parts->scheme + "://";
  if (!parts->userinfo.empty()) {
    auto colon = parts->userinfo.find(':');
    out += colon == std::string::npos
               ? std::string(kRedacted)
               : parts->userinfo.substr(0, colon + 1) + std::string(kRedacted);
    out += "@";
  }
  return out + parts->Authority();
}

void ReadPath(NodeReader& reader, const std::string& key, std::string* out) {
  auto value = reader.String(key, /*required=*/false);
  if (!value) return;
  if (value->empty()) {
    reader.errors().Add(reader.Field(key), "must not be empty");
    return;
  }
  *out = *value;
}

}  // namespace

namespace detail {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return LowerChar(x) == LowerChar(y);
         });
}

bool IsIpLiteral(const std::string& host) { return ParseIp(host).has_value(); }

std::string UrlParts::Authority() const {
  std::string out = IsIpv6() ? "[" + host + "]" : host;
  if (port_written) out += ":" + std::to_string(port);
  return out;
}

std::string UrlParts::HostPort() const {
  return (IsIpv6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<UrlParts> ParseUrl(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  UrlParts parts;
  parts.scheme = Lower(url.substr(0, sep));
  if (!std::all_of(parts.scheme.begin(), parts.scheme.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
               c == '-' || c == '.';
      })) {
    return std::nullopt;
  }
  std::string_view rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find('#'));
  auto authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? "" : rest.substr(authority_end);

  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    parts.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      parts.port_written = true;
    }
    if (!ParseIp(std::string(host)) ||
        host.find(':') == std::string_view::npos) {
      return std::nullopt;
    }
  } else if (auto colon = authority.find(':');
             colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    parts.port_written = true;
  }
  parts.host = Lower(host);
  if (parts.host.empty()) return std::nullopt;
  if (!authority.starts_with('[') &&
      !std::all_of(parts.host.begin(), parts.host.end(), IsHostChar)) {
    return std::nullopt;
  }
  if (parts.port_written) {
    auto number = ParsePort(port);
    if (!number) return std::nullopt;
    parts.port = *number;
  } else {
    parts.port = DefaultPort(parts.scheme);
  }
  parts.target = target.empty() ? "/" : std::string(target);
  if (parts.target.front() == '?') parts.target.insert(0, "/");
  return parts;
}

std::optional<std::string> ProxyUrlProblem(std::string_view url) {
  auto parts = ParseUrl(url);
  if (!parts) return "is not a URL of the form http://host:port";
  if (parts->scheme == "https") {
    // cpprestsdk speaks plain HTTP to the proxy (https requests go through
    // it with CONNECT); a TLS proxy would fail on every request.
    return "https:// proxies are not supported; use http://host:port "
           "(https requests are still tunnelled with CONNECT)";
  }
  if (parts->scheme != "http") return "must be an http:// URL";
  if (parts->target != "/") return "must not have a path or query";
  if (parts->IsIpv6()) return std::string(kNoIpv6Literals);
  return std::nullopt;
}

std::optional<std::string> ReadRegularFile(const std::string& path,
                                           std::size_t max_bytes,
                                           std::string* error) {
  auto fail = [&](const std::string& reason) -> std::optional<std::string> {
    *error = path + ": " + reason;
    return std::nullopt;
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return fail(ErrnoText(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat info {};
  if (::fstat(fd, &info) != 0) return fail(ErrnoText(errno));
  if (!S_ISREG(info.st_mode)) return fail("not a regular file");

  std::string data;
  char buffer[16 * 1024];
  while (data.size() <= max_bytes) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrnoText(errno));
    if (n == 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  return fail("larger than " + std::to_string(max_bytes / 1024) + " KiB");
}

}  // namespace detail

std::optional<std::string> Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (detail::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

Reason ReasonFor(TransportError error) {
  switch (error) {
    case TransportError::kTimeout:
      return Reason::kTimeout;
    case TransportError::kRefused:
    case TransportError::kDns:
    case TransportError::kTls:
    case TransportError::kConnection:
      return Reason::kUnreachable;
    case TransportError::kNone:
    case TransportError::kOther:
      return Reason::kError;
  }
  return Reason::kError;
}

std::string_view TransportErrorName(TransportError error) {
  switch (error) {
    case TransportError::kNone:
      return "none";
    case TransportError::kTimeout:
      return "timeout";
    case TransportError::kRefused:
      return "refused";
    case TransportError::kDns:
      return "dns";
    case TransportError::kTls:
      return "tls";
    case TransportError::kConnection:
      return "connection";
    case TransportError::kOther:
      return "other";
  }
  return "other";
}

ClientOptions ReadClientOptions(NodeReader& reader) {
  ClientOptions options;
  ReadPath(reader, "ca_file", &options.tls.ca_file);
  if (auto skip = reader.Bool("insecure_skip_verify")) {
    options.tls.insecure_skip_verify = *skip;
  }
  ReadPath(reader, "client_cert_file", &options.tls.client_cert_file);
  ReadPath(reader, "client_key_file", &options.tls.client_key_file);
  // Checked on presence, so an empty value is reported once, as empty.
  if (reader.Has("client_cert_file") && !reader.Has("client_key_file")) {
    reader.errors().Add(reader.Field("client_key_file"),
                        "is required when client_cert_file is set");
  }
  if (reader.Has("client_key_file") && !reader.Has("client_cert_file")) {
    reader.errors().Add(reader.Field("client_cert_file"),
                        "is required when client_key_file is set");
  }
  if (auto proxy = reader.String("proxy", /*required=*/false)) {
    if (auto problem = detail::ProxyUrlProblem(*proxy)) {
      reader.errors().Add(reader.Field("proxy"), *problem);
    } else {
      options.proxy = *proxy;
    }
  }
  return options;
}

std::vector<Setting> DescribeClientOptions(const ClientOptions& options,
                                           std::string_view endpoint) {
  const TlsOptions& tls = options.tls;
  auto path = [](std::string key, const std::string& value,
                 std::string_view unset) {
    return Setting{std::move(key), value.empty() ? std::string(unset) : value,
                   value.empty() ? "default" : "config"};
  };
  std::vector<Setting> settings = {
      path("ca_file", tls.ca_file, "system trust store"),
      {"insecure_skip_verify", tls.insecure_skip_verify ? "true" : "false",
       tls.insecure_skip_verify ? "config" : "default"},
      path("client_cert_file", tls.client_cert_file, "none"),
      path("client_key_file", tls.client_key_file, "none"),
  };

  if (!options.proxy.empty()) {
    settings.push_back({"proxy", DisplayProxy(options.proxy), "config"});
    return settings;
  }
  EnvProxy env = ProxyFromEnv(endpoint, ProxyEnvironment());
  settings.push_back(
      {"proxy", env.proxy ? DisplayProxy(*env.proxy) : "none",
       env.variable.empty() ? "default" : "env " + env.variable});
  return settings;
}

std::optional<std::string> ProxyFromEnvironment(
    std::string_view url, const std::map<std::string, std::string>& env) {
  return ProxyFromEnv(url, env).proxy;
}

std::map<std::string, std::string> ProxyEnvironment() {
  std::map<std::string, std::string> env;
  for (const char* name : kProxyVariables) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  return env;
}

namespace {

// Printable UTF-8 with no control characters (tab included: no credential
// format uses it, and it would fold inside an HTTP header).
bool ValidSecretText(std::string_view text) {
  const bool control = std::any_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
  return !control && !FirstInvalidUtf8(text);
}

}  // namespace

std::optional<std::string> ReadSecretFile(const std::string& path,
                                          std::string* error) {
  auto data = detail::ReadRegularFile(path, kMaxSecretBytes, error);
  if (!data) return std::nullopt;
  while (!data->empty() && (data->back() == '\n' || data->back() == '\r')) {
    data->pop_back();
  }
  if (data->empty()) {
    *error = path + ": is empty";
    return std::nullopt;
  }
  // Credentials end up in request headers: control characters would split
  // them, and bytes that are not UTF-8 mean the wrong file was mounted.
  if (!ValidSecretText(*data)) {
    *error = path + ": holds control characters or is not valid UTF-8";
    return std::nullopt;
  }
  return data;
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  std::vector<std::string_view> ordered;
  for (const std::string& secret : secrets) {
    if (!secret.empty()) ordered.push_back(secret);
  }
  if (ordered.empty()) return text;
  // Longest first, so a secret that contains another is hidden whole.
  std::sort(ordered.begin(), ordered.end(),
            [](std::string_view a, std::string_view b) {
              return a.size() > b.size();
            });
  std::string out;
  out.reserve(text.size());
  std::string_view rest = text;
  while (!rest.empty()) {
    auto match =
        std::find_if(ordered.begin(), ordered.end(),
                     [&](std::string_view s) { return rest.starts_with(s); });
    if (match != ordered.end()) {
      out += kRedacted;
      rest.remove_prefix(match->size());
    } else {
      out.push_back(rest.front());
      rest.remove_prefix(1);
    }
  }
  return out;
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                      c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace bgate::drivers::http
