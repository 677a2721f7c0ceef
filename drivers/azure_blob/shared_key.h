#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bgate/drivers/http/http_client.h"

// Shared Key authorization for the Blob service: pure functions over a
// request, thread-safe. Follows "Authorize with Shared Key" (version
// 2009-09-19 and later) of the Azure Storage REST reference.
namespace bgate::drivers::azure_blob::detail {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The parts of an absolute URL that signing needs.
struct UrlParts {
  std::string path;   // as sent, still percent-encoded; "/" when empty
  std::string query;  // without the '?'; empty when none
};

// Splits "scheme://authority/path?query#fragment". The fragment is dropped;
// a URL without "://" gives its whole text as the path.
UrlParts SplitUrl(std::string_view url);

// Decodes %XX escapes; a malformed escape stays as it is.
std::string PercentDecode(std::string_view text);

// Every x-ms- header as "name:value\n": names lower-cased and sorted,
// values trimmed with inner runs of white space folded to one space, and
// repeated names joined with ','.
std::string CanonicalizedHeaders(const HeaderList& headers);

// "/" + account + the URL's encoded path, then one "\nname:value" line per
// query parameter: names decoded and lower-cased, sorted; values decoded,
// and the values of a repeated name sorted and joined with ','.
std::string CanonicalizedResource(std::string_view account,
                                  std::string_view url);

// The string the signature covers. Content-Length comes from the body size
// (empty when 0, as versions after 2014-02-14 require), the other standard
// headers from `request.headers` (matched case-insensitively, empty when
// absent).
std::string StringToSign(const http::Request& request,
                         std::string_view account);

// Base64 of HMAC-SHA256(key, string_to_sign); `key` is the decoded account
// key.
std::string Signature(std::string_view key, std::string_view string_to_sign);

// Adds "Authorization: SharedKey account:signature" over the request as it
// stands, so every header must already be in place.
void SignRequest(http::Request& request, std::string_view account,
                 std::string_view key);

}  // namespace bgate::drivers::azure_blob::detail
