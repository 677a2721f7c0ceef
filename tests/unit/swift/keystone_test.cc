#include "keystone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace bgate::drivers::swift::detail {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

SystemTime Utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  using namespace std::chrono;
  return time_point_cast<system_clock::duration>(
      sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) +
      seconds(s));
}

// A project-scoped POST /v3/auth/tokens answer shaped like the example in
// the Identity v3 API reference: several services, two regions, three
// interfaces, and both the old "region" and the newer "region_id" fields.
constexpr const char* kTokenResponse = R"json({
  "token": {
    "methods": ["password"],
    "user": {
      "domain": {"id": "default", "name": "Default"},
      "id": "ee4dfb6e5540447cb3741905149d9b6e",
      "name": "backup",
      "password_expires_at": null
    },
    "audit_ids": ["3T2dc1CGQxyJsHdDu1xkcw"],
    "expires_at": "2015-11-07T02:58:43.578887Z",
    "issued_at": "2015-11-07T01:58:43.578929Z",
    "project": {
      "domain": {"id": "default", "name": "Default"},
      "id": "a6944d763bf64ee6a275f1263fae0352",
      "name": "backups"
    },
    "is_domain": false,
    "roles": [
      {"id": "51cc68287d524c759f47c811e6463340", "name": "member"},
      {"id": "9fe2ff9ee4384b1894a90878d3e92bab", "name": "reader"}
    ],
    "catalog": [
      {
        "endpoints": [
          {"id": "068d1b359ee84b438266cb736d81de97", "interface": "public",
           "region": "RegionOne", "region_id": "RegionOne",
           "url": "http://keystone.example.com:5000/v3"},
          {"id": "8bfc846841ab441ca38471be6d164ced", "interface": "admin",
           "region": "RegionOne", "region_id": "RegionOne",
           "url": "http://keystone.example.com:35357/v3"}
        ],
        "type": "identity",
        "id": "050726f278654128aba89757ae25910c",
        "name": "keystone"
      },
      {
        "endpoints": [
          {"id": "2dc0f0c1d8c14c1aa9e1a8dc0d7a4e72", "interface": "public",
           "region": "RegionOne", "region_id": "RegionOne",
           "url": "http://nova.example.com:8774/v2.1"}
        ],
        "type": "compute",
        "id": "1e7ee1a4d47f4f2f8dc41f4b2b8bc8bb",
        "name": "nova"
      },
      {
        "endpoints": [
          {"id": "a6e7a1d0a5a94c5c91aa6b7cc0b8d8e1", "interface": "internal",
           "region": "RegionOne", "region_id": "RegionOne",
           "url": "http://swift-int.one.example.com:8080/v1/AUTH_a6944d763bf64ee6a275f1263fae0352"},
          {"id": "3b6a0f7f0c9b4f0c8e4f2ab1c1b0d3e4", "interface": "public",
           "region": "RegionOne", "region_id": "RegionOne",
           "url": "https://swift.one.example.com/v1/AUTH_a6944d763bf64ee6a275f1263fae0352/"},
          {"id": "5c2b3d7b9f1e4a55a0e0e2c5b6a7d8f9", "interface": "admin",
           "region": "RegionOne", "region_id": "RegionOne",
           "url": "http://swift-admin.one.example.com:8080/v1"},
          {"id": "e1f2a3b4c5d64e7f8a9b0c1d2e3f4a5b", "interface": "public",
           "region": "RegionTwo", "region_id": "RegionTwo",
           "url": "https://swift.two.example.com/v1/AUTH_a6944d763bf64ee6a275f1263fae0352"},
          {"id": "f0e1d2c3b4a54968a7b6c5d4e3f2a1b0", "interface": "internal",
           "region_id": "RegionTwo",
           "url": "http://swift-int.two.example.com:8080/v1/AUTH_a6944d763bf64ee6a275f1263fae0352"}
        ],
        "type": "object-store",
        "id": "7f4a3b2c1d0e4f5a6b7c8d9e0f1a2b3c",
        "name": "swift"
      },
      {
        "endpoints": [
          {"id": "9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d", "interface": "public",
           "region": "RegionOne", "region_id": "RegionOne",
           "url": "http://glance.example.com:9292"}
        ],
        "type": "image",
        "id": "0a1b2c3d4e5f4a6b7c8d9e0f1a2b3c4d",
        "name": "glance"
      }
    ]
  }
})json";

// The reference's token shape with a catalog that lacks object storage.
constexpr const char* kTokenWithoutSwift = R"json({
  "token": {
    "methods": ["password"],
    "expires_at": "2015-11-07T02:58:43.578887Z",
    "issued_at": "2015-11-07T01:58:43.578929Z",
    "project": {"domain": {"id": "default", "name": "Default"},
                "id": "a6944d763bf64ee6a275f1263fae0352", "name": "backups"},
    "catalog": [
      {"endpoints": [{"id": "1", "interface": "public", "region_id": "RegionOne",
                      "url": "http://keystone.example.com:5000/v3"}],
       "type": "identity", "id": "a", "name": "keystone"},
      {"endpoints": [{"id": "2", "interface": "public", "region_id": "RegionOne",
                      "url": "http://nova.example.com:8774/v2.1"}],
       "type": "compute", "id": "b", "name": "nova"}
    ]
  }
})json";

TEST(ParseTimestampTest, ReadsKeystoneFormat) {
  auto at = ParseTimestamp("2015-11-07T02:58:43.578887Z");
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(*at, Utc(2015, 11, 7, 2, 58, 43) + 578887us);
}

TEST(ParseTimestampTest, ReadsOffsetsAndPlainSeconds) {
  EXPECT_EQ(ParseTimestamp("2024-02-29T12:00:00+02:00"),
            Utc(2024, 2, 29, 10, 0, 0));
  EXPECT_EQ(ParseTimestamp("2024-02-29T12:00:00-0130"),
            Utc(2024, 2, 29, 13, 30, 0));
  EXPECT_EQ(ParseTimestamp("2024-02-29T12:00:00"), Utc(2024, 2, 29, 12, 0, 0));
}

TEST(ParseTimestampTest, RejectsMalformedTimes) {
  for (const char* text :
       {"", "2015", "2015-11-07", "2015-11-07T02:58", "2015-13-07T02:58:43Z",
        "2015-02-30T02:58:43Z", "2015-11-07T24:00:00Z", "2015-11-07X02:58:43Z",
        "2015-11-07T02:58:43.Z", "2015-11-07T02:58:43ZZ",
        "2015-11-07T02:58:43+2", "2015-11-07T02:58:43+25:00",
        "+015-11-07T02:58:43Z", "2015-11-07T02:58:43 junk",
        "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"}) {
    EXPECT_FALSE(ParseTimestamp(text).has_value()) << text;
  }
}

TEST(TokensUrlTest, AcceptsRootOrVersionedBase) {
  EXPECT_EQ(TokensUrl("http://keystone:5000/v3"),
            "http://keystone:5000/v3/auth/tokens");
  EXPECT_EQ(TokensUrl("http://keystone:5000/v3/"),
            "http://keystone:5000/v3/auth/tokens");
  EXPECT_EQ(TokensUrl("http://keystone:5000"),
            "http://keystone:5000/v3/auth/tokens");
  EXPECT_EQ(TokensUrl("https://cloud.example.com/identity/"),
            "https://cloud.example.com/identity/v3/auth/tokens");
}

TEST(TokenRequestBodyTest, IsProjectScopedPasswordAuth) {
  const auto body = nlohmann::json::parse(TokenRequestBody(
      {"backup", "p\"ss\\word", "users", "backups", "projects"}));
  const auto& identity = body["auth"]["identity"];
  EXPECT_EQ(identity["methods"], nlohmann::json::array({"password"}));
  EXPECT_EQ(identity["password"]["user"]["name"], "backup");
  EXPECT_EQ(identity["password"]["user"]["password"], "p\"ss\\word");
  EXPECT_EQ(identity["password"]["user"]["domain"]["name"], "users");
  EXPECT_EQ(body["auth"]["scope"]["project"]["name"], "backups");
  EXPECT_EQ(body["auth"]["scope"]["project"]["domain"]["name"], "projects");
}

TEST(TokenRequestBodyTest, SurvivesPasswordsThatAreNotUtf8) {
  std::string body = TokenRequestBody({"u", "\xff\xfe", "D", "p", "D"});
  EXPECT_TRUE(nlohmann::json::accept(body));
}

TEST(ParseTokenResponseTest, PicksFirstPublicObjectStoreEndpoint) {
  TokenParse parsed = ParseTokenResponse(kTokenResponse, {});
  ASSERT_TRUE(parsed.token.has_value()) << parsed.error;
  EXPECT_EQ(parsed.token->storage_url,
            "https://swift.one.example.com/v1/"
            "AUTH_a6944d763bf64ee6a275f1263fae0352");
  EXPECT_EQ(parsed.token->expires_at, Utc(2015, 11, 7, 2, 58, 43) + 578887us);
  EXPECT_EQ(parsed.token->issued_at, Utc(2015, 11, 7, 1, 58, 43) + 578929us);
}

TEST(ParseTokenResponseTest, HonoursRegionAndInterface) {
  EXPECT_EQ(ParseTokenResponse(kTokenResponse, {"RegionTwo", "public"})
                .token->storage_url,
            "https://swift.two.example.com/v1/"
            "AUTH_a6944d763bf64ee6a275f1263fae0352");
  // Only region_id names the region of this endpoint.
  EXPECT_EQ(ParseTokenResponse(kTokenResponse, {"RegionTwo", "internal"})
                .token->storage_url,
            "http://swift-int.two.example.com:8080/v1/"
            "AUTH_a6944d763bf64ee6a275f1263fae0352");
  EXPECT_EQ(
      ParseTokenResponse(kTokenResponse, {"", "internal"}).token->storage_url,
      "http://swift-int.one.example.com:8080/v1/"
      "AUTH_a6944d763bf64ee6a275f1263fae0352");
  EXPECT_EQ(
      ParseTokenResponse(kTokenResponse, {"", "admin"}).token->storage_url,
      "http://swift-admin.one.example.com:8080/v1");
}

TEST(ParseTokenResponseTest, MissingObjectStoreIsMisconfigured) {
  TokenParse parsed = ParseTokenResponse(kTokenWithoutSwift, {});
  EXPECT_FALSE(parsed.token.has_value());
  EXPECT_EQ(parsed.reason, Reason::kMisconfigured);
  EXPECT_THAT(parsed.error, HasSubstr("no object-store service"));
  EXPECT_THAT(parsed.error, HasSubstr("identity, compute"));
}

TEST(ParseTokenResponseTest, UnknownRegionIsMisconfiguredAndListsChoices) {
  TokenParse parsed =
      ParseTokenResponse(kTokenResponse, {"RegionNine", "public"});
  EXPECT_FALSE(parsed.token.has_value());
  EXPECT_EQ(parsed.reason, Reason::kMisconfigured);
  EXPECT_THAT(parsed.error, HasSubstr("interface public in region RegionNine"));
  EXPECT_THAT(parsed.error, HasSubstr("RegionTwo/public"));
}

TEST(ParseTokenResponseTest, MissingCatalogIsMisconfigured) {
  TokenParse parsed = ParseTokenResponse(
      R"({"token": {"expires_at": "2015-11-07T02:58:43Z"}})", {});
  EXPECT_EQ(parsed.reason, Reason::kMisconfigured);
  EXPECT_THAT(parsed.error, HasSubstr("no service catalog"));
}

TEST(ParseTokenResponseTest, NonHttpEndpointIsRejected) {
  TokenParse parsed = ParseTokenResponse(
      R"({"token": {"expires_at": "2015-11-07T02:58:43Z", "catalog": [
          {"type": "object-store", "endpoints": [
            {"interface": "public", "url": "file:///etc/passwd"}]}]}})",
      {});
  EXPECT_FALSE(parsed.token.has_value());
  EXPECT_EQ(parsed.reason, Reason::kError);
}

TEST(ParseTokenResponseTest, BadExpiryIsAnError) {
  for (const char* body :
       {R"({"token": {"catalog": []}})",
        R"({"token": {"expires_at": 12, "catalog": []}})",
        R"({"token": {"expires_at": "tomorrow", "catalog": []}})"}) {
    TokenParse parsed = ParseTokenResponse(body, {});
    EXPECT_FALSE(parsed.token.has_value()) << body;
    EXPECT_EQ(parsed.reason, Reason::kError) << body;
    EXPECT_THAT(parsed.error, HasSubstr("expires_at")) << body;
  }
}

TEST(ParseTokenResponseTest, GarbageGivesAnErrorNeverAThrow) {
  const std::string deep(100000, '[');
  for (const std::string& body :
       {std::string(), std::string("null"), std::string("[]"),
        std::string("{\"token\": []}"), std::string("{\"token\": {"),
        std::string("\xff\xfe\x00garbage", 10), deep,
        std::string(R"({"token": {"expires_at": "2015-11-07T02:58:43Z",
                        "catalog": [1, "x", null, {"type": 5},
                          {"type": "object-store", "endpoints": 7},
                          {"type": "object-store", "endpoints": [1, {}]}]}})")}) {
    TokenParse parsed;
    EXPECT_NO_THROW(parsed = ParseTokenResponse(body, {"RegionOne", "public"}));
    EXPECT_FALSE(parsed.token.has_value());
    EXPECT_FALSE(parsed.error.empty());
  }
}

TEST(TokenLifetimeTest, UsesKeystonesOwnClockWhenItCan) {
  TokenParse parsed = ParseTokenResponse(kTokenResponse, {});
  ASSERT_TRUE(parsed.token.has_value());
  // Years after the token's expiry by the local clock, yet the token is
  // fresh from the server: its lifetime is what counts.
  const auto lifetime = TokenLifetime(*parsed.token, Utc(2030, 1, 1, 0, 0, 0));
  EXPECT_EQ(lifetime, 1h - 42us);
}

TEST(TokenLifetimeTest, ExpiredTokenHasNoLifetimeLeft) {
  KeystoneToken token;
  token.expires_at = Utc(2015, 11, 7, 2, 0, 0);
  EXPECT_LE(TokenLifetime(token, Utc(2015, 11, 7, 2, 0, 1)).count(), 0);
  token.issued_at = Utc(2015, 11, 7, 2, 0, 0);
  EXPECT_LE(TokenLifetime(token, Utc(2015, 11, 7, 1, 0, 0)).count(), 0);
  token.issued_at.reset();
  EXPECT_EQ(TokenLifetime(token, Utc(2015, 11, 7, 1, 0, 0)), 1h);
}

}  // namespace
}  // namespace bgate::drivers::swift::detail
