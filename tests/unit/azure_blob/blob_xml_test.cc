#include "blob_xml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace bgate::drivers::azure_blob::detail {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Recorded from Azurite 3.37 (a wrong Shared Key).
constexpr char kAzuriteAuthorizationFailure[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Error>\n"
    "  <Code>AuthorizationFailure</Code>\n"
    "  <Message>Server failed to authenticate the request. Make sure the "
    "value of the Authorization header is formed correctly including the "
    "signature.\nRequestId:cbc9541a-1c30-467c-aa6f-fe12a41b60cf\n"
    "Time:2026-11-26T13:21:26.131Z</Message>\n"
    "</Error>";

// Recorded from Azurite 3.37 (List Blobs on a missing container).
constexpr char kAzuriteContainerNotFound[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Error>\n"
    "  <Code>ContainerNotFound</Code>\n"
    "  <Message>The specified container does not exist.\n"
    "RequestId:2eb2bd0e-8e53-4a6a-8994-6abb86b78bf0\n"
    "Time:2026-11-26T13:21:26.335Z</Message>\n"
    "</Error>";

// Azure's documented error shape: a byte-order mark, and a detail that
// quotes the signature the request carried.
constexpr char kAzureAuthenticationFailed[] =
    "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error>"
    "<Code>AuthenticationFailed</Code><Message>Server failed to authenticate "
    "the request. Make sure the value of Authorization header is formed "
    "correctly including the signature.\nRequestId:0b3f-0001\n"
    "Time:2023-01-02T03:04:05.0000000Z</Message><AuthenticationErrorDetail>"
    "The MAC signature found in the HTTP request 'c2lnbmF0dXJl' is not the "
    "same as any computed signature.</AuthenticationErrorDetail></Error>";

// Recorded from Azurite 3.37: prefix db/, maxresults=1, so a next page.
constexpr char kAzuriteListingFirstPage[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:18431/"
    "devstoreaccount1\" ContainerName=\"backups\"><Prefix>db/</Prefix>"
    "<Marker/><MaxResults>1</MaxResults><Blobs><Blob><Name>db/a.dump</Name>"
    "<Properties><Creation-Time>Thu, 26 Nov 2026 13:21:30 GMT</Creation-Time>"
    "<Last-Modified>Thu, 26 Nov 2026 13:21:30 GMT</Last-Modified>"
    "<Etag>0x23D7817BA876EC0</Etag><Content-Length>5</Content-Length>"
    "<Content-Type>application/octet-stream</Content-Type>"
    "<Content-MD5>XUFAKrxLKna5cZ2REBfFkg==</Content-MD5>"
    "<BlobType>BlockBlob</BlobType><LeaseStatus>unlocked</LeaseStatus>"
    "<LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
    "<AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
    "</Properties></Blob></Blobs><NextMarker>db/a.dump</NextMarker>"
    "</EnumerationResults>";

// Recorded from Azurite 3.37: the whole prefix on one page.
constexpr char kAzuriteListingLastPage[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:18431/"
    "devstoreaccount1\" ContainerName=\"backups\"><Prefix>db/</Prefix>"
    "<Marker/><MaxResults>1000</MaxResults><Blobs><Blob><Name>db/a.dump"
    "</Name><Properties><Content-Length>5</Content-Length></Properties>"
    "</Blob><Blob><Name>db/b.dump</Name><Properties><Content-Length>5"
    "</Content-Length></Properties></Blob></Blobs><NextMarker/>"
    "</EnumerationResults>";

// Azure's answer for an empty container: no <Blob> at all.
constexpr char kEmptyListing[] =
    "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults"
    " ServiceEndpoint=\"https://acct.blob.core.windows.net/\" "
    "ContainerName=\"backups\"><MaxResults>1000</MaxResults><Blobs />"
    "<NextMarker /></EnumerationResults>";

TEST(BlobXmlTest, ErrorCodeFromRecordedBodies) {
  EXPECT_EQ(ParseErrorCode(kAzuriteAuthorizationFailure),
            "AuthorizationFailure");
  EXPECT_EQ(ParseErrorCode(kAzuriteContainerNotFound), "ContainerNotFound");
  EXPECT_EQ(ParseErrorCode(kAzureAuthenticationFailed),
            "AuthenticationFailed");
}

TEST(BlobXmlTest, ErrorCodeEmptyForOtherDocuments) {
  EXPECT_EQ(ParseErrorCode(""), "");
  EXPECT_EQ(ParseErrorCode("Internal Server Error"), "");
  EXPECT_EQ(ParseErrorCode("<html><body>502 Bad Gateway</body></html>"), "");
  EXPECT_EQ(ParseErrorCode(kAzuriteListingLastPage), "");
  EXPECT_EQ(ParseErrorCode("<Error><Message>no code</Message></Error>"), "");
  // Cut short: not a document.
  EXPECT_EQ(ParseErrorCode("<Error><Code>AuthenticationFailed</Code>"), "");
}

TEST(BlobXmlTest, ListingFirstPageHasNextMarker) {
  auto listing = ParseBlobListing(kAzuriteListingFirstPage);
  ASSERT_TRUE(listing);
  EXPECT_THAT(listing->names, ElementsAre("db/a.dump"));
  EXPECT_EQ(listing->next_marker, "db/a.dump");
}

TEST(BlobXmlTest, ListingLastPage) {
  auto listing = ParseBlobListing(kAzuriteListingLastPage);
  ASSERT_TRUE(listing);
  EXPECT_THAT(listing->names, ElementsAre("db/a.dump", "db/b.dump"));
  EXPECT_EQ(listing->next_marker, "");
}

TEST(BlobXmlTest, EmptyListing) {
  auto listing = ParseBlobListing(kEmptyListing);
  ASSERT_TRUE(listing);
  EXPECT_THAT(listing->names, IsEmpty());
  EXPECT_EQ(listing->next_marker, "");
}

TEST(BlobXmlTest, ListingRejectsOtherDocuments) {
  EXPECT_FALSE(ParseBlobListing(""));
  EXPECT_FALSE(ParseBlobListing(kAzuriteContainerNotFound));
  EXPECT_FALSE(ParseBlobListing("<html>proxy login</html>"));
  EXPECT_FALSE(ParseBlobListing("<EnumerationResults><Blobs>"));
  EXPECT_FALSE(ParseBlobListing(std::string("\0\0\0\0", 4)));
}

// A document type declaration is skipped, never expanded, so an entity
// cannot smuggle text (or a billion laughs) into the result.
TEST(BlobXmlTest, EntitiesAreNotExpanded) {
  const char body[] =
      "<?xml version=\"1.0\"?><!DOCTYPE Error [<!ENTITY a \"AAAAAAAA\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
      "<Error><Code>&b;</Code></Error>";
  EXPECT_EQ(ParseErrorCode(body).find("AAAA"), std::string::npos);
}

TEST(BlobXmlTest, DeepNestingDoesNotCrash) {
  std::string body;
  for (int i = 0; i < 100000; ++i) body += "<Error>";
  EXPECT_EQ(ParseErrorCode(body), "");
  EXPECT_FALSE(ParseBlobListing(body));
}

// Mutations of real bodies: whatever they become, the parsers answer.
TEST(BlobXmlTest, GarbageNeverThrows) {
  std::mt19937 random(12345);
  const std::string seeds[] = {kAzuriteAuthorizationFailure,
                               kAzuriteListingFirstPage, kEmptyListing};
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string body = seeds[round % 3];
    const int edits = 1 + static_cast<int>(random() % 8);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      std::size_t at = random() % body.size();
      switch (random() % 3) {
        case 0: body[at] = static_cast<char>(random() % 256); break;
        case 1: body.erase(at, 1 + random() % 16); break;
        default: body.insert(at, body.substr(random() % body.size(), 12));
      }
    }
    EXPECT_NO_THROW({
      ParseErrorCode(body);
      if (ParseBlobListing(body)) ++parsed;
    });
  }
  // Some mutations leave a valid listing: the loop did exercise parsing.
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace bgate::drivers::azure_blob::detail
