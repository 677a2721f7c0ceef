// Any bytes as a Blob service answer body: read as an <Error> or an
// <EnumerationResults>, or refused, never a crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "blob_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  namespace blob = bgate::drivers::azure_blob::detail;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  blob::ParseErrorCode(body);
  blob::ParseBlobListing(body);
  return 0;
}
