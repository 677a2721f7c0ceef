#include "keystone.h"

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

#include "swift_json.h"

namespace bgate::drivers::swift::detail {
namespace {

using nlohmann::json;

constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2200;

// Reads `count` decimal digits at `pos`.
std::optional<int> Digits(std::string_view text, std::size_t pos,
                          std::size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

bool CharAt(std::string_view text, std::size_t pos, char expected) {
  return pos < text.size() && text[pos] == expected;
}

// Parses the zone designator that ends a timestamp: nothing (UTC), "Z", or
// "+HH:MM" / "-HHMM".
std::optional<std::chrono::minutes> ParseZone(std::string_view zone) {
  if (zone.empty() || zone == "Z" || zone == "z") {
    return std::chrono::minutes(0);
  }
  if (zone.front() != '+' && zone.front() != '-') return std::nullopt;
  std::string_view rest = zone.substr(1);
  std::optional<int> hours = Digits(rest, 0, 2);
  std::optional<int> minutes;
  if (rest.size() == 5 && rest[2] == ':') {
    minutes = Digits(rest, 3, 2);
  } else if (rest.size() == 4) {
    minutes = Digits(rest, 2, 2);
  }
  if (!hours || !minutes || *hours > 23 || *minutes > 59) return std::nullopt;
  std::chrono::minutes offset(*hours * 60 + *minutes);
  return zone.front() == '-' ? -offset : offset;
}

std::string JoinLimited(const std::vector<std::string>& items) {
  constexpr std::size_t kShown = 6;
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kShown; ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  if (items.size() > kShown) out += ", ...";
  return out.empty() ? "none" : out;
}

std::string Describe(const json& endpoint) {
  const std::string* region = StringMember(endpoint, "region_id");
  if (region == nullptr) region = StringMember(endpoint, "region");
  const std::string* interface = StringMember(endpoint, "interface");
  return (region != nullptr ? *region : std::string("(no region)")) + "/" +
         (interface != nullptr ? *interface : std::string("?"));
}

// Keystone has written the region both as "region" (deprecated) and
// "region_id"; either may name the region the config asks for.
bool InRegion(const json& endpoint, const std::string& region) {
  for (const char* key : {"region_id", "region"}) {
    const std::string* value = StringMember(endpoint, key);
    if (value != nullptr && *value == region) return true;
  }
  return false;
}

bool IsHttpUrl(std::string_view url) {
  return (url.starts_with("http://") && url.size() > 7) ||
         (url.starts_with("https://") && url.size() > 8);
}

TokenParse Misconfigured(std::string error) {
  return {std::nullopt, Reason::kMisconfigured, std::move(error)};
}

TokenParse Garbage(std::string error) {
  return {std::nullopt, Reason::kError, std::move(error)};
}

TokenParse SelectEndpoint(const json& catalog, const EndpointChoice& choice,
                          KeystoneToken token) {
  std::vector<std::string> services;
  std::vector<std::string> offered;
  bool has_object_store = false;
  for (const json& service : catalog) {
    const std::string* type = StringMember(service, "type");
    if (type == nullptr) continue;
    services.push_back(*type);
    if (*type != "object-store") continue;
    has_object_store = true;
    auto endpoints = service.find("endpoints");
    if (endpoints == service.end() || !endpoints->is_array()) continue;
    for (const json& endpoint : *endpoints) {
      const std::string* interface = StringMember(endpoint, "interface");
      const std::string* url = StringMember(endpoint, "url");
      if (interface == nullptr || url == nullptr) continue;
      offered.push_back(Describe(endpoint));
      if (*interface != choice.interface) continue;
      if (!choice.region.empty() && !InRegion(endpoint, choice.region)) {
        continue;
      }
      if (!IsHttpUrl(*url)) {
        return Garbage("the object-store endpoint URL is not http(s)");
      }
      token.storage_url = *url;
      while (token.storage_url.ends_with('/')) token.storage_url.pop_back();
      return {std::move(token), Reason::kError, ""};
    }
  }
  if (!has_object_store) {
    return Misconfigured(
        "the service catalog has no object-store service (services: " +
        JoinLimited(services) + ")");
  }
  std::string wanted = "interface " + choice.interface;
  if (!choice.region.empty()) wanted += " in region " + choice.region;
  return Misconfigured(
      "the service catalog has no object-store endpoint "
      "with " +
      wanted + " (endpoints: " + JoinLimited(offered) + ")");
}

}  // namespace

std::optional<SystemTime> ParseTimestamp(std::string_view text) {
  using namespace std::chrono;
  const auto y = Digits(text, 0, 4);
  const auto mo = Digits(text, 5, 2);
  const auto d = Digits(text, 8, 2);
  const auto h = Digits(text, 11, 2);
  const auto mi = Digits(text, 14, 2);
  const auto s = Digits(text, 17, 2);
  if (!y || !mo || !d || !h || !mi || !s || !CharAt(text, 4, '-') ||
      !CharAt(text, 7, '-') || !CharAt(text, 13, ':') ||
      !CharAt(text, 16, ':')) {
    return std::nullopt;
  }
  if (!CharAt(text, 10, 'T') && !CharAt(text, 10, 't') &&
      !CharAt(text, 10, ' ')) {
    return std::nullopt;
  }
  const year_month_day date{year(*y), month(static_cast<unsigned>(*mo)),
                            day(static_cast<unsigned>(*d))};
  // 60 seconds is a leap second. The years keep times, and differences
  // between them, within system_clock's 64-bit nanoseconds.
  if (!date.ok() || *y < kMinYear || *y > kMaxYear || *h > 23 || *mi > 59 ||
      *s > 60) {
    return std::nullopt;
  }

  std::size_t pos = 19;
  nanoseconds fraction(0);
  if (CharAt(text, pos, '.')) {
    ++pos;
    const std::size_t start = pos;
    std::int64_t scale = 100'000'000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      // Digits beyond nanoseconds carry nothing a token expiry needs.
      fraction += nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  const auto offset = ParseZone(text.substr(pos));
  if (!offset) return std::nullopt;

  const auto at = sys_days(date) + hours(*h) + minutes(*mi) + seconds(*s) +
                  fraction - *offset;
  return time_point_cast<system_clock::duration>(at);
}

std::string TokensUrl(std::string_view auth_url) {
  std::string base(auth_url);
  while (base.ends_with('/')) base.pop_back();
  if (!base.ends_with("/v3")) base += "/v3";
  return base + "/auth/tokens";
}

std::string TokenRequestBody(const PasswordCredentials& credentials) {
  const json body = {
      {"auth",
       {{"identity",
         {{"methods", json::array({"password"})},
          {"password",
           {{"user",
             {{"name", credentials.username},
              {"domain", {{"name", credentials.user_domain_name}}},
              {"password", credentials.password}}}}}}},
        {"scope",
         {{"project",
           {{"name", credentials.project_name},
            {"domain", {{"name", credentials.project_domain_name}}}}}}}}}};
  // Config values are YAML, hence UTF-8, but a password file may hold any
  // bytes: replace what is not UTF-8 rather than throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

TokenParse ParseTokenResponse(std::string_view body,
                              const EndpointChoice& choice) {
  const json doc = ParseJson(body);
  if (!doc.is_object()) return Garbage("the token response is not JSON");
  auto token_it = doc.find("token");
  if (token_it == doc.end() || !token_it->is_object()) {
    return Garbage("the token response has no token object");
  }
  const json& token = *token_it;

  KeystoneToken result;
  const std::string* expires_at = StringMember(token, "expires_at");
  std::optional<SystemTime> expires =
      expires_at != nullptr ? ParseTimestamp(*expires_at) : std::nullopt;
  if (!expires) return Garbage("the token has no valid expires_at");
  result.expires_at = *expires;
  // issued_at only sharpens the lifetime; without it expires_at still serves.
  if (const std::string* issued_at = StringMember(token, "issued_at")) {
    result.issued_at = ParseTimestamp(*issued_at);
  }

  auto catalog = token.find("catalog");
  if (catalog == token.end() || !catalog->is_array()) {
    return Misconfigured(
        "the token carries no service catalog (is the project scope right?)");
  }
  return SelectEndpoint(*catalog, choice, std::move(result));
}

std::chrono::nanoseconds TokenLifetime(const KeystoneToken& token,
                                       SystemTime now) {
  const SystemTime from = token.issued_at.value_or(now);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(token.expires_at -
                                                              from);
}

}  // namespace bgate::drivers::swift::detail
