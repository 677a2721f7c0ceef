#include "bgate/drivers/swift/swift_options.h"

#include <array>
#include <optional>
#include <string_view>
#include <utility>

#include "bgate/drivers/swift/swift_driver.h"

namespace bgate::drivers::swift {
namespace {

// Swift's default limit on container names.
constexpr std::size_t kMaxContainerBytes = 256;
constexpr std::array<std::string_view, 3> kInterfaces = {"public", "internal",
                                                         "admin"};
// Keys that mean something to Keystone v3 only.
constexpr std::array<const char*, 5> kKeystoneKeys = {
    "project_name", "user_domain_name", "project_domain_name", "region",
    "interface"};

std::optional<std::string> UrlProblem(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return "must be an http:// or https:// URL";
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return "has no host";
  // Credentials in a URL would end up in details and logs.
  if (authority.find('@') != std::string_view::npos) {
    return "must not carry credentials (use username and password_file)";
  }
  if (url.find_first_of("?# \t") != std::string_view::npos) {
    return "must not have a query, a fragment or spaces";
  }
  return std::nullopt;
}

void ReadKeystoneKeys(NodeReader& reader, SwiftConfig& config,
                      std::set<std::string>& configured) {
  if (auto name = reader.String("project_name", /*required=*/true)) {
    config.project_name = *name;
  }
  auto read = [&](const char* key, std::string& field) {
    if (auto value = reader.String(key, /*required=*/false)) {
      field = *value;
      configured.insert(key);
    }
  };
  read("user_domain_name", config.user_domain_name);
  read("project_domain_name", config.project_domain_name);
  read("region", config.region);
  read("interface", config.interface);
  bool known = false;
  for (std::string_view name : kInterfaces) known |= name == config.interface;
  if (!known) {
    reader.errors().Add(
        reader.Field("interface"),
        "\"" + config.interface + "\" is not public, internal or admin");
  }
}

}  // namespace

SwiftOptions::SwiftOptions(SwiftConfig config, std::set<std::string> configured)
    : config_(std::move(config)), configured_(std::move(configured)) {}

std::vector<Setting> SwiftOptions::Describe() const {
  auto source = [this](const std::string& key) {
    return configured_.contains(key) ? "config" : "default";
  };
  const bool keystone = config_.auth_version == AuthVersion::kKeystoneV3;
  std::vector<Setting> settings = {
      {"auth_url", config_.auth_url, "config"},
      {"auth_version", keystone ? "3" : "1", source("auth_version")},
      {"username", config_.username, "config"},
      {"password_file", config_.password_file, "config"},
  };
  if (keystone) {
    settings.insert(settings.end(),
                    {{"project_name", config_.project_name, "config"},
                     {"user_domain_name", config_.user_domain_name,
                      source("user_domain_name")},
                     {"project_domain_name", config_.project_domain_name,
                      source("project_domain_name")},
                     {"region", config_.region, source("region")},
                     {"interface", config_.interface, source("interface")}});
  }
  settings.insert(settings.end(),
                  {{"container", config_.container, "config"},
                   {"prefix", config_.prefix, source("prefix")},
                   {"write_probe", config_.write_probe ? "true" : "false",
                    source("write_probe")}});
  for (Setting& setting :
       http::DescribeClientOptions(config_.client, config_.auth_url)) {
    settings.push_back(std::move(setting));
  }
  return settings;
}

std::unique_ptr<Driver> SwiftOptions::CreateDriver(
    const DriverContext& context) const {
  return std::make_unique<SwiftDriver>(config_, context);
}

std::shared_ptr<const DriverOptions> ParseSwiftOptions(NodeReader& reader) {
  const std::size_t errors_before = reader.errors().errors().size();
  SwiftConfig config;
  std::set<std::string> configured;

  if (auto url = reader.String("auth_url", /*required=*/true)) {
    if (auto problem = UrlProblem(*url)) {
      reader.errors().Add(reader.Field("auth_url"), *problem);
    }
    config.auth_url = *url;
  }
  if (auto version = reader.Int("auth_version", 1, 3)) {
    if (*version == 2) {
      reader.errors().Add(reader.Field("auth_version"),
                          "must be 1 (tempauth) or 3 (Keystone v3)");
    }
    config.auth_version =
        *version == 1 ? AuthVersion::kTempAuth : AuthVersion::kKeystoneV3;
    configured.insert("auth_version");
  }
  if (auto username = reader.String("username", /*required=*/true)) {
    config.username = *username;
  }
  if (auto path = reader.String("password_file", /*required=*/true)) {
    config.password_file = *path;
  }
  if (config.auth_version == AuthVersion::kKeystoneV3) {
    ReadKeystoneKeys(reader, config, configured);
  } else {
    for (const char* key : kKeystoneKeys) {
      reader.Consume(key);
      if (reader.Has(key)) {
        reader.errors().Add(reader.Field(key),
                            "applies only to auth_version 3 (Keystone)");
      }
    }
  }

  if (auto container = reader.String("container", /*required=*/true)) {
    if (container->find('/') != std::string::npos) {
      reader.errors().Add(reader.Field("container"), "must not contain '/'");
    } else if (container->size() > kMaxContainerBytes) {
      reader.errors().Add(reader.Field("container"),
                          "is longer than 256 bytes");
    }
    config.container = *container;
  }
  if (auto prefix = reader.String("prefix", /*required=*/false)) {
    config.prefix = *prefix;
    configured.insert("prefix");
  }
  if (auto write_probe = reader.Bool("write_probe")) {
    config.write_probe = *write_probe;
    configured.insert("write_probe");
  }
  config.client = http::ReadClientOptions(reader);
  reader.RejectUnknown();

  if (reader.errors().errors().size() != errors_before) return nullptr;
  return std::make_shared<SwiftOptions>(std::move(config),
                                        std::move(configured));
}

}  // namespace bgate::drivers::swift
