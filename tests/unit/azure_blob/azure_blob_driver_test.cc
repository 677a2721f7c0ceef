#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bgate/drivers/azure_blob/azure_blob_driver.h"
#include "bgate/drivers/http/crypto.h"
#include "shared_key.h"

namespace bgate::drivers::azure_blob {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kDevKeyBase64[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==";
constexpr char kOtherKeyBase64[] = "c2Vjb25kIGtleSBhZnRlciByb3RhdGlvbg==";
constexpr char kSasSig[] = "Zm9v%2BYmFy%2Fc2ln%3D";
constexpr char kSasToken[] =
    "sv=2021-08-06&ss=b&srt=co&sp=rwdl&se=2030-01-01T00%3A00%3A00Z"
    "&sig=Zm9v%2BYmFy%2Fc2ln%3D";
constexpr char kPermissionMismatch[] = "AuthorizationPermissionMismatch";
constexpr char kAzuriteEndpoint[] = "http://127.0.0.1:10000/devstoreaccount1";
constexpr char kAuthorizationFailure[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Error>\n"
    "  <Code>AuthorizationFailure</Code>\n  <Message>Server failed to "
    "authenticate the request.\nRequestId:cbc9541a\nTime:2026-11-26T13:21:26Z"
    "</Message>\n</Error>";

std::string Listing(const std::vector<std::string>& names,
                    const std::string& next_marker = "") {
  std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
      "<EnumerationResults ContainerName=\"backups\"><Blobs>";
  for (const auto& name : names) {
    body += "<Blob><Name>" + name + "</Name><Properties/></Blob>";
  }
  return body + "</Blobs><NextMarker>" + next_marker +
         "</NextMarker></EnumerationResults>";
}

http::Response Answer(int status, std::string body = {},
                      std::vector<std::pair<std::string, std::string>>
                          headers = {}) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

http::Response NoAnswer(http::TransportError error, std::string detail) {
  http::Response response;
  response.error = error;
  response.error_detail = std::move(detail);
  return response;
}

// What the scripted client was sent and what it answers. Shared between the
// test and every client the driver builds, since each setup builds one.
struct Script {
  std::vector<http::Request> sent;
  std::vector<SteadyTime> deadlines;
  // Answers in order; when empty, `respond` answers (or a failure).
  std::deque<http::Response> answers;
  std::function<http::Response(const http::Request&)> respond;
  int clients_built = 0;
  http::ClientOptions last_options;
  std::string factory_error;  // non-empty: the factory fails with it
};

// A unit-test double for the HTTP client: it answers from a script and
// records the requests, so the driver's flow and error mapping can be
// tested without a server. The real client against Azurite is covered by
// the end-to-end tests.
class ScriptedClient final : public http::HttpClient {
 public:
  explicit ScriptedClient(std::shared_ptr<Script> script)
      : script_(std::move(script)) {}

  http::Response Send(const http::Request& request,
                      const Deadline& deadline) override {
    script_->sent.push_back(request);
    script_->deadlines.push_back(deadline.at());
    if (!script_->answers.empty()) {
      http::Response answer = std::move(script_->answers.front());
      script_->answers.pop_front();
      return answer;
    }
    if (script_->respond) return script_->respond(request);
    return NoAnswer(http::TransportError::kOther, "script exhausted");
  }

 private:
  std::shared_ptr<Script> script_;
};

HttpClientFactory FactoryFor(std::shared_ptr<Script> script) {
  return [script](const http::ClientOptions& options, std::string* error)
             -> std::unique_ptr<http::HttpClient> {
    script->last_options = options;
    if (!script->factory_error.empty()) {
      *error = script->factory_error;
      return nullptr;
    }
    ++script->clients_built;
    return std::make_unique<ScriptedClient>(script);
  };
}

// An in-memory container answering PUT, GET and DELETE of blobs.
struct BlobStore {
  std::map<std::string, std::string> blobs;
  bool corrupt_reads = false;

  http::Response operator()(const http::Request& request) {
    std::string url = request.url.substr(0, request.url.find('?'));
    if (request.method == "PUT") {
      blobs[url] = request.body;
      return Answer(201);
    }
    auto it = blobs.find(url);
    if (it == blobs.end()) {
      return Answer(404, "", {{"x-ms-error-code", "BlobNotFound"}});
    }
    if (request.method == "GET") {
      std::string body = it->second;
      if (corrupt_reads) body[0] ^= 1;
      return Answer(200, body);
    }
    blobs.erase(it);
    return Answer(202);
  }
};

std::string HeaderOf(const http::Request& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

class AzureBlobDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bgate-azure-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    key_file_ = (dir_ / "account-key").string();
    sas_file_ = (dir_ / "sas-token").string();
    WriteFile(key_file_, std::string(kDevKeyBase64) + "\n");
    config_.account = "devstoreaccount1";
    config_.container = "backups";
    config_.prefix = "db/";
    config_.endpoint = kAzuriteEndpoint;
    config_.account_key_file = key_file_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }

  std::unique_ptr<AzureBlobDriver> MakeDriver(
      const std::string& instance = "pod-1") {
    return std::make_unique<AzureBlobDriver>(
        config_, DriverContext{"azure", instance}, FactoryFor(script_));
  }

  // Set up and checked once, with `answers` queued.
  Outcome SetUpAndCheck(std::vector<http::Response> answers) {
    for (auto& a : answers) script_->answers.push_back(std::move(a));
    driver_ = MakeDriver();
    Outcome setup = driver_->Setup(Later());
    EXPECT_TRUE(setup.ok) << setup.detail;
    return driver_->Check(Later());
  }

  static Deadline Later() { return Deadline::After(seconds(30)); }

  std::filesystem::path dir_;
  std::string key_file_;
  std::string sas_file_;
  AzureBlobConfig config_;
  std::shared_ptr<Script> script_ = std::make_shared<Script>();
  std::unique_ptr<AzureBlobDriver> driver_;
};

TEST_F(AzureBlobDriverTest, ListsThePrefixAndCountsBlobs) {
  Outcome outcome = SetUpAndCheck(
      {Answer(200, Listing({"db/a.dump", "db/b.dump",
                            "db/.backup-gate-sentinel-other-pod"}))});
  ASSERT_TRUE(outcome.ok) << outcome.detail;
  // The other pod's sentinel is not a backup.
  EXPECT_EQ(outcome.detail, "container backups: 2 blobs under prefix db/");

  ASSERT_EQ(script_->sent.size(), 1u);
  const http::Request& list = script_->sent[0];
  EXPECT_EQ(list.method, "GET");
  EXPECT_EQ(list.url,
            "http://127.0.0.1:10000/devstoreaccount1/backups"
            "?restype=container&comp=list&prefix=db%2F&maxresults=1000");
  EXPECT_EQ(list.body, "");
  EXPECT_EQ(HeaderOf(list, "x-ms-version"), "2021-08-06");
}

TEST_F(AzureBlobDriverTest, SignsWithSharedKeyOverThePathStyleResource) {
  SetUpAndCheck({Answer(200, Listing({}))});
  ASSERT_EQ(script_->sent.size(), 1u);
  http::Request unsigned_request = script_->sent[0];
  const std::string authorization = HeaderOf(unsigned_request, "Authorization");
  std::erase_if(unsigned_request.headers,
                [](const auto& h) { return h.first == "Authorization"; });
  const std::string key = *http::Base64Decode(kDevKeyBase64);
  const std::string string_to_sign =
      detail::StringToSign(unsigned_request, "devstoreaccount1");
  // The account twice: once as the Shared Key account, once in the path.
  EXPECT_THAT(string_to_sign,
              HasSubstr("\n/devstoreaccount1/devstoreaccount1/backups\n"
                        "comp:list\nmaxresults:1000\nprefix:db/\n"
                        "restype:container"));
  EXPECT_EQ(authorization, "SharedKey devstoreaccount1:" +
                               detail::Signature(key, string_to_sign));
}

TEST_F(AzureBlobDriverTest, DateHeaderIsCurrentRfc1123) {
  SetUpAndCheck({Answer(200, Listing({}))});
  const std::string date = HeaderOf(script_->sent.at(0), "x-ms-date");
  EXPECT_THAT(date, MatchesRegex("(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                                 "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
                                 "Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:"
                                 "[0-9]{2} GMT"));
  std::tm tm{};
  ASSERT_NE(strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm), nullptr);
  const long skew = static_cast<long>(timegm(&tm) - std::time(nullptr));
  EXPECT_LE(std::labs(skew), 5) << date;
}

TEST_F(AzureBlobDriverTest, DefaultEndpointAndNoPrefix) {
  config_.account = "acct01";
  config_.endpoint = "https://acct01.blob.core.windows.net";
  config_.prefix = "";
  Outcome outcome = SetUpAndCheck({Answer(200, Listing({"x"}))});
  EXPECT_EQ(outcome.detail, "container backups: 1 blob");
  EXPECT_EQ(script_->sent.at(0).url,
            "https://acct01.blob.core.windows.net/backups"
            "?restype=container&comp=list&maxresults=1000");
  EXPECT_THAT(HeaderOf(script_->sent.at(0), "Authorization"),
              StartsWith("SharedKey acct01:"));
}

TEST_F(AzureBlobDriverTest, FirstPageOnlyWhenMoreFollow) {
  Outcome outcome = SetUpAndCheck(
      {Answer(200, Listing({"db/1", "db/2", "db/3"}, "db/3"))});
  EXPECT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.detail, "container backups: 3+ blobs under prefix db/");
  EXPECT_EQ(script_->sent.size(), 1u);
}

TEST_F(AzureBlobDriverTest, PassesTheDeadlineToEverySend) {
  config_.write_probe = true;
  BlobStore store;
  script_->answers.push_back(Answer(200, Listing({})));
  script_->respond = std::ref(store);
  driver_ = MakeDriver();
  ASSERT_TRUE(driver_->Setup(Later()).ok);
  const Deadline deadline = Deadline::After(seconds(7));
  ASSERT_TRUE(driver_->Check(deadline).ok);
  ASSERT_EQ(script_->deadlines.size(), 4u);
  for (SteadyTime at : script_->deadlines) EXPECT_EQ(at, deadline.at());
}

TEST_F(AzureBlobDriverTest, ExpiredDeadlineSendsNothing) {
  driver_ = MakeDriver();
  ASSERT_TRUE(driver_->Setup(Later()).ok);
  Outcome outcome = driver_->Check(Deadline(std::chrono::steady_clock::now() -
                                            seconds(1)));
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kTimeout);
  EXPECT_THAT(script_->sent, IsEmpty());
}

TEST_F(AzureBlobDriverTest, CheckWithoutSetupFails) {
  driver_ = MakeDriver();
  Outcome outcome = driver_->Check(Later());
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_THAT(script_->sent, IsEmpty());
}

TEST_F(AzureBlobDriverTest, ErrorAnswersMapToReasons) {
  struct Case {
    http::Response answer;
    Reason reason;
    std::string detail;
  };
  std::vector<Case> cases = {
      {Answer(403, kAuthorizationFailure,
              {{"x-ms-error-code", "AuthorizationFailure"}}),
       Reason::kAuth, "list blobs: HTTP 403 AuthorizationFailure"},
      // No header: the code comes from the body.
      {Answer(403, kAuthorizationFailure), Reason::kAuth,
       "list blobs: HTTP 403 AuthorizationFailure"},
      {Answer(403,
              "<Error><Code>AuthenticationFailed</Code><Message>m</Message>"
              "</Error>"),
       Reason::kAuth, "list blobs: HTTP 403 AuthenticationFailed"},
      {Answer(403, "", {{"x-ms-error-code", kPermissionMismatch}}),
       Reason::kPermission,
       "list blobs: HTTP 403 AuthorizationPermissionMismatch"},
      {Answer(404, "", {{"x-ms-error-code", "ContainerNotFound"}}),
       Reason::kNotFound, "list blobs: HTTP 404 ContainerNotFound"},
      {Answer(500, "oops"), Reason::kError, "list blobs: HTTP 500"},
      {Answer(200, "<html>captive portal</html>"), Reason::kError,
       "list blobs: HTTP 200 but the body is not a blob listing"},
      {Answer(304), Reason::kError, "list blobs: HTTP 304"},
  };
  for (auto& c : cases) {
    script_ = std::make_shared<Script>();
    Outcome outcome = SetUpAndCheck({c.answer});
    EXPECT_FALSE(outcome.ok) << c.detail;
    EXPECT_EQ(outcome.reason, c.reason) << c.detail;
    EXPECT_EQ(outcome.detail, c.detail);
  }
}

TEST_F(AzureBlobDriverTest, TransportErrorsUseTheSharedMapping) {
  for (auto error : {http::TransportError::kTimeout,
                     http::TransportError::kRefused, http::TransportError::kDns,
                     http::TransportError::kTls}) {
    script_ = std::make_shared<Script>();
    Outcome outcome =
        SetUpAndCheck({NoAnswer(error, "connect to 127.0.0.1:10000")});
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.reason, http::ReasonFor(error));
    EXPECT_EQ(outcome.detail, "list blobs: " +
                                  std::string(http::TransportErrorName(error)) +
                                  ": connect to 127.0.0.1:10000");
  }
  script_ = std::make_shared<Script>();
  EXPECT_EQ(SetUpAndCheck({NoAnswer(http::TransportError::kTimeout, "")})
                .reason,
            Reason::kTimeout);
}

TEST_F(AzureBlobDriverTest, WriteProbeRoundTripsAndCleansUp) {
  config_.write_probe = true;
  BlobStore store;
  script_->answers.push_back(Answer(200, Listing({"db/a"})));
  script_->respond = std::ref(store);
  Outcome outcome = SetUpAndCheck({});
  ASSERT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail,
            "container backups: 1 blob under prefix db/, write probe ok");
  EXPECT_THAT(store.blobs, IsEmpty());

  ASSERT_EQ(script_->sent.size(), 4u);
  const std::string sentinel =
      "http://127.0.0.1:10000/devstoreaccount1/backups/db/"
      ".backup-gate-sentinel-pod-1";
  const http::Request put = script_->sent[1];  // a copy: sent grows below
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.url, sentinel);
  EXPECT_EQ(HeaderOf(put, "x-ms-blob-type"), "BlockBlob");
  EXPECT_EQ(put.body.size(), 32u);
  EXPECT_THAT(HeaderOf(put, "Authorization"),
              StartsWith("SharedKey devstoreaccount1:"));
  EXPECT_EQ(script_->sent[2].method, "GET");
  EXPECT_EQ(script_->sent[2].url, sentinel);
  EXPECT_EQ(script_->sent[3].method, "DELETE");
  EXPECT_EQ(script_->sent[3].url, sentinel);

  // Fresh content on every probe.
  script_->answers.push_back(Answer(200, Listing({})));
  ASSERT_TRUE(driver_->Check(Later()).ok);
  ASSERT_EQ(script_->sent.size(), 8u);
  EXPECT_NE(script_->sent[5].body, put.body);
}

TEST_F(AzureBlobDriverTest, WriteProbeReadMismatchStillDeletes) {
  config_.write_probe = true;
  BlobStore store;
  store.corrupt_reads = true;
  script_->answers.push_back(Answer(200, Listing({})));
  script_->respond = std::ref(store);
  Outcome outcome = SetUpAndCheck({});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_EQ(outcome.detail,
            "get sentinel: content differs from what was written");
  ASSERT_EQ(script_->sent.size(), 4u);
  EXPECT_EQ(script_->sent[3].method, "DELETE");
  EXPECT_THAT(store.blobs, IsEmpty());
}

TEST_F(AzureBlobDriverTest, WriteProbeRefused) {
  config_.write_probe = true;
  Outcome outcome = SetUpAndCheck(
      {Answer(200, Listing({})),
       Answer(403, "", {{"x-ms-error-code", kPermissionMismatch}})});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kPermission);
  EXPECT_EQ(outcome.detail,
            "put sentinel: HTTP 403 AuthorizationPermissionMismatch");
  EXPECT_EQ(script_->sent.size(), 2u);
}

TEST_F(AzureBlobDriverTest, WriteProbeDeleteFailureReported) {
  config_.write_probe = true;
  BlobStore store;
  script_->answers.push_back(Answer(200, Listing({})));
  script_->respond = [&store](const http::Request& request) {
    if (request.method == "DELETE") {
      return Answer(403, "", {{"x-ms-error-code",
                               "AuthorizationPermissionMismatch"}});
    }
    return store(request);
  };
  Outcome outcome = SetUpAndCheck({});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kPermission);
  EXPECT_EQ(outcome.detail,
            "delete sentinel: HTTP 403 AuthorizationPermissionMismatch");
}

TEST_F(AzureBlobDriverTest, SentinelNamePerInstanceAndPortable) {
  EXPECT_EQ(MakeDriver("pod-7")->sentinel_name(),
            "db/.backup-gate-sentinel-pod-7");
  EXPECT_EQ(MakeDriver("a/b c?d")->sentinel_name(),
            "db/.backup-gate-sentinel-a_b_c_d");
  EXPECT_EQ(MakeDriver(std::string(300, 'x'))->sentinel_name().size(),
            std::string("db/.backup-gate-sentinel-").size() + 128);
}

TEST_F(AzureBlobDriverTest, MissingKeyFileIsMisconfigured) {
  std::filesystem::remove(key_file_);
  driver_ = MakeDriver();
  Outcome outcome = driver_->Setup(Later());
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_THAT(outcome.detail, StartsWith("account_key_file: "));
  EXPECT_THAT(outcome.detail, HasSubstr(key_file_));
  EXPECT_EQ(script_->clients_built, 0);
}

TEST_F(AzureBlobDriverTest, KeyThatIsNotBase64IsMisconfigured) {
  WriteFile(key_file_, "my-secret-password\n");
  driver_ = MakeDriver();
  Outcome outcome = driver_->Setup(Later());
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail, "account_key_file " + key_file_ +
                                " is not a base64-encoded account key");
  EXPECT_THAT(outcome.detail, Not(HasSubstr("my-secret-password")));
}

TEST_F(AzureBlobDriverTest, ClientFactoryFailureIsMisconfigured) {
  config_.client.tls.ca_file = "/missing/ca.pem";
  script_->factory_error = "ca_file /missing/ca.pem: No such file or directory";
  driver_ = MakeDriver();
  Outcome outcome = driver_->Setup(Later());
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail, script_->factory_error);
  EXPECT_EQ(script_->last_options.tls.ca_file, "/missing/ca.pem");
}

TEST_F(AzureBlobDriverTest, EverySetupRereadsTheRotatedKey) {
  driver_ = MakeDriver();
  script_->respond = [](const http::Request&) {
    return Answer(200, Listing({}));
  };
  ASSERT_TRUE(driver_->Setup(Later()).ok);
  ASSERT_TRUE(driver_->Check(Later()).ok);
  WriteFile(key_file_, kOtherKeyBase64);
  ASSERT_TRUE(driver_->Setup(Later()).ok);
  ASSERT_TRUE(driver_->Check(Later()).ok);
  EXPECT_EQ(script_->clients_built, 2);

  ASSERT_EQ(script_->sent.size(), 2u);
  auto signed_with = [](http::Request request, const char* key_base64) {
    const std::string authorization = HeaderOf(request, "Authorization");
    std::erase_if(request.headers,
                  [](const auto& h) { return h.first == "Authorization"; });
    return authorization ==
           "SharedKey devstoreaccount1:" +
               detail::Signature(*http::Base64Decode(key_base64),
                                 detail::StringToSign(request,
                                                      "devstoreaccount1"));
  };
  EXPECT_TRUE(signed_with(script_->sent[0], kDevKeyBase64));
  EXPECT_TRUE(signed_with(script_->sent[1], kOtherKeyBase64));
}

TEST_F(AzureBlobDriverTest, FailedSetupDropsTheOldCredential) {
  driver_ = MakeDriver();
  ASSERT_TRUE(driver_->Setup(Later()).ok);
  std::filesystem::remove(key_file_);
  ASSERT_FALSE(driver_->Setup(Later()).ok);
  Outcome outcome = driver_->Check(Later());
  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(script_->sent, IsEmpty());
}

TEST_F(AzureBlobDriverTest, SasTokenGoesIntoTheQuery) {
  WriteFile(sas_file_, std::string("?") + kSasToken + "\n");
  config_.account_key_file.clear();
  config_.sas_token_file = sas_file_;
  config_.write_probe = true;
  BlobStore store;
  script_->answers.push_back(Answer(200, Listing({})));
  script_->respond = std::ref(store);
  Outcome outcome = SetUpAndCheck({});
  ASSERT_TRUE(outcome.ok) << outcome.detail;
  ASSERT_EQ(script_->sent.size(), 4u);
  EXPECT_EQ(script_->sent[0].url,
            "http://127.0.0.1:10000/devstoreaccount1/backups"
            "?restype=container&comp=list&prefix=db%2F&maxresults=1000&" +
                std::string(kSasToken));
  EXPECT_EQ(script_->sent[1].url,
            "http://127.0.0.1:10000/devstoreaccount1/backups/db/"
            ".backup-gate-sentinel-pod-1?" +
                std::string(kSasToken));
  for (const auto& request : script_->sent) {
    EXPECT_EQ(HeaderOf(request, "Authorization"), "<absent>");
    EXPECT_EQ(HeaderOf(request, "x-ms-version"), "2021-08-06");
  }
}

TEST_F(AzureBlobDriverTest, SasTokenWithoutSignatureIsMisconfigured) {
  WriteFile(sas_file_, "sv=2021-08-06&sp=r\n");
  config_.account_key_file.clear();
  config_.sas_token_file = sas_file_;
  driver_ = MakeDriver();
  Outcome outcome = driver_->Setup(Later());
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail, "sas_token_file " + sas_file_ +
                                " is not a SAS token (no sig= parameter)");
}

// The worst case: a peer or proxy that echoes the credential back. Details
// must still not carry it.
TEST_F(AzureBlobDriverTest, NoSecretInDetails) {
  const std::string key_text = kDevKeyBase64;
  auto check_clean = [](const std::string& detail,
                        const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
      EXPECT_THAT(detail, Not(HasSubstr(secret))) << detail;
    }
  };

  // Shared Key: the key echoed in a transport detail, the signature quoted
  // in Azure's AuthenticationErrorDetail.
  script_->respond = [&](const http::Request& request) {
    return NoAnswer(http::TransportError::kConnection,
                    "reset after " + key_text + " " +
                        HeaderOf(request, "Authorization"));
  };
  Outcome outcome = SetUpAndCheck({});
  EXPECT_FALSE(outcome.ok);
  check_clean(outcome.detail, {key_text});
  const std::string authorization =
      HeaderOf(script_->sent.at(0), "Authorization");
  const std::string signature =
      authorization.substr(authorization.find(':') + 1);
  script_->respond = [&](const http::Request&) {
    return Answer(403,
                  "<Error><Code>AuthenticationFailed</Code><Message>x"
                  "</Message><AuthenticationErrorDetail>The MAC signature "
                  "found in the HTTP request '" + signature +
                      "' is not the same as any computed signature."
                      "</AuthenticationErrorDetail></Error>");
  };
  outcome = driver_->Check(Later());
  EXPECT_EQ(outcome.detail, "list blobs: HTTP 403 AuthenticationFailed");

  // SAS: the token and its signature, raw and decoded, echoed back.
  WriteFile(sas_file_, kSasToken);
  config_.account_key_file.clear();
  config_.sas_token_file = sas_file_;
  script_ = std::make_shared<Script>();
  script_->respond = [](const http::Request& request) {
    return NoAnswer(http::TransportError::kTls,
                    "handshake with " + request.url + " sig Zm9v+YmFy/c2ln=");
  };
  outcome = SetUpAndCheck({});
  EXPECT_FALSE(outcome.ok);
  check_clean(outcome.detail, {kSasToken, kSasSig, "Zm9v+YmFy/c2ln="});

  // Settings show where secrets live, never what they are.
  AzureBlobOptions options(config_, {});
  for (const auto& setting : options.Describe()) {
    check_clean(setting.value, {kSasToken, kSasSig, key_text});
  }
}

}  // namespace
}  // namespace bgate::drivers::azure_blob
