#include "s3_errors.h"

#include <gtest/gtest.h>

namespace bgate::drivers::s3::detail {
namespace {

struct Case {
  int status;
  const char* code;
  Reason reason;
};

TEST(ReasonForS3ErrorTest, ByCodeWhateverTheStatus) {
  const Case cases[] = {
      {403, "SignatureDoesNotMatch", Reason::kAuth},
      {403, "InvalidAccessKeyId", Reason::kAuth},
      {400, "InvalidToken", Reason::kAuth},
      {400, "ExpiredToken", Reason::kAuth},
      {400, "AuthorizationHeaderMalformed", Reason::kAuth},
      {403, "AccessDenied", Reason::kPermission},
      {403, "AllAccessDisabled", Reason::kPermission},
      {403, "AccountProblem", Reason::kPermission},
      {404, "NoSuchBucket", Reason::kNotFound},
      // A code decides even where the status would say otherwise.
      {400, "AccessDenied", Reason::kPermission},
      {403, "RequestTimeTooSkewed", Reason::kError},
      {404, "NoSuchKey", Reason::kError},
      {503, "SlowDown", Reason::kError},
      {503, "ServiceUnavailable", Reason::kError},
      {500, "InternalError", Reason::kError},
      {400, "InvalidArgument", Reason::kError},
      {301, "PermanentRedirect", Reason::kError},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ReasonForS3Error(c.status, c.code), c.reason)
        << c.status << " " << c.code;
  }
}

TEST(ReasonForS3ErrorTest, ByStatusWhenThereIsNoCode) {
  EXPECT_EQ(ReasonForS3Error(401, ""), Reason::kAuth);
  EXPECT_EQ(ReasonForS3Error(403, ""), Reason::kPermission);
  EXPECT_EQ(ReasonForS3Error(404, ""), Reason::kNotFound);
  EXPECT_EQ(ReasonForS3Error(400, ""), Reason::kError);
  EXPECT_EQ(ReasonForS3Error(500, ""), Reason::kError);
  EXPECT_EQ(ReasonForS3Error(503, ""), Reason::kError);
  EXPECT_EQ(ReasonForS3Error(307, ""), Reason::kError);
}

TEST(ReasonForS3ErrorTest, CodesAreCaseSensitive) {
  EXPECT_EQ(ReasonForS3Error(500, "accessdenied"), Reason::kError);
}

}  // namespace
}  // namespace bgate::drivers::s3::detail
