#include "bgate/drivers/swift/swift_driver.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <utility>
#include <vector>

#include "keystone.h"
#include "swift_json.h"

namespace bgate::drivers::swift {
namespace {

// Longer instance ids are cut so the object name stays short.
constexpr std::size_t kMaxInstanceIdBytes = 128;
// Longer token lifetimes are read as this one: no real token lasts so long,
// and time arithmetic on it stays far from overflow.
constexpr std::chrono::hours kLongestTokenLifetime{24 * 366};

// Instance ids come from pod names and the like; a portable alphabet keeps
// the object name unambiguous in listings and URLs.
std::string SentinelName(std::string_view instance_id) {
  std::string name(kSentinelPrefix);
  for (char c : instance_id.substr(0, kMaxInstanceIdBytes)) {
    bool portable = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    name.push_back(portable ? c : '_');
  }
  return name;
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

std::string StatusText(const http::Response& response) {
  std::string text = "HTTP " + std::to_string(response.status);
  std::string message = detail::ServerMessage(response.body);
  if (!message.empty()) text += " (" + message + ")";
  return text;
}

// Tempauth says how many seconds the token has left.
std::optional<std::chrono::nanoseconds> TempAuthLifetime(
    const http::Response& response) {
  std::optional<std::string> header = response.Header("x-auth-token-expires");
  if (!header) return std::nullopt;
  std::int64_t seconds = 0;
  auto [end, ec] =
      std::from_chars(header->data(), header->data() + header->size(), seconds);
  if (ec != std::errc() || end != header->data() + header->size()) {
    return std::nullopt;
  }
  const std::chrono::seconds longest = kLongestTokenLifetime;
  return std::chrono::seconds(
      std::clamp<std::int64_t>(seconds, 0, longest.count()));
}

std::string CountText(const detail::Listing& listing) {
  std::string text = std::to_string(listing.backups());
  if (listing.entries >= kListingLimit) text += "+";
  return text + (text == "1" ? " object" : " objects");
}

}  // namespace

SwiftDriver::SwiftDriver(SwiftConfig config, const DriverContext& context,
                         ClientFactory make_client, DriverClock clock)
    : config_(std::move(config)),
      sentinel_name_(SentinelName(context.instance_id)),
      make_client_(std::move(make_client)),
      clock_(std::move(clock)),
      random_(std::random_device{}()) {}

Outcome SwiftDriver::Setup(const Deadline& deadline) {
  std::string error;
  client_ = make_client_(config_.client, &error);
  if (client_ == nullptr) {
    return Fail(Reason::kMisconfigured, "http client: " + error);
  }
  return Authenticate(deadline);
}

Outcome SwiftDriver::Authenticate(const Deadline& deadline) {
  token_.clear();
  storage_url_.clear();
  renew_at_.reset();
  // Read on every authentication, so a rotated Secret takes effect without a
  // restart.
  std::string error;
  std::optional<std::string> password =
      http::ReadSecretFile(config_.password_file, &error);
  if (!password) {
    return Fail(Reason::kMisconfigured, "password_file: " + error);
  }
  password_ = std::move(*password);
  return config_.auth_version == AuthVersion::kTempAuth
             ? AuthenticateTempAuth(deadline)
             : AuthenticateKeystone(deadline);
}

Outcome SwiftDriver::AuthenticateTempAuth(const Deadline& deadline) {
  const std::string operation = "tempauth at " + config_.auth_url;
  http::Request request{
      "GET",
      config_.auth_url,
      {{"X-Auth-User", config_.username}, {"X-Auth-Key", password_}},
      ""};
  http::Response response = client_->Send(request, deadline);
  if (!response.ok()) return FailTransport(operation, response);
  if (response.status == 404) {
    // Nothing answers auth there: a wrong auth_url, which no retry fixes.
    return Fail(Reason::kMisconfigured,
                operation + ": HTTP 404, check auth_url");
  }
  if (!IsSuccess(response.status)) return FailStatus(operation, response);
  std::optional<std::string> token = response.Header("x-auth-token");
  std::optional<std::string> url = response.Header("x-storage-url");
  if (!token || token->empty() || !url || url->empty()) {
    return Fail(Reason::kError,
                operation + ": answer lacks X-Auth-Token or X-Storage-Url");
  }
  while (url->ends_with('/')) url->pop_back();
  StartSession(std::move(*token), std::move(*url), TempAuthLifetime(response));
  return Outcome::Success("authenticated with tempauth, storage at " +
                          storage_url_);
}

Outcome SwiftDriver::AuthenticateKeystone(const Deadline& deadline) {
  const std::string url = detail::TokensUrl(config_.auth_url);
  const std::string operation = "keystone at " + url;
  http::Request request{
      "POST",
      url,
      {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
      detail::TokenRequestBody({config_.username, password_,
                                config_.user_domain_name, config_.project_name,
                                config_.project_domain_name})};
  http::Response response = client_->Send(request, deadline);
  if (!response.ok()) return FailTransport(operation, response);
  if (response.status == 404) {
    // Keystone answers unknown users, domains and projects with 401; a 404
    // on /v3/auth/tokens means auth_url does not lead to an Identity v3 API
    // (a v2.0 URL, a wrong path prefix), which no retry fixes.
    return Fail(Reason::kMisconfigured,
                operation + ": HTTP 404, is auth_url a Keystone v3 endpoint?");
  }
  if (!IsSuccess(response.status)) return FailStatus(operation, response);
  std::optional<std::string> token = response.Header("x-subject-token");
  if (!token || token->empty()) {
    return Fail(Reason::kError, operation + ": answer lacks X-Subject-Token");
  }
  detail::TokenParse parsed = detail::ParseTokenResponse(
      response.body, {config_.region, config_.interface});
  if (!parsed.token)
    return Fail(parsed.reason, operation + ": " + parsed.error);
  const auto lifetime = detail::TokenLifetime(*parsed.token, clock_.system());
  if (lifetime <= std::chrono::nanoseconds::zero()) {
    return Fail(Reason::kError, operation + ": the token issued has expired");
  }
  StartSession(std::move(*token), std::move(parsed.token->storage_url),
               lifetime);
  return Outcome::Success("authenticated with keystone v3, storage at " +
                          storage_url_);
}

void SwiftDriver::StartSession(
    std::string token, std::string storage_url,
    std::optional<std::chrono::nanoseconds> lifetime) {
  token_ = std::move(token);
  storage_url_ = std::move(storage_url);
  if (!lifetime) return;
  lifetime =
      std::min<std::chrono::nanoseconds>(*lifetime, kLongestTokenLifetime);
  // Short-lived tokens would always sit inside the margin; renew those
  // halfway instead.
  const auto margin =
      std::min<std::chrono::nanoseconds>(kTokenRefreshMargin, *lifetime / 2);
  renew_at_ = clock_.steady() + *lifetime - margin;
}

Outcome SwiftDriver::Check(const Deadline& deadline) {
  if (client_ == nullptr) {
    if (Outcome setup = Setup(deadline); !setup.ok) return setup;
  }
  const std::string operation = "list container " + config_.container;
  const std::string path = ContainerPath() + "?format=json&prefix=" +
                           http::UriEncode(config_.prefix, false) +
                           "&limit=" + std::to_string(kListingLimit);
  http::Response response;
  if (Outcome sent =
          SendStorage(operation, "GET", path, "", deadline, &response);
      !sent.ok) {
    return sent;
  }
  if (response.status == 404) {
    return Fail(Reason::kNotFound,
                "container " + config_.container + " does not exist");
  }
  if (!IsSuccess(response.status)) return FailStatus(operation, response);

  // An empty container may answer 204 with no body.
  detail::Listing listing;
  if (response.status != 204) {
    detail::ListingParse parsed = detail::ParseListing(
        response.body, config_.prefix + std::string(kSentinelPrefix));
    if (!parsed.listing) {
      return Fail(Reason::kError, operation + ": " + parsed.error);
    }
    listing = *parsed.listing;
  }

  std::string text =
      "container " + config_.container + ": " + CountText(listing);
  if (!config_.prefix.empty()) text += " under prefix " + config_.prefix;
  if (config_.write_probe) {
    if (Outcome probe = ProbeWrite(deadline); !probe.ok) return probe;
    text += ", write probe ok";
  }
  return Outcome::Success(std::move(text));
}

Outcome SwiftDriver::ProbeWrite(const Deadline& deadline) {
  const std::string object = config_.prefix + sentinel_name_;
  const std::string path =
      ContainerPath() + "/" + http::UriEncode(object, true);
  // Fresh content every time, so a cached or stale object cannot pass for a
  // successful round trip.
  char content[64];
  std::snprintf(content, sizeof(content),
                "backup-gate sentinel %016" PRIx64 "%016" PRIx64 "\n",
                static_cast<std::uint64_t>(random_()),
                static_cast<std::uint64_t>(random_()));

  http::Response response;
  const std::string write = "write sentinel " + object;
  if (Outcome sent =
          SendStorage(write, "PUT", path, content, deadline, &response);
      !sent.ok) {
    return sent;
  }
  // Swift answers 413 when an account or container quota is used up and
  // 507 when its disks are full: both mean no room for backups.
  if (response.status == 413 || response.status == 507) {
    return Fail(Reason::kNoSpace, write + ": " + StatusText(response));
  }
  if (!IsSuccess(response.status)) return FailStatus(write, response);

  const std::string read = "read sentinel " + object;
  Outcome result = SendStorage(read, "GET", path, "", deadline, &response);
  if (result.ok && !IsSuccess(response.status)) {
    result = FailStatus(read, response);
  } else if (result.ok && response.body != content) {
    result =
        Fail(Reason::kError, read + ": content differs from what was written");
  }

  // Removed whatever the read gave, so a failed probe leaves nothing behind.
  const std::string remove = "delete sentinel " + object;
  Outcome removed =
      SendStorage(remove, "DELETE", path, "", deadline, &response);
  if (!result.ok) return result;
  if (!removed.ok) return removed;
  // 404: already gone, which is all a delete wants.
  if (!IsSuccess(response.status) && response.status != 404) {
    return FailStatus(remove, response);
  }
  return Outcome::Success();
}

Outcome SwiftDriver::SendStorage(std::string_view operation,
                                 const std::string& method,
                                 const std::string& path,
                                 const std::string& body,
                                 const Deadline& deadline,
                                 http::Response* response) {
  if (token_.empty() || (renew_at_ && clock_.steady() >= *renew_at_)) {
    if (Outcome auth = Authenticate(deadline); !auth.ok) return auth;
  }
  for (bool renewed = false;; renewed = true) {
    http::Request request{
        method, storage_url_ + path, {{"X-Auth-Token", token_}}, body};
    *response = client_->Send(request, deadline);
    if (!response->ok()) return FailTransport(operation, *response);
    // A token can be revoked or expire early (a Keystone restart, a cleared
    // memcached): one fresh token tells that apart from bad credentials.
    if (response->status != 401 || renewed) return Outcome::Success();
    if (Outcome auth = Authenticate(deadline); !auth.ok) return auth;
  }
}

std::string SwiftDriver::ContainerPath() const {
  return "/" + http::UriEncode(config_.container, false);
}

Outcome SwiftDriver::Fail(Reason reason, std::string detail) const {
  std::vector<std::string> secrets;
  for (const std::string* secret : {&password_, &token_}) {
    if (!secret->empty()) secrets.push_back(*secret);
  }
  // Redacted before Outcome caps the length, which could cut a secret in
  // half and leave the head unrecognised.
  return Outcome::Failure(reason, http::Redact(std::move(detail), secrets));
}

Outcome SwiftDriver::FailStatus(std::string_view operation,
                                const http::Response& response) const {
  Reason reason = Reason::kError;
  switch (response.status) {
    case 401:
      reason = Reason::kAuth;
      break;
    case 403:
      reason = Reason::kPermission;
      break;
    case 404:
      reason = Reason::kNotFound;
      break;
    default:
      break;
  }
  return Fail(reason, std::string(operation) + ": " + StatusText(response));
}

Outcome SwiftDriver::FailTransport(std::string_view operation,
                                   const http::Response& response) const {
  std::string text = std::string(operation) + ": " +
                     std::string(http::TransportErrorName(response.error));
  if (!response.error_detail.empty())
    text += " (" + response.error_detail + ")";
  return Fail(http::ReasonFor(response.error), std::move(text));
}

void Register(DriverRegistry& registry) {
  registry.Register({std::string(kDriverName), &ParseSwiftOptions});
}

}  // namespace bgate::drivers::swift
