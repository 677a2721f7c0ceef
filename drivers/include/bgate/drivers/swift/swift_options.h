#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/http/http_client.h"
#include "bgate/drivers/options.h"

namespace bgate::drivers::swift {

enum class AuthVersion {
  kTempAuth = 1,    // Swift's own v1 auth: GET with X-Auth-User/X-Auth-Key
  kKeystoneV3 = 3,  // POST /v3/auth/tokens with a password, project-scoped
};

struct SwiftConfig {
  std::string auth_url;
  AuthVersion auth_version = AuthVersion::kKeystoneV3;
  std::string username;
  std::string password_file;
  // Keystone v3 only.
  std::string project_name;
  std::string user_domain_name = "Default";
  std::string project_domain_name = "Default";
  std::string region;  // empty: the first object-store endpoint
  std::string interface = "public";

  std::string container;
  std::string prefix;
  bool write_probe = false;
  http::ClientOptions client;
};

// Parsed swift options. Immutable, hence thread-safe.
class SwiftOptions final : public DriverOptions {
 public:
  // `configured` names the keys the config spelled out; the others hold their
  // defaults.
  SwiftOptions(SwiftConfig config, std::set<std::string> configured);

  const SwiftConfig& config() const { return config_; }
  std::vector<Setting> Describe() const override;
  std::unique_ptr<Driver> CreateDriver(
      const DriverContext& context) const override;

 private:
  SwiftConfig config_;
  std::set<std::string> configured_;
};

// Reads the swift keys (see the README) and the shared TLS and proxy keys.
// Returns nullptr when it recorded errors.
std::shared_ptr<const DriverOptions> ParseSwiftOptions(NodeReader& reader);

}  // namespace bgate::drivers::swift
