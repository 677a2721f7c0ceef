// Any bytes as a request target: parsed or refused, never a crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "request_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using bgate::probes::detail::ParseRequestTarget;
  using bgate::probes::detail::PercentDecode;
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  if (const auto parsed = ParseRequestTarget(target)) {
    // The path is a view into the target, which must start with '/'.
    if (parsed->path.empty() || parsed->path.front() != '/') __builtin_trap();
    if (parsed->path.data() != target.data()) __builtin_trap();
  }
  for (const bool plus_is_space : {false, true}) {
    if (const auto decoded = PercentDecode(target, plus_is_space)) {
      // Decoding never lengthens the text.
      if (decoded->size() > target.size()) __builtin_trap();
    }
  }
  return 0;
}
