#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "bgate/drivers/driver.h"

// Keystone v3 password authentication: the request it takes and the token
// response it gives, as pure functions over bytes that never throw.
namespace bgate::drivers::swift::detail {

using SystemTime = std::chrono::system_clock::time_point;

// Reads an RFC 3339 time as Keystone writes it ("2015-11-06T15:32:17.893769Z");
// numeric offsets and times without fraction or zone (read as UTC) are
// accepted too.
std::optional<SystemTime> ParseTimestamp(std::string_view text);

// POST target for a token. The Identity reference gives auth_url both as the
// service root (http://host:5000) and as the versioned base
// (http://host:5000/v3); both lead to {base}/v3/auth/tokens.
std::string TokensUrl(std::string_view auth_url);

struct PasswordCredentials {
  std::string username;
  std::string password;
  std::string user_domain_name;
  std::string project_name;
  std::string project_domain_name;
};

// The JSON body of a project-scoped password authentication.
std::string TokenRequestBody(const PasswordCredentials& credentials);

// Which object-store endpoint of the catalog to use.
struct EndpointChoice {
  std::string region;  // empty: the first endpoint with the interface
  std::string interface = "public";
};

struct KeystoneToken {
  std::string storage_url;  // without a trailing slash
  SystemTime expires_at;
  std::optional<SystemTime> issued_at;
};

struct TokenParse {
  std::optional<KeystoneToken> token;
  // When there is no token: kMisconfigured when the catalog lacks what the
  // config asks for, kError when the body is not a token at all.
  Reason reason = Reason::kError;
  std::string error;
};

// Reads the body of a POST /v3/auth/tokens answer and picks the object-store
// endpoint. The token itself travels in the X-Subject-Token header.
TokenParse ParseTokenResponse(std::string_view body,
                              const EndpointChoice& choice);

// How long the token stays valid from `now`. Measured as issued_at to
// expires_at when Keystone says both, so a skewed local clock cannot make a
// fresh token look expired (or an old one fresh); else expires_at - now.
// Zero or negative when it has expired.
std::chrono::nanoseconds TokenLifetime(const KeystoneToken& token,
                                       SystemTime now);

}  // namespace bgate::drivers::swift::detail
