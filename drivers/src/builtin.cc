#include "bgate/drivers/exec/exec_driver.h"
#include "bgate/drivers/posix/posix_driver.h"
#include "bgate/drivers/registry.h"

#ifdef BGATE_OBJECT_STORES
#include "bgate/drivers/object_stores.h"
#endif

namespace bgate::drivers {

DriverRegistry BuiltinDrivers() {
  DriverRegistry registry;
  posix::Register(registry);
  exec::Register(registry);
#ifdef BGATE_OBJECT_STORES
  // Loaded on first use, so that only configs with object stores pay for
  // their libraries.
  RegisterObjectStoresOnUse(registry, BGATE_OBJECT_STORES_FILE);
#endif
  return registry;
}

}  // namespace bgate::drivers
