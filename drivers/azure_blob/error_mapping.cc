#include "error_mapping.h"

#include <array>

#include "blob_xml.h"

namespace bgate::drivers::azure_blob::detail {
namespace {

constexpr std::size_t kMaxErrorCodeBytes = 64;

struct CodeReason {
  std::string_view code;
  Reason reason;
};

constexpr std::array<CodeReason, 15> kCodeReasons = {{
    // The credential itself is wrong, expired or malformed: the next setup
    // reads the key or SAS file again, which picks up a rotated Secret.
    {"AuthenticationFailed", Reason::kAuth},
    {"InvalidAuthenticationInfo", Reason::kAuth},
    {"NoAuthenticationInformation", Reason::kAuth},
    // Real Azure answers a wrong Shared Key with AuthenticationFailed, but
    // Azurite answers it with 403 AuthorizationFailure, so on the emulator
    // this code is what a wrong key looks like. A valid identity that is
    // refused gets one of the permission codes below instead, so reading
    // it as auth does not hide a missing grant.
    {"AuthorizationFailure", Reason::kAuth},
    // The identity is known but may not do this.
    {"AuthorizationPermissionMismatch", Reason::kPermission},
    {"AuthorizationResourceTypeMismatch", Reason::kPermission},
    {"AuthorizationServiceMismatch", Reason::kPermission},
    {"AuthorizationProtocolMismatch", Reason::kPermission},
    {"AuthorizationSourceIPMismatch", Reason::kPermission},
    {"InsufficientAccountPermissions", Reason::kPermission},
    {"AccountIsDisabled", Reason::kPermission},
    {"ContainerNotFound", Reason::kNotFound},
    {"ResourceNotFound", Reason::kNotFound},
    {"BlobNotFound", Reason::kNotFound},
    {"OperationTimedOut", Reason::kTimeout},
}};

}  // namespace

bool IsPlausibleErrorCode(std::string_view code) {
  if (code.empty() || code.size() > kMaxErrorCodeBytes) return false;
  for (char c : code) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

std::string ErrorCode(const http::Response& response) {
  if (auto header = response.Header("x-ms-error-code");
      header && IsPlausibleErrorCode(*header)) {
    return *header;
  }
  std::string code = ParseErrorCode(response.body);
  return IsPlausibleErrorCode(code) ? code : std::string();
}

Reason ReasonForError(int status, std::string_view code) {
  for (const auto& entry : kCodeReasons) {
    if (entry.code == code) return entry.reason;
  }
  // Without a known code, fall back on what the status alone says.
  switch (status) {
    case 401: return Reason::kAuth;
    case 403: return Reason::kPermission;
    case 404: return Reason::kNotFound;
    default: return Reason::kError;
  }
}

}  // namespace bgate::drivers::azure_blob::detail
