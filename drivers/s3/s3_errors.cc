#include "s3_errors.h"

#include <array>

namespace bgate::drivers::s3::detail {
namespace {

struct CodeReason {
  std::string_view code;
  Reason reason;
};

constexpr std::array<CodeReason, 9> kByCode = {{
    // The credentials themselves are wrong or stale: the next setup reads
    // them again.
    {"SignatureDoesNotMatch", Reason::kAuth},
    {"InvalidAccessKeyId", Reason::kAuth},
    {"InvalidToken", Reason::kAuth},
    {"ExpiredToken", Reason::kAuth},
    {"AuthorizationHeaderMalformed", Reason::kAuth},
    // The credentials are fine but lack a grant.
    {"AccessDenied", Reason::kPermission},
    {"AllAccessDisabled", Reason::kPermission},
    {"AccountProblem", Reason::kPermission},
    {"NoSuchBucket", Reason::kNotFound},
}};

}  // namespace

Reason ReasonForS3Error(int status, std::string_view code) {
  for (const CodeReason& entry : kByCode) {
    if (entry.code == code) return entry.reason;
  }
  if (!code.empty()) return Reason::kError;
  switch (status) {
    case 401:
      return Reason::kAuth;
    case 403:
      return Reason::kPermission;
    case 404:
      return Reason::kNotFound;
    default:
      return Reason::kError;
  }
}

}  // namespace bgate::drivers::s3::detail
