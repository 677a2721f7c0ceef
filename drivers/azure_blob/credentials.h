#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Reading the two kinds of credential out of their files' text. Pure
// functions, thread-safe; error messages never quote the text.
namespace bgate::drivers::azure_blob::detail {

// The decoded account key; nothing, with the reason in `error`, when `text`
// (surrounding white space aside) is not base64 of at least one byte.
std::optional<std::string> DecodeAccountKey(std::string_view text,
                                            std::string* error);

// A SAS token as a query string without its leading '?'; nothing, with the
// reason in `error`, when it cannot be one (empty, white space inside, a URL
// rather than a query string, or no sig= parameter).
std::optional<std::string> NormalizeSasToken(std::string_view text,
                                             std::string* error);

// The spellings of the token's signature that must never be shown: the
// sig= value as written and percent-decoded. Empty when there is none.
std::vector<std::string> SasSignatures(std::string_view token);

// `url` with the token's parameters appended to its query.
std::string AppendSasToken(std::string_view url, std::string_view token);

}  // namespace bgate::drivers::azure_blob::detail
