// Any bytes as an S3 answer body: read as an <Error> or a <ListBucketResult>,
// or refused, never a crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  namespace s3 = bgate::drivers::s3::detail;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (const auto error = s3::ParseErrorBody(body)) {
    // Codes are short and go to log lines as they are.
    if (error->code.size() > s3::kMaxErrorCodeBytes) __builtin_trap();
    if (error->message.find('\n') != std::string_view::npos) __builtin_trap();
  }
  s3::ParseListing(body);
  return 0;
}
