#include "shared_key.h"

#include <gtest/gtest.h>

#include <string>

#include "bgate/drivers/http/crypto.h"

namespace bgate::drivers::azure_blob::detail {
namespace {

// Azure's published development-storage key (Azurite's devstoreaccount1).
constexpr char kDevKeyBase64[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==";
constexpr char kDate[] = "Mon, 02 Jan 2023 03:04:05 GMT";

std::string DevKey() { return *http::Base64Decode(kDevKeyBase64); }

http::Request AzuriteListRequest() {
  return {"GET",
          "http://127.0.0.1:10000/devstoreaccount1/backups"
          "?restype=container&comp=list&prefix=db%2F&maxresults=1000",
          {{"x-ms-date", kDate}, {"x-ms-version", "2021-08-06"}},
          ""};
}

http::Request AzuritePutRequest() {
  return {"PUT",
          "http://127.0.0.1:10000/devstoreaccount1/backups/db/"
          ".backup-gate-sentinel-pod-1",
          {{"x-ms-blob-type", "BlockBlob"},
           {"Content-Type", "application/octet-stream"},
           {"x-ms-date", kDate},
           {"x-ms-version", "2021-08-06"}},
          "hello"};
}

// The documented layout written out by hand: the verb, eleven standard
// headers with Content-Length in third place, x-ms- headers, resource.
TEST(SharedKeyTest, StringToSignFollowsTheDocumentedLayout) {
  const std::string expected =
      "GET\n"
      "\n"  // Content-Encoding
      "\n"  // Content-Language
      "\n"  // Content-Length: empty for an empty body
      "\n"  // Content-MD5
      "\n"  // Content-Type
      "\n"  // Date
      "\n"  // If-Modified-Since
      "\n"  // If-Match
      "\n"  // If-None-Match
      "\n"  // If-Unmodified-Since
      "\n"  // Range
      "x-ms-date:Mon, 02 Jan 2023 03:04:05 GMT\n"
      "x-ms-version:2021-08-06\n"
      "/devstoreaccount1/devstoreaccount1/backups\n"
      "comp:list\n"
      "maxresults:1000\n"
      "prefix:db/\n"
      "restype:container";
  EXPECT_EQ(StringToSign(AzuriteListRequest(), "devstoreaccount1"), expected);
}

TEST(SharedKeyTest, StringToSignCarriesBodyLengthAndStandardHeaders) {
  http::Request request = AzuritePutRequest();
  request.headers.emplace_back("Content-MD5", "XUFAKrxLKna5cZ2REBfFkg==");
  request.headers.emplace_back("If-Match", "\"0x1\"");
  request.headers.emplace_back("range", "bytes=0-4");
  const std::string expected =
      "PUT\n\n\n5\nXUFAKrxLKna5cZ2REBfFkg==\napplication/octet-stream\n\n\n"
      "\"0x1\"\n\n\nbytes=0-4\n"
      "x-ms-blob-type:BlockBlob\n"
      "x-ms-date:Mon, 02 Jan 2023 03:04:05 GMT\n"
      "x-ms-version:2021-08-06\n"
      "/devstoreaccount1/devstoreaccount1/backups/db/"
      ".backup-gate-sentinel-pod-1";
  EXPECT_EQ(StringToSign(request, "devstoreaccount1"), expected);
}

// Both signatures were sent to Azurite 3.37 with these exact headers and
// accepted (200 and 201); Azurite does not check the clock skew, so an old
// date still verifies the arithmetic.
TEST(SharedKeyTest, SignaturesAcceptedByAzurite) {
  http::Request list = AzuriteListRequest();
  SignRequest(list, "devstoreaccount1", DevKey());
  ASSERT_EQ(list.headers.back().first, "Authorization");
  EXPECT_EQ(list.headers.back().second,
            "SharedKey devstoreaccount1:"
            "1evrIyvWLAAzvTAmHaG4d3HDRdzlke2hFo6ZU3QAuq8=");

  http::Request put = AzuritePutRequest();
  SignRequest(put, "devstoreaccount1", DevKey());
  EXPECT_EQ(put.headers.back().second,
            "SharedKey devstoreaccount1:"
            "PP8GQWN+gt4lMjzcAJ7dTCh/zMWYfVdbjWNS0732Fuc=");
}

// From the Shared Key unit test of Microsoft's Node.js SDK (2011): a request
// for "container" with restype=container, an empty Content-Type,
// x-ms-version 2011-08-18 and the development key gives Y5R86...=. That
// test built the resource from a path without its leading '/', so the
// account and container run together; a relative URL reproduces it.
TEST(SharedKeyTest, PublishedNodeSdkExample) {
  http::Request request{"GET",
                        "container?restype=container",
                        {{"Content-Type", ""},
                         {"x-ms-version", "2011-08-18"},
                         {"x-ms-date", "Fri, 23 Sep 2011 01:37:34 GMT"}},
                        ""};
  EXPECT_EQ(Signature(DevKey(), StringToSign(request, "devstoreaccount1")),
            "Y5R86+6XE5MH602SIyjeTwlJuQjbawv20PT4kb/F/04=");
}

TEST(SharedKeyTest, SignatureIsBase64OfHmacSha256) {
  EXPECT_EQ(Signature("key", "text"),
            http::Base64Encode(http::HmacSha256("key", "text")));
  EXPECT_NE(Signature("key", "text"), Signature("key2", "text"));
}

TEST(SharedKeyTest, CanonicalizedHeadersSortLowerAndFold) {
  HeaderList headers = {
      {"X-MS-Version", "2021-08-06"},
      {"Content-Type", "text/plain"},
      {"x-ms-meta-b", "  two   words\t here "},
      {"x-ms-date", kDate},
      {"x-ms-meta-a", "1"},
      {"X-Ms-Meta-A", "2"},
      {"x-msnot", "skipped"},
  };
  EXPECT_EQ(CanonicalizedHeaders(headers),
            "x-ms-date:Mon, 02 Jan 2023 03:04:05 GMT\n"
            "x-ms-meta-a:1,2\n"
            "x-ms-meta-b:two words here\n"
            "x-ms-version:2021-08-06\n");
  EXPECT_EQ(CanonicalizedHeaders({}), "");
}

// The examples of the Azure Storage REST reference.
TEST(SharedKeyTest, CanonicalizedResourceDocumentedExamples) {
  EXPECT_EQ(CanonicalizedResource(
                "myaccount",
                "https://myaccount.blob.core.windows.net/mycontainer"
                "?restype=container&comp=metadata"),
            "/myaccount/mycontainer\ncomp:metadata\nrestype:container");
  EXPECT_EQ(CanonicalizedResource(
                "myaccount",
                "https://myaccount.blob.core.windows.net/mycontainer"
                "?restype=container&comp=list&include=snapshots"
                "&include=metadata&include=uncommittedblobs"),
            "/myaccount/mycontainer\ncomp:list\n"
            "include:metadata,snapshots,uncommittedblobs\n"
            "restype:container");
}

TEST(SharedKeyTest, CanonicalizedResourceKeepsPathEncodingDecodesQuery) {
  EXPECT_EQ(CanonicalizedResource(
                "acct",
                "https://acct.blob.core.windows.net/c/a%20b/c%2Bd"
                "?Prefix=x%2Fy%20z&COMP=list&empty=&flag#frag"),
            "/acct/c/a%20b/c%2Bd\ncomp:list\nempty:\nflag:\nprefix:x/y z");
  // Root path and a path-style endpoint, where the account is doubled.
  EXPECT_EQ(CanonicalizedResource("acct", "https://acct.blob.core.windows.net"),
            "/acct/");
  EXPECT_EQ(CanonicalizedResource("devstoreaccount1",
                                  "http://127.0.0.1:10000/devstoreaccount1/c"),
            "/devstoreaccount1/devstoreaccount1/c");
}

TEST(SharedKeyTest, PercentDecodeLeavesMalformedEscapes) {
  EXPECT_EQ(PercentDecode("a%2Fb%2fc"), "a/b/c");
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
  EXPECT_EQ(PercentDecode("%41%"), "A%");
}

TEST(SharedKeyTest, SplitUrl) {
  UrlParts parts = SplitUrl("https://h:443/p/q?x=1&y=2#f");
  EXPECT_EQ(parts.path, "/p/q");
  EXPECT_EQ(parts.query, "x=1&y=2");
  parts = SplitUrl("http://h?x");
  EXPECT_EQ(parts.path, "/");
  EXPECT_EQ(parts.query, "x");
}

TEST(SharedKeyTest, SignRequestAppendsAuthorizationOverTheRequest) {
  http::Request request = AzuriteListRequest();
  const std::string expected =
      Signature(DevKey(), StringToSign(request, "devstoreaccount1"));
  SignRequest(request, "devstoreaccount1", DevKey());
  ASSERT_EQ(request.headers.size(), 3u);
  EXPECT_EQ(request.headers[2].second,
            "SharedKey devstoreaccount1:" + expected);
  // A changed header changes the signature.
  http::Request other = AzuriteListRequest();
  other.headers[0].second = "Mon, 02 Jan 2023 03:04:06 GMT";
  SignRequest(other, "devstoreaccount1", DevKey());
  EXPECT_NE(other.headers[2].second, request.headers[2].second);
}

}  // namespace
}  // namespace bgate::drivers::azure_blob::detail
