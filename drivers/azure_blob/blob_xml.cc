#include "blob_xml.h"

#include <pugixml.hpp>

namespace bgate::drivers::azure_blob::detail {
namespace {

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  std::size_t last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

// Parses into `doc`; false for anything pugixml does not take as a whole
// document. Document type declarations are skipped, never expanded.
bool Load(pugi::xml_document& doc, std::string_view body) {
  if (body.empty()) return false;
  pugi::xml_parse_result result =
      doc.load_buffer(body.data(), body.size(), pugi::parse_default);
  return static_cast<bool>(result);
}

}  // namespace

std::string ParseErrorCode(std::string_view body) noexcept {
  try {
    pugi::xml_document doc;
    if (!Load(doc, body)) return {};
    pugi::xml_node code = doc.child("Error").child("Code");
    return std::string(Trim(code.child_value()));
  } catch (...) {
    // Only allocation can throw here; an error code is not worth dying for.
    return {};
  }
}

std::optional<BlobListing> ParseBlobListing(std::string_view body) noexcept {
  try {
    pugi::xml_document doc;
    if (!Load(doc, body)) return std::nullopt;
    pugi::xml_node root = doc.child("EnumerationResults");
    if (!root) return std::nullopt;
    BlobListing listing;
    for (pugi::xml_node blob : root.child("Blobs").children("Blob")) {
      listing.names.emplace_back(blob.child("Name").child_value());
    }
    listing.next_marker =
        std::string(Trim(root.child("NextMarker").child_value()));
    return listing;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace bgate::drivers::azure_blob::detail
