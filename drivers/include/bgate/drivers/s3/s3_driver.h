#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/http/http_client.h"
#include "bgate/drivers/options.h"
#include "bgate/drivers/registry.h"

namespace bgate::drivers::s3 {

inline constexpr std::string_view kDriverName = "s3";
// Sentinels are not backups, so the object count leaves them out.
inline constexpr std::string_view kSentinelPrefix = ".backup-gate-sentinel-";
// One page of a listing: enough to tell an empty store from a populated one
// without walking a huge bucket on every probe.
inline constexpr int kMaxListedKeys = 1000;
inline constexpr std::string_view kDefaultRegion = "us-east-1";

struct S3Config {
  std::string endpoint;  // as configured
  // From `endpoint`: "https" or "http", the host in lower case (an IPv6
  // address in brackets) and the port, 0 when it is the scheme's default.
  std::string scheme;
  std::string host;
  std::uint16_t port = 0;

  std::string region = std::string(kDefaultRegion);
  std::string bucket;
  std::string prefix;
  // false: https://BUCKET.host/KEY; true: https://host/BUCKET/KEY.
  bool path_style = false;
  // Both or neither; neither: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
  // AWS_SESSION_TOKEN from the environment.
  std::string access_key_id_file;
  std::string secret_access_key_file;
  bool write_probe = false;
  http::ClientOptions client;
};

// Reads one environment variable; nothing when unset.
using EnvLookup =
    std::function<std::optional<std::string>(const std::string& name)>;
using ClientFactory = std::function<std::unique_ptr<http::HttpClient>(
    const http::ClientOptions& options, std::string* error)>;
using WallClock = std::function<std::chrono::system_clock::time_point()>;

std::optional<std::string> ProcessEnvironment(const std::string& name);

// What the driver takes from the process: the HTTP client, the environment
// and the time it signs with. Tests swap in fakes.
struct S3Runtime {
  ClientFactory make_client = &http::MakeHttpClient;
  EnvLookup env = &ProcessEnvironment;
  WallClock now = [] { return std::chrono::system_clock::now(); };
};

// Parsed s3 options. Immutable, hence thread-safe.
class S3Options final : public DriverOptions {
 public:
  // `configured` names the keys the config spelled out; the others hold
  // their defaults.
  S3Options(S3Config config, std::set<std::string> configured,
            S3Runtime runtime = {});

  const S3Config& config() const { return config_; }
  // Secrets appear as file paths or "(set)", never as values.
  std::vector<Setting> Describe() const override;
  std::unique_ptr<Driver> CreateDriver(
      const DriverContext& context) const override;

 private:
  S3Config config_;
  std::set<std::string> configured_;
  S3Runtime runtime_;
};

// Checks an S3 bucket (AWS, or a gateway such as MinIO, Ceph radosgw or
// Swift's s3api): the first page of the backups under the prefix can be
// listed and, optionally, an object can be put, read back and deleted.
// Requests are signed with AWS Signature Version 4. Not thread-safe, like
// every Driver.
class S3Driver final : public Driver {
 public:
  S3Driver(S3Config config, const DriverContext& context,
           S3Runtime runtime = {});
  ~S3Driver() override;

  // Reads the credentials again (a rotated Secret is picked up) and builds
  // the HTTP client that Check keeps using.
  Outcome Setup(const Deadline& deadline) override;
  Outcome Check(const Deadline& deadline) override;

  // The object the write probe puts; one per instance, so pods sharing a
  // bucket never touch each other's sentinel.
  const std::string& sentinel_key() const { return sentinel_key_; }

 private:
  struct Session;

  http::Response Send(
      std::string_view method, std::string_view key,
      const std::vector<std::pair<std::string, std::string>>& query,
      std::string body, const Deadline& deadline);
  Outcome List(const Deadline& deadline, std::string* summary);
  Outcome ProbeWrite(const Deadline& deadline);
  Outcome ReadBack(const std::string& expected, const Deadline& deadline);
  Outcome RequestFailed(std::string_view operation,
                        const http::Response& response) const;
  // Every outcome leaves through here: secrets are replaced before the
  // detail is folded and capped, so a cut cannot leave half a secret.
  Outcome Fail(Reason reason, std::string detail) const;

  S3Config config_;
  std::string sentinel_key_;
  S3Runtime runtime_;
  std::unique_ptr<Session> session_;
};

// Reads the s3 keys and the shared TLS/proxy keys from a backend's mapping,
// then rejects unknown keys. Returns nullptr when it recorded errors.
std::shared_ptr<const DriverOptions> ParseS3Options(NodeReader& reader);
std::shared_ptr<const DriverOptions> ParseS3Options(NodeReader& reader,
                                                    S3Runtime runtime);

// Adds the s3 driver to `registry`.
void Register(DriverRegistry& registry);

}  // namespace bgate::drivers::s3
