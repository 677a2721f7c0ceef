// Any bytes as a config file: ParseConfig either gives a config or errors,
// never a crash, and every config it accepts can be described.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bgate/drivers/exec/exec_driver.h"
#include "bgate/drivers/posix/posix_driver.h"
#include "bgate/drivers/registry.h"
#include "bgate/sidecar/config.h"

#ifdef BGATE_OBJECT_STORES
#include "bgate/drivers/azure_blob/azure_blob_driver.h"
#include "bgate/drivers/s3/s3_driver.h"
#include "bgate/drivers/swift/swift_driver.h"
#endif

namespace {

// BuiltinDrivers() but with the object-store kinds linked in rather than
// loaded from their module, so that their parsers run instrumented.
bgate::drivers::DriverRegistry FuzzedDrivers() {
  namespace drivers = bgate::drivers;
  drivers::DriverRegistry registry;
  drivers::posix::Register(registry);
  drivers::exec::Register(registry);
#ifdef BGATE_OBJECT_STORES
  drivers::s3::Register(registry);
  drivers::swift::Register(registry);
  drivers::azure_blob::Register(registry);
#endif
  return registry;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const bgate::drivers::DriverRegistry registry = FuzzedDrivers();
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
