#include "error_mapping.h"

#include <gtest/gtest.h>

#include <string>

namespace bgate::drivers::azure_blob::detail {
namespace {

http::Response Answer(int status, std::string body,
                      std::vector<std::pair<std::string, std::string>>
                          headers = {}) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

TEST(ErrorMappingTest, CodesToReasons) {
  struct Case {
    int status;
    const char* code;
    Reason reason;
  };
  const Case cases[] = {
      {403, "AuthenticationFailed", Reason::kAuth},
      {400, "InvalidAuthenticationInfo", Reason::kAuth},
      {401, "NoAuthenticationInformation", Reason::kAuth},
      // Azurite's answer to a wrong Shared Key.
      {403, "AuthorizationFailure", Reason::kAuth},
      {403, "AuthorizationPermissionMismatch", Reason::kPermission},
      {403, "AuthorizationResourceTypeMismatch", Reason::kPermission},
      {403, "InsufficientAccountPermissions", Reason::kPermission},
      {403, "AuthorizationSourceIPMismatch", Reason::kPermission},
      {404, "ContainerNotFound", Reason::kNotFound},
      {404, "BlobNotFound", Reason::kNotFound},
      {500, "OperationTimedOut", Reason::kTimeout},
      {500, "InternalError", Reason::kError},
      {503, "ServerBusy", Reason::kError},
      {409, "ContainerBeingDeleted", Reason::kError},
      // No code: the status decides.
      {401, "", Reason::kAuth},
      {403, "", Reason::kPermission},
      {404, "", Reason::kNotFound},
      {400, "", Reason::kError},
      {302, "", Reason::kError},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ReasonForError(c.status, c.code), c.reason)
        << c.status << " " << c.code;
  }
}

TEST(ErrorMappingTest, HeaderWinsOverBody) {
  auto response =
      Answer(404, "<Error><Code>BlobNotFound</Code></Error>",
             {{"x-ms-error-code", "ContainerNotFound"}});
  EXPECT_EQ(ErrorCode(response), "ContainerNotFound");
}

TEST(ErrorMappingTest, BodyWhenNoHeader) {
  EXPECT_EQ(ErrorCode(Answer(403,
                             "<Error><Code> AuthenticationFailed </Code>"
                             "<Message>m</Message></Error>")),
            "AuthenticationFailed");
  EXPECT_EQ(ErrorCode(Answer(502, "<html>bad gateway</html>")), "");
}

// A code goes into details verbatim, so anything that does not look like
// one (an echo of the request, markup, a long blob) is dropped.
TEST(ErrorMappingTest, ImplausibleCodesDropped) {
  EXPECT_EQ(ErrorCode(Answer(403, "", {{"x-ms-error-code", "sig=abc"}})), "");
  EXPECT_EQ(ErrorCode(Answer(403,
                             "<Error><Code>SharedKey acct:c2lnbmF0dXJl</Code>"
                             "</Error>")),
            "");
  EXPECT_EQ(ErrorCode(Answer(403, "", {{"x-ms-error-code",
                                        std::string(65, 'A')}})),
            "");
  // A bad header does not hide a good body.
  EXPECT_EQ(ErrorCode(Answer(404,
                             "<Error><Code>ContainerNotFound</Code></Error>",
                             {{"x-ms-error-code", "<b>"}})),
            "ContainerNotFound");
  EXPECT_TRUE(IsPlausibleErrorCode(std::string(64, 'A')));
  EXPECT_FALSE(IsPlausibleErrorCode(""));
}

}  // namespace
}  // namespace bgate::drivers::azure_blob::detail
