#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Readers for the XML the Blob service answers with. Pure functions over
// untrusted bytes: they never throw, and anything unexpected reads as
// "nothing found". Thread-safe.
namespace bgate::drivers::azure_blob::detail {

// The <Code> of an <Error> document, as the service wrote it (trimmed);
// empty when the body is not such a document.
std::string ParseErrorCode(std::string_view body) noexcept;

// The first page of a List Blobs answer.
struct BlobListing {
  std::vector<std::string> names;
  // Where the next page starts; empty on the last page.
  std::string next_marker;
};

// Nothing when the body is not an <EnumerationResults> document.
std::optional<BlobListing> ParseBlobListing(std::string_view body) noexcept;

}  // namespace bgate::drivers::azure_blob::detail
