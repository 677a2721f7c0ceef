#include "s3_xml.h"

#include <pugixml.hpp>

#include "bgate/drivers/driver.h"

namespace bgate::drivers::s3::detail {
namespace {

// Servers write S3 documents in the S3 namespace, some with a prefix; the
// local name is what identifies an element.
std::string_view LocalName(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const std::size_t colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node Child(const pugi::xml_node& parent, std::string_view name) {
  for (pugi::xml_node child : parent.children()) {
    if (child.type() == pugi::node_element && LocalName(child) == name) {
      return child;
    }
  }
  return {};
}

std::string_view Trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// The character data of an element that holds nothing else; an element
// with markup inside is not a value.
std::string PlainText(const pugi::xml_node& node) {
  std::string text;
  for (pugi::xml_node child : node.children()) {
    if (child.type() == pugi::node_element) return {};
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
    }
  }
  return text;
}

std::string Text(const pugi::xml_node& node) {
  return std::string(Trim(PlainText(node)));
}

// The element that is the whole document, when the bytes are well-formed
// XML.
std::optional<pugi::xml_node> Root(pugi::xml_document& doc,
                                   std::string_view body,
                                   std::string_view name) {
  if (body.empty()) return std::nullopt;
  const pugi::xml_parse_result result = doc.load_buffer(
      body.data(), body.size(), pugi::parse_default, pugi::encoding_auto);
  if (result.status != pugi::status_ok) return std::nullopt;
  pugi::xml_node root = doc.document_element();
  if (!root || LocalName(root) != name) return std::nullopt;
  return root;
}

// Error codes are short identifiers; anything else (markup, prose, control
// bytes) is not one, and must not reach a log line as if it were.
bool LooksLikeCode(std::string_view text) {
  if (text.empty() || text.size() > kMaxErrorCodeBytes) return false;
  for (unsigned char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<ErrorBody> ParseErrorBody(std::string_view body) {
  try {
    pugi::xml_document doc;
    const auto root = Root(doc, body, "Error");
    if (!root) return std::nullopt;
    ErrorBody error;
    if (std::string code = Text(Child(*root, "Code")); LooksLikeCode(code)) {
      error.code = std::move(code);
    }
    const std::string message = Text(Child(*root, "Message"));
    error.message = SanitizeDetail(message, message.size());
    if (std::string region = Text(Child(*root, "Region"));
        LooksLikeCode(region)) {
      error.region = std::move(region);
    }
    return error;
  } catch (...) {
    // Only allocation can throw here; a reader of untrusted bytes gives
    // nothing rather than take the process down.
    return std::nullopt;
  }
}

std::optional<Listing> ParseListing(std::string_view body) {
  try {
    pugi::xml_document doc;
    const auto root = Root(doc, body, "ListBucketResult");
    if (!root) return std::nullopt;
    Listing listing;
    for (pugi::xml_node child : root->children()) {
      if (child.type() != pugi::node_element) continue;
      const std::string_view name = LocalName(child);
      if (name == "Contents") {
        listing.keys.push_back(PlainText(Child(child, "Key")));
      } else if (name == "IsTruncated") {
        listing.is_truncated = Text(child) == "true";
      }
    }
    return listing;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace bgate::drivers::s3::detail
