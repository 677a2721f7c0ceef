#include "s3_xml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace bgate::drivers::s3::detail {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Error bodies in the shapes the servers document and send.

// AWS, from the error responses reference.
constexpr char kAwsNoSuchKey[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchKey</Code>
  <Message>The resource you requested does not exist</Message>
  <Resource>/mybucket/myfoto.jpg</Resource>
  <RequestId>4442587FB7D0A2F9</RequestId>
</Error>)";

// AWS echoes the string to sign and the canonical request of a rejected
// signature; none of it may end up in a detail.
constexpr char kAwsSignatureDoesNotMatch[] =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "<Error><Code>SignatureDoesNotMatch</Code>"
    "<Message>The request signature we calculated does not match the "
    "signature you provided. Check your key and signing method.</Message>"
    "<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
    "<StringToSign>AWS4-HMAC-SHA256\n20130524T000000Z\n"
    "20130524/us-east-1/s3/aws4_request\n7344ae5b</StringToSign>"
    "<SignatureProvided>f0e8bdb8</SignatureProvided>"
    "<CanonicalRequest>GET\n/test.txt\n\nhost:examplebucket</CanonicalRequest>"
    "<RequestId>4442587FB7D0A2F9</RequestId><HostId>abc=</HostId></Error>";

constexpr char kAwsWrongRegion[] =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "\n<Error><Code>AuthorizationHeaderMalformed</Code><Message>The "
    "authorization header is malformed; the region 'us-east-1' is wrong; "
    "expecting 'eu-west-1'</Message><Region>eu-west-1</Region>"
    "<RequestId>656c76696e6727732072657175657374</RequestId>"
    "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>"
    "</Error>";

// OpenStack Swift's s3api: single-quoted declaration, Message present.
constexpr char kSwiftNoSuchBucket[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not "
    "exist.</Message><RequestId>txb4d3a7c5e2f04a39a0f2a-0065a1b2c3</RequestId>"
    "<BucketName>backups</BucketName></Error>";

// Ceph radosgw: no Message at all.
constexpr char kCephInvalidAccessKeyId[] =
    R"(<?xml version="1.0" encoding="UTF-8"?><Error>)"
    "<Code>InvalidAccessKeyId</Code><RequestId>tx000001b2c3d4e5f6a7b8c-"
    "0065a1b2c3-1234-default</RequestId><HostId>1234-default-default</HostId>"
    "</Error>";

TEST(ParseErrorBodyTest, AwsBody) {
  auto error = ParseErrorBody(kAwsNoSuchKey);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "NoSuchKey");
  EXPECT_EQ(error->message, "The resource you requested does not exist");
  EXPECT_EQ(error->region, "");
}

TEST(ParseErrorBodyTest, AwsSignatureBodyGivesOnlyCodeAndMessage) {
  auto error = ParseErrorBody(kAwsSignatureDoesNotMatch);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "SignatureDoesNotMatch");
  EXPECT_EQ(error->message.find("AWS4-HMAC-SHA256"), std::string::npos);
  EXPECT_EQ(error->message.rfind("The request signature", 0), 0u);
}

TEST(ParseErrorBodyTest, AwsWrongRegionTellsTheRegion) {
  auto error = ParseErrorBody(kAwsWrongRegion);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "AuthorizationHeaderMalformed");
  EXPECT_EQ(error->region, "eu-west-1");
}

TEST(ParseErrorBodyTest, SwiftS3ApiBody) {
  auto error = ParseErrorBody(kSwiftNoSuchBucket);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "NoSuchBucket");
  EXPECT_EQ(error->message, "The specified bucket does not exist.");
}

TEST(ParseErrorBodyTest, CephBodyWithoutMessage) {
  auto error = ParseErrorBody(kCephInvalidAccessKeyId);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "InvalidAccessKeyId");
  EXPECT_EQ(error->message, "");
}

TEST(ParseErrorBodyTest, NamespacedAndCdataBodies) {
  auto prefixed = ParseErrorBody(
      "<s3:Error xmlns:s3='http://s3.amazonaws.com/doc/2006-03-01/'>"
      "<s3:Code>AccessDenied</s3:Code></s3:Error>");
  ASSERT_TRUE(prefixed);
  EXPECT_EQ(prefixed->code, "AccessDenied");
  auto cdata = ParseErrorBody(
      "<Error><Code><![CDATA[SlowDown]]></Code>"
      "<Message>Please &amp; reduce</Message></Error>");
  ASSERT_TRUE(cdata);
  EXPECT_EQ(cdata->code, "SlowDown");
  EXPECT_EQ(cdata->message, "Please & reduce");
}

TEST(ParseErrorBodyTest, MessageIsOneUncutLine) {
  // Not cut here: a cut could leave part of an echoed secret that the
  // driver's redaction would then miss.
  const std::string long_message(1000, 'x');
  auto error = ParseErrorBody(
      "<Error><Code>InternalError</Code><Message>a\n"
      "b\r\n\tc " +
      long_message + "</Message></Error>");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "a b c " + long_message);
}

TEST(ParseErrorBodyTest, CodeThatIsNotAnIdentifierIsDropped) {
  for (const char* body :
       {"<Error><Code>Access Denied</Code></Error>",
        "<Error><Code>a<b>c</b></Code></Error>", "<Error><Code></Code></Error>",
        "<Error><Message>no code</Message></Error>",
        "<Error><Code>Bad\x01</Code></Error>"}) {
    auto error = ParseErrorBody(body);
    ASSERT_TRUE(error) << body;
    EXPECT_EQ(error->code, "") << body;
  }
  auto long_code = ParseErrorBody("<Error><Code>" +
                                  std::string(kMaxErrorCodeBytes + 1, 'A') +
                                  "</Code></Error>");
  ASSERT_TRUE(long_code);
  EXPECT_EQ(long_code->code, "");
}

TEST(ParseErrorBodyTest, OtherDocumentsAreNotErrors) {
  for (const char* body :
       {"", "not xml", "<Error>", "<Error><Code>x</Error>",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        "<ListBucketResult/>", "{\"error\": \"AccessDenied\"}",
        "<?xml version=\"1.0\"?>"}) {
    EXPECT_FALSE(ParseErrorBody(body)) << body;
  }
}

// A ListObjectsV2 answer in the shape of the API reference's example.
constexpr char kAwsListing[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>backups</Name>
  <Prefix>db/</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>1000</MaxKeys>
  <IsTruncated>false</IsTruncated>
  <Contents>
    <Key>db/2024-01-01.tar.gz</Key>
    <LastModified>2024-01-01T03:00:00.000Z</LastModified>
    <ETag>"fba9dede5f27731c9771645a39863328"</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>db/2024-01-02.tar.gz</Key>
    <Size>434235</Size>
  </Contents>
  <Contents>
    <Key>db/a &amp; b.tar.gz</Key>
    <Size>1</Size>
  </Contents>
</ListBucketResult>)";

TEST(ParseListingTest, AwsListing) {
  auto listing = ParseListing(kAwsListing);
  ASSERT_TRUE(listing);
  EXPECT_THAT(listing->keys,
              ElementsAre("db/2024-01-01.tar.gz", "db/2024-01-02.tar.gz",
                          "db/a & b.tar.gz"));
  EXPECT_FALSE(listing->is_truncated);
}

TEST(ParseListingTest, TruncatedFirstPage) {
  auto listing = ParseListing(
      "<ListBucketResult><Name>b</Name><KeyCount>1</KeyCount>"
      "<IsTruncated>true</IsTruncated><Contents><Key>k</Key></Contents>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
      "</NextContinuationToken></ListBucketResult>");
  ASSERT_TRUE(listing);
  EXPECT_THAT(listing->keys, ElementsAre("k"));
  EXPECT_TRUE(listing->is_truncated);
}

TEST(ParseListingTest, EmptyBucketFromSwiftAndCeph) {
  // Swift's s3api and radosgw write an empty listing like this.
  for (const char* body :
       {"<?xml version='1.0' encoding='UTF-8'?>\n<ListBucketResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>backups</Name>"
        "<Prefix/><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
        "<KeyCount>0</KeyCount></ListBucketResult>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns="
        "\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>backups</Name>"
        "<Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
        "<IsTruncated>false</IsTruncated></ListBucketResult>"}) {
    auto listing = ParseListing(body);
    ASSERT_TRUE(listing) << body;
    EXPECT_THAT(listing->keys, IsEmpty());
    EXPECT_FALSE(listing->is_truncated);
  }
}

TEST(ParseListingTest, OtherDocumentsAreNotListings) {
  for (const char* body :
       {"", "garbage", kSwiftNoSuchBucket, "<ListBucketResult>",
        "<html><title>Welcome to nginx!</title></html>",
        "<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>"}) {
    EXPECT_FALSE(ParseListing(body)) << body;
  }
}

// The parsers read what a remote peer sent; they are fuzzed, and these
// cases pin the shapes fuzzers find first: truncations, binary noise,
// deep nesting, entity tricks.
TEST(ParseGarbageTest, EveryPrefixOfRealDocumentsIsHandled) {
  for (std::string_view doc :
       {std::string_view(kAwsListing), std::string_view(kAwsWrongRegion),
        std::string_view(kCephInvalidAccessKeyId)}) {
    for (std::size_t n = 0; n <= doc.size(); ++n) {
      ParseErrorBody(doc.substr(0, n));
      ParseListing(doc.substr(0, n));
    }
  }
}

TEST(ParseGarbageTest, RandomBytesAndMutationsNeverThrow) {
  std::mt19937 random(20240101);
  std::uniform_int_distribution<int> byte(0, 255);
  const std::string seed = kAwsListing;
  for (int i = 0; i < 2000; ++i) {
    std::string noise(static_cast<std::size_t>(byte(random)), '\0');
    for (char& c : noise) c = static_cast<char>(byte(random));
    EXPECT_NO_THROW(ParseErrorBody(noise));
    EXPECT_NO_THROW(ParseListing(noise));

    std::string mutated = seed;
    for (int flips = 0; flips < 8; ++flips) {
      mutated[static_cast<std::size_t>(random()) % mutated.size()] =
          static_cast<char>(byte(random));
    }
    EXPECT_NO_THROW(ParseListing(mutated));
    EXPECT_NO_THROW(ParseErrorBody(mutated));
  }
}

TEST(ParseGarbageTest, DeepNestingAndEntities) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  EXPECT_FALSE(ParseErrorBody(deep));
  EXPECT_FALSE(ParseListing("<ListBucketResult>" + deep));

  const std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
      "<Error><Code>&lol2;</Code><Message>&lol2;</Message></Error>";
  auto error = ParseErrorBody(laughs);
  // Custom entities are never expanded; whatever comes back is small.
  if (error) {
    EXPECT_LE(error->message.size(), 64u);
    EXPECT_LE(error->code.size(), kMaxErrorCodeBytes);
  }
  EXPECT_NO_THROW(ParseErrorBody(std::string("<Error>\0<Code>x</Code>", 22)));
}

}  // namespace
}  // namespace bgate::drivers::s3::detail
