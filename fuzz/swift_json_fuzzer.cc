// Any bytes as a Swift container listing or error body: read or refused,
// never a crash or an exception.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "swift_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  namespace swift = bgate::drivers::swift::detail;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const swift::ListingParse parsed = swift::ParseListing(body, ".backup-gate-sentinel-");
  if (parsed.listing) {
    if (parsed.listing->sentinels > parsed.listing->entries) __builtin_trap();
  } else if (parsed.error.empty()) {
    __builtin_trap();
  }
  // A message goes into a one-line detail: short and printable ASCII.
  const std::string message = swift::ServerMessage(body);
  if (message.size() > swift::kMaxServerMessageBytes) __builtin_trap();
  for (const unsigned char c : message) {
    if (c < 0x20 || c > 0x7e) __builtin_trap();
  }
  return 0;
}
