#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bgate::drivers::http {

// Hashing and encoding primitives for request signing (OpenSSL). Pure
// functions, thread-safe.

// Raw 32-byte SHA-256 digest.
std::string Sha256(std::string_view data);
// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);
// Lower-case hexadecimal.
std::string Hex(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);
// Nothing when `text` is not valid (padded) base64.
std::optional<std::string> Base64Decode(std::string_view text);
// `n` random bytes from OpenSSL's generator.
std::string RandomBytes(std::size_t n);

}  // namespace bgate::drivers::http
