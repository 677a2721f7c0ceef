#include "bgate/drivers/swift/swift_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace bgate::drivers::swift {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using SystemTime = std::chrono::system_clock::time_point;

constexpr const char* kPassword = "pa55-w0rd-in-a-secret";
constexpr const char* kTempAuthUser = "test:tester";
constexpr const char* kKeystoneUrl = "http://keystone.test:5000/v3";
constexpr const char* kTokensUrl = "http://keystone.test:5000/v3/auth/tokens";
constexpr const char* kTempAuthUrl = "http://swift.test:8080/auth/v1.0";
constexpr const char* kPublicStorage = "http://swift.test:8080/v1/AUTH_test";
constexpr const char* kInternalStorage =
    "http://swift-internal.test:8080/v1/AUTH_test";

SystemTime Utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  using namespace std::chrono;
  return time_point_cast<system_clock::duration>(
      sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) +
      seconds(s));
}

std::string Rfc3339(SystemTime at) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(at);
  const auto days = floor<std::chrono::days>(secs);
  const year_month_day date(days);
  const hh_mm_ss time(secs - days);
  char text[40];
  std::snprintf(
      text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02d.000000Z",
      static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
      static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
      static_cast<int>(time.minutes().count()),
      static_cast<int>(time.seconds().count()));
  return text;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(c));
  return text;
}

std::optional<std::string> HeaderOf(const http::Request& request,
                                    const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (Lower(key) == Lower(name)) return value;
  }
  return std::nullopt;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(
          std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> QueryOf(std::string_view query) {
  std::map<std::string, std::string> params;
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    const auto eq = pair.find('=');
    params[PercentDecode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
  }
  return params;
}

http::Response Answer(int status, std::string body = "") {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

http::Response NoAnswer(http::TransportError error, std::string detail) {
  http::Response response;
  response.error = error;
  response.error_detail = std::move(detail);
  return response;
}

// A unit-test double for Swift behind tempauth or Keystone v3: containers
// and objects in memory, tokens it issues and can revoke, and a hook that
// lets a test script any answer. It speaks only as much of both APIs as
// these tests need; the driver meets a real Swift in tests/e2e.
class FakeCloud {
 public:
  std::string password = kPassword;
  std::set<std::string> containers = {"backups"};
  std::map<std::string, std::string> objects;  // "container/name", decoded
  // Keystone's own clock, apart from the driver's, to model skew.
  SystemTime keystone_now = Utc(2024, 5, 1, 12, 0, 0);
  std::chrono::seconds token_lifetime = 1h;
  std::optional<std::string> tempauth_expires = "86400";
  bool catalog_has_swift = true;
  bool corrupt_reads = false;
  // Answers in the cloud's place whenever it returns something.
  std::function<std::optional<http::Response>(const http::Request&)> script;

  std::vector<http::Request> requests;
  std::vector<SteadyTime> deadlines;
  std::set<std::string> tokens;
  std::string last_token;
  int auth_calls = 0;

  http::Response Handle(const http::Request& request,
                        const Deadline& deadline) {
    requests.push_back(request);
    deadlines.push_back(deadline.at());
    if (script) {
      if (auto scripted = script(request)) return *scripted;
    }
    if (request.url == kTokensUrl) return Keystone(request);
    if (request.url == kTempAuthUrl) return TempAuth(request);
    for (const char* base : {kPublicStorage, kInternalStorage}) {
      if (request.url.starts_with(base)) {
        return Storage(request, request.url.substr(std::strlen(base)));
      }
    }
    return Answer(404, "<html><h1>Not Found</h1></html>");
  }

  void RevokeTokens() { tokens.clear(); }

  std::size_t Count(const std::string& method, const std::string& url_part) {
    std::size_t n = 0;
    for (const auto& request : requests) {
      if (request.method == method &&
          request.url.find(url_part) != std::string::npos) {
        ++n;
      }
    }
    return n;
  }

 private:
  std::string Issue() {
    ++auth_calls;
    last_token = "gAAAAAB-token-" + std::to_string(auth_calls) +
                 "-ZXhhbXBsZXRva2VuZm9ydGVzdHM";
    tokens.insert(last_token);
    return last_token;
  }

  http::Response Keystone(const http::Request& request) {
    if (request.method != "POST") return Answer(405);
    const auto body = nlohmann::json::parse(request.body, nullptr, false);
    const auto& user = body["auth"]["identity"]["password"]["user"];
    if (!user.is_object() || user["name"] != "backup" ||
        user["password"] != password) {
      return Answer(401,
                    R"({"error": {"code": 401, "message": "The request you )"
                    R"(have made requires authentication.", "title": )"
                    R"("Unauthorized"}})");
    }
    nlohmann::json catalog = nlohmann::json::array();
    catalog.push_back({{"type", "identity"},
                       {"name", "keystone"},
                       {"endpoints",
                        {{{"interface", "public"},
                          {"region_id", "RegionOne"},
                          {"url", kKeystoneUrl}}}}});
    if (catalog_has_swift) {
      catalog.push_back({{"type", "object-store"},
                         {"name", "swift"},
                         {"endpoints",
                          {{{"interface", "internal"},
                            {"region_id", "RegionOne"},
                            {"url", kInternalStorage}},
                           {{"interface", "public"},
                            {"region_id", "RegionOne"},
                            {"url", std::string(kPublicStorage) + "/"}}}}});
    }
    const nlohmann::json token = {
        {"token",
         {{"methods", {"password"}},
          {"issued_at", Rfc3339(keystone_now)},
          {"expires_at", Rfc3339(keystone_now + token_lifetime)},
          {"catalog", catalog}}}};
    http::Response response = Answer(201, token.dump());
    response.headers = {{"x-subject-token", Issue()},
                        {"content-type", "application/json"}};
    return response;
  }

  http::Response TempAuth(const http::Request& request) {
    if (HeaderOf(request, "X-Auth-User") != kTempAuthUser ||
        HeaderOf(request, "X-Auth-Key") != password) {
      return Answer(401,
                    "<html><h1>Unauthorized</h1><p>This server could "
                    "not verify that you are authorized to access the "
                    "document you requested.</p></html>");
    }
    http::Response response = Answer(200);
    const std::string token = Issue();
    response.headers = {{"x-auth-token", token},
                        {"x-storage-token", token},
                        {"x-storage-url", kPublicStorage}};
    if (tempauth_expires) {
      response.headers.emplace_back("x-auth-token-expires", *tempauth_expires);
    }
    return response;
  }

  http::Response Storage(const http::Request& request, std::string_view rest) {
    const auto token = HeaderOf(request, "X-Auth-Token");
    if (!token || !tokens.contains(*token)) {
      return Answer(401,
                    "<html><h1>Unauthorized</h1><p>This server could "
                    "not verify that you are authorized.</p></html>");
    }
    const auto question = rest.find('?');
    const std::string_view path = rest.substr(0, question);
    const auto query =
        QueryOf(question == std::string_view::npos ? std::string_view()
                                                   : rest.substr(question + 1));
    if (!path.starts_with('/')) return Answer(400);
    const auto slash = path.find('/', 1);
    const std::string container = PercentDecode(path.substr(1, slash - 1));
    if (!containers.contains(container)) {
      return Answer(404,
                    "<html><h1>Not Found</h1><p>The resource could not "
                    "be found.</p></html>");
    }
    if (slash == std::string_view::npos) return List(container, query);
    const std::string key =
        container + "/" + PercentDecode(path.substr(slash + 1));
    if (request.method == "PUT") {
      objects[key] = request.body;
      return Answer(201);
    }
    auto it = objects.find(key);
    if (it == objects.end()) return Answer(404);
    if (request.method == "GET") {
      std::string body = it->second;
      if (corrupt_reads && !body.empty()) body[0] ^= 1;
      return Answer(200, body);
    }
    if (request.method == "DELETE") {
      objects.erase(it);
      return Answer(204);
    }
    return Answer(405);
  }

  http::Response List(const std::string& container,
                      std::map<std::string, std::string> query) {
    if (query["format"] != "json") return Answer(400, "want json");
    const std::size_t limit =
        query.contains("limit") ? std::stoul(query["limit"]) : 10000;
    const std::string start = container + "/" + query["prefix"];
    nlohmann::json listing = nlohmann::json::array();
    for (const auto& [key, body] : objects) {
      if (key.starts_with(start) && listing.size() < limit) {
        listing.push_back({{"name", key.substr(container.size() + 1)},
                           {"bytes", body.size()},
                           {"hash", "d41d8cd98f00b204e9800998ecf8427e"}});
      }
    }
    return Answer(200, listing.dump());
  }
};

class FakeClient final : public http::HttpClient {
 public:
  explicit FakeClient(FakeCloud* cloud) : cloud_(cloud) {}
  http::Response Send(const http::Request& request,
                      const Deadline& deadline) override {
    return cloud_->Handle(request, deadline);
  }

 private:
  FakeCloud* cloud_;
};

class SwiftDriverTest : public ::testing::Test {
 protected:
  SwiftDriverTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("swift-driver-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    WritePassword(kPassword);
  }
  ~SwiftDriverTest() override { std::filesystem::remove_all(dir_); }

  std::string PasswordPath() const { return (dir_ / "password").string(); }
  void WritePassword(const std::string& password) {
    std::ofstream(PasswordPath(), std::ios::trunc) << password << "\n";
  }

  SwiftConfig TempAuth() const {
    SwiftConfig config;
    config.auth_url = kTempAuthUrl;
    config.auth_version = AuthVersion::kTempAuth;
    config.username = kTempAuthUser;
    config.password_file = PasswordPath();
    config.container = "backups";
    return config;
  }

  SwiftConfig Keystone() const {
    SwiftConfig config;
    config.auth_url = kKeystoneUrl;
    config.username = "backup";
    config.password_file = PasswordPath();
    config.project_name = "backups";
    config.container = "backups";
    return config;
  }

  std::unique_ptr<SwiftDriver> Make(SwiftConfig config,
                                    std::string instance_id = "pod-1") {
    ClientFactory factory =
        [this](const http::ClientOptions& options,
               std::string* error) -> std::unique_ptr<http::HttpClient> {
      ++clients_made_;
      seen_options_ = options;
      if (!client_error_.empty()) {
        *error = client_error_;
        return nullptr;
      }
      return std::make_unique<FakeClient>(&cloud_);
    };
    DriverClock clock{[this] { return steady_now_; },
                      [this] { return system_now_; }};
    return std::make_unique<SwiftDriver>(
        std::move(config), DriverContext{"primary", std::move(instance_id)},
        std::move(factory), std::move(clock));
  }

  // Every detail a driver gives goes through here, so each test also checks
  // that no secret leaks.
  Outcome Run(Outcome outcome) {
    EXPECT_THAT(outcome.detail, Not(HasSubstr(kPassword)));
    for (const std::string& token : cloud_.tokens) {
      EXPECT_THAT(outcome.detail, Not(HasSubstr(token)));
    }
    if (!cloud_.last_token.empty()) {
      EXPECT_THAT(outcome.detail, Not(HasSubstr(cloud_.last_token)));
    }
    return outcome;
  }
  Outcome Setup(SwiftDriver& driver) { return Run(driver.Setup(deadline_)); }
  Outcome Check(SwiftDriver& driver) { return Run(driver.Check(deadline_)); }

  void AddObjects(std::initializer_list<const char*> names) {
    for (const char* name : names) {
      cloud_.objects[std::string("backups/") + name] = "data";
    }
  }

  std::filesystem::path dir_;
  FakeCloud cloud_;
  SteadyTime steady_now_ = SteadyTime(1000h);
  SystemTime system_now_ = Utc(2024, 5, 1, 12, 0, 3);
  Deadline deadline_ = Deadline::After(30s);
  int clients_made_ = 0;
  std::string client_error_;
  http::ClientOptions seen_options_;
};

TEST_F(SwiftDriverTest, TempAuthSendsUserAndKeyThenListsWithToken) {
  AddObjects({"db/a.tar", "db/b.tar", "web/c.tar"});
  SwiftConfig config = TempAuth();
  config.prefix = "db/";
  auto driver = Make(config);

  Outcome setup = Setup(*driver);
  ASSERT_TRUE(setup.ok) << setup.detail;
  ASSERT_EQ(cloud_.requests.size(), 1u);
  EXPECT_EQ(cloud_.requests[0].method, "GET");
  EXPECT_EQ(HeaderOf(cloud_.requests[0], "X-Auth-User"), kTempAuthUser);
  EXPECT_EQ(HeaderOf(cloud_.requests[0], "X-Auth-Key"), kPassword);

  Outcome check = Check(*driver);
  ASSERT_TRUE(check.ok) << check.detail;
  EXPECT_EQ(check.detail, "container backups: 2 objects under prefix db/");
  const http::Request& list = cloud_.requests.back();
  EXPECT_EQ(list.method, "GET");
  EXPECT_THAT(list.url, StartsWith(std::string(kPublicStorage) + "/backups?"));
  EXPECT_THAT(list.url,
              AllOf(HasSubstr("format=json"), HasSubstr("prefix=db%2F"),
                    HasSubstr("limit=1000")));
  EXPECT_EQ(HeaderOf(list, "X-Auth-Token"), cloud_.last_token);
}

TEST_F(SwiftDriverTest, KeystonePostsProjectScopedPasswordAuth) {
  SwiftConfig config = Keystone();
  config.user_domain_name = "users";
  config.project_domain_name = "projects";
  auto driver = Make(config);
  ASSERT_TRUE(Setup(*driver).ok);

  ASSERT_EQ(cloud_.requests.size(), 1u);
  const http::Request& auth = cloud_.requests[0];
  EXPECT_EQ(auth.method, "POST");
  EXPECT_EQ(auth.url, kTokensUrl);
  EXPECT_EQ(HeaderOf(auth, "Content-Type"), "application/json");
  const auto body = nlohmann::json::parse(auth.body);
  EXPECT_EQ(body["auth"]["identity"]["methods"][0], "password");
  EXPECT_EQ(body["auth"]["identity"]["password"]["user"]["domain"]["name"],
            "users");
  EXPECT_EQ(body["auth"]["scope"]["project"]["name"], "backups");
  EXPECT_EQ(body["auth"]["scope"]["project"]["domain"]["name"], "projects");

  AddObjects({"x"});
  Outcome check = Check(*driver);
  ASSERT_TRUE(check.ok) << check.detail;
  EXPECT_EQ(check.detail, "container backups: 1 object");
  EXPECT_THAT(cloud_.requests.back().url,
              StartsWith(std::string(kPublicStorage) + "/backups?"));
  EXPECT_EQ(HeaderOf(cloud_.requests.back(), "X-Auth-Token"),
            cloud_.last_token);
}

TEST_F(SwiftDriverTest, KeystoneUsesTheConfiguredInterface) {
  SwiftConfig config = Keystone();
  config.interface = "internal";
  auto driver = Make(config);
  ASSERT_TRUE(Setup(*driver).ok);
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_THAT(cloud_.requests.back().url,
              StartsWith(std::string(kInternalStorage) + "/backups?"));
}

TEST_F(SwiftDriverTest, KeystoneWithoutObjectStoreIsMisconfigured) {
  cloud_.catalog_has_swift = false;
  auto driver = Make(Keystone());
  Outcome setup = Setup(*driver);
  EXPECT_FALSE(setup.ok);
  EXPECT_EQ(setup.reason, Reason::kMisconfigured);
  EXPECT_THAT(setup.detail, HasSubstr("no object-store service"));
}

TEST_F(SwiftDriverTest, KeystoneRegionMissingFromCatalogIsMisconfigured) {
  SwiftConfig config = Keystone();
  config.region = "RegionTwo";
  auto driver = Make(config);
  Outcome setup = Setup(*driver);
  EXPECT_EQ(setup.reason, Reason::kMisconfigured);
  EXPECT_THAT(setup.detail, HasSubstr("region RegionTwo"));
}

TEST_F(SwiftDriverTest, TokenIsReusedAcrossChecks) {
  for (SwiftConfig config : {TempAuth(), Keystone()}) {
    cloud_.auth_calls = 0;
    auto driver = Make(config);
    ASSERT_TRUE(Setup(*driver).ok);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Check(*driver).ok);
    EXPECT_EQ(cloud_.auth_calls, 1);
  }
}

TEST_F(SwiftDriverTest, CheckWithoutSetupAuthenticatesFirst) {
  auto driver = Make(TempAuth());
  Outcome check = Check(*driver);
  EXPECT_TRUE(check.ok) << check.detail;
  EXPECT_EQ(cloud_.auth_calls, 1);
}

TEST_F(SwiftDriverTest, RevokedTokenIsRenewedOnceAndTheRequestRetried) {
  for (SwiftConfig config : {TempAuth(), Keystone()}) {
    cloud_.auth_calls = 0;
    cloud_.requests.clear();
    auto driver = Make(config);
    ASSERT_TRUE(Setup(*driver).ok);
    cloud_.RevokeTokens();
    Outcome check = Check(*driver);
    EXPECT_TRUE(check.ok) << check.detail;
    EXPECT_EQ(cloud_.auth_calls, 2);
    EXPECT_EQ(cloud_.Count("GET", "/backups?"), 2u);
    ASSERT_TRUE(Check(*driver).ok);
    EXPECT_EQ(cloud_.auth_calls, 2);
  }
}

TEST_F(SwiftDriverTest, StorageThatKeepsRefusingIsAuthAfterOneRenewal) {
  auto driver = Make(Keystone());
  ASSERT_TRUE(Setup(*driver).ok);
  cloud_.script =
      [](const http::Request& request) -> std::optional<http::Response> {
    if (request.url.starts_with(kPublicStorage)) return Answer(401);
    return std::nullopt;
  };
  Outcome check = Check(*driver);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.reason, Reason::kAuth);
  EXPECT_THAT(check.detail, HasSubstr("list container backups: HTTP 401"));
  EXPECT_EQ(cloud_.auth_calls, 2);
  EXPECT_EQ(cloud_.Count("GET", "/backups?"), 2u);
}

TEST_F(SwiftDriverTest, RenewalThatIsRefusedIsAuth) {
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  cloud_.RevokeTokens();
  cloud_.password = "rotated-on-the-server-only";
  Outcome check = Check(*driver);
  EXPECT_EQ(check.reason, Reason::kAuth);
  EXPECT_THAT(check.detail, HasSubstr("tempauth at"));
}

TEST_F(SwiftDriverTest, KeystoneTokenIsRenewedAMinuteBeforeExpiry) {
  auto driver = Make(Keystone());
  ASSERT_TRUE(Setup(*driver).ok);
  steady_now_ += 58min + 59s;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 1);
  steady_now_ += 1s;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 2);
  // Storage saw the new token, without a 401 first.
  EXPECT_EQ(HeaderOf(cloud_.requests.back(), "X-Auth-Token"),
            cloud_.last_token);
  EXPECT_EQ(cloud_.Count("GET", "/backups?"), 2u);
}

TEST_F(SwiftDriverTest, ShortTokensAreRenewedHalfway) {
  cloud_.token_lifetime = 60s;
  auto driver = Make(Keystone());
  ASSERT_TRUE(Setup(*driver).ok);
  steady_now_ += 29s;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 1);
  steady_now_ += 1s;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 2);
}

TEST_F(SwiftDriverTest, TempAuthExpiryHeaderDrivesRenewal) {
  cloud_.tempauth_expires = "600";
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  steady_now_ += 539s;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 1);
  steady_now_ += 1s;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 2);
}

TEST_F(SwiftDriverTest, WithoutAnExpiryOnlyA401Renews) {
  cloud_.tempauth_expires.reset();
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  steady_now_ += 1000h;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 1);
}

TEST_F(SwiftDriverTest, AbsurdExpiryIsCappedNotOverflowed) {
  cloud_.tempauth_expires = "9223372036854775807";
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  steady_now_ += 1000h;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 1);
  steady_now_ += 24h * 366;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 2);
}

TEST_F(SwiftDriverTest, UnreadableExpiryHeaderIsIgnored) {
  cloud_.tempauth_expires = "soon";
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  steady_now_ += 1000h;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 1);
}

TEST_F(SwiftDriverTest, AlreadyExpiredKeystoneTokenIsAnError) {
  cloud_.token_lifetime = -5min;
  auto driver = Make(Keystone());
  Outcome setup = Setup(*driver);
  EXPECT_FALSE(setup.ok);
  EXPECT_EQ(setup.reason, Reason::kError);
  EXPECT_THAT(setup.detail, HasSubstr("expired"));
}

TEST_F(SwiftDriverTest, SkewedLocalClockDoesNotExpireAFreshToken) {
  system_now_ = Utc(2031, 1, 1, 0, 0, 0);
  auto driver = Make(Keystone());
  ASSERT_TRUE(Setup(*driver).ok);
  steady_now_ += 30min;
  ASSERT_TRUE(Check(*driver).ok);
  EXPECT_EQ(cloud_.auth_calls, 1);
}

TEST_F(SwiftDriverTest, WrongPasswordIsAuth) {
  WritePassword("wrong");
  for (SwiftConfig config : {TempAuth(), Keystone()}) {
    auto driver = Make(config);
    Outcome setup = Setup(*driver);
    EXPECT_FALSE(setup.ok);
    EXPECT_EQ(setup.reason, Reason::kAuth);
    EXPECT_THAT(setup.detail, HasSubstr("HTTP 401"));
  }
}

TEST_F(SwiftDriverTest, KeystoneErrorMessageReachesTheDetail) {
  WritePassword("wrong");
  auto driver = Make(Keystone());
  EXPECT_EQ(Setup(*driver).detail,
            "keystone at http://keystone.test:5000/v3/auth/tokens: HTTP 401 "
            "(The request you have made requires authentication.)");
}

TEST_F(SwiftDriverTest, RotatedPasswordFileIsReadAtEverySetup) {
  WritePassword("old");
  auto driver = Make(TempAuth());
  EXPECT_EQ(Setup(*driver).reason, Reason::kAuth);
  WritePassword(kPassword);
  EXPECT_TRUE(Setup(*driver).ok);
}

TEST_F(SwiftDriverTest, RenewalInCheckReadsTheRotatedPassword) {
  auto driver = Make(Keystone());
  ASSERT_TRUE(Setup(*driver).ok);
  cloud_.password = "rotated";
  cloud_.RevokeTokens();
  WritePassword("rotated");
  EXPECT_TRUE(Check(*driver).ok);
}

TEST_F(SwiftDriverTest, MissingPasswordFileIsMisconfiguredAndNamed) {
  std::filesystem::remove(PasswordPath());
  auto driver = Make(TempAuth());
  Outcome setup = Setup(*driver);
  EXPECT_FALSE(setup.ok);
  EXPECT_EQ(setup.reason, Reason::kMisconfigured);
  EXPECT_THAT(setup.detail, HasSubstr(PasswordPath()));
  EXPECT_THAT(cloud_.requests, IsEmpty());
}

TEST_F(SwiftDriverTest, ClientIsBuiltFromOptionsAtEverySetup) {
  SwiftConfig config = TempAuth();
  config.client.proxy = "http://proxy.test:3128";
  auto driver = Make(config);
  ASSERT_TRUE(Setup(*driver).ok);
  ASSERT_TRUE(Setup(*driver).ok);
  EXPECT_EQ(clients_made_, 2);
  EXPECT_EQ(seen_options_.proxy, "http://proxy.test:3128");
}

TEST_F(SwiftDriverTest, ClientThatCannotBeBuiltIsMisconfigured) {
  client_error_ = "ca_file /etc/ca.pem: No such file or directory";
  auto driver = Make(TempAuth());
  Outcome setup = Setup(*driver);
  EXPECT_EQ(setup.reason, Reason::kMisconfigured);
  EXPECT_THAT(setup.detail, HasSubstr(client_error_));
}

TEST_F(SwiftDriverTest, EverySendGetsTheDeadlinePassedIn) {
  SwiftConfig config = Keystone();
  config.write_probe = true;
  auto driver = Make(config);
  ASSERT_TRUE(Setup(*driver).ok);
  ASSERT_TRUE(Check(*driver).ok);
  ASSERT_EQ(cloud_.deadlines.size(), 5u);
  for (SteadyTime at : cloud_.deadlines) EXPECT_EQ(at, deadline_.at());
}

TEST_F(SwiftDriverTest, MissingContainerIsNotFound) {
  cloud_.containers.clear();
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  Outcome check = Check(*driver);
  EXPECT_EQ(check.reason, Reason::kNotFound);
  EXPECT_EQ(check.detail, "container backups does not exist");
}

TEST_F(SwiftDriverTest, ListingStatusesMapToReasons) {
  const std::vector<std::pair<int, Reason>> cases = {{403, Reason::kPermission},
                                                     {500, Reason::kError},
                                                     {503, Reason::kError},
                                                     {301, Reason::kError},
                                                     {429, Reason::kError}};
  for (const auto& [status, reason] : cases) {
    auto driver = Make(TempAuth());
    ASSERT_TRUE(Setup(*driver).ok);
    cloud_.script =
        [status = status](
            const http::Request& request) -> std::optional<http::Response> {
      if (request.url.starts_with(kPublicStorage)) {
        return Answer(status, "<html><h1>Nope</h1></html>");
      }
      return std::nullopt;
    };
    Outcome check = Check(*driver);
    EXPECT_FALSE(check.ok) << status;
    EXPECT_EQ(check.reason, reason) << status;
    EXPECT_EQ(check.detail, "list container backups: HTTP " +
                                std::to_string(status) + " (Nope)");
    cloud_.script = nullptr;
  }
}

TEST_F(SwiftDriverTest, AuthStatusesMapToReasons) {
  const std::vector<std::pair<int, Reason>> cases = {
      {401, Reason::kAuth},
      {403, Reason::kPermission},
      // A 404 means auth_url leads nowhere: retrying cannot help.
      {404, Reason::kMisconfigured},
      {500, Reason::kError},
      {400, Reason::kError}};
  for (SwiftConfig config : {TempAuth(), Keystone()}) {
    for (const auto& [status, reason] : cases) {
      cloud_.script =
          [status = status](
              const http::Request& request) -> std::optional<http::Response> {
        if (!request.url.starts_with(kPublicStorage)) return Answer(status);
        return std::nullopt;
      };
      auto driver = Make(config);
      Outcome setup = Setup(*driver);
      EXPECT_FALSE(setup.ok) << status;
      EXPECT_EQ(setup.reason, reason) << status << " " << config.auth_url;
      EXPECT_THAT(setup.detail, HasSubstr("HTTP " + std::to_string(status)));
    }
  }
}

TEST_F(SwiftDriverTest, AuthAnswerWithoutTokenIsAnError) {
  cloud_.script = [](const http::Request&) -> std::optional<http::Response> {
    return Answer(200, "{}");
  };
  for (SwiftConfig config : {TempAuth(), Keystone()}) {
    auto driver = Make(config);
    Outcome setup = Setup(*driver);
    EXPECT_EQ(setup.reason, Reason::kError);
    EXPECT_THAT(setup.detail, HasSubstr("lacks X-"));
  }
}

TEST_F(SwiftDriverTest, TransportErrorsUseTheSharedMapping) {
  for (auto error :
       {http::TransportError::kRefused, http::TransportError::kTimeout,
        http::TransportError::kDns, http::TransportError::kTls}) {
    cloud_.script =
        [error = error](const http::Request&) -> std::optional<http::Response> {
      return NoAnswer(error, "could not reach it");
    };
    auto driver = Make(Keystone());
    Outcome setup = Setup(*driver);
    EXPECT_FALSE(setup.ok);
    EXPECT_EQ(setup.reason, http::ReasonFor(error));
    EXPECT_THAT(setup.detail,
                AllOf(StartsWith(std::string("keystone at ") + kTokensUrl),
                      HasSubstr("could not reach it")));
  }
}

TEST_F(SwiftDriverTest, TransportErrorDuringListing) {
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  cloud_.script = [](const http::Request&) -> std::optional<http::Response> {
    return NoAnswer(http::TransportError::kTimeout, "deadline passed");
  };
  Outcome check = Check(*driver);
  EXPECT_EQ(check.reason, http::ReasonFor(http::TransportError::kTimeout));
  EXPECT_THAT(check.detail, StartsWith("list container backups: "));
}

TEST_F(SwiftDriverTest, FirstPageOfAHugeListingCountsAsMore) {
  for (int i = 0; i < 1500; ++i) {
    cloud_.objects["backups/db/" + std::to_string(10000 + i)] = "x";
  }
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  Outcome check = Check(*driver);
  EXPECT_EQ(check.detail, "container backups: 1000+ objects");
}

TEST_F(SwiftDriverTest, EmptyContainerAnswering204HasNoObjects) {
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  cloud_.script = [](const http::Request&) -> std::optional<http::Response> {
    return Answer(204);
  };
  Outcome check = Check(*driver);
  EXPECT_TRUE(check.ok);
  EXPECT_EQ(check.detail, "container backups: 0 objects");
}

TEST_F(SwiftDriverTest, ListingThatIsNotJsonIsAnError) {
  auto driver = Make(TempAuth());
  ASSERT_TRUE(Setup(*driver).ok);
  cloud_.script = [](const http::Request&) -> std::optional<http::Response> {
    return Answer(200, "a.tar\nb.tar\n");
  };
  Outcome check = Check(*driver);
  EXPECT_EQ(check.reason, Reason::kError);
  EXPECT_THAT(check.detail, HasSubstr("not a JSON array"));
}

TEST_F(SwiftDriverTest, WriteProbeRoundTripsAnEncodedSentinel) {
  AddObjects({"db/nightly run/1.tar",
              "db/nightly run/.backup-gate-sentinel-other-pod"});
  SwiftConfig config = Keystone();
  config.prefix = "db/nightly run/";
  config.write_probe = true;
  auto driver = Make(config);
  ASSERT_TRUE(Setup(*driver).ok);
  Outcome check = Check(*driver);
  ASSERT_TRUE(check.ok) << check.detail;
  EXPECT_EQ(check.detail,
            "container backups: 1 object under prefix db/nightly run/, write "
            "probe ok");

  const std::string object = std::string(kPublicStorage) +
                             "/backups/db/nightly%20run/"
                             ".backup-gate-sentinel-pod-1";
  std::vector<std::string> calls;
  for (const auto& request : cloud_.requests) {
    if (request.url == object) calls.push_back(request.method);
  }
  EXPECT_EQ(calls, (std::vector<std::string>{"PUT", "GET", "DELETE"}));
  EXPECT_FALSE(cloud_.objects.contains(
      "backups/db/nightly run/.backup-gate-sentinel-pod-1"));
}

TEST_F(SwiftDriverTest, SentinelContentIsFreshEachTime) {
  SwiftConfig config = TempAuth();
  config.write_probe = true;
  auto driver = Make(config);
  ASSERT_TRUE(Setup(*driver).ok);
  ASSERT_TRUE(Check(*driver).ok);
  ASSERT_TRUE(Check(*driver).ok);
  std::vector<std::string> bodies;
  for (const auto& request : cloud_.requests) {
    if (request.method == "PUT") bodies.push_back(request.body);
  }
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_NE(bodies[0], bodies[1]);
  EXPECT_FALSE(bodies[0].empty());
}

TEST_F(SwiftDriverTest, SentinelNameKeepsToAPortableAlphabet) {
  auto driver = Make(TempAuth(), "pod/1 ü");
  EXPECT_EQ(driver->sentinel_name(), ".backup-gate-sentinel-pod_1___");
}

TEST_F(SwiftDriverTest, CorruptReadIsAnErrorAndTheSentinelIsStillDeleted) {
  cloud_.corrupt_reads = true;
  SwiftConfig config = TempAuth();
  config.write_probe = true;
  auto driver = Make(config);
  ASSERT_TRUE(Setup(*driver).ok);
  Outcome check = Check(*driver);
  EXPECT_EQ(check.reason, Reason::kError);
  EXPECT_THAT(check.detail, HasSubstr("content differs"));
  EXPECT_EQ(cloud_.Count("DELETE", ".backup-gate-sentinel-pod-1"), 1u);
  EXPECT_TRUE(cloud_.objects.empty());
}

TEST_F(SwiftDriverTest, WriteProbeStatusesMapToReasons) {
  const std::vector<std::pair<int, Reason>> cases = {{403, Reason::kPermission},
                                                     {413, Reason::kNoSpace},
                                                     {507, Reason::kNoSpace},
                                                     {500, Reason::kError}};
  for (const auto& [status, reason] : cases) {
    cloud_.script =
        [status = status](
            const http::Request& request) -> std::optional<http::Response> {
      if (request.method == "PUT") return Answer(status);
      return std::nullopt;
    };
    SwiftConfig config = TempAuth();
    config.write_probe = true;
    auto driver = Make(config);
    ASSERT_TRUE(Setup(*driver).ok);
    Outcome check = Check(*driver);
    EXPECT_EQ(check.reason, reason) << status;
    EXPECT_THAT(check.detail,
                StartsWith("write sentinel .backup-gate-sentinel-pod-1: HTTP " +
                           std::to_string(status)));
  }
}

TEST_F(SwiftDriverTest, SecretsEchoedByServersNeverReachDetails) {
  auto driver = Make(Keystone());
  ASSERT_TRUE(Setup(*driver).ok);
  const std::string token = cloud_.last_token;
  cloud_.script =
      [token](const http::Request&) -> std::optional<http::Response> {
    return Answer(500, "bad token " + token + " for " + kPassword);
  };
  Outcome check = Check(*driver);
  EXPECT_THAT(check.detail, Not(HasSubstr(token)));
  EXPECT_THAT(check.detail, Not(HasSubstr(kPassword)));
  EXPECT_THAT(check.detail, HasSubstr("<redacted>"));

  cloud_.script =
      [token](const http::Request&) -> std::optional<http::Response> {
    return NoAnswer(http::TransportError::kOther,
                    std::string("peer said ") + kPassword + " " + token);
  };
  check = Check(*driver);
  EXPECT_THAT(check.detail, Not(HasSubstr(token)));
  EXPECT_THAT(check.detail, Not(HasSubstr(kPassword)));
}

TEST_F(SwiftDriverTest, PasswordEchoedByTheAuthServerIsRedacted) {
  cloud_.script = [](const http::Request&) -> std::optional<http::Response> {
    return Answer(401, std::string("{\"error\": {\"message\": \"user backup "
                                   "with password ") +
                           kPassword + " rejected\"}}");
  };
  auto driver = Make(Keystone());
  Outcome setup = Setup(*driver);
  EXPECT_EQ(setup.reason, Reason::kAuth);
  EXPECT_THAT(setup.detail, Not(HasSubstr(kPassword)));
  EXPECT_THAT(setup.detail, HasSubstr("<redacted>"));
}

TEST_F(SwiftDriverTest, DescribeShowsThePasswordFileNotThePassword) {
  SwiftOptions options(Keystone(), {});
  for (const Setting& setting : options.Describe()) {
    EXPECT_THAT(setting.value, Not(HasSubstr(kPassword))) << setting.key;
    if (setting.key == "password_file") {
      EXPECT_EQ(setting.value, PasswordPath());
    }
  }
}

}  // namespace
}  // namespace bgate::drivers::swift
