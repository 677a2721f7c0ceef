#include "bgate/drivers/exec/exec_driver.h"
#include "bgate/drivers/posix/posix_driver.h"
#include "bgate/drivers/registry.h"

#ifdef BGATE_OBJECT_STORES
#include "bgate/drivers/azure_blob/azure_blob_driver.h"
#include "bgate/drivers/s3/s3_driver.h"
#include "bgate/drivers/swift/swift_driver.h"
#endif

namespace bgate::drivers {

DriverRegistry BuiltinDrivers() {
  DriverRegistry registry;
  posix::Register(registry);
  exec::Register(registry);
#ifdef BGATE_OBJECT_STORES
  s3::Register(registry);
  swift::Register(registry);
  azure_blob::Register(registry);
#endif
  return registry;
}

}  // namespace bgate::drivers
