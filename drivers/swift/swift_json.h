#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

// Pure functions over bytes received from Swift. They never throw: garbage
// in gives an error string or an empty message, never an exception.
namespace bgate::drivers::swift::detail {

// Deeper nesting than any Swift or Keystone answer needs; refusing it keeps
// hostile bodies from costing more than a linear scan.
inline constexpr std::size_t kMaxJsonDepth = 32;
// Room for a server's own words in a one-line detail.
inline constexpr std::size_t kMaxServerMessageBytes = 120;

// Parses `body` as JSON; a discarded value when it is not JSON or nests
// deeper than kMaxJsonDepth.
nlohmann::json ParseJson(std::string_view body);

// The string member `key` of `object`, or nullptr when `object` is not an
// object or the member is missing or not a string.
const std::string* StringMember(const nlohmann::json& object,
                                std::string_view key);

// One page of a container listing (GET ?format=json).
struct Listing {
  std::size_t entries = 0;    // everything on the page
  std::size_t sentinels = 0;  // write-probe objects, which are not backups
  std::size_t backups() const { return entries - sentinels; }
};

struct ListingParse {
  std::optional<Listing> listing;
  std::string error;  // set when there is no listing
};

// Reads a JSON container listing. Objects whose names start with
// `sentinel_prefix` are counted apart.
ListingParse ParseListing(std::string_view body,
                          std::string_view sentinel_prefix);

// A short, printable-ASCII summary of an error body: the message of a JSON
// error ({"error": {"message": ...}} as Keystone sends, or {"message": ...}),
// else the text with HTML tags dropped, as Swift sends. Empty when there is
// nothing worth showing.
std::string ServerMessage(std::string_view body);

}  // namespace bgate::drivers::swift::detail
