// Any bytes as a config file: ParseConfig either gives a config or errors,
// never a crash, and every config it accepts can be described.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bgate/drivers/registry.h"
#include "bgate/sidecar/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const bgate::drivers::DriverRegistry registry =
      bgate::drivers::BuiltinDrivers();
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const bgate::sidecar::ConfigResult result =
      bgate::sidecar::ParseConfig(yaml, registry);
  if (result.config.has_value() == !result.errors.empty()) __builtin_trap();
  if (result.config) {
    const std::string described = bgate::sidecar::DescribeConfig(*result.config);
    if (described.empty()) __builtin_trap();
  }
  return 0;
}
