#include "credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace bgate::drivers::azure_blob::detail {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kToken[] =
    "sv=2021-08-06&ss=b&srt=co&sp=rwdl&se=2030-01-01T00:00:00Z"
    "&sig=AbC%2Bd%2FeF%3D";

TEST(CredentialsTest, AccountKeyDecodes) {
  std::string error;
  auto key = DecodeAccountKey("  aGVsbG8=\n", &error);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, "hello");
}

TEST(CredentialsTest, AccountKeyRejectsNonBase64WithoutQuotingIt) {
  for (const char* text : {"", "   ", "not base64!", "aGVsbG8", "aGV sbG8="}) {
    std::string error;
    EXPECT_FALSE(DecodeAccountKey(text, &error)) << text;
    EXPECT_EQ(error, "is not a base64-encoded account key") << text;
  }
}

TEST(CredentialsTest, SasTokenWithOrWithoutQuestionMark) {
  std::string error;
  EXPECT_EQ(NormalizeSasToken(kToken, &error), kToken);
  EXPECT_EQ(NormalizeSasToken(std::string("?") + kToken + "\n", &error),
            kToken);
}

TEST(CredentialsTest, SasTokenRejections) {
  const std::string kNotAQuery =
      "is not a SAS query string (white space or '#' inside)";
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"", "is empty"},
      {"?", "is empty"},
      {"https://acct.blob.core.windows.net/c?sv=1&sig=x",
       "holds a URL; it must hold only the SAS query string"},
      {"sv=1&sig=a b", kNotAQuery},
      {"sv=1&sig=ab#x", kNotAQuery},
      {"sv=2021-08-06&sp=r", "is not a SAS token (no sig= parameter)"},
      {"sv=1&sig=", "is not a SAS token (no sig= parameter)"},
      {"sv=1&xsig=abc", "is not a SAS token (no sig= parameter)"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(NormalizeSasToken(c.text, &error)) << c.text;
    EXPECT_EQ(error, c.message) << c.text;
    if (c.text.size() > 4) {
      EXPECT_THAT(error, Not(HasSubstr(c.text)));
    }
  }
}

TEST(CredentialsTest, SasSignaturesRawAndDecoded) {
  EXPECT_THAT(SasSignatures(kToken),
              ElementsAre("AbC%2Bd%2FeF%3D", "AbC+d/eF="));
  EXPECT_THAT(SasSignatures("SIG=plain&sv=1"), ElementsAre("plain"));
  EXPECT_THAT(SasSignatures("sv=1"), IsEmpty());
}

TEST(CredentialsTest, AppendSasToken) {
  EXPECT_EQ(AppendSasToken("https://a/c/b", "sv=1&sig=x"),
            "https://a/c/b?sv=1&sig=x");
  EXPECT_EQ(AppendSasToken("https://a/c?restype=container", "sv=1&sig=x"),
            "https://a/c?restype=container&sv=1&sig=x");
}

}  // namespace
}  // namespace bgate::drivers::azure_blob::detail
