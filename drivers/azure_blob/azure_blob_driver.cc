#include "bgate/drivers/azure_blob/azure_blob_driver.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <utility>

#include "bgate/drivers/http/crypto.h"
#include "blob_xml.h"
#include "credentials.h"
#include "error_mapping.h"
#include "shared_key.h"

namespace bgate::drivers::azure_blob {
namespace {

// Longer instance ids are cut so the sentinel's blob name stays short.
constexpr std::size_t kMaxInstanceIdBytes = 128;
// Azure's limit on a blob name.
constexpr std::size_t kMaxBlobNameBytes = 1024;
constexpr std::size_t kMaxPrefixBytes =
    kMaxBlobNameBytes - kSentinelPrefix.size() - kMaxInstanceIdBytes;
constexpr std::size_t kSentinelBytes = 32;

bool IsLowerOrDigit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool IsValidAccount(std::string_view account) {
  return account.size() >= 3 && account.size() <= 24 &&
         std::all_of(account.begin(), account.end(), IsLowerOrDigit);
}

// Azure's container naming rules: 3 to 63 lower-case letters, digits and
// single hyphens, starting and ending with a letter or digit.
bool IsValidContainer(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  if (!IsLowerOrDigit(name.front()) || !IsLowerOrDigit(name.back())) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (IsLowerOrDigit(name[i])) continue;
    if (name[i] != '-' || name[i - 1] == '-') return false;
  }
  return true;
}

bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// The endpoint without trailing slashes, or nothing with the reason in
// `error`.
std::optional<std::string> NormalizeEndpoint(std::string_view url,
                                             std::string* error) {
  std::size_t scheme_end = 0;
  if (url.starts_with("https://")) {
    scheme_end = 8;
  } else if (url.starts_with("http://")) {
    scheme_end = 7;
  } else {
    *error = "must be an http:// or https:// URL";
    return std::nullopt;
  }
  if (HasControlCharacter(url) || url.find(' ') != std::string_view::npos) {
    *error = "must not contain white space";
    return std::nullopt;
  }
  if (url.find_first_of("?#") != std::string_view::npos) {
    // A SAS pasted here would end up in logs and `validate` output.
    *error = "must not have a query or fragment (a SAS token goes in "
             "sas_token_file)";
    return std::nullopt;
  }
  std::string_view rest = url.substr(scheme_end);
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string_view::npos) {
    *error = "must not contain user information";
    return std::nullopt;
  }
  if (authority.empty()) {
    *error = "has no host";
    return std::nullopt;
  }
  while (url.ends_with('/')) url.remove_suffix(1);
  return std::string(url);
}

// Instance ids come from pod names and the like; anything outside a portable
// alphabet would need escaping and could collide once escaped.
std::string SentinelName(std::string_view prefix,
                         std::string_view instance_id) {
  std::string name = std::string(prefix) + std::string(kSentinelPrefix);
  for (char c : instance_id.substr(0, kMaxInstanceIdBytes)) {
    bool portable = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
    name.push_back(portable ? c : '_');
  }
  return name;
}

// RFC 1123 in English whatever the process locale, as x-ms-date requires.
std::string HttpDate(std::chrono::system_clock::time_point now) {
  static constexpr std::array<const char*, 7> kDays = {
      "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun",
      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[40];
  std::snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                kDays[static_cast<std::size_t>(tm.tm_wday % 7)], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon % 12)],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return text;
}

bool IsSuccess(const http::Response& response) {
  return response.ok() && response.status >= 200 && response.status < 300;
}

Outcome TimedOut(std::string_view step) {
  return Outcome::Failure(Reason::kTimeout,
                          "deadline passed before " + std::string(step));
}

std::string CountText(std::size_t count, bool truncated) {
  std::string text = std::to_string(count);
  if (truncated) text += "+";
  return text + (count == 1 && !truncated ? " blob" : " blobs");
}

std::string ClientFactoryError(const std::string& error) {
  return error.empty() ? "cannot create the HTTP client" : error;
}

}  // namespace

AzureBlobOptions::AzureBlobOptions(AzureBlobConfig config,
                                   std::set<std::string> configured)
    : config_(std::move(config)), configured_(std::move(configured)) {}

std::vector<Setting> AzureBlobOptions::Describe() const {
  auto source = [this](const std::string& key) {
    return configured_.contains(key) ? "config" : "default";
  };
  std::vector<Setting> settings = {
      {"account", config_.account, "config"},
      {"container", config_.container, "config"},
      {"prefix", config_.prefix, source("prefix")},
      {"endpoint", config_.endpoint, source("endpoint")},
  };
  // Secrets are shown by where they live, never by what they are.
  if (!config_.account_key_file.empty()) {
    settings.push_back(
        {"account_key_file", config_.account_key_file, "config"});
  } else {
    settings.push_back({"sas_token_file", config_.sas_token_file, "config"});
  }
  settings.push_back({"write_probe", config_.write_probe ? "true" : "false",
                      source("write_probe")});
  for (auto& setting :
       http::DescribeClientOptions(config_.client, config_.endpoint)) {
    settings.push_back(std::move(setting));
  }
  return settings;
}

std::unique_ptr<Driver> AzureBlobOptions::CreateDriver(
    const DriverContext& context) const {
  return std::make_unique<AzureBlobDriver>(config_, context,
                                           &http::MakeHttpClient);
}

AzureBlobDriver::AzureBlobDriver(AzureBlobConfig config,
                                 const DriverContext& context,
                                 HttpClientFactory make_client)
    : config_(std::move(config)),
      sentinel_name_(SentinelName(config_.prefix, context.instance_id)),
      make_client_(std::move(make_client)) {}

Outcome AzureBlobDriver::Setup(const Deadline& /*deadline*/) {
  // A failed setup must not leave the previous credential in use.
  client_.reset();
  credential_ = {};

  std::string error;
  std::optional<Credential> credential =
      config_.account_key_file.empty()
          ? LoadSasToken(config_.sas_token_file, &error)
          : LoadAccountKey(config_.account_key_file, &error);
  if (!credential) return Outcome::Failure(Reason::kMisconfigured, error);
  std::erase_if(credential->secrets,
                [](const std::string& secret) { return secret.empty(); });

  std::unique_ptr<http::HttpClient> client =
      make_client_(config_.client, &error);
  if (!client) {
    return Outcome::Failure(Reason::kMisconfigured,
                            Scrub(ClientFactoryError(error)));
  }
  client_ = std::move(client);
  credential_ = std::move(*credential);
  return Outcome::Success();
}

std::optional<AzureBlobDriver::Credential> AzureBlobDriver::LoadAccountKey(
    const std::string& path, std::string* error) {
  std::optional<std::string> text = http::ReadSecretFile(path, error);
  if (!text) {
    *error = "account_key_file: " + *error;
    return std::nullopt;
  }
  std::optional<std::string> key = detail::DecodeAccountKey(*text, error);
  if (!key) {
    *error = "account_key_file " + path + " " + *error;
    return std::nullopt;
  }
  Credential credential;
  credential.key = std::move(*key);
  // The file's text and the key's canonical spelling, in case the file
  // holds white space around it.
  credential.secrets = {*text, http::Base64Encode(credential.key),
                        credential.key};
  return credential;
}

std::optional<AzureBlobDriver::Credential> AzureBlobDriver::LoadSasToken(
    const std::string& path, std::string* error) {
  std::optional<std::string> text = http::ReadSecretFile(path, error);
  if (!text) {
    *error = "sas_token_file: " + *error;
    return std::nullopt;
  }
  std::optional<std::string> token = detail::NormalizeSasToken(*text, error);
  if (!token) {
    *error = "sas_token_file " + path + " " + *error;
    return std::nullopt;
  }
  Credential credential;
  credential.sas_token = std::move(*token);
  credential.secrets = detail::SasSignatures(credential.sas_token);
  credential.secrets.push_back(*text);
  credential.secrets.push_back(credential.sas_token);
  return credential;
}

Outcome AzureBlobDriver::Check(const Deadline& deadline) {
  if (!client_) {
    return Outcome::Failure(Reason::kError, "check ran without a setup");
  }
  if (deadline.Expired()) return TimedOut("list blobs");

  std::string url = ContainerUrl() + "?restype=container&comp=list";
  if (!config_.prefix.empty()) {
    url += "&prefix=" + http::UriEncode(config_.prefix, /*keep_slash=*/false);
  }
  url += "&maxresults=" + std::to_string(kMaxListedBlobs);
  http::Response response = Send({"GET", url, {}, {}}, deadline);
  if (!IsSuccess(response)) return Failed("list blobs", response);

  std::optional<detail::BlobListing> listing =
      detail::ParseBlobListing(response.body);
  if (!listing) {
    std::string detail = "list blobs: HTTP " +
                         std::to_string(response.status) +
                         " but the body is not a blob listing";
    if (response.body_truncated) detail += " (cut short by the size limit)";
    return Outcome::Failure(Reason::kError, std::move(detail));
  }
  const std::string sentinels = config_.prefix + std::string(kSentinelPrefix);
  const auto count = static_cast<std::size_t>(std::count_if(
      listing->names.begin(), listing->names.end(),
      [&](const std::string& name) { return !name.starts_with(sentinels); }));

  std::string detail = "container " + config_.container + ": " +
                       CountText(count, !listing->next_marker.empty());
  if (!config_.prefix.empty()) detail += " under prefix " + config_.prefix;
  if (config_.write_probe) {
    Outcome probe = ProbeWrite(deadline);
    if (!probe.ok) return probe;
    detail += ", write probe ok";
  }
  return Outcome::Success(Scrub(std::move(detail)));
}

// Fresh random content on every probe, so a cache or a blob left from an
// earlier check cannot pass for a successful round trip. PUT overwrites a
// sentinel a crashed check left behind.
Outcome AzureBlobDriver::ProbeWrite(const Deadline& deadline) {
  const std::string url = BlobUrl(sentinel_name_);
  const std::string content = http::RandomBytes(kSentinelBytes);

  if (deadline.Expired()) return TimedOut("put sentinel");
  http::Response put = Send({"PUT",
                             url,
                             {{"x-ms-blob-type", "BlockBlob"},
                              {"Content-Type", "application/octet-stream"}},
                             content},
                            deadline);
  if (!IsSuccess(put)) return Failed("put sentinel", put);

  if (deadline.Expired()) return TimedOut("get sentinel");
  http::Response get = Send({"GET", url, {}, {}}, deadline);
  Outcome read = Outcome::Success();
  if (!IsSuccess(get)) {
    read = Failed("get sentinel", get);
  } else if (get.body != content) {
    read = Outcome::Failure(
        Reason::kError, "get sentinel: content differs from what was written");
  }
  // The blob is removed even when reading it back failed.
  if (deadline.Expired()) return read.ok ? TimedOut("delete sentinel") : read;
  http::Response del = Send({"DELETE", url, {}, {}}, deadline);
  if (!read.ok) return read;
  if (!IsSuccess(del)) return Failed("delete sentinel", del);
  return Outcome::Success();
}

http::Response AzureBlobDriver::Send(http::Request request,
                                     const Deadline& deadline) {
  request.headers.emplace_back("x-ms-date",
                               HttpDate(std::chrono::system_clock::now()));
  request.headers.emplace_back("x-ms-version", std::string(kApiVersion));
  if (!credential_.sas_token.empty()) {
    request.url = detail::AppendSasToken(request.url, credential_.sas_token);
  } else {
    detail::SignRequest(request, config_.account, credential_.key);
  }
  return client_->Send(request, deadline);
}

Outcome AzureBlobDriver::Failed(std::string_view operation,
                                const http::Response& response) const {
  std::string detail(operation);
  if (!response.ok()) {
    detail += ": ";
    detail += http::TransportErrorName(response.error);
    if (!response.error_detail.empty()) detail += ": " + response.error_detail;
    return Outcome::Failure(http::ReasonFor(response.error),
                            Scrub(std::move(detail)));
  }
  // Only the status and the code: the message of an authentication failure
  // quotes the signature the request carried.
  std::string code = detail::ErrorCode(response);
  detail += ": HTTP " + std::to_string(response.status);
  if (!code.empty()) detail += " " + code;
  return Outcome::Failure(detail::ReasonForError(response.status, code),
                          Scrub(std::move(detail)));
}

std::string AzureBlobDriver::ContainerUrl() const {
  return config_.endpoint + "/" + config_.container;
}

std::string AzureBlobDriver::BlobUrl(std::string_view name) const {
  return ContainerUrl() + "/" + http::UriEncode(name, /*keep_slash=*/true);
}

std::string AzureBlobDriver::Scrub(std::string text) const {
  return http::Redact(std::move(text), credential_.secrets);
}

std::shared_ptr<const DriverOptions> ParseAzureBlobOptions(NodeReader& reader) {
  const std::size_t errors_before = reader.errors().errors().size();
  ErrorList& errors = reader.errors();
  AzureBlobConfig config;
  std::set<std::string> configured;

  if (auto account = reader.String("account", /*required=*/true)) {
    if (!IsValidAccount(*account)) {
      errors.Add(reader.Field("account"),
                 "must be 3 to 24 lower-case letters and digits");
    }
    config.account = *account;
  }
  if (auto container = reader.String("container", /*required=*/true)) {
    if (!IsValidContainer(*container)) {
      errors.Add(reader.Field("container"),
                 "must be 3 to 63 lower-case letters, digits and single "
                 "hyphens, starting and ending with a letter or digit");
    }
    config.container = *container;
  }
  if (auto prefix = reader.String("prefix", /*required=*/false)) {
    if (prefix->size() > kMaxPrefixBytes) {
      errors.Add(reader.Field("prefix"),
                 "must be at most " + std::to_string(kMaxPrefixBytes) +
                     " bytes, so that blob names stay within Azure's " +
                     std::to_string(kMaxBlobNameBytes));
    } else if (HasControlCharacter(*prefix)) {
      errors.Add(reader.Field("prefix"), "must not contain control characters");
    }
    config.prefix = *prefix;
    configured.insert("prefix");
  }
  if (auto endpoint = reader.String("endpoint", /*required=*/false)) {
    std::string error;
    if (auto normalized = NormalizeEndpoint(*endpoint, &error)) {
      config.endpoint = *normalized;
    } else {
      errors.Add(reader.Field("endpoint"), error);
    }
    configured.insert("endpoint");
  } else {
    config.endpoint = "https://" + config.account + ".blob.core.windows.net";
  }

  auto key_file = reader.String("account_key_file", /*required=*/false);
  auto sas_file = reader.String("sas_token_file", /*required=*/false);
  if (key_file && sas_file) {
    errors.Add(reader.Field("sas_token_file"),
               "cannot be set together with account_key_file; set exactly "
               "one");
  } else if (!key_file && !sas_file) {
    errors.Add(reader.Field("account_key_file"),
               "is required unless sas_token_file is set");
  } else if (key_file && key_file->empty()) {
    errors.Add(reader.Field("account_key_file"), "must not be empty");
  } else if (sas_file && sas_file->empty()) {
    errors.Add(reader.Field("sas_token_file"), "must not be empty");
  }
  if (key_file) config.account_key_file = *key_file;
  if (sas_file) config.sas_token_file = *sas_file;

  if (auto write_probe = reader.Bool("write_probe")) {
    config.write_probe = *write_probe;
    configured.insert("write_probe");
  }
  config.client = http::ReadClientOptions(reader);
  reader.RejectUnknown();

  if (errors.errors().size() != errors_before) return nullptr;
  return std::make_shared<AzureBlobOptions>(std::move(config),
                                            std::move(configured));
}

void Register(DriverRegistry& registry) {
  registry.Register({std::string(kDriverName), &ParseAzureBlobOptions});
}

}  // namespace bgate::drivers::azure_blob
