#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "bgate/drivers/http/http_client.h"
#include "local_servers.h"

namespace bgate::drivers::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Env = std::map<std::string, std::string>;

// Saves the proxy variables and restores them, so tests may set them.
class ProxyEnvGuard {
 public:
  ProxyEnvGuard() {
    for (const char* name : kNames) {
      if (const char* value = std::getenv(name)) saved_[name] = value;
      ::unsetenv(name);
    }
  }
  ~ProxyEnvGuard() {
    for (const char* name : kNames) {
      auto it = saved_.find(name);
      if (it == saved_.end()) {
        ::unsetenv(name);
      } else {
        ::setenv(name, it->second.c_str(), 1);
      }
    }
  }

 private:
  static constexpr const char* kNames[] = {"https_proxy", "HTTPS_PROXY",
                                           "http_proxy",  "HTTP_PROXY",
                                           "no_proxy",    "NO_PROXY"};
  std::map<std::string, std::string> saved_;
};

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// --- Reasons and names ------------------------------------------------------

TEST(ReasonForTest, MapsEveryTransportError) {
  EXPECT_EQ(ReasonFor(TransportError::kTimeout), Reason::kTimeout);
  EXPECT_EQ(ReasonFor(TransportError::kRefused), Reason::kUnreachable);
  EXPECT_EQ(ReasonFor(TransportError::kDns), Reason::kUnreachable);
  EXPECT_EQ(ReasonFor(TransportError::kTls), Reason::kUnreachable);
  EXPECT_EQ(ReasonFor(TransportError::kConnection), Reason::kUnreachable);
  EXPECT_EQ(ReasonFor(TransportError::kOther), Reason::kError);
}

TEST(TransportErrorNameTest, NamesAreStableWords) {
  EXPECT_EQ(TransportErrorName(TransportError::kNone), "none");
  EXPECT_EQ(TransportErrorName(TransportError::kTimeout), "timeout");
  EXPECT_EQ(TransportErrorName(TransportError::kRefused), "refused");
  EXPECT_EQ(TransportErrorName(TransportError::kDns), "dns");
  EXPECT_EQ(TransportErrorName(TransportError::kTls), "tls");
  EXPECT_EQ(TransportErrorName(TransportError::kConnection), "connection");
  EXPECT_EQ(TransportErrorName(TransportError::kOther), "other");
}

TEST(ResponseTest, HeaderLookupIgnoresCaseAndTakesTheFirst) {
  Response response;
  response.headers = {{"etag", "\"abc\""},
                      {"x-amz-request-id", "1"},
                      {"x-amz-request-id", "2"}};
  EXPECT_EQ(response.Header("ETag"), "\"abc\"");
  EXPECT_EQ(response.Header("X-AMZ-REQUEST-ID"), "1");
  EXPECT_EQ(response.Header("content-length"), std::nullopt);
}

// --- UriEncode and Redact ---------------------------------------------------

TEST(UriEncodeTest, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(UriEncode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(UriEncode("a b+c=d&e", false), "a%20b%2Bc%3Dd%26e");
  EXPECT_EQ(UriEncode("!*'();:@$,?#[]%", false),
            "%21%2A%27%28%29%3B%3A%40%24%2C%3F%23%5B%5D%25");
  EXPECT_EQ(UriEncode("\xc3\xa9\xff", false), "%C3%A9%FF");
  EXPECT_EQ(UriEncode(std::string("\0", 1), false), "%00");
  EXPECT_EQ(UriEncode("", false), "");
}

TEST(UriEncodeTest, SlashKeptOnlyWhenAsked) {
  EXPECT_EQ(UriEncode("dir/sub dir/file", true), "dir/sub%20dir/file");
  EXPECT_EQ(UriEncode("dir/sub dir/file", false), "dir%2Fsub%20dir%2Ffile");
}

TEST(RedactTest, ReplacesEveryOccurrenceOfEverySecret) {
  EXPECT_EQ(Redact("key=abc and abc again, tok=xyz", {"abc", "xyz"}),
            "key=<redacted> and <redacted> again, tok=<redacted>");
}

TEST(RedactTest, LongerSecretWinsOverItsPrefix) {
  EXPECT_EQ(Redact("password=hunter22", {"hunter", "hunter22"}),
            "password=<redacted>");
}

TEST(RedactTest, EmptySecretsAndNoMatchLeaveTextAlone) {
  EXPECT_EQ(Redact("nothing to hide", {}), "nothing to hide");
  EXPECT_EQ(Redact("nothing to hide", {"", "absent"}), "nothing to hide");
  EXPECT_EQ(Redact("", {"x"}), "");
}

TEST(RedactTest, SecretInsideTheMarkerDoesNotLoop) {
  EXPECT_EQ(Redact("red", {"red"}), "<redacted>");
}

// --- ReadSecretFile ---------------------------------------------------------

class ReadSecretFileTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

TEST_F(ReadSecretFileTest, StripsOnlyTrailingNewlines) {
  WriteFile(dir_.File("a"), "  token  \r\n\n");
  std::string error;
  EXPECT_EQ(ReadSecretFile(dir_.File("a"), &error), "  token  ");
  WriteFile(dir_.File("b"), "p\xc3\xa4ss w\xc3\xb6rd\n");
  EXPECT_EQ(ReadSecretFile(dir_.File("b"), &error), "p\xc3\xa4ss w\xc3\xb6rd");
}

// Regression: a key file of the wrong encoding, or one with a line break
// inside, went into request headers as it was.
TEST_F(ReadSecretFileTest, RejectsControlCharactersAndInvalidUtf8) {
  for (const std::string& bad : {std::string("line1\nline2"), std::string("\n  token"),
                                std::string("AKIA\r\nX-Injected: yes"),
                                std::string("tab\there"), std::string("\xff\xfe" "AKIA\x80"),
                                std::string("cut\xc3")}) {
    WriteFile(dir_.File("bad"), bad);
    std::string error;
    EXPECT_EQ(ReadSecretFile(dir_.File("bad"), &error), std::nullopt) << bad;
    EXPECT_EQ(error, dir_.File("bad") + ": holds control characters or is not valid UTF-8");
    EXPECT_EQ(error.find("AKIA"), std::string::npos) << "never the contents";
  }
}

TEST_F(ReadSecretFileTest, FollowsSymlinksLikeSecretVolumes) {
  WriteFile(dir_.File("real"), "s3cr3t\n");
  std::filesystem::create_symlink(dir_.File("real"), dir_.File("link"));
  std::string error;
  EXPECT_EQ(ReadSecretFile(dir_.File("link"), &error), "s3cr3t");
}

TEST_F(ReadSecretFileTest, MissingFileNamesPathAndReason) {
  std::string error;
  EXPECT_EQ(ReadSecretFile(dir_.File("absent"), &error), std::nullopt);
  EXPECT_EQ(error, dir_.File("absent") + ": No such file or directory");
}

TEST_F(ReadSecretFileTest, EmptyOrNewlineOnlyFileIsAnError) {
  std::string error;
  WriteFile(dir_.File("empty"), "");
  EXPECT_EQ(ReadSecretFile(dir_.File("empty"), &error), std::nullopt);
  EXPECT_EQ(error, dir_.File("empty") + ": is empty");
  WriteFile(dir_.File("newlines"), "\r\n\n");
  EXPECT_EQ(ReadSecretFile(dir_.File("newlines"), &error), std::nullopt);
  EXPECT_EQ(error, dir_.File("newlines") + ": is empty");
}

TEST_F(ReadSecretFileTest, RejectsDirectoriesAndFifosWithoutBlocking) {
  std::string error;
  EXPECT_EQ(ReadSecretFile(dir_.path(), &error), std::nullopt);
  EXPECT_EQ(error, dir_.path() + ": not a regular file");
  ASSERT_EQ(::mkfifo(dir_.File("fifo").c_str(), 0600), 0);
  EXPECT_EQ(ReadSecretFile(dir_.File("fifo"), &error), std::nullopt);
  EXPECT_EQ(error, dir_.File("fifo") + ": not a regular file");
}

TEST_F(ReadSecretFileTest, CapsAt64KiBAndNeverQuotesContents) {
  std::string error;
  WriteFile(dir_.File("max"), std::string(64 * 1024, 'k'));
  EXPECT_EQ(ReadSecretFile(dir_.File("max"), &error)->size(), 64u * 1024);
  WriteFile(dir_.File("big"), std::string(64 * 1024 + 1, 'k'));
  EXPECT_EQ(ReadSecretFile(dir_.File("big"), &error), std::nullopt);
  EXPECT_EQ(error, dir_.File("big") + ": larger than 64 KiB");
  EXPECT_THAT(error, Not(HasSubstr("kkk")));
}

TEST_F(ReadSecretFileTest, UnreadableFileSaysPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  WriteFile(dir_.File("locked"), "x");
  ::chmod(dir_.File("locked").c_str(), 0);
  std::string error;
  EXPECT_EQ(ReadSecretFile(dir_.File("locked"), &error), std::nullopt);
  EXPECT_EQ(error, dir_.File("locked") + ": Permission denied");
}

// --- ReadClientOptions ------------------------------------------------------

struct Parsed {
  ClientOptions options;
  std::vector<std::string> errors;
};

Parsed Parse(const std::string& yaml) {
  ErrorList errors;
  NodeReader reader(YAML::Load(yaml), "backends[0]", errors);
  Parsed parsed{ReadClientOptions(reader), {}};
  reader.RejectUnknown();
  parsed.errors = errors.errors();
  return parsed;
}

TEST(ReadClientOptionsTest, DefaultsWhenNothingIsSet) {
  Parsed parsed = Parse("{}");
  EXPECT_THAT(parsed.errors, IsEmpty());
  EXPECT_EQ(parsed.options.tls.ca_file, "");
  EXPECT_FALSE(parsed.options.tls.insecure_skip_verify);
  EXPECT_EQ(parsed.options.tls.client_cert_file, "");
  EXPECT_EQ(parsed.options.proxy, "");
}

TEST(ReadClientOptionsTest, ReadsEveryKey) {
  Parsed parsed = Parse(R"(
ca_file: /etc/ca.pem
insecure_skip_verify: true
client_cert_file: /etc/tls.crt
client_key_file: /etc/tls.key
proxy: http://user:pa%40ss@proxy.corp:3128
)");
  EXPECT_THAT(parsed.errors, IsEmpty());
  EXPECT_EQ(parsed.options.tls.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(parsed.options.tls.insecure_skip_verify);
  EXPECT_EQ(parsed.options.tls.client_cert_file, "/etc/tls.crt");
  EXPECT_EQ(parsed.options.tls.client_key_file, "/etc/tls.key");
  EXPECT_EQ(parsed.options.proxy, "http://user:pa%40ss@proxy.corp:3128");
}

TEST(ReadClientOptionsTest, CertificateAndKeyComeTogether) {
  EXPECT_THAT(Parse("client_cert_file: /c").errors,
              ElementsAre("backends[0].client_key_file: is required when "
                          "client_cert_file is set"));
  EXPECT_THAT(Parse("client_key_file: /k").errors,
              ElementsAre("backends[0].client_cert_file: is required when "
                          "client_key_file is set"));
}

TEST(ReadClientOptionsTest, RejectsEmptyPathsAndNonBooleans) {
  EXPECT_THAT(Parse("ca_file: ''").errors,
              ElementsAre("backends[0].ca_file: must not be empty"));
  EXPECT_THAT(Parse("insecure_skip_verify: yes").errors,
              ElementsAre(HasSubstr("backends[0].insecure_skip_verify")));
}

TEST(ReadClientOptionsTest, ProxyMustBeAPlainHttpUrl) {
  EXPECT_THAT(Parse("proxy: proxy.corp:3128").errors,
              ElementsAre(HasSubstr("backends[0].proxy: is not a URL")));
  EXPECT_THAT(Parse("proxy: socks5://proxy:1080").errors,
              ElementsAre("backends[0].proxy: must be an http:// URL"));
  EXPECT_THAT(Parse("proxy: https://proxy:443").errors,
              ElementsAre(HasSubstr("https:// proxies are not supported")));
  EXPECT_THAT(Parse("proxy: http://proxy:3128/path").errors,
              ElementsAre("backends[0].proxy: must not have a path or query"));
  EXPECT_THAT(Parse("proxy: http://proxy:99999").errors,
              ElementsAre(HasSubstr("is not a URL")));
  EXPECT_THAT(Parse("proxy: http://proxy").errors, IsEmpty());
}

TEST(ReadClientOptionsTest, ProxyErrorNeverQuotesThePassword) {
  Parsed parsed = Parse("proxy: http://user:hunter2@proxy:99999");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_THAT(parsed.errors[0], Not(HasSubstr("hunter2")));
}

// --- DescribeClientOptions --------------------------------------------------

TEST(DescribeClientOptionsTest, DefaultsSaySo) {
  ProxyEnvGuard env;
  auto settings = DescribeClientOptions({}, "https://s3.example.com");
  ASSERT_EQ(settings.size(), 5u);
  EXPECT_EQ(settings[0].key, "ca_file");
  EXPECT_EQ(settings[0].value, "system trust store");
  EXPECT_EQ(settings[0].source, "default");
  EXPECT_EQ(settings[1].key, "insecure_skip_verify");
  EXPECT_EQ(settings[1].value, "false");
  EXPECT_EQ(settings[1].source, "default");
  EXPECT_EQ(settings[2].key, "client_cert_file");
  EXPECT_EQ(settings[2].value, "none");
  EXPECT_EQ(settings[3].key, "client_key_file");
  EXPECT_EQ(settings[4].key, "proxy");
  EXPECT_EQ(settings[4].value, "none");
  EXPECT_EQ(settings[4].source, "default");
}

TEST(DescribeClientOptionsTest, ConfiguredValuesWithPasswordHidden) {
  ProxyEnvGuard env;
  ClientOptions options;
  options.tls = {"/etc/ca.pem", true, "/etc/tls.crt", "/etc/tls.key"};
  options.proxy = "http://user:hunter2@proxy.corp:3128";
  auto settings = DescribeClientOptions(options, "https://s3.example.com");
  ASSERT_EQ(settings.size(), 5u);
  for (const Setting& s : settings) EXPECT_EQ(s.source, "config") << s.key;
  EXPECT_EQ(settings[0].value, "/etc/ca.pem");
  EXPECT_EQ(settings[1].value, "true");
  EXPECT_EQ(settings[2].value, "/etc/tls.crt");
  EXPECT_EQ(settings[3].value, "/etc/tls.key");
  EXPECT_EQ(settings[4].value, "http://user:<redacted>@proxy.corp:3128");
}

TEST(DescribeClientOptionsTest, ProxyFromEnvironmentNamesTheVariable) {
  ProxyEnvGuard env;
  ::setenv("HTTPS_PROXY", "http://token@proxy.corp:3128", 1);
  auto proxy = DescribeClientOptions({}, "https://s3.example.com").back();
  EXPECT_EQ(proxy.value, "http://<redacted>@proxy.corp:3128");
  EXPECT_EQ(proxy.source, "env HTTPS_PROXY");

  ::setenv("https_proxy", "proxy.other:8080", 1);
  proxy = DescribeClientOptions({}, "https://s3.example.com").back();
  EXPECT_EQ(proxy.value, "http://proxy.other:8080");
  EXPECT_EQ(proxy.source, "env https_proxy");

  ::setenv("NO_PROXY", ".example.com", 1);
  proxy = DescribeClientOptions({}, "https://s3.example.com").back();
  EXPECT_EQ(proxy.value, "none");
  EXPECT_EQ(proxy.source, "env NO_PROXY");
}

// --- ProxyFromEnvironment ---------------------------------------------------

TEST(ProxyFromEnvironmentTest, PicksTheVariableForTheScheme) {
  Env env = {{"HTTPS_PROXY", "http://secure:3128"},
             {"HTTP_PROXY", "http://plain:3128"}};
  EXPECT_EQ(ProxyFromEnvironment("https://host/x", env), "http://secure:3128");
  EXPECT_EQ(ProxyFromEnvironment("http://host/x", env), "http://plain:3128");
  EXPECT_EQ(
      ProxyFromEnvironment("https://host", {{"HTTP_PROXY", "http://p:1"}}),
      std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://host", {}), std::nullopt);
}

TEST(ProxyFromEnvironmentTest, LowerCaseWinsAndEmptyIsUnset) {
  EXPECT_EQ(
      ProxyFromEnvironment("https://h", {{"HTTPS_PROXY", "http://upper:1"},
                                         {"https_proxy", "http://lower:1"}}),
      "http://lower:1");
  EXPECT_EQ(
      ProxyFromEnvironment("https://h", {{"HTTPS_PROXY", "http://upper:1"},
                                         {"https_proxy", ""}}),
      "http://upper:1");
  EXPECT_EQ(
      ProxyFromEnvironment("http://h", {{"http_proxy", "http://lower:1"}}),
      "http://lower:1");
}

TEST(ProxyFromEnvironmentTest, BareHostPortMeansHttp) {
  EXPECT_EQ(
      ProxyFromEnvironment("https://h", {{"HTTPS_PROXY", " proxy:3128 "}}),
      "http://proxy:3128");
}

TEST(ProxyFromEnvironmentTest, NoProxyHostsAndDomainSuffixes) {
  Env env = {
      {"HTTPS_PROXY", "http://p:1"},
      {"NO_PROXY", "exact.host, .corp.example ,svc.cluster.local,*.wild.io"}};
  EXPECT_EQ(ProxyFromEnvironment("https://exact.host/", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://sub.exact.host/", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://corp.example/", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://a.b.corp.example/", env),
            std::nullopt);
  EXPECT_EQ(
      ProxyFromEnvironment("https://minio.ns.svc.cluster.local:9000/", env),
      std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://x.wild.io/", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://EXACT.HOST/", env), std::nullopt);
  // Suffixes match on label boundaries only.
  EXPECT_EQ(ProxyFromEnvironment("https://notexact.host/", env), "http://p:1");
  EXPECT_EQ(ProxyFromEnvironment("https://evilcorp.example/", env),
            "http://p:1");
  EXPECT_EQ(ProxyFromEnvironment("https://other.org/", env), "http://p:1");
}

TEST(ProxyFromEnvironmentTest, NoProxyStarAndLowerCaseForm) {
  EXPECT_EQ(ProxyFromEnvironment("https://h", {{"HTTPS_PROXY", "http://p:1"},
                                               {"NO_PROXY", "*"}}),
            std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://h", {{"HTTPS_PROXY", "http://p:1"},
                                               {"NO_PROXY", "h"},
                                               {"no_proxy", "other"}}),
            "http://p:1");
}

TEST(ProxyFromEnvironmentTest, NoProxyHostPortMatchesThatPortOnly) {
  Env env = {{"HTTPS_PROXY", "http://p:1"},
             {"HTTP_PROXY", "http://p:1"},
             {"NO_PROXY", "minio:9000,s3.local:443,[fd00::1]:8443"}};
  EXPECT_EQ(ProxyFromEnvironment("https://minio:9000/b", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://minio:9001/b", env), "http://p:1");
  EXPECT_EQ(ProxyFromEnvironment("https://s3.local/b", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("http://s3.local/b", env), "http://p:1");
  EXPECT_EQ(ProxyFromEnvironment("https://[fd00::1]:8443/", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("https://[fd00::1]/", env), "http://p:1");
}

TEST(ProxyFromEnvironmentTest, NoProxyAddressesAndRanges) {
  Env env = {{"HTTP_PROXY", "http://p:1"},
             {"NO_PROXY", "10.0.0.0/8,192.168.1.7,fd00::/8,::1"}};
  EXPECT_EQ(ProxyFromEnvironment("http://10.96.0.1/", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("http://11.0.0.1/", env), "http://p:1");
  EXPECT_EQ(ProxyFromEnvironment("http://192.168.1.7:8080/", env),
            std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("http://192.168.1.70/", env), "http://p:1");
  EXPECT_EQ(ProxyFromEnvironment("http://[fd12::5]/", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("http://[::1]/", env), std::nullopt);
  // An address is not a domain: "1.7" must not match 192.168.1.7-like hosts.
  EXPECT_EQ(
      ProxyFromEnvironment("http://10.1.1.7/",
                           {{"HTTP_PROXY", "http://p:1"}, {"NO_PROXY", "1.7"}}),
      "http://p:1");
}

TEST(ProxyFromEnvironmentTest, LoopbackIsNotImplicitlyExcluded) {
  Env env = {{"HTTP_PROXY", "http://p:1"}, {"NO_PROXY", "example.com"}};
  EXPECT_EQ(ProxyFromEnvironment("http://127.0.0.1:8080/", env), "http://p:1");
  EXPECT_EQ(ProxyFromEnvironment("http://localhost/", env), "http://p:1");
}

TEST(ProxyFromEnvironmentTest, IgnoresUrlsItCannotRead) {
  Env env = {{"HTTPS_PROXY", "http://p:1"}, {"HTTP_PROXY", "http://p:1"}};
  EXPECT_EQ(ProxyFromEnvironment("not a url", env), std::nullopt);
  EXPECT_EQ(ProxyFromEnvironment("ftp://host/", env), std::nullopt);
}

TEST(ProxyEnvironmentTest, ReadsTheProxyVariablesOnly) {
  ProxyEnvGuard guard;
  ::setenv("https_proxy", "http://a:1", 1);
  ::setenv("NO_PROXY", "b", 1);
  ::setenv("BGATE_UNRELATED", "x", 1);
  EXPECT_EQ(ProxyEnvironment(),
            (Env{{"NO_PROXY", "b"}, {"https_proxy", "http://a:1"}}));
  ::unsetenv("BGATE_UNRELATED");
}

}  // namespace
}  // namespace bgate::drivers::http
