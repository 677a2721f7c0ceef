#include "bgate/drivers/swift/swift_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bgate/drivers/swift/swift_driver.h"

namespace bgate::drivers::swift {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Parsed {
  std::shared_ptr<const SwiftOptions> options;
  std::vector<std::string> errors;
};

Parsed Parse(const std::string& yaml) {
  ErrorList errors;
  NodeReader reader(YAML::Load(yaml), "backends[0]", errors);
  auto options =
      std::dynamic_pointer_cast<const SwiftOptions>(ParseSwiftOptions(reader));
  return {options, errors.errors()};
}

std::optional<Setting> Find(const std::vector<Setting>& settings,
                            const std::string& key) {
  auto it = std::find_if(settings.begin(), settings.end(),
                         [&](const Setting& s) { return s.key == key; });
  if (it == settings.end()) return std::nullopt;
  return *it;
}

constexpr const char* kKeystone = R"(
auth_url: http://keystone.example.com:5000/v3
username: backup
password_file: /etc/backup-gate/swift-password
project_name: backups
container: backups
)";

constexpr const char* kTempAuth = R"(
auth_url: http://127.0.0.1:8080/auth/v1.0
auth_version: 1
username: test:tester
password_file: /etc/backup-gate/swift-key
container: backups
prefix: db/
write_probe: true
)";

TEST(SwiftOptionsTest, KeystoneDefaults) {
  Parsed parsed = Parse(kKeystone);
  ASSERT_THAT(parsed.errors, IsEmpty());
  ASSERT_NE(parsed.options, nullptr);
  const SwiftConfig& config = parsed.options->config();
  EXPECT_EQ(config.auth_version, AuthVersion::kKeystoneV3);
  EXPECT_EQ(config.auth_url, "http://keystone.example.com:5000/v3");
  EXPECT_EQ(config.username, "backup");
  EXPECT_EQ(config.password_file, "/etc/backup-gate/swift-password");
  EXPECT_EQ(config.project_name, "backups");
  EXPECT_EQ(config.user_domain_name, "Default");
  EXPECT_EQ(config.project_domain_name, "Default");
  EXPECT_EQ(config.region, "");
  EXPECT_EQ(config.interface, "public");
  EXPECT_EQ(config.container, "backups");
  EXPECT_EQ(config.prefix, "");
  EXPECT_FALSE(config.write_probe);
}

TEST(SwiftOptionsTest, KeystoneKeysAreRead) {
  Parsed parsed = Parse(std::string(kKeystone) + R"(
user_domain_name: users
project_domain_name: projects
region: RegionTwo
interface: internal
)");
  ASSERT_THAT(parsed.errors, IsEmpty());
  const SwiftConfig& config = parsed.options->config();
  EXPECT_EQ(config.user_domain_name, "users");
  EXPECT_EQ(config.project_domain_name, "projects");
  EXPECT_EQ(config.region, "RegionTwo");
  EXPECT_EQ(config.interface, "internal");
}

TEST(SwiftOptionsTest, TempAuth) {
  Parsed parsed = Parse(kTempAuth);
  ASSERT_THAT(parsed.errors, IsEmpty());
  const SwiftConfig& config = parsed.options->config();
  EXPECT_EQ(config.auth_version, AuthVersion::kTempAuth);
  EXPECT_EQ(config.prefix, "db/");
  EXPECT_TRUE(config.write_probe);
}

TEST(SwiftOptionsTest, ReportsEveryMissingKeyByField) {
  Parsed parsed = Parse("write_probe: true\n");
  EXPECT_EQ(parsed.options, nullptr);
  for (const char* key :
       {"auth_url", "username", "password_file", "project_name", "container"}) {
    EXPECT_THAT(parsed.errors,
                Contains(std::string("backends[0].") + key + ": is required"));
  }
}

TEST(SwiftOptionsTest, TempAuthNeedsNoProject) {
  Parsed parsed = Parse(R"(
auth_url: http://127.0.0.1:8080/auth/v1.0
auth_version: 1
username: test:tester
password_file: /k
container: c
)");
  EXPECT_THAT(parsed.errors, IsEmpty());
}

Parsed ParseWith(const char* base, const std::string& key,
                 const std::string& value) {
  YAML::Node node = YAML::Load(base);
  node[key] = YAML::Load(value);
  ErrorList errors;
  NodeReader reader(node, "backends[0]", errors);
  auto options =
      std::dynamic_pointer_cast<const SwiftOptions>(ParseSwiftOptions(reader));
  return {options, errors.errors()};
}

TEST(SwiftOptionsTest, RejectsBadAuthUrls) {
  for (const char* url :
       {"keystone:5000/v3", "ftp://keystone/v3", "http://", "http:///v3",
        "http://user:secret@keystone:5000/v3", "http://keystone/v3?x=1",
        "http://keystone/v3#frag"}) {
    Parsed parsed =
        ParseWith(kKeystone, "auth_url", std::string("\"") + url + "\"");
    EXPECT_EQ(parsed.options, nullptr) << url;
    ASSERT_EQ(parsed.errors.size(), 1u) << url;
    EXPECT_THAT(parsed.errors[0], HasSubstr("backends[0].auth_url: ")) << url;
  }
}

TEST(SwiftOptionsTest, CredentialsInUrlAreRefusedWithAHint) {
  Parsed parsed = ParseWith(kKeystone, "auth_url", "http://u:p@keystone/v3");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_THAT(parsed.errors[0], HasSubstr("password_file"));
}

TEST(SwiftOptionsTest, AuthVersionMustBeOneOrThree) {
  for (const char* value : {"2", "0", "4", "v3", "three"}) {
    Parsed parsed = ParseWith(kKeystone, "auth_version", value);
    EXPECT_EQ(parsed.options, nullptr) << value;
    ASSERT_FALSE(parsed.errors.empty()) << value;
    EXPECT_THAT(parsed.errors[0], HasSubstr("backends[0].auth_version: "))
        << value;
  }
}

TEST(SwiftOptionsTest, InterfaceMustBeKnown) {
  Parsed parsed = ParseWith(kKeystone, "interface", "private");
  EXPECT_THAT(parsed.errors,
              Contains("backends[0].interface: \"private\" is not public, "
                       "internal or admin"));
}

TEST(SwiftOptionsTest, KeystoneKeysWithTempAuthAreErrors) {
  Parsed parsed = ParseWith(kTempAuth, "project_name", "backups");
  EXPECT_EQ(parsed.options, nullptr);
  EXPECT_THAT(parsed.errors,
              Contains("backends[0].project_name: applies only to "
                       "auth_version 3 (Keystone)"));
}

TEST(SwiftOptionsTest, ContainerMustBeOneName) {
  EXPECT_THAT(ParseWith(kKeystone, "container", "a/b").errors,
              Contains("backends[0].container: must not contain '/'"));
  EXPECT_THAT(ParseWith(kKeystone, "container", std::string(257, 'c')).errors,
              Contains("backends[0].container: is longer than 256 bytes"));
  EXPECT_THAT(ParseWith(kKeystone, "container", "\"\"").errors,
              Contains("backends[0].container: must not be empty"));
}

TEST(SwiftOptionsTest, WriteProbeMustBeBool) {
  EXPECT_THAT(ParseWith(kKeystone, "write_probe", "sometimes").errors,
              Contains(HasSubstr("backends[0].write_probe: ")));
}

TEST(SwiftOptionsTest, UnknownKeysAreErrors) {
  EXPECT_THAT(ParseWith(kKeystone, "pasword_file", "/x").errors,
              Contains("backends[0].pasword_file: unknown key"));
}

TEST(SwiftOptionsTest, SharedClientKeysAreAccepted) {
  Parsed parsed = ParseWith(kKeystone, "insecure_skip_verify", "true");
  ASSERT_THAT(parsed.errors, IsEmpty());
  EXPECT_TRUE(parsed.options->config().client.tls.insecure_skip_verify);
}

TEST(SwiftOptionsTest, DescribeGivesSourcesAndNoSecrets) {
  Parsed parsed = Parse(std::string(kKeystone) + "region: RegionTwo\n");
  ASSERT_NE(parsed.options, nullptr);
  const std::vector<Setting> settings = parsed.options->Describe();
  auto password_file = Find(settings, "password_file");
  ASSERT_TRUE(password_file.has_value());
  EXPECT_EQ(password_file->value, "/etc/backup-gate/swift-password");
  EXPECT_EQ(Find(settings, "password"), std::nullopt);
  EXPECT_EQ(Find(settings, "auth_version")->source, "default");
  EXPECT_EQ(Find(settings, "auth_version")->value, "3");
  EXPECT_EQ(Find(settings, "region")->source, "config");
  EXPECT_EQ(Find(settings, "region")->value, "RegionTwo");
  EXPECT_EQ(Find(settings, "interface")->source, "default");
  EXPECT_EQ(Find(settings, "container")->value, "backups");
  EXPECT_EQ(Find(settings, "write_probe")->value, "false");
  EXPECT_TRUE(Find(settings, "insecure_skip_verify").has_value());
}

TEST(SwiftOptionsTest, DescribeOfTempAuthLeavesOutKeystoneKeys) {
  const std::vector<Setting> settings = Parse(kTempAuth).options->Describe();
  EXPECT_EQ(Find(settings, "auth_version")->value, "1");
  EXPECT_EQ(Find(settings, "auth_version")->source, "config");
  EXPECT_EQ(Find(settings, "project_name"), std::nullopt);
  EXPECT_EQ(Find(settings, "prefix")->value, "db/");
  EXPECT_EQ(Find(settings, "write_probe")->source, "config");
}

TEST(SwiftOptionsTest, RegisteredAsSwift) {
  DriverRegistry registry;
  Register(registry);
  const DriverKind* kind = registry.Find("swift");
  ASSERT_NE(kind, nullptr);
  ErrorList errors;
  NodeReader reader(YAML::Load(kTempAuth), "backends[0]", errors);
  auto options = kind->parse(reader);
  ASSERT_NE(options, nullptr);
  EXPECT_NE(options->CreateDriver({"primary", "pod-1"}), nullptr);
}

}  // namespace
}  // namespace bgate::drivers::swift
