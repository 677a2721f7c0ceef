#include "bgate/drivers/exec/exec_driver.h"
#include "bgate/drivers/posix/posix_driver.h"
#include "bgate/drivers/registry.h"

namespace bgate::drivers {

DriverRegistry BuiltinDrivers() {
  DriverRegistry registry;
  posix::Register(registry);
  exec::Register(registry);
  return registry;
}

}  // namespace bgate::drivers
