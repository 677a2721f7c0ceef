#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

#include "bgate/drivers/azure_blob/azure_blob_driver.h"

namespace bgate::drivers::azure_blob {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Parsed {
  std::shared_ptr<const DriverOptions> options;
  std::vector<std::string> errors;
};

Parsed Parse(const std::string& yaml) {
  ErrorList errors;
  NodeReader reader(YAML::Load(yaml), "backends[0]", errors);
  Parsed parsed;
  parsed.options = ParseAzureBlobOptions(reader);
  parsed.errors = errors.errors();
  return parsed;
}

const AzureBlobConfig& ConfigOf(const Parsed& parsed) {
  return static_cast<const AzureBlobOptions&>(*parsed.options).config();
}

std::string ValueOf(const std::vector<Setting>& settings,
                    const std::string& key, std::string* source = nullptr) {
  for (const auto& s : settings) {
    if (s.key != key) continue;
    if (source != nullptr) *source = s.source;
    return s.value;
  }
  return "<absent>";
}

TEST(AzureBlobOptionsTest, MinimalConfigTakesDefaults) {
  Parsed parsed = Parse(
      "account: acct01\n"
      "container: backups\n"
      "account_key_file: /secrets/azure/key\n");
  ASSERT_NE(parsed.options, nullptr) << ::testing::PrintToString(parsed.errors);
  const AzureBlobConfig& config = ConfigOf(parsed);
  EXPECT_EQ(config.endpoint, "https://acct01.blob.core.windows.net");
  EXPECT_EQ(config.prefix, "");
  EXPECT_FALSE(config.write_probe);
  EXPECT_EQ(config.account_key_file, "/secrets/azure/key");
  EXPECT_EQ(config.sas_token_file, "");

  auto settings = parsed.options->Describe();
  std::string source;
  EXPECT_EQ(ValueOf(settings, "account", &source), "acct01");
  EXPECT_EQ(source, "config");
  EXPECT_EQ(ValueOf(settings, "container"), "backups");
  EXPECT_EQ(ValueOf(settings, "endpoint", &source),
            "https://acct01.blob.core.windows.net");
  EXPECT_EQ(source, "default");
  EXPECT_EQ(ValueOf(settings, "prefix", &source), "");
  EXPECT_EQ(source, "default");
  EXPECT_EQ(ValueOf(settings, "account_key_file", &source),
            "/secrets/azure/key");
  EXPECT_EQ(source, "config");
  EXPECT_EQ(ValueOf(settings, "sas_token_file"), "<absent>");
  EXPECT_EQ(ValueOf(settings, "write_probe", &source), "false");
  EXPECT_EQ(source, "default");
}

TEST(AzureBlobOptionsTest, AzuriteConfigWithSas) {
  Parsed parsed = Parse(
      "account: devstoreaccount1\n"
      "container: backups\n"
      "prefix: db/\n"
      "endpoint: http://127.0.0.1:10000/devstoreaccount1/\n"
      "sas_token_file: /secrets/sas\n"
      "write_probe: true\n");
  ASSERT_NE(parsed.options, nullptr) << ::testing::PrintToString(parsed.errors);
  const AzureBlobConfig& config = ConfigOf(parsed);
  EXPECT_EQ(config.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(config.prefix, "db/");
  EXPECT_TRUE(config.write_probe);

  auto settings = parsed.options->Describe();
  std::string source;
  EXPECT_EQ(ValueOf(settings, "endpoint", &source),
            "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(source, "config");
  EXPECT_EQ(ValueOf(settings, "prefix", &source), "db/");
  EXPECT_EQ(source, "config");
  EXPECT_EQ(ValueOf(settings, "sas_token_file"), "/secrets/sas");
  EXPECT_EQ(ValueOf(settings, "account_key_file"), "<absent>");
  EXPECT_EQ(ValueOf(settings, "write_probe", &source), "true");
  EXPECT_EQ(source, "config");
}

TEST(AzureBlobOptionsTest, MissingKeysAreNamed) {
  Parsed parsed = Parse("prefix: x\n");
  EXPECT_EQ(parsed.options, nullptr);
  EXPECT_THAT(parsed.errors,
              ElementsAre("backends[0].account: is required",
                          "backends[0].container: is required",
                          "backends[0].account_key_file: is required unless "
                          "sas_token_file is set"));
}

TEST(AzureBlobOptionsTest, BothCredentialsRejected) {
  Parsed parsed = Parse(
      "account: acct01\ncontainer: backups\n"
      "account_key_file: /k\nsas_token_file: /s\n");
  EXPECT_EQ(parsed.options, nullptr);
  EXPECT_THAT(parsed.errors,
              ElementsAre("backends[0].sas_token_file: cannot be set together "
                          "with account_key_file; set exactly one"));
}

TEST(AzureBlobOptionsTest, EmptyCredentialPathRejected) {
  Parsed parsed =
      Parse("account: acct01\ncontainer: backups\nsas_token_file: ''\n");
  EXPECT_EQ(parsed.options, nullptr);
  EXPECT_THAT(parsed.errors,
              ElementsAre("backends[0].sas_token_file: must not be empty"));
}

TEST(AzureBlobOptionsTest, AccountNames) {
  for (const char* good : {"abc", "acct01", "a23456789012345678901234"}) {
    Parsed parsed = Parse(std::string("account: ") + good +
                          "\ncontainer: backups\naccount_key_file: /k\n");
    EXPECT_NE(parsed.options, nullptr) << good;
  }
  for (const char* bad :
       {"ab", "Acct01", "acct-01", "acct_01", "a234567890123456789012345"}) {
    Parsed parsed = Parse(std::string("account: ") + bad +
                          "\ncontainer: backups\naccount_key_file: /k\n");
    EXPECT_EQ(parsed.options, nullptr) << bad;
    EXPECT_THAT(parsed.errors,
                ElementsAre("backends[0].account: must be 3 to 24 lower-case "
                            "letters and digits"))
        << bad;
  }
}

TEST(AzureBlobOptionsTest, ContainerNames) {
  const std::string longest(63, 'a');
  for (const std::string& good : {std::string("abc"), std::string("a-b-c"),
                                 std::string("0backups9"), longest}) {
    Parsed parsed = Parse("account: acct01\ncontainer: " + good +
                          "\naccount_key_file: /k\n");
    EXPECT_NE(parsed.options, nullptr) << good;
  }
  const std::string too_long(64, 'a');
  for (const std::string& bad :
       {std::string("ab"), std::string("-abc"), std::string("abc-"),
        std::string("a--b"), std::string("Backups"), std::string("back_ups"),
        std::string("back.ups"), too_long}) {
    Parsed parsed = Parse("account: acct01\ncontainer: '" + bad +
                          "'\naccount_key_file: /k\n");
    EXPECT_EQ(parsed.options, nullptr) << bad;
    ASSERT_EQ(parsed.errors.size(), 1u) << bad;
    EXPECT_THAT(parsed.errors[0], HasSubstr("backends[0].container: must be "
                                            "3 to 63 lower-case letters"));
  }
}

TEST(AzureBlobOptionsTest, EndpointErrors) {
  struct Case {
    const char* endpoint;
    const char* message;
  };
  const Case cases[] = {
      {"ftp://host", "must be an http:// or https:// URL"},
      {"acct.blob.core.windows.net", "must be an http:// or https:// URL"},
      {"https://acct.blob.core.windows.net/?sv=1&sig=abc",
       "must not have a query or fragment (a SAS token goes in "
       "sas_token_file)"},
      {"https://user:pw@host", "must not contain user information"},
      {"https://", "has no host"},
      {"https:///path", "has no host"},
      {"https://host/a b", "must not contain white space"},
  };
  for (const auto& c : cases) {
    Parsed parsed = Parse(std::string("account: acct01\ncontainer: backups\n"
                                      "account_key_file: /k\nendpoint: '") +
                          c.endpoint + "'\n");
    EXPECT_EQ(parsed.options, nullptr) << c.endpoint;
    EXPECT_THAT(parsed.errors,
                ElementsAre(std::string("backends[0].endpoint: ") + c.message))
        << c.endpoint;
  }
}

TEST(AzureBlobOptionsTest, PrefixLimits) {
  Parsed parsed = Parse("account: acct01\ncontainer: backups\n"
                        "account_key_file: /k\nprefix: '" +
                        std::string(875, 'p') + "'\n");
  EXPECT_EQ(parsed.options, nullptr);
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_THAT(parsed.errors[0],
              HasSubstr("backends[0].prefix: must be at most 874 bytes"));

  parsed = Parse("account: acct01\ncontainer: backups\n"
                 "account_key_file: /k\nprefix: \"a\\tb\"\n");
  EXPECT_THAT(parsed.errors,
              ElementsAre("backends[0].prefix: must not contain control "
                          "characters"));
}

TEST(AzureBlobOptionsTest, UnknownAndMistypedKeys) {
  Parsed parsed = Parse(
      "account: acct01\ncontainer: backups\naccount_key_file: /k\n"
      "write_probe: yes\naccount_key: inline\n");
  EXPECT_EQ(parsed.options, nullptr);
  EXPECT_THAT(parsed.errors,
              ElementsAre("backends[0].write_probe: \"yes\" is not true or "
                          "false",
                          "backends[0].account_key: unknown key"));
}

TEST(AzureBlobOptionsTest, SharedClientKeysAreAccepted) {
  Parsed parsed = Parse(
      "account: acct01\ncontainer: backups\naccount_key_file: /k\n"
      "ca_file: /etc/ssl/custom.pem\nproxy: http://proxy:3128\n");
  ASSERT_NE(parsed.options, nullptr) << ::testing::PrintToString(parsed.errors);
  EXPECT_EQ(ConfigOf(parsed).client.tls.ca_file, "/etc/ssl/custom.pem");
  EXPECT_EQ(ConfigOf(parsed).client.proxy, "http://proxy:3128");
}

TEST(AzureBlobOptionsTest, RegisterAddsTheDriver) {
  DriverRegistry registry;
  Register(registry);
  EXPECT_THAT(registry.Names(), ElementsAre("azure_blob"));
  const DriverKind* kind = registry.Find("azure_blob");
  ASSERT_NE(kind, nullptr);
  ErrorList errors;
  NodeReader reader(YAML::Load("account: acct01\ncontainer: backups\n"
                               "account_key_file: /k\n"),
                    "backends[0]", errors);
  EXPECT_NE(kind->parse(reader), nullptr);
  EXPECT_THAT(errors.errors(), IsEmpty());
}

}  // namespace
}  // namespace bgate::drivers::azure_blob
