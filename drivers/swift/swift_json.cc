#include "swift_json.h"

#include <algorithm>

namespace bgate::drivers::swift::detail {
namespace {

using nlohmann::json;

// The deepest bracket nesting outside strings. A linear scan that tolerates
// any bytes; the JSON parser judges validity afterwards.
std::size_t NestingDepth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// Keeps printable ASCII only: bodies are untrusted, and a detail must stay a
// valid one-line string wherever it is logged.
std::string Printable(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (IsSpace(c) || byte < 0x20 || byte == 0x7f) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(byte < 0x80 ? c : '?');
    if (out.size() > kMaxServerMessageBytes) {
      out.resize(kMaxServerMessageBytes - 3);
      return out + "...";
    }
  }
  return out;
}

std::string WithoutTags(std::string_view html) {
  std::string out;
  bool in_tag = false;
  for (char c : html) {
    if (c == '<') {
      in_tag = true;
      out.push_back(' ');
    } else if (c == '>' && in_tag) {
      in_tag = false;
    } else if (!in_tag) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

json ParseJson(std::string_view body) {
  if (NestingDepth(body) > kMaxJsonDepth) return json(json::value_t::discarded);
  return json::parse(body.begin(), body.end(), /*cb=*/nullptr,
                     /*allow_exceptions=*/false);
}

const std::string* StringMember(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

ListingParse ParseListing(std::string_view body,
                          std::string_view sentinel_prefix) {
  const json doc = ParseJson(body);
  if (!doc.is_array()) {
    return {std::nullopt, "the listing is not a JSON array"};
  }
  Listing listing;
  for (const json& entry : doc) {
    // Objects carry "name"; pseudo-directories (with a delimiter) "subdir".
    const std::string* name = StringMember(entry, "name");
    if (name == nullptr) name = StringMember(entry, "subdir");
    if (name == nullptr) {
      return {std::nullopt, "a listing entry has no name"};
    }
    ++listing.entries;
    if (name->starts_with(sentinel_prefix)) ++listing.sentinels;
  }
  return {listing, ""};
}

std::string ServerMessage(std::string_view body) {
  const json doc = ParseJson(body);
  if (doc.is_object()) {
    const json* error = &doc;
    if (auto it = doc.find("error"); it != doc.end() && it->is_object()) {
      error = &*it;
    }
    for (const char* key : {"message", "title"}) {
      if (const std::string* text = StringMember(*error, key)) {
        return Printable(*text);
      }
    }
  }
  return Printable(WithoutTags(body));
}

}  // namespace bgate::drivers::swift::detail
