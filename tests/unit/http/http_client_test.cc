#include "bgate/drivers/http/http_client.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "bgate/drivers/http/crypto.h"
#include "local_servers.h"

// Read by LeakSanitizer when the tests are built with it. cpprestsdk never
// destroys its shared thread pool on Linux, so a test process that exits
// right after a request still has state held by those threads: OpenSSL's
// per-thread error queue and random generators, continuations queued by a
// cancellation. cpprestsdk also leaks a copy of proxy credentials per
// tunnel (cpprestsdk issue 1696). Neither library is instrumented and their
// stacks end inside them, so they are matched by module; allocations made
// by our code keep their own stacks and stay checked.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libcrypto.so\n"
         "leak:libssl.so\n"
         "leak:libcpprest.so\n"
         "leak:pplx::details::_ScheduleFuncWithAutoInline\n";
}

namespace bgate::drivers::http {
namespace {

using ::testing::AllOf;
using testing::Answer;
using testing::BoundSocket;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Reply;
using ::testing::StartsWith;
using testing::TestServer;
using namespace std::chrono_literals;

// Failures show what the client said.
std::string Describe(const Response& r) {
  return std::string(TransportErrorName(r.error)) + ": " + r.error_detail;
}

std::unique_ptr<HttpClient> NewClient(const ClientOptions& options = {}) {
  std::string error;
  auto client = MakeHttpClient(options, &error);
  EXPECT_NE(client, nullptr) << error;
  return client;
}

Response Get(HttpClient& client, const std::string& url,
             std::chrono::milliseconds budget = 5s) {
  return client.Send({"GET", url, {}, ""}, Deadline::After(budget));
}

// The value of a request header; cpprestsdk writes "Name:value".
std::string HeaderOf(const std::string& request, const std::string& name) {
  auto pos = request.find("\r\n" + name + ":");
  if (pos == std::string::npos) return "<absent>";
  pos = request.find_first_not_of(' ', pos + name.size() + 3);
  return request.substr(pos, request.find("\r\n", pos) - pos);
}

// Keeps the proxy variables out of these tests and restores them.
class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kProxyVariables) {
      if (const char* value = std::getenv(name)) saved_[name] = value;
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : kProxyVariables) ::unsetenv(name);
    for (const auto& [name, value] : saved_)
      ::setenv(name.c_str(), value.c_str(), 1);
  }

  static constexpr const char* kProxyVariables[] = {
      "https_proxy", "HTTPS_PROXY", "http_proxy",
      "HTTP_PROXY",  "no_proxy",    "NO_PROXY"};
  std::map<std::string, std::string> saved_;
};

// --- Answers ---------------------------------------------------------------

TEST_F(ClientTest, GetReturnsStatusLowerCaseHeadersAndBody) {
  TestServer server([](const std::string&) {
    return Answer(200, "hello", "X-Amz-Request-Id: ABC\r\nETag: \"e1\"\r\n");
  });
  auto client = NewClient();
  Response r = Get(*client, server.Url("/"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_FALSE(r.body_truncated);
  EXPECT_EQ(r.Header("x-amz-request-id"), "ABC");
  EXPECT_EQ(r.Header("ETag"), "\"e1\"");
  for (const auto& [name, value] : r.headers) {
    EXPECT_EQ(name.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
              std::string::npos)
        << name;
  }
}

TEST_F(ClientTest, SendsTargetVerbatimAndHostFromTheUrl) {
  TestServer server([](const std::string&) { return Answer(200, ""); });
  auto client = NewClient();
  std::string target = "/bucket/a%20b%2Fc?sv=2024&sig=ab%2Bcd%3D&x";
  Response r = client->Send(
      {"GET",
       server.Url(target),
       {{"X-Amz-Date", "20240101T000000Z"}, {"Host", "ignored.example"}},
       ""},
      Deadline::After(5s));
  ASSERT_TRUE(r.ok()) << Describe(r);
  ASSERT_EQ(server.requests().size(), 1u);
  const std::string request = server.requests()[0];
  EXPECT_THAT(request, StartsWith("GET " + target + " HTTP/1.1\r\n"));
  EXPECT_EQ(HeaderOf(request, "Host"),
            "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(HeaderOf(request, "X-Amz-Date"), "20240101T000000Z");
  EXPECT_THAT(request, Not(HasSubstr("ignored.example")));
}

TEST_F(ClientTest, PutSendsBodyAndAddsNoContentType) {
  TestServer server([](const std::string&) { return Answer(201, ""); });
  auto client = NewClient();
  Response r = client->Send({"PUT", server.Url("/o"), {}, "payload"},
                            Deadline::After(5s));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 201);
  r = client->Send(
      {"PUT", server.Url("/o"), {{"Content-Type", "application/xml"}}, "<a/>"},
      Deadline::After(5s));
  ASSERT_TRUE(r.ok()) << Describe(r);
  r = client->Send({"PUT", server.Url("/o"), {}, ""}, Deadline::After(5s));
  ASSERT_TRUE(r.ok()) << Describe(r);

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(HeaderOf(requests[0], "Content-Length"), "7");
  EXPECT_THAT(requests[0], AllOf(HasSubstr("\r\n\r\npayload"),
                                 Not(HasSubstr("Content-Type"))));
  EXPECT_EQ(HeaderOf(requests[1], "Content-Type"), "application/xml");
  EXPECT_EQ(HeaderOf(requests[2], "Content-Length"), "0");
}

TEST_F(ClientTest, HeadAndEmptyBodiesWork) {
  TestServer server([](const std::string& request) {
    if (request.starts_with("HEAD")) return Answer(200, "", "X-Size: 1\r\n");
    if (request.starts_with("DELETE"))
      return Reply{"HTTP/1.1 204 No Content\r\n\r\n"};
    return Answer(200, "");
  });
  auto client = NewClient();
  Response r =
      client->Send({"HEAD", server.Url("/o"), {}, ""}, Deadline::After(5s));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  r = client->Send({"DELETE", server.Url("/o"), {}, ""}, Deadline::After(5s));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 204);
  r = Get(*client, server.Url("/o"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.body, "");
}

TEST_F(ClientTest, HeadWithContentLengthReadsNoBody) {
  TestServer server([](const std::string&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"};
  });
  auto client = NewClient();
  Response r =
      client->Send({"HEAD", server.Url("/o"), {}, ""}, Deadline::After(2s));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.Header("content-length"), "1234");
  EXPECT_EQ(r.body, "");
}

TEST_F(ClientTest, ChunkedBodyIsAssembled) {
  TestServer server([](const std::string&) {
    return Reply{
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"};
  });
  auto client = NewClient();
  Response r = Get(*client, server.Url("/"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.body, "hello world");
}

TEST_F(ClientTest, ErrorStatusesAndRedirectsAreAnswersNotFollowed) {
  TestServer server([](const std::string& request) {
    if (request.starts_with("GET /moved")) {
      return Answer(302, "", "Location: /elsewhere\r\n");
    }
    return Answer(404, "<Error><Code>NoSuchBucket</Code></Error>");
  });
  auto client = NewClient();
  Response r = Get(*client, server.Url("/bucket"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("NoSuchBucket"));
  r = Get(*client, server.Url("/moved"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.Header("location"), "/elsewhere");
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(ClientTest, BodyOverTheLimitIsCutAndFlagged) {
  const std::string big(kMaxBodyBytes + 100000, 'b');
  const std::string exact(kMaxBodyBytes, 'e');
  TestServer server([&](const std::string& request) {
    return Answer(200, request.starts_with("GET /big") ? big : exact);
  });
  auto client = NewClient();
  Response r = Get(*client, server.Url("/big"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.body.size(), kMaxBodyBytes);
  EXPECT_TRUE(r.body_truncated);
  r = Get(*client, server.Url("/exact"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.body.size(), kMaxBodyBytes);
  EXPECT_FALSE(r.body_truncated);
}

TEST_F(ClientTest, ReusesOneConnectionPerEndpoint) {
  TestServer server([](const std::string&) { return Answer(200, "x"); });
  auto client = NewClient();
  for (int i = 0; i < 3; ++i) {
    Response r = Get(*client, server.Url("/" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << Describe(r);
    // cpprestsdk returns the connection to its pool just after the answer.
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(ClientTest, TalksToTwoEndpoints) {
  TestServer keystone([](const std::string&) { return Answer(201, "token"); });
  TestServer swift([](const std::string&) { return Answer(204, ""); });
  auto client = NewClient();
  EXPECT_EQ(Get(*client, keystone.Url("/v3/auth/tokens")).status, 201);
  EXPECT_EQ(Get(*client, swift.Url("/v1/AUTH_x/c")).status, 204);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(Get(*client, keystone.Url("/v3/auth/tokens")).status, 201);
  EXPECT_EQ(keystone.connections(), 1);
  EXPECT_EQ(swift.connections(), 1);
}

// --- Failures --------------------------------------------------------------

TEST_F(ClientTest, ClosedPortIsRefused) {
  BoundSocket closed;  // bound, not listening: the kernel answers RST
  auto client = NewClient();
  auto start = std::chrono::steady_clock::now();
  Response r =
      Get(*client, "http://127.0.0.1:" + std::to_string(closed.port()) +
                       "/b?sig=SECRETSIG");
  EXPECT_EQ(r.error, TransportError::kRefused) << Describe(r);
  EXPECT_EQ(r.error_detail,
            "connection refused by 127.0.0.1:" + std::to_string(closed.port()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(ClientTest, BlackholeTimesOutAtTheDeadline) {
  BoundSocket blackhole;
  blackhole.Listen();  // the kernel completes handshakes; nobody answers
  auto client = NewClient();
  const auto budget = 300ms;
  auto start = std::chrono::steady_clock::now();
  Response r =
      client->Send({"GET",
                    "http://127.0.0.1:" + std::to_string(blackhole.port()) +
                        "/c?sig=SECRETSIG",
                    {{"Authorization", "SECRETAUTH"}},
                    ""},
                   Deadline::After(budget));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.error, TransportError::kTimeout) << Describe(r);
  EXPECT_EQ(r.error_detail, "no answer within the deadline");
  EXPECT_GE(elapsed, budget);
  EXPECT_LT(elapsed, budget + 100ms);
}

TEST_F(ClientTest, StalledBodyTimesOutAtTheDeadline) {
  TestServer server([](const std::string&) {
    Reply reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"};
    reply.hang = true;
    return reply;
  });
  auto client = NewClient();
  auto start = std::chrono::steady_clock::now();
  Response r = Get(*client, server.Url("/"), 300ms);
  EXPECT_EQ(r.error, TransportError::kTimeout) << Describe(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 400ms);
}

TEST_F(ClientTest, LateAnswerAfterTheDeadlineIsHarmless) {
  TestServer server([](const std::string& request) {
    Reply reply = Answer(200, std::string(100000, 'l'));
    if (request.starts_with("GET /slow")) reply.delay = 300ms;
    return reply;
  });
  {
    auto client = NewClient();
    Response r = Get(*client, server.Url("/slow"), 100ms);
    EXPECT_EQ(r.error, TransportError::kTimeout) << Describe(r);
    // The client goes away while cpprestsdk still holds the request.
  }
  std::this_thread::sleep_for(400ms);
  auto client = NewClient();
  Response r = Get(*client, server.Url("/fast"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.body.size(), 100000u);
}

TEST_F(ClientTest, ClientStaysUsableRightAfterATimeout) {
  TestServer server([](const std::string& request) {
    Reply reply = Answer(200, "ok");
    if (request.starts_with("GET /slow")) reply.delay = 300ms;
    return reply;
  });
  auto client = NewClient();
  EXPECT_EQ(Get(*client, server.Url("/slow"), 100ms).error,
            TransportError::kTimeout);
  Response r = Get(*client, server.Url("/next"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.body, "ok");
}

TEST_F(ClientTest, ExpiredDeadlineSendsNothing) {
  TestServer server([](const std::string&) { return Answer(200, ""); });
  auto client = NewClient();
  Response r = client->Send({"GET", server.Url("/"), {}, ""},
                            Deadline(std::chrono::steady_clock::now() - 1s));
  EXPECT_EQ(r.error, TransportError::kTimeout) << Describe(r);
  EXPECT_EQ(server.connections(), 0);
}

TEST_F(ClientTest, UnresolvableHostIsDns) {
  auto client = NewClient();
  Response r =
      Get(*client, "http://bgate-no-such-host.invalid/x?sig=SECRETSIG", 3s);
  if (r.error == TransportError::kTimeout) {
    GTEST_SKIP() << "the resolver did not answer within 3 s (no DNS here?)";
  }
  EXPECT_EQ(r.error, TransportError::kDns) << Describe(r);
  EXPECT_EQ(r.error_detail, "cannot resolve host bgate-no-such-host.invalid");
}

TEST_F(ClientTest, PeerClosingWithoutAnswerIsConnection) {
  TestServer server([](const std::string&) {
    Reply reply;
    reply.close = true;
    return reply;
  });
  auto client = NewClient();
  Response r = Get(*client, server.Url("/"));
  EXPECT_EQ(r.error, TransportError::kConnection) << Describe(r);
  EXPECT_EQ(r.error_detail,
            "connection closed by peer while reading the response");
}

TEST_F(ClientTest, PeerResetIsConnection) {
  TestServer server([](const std::string&) {
    Reply reply;
    reply.reset = true;
    return reply;
  });
  auto client = NewClient();
  Response r = Get(*client, server.Url("/"));
  EXPECT_EQ(r.error, TransportError::kConnection) << Describe(r);
  EXPECT_EQ(r.error_detail,
            "connection reset by peer while reading the response");
}

TEST_F(ClientTest, GarbageAnswerIsOther) {
  TestServer server(
      [](const std::string&) { return Reply{"SSH-2.0-OpenSSH\r\n\r\n"}; });
  auto client = NewClient();
  Response r = Get(*client, server.Url("/"));
  EXPECT_EQ(r.error, TransportError::kOther) << Describe(r);
  EXPECT_EQ(r.error_detail, "invalid HTTP response");
}

TEST_F(ClientTest, BadRequestsFailWithoutThrowing) {
  auto client = NewClient();
  auto send = [&](Request request) {
    return client->Send(request, Deadline::After(1s));
  };
  EXPECT_EQ(send({"GET", "not a url", {}, ""}).error, TransportError::kOther);
  EXPECT_EQ(send({"GET", "ftp://host/x", {}, ""}).error,
            TransportError::kOther);
  EXPECT_EQ(send({"GET", "http://user:SECRETPW@host/", {}, ""}).error_detail,
            "invalid URL: user info is not supported");
  EXPECT_EQ(send({"G T", "http://127.0.0.1:1/", {}, ""}).error_detail,
            "invalid request method");
  EXPECT_EQ(
      send({"GET", "http://127.0.0.1:1/", {{"X-A", "v\r\nX-Injected: 1"}}, ""})
          .error_detail,
      "invalid request header");
  EXPECT_EQ(send({"GET", "http://127.0.0.1:1/a b", {}, ""}).error,
            TransportError::kOther);
}

// cpprestsdk 2.10 resolves "[::1]" with its brackets, which never works.
TEST_F(ClientTest, Ipv6LiteralsAreRejectedWithAClearReason) {
  auto client = NewClient();
  Response r =
      client->Send({"GET", "http://[::1]:8080/", {}, ""}, Deadline::After(1s));
  EXPECT_EQ(r.error, TransportError::kOther);
  EXPECT_EQ(r.error_detail,
            "IPv6 address literals are not supported; use a host name");
  std::string error;
  ClientOptions options;
  options.proxy = "http://[fd00::1]:3128";
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error,
            "proxy: IPv6 address literals are not supported; use a host name");
}

TEST_F(ClientTest, DetailsNeverCarryQueryHeadersOrCredentials) {
  BoundSocket closed;
  BoundSocket blackhole;
  blackhole.Listen();
  auto client = NewClient();
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "SECRETAUTH"}, {"X-Auth-Token", "SECRETTOKEN"}};
  for (const std::string& url :
       {"http://127.0.0.1:" + std::to_string(closed.port()) +
            "/c?sig=SECRETSIG",
        "http://127.0.0.1:" + std::to_string(blackhole.port()) +
            "/c?sig=SECRETSIG",
        std::string("http://bgate-no-such-host.invalid/c?sig=SECRETSIG"),
        std::string("http://127.0.0.1:1/c d?sig=SECRETSIG")}) {
    Response r =
        client->Send({"GET", url, headers, ""}, Deadline::After(200ms));
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(r.error_detail,
                AllOf(Not(HasSubstr("SECRET")), Not(HasSubstr("sig="))))
        << url;
  }
}

// --- Proxies ---------------------------------------------------------------

TEST_F(ClientTest, ConfiguredProxyGetsAbsoluteRequestAndCredentials) {
  TestServer proxy([](const std::string&) { return Answer(200, "via proxy"); });
  ClientOptions options;
  options.proxy =
      "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy.port());
  auto client = NewClient(options);
  Response r = Get(*client, "http://bucket.s3.invalid:8080/key?x=1");
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.body, "via proxy");
  ASSERT_EQ(proxy.requests().size(), 1u);
  const std::string request = proxy.requests()[0];
  EXPECT_THAT(
      request,
      StartsWith("GET http://bucket.s3.invalid:8080/key?x=1 HTTP/1.1\r\n"));
  EXPECT_EQ(HeaderOf(request, "Proxy-Authorization"),
            "Basic " + Base64Encode("user:p@ss"));
}

TEST_F(ClientTest, HttpsThroughProxyUsesConnectOnTheDefaultPort) {
  TestServer proxy([](const std::string&) { return Answer(407, ""); });
  ClientOptions options;
  options.proxy = "http://user:pw@127.0.0.1:" + std::to_string(proxy.port());
  auto client = NewClient(options);
  Response r = Get(*client, "https://s3.example.invalid/bucket?sig=SECRETSIG");
  EXPECT_EQ(r.error, TransportError::kOther) << Describe(r);
  EXPECT_EQ(r.error_detail, "proxy 127.0.0.1:" + std::to_string(proxy.port()) +
                                " refused the tunnel with status 407");
  ASSERT_EQ(proxy.requests().size(), 1u);
  EXPECT_THAT(proxy.requests()[0],
              StartsWith("CONNECT s3.example.invalid:443 HTTP/1.1\r\n"));
  EXPECT_EQ(HeaderOf(proxy.requests()[0], "Proxy-Authorization"),
            "Basic " + Base64Encode("user:pw"));
}

TEST_F(ClientTest, EnvironmentProxyAppliesPerHostAndNoProxySkipsIt) {
  TestServer proxy([](const std::string&) { return Answer(200, "proxied"); });
  TestServer direct([](const std::string&) { return Answer(200, "direct"); });
  ::setenv("http_proxy", ("127.0.0.1:" + std::to_string(proxy.port())).c_str(),
           1);
  ::setenv("no_proxy", "localhost", 1);
  auto client = NewClient();
  // Loopback addresses go through the proxy unless NO_PROXY names them.
  EXPECT_EQ(Get(*client, direct.Url("/")).body, "proxied");
  EXPECT_EQ(
      Get(*client, "http://localhost:" + std::to_string(direct.port()) + "/")
          .body,
      "direct");
}

TEST_F(ClientTest, UnusableEnvironmentProxyIsReportedPerRequest) {
  ::setenv("HTTPS_PROXY", "https://proxy.invalid:443", 1);
  auto client = NewClient();
  Response r = Get(*client, "https://s3.example.invalid/");
  EXPECT_EQ(r.error, TransportError::kOther);
  EXPECT_THAT(r.error_detail,
              HasSubstr("proxy from the environment: https:// proxies"));
}

TEST_F(ClientTest, UnreachableProxyIsNamed) {
  BoundSocket closed;
  ClientOptions options;
  options.proxy = "http://127.0.0.1:" + std::to_string(closed.port());
  auto client = NewClient(options);
  Response r = Get(*client, "http://s3.example.invalid/");
  EXPECT_EQ(r.error, TransportError::kRefused) << Describe(r);
  EXPECT_EQ(r.error_detail, "connection refused by proxy 127.0.0.1:" +
                                std::to_string(closed.port()));
}

// --- Construction ----------------------------------------------------------

TEST_F(ClientTest, MissingOrBadTlsFilesFailConstructionWithPathAndReason) {
  testing::TempDir dir;
  std::ofstream(dir.File("junk.pem")) << "SECRETCONTENT not a certificate\n";
  std::string error;
  ClientOptions options;

  options.tls.ca_file = dir.File("absent.pem");
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error, "ca_file " + dir.File("absent.pem") +
                       ": No such file or directory");

  options.tls.ca_file = dir.path();
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error, "ca_file " + dir.path() + ": not a regular file");

  options.tls.ca_file = dir.File("junk.pem");
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error,
            "ca_file " + dir.File("junk.pem") + ": no PEM certificate found");

  std::ofstream(dir.File("damaged.pem"))
      << "-----BEGIN CERTIFICATE-----\nSECRETCONTENT!!\n-----END "
         "CERTIFICATE-----\n";
  options.tls.ca_file = dir.File("damaged.pem");
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error,
            "ca_file " + dir.File("damaged.pem") + ": bad base64 decode");

  options.tls.ca_file.clear();
  options.tls.client_cert_file = dir.File("junk.pem");
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error, "client_cert_file and client_key_file must be set together");

  options.proxy = "ftp://proxy";
  options.tls = {};
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error, "proxy: must be an http:// URL");
  EXPECT_THAT(error, Not(HasSubstr("SECRETCONTENT")));
}

int ThreadCount() {
  int count = 0;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return count;
}

TEST_F(ClientTest, ThreadPoolStaysSmall) {
  TestServer server([](const std::string&) { return Answer(200, ""); });
  auto first = NewClient();
  auto second = NewClient();
  ASSERT_TRUE(Get(*first, server.Url("/")).ok());
  ASSERT_TRUE(Get(*second, server.Url("/")).ok());
  // cpprestsdk's default pool alone would be 40 threads.
  EXPECT_LT(ThreadCount(), 15);
}

}  // namespace
}  // namespace bgate::drivers::http
