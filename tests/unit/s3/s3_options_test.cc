#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bgate/drivers/s3/s3_driver.h"

namespace bgate::drivers::s3 {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kAccessKeyId[] = "AKIDTESTEXAMPLE";
constexpr char kSecret[] = "s3cr3t/Kq+EXAMPLE-secret-value";
constexpr char kSessionToken[] = "IQoJb3JpZ2luX2VjEXAMPLE-session-token";

// Options, read the way the config loader hands them over: the backend's
// mapping with its field path.
class S3OptionsTest : public ::testing::Test {
 protected:
  std::shared_ptr<const DriverOptions> Parse(const std::string& yaml) {
    YAML::Node root = YAML::Load(yaml);
    NodeReader reader(root["backends"][0], "backends[0]", errors_);
    S3Runtime runtime;
    runtime.env =
        [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    return ParseS3Options(reader, runtime);
  }

  const S3Config& Config(const std::shared_ptr<const DriverOptions>& options) {
    return dynamic_cast<const S3Options&>(*options).config();
  }

  std::vector<std::string> Described(
      const std::shared_ptr<const DriverOptions>& options) {
    std::vector<std::string> out;
    for (const Setting& s : options->Describe()) {
      out.push_back(s.key + "=" + s.value + " (" + s.source + ")");
    }
    return out;
  }

  std::string Errors() const {
    return ::testing::PrintToString(errors_.errors());
  }

  ErrorList errors_;
  std::map<std::string, std::string> env_;
};

TEST_F(S3OptionsTest, MinimalConfigTakesDefaults) {
  auto options =
      Parse("backends: [{endpoint: 'https://s3.amazonaws.com', bucket: b-1}]");
  ASSERT_NE(options, nullptr) << Errors();
  const S3Config& config = Config(options);
  EXPECT_EQ(config.scheme, "https");
  EXPECT_EQ(config.host, "s3.amazonaws.com");
  EXPECT_EQ(config.port, 0);
  EXPECT_EQ(config.region, "us-east-1");
  EXPECT_EQ(config.prefix, "");
  EXPECT_FALSE(config.path_style);
  EXPECT_FALSE(config.write_probe);
  const auto described = Described(options);
  for (const char* expected :
       {"endpoint=https://s3.amazonaws.com (config)", "bucket=b-1 (config)",
        "region=us-east-1 (default)", "prefix= (default)",
        "path_style=false (default)", "write_probe=false (default)",
        "access_key_id=(not set) (env AWS_ACCESS_KEY_ID)",
        "secret_access_key=(not set) (env AWS_SECRET_ACCESS_KEY)"}) {
    EXPECT_THAT(described, Contains(expected));
  }
}

TEST_F(S3OptionsTest, FullConfig) {
  auto options = Parse(R"(backends:
  - endpoint: HTTP://MinIO.local:9000/
    region: eu-central-1
    bucket: my.backups
    prefix: pg/
    path_style: true
    write_probe: true
    access_key_id_file: /secrets/id
    secret_access_key_file: /secrets/key
    insecure_skip_verify: true
)");
  ASSERT_NE(options, nullptr) << Errors();
  const S3Config& config = Config(options);
  EXPECT_EQ(config.scheme, "http");
  EXPECT_EQ(config.host, "minio.local");
  EXPECT_EQ(config.port, 9000);
  EXPECT_EQ(config.region, "eu-central-1");
  EXPECT_EQ(config.bucket, "my.backups");
  EXPECT_EQ(config.prefix, "pg/");
  EXPECT_TRUE(config.path_style);
  EXPECT_TRUE(config.write_probe);
  EXPECT_EQ(config.access_key_id_file, "/secrets/id");
  EXPECT_EQ(config.secret_access_key_file, "/secrets/key");
  EXPECT_TRUE(config.client.tls.insecure_skip_verify);
  const auto described = Described(options);
  for (const char* expected :
       {"region=eu-central-1 (config)", "prefix=pg/ (config)",
        "path_style=true (config)", "write_probe=true (config)",
        "access_key_id_file=/secrets/id (config)",
        "secret_access_key_file=/secrets/key (config)"}) {
    EXPECT_THAT(described, Contains(expected));
  }
}

TEST_F(S3OptionsTest, DefaultPortIsDropped) {
  auto options = Parse(
      "backends: [{endpoint: 'https://s3.example.com:443', bucket: bkt}]");
  ASSERT_NE(options, nullptr) << Errors();
  EXPECT_EQ(Config(options).port, 0);
}

TEST_F(S3OptionsTest, Ipv6EndpointWithPathStyle) {
  auto options = Parse(
      "backends: [{endpoint: 'http://[::1]:8080', bucket: bkt, "
      "path_style: true}]");
  ASSERT_NE(options, nullptr) << Errors();
  EXPECT_EQ(Config(options).host, "[::1]");
  EXPECT_EQ(Config(options).port, 8080);
}

TEST_F(S3OptionsTest, MissingRequiredKeysAreNamed) {
  EXPECT_EQ(Parse("backends: [{prefix: x}]"), nullptr);
  EXPECT_THAT(errors_.errors(), ElementsAre("backends[0].endpoint: is required",
                                            "backends[0].bucket: is required"));
}

TEST_F(S3OptionsTest, BadEndpointsAreNamed) {
  for (const char* endpoint :
       {"s3.example.com", "ftp://s3.example.com", "https://",
        "https://s3.example.com/some/path", "https://s3.example.com?x=1",
        "https://s3.example.com#f", "https://s3.example.com:0",
        "https://s3.example.com:99999", "https://s3.example.com:",
        "https://s3 example.com", "http://[::1", "https://[]:80"}) {
    errors_ = ErrorList();
    EXPECT_EQ(Parse(std::string("backends: [{endpoint: '") + endpoint +
                    "', bucket: bkt, path_style: true}]"),
              nullptr)
        << endpoint;
    EXPECT_THAT(errors_.errors(),
                ElementsAre(StartsWith("backends[0].endpoint: ")))
        << endpoint;
  }
}

TEST_F(S3OptionsTest, EndpointWithCredentialsIsRefusedWithoutEchoingThem) {
  EXPECT_EQ(Parse("backends: [{endpoint: 'https://AKID:hunter2@s3.example.com',"
                  " bucket: bkt}]"),
            nullptr);
  ASSERT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].endpoint: must not carry "
                                     "credentials")));
  EXPECT_THAT(errors_.errors()[0], Not(HasSubstr("hunter2")));
}

TEST_F(S3OptionsTest, BadBucketNamesAreNamed) {
  for (const char* bucket :
       {"ab", "My_Bucket", "-backups", "backups-", "a..b", "192.168.1.1",
        "xn--backups", "sthree-backups", "backups-s3alias", "backups--ol-s3",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    errors_ = ErrorList();
    EXPECT_EQ(Parse(std::string("backends: [{endpoint: 'https://s3.example."
                                "com', bucket: '") +
                    bucket + "'}]"),
              nullptr)
        << bucket;
    EXPECT_THAT(
        errors_.errors(),
        ElementsAre(StartsWith("backends[0].bucket: \"" + std::string(bucket) +
                               "\" is not a valid S3 bucket name")))
        << bucket;
  }
}

TEST_F(S3OptionsTest, IpEndpointNeedsPathStyle) {
  EXPECT_EQ(
      Parse("backends: [{endpoint: 'http://10.0.0.5:7480', bucket: bkt}]"),
      nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre("backends[0].path_style: must be true when the "
                          "endpoint is an IP address"));
}

TEST_F(S3OptionsTest, OtherBadValuesAreNamed) {
  EXPECT_EQ(Parse("backends: [{endpoint: 'https://h', bucket: bkt, "
                  "region: 'us east', path_style: maybe, write_probe: 2, "
                  "prefix: [a]}]"),
            nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].region: "),
                          StartsWith("backends[0].prefix: "),
                          StartsWith("backends[0].path_style: "),
                          StartsWith("backends[0].write_probe: ")));
}

TEST_F(S3OptionsTest, LongPrefixIsRefused) {
  EXPECT_EQ(Parse("backends: [{endpoint: 'https://h', bucket: bkt, prefix: " +
                  std::string(800, 'p') + "}]"),
            nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].prefix: ")));
}

TEST_F(S3OptionsTest, KeyFilesComeInPairs) {
  EXPECT_EQ(Parse("backends: [{endpoint: 'https://h', bucket: bkt, "
                  "access_key_id_file: /s/id}]"),
            nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre("backends[0].secret_access_key_file: is required "
                          "when access_key_id_file is set"));
  errors_ = ErrorList();
  EXPECT_EQ(Parse("backends: [{endpoint: 'https://h', bucket: bkt, "
                  "secret_access_key_file: /s/key}]"),
            nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre("backends[0].access_key_id_file: is required when "
                          "secret_access_key_file is set"));
}

TEST_F(S3OptionsTest, UnknownKeyIsNamed) {
  EXPECT_EQ(Parse("backends: [{endpoint: 'https://h', bucket: bkt, "
                  "secret_access_key: shh}]"),
            nullptr);
  ASSERT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].secret_access_key:")));
  EXPECT_THAT(errors_.errors()[0], Not(HasSubstr("shh")));
}

TEST_F(S3OptionsTest, EarlierErrorsOfOtherBackendsDoNotFailThisOne) {
  errors_.Add("backends[1].driver", "unknown driver");
  EXPECT_NE(Parse("backends: [{endpoint: 'https://h', bucket: bkt}]"), nullptr);
}

TEST_F(S3OptionsTest, DescribeShowsEnvironmentCredentialsOnlyAsSet) {
  env_ = {{"AWS_ACCESS_KEY_ID", kAccessKeyId},
          {"AWS_SECRET_ACCESS_KEY", kSecret},
          {"AWS_SESSION_TOKEN", kSessionToken}};
  auto options = Parse("backends: [{endpoint: 'https://h', bucket: bkt}]");
  ASSERT_NE(options, nullptr) << Errors();
  const auto described = Described(options);
  EXPECT_THAT(described,
              Contains("access_key_id=(set) (env AWS_ACCESS_KEY_ID)"));
  EXPECT_THAT(described,
              Contains("secret_access_key=(set) (env AWS_SECRET_ACCESS_KEY)"));
  EXPECT_THAT(described,
              Contains("session_token=(set) (env AWS_SESSION_TOKEN)"));
  for (const std::string& line : described) {
    EXPECT_THAT(line, Not(HasSubstr(kSecret)));
    EXPECT_THAT(line, Not(HasSubstr(kSessionToken)));
    EXPECT_THAT(line, Not(HasSubstr(kAccessKeyId)));
  }
}

TEST_F(S3OptionsTest, CreatesADriverWithItsSentinel) {
  auto options =
      Parse("backends: [{endpoint: 'https://h', bucket: bkt, prefix: x/}]");
  ASSERT_NE(options, nullptr) << Errors();
  auto driver = options->CreateDriver(DriverContext{"store", "pod-7"});
  auto* s3 = dynamic_cast<S3Driver*>(driver.get());
  ASSERT_NE(s3, nullptr);
  EXPECT_EQ(s3->sentinel_key(), "x/.backup-gate-sentinel-pod-7");
}

TEST(S3RegisterTest, RegistersTheS3Kind) {
  DriverRegistry registry;
  Register(registry);
  const DriverKind* kind = registry.Find("s3");
  ASSERT_NE(kind, nullptr);
  ErrorList errors;
  YAML::Node node = YAML::Load("{endpoint: 'https://h', bucket: bkt}");
  NodeReader reader(node, "backends[0]", errors);
  EXPECT_NE(kind->parse(reader), nullptr)
      << ::testing::PrintToString(errors.errors());
}

}  // namespace
}  // namespace bgate::drivers::s3
