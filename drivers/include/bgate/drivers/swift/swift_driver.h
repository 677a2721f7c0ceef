#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/http/http_client.h"
#include "bgate/drivers/registry.h"
#include "bgate/drivers/swift/swift_options.h"

namespace bgate::drivers::swift {

inline constexpr std::string_view kDriverName = "swift";
// Objects listed per check: the first page of the listing is enough to tell
// an empty store from a populated one.
inline constexpr std::size_t kListingLimit = 1000;
// Sentinels are not backups, so the object count leaves them out.
inline constexpr std::string_view kSentinelPrefix = ".backup-gate-sentinel-";
// A token this close to its expiry is replaced before use, so a request never
// races the expiry.
inline constexpr std::chrono::seconds kTokenRefreshMargin{60};

// Builds the HTTP client at each setup; tests pass a fake.
using ClientFactory = std::function<std::unique_ptr<http::HttpClient>(
    const http::ClientOptions& options, std::string* error)>;

// The clocks the driver reads for token expiry; tests substitute both.
struct DriverClock {
  std::function<SteadyTime()> steady = [] {
    return std::chrono::steady_clock::now();
  };
  std::function<std::chrono::system_clock::time_point()> system = [] {
    return std::chrono::system_clock::now();
  };
};

// Checks an OpenStack Swift container: authenticates (tempauth or Keystone
// v3), lists the first page under the prefix and, optionally, writes, reads
// back and deletes a sentinel object. Caches the token across checks. Not
// thread-safe, like every Driver.
class SwiftDriver final : public Driver {
 public:
  SwiftDriver(SwiftConfig config, const DriverContext& context,
              ClientFactory make_client = &http::MakeHttpClient,
              DriverClock clock = {});

  // Re-reads password_file, rebuilds the client and authenticates.
  Outcome Setup(const Deadline& deadline) override;
  Outcome Check(const Deadline& deadline) override;

  // Name of the write probe's object; one per instance, so pods sharing a
  // container never touch each other's sentinel.
  const std::string& sentinel_name() const { return sentinel_name_; }

 private:
  Outcome Authenticate(const Deadline& deadline);
  Outcome AuthenticateTempAuth(const Deadline& deadline);
  Outcome AuthenticateKeystone(const Deadline& deadline);
  void StartSession(std::string token, std::string storage_url,
                    std::optional<std::chrono::nanoseconds> lifetime);
  // Sends a request to `path` below the storage URL with the current token,
  // renewing the token first when it is about to expire, and once more
  // (retrying the request once) when the storage answers 401. Fails only when
  // no HTTP answer came or authentication failed; `response` holds the answer.
  Outcome SendStorage(std::string_view operation, const std::string& method,
                      const std::string& path, const std::string& body,
                      const Deadline& deadline, http::Response* response);
  Outcome ProbeWrite(const Deadline& deadline);
  std::string ContainerPath() const;

  // Every failure leaves through here, so that neither the password nor the
  // token can reach a detail, whatever a server echoes.
  Outcome Fail(Reason reason, std::string detail) const;
  Outcome FailStatus(std::string_view operation,
                     const http::Response& response) const;
  Outcome FailTransport(std::string_view operation,
                        const http::Response& response) const;

  SwiftConfig config_;
  std::string sentinel_name_;
  ClientFactory make_client_;
  DriverClock clock_;
  std::mt19937_64 random_;

  std::unique_ptr<http::HttpClient> client_;
  std::string password_;
  std::string token_;
  std::string storage_url_;
  std::optional<SteadyTime> renew_at_;  // nothing: renew only on a 401
};

// Adds the swift driver to `registry`.
void Register(DriverRegistry& registry);

}  // namespace bgate::drivers::swift
