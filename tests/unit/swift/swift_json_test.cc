#include "swift_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace bgate::drivers::swift::detail {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kSentinels = "db/.backup-gate-sentinel-";

// GET /v1/AUTH_test/backups?format=json&prefix=db/ as Swift 2.30 answers it.
constexpr const char* kListing = R"json([
  {"hash": "d41d8cd98f00b204e9800998ecf8427e", "last_modified": "2024-05-01T10:00:00.000000",
   "bytes": 0, "name": "db/2024-05-01.tar.gz", "content_type": "application/gzip"},
  {"hash": "9e107d9d372bb6826bd81d3542a419d6", "last_modified": "2024-05-02T10:00:00.000000",
   "bytes": 1048576, "name": "db/2024-05-02.tar.gz", "content_type": "application/gzip"},
  {"hash": "e4d909c290d0fb1ca068ffaddf22cbd0", "last_modified": "2024-05-02T10:00:01.000000",
   "bytes": 58, "name": "db/.backup-gate-sentinel-pod-b", "content_type": "application/octet-stream"},
  {"subdir": "db/wal/"}
])json";

TEST(ParseListingTest, CountsEntriesAndSentinelsApart) {
  ListingParse parsed = ParseListing(kListing, kSentinels);
  ASSERT_TRUE(parsed.listing.has_value()) << parsed.error;
  EXPECT_EQ(parsed.listing->entries, 4u);
  EXPECT_EQ(parsed.listing->sentinels, 1u);
  EXPECT_EQ(parsed.listing->backups(), 3u);
}

TEST(ParseListingTest, EmptyArrayIsAnEmptyListing) {
  ListingParse parsed = ParseListing("[]", kSentinels);
  ASSERT_TRUE(parsed.listing.has_value());
  EXPECT_EQ(parsed.listing->entries, 0u);
}

TEST(ParseListingTest, GarbageGivesAnErrorNeverAThrow) {
  const std::string deep = std::string(50, '[') + std::string(50, ']');
  for (const std::string& body :
       {std::string(), std::string("backup.tar\nother.tar\n"),
        std::string("{}"), std::string("[1, 2]"),
        std::string("[{\"name\": 3}]"), std::string("[{\"bytes\": 3}]"),
        std::string("[null]"), std::string("[{\"name\": \"a\"}"),
        std::string("\x80\x81\xff", 3), std::string("[\"\xc3\x28\"]"), deep,
        std::string(1 << 20, '{')}) {
    ListingParse parsed;
    EXPECT_NO_THROW(parsed = ParseListing(body, kSentinels));
    EXPECT_FALSE(parsed.listing.has_value());
    EXPECT_FALSE(parsed.error.empty());
  }
}

TEST(ParseJsonTest, BracketsInsideStringsDoNotCountAsNesting) {
  const std::string name(100, '[');
  EXPECT_TRUE(ParseJson("[{\"name\": \"" + name + "\"}]").is_array());
  EXPECT_TRUE(ParseJson(std::string(kMaxJsonDepth, '[') +
                        std::string(kMaxJsonDepth, ']'))
                  .is_array());
  EXPECT_TRUE(ParseJson(std::string(kMaxJsonDepth + 1, '[') +
                        std::string(kMaxJsonDepth + 1, ']'))
                  .is_discarded());
}

TEST(ServerMessageTest, ReadsKeystoneErrors) {
  EXPECT_EQ(
      ServerMessage(
          R"({"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})"),
      "The request you have made requires authentication.");
  EXPECT_EQ(ServerMessage(R"({"error": {"code": 404, "title": "Not Found"}})"),
            "Not Found");
}

TEST(ServerMessageTest, StripsSwiftHtml) {
  EXPECT_EQ(ServerMessage("<html><h1>Unauthorized</h1><p>This server could "
                          "not verify that you are authorized to access the "
                          "document you requested.</p></html>"),
            "Unauthorized This server could not verify that you are "
            "authorized to access the document you requested.");
  EXPECT_EQ(ServerMessage("Container not found"), "Container not found");
}

TEST(ServerMessageTest, IsShortPrintableAscii) {
  std::string message =
      ServerMessage("caf\xc3\xa9\r\nline\x01two " + std::string(1000, 'x'));
  EXPECT_THAT(message, StartsWith("caf?? line two x"));
  EXPECT_LE(message.size(), kMaxServerMessageBytes);
  EXPECT_THAT(message, HasSubstr("..."));
  for (char c : message) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
  }
  EXPECT_EQ(ServerMessage(""), "");
  EXPECT_EQ(ServerMessage("   \n  "), "");
}

}  // namespace
}  // namespace bgate::drivers::swift::detail
