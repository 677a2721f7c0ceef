#include "bgate/drivers/s3/s3_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bgate/drivers/http/crypto.h"
#include "sigv4.h"

namespace bgate::drivers::s3 {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kAccessKeyId[] = "AKIDTESTEXAMPLE";
constexpr char kSecret[] = "s3cr3t/Kq+EXAMPLE-secret-value";
constexpr char kSessionToken[] = "IQoJb3JpZ2luX2VjEXAMPLE-session-token";
constexpr char kEmptyHash[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Header(const http::Request& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexDigit(text[i + 1]) >= 0 &&
        HexDigit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(text[i + 1]) * 16 +
                                      HexDigit(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The pieces of an absolute URL, the way a server sees them.
struct Target {
  std::string authority;
  std::string path;          // still encoded
  detail::HeaderList query;  // decoded
};

Target ParseTarget(const std::string& url) {
  Target target;
  std::string rest = url.substr(url.find("://") + 3);
  const auto slash = rest.find('/');
  target.authority = rest.substr(0, slash);
  rest = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto question = rest.find('?');
  target.path = rest.substr(0, question);
  if (question != std::string::npos) {
    std::string query = rest.substr(question + 1);
    std::size_t start = 0;
    while (start <= query.size()) {
      std::size_t end = query.find('&', start);
      if (end == std::string::npos) end = query.size();
      const std::string pair = query.substr(start, end - start);
      const auto equals = pair.find('=');
      target.query.emplace_back(PercentDecode(pair.substr(0, equals)),
                                equals == std::string::npos
                                    ? ""
                                    : PercentDecode(pair.substr(equals + 1)));
      start = end + 1;
    }
  }
  return target;
}

struct Exchange {
  http::Request request;
  SteadyTime deadline;
  bool signature_ok = false;
};

// A scripted stand-in for the HTTP client, for unit tests only: it keeps a
// bucket in memory and checks signatures the way S3 does (recomputing them
// from what arrived), so that the driver's flow and error mapping can be
// driven without a network. It is not a model of any real server; the
// end-to-end tests run the driver against OpenStack Swift's s3api.
struct FakeServer {
  // What the server holds as the caller's secret; a request signed with
  // another one is refused with SignatureDoesNotMatch.
  std::string secret = kSecret;
  std::vector<std::string> listed_keys;
  bool truncated = false;
  bool corrupt_reads = false;
  std::map<std::string, std::string> objects;
  // Canned answers by operation: "list", "put", "get", "delete".
  std::map<std::string, http::Response> canned;
  std::vector<Exchange> exchanges;
  int clients_made = 0;

  std::vector<std::string> Methods() const {
    std::vector<std::string> out;
    for (const Exchange& e : exchanges) out.push_back(e.request.method);
    return out;
  }

  http::Response Handle(const http::Request& request, bool* signature_ok) {
    const Target target = ParseTarget(request.url);
    *signature_ok = VerifySignature(request, target);
    const bool listing = !target.query.empty();
    const std::string operation = listing                   ? "list"
                                  : request.method == "PUT" ? "put"
                                  : request.method == "GET" ? "get"
                                                            : "delete";
    if (auto it = canned.find(operation); it != canned.end()) return it->second;
    if (!*signature_ok) {
      return Answer(403,
                    "<Error><Code>SignatureDoesNotMatch</Code><Message>The "
                    "request signature we calculated does not match the "
                    "signature you provided.</Message></Error>");
    }
    const std::string key = ObjectKey(target);
    if (operation == "list") return Answer(200, ListingXml());
    if (operation == "put") {
      objects[key] = request.body;
      return Answer(200, "");
    }
    if (operation == "get") {
      auto it = objects.find(key);
      if (it == objects.end()) {
        return Answer(404, "<Error><Code>NoSuchKey</Code></Error>");
      }
      std::string body = it->second;
      if (corrupt_reads && !body.empty()) body[0] ^= 1;
      return Answer(200, body);
    }
    objects.erase(key);
    return Answer(204, "");
  }

  static http::Response Answer(int status, std::string body) {
    http::Response response;
    response.status = status;
    response.body = std::move(body);
    return response;
  }

 private:
  // The key below the bucket, for either addressing style.
  static std::string ObjectKey(const Target& target) {
    std::string path = PercentDecode(target.path);
    if (target.authority.starts_with("backups.")) return path.substr(1);
    const auto second = path.find('/', 1);
    return second == std::string::npos ? "" : path.substr(second + 1);
  }

  std::string ListingXml() const {
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns="
        "\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>backups</Name>";
    xml += std::string("<IsTruncated>") + (truncated ? "true" : "false") +
           "</IsTruncated>";
    for (const std::string& key : listed_keys) {
      xml += "<Contents><Key>" + key + "</Key><Size>1</Size></Contents>";
    }
    return xml + "</ListBucketResult>";
  }

  bool VerifySignature(const http::Request& request,
                       const Target& target) const {
    const std::string authorization = Header(request, "authorization");
    const auto credential = authorization.find("Credential=");
    const auto signed_at = authorization.find(", SignedHeaders=");
    const auto signature_at = authorization.find(", Signature=");
    if (credential == std::string::npos || signed_at == std::string::npos ||
        signature_at == std::string::npos) {
      return false;
    }
    // AKID/20240101/us-east-1/s3/aws4_request
    const std::string scope_text =
        authorization.substr(credential + 11, signed_at - credential - 11);
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t slash;
         (slash = scope_text.find('/', start)) != std::string::npos;
         start = slash + 1) {
      parts.push_back(scope_text.substr(start, slash - start));
    }
    parts.push_back(scope_text.substr(start));
    if (parts.size() != 5) return false;

    detail::CanonicalInput input;
    input.method = request.method;
    input.encoded_path = target.path;
    input.query = target.query;
    input.payload_hash = http::Hex(http::Sha256(request.body));
    if (Header(request, "x-amz-content-sha256") != input.payload_hash) {
      return false;
    }
    const std::string signed_names =
        authorization.substr(signed_at + 16, signature_at - signed_at - 16);
    start = 0;
    while (start <= signed_names.size()) {
      std::size_t end = signed_names.find(';', start);
      if (end == std::string::npos) end = signed_names.size();
      const std::string name = signed_names.substr(start, end - start);
      // The Host a client sends is the URL's authority; a signature over
      // anything else would be refused.
      const std::string value =
          name == "host" ? target.authority : Header(request, name);
      input.headers.emplace_back(name, value);
      start = end + 1;
    }
    const detail::Credentials credentials{parts[0], secret, ""};
    const detail::Scope scope{parts[1], parts[2], parts[3]};
    return Header(request, "host") == target.authority &&
           detail::Authorization(input, credentials, scope,
                                 Header(request, "x-amz-date")) ==
               authorization;
  }
};

class FakeClient final : public http::HttpClient {
 public:
  explicit FakeClient(std::shared_ptr<FakeServer> server)
      : server_(std::move(server)) {}

  http::Response Send(const http::Request& request,
                      const Deadline& deadline) override {
    Exchange exchange{request, deadline.at()};
    http::Response response = server_->Handle(request, &exchange.signature_ok);
    server_->exchanges.push_back(std::move(exchange));
    return response;
  }

 private:
  std::shared_ptr<FakeServer> server_;
};

// Writes credential files in a directory of its own, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("s3_driver_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string file = (path_ / name).string();
    std::ofstream(file, std::ios::trunc) << content;
    return file;
  }
  std::string Path(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

S3Config BaseConfig() {
  S3Config config;
  config.endpoint = "https://s3.example.com";
  config.scheme = "https";
  config.host = "s3.example.com";
  config.bucket = "backups";
  config.prefix = "db/";
  return config;
}

class S3DriverTest : public ::testing::Test {
 protected:
  S3DriverTest() : server_(std::make_shared<FakeServer>()) {
    env_ = {{"AWS_ACCESS_KEY_ID", kAccessKeyId},
            {"AWS_SECRET_ACCESS_KEY", kSecret}};
  }

  S3Runtime Runtime() {
    S3Runtime runtime;
    runtime.make_client =
        [this](const http::ClientOptions&,
               std::string* error) -> std::unique_ptr<http::HttpClient> {
      if (!client_error_.empty()) {
        *error = client_error_;
        return nullptr;
      }
      ++server_->clients_made;
      return std::make_unique<FakeClient>(server_);
    };
    runtime.env =
        [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    // 2024-01-01T00:00:00Z
    runtime.now = [] {
      return std::chrono::system_clock::time_point(seconds(1704067200));
    };
    return runtime;
  }

  std::unique_ptr<S3Driver> MakeDriver(S3Config config = BaseConfig()) {
    return std::make_unique<S3Driver>(
        std::move(config), DriverContext{"store", "pod-1"}, Runtime());
  }

  static Deadline Soon() { return Deadline::After(seconds(30)); }

  // Sets up and checks once.
  Outcome SetUpAndCheck(S3Driver& driver) {
    Outcome setup = driver.Setup(Soon());
    EXPECT_TRUE(setup.ok) << setup.detail;
    if (!setup.ok) return setup;
    return driver.Check(Soon());
  }

  std::shared_ptr<FakeServer> server_;
  std::map<std::string, std::string> env_;
  std::string client_error_;
};

// ------------------------------------------------------------------ listing

TEST_F(S3DriverTest, ListsTheFirstPageVirtualHosted) {
  server_->listed_keys = {"db/2024-01-01.tar.gz", "db/2024-01-02.tar.gz"};
  auto driver = MakeDriver();
  Outcome outcome = SetUpAndCheck(*driver);
  ASSERT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail, "bucket backups: 2 objects under prefix db/");

  ASSERT_EQ(server_->exchanges.size(), 1u);
  const Exchange& list = server_->exchanges[0];
  EXPECT_TRUE(list.signature_ok);
  EXPECT_EQ(list.request.method, "GET");
  EXPECT_EQ(list.request.url,
            "https://backups.s3.example.com/"
            "?list-type=2&max-keys=1000&prefix=db%2F");
  EXPECT_EQ(Header(list.request, "host"), "backups.s3.example.com");
  EXPECT_EQ(Header(list.request, "x-amz-content-sha256"), kEmptyHash);
  EXPECT_EQ(Header(list.request, "x-amz-date"), "20240101T000000Z");
  EXPECT_THAT(Header(list.request, "authorization"),
              StartsWith("AWS4-HMAC-SHA256 Credential=AKIDTESTEXAMPLE/"
                         "20240101/us-east-1/s3/aws4_request, "));
  EXPECT_EQ(list.request.body, "");
}

TEST_F(S3DriverTest, PathStyleKeepsANonDefaultPort) {
  S3Config config = BaseConfig();
  config.endpoint = "http://127.0.0.1:8080";
  config.scheme = "http";
  config.host = "127.0.0.1";
  config.port = 8080;
  config.path_style = true;
  config.region = "eu-central-1";
  auto driver = MakeDriver(config);
  ASSERT_TRUE(SetUpAndCheck(*driver).ok);
  const Exchange& list = server_->exchanges.at(0);
  EXPECT_TRUE(list.signature_ok);
  EXPECT_EQ(list.request.url,
            "http://127.0.0.1:8080/backups"
            "?list-type=2&max-keys=1000&prefix=db%2F");
  EXPECT_EQ(Header(list.request, "host"), "127.0.0.1:8080");
  EXPECT_THAT(Header(list.request, "authorization"),
              HasSubstr("/20240101/eu-central-1/s3/aws4_request"));
}

TEST_F(S3DriverTest, CountWording) {
  struct Case {
    std::vector<std::string> keys;
    bool truncated;
    std::string prefix;
    std::string detail;
  };
  const Case cases[] = {
      {{}, false, "db/", "bucket backups: 0 objects under prefix db/"},
      {{"db/a"}, false, "db/", "bucket backups: 1 object under prefix db/"},
      {{"a", "b"}, false, "", "bucket backups: 2 objects"},
      {{"db/a"}, true, "db/", "bucket backups: 1+ objects under prefix db/"},
  };
  for (const Case& c : cases) {
    server_ = std::make_shared<FakeServer>();
    server_->listed_keys = c.keys;
    server_->truncated = c.truncated;
    S3Config config = BaseConfig();
    config.prefix = c.prefix;
    auto driver = MakeDriver(config);
    Outcome outcome = SetUpAndCheck(*driver);
    EXPECT_TRUE(outcome.ok);
    EXPECT_EQ(outcome.detail, c.detail);
  }
}

TEST_F(S3DriverTest, SentinelsAreNotCountedAsBackups) {
  server_->listed_keys = {"db/full.tar.gz", "db/.backup-gate-sentinel-pod-1",
                          "db/.backup-gate-sentinel-pod-2"};
  auto driver = MakeDriver();
  EXPECT_EQ(SetUpAndCheck(*driver).detail,
            "bucket backups: 1 object under prefix db/");
}

TEST_F(S3DriverTest, AnswerThatIsNotAListingFails) {
  server_->canned["list"] =
      FakeServer::Answer(200, "<html><body>Welcome to nginx!</body></html>");
  auto driver = MakeDriver();
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_THAT(outcome.detail,
              StartsWith("list bucket backups: HTTP 200 without a "
                         "ListBucketResult"));
}

// -------------------------------------------------------------- write probe

S3Config WithProbe() {
  S3Config config = BaseConfig();
  config.write_probe = true;
  return config;
}

TEST_F(S3DriverTest, WriteProbePutsReadsBackAndDeletes) {
  auto driver = MakeDriver(WithProbe());
  EXPECT_EQ(driver->sentinel_key(), "db/.backup-gate-sentinel-pod-1");
  Outcome outcome = SetUpAndCheck(*driver);
  ASSERT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail,
            "bucket backups: 0 objects under prefix db/, write probe ok");
  EXPECT_THAT(server_->Methods(), ElementsAre("GET", "PUT", "GET", "DELETE"));

  const http::Request& put = server_->exchanges[1].request;
  EXPECT_EQ(put.url,
            "https://backups.s3.example.com/db/.backup-gate-sentinel-pod-1");
  EXPECT_EQ(put.body.size(), 32u);
  EXPECT_EQ(Header(put, "x-amz-content-sha256"),
            http::Hex(http::Sha256(put.body)));
  for (const Exchange& e : server_->exchanges) {
    EXPECT_TRUE(e.signature_ok) << e.request.method << " " << e.request.url;
  }
  EXPECT_THAT(server_->objects, IsEmpty());
}

TEST_F(S3DriverTest, WriteProbeUsesFreshContentEachTime) {
  auto driver = MakeDriver(WithProbe());
  ASSERT_TRUE(SetUpAndCheck(*driver).ok);
  ASSERT_TRUE(driver->Check(Soon()).ok);
  EXPECT_NE(server_->exchanges[1].request.body,
            server_->exchanges[5].request.body);
}

TEST_F(S3DriverTest, SentinelKeyIsPortable) {
  S3Config config = WithProbe();
  config.path_style = true;
  S3Driver driver(config, DriverContext{"store", "pod/1 x?"}, Runtime());
  EXPECT_EQ(driver.sentinel_key(), "db/.backup-gate-sentinel-pod_1_x_");
  ASSERT_TRUE(SetUpAndCheck(driver).ok);
  EXPECT_EQ(server_->exchanges[1].request.url,
            "https://s3.example.com/backups/db/.backup-gate-sentinel-pod_1_x_");
}

TEST_F(S3DriverTest, WriteProbeReadMismatchFailsAndStillDeletes) {
  server_->corrupt_reads = true;
  auto driver = MakeDriver(WithProbe());
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_EQ(outcome.detail,
            "get sentinel db/.backup-gate-sentinel-pod-1: content differs "
            "from what was put");
  EXPECT_THAT(server_->Methods(), ElementsAre("GET", "PUT", "GET", "DELETE"));
  EXPECT_THAT(server_->objects, IsEmpty());
}

TEST_F(S3DriverTest, WriteProbeDeniedPutStopsThere) {
  server_->canned["put"] = FakeServer::Answer(
      403,
      "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
      "</Error>");
  auto driver = MakeDriver(WithProbe());
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_EQ(outcome.reason, Reason::kPermission);
  EXPECT_EQ(outcome.detail,
            "put sentinel db/.backup-gate-sentinel-pod-1: HTTP 403 "
            "AccessDenied (Access Denied)");
  EXPECT_THAT(server_->Methods(), ElementsAre("GET", "PUT"));
}

TEST_F(S3DriverTest, WriteProbeFailedDeleteIsReported) {
  server_->canned["delete"] =
      FakeServer::Answer(500, "<Error><Code>InternalError</Code></Error>");
  auto driver = MakeDriver(WithProbe());
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_EQ(outcome.detail,
            "delete sentinel db/.backup-gate-sentinel-pod-1: HTTP 500 "
            "InternalError");
}

TEST_F(S3DriverTest, WriteProbeMissingObjectIsAnError) {
  server_->canned["get"] =
      FakeServer::Answer(404, "<Error><Code>NoSuchKey</Code></Error>");
  auto driver = MakeDriver(WithProbe());
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_THAT(outcome.detail, HasSubstr("HTTP 404 NoSuchKey"));
  EXPECT_THAT(server_->Methods(), ElementsAre("GET", "PUT", "GET", "DELETE"));
}

// ----------------------------------------------------------- error mapping

struct ErrorCase {
  const char* name;
  int status;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  Reason reason;
  std::string detail;
};

class S3ErrorMappingTest : public S3DriverTest,
                           public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(S3ErrorMappingTest, ListFailure) {
  const ErrorCase& c = GetParam();
  http::Response response = FakeServer::Answer(c.status, c.body);
  response.headers = c.headers;
  server_->canned["list"] = response;
  auto driver = MakeDriver();
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(ReasonName(outcome.reason), ReasonName(c.reason));
  EXPECT_EQ(outcome.detail, c.detail);
}

const char kSwiftSignature[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>"
    "SignatureDoesNotMatch</Code><Message>The request signature we "
    "calculated does not match the signature you provided. Check your key "
    "and signing method.</Message><RequestId>tx1</RequestId>"
    "<AWSAccessKeyId>test:tester</AWSAccessKeyId><StringToSign>"
    "AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/s3/aws4_request\n"
    "abc</StringToSign></Error>";

std::string AwsError(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
         "</Code><Message>" + message +
         "</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
}

std::string CephError(const std::string& code) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code +
         "</Code><RequestId>tx00-default</RequestId><HostId>1-default"
         "</HostId></Error>";
}

INSTANTIATE_TEST_SUITE_P(
    Codes, S3ErrorMappingTest,
    ::testing::Values(
        ErrorCase{"SwiftSignatureDoesNotMatch",
                  403,
                  kSwiftSignature,
                  {},
                  Reason::kAuth,
                  "list bucket backups: HTTP 403 SignatureDoesNotMatch (The "
                  "request signature we calculated does not match the "
                  "signature you provided. Check your key and signing "
                  "method.)"},
        ErrorCase{"CephInvalidAccessKeyId",
                  403,
                  CephError("InvalidAccessKeyId"),
                  {},
                  Reason::kAuth,
                  "list bucket backups: HTTP 403 InvalidAccessKeyId"},
        ErrorCase{"InvalidToken",
                  400,
                  AwsError("InvalidToken", "The provided token is malformed"),
                  {},
                  Reason::kAuth,
                  "list bucket backups: HTTP 400 InvalidToken (The provided "
                  "token is malformed)"},
        ErrorCase{"ExpiredToken",
                  400,
                  CephError("ExpiredToken"),
                  {},
                  Reason::kAuth,
                  "list bucket backups: HTTP 400 ExpiredToken"},
        ErrorCase{"WrongRegion",
                  400,
                  "<Error><Code>AuthorizationHeaderMalformed</Code><Message>"
                  "the region 'us-east-1' is wrong; expecting 'eu-west-1'"
                  "</Message><Region>eu-west-1</Region></Error>",
                  {},
                  Reason::kAuth,
                  "list bucket backups: HTTP 400 AuthorizationHeaderMalformed "
                  "(the region 'us-east-1' is wrong; expecting 'eu-west-1'), "
                  "bucket is in region eu-west-1, not us-east-1"},
        ErrorCase{"AccessDenied",
                  403,
                  AwsError("AccessDenied", "Access Denied"),
                  {},
                  Reason::kPermission,
                  "list bucket backups: HTTP 403 AccessDenied (Access Denied)"},
        ErrorCase{"AllAccessDisabled",
                  403,
                  CephError("AllAccessDisabled"),
                  {},
                  Reason::kPermission,
                  "list bucket backups: HTTP 403 AllAccessDisabled"},
        ErrorCase{"AccountProblem",
                  403,
                  CephError("AccountProblem"),
                  {},
                  Reason::kPermission,
                  "list bucket backups: HTTP 403 AccountProblem"},
        ErrorCase{"NoSuchBucket",
                  404,
                  CephError("NoSuchBucket"),
                  {},
                  Reason::kNotFound,
                  "list bucket backups: HTTP 404 NoSuchBucket"},
        ErrorCase{"NotFoundWithoutBody",
                  404,
                  "",
                  {},
                  Reason::kNotFound,
                  "list bucket backups: HTTP 404"},
        ErrorCase{"ForbiddenWithoutBody",
                  403,
                  "",
                  {},
                  Reason::kPermission,
                  "list bucket backups: HTTP 403"},
        ErrorCase{"UnauthorizedWithoutBody",
                  401,
                  "",
                  {},
                  Reason::kAuth,
                  "list bucket backups: HTTP 401"},
        ErrorCase{"SlowDown",
                  503,
                  AwsError("SlowDown",
                           "Please reduce your "
                           "request rate."),
                  {},
                  Reason::kError,
                  "list bucket backups: HTTP 503 SlowDown (Please reduce your "
                  "request rate.)"},
        ErrorCase{"ServiceUnavailable",
                  503,
                  CephError("ServiceUnavailable"),
                  {},
                  Reason::kError,
                  "list bucket backups: HTTP 503 ServiceUnavailable"},
        ErrorCase{"InternalError",
                  500,
                  CephError("InternalError"),
                  {},
                  Reason::kError,
                  "list bucket backups: HTTP 500 InternalError"},
        ErrorCase{"ProxyPage",
                  502,
                  "<html><body><h1>502 Bad Gateway</h1></body></html>",
                  {},
                  Reason::kError,
                  "list bucket backups: HTTP 502"},
        ErrorCase{"PermanentRedirect",
                  301,
                  CephError("PermanentRedirect"),
                  {{"x-amz-bucket-region", "ap-south-1"}},
                  Reason::kError,
                  "list bucket backups: HTTP 301 PermanentRedirect, bucket is "
                  "in region ap-south-1, not us-east-1"}),
    [](const ::testing::TestParamInfo<ErrorCase>& param) {
      return std::string(param.param.name);
    });

TEST_F(S3DriverTest, TransportErrorsMapThroughTheSharedTable) {
  for (http::TransportError error :
       {http::TransportError::kTimeout, http::TransportError::kRefused,
        http::TransportError::kDns, http::TransportError::kTls,
        http::TransportError::kConnection, http::TransportError::kOther}) {
    http::Response response;
    response.error = error;
    response.error_detail = "while connecting";
    server_->canned["list"] = response;
    auto driver = MakeDriver();
    Outcome outcome = SetUpAndCheck(*driver);
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.reason, http::ReasonFor(error));
    EXPECT_EQ(outcome.detail, "list bucket backups: " +
                                  std::string(http::TransportErrorName(error)) +
                                  ": while connecting");
  }
}

TEST_F(S3DriverTest, WrongSecretIsAuthAndTheNextSetupReadsItAgain) {
  server_->secret = "the-right-secret";
  auto driver = MakeDriver();
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_EQ(outcome.reason, Reason::kAuth);
  EXPECT_THAT(
      outcome.detail,
      StartsWith("list bucket backups: HTTP 403 SignatureDoesNotMatch"));

  env_["AWS_SECRET_ACCESS_KEY"] = "the-right-secret";
  EXPECT_TRUE(SetUpAndCheck(*driver).ok);
}

// ------------------------------------------------------------------ setup

TEST_F(S3DriverTest, SetupMakesOneClientThatChecksKeep) {
  auto driver = MakeDriver();
  ASSERT_TRUE(SetUpAndCheck(*driver).ok);
  ASSERT_TRUE(driver->Check(Soon()).ok);
  ASSERT_TRUE(driver->Check(Soon()).ok);
  EXPECT_EQ(server_->clients_made, 1);
  EXPECT_EQ(server_->exchanges.size(), 3u);
}

TEST_F(S3DriverTest, CheckBeforeSetupFails) {
  auto driver = MakeDriver();
  Outcome outcome = driver->Check(Soon());
  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(server_->exchanges, IsEmpty());
}

TEST_F(S3DriverTest, NoCredentialsIsMisconfigured) {
  env_.clear();
  auto driver = MakeDriver();
  Outcome outcome = driver->Setup(Soon());
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_THAT(outcome.detail, HasSubstr("no credentials"));
}

TEST_F(S3DriverTest, HalfTheEnvironmentCredentialsIsMisconfigured) {
  env_.erase("AWS_SECRET_ACCESS_KEY");
  Outcome outcome = MakeDriver()->Setup(Soon());
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail,
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");

  env_ = {{"AWS_SECRET_ACCESS_KEY", kSecret}, {"AWS_ACCESS_KEY_ID", ""}};
  outcome = MakeDriver()->Setup(Soon());
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail,
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
}

TEST_F(S3DriverTest, WebIdentityAloneIsNotSupported) {
  env_ = {{"AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"},
          {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/backup"}};
  Outcome outcome = MakeDriver()->Setup(Soon());
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_THAT(outcome.detail, HasSubstr("web identity"));
  EXPECT_THAT(outcome.detail, HasSubstr("not supported"));

  // Keys next to it are used: web identity is only refused when it is all
  // there is.
  env_["AWS_ACCESS_KEY_ID"] = kAccessKeyId;
  env_["AWS_SECRET_ACCESS_KEY"] = kSecret;
  EXPECT_TRUE(MakeDriver()->Setup(Soon()).ok);
}

TEST_F(S3DriverTest, SessionTokenFromTheEnvironmentIsSent) {
  env_["AWS_SESSION_TOKEN"] = kSessionToken;
  auto driver = MakeDriver();
  ASSERT_TRUE(SetUpAndCheck(*driver).ok);
  const Exchange& list = server_->exchanges.at(0);
  EXPECT_TRUE(list.signature_ok);
  EXPECT_EQ(Header(list.request, "x-amz-security-token"), kSessionToken);
  EXPECT_THAT(Header(list.request, "authorization"),
              HasSubstr("x-amz-security-token"));
}

TEST_F(S3DriverTest, CredentialFilesWinAndAreReadAtEverySetup) {
  TempDir dir;
  S3Config config = BaseConfig();
  config.access_key_id_file = dir.Write("id", "AKIDFROMFILE\n");
  config.secret_access_key_file = dir.Write("secret", "file-secret\n");
  env_["AWS_SESSION_TOKEN"] = kSessionToken;  // ignored with files
  server_->secret = "file-secret";
  auto driver = MakeDriver(config);
  ASSERT_TRUE(SetUpAndCheck(*driver).ok);
  EXPECT_THAT(Header(server_->exchanges.at(0).request, "authorization"),
              HasSubstr("Credential=AKIDFROMFILE/"));
  EXPECT_EQ(Header(server_->exchanges.at(0).request, "x-amz-security-token"),
            "");

  // The Secret is rotated: the next setup picks up both files.
  dir.Write("id", "AKIDROTATED\n");
  dir.Write("secret", "rotated-secret\n");
  server_->secret = "rotated-secret";
  ASSERT_TRUE(SetUpAndCheck(*driver).ok);
  EXPECT_TRUE(server_->exchanges.at(1).signature_ok);
  EXPECT_THAT(Header(server_->exchanges.at(1).request, "authorization"),
              HasSubstr("Credential=AKIDROTATED/"));
}

TEST_F(S3DriverTest, UnreadableOrEmptyCredentialFileIsMisconfigured) {
  TempDir dir;
  S3Config config = BaseConfig();
  config.access_key_id_file = dir.Write("id", "AKID\n");
  config.secret_access_key_file = dir.Path("missing");
  Outcome outcome = MakeDriver(config)->Setup(Soon());
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_THAT(outcome.detail, HasSubstr(dir.Path("missing")));

  config.secret_access_key_file = dir.Write("empty", "\n");
  outcome = MakeDriver(config)->Setup(Soon());
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_THAT(outcome.detail, HasSubstr(dir.Path("empty")));
}

TEST_F(S3DriverTest, FailedSetupDropsThePreviousSession) {
  TempDir dir;
  S3Config config = BaseConfig();
  config.access_key_id_file = dir.Write("id", "AKID");
  config.secret_access_key_file = dir.Write("secret", kSecret);
  auto driver = MakeDriver(config);
  ASSERT_TRUE(SetUpAndCheck(*driver).ok);
  std::filesystem::remove(dir.Path("secret"));
  EXPECT_FALSE(driver->Setup(Soon()).ok);
  EXPECT_FALSE(driver->Check(Soon()).ok);
  EXPECT_EQ(server_->exchanges.size(), 1u);
}

TEST_F(S3DriverTest, ClientThatCannotBeBuiltIsMisconfigured) {
  client_error_ = "ca_file /etc/ca.pem: No such file or directory";
  Outcome outcome = MakeDriver()->Setup(Soon());
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail,
            "http client: ca_file /etc/ca.pem: No such file or directory");
}

TEST_F(S3DriverTest, DeadlineIsPassedToEveryRequest) {
  auto driver = MakeDriver(WithProbe());
  ASSERT_TRUE(driver->Setup(Soon()).ok);
  const Deadline deadline = Deadline::After(seconds(17));
  ASSERT_TRUE(driver->Check(deadline).ok);
  ASSERT_EQ(server_->exchanges.size(), 4u);
  for (const Exchange& e : server_->exchanges) {
    EXPECT_EQ(e.deadline, deadline.at());
  }
}

TEST_F(S3DriverTest, ExpiredDeadlineSendsNothing) {
  auto driver = MakeDriver();
  ASSERT_TRUE(driver->Setup(Soon()).ok);
  Outcome outcome =
      driver->Check(Deadline(std::chrono::steady_clock::now() - seconds(1)));
  EXPECT_EQ(outcome.reason, Reason::kTimeout);
  EXPECT_THAT(server_->exchanges, IsEmpty());
}

// ------------------------------------------------------------------ secrets

TEST_F(S3DriverTest, NoSecretEverReachesADetail) {
  env_["AWS_SESSION_TOKEN"] = kSessionToken;
  auto driver = MakeDriver(WithProbe());
  std::vector<std::string> details;
  Outcome setup = driver->Setup(Soon());
  details.push_back(setup.detail);

  // A server (or proxy) that echoes what it was given, in every place the
  // driver reads.
  const std::string echo =
      std::string("bad ") + kSecret + " and " + kSessionToken;
  server_->canned["list"] =
      FakeServer::Answer(403, "<Error><Code>AccessDenied</Code><Message>" +
                                  echo + "</Message></Error>");
  details.push_back(driver->Check(Soon()).detail);

  http::Response transport;
  transport.error = http::TransportError::kTls;
  transport.error_detail = echo;
  server_->canned["list"] = transport;
  details.push_back(driver->Check(Soon()).detail);

  server_->canned.erase("list");
  server_->canned["put"] = FakeServer::Answer(
      500, "<Error><Code>" + std::string(kSecret) + "</Code></Error>");
  details.push_back(driver->Check(Soon()).detail);
  server_->canned.erase("put");
  details.push_back(driver->Check(Soon()).detail);

  for (const std::string& detail : details) {
    EXPECT_THAT(detail, Not(HasSubstr(kSecret)));
    EXPECT_THAT(detail, Not(HasSubstr(kSessionToken)));
    EXPECT_THAT(detail, Not(HasSubstr("AWS4-HMAC-SHA256")));
    EXPECT_THAT(detail, Not(HasSubstr("Signature=")));
  }
  EXPECT_THAT(details[1], HasSubstr("<redacted>"));
  EXPECT_THAT(details[2], HasSubstr("<redacted>"));
}

TEST_F(S3DriverTest, SecretCutByTheLengthCapIsStillRedacted) {
  // The secret sits right where a capped detail would end.
  const std::string secret(100, 'S');
  env_["AWS_SECRET_ACCESS_KEY"] = secret;
  server_->canned["list"] = FakeServer::Answer(
      403, "<Error><Code>AccessDenied</Code><Message>" + std::string(150, 'm') +
               secret + "</Message></Error>");
  auto driver = MakeDriver();
  Outcome outcome = SetUpAndCheck(*driver);
  EXPECT_THAT(outcome.detail, Not(HasSubstr("SSSSS")));
  EXPECT_THAT(outcome.detail, HasSubstr("<redacted>"));
}

}  // namespace
}  // namespace bgate::drivers::s3
