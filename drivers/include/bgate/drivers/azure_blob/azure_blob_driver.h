#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/http/http_client.h"
#include "bgate/drivers/options.h"
#include "bgate/drivers/registry.h"

namespace bgate::drivers::azure_blob {

inline constexpr std::string_view kDriverName = "azure_blob";
// The REST version every request asks for; Azurite 3.37 accepts it.
inline constexpr std::string_view kApiVersion = "2021-08-06";
// Blobs listed per check: one page of List Blobs, enough to tell an empty
// container from a populated one without walking a huge one on every probe.
inline constexpr int kMaxListedBlobs = 1000;
// The write probe's blob is `prefix` + this + the instance id; the count of
// backups leaves such blobs out.
inline constexpr std::string_view kSentinelPrefix = ".backup-gate-sentinel-";

struct AzureBlobConfig {
  std::string account;
  std::string container;
  std::string prefix;
  // Scheme, host and optional path, without a trailing '/'. Path-style
  // endpoints (Azurite: http://127.0.0.1:10000/ACCOUNT) keep the account in
  // the path.
  std::string endpoint;
  // Exactly one of the two is set.
  std::string account_key_file;
  std::string sas_token_file;
  bool write_probe = false;
  http::ClientOptions client;
};

// Builds the HTTP client at each setup; http::MakeHttpClient in production.
using HttpClientFactory = std::function<std::unique_ptr<http::HttpClient>(
    const http::ClientOptions& options, std::string* error)>;

// Parsed azure_blob options. Immutable, hence thread-safe.
class AzureBlobOptions final : public DriverOptions {
 public:
  // `configured` names the keys the config spelled out; the others hold
  // their defaults.
  AzureBlobOptions(AzureBlobConfig config, std::set<std::string> configured);

  const AzureBlobConfig& config() const { return config_; }
  std::vector<Setting> Describe() const override;
  std::unique_ptr<Driver> CreateDriver(
      const DriverContext& context) const override;

 private:
  AzureBlobConfig config_;
  std::set<std::string> configured_;
};

// Checks an Azure Blob Storage container (or Azurite): it can be listed
// with the configured credential and, optionally, takes a blob that reads
// back unchanged. Not thread-safe, like every Driver.
class AzureBlobDriver final : public Driver {
 public:
  AzureBlobDriver(AzureBlobConfig config, const DriverContext& context,
                  HttpClientFactory make_client);

  // Reads the key or SAS file again (a rotated Secret is picked up) and
  // builds the HTTP client. No network I/O.
  Outcome Setup(const Deadline& deadline) override;
  Outcome Check(const Deadline& deadline) override;

  // The write probe's blob name; one per instance, so pods sharing a
  // container never touch each other's sentinel.
  const std::string& sentinel_name() const { return sentinel_name_; }

 private:
  struct Credential {
    std::string key;        // decoded account key, for Shared Key
    std::string sas_token;  // query string, for SAS
    // Every spelling of the credential that a detail must never show.
    std::vector<std::string> secrets;
  };

  // Read the credential file; on failure `error` names the key and the
  // path, never the contents.
  static std::optional<Credential> LoadAccountKey(const std::string& path,
                                                  std::string* error);
  static std::optional<Credential> LoadSasToken(const std::string& path,
                                                std::string* error);
  http::Response Send(http::Request request, const Deadline& deadline);
  Outcome Failed(std::string_view operation,
                 const http::Response& response) const;
  Outcome ProbeWrite(const Deadline& deadline);
  std::string ContainerUrl() const;
  std::string BlobUrl(std::string_view name) const;
  std::string Scrub(std::string text) const;

  AzureBlobConfig config_;
  std::string sentinel_name_;
  HttpClientFactory make_client_;
  std::unique_ptr<http::HttpClient> client_;
  Credential credential_;
};

// Reads account, container, prefix, endpoint, account_key_file or
// sas_token_file, write_probe and the shared TLS and proxy keys. Returns
// nullptr when it recorded errors.
std::shared_ptr<const DriverOptions> ParseAzureBlobOptions(NodeReader& reader);

// Adds the azure_blob driver to `registry`.
void Register(DriverRegistry& registry);

}  // namespace bgate::drivers::azure_blob
