#include "sigv4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "bgate/drivers/http/crypto.h"

namespace bgate::drivers::s3::detail {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kEmptyHash[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The credentials of AWS's Signature Version 4 test suite (get-vanilla and
// friends) and of the IAM signing example.
const Credentials kSuiteCredentials{
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
// The credentials of the S3 examples in "Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk". Note the
// '/' where the suite's secret has '+'.
const Credentials kS3Credentials{
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr char kS3Host[] = "examplebucket.s3.amazonaws.com";
constexpr char kS3Date[] = "20130524T000000Z";
const Scope kS3Scope{"20130524", "us-east-1", "s3"};

std::string Hex256(std::string_view text) {
  return http::Hex(http::Sha256(text));
}

std::string SignatureOf(const std::string& authorization) {
  const auto at = authorization.rfind("Signature=");
  return at == std::string::npos ? "" : authorization.substr(at + 10);
}

std::chrono::system_clock::time_point At(std::int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::seconds(unix_seconds));
}

// 2013-05-24T00:00:00Z, the moment of the S3 examples.
const auto kS3Time = At(1369353600);

// --------------------------------------------------- published test vectors

TEST(SigV4Test, SigningKeyMatchesTheDocumentedDerivation) {
  const Scope scope{"20150830", "us-east-1", "iam"};
  EXPECT_EQ(http::Hex(SigningKey(kSuiteCredentials.secret_access_key, scope)),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(SigV4Test, GetVanillaFromTheTestSuite) {
  CanonicalInput input;
  input.method = "GET";
  input.encoded_path = "/";
  input.headers = {{"Host", "example.amazonaws.com"},
                   {"X-Amz-Date", "20150830T123600Z"}};
  input.payload_hash = kEmptyHash;
  const Scope scope{"20150830", "us-east-1", "service"};

  const std::string canonical = CanonicalRequest(input);
  EXPECT_EQ(canonical,
            "GET\n/\n\nhost:example.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
                std::string(kEmptyHash));
  EXPECT_EQ(StringToSign("20150830T123600Z", scope, canonical),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n"
            "20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(
      Authorization(input, kSuiteCredentials, scope, "20150830T123600Z"),
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
      "aws4_request, SignedHeaders=host;x-amz-date, "
      "Signature="
      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, GetVanillaQueryOrderKeyCaseFromTheTestSuite) {
  CanonicalInput input;
  input.method = "GET";
  input.encoded_path = "/";
  input.query = {{"Param2", "value2"}, {"Param1", "value1"}};
  input.headers = {{"Host", "example.amazonaws.com"},
                   {"X-Amz-Date", "20150830T123600Z"}};
  input.payload_hash = kEmptyHash;
  const Scope scope{"20150830", "us-east-1", "service"};
  EXPECT_EQ(SignatureOf(Authorization(input, kSuiteCredentials, scope,
                                      "20150830T123600Z")),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Test, IamListUsersExample) {
  CanonicalInput input;
  input.method = "GET";
  input.encoded_path = "/";
  input.query = {{"Action", "ListUsers"}, {"Version", "2010-05-08"}};
  input.headers = {
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      {"Host", "iam.amazonaws.com"},
      {"X-Amz-Date", "20150830T123600Z"}};
  input.payload_hash = kEmptyHash;
  const Scope scope{"20150830", "us-east-1", "iam"};
  EXPECT_EQ(Hex256(CanonicalRequest(input)),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(SignatureOf(Authorization(input, kSuiteCredentials, scope,
                                      "20150830T123600Z")),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

// The four S3 examples, through the pure steps: the canonical request hash
// is the last line of the published StringToSign, so a failure says which
// half is wrong.
struct S3Example {
  const char* name;
  CanonicalInput input;
  const char* canonical_hash;
  const char* signature;
};

class S3ExampleTest : public ::testing::TestWithParam<S3Example> {};

TEST_P(S3ExampleTest, ReproducesThePublishedSignature) {
  const S3Example& example = GetParam();
  EXPECT_EQ(Hex256(CanonicalRequest(example.input)), example.canonical_hash);
  EXPECT_EQ(SignatureOf(Authorization(example.input, kS3Credentials, kS3Scope,
                                      kS3Date)),
            example.signature);
}

INSTANTIATE_TEST_SUITE_P(
    PublishedExamples, S3ExampleTest,
    ::testing::Values(
        S3Example{
            "GetObject",
            {"GET",
             "/test.txt",
             {},
             {{"Host", kS3Host},
              {"Range", "bytes=0-9"},
              {"x-amz-content-sha256", kEmptyHash},
              {"x-amz-date", kS3Date}},
             kEmptyHash},
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
        S3Example{
            "PutObject",
            {"PUT",
             "/test%24file.text",
             {},
             {{"Host", kS3Host},
              {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
              {"x-amz-date", kS3Date},
              {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
              {"x-amz-content-sha256",
               "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b07"
               "2"}},
             "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b07"
             "2"},
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
        S3Example{
            "GetBucketLifecycle",
            {"GET",
             "/",
             {{"lifecycle", ""}},
             {{"Host", kS3Host},
              {"x-amz-content-sha256", kEmptyHash},
              {"x-amz-date", kS3Date}},
             kEmptyHash},
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
        S3Example{
            "ListObjects",
            {"GET",
             "/",
             // Given out of order: the canonical form sorts them.
             {{"prefix", "J"}, {"max-keys", "2"}},
             {{"Host", kS3Host},
              {"x-amz-content-sha256", kEmptyHash},
              {"x-amz-date", kS3Date}},
             kEmptyHash},
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f"
            "7"}),
    [](const ::testing::TestParamInfo<S3Example>& param) {
      return std::string(param.param.name);
    });

TEST(SigV4Test, GetObjectCanonicalRequestIsThePublishedText) {
  CanonicalInput input{"GET",
                       "/test.txt",
                       {},
                       {{"Range", "bytes=0-9"},
                        {"Host", kS3Host},
                        {"x-amz-date", kS3Date},
                        {"x-amz-content-sha256", kEmptyHash}},
                       kEmptyHash};
  EXPECT_EQ(CanonicalRequest(input),
            "GET\n/test.txt\n\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "range:bytes=0-9\n"
            "x-amz-content-sha256:" +
                std::string(kEmptyHash) +
                "\n"
                "x-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                std::string(kEmptyHash));
}

// ------------------------------------------- Sign(): the whole request path

TEST(SignTest, GetObjectExampleEndToEnd) {
  UnsignedRequest request{
      "GET", "https", kS3Host, "/test.txt", {}, {{"Range", "bytes=0-9"}}, ""};
  const SignedRequest signed_request =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  EXPECT_EQ(signed_request.url,
            "https://examplebucket.s3.amazonaws.com/test.txt");
  EXPECT_THAT(signed_request.headers, Contains(Pair("x-amz-date", kS3Date)));
  EXPECT_THAT(signed_request.headers,
              Contains(Pair("x-amz-content-sha256", kEmptyHash)));
  EXPECT_THAT(signed_request.headers, Contains(Pair("host", kS3Host)));
  EXPECT_THAT(
      signed_request.headers,
      Contains(Pair(
          "authorization",
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
          "us-east-1/s3/aws4_request, "
          "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
          "Signature="
          "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")));
}

TEST(SignTest, PutObjectExampleSignsTheRealPayloadHash) {
  UnsignedRequest request{"PUT",
                          "https",
                          kS3Host,
                          EncodePath("/test$file.text"),
                          {},
                          {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                           {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                          "Welcome to Amazon S3."};
  const SignedRequest signed_request =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  EXPECT_EQ(signed_request.url,
            "https://examplebucket.s3.amazonaws.com/test%24file.text");
  EXPECT_EQ(signed_request.body, "Welcome to Amazon S3.");
  EXPECT_THAT(
      signed_request.headers,
      Contains(Pair(
          "x-amz-content-sha256",
          "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")));
  EXPECT_THAT(
      signed_request.headers,
      Contains(Pair(
          "authorization",
          HasSubstr("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                    "x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f"
                    "14c238d841ea1380cd77a1b5971af0ece108bd"))));
}

TEST(SignTest, ListObjectsExampleSendsTheSignedQueryString) {
  UnsignedRequest request{
      "GET", "https", kS3Host, "/", {{"prefix", "J"}, {"max-keys", "2"}},
      {},    ""};
  const SignedRequest signed_request =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  EXPECT_EQ(signed_request.url,
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J");
  EXPECT_THAT(signed_request.headers,
              Contains(Pair("authorization",
                            HasSubstr("Signature=34b48302e7b5fa45bde8084f4b786"
                                      "8a86f0a534bc59db6670ed5711ef69dc6f7"))));
}

TEST(SignTest, LifecycleExampleKeepsTheEqualsSignOfAnEmptyValue) {
  UnsignedRequest request{"GET", "https", kS3Host, "/", {{"lifecycle", ""}},
                          {},    ""};
  const SignedRequest signed_request =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  EXPECT_EQ(signed_request.url,
            "https://examplebucket.s3.amazonaws.com/?lifecycle=");
  EXPECT_THAT(signed_request.headers,
              Contains(Pair("authorization",
                            HasSubstr("Signature=fea454ca298b7da1c68078a5d1bdb"
                                      "fbbe0d65c699e0f91ac7a200a0136783543"))));
}

TEST(SignTest, SessionTokenIsSentAndSigned) {
  Credentials temporary = kS3Credentials;
  temporary.session_token = "FwoGZXIvYXdzEXAMPLETOKEN";
  UnsignedRequest request{"GET", "https", kS3Host, "/test.txt", {}, {}, ""};
  const SignedRequest with_token =
      Sign(request, temporary, "us-east-1", kS3Time);
  EXPECT_THAT(with_token.headers,
              Contains(Pair("x-amz-security-token", temporary.session_token)));
  EXPECT_THAT(with_token.headers,
              Contains(Pair("authorization",
                            HasSubstr("SignedHeaders=host;x-amz-content-sha256;"
                                      "x-amz-date;x-amz-security-token,"))));
  const SignedRequest without =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  for (const auto& [name, value] : without.headers) {
    EXPECT_NE(name, "x-amz-security-token");
  }
}

TEST(SignTest, NonDefaultPortIsPartOfTheSignedHost) {
  UnsignedRequest request{
      "GET", "http", "127.0.0.1:8080", "/backups", {{"list-type", "2"}},
      {},    ""};
  const SignedRequest on_port =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  EXPECT_EQ(on_port.url, "http://127.0.0.1:8080/backups?list-type=2");
  EXPECT_THAT(on_port.headers, Contains(Pair("host", "127.0.0.1:8080")));

  request.host = "127.0.0.1";
  const SignedRequest default_port =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  auto authorization = [](const SignedRequest& r) {
    for (const auto& [name, value] : r.headers) {
      if (name == "authorization") return value;
    }
    return std::string();
  };
  EXPECT_NE(SignatureOf(authorization(on_port)),
            SignatureOf(authorization(default_port)));
}

TEST(SignTest, NeverUsesStreamingOrUnsignedPayloads) {
  UnsignedRequest request{"PUT", "https", kS3Host, "/k", {}, {}, "payload"};
  const SignedRequest signed_request =
      Sign(request, kS3Credentials, "us-east-1", kS3Time);
  EXPECT_THAT(signed_request.headers,
              Contains(Pair("x-amz-content-sha256", Hex256("payload"))));
}

TEST(SignTest, RegionAndDateGoIntoTheScope) {
  UnsignedRequest request{"GET", "https", kS3Host, "/", {}, {}, ""};
  // 2015-08-30T12:36:00Z
  const SignedRequest signed_request =
      Sign(request, kS3Credentials, "eu-west-1", At(1440938160));
  EXPECT_THAT(signed_request.headers,
              Contains(Pair("x-amz-date", "20150830T123600Z")));
  EXPECT_THAT(
      signed_request.headers,
      Contains(Pair("authorization",
                    HasSubstr("Credential=AKIAIOSFODNN7EXAMPLE/20150830/"
                              "eu-west-1/s3/aws4_request,"))));
}

// ------------------------------------------------------- canonical pieces

TEST(CanonicalTest, DatesAreUtc) {
  EXPECT_EQ(AmzDate(At(0)), "19700101T000000Z");
  EXPECT_EQ(AmzDate(At(1440938160)), "20150830T123600Z");
  EXPECT_EQ(DateStamp(At(1709164800)), "20240229");
}

TEST(CanonicalTest, PathSegmentsAreEncodedOnceWithSlashesKept) {
  EXPECT_EQ(EncodePath("/test$file.text"), "/test%24file.text");
  EXPECT_EQ(EncodePath("/db/2024-01-01 full.tar.gz"),
            "/db/2024-01-01%20full.tar.gz");
  EXPECT_EQ(EncodePath("/a+b=c&d"), "/a%2Bb%3Dc%26d");
  EXPECT_EQ(EncodePath("/unreserved-._~AZaz09"), "/unreserved-._~AZaz09");
  // Upper-case hex digits, UTF-8 bytes one by one.
  EXPECT_EQ(EncodePath("/\xC3\xA9t\xC3\xA9"), "/%C3%A9t%C3%A9");
  EXPECT_EQ(EncodePath("/!'()*"), "/%21%27%28%29%2A");
  // Already-encoded text is encoded again: the input is raw.
  EXPECT_EQ(EncodePath("/a%20b"), "/a%2520b");
}

TEST(CanonicalTest, QueryIsEncodedAndSortedByName) {
  EXPECT_EQ(CanonicalQueryString({}), "");
  EXPECT_EQ(CanonicalQueryString({{"prefix", "db/2024 x+y"},
                                  {"max-keys", "1000"},
                                  {"list-type", "2"}}),
            "list-type=2&max-keys=1000&prefix=db%2F2024%20x%2By");
  EXPECT_EQ(CanonicalQueryString({{"prefix", ""}}), "prefix=");
  // Sorted by name, then by value; upper case sorts before lower case.
  EXPECT_EQ(
      CanonicalQueryString({{"b", "2"}, {"a", "y"}, {"a", "x"}, {"B", "1"}}),
      "B=1&a=x&a=y&b=2");
  EXPECT_EQ(CanonicalQueryString({{"k y", "v=w"}}), "k%20y=v%3Dw");
}

TEST(CanonicalTest, HeadersAreLowerCasedTrimmedSortedAndJoined) {
  const HeaderList headers = {{"X-Amz-Meta-B", "  two   words  "},
                              {"Host", "h"},
                              {"x-amz-meta-a", "1"},
                              {"X-AMZ-META-A", "2"}};
  EXPECT_EQ(CanonicalHeaders(headers),
            "host:h\nx-amz-meta-a:1,2\nx-amz-meta-b:two words\n");
  EXPECT_EQ(SignedHeaders(headers), "host;x-amz-meta-a;x-amz-meta-b");
}

TEST(CanonicalTest, EveryInputChangesTheSignature) {
  CanonicalInput base{"GET", "/k", {{"a", "1"}}, {{"host", "h"}}, kEmptyHash};
  auto sig = [](const CanonicalInput& input, const Credentials& credentials,
                const Scope& scope) {
    return SignatureOf(Authorization(input, credentials, scope, kS3Date));
  };
  const std::string reference = sig(base, kS3Credentials, kS3Scope);
  CanonicalInput changed = base;
  changed.method = "PUT";
  EXPECT_NE(sig(changed, kS3Credentials, kS3Scope), reference);
  changed = base;
  changed.encoded_path = "/l";
  EXPECT_NE(sig(changed, kS3Credentials, kS3Scope), reference);
  changed = base;
  changed.query = {{"a", "2"}};
  EXPECT_NE(sig(changed, kS3Credentials, kS3Scope), reference);
  changed = base;
  changed.headers = {{"host", "g"}};
  EXPECT_NE(sig(changed, kS3Credentials, kS3Scope), reference);
  changed = base;
  changed.payload_hash = Hex256("x");
  EXPECT_NE(sig(changed, kS3Credentials, kS3Scope), reference);
  EXPECT_NE(sig(base, kSuiteCredentials, kS3Scope), reference);
  EXPECT_NE(sig(base, kS3Credentials, Scope{"20130524", "eu-west-1", "s3"}),
            reference);
}

}  // namespace
}  // namespace bgate::drivers::s3::detail
