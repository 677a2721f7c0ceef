#include "bgate/drivers/s3/s3_driver.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <utility>

#include "bgate/drivers/http/crypto.h"
#include "s3_errors.h"
#include "s3_xml.h"
#include "sigv4.h"

namespace bgate::drivers::s3 {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kEnvAccessKeyId = "AWS_ACCESS_KEY_ID";
constexpr std::string_view kEnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY";
constexpr std::string_view kEnvSessionToken = "AWS_SESSION_TOKEN";
constexpr std::string_view kEnvWebIdentityTokenFile =
    "AWS_WEB_IDENTITY_TOKEN_FILE";
constexpr std::string_view kEnvRoleArn = "AWS_ROLE_ARN";

// Longer instance ids are cut so the sentinel key stays short.
constexpr std::size_t kMaxInstanceIdBytes = 128;
// S3 object keys are at most 1024 bytes; the sentinel name needs some room.
constexpr std::size_t kMaxPrefixBytes = 768;
constexpr std::size_t kSentinelBytes = 32;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

std::string Quote(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// An empty variable counts as unset, as the AWS tools treat it.
std::optional<std::string> Env(const EnvLookup& env, std::string_view name) {
  auto value = env(std::string(name));
  if (value && value->empty()) return std::nullopt;
  return value;
}

bool IsIpv4(std::string_view host) {
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!IsDigit(c)) {
      return false;
    }
  }
  return dots == 3;
}

bool IsIpLiteral(std::string_view host) {
  return (!host.empty() && host.front() == '[') || IsIpv4(host);
}

// Splits "host[:port]" or "[v6]:port"; `port` stays empty without one.
std::optional<std::string> SplitAuthority(std::string_view authority,
                                          std::string_view& host,
                                          std::string_view& port) {
  host = authority;
  port = {};
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) {
      return "has an invalid IPv6 address";
    }
    host = authority.substr(0, close + 1);
    for (char c : host.substr(1, host.size() - 2)) {
      if (!IsAlnum(c) && c != ':' && c != '.') {
        return "has an invalid IPv6 address";
      }
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return "has an invalid host";
    port = after;
  } else {
    const std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon);
    }
    for (char c : host) {
      if (!IsAlnum(c) && c != '-' && c != '.')
        return "has an invalid host name";
    }
  }
  if (host.empty()) return "has no host";
  return std::nullopt;
}

// ":443" -> 443; nothing for anything but a port number.
std::optional<std::uint16_t> ParsePort(std::string_view text) {
  unsigned value = 0;
  const char* begin = text.data() + 1;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(begin, end, value);
  if (text.size() < 2 || ec != std::errc() || stop != end || value == 0 ||
      value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// Splits "scheme://host[:port][/]" into `config`. Messages never repeat the
// URL: a mistyped one may hold a password.
std::optional<std::string> ParseEndpoint(std::string_view url,
                                         S3Config& config) {
  const std::size_t separator = url.find("://");
  const std::string scheme = separator == std::string_view::npos
                                 ? ""
                                 : Lower(url.substr(0, separator));
  if (scheme != "https" && scheme != "http") {
    return "must start with https:// or http://";
  }
  const std::string_view rest = url.substr(separator + 3);
  if (rest.find('?') != std::string_view::npos) {
    return "must not have a query string";
  }
  if (rest.find('#') != std::string_view::npos) {
    return "must not have a fragment";
  }
  const std::size_t slash = rest.find('/');
  if (slash != std::string_view::npos && rest.substr(slash) != "/") {
    return "must not have a path: the bucket goes into the host name, or "
           "after it with path_style: true";
  }
  const std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    return "must not carry credentials: use access_key_id_file and "
           "secret_access_key_file";
  }
  std::string_view host;
  std::string_view port_text;
  if (auto problem = SplitAuthority(authority, host, port_text)) return problem;
  std::uint16_t port = 0;
  if (!port_text.empty()) {
    const auto parsed = ParsePort(port_text);
    if (!parsed) return "has an invalid port";
    port = *parsed;
  }
  const std::uint16_t default_port = scheme == "https" ? 443 : 80;
  config.scheme = scheme;
  config.host = Lower(host);
  config.port = port == default_port ? 0 : port;
  return std::nullopt;
}

// The naming rules of S3 general purpose buckets; gateways accept a subset
// of what they allow, never more.
std::optional<std::string> BucketNameProblem(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) {
    return "must be 3 to 63 characters long";
  }
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '.' && c != '-') {
      return "may hold only lower-case letters, digits, dots and hyphens";
    }
  }
  if (!IsLowerAlnum(name.front()) || !IsLowerAlnum(name.back())) {
    return "must start and end with a letter or digit";
  }
  if (name.find("..") != std::string_view::npos) {
    return "must not have two dots in a row";
  }
  if (IsIpv4(name)) return "must not look like an IP address";
  for (std::string_view reserved : {"xn--", "sthree-"}) {
    if (name.starts_with(reserved)) {
      return "must not start with " + Quote(reserved);
    }
  }
  for (std::string_view reserved : {"-s3alias", "--ol-s3"}) {
    if (name.ends_with(reserved)) {
      return "must not end with " + Quote(reserved);
    }
  }
  return std::nullopt;
}

std::optional<std::string> RegionProblem(std::string_view region) {
  if (region.empty()) return "must not be empty";
  for (char c : region) {
    if (!IsAlnum(c) && c != '-' && c != '_') {
      return "may hold only letters, digits, hyphens and underscores";
    }
  }
  return std::nullopt;
}

// Instance ids come from pod names and the like; anything outside a
// portable alphabet would make the key awkward to encode and to read.
std::string SentinelKey(const std::string& prefix,
                        std::string_view instance_id) {
  std::string key = prefix + std::string(kSentinelPrefix);
  for (char c : instance_id.substr(0, kMaxInstanceIdBytes)) {
    const bool portable = IsAlnum(c) || c == '.' || c == '_' || c == '-';
    key.push_back(portable ? c : '_');
  }
  return key;
}

std::string CountText(std::size_t count, bool truncated) {
  std::string text = std::to_string(count);
  if (truncated) text += "+";
  return text + (count == 1 && !truncated ? " object" : " objects");
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

std::string_view CredentialsSourceName(bool from_files) {
  return from_files ? "credential files" : "environment";
}

}  // namespace

std::optional<std::string> ProcessEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// ---------------------------------------------------------------- options

S3Options::S3Options(S3Config config, std::set<std::string> configured,
                     S3Runtime runtime)
    : config_(std::move(config)),
      configured_(std::move(configured)),
      runtime_(std::move(runtime)) {}

std::vector<Setting> S3Options::Describe() const {
  auto source = [this](const std::string& key) {
    return configured_.contains(key) ? "config" : "default";
  };
  auto flag = [](bool value) { return value ? "true" : "false"; };
  std::vector<Setting> settings = {
      {"endpoint", config_.endpoint, "config"},
      {"region", config_.region, source("region")},
      {"bucket", config_.bucket, "config"},
      {"prefix", config_.prefix, source("prefix")},
      {"path_style", flag(config_.path_style), source("path_style")},
      {"write_probe", flag(config_.write_probe), source("write_probe")},
  };
  if (!config_.access_key_id_file.empty()) {
    settings.push_back(
        {"access_key_id_file", config_.access_key_id_file, "config"});
    settings.push_back(
        {"secret_access_key_file", config_.secret_access_key_file, "config"});
  } else {
    auto from_env = [this](std::string_view name) {
      return Env(runtime_.env, name) ? "(set)" : "(not set)";
    };
    settings.push_back({"access_key_id", from_env(kEnvAccessKeyId),
                        "env " + std::string(kEnvAccessKeyId)});
    settings.push_back({"secret_access_key", from_env(kEnvSecretAccessKey),
                        "env " + std::string(kEnvSecretAccessKey)});
    if (Env(runtime_.env, kEnvSessionToken)) {
      settings.push_back(
          {"session_token", "(set)", "env " + std::string(kEnvSessionToken)});
    }
  }
  for (Setting& s :
       http::DescribeClientOptions(config_.client, config_.endpoint)) {
    settings.push_back(std::move(s));
  }
  return settings;
}

std::unique_ptr<Driver> S3Options::CreateDriver(
    const DriverContext& context) const {
  return std::make_unique<S3Driver>(config_, context, runtime_);
}

// ----------------------------------------------------------------- driver

struct S3Driver::Session {
  std::unique_ptr<http::HttpClient> client;
  detail::Credentials credentials;
  // What Redact replaces in every detail.
  std::vector<std::string> secrets;
};

S3Driver::S3Driver(S3Config config, const DriverContext& context,
                   S3Runtime runtime)
    : config_(std::move(config)),
      sentinel_key_(SentinelKey(config_.prefix, context.instance_id)),
      runtime_(std::move(runtime)) {}

S3Driver::~S3Driver() = default;

Outcome S3Driver::Setup(const Deadline& deadline) {
  // A failed setup must not leave the previous credentials in use.
  session_.reset();
  if (deadline.Expired()) {
    return Fail(Reason::kTimeout, "deadline passed before setup");
  }

  auto session = std::make_unique<Session>();
  detail::Credentials& credentials = session->credentials;
  const bool from_files = !config_.access_key_id_file.empty();
  if (from_files) {
    const std::pair<const std::string*, std::string*> files[] = {
        {&config_.access_key_id_file, &credentials.access_key_id},
        {&config_.secret_access_key_file, &credentials.secret_access_key},
    };
    for (const auto& [path, value] : files) {
      std::string error;
      std::optional<std::string> content = http::ReadSecretFile(*path, &error);
      // Missing, unreadable and empty files all fail here, named by path.
      if (!content) return Fail(Reason::kMisconfigured, error);
      *value = std::move(*content);
    }
  } else {
    auto id = Env(runtime_.env, kEnvAccessKeyId);
    auto secret = Env(runtime_.env, kEnvSecretAccessKey);
    if (!id && !secret) {
      if (Env(runtime_.env, kEnvWebIdentityTokenFile) &&
          Env(runtime_.env, kEnvRoleArn)) {
        return Fail(Reason::kMisconfigured,
                    "web identity credentials (AWS_WEB_IDENTITY_TOKEN_FILE, "
                    "AWS_ROLE_ARN) are not supported: give access keys in "
                    "access_key_id_file and secret_access_key_file");
      }
      return Fail(Reason::kMisconfigured,
                  "no credentials: set access_key_id_file and "
                  "secret_access_key_file, or AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY");
    }
    if (!id || !secret) {
      return Fail(Reason::kMisconfigured,
                  std::string(id ? kEnvAccessKeyId : kEnvSecretAccessKey) +
                      " is set but " +
                      std::string(id ? kEnvSecretAccessKey : kEnvAccessKeyId) +
                      " is not");
    }
    credentials.access_key_id = std::move(*id);
    credentials.secret_access_key = std::move(*secret);
    credentials.session_token =
        Env(runtime_.env, kEnvSessionToken).value_or("");
  }
  session->secrets.push_back(credentials.secret_access_key);
  if (!credentials.session_token.empty()) {
    session->secrets.push_back(credentials.session_token);
  }

  std::string error;
  session->client = runtime_.make_client(config_.client, &error);
  if (!session->client) {
    return Fail(Reason::kMisconfigured, "http client: " + error);
  }
  session_ = std::move(session);
  return Outcome::Success("credentials from " +
                          std::string(CredentialsSourceName(from_files)));
}

Outcome S3Driver::Check(const Deadline& deadline) {
  if (!session_) return Fail(Reason::kError, "check before a successful setup");
  if (deadline.Expired()) {
    return Fail(Reason::kTimeout, "deadline passed before the check");
  }

  std::string summary;
  if (Outcome listed = List(deadline, &summary); !listed.ok) return listed;
  if (config_.write_probe) {
    if (Outcome probe = ProbeWrite(deadline); !probe.ok) return probe;
    summary += ", write probe ok";
  }
  return Outcome::Success(http::Redact(std::move(summary), session_->secrets));
}

http::Response S3Driver::Send(std::string_view method, std::string_view key,
                              const Query& query, std::string body,
                              const Deadline& deadline) {
  std::string authority = config_.host;
  if (config_.port != 0) authority += ":" + std::to_string(config_.port);

  detail::UnsignedRequest request;
  request.method = std::string(method);
  request.scheme = config_.scheme;
  const std::string encoded_key = detail::EncodePath(key);
  if (config_.path_style) {
    request.host = authority;
    request.encoded_path = "/" + config_.bucket;
    if (!key.empty()) request.encoded_path += "/" + encoded_key;
  } else {
    request.host = config_.bucket + "." + authority;
    request.encoded_path = "/" + encoded_key;
  }
  request.query = query;
  request.body = std::move(body);

  detail::SignedRequest signed_request;
  try {
    signed_request = detail::Sign(request, session_->credentials,
                                  config_.region, runtime_.now());
  } catch (const std::exception&) {
    // Only OpenSSL failing can get here.
    http::Response failed;
    failed.error = http::TransportError::kOther;
    failed.error_detail = "could not sign the request";
    return failed;
  }
  http::Request out;
  out.method = std::string(method);
  out.url = std::move(signed_request.url);
  out.headers = std::move(signed_request.headers);
  out.body = std::move(signed_request.body);
  return session_->client->Send(out, deadline);
}

Outcome S3Driver::List(const Deadline& deadline, std::string* summary) {
  const std::string operation = "list bucket " + config_.bucket;
  const http::Response response =
      Send("GET", "",
           {{"list-type", "2"},
            {"max-keys", std::to_string(kMaxListedKeys)},
            {"prefix", config_.prefix}},
           "", deadline);
  if (!response.ok() || !IsSuccess(response.status)) {
    return RequestFailed(operation, response);
  }
  const std::optional<detail::Listing> listing =
      detail::ParseListing(response.body);
  if (!listing) {
    return Fail(Reason::kError,
                operation + ": HTTP " + std::to_string(response.status) +
                    " without a ListBucketResult (not an S3 endpoint?)");
  }
  const std::string sentinels = config_.prefix + std::string(kSentinelPrefix);
  const auto count = static_cast<std::size_t>(std::count_if(
      listing->keys.begin(), listing->keys.end(),
      [&](const std::string& key) { return !key.starts_with(sentinels); }));
  *summary = "bucket " + config_.bucket + ": " +
             CountText(count, listing->is_truncated);
  if (!config_.prefix.empty()) *summary += " under prefix " + config_.prefix;
  return Outcome::Success();
}

Outcome S3Driver::ProbeWrite(const Deadline& deadline) {
  std::string content;
  try {
    // Fresh random bytes on every probe, so a cache or an object left by
    // an earlier check cannot pass for a round trip.
    content = http::RandomBytes(kSentinelBytes);
  } catch (const std::exception&) {
    return Fail(Reason::kError, "no random bytes for the sentinel");
  }
  const std::string operation = " sentinel " + sentinel_key_;
  if (deadline.Expired()) {
    return Fail(Reason::kTimeout, "deadline passed before put" + operation);
  }
  const http::Response put = Send("PUT", sentinel_key_, {}, content, deadline);
  if (!put.ok() || !IsSuccess(put.status)) {
    return RequestFailed("put" + operation, put);
  }

  Outcome read = ReadBack(content, deadline);
  // A sentinel is cleared even after a failed read: it is ours alone.
  if (deadline.Expired()) {
    return read.ok ? Fail(Reason::kTimeout,
                          "deadline passed before delete" + operation)
                   : read;
  }
  const http::Response deleted =
      Send("DELETE", sentinel_key_, {}, "", deadline);
  if (!read.ok) return read;
  if (!deleted.ok() || !IsSuccess(deleted.status)) {
    return RequestFailed("delete" + operation, deleted);
  }
  return Outcome::Success();
}

Outcome S3Driver::ReadBack(const std::string& expected,
                           const Deadline& deadline) {
  const std::string operation = "get sentinel " + sentinel_key_;
  if (deadline.Expired()) {
    return Fail(Reason::kTimeout, "deadline passed before " + operation);
  }
  const http::Response got = Send("GET", sentinel_key_, {}, "", deadline);
  if (!got.ok() || !IsSuccess(got.status)) return RequestFailed(operation, got);
  if (got.body != expected) {
    return Fail(Reason::kError,
                operation + ": content differs from what was put");
  }
  return Outcome::Success();
}

Outcome S3Driver::RequestFailed(std::string_view operation,
                                const http::Response& response) const {
  std::string detail(operation);
  if (!response.ok()) {
    detail += ": " + std::string(http::TransportErrorName(response.error));
    if (!response.error_detail.empty()) detail += ": " + response.error_detail;
    return Fail(http::ReasonFor(response.error), std::move(detail));
  }
  const std::optional<detail::ErrorBody> error =
      detail::ParseErrorBody(response.body);
  const std::string code = error ? error->code : "";
  detail += ": HTTP " + std::to_string(response.status);
  if (!code.empty()) detail += " " + code;
  if (error && !error->message.empty()) detail += " (" + error->message + ")";
  // A bucket in another region is the usual cause of redirects and of
  // AuthorizationHeaderMalformed: say where it is.
  std::string region = response.Header("x-amz-bucket-region").value_or("");
  if (region.empty() && error) region = error->region;
  if (!region.empty() && region != config_.region) {
    detail += ", bucket is in region " + region + ", not " + config_.region;
  }
  return Fail(detail::ReasonForS3Error(response.status, code),
              std::move(detail));
}

Outcome S3Driver::Fail(Reason reason, std::string detail) const {
  if (session_) detail = http::Redact(std::move(detail), session_->secrets);
  return Outcome::Failure(reason, std::move(detail));
}

// ---------------------------------------------------------------- parsing

std::shared_ptr<const DriverOptions> ParseS3Options(NodeReader& reader) {
  return ParseS3Options(reader, S3Runtime{});
}

std::shared_ptr<const DriverOptions> ParseS3Options(NodeReader& reader,
                                                    S3Runtime runtime) {
  const std::size_t errors_before = reader.errors().errors().size();
  ErrorList& errors = reader.errors();
  S3Config config;
  std::set<std::string> configured;

  if (auto endpoint = reader.String("endpoint", /*required=*/true)) {
    config.endpoint = *endpoint;
    if (auto problem = ParseEndpoint(*endpoint, config)) {
      errors.Add(reader.Field("endpoint"), *problem);
    }
  }
  if (auto region = reader.String("region", /*required=*/false)) {
    if (auto problem = RegionProblem(*region)) {
      errors.Add(reader.Field("region"), *problem);
    }
    config.region = *region;
    configured.insert("region");
  }
  if (auto bucket = reader.String("bucket", /*required=*/true)) {
    if (auto problem = BucketNameProblem(*bucket)) {
      errors.Add(
          reader.Field("bucket"),
          Quote(*bucket) + " is not a valid S3 bucket name: " + *problem);
    }
    config.bucket = *bucket;
  }
  if (auto prefix = reader.String("prefix", /*required=*/false)) {
    if (prefix->size() > kMaxPrefixBytes) {
      errors.Add(
          reader.Field("prefix"),
          "must be at most " + std::to_string(kMaxPrefixBytes) + " bytes long");
    }
    config.prefix = *prefix;
    configured.insert("prefix");
  }
  if (auto path_style = reader.Bool("path_style")) {
    config.path_style = *path_style;
    configured.insert("path_style");
  }
  if (!config.path_style && IsIpLiteral(config.host)) {
    errors.Add(reader.Field("path_style"),
               "must be true when the endpoint is an IP address");
  }

  const char* const kKeyFiles[] = {"access_key_id_file",
                                   "secret_access_key_file"};
  std::string* const key_file_values[] = {&config.access_key_id_file,
                                          &config.secret_access_key_file};
  for (int i = 0; i < 2; ++i) {
    if (auto path = reader.String(kKeyFiles[i], /*required=*/false)) {
      if (path->empty()) {
        errors.Add(reader.Field(kKeyFiles[i]), "must not be empty");
      }
      *key_file_values[i] = *path;
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (reader.Has(kKeyFiles[i]) && !reader.Has(kKeyFiles[1 - i])) {
      errors.Add(reader.Field(kKeyFiles[1 - i]),
                 std::string("is required when ") + kKeyFiles[i] + " is set");
    }
  }

  if (auto write_probe = reader.Bool("write_probe")) {
    config.write_probe = *write_probe;
    configured.insert("write_probe");
  }
  config.client = http::ReadClientOptions(reader);
  reader.RejectUnknown();

  if (errors.errors().size() != errors_before) return nullptr;
  return std::make_shared<S3Options>(std::move(config), std::move(configured),
                                     std::move(runtime));
}

void Register(DriverRegistry& registry) {
  registry.Register({std::string(kDriverName), [](NodeReader& reader) {
                       return ParseS3Options(reader);
                     }});
}

}  // namespace bgate::drivers::s3
